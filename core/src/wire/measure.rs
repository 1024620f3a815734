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
use crate::taskstats::{Field, Taskstats, Value, put_comm, put_field, struct_size};

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

#[test]
fn bytes_per_record() {
    let records = real_stream().1;
    std::println!(
        "frame bytes per record, {} real exits (struct v16; seq ~1e6, 3 bytes):",
        records.len()
    );
    std::println!("profile  delayacct  median  p90  max   mean  records/s at 115200 8N1 (mean)");
    for profile in [Profile::Full, Profile::Acct, Profile::Delays] {
        let mut all = Vec::new();
        for (half, name) in records.chunks(150).zip(["off", "on"]) {
            let sizes: Vec<usize> = half
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let bytes = rebuild(r);
                    let ts = Taskstats::new(&bytes).unwrap();
                    let seq = 1_000_000 + i as u64;
                    frame_len(&Message::Record(Record::from_taskstats(
                        seq, r.kind, r.id, &ts, profile,
                    )))
                })
                .collect();
            all.extend_from_slice(&sizes);
            let s = summarize(sizes);
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
        let target = match profile {
            Profile::Full => 160,
            Profile::Acct => 80,
            Profile::Delays => 40,
        };
        assert!(
            s.median <= target,
            "{} median {} > {target}",
            profile.name(),
            s.median
        );
    }
}

#[test]
fn synthetic_worst_cases() {
    // Every field of a v17 struct with a value needing its full width: the ceiling.
    let mut buf = vec![0u8; struct_size(17).unwrap()];
    for &f in Field::ALL {
        let v = if f.width() == 8 {
            u64::MAX
        } else {
            u64::MAX >> (64 - 8 * f.width())
        };
        put_field(&mut buf, 17, f, v).unwrap();
    }
    put_field(&mut buf, 17, Field::Version, 17).unwrap();
    put_comm(&mut buf, 17, b"fifteen-chars!!").unwrap();
    let ts = Taskstats::new(&buf).unwrap();
    std::println!("synthetic v17, every field at its widest:");
    for p in [Profile::Full, Profile::Acct, Profile::Delays] {
        let n = frame_len(&Message::Record(Record::from_taskstats(
            u64::from(u32::MAX),
            Kind::Pid,
            4_194_304,
            &ts,
            p,
        )));
        std::println!("  {:<7} {n} bytes", p.name());
        assert!(n <= MAX_FRAME_LEN);
    }
    // An all-zero v16 struct: the floor.
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
    std::println!("  all-zero v16 delays: {n} bytes");
    assert!(n <= 30);
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
