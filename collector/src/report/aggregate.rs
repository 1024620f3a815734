//! What the page is drawn from: per board, a bounded summary of the frames the decoder
//! took ([`crate::observer::Observer`]), never the frames themselves. The counts the page
//! states (records, gaps, losses, rejections) are the tally's, the ones `decode --stats`
//! prints; this adds where and how: exits per second, delay per command and its
//! distribution, exit codes, loss positions, live tasks over time.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};

use taskwire_cli::output::Status;
use taskwire_core::taskstats::{Delay, Field, Value};
use taskwire_core::wire::{Loss, LossReason, Message, Profile, Record, SeqCounts, StreamHeader};

use super::comms::{Comms, DELAYS};
use super::histogram::Histogram;
use super::samples::Samples;
use super::timeline::{Bucket, Timeline};
use crate::observer::Observer;

/// Boards summarised in full; boards past it have only the tally's counts on the page.
pub const MAX_BOARDS: usize = 64;
/// Loss and gap events listed per board (every one is in the counts and the timeline).
pub const MAX_EVENTS: usize = 100;

/// What the timeline of a board counts along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Exit time, seconds since the epoch (`ac_btime` + `ac_etime`): records of the
    /// `full` and `acct` profiles.
    Time,
    /// Sequence numbers: records of the `delays` profile carry no time.
    Seq,
}

/// One loss or gap, where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The Loss frame's reason; `None` for numbers missing with no Loss (in transit).
    pub reason: Option<LossReason>,
    /// Numbers (or ENOBUFS events) lost.
    pub count: u64,
    /// The first number lost (for ENOBUFS, the number it came before).
    pub first_seq: u64,
    /// Where on the board's timeline: its exit time or sequence number.
    pub at: Option<u64>,
}

/// How tasks ended: `exit(code)` or a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ending {
    /// exit(code).
    Exit(u8),
    /// Killed by this signal.
    Signal(u8),
}

/// One board's summary.
#[derive(Debug)]
pub struct BoardSummary {
    /// Its label (`rig1`, `rig1#3f09a1c2`, `?1`), raw: escape before printing.
    pub label: String,
    /// Its first header.
    pub header: Option<StreamHeader>,
    /// Headers read (one per stream or reconnect).
    pub headers: u64,
    /// Records per profile ([`Profile::Full`], `Acct`, `Delays`).
    pub profiles: [u64; 3],
    /// Records taken (duplicates not): the timeline's exits plus [`BoardSummary::untimed`].
    pub records: u64,
    /// Per-thread-group records among them.
    pub tgid_records: u64,
    /// What the timeline counts along (`None` before the first record).
    pub axis: Option<Axis>,
    /// Exits and losses along the axis.
    pub timeline: Timeline,
    /// Records and losses that came before any record with a time, so have no place.
    pub untimed: Bucket,
    /// Delay per command name (per-task records).
    pub comms: Comms,
    /// Per category, the per-exit delay (per-task records).
    pub histograms: [Histogram; DELAYS],
    /// How tasks ended (per-task records that carry `ac_exitcode`).
    pub endings: BTreeMap<Ending, u64>,
    /// The first [`MAX_EVENTS`] losses and gaps.
    pub events: Vec<Event>,
    /// Losses and gaps past those.
    pub more_events: u64,
    /// Live tasks over time.
    pub samples: Samples,
    /// Heartbeats, and the last one's agent uptime, ms.
    pub heartbeats: u64,
    /// The last heartbeat's uptime, ms.
    pub uptime_ms: Option<u64>,
    /// Exit time of the last record that had one: where losses without a time go.
    clock: Option<u64>,
    /// The sequence accounting after the previous frame.
    last: SeqCounts,
}

impl BoardSummary {
    fn new(label: &str) -> BoardSummary {
        BoardSummary {
            label: label.to_owned(),
            header: None,
            headers: 0,
            profiles: [0; 3],
            records: 0,
            tgid_records: 0,
            axis: None,
            timeline: Timeline::default(),
            untimed: Bucket::default(),
            comms: Comms::default(),
            histograms: [Histogram::default(); DELAYS],
            endings: BTreeMap::new(),
            events: Vec::new(),
            more_events: 0,
            samples: Samples::default(),
            heartbeats: 0,
            uptime_ms: None,
            clock: None,
            last: SeqCounts::default(),
        }
    }

    fn take(&mut self, m: &Message, seq: &SeqCounts) {
        let new_numbered = seq.records > self.last.records;
        match m {
            Message::Header(h) => {
                self.headers = self.headers.saturating_add(1);
                if self.header.is_none() {
                    self.header = Some(h.clone());
                }
            }
            Message::Record(r) if new_numbered => self.record(r),
            Message::Sample(s) if new_numbered => self.samples.add(s),
            Message::Interval(_) if new_numbered => {
                self.samples.intervals = self.samples.intervals.saturating_add(1);
            }
            Message::Loss(l) if seq.duplicates == self.last.duplicates => self.loss(l, seq),
            Message::Heartbeat(h) => {
                self.heartbeats = self.heartbeats.saturating_add(1);
                self.uptime_ms = Some(h.uptime_ms);
            }
            _ => {}
        }
        // Numbers no Loss covers show up as the frame after them arrives.
        let uncovered = seq.uncovered.saturating_sub(self.last.uncovered);
        if uncovered > 0 {
            let after = match m {
                Message::Loss(l) => Some(l.numbers().start),
                m => m.seq(),
            };
            let first_seq = after.unwrap_or(0).saturating_sub(uncovered);
            let at = self.position(Some(first_seq));
            self.event(Event {
                reason: None,
                count: uncovered,
                first_seq,
                at,
            });
            self.mark(
                at,
                &Bucket {
                    uncovered,
                    ..Bucket::default()
                },
            );
        }
        self.last = *seq;
    }

