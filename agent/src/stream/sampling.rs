//! What a sweep of the live engine ([`crate::live`]) becomes on the stream: an `Interval`
//! frame with the system's pressure, then one `Sample` per row (core/WIRE.md, variants 4
//! and 5). The sampler of `stream --sample` calls [`Link::push_sweep`] once per interval.

use taskwire_cli::output::live::{Pressure, Psi};
use taskwire_core::wire::{Interval, PsiResource, interval_ms_of};

use super::link::{Link, SampleRow};
use crate::live::{self, TaskDeltas};

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
    use taskwire_core::taskstats::Deltas;
    use taskwire_core::wire::{self, Message, StreamHeader};

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
