//! Writing HTML: every name from a stream (board ids, comms, kernel releases) goes
//! through [`name`]: README's rule for names first ("Names in the output": bytes outside
//! printable ASCII and the backslash as `\xNN`), then the five characters HTML gives a
//! meaning to as entities, so that a name is text in an element or an attribute, never
//! markup. Numbers are printed here too, the same way everywhere on the page.

use taskwire_cli::output::plain;

/// `s` as HTML text or a quoted attribute value.
pub fn text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// A name made of raw bytes from the stream, as HTML text or a quoted attribute value.
pub fn name(out: &mut String, raw: &[u8]) {
    text(out, &plain(raw));
}

/// [`name`] into a new string.
pub fn name_string(raw: &[u8]) -> String {
    let mut s = String::new();
    name(&mut s, raw);
    s
}

/// `n` with thousands separated by commas: `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in ns with three significant digits and a unit: `850 ns`, `12.3 µs`,
/// `4.56 ms`, `7.89 s`, `1.2 h`.
pub fn duration(ns: u64) -> String {
    let x = ns as f64;
    let (v, unit) = if ns < 1_000 {
        return format!("{ns} ns");
    } else if ns < 1_000_000 {
        (x / 1e3, "µs")
    } else if ns < 1_000_000_000 {
        (x / 1e6, "ms")
    } else if ns < 3_600_000_000_000 {
        (x / 1e9, "s")
    } else {
        (x / 3.6e12, "h")
    };
    format!("{} {unit}", three_digits(v))
}

/// `v` with three significant digits (no exponent).
pub fn three_digits(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS` UTC; a time past year 9999 (a
/// broken clock) as its number.
pub fn utc(secs: u64) -> String {
    // 9999-12-31 23:59:59.
    const LAST: u64 = 253_402_300_799;
    match secs {
        0..=LAST => taskwire_cli::output::utc_time(secs as i64, 0),
        _ => format!("{secs} s"),
    }
}

/// Parts per million as a percentage with three significant digits.
pub fn percent(ppm: u64) -> String {
    format!("{}%", three_digits(ppm as f64 / 10_000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_become_markup() {
        let mut s = String::new();
        name(&mut s, b"<script>alert(\"x\")</script>&'\x1b\xff\\");
        assert_eq!(
            s,
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;\\x1b\\xff\\x5c"
        );
        assert!(!s.contains('<') && !s.contains('"'));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(duration(850), "850 ns");
        assert_eq!(duration(12_340), "12.3 µs");
        assert_eq!(duration(4_560_000), "4.56 ms");
        assert_eq!(duration(7_890_000_000), "7.89 s");
        assert_eq!(duration(u64::MAX), "5124096 h");
        assert_eq!(percent(250_000), "25.0%");
        assert_eq!(utc(0), "N/A");
        assert_eq!(utc(86_400), "1970-01-02 00:00:00");
        assert_eq!(utc(u64::MAX), "18446744073709551615 s");
    }
}
