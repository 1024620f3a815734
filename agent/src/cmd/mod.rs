//! The commands, found by name in one table: a new command is one module and one row.
//! Each row is there only with its cargo feature, so a board build carries only the
//! commands it runs: the rest of their code is unreachable and not linked.

pub mod cgroup;
pub mod get;
pub mod listen;
pub mod run;
pub mod stream;

use std::ffi::OsString;

use taskwire_cli::Failure;

/// A command's entry point: its arguments (after its name) in, an exit status out.
pub type Main = fn(Vec<OsString>) -> Result<i32, Failure>;

/// One command.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    /// What the user types.
    pub name: &'static str,
    /// One line for `taskwire --help`.
    pub summary: &'static str,
    /// Entry point.
    pub main: Main,
}

/// Every command, in the order `--help` lists them.
pub const COMMANDS: &[Command] = &[
    #[cfg(feature = "get")]
    Command {
        name: "get",
        summary: "statistics of a live task or thread group",
        main: get::main,
    },
    #[cfg(feature = "run")]
    Command {
        name: "run",
        summary: "run a command and report its statistics",
        main: run::main,
    },
    #[cfg(feature = "listen")]
    Command {
        name: "listen",
        summary: "print exit records as tasks exit",
        main: listen::main,
    },
    #[cfg(feature = "stream")]
    Command {
        name: "stream",
        summary: "send exit records to a UART, socket or file as a framed stream",
        main: stream::main,
    },
    #[cfg(feature = "cgroup")]
    Command {
        name: "cgroup",
        summary: "task counts of a cgroup v1 directory",
        main: cgroup::main,
    },
    #[cfg(feature = "decode")]
    Command {
        name: "decode",
        summary: "decode a record stream from boards (serial, TCP, file)",
        main: taskwire_collector::command::main,
    },
    #[cfg(feature = "getdelays")]
    Command {
        name: "getdelays",
        summary: "the kernel's getdelays tool (same options and layout)",
        main: crate::getdelays::main,
    },
];

/// The command called `name`.
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

pub use taskwire_cli::output::{help, print};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for c in COMMANDS {
            assert_eq!(find(c.name).map(|f| f.name), Some(c.name));
            assert_eq!(COMMANDS.iter().filter(|d| d.name == c.name).count(), 1);
        }
        assert!(find("nope").is_none());
    }
}
