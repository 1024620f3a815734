//! The one JSON writer of every command and of `decode`: objects of numbers, strings and
//! booleans, with the escaping RFC 8259 requires. Nothing else is needed, so no serde.
//!
//! Every field of a `struct taskstats` ([`taskstats_fields`]) and of a wire record
//! ([`record_fields`]) goes out under its kernel name through [`Json::value`], so `listen`
//! and `decode` print a field the same way.
//!
//! A [`Json`] either owns its text ([`Json::new`], [`Json::finish`]) or appends to a
//! caller's buffer ([`Json::with`], [`Json::end`]): `decode` writes every line into one
//! output buffer, with no `String` per record. Numbers and escaping are written by hand:
//! `core::fmt` and a `push` per character were most of the cost of a record.

use std::borrow::BorrowMut;

use taskwire_core::taskstats::{Aggregate, Field, Taskstats, Value};
use taskwire_core::wire::Record;

/// Room for a whole aggregate of the largest struct, so that it is written without
/// growing the buffer.
const AGGREGATE_BYTES: usize = 2048;

/// Bytes of members gathered before they are copied to the `String`.
const PENDING: usize = 256;

/// Builds one JSON object, in a `String` of its own (`Json` alone, from [`Json::new`]) or at
/// the end of a caller's (`Json<&mut String>`, from [`Json::with`]).
///
/// Keys are written as they are given: printable ASCII without `"` or `\\` (debug builds
/// check). Values are escaped.
///
/// The writing is done by a private `Pending`, which is not generic: both kinds of `Json`
/// share one copy of it in the binary, and the methods here only hand it the `String`.
#[derive(Debug)]
pub struct Json<O = String> {
    out: O,
    p: Pending,
}

/// Members written but not yet copied to the `String`. `String`'s methods are calls at the
/// board's opt-level, and a record is mostly short keys and numbers: gathering them here
/// makes one copy of many members. Holds only ASCII and whole `&str`s, so it is always
/// UTF-8.
#[derive(Debug)]
struct Pending {
    pending: [u8; PENDING],
    len: usize,
    /// Whether the object still has no member.
    empty: bool,
}

impl Default for Json {
    fn default() -> Self {
        Json::new()
    }
}

impl Json {
    /// Starts an object in a new `String`.
    pub fn new() -> Json {
        Json::open(String::new())
    }

    /// Closes the object and returns the text (no trailing newline).
    pub fn finish(mut self) -> String {
        self.close();
        self.out
    }
}

impl<'a> Json<&'a mut String> {
    /// Starts an object at the end of `out`, after what it holds already.
    pub fn with(out: &'a mut String) -> Json<&'a mut String> {
        Json::open(out)
    }

    /// Closes the object (no trailing newline) and gives the caller's buffer back.
    pub fn end(mut self) -> &'a mut String {
        self.close();
        self.out
    }
}

impl<O: BorrowMut<String>> Json<O> {
    fn open(out: O) -> Json<O> {
        let mut j = Json {
            out,
            p: Pending {
                pending: [0; PENDING],
                len: 0,
                empty: true,
            },
        };
        j.p.put_byte(j.out.borrow_mut(), b'{');
        j
    }

    fn close(&mut self) {
        self.p.put_byte(self.out.borrow_mut(), b'}');
        self.p.flush(self.out.borrow_mut());
    }

    /// Adds an unsigned number.
    pub fn u64(&mut self, key: &str, v: u64) -> &mut Self {
        self.p.number(self.out.borrow_mut(), key, false, v);
        self
    }

    /// Adds a signed number.
    pub fn i64(&mut self, key: &str, v: i64) -> &mut Self {
        self.p
            .number(self.out.borrow_mut(), key, v < 0, v.unsigned_abs());
        self
    }

    /// Adds `num / den` as a decimal number with `decimals` places (at most 18), rounded
    /// half up as [`super::fixed`] does, with no float and no `core::fmt`.
    pub fn fixed(&mut self, key: &str, num: u64, den: u64, decimals: u32) -> &mut Self {
        self.p.fixed(self.out.borrow_mut(), key, num, den, decimals);
        self
    }

    /// Adds a field's value, signed or unsigned as the field is.
    pub fn value(&mut self, key: &str, v: Value) -> &mut Self {
        match v {
            Value::Unsigned(v) => self.u64(key, v),
            Value::Signed(v) => self.i64(key, v),
        }
    }

    /// Adds a boolean.
    pub fn bool(&mut self, key: &str, v: bool) -> &mut Self {
        let out = self.out.borrow_mut();
        self.p.key(out, key, 5);
        self.p.put(out, if v { "true" } else { "false" });
        self
    }

