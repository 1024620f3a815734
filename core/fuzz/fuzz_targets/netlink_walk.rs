//! Any datagram: walk its messages, sort each, and try every parser on it.
//! Nothing may panic; a message that parses as a family reply must re-encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskwire_core::cgroupstats::CgroupStats;
use taskwire_core::netlink::{self, Message};
use taskwire_core::cpulist::CpuSet;
use taskwire_core::nlctrl::{self, Family};
use taskwire_core::taskstats::Command;

fuzz_target!(|data: &[u8]| {
    for packet in netlink::messages(data) {
        let Ok(packet) = packet else { break };
        let _ = Message::parse(packet);
        if let Ok(family) = Family::parse(packet) {
            // Whatever id was read must survive a request/reply round of our own making.
            let mut buf = [0u8; 64];
            assert!(nlctrl::request_family(&mut buf, "TASKSTATS", family.id as u32).is_ok());
        }
        let mut cpus = CpuSet::new();
        if let Ok(cmd) = Command::parse(packet, packet.msg_type(), &mut cpus) {
            // A request we can read, we can write back identically.
            let mut buf = [0u8; taskwire_core::MAX_MSG_SIZE];
            let n = cmd.emit(&mut buf, packet.msg_type(), packet.seq(), false).unwrap();
            let mut again = CpuSet::new();
            let p2 = netlink::Packet::new_checked(&buf[..n]).unwrap();
            assert_eq!(Command::parse(p2, packet.msg_type(), &mut again).ok(), Some(cmd));
        }
        if let Ok(stats) = CgroupStats::parse(packet, packet.msg_type()) {
            let mut raw = [0u8; 40];
            stats.emit(&mut raw).unwrap();
            assert_eq!(CgroupStats::decode(&raw), Ok(stats));
        }
    }
});
