//! What `decode --stats` reports: per board, records, sequence gaps (covered by the
//! agent's Loss frames, by reason, or not: lost in transit), duplicates, the losses the
//! agent reported and the frames the reader rejected.
//!
//! A board is the `board_id` of a stream's header. Streams seen before any header get a
//! label of their own, `?1`, `?2`, ... (one per headerless stream), so that their sequence
//! numbers are never compared with another stream's.
//!
//! The agent numbers every record it receives from the kernel, 0, 1, 2, ..., and carries
//! the numbering across reconnects; every number it does not send is covered by a Loss
//! frame (`next_seq - count .. next_seq`) sent before the records that follow. So, per
//! board (all its streams together), a number is either a record, covered by a Loss, or
//! missing: a gap no Loss covers, lost in transit. A record or Loss whose numbers were
//! all accounted for already is a duplicate (the agent resends the batch a failed write
//! was carrying): it is dropped, not printed, and counted. To tell, the last
//! [`SEQ_WINDOW`] numbers below the board's highest are remembered; a record older than
//! that is printed and counted as `backwards`. A stream whose first numbered frame starts
//! at 0 on a board already past 0 is a restarted agent: the numbering starts over.

use taskwire_core::Error;
use taskwire_core::wire::{Kind, Loss, LossReason};

use taskwire_cli::output::escape_token;
use taskwire_cli::output::json::Json;

/// Most boards tallied separately; later ones share [`OVERFLOW_BOARD`]. Board ids are
/// chosen by whoever connects, so without a cap the map could grow without end.
pub const MAX_BOARDS: usize = 1024;
/// The label of every board past [`MAX_BOARDS`].
pub const OVERFLOW_BOARD: &str = "(more boards)";
/// Sequence numbers remembered below a board's highest, to tell a duplicate from a late
/// record: one bit each, 1 KiB per board. A resent batch goes back far less (a batch is
/// a few KiB of frames of 30 bytes or more).
pub const SEQ_WINDOW: u64 = 8192;
const WINDOW_WORDS: usize = (SEQ_WINDOW / 64) as usize;

/// Frames rejected, by the reader's reason (`ReaderStats` without `accepted`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rejected {
    /// Longer than the reader's buffer.
    pub overflow: u64,
    /// Broken COBS stuffing.
    pub cobs: u64,
    /// Bad CRC, or too short for one.
    pub checksum: u64,
    /// Good CRC, undecodable payload.
    pub payload: u64,
    /// A newer wire version's frames.
    pub unsupported: u64,
}

impl Rejected {
    /// Counts one rejection.
    pub fn count(&mut self, e: Error) {
        let slot = match e {
            Error::BufferTooSmall => &mut self.overflow,
            Error::Cobs => &mut self.cobs,
            Error::Checksum => &mut self.checksum,
            Error::Unsupported => &mut self.unsupported,
            // The reader's own rule (`ReaderStats`): anything else is a payload problem.
            _ => &mut self.payload,
        };
        *slot = slot.saturating_add(1);
    }

    /// Every rejection.
    pub fn total(&self) -> u64 {
        self.overflow
            .saturating_add(self.cobs)
            .saturating_add(self.checksum)
            .saturating_add(self.payload)
            .saturating_add(self.unsupported)
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Rejected) {
        self.overflow = self.overflow.saturating_add(other.overflow);
        self.cobs = self.cobs.saturating_add(other.cobs);
        self.checksum = self.checksum.saturating_add(other.checksum);
        self.payload = self.payload.saturating_add(other.payload);
        self.unsupported = self.unsupported.saturating_add(other.unsupported);
    }
}

/// The stats name of a loss reason.
pub fn reason_name(r: LossReason) -> &'static str {
    match r {
        LossReason::KernelEnobufs => "kernel_enobufs",
        LossReason::QueueOverflow => "queue_overflow",
        LossReason::SinkOutage => "sink_outage",
    }
}

/// Every loss reason, in wire order.
pub const REASONS: [LossReason; 3] = [
    LossReason::KernelEnobufs,
    LossReason::QueueOverflow,
    LossReason::SinkOutage,
];

