//! nlctrl, the generic netlink controller: resolving a family name to its id.
//!
//! Generic netlink families get their message type at registration time, so every session
//! starts by asking nlctrl (a fixed family id, 0x10) for "TASKSTATS".

use crate::builder::Builder;
use crate::netlink::{Packet, flags};
use crate::{Error, Result, genl, nla};

/// `GENL_ID_CTRL`: nlctrl's own, fixed family id.
pub const GENL_ID_CTRL: u16 = 0x10;
/// `CTRL_CMD_NEWFAMILY`: nlctrl's reply describing a family.
pub const CTRL_CMD_NEWFAMILY: u8 = 1;
/// `CTRL_CMD_GETFAMILY`: asks for a family by name or id.
pub const CTRL_CMD_GETFAMILY: u8 = 3;
/// nlctrl's interface version (any works; this is what the kernel's tools send).
pub const CTRL_VERSION: u8 = 1;

/// nlctrl attribute types.
pub mod attr {
    /// `CTRL_ATTR_FAMILY_ID` (u16).
    pub const FAMILY_ID: u16 = 1;
    /// `CTRL_ATTR_FAMILY_NAME` (NUL-terminated string).
    pub const FAMILY_NAME: u16 = 2;
    /// `CTRL_ATTR_VERSION` (u32).
    pub const VERSION: u16 = 3;
    /// `CTRL_ATTR_HDRSIZE` (u32).
    pub const HDRSIZE: u16 = 4;
    /// `CTRL_ATTR_MAXATTR` (u32).
    pub const MAXATTR: u16 = 5;
}

/// Builds `CTRL_CMD_GETFAMILY` for `name` into `buf`; returns the message length.
pub fn request_family(buf: &mut [u8], name: &str, seq: u32) -> Result<usize> {
    if name.is_empty() || name.as_bytes().contains(&0) {
        return Err(Error::Malformed);
    }
    let mut b = Builder::new(buf, GENL_ID_CTRL, flags::REQUEST, seq)?
        .genl(CTRL_CMD_GETFAMILY, CTRL_VERSION)?;
    b.attr_with(attr::FAMILY_NAME, |room| {
        let n = name.len() + 1;
        let dst = room.get_mut(..n).ok_or(Error::BufferTooSmall)?;
        dst[..name.len()].copy_from_slice(name.as_bytes());
        dst[name.len()] = 0;
        Ok(n)
    })?;
    Ok(b.finish())
}

/// What nlctrl says about a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// The message type to use for the family's commands.
    pub id: u16,
    /// The family's interface version (1 for TASKSTATS).
    pub version: u32,
    /// Size of the family's own header after `genlmsghdr` (0 for TASKSTATS).
    pub hdrsize: u32,
    /// Highest attribute type the family accepts.
    pub maxattr: u32,
}

impl Family {
    /// Reads a `CTRL_CMD_NEWFAMILY` reply.
    ///
    /// Attributes are found by walking, not by position: the id is not always the second.
    /// Only the id is required; the others read 0 when absent.
    pub fn parse(packet: Packet<&[u8]>) -> Result<Family> {
        packet.check_len()?;
        if packet.msg_type() != GENL_ID_CTRL {
            return Err(Error::Unexpected);
        }
        let g = genl::Packet::new_checked(packet.payload())?;
        if g.cmd() != CTRL_CMD_NEWFAMILY {
            return Err(Error::Unexpected);
        }
        let mut family = Family {
            id: 0,
            version: 0,
            hdrsize: 0,
            maxattr: 0,
        };
        let mut have_id = false;
        for a in nla::attrs(g.payload()) {
            let a = a?;
            match a.kind() {
                attr::FAMILY_ID => {
                    family.id = a.u16()?;
                    have_id = true;
                }
                attr::VERSION => family.version = a.u32()?,
                attr::HDRSIZE => family.hdrsize = a.u32()?,
                attr::MAXATTR => family.maxattr = a.u32()?,
                _ => {}
            }
        }
        if have_id {
            Ok(family)
        } else {
            Err(Error::Missing)
        }
    }
}

