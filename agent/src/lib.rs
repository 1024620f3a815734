//! taskwire on a board: per-task delay and exit accounting from the Linux taskstats
//! interface, and the record stream that carries it to a host.
//!
//! Layers, bottom up: [`socket`] (the only module making netlink system calls), [`client`]
//! (request/ACK exchanges matched by sequence number, family resolution), [`listener`] (the
//! register -> receive -> decode -> consume -> deregister loop any record consumer reuses),
//! then the commands in [`cmd`], each one module with its options, help and run. What two
//! commands share is a module of its own: [`flags`], [`report`], [`cgroupdir`], [`spawn`],
//! [`printer`]; getdelays' text layout is [`getdelays_layout`]. What the host's `decode`
//! shares with them (arguments, failures, help paragraphs, output, serial lines, signals) is
//! the `taskwire-cli` crate; `decode` itself is `taskwire-collector`, linked only into the
//! host build (feature `decode`).
#![deny(unsafe_code)]

pub mod cgroupdir;
pub mod client;
pub mod cmd;
pub mod cpus;
pub mod delayacct;
pub mod errors;
pub mod flags;
pub mod getdelays_layout;
pub mod listener;
pub mod live;
pub mod printer;
pub mod probe;
pub mod procfs;
pub mod report;
pub mod socket;
pub mod spawn;
pub mod stream;
pub mod sweep;

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::Path;

use taskwire_cli::output::print;
use taskwire_cli::{EXIT_USAGE, Failure};

/// Commands of the host build that a board build leaves out.
const HOST_ONLY: &[&str] = &["decode", "report"];
/// Every board command, whether this build has it or not (cargo features of the same name).
const BOARD_COMMANDS: &[&str] = &[
    "get",
    "run",
    "listen",
    "stream",
    "check",
    "top",
    "cgroup",
    "getdelays",
];

/// Why `name`, a taskwire command this build does not have, is missing; `None` for a
/// name that is no taskwire command at all.
fn missing(name: &str) -> Option<String> {
    if HOST_ONLY.contains(&name) {
        Some(format!(
            "'{name}' is a host command and this is a board build without it: run \
             `taskwire {name}` on the host build (cargo build -p taskwire)"
        ))
    } else if BOARD_COMMANDS.contains(&name) {
        Some(format!(
            "'{name}' is not in this build: build it with its feature (cross/build with \
             CROSS_FEATURES including {name}, or the default features)"
        ))
    } else {
        None
    }
}

/// Runs the command line (`argv0` and the rest) and returns the exit status.
pub fn dispatch(argv0: &OsStr, mut args: Vec<OsString>) -> i32 {
    if Path::new(argv0).file_name() == Some(OsStr::new("getdelays")) {
        return match cmd::find("getdelays") {
            Some(c) => finish("getdelays", (c.main)(args)),
            None => finish(
                "getdelays",
                Err(Failure::usage(
                    "getdelays",
                    missing("getdelays").unwrap_or_default(),
                )),
            ),
        };
    }
    if args.is_empty() {
        let _ = taskwire_cli::output::Stderr.write_all(cmd::overview().as_bytes());
        return EXIT_USAGE;
    }
    let first = args.remove(0);
    match first.to_str() {
        Some("-h" | "--help") => finish("taskwire", print(&cmd::overview()).map(|()| 0)),
        Some("-V" | "--version") => finish(
            "taskwire",
            print(&format!("taskwire {}\n", env!("CARGO_PKG_VERSION"))).map(|()| 0),
        ),
        Some("help") => {
            let topic = args.first().and_then(|a| a.to_str()).and_then(cmd::find);
            match topic {
                Some(c) => finish(c.name, (c.main)(vec!["--help".into()])),
                None => finish("taskwire", print(&cmd::overview()).map(|()| 0)),
            }
        }
        Some(name) => match cmd::find(name) {
            Some(c) => finish(c.name, (c.main)(args)),
            None => finish(
                "taskwire",
                Err(Failure::usage(
                    "taskwire",
                    missing(name).unwrap_or_else(|| format!("unknown command '{name}'")),
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
            taskwire_cli::output::eprintln(format_args!("{prefix}: {f}"));
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
    fn a_command_left_out_of_the_build_says_where_it_is() {
        assert!(missing("decode").unwrap().contains("host build"));
        assert!(missing("stream").unwrap().contains("CROSS_FEATURES"));
        assert_eq!(missing("frobnicate"), None);
        // Every command of the table is a board command or a host command.
        for c in cmd::COMMANDS {
            assert!(missing(c.name).is_some(), "{}", c.name);
        }
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