fn reason_index(r: LossReason) -> usize {
    match r {
        LossReason::KernelEnobufs => 0,
        LossReason::QueueOverflow => 1,
        LossReason::SinkOutage => 2,
    }
}

/// One board's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Board {
    /// Stream headers received (1 per connection or agent start).
    pub streams: u64,
    /// Per-task records decoded (duplicates not included).
    pub pid: u64,
    /// Per-thread-group records decoded (duplicates not included).
    pub tgid: u64,
    /// Sequence numbers neither received nor covered by a Loss frame: lost in transit.
    /// A record or Loss that arrives late for one of them takes it off again.
    pub uncovered: u64,
    /// Sequence numbers covered by Loss frames, per reason in [`REASONS`] order
    /// (`kernel_enobufs` covers none: those records were never numbered).
    pub covered: [u64; 3],
    /// Records and Loss frames dropped because every number they carry was accounted
    /// for already: resent after a failed write.
    pub duplicates: u64,
    /// Streams whose numbering started over at 0: the agent restarted.
    pub restarts: u64,
    /// Records numbered too far below the board's highest number (more than
    /// [`SEQ_WINDOW`]) to tell whether they are duplicates: printed and counted.
    pub backwards: u64,
    /// `Loss.count` summed per reason, in [`REASONS`] order, duplicates not included:
    /// records, except ENOBUFS events for `kernel_enobufs`.
    pub losses: [u64; 3],
    /// Heartbeats received.
    pub heartbeats: u64,
    /// Frames rejected while this board's stream was being read.
    pub rejected: Rejected,
    /// Which numbers are accounted for.
    seq: SeqState,
    /// The last ENOBUFS report, `(next_seq, count)`, and `streams` when it came.
    last_enobufs: Option<((u64, u64), u64)>,
}

impl Board {
    /// Records decoded, both kinds.
    pub fn records(&self) -> u64 {
        self.pid.saturating_add(self.tgid)
    }

    /// Losses of `reason` the agent reported.
    pub fn lost(&self, reason: LossReason) -> u64 {
        self.losses[reason_index(reason)]
    }

    /// Records the agent reported lost, summed over the reasons that count records
    /// (ENOBUFS counts events, not records).
    pub fn lost_records(&self) -> u64 {
        self.lost(LossReason::QueueOverflow)
            .saturating_add(self.lost(LossReason::SinkOutage))
    }

    /// Sequence numbers covered by Loss frames of `reason`.
    pub fn covered_by(&self, reason: LossReason) -> u64 {
        self.covered[reason_index(reason)]
    }

    /// Sequence numbers covered by Loss frames, every reason.
    pub fn covered_total(&self) -> u64 {
        self.covered.iter().fold(0, |a, &c| a.saturating_add(c))
    }

    /// Sequence numbers missing between records: covered by a Loss or not.
    pub fn gaps(&self) -> u64 {
        self.uncovered.saturating_add(self.covered_total())
    }

    /// The number after the highest accounted for, once one is.
    pub fn next_seq(&self) -> Option<u64> {
        self.seq.next
    }

    fn add_loss(&mut self, reason: LossReason, count: u64) {
        let slot = &mut self.losses[reason_index(reason)];
        *slot = slot.saturating_add(count);
    }

