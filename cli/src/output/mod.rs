//! Rendering records as text or JSON, and the number formatting both share.
//!
//! Decimal fractions are computed with integers: exact, and it keeps float formatting code
//! out of a binary with a size budget.

pub mod json;
pub mod live;
pub mod text;

mod clock;

pub use clock::utc_time;

use crate::Failure;

/// `num / den` rounded half up to `decimals` places (`den == 0` counts as 1; at most 18
/// places).
///
/// Only u64 arithmetic, digit by digit: u128 division and its formatting would add
/// their code to the board binary (cross/README.md). An exact half rounds up, where C's `printf("%.3f", ns / 1e6)` rounds the
/// nearest double, which lies just above or below it: the two differ only there, in the
/// last digit.
pub fn fixed(num: u64, den: u64, decimals: u32) -> String {
    let mut s = String::new();
    push_fixed(&mut s, num, den, decimals);
    s
}

/// [`fixed`] appended to `out`, with no `core::fmt` and no allocation of its own: for
/// rows written many times a second.
pub fn push_fixed(out: &mut String, num: u64, den: u64, decimals: u32) {
    let decimals = decimals.min(18);
    let (int, frac) = fixed_parts(num, den, decimals);
    push_u64(out, int);
    if decimals > 0 {
        out.push('.');
        let mut digits = [b'0'; 18];
        let mut f = frac;
        for d in digits[..decimals as usize].iter_mut().rev() {
            *d = b'0' + (f % 10) as u8;
            f /= 10;
        }
        for &d in &digits[..decimals as usize] {
            out.push(char::from(d));
        }
    }
}

/// The integer part of `num / den` and its first `decimals` (at most 18) decimal digits as
/// one number, rounded half up as [`fixed`] prints them.
pub fn fixed_parts(num: u64, den: u64, decimals: u32) -> (u64, u64) {
    let den = den.max(1);
    let decimals = decimals.min(18);
    let (int, mut rem) = (num / den, num % den);
    let mut frac = 0u64;
    for _ in 0..decimals {
        let (digit, r) = times_ten(rem, den);
        frac = frac * 10 + digit;
        rem = r;
    }
    // 2 * rem >= den, without overflow.
    let up = u64::from(rem >= den - rem);
    let scale = 10u64.pow(decimals);
    // A carry out of the fraction; `int` cannot be u64::MAX then (that needs den == 1,
    // which leaves no remainder).
    if frac + up == scale {
        (int + 1, 0)
    } else {
        (int, frac + up)
    }
}

