//! HMAC-SHA256 (RFC 2104), keyed once: the key's inner and outer pads are made when the key
//! is read, so each MAC is two short hashes and the secret itself is not kept.

use super::sha256::{BLOCK_LEN, DIGEST_LEN, Sha256};

/// A shared secret, ready to make MACs.
#[derive(Clone)]
pub struct Key {
    /// The key (hashed first if longer than a block), zero-padded, XOR 0x36.
    inner: [u8; BLOCK_LEN],
    /// The same XOR 0x5c.
    outer: [u8; BLOCK_LEN],
}

impl Key {
    /// The key of `secret`, any length (RFC 2104 section 2: a key longer than a block is
    /// hashed first).
    pub fn new(secret: &[u8]) -> Key {
        let mut k = [0u8; BLOCK_LEN];
        if secret.len() > BLOCK_LEN {
            let mut h = Sha256::new();
            h.update(secret);
            k[..DIGEST_LEN].copy_from_slice(&h.finish());
        } else {
            k[..secret.len()].copy_from_slice(secret);
        }
        Key {
            inner: k.map(|b| b ^ 0x36),
            outer: k.map(|b| b ^ 0x5c),
        }
    }

    /// HMAC-SHA256 of the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
        let mut h = Sha256::new();
        h.update(&self.inner);
        parts.iter().for_each(|p| h.update(p));
        let inner = h.finish();
        let mut h = Sha256::new();
        h.update(&self.outer);
        h.update(&inner);
        h.finish()
    }
}

// The pads are the secret in all but name: no Debug that could print them.
impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// Whether `a` and `b` are equal, in a time that depends on their length only: a forger
/// timing the refusals learns nothing about how many leading bytes of a MAC were right.
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    // Keeps the compiler from turning the fold into an early exit.
    core::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 4231 section 4: test cases 1 to 7, HMAC-SHA-256 (case 5's truncated output
    /// compared on its first 128 bits).
    #[test]
    fn rfc4231_vectors() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 7] = [
            (
                std::vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                std::vec![0xaa; 20],
                std::vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                std::vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                std::vec![0x0c; 20],
                b"Test With Truncation".to_vec(),
                "a3b6167473100ee06e0c796c2955552b",
            ),
            (
                std::vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                std::vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (i, (key, data, want)) in cases.iter().enumerate() {
            let want = unhex(want);
            let got = Key::new(key).mac(&[data]);
            assert_eq!(&got[..want.len()], &want[..], "RFC 4231 case {}", i + 1);
        }
    }

    #[test]
    fn parts_are_concatenated() {
        let k = Key::new(b"Jefe");
        assert_eq!(
            k.mac(&[b"what do ya ", b"", b"want for nothing?"]),
            k.mac(&[b"what do ya want for nothing?"])
        );
    }

    #[test]
    fn equality() {
        assert!(equal(b"abc", b"abc"));
        assert!(!equal(b"abc", b"abd"));
        assert!(!equal(b"abc", b"ab"));
        assert!(equal(b"", b""));
    }
}
