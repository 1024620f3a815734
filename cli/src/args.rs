//! Command-line parsing by hand: a small scanner for `--long[=value]` options and the
//! value parsers every command shares. No parser library: the binary has a size budget.

use std::ffi::OsString;

use crate::failure::Failure;

/// The largest pid the kernel can hand out (PID_MAX_LIMIT on 64-bit systems).
pub const PID_MAX_LIMIT: u32 = 4 * 1024 * 1024;

/// Output format of a command. Each command takes the formats it can print (see
/// [`parse_format`]): every command text and JSON, `decode` also CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per record.
    Json,
    /// Comma-separated values, records only.
    Csv,
}

impl Format {
    /// Every format.
    pub const ALL: &[Format] = &[Format::Text, Format::Json, Format::Csv];
    /// What the board commands print.
    pub const TEXT_JSON: &[Format] = &[Format::Text, Format::Json];

    /// The name `--format` takes.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }

    /// Parses any format's name.
    pub fn parse(s: &str) -> Result<Format, String> {
        parse_format(s, Format::ALL)
    }
}

/// A parsed command line: run the command, or show its help. Every command's parser
/// returns this, so that the command table shows help the same way for all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// Run with these options.
    Run(T),
    /// `--help` or `-h` was given.
    Help,
}

/// One command-line item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// `--name` or `--name=value` (the value is kept for [`Args::value`]).
    Long(String, Option<String>),
    /// `-x`.
    Short(char),
    /// Anything not starting with `-`, or a lone `-`.
    Positional(OsString),
    /// `--`: everything after it is positional.
    Separator,
}

impl Arg {
    /// `-h` or `--help` (without a value): the request for help every command takes.
    pub fn is_help(&self) -> bool {
        matches!(self, Arg::Short('h')) || matches!(self, Arg::Long(n, None) if n == "help")
    }
}

/// A scanner over one command's arguments.
#[derive(Debug)]
pub struct Args {
    cmd: &'static str,
    items: std::vec::IntoIter<OsString>,
    /// Where the first items came from (`FILE:LINE`, a variable's name): the items of a
    /// config file and the environment, put before the command line's by
    /// `crate::config`. Each is one whole `--name[=value]`.
    #[cfg(any(test, feature = "config"))]
    origins: Vec<String>,
    /// The index of the item scanned last.
    current: usize,
}

impl Args {
    /// Scans `items` (without the program and command names) for command `cmd`.
    pub fn new(cmd: &'static str, items: Vec<OsString>) -> Args {
        Args {
            cmd,
            items: items.into_iter(),
            #[cfg(any(test, feature = "config"))]
            origins: Vec::new(),
            current: usize::MAX,
        }
    }

    /// As [`Args::new`], the first `origins.len()` items coming from where `origins` say:
    /// a usage error while they are scanned names its origin.
    #[cfg(any(test, feature = "config"))]
    pub fn with_origins(cmd: &'static str, items: Vec<OsString>, origins: Vec<String>) -> Args {
        Args {
            cmd,
            items: items.into_iter(),
            origins,
            current: usize::MAX,
        }
    }

    fn take(&mut self) -> Option<OsString> {
        self.current = self.current.wrapping_add(1);
        self.items.next()
    }

