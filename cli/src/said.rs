//! An `io::Error` that carries one of our messages. `io::Error::new(kind, "text")` and
//! `io::Error::other(String)` box the text as std's private `StringError`, whose `Debug`
//! is `str`'s escaping `Debug`: with it come the Unicode printable and grapheme tables
//! (about 3 KiB on a board), even in a build whose `{:?}` prints nothing. [`Said`] shows
//! its text as it is, in `Display` and `Debug` alike.

use std::borrow::Cow;
use std::fmt;
use std::io;

/// A message, as the error inside an `io::Error`.
pub struct Said(pub Cow<'static, str>);

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Said {}

/// An `io::Error` of `kind` that says `msg` (what `io::Error::new(kind, msg)` says).
pub fn error(kind: io::ErrorKind, msg: impl Into<Cow<'static, str>>) -> io::Error {
    io::Error::new(kind, Said(msg.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_std_would() {
        let e = error(io::ErrorKind::InvalidInput, "an argument holds a NUL");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(e.to_string(), "an argument holds a NUL");
        let e = error(io::ErrorKind::Other, format!("{} baud", 7));
        assert_eq!(e.to_string(), "7 baud");
    }
}
