//! `taskwire top` against the real kernel: workloads with known delays show up in the
//! right task, category and order of magnitude; an idle task shows zero.

#[macro_use]
mod common;

use std::process::Command;
use std::time::Duration;

use common::{Load, json, tw, wait_comm};
use serde_json::Value;

/// `top ARGS --format json`'s rows, checked to be JSON objects of type task.
fn rows(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["top", "--format", "json"];
    all.extend_from_slice(args);
    let out = tw(&all);
    assert_eq!(out.code(), 0, "{out:?}");
    out.stdout
        .lines()
        .map(|l| {
            let v = json(l);
            assert_eq!(v["type"], "task", "{l}");
            v
        })
        .collect()
}

fn f(v: &Value, key: &str) -> f64 {
    v.get(key)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no {key} in {v}"))
}

fn row_of<'a>(rows: &'a [Value], key: &str, id: u32) -> &'a Value {
    rows.iter()
        .find(|r| r[key].as_u64() == Some(u64::from(id)))
        .unwrap_or_else(|| panic!("no row with {key} {id} in {rows:?}"))
}

#[test]
fn busy_threads_beyond_the_cpus_show_cpu_delay_summed_per_group() {
    require_kernel!();
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads = (2 * cpus).max(4);
    let load = Load::start(&["busy", &threads.to_string()]);
    let pid = load.pid().to_string();
    let group = rows(&["--once", "--interval", "1", "--tgid", &pid]);
    assert_eq!(group.len(), 1, "{group:?}");
    let g = &group[0];
    let (cpu, wait) = (f(g, "cpu_pct"), f(g, "cpu_delay_pct"));
    // Threads that never sleep are either running or waiting for a CPU: the two add up
    // to about the thread count times 100% when the group's threads are summed (one
    // thread could not pass 100%), and with more threads than CPUs the wait is a large
    // share of it.
    let total = cpu + wait;
    let want = threads as f64 * 100.0;
    assert!(
        total > 0.6 * want && total < 1.4 * want,
        "cpu {cpu} + wait {wait} not near {want}: {g}"
    );
    assert!(wait > 0.25 * want, "cpu_delay_pct {wait}: {g}");
    // That sum (over 60% of threads x 100%) is past what one thread can reach, so it
    // proves the summing; cpu_pct alone passing 100 would need the spinners to get more
    // than one CPU, which a machine running other tests (CI runs them in parallel) does
    // not promise.
    assert!(f(g, "cpu_per_s") > 1.0, "{g}");
    assert_eq!(g["comm"], "liveload");
    assert!(
        g.get("read_bytes_per_s").is_none(),
        "not summed per group: {g}"
    );

    // --threads: one row per thread, each at most about one CPU.
    let each = rows(&["--once", "--interval", "1", "--threads", "--tgid", &pid]);
    assert_eq!(
        each.len(),
        threads + 2,
        "the spinners, main and stdin threads: {each:?}"
    );
    // Each spinner runs or waits for all of the interval; the other two sleep.
    let runnable = |r: &Value| f(r, "cpu_pct") + f(r, "cpu_delay_pct");
    let busy = each.iter().filter(|r| runnable(r) > 50.0).count();
    assert_eq!(busy, threads, "{each:?}");
    assert!(each.iter().all(|r| f(r, "cpu_pct") < 105.0), "{each:?}");
    assert!(each.iter().all(|r| runnable(r) < 140.0), "{each:?}");
    assert!(
        each.iter()
            .all(|r| r.get("pid").is_some() && r.get("tgid").is_none())
    );
    assert!(
        each[0].get("read_bytes_per_s").is_some(),
        "per thread: {:?}",
        each[0]
    );
}

