//! Rendering records as text or JSON, and the number formatting both share.
//!
//! Decimal fractions are computed with integers: exact, and it keeps float formatting code
//! out of a binary with a size budget.

pub mod json;
pub mod text;

mod clock;

pub use clock::utc_time;

/// `num / den` rounded half up to `decimals` places (`den == 0` counts as 1).
pub fn fixed(num: u64, den: u128, decimals: u32) -> String {
    let scale = 10u128.pow(decimals.min(18));
    let den = den.max(1);
    let scaled = (u128::from(num) * scale * 2).saturating_add(den) / den.saturating_mul(2);
    let (int, frac) = (scaled / scale, scaled % scale);
    if decimals == 0 {
        int.to_string()
    } else {
        format!("{int}.{frac:0width$}", width = decimals as usize)
    }
}

/// Nanoseconds as milliseconds with 3 decimals.
pub fn ms(ns: u64) -> String {
    fixed(ns, 1_000_000, 3)
}

/// Microseconds as seconds with 3 decimals.
pub fn secs_from_us(us: u64) -> String {
    fixed(us, 1_000_000, 3)
}

/// How a task ended, from the wait(2)-style `ac_exitcode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// exit(code).
    Exited(u8),
    /// Killed by a signal (and whether it dumped core).
    Signaled(u8, bool),
}

impl Status {
    /// Decodes a wait status: signal in bits 0..6, core flag in bit 7, code in bits 8..15.
    pub fn from_wait(raw: u64) -> Status {
        let sig = (raw & 0x7f) as u8;
        if sig == 0 {
            Status::Exited(((raw >> 8) & 0xff) as u8)
        } else {
            Status::Signaled(sig, raw & 0x80 != 0)
        }
    }
}

/// `comm` for a `key=value` line: printable ASCII except space, `=`, `"` and `\` as is,
/// everything else as `\xNN`, so the line stays one whitespace-separated token per field.
pub fn escape_token(raw: &[u8]) -> String {
    let mut s = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii_graphic() && !matches!(b, b'=' | b'"' | b'\\') {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_rounds_half_up() {
        assert_eq!(fixed(1_234_567, 1_000_000, 3), "1.235");
        assert_eq!(fixed(1_500, 1_000_000, 3), "0.002");
        assert_eq!(fixed(1_499, 1_000_000, 3), "0.001");
        assert_eq!(fixed(5, 0, 2), "5.00", "zero denominator counts as one");
        assert_eq!(fixed(u64::MAX, 1, 0), u64::MAX.to_string());
        assert_eq!(fixed(u64::MAX, 1_000_000, 6), "18446744073709.551615");
        assert_eq!(ms(300_000_000), "300.000");
        assert_eq!(secs_from_us(302_517), "0.303");
    }

    #[test]
    fn wait_status() {
        assert_eq!(Status::from_wait(3 << 8), Status::Exited(3));
        assert_eq!(Status::from_wait(9), Status::Signaled(9, false));
        assert_eq!(Status::from_wait(0x80 | 11), Status::Signaled(11, true));
    }

    #[test]
    fn tokens_are_escaped() {
        assert_eq!(escape_token(b"storm"), "storm");
        assert_eq!(escape_token(b"a b=c"), "a\\x20b\\x3dc");
        assert_eq!(escape_token(b"\xff\n"), "\\xff\\x0a");
    }
}