impl Family {
    /// Writes nlctrl's `CTRL_CMD_NEWFAMILY` reply describing this family under `name`.
    pub fn emit(&self, buf: &mut [u8], name: &str, seq: u32) -> Result<usize> {
        let mut b = Builder::new(buf, GENL_ID_CTRL, 0, seq)?.genl(CTRL_CMD_NEWFAMILY, 2)?;
        b.attr_with(attr::FAMILY_NAME, |room| {
            let dst = room
                .get_mut(..name.len() + 1)
                .ok_or(Error::BufferTooSmall)?;
            dst[..name.len()].copy_from_slice(name.as_bytes());
            dst[name.len()] = 0;
            Ok(name.len() + 1)
        })?;
        b.attr(attr::FAMILY_ID, &self.id.to_ne_bytes())?;
        b.attr_u32(attr::VERSION, self.version)?;
        b.attr_u32(attr::HDRSIZE, self.hdrsize)?;
        b.attr_u32(attr::MAXATTR, self.maxattr)?;
        Ok(b.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink;

    #[test]
    fn request_bytes() {
        let mut buf = [0u8; 64];
        let n = request_family(&mut buf, "TASKSTATS", 1).unwrap();
        // 16 nlmsghdr + 4 genlmsghdr + 4 nlattr + "TASKSTATS\0" (10) padded to 12.
        assert_eq!(n, 36);
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.msg_type(), GENL_ID_CTRL);
        assert_eq!(p.flags(), flags::REQUEST);
        let g = genl::Packet::new_checked(p.payload()).unwrap();
        assert_eq!(g.cmd(), CTRL_CMD_GETFAMILY);
        let a = nla::attrs(g.payload()).next().unwrap().unwrap();
        assert_eq!(a.len(), 14, "nla_len is 4 + payload, NUL included, not +1");
        assert_eq!(a.cstr(), Ok(&b"TASKSTATS"[..]));
    }

    #[test]
    fn bad_names() {
        let mut buf = [0u8; 64];
        assert_eq!(request_family(&mut buf, "", 1), Err(Error::Malformed));
        assert_eq!(request_family(&mut buf, "A\0B", 1), Err(Error::Malformed));
        assert_eq!(
            request_family(&mut buf[..30], "TASKSTATS", 1),
            Err(Error::BufferTooSmall)
        );
    }

    fn reply(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut buf = vec![0u8; 256];
        let mut b = Builder::new(&mut buf, GENL_ID_CTRL, 0, 1).unwrap();
        b = b.genl(CTRL_CMD_NEWFAMILY, 2).unwrap();
        for (k, v) in attrs {
            b.attr(*k, v).unwrap();
        }
        let n = b.finish();
        buf.truncate(n);
        buf
    }

    #[test]
    fn parse_walks_attributes() {
        let v = reply(&[
            (attr::FAMILY_NAME, b"TASKSTATS\0"),
            (attr::VERSION, &1u32.to_ne_bytes()),
            (99, &[1, 2, 3]),
            (attr::FAMILY_ID, &0x1bu16.to_ne_bytes()),
            (attr::MAXATTR, &4u32.to_ne_bytes()),
        ]);
        let f = Family::parse(Packet::new_checked(&v[..]).unwrap()).unwrap();
        assert_eq!(
            f,
            Family {
                id: 0x1b,
                version: 1,
                hdrsize: 0,
                maxattr: 4
            }
        );
    }

    #[test]
    fn parse_errors() {
        let v = reply(&[(attr::FAMILY_NAME, b"X\0")]);
        assert_eq!(
            Family::parse(Packet::new_checked(&v[..]).unwrap()),
            Err(Error::Missing)
        );
        let v = reply(&[(attr::FAMILY_ID, &[1, 2, 3, 4])]);
        assert_eq!(
            Family::parse(Packet::new_checked(&v[..]).unwrap()),
            Err(Error::BadLength)
        );
        let mut v = reply(&[(attr::FAMILY_ID, &[1, 0])]);
        v[4] = 0x11;
        assert_eq!(
            Family::parse(Packet::new_checked(&v[..]).unwrap()),
            Err(Error::Unexpected)
        );
        let v = reply(&[]);
        let mut v2 = v.clone();
        v2[16] = CTRL_CMD_GETFAMILY;
        assert_eq!(
            Family::parse(Packet::new_checked(&v2[..]).unwrap()),
            Err(Error::Unexpected)
        );
        let _ = netlink::HEADER_LEN;
    }

    /// nlctrl's reply for "TASKSTATS" and the request that asked for it, captured by
    /// core/fixtures/capture.py on this machine (family id 31 here; the name comes before
    /// the id, and an OPS nest follows).
    static FAMILY_REPLY: [u8; 112] =
        crate::byte_order::host_order(*include_bytes!("../fixtures/family.bin"));
    static FAMILY_REQUEST: [u8; 36] =
        crate::byte_order::host_order(*include_bytes!("../fixtures/request_family.bin"));

    #[test]
    fn real_reply() {
        let p = netlink::messages(&FAMILY_REPLY).next().unwrap().unwrap();
        let f = Family::parse(p).unwrap();
        assert_eq!(
            f,
            Family {
                id: 31,
                version: 1,
                hdrsize: 0,
                maxattr: 0
            }
        );
    }

    #[test]
    fn request_matches_capture() {
        let mut buf = [0u8; 64];
        let n = request_family(&mut buf, "TASKSTATS", 1).unwrap();
        assert_eq!(&buf[..n], &FAMILY_REQUEST[..]);
    }

    proptest::proptest! {
        #[test]
        fn emit_then_parse(id: u16, version: u32, hdrsize: u32, maxattr: u32) {
            let f = Family { id, version, hdrsize, maxattr };
            let mut buf = [0u8; 128];
            let n = f.emit(&mut buf, "TASKSTATS", 3).unwrap();
            proptest::prop_assert_eq!(Family::parse(Packet::new_checked(&buf[..n]).unwrap()), Ok(f));
        }
    }
}
