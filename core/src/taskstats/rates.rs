//! Per-interval rates from two samples of one task: what `taskwire top` and periodic
//! samples show, rather than lifetime averages.
//!
//! A [`Snapshot`] keeps what one sweep needs of a [`Taskstats`] reply: who the task is
//! ([`Identity`]), when the caller took it (monotonic ns), and the cumulative counters.
//! [`Rates::between`] turns two snapshots of the same task into rates over the interval,
//! or says why it cannot ([`Skip`]). Integer arithmetic only, no allocation.
//!
//! A task is its id *and* its start time, so that a pid reused between sweeps starts a new
//! history instead of yielding a rate across two tasks. A reply by pid carries its start
//! time; a reply by tgid does not (the kernel leaves `ac_btime` zero there), so for a
//! thread group the caller passes one it read elsewhere, `/proc/TGID/stat` being the usual
//! source ([`Start`]).
//!
//! Units: delay time and CPU time per wall time in parts per million (ppm; 350000 means
//! 35% of the interval, and a thread group or a wait that ends inside a short interval can
//! exceed 1000000), event counts per second in thousandths (milli-Hz), bytes per second.

use core::fmt;

use super::field::Field;
use super::reply::Kind;
use super::stats::{Delay, Taskstats};

/// Number of delay categories this crate knows ([`Delay::ALL`]).
const DELAYS: usize = Delay::ALL.len();

const PPM: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;

/// Where a snapshot's start time comes from, so that a reused id is not taken for the task
/// that had it before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Start {
    /// The struct's own start time in seconds since the epoch (`ac_btime64`, or `ac_btime`
    /// before version 10), from [`Start::from_stats`].
    ///
    /// The kernel does not store it: each reply computes it as the wall clock's whole
    /// seconds minus the task's elapsed whole seconds, so two replies for one task can
    /// differ by one second, and a step of the wall clock moves it. Two of these match
    /// within one second; a clock step reads as a new task.
    Btime(u64),
    /// A start time the caller read elsewhere, compared exactly. Use this for a thread
    /// group: the kernel leaves `ac_btime` zero in AGGR_TGID records. Field 22 of
    /// `/proc/TGID/stat` (`starttime`, clock ticks since boot) is the natural source: it is
    /// finer than a second and does not move with the wall clock.
    Given(u64),
}

impl Start {
    /// The struct's start time: `ac_btime64` where the struct has it, else `ac_btime`.
    /// `None` when neither is present or the value is zero, as in every per-thread-group
    /// record (core/fixtures/README.md, `get_tgid.bin`).
    pub fn from_stats(stats: &Taskstats<'_>) -> Option<Start> {
        let secs = stats
            .get(Field::AcBtime64)
            .or_else(|| stats.get(Field::AcBtime))?;
        (secs != 0).then_some(Start::Btime(secs))
    }

    /// Whether two start times name the same task (see each variant for how they match).
    /// A [`Start::Btime`] never matches a [`Start::Given`]: they count from different
    /// origins.
    pub fn same_task(self, other: Start) -> bool {
        match (self, other) {
            (Start::Btime(a), Start::Btime(b)) => a.abs_diff(b) <= 1,
            (Start::Given(a), Start::Given(b)) => a == b,
            _ => false,
        }
    }
}

/// Which task a snapshot is of: what was queried and when that task started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    /// Whether `id` is a pid (thread) or a tgid (thread group).
    pub kind: Kind,
    /// The id queried (the AGGR nest's PID or TGID attribute; the struct's own `ac_pid` is
    /// zero in per-thread-group records).
    pub id: u32,
    /// When the task started.
    pub start: Start,
}

impl Identity {
    /// A task (thread) queried by pid, identified by the struct's start time; `None` when
    /// the struct lacks one ([`Start::from_stats`]).
    pub fn pid(pid: u32, stats: &Taskstats<'_>) -> Option<Identity> {
        Some(Identity {
            kind: Kind::Pid,
            id: pid,
            start: Start::from_stats(stats)?,
        })
    }

    /// A thread group queried by tgid, with a start time the caller read elsewhere
    /// ([`Start::Given`]), since the kernel leaves the struct's zero.
    pub fn tgid(tgid: u32, start: u64) -> Identity {
        Identity {
            kind: Kind::Tgid,
            id: tgid,
            start: Start::Given(start),
        }
    }
}

/// One delay category's cumulative counters in a [`Snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DelayCounter {
    /// Number of delays recorded (`*_count`).
    pub count: u64,
    /// Sum of the delays, in ns (`*_delay_total`).
    pub total_ns: u64,
}

/// One delay category's longest delay so far, from version 15 on: a current value, not a
/// counter, so rates carry none of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peak {
    /// Longest single delay, in ns (`*_delay_max`); zero when none was recorded.
    pub max_ns: u64,
    /// Wall-clock time of that delay as (seconds since the epoch, nanoseconds), from
    /// version 17 on; `(0, 0)` when never set.
    pub at: Option<(i64, i64)>,
}

/// What one sweep keeps of one task: its identity, when it was taken, and the counters
/// rates are made of. Built by [`Snapshot::new`]; every counter is `None` where the struct
/// lacks it, never a made-up zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    identity: Identity,
    time_ns: u64,
    cpu_us: Option<u64>,
    read_bytes: Option<u64>,
    write_bytes: Option<u64>,
    delays: [Option<DelayCounter>; DELAYS],
    peaks: [Option<Peak>; DELAYS],
}

