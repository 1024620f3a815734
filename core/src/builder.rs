//! Building an outgoing generic netlink message into a caller's fixed buffer.

use crate::netlink::{self, align};
use crate::{Error, MAX_MSG_SIZE, Result, genl, nla};

/// Writes `nlmsghdr`, `genlmsghdr` and attributes into a borrowed buffer, never past
/// [`MAX_MSG_SIZE`], and fills in `nlmsg_len` when finished.
///
/// Every step returns [`Error::BufferTooSmall`] instead of writing out of bounds; after an
/// error the builder should be dropped.
#[derive(Debug)]
pub struct Builder<'a> {
    buf: &'a mut [u8],
    len: usize,
}

/// A nest opened with [`Builder::begin_nest`]; close it with [`Builder::end_nest`].
#[derive(Debug)]
#[must_use = "a nest must be closed to get its length"]
pub struct Nest {
    start: usize,
}

impl<'a> Builder<'a> {
    /// Starts a message of `msg_type` (a family id) with `flags` and `seq`. Requests to the
    /// kernel must carry [`netlink::flags::REQUEST`].
    ///
    /// The port id is left 0: the kernel stamps the sender's port on every message.
    pub fn new(buf: &'a mut [u8], msg_type: u16, flags: u16, seq: u32) -> Result<Builder<'a>> {
        let cap = buf.len().min(MAX_MSG_SIZE);
        let buf = &mut buf[..cap];
        let header = netlink::Header {
            len: netlink::HEADER_LEN as u32,
            msg_type,
            flags,
            seq,
            port: 0,
        };
        header.emit(&mut netlink::Packet::new_unchecked(&mut *buf))?;
        Ok(Builder {
            buf,
            len: netlink::HEADER_LEN,
        })
    }

    /// Appends the generic netlink header.
    pub fn genl(mut self, cmd: u8, version: u8) -> Result<Builder<'a>> {
        let room = self.buf.get_mut(self.len..).ok_or(Error::BufferTooSmall)?;
        genl::Header { cmd, version }.emit(&mut genl::Packet::new_unchecked(room))?;
        self.len += genl::HEADER_LEN;
        Ok(self)
    }

    /// Appends an attribute with the given payload.
    pub fn attr(&mut self, kind: u16, payload: &[u8]) -> Result<()> {
        let room = self.buf.get_mut(self.len..).ok_or(Error::BufferTooSmall)?;
        self.len += nla::emit(room, kind, payload)?;
        Ok(())
    }

    /// Appends a `u32` attribute (host byte order).
    pub fn attr_u32(&mut self, kind: u16, v: u32) -> Result<()> {
        self.attr(kind, &v.to_ne_bytes())
    }

    /// Appends an attribute whose payload `write` produces in place, returning its length.
    ///
    /// Lets long payloads (a cpulist for thousands of CPUs) go straight into the message
    /// without a second buffer.
    pub fn attr_with(
        &mut self,
        kind: u16,
        write: impl FnOnce(&mut [u8]) -> Result<usize>,
    ) -> Result<()> {
        let start = self.len;
        let payload_at = start
            .checked_add(nla::HEADER_LEN)
            .ok_or(Error::BufferTooSmall)?;
        let room = self
            .buf
            .get_mut(payload_at..)
            .ok_or(Error::BufferTooSmall)?;
        let n = write(room)?;
        if n > room.len() {
            return Err(Error::BufferTooSmall);
        }
        self.close(start, kind, n)
    }

    /// Opens a nest; attributes appended until [`Builder::end_nest`] go inside it.
    pub fn begin_nest(&mut self, kind: u16) -> Result<Nest> {
        let start = self.len;
        let room = self.buf.get_mut(start..).ok_or(Error::BufferTooSmall)?;
        nla::emit(room, kind, &[])?;
        self.len += nla::HEADER_LEN;
        Ok(Nest { start })
    }

    /// Closes a nest, fixing its length.
    pub fn end_nest(&mut self, nest: Nest) -> Result<()> {
        let payload = self.len - nest.start - nla::HEADER_LEN;
        let kind = u16::from_ne_bytes([self.buf[nest.start + 2], self.buf[nest.start + 3]]);
        self.close(nest.start, kind, payload)
    }

