//! One board's sampling intervals put back together from their frames: the `Interval`
//! frame and the `Sample` rows that carry its number (`sample`).
//!
//! An agent queues an interval's frames together (core/WIRE.md, "Interval"): its
//! `Interval`, then its rows, with only exit records between them. So the rows of one
//! interval arrive before any frame of the next, and a frame carrying another number
//! than the interval being assembled ends it: that interval is complete with what
//! arrived (a row lost in transit or dropped into a `Loss` never comes). An interval is
//! also complete as soon as it has the rows its `Interval` frame announced, and when its
//! stream ends. An interval whose `Interval` frame was lost is assembled from its rows
//! alone: each row carries its own `interval_ms`, so its rates are whole; what only the
//! `Interval` frame says (pressure, delay accounting, tasks on the board) is unknown.

use taskwire_cli::output::live::Row;
use taskwire_core::wire::{Interval, Sample};

use crate::render::sample_row;

/// Rows kept of one interval; later ones are dropped (and counted). An agent samples
/// every thread group at most, so a board with more thread groups than this shows the
/// first ones its agent sent; the cap keeps a broken or hostile stream from growing the
/// decoder without end.
pub const MAX_ROWS: usize = 4096;

/// One interval as far as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Assembled {
    /// The interval's number (`Interval::sample`).
    pub sample: u64,
    /// Its `Interval` frame, unless that was lost.
    pub interval: Option<Interval>,
    /// Its rows, in arrival order.
    pub rows: Vec<Row>,
    /// Rows past [`MAX_ROWS`], dropped.
    pub dropped: u64,
    /// The first row's `interval_ms`: the interval's length when its frame was lost.
    row_ms: Option<u32>,
}

impl Assembled {
    fn new(sample: u64) -> Assembled {
        Assembled {
            sample,
            interval: None,
            rows: Vec::new(),
            dropped: 0,
            row_ms: None,
        }
    }

    /// The interval's length, ms: its frame's, else its first row's.
    pub fn interval_ms(&self) -> u64 {
        self.interval
            .map(|i| i.interval_ms)
            .or(self.row_ms)
            .map_or(0, u64::from)
    }

    /// Rows the `Interval` frame announced that did not arrive (0 without the frame).
    pub fn missing(&self) -> u64 {
        let arrived = self.rows.len() as u64 + self.dropped;
        self.interval
            .map_or(0, |i| u64::from(i.rows).saturating_sub(arrived))
    }

    fn push(&mut self, x: &Sample) {
        self.row_ms.get_or_insert(x.interval_ms);
        if self.rows.len() < MAX_ROWS {
            self.rows.push(sample_row(x));
        } else {
            self.dropped += 1;
        }
    }

    /// Whether every row the `Interval` frame announced arrived.
    fn whole(&self) -> bool {
        self.interval.is_some() && self.missing() == 0
    }
}

/// The interval being assembled and the last complete one, of one board.
#[derive(Debug, Default)]
pub struct Assembly {
    building: Option<Assembled>,
    shown: Option<Assembled>,
    /// Counts changes to [`Assembly::shown`]: a screen drawn at one value is current
    /// until it moves.
    pub changes: u64,
}

impl Assembly {
    /// The last complete interval.
    pub fn shown(&self) -> Option<&Assembled> {
        self.shown.as_ref()
    }

    /// Takes an `Interval` frame; `done` is called with each interval this completes.
    pub fn interval(&mut self, i: &Interval, done: &mut dyn FnMut(&Assembled)) {
        let a = self.assembling(i.sample, done);
        a.interval = Some(*i);
        self.settle(done);
    }

    /// Takes a `Sample` row; `done` is called with each interval this completes.
    pub fn sample(&mut self, x: &Sample, done: &mut dyn FnMut(&Assembled)) {
        // A row of the interval just completed (past the rows its frame announced, or
        // after its stream ended and came back): it joins the screen it belongs to.
        if self.building.is_none() {
            if let Some(s) = self.shown.as_mut().filter(|s| s.sample == x.sample) {
                s.push(x);
                self.changes += 1;
                return;
            }
        }
        self.assembling(x.sample, done).push(x);
        self.settle(done);
    }

    /// The stream ended: the interval being assembled is complete with what it has.
    pub fn finish(&mut self, done: &mut dyn FnMut(&Assembled)) {
        if let Some(a) = self.building.take() {
            self.complete(a, done);
        }
    }

    /// The interval numbered `sample`, started now if another one was being assembled
    /// (which is complete then).
    fn assembling(&mut self, sample: u64, done: &mut dyn FnMut(&Assembled)) -> &mut Assembled {
        if self.building.as_ref().is_some_and(|b| b.sample != sample) {
            self.finish(done);
        }
        self.building.get_or_insert_with(|| Assembled::new(sample))
    }

    /// Completes the interval being assembled if it has every row it announced.
    fn settle(&mut self, done: &mut dyn FnMut(&Assembled)) {
        if self.building.as_ref().is_some_and(Assembled::whole) {
            self.finish(done);
        }
    }

