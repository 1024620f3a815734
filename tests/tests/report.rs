//! `taskwire report`: its aggregate against `decode --stats` on the same bytes, and its
//! pages opened in a real browser (Debian's headless Chromium) from real captures (one
//! board, several boards, with losses, with corruption) and from a hostile synthetic
//! stream: the screenshot is looked at pixel by pixel, the charts must be in the DOM with
//! the numbers the capture implies, the page's script must sort and show tips, and the
//! console must stay empty.
//!
//! `REPORT_SCREENSHOT=PATH` keeps the one-board screenshot there (`cargo test -p
//! taskwire-tests --test report one_board`).

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use taskwire_collector::observer::Observer;
use taskwire_collector::render::Format;
use taskwire_collector::report::aggregate::Aggregate;
use taskwire_collector::session::{Decoder, Session};
use taskwire_core::taskstats::{Field, Value};
use taskwire_core::wire::testutil::{frame, loss_of, small_interval, small_sample};
use taskwire_core::wire::{
    Heartbeat, Kind, LossReason, Message, Profile, Record, StreamHeader, StreamReader,
};

use common::{Listener, chromium, json, num, output, png, storm, taskwire, unique_comm};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tw-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A stream's frames, each with its trailing 0x00 (the leading 0x00 not included).
fn frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&b| b == 0)
        .filter(|f| f.len() > 1)
        .map(<[u8]>::to_vec)
        .collect()
}

/// The message in one frame, as core's reader decodes it.
fn message(frame: &[u8]) -> Option<Message> {
    let mut r = StreamReader::new();
    r.push(0);
    frame.iter().find_map(|&b| r.push(b)).and_then(Result::ok)
}

/// Per board (its label): `decode --stats --format json`'s stats object.
fn decode_stats(path: &Path) -> BTreeMap<String, serde_json::Value> {
    let mut cmd = Command::new(taskwire());
    cmd.args(["decode", "--format", "json", "--stats", "--from"])
        .arg(format!("file:{}", path.display()));
    let out = output(cmd, Duration::from_secs(120));
    assert_eq!(out.code(), 0, "decode: {}", out.stderr);
    out.stderr
        .lines()
        .filter(|l| l.contains("\"type\":\"stats\""))
        .map(json)
        .map(|v| (v["board"].as_str().unwrap().to_owned(), v))
        .collect()
}

/// Runs `taskwire report --from file:PATH`; (exit code, stderr, the page beside it).
fn report(path: &Path) -> (i32, String, PathBuf) {
    let mut cmd = Command::new(taskwire());
    cmd.args(["report", "--from"])
        .arg(format!("file:{}", path.display()));
    let out = output(cmd, Duration::from_secs(120));
    (out.code(), out.stderr, path.with_extension("html"))
}

/// The value of attribute `name` in the tag starting at `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let tag = &tag[..tag.find('>')?];
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&tag[at..at + tag[at..].find('"')?])
}

/// Every board section of a page's DOM: (data-board, its tag), in order.
fn sections(dom: &str) -> Vec<(String, &str)> {
    dom.match_indices("<section class=\"board\"")
        .map(|(i, _)| &dom[i..])
        .map(|t| (unescape(attr(t, "data-board").unwrap_or_default()), t))
        .collect()
}

/// An attribute's text as HTML escaped it.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn section_num(tag: &str, name: &str) -> u64 {
    attr(tag, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {}", &tag[..tag.find('>').unwrap_or(0)]))
}

