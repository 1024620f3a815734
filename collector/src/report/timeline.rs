//! Counts along one axis (exit time in seconds, or sequence numbers) in buckets whose
//! width doubles whenever the span would need more than [`MAX_BUCKETS`]: an hour-long
//! capture and a day-long one cost the same few KiB, and so does a stray time far
//! from the rest (it only widens the buckets).

use std::collections::BTreeMap;

/// Most buckets between the lowest and the highest position; the chart draws one bar
/// per bucket, so this also bounds its size on the page.
pub const MAX_BUCKETS: u64 = 600;

/// What happened in one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Exit records.
    pub exits: u64,
    /// Sequence numbers the agent reported lost (Loss frames of queue overflow or sink
    /// outage).
    pub lost: u64,
    /// ENOBUFS events the agent reported (the kernel gives no record count).
    pub enobufs: u64,
    /// Sequence numbers missing with no Loss frame covering them: lost in transit.
    pub uncovered: u64,
}

impl Bucket {
    fn add(&mut self, other: &Bucket) {
        self.exits = self.exits.saturating_add(other.exits);
        self.lost = self.lost.saturating_add(other.lost);
        self.enobufs = self.enobufs.saturating_add(other.enobufs);
        self.uncovered = self.uncovered.saturating_add(other.uncovered);
    }

    /// Whether something was lost here.
    pub fn has_loss(&self) -> bool {
        self.lost > 0 || self.enobufs > 0 || self.uncovered > 0
    }
}

/// Buckets of [`Timeline::width`] positions, keyed by their first position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    width: u64,
    buckets: BTreeMap<u64, Bucket>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            width: 1,
            buckets: BTreeMap::new(),
        }
    }
}

impl Timeline {
    /// Positions per bucket (a power of two).
    pub fn width(&self) -> u64 {
        self.width
    }

    /// Adds `what` at position `at`.
    pub fn add(&mut self, at: u64, what: &Bucket) {
        let lo = self.buckets.keys().next().map_or(at, |&k| k.min(at));
        let hi = self.buckets.keys().next_back().map_or(at, |&k| k.max(at));
        while hi / self.width - lo / self.width >= MAX_BUCKETS {
            self.widen();
        }
        let key = at / self.width * self.width;
        self.buckets.entry(key).or_default().add(what);
    }

    /// Doubles the width, merging neighbours.
    fn widen(&mut self) {
        // Past 2^63 every position is in one of two buckets; the span check then holds.
        self.width = self.width.saturating_mul(2);
        let old = std::mem::take(&mut self.buckets);
        for (k, b) in old {
            self.buckets
                .entry(k / self.width * self.width)
                .or_default()
                .add(&b);
        }
    }

    /// Every bucket from the first to the last, empty ones included, as (first position,
    /// bucket): at most [`MAX_BUCKETS`].
    pub fn span(&self) -> Vec<(u64, Bucket)> {
        let (Some(&lo), Some(&hi)) = (self.buckets.keys().next(), self.buckets.keys().next_back())
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut k = lo;
        loop {
            out.push((k, self.buckets.get(&k).copied().unwrap_or_default()));
            match k.checked_add(self.width) {
                Some(n) if n <= hi => k = n,
                _ => break,
            }
        }
        out
    }

    /// The sum over every bucket.
    pub fn total(&self) -> Bucket {
        let mut t = Bucket::default();
        for b in self.buckets.values() {
            t.add(b);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exits(n: u64) -> Bucket {
        Bucket {
            exits: n,
            ..Bucket::default()
        }
    }

    #[test]
    fn seconds_stay_seconds_while_they_fit() {
        let mut t = Timeline::default();
        for s in 1000..1010 {
            t.add(s, &exits(2));
        }
        t.add(1005, &exits(1));
        assert_eq!(t.width(), 1);
        let span = t.span();
        assert_eq!(span.len(), 10);
        assert_eq!(span[5], (1005, exits(3)));
        assert_eq!(t.total().exits, 21);
    }

    #[test]
    fn a_long_span_widens_the_buckets_and_loses_no_count() {
        let mut t = Timeline::default();
        for s in 0..100_000u64 {
            t.add(s * 7, &exits(1));
        }
        t.add(u64::MAX, &exits(1));
        t.add(
            3,
            &Bucket {
                uncovered: 4,
                ..Bucket::default()
            },
        );
        assert!(t.span().len() as u64 <= MAX_BUCKETS, "{}", t.span().len());
        assert_eq!(t.total().exits, 100_001);
        assert_eq!(t.total().uncovered, 4);
        assert!(t.span()[0].1.has_loss());
    }
}
