//! Any datagram as a taskstats reply or exit record: walk, parse the nests, decode every
//! field of every struct found. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskwire_core::netlink;
use taskwire_core::taskstats::{Field, Reply};

fuzz_target!(|data: &[u8]| {
    // Straight attribute runs (the genl payload) as well as whole datagrams.
    check(Reply::parse_attrs(data).ok());
    for packet in netlink::messages(data) {
        let Ok(packet) = packet else { break };
        check(Reply::parse(packet, packet.msg_type()).ok());
    }
});

fn check(reply: Option<Reply<'_>>) {
    let Some(reply) = reply else { return };
    for agg in [reply.pid, reply.tgid].into_iter().flatten() {
        for &f in Field::ALL {
            let _ = agg.stats.get(f);
        }
        let _ = agg.stats.comm();
    }
}
