//! What more than one fuzz target needs.

/// The little-endian u64 in the first 8 bytes of `b`, missing bytes read as zero: fuzz
/// input is any length.
pub fn u64_at(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    for (d, s) in a.iter_mut().zip(b) {
        *d = *s;
    }
    u64::from_le_bytes(a)
}
