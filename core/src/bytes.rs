//! Host-endian integer access at byte offsets.
//!
//! Netlink carries integers in the byte order of the host that sent them (the kernel of the
//! machine we run on), so every read and write here uses `from_ne_bytes`/`to_ne_bytes`.
//! Readers return `None` instead of panicking when the slice is too short, which lets the
//! decoders above turn a short buffer into an error or an absent field.

/// Reads `N` bytes at `off`, or `None` when the slice is shorter.
#[inline]
pub(crate) fn array_at<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    let end = off.checked_add(N)?;
    let mut out = [0u8; N];
    out.copy_from_slice(b.get(off..end)?);
    Some(out)
}

#[inline]
pub(crate) fn u8_at(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

#[inline]
pub(crate) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    array_at(b, off).map(u16::from_ne_bytes)
}

#[inline]
pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    array_at(b, off).map(u32::from_ne_bytes)
}

#[inline]
pub(crate) fn i32_at(b: &[u8], off: usize) -> Option<i32> {
    array_at(b, off).map(i32::from_ne_bytes)
}

#[inline]
pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    array_at(b, off).map(u64::from_ne_bytes)
}

#[inline]
pub(crate) fn i64_at(b: &[u8], off: usize) -> Option<i64> {
    array_at(b, off).map(i64::from_ne_bytes)
}

/// Writes `v` at `off`; `false` when the slice is too short (nothing is written then).
#[inline]
pub(crate) fn put_at(b: &mut [u8], off: usize, v: &[u8]) -> bool {
    match off.checked_add(v.len()).and_then(|end| b.get_mut(off..end)) {
        Some(dst) => {
            dst.copy_from_slice(v);
            true
        }
        None => false,
    }
}
