//! `taskwire stream --sample` against the real kernel: samples of a busy workload reach a
//! file beside the exit records, `decode` prints them with the workload's tgid, comm and
//! CPU, every number is accounted for (`--stats`: no uncovered gap), `--sample-top N` sends
//! at most N rows an interval, and samples a tiny queue cannot hold are covered by Loss
//! frames like records.
//!
//! In the decoded stream an interval's samples follow its `"type":"interval"` object with
//! nothing between them (the agent queues an interval and its rows under one lock), so the
//! rows of an interval are the `"type":"sample"` objects up to the next frame of another
//! type.

#[macro_use]
mod common;

use std::time::Duration;

use common::{Listener, Load, json, num, tw};
use serde_json::Value;

/// A file in the temporary directory, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        let p = std::env::temp_dir().join(format!("taskwire-{name}-{}.bin", std::process::id()));
        let _ = std::fs::remove_file(&p);
        TempFile(p)
    }

    fn spec(&self) -> String {
        format!("file:{}", self.0.display())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `stream --to FILE ARGS` for `secs` while `load` runs, stops it with SIGINT and
/// returns its summary line.
fn stream_for(file: &TempFile, args: &[&str], secs: f64) -> String {
    let spec = file.spec();
    let mut all = vec!["--to", &spec, "--heartbeat", "0"];
    all.extend_from_slice(args);
    let agent = Listener::start_cmd("stream", &all, "registered");
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (status, _, stderr) = agent.stop(libc::SIGINT);
    assert_eq!(status.code(), Some(0), "{stderr:?}");
    stderr
        .iter()
        .find(|l| l.contains("deregistered"))
        .unwrap_or_else(|| panic!("no summary: {stderr:?}"))
        .clone()
}

/// What `decode --from FILE --format json --stats` printed: the objects of stdout, and the
/// board's stats object.
fn decode(file: &TempFile) -> (Vec<Value>, Value) {
    let out = tw(&[
        "decode",
        "--from",
        &file.spec(),
        "--format",
        "json",
        "--stats",
    ]);
    assert_eq!(out.code(), 0, "{out:?}");
    let objs = out.stdout.lines().map(json).collect();
    let stats = out
        .stderr
        .lines()
        .chain(out.stdout.lines())
        .filter(|l| l.contains("\"type\":\"stats\""))
        .map(json)
        .next()
        .unwrap_or_else(|| panic!("no stats: {out:?}"));
    (objs, stats)
}

/// Each interval object with the sample objects that follow it.
fn intervals(objs: &[Value]) -> Vec<(&Value, Vec<&Value>)> {
    let mut out: Vec<(&Value, Vec<&Value>)> = Vec::new();
    let mut open = false;
    for o in objs {
        match o["type"].as_str() {
            Some("interval") => {
                out.push((o, Vec::new()));
                open = true;
            }
            Some("sample") => {
                assert!(open, "a sample not right after its interval: {o}");
                out.last_mut().unwrap().1.push(o);
            }
            _ => open = false,
        }
    }
    out
}

/// The number in the summary just before `phrase`.
fn before(line: &str, phrase: &str) -> u64 {
    let i = line
        .find(phrase)
        .unwrap_or_else(|| panic!("no '{phrase}' in {line}"));
    line[..i]
        .split(|c: char| !c.is_ascii_digit())
        .rfind(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number before '{phrase}' in {line}"))
}

#[test]
fn samples_of_a_busy_task_reach_decode_with_its_comm_and_cpu() {
    require_kernel!();
    let load = Load::start(&["busy", "1"]);
    let file = TempFile::new("sample");
    let summary = stream_for(&file, &["--sample", "0.5"], 2.8);
    let pid = u64::from(load.pid());
    drop(load);
    let (objs, stats) = decode(&file);
    let ivs = intervals(&objs);
    assert!(
        ivs.len() >= 3,
        "{} intervals in 2.8 s of 0.5 s: {summary}",
        ivs.len()
    );
    for (i, (iv, rows)) in ivs.iter().enumerate() {
        // Nothing was lost: every row the interval announces follows it.
        assert_eq!(num(iv, "rows"), rows.len() as u64, "{iv}");
        assert!(num(iv, "tasks_total") >= rows.len() as u64, "{iv}");
        assert!((300..2000).contains(&num(iv, "interval_ms")), "{iv}");
        if i > 0 {
            assert_eq!(num(iv, "sample"), num(ivs[i - 1].0, "sample") + 1, "{iv}");
        }
    }
    let ours: Vec<&&Value> = ivs
        .iter()
        .flat_map(|(_, rows)| rows)
        .filter(|r| r["tgid"].as_u64() == Some(pid))
        .collect();
    assert!(
        ours.len() + 1 >= ivs.len(),
        "the busy task in {} of {} intervals",
        ours.len(),
        ivs.len()
    );
    for r in &ours {
        assert_eq!(r["comm"], "liveload", "{r}");
        let cpu = r["cpu_pct"].as_f64().unwrap();
        assert!(cpu > 0.0 && cpu < 150.0, "a spinning thread: {r}");
        assert!(r.get("board").is_some(), "{r}");
    }
    // Every row is a thread group that moved: sent by `moved()`, so some counter is
    // non-zero (a row of zeros would be a task that did not move).
    let moved = |r: &Value| {
        r.as_object().unwrap().iter().any(|(k, v)| {
            (k.ends_with("_pct") || k.ends_with("_per_s")) && v.as_f64().is_some_and(|x| x > 0.0)
        })
    };
    let still = ivs
        .iter()
        .flat_map(|(_, rows)| rows)
        .filter(|r| !moved(r))
        .count();
    // (A counter can move by less than a rate's last decimal: allow a few such rows.)
    assert!(still * 10 <= ours.len().max(10), "{still} rows of zeros");
    // The accounting: every number is a record, an interval or a sample, none missing.
    assert_eq!(num(&stats, "gaps_uncovered"), 0, "{stats}");
    assert_eq!(num(&stats, "gaps"), 0, "{stats}");
    assert_eq!(num(&stats, "intervals"), ivs.len() as u64, "{stats}");
    let samples: usize = ivs.iter().map(|(_, r)| r.len()).sum();
    assert_eq!(num(&stats, "samples"), samples as u64, "{stats}");
    let frames = num(&stats, "records") + num(&stats, "intervals") + num(&stats, "samples");
    assert_eq!(num(&stats, "next_seq"), frames, "{stats}");
    // The agent's summary says records and samples apart, with the same numbers.
    assert_eq!(before(&summary, " numbered frames"), frames, "{summary}");
    assert_eq!(
        before(&summary, " intervals,"),
        ivs.len() as u64,
        "{summary}"
    );
    assert_eq!(before(&summary, " samples)"), samples as u64, "{summary}");
    assert_eq!(
        before(&summary, " exit records"),
        num(&stats, "records"),
        "{summary}"
    );
}

#[test]
fn sample_top_sends_at_most_n_rows_an_interval() {
    require_kernel!();
    let _load = Load::start(&["busy", "2"]);
    let file = TempFile::new("sampletop");
    let summary = stream_for(&file, &["--sample", "0.5", "--sample-top", "2"], 2.3);
    let (objs, stats) = decode(&file);
    let ivs = intervals(&objs);
    assert!(ivs.len() >= 2, "{summary}");
    for (iv, rows) in &ivs {
        assert!(rows.len() <= 2, "{iv}: {rows:?}");
        assert_eq!(num(iv, "rows"), rows.len() as u64, "{iv}");
    }
    // The busy machine has at least two thread groups moving (the workload, the agent).
    assert!(ivs.iter().any(|(_, rows)| rows.len() == 2), "{ivs:?}");
    assert_eq!(num(&stats, "gaps_uncovered"), 0, "{stats}");
}

#[test]
fn samples_a_tiny_queue_cannot_hold_are_covered_by_loss_frames() {
    require_kernel!();
    let _load = Load::start(&["busy", "1"]);
    let file = TempFile::new("sampleloss");
    // One frame at a time: each interval's rows overflow while it is queued.
    let summary = stream_for(&file, &["--sample", "0.3", "--queue", "1"], 1.8);
    let (objs, stats) = decode(&file);
    let overflow = before(&summary, " to queue overflow");
    assert!(overflow > 0, "{summary}");
    assert_eq!(num(&stats, "gaps_uncovered"), 0, "{stats}");
    assert_eq!(
        num(&stats, "gaps_covered_queue_overflow"),
        overflow,
        "{stats}\n{summary}"
    );
    // An interval announces its rows whether they were sent or not: an interval that got
    // into the one-frame queue filled it, so its rows (the busy task's at least) did not.
    // (Every interval may have been dropped too, behind an exit record.)
    let ivs = intervals(&objs);
    let announced: u64 = ivs.iter().map(|(iv, _)| num(iv, "rows")).sum();
    let arrived: usize = ivs.iter().map(|(_, r)| r.len()).sum();
    assert!(
        ivs.is_empty() || announced > arrived as u64,
        "{announced} rows, {arrived} arrived"
    );
    assert!(
        objs.iter().any(|o| o["type"] == "loss"),
        "no Loss frame in the stream"
    );
}