/// Opens `page` in the browser and checks what every page must be: no console line, the
/// script ran and its self-test passed, charts in the DOM, a screenshot with ink and
/// bars in it. The DOM, for the caller's own checks; `None` (with a printed reason)
/// without a browser.
fn browse(page: &Path, keep_screenshot: Option<&Path>) -> Option<String> {
    let browser = match chromium::find() {
        Ok(b) => b,
        Err(why) => {
            common::skip(&why);
            return None;
        }
    };
    let visit = chromium::visit(&browser, page, (1100, 1600));
    assert!(
        visit.console.is_empty(),
        "console of {}: {:?}",
        page.display(),
        visit.console
    );
    let dom = visit.dom;
    assert!(dom.contains("data-ready=\"1\""), "the script did not run");
    assert!(
        dom.contains("data-selftest=\"ok\""),
        "sorting or tips failed in the browser"
    );
    for chart in [
        "chart timeline",
        "chart histogram",
        "chart top",
        "chart endings",
    ] {
        assert!(dom.contains(chart), "no {chart} in the DOM");
    }
    assert!(dom.matches("<rect class=\"bar\"").count() >= 5);
    let img = png::decode(&visit.png).expect("a PNG");
    assert_eq!((img.width, img.height), (1100, 1600));
    let inked = img.inked();
    assert!(
        (0.02..0.8).contains(&inked),
        "screenshot {inked:.3} inked: blank or all dark"
    );
    // The bars' blue (#3366cc).
    let blue = img.near([0x33, 0x66, 0xcc]);
    assert!(blue > 2_000, "only {blue} pixels of bar blue");
    if let Some(keep) = keep_screenshot {
        std::fs::write(keep, &visit.png).unwrap();
    }
    Some(dom)
}

/// Checks the page's per-board numbers against `decode --stats` on the same file.
fn numbers_match(dom: &str, stats: &BTreeMap<String, serde_json::Value>) {
    let got = sections(dom);
    assert_eq!(got.len(), stats.len(), "one section per board");
    for (board, tag) in got {
        let s = &stats[&board];
        for (attr, key) in [
            ("data-records", "records"),
            ("data-lost", "gaps_covered"),
            ("data-missing", "gaps_uncovered"),
            ("data-rejected", "rejected"),
        ] {
            assert_eq!(section_num(tag, attr), num(s, key), "{board}: {attr}");
        }
    }
}

/// Real captures: `taskwire stream --sample 0.5 --to file:` for each of `ids` at once
/// while `procs` processes named `comm` exit (a tenth of them with code 3).
fn capture(ids: &[&str], comm: &str, procs: u64) -> Vec<PathBuf> {
    let paths: Vec<PathBuf> = ids.iter().map(|id| scratch(&format!("{id}.twr"))).collect();
    let agents: Vec<Listener> = ids
        .iter()
        .zip(&paths)
        .map(|(id, p)| {
            let _ = std::fs::remove_file(p);
            let to = format!("file:{}", p.display());
            Listener::start_cmd(
                "stream",
                &["--id", id, "--rcvbuf", "4M", "--sample", "0.5", "--to", &to],
                "registered",
            )
        })
        .collect();
    for (n, code) in [(procs - procs / 10, "0"), (procs / 10, "3")] {
        let mut cmd = Command::new(storm());
        cmd.args([
            "--procs",
            &n.to_string(),
            "--comm",
            comm,
            "--exit-code",
            code,
        ]);
        let st = output(cmd, Duration::from_secs(60));
        assert_eq!(st.code(), 0, "storm: {}", st.stderr);
    }
    // A sample or two after the storm.
    std::thread::sleep(Duration::from_millis(1200));
    for a in agents {
        let (status, _, err) = a.stop(libc::SIGINT);
        assert!(status.success(), "stream: {err:?}");
    }
    paths
}

