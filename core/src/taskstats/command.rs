//! TASKSTATS_CMD_GET: queries by pid or tgid, and cpumask (de)registration for exit records.

use super::FAMILY_VERSION;
use crate::builder::Builder;
use crate::cpulist::CpuSet;
use crate::netlink::{Packet, flags};
use crate::{Error, Result, genl, nla};

/// `TASKSTATS_CMD_GET`: every request, user to kernel.
pub const CMD_GET: u8 = 1;
/// `TASKSTATS_CMD_NEW`: every reply and exit record, kernel to user.
pub const CMD_NEW: u8 = 2;

/// Request attribute types (`TASKSTATS_CMD_ATTR_*`).
pub mod cmd_attr {
    /// Query one task (u32 pid).
    pub const PID: u16 = 1;
    /// Query a thread group (u32 tgid).
    pub const TGID: u16 = 2;
    /// Ask for exit records of tasks exiting on these CPUs (NUL-terminated cpulist).
    pub const REGISTER_CPUMASK: u16 = 3;
    /// Stop exit records for these CPUs (NUL-terminated cpulist).
    pub const DEREGISTER_CPUMASK: u16 = 4;
}

/// One taskstats request. The kernel takes exactly one command attribute per message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// Statistics of one task; the reply carries AGGR_PID.
    GetPid(u32),
    /// Statistics summed over a thread group; the reply carries AGGR_TGID.
    GetTgid(u32),
    /// Register this socket for exit records of tasks exiting on these CPUs.
    Register(&'a CpuSet),
    /// Deregister this socket for these CPUs.
    Deregister(&'a CpuSet),
}

impl Command<'_> {
    /// Builds the request into `buf` for the TASKSTATS family id `family`; returns its length.
    ///
    /// With `ack` the kernel answers success with an ACK, which REGISTER and DEREGISTER need
    /// to be confirmed at all. An empty cpumask is refused here, since the kernel would
    /// reject it anyway and the caller should say so first.
    pub fn emit(&self, buf: &mut [u8], family: u16, seq: u32, ack: bool) -> Result<usize> {
        let f = flags::REQUEST | if ack { flags::ACK } else { 0 };
        let mut b = Builder::new(buf, family, f, seq)?.genl(CMD_GET, FAMILY_VERSION)?;
        match *self {
            Command::GetPid(pid) => b.attr_u32(cmd_attr::PID, pid)?,
            Command::GetTgid(tgid) => b.attr_u32(cmd_attr::TGID, tgid)?,
            Command::Register(set) => cpumask(&mut b, cmd_attr::REGISTER_CPUMASK, set)?,
            Command::Deregister(set) => cpumask(&mut b, cmd_attr::DEREGISTER_CPUMASK, set)?,
        }
        Ok(b.finish())
    }
}

