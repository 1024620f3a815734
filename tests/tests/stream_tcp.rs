//! `taskwire stream --to tcp:...` across a collector restart: the agent keeps running,
//! reconnects, starts the stream again (0x00, header) and numbers records on.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use taskwire_core::wire::{Message, StreamReader};

use common::{storm, taskwire, unique_comm, wait_deadline};

/// Reads `conn` until `done` holds for what was decoded, or `limit` passes.
fn collect(
    conn: &mut TcpStream,
    limit: Duration,
    done: impl Fn(&[Message]) -> bool,
) -> Vec<Message> {
    conn.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut reader = StreamReader::new();
    let mut msgs = Vec::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + limit;
    while !done(&msgs) && Instant::now() < end {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                for r in reader.feed(&buf[..n]) {
                    msgs.push(r.expect("an intact frame on loopback"));
                }
            }
            Err(_) => {}
        }
    }
    msgs
}

fn ours(msgs: &[Message], comm: &str) -> Vec<u64> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Record(r) if r.comm_str() == Some(comm) => Some(r.seq),
            _ => None,
        })
        .collect()
}

fn stderr_lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    rx
}

#[test]
fn collector_restart_reconnects_and_resends_the_header() {
    require_kernel!();
    let comm1 = unique_comm("twtcpa");
    let comm2 = unique_comm("twtcpb");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut agent = Command::new(taskwire())
        .args(["stream", "--to", &format!("tcp:127.0.0.1:{port}")])
        .args(["--heartbeat", "1", "--rcvbuf", "4M", "--id", "tcp-board"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn taskwire stream");
    let err = stderr_lines(agent.stderr.take().unwrap());
    let (mut conn, _) = listener.accept().unwrap();
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains("registered")) {
        lines.push(
            err.recv_timeout(Duration::from_secs(15))
                .expect("registers"),
        );
    }

    let run_storm = |comm: &str| {
        let st = Command::new(storm())
            .args(["--procs", "50", "--comm", comm])
            .output()
            .expect("storm");
        assert!(st.status.success());
    };
    run_storm(&comm1);
    let first = collect(&mut conn, Duration::from_secs(15), |m| {
        ours(m, &comm1).len() >= 50
    });
    assert!(
        matches!(first.first(), Some(Message::Header(h)) if h.board_id.as_str() == "tcp-board")
    );
    assert_eq!(ours(&first, &comm1).len(), 50);
    let last_seq = first
        .iter()
        .filter_map(|m| match m {
            Message::Record(r) => Some(r.seq),
            _ => None,
        })
        .max()
        .unwrap();

    // The collector goes away; heartbeats hit the closed socket and the agent notices.
    drop(conn);
    drop(listener);
    let end = Instant::now() + Duration::from_secs(15);
    while !lines.iter().any(|l| l.contains("reconnecting")) {
        let l = err
            .recv_timeout(end.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("outage not noticed: {lines:?}"));
        lines.push(l);
    }
    assert!(
        agent.try_wait().unwrap().is_none(),
        "the agent must keep running"
    );
    // Records of exits during the outage wait in the queue.
    run_storm(&comm2);

    let listener = TcpListener::bind(("127.0.0.1", port)).expect("rebind the collector's port");
    let (mut conn, _) = listener.accept().unwrap();
    let second = collect(&mut conn, Duration::from_secs(15), |m| {
        ours(m, &comm2).len() >= 50
    });
    assert!(
        matches!(second.first(), Some(Message::Header(h)) if h.board_id.as_str() == "tcp-board"),
        "a new connection starts with a header: {:?}",
        second.first()
    );
    let seqs2 = ours(&second, &comm2);
    assert_eq!(seqs2.len(), 50, "records queued during the outage survive");
    assert!(
        seqs2.iter().all(|&s| s > last_seq),
        "numbering runs on across reconnects"
    );
    assert!(
        !second.iter().any(|m| matches!(m, Message::Loss(_))),
        "nothing dropped"
    );

    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) }, 0);
    let status = wait_deadline(&mut agent, Duration::from_secs(5)).expect("stops");
    while let Ok(l) = err.recv_timeout(Duration::from_millis(500)) {
        lines.push(l);
    }
    assert_eq!(status.code(), Some(0), "{lines:?}");
    let summary = lines
        .iter()
        .find(|l| l.contains("deregistered"))
        .expect("summary");
    assert!(summary.contains(" 1 reconnects"), "{summary}");
    assert!(
        lines.iter().any(|l| l.contains("header resent")),
        "{lines:?}"
    );
}
