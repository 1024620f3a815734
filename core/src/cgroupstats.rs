//! cgroupstats: per-cgroup task state counts, served by the TASKSTATS family.
//!
//! The kernel answers only for cgroup v1 directories (EINVAL on cgroup2), and sends nothing
//! back for a bad fd unless the request asked for an acknowledgement.

use crate::builder::Builder;
use crate::bytes::u64_at;
use crate::netlink::Packet;
use crate::taskstats::FAMILY_VERSION;
use crate::{Error, Result, genl, nla};

/// `CGROUPSTATS_CMD_GET`.
pub const CMD_GET: u8 = 4;
/// `CGROUPSTATS_CMD_NEW`: the kernel's reply.
pub const CMD_NEW: u8 = 5;
/// `CGROUPSTATS_CMD_ATTR_FD`: u32 file descriptor of an open cgroup directory.
pub const CMD_ATTR_FD: u16 = 1;
/// `CGROUPSTATS_TYPE_CGROUP_STATS`: the reply's `struct cgroupstats`.
pub const TYPE_CGROUP_STATS: u16 = 1;

/// Builds `CGROUPSTATS_CMD_GET` for the cgroup directory open as `fd`.
///
/// Set `ack`: without it a request the kernel rejects gets no answer at all.
pub fn request(buf: &mut [u8], family: u16, fd: u32, seq: u32, ack: bool) -> Result<usize> {
    use crate::netlink::flags::{ACK, REQUEST};
    let flags = REQUEST | if ack { ACK } else { 0 };
    let mut b = Builder::new(buf, family, flags, seq)?.genl(CMD_GET, FAMILY_VERSION)?;
    b.attr_u32(CMD_ATTR_FD, fd)?;
    Ok(b.finish())
}

mod field {
    pub const NR_SLEEPING: usize = 0;
    pub const NR_RUNNING: usize = 8;
    pub const NR_STOPPED: usize = 16;
    pub const NR_UNINTERRUPTIBLE: usize = 24;
    pub const NR_IO_WAIT: usize = 32;
    pub const LEN: usize = NR_IO_WAIT + 8;
}

/// `struct cgroupstats`: how many tasks of the cgroup are in each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CgroupStats {
    /// Tasks sleeping (interruptibly).
    pub nr_sleeping: u64,
    /// Tasks running or runnable.
    pub nr_running: u64,
    /// Tasks stopped.
    pub nr_stopped: u64,
    /// Tasks in uninterruptible sleep.
    pub nr_uninterruptible: u64,
    /// Tasks waiting for I/O.
    pub nr_io_wait: u64,
}

impl CgroupStats {
    /// Reads a `CGROUPSTATS_CMD_NEW` reply of the TASKSTATS family `family`.
    pub fn parse(packet: Packet<&[u8]>, family: u16) -> Result<CgroupStats> {
        packet.check_len()?;
        if packet.msg_type() != family {
            return Err(Error::Unexpected);
        }
        let g = genl::Packet::new_checked(packet.payload())?;
        if g.cmd() != CMD_NEW {
            return Err(Error::Unexpected);
        }
        for a in nla::attrs(g.payload()) {
            let a = a?;
            if a.kind() == TYPE_CGROUP_STATS {
                return Self::decode(a.payload());
            }
        }
        Err(Error::Missing)
    }

    /// Decodes the struct's payload (40 bytes; a longer one keeps its known prefix).
    pub fn decode(p: &[u8]) -> Result<CgroupStats> {
        if p.len() < field::LEN {
            return Err(Error::Truncated);
        }
        let at = |off| u64_at(p, off).ok_or(Error::Truncated);
        Ok(CgroupStats {
            nr_sleeping: at(field::NR_SLEEPING)?,
            nr_running: at(field::NR_RUNNING)?,
            nr_stopped: at(field::NR_STOPPED)?,
            nr_uninterruptible: at(field::NR_UNINTERRUPTIBLE)?,
            nr_io_wait: at(field::NR_IO_WAIT)?,
        })
    }