#[test]
fn an_idle_task_shows_zero() {
    require_kernel!();
    let mut sleeper = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = sleeper.id();
    wait_comm(pid, "sleep");
    // Past its start-up (the dynamic loader runs after exec).
    std::thread::sleep(Duration::from_millis(500));
    let rows = rows(&["--once", "--interval", "1", "--pid", &pid.to_string()]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let r = row_of(&rows, "tgid", pid);
    assert_eq!(r["cpu_pct"].to_string(), "0.0", "{r}");
    for c in [
        "cpu",
        "blkio",
        "swapin",
        "freepages",
        "thrashing",
        "compact",
        "wpcopy",
        "irq",
    ] {
        assert_eq!(f(r, &format!("{c}_delay_pct")), 0.0, "{c}: {r}");
        assert_eq!(f(r, &format!("{c}_per_s")), 0.0, "{c}: {r}");
    }
    let ms = f(r, "interval_ms");
    assert!((900.0..3000.0).contains(&ms), "interval_ms {ms}");
}

#[test]
fn a_task_born_during_the_interval_is_shown() {
    require_kernel!();
    let mut cmd = Command::new(common::taskwire());
    cmd.args(["top", "--once", "--interval", "3", "--format", "json"]);
    let top = std::thread::spawn(move || common::output(cmd, Duration::from_secs(20)));
    // Well after the baseline sweep, well before the end of the interval.
    std::thread::sleep(Duration::from_millis(1200));
    let mut child = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    let out = top.join().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    let rows: Vec<Value> = out.stdout.lines().map(json).collect();
    let r = row_of(&rows, "tgid", pid);
    // Its whole life so far counts, over the whole interval.
    assert!(f(r, "interval_ms") > 2500.0, "{r}");
    assert!(f(r, "cpu_pct") < 50.0, "{r}");
}

#[test]
fn a_thread_born_during_the_interval_is_shown_with_threads() {
    require_kernel!();
    // --threads knows a thread by its reply alone: its name (ac_comm) and its age
    // (ac_etime) say it was born since the baseline sweep.
    let mut cmd = Command::new(common::taskwire());
    cmd.args([
        "top",
        "--once",
        "--interval",
        "3",
        "--threads",
        "--format",
        "json",
    ]);
    let top = std::thread::spawn(move || common::output(cmd, Duration::from_secs(20)));
    std::thread::sleep(Duration::from_millis(1200));
    let mut child = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    let out = top.join().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    let rows: Vec<Value> = out.stdout.lines().map(json).collect();
    let r = row_of(&rows, "pid", pid);
    assert_eq!(r["comm"], "sleep", "{r}");
    assert!(f(r, "interval_ms") > 2500.0, "{r}");
    assert!(f(r, "cpu_pct") < 50.0, "{r}");
    // This test's own threads are there too, each named as /proc names it.
    let me = std::process::id();
    let main = row_of(&rows, "pid", me);
    let comm = std::fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
    assert_eq!(main["comm"], comm.trim_end_matches('\n'), "{main}");
}

#[test]
fn csv_and_json_name_and_agree_on_the_same_values() {
    require_kernel!();
    let mut sleeper = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = sleeper.id();
    wait_comm(pid, "sleep");
    // Past its start-up (the dynamic loader runs after exec): idle in both runs, so that
    // both print the same values.
    std::thread::sleep(Duration::from_millis(500));
    let id = pid.to_string();
    let base = [
        "top",
        "--once",
        "--interval",
        "0.5",
        "--threads",
        "--pid",
        &id,
    ];
    let csv = tw(&[&base[..], &["--format", "csv"]].concat());
    let js = tw(&[&base[..], &["--format", "json"]].concat());
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(csv.code(), 0, "{csv:?}");
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one row: {}", csv.stdout);
    let names: Vec<&str> = lines[0].split(',').collect();
    let cells: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(names.len(), cells.len());
    assert_eq!(&names[..4], ["pid", "comm", "interval_ms", "cpu_pct"]);
    let v = json(js.stdout.trim_end());
    for (name, cell) in names.iter().zip(&cells) {
        // The two runs measured two intervals: only the length may differ.
        if *name == "interval_ms" {
            continue;
        }
        match v.get(*name) {
            None => assert!(cell.is_empty(), "{name}: csv {cell:?}, absent in {v}"),
            Some(Value::String(s)) => assert_eq!(s, cell, "{name}"),
            Some(n) => {
                let c: f64 = cell.parse().unwrap_or_else(|_| panic!("{name}: {cell:?}"));
                assert_eq!(n.as_f64(), Some(c), "{name}");
            }
        }
    }
    // Every JSON member is a CSV column (type aside).
    for key in v.as_object().unwrap().keys() {
        assert!(key == "type" || names.contains(&key.as_str()), "{key}");
    }
}

/// Turns delay accounting on for the test, and back to what it was on drop.
struct DelayAcct(String);

impl Drop for DelayAcct {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/kernel/task_delayacct", &self.0);
    }
}

