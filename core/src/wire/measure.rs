//! Bytes per record on real exit records, per profile, and a real captured stream.
//!
//! `testdata/exits.twr` is a record stream in this format: two streams (delay accounting
//! off, then on), each a 0x00, a header and 150 `full` records of real exits captured from
//! this project's development machine (Linux 6.18, struct version 16, a mix of shell
//! pipelines, short Python runs with threads, and whatever else ran then). Since `full` is
//! lossless, every profile can be rebuilt from it. Print the figures with
//! `cargo test -p taskwire-core --lib wire::measure -- --nocapture`.

use std::vec::Vec;

use super::*;
use crate::taskstats::{
    Delay, DelayCounter, Deltas, Field, Taskstats, Value, put_comm, put_field, struct_size,
};

static REAL: &[u8] = include_bytes!("testdata/exits.twr");

/// 115200 baud, 8N1: ten bits per byte.
const UART_BYTES_PER_SEC: usize = 11_520;

fn real_stream() -> (Vec<StreamHeader>, Vec<Record>) {
    let mut reader = StreamReader::new();
    let mut headers = Vec::new();
    let mut records = Vec::new();
    for msg in reader.feed(REAL) {
        match msg.expect("the stored stream is intact") {
            Message::Header(h) => headers.push(h),
            Message::Record(r) => records.push(r),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(reader.stats().rejected(), 0);
    (headers, records)
}

/// The version-16 struct a `full` record came from.
fn rebuild(r: &Record) -> Vec<u8> {
    let mut buf = vec![0u8; struct_size(16).unwrap()];
    for fv in r.fields() {
        let raw = match fv.value {
            Value::Unsigned(v) => v,
            Value::Signed(v) => v as u64,
        };
        put_field(&mut buf, 16, fv.field.unwrap(), raw).unwrap();
    }
    put_comm(&mut buf, 16, r.comm.as_deref().unwrap_or(&[])).unwrap();
    buf
}

fn frame_len(msg: &Message) -> usize {
    let mut buf = [0u8; MAX_FRAME_LEN];
    encode_frame(msg, &mut buf).unwrap()
}

struct Summary {
    median: usize,
    p90: usize,
    max: usize,
    mean: f64,
}

fn summarize(mut v: Vec<usize>) -> Summary {
    v.sort_unstable();
    Summary {
        median: v[v.len() / 2],
        p90: v[v.len() * 9 / 10],
        max: v[v.len() - 1],
        mean: v.iter().sum::<usize>() as f64 / v.len() as f64,
    }
}

#[test]
fn real_stream_reads_cleanly() {
    let (headers, records) = real_stream();
    assert_eq!(headers.len(), 2);
    assert_eq!(headers[0].delay_accounting, Some(false));
    assert_eq!(headers[1].delay_accounting, Some(true));
    assert!(headers.iter().all(|h| h.taskstats_version == 16));
    assert_eq!(records.len(), 300);
    // Sequence numbers restart with each stream and never skip.
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, (i % 150) as u64);
        assert_eq!(r.profile, Profile::Full);
    }
    assert!(records.iter().any(|r| r.kind == Kind::Tgid));
}

#[test]
fn the_file_is_two_streams() {
    // core/WIRE.md section 5: two streams back to back, each 0x00, a header frame and
    // 150 record frames numbered 0 to 149; nothing else.
    assert_eq!(REAL.len(), 37_187);
    let mut reader = StreamReader::new();
    let mut at = 0;
    let mut starts = Vec::new();
    for (i, &b) in REAL.iter().enumerate() {
        if b != DELIMITER {
            continue;
        }
        if let Some(Ok(Message::Header(_))) = reader.feed(&REAL[at..=i]).next() {
            // The stream's 0x00 is the byte before its header frame.
            starts.push(at - 1);
        }
        at = i + 1;
    }
    assert_eq!(starts.len(), 2);
    assert_eq!(REAL[0], DELIMITER);
    assert_eq!(reader.stats().accepted, 302);
    assert_eq!(reader.stats().rejected(), 0);
    let mut second = StreamReader::new();
    let msgs: Vec<Message> = second
        .feed(&REAL[starts[1]..])
        .map(|m| m.unwrap())
        .collect();
    assert_eq!(msgs.len(), 151);
    assert!(matches!(&msgs[0], Message::Header(h) if h.delay_accounting == Some(true)));
}

