//! `taskwire decode --from mqtt://` against a real Mosquitto (started by the test on a free
//! port, with persistence): boards publish their streams (each payload a whole stream,
//! core/WIRE.md section 8) through it, and what must hold is
//! * every record published is printed, once, under its board; the status topics give a
//!   line per change, the last will included;
//! * the broker stopped (SIGTERM: it saves its sessions and queues) and restarted
//!   mid-stream: no record is missing (`gaps_uncovered` = 0); what came twice is counted
//!   as duplicates and printed once;
//! * the broker killed (SIGKILL: what it held is gone) mid-stream: every number missing is
//!   counted as an uncovered gap, none silently;
//! * two decoders of one shared subscription (`$share/GROUP/...`) decode each record
//!   exactly once between them, and neither counts the other's numbers as lost;
//! * a decoder restarted with the same client id gets what the broker queued meanwhile;
//! * bad URLs are usage errors; an unreachable broker is said once and retried;
//! * real agents (`stream --to mqtt://`) through the broker, stopped and restarted in the
//!   middle of an exit storm: every number each agent gave out is a record printed once
//!   or inside a Loss frame, and every storm exit is accounted for.
//!
//! Most tests publish recorded streams with `common::publisher` (no kernel needed); the
//! last one runs the agents on this machine's kernel.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::broker::Broker;
use common::procs::{Proc, agent_summary};
use common::publisher::{Publisher, TestBoard};
use common::{json, num, storm, taskwire, unique_comm};

const WAIT: Duration = Duration::from_secs(20);

/// Skips (with the reason) when Mosquitto is not installed.
fn broker() -> Option<Broker> {
    if let Some(why) = Broker::unavailable() {
        common::skip(&why);
        return None;
    }
    Some(Broker::start())
}

/// `taskwire decode --from URL --format json --stats`, once it has subscribed.
fn decoder(name: &str, url: &str) -> Proc {
    let mut cmd = Command::new(taskwire());
    cmd.args(["decode", "--from", url, "--format", "json", "--stats"]);
    let mut d = Proc::spawn(name, cmd);
    d.wait_lines("subscribed to", 1, WAIT);
    d
}

/// Stops a decoder (SIGTERM); its records by board, and its stats lines by board
/// (`"total"` for the total).
struct Run {
    records: BTreeMap<String, Vec<u64>>,
    stats: BTreeMap<String, serde_json::Value>,
    stderr: Vec<String>,
}

fn finish(d: Proc) -> Run {
    let name = d.name().to_owned();
    let (code, out, stderr) = d.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{name}: {stderr:?}");
    let mut records: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for l in out.lines() {
        let v = json(l);
        if v["type"] == "record" {
            records
                .entry(v["board"].as_str().unwrap().to_owned())
                .or_default()
                .push(num(&v, "seq"));
        }
    }
    let mut stats = BTreeMap::new();
    for l in &stderr {
        if !l.starts_with('{') {
            continue;
        }
        let v = json(l);
        match v["type"].as_str() {
            Some("stats") => {
                stats.insert(v["board"].as_str().unwrap().to_owned(), v);
            }
            Some("stats_total") => {
                stats.insert("total".to_owned(), v);
            }
            _ => {}
        }
    }
    assert!(stats.contains_key("total"), "{name}: no stats: {stderr:?}");
    Run {
        records,
        stats,
        stderr,
    }
}

/// Publishes `payloads` payloads of `per` records for each board, round robin.
fn publish_all(p: &mut [(TestBoard, Publisher)], payloads: u64, per: u64) {
    for _ in 0..payloads {
        for (b, pubr) in p.iter_mut() {
            let payload = b.payload(per);
            pubr.publish(&b.topic, &payload, false);
        }
    }
}

fn boards(broker: &Broker, n: usize) -> Vec<(TestBoard, Publisher)> {
    (0..n)
        .map(|i| {
            let b = TestBoard::new(&format!("b{i}"), 0x1000 + i as u64);
            let p = Publisher::connect(broker.port(), &b.id, Some(&b.status_topic()));
            (b, p)
        })
        .collect()
}

