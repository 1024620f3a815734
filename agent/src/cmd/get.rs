//! `taskwire get`: one query by pid or tgid.

use std::ffi::OsString;

use crate::client::{Client, Target};
use crate::delayacct;
use crate::flags::Flags;
use crate::report::{pick, render};
use taskwire_cli::Failure;
use taskwire_cli::args::{Arg, Args, Format, Parsed, parse_pid};
use taskwire_cli::help::{EXIT_STATUS, PRIVILEGE};
use taskwire_cli::output::text::Sections;

/// Options of `taskwire get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opts {
    /// What to query.
    pub target: Target,
    /// Also print I/O accounting.
    pub io: bool,
    /// Also print context switch counts.
    pub ctxsw: bool,
    /// Output format.
    pub format: Format,
    /// Write 1 to kernel.task_delayacct first.
    pub enable_delayacct: bool,
}

/// Parses `get` arguments.
pub fn parse(items: Vec<OsString>) -> Result<Parsed<Opts>, Failure> {
    let mut args = Args::new("get", items);
    let mut flags = Flags::default();
    let mut target = None;
    while let Some(arg) = args.next_arg()? {
        if arg.is_help() {
            return Ok(Parsed::Help);
        }
        let Arg::Long(name, v) = arg else {
            return Err(args.unexpected(&arg));
        };
        if flags.take(&mut args, &name, v.clone())? {
            continue;
        }
        let make: fn(u32) -> Target = match name.as_str() {
            "pid" => Target::Pid,
            "tgid" => Target::Tgid,
            _ => return Err(args.unexpected(&Arg::Long(name, v))),
        };
        if target.is_some() {
            return Err(args.usage("give one of --pid or --tgid, once"));
        }
        let s = args.value(&name, v)?;
        target = Some(make(parse_pid(&s, &name).map_err(|e| args.usage(e))?));
    }
    let Some(target) = target else {
        return Err(args.usage("--pid N or --tgid N is required"));
    };
    Ok(Parsed::Run(Opts {
        target,
        io: flags.io,
        ctxsw: flags.ctxsw,
        format: flags.format,
        enable_delayacct: flags.enable_delayacct,
    }))
}

/// `taskwire get --help`.
pub fn help() -> String {
    format!(
        "Usage: taskwire get (--pid N | --tgid N) [--io] [--ctxsw] [--format text|json]\n\
         \x20                   [--enable-delayacct]\n\n\
         Queries the statistics of a live task (--pid, one thread) or thread group (--tgid,\n\
         the sum over its threads) and prints its delay table: count, total, average and,\n\
         where the kernel's struct carries them, max and min of each delay category\n\
         (CPU, IO, SWAP, RECLAIM, THRASHING, COMPACT, WPCOPY, IRQ).\n\n\
         Options:\n\
         \x20 --pid N              a thread id (1 to 4194304)\n\
         \x20 --tgid N             a thread group (process) id\n\
         \x20 --io                 also print storage I/O: read, write, cancelled-write bytes\n\
         \x20 --ctxsw              also print voluntary and involuntary context switches\n\
         \x20 --format text|json   json prints one object with every decoded field\n\
         \x20 --enable-delayacct   set kernel.task_delayacct=1 first (needs root)\n\
         \x20 -h, --help           this text\n\n{PRIVILEGE}\n{EXIT_STATUS}"
    )
}

/// Runs `taskwire get`.
pub fn main(opts: Opts) -> Result<i32, Failure> {
    if opts.enable_delayacct {
        delayacct::enable().map_err(Failure::Runtime)?;
    }
    let mut client = Client::connect()?;
    let reply = client.get(opts.target)?;
    let Some((kind, agg)) = pick(&reply, opts.target) else {
        return Err(Failure::Runtime(
            "the kernel's reply lacks the record asked for".into(),
        ));
    };
    delayacct::prepare(false, &mut taskwire_cli::output::Stderr).map_err(Failure::Runtime)?;
    let sections = Sections {
        io: opts.io,
        ctxsw: opts.ctxsw,
    };
    taskwire_cli::output::print(&render(kind, &agg, opts.format, sections, None))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::test_args::{usage_msg, v};

    #[test]
    fn get_parses_target_and_flags() {
        let Parsed::Run(o) = parse(v(&["--pid", "42", "--io", "--format=json"])).unwrap() else {
            panic!()
        };
        assert_eq!(o.target, Target::Pid(42));
        assert!(o.io && !o.ctxsw);
        assert_eq!(o.format, Format::Json);
        let Parsed::Run(o) = parse(v(&["--tgid=7", "--ctxsw"])).unwrap() else {
            panic!()
        };
        assert_eq!(o.target, Target::Tgid(7));
        assert!(o.ctxsw);
        assert_eq!(parse(v(&["--pid", "1", "--help"])).unwrap(), Parsed::Help);
    }

    #[test]
    fn get_rejects_bad_targets() {
        assert!(usage_msg(parse(v(&[]))).contains("required"));
        assert!(usage_msg(parse(v(&["--pid", "0"]))).contains("at least 1"));
        assert!(usage_msg(parse(v(&["--pid", "abc"]))).contains("not a decimal"));
        assert!(usage_msg(parse(v(&["--pid=-4"]))).contains("negative"));
        assert!(usage_msg(parse(v(&["--pid", "1", "--tgid", "2"]))).contains("once"));
        assert!(usage_msg(parse(v(&["--pid"]))).contains("needs a value"));
        assert!(usage_msg(parse(v(&["--pid", "1", "--bogus"]))).contains("'--bogus'"));
        assert!(usage_msg(parse(v(&["--pid", "1", "--io=1"]))).contains("takes no value"));
        assert!(usage_msg(parse(v(&["--pid", "1", "--format", "xml"]))).contains("xml"));
    }

    #[test]
    fn help_documents_exit_codes() {
        let text = help();
        assert!(text.contains("2  usage error"), "{text}");
        assert!(text.contains("CAP_NET_ADMIN"), "{text}");
    }
}