/// A file-backed loop device, detached (and its file removed) on drop.
struct LoopDev {
    dev: String,
    file: std::path::PathBuf,
}

impl LoopDev {
    fn attach() -> Result<LoopDev, String> {
        let file = std::env::temp_dir().join(format!("taskwire-top-loop-{}", std::process::id()));
        let f = std::fs::File::create(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        f.set_len(64 << 20).map_err(|e| e.to_string())?;
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&file)
            .output()
            .map_err(|e| format!("losetup: {e}"));
        let out = match out {
            Ok(o) if o.status.success() => o,
            Ok(o) => {
                let _ = std::fs::remove_file(&file);
                return Err(format!(
                    "losetup: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&file);
                return Err(e);
            }
        };
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Ok(LoopDev { dev, file })
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
        let _ = std::fs::remove_file(&self.file);
    }
}

#[test]
fn direct_reads_from_a_loop_device_show_blkio_delay() {
    require_kernel!();
    let dev = match LoopDev::attach() {
        Ok(d) => d,
        Err(why) => {
            common::skip(&format!("no loop device: {why}"));
            return;
        }
    };
    let before = std::fs::read_to_string("/proc/sys/kernel/task_delayacct")
        .unwrap_or_else(|_| "0\n".to_owned());
    let _restore = DelayAcct(before);
    // Delay accounting covers tasks forked after it is turned on: turn it on first (top's
    // --enable-delayacct below then finds it on).
    if let Err(e) = std::fs::write("/proc/sys/kernel/task_delayacct", "1") {
        common::skip(&format!("cannot turn delay accounting on: {e}"));
        return;
    }
    let reader = Load::start(&["blkio", &dev.dev]);
    let pid = reader.pid().to_string();
    let rows = rows(&[
        "--once",
        "--interval",
        "1",
        "--enable-delayacct",
        "--tgid",
        &pid,
    ]);
    let r = row_of(&rows, "tgid", reader.pid());
    let (wait, per_s) = (f(r, "blkio_delay_pct"), f(r, "blkio_per_s"));
    // One thread doing nothing but synchronous reads waits on IO for much of the
    // interval, hundreds of times a second (or more), and never on swap or reclaim.
    // No upper bound: the kernel times a block wait from the sleeping CPU's clock to the
    // waking CPU's, and where sched_clock is not stable across CPUs (some VMs) every
    // wait gains the skew and only positive results count; a CI machine showed 3,687%.
    assert!(wait > 5.0, "blkio_delay_pct {wait}: {r}");
    assert!(per_s > 50.0, "blkio_per_s {per_s}: {r}");
    assert_eq!(f(r, "swapin_delay_pct"), 0.0, "{r}");
    // The same reader as a thread: its storage bytes are not counted (the reads bypass
    // the page cache of a block device, whose bytes count as read_bytes).
    let each = self::rows(&["--once", "--interval", "1", "--threads", "--tgid", &pid]);
    let t = each
        .iter()
        .max_by(|a, b| f(a, "blkio_delay_pct").total_cmp(&f(b, "blkio_delay_pct")))
        .unwrap();
    // Above zero rather than the group's 5%: a second interval on a loaded machine may
    // give the reader little CPU to issue reads with.
    assert!(f(t, "blkio_delay_pct") > 0.5, "{t} of {each:?}");
    assert!(
        f(t, "read_bytes_per_s") > 100_000.0,
        "4 KiB reads, hundreds a second: {t}"
    );
    // Peaks from struct version 16 on (this kernel's), per thread.
    assert!(t.get("blkio_delay_max_ns").is_some(), "{t}");
}
