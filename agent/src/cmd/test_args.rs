//! What the commands' option tests share: argument vectors from string slices, and the
//! message of a usage error.

use std::ffi::OsString;

use taskwire_cli::Failure;
use taskwire_cli::args::Parsed;

/// `items` as a command's arguments.
pub fn v(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

/// The message of a usage error, checking that it is one (exit status 2).
pub fn usage_msg<T: std::fmt::Debug>(r: Result<Parsed<T>, Failure>) -> String {
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    e.to_string()
}
