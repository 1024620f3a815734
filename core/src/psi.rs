//! Pressure stall information: the text of `/proc/pressure/{cpu,memory,io,irq}` and of a
//! cgroup2 directory's `cpu.pressure`, `memory.pressure`, `io.pressure` and `irq.pressure`.
//!
//! The kernel (`psi_show` in kernel/sched/psi.c) prints at most two lines:
//!
//! ```text
//! some avg10=2.71 avg60=0.49 avg300=0.10 total=413296
//! full avg10=1.26 avg60=0.22 avg300=0.04 total=191340
//! ```
//!
//! `some` is time in which at least one task stalled on the resource, `full` time in which
//! every non-idle task did at once. `avgN` is a running average over N seconds of the share
//! of time stalled, a percentage the kernel keeps in fixed point, clamps to 100 and prints
//! as `%lu.%02lu`; `total` is the stall time in microseconds since the counter began (boot,
//! or the cgroup's creation).
//!
//! Which lines a file has depends on the resource and the kernel: cpu has only `some` before
//! Linux 5.13 and, at system level, a `full` line of zeros since (a whole system's cpu
//! `full` is undefined); irq (6.1 and later, with `CONFIG_IRQ_TIME_ACCOUNTING`) has only
//! `full`. [`Pressure`] therefore holds each line as an `Option`.
//!
//! Averages stay in hundredths of a percent, as the kernel prints them, so that no float is
//! parsed or formatted on a board. A file that is absent, or whose read fails with
//! `EOPNOTSUPP` (`CONFIG_PSI=n`, `psi=0` at boot, `CONFIG_PSI_DEFAULT_DISABLED` without
//! `psi=1`), is the caller's to report: this module only reads text.

use crate::error::{Error, Result};

/// The largest average: 100.00 %, in hundredths of a percent.
pub const AVG_MAX: u16 = 10_000;

/// The longest text `psi_show` prints, in bytes: two lines with every average at 100.00 and
/// `total` at `u64::MAX`.
///
/// A reader's buffer should be larger: keys a newer kernel may add are skipped by
/// [`Pressure::parse`] but make the text longer, and a read that fills its buffer may have
/// cut the text short.
pub const MAX_TEXT_LEN: usize = 2 * LONGEST_LINE;

const LONGEST_LINE: usize = "some avg10=100.00 avg60=100.00 avg300=100.00 total=".len()
    + (u64::MAX.ilog10() as usize + 1)
    + "\n".len();

/// One line of a PSI file: the running averages and the total of one kind of stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stall {
    /// Share of the last 10 seconds stalled, in hundredths of a percent (0 to [`AVG_MAX`]):
    /// `1234` is 12.34 %.
    pub avg10: u16,
    /// The same over the last 60 seconds.
    pub avg60: u16,
    /// The same over the last 300 seconds.
    pub avg300: u16,
    /// Time stalled since the counter began (boot, or the cgroup's creation), in
    /// microseconds.
    pub total_us: u64,
}

impl Stall {
    /// Microseconds stalled between `earlier` and this reading of the same file.
    ///
    /// This, over the interval between the reads, is the per-interval figure a live view
    /// wants: `avg10` smooths over ten seconds and lags behind. `None` when the total went
    /// backwards, which one counter never does: the readings come from different counters
    /// (a cgroup removed and made again under the same path, a reboot between them), so the
    /// caller should take this reading as a new baseline rather than report a figure.
    pub fn stalled_since(&self, earlier: &Stall) -> Option<u64> {
        self.total_us.checked_sub(earlier.total_us)
    }
}

/// `stalled_us` as a share of `interval_us`, in hundredths of a percent like the averages
/// (rounded down); `None` for an empty interval.
///
/// Clamped to [`AVG_MAX`]: `total` runs on the kernel's scheduler clock and the interval on
/// the caller's, so a fully stalled interval can measure a little over 100 %.
pub fn share(stalled_us: u64, interval_us: u64) -> Option<u16> {
    if interval_us == 0 {
        return None;
    }
    let hundredths = u128::from(stalled_us) * u128::from(AVG_MAX) / u128::from(interval_us);
    Some(u16::try_from(hundredths).map_or(AVG_MAX, |h| h.min(AVG_MAX)))
}

/// The contents of one PSI file.
///
/// [`Pressure::parse`] never returns one with both lines absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pressure {
    /// The `some` line: at least one task stalled. Absent from irq files.
    pub some: Option<Stall>,
    /// The `full` line: all non-idle tasks stalled at once. Absent from cpu files before
    /// Linux 5.13. In `/proc/pressure/cpu` it is all zeros, since the kernel leaves a whole
    /// system's cpu `full` undefined; it is kept as printed, because only the caller knows
    /// which file it read.
    pub full: Option<Stall>,
}