/// Every number of `0..n` printed exactly once for `board`.
fn assert_whole(run: &Run, board: &str, n: u64) {
    let got = run.records.get(board).cloned().unwrap_or_default();
    let set: BTreeSet<u64> = got.iter().copied().collect();
    assert_eq!(set.len(), got.len(), "{board}: a record printed twice");
    let missing: Vec<u64> = (0..n).filter(|s| !set.contains(s)).collect();
    assert!(
        missing.is_empty(),
        "{board}: {} missing, from {:?} to {:?}; stats {}; stderr {:?}",
        missing.len(),
        missing.first(),
        missing.last(),
        run.stats
            .get(board)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        run.stderr
            .iter()
            .filter(|l| !l.starts_with('{'))
            .collect::<Vec<_>>()
    );
    assert_eq!(set.len() as u64, n, "{board}: numbers beyond {n}");
}

#[test]
fn every_record_published_is_printed_and_status_changes_are_said() {
    let Some(broker) = broker() else { return };
    let d = decoder("decoder", &broker.url("taskwire/+/stream,client=tw-all"));
    let mut p = boards(&broker, 4);
    for (b, pubr) in p.iter_mut() {
        pubr.publish(&b.status_topic(), b"online", true);
    }
    publish_all(&mut p, 50, 40);
    let mut left = Vec::new();
    for (i, (b, mut pubr)) in p.into_iter().enumerate() {
        if i == 3 {
            // Gone without a word: the broker publishes its will.
            pubr.vanish();
        } else {
            pubr.publish(&b.status_topic(), b"stopped", true);
            pubr.disconnect();
        }
        left.push(b);
    }
    let mut d = d;
    d.wait_lines("went away without stopping (its last will)", 1, WAIT);
    d.wait_lines(" stopped", 3, WAIT);
    std::thread::sleep(Duration::from_millis(500));
    let run = finish(d);
    for b in &left {
        assert_whole(&run, &b.id, 2000);
        let s = &run.stats[&b.id];
        assert_eq!(
            (num(s, "records"), num(s, "gaps"), num(s, "duplicates")),
            (2000, 0, 0),
            "{s}"
        );
        assert_eq!(num(s, "streams"), 1, "one header per topic: {s}");
    }
    let t = &run.stats["total"];
    assert_eq!(num(t, "payloads"), 200, "{t}");
    assert_eq!(
        (
            num(t, "status_online"),
            num(t, "status_stopped"),
            num(t, "status_lost")
        ),
        (4, 3, 1),
        "{t}"
    );
    let said = |needle: &str| run.stderr.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(
        said("board b3 (taskwire/b3/stream) went away without stopping"),
        1
    );
    assert_eq!(said(") stopped"), 3, "{:?}", run.stderr);
    assert_eq!(said("is online"), 4);
}

/// Boards publishing from threads until `stop`, then one last payload each; what each
/// published in all.
fn publishers(
    broker: &Broker,
    n: usize,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<(String, u64, u64)>> {
    (0..n)
        .map(|i| {
            let port = broker.port();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut b = TestBoard::new(&format!("s{i}"), 0x2000 + i as u64);
                let mut p = Publisher::connect(port, &b.id, Some(&b.status_topic()));
                while !stop.load(Ordering::SeqCst) {
                    let payload = b.payload(20);
                    p.publish(&b.topic, &payload, false);
                    std::thread::sleep(Duration::from_millis(2));
                }
                let payload = b.payload(20);
                p.publish(&b.topic, &payload, false);
                // After the last payload on the same connection: when the decoder says
                // it, it has read the rest (the broker keeps a client's order).
                p.publish(&b.status_topic(), b"stopped", true);
                let reconnects = p.reconnects;
                p.disconnect();
                (b.id, b.next, reconnects)
            })
        })
        .collect()
}

