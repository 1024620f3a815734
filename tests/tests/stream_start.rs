//! What `stream` does before it streams: an unprivileged run, which the kernel refuses to
//! register, leaves no sink file behind (the sink is opened only once registered).

#[macro_use]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use common::{output, taskwire};

/// `nobody` on Debian and most distributions; any unprivileged id does.
const NOBODY: u32 = 65534;

#[test]
fn a_refused_registration_creates_no_sink_file() {
    require_kernel!();
    let dir = std::env::temp_dir().join(format!("tw-start-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Writable by the unprivileged run, so that only the order of events keeps it out.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let file = dir.join("out.tws");
    let mut cmd = Command::new(taskwire());
    cmd.args(["stream", "--to", &format!("file:{}", file.display())])
        .args(["--profile", "acct"])
        .uid(NOBODY)
        .gid(NOBODY);
    let out = output(cmd, Duration::from_secs(20));
    assert_ne!(out.code(), 0, "an unprivileged stream ran: {}", out.stderr);
    assert!(
        out.stderr.contains("registering for exit records"),
        "not refused by the kernel: {}",
        out.stderr
    );
    assert!(
        !file.exists(),
        "the refused run left {} behind; stderr: {}",
        file.display(),
        out.stderr
    );
}
