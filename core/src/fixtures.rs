//! Test fixtures for every crate of the workspace, in one place: datagrams captured from a
//! real kernel (`core/fixtures/*.bin`, described in its README) and synthetic structs.
//! Built only with the `test-util` feature, which other crates enable for their tests.

use core::ops::{Deref, DerefMut};
use std::vec::Vec;

use crate::netlink::{self, Message as NlMessage, Packet};
use crate::taskstats::{Aggregate, Field, MAX_STRUCT_SIZE, Reply, put_field, struct_size};
use crate::wire::{Profile, Record};

/// The family id the kernel had assigned to TASKSTATS in every capture here.
pub const FAMILY: u16 = 31;

/// An exit message with an AGGR_PID and an AGGR_TGID record (struct v16).
pub static EXIT_PID_AND_TGID: [u8; 1172] =
    crate::byte_order::host_order(*include_bytes!("../fixtures/exit_pid_tgid_b.bin"));
/// An exit message with an AGGR_PID record only (struct v16).
pub static EXIT_PID: [u8; 596] =
    crate::byte_order::host_order(*include_bytes!("../fixtures/exit_pid_b.bin"));
/// `exit_pid.bin` (core/fixtures/README.md): an AGGR_PID record only, comm `twfixture`.
pub static EXIT_PID_ONLY: [u8; 596] =
    crate::byte_order::host_order(*include_bytes!("../fixtures/exit_pid.bin"));
/// `exit_pid_tgid.bin`: AGGR_PID and AGGR_TGID of a thread group whose leader exits last.
pub static EXIT_GROUP: [u8; 1172] =
    crate::byte_order::host_order(*include_bytes!("../fixtures/exit_pid_tgid.bin"));
/// `exit_tid_tgid.bin`: AGGR_PID of a thread (pid != tgid) and its group's AGGR_TGID.
pub static EXIT_THREAD_GROUP: [u8; 1172] =
    crate::byte_order::host_order(*include_bytes!("../fixtures/exit_tid_tgid.bin"));
/// The reply to GET pid 1 (struct v16): comm `process_api`, cpu_count 374,
/// cpu_delay_total 17045851.
pub static GET_PID_1: [u8; 596] =
    crate::byte_order::host_order(*include_bytes!("../fixtures/get_pid_1.bin"));

/// The record of [`GET_PID_1`].
pub fn pid1() -> Aggregate<'static> {
    let p = Packet::new_checked(&GET_PID_1[..]).expect("a captured datagram");
    Reply::parse(p, FAMILY)
        .expect("a captured reply")
        .pid
        .expect("an AGGR_PID record")
}

/// A `struct taskstats` of one version, built in place.
#[derive(Debug, Clone)]
pub struct Synthetic {
    buf: [u8; MAX_STRUCT_SIZE],
    len: usize,
}

impl Deref for Synthetic {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl DerefMut for Synthetic {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
}

impl AsRef<[u8]> for Synthetic {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// A struct of `version` with every field set to 1000 (ns, µs or count alike) and its
/// `version` field set. Panics for a version the layout table does not know.
pub fn synthetic(version: u16) -> Synthetic {
    let len = struct_size(version).expect("a known struct version");
    let mut s = Synthetic {
        buf: [0; MAX_STRUCT_SIZE],
        len,
    };
    for &f in Field::ALL {
        let v = if f == Field::Version {
            u64::from(version)
        } else {
            1000
        };
        let _ = put_field(&mut s, version, f, v);
    }
    s
}

/// Every aggregate of the three captured exit messages ([`EXIT_PID_ONLY`], [`EXIT_GROUP`],
/// [`EXIT_THREAD_GROUP`]) as a record of `profile`, numbered from 0: three per-task
/// records and two per-thread-group ones.
pub fn exit_records(profile: Profile) -> Vec<Record> {
    let mut out = Vec::new();
    for bytes in [&EXIT_PID_ONLY[..], &EXIT_GROUP, &EXIT_THREAD_GROUP] {
        let packet = netlink::messages(bytes)
            .next()
            .expect("one message")
            .expect("a valid message");
        let Ok(NlMessage::Data(p)) = NlMessage::parse(packet) else {
            panic!("a captured exit message is a data message");
        };
        let reply = Reply::parse(p, FAMILY).expect("a captured reply");
        for (kind, a) in reply.aggregates() {
            let seq = out.len() as u64;
            out.push(Record::from_taskstats(seq, kind, a.id, &a.stats, profile));
        }
    }
    out
}