impl Snapshot {
    /// Takes what rates need from `stats`, a reply about `identity`'s task, read at
    /// `time_ns` on a monotonic clock of the caller's choice (the same clock for every
    /// snapshot; `CLOCK_MONOTONIC` suits).
    ///
    /// For a thread group ([`Kind::Tgid`]) the kernel sums only delays, CPU times and
    /// context switches: storage bytes and peaks are left out (`None`) rather than read as
    /// the zeros, or the one thread's values, the kernel leaves there.
    pub fn new(identity: Identity, stats: &Taskstats<'_>, time_ns: u64) -> Snapshot {
        let per_task = identity.kind == Kind::Pid;
        let task_only = |f: Field| stats.get(f).filter(|_| per_task);
        let mut delays = [None; DELAYS];
        let mut peaks = [None; DELAYS];
        for (i, &d) in Delay::ALL.iter().enumerate() {
            let counter = stats.get(d.count_field()).zip(stats.get(d.total_field()));
            delays[i] = counter.map(|(count, total_ns)| DelayCounter { count, total_ns });
            let (sec, nsec) = d.max_at_fields();
            peaks[i] = task_only(d.max_field()).map(|max_ns| Peak {
                max_ns,
                at: stats.get_i64(sec).zip(stats.get_i64(nsec)),
            });
        }
        let cpu_us = stats
            .get(Field::AcUtime)
            .zip(stats.get(Field::AcStime))
            .and_then(|(u, s)| u.checked_add(s));
        Snapshot {
            identity,
            time_ns,
            cpu_us,
            read_bytes: task_only(Field::ReadBytes),
            write_bytes: task_only(Field::WriteBytes),
            delays,
            peaks,
        }
    }

    /// Which task this is.
    pub fn identity(&self) -> Identity {
        self.identity
    }

    /// When the caller took it, in monotonic ns.
    pub fn time_ns(&self) -> u64 {
        self.time_ns
    }

    /// CPU time used so far (`ac_utime + ac_stime`), in µs; `None` if the struct lacks
    /// either or their sum overflows.
    pub fn cpu_us(&self) -> Option<u64> {
        self.cpu_us
    }

    /// Bytes read from storage so far (`read_bytes`, since version 4; per task only).
    pub fn read_bytes(&self) -> Option<u64> {
        self.read_bytes
    }

    /// Bytes written to storage so far (`write_bytes`, since version 4; per task only).
    pub fn write_bytes(&self) -> Option<u64> {
        self.write_bytes
    }

    /// A delay category's counters; `None` for a category the struct version lacks.
    pub fn delay(&self, delay: Delay) -> Option<DelayCounter> {
        self.delays[delay_index(delay)]
    }

    /// A delay category's longest delay so far; `None` before version 15 and for a thread
    /// group (the kernel copies one thread's there, not the group's longest).
    pub fn peak(&self, delay: Delay) -> Option<Peak> {
        self.peaks[delay_index(delay)]
    }
}

/// Position of `delay` in [`Delay::ALL`], which lists the variants in declaration order
/// (pinned by a test).
fn delay_index(delay: Delay) -> usize {
    delay as usize
}

/// A cumulative counter, as named by [`Skip::Backwards`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Counter {
    /// `ac_utime + ac_stime`.
    Cpu,
    /// A category's `*_count`.
    DelayCount(Delay),
    /// A category's `*_delay_total`.
    DelayTotal(Delay),
    /// `read_bytes`.
    ReadBytes,
    /// `write_bytes`.
    WriteBytes,
}

/// Why [`Rates::between`] gave no rates for a pair of snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Skip {
    /// The snapshots are of different kinds or ids, or their start times come from
    /// different sources: a pairing mistake by the caller.
    OtherTask,
    /// Same kind and id, another start time: the id was reused, the task is new. Start
    /// its history afresh from the current snapshot.
    NewTask,
    /// The current snapshot is not later than the previous one.
    NoInterval,
    /// A cumulative counter is lower than before. Besides a kernel that wrapped a delay
    /// total to zero, kernels without the fix "taskstats: retain dead thread stats in TGID
    /// queries" drop an exited thread's CPU time from its group's sums.
    Backwards(Counter),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::OtherTask => f.write_str("snapshots of different tasks"),
            Skip::NewTask => f.write_str("id reused by a new task"),
            Skip::NoInterval => f.write_str("no time between snapshots"),
            Skip::Backwards(c) => {
                f.write_str("counter went backwards: ")?;
                match c {
                    Counter::Cpu => f.write_str("cpu time"),
                    Counter::DelayCount(d) => write!(f, "{} count", d.name()),
                    Counter::DelayTotal(d) => write!(f, "{} delay total", d.name()),
                    Counter::ReadBytes => f.write_str("read bytes"),
                    Counter::WriteBytes => f.write_str("write bytes"),
                }
            }
        }
    }
}

/// One delay category's rates over an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DelayRate {
    /// Delay time per wall time, in parts per million.
    pub ppm: u64,
    /// Delays per second, in thousandths.
    pub milli_hz: u64,
}

/// What [`Rates::key`] ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// CPU time, ppm of one CPU.
    Cpu,
    /// One delay category's delay time, ppm.
    Delay(Delay),
    /// The memory delays together ([`SortKey::MEM`]), ppm.
    Mem,
    /// Storage bytes read and written, per second.
    Io,
}

