//! The pairing rules on synthetic snapshots, and the lister on a fake /proc tree.

use super::*;
use taskwire_core::fixtures::synthetic;
use taskwire_core::taskstats::{Field, Kind, Taskstats, put_field};

const SECOND: u64 = 1_000_000_000;
/// The previous sweep began at 100 s after boot: tick 10000 at 100 Hz.
const PREV_NS: u64 = 100 * SECOND;
const PREV_TICKS: u64 = 10_000;

/// A thread group's snapshot at `time_ns`: started at tick `start`, `cpu_us` of CPU and
/// `blkio_ns` of IO delay so far (every other counter 1000, as `synthetic` leaves them).
fn snap(id: u32, start: u64, cpu_us: u64, blkio_ns: u64, time_ns: u64) -> Snapshot {
    let mut s = synthetic(16);
    put_field(&mut s, 16, Field::AcUtime, cpu_us).unwrap();
    put_field(&mut s, 16, Field::AcStime, 0).unwrap();
    put_field(&mut s, 16, Field::BlkioDelayTotal, blkio_ns).unwrap();
    let identity = Identity {
        kind: Kind::Tgid,
        id,
        start: Start::Given(start),
    };
    Snapshot::new(identity, &Taskstats::new(&s).unwrap(), time_ns)
}

fn entry(s: Snapshot) -> Entry {
    Entry {
        snap: s,
        comm: Comm::new(b"t"),
    }
}

#[test]
fn a_task_seen_twice_gets_its_interval() {
    let prev = snap(7, 50, 1_000_000, 0, PREV_NS + 1000);
    let cur = snap(7, 50, 1_500_000, 20_000_000, PREV_NS + 2 * SECOND);
    let d = pair(Some(&prev), &cur, PREV_TICKS, PREV_NS).unwrap();
    assert_eq!(d.cpu_us, Some(500_000));
    assert_eq!(d.delay(Delay::Blkio).map(|c| c.total_ns), Some(20_000_000));
    assert_eq!(d.interval_ns, 2 * SECOND - 1000);
}

#[test]
fn a_task_born_during_the_interval_counts_from_zero() {
    // Started at tick 10050 (half a second after the previous sweep began).
    let cur = snap(8, PREV_TICKS + 50, 300_000, 0, PREV_NS + 2 * SECOND);
    let d = pair(None, &cur, PREV_TICKS, PREV_NS).unwrap();
    assert_eq!(d.cpu_us, Some(300_000));
    assert_eq!(d.interval_ns, 2 * SECOND, "the whole interval");
    // Born in the very tick the sweep began: counted, not dropped.
    assert!(
        pair(
            None,
            &snap(8, PREV_TICKS, 0, 0, PREV_NS + 1),
            PREV_TICKS,
            PREV_NS
        )
        .is_some()
    );
}

#[test]
fn a_task_older_than_the_last_sweep_but_unseen_has_no_baseline() {
    let cur = snap(9, PREV_TICKS - 1, 300_000, 0, PREV_NS + 2 * SECOND);
    assert_eq!(pair(None, &cur, PREV_TICKS, PREV_NS), None);
}

#[test]
fn a_reused_pid_is_never_paired_with_the_old_task() {
    let old = snap(10, 40, 9_000_000, 0, PREV_NS + 1000);
    // The new task with pid 10 started after the previous sweep: from zero, not the
    // difference (which would go backwards, or mix two tasks).
    let new = snap(10, PREV_TICKS + 10, 200_000, 0, PREV_NS + SECOND);
    let d = pair(Some(&old), &new, PREV_TICKS, PREV_NS).unwrap();
    assert_eq!(d.cpu_us, Some(200_000));
    // A new start time from before the previous sweep (a clock oddity): not shown.
    let odd = snap(10, 41, 9_500_000, 0, PREV_NS + SECOND);
    assert_eq!(pair(Some(&old), &odd, PREV_TICKS, PREV_NS), None);
}

#[test]
fn counters_going_backwards_are_a_new_baseline() {
    let prev = snap(11, 50, 2_000_000, 0, PREV_NS);
    let cur = snap(11, 50, 1_000_000, 0, PREV_NS + SECOND);
    assert_eq!(pair(Some(&prev), &cur, PREV_TICKS, PREV_NS), None);
    // ... from which the next interval is measured.
    let next = snap(11, 50, 1_100_000, 0, PREV_NS + 2 * SECOND);
    assert_eq!(
        pair(Some(&cur), &next, PREV_TICKS, PREV_NS).and_then(|d| d.cpu_us),
        Some(100_000)
    );
}

