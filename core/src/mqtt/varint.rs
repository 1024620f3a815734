//! MQTT's variable byte integer (section 1.5.5): seven bits per byte, least significant
//! group first, the top bit set on every byte but the last; at most four bytes.

use super::{Error, MAX_REMAINING};

/// Bytes `n` takes.
pub const fn len(n: usize) -> usize {
    match n {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `n` at `out[at..]`; the position after it.
pub fn put(n: usize, out: &mut [u8], at: usize) -> Result<usize, Error> {
    if n > MAX_REMAINING {
        return Err(Error::TooLarge);
    }
    let (mut n, mut at) = (n, at);
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        *out.get_mut(at).ok_or(Error::Buffer)? = b;
        at += 1;
        if n == 0 {
            return Ok(at);
        }
    }
}

/// What reading one found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The value and the bytes it took.
    Value(usize, usize),
    /// The bytes end inside it.
    Short,
}

/// Reads one from the start of `bytes`. A fifth byte is malformed (section 1.5.5), and so
/// is a value written longer than it needs (a non-minimal encoding) past the first byte:
/// accepted, as brokers do, since it still has one meaning.
pub fn get(bytes: &[u8]) -> Result<Read, Error> {
    let mut n = 0usize;
    for i in 0..4 {
        let Some(&b) = bytes.get(i) else {
            return Ok(Read::Short);
        };
        n |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Read::Value(n, i + 1));
        }
    }
    Err(Error::Malformed)
}
