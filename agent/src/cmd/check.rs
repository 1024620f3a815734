//! `taskwire check`: what this kernel and this process lack for the agent, found by
//! probing (a board rarely ships its kernel's .config): the taskstats family, delay
//! accounting and its switch, extended and I/O accounting, pressure stall information,
//! and CAP_NET_ADMIN. A checklist on stdout; exit status 1 when a needed item is missing.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;

use taskwire_cli::Failure;
use taskwire_cli::args::{Args, Parsed};
use taskwire_cli::textfile;
use taskwire_core::taskstats::Field;

use crate::client::{Client, Target};
use crate::delayacct::{self, State};

/// `check` takes no options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opts;

/// Parses `check` arguments: only `--help`.
pub fn parse(items: Vec<OsString>) -> Result<Parsed<Opts>, Failure> {
    let mut args = Args::new("check", items);
    match args.next_arg()? {
        None => Ok(Parsed::Run(Opts)),
        Some(a) if a.is_help() => Ok(Parsed::Help),
        Some(other) => Err(args.unexpected(&other)),
    }
}

/// How an item of the checklist stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// There.
    Ok,
    /// Missing, and the agent needs it.
    Missing,
    /// Missing or off, and the agent works without it (less is measured).
    Warn,
    /// Could not be told (a probe needs what is missing elsewhere).
    Unknown,
}

impl Mark {
    fn label(self) -> &'static str {
        match self {
            Mark::Ok => "[ok]     ",
            Mark::Missing => "[MISSING]",
            Mark::Warn => "[warn]   ",
            Mark::Unknown => "[?]      ",
        }
    }
}

/// CAP_NET_ADMIN's bit in the capability sets of /proc/PID/status.
const CAP_NET_ADMIN: u32 = 12;

/// Whether the `CapEff:` line of a /proc/PID/status text has CAP_NET_ADMIN.
fn has_net_admin(status: &str) -> Option<bool> {
    let hex = taskwire_cli::textfile::trim(status.lines().find_map(|l| l.strip_prefix("CapEff:"))?)
        .as_bytes();
    // The set's bit 12 is in the third hex digit from the right.
    let digit = hex.len().checked_sub(1 + CAP_NET_ADMIN as usize / 4)?;
    if hex.is_empty() || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let nibble = char::from(hex[digit]).to_digit(16)?;
    Some(nibble >> (CAP_NET_ADMIN % 4) & 1 == 1)
}

/// The checklist as it is written: one line per item.
#[derive(Default)]
struct List {
    text: String,
    /// Needed items missing or that could not be told.
    missing: usize,
}

impl List {
    /// `  [mark] what`, then `: detail` when there is one.
    fn item(&mut self, mark: Mark, what: &str, detail: Option<&dyn std::fmt::Display>) {
        if matches!(mark, Mark::Missing | Mark::Unknown) {
            self.missing += 1;
        }
        self.text.push_str("  ");
        self.text.push_str(mark.label());
        self.text.push(' ');
        self.text.push_str(what);
        if let Some(d) = detail {
            let _ = write!(self.text, ": {d}");
        }
        self.text.push('\n');
    }
}

