//! Captured datagrams in the byte order of the host the tests run on.
//!
//! Every fixture in `core/fixtures` (and every datagram a test writes out by hand) was made
//! on a little-endian x86_64 kernel, and netlink integers travel in the sender's order: a
//! big-endian kernel sends the same message with each integer reversed. [`host_order`]
//! turns captured bytes into what this host's kernel would have sent, by walking them as
//! the kernel built them (netlink headers, error payloads, generic netlink headers, attribute
//! headers, the integers of each attribute the families define, and each field of
//! `struct taskstats` by the layout table of its version), and reversing every integer in
//! place. Strings, `ac_comm`, one-byte fields and padding stay as they are. Lengths and
//! types are read before their bytes are reversed, in the captured (little-endian) order.
//!
//! `const fn`, so a test's `static FIXTURE: [u8; N] = host_order(*include_bytes!(..))` stays a
//! static; a walk that meets a length it cannot follow stops there rather than panic (a
//! panic here would be a compile error of the test anyway).

use crate::taskstats::{Field, const_slot};

/// `bytes` (captured on a little-endian host) in this host's byte order: themselves on a
/// little-endian host, [`swapped`] on a big-endian one.
pub const fn host_order<const N: usize>(bytes: [u8; N]) -> [u8; N] {
    if cfg!(target_endian = "little") {
        bytes
    } else {
        swapped(bytes)
    }
}

/// `bytes`, netlink datagrams captured on a little-endian host, with every integer reversed:
/// what a big-endian kernel sends. Tested on every host; [`host_order`] uses it on big-endian
/// ones.
pub const fn swapped<const N: usize>(mut bytes: [u8; N]) -> [u8; N] {
    messages(&mut bytes, 0, N);
    bytes
}

/// The same walk over a slice, for bytes built at run time.
pub fn swap_in_place(bytes: &mut [u8]) {
    let n = bytes.len();
    messages(bytes, 0, n);
}

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_MIN_TYPE: u16 = 16;
const GENL_ID_CTRL: u16 = 0x10;
/// Bits 15 and 14 of an attribute's type are flags (NLA_F_NESTED, NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Which attribute set a list of attributes belongs to.
#[derive(Clone, Copy)]
enum Scope {
    /// TASKSTATS_CMD_GET's attributes (PID, TGID, cpumask strings).
    TaskstatsCmd,
    /// TASKSTATS_CMD_NEW's top level, and the inside of an AGGR_PID/AGGR_TGID nest.
    TaskstatsReply,
    /// CGROUPSTATS_CMD_GET's attributes (a file descriptor).
    CgroupCmd,
    /// CGROUPSTATS_CMD_NEW's attributes (`struct cgroupstats`: five u64).
    CgroupReply,
    /// nlctrl's CTRL_ATTR_* of a family.
    Ctrl,
    /// The elements of CTRL_ATTR_OPS.
    CtrlOps,
    /// One operation (CTRL_ATTR_OP_ID, CTRL_ATTR_OP_FLAGS: both u32).
    CtrlOp,
    /// The elements of CTRL_ATTR_MCAST_GROUPS.
    CtrlGroups,
    /// One multicast group (CTRL_ATTR_MCAST_GRP_NAME string, CTRL_ATTR_MCAST_GRP_ID u32).
    CtrlGroup,
    /// Attributes whose payloads are unknown here: only their headers are turned.
    Opaque,
}

const fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

const fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reverses `b[at..at + width]` when it lies before `end`.
const fn reverse(b: &mut [u8], at: usize, width: usize, end: usize) {
    if width < 2 || at.saturating_add(width) > end {
        return;
    }
    let (mut i, mut j) = (at, at + width - 1);
    while i < j {
        let t = b[i];
        b[i] = b[j];
        b[j] = t;
        i += 1;
        j -= 1;
    }
}

/// Lengths come from the bytes: on a 32-bit host a length near `u32::MAX` must not
/// overflow, so every sum saturates.
const fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

const fn min(a: usize, b: usize) -> usize {
    if a < b { a } else { b }
}

/// The netlink messages in `b[off..end]`.
const fn messages(b: &mut [u8], mut off: usize, end: usize) {
    while end.saturating_sub(off) >= NLMSG_HDRLEN {
        let len = le_u32(b, off) as usize;
        let ty = le_u16(b, off + 4);
        header(b, off, end);
        if len < NLMSG_HDRLEN {
            return;
        }
        let msg_end = min(off.saturating_add(len), end);
        let p = off + NLMSG_HDRLEN;
        if ty == NLMSG_ERROR {
            // int error, then the request's header and (unless capped) its payload.
            reverse(b, p, 4, msg_end);
            let inner = p + 4;
            if msg_end.saturating_sub(inner) >= NLMSG_HDRLEN {
                let inner_len = le_u32(b, inner) as usize;
                let inner_ty = le_u16(b, inner + 4);
                header(b, inner, msg_end);
                if inner_len > NLMSG_HDRLEN {
                    genl(
                        b,
                        inner_ty,
                        inner + NLMSG_HDRLEN,
                        min(inner.saturating_add(inner_len), msg_end),
                    );
                }
            }
        } else if ty == NLMSG_DONE {
            reverse(b, p, 4, msg_end);
        } else if ty >= NLMSG_MIN_TYPE {
            genl(b, ty, p, msg_end);
        }
        off = off.saturating_add(align4(len));
    }
}

