//! SIGTERM ends every command whatever it is blocked on: `listen`, `getdelays -m -l` and
//! `decode` writing into a pipe nobody reads, `stream --to file:FIFO` and `decode --from
//! file:FIFO` opening a FIFO with no other end. Each is checked to be blocked there
//! (the kernel's wait in pipe_write or for a FIFO partner) before the signal; the bound on
//! the exit is generous, the point being that it comes at all (before the fix it never
//! did: the signals were only read from a signalfd nobody polled then).

#[macro_use]
mod common;

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use taskwire_core::wire::testutil::{frame, small_record};
use taskwire_core::wire::{DELIMITER, Message, StreamHeader};

use common::{storm, taskwire, unique_comm, wait_deadline};

const BOUND: Duration = Duration::from_secs(5);

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tw-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Shrinks the pipe `out` reads to one page, so that little fills it.
fn one_page(out: &ChildStdout) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe { libc::fcntl(out.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
}

/// Bytes waiting in the pipe `out` reads.
fn queued(out: &ChildStdout) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    unsafe { libc::ioctl(out.as_raw_fd(), libc::FIONREAD, &mut n) };
    usize::try_from(n).unwrap_or(0)
}

/// Waits until `pred` holds, failing the test after 20 s with `what`.
fn wait_for(what: &str, mut pred: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !pred() {
        assert!(Instant::now() < end, "never {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The kernel function `pid` sleeps in.
fn wchan(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
}

fn term(child: &Child) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own, not yet reaped, child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
}

/// SIGTERM, then the exit within [`BOUND`]; returns (exit code, stderr).
fn term_and_wait(mut child: Child, what: &str) -> (i32, String) {
    term(&child);
    let Some(st) = wait_deadline(&mut child, BOUND) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} ignored SIGTERM for {BOUND:?}");
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    let code = st
        .code()
        .unwrap_or_else(|| panic!("{what} was killed by the signal instead of stopping: {st}"));
    (code, err)
}

/// Starts `taskwire ARGS` with stdout into a one-page pipe that is never read and stderr
/// read to the line containing `ready`.
fn blocked_writer(args: &[&str], ready: &str) -> (Child, ChildStdout, Vec<String>) {
    let mut child = Command::new(taskwire())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn taskwire");
    let out = child.stdout.take().unwrap();
    one_page(&out);
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    if !ready.is_empty() {
        loop {
            let mut l = String::new();
            if err.read_line(&mut l).unwrap_or(0) == 0 {
                panic!("{args:?} ended before '{ready}': {lines:?}");
            }
            let done = l.contains(ready);
            lines.push(l);
            if done {
                break;
            }
        }
    }
    child.stderr = Some(err.into_inner());
    (child, out, lines)
}

/// Exits until `child` is blocked writing to its stdout pipe, then SIGTERM.
fn fill_then_term(child: Child, out: &ChildStdout, what: &str) -> (i32, String) {
    let comm = unique_comm("twsig");
    let mut rounds = 0;
    while !wchan(child.id()).contains("pipe_write") {
        rounds += 1;
        assert!(
            rounds < 50,
            "{what}: never blocked on its stdout ({} bytes in the pipe)",
            queued(out)
        );
        let st = Command::new(storm())
            .args(["--procs", "200", "--comm", &comm])
            .output()
            .expect("run storm");
        assert!(st.status.success(), "{st:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    term_and_wait(child, what)
}

#[test]
fn listen_blocked_on_stdout_stops_and_deregisters() {
    require_kernel!();
    let (child, out, _) = blocked_writer(&["listen"], "listening for exit records");
    let (code, err) = fill_then_term(child, &out, "listen");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("stopped by SIGTERM, deregistered"),
        "listen said: {err}"
    );
}

#[test]
fn getdelays_listening_blocked_on_stdout_stops() {
    require_kernel!();
    let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
    let (child, out, _) = blocked_writer(&["getdelays", "-d", "-m", possible.trim(), "-l"], "");
    // getdelays says nothing when registered: give it a moment before the exits.
    std::thread::sleep(Duration::from_millis(500));
    let (code, err) = fill_then_term(child, &out, "getdelays -m -l");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn decode_blocked_on_stdout_stops() {
    let mut h = StreamHeader::new();
    h.board_id = "sig".try_into().unwrap();
    let mut bytes = vec![DELIMITER];
    bytes.extend(frame(&Message::Header(h)));
    for seq in 0..2000 {
        bytes.extend(frame(&small_record(seq)));
    }
    let path = tmp("decode-blocked.tws");
    std::fs::write(&path, &bytes).unwrap();
    let from = format!("file:{}", path.display());
    // `_out` keeps the pipe's read end open (and unread) until the end.
    let (child, _out, _) = blocked_writer(&["decode", "--from", &from], "");
    let pid = child.id();
    wait_for("blocked on its stdout", || {
        wchan(pid).contains("pipe_write")
    });
    let (code, err) = term_and_wait(child, "decode");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stopped by SIGTERM"), "decode said: {err}");
}

/// `args` with `{}` replaced by a new FIFO's path, blocked opening it, then SIGTERM.
fn fifo_open(args: &[&str], name: &str) -> (i32, String) {
    let fifo = tmp(name);
    let _ = std::fs::remove_file(&fifo);
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let spec = format!("file:{}", fifo.display());
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "{}" { spec.as_str() } else { a })
        .collect();
    let child = Command::new(taskwire())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn taskwire");
    let pid = child.id();
    wait_for("blocked opening the FIFO", || {
        wchan(pid).contains("wait_for_partner")
    });
    term_and_wait(child, &args.join(" "))
}

#[test]
fn stream_opening_a_fifo_without_reader_stops() {
    require_kernel!();
    let (code, err) = fifo_open(&["stream", "--to", "{}"], "stream.fifo");
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("stopped by a signal"), "stream said: {err}");
}

#[test]
fn decode_opening_a_fifo_without_writer_stops() {
    let (code, err) = fifo_open(&["decode", "--from", "{}"], "decode.fifo");
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("stopped by a signal"), "decode said: {err}");
}
