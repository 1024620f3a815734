//! Per-board counts: records by kind, intervals and samples, heartbeats, rejected frames,
//! and the sequence
//! accounting of core's [`SeqTracker`]: gaps covered by the agent's Loss frames, by
//! reason, or not (lost in transit), duplicates, restarts. What they print as is
//! [`crate::stats`]; what a duplicate means for the output is the session's to decide.
//!
//! A board is the `board_id` and `instance` of a stream's header ([`Key`]): two agents
//! given one board id, or an agent and its restarted self, are two boards, and one's
//! frames never count as another's. Streams seen before any header get a label of their
//! own, `?1`, `?2`, ... (one per headerless stream), so that their sequence numbers are
//! never compared with another stream's.
//!
//! Intervals and samples of live tasks are numbered in the records' sequence and are
//! accounted for exactly as records (core/WIRE.md, "Numbered frames"); below, "record"
//! means any numbered frame.
//!
//! The agent numbers every record it receives from the kernel, 0, 1, 2, ..., and carries
//! the numbering across reconnects; every number it does not send is covered by a Loss
//! frame (`next_seq - count .. next_seq`) sent before the records that follow. So, per
//! board (all its streams together), a number is either a record, covered by a Loss, or
//! missing: a gap no Loss covers, lost in transit. A record or Loss whose numbers were
//! all accounted for already is a duplicate (the agent resends the batch a failed write
//! was carrying): it is dropped, not printed, and counted. To tell, the last
//! [`SEQ_WINDOW`](taskwire_core::wire::SEQ_WINDOW) numbers below the board's highest are remembered; a record older than
//! that is printed and counted as `backwards`. A stream whose first numbered frame starts
//! at 0 on a board already past 0 is a restarted agent: the numbering starts over.

use taskwire_core::wire::{Kind, Loss, LossReason, SeqCounts, SeqTracker, Verdict};

use std::time::SystemTime;

use crate::boards::{Boards, Key};
use crate::metrics::Series;
use crate::rejected::Rejected;

/// Counts of one board, or summed over boards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// The sequence accounting: streams, gaps covered and uncovered, duplicates,
    /// restarts, losses the agent reported.
    pub seq: SeqCounts,
    /// Per-task records decoded (duplicates not included).
    pub pid: u64,
    /// Per-thread-group records decoded (duplicates not included).
    pub tgid: u64,
    /// Sampling intervals decoded (duplicates not included).
    pub intervals: u64,
    /// Samples (task rows) decoded (duplicates not included).
    pub samples: u64,
    /// Heartbeats received.
    pub heartbeats: u64,
    /// Frames rejected while this board's stream was being read.
    pub rejected: Rejected,
    /// With a shared subscription ([`Tally::shared`]): numbers missing between records
    /// that no Loss covers, which this decoder was not handed: another decoder of the
    /// group has them, or they are lost; only the group's sum tells (README, "Shared
    /// subscriptions"). `seq.uncovered` is then 0: this decoder cannot tell a loss.
    pub not_seen_here: u64,
    /// The number after the highest accounted for, once one is; `None` for a sum.
    next_seq: Option<u64>,
}

impl Counts {
    /// Records decoded, both kinds.
    pub fn records(&self) -> u64 {
        self.pid.saturating_add(self.tgid)
    }

    /// Losses of `reason` the agent reported.
    pub fn lost(&self, reason: LossReason) -> u64 {
        self.seq.lost(reason)
    }

    /// Records the agent reported lost (ENOBUFS counts events, not records).
    pub fn lost_records(&self) -> u64 {
        self.seq.lost_records()
    }

    /// Sequence numbers covered by Loss frames of `reason`.
    pub fn covered_by(&self, reason: LossReason) -> u64 {
        self.seq.covered_by(reason)
    }

    /// Sequence numbers covered by Loss frames, every reason.
    pub fn covered_total(&self) -> u64 {
        self.seq.covered_total()
    }

    /// Sequence numbers missing between records: covered by a Loss or not, or (shared
    /// subscriptions) not handed to this decoder.
    pub fn gaps(&self) -> u64 {
        self.seq.gaps().saturating_add(self.not_seen_here)
    }

    /// The number after the highest accounted for, once one is (per board only).
    pub fn next_seq(&self) -> Option<u64> {
        self.next_seq
    }

