//! `taskwire run`: run a command and report its statistics, taken before it is reaped.
//!
//! As getdelays -c does: wait with WEXITED|WNOWAIT so the exited child stays a zombie whose
//! statistics the kernel still serves, query its pid, then reap it.

use std::ffi::OsString;
use std::io::ErrorKind;

use rustix::process::WaitIdStatus;

use crate::client::{Client, Target};
use crate::delayacct;
use crate::help;
use crate::options::{self, Parsed, RunOpts};
use crate::spawn;
use taskwire_cli::output::text::Sections;
use taskwire_cli::signals;
use taskwire_cli::{EXIT_RUNTIME, Failure};

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

/// Entry point.
pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let opts = match options::run(args)? {
        Parsed::Help => return super::help(&help::run()),
        Parsed::Run(o) => o,
    };
    if opts.enable_delayacct {
        delayacct::enable().map_err(Failure::Runtime)?;
    }
    let mut client = Client::connect()?;
    // Ask about ourselves first: a missing privilege is reported before the command runs,
    // not after it has done its work.
    client.get(Target::Pid(std::process::id()))?;
    delayacct::prepare(false, &mut std::io::stderr()).map_err(Failure::Runtime)?;

    let mask = signals::block(&signals::RUN_SIGNALS)
        .map_err(|e| Failure::Runtime(format!("blocking SIGINT/SIGQUIT: {e}")))?;
    let Some((program, args)) = opts.command.split_first() else {
        return Err(Failure::usage("run", "no command given"));
    };
    let child = match spawn::spawn(program, args, mask) {
        Ok(c) => c,
        Err(e) => {
            let name = program.to_string_lossy();
            let (code, why) = match e.kind() {
                ErrorKind::NotFound => (127, "command not found".to_owned()),
                _ => (126, e.to_string()),
            };
            eprintln!("taskwire run: {name}: {why}");
            return Ok(code);
        }
    };
    let pid = child.id();
    let waited = child
        .wait_exited()
        .map_err(|e| Failure::Runtime(format!("waiting for {pid}: {e}")));
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
            super::print(&text)?;
            Ok(ended.code())
        }
        (Err(e), Ok(status)) => {
            eprintln!("taskwire run: {e}");
            let code = status
                .as_ref()
                .map_or(EXIT_RUNTIME, |st| Ended::from_status(st).code());
            Ok(if code == 0 { EXIT_RUNTIME } else { code })
        }
        (Err(e), Err(_)) => Err(e),
    }
}

fn report(client: &mut Client, pid: u32, ended: Ended, opts: &RunOpts) -> Result<String, Failure> {
    let reply = client.get(Target::Pid(pid))?;
    let Some((agg, tgid)) = super::get::pick(&reply, Target::Pid(pid)) else {
        return Err(Failure::Runtime(
            "the kernel's reply lacks the record asked for".into(),
        ));
    };
    let sections = Sections {
        io: opts.io,
        ctxsw: opts.ctxsw,
    };
    Ok(super::get::render(
        &agg,
        tgid,
        opts.format,
        sections,
        Some((ended.code(), &ended.describe())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(Ended::Exited(3).code(), 3);
        assert_eq!(Ended::Killed(9).code(), 137);
        assert_eq!(Ended::Killed(15).describe(), "killed by SIGTERM (15)");
        assert_eq!(Ended::Exited(0).describe(), "exited 0");
    }
}
