//! A tiny JSON writer: objects of numbers, strings and nested objects, written into a
//! `String`, with the escaping RFC 8259 requires. Nothing else is needed, so no serde.

use std::fmt::Write;

use taskwire_core::taskstats::{Aggregate, Taskstats, Value};

/// Builds one JSON object.
#[derive(Debug)]
pub struct Json {
    out: String,
    /// Whether the object still has no member.
    empty: bool,
}

impl Default for Json {
    fn default() -> Self {
        Json::new()
    }
}

impl Json {
    /// Starts an object.
    pub fn new() -> Json {
        Json {
            out: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        string(&mut self.out, key);
        self.out.push(':');
    }

    /// Adds an unsigned number.
    pub fn u64(&mut self, key: &str, v: u64) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{v}");
        self
    }

    /// Adds a signed number.
    pub fn i64(&mut self, key: &str, v: i64) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{v}");
        self
    }

    /// Adds a boolean.
    pub fn bool(&mut self, key: &str, v: bool) -> &mut Self {
        self.key(key);
        self.out.push_str(if v { "true" } else { "false" });
        self
    }

    /// Adds a string.
    pub fn str(&mut self, key: &str, v: &str) -> &mut Self {
        self.key(key);
        string(&mut self.out, v);
        self
    }

    /// Adds bytes as a string, invalid UTF-8 replaced by U+FFFD.
    pub fn bytes(&mut self, key: &str, v: &[u8]) -> &mut Self {
        self.str(key, &String::from_utf8_lossy(v))
    }

    /// Closes the object and returns the text (no trailing newline).
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// Appends `s` as a JSON string literal.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            // Other controls, and DEL plus the two line separators that break JavaScript
            // parsers of JSON lines.
            c if c < ' ' || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Adds the `comm` and every numeric field the struct carries, under their kernel names.
pub fn taskstats_fields(j: &mut Json, stats: &Taskstats<'_>) {
    if let Some(comm) = stats.comm() {
        j.bytes("ac_comm", comm);
    }
    for (field, _) in stats.fields() {
        match stats.value(field) {
            Some(Value::Signed(v)) => j.i64(field.name(), v),
            Some(Value::Unsigned(v)) => j.u64(field.name(), v),
            None => j,
        };
    }
    if stats.is_truncated() {
        j.bool("truncated", true);
    }
}

/// One record: `{"type":"pid","id":N,"ac_comm":...,<every field>}`.
pub fn aggregate(kind: &str, agg: &Aggregate<'_>) -> Json {
    let mut j = Json::new();
    j.str("type", kind)
        .u64("id", u64::from(agg.id))
        .u64("len", agg.stats.len() as u64);
    taskstats_fields(&mut j, &agg.stats);
    j
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

    #[test]
    fn invalid_utf8_is_replaced() {
        let mut j = Json::new();
        j.bytes("comm", b"ab\xffc");
        assert_eq!(j.finish(), "{\"comm\":\"ab\u{fffd}c\"}");
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
}
