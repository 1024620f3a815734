//! `taskwire run`: run a command and report its statistics, taken before it is reaped.
//!
//! As getdelays -c does: wait with WEXITED|WNOWAIT so the exited child stays a zombie whose
//! statistics the kernel still serves, query its pid, then reap it.

use rustix::io::Errno;
use std::ffi::OsString;

use rustix::process::WaitIdStatus;

use crate::client::{Client, Target};
use crate::delayacct;
use crate::flags::Flags;
use crate::report::{pick, render};
use crate::spawn::{self, NotStarted};
use taskwire_cli::args::{Arg, Args, Format, Parsed};
use taskwire_cli::help::{EXIT_STATUS, PRIVILEGE};
use taskwire_cli::output::text::Sections;
use taskwire_cli::signals;
use taskwire_cli::{EXIT_RUNTIME, Failure};

/// Options of `taskwire run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opts {
    /// Also print I/O accounting.
    pub io: bool,
    /// Also print context switch counts.
    pub ctxsw: bool,
    /// Output format.
    pub format: Format,
    /// Write 1 to kernel.task_delayacct first.
    pub enable_delayacct: bool,
    /// The command and its arguments (never empty).
    pub command: Vec<OsString>,
}

/// Parses `run` arguments: options, then the command (after `--` or the first non-option).
pub fn parse(items: Vec<OsString>) -> Result<Parsed<Opts>, Failure> {
    let mut args = Args::new("run", items);
    let mut flags = Flags::default();
    let mut command = Vec::new();
    while let Some(arg) = args.next_arg()? {
        match arg {
            a if a.is_help() => return Ok(Parsed::Help),
            Arg::Long(name, v) => {
                if !flags.take(&mut args, &name, v.clone())? {
                    return Err(args.unexpected(&Arg::Long(name, v)));
                }
            }
            Arg::Separator => break,
            Arg::Positional(first) => {
                command.push(first);
                break;
            }
            a @ Arg::Short(_) => return Err(args.unexpected(&a)),
        }
    }
    command.extend(args.rest());
    if command.is_empty() {
        return Err(Failure::usage(
            "run",
            "no command given (usage: taskwire run -- CMD ARGS...)",
        ));
    }
    Ok(Parsed::Run(Opts {
        io: flags.io,
        ctxsw: flags.ctxsw,
        format: flags.format,
        enable_delayacct: flags.enable_delayacct,
        command,
    }))
}

/// `taskwire run --help`.
pub fn help() -> String {
    format!(
        "Usage: taskwire run [--io] [--ctxsw] [--format text|json] [--enable-delayacct]\n\
         \x20                   [--] CMD [ARGS...]\n\n\
         Runs CMD, takes its statistics after it exits but before it is reaped (as\n\
         getdelays -c does), prints them, and exits with CMD's own status: its exit code,\n\
         or 128+N when signal N killed it. Ctrl-C and Ctrl-\\ reach CMD; taskwire waits to\n\
         report. If the statistics cannot be taken, taskwire says why and exits 1 when CMD\n\
         succeeded, or with CMD's status when CMD failed. A CMD that cannot be started\n\
         exits 127 (not found) or 126 (not executable).\n\n\
         Options:\n\
         \x20 --io                 also print storage I/O bytes\n\
         \x20 --ctxsw              also print context switch counts\n\
         \x20 --format text|json   output format (printed to stdout)\n\
         \x20 --enable-delayacct   set kernel.task_delayacct=1 before starting CMD\n\
         \x20 -h, --help           this text\n\n{PRIVILEGE}\n{EXIT_STATUS}"
    )
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// exit(code).
    Exited(i32),
    /// Killed by this signal.
    Killed(i32),
}

impl Ended {
    /// The status taskwire exits with: the code, or 128 + signal.
    pub fn code(self) -> i32 {
        match self {
            Ended::Exited(c) => c,
            Ended::Killed(s) => 128 + s,
        }
    }

    fn describe(self) -> String {
        match self {
            Ended::Exited(c) => format!("exited {c}"),
            Ended::Killed(s) => format!("killed by {} ({s})", signals::name(s)),
        }
    }

