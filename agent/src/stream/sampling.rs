//! `stream --sample`: every period a sweep of the thread groups by the live engine
//! ([`crate::live`]), on a thread of its own with its own netlink socket (the stream's
//! socket is registered for exit records, and the reader must never wait on a sweep).
//! What a sweep becomes on the stream: an `Interval` frame with the system's pressure, then
//! one `Sample` per chosen row (core/WIRE.md, variants 4 and 5), queued by
//! [`Link::push_sweep`] beside the exit records.
//!
//! The rows sent ([`choose`]): every thread group whose CPU, IO or delays moved in the
//! interval ([`Deltas::moved`]), in tgid order; or, with a top N, the N of those with the
//! most delay ([`delay_rank`]), most first.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use taskwire_cli::output::live::{Pressure, Psi};
use taskwire_core::taskstats::Deltas;
use taskwire_core::wire::{Interval, PsiResource, interval_ms_of};

use super::link::{Link, SampleRow};
use crate::client::Client;
use crate::delayacct;
use crate::live::{self, Live, Select, TaskDeltas};

/// The sampler thread's stack: a sweep's deepest frames (reading /proc, a netlink
/// reply) with room to spare; unoptimised test builds need the most.
const SAMPLER_STACK: usize = 256 * 1024;

/// What `stream --sample SECS [--sample-top N]` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    /// Length of an interval, ms.
    pub period_ms: u64,
    /// Only the N thread groups with the most delay; `None`: every one that moved.
    pub top: Option<usize>,
}

/// How much a row waited, to rank rows by "most delay": its delay time summed over every
/// delay category, per wall time of its own interval, in ppm (the categories'
/// `*_delay_pct` added up; an absent category counts 0); then, to break ties, its CPU time
/// per wall time in ppm. Both saturate (past about five hours in one interval).
pub fn delay_rank(d: &Deltas) -> (u64, u64) {
    let per = |v: u64, scale: u64| v.saturating_mul(scale) / d.interval_ns.max(1);
    let delay_ns = d
        .delays
        .iter()
        .flatten()
        .fold(0u64, |sum, c| sum.saturating_add(c.total_ns));
    (
        per(delay_ns, 1_000_000),
        per(d.cpu_us.unwrap_or(0), 1_000_000_000),
    )
}

/// Replaces `out` with the rows of `rows` (sorted by tgid, as the engine gives them) to
/// send: those that moved ([`Deltas::moved`]), in tgid order; with `top`, only the `top`
/// of them with the highest [`delay_rank`], highest first, equal ranks in tgid order.
pub fn choose(rows: &[TaskDeltas], top: Option<usize>, out: &mut Vec<TaskDeltas>) {
    out.clear();
    for t in rows.iter().filter(|t| t.deltas.moved()) {
        let Some(n) = top else {
            out.push(*t);
            continue;
        };
        // `out` stays ranked and at most n long: a bounded insertion, so no sort routine
        // is linked for this (N is small: a UART's worth of rows).
        let rank = delay_rank(&t.deltas);
        let at = out.partition_point(|o| delay_rank(&o.deltas) >= rank);
        if at < n {
            out.truncate(n - 1);
            out.insert(at, *t);
        }
    }
}

/// Tells a sampler to stop, waking it from its wait between sweeps.
#[derive(Debug, Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// Waits until `until` or a stop; whether it was a stop.
    pub fn wait_until(&self, until: Instant) -> bool {
        let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let now = Instant::now();
            if *stopped || now >= until {
                return *stopped;
            }
            stopped = self
                .wake
                .wait_timeout(stopped, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Stops the sampler.
    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }
}

/// The sampler: the engine, its socket, and the rows chosen from the last sweep.
pub struct Sampler {
    live: Live,
    client: Client,
    sampling: Sampling,
    chosen: Vec<TaskDeltas>,
    /// The next interval's number (`Interval.sample`).
    sample: u64,
}

