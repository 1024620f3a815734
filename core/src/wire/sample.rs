//! Samples of live tasks: what a task's counters moved by in one interval, and the
//! interval itself with the system's pressure.
//!
//! Every sampling interval the agent sends one [`Interval`], then one [`Sample`] per task
//! it chose (`Interval::rows` of them). Both are numbered in the same sequence as exit
//! records, so they share the agent's queue and its loss accounting: a dropped sample is a
//! number inside a `Loss` frame like a dropped record.
//!
//! A sample's counters travel as [`Values`] over a fixed, append-only slot list
//! ([`SAMPLE_SLOTS`]): CPU time, storage bytes, then count and total of each delay
//! category in [`Delay::ALL`] order. A counter the kernel's struct lacks, or does not sum
//! per thread group, is absent, never 0. Rates are made on the host from the deltas and the
//! sample's own `interval_ms`, so a row whose `Interval` frame was lost still has them.

use serde::{Deserialize, Serialize};

use super::record::{Comm, MAX_SLOTS, Values, comm_of};
use crate::psi::Pressure;
use crate::taskstats::{Delay, DelayCounter, Deltas};

/// Slots before the delay categories in a sample's [`Values`].
const FIRST_DELAY_SLOT: usize = 3;

/// The slots of a [`Sample`]'s values, in wire order (append only): names as the schema
/// text and `core/WIRE.md` give them.
pub const SAMPLE_SLOTS: [&str; FIRST_DELAY_SLOT + 2 * Delay::ALL.len()] = [
    "cpu_us",
    "read_bytes",
    "write_bytes",
    "cpu_count",
    "cpu_delay_total",
    "blkio_count",
    "blkio_delay_total",
    "swapin_count",
    "swapin_delay_total",
    "freepages_count",
    "freepages_delay_total",
    "thrashing_count",
    "thrashing_delay_total",
    "compact_count",
    "compact_delay_total",
    "wpcopy_count",
    "wpcopy_delay_total",
    "irq_count",
    "irq_delay_total",
];

const _: () = assert!(SAMPLE_SLOTS.len() <= MAX_SLOTS);

/// A resource of the kernel's pressure stall information (`/proc/pressure/*`), in the
/// order an [`Interval`] carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PsiResource {
    /// `/proc/pressure/cpu`.
    Cpu,
    /// `/proc/pressure/memory`.
    Memory,
    /// `/proc/pressure/io`.
    Io,
    /// `/proc/pressure/irq` (Linux 6.1 and later, `CONFIG_IRQ_TIME_ACCOUNTING`).
    Irq,
}

impl PsiResource {
    /// Every resource, in wire order.
    pub const ALL: [PsiResource; 4] = [
        PsiResource::Cpu,
        PsiResource::Memory,
        PsiResource::Io,
        PsiResource::Irq,
    ];

    /// The file's name under `/proc/pressure`, which output keys are made of.
    pub const fn name(self) -> &'static str {
        match self {
            PsiResource::Cpu => "cpu",
            PsiResource::Memory => "memory",
            PsiResource::Io => "io",
            PsiResource::Irq => "irq",
        }
    }
}

/// One sampling interval: sent before its [`Sample`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    /// Sequence number, in the same numbering as records (see [`super::Record::seq`]).
    pub seq: u64,
    /// The interval's number since the agent started sampling: 0, 1, 2, ...; its samples
    /// carry the same number.
    pub sample: u64,
    /// The agent's uptime at the end of the interval, ms (the clock of
    /// [`super::Heartbeat::uptime_ms`]).
    pub uptime_ms: u64,
    /// The interval's length, ms.
    pub interval_ms: u32,
    /// Tasks (thread groups) on the board in this interval, sampled or not.
    pub tasks_total: u32,
    /// [`Sample`] frames that follow for this interval.
    pub rows: u32,
    /// Whether delay accounting was on (`kernel.task_delayacct`); `None`: no such switch
    /// or not readable. As [`super::StreamHeader::delay_accounting`], read again each
    /// interval.
    pub delay_accounting: Option<bool>,
    /// `/proc/pressure/cpu` `some avg10`, hundredths of a percent; `None`: no PSI or no
    /// such line.
    pub cpu_some_avg10: Option<u16>,
    /// `/proc/pressure/cpu` `full avg10` (a system's cpu `full` is printed as zeros).
    pub cpu_full_avg10: Option<u16>,
    /// `/proc/pressure/memory` `some avg10`.
    pub memory_some_avg10: Option<u16>,
    /// `/proc/pressure/memory` `full avg10`.
    pub memory_full_avg10: Option<u16>,
    /// `/proc/pressure/io` `some avg10`.
    pub io_some_avg10: Option<u16>,
    /// `/proc/pressure/io` `full avg10`.
    pub io_full_avg10: Option<u16>,
    /// `/proc/pressure/irq` `some avg10` (the kernel prints no such line today).
    pub irq_some_avg10: Option<u16>,
    /// `/proc/pressure/irq` `full avg10`.
    pub irq_full_avg10: Option<u16>,
}