impl SortKey {
    /// The categories [`SortKey::Mem`] adds up: those the kernel's delaytop groups as
    /// memory.
    pub const MEM: [Delay; 5] = [
        Delay::Swapin,
        Delay::Freepages,
        Delay::Thrashing,
        Delay::Compact,
        Delay::Wpcopy,
    ];
}

/// What a task's counters moved by over one interval: the raw material of [`Rates`], and
/// what a sample on the stream carries (rates are made on the host, so no precision is
/// lost on the board). A counter absent from either snapshot is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deltas {
    /// Length of the interval, in ns; never zero when made by [`Deltas::between`].
    pub interval_ns: u64,
    /// CPU time used (`ac_utime + ac_stime`), in µs.
    pub cpu_us: Option<u64>,
    /// Bytes read from storage.
    pub read_bytes: Option<u64>,
    /// Bytes written to storage.
    pub write_bytes: Option<u64>,
    /// Per delay category, in [`Delay::ALL`] order: delays recorded and their sum in ns.
    pub delays: [Option<DelayCounter>; DELAYS],
}

impl Deltas {
    /// Nothing known over an interval of `interval_ns`: every counter absent.
    pub const fn empty(interval_ns: u64) -> Deltas {
        Deltas {
            interval_ns,
            cpu_us: None,
            read_bytes: None,
            write_bytes: None,
            delays: [None; DELAYS],
        }
    }

    /// What moved from `prev` to `cur`, two snapshots of one task in the order taken.
    ///
    /// Errors, checked in this order: [`Skip::OtherTask`] and [`Skip::NewTask`] unless
    /// both are of one task ([`Start::same_task`]); [`Skip::NoInterval`] unless `cur` was
    /// taken after `prev`; [`Skip::Backwards`] if any counter present in both decreased.
    pub fn between(prev: &Snapshot, cur: &Snapshot) -> Result<Deltas, Skip> {
        let (a, b) = (prev.identity, cur.identity);
        if a.kind != b.kind || a.id != b.id {
            return Err(Skip::OtherTask);
        }
        if !a.start.same_task(b.start) {
            return Err(match (a.start, b.start) {
                (Start::Btime(_), Start::Btime(_)) | (Start::Given(_), Start::Given(_)) => {
                    Skip::NewTask
                }
                _ => Skip::OtherTask,
            });
        }
        let interval_ns = match cur.time_ns.checked_sub(prev.time_ns) {
            Some(i) if i > 0 => i,
            _ => return Err(Skip::NoInterval),
        };
        let delta =
            |before: Option<u64>, after: Option<u64>, counter: Counter| match before.zip(after) {
                None => Ok(None),
                Some((x, y)) => y.checked_sub(x).map(Some).ok_or(Skip::Backwards(counter)),
            };
        let mut delays = [None; DELAYS];
        for (i, &d) in Delay::ALL.iter().enumerate() {
            let (x, y) = (prev.delays[i], cur.delays[i]);
            let total_ns = delta(
                x.map(|c| c.total_ns),
                y.map(|c| c.total_ns),
                Counter::DelayTotal(d),
            )?;
            let count = delta(
                x.map(|c| c.count),
                y.map(|c| c.count),
                Counter::DelayCount(d),
            )?;
            delays[i] = count
                .zip(total_ns)
                .map(|(count, total_ns)| DelayCounter { count, total_ns });
        }
        Ok(Deltas {
            interval_ns,
            cpu_us: delta(prev.cpu_us, cur.cpu_us, Counter::Cpu)?,
            read_bytes: delta(prev.read_bytes, cur.read_bytes, Counter::ReadBytes)?,
            write_bytes: delta(prev.write_bytes, cur.write_bytes, Counter::WriteBytes)?,
            delays,
        })
    }

    /// A delay category's deltas; `None` for a category either snapshot lacked.
    pub fn delay(&self, delay: Delay) -> Option<DelayCounter> {
        self.delays[delay_index(delay)]
    }

    /// Whether any counter moved: CPU time, storage bytes, or any delay's count or time.
    pub fn moved(&self) -> bool {
        let nonzero = |v: Option<u64>| v.is_some_and(|v| v != 0);
        nonzero(self.cpu_us)
            || nonzero(self.read_bytes)
            || nonzero(self.write_bytes)
            || self
                .delays
                .iter()
                .flatten()
                .any(|c| c.count != 0 || c.total_ns != 0)
    }

    /// The rates these deltas make over their interval; every rate `None` when the
    /// interval is zero (only a hand-made `Deltas` can have one).
    pub fn rates(&self) -> Rates {
        let interval_ns = self.interval_ns;
        let rate = |v: Option<u64>, scale: u64| {
            v.filter(|_| interval_ns != 0)
                .map(|d| per_interval(d, scale, interval_ns))
        };
        let mut delays = [None; DELAYS];
        for (slot, c) in delays.iter_mut().zip(&self.delays) {
            *slot = c.and_then(|c| {
                // ns per ns -> ppm is a factor of a million; events per ns -> milli-Hz, 10^12.
                Some(DelayRate {
                    ppm: rate(Some(c.total_ns), PPM)?,
                    milli_hz: rate(Some(c.count), 1000 * NS_PER_S)?,
                })
            });
        }
        Rates {
            interval_ns,
            // µs -> ns is a factor of 1000, ns per ns -> ppm another million.
            cpu_ppm: rate(self.cpu_us, 1000 * PPM),
            read_per_s: rate(self.read_bytes, NS_PER_S),
            write_per_s: rate(self.write_bytes, NS_PER_S),
            delays,
        }
    }
}