fn storm_exits(dom: &str, comm: &str) -> u64 {
    // The commands table's row of the storm's comm: its exits cell.
    let at = dom
        .find(&format!("<tr><td>{comm}</td>"))
        .unwrap_or_else(|| panic!("no row for {comm}"));
    let row = &dom[at..];
    attr(&row[row.find("<td data-v=").unwrap()..], "data-v")
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn one_board_report_in_a_browser() {
    require_kernel!();
    let comm = unique_comm("twrep");
    let path = capture(&["rep-one"], &comm, 500).remove(0);
    let stats = decode_stats(&path);
    let (code, err, page) = report(&path);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("wrote"), "{err}");
    let keep = std::env::var_os("REPORT_SCREENSHOT").map(PathBuf::from);
    let Some(dom) = browse(&page, keep.as_deref()) else {
        return;
    };
    numbers_match(&dom, &stats);
    // A loaded machine can make the agent drop records (the kernel's ENOBUFS, a full
    // queue): the page then shows them lost, and every storm exit it does not show.
    let lost: u64 = stats
        .values()
        .map(|s| num(s, "lost_records") + num(s, "lost_kernel_enobufs"))
        .sum();
    let exits = storm_exits(&dom, &comm);
    match lost {
        0 => assert_eq!(exits, 500, "every storm exit under its comm"),
        _ => assert!(exits <= 500, "{exits} storm exits of 500"),
    }
    assert!(dom.contains("exit 3"), "the exit codes");
    assert!(dom.contains("chart live"), "the samples' live tasks");
    assert!(dom.contains("<polyline"), "a live task's line");
    assert_eq!(
        dom.contains("<rect class=\"loss\""),
        lost > 0,
        "loss marks exactly when something was lost ({lost})"
    );
}

#[test]
fn several_boards_report_in_a_browser() {
    require_kernel!();
    let comm = unique_comm("twrepm");
    let paths = capture(&["rep-a", "rep-b", "rep-c"], &comm, 300);
    // One file holding three boards' streams, one after another.
    let all = scratch("three.twr");
    let mut bytes = Vec::new();
    for p in &paths {
        bytes.extend(std::fs::read(p).unwrap());
    }
    std::fs::write(&all, &bytes).unwrap();
    let stats = decode_stats(&all);
    assert_eq!(stats.len(), 3);
    let (code, err, page) = report(&all);
    assert_eq!(code, 0, "{err}");
    let Some(dom) = browse(&page, None) else {
        return;
    };
    numbers_match(&dom, &stats);
    let boards: Vec<String> = sections(&dom).into_iter().map(|s| s.0).collect();
    assert_eq!(boards, ["rep-a", "rep-b", "rep-c"]);
    // The summary table has a row per board and the total.
    assert_eq!(dom.matches("<tr data-board=").count(), 3);
    let total: u64 = stats.values().map(|s| num(s, "records")).sum();
    assert!(dom.contains(&format!("data-records=\"{total}\" data-boards=\"3\"")));
}

#[test]
fn losses_and_corruption_report_in_a_browser() {
    require_kernel!();
    let comm = unique_comm("twrepl");
    let clean = std::fs::read(capture(&["rep-loss"], &comm, 400).remove(0)).unwrap();
    let fs = frames(&clean[1..]);
    let records: Vec<usize> = (0..fs.len())
        .filter(|&i| matches!(message(&fs[i]), Some(Message::Record(_))))
        .collect();
    assert!(records.len() >= 400);

    // Losses: 20 records cut out of the middle, a Loss frame covering the first 10 in
    // their place (the agent's queue overflowed), the other 10 missing in transit.
    let cut = &records[records.len() / 2..records.len() / 2 + 20];
    let seq_of = |i: usize| match message(&fs[i]) {
        Some(Message::Record(r)) => r.seq,
        _ => unreachable!(),
    };
    let first = seq_of(cut[0]);
    assert_eq!(seq_of(cut[19]), first + 19, "20 consecutive records");
    let mut lossy = vec![0u8];
    for (i, f) in fs.iter().enumerate() {
        if i == cut[0] {
            lossy.extend(frame(&Message::Loss(loss_of(
                LossReason::QueueOverflow,
                10,
                first + 10,
            ))));
        }
        if !cut.contains(&i) {
            lossy.extend_from_slice(f);
        }
    }
    let path = scratch("lossy.twr");
    std::fs::write(&path, &lossy).unwrap();
    let stats = decode_stats(&path);
    assert_eq!(
        (
            num(&stats["rep-loss"], "gaps_covered"),
            num(&stats["rep-loss"], "gaps_uncovered")
        ),
        (10, 10)
    );
    let (code, err, page) = report(&path);
    assert_eq!(code, 0, "{err}");
    if let Some(dom) = browse(&page, None) {
        numbers_match(&dom, &stats);
        assert!(dom.contains("<rect class=\"loss\""), "losses marked");
        assert!(dom.contains("queue overflow (agent)"));
        assert!(dom.contains("missing in transit"));
    }

    // Corruption: a byte flipped in every 13th frame after the header.
    let mut damaged = vec![0u8];
    for (i, f) in fs.iter().enumerate() {
        let mut f = f.clone();
        if i > 1 && i % 13 == 0 {
            let at = f.len() / 2;
            f[at] ^= 0x24;
        }
        damaged.extend(f);
    }
    let path = scratch("damaged.twr");
    std::fs::write(&path, &damaged).unwrap();
    let stats = decode_stats(&path);
    assert!(num(&stats["rep-loss"], "rejected") > 10);
    let (code, err, page) = report(&path);
    assert_eq!(code, 0, "{err}");
    if let Some(dom) = browse(&page, None) {
        numbers_match(&dom, &stats);
        assert!(
            dom.contains("<rect class=\"loss\""),
            "the lost frames marked"
        );
    }
}

