//! The pairing rules on synthetic snapshots, and the lister on a fake /proc tree.

use super::*;
use crate::client::Target;
use taskwire_core::fixtures::synthetic;
use taskwire_core::taskstats::{Field, Kind, Taskstats, put_comm, put_field};

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
        age_us: None,
    }
}

/// A thread's entry as its reply by pid makes it (`--threads`): started at `btime` (s
/// since the epoch), `age_us` old and `cpu_us` of CPU so far when taken at `time_ns`.
fn thread(id: u32, btime: u64, age_us: u64, cpu_us: u64, time_ns: u64) -> Entry {
    let mut s = synthetic(16);
    put_field(&mut s, 16, Field::AcUtime, cpu_us).unwrap();
    put_field(&mut s, 16, Field::AcStime, 0).unwrap();
    put_field(&mut s, 16, Field::AcBtime64, btime).unwrap();
    put_field(&mut s, 16, Field::AcEtime, age_us).unwrap();
    put_comm(&mut s, 16, b"worker").unwrap();
    Entry::new(Target::Pid(id), &Taskstats::new(&s).unwrap(), &[], time_ns).unwrap()
}

/// A thread's interval as the table pairs it.
fn pair_threads(prev: Option<&Entry>, cur: &Entry) -> Option<Deltas> {
    pair(
        prev.map(|p| &p.snap),
        &cur.snap,
        cur.age_us,
        PREV_TICKS,
        PREV_NS,
    )
}

#[test]
fn a_task_seen_twice_gets_its_interval() {
    let prev = snap(7, 50, 1_000_000, 0, PREV_NS + 1000);
    let cur = snap(7, 50, 1_500_000, 20_000_000, PREV_NS + 2 * SECOND);
    let d = pair(Some(&prev), &cur, None, PREV_TICKS, PREV_NS).unwrap();
    assert_eq!(d.cpu_us, Some(500_000));
    assert_eq!(d.delay(Delay::Blkio).map(|c| c.total_ns), Some(20_000_000));
    assert_eq!(d.interval_ns, 2 * SECOND - 1000);
}

#[test]
fn a_task_born_during_the_interval_counts_from_zero() {
    // Started at tick 10050 (half a second after the previous sweep began).
    let cur = snap(8, PREV_TICKS + 50, 300_000, 0, PREV_NS + 2 * SECOND);
    let d = pair(None, &cur, None, PREV_TICKS, PREV_NS).unwrap();
    assert_eq!(d.cpu_us, Some(300_000));
    assert_eq!(d.interval_ns, 2 * SECOND, "the whole interval");
    // Born in the very tick the sweep began: counted, not dropped.
    assert!(
        pair(
            None,
            &snap(8, PREV_TICKS, 0, 0, PREV_NS + 1),
            None,
            PREV_TICKS,
            PREV_NS
        )
        .is_some()
    );
}

#[test]
fn a_task_older_than_the_last_sweep_but_unseen_has_no_baseline() {
    let cur = snap(9, PREV_TICKS - 1, 300_000, 0, PREV_NS + 2 * SECOND);
    assert_eq!(pair(None, &cur, None, PREV_TICKS, PREV_NS), None);
}

#[test]
fn a_reused_pid_is_never_paired_with_the_old_task() {
    let old = snap(10, 40, 9_000_000, 0, PREV_NS + 1000);
    // The new task with pid 10 started after the previous sweep: from zero, not the
    // difference (which would go backwards, or mix two tasks).
    let new = snap(10, PREV_TICKS + 10, 200_000, 0, PREV_NS + SECOND);
    let d = pair(Some(&old), &new, None, PREV_TICKS, PREV_NS).unwrap();
    assert_eq!(d.cpu_us, Some(200_000));
    // A new start time from before the previous sweep (a clock oddity): not shown.
    let odd = snap(10, 41, 9_500_000, 0, PREV_NS + SECOND);
    assert_eq!(pair(Some(&old), &odd, None, PREV_TICKS, PREV_NS), None);
}

#[test]
fn a_thread_is_known_by_its_reply_alone() {
    let t = thread(12, 1_800_000_000, 5_000_000, 7, PREV_NS);
    assert_eq!(t.snap.identity().kind, Kind::Pid);
    assert_eq!(t.snap.identity().start, Start::Btime(1_800_000_000));
    assert_eq!(t.age_us, Some(5_000_000));
    assert_eq!(t.comm.as_bytes(), b"worker", "ac_comm");
    // A zero btime is a real one (a board whose clock starts at the epoch), not absent.
    let epoch = thread(1, 0, 100, 7, PREV_NS);
    assert_eq!(epoch.snap.identity().start, Start::Btime(0));
    let later = thread(1, 0, 100 + 2_000_000, 9, PREV_NS + 2 * SECOND);
    assert_eq!(
        pair_threads(Some(&epoch), &later).and_then(|d| d.cpu_us),
        Some(2)
    );
}

