//! Netlink attributes (`struct nlattr`): a view, typed payload readers, and a walker.
//!
//! An attribute is a 4-byte header (`nla_len`, `nla_type`) and a payload; `nla_len` counts
//! the header and the payload but not the padding that aligns the next attribute to four
//! bytes. The top two bits of `nla_type` are flags (nested, network byte order); taskstats
//! does not set them on its nests, and [`Nla::kind`] masks them off either way.

use crate::bytes::{put_at, u16_at, u32_at, u64_at};
use crate::netlink::align;
use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub const LEN: Range<usize> = 0..2;
    pub const TYPE: Range<usize> = 2..4;
    pub const PAYLOAD: usize = TYPE.end;
}

/// Length of `struct nlattr`.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// `NLA_F_NESTED`.
pub const F_NESTED: u16 = 0x8000;
/// `NLA_F_NET_BYTEORDER`.
pub const F_NET_BYTEORDER: u16 = 0x4000;
/// `NLA_TYPE_MASK`: the type without its flag bits.
pub const TYPE_MASK: u16 = !(F_NESTED | F_NET_BYTEORDER);

/// A view over one attribute.
///
/// After [`Nla::new_checked`] succeeds, `nla_len` is at least the header and within the
/// buffer, and no accessor panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nla<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Nla<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Nla<T> {
        Nla { buffer }
    }

    /// Wraps a buffer and checks its length field.
    pub fn new_checked(buffer: T) -> Result<Nla<T>> {
        let nla = Self::new_unchecked(buffer);
        nla.check_len()?;
        Ok(nla)
    }

    /// Checks what [`Nla::new_checked`] promises.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        let len = u16_at(data, field::LEN.start).ok_or(Error::Truncated)? as usize;
        if len < HEADER_LEN {
            Err(Error::BadLength)
        } else if data.len() < len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// `nla_len`: header plus payload, without padding.
    pub fn len(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::LEN.start).unwrap_or(0)
    }

    /// True when the payload is empty (a NULL padding attribute, for one).
    pub fn is_empty(&self) -> bool {
        (self.len() as usize) <= HEADER_LEN
    }

    /// `nla_type` with the flag bits masked off.
    pub fn kind(&self) -> u16 {
        self.raw_kind() & TYPE_MASK
    }

    /// `nla_type` as sent, flag bits included.
    pub fn raw_kind(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::TYPE.start).unwrap_or(0)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Nla<&'a T> {
    /// The payload, without trailing padding.
    pub fn payload(&self) -> &'a [u8] {
        let data = self.buffer.as_ref();
        let end = (self.len() as usize).min(data.len());
        data.get(HEADER_LEN..end).unwrap_or(&[])
    }

    /// The payload as a `u16`; [`Error::BadLength`] unless it is exactly two bytes.
    pub fn u16(&self) -> Result<u16> {
        exact::<2>(self.payload()).map(|_| u16_at(self.payload(), 0).unwrap_or(0))
    }

    /// The payload as a `u32`; [`Error::BadLength`] unless it is exactly four bytes.
    pub fn u32(&self) -> Result<u32> {
        exact::<4>(self.payload()).map(|_| u32_at(self.payload(), 0).unwrap_or(0))
    }

    /// The payload as a `u64`; [`Error::BadLength`] unless it is exactly eight bytes.
    pub fn u64(&self) -> Result<u64> {
        exact::<8>(self.payload()).map(|_| u64_at(self.payload(), 0).unwrap_or(0))
    }

    /// A NUL-terminated string payload, without its NUL; [`Error::Malformed`] without one.
    pub fn cstr(&self) -> Result<&'a [u8]> {
        let p = self.payload();
        let nul = p.iter().position(|&b| b == 0).ok_or(Error::Malformed)?;
        Ok(&p[..nul])
    }

    /// Walks the attributes nested in the payload.
    pub fn nested(&self) -> Attrs<'a> {
        attrs(self.payload())
    }
}

fn exact<const N: usize>(p: &[u8]) -> Result<()> {
    if p.len() == N {
        Ok(())
    } else {
        Err(Error::BadLength)
    }
}

/// Iterates over a run of attributes, each checked with [`Nla::new_checked`].
///
/// Walks by `nla_len` rounded up to four bytes. A bad length makes the next item an error
/// and ends the walk, since nothing after it can be located.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Walks the attributes in `bytes` (a message payload after its family header, or a nest).
pub fn attrs(bytes: &[u8]) -> Attrs<'_> {
    Attrs {
        rest: bytes,
        failed: false,
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Nla<&'a [u8]>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let nla = match Nla::new_checked(self.rest) {
            Ok(n) => n,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let len = nla.len() as usize;
        let step = align(len).unwrap_or(len).min(self.rest.len());
        let (this, rest) = self.rest.split_at(step);
        self.rest = rest;
        Some(Ok(Nla::new_unchecked(this)))
    }
}