#[test]
fn a_broker_stopped_and_restarted_mid_stream_loses_nothing() {
    let Some(mut broker) = broker() else { return };
    let mut d = decoder(
        "decoder",
        &broker.url("taskwire/+/stream,client=tw-restart"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let threads = publishers(&broker, 3, stop.clone());
    std::thread::sleep(Duration::from_millis(700));
    broker.stop();
    d.wait_lines("lost the MQTT broker", 1, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    broker.start_again();
    d.wait_lines("is back after", 1, WAIT);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let sent: Vec<(String, u64, u64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    d.wait_lines(") stopped", 3, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    let run = finish(d);
    for (id, n, reconnects) in &sent {
        assert!(*reconnects >= 1, "{id} did not see the restart");
        assert_whole(&run, id, *n);
        let s = &run.stats[id];
        assert_eq!(
            (num(s, "gaps_uncovered"), num(s, "records")),
            (0, *n),
            "{s}"
        );
    }
    let t = &run.stats["total"];
    assert!(num(t, "broker_outages") >= 1, "{t}");
    assert_eq!(
        num(t, "broker_sessions_lost"),
        0,
        "persistence kept it: {t}"
    );
    assert_eq!(
        run.stderr
            .iter()
            .filter(|l| l.contains("lost the MQTT broker"))
            .count(),
        1,
        "said once per outage: {:?}",
        run.stderr
    );
    eprintln!(
        "broker restart: {} records, {} duplicates dropped",
        num(t, "records"),
        num(t, "duplicates")
    );
}

#[test]
fn a_broker_killed_mid_stream_leaves_only_counted_gaps() {
    let Some(mut broker) = broker() else { return };
    let mut d = decoder("decoder", &broker.url("taskwire/+/stream,client=tw-kill"));
    let stop = Arc::new(AtomicBool::new(false));
    let threads = publishers(&broker, 3, stop.clone());
    std::thread::sleep(Duration::from_millis(700));
    broker.kill();
    d.wait_lines("lost the MQTT broker", 1, WAIT);
    broker.start_again();
    // Subscribed again before the last payloads, so that a loss is a gap, not a tail.
    d.wait_lines("is back after", 1, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let sent: Vec<(String, u64, u64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    d.wait_lines(") stopped", 3, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    let run = finish(d);
    let mut lost = 0;
    for (id, n, _) in &sent {
        let got = run.records.get(id).cloned().unwrap_or_default();
        let set: BTreeSet<u64> = got.iter().copied().collect();
        assert_eq!(set.len(), got.len(), "{id}: a record printed twice");
        let missing = (0..*n).filter(|s| !set.contains(s)).count() as u64;
        assert!(set.contains(&(n - 1)), "{id}: the last payload arrived");
        let s = &run.stats[id];
        assert_eq!(
            num(s, "gaps_uncovered"),
            missing,
            "{id}: every loss counted: {s}"
        );
        assert_eq!(num(s, "records"), set.len() as u64, "{s}");
        assert_eq!(num(s, "next_seq"), *n, "{s}");
        lost += missing;
    }
    let t = &run.stats["total"];
    assert_eq!(
        num(t, "broker_sessions_lost"),
        1,
        "a killed broker keeps no session: {t}"
    );
    assert!(
        run.stderr
            .iter()
            .any(|l| l.contains("kept no session for client id tw-kill")),
        "{:?}",
        run.stderr
    );
    eprintln!("broker killed: {lost} records lost with it, each an uncovered gap");
}

#[test]
fn two_shared_decoders_decode_each_record_exactly_once() {
    let Some(broker) = broker() else { return };
    let url = |c: &str| broker.url(&format!("$share/fleet/taskwire/+/stream,client={c}"));
    let d1 = decoder("decoder 1", &url("tw-share-1"));
    let d2 = decoder("decoder 2", &url("tw-share-2"));
    // Three boards: Mosquitto hands a group's messages round robin, whatever their topic,
    // so with an even number of boards each decoder would get whole boards.
    let mut p = boards(&broker, 3);
    publish_all(&mut p, 50, 20);
    for (_, pubr) in p.iter_mut() {
        pubr.flush();
    }
    std::thread::sleep(Duration::from_millis(1000));
    let (r1, r2) = (finish(d1), finish(d2));
    let mut records = 0;
    for (b, _) in &p {
        let s1: BTreeSet<u64> = r1
            .records
            .get(&b.id)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let s2: BTreeSet<u64> = r2
            .records
            .get(&b.id)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let both: Vec<&u64> = s1.intersection(&s2).collect();
        assert!(both.is_empty(), "{}: decoded twice: {both:?}", b.id);
        let all: BTreeSet<u64> = s1.union(&s2).copied().collect();
        assert_eq!(
            all,
            (0..1000).collect(),
            "{}: the union is every record",
            b.id
        );
        assert!(!s1.is_empty() && !s2.is_empty(), "{}: shared", b.id);
        records += s1.len() + s2.len();
    }
    assert_eq!(records, 3000);
    for r in [&r1, &r2] {
        let t = &r.stats["total"];
        assert_eq!(
            num(t, "gaps_uncovered"),
            0,
            "another decoder's numbers are no loss: {t}"
        );
        assert!(num(t, "gaps_not_seen_here") > 0, "{t}");
        assert_eq!(num(t, "duplicates"), 0, "{t}");
    }
    // The fleet's totals are the sums over the group's decoders.
    let sum = |k: &str| num(&r1.stats["total"], k) + num(&r2.stats["total"], k);
    assert_eq!(sum("records"), 3000);
    assert_eq!(sum("payloads"), 150);
}

#[test]
fn a_decoder_restarted_with_its_client_id_gets_what_was_queued() {
    let Some(broker) = broker() else { return };
    let url = broker.url("taskwire/+/stream,client=tw-again");
    let d = decoder("first run", &url);
    let mut p = boards(&broker, 2);
    publish_all(&mut p, 10, 25);
    std::thread::sleep(Duration::from_millis(500));
    let first = finish(d);
    // Away: the broker queues for its session.
    publish_all(&mut p, 10, 25);
    for (_, pubr) in p.iter_mut() {
        pubr.flush();
    }
    let d = decoder("second run", &url);
    publish_all(&mut p, 10, 25);
    for (_, pubr) in p.iter_mut() {
        pubr.flush();
    }
    std::thread::sleep(Duration::from_millis(700));
    let second = finish(d);
    for (b, _) in &p {
        let a: BTreeSet<u64> = first
            .records
            .get(&b.id)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let z: BTreeSet<u64> = second
            .records
            .get(&b.id)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        assert!(
            a.intersection(&z).next().is_none(),
            "{}: printed by both runs",
            b.id
        );
        let all: BTreeSet<u64> = a.union(&z).copied().collect();
        assert_eq!(
            all,
            (0..750).collect(),
            "{}: the runs have every record",
            b.id
        );
        assert!(
            (250..750).all(|s| z.contains(&s)),
            "{}: queued, then live",
            b.id
        );
        let s = &second.stats[&b.id];
        assert_eq!(num(s, "gaps_uncovered"), 0, "{s}");
    }
}

#[test]
fn bad_urls_are_usage_errors_and_an_unreachable_broker_is_retried() {
    for (url, why) in [
        ("mqtt:broker", "mqtt://HOST"),
        ("mqtt://", "a broker host is needed"),
        ("mqtt://h:99999", "not a number"),
        ("mqtt://h/a/#/b", "# can only be the last level"),
        ("mqtt://h/$share/g", "a filter is needed"),
        ("mqtt://h,qos=1", "unknown mqtt option"),
        ("mqtt://h,password-file=/nonexistent/pw", "no such file"),
    ] {
        let out = common::tw(&["decode", "--from", url]);
        assert_eq!(out.code(), 2, "{url}: {}", out.stderr);
        assert!(out.stderr.contains(why), "{url}: {}", out.stderr);
    }
    let Some(mut broker) = broker() else { return };
    broker.stop();
    let mut cmd = Command::new(taskwire());
    cmd.args([
        "decode",
        "--from",
        &broker.url("taskwire/+/stream,client=tw-late"),
    ]);
    let mut d = Proc::spawn("decoder", cmd);
    let said = d.wait_lines("cannot reach the MQTT broker", 1, WAIT);
    assert!(
        said.contains("nothing is listening there; trying again"),
        "{said}"
    );
    broker.start_again();
    d.wait_lines("subscribed to taskwire/+/stream", 1, WAIT);
    let (code, _, lines) = d.stop(libc::SIGTERM);
    assert_eq!(code, Some(0));
    assert_eq!(
        lines.iter().filter(|l| l.contains("cannot reach")).count(),
        1,
        "once per outage: {lines:?}"
    );
}

#[test]
fn two_decoders_with_one_client_id_are_told_and_one_stops() {
    let Some(broker) = broker() else { return };
    let url = broker.url("taskwire/+/stream,client=tw-twin");
    let mut first = decoder("first", &url);
    let mut second = decoder("second", &url);
    // Each takes the session over from the other until one of them gives up.
    let end = std::time::Instant::now() + WAIT;
    let (mut quit, stayed) = loop {
        if first.child.try_wait().unwrap().is_some() {
            break (first, second);
        }
        if second.child.try_wait().unwrap().is_some() {
            break (second, first);
        }
        assert!(std::time::Instant::now() < end, "neither decoder gave up");
        std::thread::sleep(Duration::from_millis(50));
    };
    quit.wait_lines("own client=ID", 1, WAIT);
    let code = quit.child.wait().unwrap().code();
    assert_eq!(code, Some(1));
    let line = quit.lines.iter().find(|l| l.contains("client=ID")).unwrap();
    assert!(line.contains("same client id tw-twin"), "{line}");
    let (code, _, _) = stayed.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "the other one goes on");
}

/// Why this build's `stream` cannot publish to a broker, or `None` when it can.
fn no_mqtt_sink() -> Option<String> {
    let out = common::tw(&["stream", "--to", "mqtt://"]);
    out.stderr
        .contains("unknown endpoint type 'mqtt'")
        .then(|| {
            "this build's `stream` has no mqtt:// sink (cargo feature mqtt of the agent)".into()
        })
}

#[test]
fn agents_through_a_broker_restarted_mid_storm_lose_nothing_unreported() {
    require_kernel!();
    if let Some(why) = no_mqtt_sink() {
        common::skip(&why);
        return;
    }
    let Some(mut broker) = broker() else { return };
    const PROCS: u64 = 20_000;
    let mut d = decoder("decoder", &broker.url("taskwire/+/stream,client=tw-agents"));
    let ids = ["rig1", "rig2", "rig3"];
    let mut agents: Vec<Proc> = ids
        .iter()
        .map(|id| {
            let mut cmd = Command::new(taskwire());
            cmd.args(["stream", "--to", &broker.url(""), "--id", id])
                .args(["--rcvbuf", "8M", "--profile", "acct", "--queue", "50000"]);
            Proc::spawn(id, cmd)
        })
        .collect();
    for a in &mut agents {
        a.wait_lines("registered", 1, WAIT);
    }
    d.wait_lines("is online", 3, WAIT);
    let comm = unique_comm("twmqh");
    let load = {
        let comm = comm.clone();
        std::thread::spawn(move || {
            let st = Command::new(storm())
                .args(["--procs", &PROCS.to_string(), "--comm", &comm])
                .output()
                .expect("storm");
            assert!(st.status.success());
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    broker.stop();
    std::thread::sleep(Duration::from_millis(500));
    broker.start_again();
    load.join().unwrap();
    d.wait_lines("is back after", 1, WAIT);
    // The agents send what they queued meanwhile; then they stop, and say so last.
    std::thread::sleep(Duration::from_millis(2000));
    let mut given = BTreeMap::new();
    for a in agents {
        let id = a.name().to_owned();
        let (code, _, lines) = a.stop(libc::SIGTERM);
        assert_eq!(code, Some(0), "{id}: {lines:?}");
        let (received, lost, line) = agent_summary(&lines);
        given.insert(id, (received, lost, line));
    }
    d.wait_lines(") stopped", 3, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    let (code, out, stderr) = d.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{stderr:?}");
    let mut seqs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut storm_records: BTreeMap<String, u64> = BTreeMap::new();
    let mut covered: BTreeMap<String, u64> = BTreeMap::new();
    for v in out.lines().map(json) {
        let board = v["board"].as_str().unwrap_or_default().to_owned();
        match v["type"].as_str() {
            Some("record") => {
                seqs.entry(board.clone()).or_default().push(num(&v, "seq"));
                if v["comm"].as_str() == Some(comm.as_str()) {
                    *storm_records.entry(board).or_default() += 1;
                }
            }
            Some("loss") if v["reason"] != "kernel_enobufs" => {
                *covered.entry(board).or_default() += num(&v, "count");
            }
            _ => {}
        }
    }
    let stats: BTreeMap<String, serde_json::Value> = stderr
        .iter()
        .filter(|l| l.starts_with("{\"type\":\"stats\""))
        .map(|l| json(l))
        .map(|v| (v["board"].as_str().unwrap().to_owned(), v))
        .collect();
    for (id, (received, lost, line)) in &given {
        let got = &seqs[id];
        let set: BTreeSet<u64> = got.iter().copied().collect();
        assert_eq!(set.len(), got.len(), "{id}: a record printed twice");
        let s = &stats[id];
        assert_eq!(num(s, "gaps_uncovered"), 0, "{id}: {s} / {line}");
        // Every number the agent gave out: a record printed, or inside a Loss frame.
        assert_eq!(num(s, "next_seq"), *received, "{id}: {s} / {line}");
        assert_eq!(
            set.len() as u64 + covered.get(id).copied().unwrap_or(0),
            *received,
            "{id}: {line}"
        );
        assert_eq!(covered.get(id).copied().unwrap_or(0), *lost, "{id}: {line}");
        // Every exit of the storm decoded, or among the records reported lost.
        let storm = storm_records.get(id).copied().unwrap_or(0);
        assert!(
            storm <= PROCS && PROCS <= storm + lost,
            "{id}: {storm} of {PROCS}, {line}"
        );
        eprintln!(
            "{id}: {storm} storm records decoded, {lost} lost by the agent, {} duplicates",
            num(s, "duplicates")
        );
    }
}
