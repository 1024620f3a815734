//! Acknowledged delivery and admission on a TCP link (core/WIRE.md section 7): a
//! collector at its connection limit refuses an agent with a reason instead of taking its
//! records and dropping them, the agent's backoff grows instead of reconnecting in a busy
//! loop, and a collector killed mid-stream costs no record: what the agent wrote and was
//! not acknowledged goes again to the next collector.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use taskwire_core::wire::testutil::{frame, named_header};

use common::procs::{
    Proc, agent_summary, summary_number, tcp_agent as agent, tcp_decoder as decoder,
};
use common::{json, num, run_storm, taskwire, unique_comm};

/// What decoders printed for `board`: the record numbers (a set: a record resent to a
/// second decoder counts once), the numbers covered by Loss frames, the storm records
/// of `comm`, and the per-board stats of each run.
#[derive(Default)]
struct Seen {
    records: BTreeSet<u64>,
    lost: BTreeSet<u64>,
    comm: BTreeSet<u64>,
    stats: Vec<serde_json::Value>,
}

impl Seen {
    fn add(&mut self, board: &str, comms: &[&str], stdout: &str, stderr: &[String]) {
        for line in stdout.lines() {
            let v = json(line);
            if v["board"].as_str() != Some(board) {
                continue;
            }
            match v["type"].as_str() {
                Some("record") => {
                    let seq = num(&v, "seq");
                    self.records.insert(seq);
                    if comms.iter().any(|c| v["comm"].as_str() == Some(c)) {
                        self.comm.insert(seq);
                    }
                }
                Some("loss") if v["reason"].as_str() != Some("kernel_enobufs") => {
                    let (count, next) = (num(&v, "count"), num(&v, "next_seq"));
                    self.lost.extend(next - count..next);
                }
                _ => {}
            }
        }
        for l in stderr.iter().filter(|l| l.contains("\"type\":\"stats\"")) {
            let v = json(l);
            if v["board"].as_str() == Some(board) {
                self.stats.push(v);
            }
        }
    }
}

/// The decoder's end line's count of connections refused at the limit.
fn refused(stderr: &[String]) -> u64 {
    stderr
        .iter()
        .filter(|l| l.contains("\"type\":\"summary\"") || l.contains("\"refused_connections\""))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["refused_connections"].as_u64())
        .next_back()
        .unwrap_or_else(|| panic!("no refused_connections in {stderr:?}"))
}

/// Finding 1: with 64 boards connected and idle, an agent is refused with a reason and
/// waits instead of writing its records into connections the decoder drops; once room
/// is made, every record it received is decoded or reported lost, and the refusals stay
/// few.
#[test]
fn a_full_collector_refuses_and_loses_nothing() {
    require_kernel!();
    let comm = unique_comm("twcap");
    let (mut d, port) = decoder(0);
    // Each a board (a header, then silence): a connection with no header is closed
    // after 5 s, or sooner to make room, so only boards hold the places.
    let idle: Vec<TcpStream> = (0..64)
        .map(|i| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let mut w = vec![0u8];
            w.extend(frame(&named_header(&format!("held{i}"))));
            s.write_all(&w).unwrap();
            s
        })
        .collect();
    d.wait_lines("connected", 64, Duration::from_secs(10));
    let mut a = agent(port, "capboard");
    a.wait_lines(
        "refused by the collector (capacity)",
        1,
        Duration::from_secs(10),
    );
    run_storm(&comm, 300);
    // Refused for a while, records queueing meanwhile.
    std::thread::sleep(Duration::from_secs(3));
    a.pump();
    let said = a.lines.iter().filter(|l| l.contains("refused")).count();
    assert_eq!(said, 1, "a refusal is said once: {:?}", a.lines);
    drop(idle);
    // Backoff at most 5 s; then the queue empties into the decoder.
    let until = Instant::now() + Duration::from_secs(20);
    a.wait_lines("back after", 1, Duration::from_secs(20));
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(300));
        d.pump();
        if d.lines.iter().any(|l| l.contains("capboard")) {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    let (code, _, alines) = a.stop(libc::SIGINT);
    assert_eq!(code, Some(0), "{alines:?}");
    let (received, lost, line) = agent_summary(&alines);
    // The decoder has read the connection to its end (however busy the machine).
    d.wait_lines("closed (board capboard)", 1, Duration::from_secs(60));
    let (_, out, dlines) = d.stop(libc::SIGTERM);
    let mut seen = Seen::default();
    seen.add("capboard", &[&comm], &out, &dlines);
    if lost == 0 {
        assert_eq!(seen.comm.len(), 300, "every storm record decoded: {line}");
    }
    let accounted: BTreeSet<u64> = seen.records.union(&seen.lost).copied().collect();
    assert_eq!(
        accounted.len() as u64,
        received,
        "decoded {} + reported lost {} of {received}: {line}",
        seen.records.len(),
        seen.lost.len()
    );
    assert_eq!(seen.lost.len() as u64, lost, "{line}");
    let refusals = refused(&dlines);
    println!(
        "capacity: received {received}, decoded {}, lost {lost}, refused {refusals} times",
        seen.records.len()
    );
    // Before acknowledged delivery: 21,092 reconnects in 8 s. With the collector's
    // 2 s retry hint and the growing backoff, a handful.
    assert!(
        refusals <= 10,
        "refused {refusals} times: {alines:?} {dlines:?}"
    );
}