impl Pressure {
    /// Parses the text of a PSI file.
    ///
    /// Accepted: one or two lines, each `some` or `full` followed by space-separated
    /// `key=value` tokens, at most one line of each kind in either order, the last line with
    /// or without its newline. Each line needs `avg10`, `avg60` and `avg300`, each written
    /// as digits, a `.` and exactly two digits, at most `100.00`; and `total`, decimal
    /// digits fitting in a `u64`. Keys may come in any order.
    ///
    /// Other keys are skipped whatever their value: the format has grown before (cpu's
    /// `full` line, the irq file), and a key a newer kernel might add should not cost the
    /// caller the whole reading. The four known keys stay required, so a misspelt one is
    /// still caught as [`Error::Missing`]. An unknown line kind is an error all the same:
    /// every PSI file starts its lines with `some` or `full`, so other text means the
    /// caller read some other file.
    ///
    /// Errors, for the first problem from the start of the text:
    /// * [`Error::Empty`]: no text, or only a newline;
    /// * [`Error::Malformed`]: a line whose first word is not `some` or `full` (an empty
    ///   line or a leading space included), a line kind or a known key given twice, a token
    ///   without `=` or with an empty key (doubled or trailing spaces), an average not in
    ///   the `digits.dd` form (`1.5`, `1.234`, `.50`, `-1.00`), a total that is not all
    ///   digits (a `\r` before the newline included);
    /// * [`Error::OutOfRange`]: an average above `100.00` or a number too large for its
    ///   type;
    /// * [`Error::Missing`]: a line without one of the four known keys.
    pub fn parse(text: &[u8]) -> Result<Pressure> {
        let body = text.strip_suffix(b"\n").unwrap_or(text);
        if body.is_empty() {
            return Err(Error::Empty);
        }
        let mut out = Pressure::default();
        for line in split(body, b'\n') {
            let mut tokens = split(line, b' ');
            let slot = match tokens.next() {
                Some(b"some") => &mut out.some,
                Some(b"full") => &mut out.full,
                _ => return Err(Error::Malformed),
            };
            if slot.is_some() {
                return Err(Error::Malformed);
            }
            *slot = Some(stall(tokens)?);
        }
        Ok(out)
    }
}

/// The `key=value` tokens of one line, after its kind.
fn stall<'a>(tokens: impl Iterator<Item = &'a [u8]>) -> Result<Stall> {
    // avg10, avg60, avg300 (each at most AVG_MAX) and total, in that order.
    let mut values = [None; 4];
    for token in tokens {
        let Some((key, value)) = split_once(token, b'=') else {
            return Err(Error::Malformed);
        };
        let (slot, value) = match key {
            b"avg10" => (0, avg(value)?),
            b"avg60" => (1, avg(value)?),
            b"avg300" => (2, avg(value)?),
            b"total" => (3, number(value)?),
            b"" => return Err(Error::Malformed),
            _ => continue,
        };
        // A known key given twice.
        if values[slot].replace(value).is_some() {
            return Err(Error::Malformed);
        }
    }
    let [Some(avg10), Some(avg60), Some(avg300), Some(total_us)] = values else {
        return Err(Error::Missing);
    };
    // The averages were checked against AVG_MAX, which fits a u16.
    Ok(Stall {
        avg10: avg10 as u16,
        avg60: avg60 as u16,
        avg300: avg300 as u16,
        total_us,
    })
}

/// The parts of `s` between `sep`s: one splitter for lines and tokens alike.
fn split(s: &[u8], sep: u8) -> impl Iterator<Item = &[u8]> {
    s.split(move |&b| b == sep)
}

/// `s` cut at its first `sep`, which neither part keeps.
fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let at = s.iter().position(|&b| b == sep)?;
    Some((&s[..at], &s[at + 1..]))
}

/// An average as `psi_show` prints it (`%lu.%02lu`), in hundredths of a percent, at most
/// [`AVG_MAX`].
fn avg(value: &[u8]) -> Result<u64> {
    let Some((int, &[tens, ones])) = split_once(value, b'.') else {
        return Err(Error::Malformed);
    };
    if !tens.is_ascii_digit() || !ones.is_ascii_digit() {
        return Err(Error::Malformed);
    }
    let frac = u64::from(tens - b'0') * 10 + u64::from(ones - b'0');
    number(int)?
        .checked_mul(100)
        .and_then(|v| v.checked_add(frac))
        .filter(|&h| h <= u64::from(AVG_MAX))
        .ok_or(Error::OutOfRange)
}

