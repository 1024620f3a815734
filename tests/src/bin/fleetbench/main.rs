//! The fleet benchmark: simulated boards through Mosquitto into shared-subscription
//! decoders, against the same boards straight into `decode --from tcp-listen:`.
//!
//! ```text
//! fleetbench --capture FILE [--boards 200] [--records 2000] [--runs 3]
//!            [--mqtt-decoders 2] [--tcp-decoders 4] [--rate R] [--taskwire PATH]
//!            [--tmp DIR] [--json]
//! ```
//!
//! Each run has two phases, MQTT first, then TCP, with the same boards (`fleet-000` ...)
//! replaying the same capture (`taskwire stream --to file:` under an exit storm; its
//! records in order, again from the start when a board needs more than it holds):
//! * mqtt: a Mosquitto of its own; `--mqtt-decoders` decoders, each `decode --from
//!   mqtt://127.0.0.1:PORT/$share/fleet/taskwire/+/stream,client=fleet-decoder-N`; every
//!   board publishes with the agent's MQTT publisher (`stream --to mqtt://`'s code).
//! * tcp: `--tcp-decoders` decoders `--from tcp-listen:127.0.0.1:0`, the boards spread
//!   over them evenly (a decoder takes at most 64 connections), each board with the
//!   connector of `stream --to tcp:`.
//!
//! The boards are threads of this process, each the agent's own writer over its own
//! queue; one feeder thread pushes the capture's records on their queues: as fast as
//! the queues drain (the default: the capacity), or `--rate R` records/s per board
//! (what overflows is lost, as on a board).
//!
//! Measured per phase: sustained records/s (records decoded, over the time from the first
//! record pushed to the last frame any decoder read: its `taskwire_last_seen_timestamp_
//! seconds` metric, heartbeats off), the decoders' CPU per record (utime + stime from
//! /proc/PID/stat, summed over the decoders, over records decoded), the broker's CPU per
//! record, this process's (the boards') CPU per record, and loss: records the boards'
//! queues dropped, plus records pushed but never decoded (a phase ends when the decoders
//! hold every record pushed, or 120 s after the last push). The decoders' `--stats` give
//! duplicates and gaps. A table of medians over the runs, [min-max], and the MQTT
//! phase's ratios to the TCP phase's.

mod capture;
mod fleet;
mod peers;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use capture::Capture;
use fleet::{Fleet, Target};
use peers::{Broker, Decoder, cpu_s};

struct Config {
    capture: String,
    boards: usize,
    records: u64,
    runs: usize,
    mqtt_decoders: usize,
    tcp_decoders: usize,
    rate: Option<f64>,
    taskwire: PathBuf,
    tmp: PathBuf,
    json: bool,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Config, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut c = Config {
        capture: String::new(),
        boards: 200,
        records: 2000,
        runs: 3,
        mqtt_decoders: 2,
        tcp_decoders: 4,
        rate: None,
        taskwire: exe.with_file_name("taskwire"),
        tmp: std::env::temp_dir(),
        json: false,
    };
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        let num = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{a}: not a number: {v}"))
        };
        match a.as_str() {
            "--capture" => c.capture = value()?,
            "--boards" => c.boards = num(value()?)? as usize,
            "--records" => c.records = num(value()?)?,
            "--runs" => c.runs = num(value()?)? as usize,
            "--mqtt-decoders" => c.mqtt_decoders = num(value()?)? as usize,
            "--tcp-decoders" => c.tcp_decoders = num(value()?)? as usize,
            "--rate" => {
                let v = value()?;
                c.rate = Some(
                    v.parse()
                        .map_err(|_| format!("--rate: not a number: {v}"))?,
                );
            }
            "--taskwire" => c.taskwire = value()?.into(),
            "--tmp" => c.tmp = value()?.into(),
            "--json" => c.json = true,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if c.capture.is_empty() {
        return Err("--capture FILE is needed (a `taskwire stream --to file:` capture)".into());
    }
    if c.boards == 0 || c.records == 0 || c.runs == 0 || c.mqtt_decoders == 0 {
        return Err("--boards, --records, --runs and --mqtt-decoders must be at least 1".into());
    }
    if c.tcp_decoders == 0 || c.boards > 64 * c.tcp_decoders {
        return Err(format!(
            "--tcp-decoders {}: a decoder takes at most 64 connections, {} boards need {}",
            c.tcp_decoders,
            c.boards,
            c.boards.div_ceil(64)
        ));
    }
    Ok(c)
}