    fn complete(&mut self, a: Assembled, done: &mut dyn FnMut(&Assembled)) {
        done(&a);
        self.shown = Some(a);
        self.changes += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_core::wire::Message;
    use taskwire_core::wire::testutil::{small_interval, small_sample};

    fn interval(seq: u64, sample: u64, rows: u32) -> Interval {
        let Message::Interval(i) = small_interval(seq, sample, rows) else {
            unreachable!()
        };
        i
    }

    fn sample(seq: u64, sample: u64, tgid: u32) -> Sample {
        let Message::Sample(x) = small_sample(seq, sample, tgid) else {
            unreachable!()
        };
        x
    }

    /// Feeds `frames` ((Some(rows), sample) an Interval frame, (None, tgid) ... ) and
    /// returns each completed interval as (sample, tgids, frame present).
    struct Run {
        asm: Assembly,
        done: Vec<(u64, Vec<u32>, bool)>,
        seq: u64,
    }

    impl Run {
        fn new() -> Run {
            Run {
                asm: Assembly::default(),
                done: Vec::new(),
                seq: 0,
            }
        }

        fn record(a: &Assembled) -> (u64, Vec<u32>, bool) {
            (
                a.sample,
                a.rows.iter().map(|r| r.id).collect(),
                a.interval.is_some(),
            )
        }

        fn interval(&mut self, n: u64, rows: u32) -> &mut Run {
            self.seq += 1;
            let done = &mut self.done;
            self.asm.interval(&interval(self.seq, n, rows), &mut |a| {
                done.push(Run::record(a))
            });
            self
        }

        fn rows(&mut self, n: u64, tgids: &[u32]) -> &mut Run {
            for &t in tgids {
                self.seq += 1;
                let done = &mut self.done;
                self.asm
                    .sample(&sample(self.seq, n, t), &mut |a| done.push(Run::record(a)));
            }
            self
        }

        fn finish(&mut self) -> &mut Run {
            let done = &mut self.done;
            self.asm.finish(&mut |a| done.push(Run::record(a)));
            self
        }
    }

    #[test]
    fn an_interval_is_complete_with_the_rows_it_announced() {
        let mut r = Run::new();
        r.interval(0, 3).rows(0, &[30, 10]);
        assert!(r.done.is_empty() && r.asm.shown().is_none());
        // Rows in any order: kept as they came; the screen sorts them.
        r.rows(0, &[20]);
        assert_eq!(r.done, [(0, vec![30, 10, 20], true)]);
        let shown = r.asm.shown().unwrap();
        assert_eq!((shown.interval_ms(), shown.missing()), (2000, 0));
        // An interval of no rows is complete with its frame.
        r.interval(1, 0);
        assert_eq!(r.done.len(), 2);
        assert_eq!(r.done[1], (1, vec![], true));
        assert_eq!(r.asm.changes, 2);
    }

    #[test]
    fn a_newer_number_completes_the_interval_with_what_arrived() {
        let mut r = Run::new();
        // Interval 4 announced 3 rows; one was lost. Interval 5's frame ends it.
        r.interval(4, 3).rows(4, &[1, 2]).interval(5, 1);
        assert_eq!(r.done, [(4, vec![1, 2], true)]);
        assert_eq!(r.asm.shown().unwrap().missing(), 1);
        // A row of 6 before 5 was whole: 5 is complete with none of its rows.
        r.rows(6, &[9]);
        assert_eq!(r.done[1], (5, vec![], true));
        r.finish();
        assert_eq!(r.done[2], (6, vec![9], false));
        // Nothing left to finish.
        r.finish();
        assert_eq!(r.done.len(), 3);
    }

    #[test]
    fn a_lost_interval_frame_still_shows_its_rows() {
        let mut r = Run::new();
        r.rows(7, &[5, 6]).rows(8, &[5]);
        assert_eq!(r.done, [(7, vec![5, 6], false)]);
        let shown = r.asm.shown().unwrap();
        // The length comes from the rows; nothing is said missing without the frame.
        assert_eq!((shown.interval_ms(), shown.missing()), (2000, 0));
        // A restarted agent numbers from 0 again: another number, another interval.
        r.interval(0, 1).rows(0, &[77]);
        assert_eq!(r.done[1], (8, vec![5], false));
        assert_eq!(r.done[2], (0, vec![77], true));
    }

    #[test]
    fn a_late_row_joins_the_interval_it_belongs_to() {
        let mut r = Run::new();
        r.interval(2, 1).rows(2, &[1]);
        assert_eq!(r.done.len(), 1);
        let before = r.asm.changes;
        // More rows than announced (or after the stream came back): shown, not a new
        // interval.
        r.rows(2, &[3]);
        assert_eq!(r.done.len(), 1);
        assert_eq!(r.asm.changes, before + 1);
        let ids: Vec<u32> = r.asm.shown().unwrap().rows.iter().map(|x| x.id).collect();
        assert_eq!(ids, [1, 3]);
    }

    #[test]
    fn rows_past_the_cap_are_counted_not_kept() {
        let mut r = Run::new();
        let tgids: Vec<u32> = (0..MAX_ROWS as u32 + 5).collect();
        r.interval(1, tgids.len() as u32).rows(1, &tgids);
        let shown = r.asm.shown().unwrap();
        assert_eq!((shown.rows.len(), shown.dropped), (MAX_ROWS, 5));
        assert_eq!(shown.missing(), 0);
    }
}
