//! `taskwire listen` against the real kernel, driven by the storm workload.

#[macro_use]
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Listener, json, num, output, storm, unique_comm};

/// Runs storm with `args` and returns its pid.
fn run_storm(args: &[&str]) -> u32 {
    let mut cmd = Command::new(storm());
    cmd.args(args).stdout(Stdio::null());
    let mut child = cmd.spawn().expect("spawn storm");
    let pid = child.id();
    let status = common::wait_deadline(&mut child, Duration::from_secs(60)).expect("storm hung");
    assert!(status.success(), "storm {args:?}: {status}");
    pid
}

fn records(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(json).collect()
}

fn loss_events(stderr: &[String]) -> u64 {
    let summary = stderr
        .iter()
        .find(|l| l.contains("; stopped by "))
        .expect("summary line");
    let before = summary.split(" loss events").next().unwrap_or_default();
    before
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("loss count")
}

#[test]
fn storm_of_processes_gives_one_record_each() {
    require_kernel!();
    const N: u64 = 200;
    let comm = unique_comm("twp");
    let l = Listener::start(&["--format", "json", "--rcvbuf", "4M"]);
    let storm_pid = run_storm(&["--procs", &N.to_string(), "--comm", &comm]);
    let (status, stdout, stderr) = l.stop(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "{stderr:?}");
    assert_eq!(
        loss_events(&stderr),
        0,
        "records were lost: the exact count cannot hold"
    );
    let ours: Vec<_> = records(&stdout)
        .into_iter()
        .filter(|r| r["ac_comm"] == comm.as_str() && num(r, "ac_ppid") == u64::from(storm_pid))
        .collect();
    assert!(
        ours.iter().all(|r| r["type"] == "pid"),
        "single-threaded: per-task records only"
    );
    assert_eq!(ours.len() as u64, N, "one record per exited process");
    let mut pids: Vec<u64> = ours.iter().map(|r| num(r, "id")).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len() as u64, N, "distinct pids");
}

#[test]
fn multithreaded_process_gives_one_group_record_last() {
    require_kernel!();
    let comm = unique_comm("twt");
    let l = Listener::start(&["--format", "json", "--rcvbuf", "4M"]);
    let storm_pid = u64::from(run_storm(&["--threads", "8", "--comm", &comm]));
    let (status, stdout, stderr) = l.stop(libc::SIGINT);
    assert_eq!(status.code(), Some(0), "{stderr:?}");
    assert_eq!(loss_events(&stderr), 0);
    let all = records(&stdout);
    let group: Vec<usize> = (0..all.len())
        .filter(|&i| all[i]["type"] == "tgid" && num(&all[i], "id") == storm_pid)
        .collect();
    assert_eq!(group.len(), 1, "exactly one per-tgid record for the group");
    let threads: Vec<usize> = (0..all.len())
        .filter(|&i| all[i]["type"] == "pid" && num(&all[i], "ac_tgid") == storm_pid)
        .collect();
    assert!(
        threads.len() >= 9,
        "8 threads and the main thread: {}",
        threads.len()
    );
    // The group record travels in the same message as its last thread's record.
    assert_eq!(group[0], threads.last().unwrap() + 1);
    let g = &all[group[0]];
    for &i in &threads {
        assert!(num(g, "ac_utime") + num(g, "ac_stime") >= num(&all[i], "ac_utime"));
    }
}

#[test]
fn sigterm_deregisters_and_exits_zero() {
    require_kernel!();
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let l = Listener::start(&["--cpus", "all"]);
        let (status, _, stderr) = l.stop(sig);
        assert_eq!(status.code(), Some(0), "{stderr:?}");
        let summary = stderr.last().cloned().unwrap_or_default();
        let name = if sig == libc::SIGTERM {
            "SIGTERM"
        } else {
            "SIGINT"
        };
        assert!(
            summary.contains(&format!("stopped by {name}, deregistered")),
            "{summary}"
        );
    }
}

#[test]
fn count_stops_after_n_records() {
    require_kernel!();
    let l = Listener::start(&["--count", "3"]);
    // Make sure at least three tasks exit.
    for _ in 0..5 {
        let _ = output(Command::new("true"), Duration::from_secs(10));
    }
    let (status, out, _) = l.finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        out.lines()
            .all(|l| l.starts_with("pid=") || l.starts_with("tgid=")),
        "{out}"
    );
}

#[test]
fn overflow_is_counted_and_reported() {
    require_kernel!();
    // The smallest buffer the kernel grants holds a handful of records; a stopped
    // listener cannot drain it while a few hundred processes exit.
    let l = Listener::start(&["--format", "json", "--rcvbuf", "1"]);
    l.signal(libc::SIGSTOP);
    run_storm(&["--procs", "300", "--comm", &unique_comm("two")]);
    l.signal(libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(200));
    let (status, stdout, stderr) = l.stop(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "{stderr:?}");
    let lost = loss_events(&stderr);
    assert!(lost >= 1, "{stderr:?}");
    let in_stream = records(&stdout)
        .iter()
        .filter(|r| r["type"] == "loss")
        .count() as u64;
    assert_eq!(
        in_stream, lost,
        "every loss event is in the JSON stream too"
    );
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("records lost") && l.contains("--rcvbuf"))
    );
}
