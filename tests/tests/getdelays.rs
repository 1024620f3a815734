//! getdelays mode against the real kernel: the kernel tool's rows and columns.

#[macro_use]
mod common;

use std::process::Command;
use std::time::Duration;

use common::{json, num, output, taskwire, tw, wait_comm};

/// The delay categories the modern tool prints for a struct version, in order.
fn categories(version: u64) -> Vec<&'static str> {
    let mut c = vec!["CPU", "IO", "SWAP"];
    if version >= 7 {
        c.push("RECLAIM");
    }
    if version >= 9 {
        c.push("THRASHING");
    }
    for (name, since) in [("COMPACT", 11), ("WPCOPY", 13), ("IRQ", 14)] {
        if version >= since {
            c.push(name);
        }
    }
    c
}

/// Checks `-d` output for `pid` against the tool's printf formats: `%-10s` names, `%15s`
/// headers, `%15llu` integers, `%15.3fms` averages, `%13.6fms` max/min, `%25s`/`%23s`
/// timestamps.
fn check_layout(stdout: &str, pid: u32, version: u64) {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "print delayacct stats ON");
    let at = lines
        .iter()
        .position(|l| *l == format!("PID\t{pid}"))
        .expect("PID line");
    assert_eq!(lines[at + 1..at + 3], ["", ""]);
    let (minmax, ts) = (version >= 16, version >= 17);
    let mut i = at + 3;
    for name in categories(version) {
        let head = lines[i];
        let values = lines[i + 1];
        assert_eq!(&head[..10], format!("{name:<10}"), "{head}");
        let cols: Vec<&str> = head[10..]
            .split("  ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let mut want = if name == "CPU" {
            vec![
                "count",
                "real total",
                "virtual total",
                "delay total",
                "delay average",
            ]
        } else {
            vec!["count", "delay total", "delay average"]
        };
        if minmax {
            want.extend(["delay max", "delay min"]);
        }
        if ts {
            want.push("delay max timestamp");
        }
        assert_eq!(cols, want, "{head}");
        let ints = if name == "CPU" { 4 } else { 2 };
        let width = 10 + 15 * ints + 17 + if minmax { 30 } else { 0 } + if ts { 23 } else { 0 };
        assert_eq!(values.len(), width, "{name} values: '{values}'");
        assert!(values[..10].trim().is_empty());
        let fields: Vec<&str> = values.split_whitespace().collect();
        for f in &fields[..ints] {
            f.parse::<u64>()
                .unwrap_or_else(|_| panic!("integer column: {values}"));
        }
        let avg = fields[ints].strip_suffix("ms").expect("average in ms");
        assert_eq!(avg.split('.').nth(1).map(str::len), Some(3), "{values}");
        if minmax {
            for f in &fields[ints + 1..ints + 3] {
                let ms = f.strip_suffix("ms").expect("max/min in ms");
                assert_eq!(ms.split('.').nth(1).map(str::len), Some(6), "{values}");
            }
        }
        i += 2;
    }
}

#[test]
fn delays_of_a_pid_have_the_tools_layout() {
    require_kernel!();
    let mut child = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    wait_comm(pid, "sleep");
    let version = num(
        &json(
            tw(&["get", "--pid", &pid.to_string(), "--format", "json"])
                .stdout
                .trim_end(),
        ),
        "version",
    );
    let out = tw(&["getdelays", "-d", "-p", &pid.to_string()]);

    // Invoked under the name getdelays, the binary behaves the same.
    let dir = std::env::temp_dir().join(format!("taskwire-gd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("getdelays");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(taskwire(), &link).unwrap();
    let mut cmd = Command::new(&link);
    cmd.args(["-d", "-q", "-p", &pid.to_string()]);
    let as_tool = output(cmd, Duration::from_secs(20));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = child.kill();
    let _ = child.wait();

    assert_eq!(out.code(), 0, "{out:?}");
    check_layout(&out.stdout, pid, version);
    assert_eq!(as_tool.code(), 0, "{as_tool:?}");
    assert!(
        as_tool
            .stdout
            .starts_with("print delayacct stats ON\nprinting task/process context switch rates\n")
    );
    let lines: Vec<&str> = as_tool.stdout.lines().collect();
    let task = lines
        .iter()
        .position(|l| l.starts_with("Task "))
        .expect("Task line");
    assert_eq!(lines[task], "Task         voluntary   nonvoluntary");
}

#[test]
fn c_option_reports_the_command() {
    require_kernel!();
    let out = tw(&["getdelays", "-d", "-i", "-c", "sh", "-c", "exit 0"]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout.contains("\nPID\t"), "{}", out.stdout);
    assert!(out.stdout.contains("\nsh: read="), "{}", out.stdout);
}
