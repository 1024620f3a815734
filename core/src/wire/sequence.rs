//! Sequence accounting: which of a sender's record numbers arrived, which its Loss frames
//! cover, which are missing, and which frames are resent duplicates.
//!
//! Intervals and samples share the records' numbering (core/WIRE.md, "Numbered frames"):
//! feed them to [`SeqTracker::on_record`] like records; "record" below means any of them.
//!
//! The agent numbers every record it receives from the kernel, 0, 1, 2, ..., and carries
//! the numbering across reconnects; every number it does not send is covered by a Loss
//! frame (`next_seq - count .. next_seq`) sent before the records that follow. So, per
//! sender (all its streams together), a number is either a record, covered by a Loss, or
//! missing: a gap no Loss covers, lost in transit. A record or Loss whose numbers were all
//! accounted for already is a duplicate (the agent resends the batch a failed write was
//! carrying). To tell, the last [`SeqTracker::WINDOW`] numbers below the highest are
//! remembered, one bit each; a record older than that cannot be told from a duplicate and
//! is counted as `backwards`. A stream whose first numbered frame starts at 0 on a sender
//! already past 0 is a restarted agent: the numbering starts over.
//!
//! [`SeqTracker`] decides and counts; it prints nothing and does not know what a board, a
//! label or an output format is. A host keeps one per board; it allocates nothing and its
//! size is fixed by its window.

use super::message::{Loss, LossReason};

/// Words of window bits in a [`SeqTracker`] by default: 8192 numbers, 1 KiB. A resent
/// batch goes back far less (a batch is a few KiB of frames of 30 bytes or more).
pub const SEQ_WINDOW_WORDS: usize = 128;

/// Numbers remembered below the highest by a default [`SeqTracker`].
pub const SEQ_WINDOW: u64 = SEQ_WINDOW_WORDS as u64 * 64;

/// Whether a record or Loss frame is to be shown and counted, or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Some of its numbers were not accounted for (or it is too old to tell): show it.
    New,
    /// Every number it carries was accounted for already: a resend, to be dropped.
    Duplicate,
}

/// What a [`SeqTracker`] has counted. Saturating: a count never wraps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqCounts {
    /// Streams begun ([`SeqTracker::on_stream`]: one per header).
    pub streams: u64,
    /// Numbered frames (records, intervals, samples: [`SeqTracker::on_record`]) taken
    /// ([`Verdict::New`]); duplicates not included.
    pub records: u64,
    /// Numbers neither received nor covered by a Loss frame: lost in transit. A record or
    /// Loss that arrives late for one of them takes it off again.
    pub uncovered: u64,
    /// Numbers covered by Loss frames, per reason ([`LossReason::index`]); always 0 for
    /// [`LossReason::KernelEnobufs`], whose losses took no numbers.
    pub covered: [u64; 3],
    /// Records and Loss frames dropped as [`Verdict::Duplicate`].
    pub duplicates: u64,
    /// Streams whose numbering started over at 0: the agent restarted.
    pub restarts: u64,
    /// Records numbered too far below the highest (more than the window) to tell whether
    /// they are duplicates: taken and counted here.
    pub backwards: u64,
    /// `Loss::count` summed per reason ([`LossReason::index`]), duplicates not included:
    /// records, except ENOBUFS events for [`LossReason::KernelEnobufs`].
    pub losses: [u64; 3],
}

impl SeqCounts {
    /// Numbers covered by Loss frames of `reason`.
    pub fn covered_by(&self, reason: LossReason) -> u64 {
        self.covered.get(reason.index()).copied().unwrap_or(0)
    }

    /// Numbers covered by Loss frames, every reason.
    pub fn covered_total(&self) -> u64 {
        self.covered.iter().fold(0, |a, &c| a.saturating_add(c))
    }

    /// Numbers missing between records: covered by a Loss or not.
    pub fn gaps(&self) -> u64 {
        self.uncovered.saturating_add(self.covered_total())
    }

    /// Losses of `reason` the sender reported.
    pub fn lost(&self, reason: LossReason) -> u64 {
        self.losses.get(reason.index()).copied().unwrap_or(0)
    }