    /// Adds `other`'s counts (not its numbering).
    fn add(&mut self, b: &Board) {
        self.streams = self.streams.saturating_add(b.streams);
        self.pid = self.pid.saturating_add(b.pid);
        self.tgid = self.tgid.saturating_add(b.tgid);
        self.uncovered = self.uncovered.saturating_add(b.uncovered);
        self.duplicates = self.duplicates.saturating_add(b.duplicates);
        self.restarts = self.restarts.saturating_add(b.restarts);
        self.backwards = self.backwards.saturating_add(b.backwards);
        for i in 0..REASONS.len() {
            self.covered[i] = self.covered[i].saturating_add(b.covered[i]);
            self.losses[i] = self.losses[i].saturating_add(b.losses[i]);
        }
        self.heartbeats = self.heartbeats.saturating_add(b.heartbeats);
        self.rejected.add(&b.rejected);
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
    /// 0, first in a stream of a board past 0.
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

/// Which sequence numbers of a board are accounted for (received or covered by a Loss):
/// the highest so far, and a bit per number for the [`SEQ_WINDOW`] below it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SeqState {
    /// The number after the highest accounted for; `None` before the first.
    next: Option<u64>,
    /// Bit `n % SEQ_WINDOW` for number `n` of `next - SEQ_WINDOW .. next`; allocated at
    /// first use.
    seen: Vec<u64>,
}

impl SeqState {
    fn slot(n: u64) -> (usize, u64) {
        let i = n % SEQ_WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    fn get(&self, n: u64) -> bool {
        let (w, bit) = Self::slot(n);
        self.seen.get(w).is_some_and(|x| x & bit != 0)
    }

    fn put(&mut self, n: u64, on: bool) {
        if self.seen.is_empty() {
            self.seen = vec![0; WINDOW_WORDS];
        }
        let (w, bit) = Self::slot(n);
        if let Some(x) = self.seen.get_mut(w) {
            if on {
                *x |= bit;
            } else {
                *x &= !bit;
            }
        }
    }

    /// Whether `n` is below the highest and within the remembered window.
    fn in_window(&self, n: u64) -> bool {
        self.next.is_some_and(|e| n < e && e - n <= SEQ_WINDOW)
    }

    /// Raises the highest to `to`: numbers entering the window start unset.
    fn advance(&mut self, to: u64) {
        match self.next {
            Some(from) if to <= from => return,
            Some(from) if to - from < SEQ_WINDOW => (from..to).for_each(|n| self.put(n, false)),
            _ => self.seen.iter_mut().for_each(|x| *x = 0),
        }
        self.next = Some(to);
    }

    /// Marks `from..to`, all at or above the window's bottom, as accounted for.
    fn mark(&mut self, from: u64, to: u64) {
        let bottom = to.saturating_sub(SEQ_WINDOW);
        (from.max(bottom)..to).for_each(|n| self.put(n, true));
    }

    fn record(&mut self, seq: u64, fresh: bool) -> Fate {
        match self.next {
            Some(e) if seq < e => {
                if fresh && seq == 0 {
                    *self = SeqState::default();
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
            next => {
                let missing = next.map_or(0, |e| seq - e);
                self.advance(seq.saturating_add(1));
                self.put(seq, true);
                Fate::New(missing)
            }
        }
    }

    /// Takes the numbers `start..end` a Loss covers.
    fn cover(&mut self, start: u64, end: u64, fresh: bool) -> Cover {
        let mut c = Cover::default();
        if start >= end {
            return c;
        }
        if fresh && start == 0 && self.next.is_some_and(|e| e > 0) {
            *self = SeqState::default();
            c.restart = true;
        }
        let e = match self.next {
            None => start,
            Some(e) => e,
        };
        if start >= e {
            c.missing = start - e;
            c.new = end - start;
        } else {
            let lo = start.max(e.saturating_sub(SEQ_WINDOW));
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

/// Counts per board, in board order.
#[derive(Debug, Default)]
pub struct Tally {
    /// Sorted by label: a binary search finds a board without allocating, and the order
    /// is the one the stats print. (A BTreeMap did the same with 4 KiB more code on the
    /// board binary, and its `entry` API wanted an owned key per lookup.)
    boards: Vec<(String, Board)>,
    /// Connections refused because too many were open.
    pub refused_connections: u64,
    /// Connections accepted (or sources opened).
    pub connections: u64,
}

impl Tally {
    /// Nothing counted yet.
    pub fn new() -> Tally {
        Tally::default()
    }

    /// The counts of `board`, created on first use (within [`MAX_BOARDS`]).
    pub fn board(&mut self, board: &str) -> &mut Board {
        let find = |boards: &[(String, Board)], key: &str| {
            boards.binary_search_by(|(k, _)| k.as_str().cmp(key))
        };
        let mut at = find(&self.boards, board);
        if at.is_err() && self.boards.len() >= MAX_BOARDS {
            at = find(&self.boards, OVERFLOW_BOARD);
        }
        let i = match at {
            Ok(i) => i,
            Err(i) => {
                let key = if self.boards.len() < MAX_BOARDS {
                    board
                } else {
                    OVERFLOW_BOARD
                };
                self.boards.insert(i, (key.to_owned(), Board::default()));
                i
            }
        };
        &mut self.boards[i].1
    }

    /// A header for `board` arrived.
    pub fn header(&mut self, board: &str) {
        let b = self.board(board);
        b.streams = b.streams.saturating_add(1);
    }

    /// A record of `kind` numbered `seq` arrived; `fresh` when it is the first numbered
    /// frame of its stream. Returns whether it is to be shown (false for a duplicate).
    pub fn record(&mut self, board: &str, kind: Kind, seq: u64, fresh: bool) -> bool {
        let b = self.board(board);
        match b.seq.record(seq, fresh) {
            Fate::Duplicate => {
                b.duplicates = b.duplicates.saturating_add(1);
                return false;
            }
            Fate::New(missing) => b.uncovered = b.uncovered.saturating_add(missing),
            Fate::Late => b.uncovered = b.uncovered.saturating_sub(1),
            Fate::Restart => b.restarts = b.restarts.saturating_add(1),
            Fate::Backwards => b.backwards = b.backwards.saturating_add(1),
        }
        match kind {
            Kind::Pid => b.pid = b.pid.saturating_add(1),
            Kind::Tgid => b.tgid = b.tgid.saturating_add(1),
        }
        true
    }

    /// The agent reported `l`; `fresh` when, numbering records, it is the first numbered
    /// frame of its stream. Returns whether it is to be shown (false for a duplicate).
    pub fn loss(&mut self, board: &str, l: &Loss, fresh: bool) -> bool {
        let b = self.board(board);
        if l.reason == LossReason::KernelEnobufs {
            // It covers no numbers, so the numbering cannot tell a resend. But the agent
            // resends only on a new connection (after a new header), and two distinct
            // reports with the same place and count would need two overflows with no
            // record read between them: the same report on a later stream is the resend.
            let key = (l.next_seq, l.count);
            let resent = b
                .last_enobufs
                .is_some_and(|(last, streams)| last == key && streams < b.streams);
            b.last_enobufs = Some((key, b.streams));
            if resent {
                b.duplicates = b.duplicates.saturating_add(1);
                return false;
            }
        } else {
            let start = l.next_seq.saturating_sub(l.count);
            let c = b.seq.cover(start, l.next_seq, fresh);
            if l.count > 0 && c.new == 0 && c.filled == 0 {
                b.duplicates = b.duplicates.saturating_add(1);
                return false;
            }
            let slot = &mut b.covered[reason_index(l.reason)];
            *slot = slot.saturating_add(c.new).saturating_add(c.filled);
            b.uncovered = b
                .uncovered
                .saturating_sub(c.filled)
                .saturating_add(c.missing);
            if c.restart {
                b.restarts = b.restarts.saturating_add(1);
            }
        }
        b.add_loss(l.reason, l.count);
        true
    }

    /// A heartbeat arrived.
    pub fn heartbeat(&mut self, board: &str) {
        let b = self.board(board);
        b.heartbeats = b.heartbeats.saturating_add(1);
    }

    /// Frames rejected while reading `board`'s stream.
    pub fn rejected(&mut self, board: &str, r: &Rejected) {
        if r.total() > 0 {
            self.board(board).rejected.add(r);
        }
    }

    /// Every board's counts, by label.
    pub fn boards(&self) -> impl Iterator<Item = (&str, &Board)> {
        self.boards.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The sum over every board.
    pub fn total(&self) -> Board {
        let mut t = Board::default();
        for (_, b) in &self.boards {
            t.add(b);
        }
        t
    }
}

impl Board {
    /// `(key, value)` of every count, in the order the stats lines print them.
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        let mut v = vec![
            ("streams", self.streams),
            ("records", self.records()),
            ("pid", self.pid),
            ("tgid", self.tgid),
            ("gaps", self.gaps()),
            ("gaps_covered", self.covered_total()),
            (
                "gaps_covered_queue_overflow",
                self.covered_by(LossReason::QueueOverflow),
            ),
            (
                "gaps_covered_sink_outage",
                self.covered_by(LossReason::SinkOutage),
            ),
            ("gaps_uncovered", self.uncovered),
            ("duplicates", self.duplicates),
            ("restarts", self.restarts),
            ("backwards", self.backwards),
            ("heartbeats", self.heartbeats),
            ("lost_records", self.lost_records()),
        ];
        for (r, key) in REASONS.iter().zip([
            "lost_kernel_enobufs",
            "lost_queue_overflow",
            "lost_sink_outage",
        ]) {
            v.push((key, self.lost(*r)));
        }
        let r = &self.rejected;
        v.extend([
            ("rejected", r.total()),
            ("rejected_overflow", r.overflow),
            ("rejected_cobs", r.cobs),
            ("rejected_checksum", r.checksum),
            ("rejected_payload", r.payload),
            ("rejected_unsupported", r.unsupported),
        ]);
        v
    }
}

impl Tally {
    /// The `--stats` lines: one per board (its counts, then `next_seq`: the number after
    /// the highest it accounted for), then a total; `key=value` text, or one JSON object
    /// per line (`"type":"stats"` per board, `"stats_total"` for the sum).
    pub fn report(&self, json: bool) -> String {
        let mut out = String::new();
        let total = self.total();
        let extra = [
            ("boards", self.boards.len() as u64),
            ("connections", self.connections),
            ("refused_connections", self.refused_connections),
        ];
        let rows = self
            .boards()
            .map(|(name, b)| {
                let mut counts = b.counts();
                // Per board only. records + gaps = next_seq, unless the agent restarted
                // (the numbering started over) or records came back from too far.
                counts.push(("next_seq", b.next_seq().unwrap_or(0)));
                (Some(name), counts)
            })
            .chain(std::iter::once((None, total.counts())));
        for (name, counts) in rows {
            if json {
                let mut j = Json::with(&mut out);
                match name {
                    Some(n) => j.str("type", "stats").str("board", n),
                    None => j.str("type", "stats_total"),
                };
                for (k, v) in counts
                    .iter()
                    .chain(if name.is_none() { &extra[..] } else { &[] })
                {
                    j.u64(k, *v);
                }
                j.end();
            } else {
                out.push_str("taskwire decode: stats ");
                match name {
                    Some(n) => out.push_str(&format!("board={}", escape_token(n.as_bytes()))),
                    None => out.push_str("total"),
                }
                for (k, v) in counts
                    .iter()
                    .chain(if name.is_none() { &extra[..] } else { &[] })
                {
                    out.push_str(&format!(" {k}={v}"));
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(reason: LossReason, count: u64, next_seq: u64) -> Loss {
        Loss {
            count,
            reason,
            next_seq,
        }
    }

    #[test]
    fn record_numbers_new_late_duplicate_restart_backwards() {
        let mut s = SeqState::default();
        // Records 0, 1, then 4 (2 and 3 missing), then 5.
        assert_eq!(s.record(0, true), Fate::New(0));
        assert_eq!(s.record(1, false), Fate::New(0));
        assert_eq!(s.record(4, false), Fate::New(2));
        assert_eq!(s.record(5, false), Fate::New(0));
        // 3 arrives late; a second 3 and a second 5 are duplicates.
        assert_eq!(s.record(3, false), Fate::Late);
        assert_eq!(s.record(3, false), Fate::Duplicate);
        assert_eq!(s.record(5, true), Fate::Duplicate);
        assert_eq!(s.record(6, false), Fate::New(0));
        // Far past the window: what was below it can no longer be told.
        assert_eq!(
            s.record(6 + SEQ_WINDOW + 10, false),
            Fate::New(SEQ_WINDOW + 9)
        );
        assert_eq!(s.record(6, false), Fate::Backwards);
        assert_eq!(s.record(17, false), Fate::Late, "the window's bottom");
        // A new stream starting at 0: the agent restarted.
        assert_eq!(s.record(0, true), Fate::Restart);
        assert_eq!(s.record(1, false), Fate::New(0));
        // 0 in the middle of a stream is only a late or duplicate 0.
        assert_eq!(s.record(0, false), Fate::Duplicate);
        // No overflow at the largest number.
        let mut s = SeqState::default();
        assert_eq!(s.record(u64::MAX - 1, true), Fate::New(0));
        assert_eq!(s.record(u64::MAX, false), Fate::New(0));
    }

    #[test]
    fn loss_ranges_cover_and_fill() {
        let mut s = SeqState::default();
        // Joined midway: the first Loss sets the baseline.
        let c = s.cover(10, 13, true);
        assert_eq!((c.new, c.filled, c.missing, c.restart), (3, 0, 0, false));
        assert_eq!(s.record(13, false), Fate::New(0));
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
        assert_eq!(s.record(22, false), Fate::Duplicate);
        assert_eq!(s.next, Some(25));
        // A huge range costs at most the window.
        let c = s.cover(25, u64::MAX, false);
        assert_eq!(c.new, u64::MAX - 25);
        assert_eq!(s.record(u64::MAX - 1, false), Fate::Duplicate);
        // A restarted agent whose first frame is a Loss from 0.
        let c = s.cover(0, 5, true);
        assert_eq!((c.new, c.restart), (5, true));
        assert_eq!(s.record(5, false), Fate::New(0));
        assert_eq!(s.cover(3, 3, true), Cover::default(), "an empty range");
    }

    #[test]
    fn enobufs_reports_are_resends_only_on_a_later_stream() {
        let mut t = Tally::new();
        t.header("a");
        let l = loss(LossReason::KernelEnobufs, 1, 4);
        assert!(t.loss("a", &l, false));
        // Within one stream the agent never writes a frame twice: two reports.
        assert!(t.loss("a", &l, false));
        t.header("a");
        assert!(!t.loss("a", &l, false), "the same report after a reconnect");
        assert!(t.loss("a", &loss(LossReason::KernelEnobufs, 1, 9), false));
        let (_, a) = t.boards().next().unwrap();
        assert_eq!((a.lost(LossReason::KernelEnobufs), a.duplicates), (3, 1));
    }

    #[test]
    fn boards_tally_gaps_covered_and_uncovered() {
        let mut t = Tally::new();
        // Board a: records 0 1, numbers 2..5 lost to overflow, 5, then 6 missing, 7;
        // then a new connection resends 7 and goes on with 8, a Loss for 9 and 10
        // (sink outage) and 11.
        t.header("a");
        assert!(t.record("a", Kind::Pid, 0, true));
        assert!(t.record("a", Kind::Pid, 1, false));
        assert!(t.loss("a", &loss(LossReason::QueueOverflow, 3, 5), false));
        assert!(t.record("a", Kind::Pid, 5, false));
        assert!(t.loss("a", &loss(LossReason::KernelEnobufs, 2, 6), false));
        assert!(t.record("a", Kind::Tgid, 7, false));
        t.header("a");
        assert!(
            !t.record("a", Kind::Tgid, 7, true),
            "a duplicate is not shown"
        );
        assert!(t.record("a", Kind::Pid, 8, false));
        assert!(t.loss("a", &loss(LossReason::SinkOutage, 2, 11), false));
        assert!(!t.loss("a", &loss(LossReason::SinkOutage, 2, 11), false));
        assert!(t.record("a", Kind::Pid, 11, false));
        // The ENOBUFS report of seq 6 again, after a reconnect: the resend is dropped.
        t.header("a");
        assert!(!t.loss("a", &loss(LossReason::KernelEnobufs, 2, 6), false));
        // Board b: one record, a heartbeat and some rejections.
        t.header("b");
        t.record("b", Kind::Pid, 40, true);
        t.heartbeat("b");
        let mut r = Rejected::default();
        r.count(Error::Checksum);
        r.count(Error::Checksum);
        r.count(Error::Cobs);
        r.count(Error::Payload);
        r.count(Error::Unsupported);
        r.count(Error::BufferTooSmall);
        t.rejected("b", &r);

        let boards: Vec<_> = t.boards().collect();
        assert_eq!(boards.len(), 2);
        let (name, a) = boards[0];
        assert_eq!(name, "a");
        assert_eq!((a.streams, a.pid, a.tgid, a.records()), (3, 5, 1, 6));
        assert_eq!((a.duplicates, a.restarts, a.backwards), (3, 0, 0));
        assert_eq!(a.uncovered, 1, "number 6");
        assert_eq!(a.covered_by(LossReason::QueueOverflow), 3);
        assert_eq!(a.covered_by(LossReason::SinkOutage), 2);
        assert_eq!(a.covered_by(LossReason::KernelEnobufs), 0);
        assert_eq!(a.gaps(), 6);
        // Every number below the highest is a record, covered or uncovered.
        assert_eq!(a.records() + a.gaps(), a.next_seq().unwrap());
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
        assert_eq!(a.rejected.total(), 0);
        let (_, b) = boards[1];
        assert_eq!(
            (b.rejected.checksum, b.rejected.cobs, b.rejected.payload),
            (2, 1, 1)
        );
        assert_eq!(b.rejected.total(), 6);
        assert_eq!((b.heartbeats, b.gaps()), (1, 0));

        let total = t.total();
        assert_eq!(total.records(), 7);
        assert_eq!((total.gaps(), total.uncovered, total.duplicates), (6, 1, 3));
        assert_eq!(total.lost_records(), 5);
        assert_eq!(total.rejected.total(), 6);
        assert_eq!(total.next_seq(), None, "a total has no numbering");
    }

    #[test]
    fn a_restart_and_old_records_are_counted_apart() {
        let mut t = Tally::new();
        t.header("r");
        for seq in 0..10 {
            t.record("r", Kind::Pid, seq, seq == 0);
        }
        t.header("r");
        // The restarted agent's first frame is a Loss from 0.
        assert!(t.loss("r", &loss(LossReason::SinkOutage, 2, 2), true));
        assert!(t.record("r", Kind::Pid, 2, false));
        let (_, b) = t.boards().next().unwrap();
        assert_eq!(
            (b.restarts, b.records(), b.duplicates, b.gaps()),
            (1, 11, 0, 2)
        );
        assert_eq!(b.uncovered, 0);
    }

    #[test]
    fn report_has_a_line_per_board_and_a_total() {
        let mut t = Tally::new();
        t.header("b 1");
        t.record("b 1", Kind::Pid, 0, true);
        t.record("b 1", Kind::Pid, 3, false);
        t.loss("b 1", &loss(LossReason::SinkOutage, 2, 6), false);
        t.record("b 1", Kind::Pid, 6, false);
        t.header("c");
        let mut r = Rejected::default();
        r.count(Error::Cobs);
        t.rejected("c", &r);
        t.connections = 2;
        let text = t.report(false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("taskwire decode: stats board=b\\x201 streams=1 records=3 "));
        // 1 and 2 lost in transit, 4 and 5 covered by the Loss.
        let gaps = " gaps=4 gaps_covered=2 gaps_covered_queue_overflow=0 \
                    gaps_covered_sink_outage=2 gaps_uncovered=2 duplicates=0 restarts=0 \
                    backwards=0 ";
        assert!(lines[0].contains(gaps), "{}", lines[0]);
        assert!(lines[0].contains(" lost_records=2 "), "{}", lines[0]);
        assert!(lines[0].contains(" lost_sink_outage=2 "), "{}", lines[0]);
        assert!(lines[1].contains(" rejected=1 ") && lines[1].contains(" rejected_cobs=1 "));
        assert!(lines[2].starts_with("taskwire decode: stats total streams=2 records=3 "));
        assert!(
            lines[2].ends_with(" boards=2 connections=2 refused_connections=0"),
            "{}",
            lines[2]
        );

        let json = t.report(true);
        let lines: Vec<&str> = json.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("{\"type\":\"stats\",\"board\":\"b 1\",\"streams\":1,"));
        assert!(lines[2].starts_with("{\"type\":\"stats_total\","));
        assert!(lines[2].contains("\"rejected_cobs\":1,"), "{}", lines[2]);
        assert!(lines[2].ends_with("\"connections\":2,\"refused_connections\":0}"));
    }

    #[test]
    fn board_count_is_capped() {
        let mut t = Tally::new();
        for i in 0..MAX_BOARDS + 10 {
            t.header(&format!("b{i}"));
        }
        assert_eq!(t.boards().count(), MAX_BOARDS + 1);
        let (_, more) = t.boards().find(|(n, _)| *n == OVERFLOW_BOARD).unwrap();
        // Exactly MAX_BOARDS boards get their own row; the 10 after them share one.
        assert_eq!(more.streams, 10);
        // A board already known keeps its own row.
        t.header("b0");
        assert_eq!(t.boards().find(|(n, _)| *n == "b0").unwrap().1.streams, 2);
    }
}