    fn record(&mut self, r: &Record) {
        self.records = self.records.saturating_add(1);
        if r.kind == taskwire_core::wire::Kind::Tgid {
            self.tgid_records = self.tgid_records.saturating_add(1);
        }
        let p = match r.profile {
            Profile::Full => 0,
            Profile::Acct => 1,
            Profile::Delays => 2,
        };
        self.profiles[p] = self.profiles[p].saturating_add(1);
        if self.axis.is_none() {
            self.axis = Some(match r.profile {
                Profile::Delays => Axis::Seq,
                Profile::Full | Profile::Acct => Axis::Time,
            });
        }
        if let Some(t) = exit_time(r) {
            self.clock = Some(t);
        }
        let at = match self.axis {
            Some(Axis::Seq) => Some(r.seq),
            _ => exit_time(r).or(self.clock),
        };
        self.mark(
            at,
            &Bucket {
                exits: 1,
                ..Bucket::default()
            },
        );
        // A thread group's record sums the delays of its threads, which have records of
        // their own: counted again it would double them (and its exit code is not one).
        if r.kind == taskwire_core::wire::Kind::Tgid {
            return;
        }
        let mut delays = [None; DELAYS];
        for (i, d) in Delay::ALL.iter().enumerate().take(DELAYS) {
            let count = unsigned(r.get(d.count_field()));
            let total = unsigned(r.get(d.total_field()));
            if let Some(count) = count {
                let total = total.unwrap_or(0);
                delays[i] = Some((count, total));
                self.histograms[i].add(count, total);
            }
        }
        self.comms.add(r.comm.as_deref(), &delays);
        if let Some(raw) = unsigned(r.get(Field::AcExitcode)) {
            let e = match Status::from_wait(raw) {
                Status::Exited(c) => Ending::Exit(c),
                Status::Signaled(s, _) => Ending::Signal(s),
            };
            let n = self.endings.entry(e).or_default();
            *n = n.saturating_add(1);
        }
    }

    fn loss(&mut self, l: &Loss, seq: &SeqCounts) {
        let at = self.position(Some(l.numbers().start));
        let covered = seq
            .covered_total()
            .saturating_sub(self.last.covered_total());
        let b = match l.reason {
            LossReason::KernelEnobufs => Bucket {
                enobufs: l.count,
                ..Bucket::default()
            },
            _ => Bucket {
                lost: covered,
                ..Bucket::default()
            },
        };
        self.mark(at, &b);
        if l.count > 0 {
            self.event(Event {
                reason: Some(l.reason),
                count: l.count,
                first_seq: l.numbers().start,
                at,
            });
        }
    }

    /// Where something about sequence number `seq` goes on the timeline.
    fn position(&self, seq: Option<u64>) -> Option<u64> {
        match self.axis {
            Some(Axis::Seq) => seq,
            _ => self.clock,
        }
    }

    fn mark(&mut self, at: Option<u64>, b: &Bucket) {
        match at {
            Some(at) => self.timeline.add(at, b),
            None => {
                let u = &mut self.untimed;
                u.exits = u.exits.saturating_add(b.exits);
                u.lost = u.lost.saturating_add(b.lost);
                u.enobufs = u.enobufs.saturating_add(b.enobufs);
                u.uncovered = u.uncovered.saturating_add(b.uncovered);
            }
        }
    }

    fn event(&mut self, e: Event) {
        if self.events.len() < MAX_EVENTS {
            self.events.push(e);
        } else {
            self.more_events = self.more_events.saturating_add(1);
        }
    }
}

/// A record's exit time, seconds since the epoch: its start (`ac_btime64`, else
/// `ac_btime`) plus its elapsed time. `None` without a start (per-thread-group records
/// have none, and the `delays` profile carries neither).
pub fn exit_time(r: &Record) -> Option<u64> {
    let start = [Field::AcBtime64, Field::AcBtime]
        .into_iter()
        .find_map(|f| unsigned(r.get(f)).filter(|&s| s != 0))?;
    let elapsed_us = unsigned(r.get(Field::AcEtime)).unwrap_or(0);
    Some(start.saturating_add(elapsed_us / 1_000_000))
}

fn unsigned(v: Option<Value>) -> Option<u64> {
    match v? {
        Value::Unsigned(u) => Some(u),
        Value::Signed(s) => u64::try_from(s).ok(),
    }
}

/// Every board's summary, in the order first seen.
#[derive(Debug, Default)]
pub struct Aggregate {
    boards: Vec<BoardSummary>,
    index: HashMap<String, usize>,
}

impl Aggregate {
    /// Nothing seen yet.
    pub fn new() -> Aggregate {
        Aggregate::default()
    }

    /// The summaries, in the order the boards were first seen.
    pub fn boards(&self) -> &[BoardSummary] {
        &self.boards
    }

    /// `label`'s summary.
    pub fn board(&self, label: &str) -> Option<&BoardSummary> {
        self.index.get(label).and_then(|&i| self.boards.get(i))
    }
}

impl Observer for Aggregate {
    fn message(&mut self, board: &str, message: &Message, seq: &SeqCounts) {
        let i = match self.index.get(board) {
            Some(&i) => i,
            None if self.boards.len() < MAX_BOARDS => {
                self.boards.push(BoardSummary::new(board));
                self.index.insert(board.to_owned(), self.boards.len() - 1);
                self.boards.len() - 1
            }
            // Past the bound a board has the tally's counts only (the page says so).
            None => return,
        };
        if let Some(b) = self.boards.get_mut(i) {
            b.take(message, seq);
        }
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}
