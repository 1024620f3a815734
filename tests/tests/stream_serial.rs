//! `taskwire stream` to a serial device: the slave side of a pseudo-terminal pair stands in
//! for the board's UART, and the test reads the master side as the host would.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{self, OptionalActions};
use taskwire_core::taskstats::{Field, Value};
use taskwire_core::wire::{Kind, LossReason, MAGIC, Message, StreamReader, WIRE_VERSION};

use common::{storm, taskwire, unique_comm, wait_deadline};

/// A pty pair: the master (raw) and the slave's path.
fn pty() -> (OwnedFd, String) {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .expect("open /dev/ptmx");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let mut t = termios::tcgetattr(&master).expect("tcgetattr");
    t.make_raw();
    termios::tcsetattr(&master, OptionalActions::Now, &t).expect("tcsetattr");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    (master, name.into_string().expect("UTF-8 pts path"))
}

/// Messages decoded from the master, and the count of rejected frames.
#[derive(Default)]
struct Host {
    msgs: Vec<Message>,
    rejected: u64,
}

/// Reads the master until the slave side is gone for good (EIO) or `stop` says so.
fn read_master(master: OwnedFd, host: Arc<Mutex<Host>>, stop: Arc<Mutex<bool>>) {
    let mut reader = StreamReader::new();
    let mut buf = [0u8; 4096];
    loop {
        if *stop.lock().unwrap() {
            return;
        }
        let mut fds = [rustix::event::PollFd::new(
            &master,
            rustix::event::PollFlags::IN,
        )];
        let ts = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        if rustix::event::poll(&mut fds, Some(&ts)).unwrap_or(0) == 0 {
            continue;
        }
        match rustix::io::read(&master, &mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let mut h = host.lock().unwrap();
                for r in reader.feed(&buf[..n]) {
                    match r {
                        Ok(m) => h.msgs.push(m),
                        Err(_) => h.rejected += 1,
                    }
                }
            }
            // EIO: no slave open (before the agent opens it, or after it exits).
            Err(rustix::io::Errno::IO) => std::thread::sleep(Duration::from_millis(20)),
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
            Err(e) => panic!("reading the pty master: {e}"),
        }
    }
}

fn lines(pipe: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_line(rx: &Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let end = Instant::now() + Duration::from_secs(15);
    while let Ok(l) = rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
        seen.push(l.clone());
        if l.contains(needle) {
            return;
        }
    }
    panic!("no '{needle}' on taskwire's stderr: {seen:?}");
}

