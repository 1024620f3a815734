//! The codec's hot path on a real exit message from this machine's kernel (6.18, struct
//! version 16, AGGR_PID and AGGR_TGID): walk the datagram, sort the message, parse the
//! nests, decode every field of the struct.
//!
//! Run: `cargo bench -p taskwire-core --bench codec`. Figures go to BENCHMARKS.md.
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use taskwire_core::netlink::{self, Message};
use taskwire_core::taskstats::{Field, Reply};

static EXIT_PID_TGID: &[u8] = include_bytes!("../fixtures/exit_pid_tgid.bin");
static EXIT_PID: &[u8] = include_bytes!("../fixtures/exit_pid.bin");
const FAMILY: u16 = 31;

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

fn bench(c: &mut Criterion) {
    assert_ne!(walk_and_decode(EXIT_PID), 0, "fixture must decode");
    c.bench_function("walk+decode exit message (AGGR_PID)", |b| {
        b.iter(|| walk_and_decode(black_box(EXIT_PID)))
    });
    c.bench_function("walk+decode exit message (AGGR_PID+AGGR_TGID)", |b| {
        b.iter(|| walk_and_decode(black_box(EXIT_PID_TGID)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