    fn add(&mut self, other: &Counts) {
        self.seq.add(&other.seq);
        self.pid = self.pid.saturating_add(other.pid);
        self.tgid = self.tgid.saturating_add(other.tgid);
        self.intervals = self.intervals.saturating_add(other.intervals);
        self.samples = self.samples.saturating_add(other.samples);
        self.heartbeats = self.heartbeats.saturating_add(other.heartbeats);
        self.rejected.add(&other.rejected);
        self.not_seen_here = self.not_seen_here.saturating_add(other.not_seen_here);
    }
}

/// One board as the metrics read it.
#[derive(Debug)]
pub struct BoardRow<'a> {
    /// The label it prints as.
    pub label: &'a str,
    /// Its counts.
    pub counts: Counts,
    /// Streams reading it now.
    pub live: u32,
    /// When a frame of it was last taken.
    pub last_seen: Option<SystemTime>,
    /// What `--metrics` keeps of it beside the counts.
    pub series: &'a Series,
}

/// One board: its sequence numbering and its other counts.
#[derive(Debug, Default)]
struct Board {
    tracker: SeqTracker,
    counts: Counts,
    /// When a frame of it was last taken.
    last_seen: Option<SystemTime>,
    /// What `--metrics` keeps of it beside the counts (empty without).
    series: Series,
}

impl Board {
    /// Its counts; `shared`: read through a shared subscription, where the numbers no
    /// Loss covers are not this decoder's to call lost.
    fn snapshot(&self, shared: bool) -> Counts {
        let mut seq = *self.tracker.counts();
        let not_seen_here = match shared {
            true => std::mem::take(&mut seq.uncovered),
            false => 0,
        };
        Counts {
            seq,
            not_seen_here,
            next_seq: self.tracker.next_seq(),
            ..self.counts
        }
    }
}

/// What a decoder subscribed to an MQTT broker counts beside its boards' numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerCounts {
    /// Connections the broker accepted (CONNACK).
    pub connects: u64,
    /// Connections lost (the broker went away, or dropped this decoder), each an outage.
    pub outages: u64,
    /// Reconnections after which the broker had kept no session: what it would have
    /// queued for this decoder meanwhile is gone (seen as gaps).
    pub sessions_lost: u64,
    /// Stream payloads (PUBLISH messages) received.
    pub payloads: u64,
    /// Status messages saying a board came online.
    pub online: u64,
    /// Status messages saying a board stopped cleanly.
    pub stopped: u64,
    /// Status messages saying a board went away without stopping (its last will).
    pub lost: u64,
}

/// Counts per board, in board order.
#[derive(Debug, Default)]
pub struct Tally {
    boards: Boards<Board>,
    /// The counts of boards evicted from a full table (idle ones), summed: still in the
    /// total.
    evicted: Counts,
    /// Boards evicted from a full table.
    pub evicted_boards: u64,
    /// Connections refused because too many were open.
    pub refused_connections: u64,
    /// Connections closed before a readable header arrived (network sources): within
    /// the header timeout, or at all.
    pub refused_no_header: u64,
    /// Connections refused for not proving they know the key (`decode --key`).
    pub refused_authentication: u64,
    /// Connections closed for sending nothing past the idle timeout.
    pub closed_idle: u64,
    /// Connections accepted (or sources opened).
    pub connections: u64,
    /// The source is one decoder of an MQTT shared subscription: numbers no Loss covers
    /// count as [`Counts::not_seen_here`], not as uncovered gaps.
    pub shared: bool,
    /// A broker's counts, when the source is `mqtt://`.
    pub broker: Option<BrokerCounts>,
}

impl Tally {
    /// Nothing counted yet.
    pub fn new() -> Tally {
        Tally::default()
    }

    fn board(&mut self, key: &Key) -> &mut Board {
        let (evicted, n, shared) = (&mut self.evicted, &mut self.evicted_boards, self.shared);
        let b = self.boards.get(key, |_, b| {
            evicted.add(&b.snapshot(shared));
            *n += 1;
        });
        b.last_seen = Some(SystemTime::now());
        b
    }

    /// What `--metrics` keeps of `key`'s board.
    pub fn series(&mut self, key: &Key) -> &mut Series {
        &mut self.board(key).series
    }

    /// A stream now reads `key`'s board; its label. The board is kept (not evicted)
    /// until [`Tally::detach`].
    pub fn attach(&mut self, key: &Key) -> String {
        let (evicted, n, shared) = (&mut self.evicted, &mut self.evicted_boards, self.shared);
        self.boards.attach(key, |_, b| {
            evicted.add(&b.snapshot(shared));
            *n += 1;
        });
        self.label(key)
    }