    /// Rewrites the header of an attribute at `start` whose payload is already in place.
    fn close(&mut self, start: usize, kind: u16, payload: usize) -> Result<()> {
        let len = nla::HEADER_LEN + payload;
        let nla_len = u16::try_from(len).map_err(|_| Error::BufferTooSmall)?;
        let end = start.checked_add(align(len).ok_or(Error::BufferTooSmall)?);
        let end = end
            .filter(|&e| e <= self.buf.len())
            .ok_or(Error::BufferTooSmall)?;
        self.buf[start..start + 2].copy_from_slice(&nla_len.to_ne_bytes());
        self.buf[start + 2..start + 4].copy_from_slice(&kind.to_ne_bytes());
        self.buf[start + len..end].fill(0);
        self.len = end;
        Ok(())
    }

    /// Writes `nlmsg_len` and returns the message's length in the buffer.
    pub fn finish(self) -> usize {
        // `len` never exceeds the buffer, itself capped at MAX_MSG_SIZE (< u32::MAX).
        let mut packet = netlink::Packet::new_unchecked(&mut *self.buf);
        packet.set_total_len(self.len as u32);
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::Packet;

    #[test]
    fn builds_a_checked_message() {
        let mut buf = [0xaau8; 64];
        let mut b = Builder::new(
            &mut buf,
            0x1c,
            netlink::flags::REQUEST | netlink::flags::ACK,
            5,
        )
        .unwrap()
        .genl(1, 1)
        .unwrap();
        b.attr_u32(1, 1234).unwrap();
        b.attr_with(3, |room| {
            room.get_mut(..4)
                .ok_or(Error::BufferTooSmall)?
                .copy_from_slice(b"0-1\0");
            Ok(4)
        })
        .unwrap();
        let n = b.finish();
        assert_eq!(n, 16 + 4 + 8 + 8);
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.msg_type(), 0x1c);
        assert_eq!(p.flags(), netlink::flags::REQUEST | netlink::flags::ACK);
        assert_eq!(p.seq(), 5);
        let g = genl::Packet::new_checked(p.payload()).unwrap();
        assert_eq!((g.cmd(), g.version()), (1, 1));
        let attrs: Vec<_> = nla::attrs(g.payload()).map(|a| a.unwrap()).collect();
        assert_eq!(attrs[0].u32(), Ok(1234));
        assert_eq!(attrs[1].cstr(), Ok(&b"0-1"[..]));
    }

    #[test]
    fn nests() {
        let mut buf = [0u8; 64];
        let mut b = Builder::new(&mut buf, 0x1c, 0, 1)
            .unwrap()
            .genl(2, 1)
            .unwrap();
        let nest = b.begin_nest(4).unwrap();
        b.attr_u32(1, 7).unwrap();
        b.attr(3, &[1, 2, 3]).unwrap();
        b.end_nest(nest).unwrap();
        let n = b.finish();
        let p = Packet::new_checked(&buf[..n]).unwrap();
        let g = genl::Packet::new_checked(p.payload()).unwrap();
        let outer = nla::attrs(g.payload()).next().unwrap().unwrap();
        assert_eq!(outer.kind(), 4);
        // The inner attribute's padding counts, as with the kernel's nla_nest_end.
        assert_eq!(outer.len(), 4 + 8 + 8);
        assert_eq!(outer.nested().count(), 2);
    }

    #[test]
    fn never_writes_past_the_buffer() {
        let mut buf = [0u8; 15];
        assert_eq!(
            Builder::new(&mut buf, 1, 0, 0).unwrap_err(),
            Error::BufferTooSmall
        );
        let mut buf = [0u8; 28];
        let mut b = Builder::new(&mut buf, 1, 0, 0).unwrap().genl(1, 1).unwrap();
        assert_eq!(b.attr(1, &[0; 5]), Err(Error::BufferTooSmall));
        assert_eq!(b.attr_with(1, |_| Ok(100)), Err(Error::BufferTooSmall));
        b.attr(1, &[0; 4]).unwrap();
        assert_eq!(b.finish(), 28);
    }

    #[test]
    fn capped_at_max_msg_size() {
        let mut buf = vec![0u8; MAX_MSG_SIZE * 2];
        let mut b = Builder::new(&mut buf, 1, 0, 0).unwrap().genl(1, 1).unwrap();
        assert_eq!(
            b.attr(1, &vec![0; MAX_MSG_SIZE]),
            Err(Error::BufferTooSmall)
        );
    }
}
