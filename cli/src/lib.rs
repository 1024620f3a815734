//! What every taskwire command stands on, on the board (`taskwire` built by `cross/build`)
//! and on the host (the same binary with `decode`): the argument scanner and its value
//! parsers ([`args`]), failures and exit codes ([`failure`]), the paragraphs every
//! `--help` shares ([`help`]), text and JSON output ([`output`]), stop signals
//! ([`signals`]), serial lines ([`serial`]), the endpoint specs both sides parse
//! ([`endpoint`]) and the interactive terminal of a live screen ([`term`]). Nothing here
//! knows a command. Every libc call of the workspace is in [`sys`], the one module allowed
//! `unsafe`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
#[cfg(any(test, feature = "config"))]
pub mod config;
pub mod endpoint;
pub mod failure;
pub mod help;
pub mod key;
pub mod output;
pub mod said;
pub mod serial;
pub mod signals;
pub mod sys;
pub mod term;
pub mod textfile;

pub use failure::{EXIT_RUNTIME, EXIT_USAGE, Failure};
