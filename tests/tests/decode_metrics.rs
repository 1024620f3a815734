//! `taskwire decode --metrics` scraped by a real Prometheus (`/usr/bin/prometheus`, the
//! Debian package), and the counts read back through Prometheus's HTTP API.
//!
//! Two agents stream into one `decode --from tcp-listen: --metrics`: `prom-lossy`, with a
//! queue of 64 records, sees an exit storm while no decoder is up yet, so it reports
//! queue overflow losses once it connects; `prom-board`, started once the decoder is up,
//! sees a second storm. Prometheus scrapes the decoder every second. Once both agents
//! have stopped (their last scrape shows no connection), what Prometheus holds must be
//! what the decoder printed and counted: records per board (its --stats), the losses the
//! lossy board reported, and the second storm's exits under its own comm (all but the
//! first 3, which count under comm="other" before the comm gets a series: README,
//! "Metrics").
//!
//! And without Prometheus or a kernel: a recording decoded with --metrics is served, with
//! its final counts, after its end and until a stop signal.

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::procs::{Proc, agent_summary};
use common::{json, num, run_storm, taskwire, unique_comm};

const PROMETHEUS: &str = "/usr/bin/prometheus";
/// Exits of a comm counted under `other` before it gets a series of its own.
const BEFORE_OWN_SERIES: u64 = 3;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A directory of its own under the temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A GET on 127.0.0.1:`port`: (status code, body).
fn get(port: u16, target: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    let status = r.split(' ').nth(1)?.parse().ok()?;
    let body = r.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// `q` percent-encoded for a query string.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus server of its own, scraping `target` every second.
struct Prometheus {
    /// Killed on drop.
    _proc: Proc,
    port: u16,
    _dir: TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = TempDir::new("taskwire-prometheus");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: taskwire\n    static_configs:\n      \
                 - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let mut cmd = Command::new(PROMETHEUS);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn");
        let proc = Proc::spawn("prometheus", cmd);
        let end = Instant::now() + Duration::from_secs(30);
        while get(port, "/-/ready").is_none_or(|(s, _)| s != 200) {
            assert!(Instant::now() < end, "prometheus not ready within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Prometheus {
            _proc: proc,
            port,
            _dir: dir,
        }
    }

    /// The instant query `q`: (labels, value) of each series.
    fn query(&self, q: &str) -> Vec<(serde_json::Value, f64)> {
        let (status, body) = get(self.port, &format!("/api/v1/query?query={}", encode(q)))
            .unwrap_or_else(|| panic!("no answer to {q}"));
        assert_eq!(status, 200, "{q}: {body}");
        let v = json(&body);
        v["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{q}: {body}"))
            .iter()
            .map(|r| {
                let value = r["value"][1].as_str().and_then(|s| s.parse().ok());
                (r["metric"].clone(), value.unwrap_or(f64::NAN))
            })
            .collect()
    }

    /// The one value of `q`, once it has one.
    fn value(&self, q: &str) -> Option<f64> {
        match self.query(q)[..] {
            [(_, v)] => Some(v),
            _ => None,
        }
    }

    /// Waits until `q` has a value satisfying `ok`; returns it.
    fn wait_for(&self, q: &str, limit: Duration, ok: impl Fn(f64) -> bool) -> f64 {
        let end = Instant::now() + limit;
        loop {
            let v = self.value(q);
            if let Some(v) = v.filter(|&v| ok(v)) {
                return v;
            }
            assert!(
                Instant::now() < end,
                "{q}: {v:?} after {limit:?}; targets: {:?}",
                get(self.port, "/api/v1/targets")
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn agent(port: u16, id: &str, queue: &str) -> Proc {
    let mut cmd = Command::new(taskwire());
    cmd.args(["stream", "--to", &format!("tcp:127.0.0.1:{port}")])
        .args([
            "--id",
            id,
            "--rcvbuf",
            "8M",
            "--queue",
            queue,
            "--heartbeat",
            "1",
        ]);
    let mut p = Proc::spawn(id, cmd);
    p.wait_lines("registered", 1, Duration::from_secs(10));
    p
}

#[test]
fn prometheus_scrapes_the_counts_the_decoder_made() {
    require_kernel!();
    if !Path::new(PROMETHEUS).is_file() {
        common::skip(&format!(
            "{PROMETHEUS} is missing (Debian package prometheus; scripts/setup installs it)"
        ));
        return;
    }
    let (listen, metrics) = (free_port(), free_port());
    let comm_lost = unique_comm("twpromA");
    let comm = unique_comm("twpromB");

    // Exits while no decoder is up: a queue of 64 overflows.
    let lossy = agent(listen, "prom-lossy", "64");
    run_storm(&comm_lost, 1000);

    let prom = Prometheus::start(&format!("127.0.0.1:{metrics}"));
    let mut cmd = Command::new(taskwire());
    cmd.args(["decode", "--format", "json", "--stats"])
        .arg(format!("--from=tcp-listen:127.0.0.1:{listen}"))
        .arg(format!("--metrics=127.0.0.1:{metrics}"))
        .args(["--metrics-top-comms", "100"]);
    let mut decoder = Proc::spawn("decoder", cmd);
    decoder.wait_lines("serving metrics on", 1, Duration::from_secs(10));
    decoder.wait_lines("connected (board prom-lossy)", 1, Duration::from_secs(15));
    prom.wait_for("up{job=\"taskwire\"}", Duration::from_secs(30), |v| {
        v == 1.0
    });

    let board = agent(listen, "prom-board", "50000");
    decoder.wait_lines("connected (board prom-board)", 1, Duration::from_secs(15));
    run_storm(&comm, 2000);
    std::thread::sleep(Duration::from_millis(500));
    let lossy_lines = lossy.stop(libc::SIGTERM).2;
    let (_, lost, _) = agent_summary(&lossy_lines);
    let board_lines = board.stop(libc::SIGTERM).2;
    let _ = agent_summary(&board_lines);
    assert!(lost > 0, "the lossy board lost nothing: {lossy_lines:?}");

    // A scrape after both connections closed has the final counts.
    for b in ["prom-lossy", "prom-board"] {
        prom.wait_for(
            &format!("taskwire_board_connections{{board=\"{b}\"}}"),
            Duration::from_secs(30),
            |v| v == 0.0,
        );
    }
    let records = |b: &str| {
        prom.value(&format!("sum(taskwire_records_total{{board=\"{b}\"}})"))
            .unwrap_or(f64::NAN) as u64
    };
    let scraped = [records("prom-lossy"), records("prom-board")];
    let lost_scraped = prom
        .value("taskwire_losses_total{board=\"prom-lossy\",reason=\"queue_overflow\"}")
        .unwrap_or(f64::NAN) as u64;
    let storm_scraped = prom
        .value(&format!(
            "taskwire_exits_total{{board=\"prom-board\",comm=\"{comm}\"}}"
        ))
        .unwrap_or(f64::NAN) as u64;

    let (code, out, lines) = decoder.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{lines:?}");
    let stats = |b: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with('{'))
            .map(|l| json(l))
            .find(|v| v["type"] == "stats" && v["board"] == b)
            .unwrap_or_else(|| panic!("no stats of {b}: {lines:?}"))
    };
    let (lossy_stats, board_stats) = (stats("prom-lossy"), stats("prom-board"));
    assert_eq!(
        scraped,
        [num(&lossy_stats, "records"), num(&board_stats, "records")],
        "records per board, Prometheus against decode --stats"
    );
    assert_eq!(lost_scraped, num(&lossy_stats, "lost_queue_overflow"));
    assert!(lost_scraped > 0);
    let storm_decoded = out
        .lines()
        .map(json)
        .filter(|v| {
            v["type"] == "record"
                && v["board"] == "prom-board"
                && v["kind"] == "pid"
                && v["comm"] == comm.as_str()
        })
        .count() as u64;
    assert!(storm_decoded >= 1000, "{storm_decoded} storm exits decoded");
    assert_eq!(
        storm_scraped + BEFORE_OWN_SERIES,
        storm_decoded,
        "the storm's exits under its comm, Prometheus against the decoded records"
    );
    drop(prom);
}

#[test]
fn a_recording_stays_served_until_a_stop_signal() {
    let dir = TempDir::new("taskwire-metrics-file");
    let file = dir.path().join("rig.twr");
    std::fs::write(
        &file,
        taskwire_core::wire::testutil::stream_bytes("rig \"1\"", 0..25),
    )
    .unwrap();
    let mut cmd = Command::new(taskwire());
    cmd.args(["decode", "--metrics", "127.0.0.1:0", "--from"])
        .arg(format!("file:{}", file.display()));
    let mut decoder = Proc::spawn("decoder", cmd);
    let line = decoder.wait_lines("serving metrics on", 1, Duration::from_secs(10));
    let port: u16 = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches("/metrics").parse().ok())
        .unwrap_or_else(|| panic!("no port in {line}"));
    decoder.wait_lines("the metrics stay served", 1, Duration::from_secs(10));
    let (status, body) = get(port, "/metrics").expect("an answer after the input ended");
    assert_eq!(status, 200);
    assert!(
        body.contains("\ntaskwire_records_total{board=\"rig \\\"1\\\"\",kind=\"pid\"} 25\n"),
        "{body}"
    );
    assert_eq!(get(port, "/").map(|(s, _)| s), Some(404));
    let (code, _, lines) = decoder.stop(libc::SIGINT);
    assert_eq!(code, Some(0), "{lines:?}");
}