/// A synthetic stream of `board`: records of the `full` profile with times, exit codes
/// and delays, a Loss, a gap, heartbeats and samples; comms from `comms`.
fn synthetic(board: &str, instance: u64, comms: &[&[u8]], n: u64) -> Vec<u8> {
    let mut h = StreamHeader::new();
    for c in board.chars() {
        let _ = h.board_id.push(c);
    }
    h.instance = instance;
    h.kernel_release = "6.1.0-<b>x</b>".try_into().unwrap();
    h.delay_accounting = Some(true);
    let mut out = vec![0u8];
    out.extend(frame(&Message::Header(h)));
    let mut seq = 0;
    for i in 0..n {
        if i == n / 3 {
            // Numbers lost by the agent, then numbers never seen.
            out.extend(frame(&Message::Loss(loss_of(
                LossReason::SinkOutage,
                7,
                seq + 7,
            ))));
            seq += 7 + 4;
        }
        if i % 50 == 0 {
            out.extend(frame(&Message::Heartbeat(Heartbeat {
                uptime_ms: i * 100,
                records_sent: i,
                drops: 7,
                queue_depth: 0,
            })));
            out.extend(frame(&small_interval(seq, i / 50, 1)));
            out.extend(frame(&small_sample(seq + 1, i / 50, 77)));
            seq += 2;
        }
        let comm = comms[(i as usize) % comms.len()];
        let r = Record::build(
            seq,
            if i % 10 == 9 { Kind::Tgid } else { Kind::Pid },
            100 + i as u32,
            Profile::Full,
            Some(comm),
            |f| {
                Some(Value::Unsigned(match f {
                    Field::AcBtime => 1_700_000_000 + i / 10,
                    Field::AcEtime => 1_500_000,
                    Field::AcExitcode => ((i % 3) << 8) | (u64::from(i % 7 == 0) * 9),
                    Field::CpuCount => 1 + i % 4,
                    Field::CpuDelayTotal => 1_000 * (1 << (i % 20)),
                    Field::BlkioCount => i % 2,
                    Field::BlkioDelayTotal => (i % 2) * 5_000_000,
                    _ => 0,
                }))
            },
        );
        out.extend(frame(&Message::Record(r)));
        seq += 1;
    }
    out
}