/// A collector that hangs and is killed (SIGKILL: no drain, its unread input reset) while
/// records flow, and is started again on the same port: the agent writes again what it
/// had not seen acknowledged, so every number reaches one of the two decoders, and none
/// is reported lost (the queue held what arrived during the outage). Before acknowledged
/// delivery what sat unread in the killed collector's socket was gone without a word.
#[test]
fn a_killed_collector_costs_no_record() {
    require_kernel!();
    let comms = [unique_comm("twkila"), unique_comm("twkilb")];
    let (d1, port) = decoder(0);
    let mut d1 = d1;
    let mut a = agent(port, "killboard");
    d1.wait_lines("connected", 1, Duration::from_secs(10));
    // The collector hangs (stopped: the kernel still takes what the agent writes, up
    // to the socket buffers), records arrive, and then it is killed with all of that
    // unread.
    d1.signal(libc::SIGSTOP);
    run_storm(&comms[0], 2000);
    std::thread::sleep(Duration::from_millis(300));
    let (_, out1, err1) = d1.stop(libc::SIGKILL);
    run_storm(&comms[1], 300);
    let (mut d2, port2) = decoder(port);
    assert_eq!(port2, port);
    d2.wait_lines("connected", 1, Duration::from_secs(20));
    a.wait_lines("back after", 1, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    let (code, _, alines) = a.stop(libc::SIGINT);
    assert_eq!(code, Some(0), "{alines:?}");
    let (received, lost, line) = agent_summary(&alines);
    d2.wait_lines("closed (board killboard)", 1, Duration::from_secs(60));
    let (_, out2, err2) = d2.stop(libc::SIGTERM);

    let comm_refs: Vec<&str> = comms.iter().map(String::as_str).collect();
    let mut seen = Seen::default();
    // The killed decoder printed what it printed; its stats never came.
    seen.add("killboard", &comm_refs, &out1, &err1);
    seen.add("killboard", &comm_refs, &out2, &err2);
    println!(
        "killed collector: received {received}, decoded {} (first decoder's output {} lines), \
         lost {lost}",
        seen.records.len(),
        out1.lines().count()
    );
    assert_eq!(lost, 0, "the queue was not overrun: {line}");
    assert!(seen.lost.is_empty(), "no Loss frame: {line}");
    assert_eq!(seen.comm.len(), 2300, "every storm record decoded: {line}");
    assert_eq!(
        seen.records.len() as u64,
        received,
        "every number decoded by one decoder or the other: {line}"
    );
    let stats = seen.stats.last().expect("the second decoder's stats");
    assert_eq!(num(stats, "gaps_uncovered"), 0, "{stats}");
}

/// Streams carry no authentication: a decoder listening beyond loopback says that anyone
/// who reaches the port can send records; on loopback it does not.
#[test]
fn a_listener_open_to_the_network_warns() {
    let mut cmd = Command::new(taskwire());
    cmd.args(["decode", "--from", "tcp-listen:0.0.0.0:0"]);
    let mut open = Proc::spawn("decoder", cmd);
    open.wait_lines("listening on", 1, Duration::from_secs(10));
    let w = open.wait_lines("warning", 1, Duration::from_secs(5));
    assert!(w.contains("anyone who can reach this port"), "{w}");
    let (code, _, _) = open.stop(libc::SIGTERM);
    assert_eq!(code, Some(0));
    let (local, _) = decoder(0);
    let (code, _, lines) = local.stop(libc::SIGTERM);
    assert_eq!(code, Some(0));
    assert!(!lines.iter().any(|l| l.contains("warning")), "{lines:?}");
}

/// A collector that hangs (SIGSTOP) and never comes back while the agent stops: what the
/// agent wrote and was not acknowledged may never be decoded, and no stream can say so;
/// the summary does ("N written (M not acknowledged)"), so every record received is
/// decoded, reported lost, or counted as unacknowledged. Before, the summary said "557
/// written, lost 0" of a run whose collector had decoded 45.
#[test]
fn a_collector_hung_at_the_stop_leaves_its_records_counted_as_unacknowledged() {
    require_kernel!();
    let comm = unique_comm("twhung");
    let (mut d, port) = decoder(0);
    let a = agent(port, "hungboard");
    d.wait_lines("connected (board hungboard)", 1, Duration::from_secs(10));
    // The header's acknowledgement follows its read at once; past a second the agent
    // would take a silent collector for a one-way peer.
    std::thread::sleep(Duration::from_millis(500));
    d.signal(libc::SIGSTOP);
    run_storm(&comm, 500);
    let (code, _, alines) = a.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{alines:?}");
    let (received, lost, line) = agent_summary(&alines);
    let unacked = summary_number(&line, " not acknowledged)");
    let left = summary_number(&line, " left unsent");
    let (_, out, dlines) = d.stop(libc::SIGKILL);
    let mut seen = Seen::default();
    seen.add("hungboard", &[&comm], &out, &dlines);
    println!(
        "hung collector: received {received}, decoded {}, not acknowledged {unacked}, \
         lost {lost}, left {left}: {line}",
        seen.records.len()
    );
    assert!(
        unacked > 0,
        "the hung collector acknowledged nothing after: {line}"
    );
    let decoded = seen.records.len() as u64;
    assert!(
        decoded + unacked + lost + left >= received,
        "records neither decoded, reported lost nor counted as unacknowledged: {line}"
    );
}

/// A collector killed with the agent's records unread, then one that hangs as the agent
/// reconnects (it takes the connection, through the kernel, and answers nothing), killed
/// in turn, then a third: the records the first never read reach the third. The agent
/// took the silent second for a one-way peer; it wrote what it kept into it and then
/// forgot it, so those records were gone without a word.
#[test]
fn records_kept_for_a_dead_collector_survive_a_silent_one() {
    require_kernel!();
    let comm = unique_comm("twsilent");
    let (mut d1, port) = decoder(0);
    let mut a = agent(port, "silentboard");
    d1.wait_lines("connected (board silentboard)", 1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    d1.signal(libc::SIGSTOP);
    run_storm(&comm, 300);
    std::thread::sleep(Duration::from_millis(300));
    let (_, out1, err1) = d1.stop(libc::SIGKILL);
    let (d2, _) = decoder(port);
    d2.signal(libc::SIGSTOP);
    // The agent connects to it, answers nothing comes, it streams on one-way.
    a.wait_lines("back after", 1, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    let (_, out2, err2) = d2.stop(libc::SIGKILL);
    let (mut d3, _) = decoder(port);
    d3.wait_lines("connected (board silentboard)", 1, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    let (code, _, alines) = a.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{alines:?}");
    d3.wait_lines("closed (board silentboard)", 1, Duration::from_secs(30));
    let (_, out3, err3) = d3.stop(libc::SIGTERM);
    let mut seen = Seen::default();
    seen.add("silentboard", &[&comm], &out1, &err1);
    seen.add("silentboard", &[&comm], &out2, &err2);
    seen.add("silentboard", &[&comm], &out3, &err3);
    let (received, lost, line) = agent_summary(&alines);
    println!(
        "silent collector: storm records decoded {} of 300; received {received}, lost {lost}: \
         {line}",
        seen.comm.len()
    );
    assert_eq!(lost, 0, "the queue was not overrun: {line}");
    assert_eq!(
        seen.comm.len(),
        300,
        "every storm record decoded by a collector: {line}"
    );
}