impl Interval {
    /// Interval `sample` of `interval_ms`, numbered 0 (the agent's queue numbers it),
    /// nothing else known yet.
    pub const fn new(sample: u64, interval_ms: u32) -> Interval {
        Interval {
            seq: 0,
            sample,
            uptime_ms: 0,
            interval_ms,
            tasks_total: 0,
            rows: 0,
            delay_accounting: None,
            cpu_some_avg10: None,
            cpu_full_avg10: None,
            memory_some_avg10: None,
            memory_full_avg10: None,
            io_some_avg10: None,
            io_full_avg10: None,
            irq_some_avg10: None,
            irq_full_avg10: None,
        }
    }

    /// Sets `r`'s `some` and `full` avg10, hundredths of a percent (`None`: no such line,
    /// or no file).
    pub fn set_avg10(&mut self, r: PsiResource, some: Option<u16>, full: Option<u16>) {
        let (s, f) = match r {
            PsiResource::Cpu => (&mut self.cpu_some_avg10, &mut self.cpu_full_avg10),
            PsiResource::Memory => (&mut self.memory_some_avg10, &mut self.memory_full_avg10),
            PsiResource::Io => (&mut self.io_some_avg10, &mut self.io_full_avg10),
            PsiResource::Irq => (&mut self.irq_some_avg10, &mut self.irq_full_avg10),
        };
        (*s, *f) = (some, full);
    }

    /// Sets `r`'s averages from its file as read (`None`: no file, PSI off).
    pub fn set_pressure(&mut self, r: PsiResource, p: Option<&Pressure>) {
        self.set_avg10(
            r,
            p.and_then(|p| p.some).map(|s| s.avg10),
            p.and_then(|p| p.full).map(|s| s.avg10),
        );
    }

    /// `r`'s `some` (or, with `full`, `full`) avg10, hundredths of a percent.
    pub fn avg10(&self, r: PsiResource, full: bool) -> Option<u16> {
        let (some, f) = match r {
            PsiResource::Cpu => (self.cpu_some_avg10, self.cpu_full_avg10),
            PsiResource::Memory => (self.memory_some_avg10, self.memory_full_avg10),
            PsiResource::Io => (self.io_some_avg10, self.io_full_avg10),
            PsiResource::Irq => (self.irq_some_avg10, self.irq_full_avg10),
        };
        if full { f } else { some }
    }
}

/// One task (thread group) over one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Sequence number, in the same numbering as records (see [`super::Record::seq`]).
    pub seq: u64,
    /// The interval's number ([`Interval::sample`]).
    pub sample: u64,
    /// The interval this task was measured over, ms; 0 only from a broken sender (then no
    /// rates).
    pub interval_ms: u32,
    /// The thread group id.
    pub tgid: u32,
    /// The command name, raw bytes up to its NUL; `None` when not known.
    pub comm: Option<Comm>,
    /// What the counters moved by, over [`SAMPLE_SLOTS`].
    pub values: Values,
}

/// `ns` as whole ms, rounded to the nearest, at least 1 when `ns` is not 0, saturating.
pub const fn interval_ms_of(ns: u64) -> u32 {
    if ns == 0 {
        return 0;
    }
    let ms = ns / 1_000_000 + (ns % 1_000_000 >= 500_000) as u64;
    if ms == 0 {
        1
    } else if ms > u32::MAX as u64 {
        u32::MAX
    } else {
        ms as u32
    }
}