#[test]
fn the_aggregate_counts_what_decode_counts() {
    // Two boards, hostile names, a Loss and a gap each, samples; then damaged.
    let mut bytes = synthetic("alpha", 1, &[b"sh", b"make"], 900);
    bytes.extend(synthetic("beta", 2, &[b"<script>x</script>", b"a\"b"], 400));
    let mut damaged = bytes.clone();
    for i in (200..damaged.len()).step_by(997) {
        damaged[i] ^= 0x10;
    }
    for (tag, bytes) in [("clean", bytes), ("damaged", damaged)] {
        let path = scratch(&format!("agg-{tag}.twr"));
        std::fs::write(&path, &bytes).unwrap();
        let stats = decode_stats(&path);
        let mut d = Decoder::new(Format::Text);
        d.observer = Some(Box::new(Aggregate::new()));
        let mut s = Session::new("file");
        d.feed(&mut s, &bytes);
        d.close(&mut s);
        let observer: Box<dyn Observer> = d.observer.take().unwrap();
        let agg = observer.into_any().downcast::<Aggregate>().unwrap();
        assert_eq!(agg.boards().len(), 2, "{tag}");
        for b in agg.boards() {
            let s = &stats[&b.label];
            let records = num(s, "records");
            assert_eq!(b.records, records, "{tag} {}", b.label);
            let (t, u) = (b.timeline.total(), b.untimed);
            assert_eq!(
                t.exits + u.exits,
                records,
                "{tag}: every exit on the timeline"
            );
            assert_eq!(t.lost + u.lost, num(s, "gaps_covered"), "{tag}");
            assert_eq!(t.uncovered + u.uncovered, num(s, "gaps_uncovered"), "{tag}");
            let by_comm: u64 = b.comms.by_exits(usize::MAX).iter().map(|c| c.1.exits).sum();
            // Per-task records only: a thread group's sums its threads'.
            let pid = num(s, "pid");
            assert_eq!(by_comm, pid, "{tag}: every exit under its comm");
            assert_eq!(b.endings.values().sum::<u64>(), pid, "{tag}");
            let h = &b.histograms[0];
            assert_eq!(h.delayed() + h.none, pid, "{tag}: CPU histogram");
            assert_eq!(b.samples.rows, num(s, "samples"), "{tag}");
            assert_eq!(b.samples.intervals, num(s, "intervals"), "{tag}");
            assert_eq!(b.heartbeats, num(s, "heartbeats"), "{tag}");
        }
        if tag == "clean" {
            let a = agg.board("alpha").unwrap();
            assert_eq!(
                (a.timeline.total().lost, a.timeline.total().uncovered),
                (7, 4)
            );
            assert_eq!(a.events.len(), 2, "the Loss and the gap, listed");
            let signalled = a
                .endings
                .iter()
                .filter(|(e, _)| {
                    matches!(e, taskwire_collector::report::aggregate::Ending::Signal(9))
                })
                .map(|(_, n)| *n)
                .sum::<u64>();
            assert_eq!(
                signalled,
                (0..900u64).filter(|i| i % 7 == 0 && i % 10 != 9).count() as u64
            );
        }
    }
}