    /// The next item, or None at the end.
    pub fn next_arg(&mut self) -> Result<Option<Arg>, Failure> {
        let Some(item) = self.take() else {
            return Ok(None);
        };
        let Some(text) = item.to_str() else {
            return Ok(Some(Arg::Positional(item)));
        };
        if text == "--" {
            return Ok(Some(Arg::Separator));
        }
        if let Some(long) = text.strip_prefix("--") {
            return Ok(Some(match long.split_once('=') {
                Some((name, value)) => Arg::Long(name.to_owned(), Some(value.to_owned())),
                None => Arg::Long(long.to_owned(), None),
            }));
        }
        if let Some(short) = text.strip_prefix('-') {
            let mut chars = short.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                return Ok(Some(Arg::Short(c)));
            }
            if !short.is_empty() {
                return Err(self.usage(format!("unknown option '{text}'")));
            }
        }
        Ok(Some(Arg::Positional(item)))
    }

    /// The value of option `--name`: the `=value` part, or the next argument.
    pub fn value(&mut self, name: &str, inline: Option<String>) -> Result<String, Failure> {
        if let Some(v) = inline {
            return Ok(v);
        }
        // A config line or a variable is one item: its value is never the next one.
        #[cfg(any(test, feature = "config"))]
        if self.origins.get(self.current).is_some() {
            return Err(self.usage(format!("--{name} needs a value")));
        }
        match self.take() {
            Some(v) => v.into_string().map_err(|v| {
                self.usage(format!("--{name}: '{}' is not UTF-8", v.to_string_lossy()))
            }),
            None => Err(self.usage(format!("--{name} needs a value"))),
        }
    }

    /// Fails when a flag that takes no value was given one (`--io=yes`).
    pub fn no_value(&self, name: &str, inline: Option<String>) -> Result<(), Failure> {
        match inline {
            None => Ok(()),
            Some(_) => Err(self.usage(format!("--{name} takes no value"))),
        }
    }

    /// Everything not yet scanned.
    pub fn rest(self) -> Vec<OsString> {
        self.items.collect()
    }

    /// A usage error of this command, naming the config line or variable of the item
    /// scanned last if it came from one.
    pub fn usage(&self, msg: impl Into<String>) -> Failure {
        #[cfg(any(test, feature = "config"))]
        if let Some(origin) = self.origins.get(self.current) {
            return Failure::usage(self.cmd, format!("{origin}: {}", msg.into()));
        }
        Failure::usage(self.cmd, msg)
    }

    /// The usage error for an item this command does not take.
    pub fn unexpected(&self, arg: &Arg) -> Failure {
        self.usage(match arg {
            Arg::Long(name, _) => format!("unknown option '--{name}'"),
            Arg::Short(c) => format!("unknown option '-{c}'"),
            Arg::Positional(p) => format!("unexpected argument '{}'", p.to_string_lossy()),
            Arg::Separator => "unexpected '--'".to_owned(),
        })
    }
}

/// Parses a pid or tgid: decimal, 1 to [`PID_MAX_LIMIT`].
pub fn parse_pid(s: &str, what: &str) -> Result<u32, String> {
    if let Some(rest) = s.strip_prefix('-') {
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("invalid {what} '{s}': must not be negative"));
        }
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid {what} '{s}': not a decimal number"));
    }
    match s.parse::<u64>() {
        Ok(0) => Err(format!("invalid {what} '{s}': must be at least 1")),
        Ok(n) if n <= u64::from(PID_MAX_LIMIT) => Ok(n as u32),
        _ => Err(format!(
            "invalid {what} '{s}': above the kernel's limit of {PID_MAX_LIMIT}"
        )),
    }
}

/// Parses a positive count.
pub fn parse_count(s: &str, what: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err(format!("invalid {what} '{s}': must be at least 1")),
        Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!(
            "invalid {what} '{s}': not a positive decimal number"
        )),
    }
}

/// Parses a byte size: decimal with an optional K, M or G suffix (powers of 1024), from 1
/// byte up to what the kernel's `int` socket options hold.
pub fn parse_bytes(s: &str, what: &str) -> Result<usize, String> {
    let (digits, shift) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let bad = || format!("invalid {what} '{s}': expected bytes such as 262144, 256K or 4M");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = digits.parse::<u64>().map_err(|_| bad())?;
    let bytes = n
        .checked_mul(1u64 << shift)
        .filter(|&b| b <= i32::MAX as u64);
    match bytes {
        Some(0) => Err(format!("invalid {what} '{s}': must be at least 1 byte")),
        Some(b) => usize::try_from(b).map_err(|_| bad()),
        None => Err(format!(
            "invalid {what} '{s}': above the kernel's limit of {}",
            i32::MAX
        )),
    }
}

/// The shortest period [`parse_period_ms`] takes, ms: shorter ones measure a sweep of the
/// tasks more than the tasks.
pub const MIN_PERIOD_MS: u64 = 100;
/// The longest period [`parse_period_ms`] takes, ms: a day.
pub const MAX_PERIOD_MS: u64 = 86_400_000;

/// Parses seconds with up to three decimals ("2", "0.5", "1.25") as ms, from
/// [`MIN_PERIOD_MS`] to [`MAX_PERIOD_MS`] (`top --interval`, `stream --sample`).
pub fn parse_period_ms(s: &str, what: &str) -> Result<u64, String> {
    let bad = || format!("invalid {what} '{s}': seconds such as 2 or 0.5");
    // Cut at the '.' by position: a byte search, not str's char searcher.
    let (int, frac) = match s.bytes().position(|b| b == b'.') {
        Some(at) => (&s[..at], &s[at + 1..]),
        None => (s, ""),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) || frac.len() > 3 {
        return Err(bad());
    }
    let secs: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let mut ms_frac = 0u64;
    for (i, b) in frac.bytes().enumerate() {
        ms_frac += u64::from(b - b'0') * [100, 10, 1][i];
    }
    let ms = secs
        .checked_mul(1000)
        .and_then(|m| m.checked_add(ms_frac))
        .ok_or_else(bad)?;
    if !(MIN_PERIOD_MS..=MAX_PERIOD_MS).contains(&ms) {
        return Err(format!(
            "invalid {what} '{s}': between 0.1 and 86400 seconds"
        ));
    }
    Ok(ms)
}