    /// Adds a string.
    pub fn str(&mut self, key: &str, v: &str) -> &mut Self {
        self.p.str(self.out.borrow_mut(), key, v);
        self
    }

    /// Adds a name made of raw bytes as a string, written by the one rule of
    /// [`super::plain`]: control characters, backslashes and bytes that are not valid
    /// UTF-8 as `\xNN`.
    pub fn bytes(&mut self, key: &str, v: &[u8]) -> &mut Self {
        // Borrowed, not copied, when there is nothing to change (a comm nearly always).
        self.str(key, &super::plain(v))
    }
}

impl Pending {
    /// Copies the pending members to `out`.
    fn flush(&mut self, out: &mut String) {
        // ASCII and whole `&str`s (see `Pending`): the check cannot fail.
        out.push_str(std::str::from_utf8(&self.pending[..self.len]).unwrap_or_default());
        self.len = 0;
    }

    /// Makes room for `n` more pending bytes; false when `n` is more than it holds at all.
    fn room(&mut self, out: &mut String, n: usize) -> bool {
        if PENDING - self.len < n {
            self.flush(out);
        }
        n <= PENDING
    }

    /// Appends an ASCII byte.
    fn put_byte(&mut self, out: &mut String, b: u8) {
        self.room(out, 1);
        self.pending[self.len] = b;
        self.len += 1;
    }

    /// Appends a whole `&str`.
    fn put(&mut self, out: &mut String, s: &str) {
        if self.room(out, s.len()) {
            self.pending[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            out.push_str(s);
        }
    }

    /// Starts a member and makes room for `value` pending bytes after it. Keys are this
    /// program's names (field names, `type`, `board`, ...), never data, so they are copied
    /// as they are, unescaped.
    fn key(&mut self, out: &mut String, key: &str, value: usize) {
        debug_assert!(
            key.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'),
            "a key that would need escaping: {key:?}"
        );
        let comma = !std::mem::take(&mut self.empty);
        let n = usize::from(comma) + key.len() + 3;
        if !self.room(out, n + value) {
            // Too long to gather.
            self.flush(out);
            out.push_str(if comma { ",\"" } else { "\"" });
            out.push_str(key);
            out.push_str("\":");
            return;
        }
        // Byte by byte but for the name: slice helpers are calls at opt-level "z".
        let mut at = self.len;
        if comma {
            self.pending[at] = b',';
            at += 1;
        }
        self.pending[at] = b'"';
        at += 1;
        self.pending[at..at + key.len()].copy_from_slice(key.as_bytes());
        at += key.len();
        self.pending[at] = b'"';
        self.pending[at + 1] = b':';
        self.len = at + 2;
    }

    /// Adds `num / den` with `decimals` places ([`Json::fixed`]).
    fn fixed(&mut self, out: &mut String, key: &str, num: u64, den: u64, decimals: u32) {
        let decimals = decimals.min(18);
        let (int, mut frac) = super::fixed_parts(num, den, decimals);
        self.number(out, key, false, int);
        if decimals > 0 {
            let n = decimals as usize;
            self.room(out, 1 + n);
            self.pending[self.len] = b'.';
            let mut at = self.len + 1 + n;
            self.len = at;
            while at > self.len - n {
                at -= 1;
                self.pending[at] = b'0' + (frac % 10) as u8;
                frac /= 10;
            }
        }
    }

    /// Adds a number, `-v` when `negative`, in decimal.
    fn number(&mut self, out: &mut String, key: &str, negative: bool, mut v: u64) {
        self.key(out, key, 1 + MAX_DIGITS);
        if negative {
            self.pending[self.len] = b'-';
            self.len += 1;
        }
        let mut end = self.len + 1;
        let mut rest = v / 10;
        while rest > 0 {
            end += 1;
            rest /= 10;
        }
        let mut at = end;
        while at > self.len {
            at -= 1;
            self.pending[at] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.len = end;
    }

    /// Adds a string member.
    fn str(&mut self, out: &mut String, key: &str, v: &str) {
        self.key(out, key, 1);
        self.put_byte(out, b'"');
        escape(v, |piece| self.put(out, piece));
        self.put_byte(out, b'"');
    }
}

/// Appends `s` as a JSON string literal.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    escape(s, |piece| out.push_str(piece));
    out.push('"');
}

/// Gives `s` to `put` in pieces, escaped: runs that need no escape whole, and each escape.
fn escape(s: &str, mut put: impl FnMut(&str)) {
    const HEX: &str = "0123456789abcdef";
    let b = s.as_bytes();
    // `s[start..i]` needs no escape. Every stop is an ASCII byte or 0xe2 (a lead byte), so
    // slices of `s` cut at them fall on character boundaries.
    let (mut start, mut i) = (0, 0);
    while let Some(&c) = b.get(i) {
        let escape = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x20..=0x7e => {
                i += 1;
                continue;
            }
            // U+2028 and U+2029 (e2 80 a8/a9), which break JavaScript parsers of JSON
            // lines; every other non-ASCII character passes as it is.
            0xe2 if matches!(b.get(i + 1..i + 3), Some([0x80, 0xa8])) => "\\u2028",
            0xe2 if matches!(b.get(i + 1..i + 3), Some([0x80, 0xa9])) => "\\u2029",
            0x80.. => {
                i += 1;
                continue;
            }
            // Other controls, and DEL: `\u00XX`.
            _ => "\\u00",
        };
        put(&s[start..i]);
        put(escape);
        if c == 0xe2 {
            i += 3;
        } else {
            if escape == "\\u00" {
                let (hi, lo) = (usize::from(c >> 4), usize::from(c & 0xf));
                put(&HEX[hi..=hi]);
                put(&HEX[lo..=lo]);
            }
            i += 1;
        }
        start = i;
    }
    put(&s[start..]);
}