#[test]
fn cpu_delay_is_counted_with_delay_accounting_off() {
    // core/WIRE.md, StreamHeader.delay_accounting: with it off the CPU category still
    // counts (the scheduler keeps it), every other delay category reads 0.
    let (headers, records) = real_stream();
    assert_eq!(headers[0].delay_accounting, Some(false));
    let off = &records[..150];
    let nonzero = |f: Field| {
        off.iter()
            .filter(|r| !matches!(r.get(f), Some(Value::Unsigned(0))))
            .count()
    };
    assert_eq!(nonzero(Field::CpuCount), 150);
    assert!(nonzero(Field::CpuDelayTotal) > 100);
    assert!(nonzero(Field::CpuDelayMax) > 100);
    assert!(nonzero(Field::CpuDelayMin) > 100);
    for d in Delay::ALL.iter().filter(|d| **d != Delay::Cpu) {
        for f in [
            d.count_field(),
            d.total_field(),
            d.max_field(),
            d.min_field(),
        ] {
            assert_eq!(nonzero(f), 0, "{f:?}");
        }
    }
    // With it on, other categories count too.
    let on = &records[150..];
    assert!(
        on.iter()
            .any(|r| r.get(Field::BlkioCount) != Some(Value::Unsigned(0)))
    );
}

#[test]
fn tgid_records_carry_zero_ids() {
    // core/WIRE.md, Record.kind: the kernel's per-group struct leaves ac_pid, ac_ppid and
    // ac_tgid at 0 and comm empty; the group's id is in the record's `id`.
    let records = real_stream().1;
    let groups: Vec<&Record> = records.iter().filter(|r| r.kind == Kind::Tgid).collect();
    assert_eq!(groups.len(), 6);
    for r in groups {
        assert_ne!(r.id, 0);
        for f in [Field::AcPid, Field::AcPpid, Field::AcTgid] {
            assert_eq!(r.get(f), Some(Value::Unsigned(0)), "{f:?}");
        }
        assert_eq!(r.comm.as_deref(), Some(&b""[..]));
    }
}

#[test]
fn full_profile_is_lossless() {
    for r in real_stream().1 {
        let bytes = rebuild(&r);
        let ts = Taskstats::new(&bytes).unwrap();
        assert_eq!(
            Record::from_taskstats(r.seq, r.kind, r.id, &ts, Profile::Full),
            r
        );
    }
}

/// Frame sizes of `records` rebuilt in `profile`, the `i`-th numbered `seq(i, record)`.
fn frame_sizes(
    records: &[Record],
    profile: Profile,
    seq: impl Fn(usize, &Record) -> u64,
) -> Vec<usize> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let bytes = rebuild(r);
            let ts = Taskstats::new(&bytes).unwrap();
            frame_len(&Message::Record(Record::from_taskstats(
                seq(i, r),
                r.kind,
                r.id,
                &ts,
                profile,
            )))
        })
        .collect()
}

/// `(median, p90, max, total)` of 300 frames: core/WIRE.md section 5 states the mean,
/// total / 300.
fn figures(s: &Summary) -> (usize, usize, usize, usize) {
    (s.median, s.p90, s.max, (s.mean * 300.0).round() as usize)
}

