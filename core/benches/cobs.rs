//! COBS alone and in its two callers, on a real exit record (Full profile, from the same
//! captured AGGR_PID message as `codec`): stuffing the payload, unstuffing it, framing the
//! record (postcard + CRC + COBS, byte at a time) and reading frames back byte at a time
//! (`StreamReader`, which unstuffs as bytes arrive).
//!
//! Run: `cargo bench -p taskwire-core --bench cobs`. Figures go to BENCHMARKS.md.
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use taskwire_core::netlink::{self, Message};
use taskwire_core::taskstats::Reply;
use taskwire_core::wire::{self, Kind, MAX_FRAME_LEN, Profile, Record, StreamReader};

static EXIT_PID: &[u8] = include_bytes!("../fixtures/exit_pid.bin");
const FAMILY: u16 = 31;

fn record() -> Record {
    let packet = netlink::messages(EXIT_PID).next().unwrap().unwrap();
    let Message::Data(p) = Message::parse(packet).unwrap() else {
        panic!("not data")
    };
    let agg = Reply::parse(p, FAMILY).unwrap().pid.unwrap();
    Record::from_taskstats(1, Kind::Pid, agg.id, &agg.stats, Profile::Full)
}

fn bench(c: &mut Criterion) {
    let msg = wire::Message::Record(record());
    let mut payload = [0u8; wire::MAX_PAYLOAD_LEN];
    let n = wire::encode_payload(&msg, &mut payload).unwrap();
    let payload = &payload[..n];
    let mut stuffed = [0u8; MAX_FRAME_LEN];
    let m = wire::cobs_encode(payload, &mut stuffed).unwrap();
    let stuffed = &stuffed[..m];
    let mut out = [0u8; MAX_FRAME_LEN];

    c.bench_function("cobs encode record payload", |b| {
        b.iter(|| wire::cobs_encode(black_box(payload), &mut out))
    });
    c.bench_function("cobs decode record payload", |b| {
        b.iter(|| wire::cobs_decode(black_box(stuffed), &mut out))
    });
    c.bench_function("encode_frame record", |b| {
        b.iter(|| wire::encode_frame(black_box(&msg), &mut out))
    });
    // 16 frames per iteration, as a host reads them off a link.
    let mut frames = Vec::new();
    for _ in 0..16 {
        let k = wire::encode_frame(&msg, &mut out).unwrap();
        frames.extend_from_slice(&out[..k]);
    }
    c.bench_function("StreamReader 16 record frames", |b| {
        let mut reader = StreamReader::new();
        b.iter(|| {
            reader
                .feed(black_box(&frames))
                .filter(|m| m.is_ok())
                .count()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
