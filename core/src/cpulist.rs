//! CPU sets in the kernel's cpulist text form (`0-3,5,7-8`).
//!
//! Taskstats listeners register for exit records by sending a cpulist, which the kernel
//! rejects unless it is a subset of the possible CPUs (`/sys/devices/system/cpu/possible`,
//! written in the same syntax). [`CpuSet`] parses both, checks the subset rule before the
//! kernel does, and writes the canonical text back without allocating.

use core::fmt;

use crate::error::{Error, Result};

/// The highest number of CPUs a [`CpuSet`] holds (CPUs `0..MAX_CPUS`), the kernel's largest
/// `NR_CPUS` on common configurations.
pub const MAX_CPUS: usize = 8192;

/// The longest text [`CpuSet::parse`] accepts, in bytes: the kernel's own limit for a
/// registered cpumask, `100 + 6 * NR_CPUS`, for [`MAX_CPUS`].
pub const MAX_TEXT_LEN: usize = 100 + 6 * MAX_CPUS;

/// An upper bound on the length of any set's canonical text, in bytes.
///
/// Each CPU number written is distinct and at most 4 digits (below 8192), followed by at
/// most one `,` or `-`: 5 bytes per CPU. It is below [`MAX_TEXT_LEN`], so whatever a set
/// prints parses again.
pub const MAX_FORMATTED_LEN: usize = 5 * MAX_CPUS;

const WORDS: usize = MAX_CPUS / 64;

/// A set of CPU numbers below [`MAX_CPUS`], stored as a fixed bitset (1 KiB).
///
/// `Clone` but not `Copy`, so that a kilobyte is not copied by accident on a small stack.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CpuSet {
    words: [u64; WORDS],
}

impl Default for CpuSet {
    fn default() -> Self {
        CpuSet::new()
    }
}

impl CpuSet {
    /// The empty set.
    pub const fn new() -> Self {
        CpuSet { words: [0; WORDS] }
    }

