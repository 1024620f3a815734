//! `taskwire check` on this machine's kernel: everything there as root, CAP_NET_ADMIN
//! named missing (and exit status 1) without it.

#[macro_use]
mod common;

use std::process::Command;
use std::time::Duration;

use common::{output, taskwire};

#[test]
fn this_kernel_has_what_the_agent_needs() {
    require_kernel!();
    let mut cmd = Command::new(taskwire());
    cmd.arg("check");
    let o = output(cmd, Duration::from_secs(20));
    assert_eq!(o.code(), 0, "{}{}", o.stdout, o.stderr);
    for item in [
        "CAP_NET_ADMIN",
        "CONFIG_TASKSTATS",
        "CONFIG_TASK_DELAY_ACCT",
        "CONFIG_TASK_XACCT",
        "CONFIG_TASK_IO_ACCOUNTING",
        "CONFIG_PSI",
    ] {
        let line = o.stdout.lines().find(|l| l.contains(item));
        assert!(
            line.is_some_and(|l| l.contains("[ok]")),
            "{item}: {}",
            o.stdout
        );
    }
    assert!(
        o.stdout.contains("All that is needed is there."),
        "{}",
        o.stdout
    );
}

#[test]
fn without_cap_net_admin_it_says_so_and_fails() {
    require_kernel!();
    if Command::new("setpriv").arg("--version").output().is_err() {
        common::skip("no setpriv (util-linux) to drop CAP_NET_ADMIN");
        return;
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(["--inh-caps=-all", "--bounding-set=-net_admin"])
        .arg(taskwire())
        .arg("check");
    let o = output(cmd, Duration::from_secs(20));
    assert_eq!(o.code(), 1, "{}{}", o.stdout, o.stderr);
    let cap = o.stdout.lines().find(|l| l.contains("CAP_NET_ADMIN:"));
    assert!(cap.is_some_and(|l| l.contains("[MISSING]")), "{}", o.stdout);
    // What needs no privilege is still probed.
    let io = o
        .stdout
        .lines()
        .find(|l| l.contains("CONFIG_TASK_IO_ACCOUNTING"));
    assert!(io.is_some_and(|l| l.contains("[ok]")), "{}", o.stdout);
    assert!(o.stdout.contains("missing or unknown"), "{}", o.stdout);
}
