//! Per-exit delays on a log scale: bucket `i` holds delays of `2^(i-1)` to `2^i - 1` ns
//! (bucket 0 a delay of 0 ns recorded), so 65 counters cover every `u64`.

/// Buckets of a [`Histogram`].
pub const BUCKETS: usize = 65;

/// How many exits' delays fell in each power of two of nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram {
    /// Exits per bucket.
    pub buckets: [u64; BUCKETS],
    /// Exits with no delay of the category recorded (count 0): not in a bucket.
    pub none: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: [0; BUCKETS],
            none: 0,
        }
    }
}

impl Histogram {
    /// One exit whose delays of the category (`count` of them) added up to `ns`.
    pub fn add(&mut self, count: u64, ns: u64) {
        if count == 0 {
            self.none = self.none.saturating_add(1);
            return;
        }
        let i = bucket_of(ns);
        self.buckets[i] = self.buckets[i].saturating_add(1);
    }

    /// Exits in buckets.
    pub fn delayed(&self) -> u64 {
        self.buckets.iter().fold(0u64, |a, &b| a.saturating_add(b))
    }

    /// The non-empty range of buckets, first to last.
    pub fn used(&self) -> Option<std::ops::RangeInclusive<usize>> {
        let first = self.buckets.iter().position(|&b| b > 0)?;
        let last = self.buckets.iter().rposition(|&b| b > 0)?;
        Some(first..=last)
    }
}

/// The bucket of `ns`: its bit length.
pub fn bucket_of(ns: u64) -> usize {
    (u64::BITS - ns.leading_zeros()) as usize
}

/// The lowest delay of bucket `i`, ns.
pub fn bucket_floor(i: usize) -> u64 {
    match i {
        0 => 0,
        i => 1u64.checked_shl(i as u32 - 1).unwrap_or(u64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(1023), 10);
        assert_eq!(bucket_of(1024), 11);
        assert_eq!(bucket_of(u64::MAX), 64);
        assert_eq!(bucket_floor(11), 1024);
        assert_eq!(bucket_floor(64), 1 << 63);
        for ns in [0, 1, 5, 1000, 1 << 40, u64::MAX] {
            let b = bucket_of(ns);
            assert!(bucket_floor(b) <= ns);
            assert!(b == 64 || bucket_floor(b + 1) > ns);
        }
        let mut h = Histogram::default();
        h.add(0, 0);
        h.add(3, 1_500);
        h.add(1, 1_600);
        h.add(1, 0);
        assert_eq!((h.none, h.delayed(), h.used()), (1, 3, Some(0..=11)));
    }
}
