//! The options of each command, parsed from its arguments.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::client::Target;
use crate::cpus::CpuArg;
use taskwire_cli::Failure;
use taskwire_cli::args::{Arg, Args, Format, parse_bytes, parse_count, parse_format, parse_pid};

/// A parsed command line: run the command, or show its help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// Run with these options.
    Run(T),
    /// `--help` or `-h` was given.
    Help,
}

/// Options of `taskwire get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetOpts {
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

/// Options of `taskwire run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOpts {
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

/// Options of `taskwire cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupOpts {
    /// The cgroup v1 directory.
    pub path: PathBuf,
    /// Output format.
    pub format: Format,
}

/// Options of `taskwire listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenOpts {
    /// CPUs to register for.
    pub cpus: CpuArg,
    /// Receive buffer to ask for, in bytes.
    pub rcvbuf: Option<usize>,
    /// Output format.
    pub format: Format,
    /// Stop after this many records.
    pub count: Option<u64>,
    /// Write 1 to kernel.task_delayacct first.
    pub enable_delayacct: bool,
}

/// Flags shared by get, run and listen.
#[derive(Debug, Default)]
struct Common {
    io: bool,
    ctxsw: bool,
    format: Format,
    enable_delayacct: bool,
}

impl Common {
    /// Takes `arg` if it is a shared flag; returns false when it is not one.
    fn take(&mut self, args: &mut Args, name: &str, v: Option<String>) -> Result<bool, Failure> {
        match name {
            "io" => self.io = flag(args, name, v)?,
            "ctxsw" => self.ctxsw = flag(args, name, v)?,
            "enable-delayacct" => self.enable_delayacct = flag(args, name, v)?,
            "format" => {
                let s = args.value(name, v)?;
                self.format = parse_format(&s, Format::TEXT_JSON).map_err(|e| args.usage(e))?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn flag(args: &Args, name: &str, v: Option<String>) -> Result<bool, Failure> {
    args.no_value(name, v).map(|()| true)
}

fn is_help(arg: &Arg) -> bool {
    matches!(arg, Arg::Short('h')) || matches!(arg, Arg::Long(n, None) if n == "help")
}

/// Parses `get` arguments.
pub fn get(items: Vec<OsString>) -> Result<Parsed<GetOpts>, Failure> {
    let mut args = Args::new("get", items);
    let mut common = Common::default();
    let mut target = None;
    while let Some(arg) = args.next_arg()? {
        if is_help(&arg) {
            return Ok(Parsed::Help);
        }
        let Arg::Long(name, v) = arg else {
            return Err(args.unexpected(&arg));
        };
        if common.take(&mut args, &name, v.clone())? {
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
    Ok(Parsed::Run(GetOpts {
        target,
        io: common.io,
        ctxsw: common.ctxsw,
        format: common.format,
        enable_delayacct: common.enable_delayacct,
    }))
}

/// Parses `run` arguments: options, then the command (after `--` or the first non-option).
pub fn run(items: Vec<OsString>) -> Result<Parsed<RunOpts>, Failure> {
    let mut args = Args::new("run", items);
    let mut common = Common::default();
    let mut command = Vec::new();
    while let Some(arg) = args.next_arg()? {
        match arg {
            a if is_help(&a) => return Ok(Parsed::Help),
            Arg::Long(name, v) => {
                if !common.take(&mut args, &name, v.clone())? {
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
    Ok(Parsed::Run(RunOpts {
        io: common.io,
        ctxsw: common.ctxsw,
        format: common.format,
        enable_delayacct: common.enable_delayacct,
        command,
    }))
}

/// Parses `cgroup` arguments.
pub fn cgroup(items: Vec<OsString>) -> Result<Parsed<CgroupOpts>, Failure> {
    let mut args = Args::new("cgroup", items);
    let mut format = Format::Text;
    let mut path = None;
    while let Some(arg) = args.next_arg()? {
        match arg {
            a if is_help(&a) => return Ok(Parsed::Help),
            Arg::Long(name, v) if name == "format" => {
                let s = args.value(&name, v)?;
                format = parse_format(&s, Format::TEXT_JSON).map_err(|e| args.usage(e))?;
            }
            Arg::Positional(p) if path.is_none() => {
                if p.is_empty() {
                    return Err(args.usage("the cgroup path is empty"));
                }
                path = Some(PathBuf::from(p));
            }
            Arg::Separator => {
                let mut rest = args.rest().into_iter();
                match (path.is_none(), rest.next(), rest.next()) {
                    (true, Some(p), None) if !p.is_empty() => path = Some(PathBuf::from(p)),
                    _ => return Err(Failure::usage("cgroup", "give exactly one cgroup path")),
                }
                break;
            }
            a => return Err(args.unexpected(&a)),
        }
    }
    let Some(path) = path else {
        return Err(Failure::usage(
            "cgroup",
            "a cgroup directory path is required",
        ));
    };
    Ok(Parsed::Run(CgroupOpts { path, format }))
}

/// Parses `listen` arguments.
pub fn listen(items: Vec<OsString>) -> Result<Parsed<ListenOpts>, Failure> {
    let mut args = Args::new("listen", items);
    let mut common = Common::default();
    let mut opts = ListenOpts {
        cpus: CpuArg::All,
        rcvbuf: None,
        format: Format::Text,
        count: None,
        enable_delayacct: false,
    };
    while let Some(arg) = args.next_arg()? {
        if is_help(&arg) {
            return Ok(Parsed::Help);
        }
        let Arg::Long(name, v) = arg else {
            return Err(args.unexpected(&arg));
        };
        match name.as_str() {
            "cpus" => {
                let s = args.value(&name, v)?;
                opts.cpus = CpuArg::parse(&s).map_err(|e| args.usage(e))?;
            }
            "rcvbuf" => {
                let s = args.value(&name, v)?;
                opts.rcvbuf = Some(parse_bytes(&s, "--rcvbuf").map_err(|e| args.usage(e))?);
            }
            "count" => {
                let s = args.value(&name, v)?;
                opts.count = Some(parse_count(&s, "--count").map_err(|e| args.usage(e))?);
            }
            "format" | "enable-delayacct" => {
                common.take(&mut args, &name, v)?;
            }
            _ => return Err(args.unexpected(&Arg::Long(name, v))),
        }
    }
    opts.format = common.format;
    opts.enable_delayacct = common.enable_delayacct;
    Ok(Parsed::Run(opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<OsString> {
        items.iter().map(OsString::from).collect()
    }

    fn usage_msg<T: std::fmt::Debug>(r: Result<Parsed<T>, Failure>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        e.to_string()
    }

    #[test]
    fn get_parses_target_and_flags() {
        let Parsed::Run(o) = get(v(&["--pid", "42", "--io", "--format=json"])).unwrap() else {
            panic!()
        };
        assert_eq!(o.target, Target::Pid(42));
        assert!(o.io && !o.ctxsw);
        assert_eq!(o.format, Format::Json);
        let Parsed::Run(o) = get(v(&["--tgid=7", "--ctxsw"])).unwrap() else {
            panic!()
        };
        assert_eq!(o.target, Target::Tgid(7));
        assert!(o.ctxsw);
        assert_eq!(get(v(&["--pid", "1", "--help"])).unwrap(), Parsed::Help);
    }

    #[test]
    fn get_rejects_bad_targets() {
        assert!(usage_msg(get(v(&[]))).contains("required"));
        assert!(usage_msg(get(v(&["--pid", "0"]))).contains("at least 1"));
        assert!(usage_msg(get(v(&["--pid", "abc"]))).contains("not a decimal"));
        assert!(usage_msg(get(v(&["--pid=-4"]))).contains("negative"));
        assert!(usage_msg(get(v(&["--pid", "1", "--tgid", "2"]))).contains("once"));
        assert!(usage_msg(get(v(&["--pid"]))).contains("needs a value"));
        assert!(usage_msg(get(v(&["--pid", "1", "--bogus"]))).contains("'--bogus'"));
        assert!(usage_msg(get(v(&["--pid", "1", "--io=1"]))).contains("takes no value"));
        assert!(usage_msg(get(v(&["--pid", "1", "--format", "xml"]))).contains("xml"));
    }

    #[test]
    fn run_takes_the_command_after_options() {
        let Parsed::Run(o) = run(v(&["--io", "--", "sh", "-c", "exit 3"])).unwrap() else {
            panic!()
        };
        assert!(o.io);
        assert_eq!(o.command, v(&["sh", "-c", "exit 3"]));
        // Without `--`, the first positional starts the command and options after it are
        // the command's own.
        let Parsed::Run(o) = run(v(&["ls", "--io"])).unwrap() else {
            panic!()
        };
        assert!(!o.io);
        assert_eq!(o.command, v(&["ls", "--io"]));
        assert!(usage_msg(run(v(&["--io"]))).contains("no command"));
        assert!(usage_msg(run(v(&["--io", "--"]))).contains("no command"));
    }

    #[test]
    fn cgroup_takes_one_path() {
        let Parsed::Run(o) = cgroup(v(&["/sys/fs/cgroup/cpu"])).unwrap() else {
            panic!()
        };
        assert_eq!(o.path, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert!(usage_msg(cgroup(v(&[]))).contains("required"));
        assert!(usage_msg(cgroup(v(&[""]))).contains("empty"));
        assert!(usage_msg(cgroup(v(&["/a", "/b"]))).contains("unexpected argument"));
        let Parsed::Run(o) = cgroup(v(&["--", "-odd"])).unwrap() else {
            panic!()
        };
        assert_eq!(o.path, PathBuf::from("-odd"));
    }

    #[test]
    fn listen_options() {
        let Parsed::Run(o) = listen(v(&[])).unwrap() else {
            panic!()
        };
        assert_eq!(o.cpus, CpuArg::All);
        assert_eq!((o.rcvbuf, o.count), (None, None));
        let Parsed::Run(o) = listen(v(&[
            "--cpus",
            "0-1",
            "--rcvbuf=1M",
            "--count",
            "5",
            "--format",
            "json",
        ]))
        .unwrap() else {
            panic!()
        };
        assert_eq!(o.cpus, CpuArg::parse("0-1").unwrap());
        assert_eq!(o.rcvbuf, Some(1 << 20));
        assert_eq!(o.count, Some(5));
        assert_eq!(o.format, Format::Json);
        assert!(usage_msg(listen(v(&["--cpus", "1-0"]))).contains("invalid CPU list"));
        assert!(usage_msg(listen(v(&["--cpus", "x"]))).contains("invalid CPU list"));
        assert!(usage_msg(listen(v(&["--count", "0"]))).contains("at least 1"));
        assert!(usage_msg(listen(v(&["--io"]))).contains("unknown option"));
    }
}
