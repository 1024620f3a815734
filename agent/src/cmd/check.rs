//! `taskwire check`: what this kernel and this process lack for the agent, found by
//! probing (a board rarely ships its kernel's .config): the taskstats family, delay
//! accounting and its switch, extended and I/O accounting, pressure stall information,
//! and CAP_NET_ADMIN. A checklist on stdout; exit status 1 when a needed item is missing.

use std::ffi::OsString;
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
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let set = u64::from_str_radix(hex, 16).ok()?;
    Some(set >> CAP_NET_ADMIN & 1 == 1)
}

/// The checklist, one (mark, line) per item, probed now.
pub fn probe() -> Vec<(Mark, String)> {
    let mut out = Vec::new();
    let mut item = |m: Mark, s: &str| out.push((m, s.to_owned()));
    // Read first: it moves this process's read_char, which the GET below then shows.
    let io = textfile::read(Path::new("/proc/self/io"));
    let cap = textfile::read(Path::new("/proc/self/status"))
        .ok()
        .and_then(|s| has_net_admin(&s));
    match cap {
        Some(true) => item(Mark::Ok, "CAP_NET_ADMIN: this process may register"),
        Some(false) => item(
            Mark::Missing,
            "CAP_NET_ADMIN: not in this process's effective set (run as root, or \
             AmbientCapabilities=CAP_NET_ADMIN, or setcap cap_net_admin+ep)",
        ),
        None => item(Mark::Unknown, "CAP_NET_ADMIN: /proc/self/status unreadable"),
    }
    let mut client = Client::connect();
    match &client {
        Ok(_) => item(
            Mark::Ok,
            "CONFIG_TASKSTATS: the TASKSTATS netlink family answers",
        ),
        Err(e) => item(Mark::Missing, &format!("CONFIG_TASKSTATS: {e}")),
    }
    let switch = delayacct::read_at(Path::new(delayacct::SYSCTL));
    match switch {
        State::Unknown => item(
            Mark::Missing,
            "CONFIG_TASK_DELAY_ACCT: no kernel.task_delayacct (kernels before 5.14 have \
             none: see the delays of `taskwire get`)",
        ),
        _ => item(
            Mark::Ok,
            "CONFIG_TASK_DELAY_ACCT: kernel.task_delayacct exists",
        ),
    }
    if switch == State::Off {
        item(
            Mark::Warn,
            "kernel.task_delayacct = 0: delays other than CPU read zero (sysctl \
             kernel.task_delayacct=1, boot option delayacct, or stream --enable-delayacct)",
        );
    }
    let me = rustix::process::getpid().as_raw_nonzero().get() as u32;
    let read_char = match client.as_mut() {
        Ok(c) => match c.get(Target::Pid(me)) {
            Ok(r) => Ok(r.pid.and_then(|a| a.stats.get(Field::ReadChar))),
            Err(e) => Err(e.to_string()),
        },
        Err(_) => Err("no taskstats family".to_owned()),
    };
    match read_char {
        Ok(Some(n)) if n > 0 => item(
            Mark::Ok,
            "CONFIG_TASK_XACCT: the GET of this process counts the bytes it read",
        ),
        Ok(_) => item(
            Mark::Missing,
            "CONFIG_TASK_XACCT: the GET of this process shows no bytes read",
        ),
        Err(e) => item(
            Mark::Unknown,
            &format!("CONFIG_TASK_XACCT: cannot tell: {e}"),
        ),
    }
    match io {
        Ok(_) => item(Mark::Ok, "CONFIG_TASK_IO_ACCOUNTING: /proc/self/io exists"),
        Err(e) => item(
            Mark::Missing,
            &format!("CONFIG_TASK_IO_ACCOUNTING: /proc/self/io: {e}"),
        ),
    }
    match textfile::read(Path::new("/proc/pressure/cpu")) {
        Ok(_) => item(Mark::Ok, "CONFIG_PSI: /proc/pressure is readable"),
        Err(e) => item(
            Mark::Warn,
            &format!(
                "CONFIG_PSI: /proc/pressure/cpu: {e} (samples and top show no pressure; \
                 psi=1 on the kernel command line if it is built in but off)"
            ),
        ),
    }
    out
}

/// Runs `taskwire check`.
pub fn main(_: Opts) -> Result<i32, Failure> {
    let list = probe();
    let mut text = String::from("What taskwire needs from this kernel and process:\n");
    for (mark, line) in &list {
        text.push_str(&format!("  {} {line}\n", mark.label()));
    }
    let missing = list
        .iter()
        .filter(|(m, _)| matches!(m, Mark::Missing | Mark::Unknown))
        .count();
    text.push_str(&match missing {
        0 => "All that is needed is there.\n".to_owned(),
        n => format!("{n} needed item(s) missing or unknown.\n"),
    });
    taskwire_cli::output::print(&text)?;
    Ok(i32::from(missing > 0))
}

/// `taskwire check --help`.
pub fn help() -> String {
    "Usage: taskwire check\n\n\
     Probes what the agent needs and prints a checklist: CAP_NET_ADMIN in this process,\n\
     the taskstats netlink family (CONFIG_TASKSTATS), delay accounting\n\
     (CONFIG_TASK_DELAY_ACCT, and the kernel.task_delayacct switch), extended accounting\n\
     (CONFIG_TASK_XACCT: a GET of itself), I/O accounting (CONFIG_TASK_IO_ACCOUNTING:\n\
     /proc/self/io) and pressure stall information (CONFIG_PSI: /proc/pressure, for\n\
     samples and top). Probed, not read from a .config. Run it as the service's user.\n\n\
     Exit status:\n\
     \x20 0  every needed item is there (a [warn] is not needed)\n\
     \x20 1  a needed item is missing, or could not be told\n\
     \x20 2  usage error\n"
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
