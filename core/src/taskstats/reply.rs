//! TASKSTATS_CMD_NEW: answers to GET, and exit records.

#[cfg(any(test, feature = "test-util"))]
use super::FAMILY_VERSION;
use super::command::CMD_NEW;
use super::stats::Taskstats;
#[cfg(any(test, feature = "test-util"))]
use crate::builder::Builder;
use crate::netlink::Packet;
use crate::nla::Nla;
use crate::{Error, Result, genl, nla};

/// Reply attribute types (`TASKSTATS_TYPE_*`).
pub mod attr {
    /// A pid (u32), inside AGGR_PID.
    pub const PID: u16 = 1;
    /// A tgid (u32), inside AGGR_TGID.
    pub const TGID: u16 = 2;
    /// `struct taskstats`.
    pub const STATS: u16 = 3;
    /// Nest: PID and STATS of one task.
    pub const AGGR_PID: u16 = 4;
    /// Nest: TGID and STATS summed over a thread group.
    pub const AGGR_TGID: u16 = 5;
    /// Padding so that STATS lands 8-byte aligned on some architectures; no payload.
    pub const NULL: u16 = 6;
}

/// Which nest an [`Aggregate`] came from: a task's or a thread group's.
///
/// The record stream sends it as is ([`crate::wire::Kind`] is this type): its variant
/// order is part of the wire format, append only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// Per task (thread): the kernel's AGGR_PID; the id is a pid (thread id).
    Pid,
    /// Per thread group, sent when the last thread of a group that had more than one
    /// exits: the kernel's AGGR_TGID; the id is a tgid. The kernel sums only delays,
    /// times and context switches here; comm, ids and flags read as zero.
    Tgid,
}

impl Kind {
    /// Both kinds, in the order [`Reply::aggregates`] yields them.
    pub const ALL: [Kind; 2] = [Kind::Pid, Kind::Tgid];

    /// The kind's stable name, `pid` or `tgid`, as output and JSON spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Pid => "pid",
            Kind::Tgid => "tgid",
        }
    }
}

/// The statistics of one task or thread group, as carried in an AGGR nest.
#[derive(Debug, Clone, Copy)]
pub struct Aggregate<'a> {
    /// The pid (in AGGR_PID) or tgid (in AGGR_TGID).
    pub id: u32,
    /// The struct, decoded lazily by offset.
    pub stats: Taskstats<'a>,
}

/// A TASKSTATS_CMD_NEW message: an answer to GET, or an exit record.
///
/// A GET by pid answers with `pid`, a GET by tgid with `tgid`; an exit record carries `pid`,
/// plus `tgid` when the last thread of a group that ever had several threads exits. The
/// nests may come in any order, with NULL padding between or inside them.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    /// The AGGR_PID nest, if present.
    pub pid: Option<Aggregate<'a>>,
    /// The AGGR_TGID nest, if present.
    pub tgid: Option<Aggregate<'a>>,
}

impl<'a> Reply<'a> {
    /// Reads a NEW message of the TASKSTATS family `family`.
    ///
    /// Unknown attributes and NULL padding are skipped at every level. A message with
    /// neither nest, a nest without its id or STATS, or the same nest twice, is an error.
    pub fn parse(packet: Packet<&'a [u8]>, family: u16) -> Result<Reply<'a>> {
        packet.check_len()?;
        if packet.msg_type() != family {
            return Err(Error::Unexpected);
        }
        let g = genl::Packet::new_checked(packet.payload())?;
        if g.cmd() != CMD_NEW {
            return Err(Error::Unexpected);
        }
        Self::parse_attrs(g.payload())
    }

    /// Reads the attributes after the generic netlink header.
    pub fn parse_attrs(attrs: &'a [u8]) -> Result<Reply<'a>> {
        let mut reply = Reply {
            pid: None,
            tgid: None,
        };
        for a in nla::attrs(attrs) {
            let a = a?;
            let (slot, id_kind) = match a.kind() {
                attr::AGGR_PID => (&mut reply.pid, attr::PID),
                attr::AGGR_TGID => (&mut reply.tgid, attr::TGID),
                _ => continue,
            };
            if slot.is_some() {
                return Err(Error::Malformed);
            }
            *slot = Some(aggregate(a, id_kind)?);
        }
        if reply.pid.is_none() && reply.tgid.is_none() {
            return Err(Error::Missing);
        }
        Ok(reply)
    }
}

impl<'a> Reply<'a> {
    /// The aggregate of `kind`'s nest, if the message has one.
    pub fn get(&self, kind: Kind) -> Option<Aggregate<'a>> {
        match kind {
            Kind::Pid => self.pid,
            Kind::Tgid => self.tgid,
        }
    }

    /// Every aggregate the message carries with its kind: the task's first, then its
    /// thread group's (the order the kernel sends them in), one or two in all.
    pub fn aggregates(&self) -> Aggregates<'a> {
        Aggregates {
            reply: *self,
            next: 0,
        }
    }
}

