//! The codec's hot path on a real exit message from this machine's kernel (6.18, struct
//! version 16, AGGR_PID and AGGR_TGID):
//!
//! * walk+decode: walk the datagram, sort the message, parse the nests, decode every field
//!   of the struct;
//! * exit->frame (per profile): what the agent does per exit record on its way to the
//!   wire: walk the datagram, parse the reply, build the profile's [`Record`] from the
//!   struct ([`Record::from_taskstats`]) and encode it as one frame ([`encode_frame`]:
//!   postcard, CRC-32, COBS), for one AGGR_PID message;
//! * exit->payload->frame: the same split as the agent's `stream` does it (the reader
//!   encodes a payload, the writer frames it numbered: `encode_numbered_frame`);
//! * the two halves alone: `from_taskstats` and `encode_frame`.
//!
//! Run: `cargo bench -p taskwire-core --bench codec`. Figures go to BENCHMARKS.md.
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use taskwire_core::netlink::{self, Message};
use taskwire_core::taskstats::{Field, Reply};
use taskwire_core::wire::{self, Kind, MAX_FRAME_LEN, Profile, Record};

static EXIT_PID_TGID: &[u8] = include_bytes!("../fixtures/exit_pid_tgid.bin");
static EXIT_PID: &[u8] = include_bytes!("../fixtures/exit_pid.bin");
const FAMILY: u16 = 31;
const PROFILES: [Profile; 3] = [Profile::Full, Profile::Acct, Profile::Delays];

/// Walks a datagram and sums every field of every struct, so nothing is optimised away.
fn walk_and_decode(datagram: &[u8]) -> u64 {
    let mut sum = 0u64;
    for packet in netlink::messages(datagram) {
        let Ok(Message::Data(p)) = packet.and_then(Message::parse) else {
            continue;
        };
        let Ok(reply) = Reply::parse(p, FAMILY) else {
            continue;
        };
        for agg in [reply.pid, reply.tgid].into_iter().flatten() {
            for &f in Field::ALL {
                sum = sum.wrapping_add(agg.stats.get(f).unwrap_or(0));
            }
            sum = sum.wrapping_add(agg.stats.comm().map_or(0, |c| c.len() as u64));
        }
    }
    sum
}

/// The agent's per-record path: datagram to frames; returns the bytes framed.
fn exit_to_frames(datagram: &[u8], profile: Profile, seq: u64, out: &mut [u8]) -> usize {
    let mut total = 0;
    for packet in netlink::messages(datagram) {
        let Ok(Message::Data(p)) = packet.and_then(Message::parse) else {
            continue;
        };
        let Ok(reply) = Reply::parse(p, FAMILY) else {
            continue;
        };
        for (kind, agg) in [(Kind::Pid, reply.pid), (Kind::Tgid, reply.tgid)] {
            let Some(agg) = agg else { continue };
            let rec = Record::from_taskstats(seq, kind, agg.id, &agg.stats, profile);
            total += wire::encode_frame(&wire::Message::Record(rec), out).unwrap_or(0);
        }
    }
    total
}

/// The same, split as the agent's `stream` does it: the reader encodes the record's
/// payload with `seq` 0 (`encode_payload`), the writer frames it numbered
/// (`encode_numbered_frame`).
fn exit_to_payload_to_frames(
    datagram: &[u8],
    profile: Profile,
    seq: u64,
    payload: &mut [u8],
    out: &mut [u8],
) -> usize {
    let mut total = 0;
    for packet in netlink::messages(datagram) {
        let Ok(Message::Data(p)) = packet.and_then(Message::parse) else {
            continue;
        };
        let Ok(reply) = Reply::parse(p, FAMILY) else {
            continue;
        };
        for (kind, agg) in [(Kind::Pid, reply.pid), (Kind::Tgid, reply.tgid)] {
            let Some(agg) = agg else { continue };
            let rec = Record::from_taskstats(0, kind, agg.id, &agg.stats, profile);
            let n = wire::encode_payload(&wire::Message::Record(rec), payload).unwrap_or(0);
            total += wire::encode_numbered_frame(&payload[..n], seq, out).unwrap_or(0);
        }
    }
    total
}

fn first_reply(datagram: &[u8]) -> Reply<'_> {
    let packet = netlink::messages(datagram)
        .next()
        .expect("one message")
        .expect("walks");
    match Message::parse(packet).expect("parses") {
        Message::Data(p) => Reply::parse(p, FAMILY).expect("a reply"),
        other => panic!("not data: {other:?}"),
    }
}

fn bench(c: &mut Criterion) {
    assert_ne!(walk_and_decode(EXIT_PID), 0, "fixture must decode");
    c.bench_function("walk+decode exit message (AGGR_PID)", |b| {
        b.iter(|| walk_and_decode(black_box(EXIT_PID)))
    });
    c.bench_function("walk+decode exit message (AGGR_PID+AGGR_TGID)", |b| {
        b.iter(|| walk_and_decode(black_box(EXIT_PID_TGID)))
    });

    let mut out = [0u8; MAX_FRAME_LEN];
    let agg = first_reply(EXIT_PID).pid.expect("AGGR_PID");
    for profile in PROFILES {
        let name = profile.name();
        assert!(exit_to_frames(EXIT_PID, profile, 1, &mut out) > 0);
        c.bench_function(
            &format!("exit->frame {name} (walk+decode+record+frame)"),
            |b| {
                let mut seq = 0u64;
                b.iter(|| {
                    // A growing sequence number, as on the wire (its varint grows too).
                    seq += 1;
                    exit_to_frames(black_box(EXIT_PID), profile, seq, &mut out)
                })
            },
        );
        let mut payload = [0u8; wire::MAX_PAYLOAD_LEN];
        assert_eq!(
            exit_to_payload_to_frames(EXIT_PID, profile, 1, &mut payload, &mut out),
            exit_to_frames(EXIT_PID, profile, 1, &mut out),
        );
        c.bench_function(
            &format!("exit->payload->frame {name} (agent's path)"),
            |b| {
                let mut seq = 0u64;
                b.iter(|| {
                    seq += 1;
                    exit_to_payload_to_frames(
                        black_box(EXIT_PID),
                        profile,
                        seq,
                        &mut payload,
                        &mut out,
                    )
                })
            },
        );
        c.bench_function(&format!("from_taskstats {name}"), |b| {
            b.iter(|| Record::from_taskstats(0, Kind::Pid, agg.id, black_box(&agg.stats), profile))
        });
        let msg = wire::Message::Record(Record::from_taskstats(
            123_456,
            Kind::Pid,
            agg.id,
            &agg.stats,
            profile,
        ));
        c.bench_function(&format!("encode_frame {name}"), |b| {
            b.iter(|| wire::encode_frame(black_box(&msg), &mut out))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