impl Sample {
    /// Task `tgid`'s deltas over interval `sample`, numbered 0 (the agent's queue numbers
    /// it). `interval_ms` comes from [`Deltas::interval_ns`] ([`interval_ms_of`]); `comm`
    /// is cut at its first NUL and at [`COMM_CAP`](super::COMM_CAP) bytes.
    pub fn new(sample: u64, tgid: u32, comm: Option<&[u8]>, deltas: &Deltas) -> Sample {
        Sample {
            seq: 0,
            sample,
            interval_ms: interval_ms_of(deltas.interval_ns),
            tgid,
            comm: comm.map(comm_of),
            values: Values::from_deltas(deltas),
        }
    }

    /// The deltas this sample carries, over its `interval_ms`. Slots past
    /// [`SAMPLE_SLOTS`] (a newer sender's) are not in [`Deltas`] and are left out.
    pub fn deltas(&self) -> Deltas {
        self.values
            .to_deltas(u64::from(self.interval_ms) * 1_000_000)
    }

    /// The command name as text, when it is UTF-8.
    pub fn comm_str(&self) -> Option<&str> {
        self.comm
            .as_ref()
            .and_then(|c| core::str::from_utf8(c).ok())
    }
}

impl Values {
    /// `d`'s counters over [`SAMPLE_SLOTS`]; its interval is not among them.
    pub fn from_deltas(d: &Deltas) -> Values {
        let mut v = Values::new();
        // 19 slots fit MAX_SLOTS (asserted above): push cannot fail.
        for s in [d.cpu_us, d.read_bytes, d.write_bytes] {
            let _ = v.push(s);
        }
        for c in &d.delays {
            let _ = v.push(c.map(|c| c.count));
            let _ = v.push(c.map(|c| c.total_ns));
        }
        v
    }