/// `struct nlmsghdr`: u32 length, u16 type, u16 flags, u32 sequence, u32 port.
const fn header(b: &mut [u8], at: usize, end: usize) {
    reverse(b, at, 4, end);
    reverse(b, at + 4, 2, end);
    reverse(b, at + 6, 2, end);
    reverse(b, at + 8, 4, end);
    reverse(b, at + 12, 4, end);
}

/// A generic netlink payload of family `family`: u8 cmd, u8 version, u16 reserved, attributes.
const fn genl(b: &mut [u8], family: u16, p: usize, end: usize) {
    if end.saturating_sub(p) < 4 {
        return;
    }
    let cmd = b[p];
    reverse(b, p + 2, 2, end);
    let scope = if family == GENL_ID_CTRL {
        Scope::Ctrl
    } else {
        // The command numbers of the TASKSTATS family (taskstats and cgroupstats share it).
        match cmd {
            1 => Scope::TaskstatsCmd,
            2 => Scope::TaskstatsReply,
            4 => Scope::CgroupCmd,
            5 => Scope::CgroupReply,
            _ => Scope::Opaque,
        }
    };
    attrs(b, p + 4, end, scope);
}

/// The attributes in `b[off..end]`, each of `scope`.
const fn attrs(b: &mut [u8], mut off: usize, end: usize, scope: Scope) {
    while end.saturating_sub(off) >= 4 {
        let len = le_u16(b, off) as usize;
        let ty = le_u16(b, off + 2) & NLA_TYPE_MASK;
        reverse(b, off, 2, end);
        reverse(b, off + 2, 2, end);
        if len < 4 || len > end - off {
            return;
        }
        payload(b, scope, ty, off + 4, off + len);
        off = off.saturating_add(align4(len));
    }
}

/// The payload `b[p..end]` of attribute `ty` of `scope`.
const fn payload(b: &mut [u8], scope: Scope, ty: u16, p: usize, end: usize) {
    match (scope, ty) {
        // PID, TGID; 3 and 4 are cpumask strings.
        (Scope::TaskstatsCmd, 1 | 2) => reverse(b, p, 4, end),
        // PID, TGID, STATS, AGGR_PID, AGGR_TGID (NULL, 6, is padding).
        (Scope::TaskstatsReply, 1 | 2) => reverse(b, p, 4, end),
        (Scope::TaskstatsReply, 3) => taskstats(b, p, end),
        (Scope::TaskstatsReply, 4 | 5) => attrs(b, p, end, Scope::TaskstatsReply),
        (Scope::CgroupCmd, 1) => reverse(b, p, 4, end),
        (Scope::CgroupReply, 1) => {
            let mut at = p;
            while end.saturating_sub(at) >= 8 {
                reverse(b, at, 8, end);
                at += 8;
            }
        }
        // FAMILY_ID u16; VERSION, HDRSIZE, MAXATTR, OP u32; OPS, MCAST_GROUPS nested;
        // FAMILY_NAME a string; POLICY and OP_POLICY (8, 9) are never asked for here.
        (Scope::Ctrl, 1) => reverse(b, p, 2, end),
        (Scope::Ctrl, 3 | 4 | 5 | 10) => reverse(b, p, 4, end),
        (Scope::Ctrl, 6) => attrs(b, p, end, Scope::CtrlOps),
        (Scope::Ctrl, 7) => attrs(b, p, end, Scope::CtrlGroups),
        (Scope::Ctrl, 8 | 9) => attrs(b, p, end, Scope::Opaque),
        (Scope::CtrlOps, _) => attrs(b, p, end, Scope::CtrlOp),
        (Scope::CtrlOp, 1 | 2) => reverse(b, p, 4, end),
        (Scope::CtrlGroups, _) => attrs(b, p, end, Scope::CtrlGroup),
        (Scope::CtrlGroup, 2) => reverse(b, p, 4, end),
        _ => {}
    }
}

