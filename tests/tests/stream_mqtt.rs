//! `stream --to mqtt://` through a real Mosquitto (core/WIRE.md section 8): the agent
//! publishes an exit storm, each payload decodes alone, every record of the storm is in
//! them, and the status topic says `online`, then `stopped` after SIGTERM or `lost` (the
//! will) after SIGKILL; a broker that is down when the agent starts is waited for, and
//! what the queue dropped meanwhile is covered by Loss frames.
//!
//! What the broker delivered is read by `mosquitto_sub` with a persistent session made
//! before the agent starts: the broker queues every message for it, so none is missed
//! whatever the timing, and it reads them afterwards.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::broker::Broker;
use common::procs::{Proc, agent_summary, summary_number};
use common::{json, num, run_storm, taskwire, unique_comm};

const SUB: &str = "/usr/bin/mosquitto_sub";

macro_rules! require_broker {
    () => {
        require_kernel!();
        if let Some(why) = Broker::unavailable() {
            common::skip(&why);
            return;
        }
        if !std::path::Path::new(SUB).is_file() {
            common::skip(&format!("{SUB} is missing: install mosquitto-clients"));
            return;
        }
    };
}

/// `mosquitto_sub` for MQTT 5, QoS 1, in the persistent session `client`, subscribed to
/// `topic` and its status topic.
fn sub(b: &Broker, client: &str, topic: &str) -> Command {
    let mut c = Command::new(SUB);
    c.args([
        "-V",
        "mqttv5",
        "-h",
        "127.0.0.1",
        "-p",
        &b.port().to_string(),
    ])
    .args(["-c", "-i", client, "-q", "1"])
    .args(["-t", topic, "-t", &format!("{topic}/status")]);
    c
}

/// Makes the subscriber's session, so that the broker queues what is published from
/// now on.
fn subscribe(b: &Broker, client: &str, topic: &str) {
    let out = sub(b, client, topic)
        .arg("-E")
        .output()
        .expect("mosquitto_sub");
    assert!(out.status.success(), "{out:?}");
}

/// Everything the broker queued for the session: (topic, payload) in order. Retained
/// messages, which the broker sends again on the new subscription, are left out.
fn drain(b: &Broker, client: &str, topic: &str) -> Vec<(String, Vec<u8>)> {
    let out = sub(b, client, topic)
        .args(["-F", "%r %t %x", "-W", "3"])
        .output()
        .expect("mosquitto_sub");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("0 "))
        .map(|l| {
            let (t, hex) = l.split_once(' ').unwrap_or((l, ""));
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (t.to_owned(), bytes)
        })
        .collect()
}

fn statuses(msgs: &[(String, Vec<u8>)], topic: &str) -> Vec<String> {
    let status = format!("{topic}/status");
    msgs.iter()
        .filter(|(t, _)| *t == status)
        .map(|(_, p)| String::from_utf8_lossy(p).into_owned())
        .collect()
}

fn agent(url: &str, id: &str, queue: &str) -> Proc {
    let mut cmd = Command::new(taskwire());
    cmd.args(["stream", "--to", url, "--id", id])
        .args(["--rcvbuf", "8M", "--profile", "acct", "--queue", queue])
        .args(["--heartbeat", "1"]);
    Proc::spawn(id, cmd)
}

/// What the payloads carried, each decoded alone by `taskwire decode --from file:`.
#[derive(Default)]
struct Decoded {
    payloads: usize,
    records: BTreeSet<u64>,
    lost: BTreeSet<u64>,
    comm: BTreeSet<u64>,
}