    /// Parses a cpulist such as `0-3,5,7-8`.
    ///
    /// Accepted: comma-separated items, each a CPU number or an inclusive range `a-b` with
    /// `a <= b`, in any order, overlaps allowed; ASCII whitespace around the whole text (a
    /// sysfs file's trailing newline). Not accepted: whitespace inside, the kernel's stride
    /// form `0-7:2/4`, `N` and `all`.
    ///
    /// Errors, checked in this order and otherwise reported for the leftmost bad item:
    /// * [`Error::BadLength`]: the text, whitespace included, is longer than
    ///   [`MAX_TEXT_LEN`] bytes;
    /// * [`Error::Empty`]: nothing but whitespace;
    /// * [`Error::Malformed`]: an item that is not a number or a range of two numbers
    ///   (`a`, `1-`, `-3`, `1-2-3`, `+1`, an empty item as in `,` or `1,,2` or `1,`), or a
    ///   number too long for 32 bits;
    /// * [`Error::Reversed`]: a range whose end is below its start (`5-3`);
    /// * [`Error::OutOfRange`]: a CPU at or above [`MAX_CPUS`].
    pub fn parse(s: &str) -> Result<CpuSet> {
        if s.len() > MAX_TEXT_LEN {
            return Err(Error::BadLength);
        }
        let s = s.trim_ascii();
        if s.is_empty() {
            return Err(Error::Empty);
        }
        let mut set = CpuSet::new();
        for item in s.split(',') {
            let (start, end) = match item.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => {
                    let n = number(item)?;
                    (n, n)
                }
            };
            if end < start {
                return Err(Error::Reversed);
            }
            set.insert_range(start as usize, end as usize)?;
        }
        Ok(set)
    }

    /// Adds `cpu`; returns whether it was absent. [`Error::OutOfRange`] if `cpu >=`
    /// [`MAX_CPUS`].
    pub fn insert(&mut self, cpu: usize) -> Result<bool> {
        let (w, bit) = locate(cpu).ok_or(Error::OutOfRange)?;
        let word = self.words.get_mut(w).ok_or(Error::OutOfRange)?;
        let was = *word & bit != 0;
        *word |= bit;
        Ok(!was)
    }

    /// Adds every CPU from `start` to `end` inclusive (nothing if `end < start`).
    /// [`Error::OutOfRange`] if `end >=` [`MAX_CPUS`]; nothing is added then.
    pub fn insert_range(&mut self, start: usize, end: usize) -> Result<()> {
        if end >= MAX_CPUS {
            return Err(Error::OutOfRange);
        }
        for cpu in start..=end {
            self.insert(cpu)?;
        }
        Ok(())
    }

    /// Removes `cpu`; returns whether it was present.
    pub fn remove(&mut self, cpu: usize) -> bool {
        match locate(cpu).and_then(|(w, bit)| Some((self.words.get_mut(w)?, bit))) {
            Some((word, bit)) => {
                let was = *word & bit != 0;
                *word &= !bit;
                was
            }
            None => false,
        }
    }

    /// Whether `cpu` is in the set (`false` for any number at or above [`MAX_CPUS`]).
    pub fn contains(&self, cpu: usize) -> bool {
        locate(cpu)
            .and_then(|(w, bit)| Some(self.words.get(w)? & bit != 0))
            .unwrap_or(false)
    }

    /// Number of CPUs in the set.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The CPUs in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            set: self,
            word: 0,
            rest: self.words.first().copied().unwrap_or(0),
        }
    }

    /// The lowest CPU in the set.
    pub fn first(&self) -> Option<usize> {
        self.iter().next()
    }

    /// Whether every CPU of `self` is also in `other`.
    pub fn is_subset_of(&self, other: &CpuSet) -> bool {
        self.words
            .iter()
            .zip(other.words.iter())
            .all(|(a, b)| a & !b == 0)
    }

    /// The CPUs of `self` that are not in `other` (for an error message such as "CPUs 9-11
    /// are not possible on this machine").
    pub fn difference(&self, other: &CpuSet) -> CpuSet {
        let mut out = self.clone();
        for (a, b) in out.words.iter_mut().zip(other.words.iter()) {
            *a &= !b;
        }
        out
    }

    /// The CPUs in either set.
    pub fn union(&self, other: &CpuSet) -> CpuSet {
        let mut out = self.clone();
        for (a, b) in out.words.iter_mut().zip(other.words.iter()) {
            *a |= b;
        }
        out
    }

    /// Maximal runs of consecutive CPUs, as inclusive `(start, end)`, ascending.
    pub fn ranges(&self) -> Ranges<'_> {
        Ranges {
            iter: self.iter(),
            pending: None,
        }
    }

    /// Writes the canonical text (as [`Display`](fmt::Display) gives it) into `buf`, without
    /// a NUL; returns the number of bytes written. [`Error::BufferTooSmall`] if it does not
    /// fit ([`MAX_FORMATTED_LEN`] bytes always suffice); `buf`'s contents are unspecified
    /// then.
    pub fn write_to(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = SliceWriter { buf, len: 0 };
        fmt::write(&mut w, format_args!("{self}")).map_err(|_| Error::BufferTooSmall)?;
        Ok(w.len)
    }
}

impl core::str::FromStr for CpuSet {
    type Err = Error;

    fn from_str(s: &str) -> Result<CpuSet> {
        CpuSet::parse(s)
    }
}

/// Word index and bit mask of `cpu`, or `None` beyond [`MAX_CPUS`].
fn locate(cpu: usize) -> Option<(usize, u64)> {
    (cpu < MAX_CPUS).then(|| (cpu / 64, 1u64 << (cpu % 64)))
}

/// Parses one decimal CPU number: ASCII digits only, at least one, fitting in `u32`.
fn number(s: &str) -> Result<u32> {
    if s.is_empty() {
        return Err(Error::Malformed);
    }
    s.bytes().try_fold(0u32, |acc, c| {
        if !c.is_ascii_digit() {
            return Err(Error::Malformed);
        }
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(c - b'0')))
            .ok_or(Error::Malformed)
    })
}

/// Canonical cpulist text: ascending maximal runs, a run of one CPU as `n`, longer runs as
/// `a-b` (also for two CPUs, as the kernel's `%*pbl` prints them); the empty set prints as
/// nothing.
impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (start, end)) in self.ranges().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuSet({self})")
    }
}

/// Iterator over the CPUs of a [`CpuSet`], ascending, from [`CpuSet::iter`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    set: &'a CpuSet,
    /// Index of the word `rest` came from.
    word: usize,
    /// Bits of that word not yet returned.
    rest: u64,
}

impl Iterator for Iter<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.rest == 0 {
            self.word += 1;
            self.rest = *self.set.words.get(self.word)?;
        }
        let bit = self.rest.trailing_zeros() as usize;
        self.rest &= self.rest - 1;
        Some(self.word * 64 + bit)
    }
}