/// Digits of the largest u64.
const MAX_DIGITS: usize = 20;

/// Adds the `comm` and every numeric field the struct carries, under their kernel names.
pub fn taskstats_fields<O: BorrowMut<String>>(j: &mut Json<O>, stats: &Taskstats<'_>) {
    if let Some(comm) = stats.comm() {
        j.bytes("ac_comm", comm);
    }
    for (field, raw) in stats.fields() {
        // `raw` holds a signed field sign-extended, as `Taskstats::value` reads it.
        j.value(field.name(), value(field, raw));
    }
    if stats.is_truncated() {
        j.bool("truncated", true);
    }
}

fn value(field: Field, raw: u64) -> Value {
    if field.is_signed() {
        Value::Signed(raw as i64)
    } else {
        Value::Unsigned(raw)
    }
}

/// Adds a wire record's `comm` (when its profile carries it) and every present field under
/// its kernel name; a slot this build does not know (a newer agent's appended field) as
/// `slot_N`.
pub fn record_fields<O: BorrowMut<String>>(j: &mut Json<O>, r: &Record) {
    if let Some(comm) = &r.comm {
        j.bytes("comm", comm);
    }
    for fv in r.fields() {
        match fv.field {
            Some(f) => j.value(f.name(), fv.value),
            None => j.value(&format!("slot_{}", fv.slot), fv.value),
        };
    }
}

/// One record: `{"type":"pid","id":N,"ac_comm":...,<every field>}`.
pub fn aggregate(kind: &str, agg: &Aggregate<'_>) -> Json {
    let mut j = Json::open(String::with_capacity(AGGREGATE_BYTES));
    aggregate_members(&mut j, kind, agg);
    j
}

/// [`aggregate`] appended to `out`, a buffer the caller reuses from record to record.
pub fn aggregate_into(out: &mut String, kind: &str, agg: &Aggregate<'_>) {
    let mut j = Json::with(out);
    aggregate_members(&mut j, kind, agg);
    j.end();
}

