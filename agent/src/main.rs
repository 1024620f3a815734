//! taskwire: per-task delay and exit accounting from the Linux taskstats interface.
//!
//! Layers, bottom up: `socket` (the only module making socket system calls), `client`
//! (request/ACK exchanges matched by sequence number, family resolution), `listener` (the
//! register -> receive -> decode -> consume -> deregister loop any record consumer reuses),
//! then the commands in `cmd/` and `getdelays`, which parse their options (`cli/`), render
//! records (`output/`) and map failures to messages and exit codes (`errors`).
#![deny(unsafe_code)]

mod cli;
mod client;
mod cmd;
mod cpus;
#[cfg(feature = "decode")]
mod decode;
mod delayacct;
mod errors;
mod getdelays;
mod listener;
mod output;
mod signals;
mod socket;
mod spawn;
mod stream;
#[cfg(test)]
mod testdata;
mod threadname;

use std::ffi::{OsStr, OsString};
use std::path::Path;

use errors::{EXIT_USAGE, Failure};

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let code = dispatch(&argv0, args.collect());
    std::process::exit(code);
}

/// Runs the command line and returns the exit status.
fn dispatch(argv0: &OsStr, mut args: Vec<OsString>) -> i32 {
    if Path::new(argv0).file_name() == Some(OsStr::new("getdelays")) {
        return finish("getdelays", getdelays::main(args));
    }
    if args.is_empty() {
        eprint!("{}", cli::help::main(&summaries()));
        return EXIT_USAGE;
    }
    let first = args.remove(0);
    match first.to_str() {
        Some("-h" | "--help") => finish("taskwire", cmd::help(&cli::help::main(&summaries()))),
        Some("-V" | "--version") => finish(
            "taskwire",
            cmd::print(&format!("taskwire {}\n", env!("CARGO_PKG_VERSION"))).map(|()| 0),
        ),
        Some("help") => {
            let topic = args.first().and_then(|a| a.to_str()).and_then(cmd::find);
            match topic {
                Some(c) => finish(c.name, (c.main)(vec!["--help".into()])),
                None => finish("taskwire", cmd::help(&cli::help::main(&summaries()))),
            }
        }
        Some(name) => match cmd::find(name) {
            Some(c) => finish(c.name, (c.main)(args)),
            None => finish(
                "taskwire",
                Err(Failure::usage(
                    "taskwire",
                    format!("unknown command '{name}'"),
                )),
            ),
        },
        None => finish(
            "taskwire",
            Err(Failure::usage(
                "taskwire",
                format!("unknown command '{}'", first.to_string_lossy()),
            )),
        ),
    }
}

fn summaries() -> Vec<(&'static str, &'static str)> {
    cmd::COMMANDS.iter().map(|c| (c.name, c.summary)).collect()
}

/// Reports a failure on stderr and turns the result into an exit status.
fn finish(name: &str, result: Result<i32, Failure>) -> i32 {
    match result {
        Ok(code) => code,
        Err(f) => {
            let prefix = if name == "taskwire" || name == "getdelays" {
                name.to_owned()
            } else {
                format!("taskwire {name}")
            };
            eprintln!("{prefix}: {f}");
            f.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_command_is_a_usage_error() {
        assert_eq!(
            dispatch(OsStr::new("taskwire"), vec!["frobnicate".into()]),
            2
        );
        assert_eq!(dispatch(OsStr::new("taskwire"), vec![]), 2);
    }

    #[test]
    fn usage_errors_exit_2_before_touching_the_kernel() {
        let v = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            dispatch(OsStr::new("taskwire"), v(&["get", "--pid", "0"])),
            2
        );
        assert_eq!(
            dispatch(OsStr::new("taskwire"), v(&["listen", "--cpus", "9-"])),
            2
        );
        assert_eq!(
            dispatch(OsStr::new("/usr/bin/getdelays"), v(&["-p", "x"])),
            2
        );
        assert_eq!(dispatch(OsStr::new("getdelays"), v(&["-w", "f"])), 2);
    }
}