impl<'a> Command<'a> {
    /// Reads a request (what the kernel would receive); a cpumask is parsed into `cpus`,
    /// which the returned command borrows. Used by tests and fuzzing to check [`emit`].
    ///
    /// [`emit`]: Command::emit
    pub fn parse(packet: Packet<&[u8]>, family: u16, cpus: &'a mut CpuSet) -> Result<Command<'a>> {
        packet.check_len()?;
        if packet.msg_type() != family {
            return Err(Error::Unexpected);
        }
        let g = genl::Packet::new_checked(packet.payload())?;
        if g.cmd() != CMD_GET {
            return Err(Error::Unexpected);
        }
        let mut attrs = nla::attrs(g.payload());
        let a = attrs.next().ok_or(Error::Missing)??;
        if attrs.next().is_some() {
            // The kernel acts on the first attribute it knows; a second one is a mistake.
            return Err(Error::Malformed);
        }
        Ok(match a.kind() {
            cmd_attr::PID => Command::GetPid(a.u32()?),
            cmd_attr::TGID => Command::GetTgid(a.u32()?),
            kind @ (cmd_attr::REGISTER_CPUMASK | cmd_attr::DEREGISTER_CPUMASK) => {
                let text = core::str::from_utf8(a.cstr()?).map_err(|_| Error::Malformed)?;
                *cpus = CpuSet::parse(text)?;
                if kind == cmd_attr::REGISTER_CPUMASK {
                    Command::Register(cpus)
                } else {
                    Command::Deregister(cpus)
                }
            }
            _ => return Err(Error::Unexpected),
        })
    }
}

fn cpumask(b: &mut Builder<'_>, kind: u16, set: &CpuSet) -> Result<()> {
    if set.is_empty() {
        return Err(Error::Empty);
    }
    b.attr_with(kind, |room| {
        let n = set.write_to(room)?;
        // The kernel parses the attribute as a C string: terminate it.
        *room.get_mut(n).ok_or(Error::BufferTooSmall)? = 0;
        Ok(n + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr_of(buf: &[u8]) -> (u16, Vec<u8>, u16) {
        let p = Packet::new_checked(buf).unwrap();
        let g = genl::Packet::new_checked(p.payload()).unwrap();
        assert_eq!((g.cmd(), g.version()), (CMD_GET, 1));
        let mut it = nla::attrs(g.payload());
        let a = it.next().unwrap().unwrap();
        assert!(it.next().is_none(), "one command attribute per message");
        (a.kind(), a.payload().to_vec(), p.flags())
    }

    #[test]
    fn get_pid_and_tgid() {
        let mut buf = [0u8; 64];
        let n = Command::GetPid(4242)
            .emit(&mut buf, 0x1b, 7, false)
            .unwrap();
        assert_eq!(n, 28);
        let (kind, payload, fl) = attr_of(&buf[..n]);
        assert_eq!(
            (kind, payload, fl),
            (cmd_attr::PID, 4242u32.to_ne_bytes().to_vec(), 1)
        );
        let n = Command::GetTgid(1).emit(&mut buf, 0x1b, 8, true).unwrap();
        let (kind, _, fl) = attr_of(&buf[..n]);
        assert_eq!((kind, fl), (cmd_attr::TGID, flags::REQUEST | flags::ACK));
    }

    #[test]
    fn register_carries_nul_terminated_cpulist() {
        let set = CpuSet::parse("0-3,5").unwrap();
        let mut buf = [0u8; 64];
        let n = Command::Register(&set)
            .emit(&mut buf, 0x1b, 1, true)
            .unwrap();
        let (kind, payload, _) = attr_of(&buf[..n]);
        assert_eq!(kind, cmd_attr::REGISTER_CPUMASK);
        assert_eq!(payload, b"0-3,5\0");
        let n = Command::Deregister(&set)
            .emit(&mut buf, 0x1b, 2, true)
            .unwrap();
        assert_eq!(attr_of(&buf[..n]).0, cmd_attr::DEREGISTER_CPUMASK);
    }

    #[test]
    fn register_errors() {
        let mut buf = [0u8; 64];
        let empty = CpuSet::new();
        assert_eq!(
            Command::Register(&empty).emit(&mut buf, 1, 1, true),
            Err(Error::Empty)
        );
        // Every other CPU up to 4000: far longer than a 64-byte buffer.
        let mut sparse = CpuSet::new();
        for cpu in (0..4000).step_by(2) {
            sparse.insert(cpu).unwrap();
        }
        let r = Command::Register(&sparse).emit(&mut buf, 1, 1, true);
        assert_eq!(r, Err(Error::BufferTooSmall));
    }

    /// Requests captured as sent by core/fixtures/capture.py (family 31): what the kernel
    /// accepted byte for byte.
    static GET_PID: [u8; 28] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/request_get_pid.bin"));
    static REGISTER: [u8; 28] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/request_register.bin"));
    static DEREGISTER: [u8; 28] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/request_deregister.bin"));

    #[test]
    fn requests_match_capture() {
        let mut buf = [0u8; 64];
        let n = Command::GetPid(9870).emit(&mut buf, 31, 2, false).unwrap();
        assert_eq!(&buf[..n], &GET_PID[..]);
        let cpus = CpuSet::parse("0-1").unwrap();
        let n = Command::Register(&cpus)
            .emit(&mut buf, 31, 7, true)
            .unwrap();
        assert_eq!(&buf[..n], &REGISTER[..]);
        let n = Command::Deregister(&cpus)
            .emit(&mut buf, 31, 8, true)
            .unwrap();
        assert_eq!(&buf[..n], &DEREGISTER[..]);
    }

    fn reparse<'a>(buf: &[u8], cpus: &'a mut CpuSet) -> Result<Command<'a>> {
        Command::parse(Packet::new_checked(buf)?, 0x1b, cpus)
    }

    proptest::proptest! {
        #[test]
        fn emit_then_parse(kind in 0u8..4, id in proptest::prelude::any::<u32>(),
                           cpus in proptest::collection::vec(0usize..crate::cpulist::MAX_CPUS, 1..40)) {
            let mut set = CpuSet::new();
            for c in cpus {
                set.insert(c).unwrap();
            }
            let cmd = match kind {
                0 => Command::GetPid(id),
                1 => Command::GetTgid(id),
                2 => Command::Register(&set),
                _ => Command::Deregister(&set),
            };
            let mut buf = [0u8; crate::MAX_MSG_SIZE];
            let n = cmd.emit(&mut buf, 0x1b, id, kind % 2 == 0).unwrap();
            let mut storage = CpuSet::new();
            proptest::prop_assert_eq!(reparse(&buf[..n], &mut storage), Ok(cmd));
        }
    }

    #[test]
    fn parse_rejects_two_commands() {
        let mut buf = [0u8; 64];
        let mut b = Builder::new(&mut buf, 0x1b, 0, 1)
            .unwrap()
            .genl(CMD_GET, 1)
            .unwrap();
        b.attr_u32(cmd_attr::PID, 1).unwrap();
        b.attr_u32(cmd_attr::TGID, 1).unwrap();
        let n = b.finish();
        assert_eq!(
            reparse(&buf[..n], &mut CpuSet::new()),
            Err(Error::Malformed)
        );
    }
}
