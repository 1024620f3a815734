//! Helpers shared by the end-to-end tests: finding the binaries, deciding whether the
//! real kernel is reachable (and saying why not), running taskwire with a deadline, and
//! reading /proc; a real terminal to run taskwire in ([`tmux`]).
#![allow(dead_code, unsafe_code)] // each test file uses a subset; libc calls are FFI

pub mod broker;
pub mod chromium;
pub mod png;
pub mod procs;
pub mod publisher;
pub mod tmux;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// The taskwire binary: `$TASKWIRE_BIN`, else `target/<profile>/taskwire` next to the
/// directory holding this test executable (`target/<profile>/deps/`).
pub fn taskwire() -> PathBuf {
    if let Some(p) = std::env::var_os("TASKWIRE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = dir.join("taskwire");
    assert!(
        bin.is_file(),
        "taskwire binary not found at {}: build it first with `cargo build -p taskwire` \
         (same profile and target dir), or set TASKWIRE_BIN",
        bin.display()
    );
    bin
}

/// The storm exit-workload binary of this package.
pub fn storm() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_storm"))
}

/// Runs the storm workload: `procs` processes named `comm` exit; it must succeed.
pub fn run_storm(comm: &str, procs: u64) {
    let st = Command::new(storm())
        .args(["--procs", &procs.to_string(), "--comm", comm])
        .output()
        .expect("storm");
    assert!(st.status.success(), "storm: {st:?}");
}

/// Why the kernel's taskstats interface cannot be exercised here, or `None` when it can.
///
/// Needs root (CAP_NET_ADMIN), a generic netlink socket (qemu-user and some sandboxes
/// refuse one with EPROTONOSUPPORT, EAFNOSUPPORT or EPERM) and the initial user namespace
/// (registration is refused elsewhere).
pub fn kernel_unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root: taskstats needs CAP_NET_ADMIN".into());
    }
    // SAFETY: plain socket(2); the descriptor is closed below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_GENERIC,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT | libc::EPERM | libc::EACCES) => Some(
                format!("no generic netlink socket here ({e}): qemu-user or a sandbox"),
            ),
            _ => panic!("socket(AF_NETLINK, NETLINK_GENERIC) failed unexpectedly: {e}"),
        };
    }
    // SAFETY: fd is ours and open.
    unsafe { libc::close(fd) };
    let uid_map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let fields: Vec<&str> = uid_map.split_whitespace().collect();
    if fields != ["0", "0", "4294967295"] {
        return Some("not in the initial user namespace: taskstats registration is refused".into());
    }
    None
}

/// Prints a skip notice that the test harness does not capture, so it is seen even when
/// the test is reported as passed.
pub fn skip(why: &str) {
    let name = std::thread::current().name().unwrap_or("test").to_owned();
    // One write, so that parallel tests do not interleave their notices.
    let _ = std::io::stderr().write_all(format!("SKIPPED {name}: {why}\n").as_bytes());
}

/// Returns from the calling test, with a visible reason, when the kernel is out of reach.
/// (Test files declare `#[macro_use] mod common;`.)
macro_rules! require_kernel {
    () => {
        if let Some(why) = common::kernel_unavailable() {
            common::skip(&why);
            return;
        }
    };
}

/// What a finished command produced.
#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// The exit code (panics if a signal ended it).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {self:?}"))
    }
}

/// Runs `cmd` to completion, killing it and failing the test after `limit`.
pub fn output(mut cmd: Command, limit: Duration) -> Out {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let out = pipe_reader(child.stdout.take());
    let err = pipe_reader(child.stderr.take());
    let status = wait_deadline(&mut child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} did not finish within {limit:?}");
    });
    Out {
        status,
        stdout: out.recv().unwrap_or_default(),
        stderr: err.recv().unwrap_or_default(),
    }
}

fn pipe_reader<R: Read + Send + 'static>(pipe: Option<R>) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_string(&mut s);
        }
        let _ = tx.send(s);
    });
    rx
}