    /// Records the sender reported lost, over the reasons that count records (ENOBUFS
    /// counts events, not records).
    pub fn lost_records(&self) -> u64 {
        self.lost(LossReason::QueueOverflow)
            .saturating_add(self.lost(LossReason::SinkOutage))
    }

    /// Adds `other`'s counts, for a total over several senders.
    pub fn add(&mut self, other: &SeqCounts) {
        let sum = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        sum(&mut self.streams, other.streams);
        sum(&mut self.records, other.records);
        sum(&mut self.uncovered, other.uncovered);
        sum(&mut self.duplicates, other.duplicates);
        sum(&mut self.restarts, other.restarts);
        sum(&mut self.backwards, other.backwards);
        for (a, b) in self.covered.iter_mut().zip(other.covered) {
            sum(a, b);
        }
        for (a, b) in self.losses.iter_mut().zip(other.losses) {
            sum(a, b);
        }
    }
}

/// What became of a record's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Above every number so far; this many were skipped before it.
    New(u64),
    /// Below the highest, in the window, not accounted for yet: it filled a gap.
    Late,
    /// Accounted for already.
    Duplicate,
    /// 0, first in a stream of a sender past 0.
    Restart,
    /// Below the window: cannot tell.
    Backwards,
}

/// What a Loss frame's range did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Cover {
    /// Numbers above every one so far, now covered.
    new: u64,
    /// Numbers in the window not accounted for before (they had counted as uncovered).
    filled: u64,
    /// Numbers skipped before the range.
    missing: u64,
    restart: bool,
}

/// One sender's sequence accounting, remembering `64 * WORDS` numbers below the highest.
///
/// Feed it every header ([`on_stream`](Self::on_stream)), record
/// ([`on_record`](Self::on_record)) and Loss frame ([`on_loss`](Self::on_loss)) of the
/// sender, from all its streams; show what it calls [`Verdict::New`]. Any sequence of
/// numbers is accepted: nothing here panics or grows.
///
/// ```
/// # use taskwire_core::wire::*;
/// let mut seq = SeqTracker::<{ SEQ_WINDOW_WORDS }>::new();
/// seq.on_stream();
/// assert_eq!(seq.on_record(0, true), Verdict::New);
/// assert_eq!(seq.on_record(2, false), Verdict::New);
/// assert_eq!(seq.on_record(2, false), Verdict::Duplicate);
/// assert_eq!((seq.counts().uncovered, seq.next_seq()), (1, Some(3)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqTracker<const WORDS: usize = SEQ_WINDOW_WORDS> {
    /// The number after the highest accounted for; `None` before the first.
    next: Option<u64>,
    /// Bit `n % WINDOW` for number `n` of `next - WINDOW .. next`.
    seen: [u64; WORDS],
    counts: SeqCounts,
    /// The last ENOBUFS report, `(next_seq, count)`, and `counts.streams` when it came.
    last_enobufs: Option<((u64, u64), u64)>,
    /// Number `u64::MAX` is accounted for: `next` cannot go past it to put it in the
    /// window, so it is remembered here.
    top: bool,
}

impl<const WORDS: usize> SeqTracker<WORDS> {
    /// Numbers remembered below the highest, to tell a duplicate from a late record.
    ///
    /// An empty window does not build:
    /// ```compile_fail
    /// let _ = taskwire_core::wire::SeqTracker::<0>::new();
    /// ```
    pub const WINDOW: u64 = {
        assert!(WORDS > 0, "a SeqTracker needs a window");
        WORDS as u64 * 64
    };

    /// Nothing seen yet.
    pub const fn new() -> Self {
        // Evaluating WINDOW here rejects an empty window at compile time.
        let _ = Self::WINDOW;
        SeqTracker {
            next: None,
            seen: [0; WORDS],
            counts: SeqCounts {
                streams: 0,
                records: 0,
                uncovered: 0,
                covered: [0; 3],
                duplicates: 0,
                restarts: 0,
                backwards: 0,
                losses: [0; 3],
            },
            last_enobufs: None,
            top: false,
        }
    }

    /// A stream of the sender began (its header arrived). Only an ENOBUFS report depends
    /// on it: the agent resends one only on a new stream.
    pub fn on_stream(&mut self) {
        self.counts.streams = self.counts.streams.saturating_add(1);
    }

