//! The commands, found by name in one table: a new command is one module (its `Opts`,
//! `parse`, `help` and `main`) and one row. Each row is there only with its cargo
//! feature, so a board build carries only the commands it runs: the rest of their code is
//! unreachable and not linked.
//!
//! A command module uses no other command's module: what two commands share lives in a
//! module of its own outside `cmd/` (`report`, `flags`, `cgroupdir`, `spawn`).

pub mod cgroup;
pub mod check;
pub mod get;
pub mod getdelays;
pub mod listen;
pub mod run;
pub mod stream;
#[cfg(test)]
mod test_args;
pub mod top;

use std::ffi::OsString;

use taskwire_cli::Failure;
use taskwire_cli::args::Parsed;
use taskwire_cli::help::{EXIT_STATUS, PRIVILEGE};

/// A command's entry point: its arguments (after its name) in, an exit status out.
pub type Main = fn(Vec<OsString>) -> Result<i32, Failure>;

/// One command.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    /// What the user types.
    pub name: &'static str,
    /// One line for `taskwire --help`.
    pub summary: &'static str,
    /// Entry point: the command's `parse`, then [`start`].
    pub main: Main,
}

/// Every command, in the order `--help` lists them.
pub const COMMANDS: &[Command] = &[
    #[cfg(feature = "get")]
    Command {
        name: "get",
        summary: "statistics of a live task or thread group",
        main: |args| start(get::parse(args)?, get::help, get::main),
    },
    #[cfg(feature = "run")]
    Command {
        name: "run",
        summary: "run a command and report its statistics",
        main: |args| start(run::parse(args)?, run::help, run::main),
    },
    #[cfg(feature = "listen")]
    Command {
        name: "listen",
        summary: "print exit records as tasks exit",
        main: |args| start(listen::parse(args)?, listen::help, listen::main),
    },
    #[cfg(feature = "check")]
    Command {
        name: "check",
        summary: "what this kernel and process lack for the agent, as a checklist",
        main: |args| start(check::parse(args)?, check::help, check::main),
    },
    #[cfg(feature = "stream")]
    Command {
        name: "stream",
        summary: "send exit records to a UART, socket or file as a framed stream",
        main: |args| start(stream::parse_configured(args)?, stream::help, stream::main),
    },
    #[cfg(feature = "top")]
    Command {
        name: "top",
        summary: "live tasks: CPU, delays and IO per interval, with system pressure",
        main: |args| start(top::parse(args)?, top::help, top::main),
    },
    #[cfg(feature = "cgroup")]
    Command {
        name: "cgroup",
        summary: "task counts of a cgroup v1 directory",
        main: |args| start(cgroup::parse(args)?, cgroup::help, cgroup::main),
    },
    #[cfg(feature = "decode")]
    Command {
        name: "decode",
        summary: "decode a record stream from boards (serial, TCP, file)",
        main: |args| {
            use taskwire_collector::command as decode;
            start(decode::parse(args)?, decode::help, decode::main)
        },
    },
    #[cfg(feature = "decode")]
    Command {
        name: "report",
        summary: "a recorded stream as one HTML page: charts of exits, delays, losses",
        main: |args| {
            use taskwire_collector::report::command as report;
            start(report::parse(args)?, report::help, report::main)
        },
    },
    #[cfg(feature = "getdelays")]
    Command {
        name: "getdelays",
        summary: "the kernel's getdelays tool (same options and layout)",
        main: |args| start(getdelays::parse(args)?, getdelays::help, getdelays::main),
    },
];

/// Runs a parsed command line, or prints the command's help on stdout (help is the
/// command's successful output): the one way every command answers `--help`.
pub fn start<T>(
    parsed: Parsed<T>,
    help: fn() -> String,
    main: fn(T) -> Result<i32, Failure>,
) -> Result<i32, Failure> {
    match parsed {
        Parsed::Help => taskwire_cli::output::help(&help()),
        Parsed::Run(opts) => main(opts),
    }
}

/// The command called `name`.
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// `taskwire --help`: the commands of this build.
pub fn overview() -> String {
    let summaries: Vec<_> = COMMANDS.iter().map(|c| (c.name, c.summary)).collect();
    overview_of(&summaries)
}

fn overview_of(commands: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "taskwire: per-task delay and exit accounting from the Linux taskstats interface\n\n\
         Usage: taskwire COMMAND [OPTIONS]\n       taskwire --help | --version\n\nCommands:\n",
    );
    for (name, summary) in commands {
        s.push_str(&format!("  {name:<10} {summary}\n"));
    }
    s.push_str(
        "\nRun `taskwire COMMAND --help` for a command's options. Invoked as `getdelays`,\n\
         taskwire behaves like the kernel's getdelays tool.\n\n",
    );
    s.push_str(PRIVILEGE);
    s.push('\n');
    s.push_str(EXIT_STATUS);
    s
}

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

    #[test]
    fn overview_documents_exit_codes() {
        let text = overview_of(&[("get", "x")]);
        assert!(text.contains("2  usage error"), "{text}");
        assert!(text.contains("CAP_NET_ADMIN"), "{text}");
    }

    #[test]
    fn main_help_lists_commands() {
        let text = overview_of(&[("get", "query one task"), ("listen", "exit records")]);
        assert!(text.contains("  get        query one task\n"), "{text}");
        assert!(text.contains("  listen     exit records\n"), "{text}");
    }
}