/// The `(Kind, Aggregate)` pairs of a [`Reply`], from [`Reply::aggregates`].
#[derive(Debug, Clone)]
pub struct Aggregates<'a> {
    reply: Reply<'a>,
    /// Index into [`Kind::ALL`] of the next kind to look at.
    next: usize,
}

impl<'a> Iterator for Aggregates<'a> {
    type Item = (Kind, Aggregate<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(&kind) = Kind::ALL.get(self.next) {
            self.next += 1;
            if let Some(a) = self.reply.get(kind) {
                return Some((kind, a));
            }
        }
        None
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Reply<'_> {
    /// Writes this reply as a TASKSTATS_CMD_NEW message, as the kernel lays it out (AGGR_PID
    /// first, no padding); returns its length. For building test input and simulated
    /// kernels (feature `test-util`): the agent only reads replies.
    pub fn emit(&self, buf: &mut [u8], family: u16, seq: u32) -> Result<usize> {
        let mut b = Builder::new(buf, family, 0, seq)?.genl(CMD_NEW, FAMILY_VERSION)?;
        for (agg, nest, id) in [
            (&self.pid, attr::AGGR_PID, attr::PID),
            (&self.tgid, attr::AGGR_TGID, attr::TGID),
        ] {
            if let Some(agg) = agg {
                let n = b.begin_nest(nest)?;
                b.attr_u32(id, agg.id)?;
                b.attr(attr::STATS, agg.stats.raw())?;
                b.end_nest(n)?;
            }
        }
        Ok(b.finish())
    }
}

fn aggregate<'a>(nest: Nla<&'a [u8]>, id_kind: u16) -> Result<Aggregate<'a>> {
    let mut id = None;
    let mut stats = None;
    for a in nest.nested() {
        let a = a?;
        match a.kind() {
            k if k == id_kind => id = Some(a.u32()?),
            attr::STATS => stats = Some(Taskstats::new(a.payload())?),
            _ => {}
        }
    }
    match (id, stats) {
        (Some(id), Some(stats)) => Ok(Aggregate { id, stats }),
        _ => Err(Error::Missing),
    }
}

#[cfg(test)]
mod tests {
    //! Real replies captured from this machine's kernel (6.18, struct version 16) by
    //! `core/fixtures/capture.py`; core/fixtures/README.md says how each one was made and
    //! which values it holds. Synthetic messages cover layouts this kernel does not send:
    //! NULL padding at every level, nests in either order, older and newer structs.
    use super::*;
    use crate::netlink::{self, Message};
    use crate::taskstats::{Field, put_comm, put_field, struct_size};

    /// The TASKSTATS family id on the machine the fixtures were captured on.
    const FAMILY: u16 = 31;
    static GET_PID: [u8; 596] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/get_pid.bin"));
    static GET_TGID: [u8; 596] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/get_tgid.bin"));
    static EXIT_PID: [u8; 596] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/exit_pid.bin"));
    static EXIT_PID_TGID: [u8; 1172] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/exit_pid_tgid.bin"));
    static EXIT_TID_TGID: [u8; 1172] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/exit_tid_tgid.bin"));