    /// A record numbered `seq` arrived; `first` when it is the first numbered frame of its
    /// stream (no record or [numbered](Loss::is_numbered) Loss since the stream, or its
    /// header, began): a first frame numbered 0 is a restarted agent.
    pub fn on_record(&mut self, seq: u64, first: bool) -> Verdict {
        let fate = self.fate(seq, first);
        let c = &mut self.counts;
        match fate {
            Fate::Duplicate => {
                c.duplicates = c.duplicates.saturating_add(1);
                return Verdict::Duplicate;
            }
            Fate::New(missing) => c.uncovered = c.uncovered.saturating_add(missing),
            Fate::Late => c.uncovered = c.uncovered.saturating_sub(1),
            Fate::Restart => c.restarts = c.restarts.saturating_add(1),
            Fate::Backwards => c.backwards = c.backwards.saturating_add(1),
        }
        c.records = c.records.saturating_add(1);
        Verdict::New
    }

    /// The sender reported `loss`; `first` as for [`on_record`](Self::on_record), and
    /// ignored unless the Loss is [numbered](Loss::is_numbered) (only then is it a
    /// numbered frame; the caller's "first" stays set for the next one).
    pub fn on_loss(&mut self, loss: &Loss, first: bool) -> Verdict {
        let mut counted = loss.count;
        if loss.reason == LossReason::KernelEnobufs {
            // It covers no numbers, so the numbering cannot tell a resend. But the agent
            // resends only on a new stream (after a new header), and two distinct reports
            // with the same place and count would need two overflows with no record read
            // between them: the same report on a later stream is the resend.
            let key = (loss.next_seq, loss.count);
            let streams = self.counts.streams;
            let resent = self
                .last_enobufs
                .is_some_and(|(last, at)| last == key && at < streams);
            self.last_enobufs = Some((key, streams));
            if resent {
                self.counts.duplicates = self.counts.duplicates.saturating_add(1);
                return Verdict::Duplicate;
            }
        } else {
            let numbers = loss.numbers();
            // A Loss cannot cover numbers below 0: one whose count is past its next_seq
            // counts the numbers it covers, not what it claims (a forger's or a broken
            // sender's `count` would otherwise add up to 2^64 - 1 lost records).
            counted = numbers.end - numbers.start;
            let c = self.cover(numbers.start, numbers.end, first && loss.is_numbered());
            if loss.count > 0 && c.new == 0 && c.filled == 0 {
                self.counts.duplicates = self.counts.duplicates.saturating_add(1);
                return Verdict::Duplicate;
            }
            let counts = &mut self.counts;
            if let Some(slot) = counts.covered.get_mut(loss.reason.index()) {
                *slot = slot.saturating_add(c.new).saturating_add(c.filled);
            }
            counts.uncovered = counts
                .uncovered
                .saturating_sub(c.filled)
                .saturating_add(c.missing);
            if c.restart {
                counts.restarts = counts.restarts.saturating_add(1);
            }
        }
        if let Some(slot) = self.counts.losses.get_mut(loss.reason.index()) {
            *slot = slot.saturating_add(counted);
        }
        Verdict::New
    }

    /// What has been counted so far.
    pub fn counts(&self) -> &SeqCounts {
        &self.counts
    }

    /// The number after the highest accounted for, once one is. Unless the agent
    /// restarted or records came back from below the window, `records + gaps` of
    /// [`counts`](Self::counts) is this, less the first number seen.
    pub fn next_seq(&self) -> Option<u64> {
        self.next
    }

