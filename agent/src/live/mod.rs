//! The live view's engine: every interval, a sweep of the tasks (thread groups, or
//! threads), each paired with its snapshot of the sweep before to give what its counters
//! moved by. Shared by `top` and, later, `stream --sample`.
//!
//! A sweep lists the tasks ([`tasks`]), asks the kernel about all of them with many GETs
//! in flight ([`Sweep`]), keeps one [`Snapshot`] per answer, and pairs it with the previous
//! sweep's snapshot of the same task. A task is its id and its start time:
//!
//! - a thread group's start time and name come from `/proc/TGID/stat` (field 22, clock
//!   ticks since boot: [`Start::Given`]), read while listing: its reply by tgid has no
//!   name and a zero start;
//! - a thread's come with its reply by pid, so nothing of its own is read under /proc
//!   (that read was half the CPU of a `--threads` sweep): `ac_comm` (but for a kernel
//!   thread, whose /proc name is finer, [`tasks::Lister::proc_comm`]), `ac_btime64` (or
//!   `ac_btime`) as [`Start::Btime`], and `ac_etime`, its age in µs. The kernel computes
//!   btime per reply from the wall clock in whole seconds, so two starts within one second
//!   are one task ([`Start::same_task`]): a pid reused within the same second would be
//!   taken for the task before it. Pids are handed out in a cycle through `pid_max`, so
//!   that takes a whole cycle of new tasks (32,768 with the default `pid_max`, 4,194,304
//!   where systemd raises it) in under a second; and even then the new task's lower
//!   counters usually read as going backwards, a new baseline. A step of the wall clock
//!   (NTP setting a board's clock) moves every btime: every thread is a new baseline for
//!   one interval.
//!
//! The pairing rules ([`pair`]) are where taskwire is correct where its peers are not:
//!
//! - the first sweep is a baseline: it yields no rows; every task it saw gets its rates over
//!   the first whole interval, none dropped;
//! - a task born since the previous sweep began counts from zero over the interval, so it
//!   shows in the first interval it lives in: for a thread group, its start time in ticks
//!   at or after that sweep's start on `CLOCK_BOOTTIME`; for a thread, its age
//!   (`ac_etime`) at most the time since then (`ac_etime` is on `CLOCK_MONOTONIC`, which
//!   stops in suspend: after a suspend, a thread older than the previous sweep but missing
//!   from it may count as born);
//! - a reused id (another start time) is a new task, never paired with the old one;
//! - a task that exited between sweeps has no snapshot now and is not shown;
//! - counters that went backwards are a new baseline: not shown this interval.
//!
//! Nothing is allocated per task per sweep: the listing, both snapshot tables (sorted by
//! id, swapped each sweep) and the rows keep their capacity.

pub mod pressure;
pub mod tasks;

use rustix::io::Errno;
use taskwire_cli::output::live::{Comm, DELAYS, Pressure};
use taskwire_cli::sys::clock;
use taskwire_core::taskstats::{
    Delay, Deltas, Field, Identity, Kind, Peak, Skip, Snapshot, Start, Taskstats,
};

use crate::client::{Client, Target};
use crate::errors::ClientError;
use crate::procfs::{self, Proc};
use crate::sweep::{MAX_WINDOW, Sweep};

pub use tasks::{Cgroup, Listed, Select};

/// One task's interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDeltas {
    /// Its tgid (thread groups) or pid (threads).
    pub id: u32,
    /// Its name: a thread group's from /proc, a thread's from its reply.
    pub comm: Comm,
    /// What its counters moved by.
    pub deltas: Deltas,
    /// Each delay category's longest delay so far, in [`Delay::ALL`] order (threads, from
    /// struct version 15 on).
    pub peaks: [Option<Peak>; DELAYS],
}

/// What one sweep gives: the rows, and what the header says about the system.
#[derive(Debug)]
pub struct Interval<'a> {
    /// One per task with an interval, sorted by id; empty after the baseline sweep.
    pub rows: &'a [TaskDeltas],
    /// Tasks answered in this sweep.
    pub total: usize,
    /// Length of the interval since the previous sweep, ns (0 for the baseline).
    pub interval_ns: u64,
    /// Whether this was the first, baseline, sweep.
    pub baseline: bool,
    /// The system's pressure, read at the end of the sweep.
    pub pressure: Pressure,
    /// The cgroup's own pressure (cgroup v2 with `--cgroup`).
    pub cgroup_pressure: Option<Pressure>,
}

/// A failed sweep.
#[derive(Debug)]
pub enum Error {
    /// Listing the tasks failed.
    Proc(procfs::Error),
    /// The netlink socket failed, or every query was refused.
    Client(ClientError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Proc(e) => e.fmt(f),
            Error::Client(e) => e.fmt(f),
        }
    }
}

/// The pid of kthreadd, the parent of every kernel thread.
const KTHREADD: u64 = 2;

/// A task's snapshot with what the table needs to pair it.
#[derive(Debug, Clone, Copy)]
struct Entry {
    snap: Snapshot,
    comm: Comm,
    /// A thread's age when answered, µs (`ac_etime`); `None` for a thread group.
    age_us: Option<u64>,
}