impl Sampler {
    /// A sampler of every thread group, asking through `client` (not the stream's
    /// registered socket), after its baseline sweep: an error here is one at start.
    pub fn new(sampling: Sampling, mut client: Client) -> Result<Sampler, live::Error> {
        let mut live = Live::new(Select::default())?;
        live.sweep(&mut client)?;
        Ok(Sampler {
            live,
            client,
            sampling,
            chosen: Vec::new(),
            sample: 0,
        })
    }

    /// Sweeps every period, in fixed steps from now (after a stall, a whole period from
    /// then), and queues each interval on `link` until `stop`. `started` is the agent's
    /// start, the clock of `uptime_ms`. A failed sweep is said on stderr (once until a
    /// sweep succeeds again) and sends nothing; the next interval then spans both.
    pub fn run(&mut self, link: &Link, stop: &Stop, started: Instant) {
        let period = Duration::from_millis(self.sampling.period_ms);
        let mut next = Instant::now() + period;
        let mut failing = false;
        while !stop.wait_until(next) {
            let now = Instant::now();
            next += period;
            if next <= now {
                next = now + period;
            }
            let iv = match self.live.sweep(&mut self.client) {
                Ok(iv) => iv,
                Err(e) => {
                    if !std::mem::replace(&mut failing, true) {
                        crate::stream::say::say(
                            crate::stream::say::Level::Warning,
                            format_args!("sampling: sweep failed: {e}; will retry"),
                        );
                    }
                    continue;
                }
            };
            failing = false;
            choose(iv.rows, self.sampling.top, &mut self.chosen);
            let uptime_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let switch = delayacct::switch_now();
            link.push_sweep(self.sample, uptime_ms, switch, &iv, &self.chosen);
            self.sample += 1;
        }
    }

    /// Runs the sampler on a thread of its own until [`Running::stop`].
    pub fn spawn(self, link: Arc<Link>, started: Instant) -> std::io::Result<Running> {
        let stop = Arc::new(Stop::default());
        let stop2 = stop.clone();
        // Boxed: the engine's buffers (about 20 KiB) are not copied onto the new stack.
        let mut sampler = Box::new(self);
        let thread = super::spawn_thread(
            c"sampler",
            SAMPLER_STACK,
            Box::new(move || sampler.run(&link, &stop2, started)),
        )?;
        Ok(Running { stop, thread })
    }
}

/// A sampler running on its thread.
pub struct Running {
    stop: Arc<Stop>,
    thread: taskwire_cli::sys::thread::Thread,
}

impl Running {
    /// Stops the sampler and waits for it (at most the sweep in progress).
    pub fn stop(self) {
        self.stop.stop();
        self.thread.join();
    }
}

/// The `Interval` frame of sweep `iv`, the `sample`-th interval of sampling: its length,
/// tasks and system pressure; `uptime_ms` and `delay_accounting` as the sampler knows
/// them. `rows` is left for [`Link::push_samples`] to fill in.
pub fn interval_of(
    sample: u64,
    uptime_ms: u64,
    delay_accounting: Option<bool>,
    iv: &live::Interval<'_>,
) -> Interval {
    let mut i = Interval::new(sample, interval_ms_of(iv.interval_ns));
    i.uptime_ms = uptime_ms;
    i.tasks_total = u32::try_from(iv.total).unwrap_or(u32::MAX);
    i.delay_accounting = delay_accounting;
    set_pressure(&mut i, &iv.pressure);
    i
}

/// Copies the averages of the live view's `p` into `i`.
fn set_pressure(i: &mut Interval, p: &Pressure) {
    for (r, psi) in PsiResource::ALL
        .into_iter()
        .zip([p.cpu, p.memory, p.io, p.irq])
    {
        match psi {
            Psi::Absent => i.set_avg10(r, None, None),
            Psi::Avg10 { some, full } => i.set_avg10(r, some, full),
        }
    }
}

