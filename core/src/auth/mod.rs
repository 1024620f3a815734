//! Authentication of a stream's connection with a shared key (core/WIRE.md section 7.5):
//! the collector challenges each connection with a fresh nonce, the agent proves it knows
//! the key with an HMAC-SHA256 of it. SHA-256 and HMAC are written here (FIPS 180-4,
//! RFC 2104) because RustCrypto's crates were not obtainable offline; they are checked
//! against the NIST and RFC 4231 vectors.

mod hmac;
mod sha256;

pub use hmac::{Key, equal};
pub use sha256::{DIGEST_LEN, Sha256};

/// Bytes of a challenge's nonce.
pub const NONCE_LEN: usize = 16;
/// Bytes of a proof's MAC.
pub const MAC_LEN: usize = DIGEST_LEN;
/// What a proof's MAC covers before the nonce: names the protocol, its version and the
/// direction, so that a MAC made with the same key for anything else is no proof here.
pub const PROOF_LABEL: &[u8] = b"taskwire proof v1";

/// The agent's proof for the collector's `nonce`: HMAC-SHA256(key, [`PROOF_LABEL`] ‖ nonce).
pub fn proof(key: &Key, nonce: &[u8; NONCE_LEN]) -> [u8; MAC_LEN] {
    key.mac(&[PROOF_LABEL, nonce])
}

/// Whether `mac` is the proof for `nonce` under `key`, compared in constant time.
pub fn verify(key: &Key, nonce: &[u8; NONCE_LEN], mac: &[u8; MAC_LEN]) -> bool {
    equal(&proof(key, nonce), mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of core/WIRE.md section 7.5.
    #[test]
    fn proof_example() {
        let key = Key::new(b"0123456789abcdef0123456789abcdef");
        let nonce: [u8; NONCE_LEN] = core::array::from_fn(|i| i as u8);
        let mac = proof(&key, &nonce);
        assert!(verify(&key, &nonce, &mac));
        let mut other = nonce;
        other[15] ^= 1;
        assert!(
            !verify(&key, &other, &mac),
            "a proof holds for its nonce only"
        );
        assert!(!verify(&Key::new(b"another key"), &nonce, &mac));
        let mut bad = mac;
        bad[0] ^= 0x80;
        assert!(!verify(&key, &nonce, &bad));
        // Python: hmac.new(key, b"taskwire proof v1" + bytes(range(16)), sha256).
        assert_eq!(
            mac,
            [
                0x69, 0x93, 0x47, 0x61, 0xdf, 0x5a, 0xa8, 0xa3, 0x89, 0x0f, 0x39, 0x3a, 0x21, 0x98,
                0x63, 0x9c, 0xe9, 0x89, 0x05, 0xae, 0xa5, 0xea, 0x16, 0xa9, 0xe6, 0x55, 0x62, 0x6b,
                0x95, 0x86, 0x51, 0xbf
            ]
        );
    }
}