impl Entry {
    /// `target`'s entry from its answer taken at `time_ns`: a thread's all from its reply
    /// by pid, a thread group's with the start and name its listing read; `None` for a
    /// group not listed.
    fn new(
        target: Target,
        stats: &Taskstats<'_>,
        listed: &[Listed],
        time_ns: u64,
    ) -> Option<Entry> {
        let (start, comm, age_us) = match target {
            Target::Pid(_) => {
                // Zero is a real start here, not an absent one (Identity::pid's reading,
                // meant for thread group records): on a board whose clock starts at the
                // epoch, the tasks of the first second have it.
                let btime = stats
                    .get(Field::AcBtime64)
                    .or_else(|| stats.get(Field::AcBtime))
                    .unwrap_or(0);
                (
                    Start::Btime(btime),
                    Comm::new(stats.comm().unwrap_or_default()),
                    stats.get(Field::AcEtime),
                )
            }
            Target::Tgid(tgid) => {
                let l = &listed[listed.binary_search_by_key(&tgid, |l| l.target.id()).ok()?];
                (Start::Given(l.start), l.comm, None)
            }
        };
        let identity = Identity {
            kind: target.kind(),
            id: target.id(),
            start,
        };
        Some(Entry {
            snap: Snapshot::new(identity, stats, time_ns),
            comm,
            age_us,
        })
    }
}

/// The engine: the lister, the sweep and the two snapshot tables.
pub struct Live {
    lister: tasks::Lister,
    sweep: Sweep,
    listed: Vec<Listed>,
    prev: Vec<Entry>,
    cur: Vec<Entry>,
    rows: Vec<TaskDeltas>,
    /// When the previous sweep began, ns on `CLOCK_BOOTTIME`; `None` before the first.
    prev_start_ns: Option<u64>,
    ticks_per_s: u64,
    cgroup_path: Vec<u8>,
}

impl Live {
    /// An engine over the system's /proc.
    pub fn new(select: Select) -> Result<Live, Error> {
        Ok(Live::with_proc(Proc::open().map_err(Error::Proc)?, select))
    }

    /// An engine over `proc` (a tree laid out like /proc in tests).
    pub fn with_proc(proc: Proc, select: Select) -> Live {
        Live {
            lister: tasks::Lister::new(proc, select),
            sweep: Sweep::new(MAX_WINDOW),
            listed: Vec::new(),
            prev: Vec::new(),
            cur: Vec::new(),
            rows: Vec::new(),
            prev_start_ns: None,
            ticks_per_s: clock::clock_ticks_per_second().max(1),
            cgroup_path: Vec::new(),
        }
    }

    /// Lists the tasks, asks the kernel about each, and pairs the answers with the previous
    /// sweep's. The first call is the baseline and gives no rows.
    pub fn sweep(&mut self, client: &mut Client) -> Result<Interval<'_>, Error> {
        let start_ns = now_ns();
        self.lister.list(&mut self.listed).map_err(Error::Proc)?;
        self.cur.clear();
        let listed = &self.listed;
        let lister = &mut self.lister;
        let cur = &mut self.cur;
        let mut refused = None;
        let summary = self
            .sweep
            .run(
                client,
                listed.iter().map(|l| l.target),
                &mut |target, answer| match answer {
                    Ok(reply) => {
                        let Some(agg) = reply.get(target.kind()) else {
                            return;
                        };
                        let Some(mut entry) = Entry::new(target, &agg.stats, listed, now_ns())
                        else {
                            return;
                        };
                        // A kernel thread (kthreadd's child): its name from /proc. Few, and
                        // alike from sweep to sweep.
                        if target.kind() == Kind::Pid
                            && agg.stats.get(Field::AcPpid) == Some(KTHREADD)
                        {
                            if let Some(comm) = lister.proc_comm(target.id()) {
                                entry.comm = comm;
                            }
                        }
                        insert_sorted(cur, entry);
                    }
                    // The task exited between listing and query: the ordinary case.
                    Err(ClientError::Os {
                        errno: Errno::SRCH, ..
                    }) => {}
                    Err(e) => refused = Some(e),
                },
                &mut |_| {},
            )
            .map_err(Error::Client)?;
        if summary.answered == 0 {
            if let Some(e) = refused {
                return Err(Error::Client(e));
            }
        }
        let born_after = self
            .prev_start_ns
            .map(|ns| ns_to_ticks(ns, self.ticks_per_s));
        let interval_ns = self.prev_start_ns.map_or(0, |p| start_ns.saturating_sub(p));
        self.rows.clear();
        if let (Some(born_after), Some(prev_time)) = (born_after, self.prev_start_ns) {
            pair_tables(&self.prev, &self.cur, born_after, prev_time, &mut self.rows);
        }
        std::mem::swap(&mut self.prev, &mut self.cur);
        self.prev_start_ns = Some(start_ns);
        let cgroup_pressure = match &self.lister.select().cgroup {
            Some(cg) if cg.v2 => Some(pressure::cgroup(&cg.dir, &mut self.cgroup_path)),
            _ => None,
        };
        Ok(Interval {
            rows: &self.rows,
            total: self.prev.len(),
            interval_ns,
            baseline: born_after.is_none(),
            pressure: pressure::system(),
            cgroup_pressure,
        })
    }
}

