//! Consistent Overhead Byte Stuffing: removes every 0x00 from a frame so that 0x00 can
//! delimit frames on a byte stream.
//!
//! Data is cut into blocks of at most 254 non-zero bytes. Each block is preceded by a code
//! byte `c` (1..=255): `c - 1` data bytes follow, and unless `c` is 0xFF a zero is implied
//! after them (except at the end of the frame). Overhead is one byte per 254, plus one.
//!
//! The frame encoder stuffs bytes one at a time as postcard produces them, and the reader
//! unstuffs them one at a time as they arrive. The `cobs` crate (which postcard already
//! depends on) has such state machines too (`EncoderState`, `DecoderState`), and they
//! frame byte for byte the same; these are kept because the crate's decoder, which hands
//! out one byte per call through a `Result`, reads frames measurably slower, and the
//! crate saves only a few bytes of binary (BENCHMARKS.md, "COBS"). The encoder always ends a frame with a code
//! byte, also after a final 0xFF block (the crate's slice `encode` leaves that one out);
//! the decoder accepts either form.

use crate::{Error, Result};

/// The byte that ends a frame (and, sent first, starts a stream).
pub const DELIMITER: u8 = 0x00;

/// The longest COBS encoding of `n` bytes, without the delimiter.
pub const fn max_encoded_len(n: usize) -> usize {
    n + n / 254 + 1
}

/// A COBS encoder writing into a caller's buffer, one byte at a time.
#[derive(Debug)]
pub(crate) struct Encoder<'a> {
    out: &'a mut [u8],
    /// Where the current block's code byte goes.
    code_at: usize,
    /// Next free position in `out`.
    pos: usize,
    /// The current block's code: 1 + data bytes so far.
    code: u8,
}

impl<'a> Encoder<'a> {
    /// Starts an encoding; [`Error::BufferTooSmall`] when `out` cannot hold even an empty frame.
    pub(crate) fn new(out: &'a mut [u8]) -> Result<Self> {
        if out.is_empty() {
            return Err(Error::BufferTooSmall);
        }
        Ok(Encoder {
            out,
            code_at: 0,
            pos: 1,
            code: 1,
        })
    }

    /// Encodes one byte.
    #[inline(always)]
    pub(crate) fn push(&mut self, byte: u8) -> Result<()> {
        if byte == 0 {
            return self.close_block();
        }
        *self.out.get_mut(self.pos).ok_or(Error::BufferTooSmall)? = byte;
        self.pos += 1;
        self.code += 1;
        if self.code == 0xFF {
            self.close_block()?;
        }
        Ok(())
    }

    /// Writes the current block's code and opens the next block.
    fn close_block(&mut self) -> Result<()> {
        // The slot for the next code byte must exist before we commit to it.
        if self.pos >= self.out.len() {
            return Err(Error::BufferTooSmall);
        }
        self.out[self.code_at] = self.code;
        self.code_at = self.pos;
        self.pos += 1;
        self.code = 1;
        Ok(())
    }

    /// Closes the last block; returns the encoded length (no delimiter written).
    pub(crate) fn finish(self) -> usize {
        self.out[self.code_at] = self.code;
        self.pos
    }

    /// The output buffer and the encoded length, for appending a delimiter.
    pub(crate) fn finish_into(self) -> (&'a mut [u8], usize) {
        self.out[self.code_at] = self.code;
        (self.out, self.pos)
    }
}

/// COBS-encodes `src` into `dst` (no delimiter); returns the encoded length.
///
/// Needs at most [`max_encoded_len`]`(src.len())` bytes; [`Error::BufferTooSmall`] otherwise.
pub fn encode(src: &[u8], dst: &mut [u8]) -> Result<usize> {
    let mut enc = Encoder::new(dst)?;
    for &b in src {
        enc.push(b)?;
    }
    Ok(enc.finish())
}

/// The unstuffing state machine, fed one byte of a frame at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Decoder {
    /// Data bytes left in the current block; 0 means the next byte is a code byte.
    remaining: u8,
    /// The current block ended short of 0xFF, so a zero precedes the next block.
    zero_pending: bool,
}

impl Decoder {
    pub(crate) const fn new() -> Self {
        Decoder {
            remaining: 0,
            zero_pending: false,
        }
    }

    /// Takes one non-delimiter byte; returns up to two decoded bytes (an implied zero then a
    /// data byte), as (`zero`, `data`).
    #[inline]
    pub(crate) fn feed(&mut self, byte: u8) -> (bool, Option<u8>) {
        debug_assert_ne!(byte, DELIMITER);
        if self.remaining == 0 {
            let zero = self.zero_pending;
            self.remaining = byte.saturating_sub(1);
            self.zero_pending = byte != 0xFF;
            (zero, None)
        } else {
            self.remaining -= 1;
            (false, Some(byte))
        }
    }

    /// At the delimiter: whether the frame ended on a block boundary.
    pub(crate) fn at_end_ok(&self) -> bool {
        self.remaining == 0
    }
}