/// A row of the engine as the link takes it.
pub fn row_of(t: &TaskDeltas) -> SampleRow<'_> {
    SampleRow {
        tgid: t.id,
        comm: Some(t.comm.as_bytes()),
        deltas: &t.deltas,
    }
}

impl Link {
    /// Queues sweep `iv` as interval `sample` with `rows` (the engine's rows the sampler
    /// chose: all that moved, or its top N; they must be thread groups), under one lock,
    /// and wakes the writer. A baseline sweep (no interval yet) queues nothing. Returns
    /// the frames queued, as [`Link::push_samples`].
    pub fn push_sweep(
        &self,
        sample: u64,
        uptime_ms: u64,
        delay_accounting: Option<bool>,
        iv: &live::Interval<'_>,
        rows: &[TaskDeltas],
    ) -> u64 {
        if iv.baseline {
            return 0;
        }
        let interval = interval_of(sample, uptime_ms, delay_accounting, iv);
        self.push_samples(&interval, rows.iter().map(row_of))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::framer::Framer;
    use crate::stream::framer::tests::decode_all;
    use crate::stream::queue::Queue;
    use taskwire_cli::output::live::Comm;
    use taskwire_core::taskstats::DelayCounter;
    use taskwire_core::wire::{self, Message, StreamHeader};

    /// A row of `id` with `cpu_us` of CPU and `delay_ns` of delay in each of `cats`
    /// (indices into the delay slots) over 1 s.
    fn row(id: u32, cpu_us: u64, delays: &[(usize, u64)]) -> TaskDeltas {
        let mut d = Deltas::empty(1_000_000_000);
        d.cpu_us = Some(cpu_us);
        for slot in d.delays.iter_mut() {
            *slot = Some(DelayCounter {
                count: 0,
                total_ns: 0,
            });
        }
        for &(i, ns) in delays {
            d.delays[i] = Some(DelayCounter {
                count: 1,
                total_ns: ns,
            });
        }
        TaskDeltas {
            id,
            comm: Comm::new(b"t"),
            deltas: d,
            peaks: [None; 8],
        }
    }

    #[test]
    fn most_delay_is_the_sum_over_categories_then_cpu() {
        // 30 ms of CPU delay and 40 ms of IO delay in 1 s: 70,000 ppm; 500 ms of CPU.
        assert_eq!(
            delay_rank(&row(1, 500_000, &[(0, 30_000_000), (1, 40_000_000)]).deltas),
            (70_000, 500_000)
        );
        // Absent categories and CPU count as zero.
        let mut d = Deltas::empty(2_000_000_000);
        d.delays[3] = Some(DelayCounter {
            count: 1,
            total_ns: 1_000_000,
        });
        assert_eq!(delay_rank(&d), (500, 0));
    }

    #[test]
    fn choose_keeps_what_moved_or_the_top_n_by_delay() {
        let rows = [
            row(10, 0, &[]),                                 // still: never sent
            row(11, 900_000, &[]),                           // CPU only
            row(12, 1, &[(1, 50_000_000)]),                  // 5% IO
            row(13, 5, &[(0, 20_000_000), (4, 40_000_000)]), // 6% in two categories
            row(14, 2, &[(1, 50_000_000)]),                  // ties 12, more CPU
        ];
        let mut out = Vec::new();
        choose(&rows, None, &mut out);
        let ids = |out: &[TaskDeltas]| out.iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(ids(&out), [11, 12, 13, 14]);
        choose(&rows, Some(3), &mut out);
        assert_eq!(ids(&out), [13, 14, 12]);
        choose(&rows, Some(100), &mut out);
        assert_eq!(ids(&out), [13, 14, 12, 11]);
        choose(&rows[..1], Some(1), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn the_bounded_insertion_ranks_as_a_sort_would() {
        // Delays and CPU from a small generator, with many ties.
        let mut x = 12345u64;
        let rows: Vec<TaskDeltas> = (0..300)
            .map(|id| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let delay = (x >> 33) % 7 * 1_000_000;
                row(id, (x >> 20) % 3, &[((x >> 40) as usize % 8, delay)])
            })
            .collect();
        let mut want: Vec<TaskDeltas> = rows.iter().filter(|t| t.deltas.moved()).copied().collect();
        want.sort_by_key(|t| (std::cmp::Reverse(delay_rank(&t.deltas)), t.id));
        let mut out = Vec::new();
        for n in [1, 2, 5, 50, 299, 1000] {
            choose(&rows, Some(n), &mut out);
            let ids: Vec<u32> = out.iter().map(|t| t.id).collect();
            let w: Vec<u32> = want.iter().take(n).map(|t| t.id).collect();
            assert_eq!(ids, w, "top {n}");
        }
    }

    #[test]
    fn a_stop_wakes_the_wait_at_once() {
        let stop = Arc::new(Stop::default());
        assert!(!stop.wait_until(Instant::now() + Duration::from_millis(10)));
        let s2 = stop.clone();
        let t = std::thread::spawn(move || {
            let t0 = Instant::now();
            (s2.wait_until(t0 + Duration::from_secs(60)), t0.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        stop.stop();
        let (stopped, took) = t.join().unwrap();
        assert!(stopped && took < Duration::from_secs(10), "{took:?}");
        assert!(stop.wait_until(Instant::now() + Duration::from_secs(60)));
    }

    #[test]
    fn a_sweep_is_an_interval_and_its_rows() {
        let mut d = Deltas::empty(1_999_600_000);
        d.cpu_us = Some(42);
        let row = TaskDeltas {
            id: 77,
            comm: Comm::new(b"svc"),
            deltas: d,
            peaks: [None; 8],
        };
        let rows = [row, TaskDeltas { id: 78, ..row }];
        let pressure = Pressure {
            io: Psi::Avg10 {
                some: Some(271),
                full: Some(126),
            },
            irq: Psi::Avg10 {
                some: None,
                full: Some(3),
            },
            ..Pressure::default()
        };
        let mut iv = live::Interval {
            rows: &rows,
            total: 180,
            interval_ns: 2_000_100_000,
            baseline: true,
            pressure,
            cgroup_pressure: None,
        };
        let link = Link::new(Queue::new(16, 4096));
        assert_eq!(link.push_sweep(0, 2000, Some(true), &iv, &rows), 0);
        iv.baseline = false;
        assert_eq!(link.push_sweep(1, 4000, Some(true), &iv, &rows[1..]), 2);
        let mut f = Framer::new(StreamHeader::new());
        let mut out = Vec::new();
        let mut buf = vec![0u8; wire::MAX_PAYLOAD_LEN];
        while let Some(item) = link.lock().pop(&mut buf) {
            f.item(item, &buf, &mut out);
        }
        let msgs = decode_all(&out);
        let Message::Interval(i) = msgs[0] else {
            panic!("{msgs:?}")
        };
        assert_eq!(
            (
                i.seq,
                i.sample,
                i.uptime_ms,
                i.interval_ms,
                i.tasks_total,
                i.rows
            ),
            (0, 1, 4000, 2000, 180, 1)
        );
        assert_eq!(i.delay_accounting, Some(true));
        assert_eq!((i.io_some_avg10, i.io_full_avg10), (Some(271), Some(126)));
        assert_eq!((i.irq_some_avg10, i.irq_full_avg10), (None, Some(3)));
        assert_eq!((i.cpu_some_avg10, i.memory_full_avg10), (None, None));
        let Message::Sample(s) = &msgs[1] else {
            panic!("{msgs:?}")
        };
        assert_eq!((s.seq, s.sample, s.tgid, s.interval_ms), (1, 1, 78, 2000));
        assert_eq!(s.comm_str(), Some("svc"));
        assert_eq!(s.deltas().cpu_us, Some(42));
    }
}