fn decode_each(msgs: &[(String, Vec<u8>)], topic: &str, board: &str, comm: &str) -> Decoded {
    let dir = std::env::temp_dir().join(format!("tw-mqtt-{}-{board}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut d = Decoded::default();
    for (i, (_, payload)) in msgs.iter().filter(|(t, _)| t == topic).enumerate() {
        assert!(
            payload.len() <= 16 * 1024,
            "payload {i}: {} bytes",
            payload.len()
        );
        let file = dir.join(format!("p{i}.twr"));
        std::fs::write(&file, payload).unwrap();
        let out = Command::new(taskwire())
            .args(["decode", "--format", "json", "--stats", "--from"])
            .arg(format!("file:{}", file.display()))
            .output()
            .expect("decode");
        assert!(out.status.success(), "payload {i}: {out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let mut lines = stdout.lines().map(json);
        let first = lines.next().expect("a header");
        assert_eq!(
            first["type"], "header",
            "payload {i} starts with the header"
        );
        assert_eq!(first["board"], board);
        for v in lines {
            assert_eq!(v["board"], board, "payload {i}");
            match v["type"].as_str() {
                Some("record") => {
                    let seq = num(&v, "seq");
                    d.records.insert(seq);
                    if v["comm"].as_str() == Some(comm) {
                        d.comm.insert(seq);
                    }
                }
                Some("loss") if v["reason"] != "kernel_enobufs" => {
                    let (count, next) = (num(&v, "count"), num(&v, "next_seq"));
                    d.lost.extend(next - count..next);
                }
                Some("header") => panic!("payload {i}: one header only"),
                _ => {}
            }
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(" 0 frames rejected"),
            "payload {i}: {stderr}"
        );
        d.payloads += 1;
    }
    std::fs::remove_dir_all(&dir).unwrap();
    d
}

#[test]
fn a_storm_through_mosquitto_arrives_whole_and_the_status_says_online_then_stopped() {
    require_broker!();
    let b = Broker::start();
    let topic = "tw/e2e/mq1";
    subscribe(&b, "tw-sub-1", topic);
    let mut a = agent(&b.url(topic), "mq1", "50000");
    a.wait_lines("registered", 1, Duration::from_secs(10));
    let comm = unique_comm("twmq");
    run_storm(&comm, 3000);
    std::thread::sleep(Duration::from_millis(1500));
    let (code, _, lines) = a.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{lines:?}");
    let (received, lost, line) = agent_summary(&lines);
    assert_eq!(lost, 0, "{line}");
    assert_eq!(summary_number(&line, " not acknowledged"), 0, "{line}");
    let msgs = drain(&b, "tw-sub-1", topic);
    assert_eq!(statuses(&msgs, topic), ["online", "stopped"]);
    let d = decode_each(&msgs, topic, "mq1", &comm);
    assert_eq!(d.comm.len(), 3000, "every storm record");
    assert_eq!(d.records, (0..received).collect(), "{line}");
    assert!(d.payloads > 3, "{}", d.payloads);
}

#[test]
fn a_killed_agent_is_reported_lost_by_its_will() {
    require_broker!();
    let b = Broker::start();
    let topic = "tw/e2e/mq2";
    subscribe(&b, "tw-sub-2", topic);
    let mut a = agent(&b.url(topic), "mq2", "1000");
    a.wait_lines("registered", 1, Duration::from_secs(10));
    // Connected once the retained `online` is there.
    let online = Command::new(SUB)
        .args([
            "-V",
            "mqttv5",
            "-h",
            "127.0.0.1",
            "-p",
            &b.port().to_string(),
        ])
        .args(["-t", &format!("{topic}/status"), "-C", "1", "-W", "10"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&online.stdout).trim(), "online");
    let _ = a.stop(libc::SIGKILL);
    let msgs = drain(&b, "tw-sub-2", topic);
    assert_eq!(statuses(&msgs, topic), ["online", "lost"]);
}

#[test]
fn a_broker_down_at_start_is_waited_for_and_what_was_dropped_is_covered() {
    require_broker!();
    let mut b = Broker::start();
    let topic = "tw/e2e/mq3";
    subscribe(&b, "tw-sub-3", topic);
    b.stop();
    // A small queue: the storm overflows it while the broker is down.
    let mut a = agent(&b.url(topic), "mq3", "200");
    a.wait_lines("will keep trying", 1, Duration::from_secs(10));
    a.wait_lines("registered", 1, Duration::from_secs(10));
    let comm = unique_comm("twmqd");
    run_storm(&comm, 1000);
    b.start_again();
    let online = Command::new(SUB)
        .args([
            "-V",
            "mqttv5",
            "-h",
            "127.0.0.1",
            "-p",
            &b.port().to_string(),
        ])
        .args(["-t", &format!("{topic}/status"), "-C", "1", "-W", "15"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&online.stdout).trim(), "online");
    std::thread::sleep(Duration::from_millis(1500));
    let (code, _, lines) = a.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{lines:?}");
    let (received, lost, line) = agent_summary(&lines);
    assert!(
        lost > 0,
        "the queue overflowed while the broker was down: {line}"
    );
    let msgs = drain(&b, "tw-sub-3", topic);
    assert_eq!(statuses(&msgs, topic), ["online", "stopped"]);
    let d = decode_each(&msgs, topic, "mq3", &comm);
    assert!(d.records.is_disjoint(&d.lost), "{line}");
    let all: BTreeSet<u64> = d.records.union(&d.lost).copied().collect();
    assert_eq!(
        all,
        (0..received).collect(),
        "every number a record or a loss: {line}"
    );
    assert_eq!(d.lost.len() as u64, lost, "{line}");
}

#[test]
fn a_broker_restarted_mid_storm_costs_no_number() {
    require_broker!();
    let mut b = Broker::start();
    let topic = "tw/e2e/mq4";
    subscribe(&b, "tw-sub-4", topic);
    let mut a = agent(&b.url(topic), "mq4", "50000");
    a.wait_lines("registered", 1, Duration::from_secs(10));
    let comm = unique_comm("twmqr");
    let storm = std::thread::spawn({
        let comm = comm.clone();
        move || run_storm(&comm, 4000)
    });
    std::thread::sleep(Duration::from_millis(300));
    // SIGTERM: the broker saves its sessions and queues, and comes back on the same port.
    b.restart();
    storm.join().unwrap();
    a.wait_lines("back after", 1, Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(1500));
    let (code, _, lines) = a.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{lines:?}");
    let (received, _, line) = agent_summary(&lines);
    assert!(summary_number(&line, " reconnects") >= 1, "{line}");
    let msgs = drain(&b, "tw-sub-4", topic);
    let d = decode_each(&msgs, topic, "mq4", &comm);
    // Every number a record or covered by a Loss: what the agent had published and the
    // broker had not acknowledged before it went goes again after the reconnect.
    let all: BTreeSet<u64> = d.records.union(&d.lost).copied().collect();
    assert_eq!(all, (0..received).collect(), "{line}");
    let statuses = statuses(&msgs, topic);
    assert_eq!(statuses.first().map(String::as_str), Some("online"));
    assert_eq!(statuses.last().map(String::as_str), Some("stopped"));
}
