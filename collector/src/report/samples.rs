//! Live tasks over time, from a stream's samples (`stream --sample`): per task (thread
//! group id and comm) its delay totals and the rate of delay, as a share of wall time,
//! over the intervals. Bounded twice: at most [`MAX_TASKS`] tasks (a new one takes the
//! place of the one with the least delay so far), and per task at most [`MAX_POINTS`]
//! points, the points widening to more intervals each as the capture grows.

use std::collections::BTreeMap;

use taskwire_core::wire::Sample;

use super::comms::DELAYS;

/// Tasks followed.
pub const MAX_TASKS: usize = 64;
/// Points per task's line.
pub const MAX_POINTS: u64 = 240;

/// One live task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Task {
    /// Thread group id.
    pub tgid: u32,
    /// Its command name, when the sample had one.
    pub comm: Option<Vec<u8>>,
    /// Samples (rows) of it.
    pub rows: u64,
    /// CPU time over those rows, µs.
    pub cpu_us: u64,
    /// Delay per category over those rows, ns.
    pub delay_ns: [u64; DELAYS],
    /// Per point (its first interval number): the sum of the rows' delay shares, parts
    /// per million of their interval, and how many rows.
    points: BTreeMap<u64, (u64, u64)>,
}

impl Task {
    /// Delay over every category, ns.
    pub fn delay_total(&self) -> u64 {
        self.delay_ns.iter().fold(0u64, |a, &b| a.saturating_add(b))
    }

    /// (first interval number of the point, mean delay share in ppm) per point.
    pub fn points(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.points
            .iter()
            .map(|(&k, &(sum, n))| (k, sum.checked_div(n).unwrap_or(0)))
    }
}

/// Every task followed, and what the samples added up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Samples {
    tasks: Vec<Task>,
    /// Intervals per point (a power of two).
    width: u64,
    /// Lowest and highest interval number with a point.
    range: Option<(u64, u64)>,
    /// Interval frames.
    pub intervals: u64,
    /// Samples (rows), every task's.
    pub rows: u64,
    /// Tasks dropped to make room for newer ones.
    pub evicted: u64,
}

impl Default for Samples {
    fn default() -> Self {
        Samples {
            tasks: Vec::new(),
            width: 1,
            range: None,
            intervals: 0,
            rows: 0,
            evicted: 0,
        }
    }
}

impl Samples {
    /// Intervals per point.
    pub fn width(&self) -> u64 {
        self.width
    }

    /// One row.
    pub fn add(&mut self, s: &Sample) {
        self.rows = self.rows.saturating_add(1);
        let comm = s.comm.as_ref().map(|c| c.to_vec());
        let at = match self
            .tasks
            .iter()
            .position(|t| t.tgid == s.tgid && t.comm == comm)
        {
            Some(i) => i,
            None => {
                if self.tasks.len() >= MAX_TASKS {
                    // The least delayed so far makes room: the busy tasks stay.
                    let least = (0..self.tasks.len()).min_by_key(|&i| self.tasks[i].delay_total());
                    if let Some(i) = least {
                        self.tasks.swap_remove(i);
                        self.evicted = self.evicted.saturating_add(1);
                    }
                }
                self.tasks.push(Task {
                    tgid: s.tgid,
                    comm,
                    ..Task::default()
                });
                self.tasks.len() - 1
            }
        };
        let d = s.deltas();
        let point = self.place(s.sample);
        let t = &mut self.tasks[at];
        t.rows = t.rows.saturating_add(1);
        t.cpu_us = t.cpu_us.saturating_add(d.cpu_us.unwrap_or(0));
        let mut delay = 0u64;
        for (i, c) in d.delays.iter().enumerate() {
            if let Some(c) = c {
                t.delay_ns[i] = t.delay_ns[i].saturating_add(c.total_ns);
                delay = delay.saturating_add(c.total_ns);
            }
        }
        if d.interval_ns > 0 {
            let ppm = u128::from(delay) * 1_000_000 / u128::from(d.interval_ns);
            let ppm = u64::try_from(ppm).unwrap_or(u64::MAX);
            let p = t.points.entry(point).or_default();
            *p = (p.0.saturating_add(ppm), p.1.saturating_add(1));
        }
    }

    /// The point interval `sample` falls in, widening every task's points when the span
    /// would pass [`MAX_POINTS`].
    fn place(&mut self, sample: u64) -> u64 {
        let (lo, hi) = match self.range {
            Some((lo, hi)) => (lo.min(sample), hi.max(sample)),
            None => (sample, sample),
        };
        self.range = Some((lo, hi));
        while hi / self.width - lo / self.width >= MAX_POINTS {
            self.width = self.width.saturating_mul(2);
            let w = self.width;
            for t in &mut self.tasks {
                let old = std::mem::take(&mut t.points);
                for (k, (sum, n)) in old {
                    let p = t.points.entry(k / w * w).or_default();
                    *p = (p.0.saturating_add(sum), p.1.saturating_add(n));
                }
            }
        }
        sample / self.width * self.width
    }

    /// The interval numbers the points span, first and last.
    pub fn range(&self) -> Option<(u64, u64)> {
        self.range
            .map(|(lo, hi)| (lo / self.width * self.width, hi / self.width * self.width))
    }

    /// The `n` tasks with the most delay, most first (ties by tgid).
    pub fn top(&self, n: usize) -> Vec<&Task> {
        let mut v: Vec<&Task> = self.tasks.iter().collect();
        v.sort_by(|a, b| {
            b.delay_total()
                .cmp(&a.delay_total())
                .then(a.tgid.cmp(&b.tgid))
        });
        v.truncate(n);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_core::taskstats::{DelayCounter, Deltas};

    fn sample(n: u64, tgid: u32, delay_ns: u64) -> Sample {
        let mut d = Deltas::empty(1_000_000_000);
        d.cpu_us = Some(10);
        d.delays[1] = Some(DelayCounter {
            count: 1,
            total_ns: delay_ns,
        });
        Sample::new(n, tgid, Some(b"busy"), &d)
    }

    #[test]
    fn rates_are_shares_of_the_interval_and_the_busiest_tasks_stay() {
        let mut s = Samples::default();
        for n in 0..10 {
            s.add(&sample(n, 1, 250_000_000));
        }
        // Many short-lived quiet tasks: they push each other out, not task 1.
        for tgid in 100..(100 + 3 * MAX_TASKS as u32) {
            s.add(&sample(5, tgid, 1));
        }
        assert_eq!(s.rows, 10 + 3 * MAX_TASKS as u64);
        assert!(s.evicted > 0);
        let top = s.top(1);
        assert_eq!(top[0].tgid, 1);
        assert_eq!(top[0].delay_ns[1], 2_500_000_000);
        assert!(top[0].points().all(|(_, ppm)| ppm == 250_000));
        assert_eq!(top[0].points().count(), 10);
    }

    #[test]
    fn a_long_capture_widens_the_points() {
        let mut s = Samples::default();
        for n in 0..10_000 {
            s.add(&sample(n, 7, if n % 2 == 0 { 0 } else { 500_000_000 }));
        }
        let t = s.top(1)[0];
        assert!(t.points().count() as u64 <= MAX_POINTS);
        assert!(s.width() > 1);
        // Even and odd intervals merged: the mean of 0% and 50%.
        assert!(
            t.points().all(|(_, ppm)| ppm == 250_000),
            "{:?}",
            t.points().next()
        );
    }
}