#[test]
fn tables_pair_by_id_and_drop_the_exited() {
    let t = PREV_NS + SECOND;
    let prev = [
        entry(snap(1, 10, 0, 0, PREV_NS)),
        entry(snap(2, 10, 0, 0, PREV_NS)), // exits
        entry(snap(5, 10, 0, 0, PREV_NS)),
    ];
    let cur = [
        entry(snap(1, 10, 10, 0, t)),
        entry(snap(3, PREV_TICKS + 1, 30, 0, t)), // born
        entry(snap(4, 10, 40, 0, t)),             // unseen before, old: no baseline
        entry(snap(5, 10, 50, 0, t)),
    ];
    let mut rows = Vec::new();
    pair_tables(&prev, &cur, PREV_TICKS, PREV_NS, &mut rows);
    let got: Vec<(u32, Option<u64>)> = rows.iter().map(|r| (r.id, r.deltas.cpu_us)).collect();
    assert_eq!(got, [(1, Some(10)), (3, Some(30)), (5, Some(50))]);
    assert!(
        rows.iter().all(|r| r.peaks.iter().all(Option::is_none)),
        "no peaks for groups"
    );
}

#[test]
fn ticks_round_down_as_the_kernel_does() {
    assert_eq!(ns_to_ticks(100 * SECOND + 9_999_999, 100), 10_000);
    assert_eq!(ns_to_ticks(100 * SECOND + 10_000_000, 100), 10_001);
    assert_eq!(
        ns_to_ticks(5 * SECOND, 0),
        5,
        "a zero tick rate is taken as 1 Hz"
    );
}

#[test]
fn boottime_agrees_with_proc_start_times() {
    // This process started before now: its start tick is at most now's.
    let line = std::fs::read_to_string("/proc/self/stat").unwrap();
    let stat = crate::procfs::parse_stat(line.as_bytes()).unwrap();
    let now = ns_to_ticks(now_ns(), taskwire_cli::sys::clock::clock_ticks_per_second());
    assert!(stat.starttime <= now, "{} > {now}", stat.starttime);
    assert!(
        now - stat.starttime < 100 * 3600,
        "the clocks differ by hours"
    );
}

mod lister {
    use super::super::tasks::{Lister, Select};
    use crate::client::Target;
    use crate::procfs::Proc;
    use std::fs;
    use std::path::Path;

    fn stat_line(pid: u32, comm: &str, start: u64) -> String {
        // Fields 3..22: state, then 18 numbers, starttime last.
        format!("{pid} ({comm}) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 0 0\n")
    }

    /// /proc with groups 1 (one thread) and 20 (threads 20, 21), a non-pid entry and
    /// a file that looks like a pid.
    fn tree(dir: &Path) {
        for (g, threads) in [(1u32, &[1u32][..]), (20, &[20, 21])] {
            let gdir = dir.join(g.to_string());
            fs::create_dir_all(gdir.join("task")).unwrap();
            fs::write(gdir.join("stat"), stat_line(g, "grp", 100 + u64::from(g))).unwrap();
            for &t in threads {
                let tdir = gdir.join("task").join(t.to_string());
                fs::create_dir_all(&tdir).unwrap();
                fs::write(tdir.join("stat"), stat_line(t, "thr", 200 + u64::from(t))).unwrap();
            }
        }
        fs::create_dir_all(dir.join("sys")).unwrap();
        fs::write(dir.join("33"), "a file, not a task").unwrap();
        // Thread 21's own /proc/21 entry (hidden from listings on a real /proc).
        fs::create_dir_all(dir.join("21")).unwrap();
        fs::write(dir.join("21/stat"), stat_line(21, "thr", 221)).unwrap();
    }

    fn list(select: Select) -> Vec<(Target, u64, String)> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("taskwire-live-{}-{n}", std::process::id()));
        tree(&dir);
        let mut l = Lister::new(Proc::open_at(&dir).unwrap(), select);
        let mut out = Vec::new();
        let listed = l.list(&mut out);
        let _ = fs::remove_dir_all(&dir);
        listed.unwrap();
        out.iter()
            .map(|l| {
                let comm = String::from_utf8_lossy(l.comm.as_bytes()).into_owned();
                (l.target, l.start, comm)
            })
            .collect()
    }

    #[test]
    fn thread_groups_and_threads() {
        let groups = list(Select::default());
        // /proc/21 exists only in this fake tree's listing; a real one hides it.
        let ids: Vec<Target> = groups.iter().map(|g| g.0).collect();
        assert_eq!(ids, [Target::Tgid(1), Target::Tgid(20), Target::Tgid(21)]);
        assert_eq!(groups[1].1, 120);
        assert_eq!(groups[1].2, "grp");
        let threads = list(Select {
            threads: true,
            tgids: vec![20],
            ..Select::default()
        });
        assert_eq!(
            threads,
            [
                (Target::Pid(20), 220, "thr".to_owned()),
                (Target::Pid(21), 221, "thr".to_owned())
            ]
        );
    }

    #[test]
    fn filters() {
        let by_pid = list(Select {
            pids: vec![20, 999],
            ..Select::default()
        });
        assert_eq!(by_pid.len(), 1, "a gone pid is left out: {by_pid:?}");
        assert_eq!(by_pid[0].0, Target::Tgid(20));
        let thread = list(Select {
            threads: true,
            pids: vec![21],
            ..Select::default()
        });
        assert_eq!(thread, [(Target::Pid(21), 221, "thr".to_owned())]);
    }
}