/// Appends `v` in decimal, without `core::fmt`.
pub fn push_u64(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// `(10 * rem / den, 10 * rem % den)` for `rem < den`, without overflowing.
fn times_ten(rem: u64, den: u64) -> (u64, u64) {
    // Invariant after step k: s == k * rem - digit * den and s < den.
    let (mut digit, mut s) = (0, rem);
    for _ in 1..10 {
        if s >= den - rem {
            s -= den - rem;
            digit += 1;
        } else {
            s += rem;
        }
    }
    (digit, s)
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

/// A name for a `key=value` line or a message: [`plain`]'s rule, and space, `=` and `"` as
/// `\xNN` too, so the line stays one whitespace-separated token per field.
pub fn escape_token(raw: &[u8]) -> String {
    escaped(raw, true).into_owned()
}

/// A name made of raw bytes (a comm, a board id) as text every format can hold: the one
/// rule of README "Names in the output". Every byte outside printable ASCII (0x20 to 0x7e:
/// control characters, bytes of non-ASCII characters and bytes that are not valid UTF-8
/// alike) and every backslash is written as `\xNN`, so nothing reaching a terminal can
/// move the cursor or start a line, and the bytes can be read back exactly. Borrowed when
/// there is nothing to change.
pub fn plain(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    escaped(raw, false)
}

/// `raw` with every byte outside printable ASCII, and the backslash, as `\xNN`; with
/// `token`, space, `=` and `"` too. Byte by byte, no UTF-8 decoding and no `core::fmt`
/// (the board links it).
fn escaped(raw: &[u8], token: bool) -> std::borrow::Cow<'_, str> {
    let keep = |b: u8| {
        (0x20..0x7f).contains(&b) && b != b'\\' && !(token && matches!(b, b' ' | b'=' | b'"'))
    };
    if raw.iter().all(|&b| keep(b)) {
        // Every byte kept is ASCII.
        return std::borrow::Cow::Borrowed(std::str::from_utf8(raw).unwrap_or_default());
    }
    let mut out = String::new();
    for &b in raw {
        if keep(b) {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\x");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A CSV cell (RFC 4180) of a name made of raw bytes, appended to `out`: the name as
/// [`plain`] writes it, a `'` put before a cell that starts with `=`, `+`, `-` or `@` so
/// that a spreadsheet does not take it for a formula (tab and CR cannot start one: they
/// are `\x09` and `\x0d` by then), and the cell quoted, its quotes doubled, when it holds
/// a comma or a quote or has an edge space.
pub fn csv_cell(out: &mut String, raw: &[u8]) {
    let s = plain(raw);
    let b = s.as_bytes();
    let quote = b.iter().any(|c| matches!(c, b',' | b'"'))
        || b.first() == Some(&b' ')
        || b.last() == Some(&b' ');
    if quote {
        out.push('"');
    }
    if matches!(b.first(), Some(b'=' | b'+' | b'-' | b'@')) {
        out.push('\'');
    }
    // Every byte is ASCII now: a quote, then the quote that escapes it.
    for &c in b {
        if c == b'"' {
            out.push('"');
        }
        out.push(char::from(c));
    }
    if quote {
        out.push('"');
    }
}

/// Writes `text` to stdout and flushes.
pub fn print(text: &str) -> Result<(), Failure> {
    write_stdout(text.as_bytes()).map_err(|e| Failure::Runtime(format!("writing to stdout: {e}")))
}

/// Writes all of `bytes` to descriptor 1, unbuffered, as std's `stdout().lock()` then
/// `write_all` and `flush` would (a closed descriptor 1 takes everything, as there). Not
/// through std's stdout: its line buffer, lock and lazy set-up are code a board need not
/// carry for output written whole.
pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    write_fd(rustix::stdio::stdout(), bytes)
}

/// Writes `args` and a newline to stderr in one write, as `eprintln!` says it (a closed
/// descriptor 2 takes it, as there). Not through std's stderr: its lock and
/// piece-by-piece formatting adapter are code a board need not carry.
pub fn eprintln(args: std::fmt::Arguments<'_>) {
    let mut line = std::fmt::format(args);
    line.push('\n');
    let _ = write_fd(rustix::stdio::stderr(), line.as_bytes());
}

/// Standard error as an `io::Write`, unbuffered: each write goes out whole.
pub struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_fd(rustix::stdio::stderr(), buf).map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_fd(fd: std::os::fd::BorrowedFd<'_>, mut bytes: &[u8]) -> std::io::Result<()> {
    use rustix::io::Errno;
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(Errno::INTR) => {}
            Err(Errno::BADF) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Writes help text to stdout; help is the command's successful output.
pub fn help(text: &str) -> Result<i32, Failure> {
    print(text).map(|()| 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_one_rule() {
        // Issue 12, finding 7: README "Names in the output".
        assert!(matches!(
            plain(b"storm"),
            std::borrow::Cow::Borrowed("storm")
        ));
        assert_eq!(plain(b"a b=\"c\""), "a b=\"c\"");
        assert_eq!(plain("é".as_bytes()), "\\xc3\\xa9");
        assert_eq!(plain(b"a\x1b[31mred\nforged"), "a\\x1b[31mred\\x0aforged");
        assert_eq!(plain(b"ab\xffc\\"), "ab\\xffc\\x5c");
        assert_eq!(plain("c1\u{9b}".as_bytes()), "c1\\xc2\\x9b");
        assert_eq!(plain(b"\x00\x7f"), "\\x00\\x7f");
        // Text: the same, and what would split a key=value token.
        assert_eq!(
            escape_token(b"a b=\"c\"\xff"),
            "a\\x20b\\x3d\\x22c\\x22\\xff"
        );
        // Read back exactly.
        for raw in [&b"x\\x41"[..], b"\x00\xff\\", "é".as_bytes()] {
            let s = plain(raw);
            let mut back = Vec::new();
            let mut it = s.bytes();
            while let Some(c) = it.next() {
                if c == b'\\' {
                    let (_, h, l) = (it.next(), it.next().unwrap(), it.next().unwrap());
                    let hex = |d: u8| char::from(d).to_digit(16).unwrap() as u8;
                    back.push(hex(h) << 4 | hex(l));
                } else {
                    back.push(c);
                }
            }
            assert_eq!(back, raw);
        }
    }

    #[test]
    fn csv_cells_are_rfc4180_and_never_formulas() {
        let cell = |raw: &[u8]| {
            let mut s = String::new();
            csv_cell(&mut s, raw);
            s
        };
        assert_eq!(cell(b"storm"), "storm");
        assert_eq!(cell(b"a,b"), "\"a,b\"");
        assert_eq!(cell(b"say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell(b" edge"), "\" edge\"");
        for f in ["=1+1", "+1", "-bash", "@SUM(A1)"] {
            assert_eq!(cell(f.as_bytes()), format!("'{f}"), "{f}");
        }
        assert_eq!(cell(b"=a,\"b\""), "\"'=a,\"\"b\"\"\"");
        assert_eq!(cell(b"\tx"), "\\x09x");
        assert_eq!(cell(b"\rx\n"), "\\x0dx\\x0a");
        assert_eq!(cell(b"\xff"), "\\xff");
        assert_eq!(cell("é,".as_bytes()), "\"\\xc3\\xa9,\"");
    }

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
    fn fixed_edges() {
        // Carries out of the fraction into the integer part.
        assert_eq!(fixed(999_999_500, 1_000_000, 3), "1000.000");
        assert_eq!(fixed(9_999_999, 10_000_000, 6), "1.000000");
        assert_eq!(fixed(2, 3, 0), "1");
        assert_eq!(fixed(1, 3, 0), "0");
        // Denominators past u64::MAX / 10 (the digit step must not overflow).
        assert_eq!(fixed(u64::MAX - 1, u64::MAX, 3), "1.000");
        assert_eq!(fixed(u64::MAX / 2, u64::MAX, 3), "0.500");
        assert_eq!(fixed(u64::MAX / 3, u64::MAX, 6), "0.333333");
        assert_eq!(fixed(1, u64::MAX, 18), "0.000000000000000000");
        assert_eq!(fixed(7, 1, 2), "7.00");
        assert_eq!(fixed(1, 8, 2), "0.13", "an exact half rounds up");
    }

    /// Against the float formatting the agent used before (and C's printf, which rounds the
    /// same double the same way): equal except where the exact quotient ends in a half.
    #[test]
    fn fixed_matches_float_formatting_off_exact_halves() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut checked = 0;
        for i in 0..200_000u64 {
            // A spread of magnitudes: small counts, milliseconds, hours of nanoseconds.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let num = match i % 4 {
                0 => i,
                1 => x % 10_000_000,
                2 => x % 1_000_000_000_000,
                _ => x % (1 << 50),
            };
            for (den, decimals) in [(1_000_000u64, 3u32), (1_000_000, 6), (1_000, 1)] {
                let scaled = u128::from(num) * 10u128.pow(decimals) * 2;
                let half = scaled % (u128::from(den) * 2) == u128::from(den);
                // Where the double itself is too coarse to carry the digits asked for.
                let coarse = num > (1 << 53) / 10u64.pow(decimals);
                if half || coarse {
                    continue;
                }
                let want = format!("{:.*}", decimals as usize, num as f64 / den as f64);
                assert_eq!(fixed(num, den, decimals), want, "{num}/{den}");
                checked += 1;
            }
        }
        assert!(checked > 350_000, "{checked}");
        // The exact halves: the double 4500 / 1e6 is 0.0044999..., so C's printf (and the
        // float formatting) print 0.004; this prints 0.005. 1500 / 1e6 is 0.00150...01:
        // both print 0.002.
        assert_eq!(format!("{:.3}", 4_500f64 / 1e6), "0.004");
        assert_eq!(ms(4_500), "0.005");
        assert_eq!(format!("{:.3}", 1_500f64 / 1e6), "0.002");
        assert_eq!(ms(1_500), "0.002");
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