/// Waits for `child` up to `limit`; None on timeout.
pub fn wait_deadline(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return Some(st);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// 115200 baud, 8N1: the bytes a second of a serial line.
pub const SERIAL_BYTES_PER_SEC: usize = 11_520;

/// Reads `out` at `bytes_per_sec` (a tenth each 100 ms) until `fast` is set, then as
/// fast as it comes, to its end, handing each read to `take`.
pub fn read_paced(
    mut out: impl Read,
    bytes_per_sec: usize,
    fast: &std::sync::atomic::AtomicBool,
    mut take: impl FnMut(&[u8]),
) {
    let mut buf = vec![0u8; bytes_per_sec / 10];
    let mut next = Instant::now();
    loop {
        match out.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => take(&buf[..n]),
        }
        if !fast.load(std::sync::atomic::Ordering::SeqCst) {
            next += Duration::from_millis(100);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    }
}

/// `taskwire ARGS` with a 20-second deadline.
pub fn tw<S: AsRef<OsStr>>(args: &[S]) -> Out {
    let mut cmd = Command::new(taskwire());
    cmd.args(args);
    output(cmd, Duration::from_secs(20))
}

/// Parses one JSON object.
pub fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("invalid JSON ({e}): {line}"))
}

/// A numeric member of a JSON object.
pub fn num(v: &serde_json::Value, key: &str) -> u64 {
    v.get(key)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// A line of /proc/PID/status such as `Uid:\t0\t0\t0\t0`, split after the key.
pub fn proc_status(pid: u32, key: &str) -> Vec<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// /proc/PID/comm without its newline.
pub fn proc_comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .expect("comm")
        .trim_end()
        .to_owned()
}

/// Waits until `pid`'s comm is `comm` (a freshly spawned child has exec'd).
pub fn wait_comm(pid: u32, comm: &str) {
    let end = Instant::now() + Duration::from_secs(10);
    while proc_comm(pid) != comm {
        assert!(Instant::now() < end, "pid {pid} never became {comm}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A running `taskwire listen` (or another command that runs until a signal), its stderr
/// read line by line in the background.
pub struct Listener {
    child: Child,
    stderr: Receiver<String>,
    pub stderr_lines: Vec<String>,
    stdout: Receiver<String>,
}

impl Listener {
    /// Starts `taskwire listen ARGS` and waits until it has registered.
    pub fn start(args: &[&str]) -> Listener {
        Listener::start_cmd("listen", args, "listening for exit records")
    }

    /// Starts `taskwire COMMAND ARGS` and waits for a stderr line containing `ready`.
    pub fn start_cmd(command: &str, args: &[&str], ready: &str) -> Listener {
        let mut cmd = Command::new(taskwire());
        cmd.arg(command).args(args);
        Listener::spawn(cmd, ready)
    }

    /// Starts `cmd` (a `taskwire` command line, its environment set) and waits for a
    /// stderr line containing `ready`.
    #[allow(dead_code)]
    pub fn spawn(mut cmd: Command, ready: &str) -> Listener {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn taskwire listen");
        let (tx, stderr) = channel();
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdout = pipe_reader(child.stdout.take());
        let mut l = Listener {
            child,
            stderr,
            stderr_lines: Vec::new(),
            stdout,
        };
        l.wait_stderr(ready, Duration::from_secs(10));
        l
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_stderr(&mut self, needle: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.stderr_lines.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no '{needle}' on stderr within {limit:?}: {:?}",
                        self.stderr_lines
                    );
                }
            }
        }
    }

    /// The process id of the command.
    #[allow(dead_code)]
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` to the listener.
    pub fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) on our own, not yet reaped, child.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// Sends `sig`, waits for the exit, and returns (status, stdout, stderr lines).
    pub fn stop(self, sig: i32) -> (ExitStatus, String, Vec<String>) {
        self.signal(sig);
        self.finish(Duration::from_secs(15))
    }

    /// Waits up to `limit` for the exit, and returns (status, stdout, stderr lines).
    pub fn finish(mut self, limit: Duration) -> (ExitStatus, String, Vec<String>) {
        let status = wait_deadline(&mut self.child, limit).unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!("taskwire listen did not stop within {limit:?}");
        });
        let stdout = self.stdout.recv().unwrap_or_default();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            self.stderr_lines.push(line);
        }
        (status, stdout, self.stderr_lines)
    }
}

/// A name for storm's tasks unique to this test process (at most 15 bytes).
pub fn unique_comm(prefix: &str) -> String {
    let name = format!("{prefix}{}", std::process::id());
    name.chars().take(15).collect()
}

/// A `liveload` workload (`tests/src/bin/liveload.rs`), stopped (stdin closed) and reaped on drop.
pub struct Load(Child);

impl Load {
    pub fn start(args: &[&str]) -> Load {
        let mut child = Command::new(env!("CARGO_BIN_EXE_liveload"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn liveload");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "READY", "liveload {args:?} did not start");
        Load(child)
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        if wait_deadline(&mut self.0, Duration::from_secs(5)).is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
