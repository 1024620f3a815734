//! CRC-32 (IEEE 802.3, the one zlib, Ethernet and PNG use).
//!
//! Parameters: polynomial 0x04C11DB7 reflected (0xEDB88320), initial value 0xFFFFFFFF, input
//! and output reflected, final XOR 0xFFFFFFFF. Hand-written rather than a dependency: the
//! `crc` crate is not in postcard's dependency tree, and a 1 KiB table built at compile time
//! is all this needs.

/// Lookup table for one byte at a time, built at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// An incremental CRC-32, for data that arrives in pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc32 {
    state: u32,
}

impl Crc32 {
    /// A CRC over no data yet.
    pub const fn new() -> Self {
        Crc32 { state: 0xFFFF_FFFF }
    }

    /// Adds `bytes` to the checksum.
    pub const fn update(mut self, bytes: &[u8]) -> Self {
        let mut i = 0;
        while i < bytes.len() {
            self = self.push(bytes[i]);
            i += 1;
        }
        self
    }

    /// Adds one byte to the checksum.
    #[inline]
    pub const fn push(self, byte: u8) -> Self {
        let idx = ((self.state ^ byte as u32) & 0xFF) as usize;
        Crc32 {
            state: TABLE[idx] ^ (self.state >> 8),
        }
    }

    /// The checksum of everything added so far.
    pub const fn finish(self) -> u32 {
        self.state ^ 0xFFFF_FFFF
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

/// CRC-32 (IEEE) of `bytes`.
pub const fn crc32(bytes: &[u8]) -> u32 {
    Crc32::new().update(bytes).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        // The catalogue "check" value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn known_vectors() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
        assert_eq!(crc32(&[0u8; 32]), 0x190A_55AD);
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data = b"taskwire record stream";
        for split in 0..=data.len() {
            let (a, b) = data.split_at(split);
            assert_eq!(Crc32::new().update(a).update(b).finish(), crc32(data));
        }
    }

    #[test]
    fn residue_after_appending_crc_le() {
        // Appending the CRC little-endian gives a constant residue: the property that lets a
        // reader check a frame without knowing where the payload ends.
        for data in [&b""[..], b"x", b"123456789", &[0xFF; 300]] {
            let crc = crc32(data);
            let mut c = Crc32::new().update(data);
            c = c.update(&crc.to_le_bytes());
            assert_eq!(c.finish(), 0x2144_DF1C);
        }
    }
}
