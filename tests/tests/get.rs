//! `taskwire get` against the real kernel.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{json, num, proc_comm, proc_status, tw, wait_comm};

#[test]
fn pid_identity_matches_proc() {
    require_kernel!();
    let mut child = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    wait_comm(pid, "sleep");
    let out = tw(&["get", "--pid", &pid.to_string(), "--format", "json"]);
    let text = tw(&["get", "--pid", &pid.to_string()]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    let v = json(out.stdout.trim_end());
    assert_eq!(v["type"], "pid");
    assert_eq!(num(&v, "id"), u64::from(pid));
    assert_eq!(num(&v, "ac_pid"), u64::from(pid));
    assert_eq!(num(&v, "ac_ppid"), u64::from(std::process::id()));
    let uid: u64 = proc_status(std::process::id(), "Uid")[0].parse().unwrap();
    let gid: u64 = proc_status(std::process::id(), "Gid")[0].parse().unwrap();
    assert_eq!(num(&v, "ac_uid"), uid);
    assert_eq!(num(&v, "ac_gid"), gid);
    assert_eq!(v["ac_comm"], "sleep");
    assert!(num(&v, "version") >= 2);

    assert_eq!(text.code(), 0, "{text:?}");
    let first = text.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("pid {pid}  comm sleep  ")),
        "{first}"
    );
    assert!(text.stdout.contains("\nCPU "), "{}", text.stdout);
}

#[test]
fn io_and_ctxsw_sections() {
    require_kernel!();
    let me = std::process::id().to_string();
    let out = tw(&["get", "--pid", &me, "--io", "--ctxsw"]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout.contains("\nio        read "), "{}", out.stdout);
    assert!(
        out.stdout.contains("\nctxsw     voluntary "),
        "{}",
        out.stdout
    );
}

/// Not a test on its own: the multi-threaded process `tgid_sums_its_threads` queries. It
/// is this test binary re-run with only this function selected.
#[test]
#[ignore = "helper process of tgid_sums_its_threads"]
fn threads_child() {
    if std::env::var_os("TASKWIRE_E2E_THREADS_CHILD").is_none() {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let mut handles = Vec::new();
    for _ in 0..3 {
        let rx = rx.clone();
        handles.push(std::thread::spawn(move || {
            // Burn a little CPU so the per-thread times differ from zero.
            let end = std::time::Instant::now() + std::time::Duration::from_millis(30);
            let mut x = 0u64;
            while std::time::Instant::now() < end {
                x = x.wrapping_mul(31).wrapping_add(1);
            }
            std::hint::black_box(x);
            let _ = rx.lock().map(|r| r.recv());
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    println!("TASKWIRE_HELPER_READY");
    // Parked until the parent closes stdin.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(tx);
}

#[test]
fn tgid_sums_its_threads() {
    require_kernel!();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "threads_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TASKWIRE_E2E_THREADS_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn helper");
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end, so the helper's own closing lines find a reader.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("TASKWIRE_HELPER_READY") {
                let _ = tx.send(true);
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(20)) != Ok(true) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("helper process never became ready");
    }

    let query = |args: &[&str]| {
        let out = tw(args);
        assert_eq!(out.code(), 0, "{out:?}");
        json(out.stdout.trim_end())
    };
    let group = query(&["get", "--tgid", &pid.to_string(), "--format", "json"]);
    let mut threads = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let tid = entry.unwrap().file_name().into_string().unwrap();
        threads.push(query(&["get", "--pid", &tid, "--format", "json"]));
    }
    let again = query(&["get", "--tgid", &pid.to_string(), "--format", "json"]);
    drop(child.stdin.take());
    let _ = child.wait();

    assert_eq!(group["type"], "tgid");
    assert_eq!(num(&group, "id"), u64::from(pid));
    assert!(
        threads.len() >= 4,
        "main and three workers: {}",
        threads.len()
    );
    for t in &threads {
        assert_eq!(num(t, "ac_tgid"), u64::from(pid));
        for f in ["ac_utime", "ac_etime", "nvcsw"] {
            assert!(
                num(&group, f) >= num(t, f),
                "{f}: group {group} < thread {t}"
            );
        }
    }
    let sum: u64 = threads.iter().map(|t| num(t, "ac_utime")).sum();
    assert!(sum > 0, "the workers burned CPU");
    // Nothing ran in the helper between the two group queries: the group's context
    // switches are then exactly its threads' (no thread of it has exited).
    if num(&group, "nvcsw") == num(&again, "nvcsw") {
        let sum: u64 = threads.iter().map(|t| num(t, "nvcsw")).sum();
        assert_eq!(num(&group, "nvcsw"), sum, "group {group}");
    }
    let _ = proc_comm; // shared helper, used by other tests
}