/// Iterator over the maximal runs of a [`CpuSet`], from [`CpuSet::ranges`].
#[derive(Debug, Clone)]
pub struct Ranges<'a> {
    iter: Iter<'a>,
    pending: Option<usize>,
}

impl Iterator for Ranges<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let start = self.pending.take().or_else(|| self.iter.next())?;
        let mut end = start;
        for cpu in self.iter.by_ref() {
            if cpu == end + 1 {
                end = cpu;
            } else {
                self.pending = Some(cpu);
                break;
            }
        }
        Some((start, end))
    }
}

impl<'a> IntoIterator for &'a CpuSet {
    type Item = usize;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// `fmt::Write` into a byte slice, failing when it is full.
struct SliceWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(cpus: &[usize]) -> CpuSet {
        let mut s = CpuSet::new();
        for &c in cpus {
            s.insert(c).unwrap();
        }
        s
    }

    #[test]
    fn parses_kernel_examples() {
        let s = CpuSet::parse("0-3,5,7-8").unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 1, 2, 3, 5, 7, 8]);
        assert_eq!(s.count(), 7);
        assert_eq!(s.to_string(), "0-3,5,7-8");
        // As read from /sys/devices/system/cpu/possible.
        assert_eq!(CpuSet::parse("0-1\n").unwrap(), set(&[0, 1]));
        assert_eq!(CpuSet::parse("  7 \t\n").unwrap(), set(&[7]));
        // Unordered and overlapping items are one set, printed canonically.
        let s = CpuSet::parse("8,0-2,1,2-3,007").unwrap();
        assert_eq!(s.to_string(), "0-3,7-8");
        assert_eq!(CpuSet::parse("8191").unwrap().to_string(), "8191");
        assert_eq!(CpuSet::parse("0-8191").unwrap().count(), MAX_CPUS);
        assert_eq!("4-4".parse::<CpuSet>().unwrap(), set(&[4]));
    }

    #[test]
    fn every_error_case() {
        let cases: &[(&str, Error)] = &[
            ("", Error::Empty),
            (" \n", Error::Empty),
            ("5-3", Error::Reversed),
            ("8192", Error::OutOfRange),
            ("0-8192", Error::OutOfRange),
            ("4294967295", Error::OutOfRange),
            ("4294967296", Error::Malformed),
            ("99999999999999999999", Error::Malformed),
            ("a", Error::Malformed),
            ("1-", Error::Malformed),
            ("-3", Error::Malformed),
            (",", Error::Malformed),
            ("1,,2", Error::Malformed),
            ("1,", Error::Malformed),
            (",1", Error::Malformed),
            ("1-2-3", Error::Malformed),
            ("+1", Error::Malformed),
            ("1 ,2", Error::Malformed),
            ("1, 2", Error::Malformed),
            ("0-7:2/4", Error::Malformed),
            ("all", Error::Malformed),
            ("N", Error::Malformed),
            ("\u{661}", Error::Malformed), // Arabic-Indic digit one
            ("1\0", Error::Malformed),
            // The leftmost bad item decides.
            ("5-3,x", Error::Reversed),
            ("x,5-3", Error::Malformed),
            ("9000-5", Error::Reversed),
        ];
        for &(text, err) in cases {
            assert_eq!(CpuSet::parse(text), Err(err), "{text:?}");
        }
        let long = "0,".repeat(MAX_TEXT_LEN / 2) + "0";
        assert!(long.len() > MAX_TEXT_LEN);
        assert_eq!(CpuSet::parse(&long), Err(Error::BadLength));
        let fits = "0,".repeat(MAX_TEXT_LEN / 2 - 1) + "0";
        assert!(CpuSet::parse(&fits).is_ok());
    }

    #[test]
    fn insert_contains_remove() {
        let mut s = CpuSet::new();
        assert!(s.is_empty());
        assert_eq!(s.insert(63), Ok(true));
        assert_eq!(s.insert(63), Ok(false));
        assert_eq!(s.insert(64), Ok(true));
        assert_eq!(s.insert(MAX_CPUS), Err(Error::OutOfRange));
        assert_eq!(s.insert(usize::MAX), Err(Error::OutOfRange));
        assert!(s.contains(63) && s.contains(64) && !s.contains(0));
        assert!(!s.contains(usize::MAX));
        assert_eq!(s.to_string(), "63-64");
        assert!(s.remove(63));
        assert!(!s.remove(63));
        assert!(!s.remove(usize::MAX));
        assert_eq!(s.first(), Some(64));
        assert_eq!(s.insert_range(10, MAX_CPUS), Err(Error::OutOfRange));
        assert_eq!(s.count(), 1);
        assert_eq!(CpuSet::new().to_string(), "");
        assert_eq!(format!("{:?}", set(&[1, 2, 3])), "CpuSet(1-3)");
    }

    #[test]
    fn subset_and_difference() {
        let possible = CpuSet::parse("0-7").unwrap();
        let want = CpuSet::parse("2,6-11").unwrap();
        assert!(!want.is_subset_of(&possible));
        assert_eq!(want.difference(&possible).to_string(), "8-11");
        assert_eq!(possible.difference(&want).to_string(), "0-1,3-5");
        let ok = CpuSet::parse("1,3").unwrap();
        assert!(ok.is_subset_of(&possible));
        assert!(ok.difference(&possible).is_empty());
        assert!(CpuSet::new().is_subset_of(&CpuSet::new()));
        assert!(possible.is_subset_of(&possible));
        assert_eq!(ok.union(&want).to_string(), "1-3,6-11");
    }

    #[test]
    fn write_to_matches_display_and_checks_size() {
        let s = CpuSet::parse("0-3,5,100-4000").unwrap();
        let mut buf = [0u8; 32];
        let n = s.write_to(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"0-3,5,100-4000");
        assert_eq!(s.write_to(&mut buf[..13]), Err(Error::BufferTooSmall));
        assert_eq!(s.write_to(&mut buf[..14]), Ok(14));
        assert_eq!(CpuSet::new().write_to(&mut []), Ok(0));
    }

    #[test]
    fn formatted_length_bound_holds_for_dense_patterns() {
        // Runs of two with gaps of one print the most numbers per CPU; singles every other
        // CPU print the most separators. Both stay within the bound and reparse.
        let mut pairs = CpuSet::new();
        let mut singles = CpuSet::new();
        for c in 0..MAX_CPUS {
            if c % 3 != 2 {
                pairs.insert(c).unwrap();
            }
            if c % 2 == 0 {
                singles.insert(c).unwrap();
            }
        }
        let mut buf = vec![0u8; MAX_FORMATTED_LEN];
        for s in [pairs, singles] {
            let n = s.write_to(&mut buf).unwrap();
            assert!(n <= MAX_FORMATTED_LEN);
            let text = core::str::from_utf8(&buf[..n]).unwrap();
            assert_eq!(CpuSet::parse(text).unwrap(), s);
        }
    }

    fn arb_set() -> impl Strategy<Value = CpuSet> {
        prop_oneof![
            proptest::collection::vec(0..MAX_CPUS, 1..64),
            proptest::collection::vec(0..200usize, 1..200),
        ]
        .prop_map(|cpus| set(&cpus))
    }

    proptest! {
        #[test]
        fn format_parse_round_trip(s in arb_set()) {
            let text = s.to_string();
            prop_assert_eq!(CpuSet::parse(&text).unwrap(), s.clone());
            let mut buf = [0u8; 2048];
            let n = s.write_to(&mut buf).unwrap();
            prop_assert_eq!(&buf[..n], text.as_bytes());
            // Canonical: printing the reparsed set gives the same text.
            prop_assert_eq!(CpuSet::parse(&text).unwrap().to_string(), text);
        }

        #[test]
        fn iter_is_ascending_and_matches_contains(s in arb_set()) {
            let v: Vec<usize> = s.iter().collect();
            prop_assert!(v.windows(2).all(|w| w[0] < w[1]));
            prop_assert_eq!(v.len(), s.count());
            prop_assert!(v.iter().all(|&c| s.contains(c)));
        }

        #[test]
        fn difference_and_subset_agree(a in arb_set(), b in arb_set()) {
            let d = a.difference(&b);
            prop_assert!(d.is_subset_of(&a));
            prop_assert!(d.iter().all(|c| !b.contains(c)));
            prop_assert_eq!(a.is_subset_of(&b), d.is_empty());
            prop_assert!(a.is_subset_of(&a.union(&b)));
        }

        #[test]
        fn parse_never_panics(text in "[0-9,\\- \n]{0,40}") {
            if let Ok(s) = CpuSet::parse(&text) {
                prop_assert_eq!(CpuSet::parse(&s.to_string()).unwrap(), s);
            }
        }
    }
}