#[test]
fn storm_records_arrive_intact_over_a_pty() {
    require_kernel!();
    const N: usize = 200;
    const CODE: u64 = 7;
    let comm = unique_comm("twser");
    let (master, slave) = pty();
    let host = Arc::new(Mutex::new(Host::default()));
    let stop = Arc::new(Mutex::new(false));
    let reader = {
        let (h, s) = (host.clone(), stop.clone());
        std::thread::spawn(move || read_master(master, h, s))
    };

    let mut agent = Command::new(taskwire())
        .args(["stream", "--to", &format!("serial:{slave},baud=115200")])
        .args(["--id", "pty-board", "--heartbeat", "1", "--rcvbuf", "4M"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn taskwire stream");
    let err = lines(agent.stderr.take().unwrap());
    let mut seen = Vec::new();
    wait_line(&err, "registered for exit records", &mut seen);

    let st = Command::new(storm())
        .args([
            "--procs",
            &N.to_string(),
            "--comm",
            &comm,
            "--exit-code",
            &CODE.to_string(),
        ])
        .output()
        .expect("run storm");
    assert!(st.status.success(), "{st:?}");

    // Every storm exit should arrive; the pty moves bytes far faster than 115200 baud.
    let ours = |h: &Host| {
        h.msgs
            .iter()
            .filter(|m| matches!(m, Message::Record(r) if r.comm_str() == Some(comm.as_str())))
            .count()
    };
    let end = Instant::now() + Duration::from_secs(20);
    while ours(&host.lock().unwrap()) < N && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let a heartbeat through too.
    std::thread::sleep(Duration::from_millis(1200));

    let t0 = Instant::now();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) }, 0);
    let status = wait_deadline(&mut agent, Duration::from_secs(5)).expect("exits on SIGTERM");
    let took = t0.elapsed();
    while let Ok(l) = err.recv_timeout(Duration::from_secs(1)) {
        seen.push(l);
    }
    *stop.lock().unwrap() = true;
    reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{seen:?}");
    assert!(took < Duration::from_secs(2), "took {took:?} to stop");

    let h = host.lock().unwrap();
    assert_eq!(h.rejected, 0, "damaged frames on a lossless line: {seen:?}");
    let Some(Message::Header(hd)) = h.msgs.first() else {
        panic!("stream does not open with a header: {:?}", h.msgs.first())
    };
    assert_eq!((hd.magic, hd.wire_version), (MAGIC, WIRE_VERSION));
    assert_eq!(hd.board_id.as_str(), "pty-board");
    assert!(hd.taskstats_version >= 2, "{hd:?}");
    assert_eq!(
        hd.kernel_release.as_str(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap()
            .trim()
    );
    assert!(hd.boot_time > 1_000_000_000);
    assert!(!hd.possible_cpus.is_empty());

    // Sequence numbers: 0, 1, 2, ..., each a record or inside a Loss frame (the agent
    // numbers every record it receives and covers those it drops), none missing.
    let (mut next, mut lost, mut enobufs) = (0u64, 0u64, 0u64);
    for m in &h.msgs {
        match m {
            Message::Record(r) => {
                assert_eq!(r.seq, next, "{seen:?}");
                next += 1;
            }
            // The kernel's own drops take no numbers.
            Message::Loss(l) if l.reason == LossReason::KernelEnobufs => enobufs += l.count,
            Message::Loss(l) => {
                assert_eq!(l.next_seq - l.count, next, "{l:?}");
                next = l.next_seq;
                lost += l.count;
            }
            _ => {}
        }
    }
    if lost + enobufs > 0 {
        // Only other processes' exits on a shared machine can come this fast; the
        // storm's own exits may be among the dropped ones.
        common::skip(&format!(
            "{lost} records dropped and {enobufs} ENOBUFS events (other exits on this \
             machine): storm exits not required to arrive each once"
        ));
    }
    assert!(h.msgs.iter().any(|m| matches!(m, Message::Heartbeat(_))));

    let mut pids = Vec::new();
    for m in &h.msgs {
        let Message::Record(r) = m else { continue };
        if r.comm_str() != Some(comm.as_str()) {
            continue;
        }
        assert_eq!(r.kind, Kind::Pid);
        assert_eq!(
            r.get(Field::AcExitcode),
            Some(Value::Unsigned(CODE << 8)),
            "{r:?}"
        );
        assert_eq!(r.get(Field::AcPid), Some(Value::Unsigned(u64::from(r.id))));
        pids.push(r.id);
    }
    pids.sort_unstable();
    let all = pids.len();
    pids.dedup();
    assert_eq!(pids.len(), all, "each storm exit once");
    if lost + enobufs == 0 {
        assert_eq!(pids.len(), N, "storm's {N} exits, each once");
    } else if enobufs == 0 {
        assert!(
            pids.len() as u64 + lost >= N as u64,
            "storm exits unaccounted for"
        );
    }
}

#[test]
fn missing_device_is_one_line_and_status_1() {
    let out = Command::new(taskwire())
        .args(["stream", "--to", "serial:/dev/ttyNONEXISTENT9"])
        .output()
        .expect("run taskwire");
    let err = String::from_utf8_lossy(&out.stderr);
    if common::kernel_unavailable().is_some() {
        // Without the kernel the netlink error comes first; still one line, status 1.
        assert_eq!(out.status.code(), Some(1), "{err}");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("/dev/ttyNONEXISTENT9 does not exist"),
        "{err}"
    );
}

#[test]
fn bad_sink_spec_is_a_usage_error() {
    let out = Command::new(taskwire())
        .args(["stream", "--to", "serial:/dev/ttyS0,baud=12345"])
        .output()
        .expect("run taskwire");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not a standard rate"), "{err}");
}