/// What one phase measured.
#[derive(Debug, Clone, Default)]
struct Phase {
    name: &'static str,
    pushed: u64,
    decoded: u64,
    lost_on_boards: u64,
    /// Pushed, not dropped by the boards, and not decoded.
    lost_in_transit: u64,
    duplicates: u64,
    records_per_s: f64,
    decoder_us_per_record: f64,
    broker_us_per_record: f64,
    boards_us_per_record: f64,
    seconds: f64,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// This process's CPU time (the boards and the feeder), seconds.
fn own_cpu_s() -> f64 {
    cpu_s(std::process::id())
}

fn phase(c: &Config, cap: &Capture, mqtt: bool, run: u64) -> Phase {
    let broker = mqtt.then(|| Broker::start(&c.tmp));
    let decoders: Vec<Decoder> = match &broker {
        Some(b) => (0..c.mqtt_decoders)
            .map(|i| {
                let from = format!(
                    "mqtt://127.0.0.1:{}/$share/fleet/taskwire/+/stream,client=fleet-decoder-{i}",
                    b.port
                );
                Decoder::start(&c.taskwire, &from, "subscribed to")
            })
            .collect(),
        None => (0..c.tcp_decoders)
            .map(|_| Decoder::start(&c.taskwire, "tcp-listen:127.0.0.1:0", "listening on"))
            .collect(),
    };
    let target = match &broker {
        Some(b) => Target::Mqtt(b.port),
        None => Target::Tcp(decoders.iter().filter_map(|d| d.listen).collect()),
    };
    let cpu_before: Vec<f64> = decoders.iter().map(|d| cpu_s(d.pid())).collect();
    let broker_before = broker.as_ref().map_or(0.0, |b| cpu_s(b.pid()));
    let own_before = own_cpu_s();
    let fleet = Fleet::start(c.boards, cap, &target, run);
    let start = unix_now();
    fleet.feed(cap, c.records, c.rate);
    // Done when the decoders hold every record the boards kept (a rate may overflow
    // their queues), or when nothing more arrives.
    let expected = c.records * c.boards as u64;
    let mut last_change = Instant::now();
    let mut seen = (0u64, 0f64);
    loop {
        let (decoded, last) = decoders
            .iter()
            .map(Decoder::progress)
            .fold((0u64, 0f64), |(n, t), (m, u)| (n + m, t.max(u)));
        if decoded != seen.0 {
            last_change = Instant::now();
        }
        seen = (decoded, last);
        if decoded >= expected || last_change.elapsed() > Duration::from_secs(120) {
            break;
        }
        // With a rate that overflows, fewer than `expected` ever arrive: a quiet spell
        // after the feeding ends is the end too.
        if c.rate.is_some() && last_change.elapsed() > Duration::from_secs(5) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let decoder_cpu: f64 = decoders
        .iter()
        .zip(&cpu_before)
        .map(|(d, b)| cpu_s(d.pid()) - b)
        .sum();
    let broker_cpu = broker
        .as_ref()
        .map_or(0.0, |b| cpu_s(b.pid()) - broker_before);
    let own_cpu = own_cpu_s() - own_before;
    let sent = fleet.stop(Duration::from_secs(1));
    let stats: Vec<peers::Stats> = decoders.into_iter().map(Decoder::stop).collect();
    drop(broker);
    let sum = |k: &str| {
        stats
            .iter()
            .map(|s| s.get(k).copied().unwrap_or(0))
            .sum::<u64>()
    };
    let decoded = sum("records");
    let seconds = (seen.1 - start).max(1e-9);
    let per = |cpu: f64| cpu * 1e6 / decoded.max(1) as f64;
    Phase {
        name: if mqtt { "mqtt" } else { "tcp" },
        pushed: sent.pushed,
        decoded,
        lost_on_boards: sent.lost,
        lost_in_transit: sent
            .pushed
            .saturating_sub(sent.lost)
            .saturating_sub(decoded),
        duplicates: sum("duplicates"),
        records_per_s: seen.0 as f64 / seconds,
        decoder_us_per_record: per(decoder_cpu),
        broker_us_per_record: per(broker_cpu),
        boards_us_per_record: per(own_cpu),
        seconds,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn cell(v: &[f64], digits: usize) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{:.*} [{:.*}-{:.*}]",
        digits,
        median(v.to_vec()),
        digits,
        lo,
        digits,
        hi
    )
}

fn report(c: &Config, runs: &[(Phase, Phase)]) {
    println!(
        "\n{} boards x {} records, {} runs; mqtt: {} decoders in one $share group through \
         Mosquitto; tcp: {} decoders on tcp-listen:, boards spread over them{}",
        c.boards,
        c.records,
        runs.len(),
        c.mqtt_decoders,
        c.tcp_decoders,
        c.rate.map_or(String::new(), |r| format!(
            "; offered {r} records/s per board"
        ))
    );
    println!(
        "\n| path | records/s | decoder CPU µs/record | broker CPU µs/record | boards' CPU \
         µs/record | lost on boards | lost in transit | duplicates |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let col = |f: &dyn Fn(&Phase) -> f64, mqtt: bool| -> Vec<f64> {
        runs.iter()
            .map(|(m, t)| f(if mqtt { m } else { t }))
            .collect()
    };
    for mqtt in [true, false] {
        let name = if mqtt { "mqtt" } else { "tcp" };
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&col(&|p| p.records_per_s, mqtt), 0),
            cell(&col(&|p| p.decoder_us_per_record, mqtt), 2),
            cell(&col(&|p| p.broker_us_per_record, mqtt), 2),
            cell(&col(&|p| p.boards_us_per_record, mqtt), 2),
            cell(&col(&|p| p.lost_on_boards as f64, mqtt), 0),
            cell(&col(&|p| p.lost_in_transit as f64, mqtt), 0),
            cell(&col(&|p| p.duplicates as f64, mqtt), 0),
        );
    }
    let ratio =
        |f: &dyn Fn(&Phase) -> f64| -> Vec<f64> { runs.iter().map(|(m, t)| f(m) / f(t)).collect() };
    println!(
        "\nmqtt / tcp, median [min-max] of the per-run ratios: records/s {}, decoder CPU per \
         record {}",
        cell(&ratio(&|p| p.records_per_s), 2),
        cell(&ratio(&|p| p.decoder_us_per_record), 2)
    );
}