/// The checklist, probed now: its text and the count of needed items missing or unknown.
fn probe() -> (String, usize) {
    let mut list = List::default();
    // Read first: it moves this process's read_char, which the GET below then shows.
    let io = textfile::read(Path::new("/proc/self/io"));
    let cap = textfile::read(Path::new("/proc/self/status"))
        .ok()
        .and_then(|s| has_net_admin(&s));
    match cap {
        Some(true) => list.item(Mark::Ok, "CAP_NET_ADMIN", None),
        Some(false) => list.item(
            Mark::Missing,
            "CAP_NET_ADMIN: not effective (root, AmbientCapabilities or setcap: README)",
            None,
        ),
        None => list.item(
            Mark::Unknown,
            "CAP_NET_ADMIN: /proc/self/status unreadable",
            None,
        ),
    }
    let mut client = Client::connect();
    match &client {
        Ok(_) => list.item(Mark::Ok, "CONFIG_TASKSTATS", None),
        Err(e) => list.item(Mark::Missing, "CONFIG_TASKSTATS", Some(e)),
    }
    let switch = delayacct::read_at(Path::new(delayacct::SYSCTL));
    match switch {
        State::Unknown => list.item(
            Mark::Missing,
            "CONFIG_TASK_DELAY_ACCT: no kernel.task_delayacct (before 5.14: see `taskwire get`)",
            None,
        ),
        _ => list.item(Mark::Ok, "CONFIG_TASK_DELAY_ACCT", None),
    }
    if switch == State::Off {
        list.item(
            Mark::Warn,
            "kernel.task_delayacct = 0: delays read zero (stream --enable-delayacct, or boot \
             with delayacct)",
            None,
        );
    }
    let me = rustix::process::getpid().as_raw_nonzero().get() as u32;
    let xacct = "CONFIG_TASK_XACCT";
    match client.as_mut().map(|c| c.get(Target::Pid(me))) {
        Ok(Ok(r)) => match r.pid.and_then(|a| a.stats.get(Field::ReadChar)) {
            Some(n) if n > 0 => list.item(Mark::Ok, xacct, None),
            _ => list.item(
                Mark::Missing,
                xacct,
                Some(&"a GET of itself shows no bytes read"),
            ),
        },
        Ok(Err(e)) => list.item(Mark::Unknown, xacct, Some(&e)),
        Err(_) => list.item(Mark::Unknown, xacct, Some(&"no taskstats family")),
    }
    match io {
        Ok(_) => list.item(Mark::Ok, "CONFIG_TASK_IO_ACCOUNTING", None),
        Err(e) => list.item(
            Mark::Missing,
            "CONFIG_TASK_IO_ACCOUNTING: /proc/self/io",
            Some(&e),
        ),
    }
    match textfile::read(Path::new("/proc/pressure/cpu")) {
        Ok(_) => list.item(Mark::Ok, "CONFIG_PSI", None),
        Err(e) => list.item(
            Mark::Warn,
            "CONFIG_PSI: no pressure in samples and top (boot with psi=1 if built in): \
             /proc/pressure/cpu",
            Some(&e),
        ),
    }
    (list.text, list.missing)
}

/// Runs `taskwire check`.
pub fn main(_: Opts) -> Result<i32, Failure> {
    let (items, missing) = probe();
    let mut text = String::from("What taskwire needs from this kernel and process:\n");
    text.push_str(&items);
    text.push_str(match missing {
        0 => "All that is needed is there.\n",
        _ => "A needed item is missing or unknown.\n",
    });
    taskwire_cli::output::print(&text)?;
    Ok(i32::from(missing > 0))
}

/// `taskwire check --help`.
pub fn help() -> String {
    "Usage: taskwire check\n\n\
     Probes what the agent needs from the kernel and this process and prints a checklist\n\
     (README). Exit status 1 if a needed item is missing or unknown ([warn] is not).\n"
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_admin_from_the_effective_set() {
        assert_eq!(
            has_net_admin("Name:\tx\nCapEff:\t000001ffffffffff\n"),
            Some(true)
        );
        assert_eq!(has_net_admin("CapEff:\t0000000000001000\n"), Some(true));
        assert_eq!(has_net_admin("CapEff:\t0000000000000fff\n"), Some(false));
        assert_eq!(has_net_admin("CapEff:\tzz\n"), None);
        assert_eq!(has_net_admin("CapPrm:\t1000\n"), None);
    }

    #[test]
    fn takes_only_help() {
        let p = |a: &[&str]| parse(a.iter().map(OsString::from).collect());
        assert_eq!(p(&[]).unwrap(), Parsed::Run(Opts));
        assert_eq!(p(&["-h"]).unwrap(), Parsed::Help);
        assert_eq!(p(&["--x"]).unwrap_err().exit_code(), 2);
    }
}