impl core::iter::FusedIterator for Attrs<'_> {}

/// Writes one attribute at the start of `buf`: header, payload, zeroed padding.
///
/// Returns the bytes used, padding included. The padding is written so that no stale byte
/// of the caller's buffer leaks into a message.
pub fn emit(buf: &mut [u8], kind: u16, payload: &[u8]) -> Result<usize> {
    let len = HEADER_LEN
        .checked_add(payload.len())
        .ok_or(Error::BufferTooSmall)?;
    let nla_len = u16::try_from(len).map_err(|_| Error::BufferTooSmall)?;
    let total = align(len).ok_or(Error::BufferTooSmall)?;
    let dst = buf.get_mut(..total).ok_or(Error::BufferTooSmall)?;
    put_at(dst, field::LEN.start, &nla_len.to_ne_bytes());
    put_at(dst, field::TYPE.start, &kind.to_ne_bytes());
    dst[HEADER_LEN..len].copy_from_slice(payload);
    dst[len..].fill(0);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_then_walk() {
        let mut buf = [0xffu8; 64];
        let mut n = emit(&mut buf, 1, &7u32.to_ne_bytes()).unwrap();
        n += emit(&mut buf[n..], 3 | F_NESTED, b"0-1\0").unwrap();
        n += emit(&mut buf[n..], 6, &[]).unwrap();
        n += emit(&mut buf[n..], 2, &[1, 2, 3]).unwrap();
        assert_eq!(n, 8 + 8 + 4 + 8);
        assert_eq!(buf[27], 0, "padding is zeroed");
        let got: Vec<_> = attrs(&buf[..n]).map(|a| a.unwrap()).collect();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].kind(), 1);
        assert_eq!(got[0].u32(), Ok(7));
        assert_eq!(got[1].kind(), 3);
        assert_eq!(got[1].raw_kind(), 3 | F_NESTED);
        assert_eq!(got[1].cstr(), Ok(&b"0-1"[..]));
        assert!(got[2].is_empty());
        assert_eq!(got[3].payload(), &[1, 2, 3]);
        assert_eq!(got[3].u32(), Err(Error::BadLength));
    }

    #[test]
    fn exact_nla_len_not_plus_one() {
        let mut buf = [0u8; 16];
        emit(&mut buf, 1, &5u32.to_ne_bytes()).unwrap();
        assert_eq!(u16::from_ne_bytes([buf[0], buf[1]]), 8);
    }

    #[test]
    fn nested_walk() {
        let mut inner = [0u8; 16];
        let n = emit(&mut inner, 1, &9u32.to_ne_bytes()).unwrap();
        let mut outer = [0u8; 32];
        let m = emit(&mut outer, 4, &inner[..n]).unwrap();
        let nest = attrs(&outer[..m]).next().unwrap().unwrap();
        let kids: Vec<_> = nest.nested().map(|a| a.unwrap().u32().unwrap()).collect();
        assert_eq!(kids, [9]);
    }

    #[test]
    fn bad_lengths_end_the_walk() {
        // nla_len 2 (< header), then a valid attribute that must not be reached.
        let mut buf = [0u8; 16];
        buf[..2].copy_from_slice(&2u16.to_ne_bytes());
        emit(&mut buf[4..], 1, &[0; 4]).unwrap();
        let mut it = attrs(&buf);
        assert_eq!(it.next().unwrap().unwrap_err(), Error::BadLength);
        assert!(it.next().is_none());
        // nla_len past the end.
        let mut buf = [0u8; 8];
        buf[..2].copy_from_slice(&12u16.to_ne_bytes());
        assert_eq!(attrs(&buf).next().unwrap().unwrap_err(), Error::Truncated);
        // Fewer than four bytes left.
        assert_eq!(
            attrs(&[8, 0]).next().unwrap().unwrap_err(),
            Error::Truncated
        );
        assert_eq!(attrs(&[8]).next().unwrap().unwrap_err(), Error::Truncated);
    }

    #[test]
    fn cstr_needs_nul() {
        let mut buf = [0u8; 8];
        emit(&mut buf, 1, b"abc").unwrap();
        assert_eq!(
            attrs(&buf).next().unwrap().unwrap().cstr(),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn emit_buffer_too_small() {
        assert_eq!(emit(&mut [0u8; 7], 1, &[0; 4]), Err(Error::BufferTooSmall));
        assert_eq!(emit(&mut [0u8; 8], 1, &[0; 3]), Ok(8));
        let big = [0u8; 70000];
        assert_eq!(emit(&mut [0u8; 8], 1, &big), Err(Error::BufferTooSmall));
    }
}