    fn from_status(st: &WaitIdStatus) -> Ended {
        match (st.exit_status(), st.terminating_signal()) {
            (_, Some(sig)) => Ended::Killed(sig),
            (Some(code), None) => Ended::Exited(code),
            // waitid(WEXITED) only reports exits and kills.
            (None, None) => Ended::Exited(EXIT_RUNTIME),
        }
    }
}

/// Runs `taskwire run`.
pub fn main(opts: Opts) -> Result<i32, Failure> {
    if opts.enable_delayacct {
        delayacct::enable().map_err(Failure::Runtime)?;
    }
    let mut client = Client::connect()?;
    // Ask about ourselves first: a missing privilege is reported before the command runs,
    // not after it has done its work.
    client.get(Target::Pid(std::process::id()))?;
    delayacct::prepare(false, &mut taskwire_cli::output::Stderr).map_err(Failure::Runtime)?;

    let Some((program, args)) = opts.command.split_first() else {
        return Err(Failure::usage("run", "no command given"));
    };
    let (child, waited) = match spawn::run_to_exit(program, args) {
        Ok(started) => started,
        Err(NotStarted::Setup(f)) => return Err(f),
        Err(NotStarted::Exec(e)) => {
            let name = program.to_string_lossy();
            // ENOENT: `io::ErrorKind::NotFound`, told by the errno (the spawn's own
            // refusals are of other kinds).
            let (code, why) = match e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) {
                true => (127, "command not found".to_owned()),
                false => (126, e.to_string()),
            };
            taskwire_cli::output::eprintln(format_args!("taskwire run: {name}: {why}"));
            return Ok(code);
        }
    };
    let pid = child.id();
    // The report is built while the child is a zombie, then the child is reaped whatever
    // happened, so that no zombie outlives a failed query.
    let report = waited.and_then(|st| {
        let ended = st
            .as_ref()
            .map_or(Ended::Exited(EXIT_RUNTIME), Ended::from_status);
        report(&mut client, pid, ended, &opts).map(|text| (text, ended))
    });
    let reaped = child.reap();
    match (report, reaped) {
        (Ok((text, ended)), _) => {
            taskwire_cli::output::print(&text)?;
            Ok(ended.code())
        }
        (Err(e), Ok(status)) => {
            taskwire_cli::output::eprintln(format_args!("taskwire run: {e}"));
            let code = status
                .as_ref()
                .map_or(EXIT_RUNTIME, |st| Ended::from_status(st).code());
            Ok(if code == 0 { EXIT_RUNTIME } else { code })
        }
        (Err(e), Err(_)) => Err(e),
    }
}

fn report(client: &mut Client, pid: u32, ended: Ended, opts: &Opts) -> Result<String, Failure> {
    let reply = client.get(Target::Pid(pid))?;
    let Some((kind, agg)) = pick(&reply, Target::Pid(pid)) else {
        return Err(Failure::Runtime(
            "the kernel's reply lacks the record asked for".into(),
        ));
    };
    let sections = Sections {
        io: opts.io,
        ctxsw: opts.ctxsw,
    };
    Ok(render(
        kind,
        &agg,
        opts.format,
        sections,
        Some((ended.code(), &ended.describe())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::test_args::{usage_msg, v};

    #[test]
    fn run_takes_the_command_after_options() {
        let Parsed::Run(o) = parse(v(&["--io", "--", "sh", "-c", "exit 3"])).unwrap() else {
            panic!()
        };
        assert!(o.io);
        assert_eq!(o.command, v(&["sh", "-c", "exit 3"]));
        // Without `--`, the first positional starts the command and options after it are
        // the command's own.
        let Parsed::Run(o) = parse(v(&["ls", "--io"])).unwrap() else {
            panic!()
        };
        assert!(!o.io);
        assert_eq!(o.command, v(&["ls", "--io"]));
        assert!(usage_msg(parse(v(&["--io"]))).contains("no command"));
        assert!(usage_msg(parse(v(&["--io", "--"]))).contains("no command"));
    }

    #[test]
    fn help_documents_exit_codes() {
        let text = help();
        assert!(text.contains("2  usage error"), "{text}");
        assert!(text.contains("CAP_NET_ADMIN"), "{text}");
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(Ended::Exited(3).code(), 3);
        assert_eq!(Ended::Killed(9).code(), 137);
        assert_eq!(Ended::Killed(15).describe(), "killed by SIGTERM (15)");
        assert_eq!(Ended::Exited(0).describe(), "exited 0");
    }
}