/// A `struct taskstats` at `b[p..end]`: each field of its version by the layout table. The
/// version is its first field (u16), read before it is turned.
const fn taskstats(b: &mut [u8], p: usize, end: usize) {
    if end.saturating_sub(p) < 2 {
        return;
    }
    let version = le_u16(b, p);
    let mut i = 0;
    while i < Field::COUNT {
        let (off, width) = const_slot(version, i);
        reverse(b, p.saturating_add(off), width, end);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static GET_PID: [u8; 596] = *include_bytes!("../fixtures/get_pid.bin");
    static EXIT_GROUP: [u8; 1172] = *include_bytes!("../fixtures/exit_pid_tgid.bin");
    static FAMILY: [u8; 112] = *include_bytes!("../fixtures/family.bin");
    static EPERM: [u8; 48] = *include_bytes!("../fixtures/error_eperm.bin");
    static CGROUP: [u8; 64] = *include_bytes!("../fixtures/cgroupstats.bin");

    fn be_u16(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([b[at], b[at + 1]])
    }
    fn be_u32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn be_u64(b: &[u8], at: usize) -> u64 {
        u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
    }
    fn le_u64(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn host_order_is_identity_on_little_endian_and_swapped_on_big() {
        let want = if cfg!(target_endian = "little") {
            GET_PID
        } else {
            swapped(GET_PID)
        };
        assert_eq!(host_order(GET_PID), want);
        assert_ne!(swapped(GET_PID), GET_PID);
    }

    #[test]
    fn headers_read_back_big_endian() {
        let le = &GET_PID;
        let be = swapped(GET_PID);
        assert_eq!(be_u32(&be, 0), 596);
        assert_eq!(be_u32(&be, 0), le_u32(le, 0));
        for at in [4, 6] {
            assert_eq!(be_u16(&be, at), le_u16(le, at));
        }
        for at in [8, 12] {
            assert_eq!(be_u32(&be, at), le_u32(le, at));
        }
        // genl: cmd and version are single bytes.
        assert_eq!(be[16..18], le[16..18]);
        // The first attribute (AGGR_PID) header.
        assert_eq!(be_u16(&be, 20), le_u16(le, 20));
        assert_eq!(be_u16(&be, 22) & NLA_TYPE_MASK, 4);
    }

    /// Every numeric field of every struct in a two-record exit message reads back equal,
    /// and the comm is untouched.
    #[test]
    fn every_taskstats_field_reads_back_big_endian() {
        let le = &EXIT_GROUP;
        let be = swapped(EXIT_GROUP);
        let mut structs = 0;
        // Find each STATS attribute by walking the little-endian original.
        let mut off = NLMSG_HDRLEN + 4;
        while off + 4 <= le.len() {
            let len = le_u16(le, off) as usize;
            assert_eq!(be_u16(&be, off) as usize, len);
            let mut inner = off + 4;
            while inner + 4 <= off + len {
                let ilen = le_u16(le, inner) as usize;
                let ity = le_u16(le, inner + 2);
                assert_eq!(be_u16(&be, inner + 2), ity);
                if ity == 3 {
                    let p = inner + 4;
                    let version = le_u16(le, p);
                    assert_eq!(be_u16(&be, p), version);
                    for i in 0..Field::COUNT {
                        let (o, w) = const_slot(version, i);
                        let (a, b) = (&le[p + o..p + o + w], &be[p + o..p + o + w]);
                        let mut r = b.to_vec();
                        r.reverse();
                        assert_eq!(a, &r[..], "field {} of v{version}", Field::ALL[i].name());
                    }
                    let comm = crate::taskstats::comm_range(version).unwrap();
                    let comm = p + comm.start..p + comm.end;
                    assert_eq!(le[comm.clone()], be[comm]);
                    structs += 1;
                } else if ity == 1 || ity == 2 {
                    assert_eq!(be_u32(&be, inner + 4), le_u32(le, inner + 4));
                }
                inner += align4(ilen);
            }
            off += align4(len);
        }
        assert_eq!(structs, 2);
    }

    #[test]
    fn error_family_and_cgroupstats_read_back_big_endian() {
        let be = swapped(EPERM);
        assert_eq!(be_u32(&be, 16) as i32, -1);
        assert_eq!(be_u32(&be, 20), le_u32(&EPERM, 20));
        // The echoed request's PID attribute.
        assert_eq!(be_u32(&be, 44), le_u32(&EPERM, 44));

        let be = swapped(FAMILY);
        // CTRL_ATTR_FAMILY_ID: the attribute follows the name; find it in the original.
        let mut off = NLMSG_HDRLEN + 4;
        let mut found = false;
        while off + 4 <= FAMILY.len() {
            let len = le_u16(&FAMILY, off) as usize;
            if le_u16(&FAMILY, off + 2) == 1 {
                assert_eq!(be_u16(&be, off + 4), 31);
                found = true;
            }
            off += align4(len);
        }
        assert!(found);

        let be = swapped(CGROUP);
        for k in 0..5 {
            let at = CGROUP.len() - 40 + 8 * k;
            assert_eq!(be_u64(&be, at), le_u64(&CGROUP, at));
        }
    }

    #[test]
    fn truncated_or_garbled_bytes_do_not_panic() {
        let mut b = GET_PID;
        swap_in_place(&mut b[..100]);
        // Lengths of u32::MAX: no overflow on a 32-bit host either.
        let mut junk = [0xffu8; 64];
        swap_in_place(&mut junk);
        let mut error = [0xffu8; 64];
        error[4..6].copy_from_slice(&NLMSG_ERROR.to_le_bytes());
        swap_in_place(&mut error);
        let mut zero = [0u8; 40];
        swap_in_place(&mut zero);
        assert_eq!(zero, [0u8; 40]);
    }
}