/// Decodes one COBS frame `src` (without its delimiter) into `dst`; returns the length.
///
/// [`Error::Cobs`] for a 0x00 inside `src` or a block cut short, [`Error::BufferTooSmall`]
/// when `dst` is too short.
pub fn decode(src: &[u8], dst: &mut [u8]) -> Result<usize> {
    let mut dec = Decoder::new();
    let mut n = 0;
    let mut put = |b: u8, n: &mut usize| -> Result<()> {
        *dst.get_mut(*n).ok_or(Error::BufferTooSmall)? = b;
        *n += 1;
        Ok(())
    };
    for &b in src {
        if b == DELIMITER {
            return Err(Error::Cobs);
        }
        let (zero, data) = dec.feed(b);
        if zero {
            put(0, &mut n)?;
        }
        if let Some(d) = data {
            put(d, &mut n)?;
        }
    }
    if src.is_empty() || !dec.at_end_ok() {
        return Err(Error::Cobs);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(src: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; max_encoded_len(src.len())];
        let n = encode(src, &mut out).unwrap();
        out.truncate(n);
        out
    }

    fn dec(src: &[u8]) -> Result<Vec<u8>> {
        let mut out = vec![0u8; src.len()];
        let n = decode(src, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    #[test]
    fn known_vectors() {
        // The examples from Cheshire and Baker's paper, as listed on Wikipedia.
        let cases: &[(&[u8], &[u8])] = &[
            (&[], &[0x01]),
            (&[0x00], &[0x01, 0x01]),
            (&[0x00, 0x00], &[0x01, 0x01, 0x01]),
            (&[0x00, 0x11, 0x00], &[0x01, 0x02, 0x11, 0x01]),
            (&[0x11, 0x22, 0x00, 0x33], &[0x03, 0x11, 0x22, 0x02, 0x33]),
            (&[0x11, 0x22, 0x33, 0x44], &[0x05, 0x11, 0x22, 0x33, 0x44]),
            (&[0x11, 0x00, 0x00, 0x00], &[0x02, 0x11, 0x01, 0x01, 0x01]),
        ];
        for (raw, stuffed) in cases {
            assert_eq!(enc(raw), *stuffed, "encode {raw:02x?}");
            assert_eq!(dec(stuffed).unwrap(), *raw, "decode {stuffed:02x?}");
        }
    }

    #[test]
    fn long_runs() {
        // 254 non-zero bytes fill exactly one 0xFF block; 255 spill into a second block.
        let run254: Vec<u8> = (1..=254).map(|i| i as u8).collect();
        let e = enc(&run254);
        assert_eq!(e[0], 0xFF);
        assert_eq!(&e[1..255], &run254[..]);
        assert_eq!(e.len(), 256);
        assert_eq!(e.len(), max_encoded_len(254));
        // The encoder ends the frame with an empty block: a trailing code byte 0x01.
        assert_eq!(e[255], 0x01);
        assert_eq!(dec(&e).unwrap(), run254);
        // Without the trailing code byte, as other encoders write it.
        assert_eq!(dec(&e[..255]).unwrap(), run254);
        // A 0x01 after a block shorter than 254 is no trailer: it stands for a zero.
        assert_eq!(dec(&[0x02, 0x11, 0x01]).unwrap(), [0x11, 0x00]);

        let run255: Vec<u8> = (0..255).map(|i| (i % 255 + 1) as u8).collect();
        let e = enc(&run255);
        assert_eq!((e[0], e[255]), (0xFF, 0x02));
        assert_eq!(dec(&e).unwrap(), run255);

        let mut with_zero = run254.clone();
        with_zero.push(0);
        with_zero.extend_from_slice(&run254);
        assert_eq!(dec(&enc(&with_zero)).unwrap(), with_zero);

        let zeros = vec![0u8; 600];
        let e = enc(&zeros);
        assert!(!e.contains(&0));
        assert_eq!(e.len(), 601);
        assert_eq!(dec(&e).unwrap(), zeros);
    }

    #[test]
    fn broken_input() {
        assert_eq!(dec(&[]), Err(Error::Cobs));
        assert_eq!(dec(&[0x03, 0x11]), Err(Error::Cobs)); // block cut short
        assert_eq!(dec(&[0x02, 0x00]), Err(Error::Cobs)); // delimiter inside
        let mut small = [0u8; 1];
        assert_eq!(encode(&[1, 2], &mut small), Err(Error::BufferTooSmall));
        assert_eq!(encode(&[], &mut []), Err(Error::BufferTooSmall));
        assert_eq!(
            decode(&[0x03, 1, 2], &mut small),
            Err(Error::BufferTooSmall)
        );
    }

    #[test]
    fn exact_buffer_is_enough() {
        for len in [0usize, 1, 253, 254, 255, 508, 509, 1000] {
            let src: Vec<u8> = (0..len).map(|i| (i % 7) as u8 + 1).collect();
            let mut out = vec![0u8; max_encoded_len(len)];
            assert!(encode(&src, &mut out).is_ok(), "len {len}");
            let mut short = vec![0u8; max_encoded_len(len) - 1];
            assert_eq!(encode(&src, &mut short), Err(Error::BufferTooSmall));
        }
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(
            prop_oneof![3 => Just(0u8), 5 => any::<u8>(), 2 => Just(0xFFu8)], 0..800)) {
            let e = enc(&data);
            prop_assert!(!e.contains(&0));
            prop_assert!(e.len() <= max_encoded_len(data.len()));
            prop_assert_eq!(dec(&e).unwrap(), data);
        }
    }
}
