//! A listener in a network namespace other than the initial one is registered by the
//! kernel but never sent a record: `listen`, `stream` and `getdelays -l` say so and exit 1
//! within a few seconds instead of waiting for ever.

#[macro_use]
mod common;

use std::process::Command;
use std::time::Duration;

use common::{output, taskwire};

/// Runs `taskwire ARGS` under `unshare -n`; None (skipped) when unshare is unavailable.
fn in_new_netns(args: &[&str]) -> Option<common::Out> {
    match Command::new("unshare").args(["-n", "true"]).status() {
        Ok(st) if st.success() => {}
        Ok(st) => {
            common::skip(&format!("unshare -n does not work here ({st})"));
            return None;
        }
        Err(e) => {
            common::skip(&format!("no unshare command ({e})"));
            return None;
        }
    }
    let mut cmd = Command::new("unshare");
    cmd.arg("-n").arg(taskwire()).args(args);
    // Generous: the check takes about a second; before it, this never ended.
    Some(output(cmd, Duration::from_secs(15)))
}

fn says_why(out: &common::Out) {
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("initial network namespace") && out.stderr.contains("unshare -n"),
        "no reason given: {}",
        out.stderr
    );
}

#[test]
fn listen_outside_the_initial_network_namespace_stops_and_says_why() {
    require_kernel!();
    if let Some(out) = in_new_netns(&["listen"]) {
        says_why(&out);
    }
}

#[test]
fn stream_outside_the_initial_network_namespace_stops_and_says_why() {
    require_kernel!();
    if let Some(out) = in_new_netns(&["stream", "--to", "-"]) {
        says_why(&out);
    }
}

#[test]
fn getdelays_listening_outside_the_initial_network_namespace_stops() {
    require_kernel!();
    let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
    if let Some(out) = in_new_netns(&["getdelays", "-m", possible.trim(), "-l"]) {
        says_why(&out);
    }
}