/// A task's rates over the interval between two snapshots, from [`Rates::between`].
///
/// A counter absent from either snapshot is absent here. Peaks are not rates: read them
/// from the current [`Snapshot`]. A rate too large for `u64` saturates at `u64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    interval_ns: u64,
    cpu_ppm: Option<u64>,
    read_per_s: Option<u64>,
    write_per_s: Option<u64>,
    delays: [Option<DelayRate>; DELAYS],
}

impl Rates {
    /// Rates from `prev` to `cur`, two snapshots of one task in the order taken: the
    /// [`Deltas::between`] them (and its errors), over their interval.
    pub fn between(prev: &Snapshot, cur: &Snapshot) -> Result<Rates, Skip> {
        Deltas::between(prev, cur).map(|d| d.rates())
    }

    /// Length of the interval, in ns (never zero from [`Rates::between`]).
    pub fn interval_ns(&self) -> u64 {
        self.interval_ns
    }

    /// CPU time per wall time, in ppm of one CPU (a thread group on several CPUs can
    /// exceed 1000000).
    pub fn cpu_ppm(&self) -> Option<u64> {
        self.cpu_ppm
    }

    /// Bytes read from storage per second.
    pub fn read_bytes_per_s(&self) -> Option<u64> {
        self.read_per_s
    }

    /// Bytes written to storage per second.
    pub fn write_bytes_per_s(&self) -> Option<u64> {
        self.write_per_s
    }

    /// One delay category's rates; `None` if either snapshot lacks the category.
    pub fn delay(&self, delay: Delay) -> Option<DelayRate> {
        self.delays[delay_index(delay)]
    }

    /// A value to rank tasks by, larger meaning busier: what `key` names, an absent value
    /// counting as zero and sums saturating.
    pub fn key(&self, key: SortKey) -> u64 {
        let ppm = |d: Delay| self.delay(d).map_or(0, |r| r.ppm);
        match key {
            SortKey::Cpu => self.cpu_ppm.unwrap_or(0),
            SortKey::Delay(d) => ppm(d),
            SortKey::Mem => SortKey::MEM
                .iter()
                .fold(0, |sum: u64, &d| sum.saturating_add(ppm(d))),
            SortKey::Io => self
                .read_per_s
                .unwrap_or(0)
                .saturating_add(self.write_per_s.unwrap_or(0)),
        }
    }
}

/// `delta * scale / interval_ns`, rounded down, saturating at `u64::MAX`.
///
/// The 64-bit product suffices up to about five hours of CPU or delay time, 18 million
/// events or 18 GB in one interval; only beyond that does the division take the slow,
/// bit-by-bit way of [`mul_div_wide`].
fn per_interval(delta: u64, scale: u64, interval_ns: u64) -> u64 {
    match delta.checked_mul(scale) {
        Some(product) => product / interval_ns,
        None => mul_div_wide(delta, scale, interval_ns),
    }
}