#[test]
fn bytes_per_record() {
    let records = real_stream().1;
    // core/WIRE.md section 5: each record with its stored number (0 to 149, one byte below
    // 128 and two from 128), and numbered 1_000_000 + its index (three bytes).
    let stored: [(Profile, (usize, usize, usize, usize)); 3] = [
        (Profile::Full, (121, 137, 153, 37_065)),
        (Profile::Acct, (52, 64, 74, 16_142)),
        (Profile::Delays, (33, 35, 38, 9_973)),
    ];
    let million: [(Profile, (usize, usize, usize, usize)); 3] = [
        (Profile::Full, (123, 139, 155, 37_621)),
        (Profile::Acct, (54, 66, 76, 16_698)),
        (Profile::Delays, (35, 37, 39, 10_529)),
    ];
    for (numbering, expected) in [("stored seq", stored), ("seq 1e6 + i", million)] {
        std::println!(
            "frame bytes per record, {} real exits (struct v16), {numbering}:",
            records.len()
        );
        std::println!(
            "profile  delayacct  median  p90  max   mean  records/s at 115200 8N1 (mean)"
        );
        for (profile, want) in expected {
            let seq = |i: usize, r: &Record| match numbering {
                "stored seq" => r.seq,
                _ => 1_000_000 + (i % 150) as u64,
            };
            let all = frame_sizes(&records, profile, seq);
            for (half, name) in all.chunks(150).zip(["off", "on"]) {
                let s = summarize(half.to_vec());
                std::println!(
                    "{:<8} {:<9}  {:>6} {:>4} {:>4} {:>6.1}  {:>6.0}",
                    profile.name(),
                    name,
                    s.median,
                    s.p90,
                    s.max,
                    s.mean,
                    UART_BYTES_PER_SEC as f64 / s.mean
                );
            }
            let s = summarize(all);
            std::println!(
                "{:<8} {:<9}  {:>6} {:>4} {:>4} {:>6.1}  {:>6.0}",
                profile.name(),
                "both",
                s.median,
                s.p90,
                s.max,
                s.mean,
                UART_BYTES_PER_SEC as f64 / s.mean
            );
            assert_eq!(figures(&s), want, "{} {numbering}", profile.name());
        }
    }
    // With their stored numbers the `full` frames are the file's own frames, byte for byte.
    let mut file_frames = 0;
    let mut reader = StreamReader::new();
    let mut frame_start = 0;
    let mut at = 0;
    for (i, &b) in REAL.iter().enumerate() {
        if b == DELIMITER {
            if i > frame_start {
                let f = &REAL[frame_start..=i];
                if let Some(Ok(Message::Record(_))) = reader.feed(f).next() {
                    file_frames += f.len();
                    at += 1;
                }
            }
            frame_start = i + 1;
        }
    }
    assert_eq!(at, 300);
    let stored_full: usize = frame_sizes(&records, Profile::Full, |_, r| r.seq)
        .iter()
        .sum();
    assert_eq!(stored_full, file_frames);
}

/// A v17 struct: every unsigned field at its type's maximum, every signed one at `signed`
/// scaled to the field's width (its top bits: `i64::MIN` gives -128 in the one-byte
/// `ac_nice`), `version` 17, and `comm`.
fn v17_struct(signed: i64, comm: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; struct_size(17).unwrap()];
    for &f in Field::ALL {
        let v = if f.is_signed() {
            (signed >> (64 - 8 * f.width())) as u64
        } else {
            u64::MAX >> (64 - 8 * f.width())
        };
        put_field(&mut buf, 17, f, v).unwrap();
    }
    put_field(&mut buf, 17, Field::Version, 17).unwrap();
    put_comm(&mut buf, 17, comm).unwrap();
    buf
}

fn v17_frame_len(buf: &[u8], seq: u64, id: u32, profile: Profile) -> usize {
    let ts = Taskstats::new(buf).unwrap();
    frame_len(&Message::Record(Record::from_taskstats(
        seq,
        Kind::Pid,
        id,
        &ts,
        profile,
    )))
}

#[test]
fn synthetic_worst_cases() {
    // core/WIRE.md section 5, "Ceilings". The largest record frame of each profile from a
    // v17 struct: seq and id at their widest varints, a 32-byte comm, unsigned fields at
    // their type's maximum, signed ones at their most negative (zigzag makes that the
    // longest: ac_nice -128 is 255, two bytes; an s64 at i64::MIN is ten bytes).
    let widest = v17_struct(i64::MIN, &[b'c'; 32]);
    // Every field's bits set instead: signed fields then read -1, zigzag 1, one byte each;
    // with seq 2^32 - 1, id 4_194_304 (PID_MAX_LIMIT) and a 15-byte comm.
    let all_ones = v17_struct(-1, b"fifteen-chars!!");
    let expected = [
        (Profile::Full, 855, 686),
        (Profile::Acct, 202, 179),
        (Profile::Delays, 187, 181),
    ];
    std::println!("synthetic v17 frames (bytes): ceiling, every field's bits set");
    for (p, ceiling, ones) in expected {
        let c = v17_frame_len(&widest, u64::MAX, u32::MAX, p);
        let o = v17_frame_len(&all_ones, u64::from(u32::MAX), 4_194_304, p);
        std::println!("  {:<7} {c} {o}", p.name());
        assert_eq!((c, o), (ceiling, ones), "{}", p.name());
        assert!(c <= MAX_FRAME_LEN);
    }
    // The ceiling is one: no other seq, id, comm or signed value makes a longer frame.
    for p in [Profile::Full, Profile::Acct, Profile::Delays] {
        let ceiling = v17_frame_len(&widest, u64::MAX, u32::MAX, p);
        for signed in [i64::MAX, -1, 0, i64::MIN + 1] {
            let other = v17_struct(signed, &[0xFF; 32]);
            assert!(v17_frame_len(&other, u64::MAX - 1, u32::MAX - 1, p) <= ceiling);
        }
    }
    // An all-zero v16 struct, seq 0, id 1: the floor of a `delays` record.
    let mut zero = vec![0u8; struct_size(16).unwrap()];
    put_field(&mut zero, 16, Field::Version, 16).unwrap();
    let ts = Taskstats::new(&zero).unwrap();
    let n = frame_len(&Message::Record(Record::from_taskstats(
        0,
        Kind::Pid,
        1,
        &ts,
        Profile::Delays,
    )));
    std::println!("  all-zero v16 delays, seq 0, id 1: {n} bytes");
    assert_eq!(n, 30);
}