/// Adds `e` to `table`, kept sorted by id. Answers come in the order of the listing (sorted
/// by id) but for those asked again after a loss or given up on, which are at most a
/// window ([`MAX_WINDOW`]) behind: `e` moves back that far at most. No sort of its own in
/// the binary for the table.
fn insert_sorted(table: &mut Vec<Entry>, e: Entry) {
    let id = e.snap.identity().id;
    table.push(e);
    let mut at = table.len() - 1;
    while at > 0 && table[at - 1].snap.identity().id > id {
        table.swap(at - 1, at);
        at -= 1;
    }
}

/// Appends to `rows` the interval of every task of `cur` that has one, in `cur`'s order.
/// Both tables are sorted by id; a task of `prev` missing from `cur` has exited and is
/// left out.
fn pair_tables(
    prev: &[Entry],
    cur: &[Entry],
    born_after: u64,
    prev_time_ns: u64,
    rows: &mut Vec<TaskDeltas>,
) {
    for e in cur {
        let id = e.snap.identity().id;
        let before = prev
            .binary_search_by_key(&id, |p| p.snap.identity().id)
            .ok()
            .map(|i| &prev[i].snap);
        if let Some(deltas) = pair(before, &e.snap, e.age_us, born_after, prev_time_ns) {
            rows.push(TaskDeltas {
                id,
                comm: e.comm,
                deltas,
                peaks: peaks(&e.snap),
            });
        }
    }
}

/// What `cur` moved by since `prev`, the previous sweep's snapshot of the same id if it had
/// one; `None` when the task has no interval to show (see the module docs).
///
/// `born_after` is when the previous sweep began, in clock ticks since boot, and
/// `prev_time_ns` the same instant on the snapshots' clock: a task that started then or
/// later counts from zero since then. A thread group's start is its [`Start::Given`] in
/// ticks; a thread's ([`Start::Btime`], whole seconds) is told by `age_us`, its
/// `ac_etime` when `cur` was taken: born then or later when that is at most the time
/// since `prev_time_ns`.
pub fn pair(
    prev: Option<&Snapshot>,
    cur: &Snapshot,
    age_us: Option<u64>,
    born_after: u64,
    prev_time_ns: u64,
) -> Option<Deltas> {
    if let Some(prev) = prev {
        match Deltas::between(prev, cur) {
            Ok(d) => return Some(d),
            // The id was reused: the task here now may be new since the last sweep.
            Err(Skip::NewTask) => {}
            // Counters went backwards (or no time passed): this snapshot is the new
            // baseline.
            Err(_) => return None,
        }
    }
    let born = match cur.identity().start {
        Start::Given(start) => start >= born_after,
        // The reply's age against our clock read after it: a thread born just before the
        // previous sweep began can pass for born since, by the time its answer waited.
        Start::Btime(_) => age_us.is_some_and(|us| {
            us.saturating_mul(1000) <= cur.time_ns().saturating_sub(prev_time_ns)
        }),
    };
    // Not new, yet not seen last time (its answer was lost): it has no baseline.
    if !born {
        return None;
    }
    from_zero(cur, prev_time_ns)
}

/// The whole of `cur`'s counters, as the deltas of a task that started after
/// `since_ns`.
fn from_zero(cur: &Snapshot, since_ns: u64) -> Option<Deltas> {
    let interval_ns = cur.time_ns().checked_sub(since_ns).filter(|&i| i > 0)?;
    let mut d = Deltas::empty(interval_ns);
    d.cpu_us = cur.cpu_us();
    d.read_bytes = cur.read_bytes();
    d.write_bytes = cur.write_bytes();
    for (slot, &delay) in d.delays.iter_mut().zip(Delay::ALL) {
        *slot = cur.delay(delay);
    }
    Some(d)
}

fn peaks(s: &Snapshot) -> [Option<Peak>; DELAYS] {
    // None for a thread group: Snapshot keeps no peak the kernel did not sum.
    let mut p = [None; DELAYS];
    for (slot, &d) in p.iter_mut().zip(Delay::ALL) {
        *slot = s.peak(d);
    }
    p
}

/// Now on `CLOCK_BOOTTIME`, in ns: the clock /proc start times count on, so a task's
/// start can be compared with a sweep's.
pub fn now_ns() -> u64 {
    let (sec, nsec) = clock::boottime();
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// `ns` since boot in clock ticks, rounded down as the kernel rounds a start time.
pub fn ns_to_ticks(ns: u64, ticks_per_s: u64) -> u64 {
    let per_tick = 1_000_000_000 / ticks_per_s.max(1);
    ns / per_tick.max(1)
}

#[cfg(test)]
mod tests;
