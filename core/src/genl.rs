//! `struct genlmsghdr`: the generic netlink header after `nlmsghdr`.

use crate::{Error, Result};

mod field {
    pub const CMD: usize = 0;
    pub const VERSION: usize = 1;
    pub const RESERVED: core::ops::Range<usize> = 2..4;
    pub const PAYLOAD: usize = RESERVED.end;
}

/// Length of `struct genlmsghdr`.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view over a generic netlink payload (the bytes after `nlmsghdr`).
///
/// After [`Packet::new_checked`] succeeds the buffer holds the header and no accessor panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer that must hold at least the header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks what [`Packet::new_checked`] promises.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The family's command.
    pub fn cmd(&self) -> u8 {
        self.buffer.as_ref().get(field::CMD).copied().unwrap_or(0)
    }

    /// The family's interface version.
    pub fn version(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::VERSION)
            .copied()
            .unwrap_or(0)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The attributes after the header.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the command.
    pub fn set_cmd(&mut self, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::CMD) {
            *b = v;
        }
    }

    /// Sets the version.
    pub fn set_version(&mut self, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::VERSION) {
            *b = v;
        }
    }
}

/// The fields of a generic netlink header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The family's command.
    pub cmd: u8,
    /// The family's interface version.
    pub version: u8,
}

impl Header {
    /// Reads a header.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Header> {
        packet.check_len()?;
        Ok(Header {
            cmd: packet.cmd(),
            version: packet.version(),
        })
    }

    /// Bytes [`Header::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header, with the reserved field zeroed.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        let buf = packet
            .buffer
            .as_mut()
            .get_mut(..HEADER_LEN)
            .ok_or(Error::BufferTooSmall)?;
        buf.fill(0);
        packet.set_cmd(self.cmd);
        packet.set_version(self.version);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = [0xffu8; 6];
        let h = Header { cmd: 2, version: 1 };
        h.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(&buf[..4], &[2, 1, 0, 0]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Header::parse(&p).unwrap(), h);
        assert_eq!(p.payload(), &[0xff, 0xff]);
    }

    #[test]
    fn short() {
        assert_eq!(Packet::new_checked(&[1u8, 2, 3][..]), Err(Error::Truncated));
        let mut small = [0u8; 3];
        let h = Header { cmd: 1, version: 1 };
        assert_eq!(
            h.emit(&mut Packet::new_unchecked(&mut small[..])),
            Err(Error::BufferTooSmall)
        );
    }
}
