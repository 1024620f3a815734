//! Test helpers for record streams (feature `test-util`): frames as vectors, sample
//! messages and streams, and proptest strategies for every message type.
//!
//! Shared by core's own tests and, through the feature, by other crates' tests, so that
//! fixtures live in one place. Not part of the codec's API; it uses std.

use heapless::String;
use proptest::prelude::*;
use std::vec::Vec;

use super::*;
use crate::taskstats::{DelayCounter, Deltas};

fn hstring<const N: usize>() -> impl Strategy<Value = String<N>> {
    // Any Unicode, cut to fit the capacity on a char boundary.
    ".{0,40}".prop_map(|s: std::string::String| {
        let mut out = String::new();
        for c in s.chars() {
            if out.push(c).is_err() {
                break;
            }
        }
        out
    })
}

/// Wire numbers spread over every varint length.
pub fn wire_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        0..128u64,
        any::<u32>().prop_map(u64::from),
        any::<u64>()
    ]
}

/// Any header of this wire version, with arbitrary descriptive fields and schema hash.
pub fn header() -> impl Strategy<Value = StreamHeader> {
    (
        (hstring(), hstring(), hstring(), hstring()),
        any::<u16>(),
        any::<Option<bool>>(),
        (any::<u64>(), any::<u64>()),
        any::<u32>(),
    )
        .prop_map(
            |((a, b, k, c), tsv, delay, (boot, instance), hash)| StreamHeader {
                agent_version: a,
                board_id: b,
                kernel_release: k,
                possible_cpus: c,
                taskstats_version: tsv,
                delay_accounting: delay,
                boot_time: boot,
                instance,
                schema_hash: hash,
                ..StreamHeader::new()
            },
        )
}

/// Any slot values, up to [`MAX_SLOTS`], most present.
pub fn values() -> impl Strategy<Value = Values> {
    proptest::collection::vec(proptest::option::weighted(0.8, wire_u64()), 0..=MAX_SLOTS).prop_map(
        |slots| {
            let mut v = Values::new();
            for s in slots {
                v.push(s).unwrap();
            }
            v
        },
    )
}

/// Any record (its values need not match its profile's slots).
pub fn record() -> impl Strategy<Value = Record> {
    (
        any::<u64>(),
        prop_oneof![Just(Kind::Pid), Just(Kind::Tgid)],
        any::<u32>(),
        prop_oneof![
            Just(Profile::Full),
            Just(Profile::Acct),
            Just(Profile::Delays)
        ],
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..=COMM_CAP)),
        values(),
    )
        .prop_map(|(seq, kind, id, profile, comm, values)| Record {
            seq,
            kind,
            id,
            profile,
            comm: comm.map(|c| Comm::from_slice(&c).unwrap()),
            values,
        })
}

/// Any Loss frame.
pub fn loss() -> impl Strategy<Value = Loss> {
    (
        any::<u64>(),
        prop_oneof![
            Just(LossReason::KernelEnobufs),
            Just(LossReason::QueueOverflow),
            Just(LossReason::SinkOutage)
        ],
        any::<u64>(),
    )
        .prop_map(|(count, reason, next_seq)| Loss {
            count,
            reason,
            next_seq,
        })
}

/// Any heartbeat.
pub fn heartbeat() -> impl Strategy<Value = Heartbeat> {
    (any::<u64>(), any::<u64>(), any::<u64>(), any::<u32>()).prop_map(
        |(uptime_ms, records_sent, drops, queue_depth)| Heartbeat {
            uptime_ms,
            records_sent,
            drops,
            queue_depth,
        },
    )
}

/// Any interval.
pub fn interval() -> impl Strategy<Value = Interval> {
    (
        (any::<u64>(), any::<u64>(), any::<u64>()),
        (any::<u32>(), any::<u32>(), any::<u32>()),
        any::<Option<bool>>(),
        proptest::array::uniform8(any::<Option<u16>>()),
    )
        .prop_map(
            |((seq, sample, uptime_ms), (interval_ms, tasks_total, rows), delay, avg)| Interval {
                seq,
                sample,
                uptime_ms,
                interval_ms,
                tasks_total,
                rows,
                delay_accounting: delay,
                cpu_some_avg10: avg[0],
                cpu_full_avg10: avg[1],
                memory_some_avg10: avg[2],
                memory_full_avg10: avg[3],
                io_some_avg10: avg[4],
                io_full_avg10: avg[5],
                irq_some_avg10: avg[6],
                irq_full_avg10: avg[7],
            },
        )
}

/// Any deltas a sampler can make: every counter present or absent, any interval.
pub fn deltas() -> impl Strategy<Value = Deltas> {
    let counter = || proptest::option::weighted(0.7, wire_u64());
    (
        wire_u64(),
        (counter(), counter(), counter()),
        proptest::array::uniform8(proptest::option::weighted(
            0.7,
            (wire_u64(), wire_u64()).prop_map(|(count, total_ns)| DelayCounter { count, total_ns }),
        )),
    )
        .prop_map(|(interval_ns, (cpu, read, write), delays)| Deltas {
            interval_ns,
            cpu_us: cpu,
            read_bytes: read,
            write_bytes: write,
            delays,
        })
}