    /// A stream stopped reading `key`'s board.
    pub fn detach(&mut self, key: &Key) {
        self.boards.detach(key);
    }

    /// The label `key`'s board prints as.
    pub fn label(&mut self, key: &Key) -> String {
        let (evicted, n, shared) = (&mut self.evicted, &mut self.evicted_boards, self.shared);
        self.boards
            .label(key, |_, b| {
                evicted.add(&b.snapshot(shared));
                *n += 1;
            })
            .to_owned()
    }

    /// A header for `board` arrived.
    pub fn header(&mut self, board: &Key) {
        self.board(board).tracker.on_stream();
    }

    /// A record of `kind` numbered `seq` arrived; `fresh` when it is the first numbered
    /// frame of its stream. A duplicate is counted, not shown.
    pub fn record(&mut self, board: &Key, kind: Kind, seq: u64, fresh: bool) -> Verdict {
        self.numbered(board, seq, fresh, |c| match kind {
            Kind::Pid => &mut c.pid,
            Kind::Tgid => &mut c.tgid,
        })
    }

    /// An interval numbered `seq` arrived; as [`Tally::record`].
    pub fn interval(&mut self, board: &Key, seq: u64, fresh: bool) -> Verdict {
        self.numbered(board, seq, fresh, |c| &mut c.intervals)
    }

    /// A sample numbered `seq` arrived; as [`Tally::record`].
    pub fn sample(&mut self, board: &Key, seq: u64, fresh: bool) -> Verdict {
        self.numbered(board, seq, fresh, |c| &mut c.samples)
    }

    /// A numbered frame arrived: the board's numbering decides, and `count` picks what a
    /// new one adds to.
    fn numbered(
        &mut self,
        board: &Key,
        seq: u64,
        fresh: bool,
        count: impl FnOnce(&mut Counts) -> &mut u64,
    ) -> Verdict {
        let b = self.board(board);
        let verdict = b.tracker.on_record(seq, fresh);
        if verdict == Verdict::New {
            let n = count(&mut b.counts);
            *n = n.saturating_add(1);
        }
        verdict
    }

    /// The agent reported `l`; `fresh` when, numbering records, it is the first numbered
    /// frame of its stream. A duplicate (a resend) is counted, not shown.
    pub fn loss(&mut self, board: &Key, l: &Loss, fresh: bool) -> Verdict {
        self.board(board).tracker.on_loss(l, fresh)
    }

    /// A heartbeat arrived.
    pub fn heartbeat(&mut self, board: &Key) {
        let b = &mut self.board(board).counts;
        b.heartbeats = b.heartbeats.saturating_add(1);
    }

    /// Frames rejected while reading `board`'s stream.
    pub fn rejected(&mut self, board: &Key, r: &Rejected) {
        if r.total() > 0 {
            self.board(board).counts.rejected.add(r);
        }
    }

    /// `board`'s sequence accounting so far.
    pub fn seq_counts(&mut self, board: &Key) -> SeqCounts {
        *self.board(board).tracker.counts()
    }

    /// Every board's counts, by label.
    pub fn boards(&self) -> impl Iterator<Item = (&str, Counts)> {
        let shared = self.shared;
        self.boards
            .iter()
            .map(move |(k, b)| (k, b.snapshot(shared)))
    }