/// Writes `testdata/exits.twr` from raw captures (records of: u8 nest type, u8 pad, u16
/// length, STATS payload, host-endian), given as TW_CAPTURE_OFF and TW_CAPTURE_ON.
#[test]
#[ignore = "regenerates testdata from a capture; run by hand"]
fn make_real_stream() {
    let mut out = Vec::new();
    for (var, delay) in [("TW_CAPTURE_OFF", false), ("TW_CAPTURE_ON", true)] {
        let raw = std::fs::read(std::env::var(var).unwrap()).unwrap();
        let mut structs = Vec::new();
        let mut off = 0;
        let mut last_tgid = 0;
        while off + 4 <= raw.len() {
            let len = usize::from(u16::from_ne_bytes([raw[off + 2], raw[off + 3]]));
            let bytes = &raw[off + 4..off + 4 + len];
            let ts = Taskstats::new(bytes).unwrap();
            // A group's record follows its last thread's in the same message; the capture
            // kept the STATS only, and the kernel leaves ac_tgid 0 in the group's record.
            let (kind, id) = if raw[off] == 5 {
                (Kind::Tgid, last_tgid)
            } else {
                last_tgid = ts.get(Field::AcTgid).unwrap() as u32;
                (Kind::Pid, ts.get(Field::AcPid).unwrap() as u32)
            };
            structs.push((kind, id, bytes));
            off += 4 + len;
        }
        let step = structs.len() / 150;
        let mut header = StreamHeader::new();
        header.agent_version.push_str("0.1.0").unwrap();
        header.board_id.push_str("dev-vm-x86_64").unwrap();
        header.kernel_release.push_str("6.18.44-fc-v669").unwrap();
        header.taskstats_version = 16;
        header.delay_accounting = Some(delay);
        header.possible_cpus.push_str("0-1").unwrap();
        out.push(DELIMITER);
        out.extend_from_slice(&{
            let mut b = vec![0u8; MAX_FRAME_LEN];
            let n = encode_frame(&Message::Header(header), &mut b).unwrap();
            b.truncate(n);
            b
        });
        for (seq, (kind, id, bytes)) in structs.iter().step_by(step).take(150).enumerate() {
            let ts = Taskstats::new(bytes).unwrap();
            let r = Record::from_taskstats(seq as u64, *kind, *id, &ts, Profile::Full);
            let mut b = vec![0u8; MAX_FRAME_LEN];
            let n = encode_frame(&Message::Record(r), &mut b).unwrap();
            out.extend_from_slice(&b[..n]);
        }
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/wire/testdata/exits.twr");
    std::fs::write(path, out).unwrap();
}

const STILL: DelayCounter = DelayCounter {
    count: 0,
    total_ns: 0,
};

/// What a busy task's counters move by over 2 s on a v16 kernel with delay accounting on
/// (core/WIRE.md section 5, "Samples"): a quarter of a CPU, 64 KiB written, 120 waits for
/// a CPU (35 ms), 12 for block IO (48 ms), every other category present and still.
fn busy_deltas() -> Deltas {
    let mut d = Deltas::empty(2_000_000_000);
    d.cpu_us = Some(500_000);
    d.read_bytes = Some(0);
    d.write_bytes = Some(65_536);
    d.delays = [Some(STILL); 8];
    d.delays[0] = Some(DelayCounter {
        count: 120,
        total_ns: 35_000_000,
    });
    d.delays[1] = Some(DelayCounter {
        count: 12,
        total_ns: 48_000_000,
    });
    d
}

/// Every counter present and large for 2 s: two CPUs' worth of CPU time, 200 MB read and
/// written, 10 000 waits in every category adding up to 1.9 s each.
fn heavy_deltas() -> Deltas {
    let mut d = Deltas::empty(2_000_000_000);
    d.cpu_us = Some(4_000_000);
    d.read_bytes = Some(200_000_000);
    d.write_bytes = Some(200_000_000);
    d.delays = [Some(DelayCounter {
        count: 10_000,
        total_ns: 1_900_000_000,
    }); 8];
    d
}

fn sample_frame(seq: u64, sample: u64, tgid: u32, comm: &[u8], d: &Deltas) -> usize {
    let mut s = Sample::new(sample, tgid, Some(comm), d);
    s.seq = seq;
    frame_len(&Message::Sample(s))
}

/// A typical interval frame: 180 tasks, 20 rows, delay accounting on, PSI with an irq
/// file of its `full` line only.
fn interval_frame(seq: u64, sample: u64) -> usize {
    let mut i = Interval::new(sample, 2000);
    i.seq = seq;
    i.uptime_ms = 2_000 * (sample + 1);
    i.tasks_total = 180;
    i.rows = 20;
    i.delay_accounting = Some(true);
    i.cpu_some_avg10 = Some(150);
    i.cpu_full_avg10 = Some(0);
    i.memory_some_avg10 = Some(0);
    i.memory_full_avg10 = Some(0);
    i.io_some_avg10 = Some(271);
    i.io_full_avg10 = Some(126);
    i.irq_full_avg10 = Some(0);
    frame_len(&Message::Interval(i))
}

#[test]
fn bytes_per_sample() {
    // core/WIRE.md section 5, "Samples", and BENCHMARKS.md. A running agent's numbers:
    // seq 1 000 000 (3 bytes), interval 1000 (2 bytes), tgid 12 345 (2 bytes).
    let (seq, sample, tgid) = (1_000_000, 1_000, 12_345);
    let busy = sample_frame(seq, sample, tgid, b"mediaserver", &busy_deltas());
    let mut still = Deltas::empty(2_000_000_000);
    still.cpu_us = Some(0);
    still.read_bytes = Some(0);
    still.write_bytes = Some(0);
    still.delays = [Some(STILL); 8];
    let idle = sample_frame(seq, sample, tgid, b"mediaserver", &still);
    // seq 2^32, tgid 4 194 303 (PID_MAX_LIMIT - 1: 4 bytes), a 15-byte comm.
    let heavy = sample_frame(
        1 << 32,
        sample,
        4_194_303,
        b"fifteen-chars!!",
        &heavy_deltas(),
    );
    // Every slot at u64::MAX, every number at its widest, a 32-byte comm.
    let mut widest = Deltas::empty(u64::MAX);
    widest.cpu_us = Some(u64::MAX);
    widest.read_bytes = Some(u64::MAX);
    widest.write_bytes = Some(u64::MAX);
    widest.delays = [Some(DelayCounter {
        count: u64::MAX,
        total_ns: u64::MAX,
    }); 8];
    let ceiling = sample_frame(u64::MAX, u64::MAX, u32::MAX, &[b'c'; 32], &widest);
    let interval = interval_frame(seq, sample);
    let per_interval = interval + 20 * busy;
    let heavy_interval = interval + 20 * heavy;
    // One interval every 2 s on 115200 baud 8N1.
    let budget = 2 * UART_BYTES_PER_SEC;
    let left_per_s = (budget - per_interval) as f64 / 2.0;
    std::println!(
        "sample frames (bytes): busy {busy}, still {idle}, heavy {heavy}, ceiling {ceiling}"
    );
    std::println!(
        "interval frame: {interval}; 20 busy rows + interval: {per_interval}, 20 heavy: {heavy_interval}"
    );
    std::println!(
        "every 2 s at 115200 baud ({budget} B): {:.1} % of the line; {:.0} B/s left, {:.0} full records/s at 125.40 B",
        100.0 * per_interval as f64 / budget as f64,
        left_per_s,
        left_per_s / 125.40
    );
    assert_eq!((busy, idle, heavy, ceiling), (60, 50, 107, 263));
    assert_eq!((interval, per_interval, heavy_interval), (39, 1239, 2179));
    assert!(ceiling <= MAX_FRAME_LEN);
}