/// Any sample: values made from deltas, or any slots up to [`MAX_SLOTS`] (a newer
/// sender's).
pub fn sample() -> impl Strategy<Value = Sample> {
    (
        (any::<u64>(), any::<u64>(), any::<u32>(), any::<u32>()),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..=COMM_CAP)),
        prop_oneof![
            deltas().prop_map(|d| Values::from_deltas(&d)).boxed(),
            values().boxed()
        ],
    )
        .prop_map(|((seq, sample, interval_ms, tgid), comm, values)| Sample {
            seq,
            sample,
            interval_ms,
            tgid,
            comm: comm.map(|c| Comm::from_slice(&c).unwrap()),
            values,
        })
}

/// Any numbered message: a record, an interval or a sample.
pub fn numbered() -> impl Strategy<Value = Message> {
    prop_oneof![
        record().prop_map(Message::Record).boxed(),
        interval().prop_map(Message::Interval).boxed(),
        sample().prop_map(Message::Sample).boxed(),
    ]
}

/// Any message, of every variant.
pub fn message() -> impl Strategy<Value = Message> {
    // Boxed: six unboxed arms of nested tuples overflow a test thread's stack in debug.
    prop_oneof![
        header().prop_map(Message::Header).boxed(),
        record().prop_map(Message::Record).boxed(),
        loss().prop_map(Message::Loss).boxed(),
        heartbeat().prop_map(Message::Heartbeat).boxed(),
        interval().prop_map(Message::Interval).boxed(),
        sample().prop_map(Message::Sample).boxed(),
    ]
}

/// `msg` numbered `seq`; other messages as they are.
pub fn with_seq(msg: Message, seq: u64) -> Message {
    match msg {
        Message::Record(r) => Message::Record(Record { seq, ..r }),
        Message::Interval(i) => Message::Interval(Interval { seq, ..i }),
        Message::Sample(s) => Message::Sample(Sample { seq, ..s }),
        other => other,
    }
}

/// A small interval for stream tests: interval `sample` of 2 s, `rows` samples to follow,
/// io pressure.
pub fn small_interval(seq: u64, sample: u64, rows: u32) -> Message {
    let mut i = Interval::new(sample, 2000);
    i.seq = seq;
    i.uptime_ms = 2000 * (sample + 1);
    i.tasks_total = 100;
    i.rows = rows;
    i.delay_accounting = Some(true);
    i.io_some_avg10 = Some(271);
    i.io_full_avg10 = Some(126);
    Message::Interval(i)
}

/// A small sample for stream tests: task `tgid` over 2 s, a quarter of a CPU, some
/// writes and some IO delay.
pub fn small_sample(seq: u64, sample: u64, tgid: u32) -> Message {
    let mut d = Deltas::empty(2_000_000_000);
    d.cpu_us = Some(500_000);
    d.read_bytes = Some(0);
    d.write_bytes = Some(8192);
    d.delays[0] = Some(DelayCounter {
        count: 40,
        total_ns: 20_000_000,
    });
    d.delays[1] = Some(DelayCounter {
        count: 3,
        total_ns: 700_000_000,
    });
    let mut s = Sample::new(sample, tgid, Some(b"worker"), &d);
    s.seq = seq;
    Message::Sample(s)
}

/// Encodes `msg` as a frame into a fresh vector.
pub fn frame(msg: &Message) -> Vec<u8> {
    let mut buf = std::vec![0u8; MAX_FRAME_LEN];
    let n = encode_frame(msg, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// A Loss of `count` for `reason`, the next number being `next_seq`.
pub fn loss_of(reason: LossReason, count: u64, next_seq: u64) -> Loss {
    Loss {
        count,
        reason,
        next_seq,
    }
}

/// A small record for stream tests.
pub fn small_record(seq: u64) -> Message {
    let mut values = Values::new();
    for i in 0..16 {
        values.push(Some(seq * 1000 + i)).unwrap();
    }
    Message::Record(Record {
        seq,
        kind: Kind::Pid,
        id: 4000 + seq as u32,
        profile: Profile::Delays,
        comm: None,
        values,
    })
}

/// postcard bytes of `v` (the crate builds postcard without `alloc`).
pub fn to_vec<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut buf = std::vec![0u8; 4 * MAX_FRAME_LEN];
    let n = postcard::to_slice(v, &mut buf).unwrap().len();
    buf.truncate(n);
    buf
}

/// A header of this wire version naming `board` (cut to [`BOARD_ID_CAP`] bytes on a char
/// boundary).
pub fn named_header(board: &str) -> Message {
    let mut h = StreamHeader::new();
    for c in board.chars() {
        if h.board_id.push(c).is_err() {
            break;
        }
    }
    Message::Header(h)
}

/// A whole stream as an agent writes it: the leading 0x00, a header naming `board`, then
/// [`small_record`]s numbered `seqs`.
pub fn stream_bytes(board: &str, seqs: impl IntoIterator<Item = u64>) -> Vec<u8> {
    instance_stream(board, StreamHeader::new().instance, seqs)
}

/// [`stream_bytes`] of one run of an agent: its header carries `instance`.
pub fn instance_stream(board: &str, instance: u64, seqs: impl IntoIterator<Item = u64>) -> Vec<u8> {
    let mut h = StreamHeader::new();
    if let Message::Header(named) = named_header(board) {
        h = named;
    }
    h.instance = instance;
    let mut w = std::vec![DELIMITER];
    w.extend(frame(&Message::Header(h)));
    for s in seqs {
        w.extend(frame(&small_record(s)));
    }
    w
}