#[test]
fn hostile_names_stay_text_in_a_browser() {
    let mut bytes = synthetic(
        "<img src=x onerror=alert(1)>",
        5,
        &[b"<script>alert(2)</script>", b"\x1b[2J\xff'\"&"],
        600,
    );
    bytes.extend(synthetic("ok", 6, &[b"plain"], 300));
    let path = scratch("hostile.twr");
    std::fs::write(&path, &bytes).unwrap();
    let stats = decode_stats(&path);
    let (code, err, page) = report(&path);
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(!html.contains("<img"));
    assert!(html.contains("&lt;script&gt;alert(2)&lt;/script&gt;"));
    assert!(html.contains("\\x1b[2J\\xff&#39;&quot;&amp;"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no address at all"
    );
    let Some(dom) = browse(&page, None) else {
        return;
    };
    // Chromium serializes the DOM it built: an injected element would show here.
    assert_eq!(dom.matches("<script").count(), 1);
    assert!(!dom.contains("<img"));
    numbers_match(&dom, &stats);
}

/// A busy board: `n` records over `n / 3` seconds with `n / 2` distinct comms and every
/// exit code, and `tasks` live tasks sampled over `intervals` intervals.
fn busy(board: &str, n: u64, tasks: u32, intervals: u64) -> Vec<u8> {
    let mut h = StreamHeader::new();
    let _ = h.board_id.push_str(board);
    let mut out = vec![0u8];
    out.extend(frame(&Message::Header(h)));
    let mut seq = 0;
    for i in 0..n {
        let comm = format!("c{}", i % (n / 2));
        let r = Record::build(
            seq,
            Kind::Pid,
            i as u32,
            Profile::Full,
            Some(comm.as_bytes()),
            |f| {
                Some(Value::Unsigned(match f {
                    Field::AcBtime => 1_700_000_000 + i / 3,
                    Field::AcExitcode => (i % 256) << 8 | (i % 5),
                    Field::CpuCount | Field::BlkioCount | Field::SwapinCount => 1,
                    Field::CpuDelayTotal | Field::BlkioDelayTotal | Field::SwapinDelayTotal => {
                        i.wrapping_mul(2_654_435_761) % (1 << 40)
                    }
                    _ => 0,
                }))
            },
        );
        out.extend(frame(&Message::Record(r)));
        seq += 1;
    }
    for k in 0..intervals {
        out.extend(frame(&small_interval(seq, k, tasks)));
        seq += 1;
        for t in 0..tasks {
            out.extend(frame(&small_sample(seq, k, 1000 + t)));
            seq += 1;
        }
    }
    out
}

#[test]
fn a_page_of_many_busy_boards_stays_small() {
    // More boards than are drawn, each filling every bound of its summary.
    let mut bytes = Vec::new();
    for b in 0..18 {
        bytes.extend(busy(&format!("busy{b}"), 2_400, 70, 300));
    }
    let path = scratch("busy.twr");
    std::fs::write(&path, &bytes).unwrap();
    let (code, err, page) = report(&path);
    assert_eq!(code, 0, "{err}");
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 4_000_000, "a page of {size} bytes");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("<section class=\"board\"").count(), 16);
    assert_eq!(
        html.matches("<tr data-board=").count(),
        18,
        "every board counted"
    );
    assert!(html.contains("(names past the first 1,024)"));
    eprintln!("18 busy boards: a page of {size} bytes");
}

#[test]
fn a_listener_report_is_written_at_sigint() {
    let page = scratch("listened.html");
    let _ = std::fs::remove_file(&page);
    let out = format!("--out={}", page.display());
    let mut l = Listener::start_cmd(
        "report",
        &["--from", "tcp-listen:127.0.0.1:0", &out],
        "listening on",
    );
    let line = l.stderr_lines.last().cloned().unwrap_or_default();
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("tcp-listen:"))
        .map(|a| a.trim_end_matches(';').to_owned())
        .unwrap_or_else(|| panic!("no address in {line}"));
    for (board, n) in [("net-a", 120), ("net-b", 80)] {
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        std::io::Write::write_all(&mut c, &synthetic(board, 9, &[b"n"], n)).unwrap();
        drop(c);
        l.wait_stderr(&format!("closed (board {board})"), Duration::from_secs(10));
    }
    let (status, _, err) = l.stop(libc::SIGINT);
    assert!(status.success(), "{err:?}");
    let html = std::fs::read_to_string(&page).unwrap();
    let got: Vec<(String, u64)> = sections(&html)
        .into_iter()
        .map(|(b, tag)| (b, section_num(tag, "data-records")))
        .collect();
    assert_eq!(got, [("net-a".to_owned(), 120), ("net-b".to_owned(), 80)]);
}

#[test]
fn bad_input_fails_and_writes_no_page() {
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = scratch("noise.twr");
    std::fs::write(&path, &noise).unwrap();
    let (code, err, page) = report(&path);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no readable frame"), "{err}");
    assert!(!page.exists());
    let (code, err, _) = report(&scratch("missing.twr"));
    assert_eq!(code, 1, "{err}");
    let out = common::tw(&["report", "--from", "-"]);
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(out.stderr.contains("--out"), "{}", out.stderr);
    assert!(!out.stderr.contains('{'), "no Debug output: {}", out.stderr);
}

#[test]
fn help_says_what_the_page_holds() {
    let out = common::tw(&["report", "--help"]);
    assert_eq!(out.code(), 0);
    for needle in [
        "--from SOURCE",
        "--out FILE",
        "self-contained",
        "decode --stats",
    ] {
        assert!(out.stdout.contains(needle), "{needle}");
    }
}