    /// The [`Deltas`] of values over [`SAMPLE_SLOTS`], over an interval of `interval_ns`.
    /// A delay category is present when both its count and its total are; slots past the
    /// list are left out.
    pub fn to_deltas(&self, interval_ns: u64) -> Deltas {
        let mut d = Deltas::empty(interval_ns);
        d.cpu_us = self.get(0);
        d.read_bytes = self.get(1);
        d.write_bytes = self.get(2);
        for (i, slot) in d.delays.iter_mut().enumerate() {
            let at = FIRST_DELAY_SLOT + 2 * i;
            *slot = self
                .get(at)
                .zip(self.get(at + 1))
                .map(|(count, total_ns)| DelayCounter { count, total_ns });
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::psi::Stall;
    use crate::wire::{COMM_CAP, Message, decode_payload, testutil};
    use proptest::prelude::*;

    #[test]
    fn slot_names_follow_the_delay_fields() {
        for (i, d) in Delay::ALL.iter().enumerate() {
            assert_eq!(
                SAMPLE_SLOTS[FIRST_DELAY_SLOT + 2 * i],
                d.count_field().name()
            );
            assert_eq!(
                SAMPLE_SLOTS[FIRST_DELAY_SLOT + 2 * i + 1],
                d.total_field().name()
            );
        }
    }

    #[test]
    fn deltas_round_trip_and_absent_stays_absent() {
        let mut d = Deltas::empty(2_000_000_000);
        d.cpu_us = Some(1_500_000);
        d.write_bytes = Some(0);
        d.delays[1] = Some(DelayCounter {
            count: 3,
            total_ns: 700_000_000,
        });
        let s = Sample::new(7, 42, Some(b"dbus-daemon\0junk"), &d);
        assert_eq!(s.interval_ms, 2000);
        assert_eq!(s.comm_str(), Some("dbus-daemon"));
        assert_eq!(s.deltas(), d);
        // read_bytes absent, write_bytes 0: they differ on the wire and back.
        assert_eq!(s.values.get(1), None);
        assert_eq!(s.values.get(2), Some(0));
        // Trailing absent delay categories are not sent: slots 0..7 covered.
        assert_eq!(s.values.len(), 7);
        // One of a category's pair alone is no category.
        let mut v = Values::new();
        for slot in [None, None, None, Some(5)] {
            v.push(slot).unwrap();
        }
        assert_eq!(v.to_deltas(1).delays[0], None);
    }

    #[test]
    fn interval_ms_rounds_and_never_hides_an_interval() {
        assert_eq!(interval_ms_of(0), 0);
        assert_eq!(interval_ms_of(1), 1);
        assert_eq!(interval_ms_of(1_499_999), 1);
        assert_eq!(interval_ms_of(1_500_000), 2);
        assert_eq!(interval_ms_of(2_000_400_000), 2000);
        assert_eq!(interval_ms_of(u64::MAX), u32::MAX);
    }

    #[test]
    fn pressure_is_kept_per_resource_and_line() {
        let stall = |avg10| Stall {
            avg10,
            ..Stall::default()
        };
        let mut i = Interval::new(1, 2000);
        let io = Pressure {
            some: Some(stall(271)),
            full: Some(stall(126)),
        };
        let irq = Pressure {
            some: None,
            full: Some(stall(5)),
        };
        i.set_pressure(PsiResource::Io, Some(&io));
        i.set_pressure(PsiResource::Irq, Some(&irq));
        i.set_pressure(PsiResource::Memory, None);
        assert_eq!(
            (i.io_some_avg10, i.io_full_avg10, i.irq_some_avg10),
            (Some(271), Some(126), None)
        );
        assert_eq!(i.avg10(PsiResource::Irq, true), Some(5));
        assert_eq!(i.avg10(PsiResource::Memory, false), None);
        assert_eq!(
            PsiResource::ALL.map(PsiResource::name),
            ["cpu", "memory", "io", "irq"]
        );
    }

    #[test]
    fn payload_layouts() {
        // core/WIRE.md section 3 spells these bytes out.
        let mut i = Interval::new(3, 2000);
        i.seq = 9;
        i.uptime_ms = 60_000;
        i.tasks_total = 180;
        i.rows = 20;
        i.delay_accounting = Some(true);
        i.io_some_avg10 = Some(271);
        let p = testutil::to_vec(&Message::Interval(i));
        assert_eq!(
            p,
            [
                0x04, 0x09, 0x03, 0xe0, 0xd4, 0x03, 0xd0, 0x0f, 0xb4, 0x01, 0x14, 0x01, 0x01, 0x00,
                0x00, 0x00, 0x00, 0x01, 0x8f, 0x02, 0x00, 0x00, 0x00
            ]
        );
        let mut d = Deltas::empty(2_000_000_000);
        d.cpu_us = Some(150_000);
        d.read_bytes = Some(0);
        d.write_bytes = Some(4096);
        d.delays[0] = Some(DelayCounter {
            count: 12,
            total_ns: 3_000_000,
        });
        let mut s = Sample::new(3, 812, Some(b"app"), &d);
        s.seq = 10;
        let p = testutil::to_vec(&Message::Sample(s.clone()));
        assert_eq!(
            p,
            [
                0x05, 0x0a, 0x03, 0xd0, 0x0f, 0xac, 0x06, 0x01, 0x03, b'a', b'p', b'p', 0x00, 0x05,
                0xf0, 0x93, 0x09, 0x00, 0x80, 0x20, 0x0c, 0xc0, 0x8d, 0xb7, 0x01
            ]
        );
        assert_eq!(decode_payload(&p), Ok(Message::Sample(s)));
    }

    proptest! {
        #[test]
        fn sample_deltas_round_trip(d in testutil::deltas()) {
            let s = Sample::new(0, 1, None, &d);
            let back = s.deltas();
            prop_assert_eq!(back.cpu_us, d.cpu_us);
            prop_assert_eq!((back.read_bytes, back.write_bytes), (d.read_bytes, d.write_bytes));
            prop_assert_eq!(back.delays, d.delays);
            prop_assert_eq!(back.interval_ns, u64::from(interval_ms_of(d.interval_ns)) * 1_000_000);
            let msg = Message::Sample(s);
            prop_assert_eq!(decode_payload(&testutil::to_vec(&msg)), Ok(msg));
        }

        #[test]
        fn numbered_messages_round_trip(msg in prop_oneof![
            testutil::interval().prop_map(Message::Interval),
            testutil::sample().prop_map(Message::Sample),
        ]) {
            let p = testutil::to_vec(&msg);
            prop_assert!(p.len() <= crate::wire::MAX_PAYLOAD_LEN);
            prop_assert_eq!(decode_payload(&p), Ok(msg));
        }
    }

    #[test]
    fn comm_cap_is_records() {
        let long = [b'x'; COMM_CAP + 5];
        let s = Sample::new(0, 1, Some(&long), &Deltas::empty(1));
        assert_eq!(s.comm.unwrap().len(), COMM_CAP);
    }
}