    fn slot(n: u64) -> (usize, u64) {
        let i = n % Self::WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    fn get(&self, n: u64) -> bool {
        let (w, bit) = Self::slot(n);
        self.seen.get(w).is_some_and(|x| x & bit != 0)
    }

    fn put(&mut self, n: u64, on: bool) {
        let (w, bit) = Self::slot(n);
        if let Some(x) = self.seen.get_mut(w) {
            if on {
                *x |= bit;
            } else {
                *x &= !bit;
            }
        }
    }

    /// Forgets the numbering (not the counts): the agent restarted.
    fn restart(&mut self) {
        self.next = None;
        self.seen = [0; WORDS];
        self.top = false;
    }

    /// Whether `n` is below the highest and within the remembered window.
    fn in_window(&self, n: u64) -> bool {
        self.next.is_some_and(|e| n < e && e - n <= Self::WINDOW)
    }

    /// Raises the highest to `to`: numbers entering the window start unset.
    fn advance(&mut self, to: u64) {
        match self.next {
            Some(from) if to <= from => return,
            Some(from) if to - from < Self::WINDOW => (from..to).for_each(|n| self.put(n, false)),
            _ => self.seen = [0; WORDS],
        }
        self.next = Some(to);
    }

    /// Marks `from..to`, all at or above the window's bottom, as accounted for.
    fn mark(&mut self, from: u64, to: u64) {
        let bottom = to.saturating_sub(Self::WINDOW);
        (from.max(bottom)..to).for_each(|n| self.put(n, true));
    }

    fn fate(&mut self, seq: u64, first: bool) -> Fate {
        match self.next {
            Some(e) if seq < e => {
                if first && seq == 0 {
                    self.restart();
                    self.advance(1);
                    self.put(0, true);
                    Fate::Restart
                } else if !self.in_window(seq) {
                    Fate::Backwards
                } else if self.get(seq) {
                    Fate::Duplicate
                } else {
                    self.put(seq, true);
                    Fate::Late
                }
            }
            Some(_) if seq == u64::MAX && self.top => Fate::Duplicate,
            next => {
                self.top |= seq == u64::MAX;
                let missing = next.map_or(0, |e| seq - e);
                self.advance(seq.saturating_add(1));
                self.put(seq, true);
                Fate::New(missing)
            }
        }
    }

    /// Takes the numbers `start..end` a Loss covers.
    fn cover(&mut self, start: u64, end: u64, first: bool) -> Cover {
        let mut c = Cover::default();
        if start >= end {
            return c;
        }
        if first && start == 0 && self.next.is_some_and(|e| e > 0) {
            self.restart();
            c.restart = true;
        }
        let e = self.next.unwrap_or(start);
        if start >= e {
            c.missing = start - e;
            c.new = end - start;
        } else {
            let lo = start.max(e.saturating_sub(Self::WINDOW));
            for n in lo..end.min(e) {
                if !self.get(n) {
                    self.put(n, true);
                    c.filled += 1;
                }
            }
            c.new = end.saturating_sub(e);
        }
        if end > e {
            self.advance(end);
            self.mark(start.max(e), end);
        }
        c
    }
}

impl<const WORDS: usize> Default for SeqTracker<WORDS> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    //! The decoder's tally tests (now collector/src/tally.rs and session.rs), ported with
    //! their assertions unchanged.
    use super::*;
    use crate::wire::testutil::loss_of as loss;
    use proptest::prelude::*;

    type Tracker = SeqTracker;

    #[test]
    fn the_last_number_can_be_a_duplicate() {
        // Issue 12, finding 10: a record numbered u64::MAX was never a duplicate.
        let mut s = Tracker::new();
        assert_eq!(s.on_record(u64::MAX - 1, true), Verdict::New);
        assert_eq!(s.on_record(u64::MAX, false), Verdict::New);
        assert_eq!(s.on_record(u64::MAX, false), Verdict::Duplicate);
        assert_eq!(s.on_record(u64::MAX - 1, false), Verdict::Duplicate);
        assert_eq!((s.counts().records, s.counts().duplicates), (2, 2));
        // A restart forgets it with the rest of the numbering.
        assert_eq!(s.on_record(0, true), Verdict::New);
        assert_eq!(s.on_record(u64::MAX, false), Verdict::New);
    }

    #[test]
    fn a_loss_counts_no_more_than_the_numbers_it_covers() {
        // Issue 12, finding 10: Loss(count 2^64-1, next_seq 5) made lost_records 2^64-1.
        let mut s = Tracker::new();
        s.on_stream();
        assert_eq!(
            s.on_loss(&loss(LossReason::SinkOutage, u64::MAX, 5), true),
            Verdict::New
        );
        assert_eq!(s.counts().lost_records(), 5, "numbers 0 to 4");
        assert_eq!(s.counts().covered_by(LossReason::SinkOutage), 5);
        assert_eq!(s.next_seq(), Some(5));
        // ENOBUFS counts events, which take no numbers: taken as sent.
        s.on_loss(&loss(LossReason::KernelEnobufs, 7, 5), false);
        assert_eq!(s.counts().lost(LossReason::KernelEnobufs), 7);
    }