/// Decimal digits, at least one; [`Error::OutOfRange`] only for a well-formed number that
/// does not fit, so that `99999999999999999999x` is reported as malformed.
fn number(digits: &[u8]) -> Result<u64> {
    if digits.is_empty() {
        return Err(Error::Malformed);
    }
    // None once it overflowed; the digits are still checked to the end.
    let mut n = Some(0u64);
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(Error::Malformed);
        }
        n = n
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add(u64::from(d - b'0')));
    }
    n.ok_or(Error::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    static CPU: &[u8] = include_bytes!("../fixtures/psi/cpu.txt");
    static IO: &[u8] = include_bytes!("../fixtures/psi/io.txt");
    static MEMORY: &[u8] = include_bytes!("../fixtures/psi/memory.txt");
    static CGROUP_CPU: &[u8] = include_bytes!("../fixtures/psi/cgroup_cpu.txt");

    const fn stall(avg10: u16, avg60: u16, avg300: u16, total_us: u64) -> Stall {
        Stall {
            avg10,
            avg60,
            avg300,
            total_us,
        }
    }

    const ZERO: Stall = stall(0, 0, 0, 0);

    #[test]
    fn parses_captured_files() {
        // core/fixtures/README.md, "Pressure stall information".
        let cpu = Pressure::parse(CPU).unwrap();
        assert_eq!(cpu.some, Some(stall(4766, 2450, 1917, 1_993_615_395)));
        assert_eq!(cpu.full, Some(ZERO));
        let io = Pressure::parse(IO).unwrap();
        assert_eq!(io.some, Some(stall(1228, 636, 181, 32_615_106)));
        assert_eq!(io.full, Some(stall(248, 137, 41, 12_050_809)));
        let memory = Pressure::parse(MEMORY).unwrap();
        assert_eq!(memory.some, Some(stall(313, 63, 13, 413_657)));
        assert_eq!(memory.full, Some(stall(140, 28, 6, 191_463)));
        let cgroup = Pressure::parse(CGROUP_CPU).unwrap();
        assert_eq!(cgroup.some, Some(stall(1394, 251, 52, 2_648_379)));
        assert_eq!(cgroup.full, Some(stall(869, 157, 32, 1_380_829)));
        // Every capture ends in its newline; without it the text means the same.
        for text in [CPU, IO, MEMORY, CGROUP_CPU] {
            let trimmed = text.strip_suffix(b"\n").unwrap();
            assert_eq!(Pressure::parse(trimmed), Pressure::parse(text));
        }
    }

    #[test]
    fn parses_every_kernel_shape() {
        // cpu before 5.13: no full line.
        let old_cpu = b"some avg10=0.52 avg60=0.31 avg300=0.07 total=2043417\n";
        let p = Pressure::parse(old_cpu).unwrap();
        assert_eq!(p.some, Some(stall(52, 31, 7, 2_043_417)));
        assert_eq!(p.full, None);
        // irq: only full.
        let irq = b"full avg10=100.00 avg60=0.01 avg300=10.00 total=18446744073709551615";
        let p = Pressure::parse(irq).unwrap();
        assert_eq!(p.some, None);
        assert_eq!(p.full, Some(stall(AVG_MAX, 1, 1000, u64::MAX)));
        // Lines and keys in another order mean the same.
        let swapped = b"full total=5 avg300=0.03 avg60=0.02 avg10=0.01\nsome avg10=9.99 \
                        avg60=0.00 avg300=0.00 total=7\n";
        let p = Pressure::parse(swapped).unwrap();
        assert_eq!(p.some, Some(stall(999, 0, 0, 7)));
        assert_eq!(p.full, Some(stall(1, 2, 3, 5)));
        // Leading zeros are only digits.
        let zeros = b"some avg10=007.50 avg60=0.00 avg300=0100.00 total=00";
        assert_eq!(
            Pressure::parse(zeros).unwrap().some,
            Some(stall(750, 0, AVG_MAX, 0))
        );
    }

    #[test]
    fn skips_unknown_keys() {
        let text = b"some avg10=1.00 avg600=9x avg60=2.00 avg300=3.00 total=4 new=\n\
                     full x=y=z avg10=0.00 avg60=0.00 avg300=0.00 total=0 \xff=\xfe\n";
        let p = Pressure::parse(text).unwrap();
        assert_eq!(p.some, Some(stall(100, 200, 300, 4)));
        assert_eq!(p.full, Some(ZERO));
    }

    #[test]
    fn every_error_case() {
        let line = "avg10=0.00 avg60=0.00 avg300=0.00 total=0";
        let ok_some = format!("some {line}");
        assert!(Pressure::parse(ok_some.as_bytes()).is_ok());
        let cases: &[(String, Error)] = &[
            (String::new(), Error::Empty),
            ("\n".into(), Error::Empty),
            // Line kinds.
            (format!("other {line}"), Error::Malformed),
            (format!("Some {line}"), Error::Malformed),
            (format!(" some {line}"), Error::Malformed),
            (format!("some {line}\nsome {line}"), Error::Malformed),
            (format!("full {line}\nfull {line}\n"), Error::Malformed),
            (format!("some {line}\n\nfull {line}"), Error::Malformed),
            (format!("some {line}\n\n"), Error::Malformed),
            (format!("\nsome {line}"), Error::Malformed),
            (format!("some {line}\r\n"), Error::Malformed),
            ("1\n".into(), Error::Malformed), // cgroup.pressure, read by mistake
            // Tokens.
            (format!("some  {line}"), Error::Malformed),
            (format!("some {line} "), Error::Malformed),
            (format!("some\t{line}"), Error::Malformed),
            (format!("some {line} junk"), Error::Malformed),
            (format!("some {line} =1"), Error::Malformed),
            (format!("some {line} avg10=0.00"), Error::Malformed),
            (format!("some {line} total=0"), Error::Malformed),
            // Missing keys.
            ("some".into(), Error::Missing),
            ("some avg60=0.00 avg300=0.00 total=0".into(), Error::Missing),
            ("some avg10=0.00 avg300=0.00 total=0".into(), Error::Missing),
            ("some avg10=0.00 avg60=0.00 total=0".into(), Error::Missing),
            (
                "some avg10=0.00 avg60=0.00 avg300=0.00".into(),
                Error::Missing,
            ),
            (
                "some avg1O=0.00 avg60=0.00 avg300=0.00 total=0".into(),
                Error::Missing,
            ),
            // The first problem decides.
            (format!("some avg10=0.00\nbad {line}"), Error::Missing),
            (
                format!("some {line}\nfull avg10=101.00 total=x"),
                Error::OutOfRange,
            ),
        ];
        for (text, err) in cases {
            assert_eq!(Pressure::parse(text.as_bytes()), Err(*err), "{text:?}");
        }

        let averages: &[(&str, Error)] = &[
            ("1.5", Error::Malformed),
            ("1.234", Error::Malformed),
            ("1.", Error::Malformed),
            (".50", Error::Malformed),
            ("1", Error::Malformed),
            ("", Error::Malformed),
            ("-1.00", Error::Malformed),
            ("+1.00", Error::Malformed),
            ("1.0x", Error::Malformed),
            ("1,00", Error::Malformed),
            ("1.00.00", Error::Malformed),
            ("x99999999999999999999.00", Error::Malformed),
            ("100.01", Error::OutOfRange),
            ("655.36", Error::OutOfRange),
            ("184467440737095516.16", Error::OutOfRange),
            ("99999999999999999999.00", Error::OutOfRange),
        ];
        for &(value, err) in averages {
            let text = format!("some avg10=0.00 avg60={value} avg300=0.00 total=0");
            assert_eq!(Pressure::parse(text.as_bytes()), Err(err), "{text:?}");
        }

        let totals: &[(&str, Error)] = &[
            ("", Error::Malformed),
            ("1.0", Error::Malformed),
            ("-1", Error::Malformed),
            ("0x10", Error::Malformed),
            ("99999999999999999999x", Error::Malformed),
            ("18446744073709551616", Error::OutOfRange),
        ];
        for &(value, err) in totals {
            let text = format!("full avg10=0.00 avg60=0.00 avg300=0.00 total={value}");
            assert_eq!(Pressure::parse(text.as_bytes()), Err(err), "{text:?}");
        }
    }

    #[test]
    fn longest_kernel_text_fits_the_constant() {
        let max = stall(AVG_MAX, AVG_MAX, AVG_MAX, u64::MAX);
        let text = kernel_text(Some(max), Some(max));
        assert_eq!(text.len(), MAX_TEXT_LEN);
        assert_eq!(MAX_TEXT_LEN, 144);
        let p = Pressure::parse(text.as_bytes()).unwrap();
        assert_eq!((p.some, p.full), (Some(max), Some(max)));
    }

    #[test]
    fn stalled_since_and_share() {
        let before = stall(0, 0, 0, 1_000);
        let after = stall(0, 0, 0, 251_000);
        assert_eq!(after.stalled_since(&before), Some(250_000));
        assert_eq!(after.stalled_since(&after), Some(0));
        // A recreated cgroup starts its counter again.
        assert_eq!(before.stalled_since(&after), None);
        assert_eq!(share(250_000, 1_000_000), Some(2500));
        assert_eq!(share(1, 3), Some(3333));
        assert_eq!(share(0, 1), Some(0));
        assert_eq!(share(1_000_100, 1_000_000), Some(AVG_MAX));
        assert_eq!(share(u64::MAX, 1), Some(AVG_MAX));
        assert_eq!(share(u64::MAX, u64::MAX), Some(AVG_MAX));
        assert_eq!(share(5, 0), None);
    }

    /// The kernel's fixed point for load averages (`FSHIFT` in include/linux/sched/loadavg.h).
    const FSHIFT: u32 = 11;
    const FIXED_1: u64 = 1 << FSHIFT;

    /// `LOAD_INT` and `LOAD_FRAC` of include/linux/sched/loadavg.h.
    fn load_int(x: u64) -> u64 {
        x >> FSHIFT
    }
    fn load_frac(x: u64) -> u64 {
        load_int((x & (FIXED_1 - 1)) * 100)
    }

    /// One line as `psi_show` prints it, from averages in the kernel's fixed point.
    fn kernel_line(kind: &str, avg: [u64; 3], total: u64) -> String {
        format!(
            "{kind} avg10={}.{:02} avg60={}.{:02} avg300={}.{:02} total={total}\n",
            load_int(avg[0]),
            load_frac(avg[0]),
            load_int(avg[1]),
            load_frac(avg[1]),
            load_int(avg[2]),
            load_frac(avg[2]),
        )
    }

    /// A whole file from parsed values, printed as the kernel would.
    fn kernel_text(some: Option<Stall>, full: Option<Stall>) -> String {
        // The smallest fixed-point value that prints as `h` hundredths.
        let fixed =
            |h: u16| (u64::from(h / 100) << FSHIFT) + (u64::from(h % 100) * FIXED_1).div_ceil(100);
        let line = |kind, s: Stall| {
            kernel_line(
                kind,
                [fixed(s.avg10), fixed(s.avg60), fixed(s.avg300)],
                s.total_us,
            )
        };
        some.map(|s| line("some", s)).unwrap_or_default()
            + &full.map(|s| line("full", s)).unwrap_or_default()
    }

    /// An average as the kernel holds it: at most 100 % in fixed point (update_averages
    /// clamps each sample to its period, and the running average never exceeds its samples).
    fn fixed_avg() -> impl Strategy<Value = u64> {
        prop_oneof![0..=100 * FIXED_1, Just(0), Just(100 * FIXED_1)]
    }

    proptest! {
        #[test]
        fn kernel_format_round_trip(
            some in proptest::option::of((proptest::array::uniform3(fixed_avg()), any::<u64>())),
            full in proptest::option::of((proptest::array::uniform3(fixed_avg()), any::<u64>())),
            newline in any::<bool>(),
        ) {
            prop_assume!(some.is_some() || full.is_some());
            let mut text = String::new();
            if let Some((avg, total)) = some {
                text += &kernel_line("some", avg, total);
            }
            if let Some((avg, total)) = full {
                text += &kernel_line("full", avg, total);
            }
            if !newline {
                text.pop();
            }
            let p = Pressure::parse(text.as_bytes()).unwrap();
            let expect = |(avg, total): ([u64; 3], u64)| {
                let h = |x: u64| u16::try_from(load_int(x) * 100 + load_frac(x)).unwrap();
                stall(h(avg[0]), h(avg[1]), h(avg[2]), total)
            };
            prop_assert_eq!(p.some, some.map(expect));
            prop_assert_eq!(p.full, full.map(expect));
            // And back: printing the parsed values gives the kernel's text.
            let reprinted = kernel_text(p.some, p.full);
            prop_assert_eq!(reprinted.trim_end(), text.trim_end());
        }

        #[test]
        fn parse_never_panics(text in "(some|full|avg10=|avg60=|avg300=|total=|[0-9.= \n]){0,30}") {
            if let Ok(p) = Pressure::parse(text.as_bytes()) {
                prop_assert!(p.some.is_some() || p.full.is_some());
                for s in p.some.iter().chain(p.full.iter()) {
                    prop_assert!(s.avg10.max(s.avg60).max(s.avg300) <= AVG_MAX);
                }
            }
        }
    }
}