    /// Every board with what the metrics export of it, by label.
    pub fn rows(&self) -> impl Iterator<Item = BoardRow<'_>> {
        let shared = self.shared;
        self.boards
            .iter_live()
            .map(move |(label, live, b)| BoardRow {
                label,
                counts: b.snapshot(shared),
                live,
                last_seen: b.last_seen,
                series: &b.series,
            })
    }

    /// How many boards are in the table now (evicted ones not included).
    pub fn board_count(&self) -> usize {
        self.boards.len()
    }

    /// The sum over every board, evicted ones included (no numbering: its `next_seq` is
    /// `None`).
    pub fn total(&self) -> Counts {
        let mut t = self.evicted;
        t.next_seq = None;
        for (_, b) in self.boards() {
            t.add(&b);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boards::MAX_BOARDS;
    use taskwire_core::Error;
    use taskwire_core::wire::testutil::loss_of as loss;

    #[test]
    fn enobufs_reports_are_resends_only_on_a_later_stream() {
        let mut t = Tally::new();
        t.header(&Key::named("a"));
        let l = loss(LossReason::KernelEnobufs, 1, 4);
        assert_eq!(t.loss(&Key::named("a"), &l, false), Verdict::New);
        // Within one stream the agent never writes a frame twice: two reports.
        assert_eq!(t.loss(&Key::named("a"), &l, false), Verdict::New);
        t.header(&Key::named("a"));
        assert_eq!(
            t.loss(&Key::named("a"), &l, false),
            Verdict::Duplicate,
            "the same report after a reconnect"
        );
        assert_eq!(
            t.loss(
                &Key::named("a"),
                &loss(LossReason::KernelEnobufs, 1, 9),
                false
            ),
            Verdict::New
        );
        let (_, a) = t.boards().next().unwrap();
        assert_eq!(
            (a.lost(LossReason::KernelEnobufs), a.seq.duplicates),
            (3, 1)
        );
    }

    #[test]
    fn boards_tally_gaps_covered_and_uncovered() {
        let mut t = Tally::new();
        // Board a: records 0 1, numbers 2..5 lost to overflow, 5, then 6 missing, 7;
        // then a new connection resends 7 and goes on with 8, a Loss for 9 and 10
        // (sink outage) and 11.
        t.header(&Key::named("a"));
        assert_eq!(t.record(&Key::named("a"), Kind::Pid, 0, true), Verdict::New);
        assert_eq!(
            t.record(&Key::named("a"), Kind::Pid, 1, false),
            Verdict::New
        );
        assert_eq!(
            t.loss(
                &Key::named("a"),
                &loss(LossReason::QueueOverflow, 3, 5),
                false
            ),
            Verdict::New
        );
        assert_eq!(
            t.record(&Key::named("a"), Kind::Pid, 5, false),
            Verdict::New
        );
        assert_eq!(
            t.loss(
                &Key::named("a"),
                &loss(LossReason::KernelEnobufs, 2, 6),
                false
            ),
            Verdict::New
        );
        assert_eq!(
            t.record(&Key::named("a"), Kind::Tgid, 7, false),
            Verdict::New
        );
        t.header(&Key::named("a"));
        assert_eq!(
            t.record(&Key::named("a"), Kind::Tgid, 7, true),
            Verdict::Duplicate,
            "a duplicate is not shown"
        );
        assert_eq!(
            t.record(&Key::named("a"), Kind::Pid, 8, false),
            Verdict::New
        );
        assert_eq!(
            t.loss(
                &Key::named("a"),
                &loss(LossReason::SinkOutage, 2, 11),
                false
            ),
            Verdict::New
        );
        assert_eq!(
            t.loss(
                &Key::named("a"),
                &loss(LossReason::SinkOutage, 2, 11),
                false
            ),
            Verdict::Duplicate
        );
        assert_eq!(
            t.record(&Key::named("a"), Kind::Pid, 11, false),
            Verdict::New
        );
        // The ENOBUFS report of seq 6 again, after a reconnect: the resend is dropped.
        t.header(&Key::named("a"));
        assert_eq!(
            t.loss(
                &Key::named("a"),
                &loss(LossReason::KernelEnobufs, 2, 6),
                false
            ),
            Verdict::Duplicate
        );
        // Board b: one record, a heartbeat and some rejections.
        t.header(&Key::named("b"));
        t.record(&Key::named("b"), Kind::Pid, 40, true);
        t.heartbeat(&Key::named("b"));
        let mut r = Rejected::default();
        r.count(Error::Checksum);
        r.count(Error::Checksum);
        r.count(Error::Cobs);
        r.count(Error::Payload);
        r.count(Error::Unsupported { version: 2 });
        r.count(Error::BufferTooSmall);
        t.rejected(&Key::named("b"), &r);

        let boards: Vec<_> = t.boards().collect();
        assert_eq!(boards.len(), 2);
        let (name, a) = boards[0];
        assert_eq!(name, "a");
        assert_eq!((a.seq.streams, a.pid, a.tgid, a.records()), (3, 5, 1, 6));
        assert_eq!(
            (a.seq.duplicates, a.seq.restarts, a.seq.backwards),
            (3, 0, 0)
        );
        assert_eq!(a.seq.uncovered, 1, "number 6");
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
        assert_eq!(
            (total.gaps(), total.seq.uncovered, total.seq.duplicates),
            (6, 1, 3)
        );
        assert_eq!(total.lost_records(), 5);
        assert_eq!(total.rejected.total(), 6);
        assert_eq!(total.next_seq(), None, "a total has no numbering");
    }

    #[test]
    fn a_shared_subscription_counts_missing_numbers_as_not_seen_here() {
        // One decoder of a $share group: numbers 2 to 4 went to another decoder; 7 is
        // covered by the agent's Loss, which this decoder was handed.
        let mut t = Tally::new();
        t.shared = true;
        let a = Key::named("a");
        t.header(&a);
        for seq in [0, 1, 5, 6] {
            t.record(&a, Kind::Pid, seq, seq == 0);
        }
        t.loss(&a, &loss(LossReason::QueueOverflow, 1, 8), false);
        let (_, c) = t.boards().next().unwrap();
        assert_eq!(
            (c.seq.uncovered, c.not_seen_here, c.covered_total()),
            (0, 3, 1)
        );
        assert_eq!(c.records() + c.gaps(), c.next_seq().unwrap());
        assert_eq!(t.total().not_seen_here, 3);
        assert_eq!(t.total().seq.uncovered, 0);
    }

    #[test]
    fn a_restart_and_old_records_are_counted_apart() {
        let mut t = Tally::new();
        t.header(&Key::named("r"));
        for seq in 0..10 {
            t.record(&Key::named("r"), Kind::Pid, seq, seq == 0);
        }
        t.header(&Key::named("r"));
        // The restarted agent's first frame is a Loss from 0.
        assert_eq!(
            t.loss(&Key::named("r"), &loss(LossReason::SinkOutage, 2, 2), true),
            Verdict::New
        );
        assert_eq!(
            t.record(&Key::named("r"), Kind::Pid, 2, false),
            Verdict::New
        );
        let (_, b) = t.boards().next().unwrap();
        assert_eq!(
            (b.seq.restarts, b.records(), b.seq.duplicates, b.gaps()),
            (1, 11, 0, 2)
        );
        assert_eq!(b.seq.uncovered, 0);
    }

    #[test]
    fn a_full_table_evicts_idle_boards_and_keeps_their_counts_in_the_total() {
        let mut t = Tally::new();
        let live = Key::named("live");
        t.attach(&live);
        t.record(&live, Kind::Pid, 0, true);
        for i in 0..MAX_BOARDS + 10 {
            let k = Key::named(&format!("b{i}"));
            t.header(&k);
            t.record(&k, Kind::Pid, 0, true);
        }
        assert_eq!(t.board_count(), MAX_BOARDS, "bounded");
        assert_eq!(t.evicted_boards, 11);
        assert!(t.boards().any(|(n, _)| n == "live"), "a live board stays");
        assert_eq!(
            t.total().records(),
            MAX_BOARDS as u64 + 11,
            "nothing uncounted"
        );
        assert_eq!(t.total().seq.duplicates, 0, "no board taken for another");
    }

    #[test]
    fn one_board_id_two_instances_are_two_boards() {
        // Finding 4 of issue 12: two boards named `same` each send 0..1000; a forger
        // sends a Loss of 8000 under `same` with another instance.
        let a = Key::Board {
            id: "same".into(),
            instance: 0xa,
        };
        let b = Key::Board {
            id: "same".into(),
            instance: 0xb,
        };
        let forger = Key::Board {
            id: "same".into(),
            instance: 0xf,
        };
        let mut t = Tally::new();
        assert_eq!(t.attach(&a), "same");
        assert_eq!(t.attach(&b), "same#0000000b");
        t.header(&a);
        t.header(&b);
        t.attach(&forger);
        t.header(&forger);
        t.loss(&forger, &loss(LossReason::SinkOutage, 8000, 8000), true);
        for seq in 0..1000 {
            assert_eq!(t.record(&a, Kind::Pid, seq, seq == 0), Verdict::New);
            assert_eq!(t.record(&b, Kind::Pid, seq, seq == 0), Verdict::New);
        }
        let rows: Vec<(String, u64, u64)> = t
            .boards()
            .map(|(n, c)| (n.to_owned(), c.records(), c.seq.duplicates))
            .collect();
        assert_eq!(rows[0], ("same".to_owned(), 1000, 0));
        assert_eq!(rows[1], ("same#0000000b".to_owned(), 1000, 0));
        assert_eq!(rows[2].1, 0, "the forger's board holds only its Loss");
    }
}