#[test]
fn a_thread_seen_twice_gets_its_interval_whatever_second_its_btime_says() {
    // btime is whole seconds computed per reply: one second apart is the same thread.
    let prev = thread(12, 1_800_000_000, 50 * 1_000_000, 1_000, PREV_NS);
    for btime in [1_800_000_000 - 1, 1_800_000_000, 1_800_000_001] {
        let cur = thread(12, btime, 51 * 1_000_000, 1_500, PREV_NS + SECOND);
        let d = pair_threads(Some(&prev), &cur).unwrap();
        assert_eq!((d.cpu_us, d.interval_ns), (Some(500), SECOND), "{btime}");
    }
}

#[test]
fn a_reused_pid_in_threads_mode_is_a_new_task_when_its_btime_is_over_a_second_off() {
    let old = thread(13, 1_800_000_000, 50 * 1_000_000, 9_000_000, PREV_NS);
    // Pid 13 again, started 2 s after the old one, 0.3 s ago, after the previous sweep:
    // from zero over the interval, never the old thread's counters subtracted.
    let new = thread(13, 1_800_000_002, 300_000, 200_000, PREV_NS + SECOND);
    let d = pair_threads(Some(&old), &new).unwrap();
    assert_eq!((d.cpu_us, d.interval_ns), (Some(200_000), SECOND));
    // Another start more than a second off that is older than the previous sweep (the
    // wall clock stepped): a new baseline, not shown.
    let stepped = thread(
        13,
        1_800_000_000 + 3600,
        51 * 1_000_000,
        9_100_000,
        PREV_NS + SECOND,
    );
    assert_eq!(pair_threads(Some(&old), &stepped), None);
    // Within the second the btime allows, the same task (the documented caveat): here its
    // lower counters read as going backwards, a new baseline.
    let same_second = thread(13, 1_800_000_001, 300_000, 200_000, PREV_NS + SECOND);
    assert_eq!(pair_threads(Some(&old), &same_second), None);
}

#[test]
fn a_thread_born_during_the_interval_counts_from_zero_by_its_age() {
    // 0.5 s old, answered 2 s after the previous sweep began: born 1.5 s into the interval.
    let cur = thread(14, 1_800_000_000, 500_000, 300_000, PREV_NS + 2 * SECOND);
    let d = pair_threads(None, &cur).unwrap();
    assert_eq!((d.cpu_us, d.interval_ns), (Some(300_000), 2 * SECOND));
    // Born the very moment the previous sweep began: counted.
    let edge = thread(14, 1_800_000_000, 2_000_000, 1, PREV_NS + 2 * SECOND);
    assert!(pair_threads(None, &edge).is_some());
    // A microsecond older, unseen last time (its answer lost): no baseline, not shown.
    let older = thread(14, 1_800_000_000, 2_000_001, 1, PREV_NS + 2 * SECOND);
    assert_eq!(pair_threads(None, &older), None);
    // A reply without ac_etime cannot tell: not shown rather than guessed.
    assert_eq!(
        pair(None, &cur.snap, None, PREV_TICKS, PREV_NS),
        None,
        "no age"
    );
}