    #[test]
    fn record_numbers_new_late_duplicate_restart_backwards() {
        let mut s = Tracker::new();
        // Records 0, 1, then 4 (2 and 3 missing), then 5.
        assert_eq!(s.fate(0, true), Fate::New(0));
        assert_eq!(s.fate(1, false), Fate::New(0));
        assert_eq!(s.fate(4, false), Fate::New(2));
        assert_eq!(s.fate(5, false), Fate::New(0));
        // 3 arrives late; a second 3 and a second 5 are duplicates.
        assert_eq!(s.fate(3, false), Fate::Late);
        assert_eq!(s.fate(3, false), Fate::Duplicate);
        assert_eq!(s.fate(5, true), Fate::Duplicate);
        assert_eq!(s.fate(6, false), Fate::New(0));
        // Far past the window: what was below it can no longer be told.
        assert_eq!(
            s.fate(6 + SEQ_WINDOW + 10, false),
            Fate::New(SEQ_WINDOW + 9)
        );
        assert_eq!(s.fate(6, false), Fate::Backwards);
        assert_eq!(s.fate(17, false), Fate::Late, "the window's bottom");
        // A new stream starting at 0: the agent restarted.
        assert_eq!(s.fate(0, true), Fate::Restart);
        assert_eq!(s.fate(1, false), Fate::New(0));
        // 0 in the middle of a stream is only a late or duplicate 0.
        assert_eq!(s.fate(0, false), Fate::Duplicate);
        // No overflow at the largest number.
        let mut s = Tracker::new();
        assert_eq!(s.fate(u64::MAX - 1, true), Fate::New(0));
        assert_eq!(s.fate(u64::MAX, false), Fate::New(0));
    }

    #[test]
    fn loss_ranges_cover_and_fill() {
        let mut s = Tracker::new();
        // Joined midway: the first Loss sets the baseline.
        let c = s.cover(10, 13, true);
        assert_eq!((c.new, c.filled, c.missing, c.restart), (3, 0, 0, false));
        assert_eq!(s.fate(13, false), Fate::New(0));
        // 14 and 15 missing, then 16..20 covered.
        let c = s.cover(16, 20, false);
        assert_eq!((c.new, c.missing), (4, 2));
        // A late Loss for 14..16 fills the gap; again, it is a duplicate.
        let c = s.cover(14, 16, false);
        assert_eq!((c.new, c.filled, c.missing), (0, 2, 0));
        assert_eq!(s.cover(14, 16, false), Cover::default());
        // Overlapping the top: only what is new counts.
        let c = s.cover(18, 25, false);
        assert_eq!((c.new, c.filled), (5, 0));
        assert_eq!(s.fate(22, false), Fate::Duplicate);
        assert_eq!(s.next, Some(25));
        // A huge range costs at most the window.
        let c = s.cover(25, u64::MAX, false);
        assert_eq!(c.new, u64::MAX - 25);
        assert_eq!(s.fate(u64::MAX - 1, false), Fate::Duplicate);
        // A restarted agent whose first frame is a Loss from 0.
        let c = s.cover(0, 5, true);
        assert_eq!((c.new, c.restart), (5, true));
        assert_eq!(s.fate(5, false), Fate::New(0));
        assert_eq!(s.cover(3, 3, true), Cover::default(), "an empty range");
    }

    #[test]
    fn enobufs_reports_are_resends_only_on_a_later_stream() {
        let mut t = Tracker::new();
        t.on_stream();
        let l = loss(LossReason::KernelEnobufs, 1, 4);
        assert_eq!(t.on_loss(&l, false), Verdict::New);
        // Within one stream the agent never writes a frame twice: two reports.
        assert_eq!(t.on_loss(&l, false), Verdict::New);
        t.on_stream();
        assert_eq!(
            t.on_loss(&l, false),
            Verdict::Duplicate,
            "the same report after a reconnect"
        );
        let other = loss(LossReason::KernelEnobufs, 1, 9);
        assert_eq!(t.on_loss(&other, false), Verdict::New);
        let a = t.counts();
        assert_eq!((a.lost(LossReason::KernelEnobufs), a.duplicates), (3, 1));
    }

