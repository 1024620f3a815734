//! What `decode --stats` reports: per board, records, sequence gaps, the losses the agent
//! reported and the frames the reader rejected.
//!
//! A board is the `board_id` of a stream's header. Streams seen before any header get a
//! label of their own, `?1`, `?2`, ... (one per headerless stream), so that their sequence
//! numbers are never compared with another stream's.

use std::collections::BTreeMap;

use taskwire_core::Error;
use taskwire_core::wire::{Kind, LossReason};

use crate::output::escape_token;
use crate::output::json::Json;

/// Most boards tallied separately; later ones share [`OVERFLOW_BOARD`]. Board ids are
/// chosen by whoever connects, so without a cap the map could grow without end.
pub const MAX_BOARDS: usize = 1024;
/// The label of every board past [`MAX_BOARDS`].
pub const OVERFLOW_BOARD: &str = "(more boards)";

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
    /// Per-task records decoded.
    pub pid: u64,
    /// Per-thread-group records decoded.
    pub tgid: u64,
    /// Sequence numbers missing between consecutive records of the board (across
    /// reconnects, see [`SeqTrack`]): records lost in transit.
    pub gaps: u64,
    /// Records whose sequence number was not above the previous one's: duplicates resent
    /// after a reconnect, or an agent that restarted.
    pub backwards: u64,
    /// `Loss.count` summed per reason, in [`REASONS`] order: records, except ENOBUFS
    /// events for `kernel_enobufs`.
    pub losses: [u64; 3],
    /// Heartbeats received.
    pub heartbeats: u64,
    /// Frames rejected while this board's stream was being read.
    pub rejected: Rejected,
    /// The sequence number the board's next record should carry, as far as its streams
    /// so far tell; where a reconnected stream goes on counting.
    pub next_seq: Option<u64>,
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

    fn add_loss(&mut self, reason: LossReason, count: u64) {
        let slot = &mut self.losses[reason_index(reason)];
        *slot = slot.saturating_add(count);
    }
}

/// Sequence tracking of one stream (one connection, between two headers).
///
/// The agent numbers records as it sends them and keeps counting across reconnects (a new
/// connection resends the header, not the numbering), so a stream that follows another of
/// the same board continues from that board's last number: records lost inside a dead
/// connection show up as a gap. A number going back is a duplicate (the agent resends the
/// batch a failed write was carrying) or a restarted agent counting from 0 again; it is
/// counted apart and becomes the new baseline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqTrack {
    /// The sequence number the next record should carry; `None` until known (the first
    /// stream of a board this decoder sees, or one read without a header).
    expected: Option<u64>,
}

impl SeqTrack {
    /// A stream following an earlier one of the same board, whose next record was to be
    /// `next`; `None` when this decoder has seen none.
    pub fn continuing(next: Option<u64>) -> SeqTrack {
        SeqTrack { expected: next }
    }

    /// The sequence number the next record should carry, once known.
    pub fn expected(&self) -> Option<u64> {
        self.expected
    }

    /// A stream joined in the middle: the first record sets the baseline.
    pub fn unknown() -> SeqTrack {
        SeqTrack { expected: None }
    }

    /// Takes the sequence number the agent says it sends next (a heartbeat's
    /// `records_sent`, a loss's `next_seq`); returns the numbers missing before it, sent
    /// but never received. A stream joined midway gets its baseline here.
    pub fn anchor(&mut self, next: u64) -> u64 {
        match self.expected {
            Some(e) if next > e => {
                self.expected = Some(next);
                next - e
            }
            // At or below: nothing missing, and a record at or above `e` keeps counting.
            Some(_) => 0,
            None => {
                self.expected = Some(next);
                0
            }
        }
    }

    /// Takes record `seq`; returns (missing numbers before it, whether it went backwards).
    pub fn record(&mut self, seq: u64) -> (u64, bool) {
        let out = match self.expected {
            Some(e) if seq >= e => (seq - e, false),
            Some(_) => (0, true),
            None => (0, false),
        };
        self.expected = Some(seq.saturating_add(1));
        out
    }
}