/// Parses the name of one of the formats a command `accepts`; the error names them all.
pub fn parse_format(s: &str, accepts: &[Format]) -> Result<Format, String> {
    if let Some(&f) = accepts.iter().find(|f| f.name() == s) {
        return Ok(f);
    }
    let mut expected = String::new();
    for (i, f) in accepts.iter().enumerate() {
        expected.push_str(match i {
            0 => "",
            i if i + 1 == accepts.len() => " or ",
            _ => ", ",
        });
        expected.push_str(f.name());
    }
    Err(format!("invalid format '{s}': expected {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Args {
        Args::new("get", v.iter().map(OsString::from).collect())
    }

    #[test]
    fn scanner_splits_long_short_and_positional() {
        let mut a = args(&["--pid=5", "--io", "-h", "x", "--", "-y"]);
        assert_eq!(
            a.next_arg().unwrap(),
            Some(Arg::Long("pid".into(), Some("5".into())))
        );
        assert_eq!(a.next_arg().unwrap(), Some(Arg::Long("io".into(), None)));
        assert_eq!(a.next_arg().unwrap(), Some(Arg::Short('h')));
        assert_eq!(a.next_arg().unwrap(), Some(Arg::Positional("x".into())));
        assert_eq!(a.next_arg().unwrap(), Some(Arg::Separator));
        assert_eq!(a.rest(), vec![OsString::from("-y")]);
    }

    #[test]
    fn help_is_short_or_long_without_value() {
        assert!(Arg::Short('h').is_help());
        assert!(Arg::Long("help".into(), None).is_help());
        assert!(!Arg::Long("help".into(), Some("x".into())).is_help());
        assert!(!Arg::Short('H').is_help());
    }

    #[test]
    fn value_from_next_argument_or_missing() {
        let mut a = args(&["7"]);
        assert_eq!(a.value("pid", None).unwrap(), "7");
        let e = a.value("pid", None).unwrap_err();
        assert!(e.to_string().contains("--pid needs a value"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn clustered_short_options_are_unknown() {
        let e = args(&["-xyz"]).next_arg().unwrap_err();
        assert!(e.to_string().contains("unknown option '-xyz'"), "{e}");
    }

    #[test]
    fn pids() {
        assert_eq!(parse_pid("1", "pid"), Ok(1));
        assert_eq!(parse_pid("4194304", "pid"), Ok(4_194_304));
        for (bad, why) in [
            ("0", "at least 1"),
            ("-3", "negative"),
            ("abc", "not a decimal"),
            ("", "not a decimal"),
            ("+5", "not a decimal"),
            (" 5", "not a decimal"),
            ("4194305", "limit"),
            ("99999999999999999999999", "limit"),
        ] {
            let e = parse_pid(bad, "pid").unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn counts_and_sizes() {
        assert_eq!(parse_count("3", "count"), Ok(3));
        assert!(parse_count("0", "count").is_err());
        assert!(parse_count("-1", "count").is_err());
        assert!(parse_count("+1", "count").is_err());
        assert_eq!(parse_bytes("4096", "rcvbuf"), Ok(4096));
        assert_eq!(parse_bytes("256K", "rcvbuf"), Ok(256 * 1024));
        assert_eq!(parse_bytes("4m", "rcvbuf"), Ok(4 << 20));
        for bad in ["", "K", "0", "2G", "1.5M", "-4", "12Q"] {
            assert!(parse_bytes(bad, "rcvbuf").is_err(), "{bad}");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(parse_format("json", Format::TEXT_JSON), Ok(Format::Json));
        assert_eq!(parse_format("text", Format::TEXT_JSON), Ok(Format::Text));
        assert!(parse_format("JSON", Format::TEXT_JSON).is_err());
        assert_eq!(
            parse_format("csv", Format::TEXT_JSON).unwrap_err(),
            "invalid format 'csv': expected text or json"
        );
        assert_eq!(
            parse_format("xml", Format::ALL).unwrap_err(),
            "invalid format 'xml': expected text, json or csv"
        );
        assert_eq!(Format::parse("csv"), Ok(Format::Csv));
    }
}
