//! `taskwire decode` on damaged streams: bit flips, dropped and inserted bytes, truncated
//! frames, lost delimiters and line noise between the producer and the decoder. Every
//! frame left intact must be decoded exactly as from the clean stream, every damaged one
//! rejected and counted, and the decoder must exit 0.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use taskwire_core::wire::{
    Heartbeat, Kind, Loss, LossReason, MAX_FRAME_LEN, Message, Profile, Record, StreamHeader,
    Values, encode_frame,
};

use common::{json, num, output, storm, taskwire, unique_comm, wait_deadline};

/// xorshift64*: a seeded generator written here so that a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn nonzero_byte(&mut self) -> u8 {
        1 + self.below(255) as u8
    }
}

/// Each frame's byte range, its 0x00 delimiter included (empty frames skipped).
fn frames(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == 0 {
            if i > start {
                out.push(start..i + 1);
            }
            start = i + 1;
        }
    }
    assert_eq!(start, bytes.len(), "the clean stream ends with a delimiter");
    out
}

/// The damaged stream, which frames were touched, and how many damage events there were.
struct Damaged {
    bytes: Vec<u8>,
    touched: BTreeSet<usize>,
    events: usize,
}

/// Damages about a fraction `p` of the frames of `clean`, sparing the header, the frame
/// after it (the baseline of the sequence numbers) and the last frame, so that the gap
/// count is exactly the number of records touched.
fn corrupt(clean: &[u8], ranges: &[Range<usize>], seed: u64, p: f64) -> Damaged {
    let mut rng = Rng::new(seed);
    let mut out = vec![0u8];
    let mut touched = BTreeSet::new();
    let mut events = 0;
    let last = ranges.len() - 1;
    let mut i = 0;
    while i < ranges.len() {
        let r = ranges[i].clone();
        let body = &clean[r.start..r.end - 1];
        let spare = i < 2 || i == last;
        if spare || !rng.chance(p) {
            out.extend_from_slice(&clean[r]);
            i += 1;
            continue;
        }
        events += 1;
        let mut b = body.to_vec();
        match rng.below(6) {
            0 => {
                let at = rng.below(b.len());
                b[at] ^= 1 << rng.below(8);
            }
            1 => {
                b.remove(rng.below(b.len()));
            }
            2 => {
                let at = rng.below(b.len() + 1);
                let byte = rng.nonzero_byte();
                b.insert(at, byte);
            }
            3 => {
                // Cut short, the rest never sent; at least one byte stays so that the
                // frame is seen (an empty one is skipped, not rejected).
                b.truncate(1 + rng.below(b.len() - 1));
            }
            4 if i + 1 < last => {
                // The delimiter is lost: this frame and the next merge into one.
                out.extend_from_slice(&b);
                out.extend_from_slice(&clean[ranges[i + 1].clone()]);
                touched.insert(i);
                touched.insert(i + 1);
                i += 2;
                continue;
            }
            _ => {
                // Line noise between two frames: a junk frame of its own; this one intact.
                let n = 1 + rng.below(60);
                for _ in 0..n {
                    let byte = rng.nonzero_byte();
                    out.push(byte);
                }
                out.push(0);
                out.extend_from_slice(&clean[r]);
                i += 1;
                continue;
            }
        }
        touched.insert(i);
        out.extend_from_slice(&b);
        out.push(0);
        i += 1;
    }
    Damaged {
        bytes: out,
        touched,
        events,
    }
}

/// What one `taskwire decode --format json --stats` run printed.
struct Decoded {
    /// Message lines (header, record, loss, heartbeat), in order.
    lines: Vec<String>,
    /// The `stats_total` object.
    total: serde_json::Value,
}