/// Counts per board, in board order.
#[derive(Debug, Default)]
pub struct Tally {
    boards: BTreeMap<String, Board>,
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
        let key = if self.boards.contains_key(board) || self.boards.len() < MAX_BOARDS {
            board
        } else {
            OVERFLOW_BOARD
        };
        self.boards.entry(key.to_owned()).or_default()
    }

    /// A header for `board` arrived; returns how its records are to be numbered.
    pub fn header(&mut self, board: &str) -> SeqTrack {
        let b = self.board(board);
        b.streams = b.streams.saturating_add(1);
        SeqTrack::continuing(b.next_seq)
    }

    /// `missing` sequence numbers were skipped before an anchor (heartbeat or loss);
    /// `seq` is what the board's stream now expects next.
    pub fn gap(&mut self, board: &str, seq: &SeqTrack, missing: u64) {
        let b = self.board(board);
        b.next_seq = seq.expected();
        b.gaps = b.gaps.saturating_add(missing);
    }

    /// A record of `kind` arrived with `missing` sequence numbers skipped before it;
    /// `seq` is what the board's stream now expects next.
    pub fn record(
        &mut self,
        board: &str,
        kind: Kind,
        seq: &SeqTrack,
        missing: u64,
        backwards: bool,
    ) {
        let b = self.board(board);
        b.next_seq = seq.expected();
        match kind {
            Kind::Pid => b.pid = b.pid.saturating_add(1),
            Kind::Tgid => b.tgid = b.tgid.saturating_add(1),
        }
        b.gaps = b.gaps.saturating_add(missing);
        if backwards {
            b.backwards = b.backwards.saturating_add(1);
        }
    }

    /// The agent reported `count` losses for `reason`.
    pub fn loss(&mut self, board: &str, reason: LossReason, count: u64) {
        self.board(board).add_loss(reason, count);
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
        for b in self.boards.values() {
            t.streams = t.streams.saturating_add(b.streams);
            t.pid = t.pid.saturating_add(b.pid);
            t.tgid = t.tgid.saturating_add(b.tgid);
            t.gaps = t.gaps.saturating_add(b.gaps);
            t.backwards = t.backwards.saturating_add(b.backwards);
            for r in REASONS {
                t.add_loss(r, b.lost(r));
            }
            t.heartbeats = t.heartbeats.saturating_add(b.heartbeats);
            t.rejected.add(&b.rejected);
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
            ("gaps", self.gaps),
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
    /// The `--stats` lines: one per board, then a total; `key=value` text, or one JSON
    /// object per line (`"type":"stats"` per board, `"stats_total"` for the sum).
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
            .map(|(name, b)| (Some(name), b.counts()))
            .chain(std::iter::once((None, total.counts())));
        for (name, counts) in rows {
            if json {
                let mut j = Json::new();
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
                out.push_str(&j.finish());
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

    #[test]
    fn gaps_count_missing_numbers_between_records() {
        let mut s = SeqTrack::continuing(None);
        // Records 0, 1, then 4 (2 and 3 lost in transit), then 5.
        assert_eq!(s.record(0), (0, false));
        assert_eq!(s.record(1), (0, false));
        assert_eq!(s.record(4), (2, false));
        assert_eq!(s.record(5), (0, false));
        // A reconnect continues from the board's last record: 6 and 7 died with the
        // old connection.
        let mut s = SeqTrack::continuing(Some(6));
        assert_eq!(s.record(8), (2, false));
        // A duplicate goes backwards and is not a gap; neither is what follows it.
        assert_eq!(s.record(8), (0, true));
        assert_eq!(s.record(9), (0, false));
        // A restarted agent counts from 0 again.
        let mut s = SeqTrack::continuing(Some(10));
        assert_eq!(s.record(0), (0, true));
        assert_eq!(s.record(1), (0, false));
    }

    #[test]
    fn heartbeats_and_losses_anchor_the_numbering() {
        // Joined midway: a heartbeat says 40 is next.
        let mut s = SeqTrack::unknown();
        assert_eq!(s.anchor(40), 0);
        assert_eq!(s.record(42), (2, false));
        // Records 43 and 44 were sent, then lost, before this heartbeat.
        assert_eq!(s.anchor(45), 2);
        // The record it announced: no second count.
        assert_eq!(s.record(45), (0, false));
        // An anchor that is not ahead changes nothing.
        assert_eq!(s.anchor(46), 0);
        assert_eq!(s.anchor(10), 0);
        assert_eq!(s.record(46), (0, false));
    }

    #[test]
    fn a_stream_joined_midway_starts_at_its_first_record() {
        let mut s = SeqTrack::unknown();
        assert_eq!(s.record(1000), (0, false));
        assert_eq!(s.record(1002), (1, false));
        assert_eq!(s.record(u64::MAX), (u64::MAX - 1003, false));
        // No overflow past the largest number.
        assert_eq!(s.record(u64::MAX), (0, false));
    }

    #[test]
    fn boards_tally_gaps_losses_and_rejections_separately() {
        let mut t = Tally::new();
        // Board a: header, records 0 1 3 (gap 1), reconnect, header, records 5 6 (gap 1
        // across the reconnect).
        let mut s = t.header("a");
        for seq in [0, 1, 3] {
            let (m, b) = s.record(seq);
            t.record("a", Kind::Pid, &s, m, b);
        }
        t.loss("a", LossReason::SinkOutage, 7);
        let mut s = t.header("a");
        for seq in [5, 6] {
            let (m, b) = s.record(seq);
            t.record("a", Kind::Tgid, &s, m, b);
        }
        t.loss("a", LossReason::KernelEnobufs, 2);
        t.loss("a", LossReason::QueueOverflow, 1);
        // Board b: one record, a heartbeat and some rejections.
        t.header("b");
        t.record("b", Kind::Pid, &SeqTrack::unknown(), 0, false);
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
        assert_eq!((a.streams, a.pid, a.tgid, a.records()), (2, 3, 2, 5));
        assert_eq!(a.gaps, 2);
        assert_eq!(a.lost(LossReason::SinkOutage), 7);
        assert_eq!(a.lost(LossReason::KernelEnobufs), 2);
        assert_eq!(a.lost_records(), 8, "ENOBUFS events are not records");
        assert_eq!(a.rejected.total(), 0);
        let (_, b) = boards[1];
        assert_eq!(
            (b.rejected.checksum, b.rejected.cobs, b.rejected.payload),
            (2, 1, 1)
        );
        assert_eq!(b.rejected.total(), 6);
        assert_eq!(b.heartbeats, 1);

        let total = t.total();
        assert_eq!(total.records(), 6);
        assert_eq!(total.gaps, 2);
        assert_eq!(total.lost_records(), 8);
        assert_eq!(total.rejected.total(), 6);
    }

    #[test]
    fn report_has_a_line_per_board_and_a_total() {
        let mut t = Tally::new();
        t.header("b 1");
        t.record("b 1", Kind::Pid, &SeqTrack::unknown(), 2, false);
        t.loss("b 1", LossReason::SinkOutage, 2);
        t.header("c");
        let mut r = Rejected::default();
        r.count(Error::Cobs);
        t.rejected("c", &r);
        t.connections = 2;
        let text = t.report(false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("taskwire decode: stats board=b\\x201 streams=1 records=1 "));
        assert!(lines[0].contains(" gaps=2 "), "{}", lines[0]);
        assert!(lines[0].contains(" lost_records=2 "), "{}", lines[0]);
        assert!(lines[0].contains(" lost_sink_outage=2 "), "{}", lines[0]);
        assert!(lines[1].contains(" rejected=1 ") && lines[1].contains(" rejected_cobs=1 "));
        assert!(lines[2].starts_with("taskwire decode: stats total streams=2 records=1 "));
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
