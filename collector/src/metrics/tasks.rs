//! The tasks of one board's last sampling interval with the most delay: gauges of what
//! each category cost them per second of the interval.
//!
//! A board sending samples (`stream --sample`) sends, every interval, an `Interval` frame
//! announcing its rows and then one `Sample` per task. The rows of the interval being
//! received are ranked as they come, keeping the `top` with the most delay (all
//! categories together); the interval is complete once every row it announced arrived,
//! or when a row of a later interval arrives (its `Interval` frame or a row was lost),
//! and then replaces the one exported. So a board exports at most `top` tasks, and the
//! series of a task that left the top go away (they are gauges: a scraper marks them
//! stale).

use taskwire_core::taskstats::Delay;
use taskwire_core::wire::{Comm, Interval, Sample};

/// One task's delays over one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    /// The thread group id.
    pub tgid: u32,
    /// Its command name, when the sample carried one.
    pub comm: Option<Comm>,
    /// Per category ([`Delay::ALL`] order): seconds of delay per second of the interval;
    /// `None` when the sample did not carry the category.
    pub ratio: [Option<f64>; Delay::ALL.len()],
}

impl TaskRow {
    fn of(s: &Sample) -> Option<TaskRow> {
        let d = s.deltas();
        if d.interval_ns == 0 {
            return None;
        }
        let per_s = |ns: u64| ns as f64 / d.interval_ns as f64;
        Some(TaskRow {
            tgid: s.tgid,
            comm: s.comm.clone(),
            ratio: d.delays.map(|c| c.map(|c| per_s(c.total_ns))),
        })
    }

    fn delay(&self) -> f64 {
        self.ratio.iter().flatten().sum()
    }
}

/// An interval's rows being received.
#[derive(Debug)]
struct Filling {
    sample: u64,
    /// Rows its `Interval` frame announced; `None` when that frame was lost.
    announced: Option<u32>,
    received: u32,
    top: Vec<TaskRow>,
}

/// One board's last complete interval.
#[derive(Debug, Default)]
pub struct Tasks {
    filling: Option<Filling>,
    last: Vec<TaskRow>,
}

impl Tasks {
    /// Interval `i` begins.
    pub fn interval(&mut self, i: &Interval) {
        self.complete();
        self.filling = Some(Filling {
            sample: i.sample,
            announced: Some(i.rows),
            received: 0,
            top: Vec::new(),
        });
        self.complete_if_full();
    }

    /// A row arrived; `top`: the most rows kept.
    pub fn sample(&mut self, s: &Sample, top: usize) {
        if self.filling.as_ref().is_none_or(|f| f.sample != s.sample) {
            self.complete();
            self.filling = Some(Filling {
                sample: s.sample,
                announced: None,
                received: 0,
                top: Vec::new(),
            });
        }
        let Some(f) = &mut self.filling else { return };
        f.received = f.received.saturating_add(1);
        if let Some(row) = TaskRow::of(s) {
            keep_top(&mut f.top, row, top);
        }
        self.complete_if_full();
    }

    fn complete_if_full(&mut self) {
        if let Some(f) = &self.filling {
            if f.announced.is_some_and(|n| f.received >= n) {
                self.complete();
            }
        }
    }

    fn complete(&mut self) {
        if let Some(f) = self.filling.take() {
            self.last = f.top;
            self.last.sort_by(|a, b| b.delay().total_cmp(&a.delay()));
        }
    }

    /// The rows of the last complete interval, most delayed first.
    pub fn rows(&self) -> &[TaskRow] {
        &self.last
    }
}

/// Adds `row` to `top` if it is among the `n` with the most delay.
fn keep_top(top: &mut Vec<TaskRow>, row: TaskRow, n: usize) {
    if top.len() < n {
        top.push(row);
        return;
    }
    let least = top
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| a.delay().total_cmp(&b.delay()));
    if let Some((i, least)) = least {
        if row.delay() > least.delay() {
            top[i] = row;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_core::taskstats::{DelayCounter, Deltas};

    fn sample(sample: u64, tgid: u32, cpu_delay_ms: u64) -> Sample {
        let mut d = Deltas::empty(2_000_000_000);
        d.delays[0] = Some(DelayCounter {
            count: 1,
            total_ns: cpu_delay_ms * 1_000_000,
        });
        Sample::new(sample, tgid, Some(b"t"), &d)
    }

    fn tgids(t: &Tasks) -> Vec<u32> {
        t.rows().iter().map(|r| r.tgid).collect()
    }

    #[test]
    fn the_last_complete_interval_with_its_most_delayed_tasks() {
        let mut t = Tasks::default();
        let mut i = Interval::new(0, 2000);
        i.rows = 5;
        t.interval(&i);
        for (tgid, ms) in [(1, 10), (2, 500), (3, 30), (4, 400)] {
            t.sample(&sample(0, tgid, ms), 2);
            assert!(t.rows().is_empty(), "not complete yet");
        }
        t.sample(&sample(0, 5, 1), 2);
        assert_eq!(tgids(&t), [2, 4]);
        assert_eq!(t.rows()[0].ratio[0], Some(0.25));
        // Interval 1's frame was lost: its rows fill a new one, complete at interval 2.
        t.sample(&sample(1, 7, 100), 2);
        assert_eq!(tgids(&t), [2, 4]);
        i.sample = 2;
        i.rows = 1;
        t.interval(&i);
        assert_eq!(tgids(&t), [7]);
        t.sample(&sample(2, 9, 0), 2);
        assert_eq!(tgids(&t), [9]);
        i.sample = 3;
        i.rows = 0;
        t.interval(&i);
        assert_eq!(tgids(&t), Vec::<u32>::new(), "interval 3 had no rows");
    }
}