/// `a * b / d` (`d` nonzero) of the 128-bit product, rounded down, saturating at
/// `u64::MAX`: a restoring long division, one quotient bit per step. Not `u128`'s `/`:
/// that links the compiler's general 128-bit division (about 0.8 KiB on aarch64, more on
/// 32-bit boards) for a case that rates reach only in pathological intervals.
#[inline(never)]
fn mul_div_wide(a: u64, b: u64, d: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    let (hi, lo) = ((product >> 64) as u64, product as u64);
    // The quotient needs more than 64 bits.
    if hi >= d {
        return u64::MAX;
    }
    // Invariant: rem < d, and rem:(the bits of lo not yet used) / d is what is left.
    let (mut rem, mut q) = (hi, 0u64);
    for i in (0..64).rev() {
        let carry = rem >> 63;
        rem = (rem << 1) | ((lo >> i) & 1);
        q <<= 1;
        // With the carry, the real remainder is 2^64 + rem >= d.
        if carry != 0 || rem >= d {
            rem = rem.wrapping_sub(d);
            q |= 1;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taskstats::{MAX_STRUCT_SIZE, put_field, struct_size};
    use proptest::prelude::*;

    const START: u64 = 1_764_000_000;
    const SECOND: u64 = NS_PER_S;

    /// A whole struct of `version` with only `fields` set (everything else zero).
    struct Built {
        buf: [u8; MAX_STRUCT_SIZE],
        len: usize,
    }

    impl Built {
        fn new(version: u16, fields: &[(Field, u64)]) -> Built {
            let len = struct_size(version).unwrap();
            let mut b = Built {
                buf: [0; MAX_STRUCT_SIZE],
                len,
            };
            put_field(&mut b.buf[..len], version, Field::Version, version.into()).unwrap();
            for &(f, v) in fields {
                put_field(&mut b.buf[..len], version, f, v).unwrap();
            }
            b
        }

        fn stats(&self) -> Taskstats<'_> {
            Taskstats::new(&self.buf[..self.len]).unwrap()
        }
    }

    fn task(start: Start) -> Identity {
        Identity {
            kind: Kind::Pid,
            id: 42,
            start,
        }
    }

    fn snap(fields: &[(Field, u64)], time_ns: u64) -> Snapshot {
        let b = Built::new(17, fields);
        Snapshot::new(task(Start::Btime(START)), &b.stats(), time_ns)
    }

    // top keeps one snapshot per thread group between sweeps: growth here is per task on a
    // small board, so it should be a decision, not an accident.
    #[test]
    fn snapshot_stays_small() {
        assert!(core::mem::size_of::<Snapshot>() <= 528);
        assert!(core::mem::size_of::<Rates>() <= 248);
    }

    #[test]
    fn delay_index_is_position_in_all() {
        for (i, &d) in Delay::ALL.iter().enumerate() {
            assert_eq!(delay_index(d), i, "{d:?}");
        }
    }

    #[test]
    fn known_rates_over_two_seconds() {
        let prev = snap(
            &[(Field::BlkioDelayTotal, 7), (Field::BlkioCount, 1)],
            SECOND,
        );
        let cur = snap(
            &[
                // 500 ms more of block I/O wait, in 4 more waits.
                (Field::BlkioDelayTotal, 7 + 500_000_000),
                (Field::BlkioCount, 5),
                // 300 ms user + 200 ms system.
                (Field::AcUtime, 300_000),
                (Field::AcStime, 200_000),
                (Field::ReadBytes, 1 << 20),
                (Field::WriteBytes, 3),
            ],
            3 * SECOND,
        );
        let r = Rates::between(&prev, &cur).unwrap();
        assert_eq!(r.interval_ns(), 2 * SECOND);
        let blkio = DelayRate {
            ppm: 250_000,
            milli_hz: 2000,
        };
        assert_eq!(r.delay(Delay::Blkio), Some(blkio));
        assert_eq!(r.cpu_ppm(), Some(250_000));
        assert_eq!(r.read_bytes_per_s(), Some(1 << 19));
        // 1.5 bytes per second rounds down.
        assert_eq!(r.write_bytes_per_s(), Some(1));
        let idle = DelayRate {
            ppm: 0,
            milli_hz: 0,
        };
        assert_eq!(r.delay(Delay::Cpu), Some(idle));
        assert_eq!(r.key(SortKey::Delay(Delay::Blkio)), 250_000);
        assert_eq!(r.key(SortKey::Cpu), 250_000);
        assert_eq!(r.key(SortKey::Io), (1 << 19) + 1);
        assert_eq!(r.key(SortKey::Mem), 0);
    }

    #[test]
    fn deltas_carry_what_moved_and_make_the_same_rates() {
        let prev = snap(&[(Field::CpuCount, 3), (Field::CpuDelayTotal, 10)], SECOND);
        let still = snap(
            &[(Field::CpuCount, 3), (Field::CpuDelayTotal, 10)],
            2 * SECOND,
        );
        let d = Deltas::between(&prev, &still).unwrap();
        assert!(!d.moved(), "{d:?}");
        assert_eq!(d.cpu_us, Some(0));
        let cur = snap(
            &[
                (Field::CpuCount, 4),
                (Field::CpuDelayTotal, 10 + 250_000_000),
                (Field::WriteBytes, 9),
            ],
            3 * SECOND,
        );
        let d = Deltas::between(&prev, &cur).unwrap();
        assert!(d.moved());
        assert_eq!(d.interval_ns, 2 * SECOND);
        assert_eq!(
            d.delay(Delay::Cpu),
            Some(DelayCounter {
                count: 1,
                total_ns: 250_000_000
            })
        );
        assert_eq!(d.write_bytes, Some(9));
        assert_eq!(d.rates(), Rates::between(&prev, &cur).unwrap());
        assert_eq!(d.rates().delay(Delay::Cpu).unwrap().ppm, 125_000);
        // Only the write moved: still a task that moved.
        let mut only_io = Deltas::empty(SECOND);
        only_io.write_bytes = Some(1);
        assert!(only_io.moved());
        assert!(!Deltas::empty(SECOND).moved());
        // A hand-made zero interval gives no rates rather than a division by zero.
        let mut zero = d;
        zero.interval_ns = 0;
        assert_eq!(zero.rates().cpu_ppm(), None);
        assert_eq!(zero.rates().delay(Delay::Cpu), None);
    }

    #[test]
    fn mem_key_adds_the_memory_categories_only() {
        let prev = snap(&[], 0);
        let mut fields = [(Field::Version, 17); 7];
        // 1 ms each of swap-in, reclaim, thrashing, compaction, wpcopy, plus IRQ and CPU.
        let totals = SortKey::MEM.iter().chain(&[Delay::Irq, Delay::Cpu]);
        for (slot, d) in fields.iter_mut().zip(totals) {
            *slot = (d.total_field(), 1_000_000);
        }
        let r = Rates::between(&prev, &snap(&fields, SECOND)).unwrap();
        assert_eq!(r.key(SortKey::Mem), 5 * 1000);
        assert_eq!(r.key(SortKey::Delay(Delay::Irq)), 1000);
    }

    #[test]
    fn long_waits_ending_in_a_short_interval_exceed_a_million_ppm() {
        // Delays are added when a wait ends: 3 s of I/O wait can land in a 1 s interval.
        let prev = snap(&[], 0);
        let cur = snap(&[(Field::BlkioDelayTotal, 3 * SECOND)], SECOND);
        let r = Rates::between(&prev, &cur).unwrap();
        assert_eq!(r.key(SortKey::Delay(Delay::Blkio)), 3 * PPM);
    }

    #[test]
    fn huge_deltas_saturate_instead_of_overflowing() {
        let prev = snap(&[], 0);
        let cur = snap(
            &[
                (Field::BlkioDelayTotal, u64::MAX),
                (Field::BlkioCount, u64::MAX),
                (Field::AcUtime, u64::MAX),
                (Field::ReadBytes, u64::MAX),
                (Field::WriteBytes, u64::MAX),
            ],
            1,
        );
        let r = Rates::between(&prev, &cur).unwrap();
        let sat = DelayRate {
            ppm: u64::MAX,
            milli_hz: u64::MAX,
        };
        assert_eq!(r.delay(Delay::Blkio), Some(sat));
        assert_eq!(r.cpu_ppm(), Some(u64::MAX));
        assert_eq!(r.key(SortKey::Io), u64::MAX);
        // Just past the 64-bit product, over a long interval: the u128 path, exact.
        let d = u64::MAX / PPM + 1;
        let cur = snap(&[(Field::BlkioDelayTotal, d)], 7 * SECOND);
        let ppm = Rates::between(&prev, &cur).unwrap().delay(Delay::Blkio);
        let want = u128::from(d) * u128::from(PPM) / u128::from(7 * SECOND);
        assert_eq!(ppm.map(|r| u128::from(r.ppm)), Some(want));
    }

    #[test]
    fn cpu_sum_that_overflows_is_absent() {
        let s = snap(&[(Field::AcUtime, u64::MAX), (Field::AcStime, 1)], 0);
        assert_eq!(s.cpu_us(), None);
    }

    #[test]
    fn reused_id_is_a_new_task() {
        let b = Built::new(17, &[]);
        let at = |start, t| Snapshot::new(task(start), &b.stats(), t);
        let between = |x, y| Rates::between(&at(x, 0), &at(y, SECOND)).map(|_| ());
        // The kernel recomputes btime per reply: one second apart is the same task.
        assert_eq!(
            between(Start::Btime(START), Start::Btime(START + 1)),
            Ok(())
        );
        assert_eq!(
            between(Start::Btime(START + 1), Start::Btime(START)),
            Ok(())
        );
        assert_eq!(
            between(Start::Btime(START), Start::Btime(START + 2)),
            Err(Skip::NewTask)
        );
        assert_eq!(between(Start::Given(9), Start::Given(9)), Ok(()));
        assert_eq!(
            between(Start::Given(9), Start::Given(10)),
            Err(Skip::NewTask)
        );
        assert_eq!(
            between(Start::Btime(START), Start::Given(START)),
            Err(Skip::OtherTask)
        );

        let mut other = task(Start::Btime(START));
        other.id = 43;
        let prev = at(Start::Btime(START), 0);
        let cur = Snapshot::new(other, &b.stats(), SECOND);
        assert_eq!(Rates::between(&prev, &cur), Err(Skip::OtherTask));
        other.id = 42;
        other.kind = Kind::Tgid;
        let cur = Snapshot::new(other, &b.stats(), SECOND);
        assert_eq!(Rates::between(&prev, &cur), Err(Skip::OtherTask));
    }

    #[test]
    fn identity_is_checked_before_the_interval() {
        let prev = snap(&[], SECOND);
        let b = Built::new(17, &[]);
        let cur = Snapshot::new(task(Start::Btime(START + 5)), &b.stats(), 0);
        assert_eq!(Rates::between(&prev, &cur), Err(Skip::NewTask));
    }

    #[test]
    fn no_interval_is_refused() {
        let a = snap(&[], 5 * SECOND);
        assert_eq!(Rates::between(&a, &a), Err(Skip::NoInterval));
        let earlier = snap(&[], 4 * SECOND);
        assert_eq!(Rates::between(&a, &earlier), Err(Skip::NoInterval));
    }

    #[test]
    fn backwards_counters_are_refused_by_name() {
        let cases = [
            (Field::AcStime, Counter::Cpu),
            (Field::BlkioCount, Counter::DelayCount(Delay::Blkio)),
            (Field::IrqDelayTotal, Counter::DelayTotal(Delay::Irq)),
            (Field::ReadBytes, Counter::ReadBytes),
            (Field::WriteBytes, Counter::WriteBytes),
        ];
        for (field, counter) in cases {
            let prev = snap(&[(field, 10)], 0);
            let cur = snap(&[(field, 9)], SECOND);
            assert_eq!(
                Rates::between(&prev, &cur),
                Err(Skip::Backwards(counter)),
                "{field:?}"
            );
        }
        // Lifetime maxima are not counters: a lower one is no reason to skip.
        let prev = snap(&[(Field::CpuDelayMax, 10)], 0);
        let cur = snap(&[(Field::CpuDelayMax, 9)], SECOND);
        assert!(Rates::between(&prev, &cur).is_ok());
    }

    #[test]
    fn skip_reasons_display() {
        let mut text = heapless::String::<64>::new();
        let reason = Skip::Backwards(Counter::DelayTotal(Delay::Blkio));
        core::fmt::write(&mut text, format_args!("{reason}")).unwrap();
        assert_eq!(text, "counter went backwards: IO delay total");
    }

    #[test]
    fn peaks_are_current_values_with_timestamps_from_v17() {
        let s = snap(
            &[
                (Field::SwapinDelayMax, 77),
                (Field::SwapinDelayMaxTsSec, START),
                (Field::SwapinDelayMaxTsNsec, 5),
            ],
            0,
        );
        let peak = Peak {
            max_ns: 77,
            at: Some((START as i64, 5)),
        };
        assert_eq!(s.peak(Delay::Swapin), Some(peak));
        let v16 = Built::new(16, &[(Field::SwapinDelayMax, 77)]);
        let s = Snapshot::new(task(Start::Btime(START)), &v16.stats(), 0);
        let peak = Peak {
            max_ns: 77,
            at: None,
        };
        assert_eq!(s.peak(Delay::Swapin), Some(peak));
    }

    #[test]
    fn start_prefers_btime64_and_refuses_zero() {
        let v17 = Built::new(17, &[(Field::AcBtime, 5), (Field::AcBtime64, 6)]);
        assert_eq!(Start::from_stats(&v17.stats()), Some(Start::Btime(6)));
        let v8 = Built::new(8, &[(Field::AcBtime, 5)]);
        assert_eq!(Start::from_stats(&v8.stats()), Some(Start::Btime(5)));
        let zero = Built::new(17, &[]);
        assert_eq!(Start::from_stats(&zero.stats()), None);
        assert_eq!(Identity::pid(1, &zero.stats()), None);
        let id = Identity::pid(1, &v17.stats()).unwrap();
        assert_eq!((id.kind, id.id, id.start), (Kind::Pid, 1, Start::Btime(6)));
    }

    #[test]
    fn a_thread_group_keeps_no_bytes_or_peaks() {
        let b = Built::new(17, &[(Field::ReadBytes, 5), (Field::CpuDelayMax, 5)]);
        let s = Snapshot::new(Identity::tgid(7, 1234), &b.stats(), 0);
        assert_eq!(s.identity().start, Start::Given(1234));
        assert_eq!((s.read_bytes(), s.write_bytes()), (None, None));
        assert!(Delay::ALL.iter().all(|&d| s.peak(d).is_none()));
        assert!(Delay::ALL.iter().all(|&d| s.delay(d).is_some()));
        assert_eq!(s.cpu_us(), Some(0));
    }

    /// The fields a proptest case sets, prev and cur alike.
    fn counters() -> [Field; 20] {
        let mut f = [Field::AcUtime; 20];
        f[1] = Field::AcStime;
        f[2] = Field::ReadBytes;
        f[3] = Field::WriteBytes;
        for (i, d) in Delay::ALL.iter().enumerate() {
            f[4 + 2 * i] = d.count_field();
            f[5 + 2 * i] = d.total_field();
        }
        f
    }

    /// The next value of a counter: usually a plausible increase, sometimes anything
    /// (a decrease or a jump to the top of the range).
    fn next_value() -> impl Strategy<Value = (bool, u64)> {
        prop_oneof![
            4 => (0u64..1 << 40).prop_map(|d| (true, d)),
            1 => any::<u64>().prop_map(|v| (false, v)),
        ]
    }

    #[test]
    fn wide_division_at_the_edges() {
        let exact = |a: u64, b: u64, d: u64| {
            let q = u128::from(a) * u128::from(b) / u128::from(d);
            u64::try_from(q).unwrap_or(u64::MAX)
        };
        for (a, b, d) in [
            (u64::MAX, u64::MAX, u64::MAX),
            (u64::MAX, u64::MAX, 1),
            (u64::MAX, 2, 2),
            (u64::MAX, 2, 3),
            (1 << 63, 2, 1 << 63),
            (u64::MAX / PPM + 1, PPM, 7 * SECOND),
            (u64::MAX, 1000 * NS_PER_S, u64::MAX - 1),
            (0, 0, 1),
        ] {
            assert_eq!(mul_div_wide(a, b, d), exact(a, b, d), "{a} * {b} / {d}");
        }
    }

    proptest! {
        #[test]
        fn wide_division_is_exact(a in any::<u64>(), b in any::<u64>(), d in 1..=u64::MAX) {
            let q = u128::from(a) * u128::from(b) / u128::from(d);
            prop_assert_eq!(mul_div_wide(a, b, d), u64::try_from(q).unwrap_or(u64::MAX));
        }

        #[test]
        fn rates_never_panic_and_are_the_exact_quotient(
            prev_vals in prop::array::uniform20(any::<u64>().prop_map(|v| v >> 1)),
            steps in prop::array::uniform20(next_value()),
            t0 in any::<u64>(),
            dt in prop_oneof![0u64..10 * SECOND, any::<u64>()],
        ) {
            let fields = counters();
            let mut prev_set = [(Field::Version, 17); 20];
            let mut cur_set = [(Field::Version, 17); 20];
            for i in 0..20 {
                let (is_delta, v) = steps[i];
                let next = if is_delta { prev_vals[i].saturating_add(v) } else { v };
                prev_set[i] = (fields[i], prev_vals[i]);
                cur_set[i] = (fields[i], next);
            }
            let t1 = t0.wrapping_add(dt);
            let prev = snap(&prev_set, t0);
            let cur = snap(&cur_set, t1);
            let wanted = |x: u64, y: u64, scale: u64| {
                let q = u128::from(y - x) * u128::from(scale) / u128::from(t1 - t0);
                u64::try_from(q).unwrap_or(u64::MAX)
            };
            match Rates::between(&prev, &cur) {
                Err(Skip::NoInterval) => prop_assert!(t1 <= t0),
                Err(Skip::Backwards(_)) => {
                    prop_assert!(t1 > t0);
                    let cpu = |s: &[(Field, u64)]| s[0].1.checked_add(s[1].1);
                    let down = (2..20).any(|i| cur_set[i].1 < prev_set[i].1)
                        || cpu(&cur_set) < cpu(&prev_set);
                    prop_assert!(down);
                }
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
                Ok(r) => {
                    prop_assert_eq!(r.interval_ns(), t1 - t0);
                    for (i, &d) in Delay::ALL.iter().enumerate() {
                        let (c, t) = (4 + 2 * i, 5 + 2 * i);
                        let rate = r.delay(d).unwrap();
                        prop_assert_eq!(rate.ppm, wanted(prev_set[t].1, cur_set[t].1, PPM));
                        prop_assert_eq!(
                            rate.milli_hz,
                            wanted(prev_set[c].1, cur_set[c].1, 1000 * NS_PER_S)
                        );
                    }
                    let read = wanted(prev_set[2].1, cur_set[2].1, NS_PER_S);
                    prop_assert_eq!(r.read_bytes_per_s(), Some(read));
                    if let (Some(x), Some(y)) = (prev.cpu_us(), cur.cpu_us()) {
                        prop_assert_eq!(r.cpu_ppm(), Some(wanted(x, y, 1000 * PPM)));
                    }
                    for key in [SortKey::Cpu, SortKey::Mem, SortKey::Io] {
                        let _ = r.key(key);
                    }
                }
            }
        }
    }

    #[cfg(feature = "test-util")]
    mod fixtures {
        use super::*;
        use crate::fixtures::{EXIT_GROUP, FAMILY, pid1, synthetic};
        use crate::netlink::Packet;
        use crate::taskstats::Reply;

        #[test]
        fn pid_1_from_a_real_reply() {
            let a = pid1();
            let id = Identity::pid(a.id, &a.stats).expect("a GET by pid carries btime");
            let s = Snapshot::new(id, &a.stats, SECOND);
            let cpu = DelayCounter {
                count: 374,
                total_ns: 17_045_851,
            };
            assert_eq!(s.delay(Delay::Cpu), Some(cpu));
            assert!(s.read_bytes().is_some());
            // Version 16: peaks, but no timestamps yet.
            assert_eq!(s.peak(Delay::Cpu).map(|p| p.at), Some(None));
            let later = Snapshot::new(id, &a.stats, 3 * SECOND);
            let r = Rates::between(&s, &later).unwrap();
            let idle = DelayRate {
                ppm: 0,
                milli_hz: 0,
            };
            assert!(Delay::ALL.iter().all(|&d| r.delay(d) == Some(idle)));
            assert_eq!(r.cpu_ppm(), Some(0));
        }

        #[test]
        fn a_thread_group_record_has_no_start_time() {
            let p = Packet::new_checked(&EXIT_GROUP[..]).unwrap();
            let group = Reply::parse(p, FAMILY).unwrap().tgid.unwrap();
            // core/fixtures/README.md: exit_pid_tgid.bin, TGID 9877, utime 27974 + stime 4000.
            assert_eq!(group.id, 9877);
            assert_eq!(Start::from_stats(&group.stats), None);
            let s = Snapshot::new(Identity::tgid(group.id, 1), &group.stats, 0);
            assert_eq!(s.cpu_us(), Some(31_974));
            assert_eq!(s.delay(Delay::Cpu).map(|c| c.count), Some(25));
        }

        #[test]
        fn categories_follow_the_struct_version() {
            let present = |v: u16| -> &'static [Delay] {
                let n = match v {
                    8 => 4,
                    13 => 7,
                    _ => 8,
                };
                &Delay::ALL[..n]
            };
            for v in [8u16, 13, 16, 17] {
                let prev = synthetic(v);
                let mut cur = synthetic(v);
                for &d in present(v) {
                    put_field(&mut cur, v, d.total_field(), 1000 + SECOND / 10).unwrap();
                    put_field(&mut cur, v, d.count_field(), 1010).unwrap();
                }
                let id = task(Start::Btime(1000));
                let prev = Snapshot::new(id, &Taskstats::new(&prev).unwrap(), 0);
                let cur = Snapshot::new(id, &Taskstats::new(&cur).unwrap(), SECOND);
                let r = Rates::between(&prev, &cur).unwrap();
                for &d in Delay::ALL {
                    let want = present(v).contains(&d).then_some(DelayRate {
                        ppm: 100_000,
                        milli_hz: 10_000,
                    });
                    assert_eq!(r.delay(d), want, "v{v} {d:?}");
                    assert_eq!(cur.peak(d).is_some(), v >= 16 && want.is_some());
                    assert_eq!(cur.peak(d).and_then(|p| p.at).is_some(), v == 17);
                }
                assert_eq!(r.cpu_ppm(), Some(0));
                assert_eq!(r.read_bytes_per_s(), Some(0));
            }
        }

        #[test]
        fn a_category_missing_from_either_side_is_absent() {
            let id = task(Start::Btime(1000));
            let (old, new) = (synthetic(13), synthetic(16));
            let (old, new) = (Taskstats::new(&old).unwrap(), Taskstats::new(&new).unwrap());
            for (a, b) in [(old, new), (new, old)] {
                let prev = Snapshot::new(id, &a, 0);
                let cur = Snapshot::new(id, &b, SECOND);
                let r = Rates::between(&prev, &cur).unwrap();
                assert!(r.delay(Delay::Wpcopy).is_some());
                assert_eq!(r.delay(Delay::Irq), None);
            }
        }
    }
}