fn decode(path: &Path) -> Decoded {
    let mut cmd = Command::new(taskwire());
    cmd.args(["decode", "--format", "json", "--stats", "--from"])
        .arg(format!("file:{}", path.display()));
    let out = output(cmd, Duration::from_secs(60));
    assert_eq!(out.code(), 0, "decode failed: {}", out.stderr);
    let total = out
        .stderr
        .lines()
        .find(|l| l.contains("\"stats_total\""))
        .map(json)
        .unwrap_or_else(|| panic!("no stats_total line: {}", out.stderr));
    Decoded {
        lines: out.stdout.lines().map(str::to_owned).collect(),
        total,
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tw-decode-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Decodes `clean` intact and under several damage patterns, checking the contract.
fn check_against_damage(clean: &[u8], tag: &str) {
    let ranges = frames(clean);
    let clean_path = scratch(&format!("{tag}-clean.twr"));
    std::fs::write(&clean_path, clean).unwrap();
    let reference = decode(&clean_path);
    assert_eq!(
        reference.lines.len(),
        ranges.len(),
        "one JSON line per intact frame"
    );
    assert_eq!(num(&reference.total, "rejected"), 0);
    let is_record: Vec<bool> = reference
        .lines
        .iter()
        .map(|l| json(l)["type"] == "record")
        .collect();
    // The sequence numbers each frame accounts for: 1 for a record, `count` for a Loss of
    // records (ENOBUFS losses carry no numbers).
    let numbers: Vec<u64> = reference
        .lines
        .iter()
        .map(|l| {
            let v = json(l);
            match v["type"].as_str() {
                Some("record") => 1,
                Some("loss") if v["reason"] != "kernel_enobufs" => num(&v, "count"),
                _ => 0,
            }
        })
        .collect();
    let clean_gaps = num(&reference.total, "gaps");
    assert_eq!(num(&reference.total, "gaps_uncovered"), 0);
    assert_eq!(clean_gaps, num(&reference.total, "gaps_covered"));
    assert!(
        is_record.iter().filter(|r| **r).count() >= 20,
        "too few records"
    );

    for (seed, p) in [(1, 0.02), (2, 0.1), (3, 0.3), (4, 0.6), (5, 0.1)] {
        let d = corrupt(clean, &ranges, seed, p);
        assert!(d.events > 0, "seed {seed} damaged nothing");
        let path = scratch(&format!("{tag}-seed{seed}.twr"));
        std::fs::write(&path, &d.bytes).unwrap();
        let got = decode(&path);
        let want: Vec<&String> = reference
            .lines
            .iter()
            .enumerate()
            .filter(|(i, _)| !d.touched.contains(i))
            .map(|(_, l)| l)
            .collect();
        assert_eq!(
            got.lines.len(),
            want.len(),
            "seed {seed}: every intact frame and nothing else"
        );
        for (g, w) in got.lines.iter().zip(&want) {
            assert_eq!(g, *w, "seed {seed}");
        }
        let t = &got.total;
        let rejected = num(t, "rejected");
        // Each event costs at least one rejection; a flip to 0x00 can split a frame in
        // two, so at most two.
        assert!(
            rejected >= d.events as u64 && rejected <= 2 * d.events as u64,
            "seed {seed}: {rejected} rejected for {} damage events: {t}",
            d.events
        );
        let touched_records = d.touched.iter().filter(|&&i| is_record[i]).count() as u64;
        // Numbers only the damaged frames accounted for: now gaps no Loss covers.
        let touched_numbers: u64 = d.touched.iter().map(|&i| numbers[i]).sum();
        assert!(
            touched_records > 0 || p < 0.05,
            "seed {seed} touched no record"
        );
        let records = is_record.iter().filter(|r| **r).count() as u64;
        assert_eq!(num(t, "records"), records - touched_records, "seed {seed}");
        assert_eq!(
            num(t, "gaps_uncovered"),
            touched_numbers,
            "seed {seed}: {t}"
        );
        // A damaged Loss turns covered numbers into uncovered ones; a damaged record
        // adds one.
        assert_eq!(
            num(t, "gaps"),
            clean_gaps + touched_records,
            "seed {seed}: {t}"
        );
        for key in ["backwards", "duplicates", "restarts"] {
            assert_eq!(num(t, key), 0, "seed {seed}: {key}");
        }
        let _ = std::fs::remove_file(&path);
    }

    // A frame cut off by the end of the input is rejected too.
    let mut cut = clean.to_vec();
    let r = ranges[ranges.len() / 2].clone();
    cut.truncate(r.start + (r.end - r.start) / 2);
    let path = scratch(&format!("{tag}-cut.twr"));
    std::fs::write(&path, &cut).unwrap();
    let got = decode(&path);
    assert_eq!(got.lines.len(), ranges.len() / 2);
    assert_eq!(num(&got.total, "rejected"), 1);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&clean_path);
}

/// A synthetic stream built with core's encoder: header, records of every profile and
/// kind, losses and heartbeats. Needs no kernel.
fn synthetic_stream() -> Vec<u8> {
    let mut out = vec![0u8];
    let mut push = |m: &Message| {
        let mut buf = [0u8; MAX_FRAME_LEN];
        let n = encode_frame(m, &mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
    };
    let mut h = StreamHeader::new();
    h.board_id = "synthetic".try_into().unwrap();
    h.taskstats_version = 16;
    push(&Message::Header(h));
    let profiles = [Profile::Full, Profile::Acct, Profile::Delays];
    for i in 0..300u64 {
        if i % 50 == 49 {
            push(&Message::Heartbeat(Heartbeat {
                uptime_ms: i * 10,
                records_sent: i,
                drops: 0,
                queue_depth: 0,
            }));
        }
        if i % 77 == 76 {
            push(&Message::Loss(Loss {
                count: 0,
                reason: LossReason::QueueOverflow,
                next_seq: i,
            }));
        }
        let profile = profiles[(i % 3) as usize];
        let mut values = Values::new();
        for (slot, _) in profile.fields().iter().enumerate() {
            // A mix of absent slots, zeros and wide numbers.
            let v = match (i + slot as u64) % 7 {
                0 if slot + 1 < profile.fields().len() => None,
                1 => Some(0),
                k => Some(i.wrapping_mul(0x1_0000_0001).wrapping_add(k) << (k * 7)),
            };
            values.push(v).unwrap();
        }
        let comm = profile.has_comm().then(|| {
            taskwire_core::wire::Comm::from_slice(format!("syn,\"{i}").as_bytes()).unwrap()
        });
        push(&Message::Record(Record {
            seq: i,
            kind: if i % 10 == 9 { Kind::Tgid } else { Kind::Pid },
            id: 1000 + i as u32,
            profile,
            comm,
            values,
        }));
    }
    out
}

#[test]
fn synthetic_stream_survives_damage() {
    check_against_damage(&synthetic_stream(), "synthetic");
}

#[test]
fn random_bytes_never_crash_the_decoder() {
    let mut rng = Rng::new(99);
    // Mostly noise, some long runs without a delimiter (overflow), some zeros.
    let mut bytes = Vec::new();
    for _ in 0..40 {
        let n = rng.below(8000);
        for _ in 0..n {
            let b = if rng.chance(0.002) {
                0
            } else {
                rng.next() as u8
            };
            bytes.push(b);
        }
    }
    let path = scratch("noise.twr");
    std::fs::write(&path, &bytes).unwrap();
    let got = decode(&path);
    assert!(
        got.lines.is_empty(),
        "noise decoded as {:?}",
        got.lines.first()
    );
    assert!(num(&got.total, "rejected") > 0);
    assert_eq!(num(&got.total, "records"), 0);
    let _ = std::fs::remove_file(&path);
}

/// Reads `pipe` in the background; true once a line containing `needle` came within
/// `limit`. The rest of the pipe keeps being drained so the child never blocks on it.
fn common_wait_line(
    pipe: impl std::io::Read + Send + 'static,
    needle: &str,
    limit: Duration,
) -> bool {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let end = std::time::Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(needle) => {
                // Keep draining after returning.
                std::thread::spawn(move || while rx.recv().is_ok() {});
                return true;
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

#[test]
fn real_stream_survives_damage() {
    require_kernel!();
    let comm = unique_comm("twcorr");
    let path = scratch("real.twr");
    let _ = std::fs::remove_file(&path);
    let mut agent = Command::new(taskwire())
        .args(["stream", "--rcvbuf", "4M", "--id", "corrupt-board", "--to"])
        .arg(format!("file:{}", path.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn taskwire stream");
    let err = agent.stderr.take().unwrap();
    if !common_wait_line(err, "registered", Duration::from_secs(10)) {
        let _ = agent.kill();
        let _ = agent.wait();
        panic!("taskwire stream did not register within 10 s");
    }
    let mut cmd = Command::new(storm());
    cmd.args(["--procs", "300", "--comm", &comm]);
    let st = output(cmd, Duration::from_secs(60));
    let pid = i32::try_from(agent.id()).unwrap();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = wait_deadline(&mut agent, Duration::from_secs(15));
    if status.is_none() {
        let _ = agent.kill();
        let _ = agent.wait();
    }
    assert_eq!(st.code(), 0, "storm: {}", st.stderr);
    assert!(status.is_some_and(|s| s.success()), "agent: {status:?}");
    let clean = std::fs::read(&path).unwrap();
    let ours = {
        let reference = {
            let d = decode(&path);
            d.lines
        };
        reference
            .iter()
            .filter(|l| l.contains(&format!("\"comm\":\"{comm}\"")))
            .count()
    };
    assert_eq!(ours, 300, "every storm exit in the clean stream");
    check_against_damage(&clean, "real");
    let _ = std::fs::remove_file(&path);
}