    #[test]
    fn gaps_covered_and_uncovered() {
        use Verdict::{Duplicate, New};
        let mut t = Tracker::new();
        // Records 0 1, numbers 2..5 lost to overflow, 5, then 6 missing, 7; then a new
        // connection resends 7 and goes on with 8, a Loss for 9 and 10 (sink outage)
        // and 11.
        t.on_stream();
        assert_eq!(t.on_record(0, true), New);
        assert_eq!(t.on_record(1, false), New);
        let overflow = loss(LossReason::QueueOverflow, 3, 5);
        assert_eq!(t.on_loss(&overflow, false), New);
        assert_eq!(t.on_record(5, false), New);
        let enobufs = loss(LossReason::KernelEnobufs, 2, 6);
        assert_eq!(t.on_loss(&enobufs, false), New);
        assert_eq!(t.on_record(7, false), New);
        t.on_stream();
        assert_eq!(t.on_record(7, true), Duplicate, "a duplicate is not shown");
        assert_eq!(t.on_record(8, false), New);
        let outage = loss(LossReason::SinkOutage, 2, 11);
        assert_eq!(t.on_loss(&outage, false), New);
        assert_eq!(t.on_loss(&outage, false), Duplicate);
        assert_eq!(t.on_record(11, false), New);
        // The ENOBUFS report of seq 6 again, after a reconnect: the resend is dropped.
        t.on_stream();
        assert_eq!(t.on_loss(&enobufs, false), Duplicate);

        let a = t.counts();
        assert_eq!((a.streams, a.records), (3, 6));
        assert_eq!((a.duplicates, a.restarts, a.backwards), (3, 0, 0));
        assert_eq!(a.uncovered, 1, "number 6");
        assert_eq!(a.covered_by(LossReason::QueueOverflow), 3);
        assert_eq!(a.covered_by(LossReason::SinkOutage), 2);
        assert_eq!(a.covered_by(LossReason::KernelEnobufs), 0);
        assert_eq!(a.gaps(), 6);
        // Every number below the highest is a record, covered or uncovered.
        assert_eq!(a.records + a.gaps(), t.next_seq().unwrap());
        assert_eq!(
            a.lost(LossReason::SinkOutage),
            2,
            "the duplicate Loss not counted"
        );
        assert_eq!(
            a.lost(LossReason::KernelEnobufs),
            2,
            "the resent report not counted"
        );
        assert_eq!(a.lost_records(), 5, "ENOBUFS events are not records");

        // A total over senders adds counts.
        let mut b = Tracker::new();
        b.on_stream();
        b.on_record(40, true);
        let mut total = SeqCounts::default();
        total.add(t.counts());
        total.add(b.counts());
        assert_eq!(total.records, 7);
        assert_eq!((total.gaps(), total.uncovered, total.duplicates), (6, 1, 3));
        assert_eq!((total.lost_records(), total.streams), (5, 4));
    }

    #[test]
    fn a_restart_and_old_records_are_counted_apart() {
        let mut t = Tracker::new();
        t.on_stream();
        for seq in 0..10 {
            t.on_record(seq, seq == 0);
        }
        t.on_stream();
        // The restarted agent's first frame is a Loss from 0.
        let l = loss(LossReason::SinkOutage, 2, 2);
        assert_eq!(t.on_loss(&l, true), Verdict::New);
        assert_eq!(t.on_record(2, false), Verdict::New);
        let b = t.counts();
        assert_eq!(
            (b.restarts, b.records, b.duplicates, b.gaps()),
            (1, 11, 0, 2)
        );
        assert_eq!(b.uncovered, 0);
    }

