//! Test helpers for record streams (feature `test-util`): frames as vectors, sample
//! messages and streams, and proptest strategies for every message type.
//!
//! Shared by core's own tests and, through the feature, by other crates' tests, so that
//! fixtures live in one place. Not part of the codec's API; it uses std.

use heapless::String;
use proptest::prelude::*;
use std::vec::Vec;

use super::*;

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
        any::<u64>(),
        any::<u32>(),
    )
        .prop_map(|((a, b, k, c), tsv, delay, boot, hash)| StreamHeader {
            agent_version: a,
            board_id: b,
            kernel_release: k,
            possible_cpus: c,
            taskstats_version: tsv,
            delay_accounting: delay,
            boot_time: boot,
            schema_hash: hash,
            ..StreamHeader::new()
        })
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

/// Any message, of every variant.
pub fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        header().prop_map(Message::Header),
        record().prop_map(Message::Record),
        loss().prop_map(Message::Loss),
        heartbeat().prop_map(Message::Heartbeat),
    ]
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
    let mut w = std::vec![DELIMITER];
    w.extend(frame(&named_header(board)));
    for s in seqs {
        w.extend(frame(&small_record(s)));
    }
    w
}