    fn parse(bytes: &[u8]) -> Result<Reply<'_>> {
        let mut it = netlink::messages(bytes);
        let packet = it.next().ok_or(Error::Truncated)??;
        assert!(it.next().is_none(), "one message per datagram");
        match Message::parse(packet)? {
            Message::Data(p) => Reply::parse(p, FAMILY),
            other => panic!("not data: {other:?}"),
        }
    }

    #[test]
    fn get_pid_reply() {
        let r = parse(&GET_PID).unwrap();
        assert!(r.tgid.is_none());
        let a = r.pid.unwrap();
        assert_eq!(a.id, 9870);
        assert_eq!(a.stats.version(), 16);
        assert_eq!(a.stats.len(), 560);
        assert_eq!(a.stats.comm(), Some(&b"sleep"[..]));
        assert_eq!(a.stats.get(Field::AcPid), Some(9870));
        assert_eq!(a.stats.get(Field::AcPpid), Some(9829));
        assert_eq!(a.stats.get(Field::AcTgid), Some(9870));
    }

    #[test]
    fn get_tgid_reply() {
        let r = parse(&GET_TGID).unwrap();
        assert!(r.pid.is_none());
        let a = r.tgid.unwrap();
        assert_eq!(a.id, 9871);
        // A by-tgid reply sums a few fields and leaves identity fields zero.
        assert_eq!(a.stats.get(Field::AcPid), Some(0));
        assert_eq!(a.stats.get(Field::Nvcsw), Some(7));
        assert_eq!(a.stats.get(Field::AcUtime), Some(24000));
    }

    #[test]
    fn exit_with_pid_only() {
        let r = parse(&EXIT_PID).unwrap();
        assert!(r.tgid.is_none());
        let a = r.pid.unwrap();
        assert_eq!(a.id, 9876);
        assert_eq!(a.stats.comm(), Some(&b"twfixture"[..]));
        assert_eq!(a.stats.get(Field::AcExitcode), Some(3 << 8));
    }

    #[test]
    fn exit_with_pid_and_tgid() {
        let r = parse(&EXIT_PID_TGID).unwrap();
        let (p, t) = (r.pid.unwrap(), r.tgid.unwrap());
        assert_eq!((p.id, t.id), (9877, 9877));
        assert_eq!(p.stats.comm(), Some(&b"twgroup"[..]));
        assert_eq!(t.stats.get(Field::Nvcsw), Some(14));
        let r = parse(&EXIT_TID_TGID).unwrap();
        let (p, t) = (r.pid.unwrap(), r.tgid.unwrap());
        assert_eq!((p.id, t.id), (9883, 9881));
        assert_eq!(p.stats.get(Field::AcTgid), Some(9881));
    }

    #[test]
    fn aggregates_come_with_their_kind_task_first() {
        let kinds = |bytes: &[u8]| -> Vec<(Kind, u32)> {
            parse(bytes)
                .unwrap()
                .aggregates()
                .map(|(k, a)| (k, a.id))
                .collect()
        };
        assert_eq!(kinds(&EXIT_PID), [(Kind::Pid, 9876)]);
        assert_eq!(kinds(&GET_TGID), [(Kind::Tgid, 9871)]);
        assert_eq!(
            kinds(&EXIT_TID_TGID),
            [(Kind::Pid, 9883), (Kind::Tgid, 9881)]
        );
        let r = parse(&EXIT_TID_TGID).unwrap();
        assert_eq!(r.get(Kind::Tgid).map(|a| a.id), Some(9881));
        assert_eq!(Kind::ALL.map(Kind::name), ["pid", "tgid"]);
    }

    #[test]
    fn wrong_family_or_command() {
        let packet = netlink::messages(&GET_PID).next().unwrap().unwrap();
        assert_eq!(
            Reply::parse(packet, FAMILY + 1).unwrap_err(),
            Error::Unexpected
        );
        let mut v = GET_PID.to_vec();
        v[16] = 1;
        let packet = netlink::messages(&v).next().unwrap().unwrap();
        assert_eq!(Reply::parse(packet, FAMILY).unwrap_err(), Error::Unexpected);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for n in 0..EXIT_PID_TGID.len() {
            let mut v = EXIT_PID_TGID[..n].to_vec();
            // Keep nlmsg_len honest so the truncation reaches the attribute walk.
            if n >= 4 {
                v[..4].copy_from_slice(&(n as u32).to_ne_bytes());
            }
            let _ = parse(&v);
        }
    }

    /// A synthetic struct of `version` with a few recognisable values.
    fn stats(version: u16, pid: u32) -> Vec<u8> {
        let mut s = vec![0u8; struct_size(version).unwrap()];
        put_field(&mut s, version, Field::Version, version as u64).unwrap();
        put_field(&mut s, version, Field::AcPid, pid as u64).unwrap();
        put_field(&mut s, version, Field::CpuCount, 11).unwrap();
        put_comm(&mut s, version, b"synthetic").unwrap();
        s
    }

    enum Part<'a> {
        Null,
        Nest(u16, &'a [Part<'a>]),
        U32(u16, u32),
        Bytes(u16, &'a [u8]),
    }

    fn put(b: &mut Builder<'_>, parts: &[Part<'_>]) {
        for p in parts {
            match p {
                Part::Null => b.attr(attr::NULL, &[]).unwrap(),
                Part::U32(k, v) => b.attr_u32(*k, *v).unwrap(),
                Part::Bytes(k, v) => b.attr(*k, v).unwrap(),
                Part::Nest(k, inner) => {
                    let n = b.begin_nest(*k).unwrap();
                    put(b, inner);
                    b.end_nest(n).unwrap();
                }
            }
        }
    }

    fn message(parts: &[Part<'_>]) -> Vec<u8> {
        let mut buf = vec![0u8; crate::MAX_MSG_SIZE];
        let mut b = Builder::new(&mut buf, FAMILY, 0, 1)
            .unwrap()
            .genl(CMD_NEW, 1)
            .unwrap();
        put(&mut b, parts);
        let n = b.finish();
        buf.truncate(n);
        buf
    }

    #[test]
    fn null_padding_at_every_level_and_tgid_first() {
        // The layout of kernels without efficient unaligned access: a NULL inside each nest
        // before STATS, and here also one at top level.
        let s7 = stats(7, 5);
        let s17 = stats(17, 0);
        let v = message(&[
            Part::Null,
            Part::Nest(
                attr::AGGR_TGID,
                &[
                    Part::U32(attr::TGID, 4),
                    Part::Null,
                    Part::Bytes(attr::STATS, &s17),
                ],
            ),
            Part::Null,
            Part::Nest(
                attr::AGGR_PID,
                &[
                    Part::U32(attr::PID, 5),
                    Part::Null,
                    Part::Bytes(attr::STATS, &s7),
                ],
            ),
            Part::Bytes(99, &[1, 2, 3]),
        ]);
        let r = parse(&v).unwrap();
        let (p, t) = (r.pid.unwrap(), r.tgid.unwrap());
        assert_eq!((p.id, t.id), (5, 4));
        assert_eq!(p.stats.version(), 7);
        assert_eq!(p.stats.get(Field::CpuCount), Some(11));
        assert_eq!(p.stats.get(Field::AcPid), Some(5));
        assert_eq!(p.stats.get(Field::Nvcsw), Some(0), "v5 field present in v7");
        assert_eq!(
            p.stats.get(Field::ThrashingCount),
            None,
            "v9 field absent from v7"
        );
        assert_eq!(t.stats.version(), 17);
        assert_eq!(t.stats.comm(), Some(&b"synthetic"[..]));
    }

    #[test]
    fn missing_or_repeated_parts() {
        let s = stats(16, 1);
        let no_stats = message(&[Part::Nest(attr::AGGR_PID, &[Part::U32(attr::PID, 1)])]);
        assert_eq!(parse(&no_stats).unwrap_err(), Error::Missing);
        let no_id = message(&[Part::Nest(attr::AGGR_PID, &[Part::Bytes(attr::STATS, &s)])]);
        assert_eq!(parse(&no_id).unwrap_err(), Error::Missing);
        // A TGID id inside AGGR_PID is not the pid.
        let wrong_id = message(&[Part::Nest(
            attr::AGGR_PID,
            &[Part::U32(attr::TGID, 1), Part::Bytes(attr::STATS, &s)],
        )]);
        assert_eq!(parse(&wrong_id).unwrap_err(), Error::Missing);
        let neither = message(&[Part::Null]);
        assert_eq!(parse(&neither).unwrap_err(), Error::Missing);
        let nest = Part::Nest(
            attr::AGGR_PID,
            &[Part::U32(attr::PID, 1), Part::Bytes(attr::STATS, &s)],
        );
        let nest2 = Part::Nest(
            attr::AGGR_PID,
            &[Part::U32(attr::PID, 2), Part::Bytes(attr::STATS, &s)],
        );
        assert_eq!(
            parse(&message(&[nest, nest2])).unwrap_err(),
            Error::Malformed
        );
        let bad_pid = message(&[Part::Nest(
            attr::AGGR_PID,
            &[
                Part::Bytes(attr::PID, &[1, 0]),
                Part::Bytes(attr::STATS, &s),
            ],
        )]);
        assert_eq!(parse(&bad_pid).unwrap_err(), Error::BadLength);
    }

    #[test]
    fn emit_reproduces_the_kernel_bytes() {
        for real in [
            &GET_PID[..],
            &GET_TGID[..],
            &EXIT_PID_TGID[..],
            &EXIT_TID_TGID[..],
        ] {
            let r = parse(real).unwrap();
            let seq = netlink::messages(real).next().unwrap().unwrap().seq();
            let mut buf = [0u8; crate::MAX_MSG_SIZE];
            let n = r.emit(&mut buf, FAMILY, seq).unwrap();
            // Identical but for nlmsg_pid, which the kernel stamps with the receiver's port.
            assert_eq!(&buf[..12], &real[..12]);
            assert_eq!(&buf[16..n], &real[16..]);
        }
    }

    proptest::proptest! {
        #[test]
        fn emit_then_parse(
            version in 2u16..=17,
            pid in proptest::option::of(proptest::prelude::any::<u32>()),
            tgid in proptest::option::of(proptest::prelude::any::<u32>()),
            seed in proptest::prelude::any::<u64>(),
        ) {
            proptest::prop_assume!(pid.is_some() || tgid.is_some());
            let mut raw = stats(version, 0);
            for (i, &f) in Field::ALL.iter().enumerate().skip(1) {
                let _ = put_field(&mut raw, version, f, seed.rotate_left(i as u32));
            }
            let ts = Taskstats::new(&raw).unwrap();
            let reply = Reply {
                pid: pid.map(|id| Aggregate { id, stats: ts }),
                tgid: tgid.map(|id| Aggregate { id, stats: ts }),
            };
            let mut buf = [0u8; crate::MAX_MSG_SIZE];
            let n = reply.emit(&mut buf, FAMILY, 9).unwrap();
            let back = parse(&buf[..n]).unwrap();
            proptest::prop_assert_eq!(back.pid.map(|a| (a.id, a.stats.raw())), pid.map(|id| (id, &raw[..])));
            proptest::prop_assert_eq!(back.tgid.map(|a| (a.id, a.stats.raw())), tgid.map(|id| (id, &raw[..])));
            for &f in Field::ALL {
                proptest::prop_assert_eq!(back.pid.or(back.tgid).unwrap().stats.get(f), ts.get(f));
            }
        }
    }
}
