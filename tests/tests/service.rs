//! The service definitions of `service/`: the systemd unit passes `systemd-analyze verify`
//! and its ExecStart streams as a user with CAP_NET_ADMIN alone (what the unit grants);
//! the init script starts, reports, and stops the agent, which deregisters.

#[macro_use]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Listener, output, taskwire};

/// `nobody` on Debian and most distributions; any unprivileged id does.
const NOBODY: &str = "65534";

fn service_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../service")
        .join(name)
}

/// A fresh directory anyone may write (the unprivileged runs write their sink there).
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tw-service-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

#[test]
fn the_unit_verifies() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        common::skip("no systemd-analyze (Debian's systemd package) to verify the unit");
        return;
    }
    let d = dir("unit");
    let text = std::fs::read_to_string(service_file("taskwire.service")).unwrap();
    assert!(text.contains("ExecStart=/usr/bin/taskwire stream --config /etc/taskwire.conf"));
    for needed in [
        "Restart=on-failure",
        "User=taskwire",
        "AmbientCapabilities=CAP_NET_ADMIN",
        "CapabilityBoundingSet=CAP_NET_ADMIN",
        "RestrictAddressFamilies=AF_NETLINK",
        "NoNewPrivileges=yes",
    ] {
        assert!(text.contains(needed), "{needed}");
    }
    assert!(
        !text.contains("PrivateNetwork="),
        "no exit records in a netns"
    );
    // verify checks that ExecStart is executable: point it at the built agent.
    let unit = d.join("taskwire.service");
    let bin = taskwire();
    std::fs::write(
        &unit,
        text.replace("/usr/bin/taskwire", &bin.display().to_string()),
    )
    .unwrap();
    let mut cmd = Command::new("systemd-analyze");
    cmd.arg("verify").arg(&unit);
    let o = output(cmd, Duration::from_secs(60));
    assert_eq!(o.code(), 0, "{}", o.stderr);
    // verify warns and still exits 0: nothing about the unit may be said.
    let said: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.contains("taskwire.service"))
        .collect();
    assert!(said.is_empty(), "{said:?}");
    let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    if pid1.trim() != "systemd" {
        common::skip(&format!(
            "no systemd as PID 1 here (PID 1 is '{}'), so the unit is not started here: \
             runs_with_cap_net_admin_alone runs its ExecStart with the unit's user and \
             capabilities, and service/test-systemd starts the unit under a real systemd \
             (PID 1 of a qemu guest)",
            pid1.trim()
        ));
    }
}

#[test]
fn runs_with_cap_net_admin_alone() {
    require_kernel!();
    if Command::new("setpriv").arg("--version").output().is_err() {
        common::skip("no setpriv (util-linux) to drop to CAP_NET_ADMIN alone");
        return;
    }
    let d = dir("caps");
    let out = d.join("out.tws");
    let conf = d.join("taskwire.conf");
    std::fs::write(
        &conf,
        format!("to = file:{}\nprofile = acct\n", out.display()),
    )
    .unwrap();
    // What the unit's User=, AmbientCapabilities= and CapabilityBoundingSet= give.
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups"])
        .args(["--inh-caps=-all,+net_admin", "--ambient-caps=+net_admin"])
        .args(["--bounding-set=-all,+net_admin"])
        .arg(taskwire())
        .args(["stream", "--config"])
        .arg(&conf);
    let l = Listener::spawn(cmd, "registered for exit records");
    common::run_storm("tw-svc", 5);
    std::thread::sleep(Duration::from_millis(300));
    let (status, _, lines) = l.stop(libc::SIGTERM);
    assert!(status.success(), "{lines:?}");
    let summary = lines.iter().find(|l| l.contains("received")).unwrap();
    assert!(summary.contains("deregistered"), "{summary}");
    assert!(!summary.contains("received no records"), "{summary}");
    let meta = std::fs::metadata(&out).unwrap();
    assert!(meta.len() > 0);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        meta.uid().to_string(),
        NOBODY,
        "written by the unprivileged user"
    );
}

#[test]
fn the_init_script_starts_reports_and_stops() {
    require_kernel!();
    let d = dir("init");
    let out = d.join("out.tws");
    let conf = d.join("taskwire.conf");
    let log = d.join("taskwire.log");
    std::fs::write(
        &conf,
        format!("to = file:{}\nprofile = acct\n", out.display()),
    )
    .unwrap();
    let script = |action: &str| {
        let mut cmd = Command::new("sh");
        cmd.arg(service_file("taskwire.init"))
            .arg(action)
            .env("DAEMON", taskwire())
            .env("CONFIG", &conf)
            .env("PIDFILE", d.join("taskwire.pid"))
            .env("LOGFILE", &log);
        output(cmd, Duration::from_secs(30))
    };
    assert_eq!(script("status").code(), 3);
    let o = script("start");
    assert_eq!(o.code(), 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("started"), "{}", o.stdout);
    let pid: u32 = std::fs::read_to_string(d.join("taskwire.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let o = script("status");
    assert_eq!(o.code(), 0, "{}", o.stdout);
    assert!(
        o.stdout.contains(&format!("running (pid {pid})")),
        "{}",
        o.stdout
    );
    // The pid is the agent's, and it leads a session of its own (setsid): no hangup of the
    // starting shell's session reaches it.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert!(stat.contains("(taskwire)"), "{stat}");
    let after_comm = stat.rsplit_once(") ").unwrap().1;
    let sid: u32 = after_comm.split(' ').nth(3).unwrap().parse().unwrap();
    assert_eq!(sid, pid, "{stat}");
    // Started twice is still one agent.
    assert!(script("start").stdout.contains("already running"));
    common::run_storm("tw-init", 5);
    let o = script("stop");
    assert_eq!(o.code(), 0, "{}{}", o.stdout, o.stderr);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "still running"
    );
    assert!(!d.join("taskwire.pid").exists());
    assert_eq!(script("status").code(), 3);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("registered for exit records"), "{text}");
    let summary = text.lines().find(|l| l.contains("received")).unwrap_or("");
    assert!(
        summary.contains("stopped by SIGTERM, deregistered"),
        "{text}"
    );
    assert!(std::fs::metadata(&out).unwrap().len() > 0);
    // A config the agent refuses: start says so and leaves no pidfile.
    std::fs::write(&conf, "to = -\nfrob\n").unwrap();
    let o = script("start");
    assert_eq!(o.code(), 1, "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("unknown option '--frob'"), "{}", o.stderr);
    assert!(!d.join("taskwire.pid").exists());
}
