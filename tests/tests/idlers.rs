//! The idle population of bench/top-sweep (tests/src/bin/idlers.rs): exactly the tasks
//! asked for, all alive once it says ready, and none left running after it goes, whether
//! it is released (stdin closed) or killed outright.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Threads of this comm not yet dead (zombies, waiting for pid 1 to reap them, excluded).
fn live_threads(comm: &str) -> usize {
    let mut n = 0;
    for p in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(tasks) = fs::read_dir(p.path().join("task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Ok(stat) = fs::read_to_string(t.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ...; comm may hold spaces, so split at the last ')'.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let state = stat[close + 1..].split_whitespace().next().unwrap_or("");
            if &stat[open + 1..close] == comm && state != "Z" && state != "X" {
                n += 1;
            }
        }
    }
    n
}

fn start(comm: &str, tasks: u32, per_proc: u32) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_idlers"))
        .args(["--tasks", &tasks.to_string()])
        .args(["--per-proc", &per_proc.to_string()])
        .args(["--comm", comm])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

fn wait_until_none(comm: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = live_threads(comm);
        if n == 0 || Instant::now() > deadline {
            return n;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn makes_exactly_the_tasks_and_releases_them() {
    let (mut child, line) = start("twidle-rel", 10, 4);
    assert!(line.starts_with("ready tasks=10 procs=3 "), "{line:?}");
    assert_eq!(live_threads("twidle-rel"), 10);
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert_eq!(wait_until_none("twidle-rel"), 0);
}

#[test]
fn a_killed_maker_leaves_nothing_running() {
    let (mut child, line) = start("twidle-kill", 12, 3);
    assert!(line.starts_with("ready tasks=12 procs=4 "), "{line:?}");
    assert_eq!(live_threads("twidle-kill"), 12);
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    assert_eq!(wait_until_none("twidle-kill"), 0);
}