fn main() -> ExitCode {
    let c = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fleetbench: {e}");
            return ExitCode::from(2);
        }
    };
    if !Path::new(peers::MOSQUITTO).is_file() {
        eprintln!(
            "fleetbench: {} is missing (Debian package mosquitto)",
            peers::MOSQUITTO
        );
        return ExitCode::from(1);
    }
    let cap = match Capture::read(&c.capture) {
        Ok(cap) => cap,
        Err(e) => {
            eprintln!("fleetbench: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "fleetbench: capture {} ({} records), {} boards x {} records, {} runs",
        c.capture,
        cap.payloads.len(),
        c.boards,
        c.records,
        c.runs
    );
    let mut runs = Vec::new();
    for run in 1..=c.runs as u64 {
        let m = phase(&c, &cap, true, run * 2);
        let t = phase(&c, &cap, false, run * 2 + 1);
        for p in [&m, &t] {
            eprintln!(
                "fleetbench: run {run} {}: {} of {} records decoded in {:.2} s, {:.0}/s, \
                 decoders {:.2} µs/record, broker {:.2}, boards {:.2}, lost {} + {}, \
                 duplicates {}",
                p.name,
                p.decoded,
                p.pushed,
                p.seconds,
                p.records_per_s,
                p.decoder_us_per_record,
                p.broker_us_per_record,
                p.boards_us_per_record,
                p.lost_on_boards,
                p.lost_in_transit,
                p.duplicates
            );
            if c.json {
                println!(
                    "{{\"run\":{run},\"path\":\"{}\",\"pushed\":{},\"decoded\":{},\
                     \"seconds\":{:.3},\"records_per_s\":{:.0},\"decoder_us_per_record\":{:.3},\
                     \"broker_us_per_record\":{:.3},\"boards_us_per_record\":{:.3},\
                     \"lost_on_boards\":{},\"lost_in_transit\":{},\"duplicates\":{}}}",
                    p.name,
                    p.pushed,
                    p.decoded,
                    p.seconds,
                    p.records_per_s,
                    p.decoder_us_per_record,
                    p.broker_us_per_record,
                    p.boards_us_per_record,
                    p.lost_on_boards,
                    p.lost_in_transit,
                    p.duplicates
                );
            }
        }
        runs.push((m, t));
    }
    report(&c, &runs);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Config, String> {
        parse_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn args_defaults_and_errors() {
        let c = args(&["--capture", "x.twr"]).unwrap();
        assert_eq!(
            (c.boards, c.records, c.runs, c.mqtt_decoders, c.tcp_decoders),
            (200, 2000, 3, 2, 4)
        );
        assert_eq!(c.rate, None);
        let c = args(&[
            "--capture",
            "x",
            "--rate",
            "2.5",
            "--boards",
            "10",
            "--json",
        ])
        .unwrap();
        assert_eq!((c.rate, c.boards, c.json), (Some(2.5), 10, true));
        for (bad, needle) in [
            (&[][..], "--capture FILE"),
            (&["--capture", "x", "--boards", "300"][..], "need 5"),
            (&["--capture", "x", "--runs", "0"][..], "at least 1"),
            (&["--capture", "x", "--rate"][..], "needs a value"),
            (&["--capture", "x", "--what"][..], "unknown argument"),
        ] {
            let e = args(bad).err().unwrap_or_default();
            assert!(e.contains(needle), "{bad:?}: {e}");
        }
    }

    #[test]
    fn medians_and_cells() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(cell(&[1.0, 3.0, 2.0], 1), "2.0 [1.0-3.0]");
    }
}
