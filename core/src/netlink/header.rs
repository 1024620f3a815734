//! `struct nlmsghdr`: a view over bytes and a small repr.

use crate::bytes::{put_at, u16_at, u32_at};
use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub const LEN: Range<usize> = 0..4;
    pub const TYPE: Range<usize> = 4..6;
    pub const FLAGS: Range<usize> = 6..8;
    pub const SEQ: Range<usize> = 8..12;
    pub const PORT: Range<usize> = 12..16;
    pub const PAYLOAD: usize = PORT.end;
}

/// Length of `struct nlmsghdr`.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view over one netlink message (header and payload).
///
/// After [`Packet::new_checked`] succeeds the buffer holds at least the header and at least
/// `nlmsg_len` bytes, `nlmsg_len` is at least the header, and no accessor panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may then panic on short buffers.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and checks that its length fields are consistent.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks what [`Packet::new_checked`] promises.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        let len = u32_at(data, field::LEN.start).ok_or(Error::Truncated)? as usize;
        if len < HEADER_LEN {
            Err(Error::BadLength)
        } else if data.len() < len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `nlmsg_len`: header plus payload, without trailing alignment padding.
    pub fn total_len(&self) -> u32 {
        self.u32(field::LEN.start)
    }

    /// `nlmsg_type`: a core type ([`super::ERROR`], ...) or a generic netlink family id.
    pub fn msg_type(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::TYPE.start).unwrap_or(0)
    }

    /// `nlmsg_flags`.
    pub fn flags(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::FLAGS.start).unwrap_or(0)
    }

    /// `nlmsg_seq`: echoed by the kernel in replies; a per-CPU counter in exit records.
    pub fn seq(&self) -> u32 {
        self.u32(field::SEQ.start)
    }

    /// `nlmsg_pid`: the sender's port id (0 for the kernel).
    pub fn port(&self) -> u32 {
        self.u32(field::PORT.start)
    }

    fn u32(&self, off: usize) -> u32 {
        // Only reachable short on an unchecked view; a zero there is what an absent header
        // would mean, and keeps the accessors total.
        u32_at(self.buffer.as_ref(), off).unwrap_or(0)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload: the bytes after the header, up to `nlmsg_len`.
    pub fn payload(&self) -> &'a [u8] {
        let data = self.buffer.as_ref();
        let end = (self.total_len() as usize).min(data.len());
        data.get(HEADER_LEN..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets `nlmsg_len`.
    pub fn set_total_len(&mut self, v: u32) {
        put_at(self.buffer.as_mut(), field::LEN.start, &v.to_ne_bytes());
    }
    /// Sets `nlmsg_type`.
    pub fn set_msg_type(&mut self, v: u16) {
        put_at(self.buffer.as_mut(), field::TYPE.start, &v.to_ne_bytes());
    }
    /// Sets `nlmsg_flags`.
    pub fn set_flags(&mut self, v: u16) {
        put_at(self.buffer.as_mut(), field::FLAGS.start, &v.to_ne_bytes());
    }
    /// Sets `nlmsg_seq`.
    pub fn set_seq(&mut self, v: u32) {
        put_at(self.buffer.as_mut(), field::SEQ.start, &v.to_ne_bytes());
    }
    /// Sets `nlmsg_pid`.
    pub fn set_port(&mut self, v: u32) {
        put_at(self.buffer.as_mut(), field::PORT.start, &v.to_ne_bytes());
    }
}

/// The fields of a netlink header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// `nlmsg_len`, header included.
    pub len: u32,
    /// `nlmsg_type`.
    pub msg_type: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`.
    pub port: u32,
}

impl Header {
    /// Reads the header of a checked packet.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Header> {
        packet.check_len()?;
        Ok(Header {
            len: packet.total_len(),
            msg_type: packet.msg_type(),
            flags: packet.flags(),
            seq: packet.seq(),
            port: packet.port(),
        })
    }

    /// Bytes [`Header::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `packet`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::BufferTooSmall);
        }
        packet.set_total_len(self.len);
        packet.set_msg_type(self.msg_type);
        packet.set_flags(self.flags);
        packet.set_seq(self.seq);
        packet.set_port(self.port);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(h: &Header, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; HEADER_LEN + payload.len()];
        h.emit(&mut Packet::new_unchecked(&mut v[..])).unwrap();
        v[HEADER_LEN..].copy_from_slice(payload);
        v
    }

    #[test]
    fn deconstruct() {
        let h = Header {
            len: 20,
            msg_type: 0x1d,
            flags: 5,
            seq: 7,
            port: 99,
        };
        let v = bytes(&h, &[1, 2, 3, 4]);
        assert_eq!(&v[0..4], &20u32.to_ne_bytes());
        assert_eq!(&v[4..6], &0x1du16.to_ne_bytes());
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.total_len(), 20);
        assert_eq!(p.msg_type(), 0x1d);
        assert_eq!(p.flags(), 5);
        assert_eq!(p.seq(), 7);
        assert_eq!(p.port(), 99);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        assert_eq!(Header::parse(&p).unwrap(), h);
    }

    #[test]
    fn impossible_lengths() {
        assert_eq!(Packet::new_checked(&[0u8; 3][..]), Err(Error::Truncated));
        let h = Header {
            len: 8,
            ..Header::default()
        };
        assert_eq!(
            Packet::new_checked(&bytes(&h, &[])[..]),
            Err(Error::BadLength)
        );
        let h = Header {
            len: 40,
            ..Header::default()
        };
        assert_eq!(
            Packet::new_checked(&bytes(&h, &[0; 8])[..]),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn payload_stops_at_len_not_buffer() {
        let h = Header {
            len: 18,
            ..Header::default()
        };
        let v = bytes(&h, &[9, 8, 0, 0]);
        assert_eq!(Packet::new_checked(&v[..]).unwrap().payload(), &[9, 8]);
    }

    #[test]
    fn emit_needs_room() {
        let mut small = [0u8; 10];
        let r = Header::default().emit(&mut Packet::new_unchecked(&mut small[..]));
        assert_eq!(r, Err(Error::BufferTooSmall));
    }
}
