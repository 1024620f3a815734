//! Error messages and exit codes: usage errors exit 2 before the kernel is asked, runtime
//! errors exit 1 with a message that says what to do.

#[macro_use]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{output, taskwire, tw};

fn assert_fails(args: &[&str], code: i32, needle: &str) {
    let out = tw(args);
    assert_eq!(out.code(), code, "{args:?}: {out:?}");
    assert!(
        out.stdout.is_empty(),
        "{args:?}: nothing on stdout: {out:?}"
    );
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line: {:?}", out.stderr);
    assert!(
        lines[0].contains(needle),
        "{args:?}: '{needle}' not in {}",
        lines[0]
    );
}

#[test]
fn invalid_pids_are_usage_errors() {
    // No kernel needed: these fail before any netlink traffic.
    assert_fails(
        &["get", "--pid", "0"],
        2,
        "invalid pid '0': must be at least 1",
    );
    assert_fails(
        &["get", "--pid", "abc"],
        2,
        "invalid pid 'abc': not a decimal number",
    );
    assert_fails(&["get", "--pid", "-5"], 2, "must not be negative");
    assert_fails(
        &["get", "--tgid", "99999999999"],
        2,
        "above the kernel's limit",
    );
    assert_fails(&["get"], 2, "--pid N or --tgid N is required");
    assert_fails(
        &["get", "--pid", "1", "--frob"],
        2,
        "unknown option '--frob'",
    );
    assert_fails(&["frob"], 2, "unknown command 'frob'");
    assert_fails(&["getdelays", "-p", "0"], 2, "invalid pid '0'");
}

#[test]
fn invalid_cpulists_are_usage_errors() {
    for bad in ["1-0", "abc", "", "0,,1", "3-", "99999"] {
        assert_fails(&["listen", "--cpus", bad], 2, "invalid CPU list");
    }
    let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
    let last: u32 = possible
        .trim()
        .rsplit(['-', ','])
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let beyond = (last + 1).to_string();
    assert_fails(
        &["listen", "--cpus", &beyond],
        2,
        &format!("CPU {beyond} not possible"),
    );
}

#[test]
fn nonexistent_task_is_a_runtime_error() {
    require_kernel!();
    let free = (1..4_194_304u32)
        .rev()
        .find(|p| !PathBuf::from(format!("/proc/{p}")).exists());
    let pid = free.expect("a free pid").to_string();
    assert_fails(
        &["get", "--pid", &pid],
        1,
        &format!("no such task: pid {pid}"),
    );
    assert_fails(
        &["get", "--tgid", &pid],
        1,
        &format!("no such task: tgid {pid}"),
    );
}

#[test]
fn cgroup_paths() {
    require_kernel!();
    assert_fails(&["cgroup", "/nonexistent/cgroup"], 1, "no such directory");
    assert_fails(&["cgroup", "/proc"], 1, "not a cgroup v1 directory");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let mount = |fs: &str| {
        mounts.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&fs)).then(|| f[1].to_owned())
        })
    };
    match mount("cgroup2") {
        Some(v2) => assert_fails(&["cgroup", &v2], 1, "cgroupstats for cgroup v1 only"),
        None => common::skip("no cgroup2 mount to refuse"),
    }
    match mount("cgroup") {
        Some(v1) => {
            let out = tw(&["cgroup", "--format", "json", &v1]);
            assert_eq!(out.code(), 0, "{out:?}");
            let v = common::json(out.stdout.trim_end());
            assert!(
                common::num(&v, "nr_sleeping") + common::num(&v, "nr_running") > 0,
                "{v}"
            );
        }
        None => common::skip("no cgroup v1 mount to query"),
    }
}

#[test]
fn unprivileged_run_says_which_capability() {
    require_kernel!();
    let Ok(setpriv) = which("setpriv") else {
        common::skip("setpriv not installed");
        return;
    };
    // A copy nobody can read the path to is no use: put it where uid 65534 can run it.
    let dir = std::env::temp_dir().join(format!("taskwire-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.join("taskwire");
    std::fs::copy(taskwire(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let me = std::process::id().to_string();
    for args in [
        vec!["get", "--pid", &me],
        vec!["listen"],
        vec!["run", "--", "true"],
    ] {
        let mut cmd = Command::new(&setpriv);
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ]);
        cmd.arg(&bin).args(&args);
        let out = output(cmd, Duration::from_secs(20));
        assert_eq!(out.code(), 1, "{args:?}: {out:?}");
        let last = out.stderr.lines().last().unwrap_or_default();
        assert!(last.contains("permission denied"), "{args:?}: {last}");
        assert!(
            last.contains("CAP_NET_ADMIN") && last.contains("setcap"),
            "{last}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn which(name: &str) -> Result<PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
