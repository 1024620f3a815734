//! `taskwire run` against the real kernel.

#[macro_use]
mod common;

use common::{json, num, tw};

#[test]
fn exit_code_is_the_commands() {
    require_kernel!();
    let out = tw(&["run", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.code(), 3, "{out:?}");
    assert!(out.stdout.starts_with("pid "), "{}", out.stdout);
    assert!(out.stdout.contains("  comm sh  "), "{}", out.stdout);
    assert!(
        out.stdout.contains("\nCPU "),
        "statistics printed: {}",
        out.stdout
    );
    assert!(out.stdout.contains("status    exited 3"), "{}", out.stdout);

    let out = tw(&["run", "--format", "json", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.code(), 3, "{out:?}");
    let v = json(out.stdout.trim_end());
    // The kernel's wait-style status: exit code in bits 8..15.
    assert_eq!(num(&v, "ac_exitcode"), 3 << 8);
    assert_eq!(num(&v, "exit_status"), 3);
    assert_eq!(v["ac_comm"], "sh");
}

#[test]
fn killed_command_exits_128_plus_signal() {
    require_kernel!();
    for (sig, name) in [(15, "TERM"), (9, "KILL")] {
        let script = format!("kill -{name} $$");
        let out = tw(&["run", "--format", "json", "--", "sh", "-c", &script]);
        assert_eq!(out.code(), 128 + sig, "{out:?}");
        let v = json(out.stdout.trim_end());
        assert_eq!(num(&v, "ac_exitcode") & 0x7f, sig as u64, "{v}");
    }
}

#[test]
fn elapsed_time_of_sleep_is_plausible() {
    require_kernel!();
    let out = tw(&["run", "--format", "json", "--", "sleep", "0.3"]);
    assert_eq!(out.code(), 0, "{out:?}");
    let v = json(out.stdout.trim_end());
    let etime_us = num(&v, "ac_etime");
    assert!(
        (300_000..10_000_000).contains(&etime_us),
        "ac_etime {etime_us} µs"
    );
    assert_eq!(v["ac_comm"], "sleep");
}

#[test]
fn missing_command_exits_127() {
    require_kernel!();
    let out = tw(&["run", "--", "/nonexistent/taskwire-test-command"]);
    assert_eq!(out.code(), 127, "{out:?}");
    assert!(out.stderr.contains("command not found"), "{}", out.stderr);
}