#[test]
fn counters_going_backwards_are_a_new_baseline() {
    let prev = snap(11, 50, 2_000_000, 0, PREV_NS);
    let cur = snap(11, 50, 1_000_000, 0, PREV_NS + SECOND);
    assert_eq!(pair(Some(&prev), &cur, None, PREV_TICKS, PREV_NS), None);
    // ... from which the next interval is measured.
    let next = snap(11, 50, 1_100_000, 0, PREV_NS + 2 * SECOND);
    assert_eq!(
        pair(Some(&cur), &next, None, PREV_TICKS, PREV_NS).and_then(|d| d.cpu_us),
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
    // Init started before now: its start tick is at most now's. (Not /proc/self: qemu-user
    // fakes the emulated process's own stat line, state letter included.)
    let line = std::fs::read_to_string("/proc/1/stat").unwrap();
    let stat = crate::procfs::parse_stat(line.as_bytes()).unwrap();
    let hz = taskwire_cli::sys::clock::clock_ticks_per_second();
    let now = ns_to_ticks(now_ns(), hz);
    assert!(stat.starttime <= now, "{} > {now}", stat.starttime);
    // And the boot clock is the one /proc/uptime reads (seconds since boot, suspend
    // included), to within a few seconds.
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap();
    let secs: f64 = uptime.split_whitespace().next().unwrap().parse().unwrap();
    let uptime_ticks = (secs * hz as f64) as u64;
    assert!(
        now.abs_diff(uptime_ticks) < 5 * hz,
        "boot clock {now} ticks, /proc/uptime {uptime_ticks}"
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
    /// a file that looks like a pid. A thread's own stat file holds no stat line: a thread
    /// is listed by its id alone (its reply carries the rest), so reading it would fail.
    fn tree(dir: &Path) {
        for (g, threads) in [(1u32, &[1u32][..]), (20, &[20, 21])] {
            let gdir = dir.join(g.to_string());
            fs::create_dir_all(gdir.join("task")).unwrap();
            fs::write(gdir.join("stat"), stat_line(g, "grp", 100 + u64::from(g))).unwrap();
            for &t in threads {
                let tdir = gdir.join("task").join(t.to_string());
                fs::create_dir_all(&tdir).unwrap();
                fs::write(tdir.join("stat"), "not read").unwrap();
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
                (Target::Pid(20), 0, String::new()),
                (Target::Pid(21), 0, String::new())
            ]
        );
        let all = list(Select {
            threads: true,
            ..Select::default()
        });
        let ids: Vec<Target> = all.iter().map(|t| t.0).collect();
        assert_eq!(
            ids,
            [Target::Pid(1), Target::Pid(20), Target::Pid(21)],
            "each group's task directory, /proc/21 adding none"
        );
    }

    #[test]
    fn a_kernel_threads_name_is_read_from_proc_on_demand() {
        let dir = std::env::temp_dir().join(format!("taskwire-live-{}-kt", std::process::id()));
        tree(&dir);
        let mut l = Lister::new(Proc::open_at(&dir).unwrap(), Select::default());
        let (grp, gone, bad) = (l.proc_comm(20), l.proc_comm(999), l.proc_comm(33));
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(grp.map(|c| c.as_bytes().to_vec()), Some(b"grp".to_vec()));
        assert_eq!(
            (gone, bad),
            (None, None),
            "gone, or not a task: the reply's name stays"
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
        // --threads --pid names threads, listed unread: a gone one's query says ESRCH.
        let thread = list(Select {
            threads: true,
            pids: vec![999, 21],
            ..Select::default()
        });
        assert_eq!(
            thread,
            [
                (Target::Pid(21), 0, String::new()),
                (Target::Pid(999), 0, String::new())
            ]
        );
        // --threads --tgid: the group's threads, and --pid adds one more.
        let both = list(Select {
            threads: true,
            pids: vec![1],
            tgids: vec![20],
            ..Select::default()
        });
        let ids: Vec<Target> = both.iter().map(|t| t.0).collect();
        assert_eq!(ids, [Target::Pid(1), Target::Pid(20), Target::Pid(21)]);
    }
}

/// `--threads` against the real kernel: a thread's name and birth come from its reply.
mod real {
    use std::sync::mpsc;
    use std::thread::JoinHandle;
    use std::time::Duration;

    use rustix::io::Errno;

    use super::super::{Live, Select};
    use crate::client::Client;
    use crate::errors::ClientError;

    /// A client, or `None` (said why) where taskstats cannot be reached.
    fn connect() -> Option<Client> {
        match Client::connect() {
            Ok(c) => Some(c),
            Err(e @ ClientError::Os { errno, .. })
                if crate::socket::unavailable(errno)
                    || matches!(errno, Errno::PERM | Errno::ACCESS | Errno::NOENT) =>
            {
                eprintln!("skipped: {e}");
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// A thread that names itself `name` (std sets it with pthread_setname_np, which is
    /// prctl(PR_SET_NAME) for the calling thread) and sleeps until the sender is dropped.
    fn named(name: &str) -> (u32, mpsc::Sender<()>, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel();
        let (wake, sleep) = mpsc::channel::<()>();
        let t = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                tx.send(rustix::thread::gettid().as_raw_nonzero().get() as u32)
                    .unwrap();
                let _ = sleep.recv();
            })
            .unwrap();
        (rx.recv().unwrap(), wake, t)
    }

    fn proc_comm(tid: u32) -> String {
        std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
            .unwrap()
            .trim_end_matches('\n')
            .to_owned()
    }

    #[test]
    fn threads_take_their_name_and_birth_from_the_reply() {
        let Some(mut client) = connect() else { return };
        let (old, wake_old, t_old) = named("tw-named");
        let mut live = Live::new(Select {
            threads: true,
            tgids: vec![std::process::id()],
            ..Select::default()
        })
        .unwrap();
        let base = live.sweep(&mut client).unwrap();
        assert!(base.baseline && base.rows.is_empty());
        std::thread::sleep(Duration::from_millis(50));
        let (born, wake_born, t_born) = named("tw-born");
        std::thread::sleep(Duration::from_millis(50));
        let iv = live.sweep(&mut client).unwrap();
        let row = |tid: u32| {
            iv.rows
                .iter()
                .find(|r| r.id == tid)
                .unwrap_or_else(|| panic!("no row for thread {tid}: {:?}", iv.rows))
        };
        let r = row(old);
        assert_eq!(r.comm.as_bytes(), proc_comm(old).as_bytes());
        assert_eq!(r.comm.as_bytes(), b"tw-named");
        assert!(r.deltas.interval_ns > 0);
        // Born between the sweeps: shown, counted over the whole interval.
        let r = row(born);
        assert_eq!(r.comm.as_bytes(), proc_comm(born).as_bytes());
        assert_eq!(r.comm.as_bytes(), b"tw-born");
        assert!(r.deltas.interval_ns >= iv.interval_ns, "{:?}", r.deltas);
        drop((wake_old, wake_born));
        t_old.join().unwrap();
        t_born.join().unwrap();
    }
}