    /// Bytes of the struct [`CgroupStats::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::LEN
    }

    /// Writes the struct as the kernel lays it out (tests and tools build replies with it).
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let dst = buf.get_mut(..field::LEN).ok_or(Error::BufferTooSmall)?;
        let vals = [
            self.nr_sleeping,
            self.nr_running,
            self.nr_stopped,
            self.nr_uninterruptible,
            self.nr_io_wait,
        ];
        for (chunk, v) in dst.chunks_exact_mut(8).zip(vals) {
            chunk.copy_from_slice(&v.to_ne_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILY: u16 = 0x1b;

    fn reply(stats: &CgroupStats, cmd: u8) -> Vec<u8> {
        let mut raw = [0u8; 40];
        stats.emit(&mut raw).unwrap();
        let mut buf = vec![0u8; 128];
        let mut b = Builder::new(&mut buf, FAMILY, 0, 3)
            .unwrap()
            .genl(cmd, 1)
            .unwrap();
        b.attr(TYPE_CGROUP_STATS, &raw).unwrap();
        let n = b.finish();
        buf.truncate(n);
        buf
    }

    #[test]
    fn request_carries_fd() {
        let mut buf = [0u8; 64];
        let n = request(&mut buf, FAMILY, 7, 9, true).unwrap();
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            p.flags() & crate::netlink::flags::ACK,
            crate::netlink::flags::ACK
        );
        let g = genl::Packet::new_checked(p.payload()).unwrap();
        assert_eq!(g.cmd(), CMD_GET);
        let a = nla::attrs(g.payload()).next().unwrap().unwrap();
        assert_eq!((a.kind(), a.u32()), (CMD_ATTR_FD, Ok(7)));
    }

    #[test]
    fn round_trip() {
        let s = CgroupStats {
            nr_sleeping: 1,
            nr_running: 2,
            nr_stopped: 3,
            nr_uninterruptible: 4,
            nr_io_wait: 5,
        };
        let v = reply(&s, CMD_NEW);
        assert_eq!(
            CgroupStats::parse(Packet::new_checked(&v[..]).unwrap(), FAMILY),
            Ok(s)
        );
    }

    #[test]
    fn wrong_family_cmd_or_size() {
        let v = reply(&CgroupStats::default(), CMD_NEW);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(CgroupStats::parse(p, FAMILY + 1), Err(Error::Unexpected));
        let v = reply(&CgroupStats::default(), CMD_GET);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(CgroupStats::parse(p, FAMILY), Err(Error::Unexpected));
        assert_eq!(CgroupStats::decode(&[0; 39]), Err(Error::Truncated));
    }

    /// A reply for a cgroup v1 directory holding 3 sleeping, 1 running and 2 stopped tasks,
    /// and the request that asked for it (fd 3), captured by core/fixtures/capture.py.
    static REPLY: [u8; 64] =
        crate::byte_order::host_order(*include_bytes!("../fixtures/cgroupstats.bin"));
    static REQUEST: [u8; 28] =
        crate::byte_order::host_order(*include_bytes!("../fixtures/request_cgroupstats.bin"));

    #[test]
    fn real_reply_and_request() {
        let p = crate::netlink::messages(&REPLY).next().unwrap().unwrap();
        let s = CgroupStats::parse(p, 31).unwrap();
        let want = CgroupStats {
            nr_sleeping: 3,
            nr_running: 1,
            nr_stopped: 2,
            ..Default::default()
        };
        assert_eq!(s, want);
        let mut buf = [0u8; 64];
        let n = request(&mut buf, 31, 3, 11, false).unwrap();
        assert_eq!(&buf[..n], &REQUEST[..]);
    }

    proptest::proptest! {
        #[test]
        fn emit_then_parse(a: u64, b: u64, c: u64, d: u64, e: u64) {
            let s = CgroupStats { nr_sleeping: a, nr_running: b, nr_stopped: c, nr_uninterruptible: d, nr_io_wait: e };
            let v = reply(&s, CMD_NEW);
            proptest::prop_assert_eq!(CgroupStats::parse(Packet::new_checked(&v[..]).unwrap(), FAMILY), Ok(s));
        }
    }
}