    #[test]
    fn numbering_runs_across_reconnects_and_duplicates_are_dropped() {
        let mut t = Tracker::new();
        let outage = loss(LossReason::SinkOutage, 5, 10);
        // 0 1, 2 and 3 lost in transit, 4, then 5..10 lost to a sink outage.
        t.on_stream();
        for (i, seq) in [0, 1, 4].into_iter().enumerate() {
            assert_eq!(t.on_record(seq, i == 0), Verdict::New);
        }
        assert_eq!(t.on_loss(&outage, false), Verdict::New);
        // Reconnect: the batch that failed is resent (4 and the Loss again), then 10
        // twice within the stream, 11; 12 and 13 lost in transit; 14.
        t.on_stream();
        assert_eq!(t.on_record(4, true), Verdict::Duplicate);
        assert_eq!(t.on_loss(&outage, false), Verdict::Duplicate);
        let shown: std::vec::Vec<_> = [10, 10, 11, 14]
            .into_iter()
            .map(|s| t.on_record(s, false))
            .collect();
        use Verdict::{Duplicate, New};
        assert_eq!(shown, [New, Duplicate, New, New]);
        let b = t.counts();
        assert_eq!(
            (b.streams, b.records, b.duplicates, b.restarts),
            (2, 6, 3, 0)
        );
        assert_eq!(b.uncovered, 4, "2, 3, 12 and 13");
        assert_eq!(b.covered_by(LossReason::SinkOutage), 5);
        assert_eq!(
            b.lost(LossReason::SinkOutage),
            5,
            "the resent Loss counts once"
        );
        assert_eq!(b.records + b.gaps(), 15);
        // A restarted agent: a stream numbered from 0 again is taken whole.
        t.on_stream();
        for seq in 0..3 {
            assert_eq!(t.on_record(seq, seq == 0), Verdict::New);
        }
        let b = t.counts();
        assert_eq!(
            (b.streams, b.records, b.restarts, b.duplicates),
            (3, 9, 1, 3)
        );
    }

    #[test]
    fn a_small_window_forgets_sooner() {
        let mut t = SeqTracker::<1>::new();
        assert_eq!(SeqTracker::<1>::WINDOW, 64);
        t.on_record(0, true);
        t.on_record(100, false);
        // 101 - 64 = 37 is the window's bottom; 36 is below it.
        assert_eq!(t.on_record(37, false), Verdict::New);
        assert_eq!(t.on_record(37, false), Verdict::Duplicate);
        assert_eq!(t.on_record(36, false), Verdict::New);
        assert_eq!(t.on_record(36, false), Verdict::New, "cannot tell any more");
        assert_eq!(t.counts().backwards, 2);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Record(u64),
        Loss(LossReason, u64, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..300u64).prop_map(Op::Record),
            (
                prop_oneof![
                    Just(LossReason::QueueOverflow),
                    Just(LossReason::SinkOutage)
                ],
                0..20u64,
                0..300u64
            )
                .prop_map(|(r, count, next)| Op::Loss(r, count, next)),
        ]
    }

    proptest! {
        /// Within the window and without restarts, the tracker agrees with a plain set of
        /// the numbers accounted for.
        #[test]
        fn agrees_with_a_set_of_numbers(ops in proptest::collection::vec(op(), 0..60)) {
            let mut t = Tracker::new();
            let mut seen = std::collections::BTreeSet::new();
            t.on_stream();
            prop_assert_eq!(t.on_record(0, true), Verdict::New);
            seen.insert(0u64);
            for op in ops {
                let (verdict, numbers, empty): (_, std::vec::Vec<u64>, _) = match op {
                    Op::Record(s) => (t.on_record(s, false), vec![s], false),
                    Op::Loss(reason, count, next_seq) => {
                        let l = Loss { count, reason, next_seq };
                        (t.on_loss(&l, false), l.numbers().collect(), count == 0)
                    }
                };
                // A Loss of no records is news; one of records whose range is cut off at 0
                // covers nothing new, like a resend.
                let fresh = empty || numbers.iter().any(|n| !seen.contains(n));
                prop_assert_eq!(verdict == Verdict::New, fresh);
                seen.extend(numbers);
                let next = seen.last().unwrap() + 1;
                let c = t.counts();
                prop_assert_eq!(t.next_seq(), Some(next));
                prop_assert_eq!(c.uncovered, next - seen.len() as u64);
                prop_assert_eq!(c.records + c.gaps(), next);
            }
        }
    }
}
