//! `stream` configured as a board service configures it: options from a config file and
//! `TASKWIRE_*` variables, the command line over the environment over the file, and a bad
//! line refused with its file and line.

#[macro_use]
mod common;

use std::process::Command;
use std::time::Duration;

use common::{Listener, output, taskwire};

fn dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tw-config-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn streams_with_options_from_the_file_and_the_environment() {
    require_kernel!();
    let d = dir();
    let out = d.join("out.tws");
    let conf = d.join("taskwire.conf");
    std::fs::write(
        &conf,
        format!(
            "# a board's settings\nto = file:{}\nid = fromfile\nprofile = acct\n\nqueue = 64\n",
            out.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(taskwire());
    cmd.args(["stream", "--config"])
        .arg(&conf)
        .args(["--queue", "128"])
        .env("TASKWIRE_ID", "fromenv")
        .env("TASKWIRE_HEARTBEAT", "1");
    let l = Listener::spawn(cmd, "registered for exit records");
    let said = l
        .stderr_lines
        .iter()
        .find(|s| s.contains(" as '"))
        .cloned()
        .unwrap_or_default();
    assert!(
        said.contains("as 'fromenv', profile acct, queue 128 records"),
        "{:?}",
        l.stderr_lines
    );
    std::thread::sleep(Duration::from_millis(300));
    let (status, _, lines) = l.stop(libc::SIGTERM);
    assert!(status.success(), "{lines:?}");
    let bytes = std::fs::read(&out).unwrap();
    assert!(
        bytes.windows(7).any(|w| w == b"fromenv"),
        "no header with the id in {}",
        out.display()
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_bad_line_is_a_usage_error_naming_it() {
    let d = dir().join("bad");
    std::fs::create_dir_all(&d).unwrap();
    let conf = d.join("bad.conf");
    for (text, env, want) in [
        ("to = -\nfrob = 1\n", None, ":2: unknown option '--frob'"),
        ("to\n", None, ":1: --to needs a value"),
        (
            "to = -\nenable-delayacct = 1\n",
            None,
            ":2: --enable-delayacct takes no value",
        ),
        (
            "to = -\n",
            Some(("TASKWIRE_QUEUE", "x")),
            "TASKWIRE_QUEUE: invalid --queue 'x'",
        ),
    ] {
        std::fs::write(&conf, text).unwrap();
        let mut cmd = Command::new(taskwire());
        cmd.args(["stream", "--config"]).arg(&conf);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let o = output(cmd, Duration::from_secs(10));
        assert_eq!(o.code(), 2, "{text}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{text}: {}", o.stderr);
        if env.is_none() {
            assert!(
                o.stderr.contains(&format!("{}:", conf.display())),
                "{}",
                o.stderr
            );
        }
    }
    let mut cmd = Command::new(taskwire());
    cmd.args(["stream", "--config", "/nonexistent/taskwire.conf"]);
    let o = output(cmd, Duration::from_secs(10));
    assert_eq!(o.code(), 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("/nonexistent/taskwire.conf: No such file"),
        "{}",
        o.stderr
    );
}

#[test]
fn syslog_gets_the_lines_of_stderr() {
    require_kernel!();
    let d = dir().join("syslog");
    std::fs::create_dir_all(&d).unwrap();
    let path = d.join("log");
    let _ = std::fs::remove_file(&path);
    let log = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    log.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Nothing listens on port 1: the agent keeps trying, and says so.
    let mut cmd = Command::new(taskwire());
    cmd.args(["stream", "--to", "tcp:127.0.0.1:1", "--profile", "acct"])
        .env("TASKWIRE_SYSLOG", &path);
    let l = Listener::spawn(cmd, "registered for exit records");
    let pid = l.id();
    let (status, _, lines) = l.stop(libc::SIGTERM);
    assert!(status.success(), "{lines:?}");
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok(n) = log.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        if got.last().is_some_and(|g| g.contains("deregistered")) {
            break;
        }
    }
    assert_eq!(got.len(), lines.len(), "{got:?} against {lines:?}");
    for (g, line) in got.iter().zip(&lines) {
        let msg = line.strip_prefix("taskwire ").unwrap();
        // The sink's troubles are warnings (a retry is said when the agent lives long
        // enough to make one), registering and stopping are news: daemon.warning (28),
        // daemon.info (30).
        let warn = line.contains("will keep trying") || line.ends_with("; retrying");
        let pri = if warn { 28 } else { 30 };
        assert_eq!(*g, format!("<{pri}>taskwire[{pid}]: {msg}"));
    }
    std::fs::remove_file(&path).unwrap();
}