fn aggregate_members<O: BorrowMut<String>>(j: &mut Json<O>, kind: &str, agg: &Aggregate<'_>) {
    j.str("type", kind)
        .u64("id", u64::from(agg.id))
        .u64("len", agg.stats.len() as u64);
    taskstats_fields(j, &agg.stats);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> String {
        let mut out = String::new();
        string(&mut out, s);
        out
    }

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        assert_eq!(lit("plain"), "\"plain\"");
        assert_eq!(lit("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(lit("l1\nl2\tx\r"), "\"l1\\nl2\\tx\\r\"");
        assert_eq!(lit("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\\u007f\"");
        assert_eq!(lit("\u{8}\u{c}"), "\"\\b\\f\"");
        assert_eq!(lit("é\u{2028}"), "\"é\\u2028\"");
    }

    /// Against the char-by-char escaper this one replaced, over every character class it
    /// treats apart and the bytes around U+2028.
    #[test]
    fn escaping_matches_the_char_by_char_rule() {
        fn by_char(s: &str) -> String {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if c < ' ' || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                        out.push_str(&format!("\\u{:04x}", c as u32));
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        let pieces = [
            "", "a", "\"", "\\", "\u{0}", "\u{1f}", "\u{7f}", "\u{80}", "é", "\u{2027}",
            "\u{2028}", "\u{2029}", "\u{202a}", "\u{20ac}", "\u{fffd}", "🦀", "\n", "\t", "x y",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let s = format!("{a}{b}{c}");
                    assert_eq!(lit(&s), by_char(&s), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn fixed_point_numbers() {
        let mut j = Json::new();
        j.fixed("a", 1_234_567, 1_000_000, 3)
            .fixed("b", 5, 1, 0)
            .fixed("c", 1, 1000, 2)
            .fixed("d", 999_999_500, 1_000_000, 3);
        assert_eq!(j.finish(), r#"{"a":1.235,"b":5,"c":0.00,"d":1000.000}"#);
        // Past the pending buffer: the digits must not be split from their number.
        let mut j = Json::new();
        for _ in 0..40 {
            j.fixed("x", 123_456, 1000, 3);
        }
        let text = j.finish();
        assert_eq!(text.matches("\"x\":123.456").count(), 40, "{text}");
    }

    #[test]
    fn numbers_in_decimal() {
        for v in [
            0,
            1,
            9,
            10,
            99,
            100,
            12_345,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut j = Json::new();
            j.u64("k", v);
            assert_eq!(j.finish(), format!("{{\"k\":{v}}}"));
        }
        for v in [0, -1, 1, -10, i64::MIN, i64::MIN + 1, i64::MAX] {
            let mut j = Json::new();
            j.i64("k", v);
            assert_eq!(j.finish(), format!("{{\"k\":{v}}}"));
        }
        // Keys too long to be gathered with their number.
        let long = "k".repeat(PENDING);
        let mut j = Json::new();
        j.u64("a", 1).i64(&long, i64::MIN).u64(&long, 7);
        assert_eq!(
            j.finish(),
            format!("{{\"a\":1,\"{long}\":{},\"{long}\":7}}", i64::MIN)
        );
    }

    /// Members of every kind and length, around and past the pending buffer's size, against
    /// the same object put together by hand.
    #[test]
    fn long_objects_come_out_whole() {
        let mut j = Json::new();
        let mut want = String::from("{");
        for i in 0..400usize {
            let key = "k".repeat(1 + i % 300);
            if i > 0 {
                want.push(',');
            }
            match i % 4 {
                0 => {
                    j.u64(&key, i as u64 * 7919);
                    want.push_str(&format!("\"{key}\":{}", i * 7919));
                }
                1 => {
                    j.i64(&key, -(i as i64));
                    want.push_str(&format!("\"{key}\":-{i}"));
                }
                2 => {
                    let v = "é\"".repeat(i);
                    j.str(&key, &v);
                    want.push_str(&format!("\"{key}\":\"{}\"", v.replace('"', "\\\"")));
                }
                _ => {
                    j.bool(&key, true);
                    want.push_str(&format!("\"{key}\":true"));
                }
            }
        }
        want.push('}');
        assert_eq!(j.finish(), want);
    }

    #[test]
    fn names_are_written_by_the_one_rule() {
        // README "Names in the output": as text and CSV write them.
        let mut j = Json::new();
        j.bytes("comm", b"ab\xffc\x1b\\");
        assert_eq!(j.finish(), "{\"comm\":\"ab\\\\xffc\\\\x1b\\\\x5c\"}");
    }

    #[test]
    fn members_are_separated() {
        let mut j = Json::new();
        j.u64("a", 1)
            .i64("b", -2)
            .str("d", "x")
            .bool("e", false)
            .u64("f", u64::MAX);
        assert_eq!(
            j.finish(),
            "{\"a\":1,\"b\":-2,\"d\":\"x\",\"e\":false,\"f\":18446744073709551615}"
        );
        assert_eq!(Json::new().finish(), "{}");
    }

    #[test]
    fn appends_to_a_callers_buffer() {
        let mut out = String::from("{}\n");
        let mut j = Json::with(&mut out);
        j.u64("a", 1).value("b", Value::Signed(-3));
        j.end();
        Json::with(&mut out).end();
        assert_eq!(out, "{}\n{\"a\":1,\"b\":-3}{}");
    }

    #[test]
    fn aggregate_into_appends_the_same_object() {
        let agg = taskwire_core::fixtures::pid1();
        let mut out = String::from("x");
        aggregate_into(&mut out, "pid", &agg);
        assert_eq!(out, format!("x{}", aggregate("pid", &agg).finish()));
    }

    #[test]
    fn aggregate_fields_keep_their_sign() {
        let agg = taskwire_core::fixtures::pid1();
        let s = aggregate("pid", &agg).finish();
        assert!(s.starts_with("{\"type\":\"pid\",\"id\":1,\"len\":"), "{s}");
        for (f, _) in agg.stats.fields() {
            let want = format!("\"{}\":{},", f.name(), agg.stats.value(f).unwrap());
            let last = want.replace(',', "}");
            assert!(s.contains(&want) || s.ends_with(&last), "{want} in {s}");
        }
        assert!(s.contains("\"ac_nice\":-10,"), "{s}");
    }
}
