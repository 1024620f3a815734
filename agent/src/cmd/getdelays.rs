//! `taskwire getdelays`, also the binary invoked as `getdelays`: the kernel's
//! `tools/accounting/getdelays` options, run over taskwire's client and listener and
//! printed in the tool's layout ([`crate::getdelays_layout`]).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use taskwire_core::cpulist::CpuSet;
use taskwire_core::taskstats::{Aggregate, Kind};

use crate::cgroupdir::{open_dir, require_v1};
use crate::client::{Client, Target};
use crate::cpus::{self, CpuArg};
use crate::errors::{ClientError, Op};
use crate::getdelays_layout::{cgroupstats, ctxsw, delayacct, ioacct};
use crate::listener::{self, Consumer, Event, Flow};
use crate::printer::Printer;
use crate::report::pick;
use crate::spawn::{self, Child, NotStarted};
use crate::stream::logfile::LogFile;
use taskwire_cli::Failure;
use taskwire_cli::args::{Parsed, parse_bytes, parse_pid};
use taskwire_cli::help::{EXIT_STATUS, PRIVILEGE};
use taskwire_cli::output::{Stderr, eprintln};
use taskwire_cli::signals::{self, SignalFd};

const CMD: &str = "getdelays";

/// The tool's usage text, printed on stderr when no action is given.
const USAGE: &str = "getdelays [-dilv] [-w logfile] [-r bufsize] [-m cpumask] [-t tgid] [-p pid]\n\
                     \x20 -d: print delayacct stats\n\
                     \x20 -i: print IO accounting (works only with -p)\n\
                     \x20 -l: listen forever\n\
                     \x20 -v: debug on\n\
                     \x20 -C: container path\n";

/// Parsed getdelays options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opts {
    /// -d
    pub delays: bool,
    /// -i
    pub io: bool,
    /// -q
    pub ctxsw: bool,
    /// -l
    pub forever: bool,
    /// -v
    pub debug: bool,
    /// -w FILE
    pub logfile: Option<String>,
    /// -r SIZE
    pub rcvbuf: Option<usize>,
    /// -m LIST
    pub cpumask: Option<CpuArg>,
    /// -t TGID or -p PID (or the child of -c)
    pub target: Option<Target>,
    /// -c CMD ARGS...
    pub command: Vec<OsString>,
    /// -C PATH
    pub container: Option<PathBuf>,
    /// The lines the tool echoes while it reads its options.
    pub echo: Vec<String>,
}

/// Parses getopt-style options "qdiw:r:m:t:p:vlC:c:" (clusters such as `-di` and attached
/// values such as `-p123` included); `-c` takes the rest of the line as the command.
pub fn parse(items: Vec<OsString>) -> Result<Parsed<Opts>, Failure> {
    let usage = |m: String| Failure::usage(CMD, m);
    let mut o = Opts::default();
    let mut items = items.into_iter();
    while let Some(item) = items.next() {
        let text = item
            .to_str()
            .ok_or_else(|| usage(format!("invalid argument '{}'", item.to_string_lossy())))?;
        // The tool knows only -h; --help is what `taskwire help getdelays` passes, as it
        // does to every command.
        if text == "--help" {
            return Ok(Parsed::Help);
        }
        if text == "--" {
            if let Some(extra) = items.next() {
                return Err(usage(format!(
                    "unexpected argument '{}'",
                    extra.to_string_lossy()
                )));
            }
            break;
        }
        let Some(cluster) = text.strip_prefix('-').filter(|c| !c.is_empty()) else {
            return Err(usage(format!("unexpected argument '{text}'")));
        };
        for (i, c) in cluster.char_indices() {
            // A match, not `"wrmtpCc".contains(c)`: str's search for a char brings the
            // two-way substring searcher for non-ASCII ones.
            if !matches!(c, 'w' | 'r' | 'm' | 't' | 'p' | 'C' | 'c') {
                let (flag, echo) = match c {
                    'd' => (&mut o.delays, "print delayacct stats ON"),
                    'i' => (&mut o.io, "printing IO accounting"),
                    'q' => (&mut o.ctxsw, "printing task/process context switch rates"),
                    'v' => (&mut o.debug, "debug on"),
                    'l' => (&mut o.forever, "listen forever"),
                    'h' => return Ok(Parsed::Help),
                    _ => return Err(usage(format!("invalid option -- '{c}'"))),
                };
                *flag = true;
                o.echo.push(echo.to_owned());
                continue;
            }
            let attached = &cluster[i + c.len_utf8()..];
            let value: OsString = if attached.is_empty() {
                items
                    .next()
                    .ok_or_else(|| usage(format!("option requires an argument -- '{c}'")))?
            } else {
                attached.into()
            };
            if c == 'c' {
                o.command.push(value);
                o.command.extend(items.by_ref());
                o.target = None;
                break;
            }
            let v = value
                .into_string()
                .map_err(|v| usage(format!("-{c}: '{}' is not UTF-8", v.to_string_lossy())))?;
            match c {
                'w' => {
                    o.echo.push(format!("write to file {v}"));
                    o.logfile = Some(v);
                }
                'r' => {
                    let n = parse_bytes(&v, "receive buffer size").map_err(usage)?;
                    o.echo.push(format!("receive buf size {n}"));
                    o.rcvbuf = Some(n);
                }
                'm' => {
                    o.cpumask = Some(CpuArg::parse(&v).map_err(usage)?);
                    o.echo.push(format!("cpumask {v} maskset 1"));
                }
                't' => o.target = Some(Target::Tgid(parse_pid(&v, "tgid").map_err(usage)?)),
                'p' => o.target = Some(Target::Pid(parse_pid(&v, "pid").map_err(usage)?)),
                _ => o.container = Some(PathBuf::from(v)),
            }
            break;
        }
        if !o.command.is_empty() {
            break;
        }
    }
    Ok(Parsed::Run(o))
}

/// `getdelays --help` (taskwire's getdelays mode).
pub fn help() -> String {
    format!(
        "Usage: getdelays [-dilqv] [-w logfile] [-r bufsize] [-m cpumask] [-t tgid]\n\
         \x20                [-p pid] [-c cmd [args...]] [-C container]\n\n\
         taskwire's implementation of the kernel's tools/accounting/getdelays, with the\n\
         same options and text layout.\n\n\
         \x20 -d        print delay accounting statistics\n\
         \x20 -i        print I/O accounting\n\
         \x20 -q        print context switch counts\n\
         \x20 -l        listen forever (with -m)\n\
         \x20 -v        debug output\n\
         \x20 -w FILE   also write the records to FILE as a taskwire record stream\n\
         \x20 -r SIZE   receive buffer size in bytes\n\
         \x20 -m LIST   register for exit records of the CPUs in LIST\n\
         \x20 -t TGID   query a thread group\n\
         \x20 -p PID    query a thread\n\
         \x20 -c CMD    run CMD (the rest of the line) and report it when it exits\n\
         \x20 -C PATH   cgroupstats of a cgroup v1 directory\n\
         \x20 -h        this text\n\n{PRIVILEGE}\n{EXIT_STATUS}"
    )
}

/// One AGGR_PID or AGGR_TGID record as the tool prints it.
pub fn record(kind: Kind, agg: &Aggregate<'_>, o: &Opts) -> String {
    let mut out = String::new();
    if o.delays {
        let _ = writeln!(out, "{}\t{}", kind.name().to_ascii_uppercase(), agg.id);
        out.push_str(&delayacct(&agg.stats));
    }
    if o.io {
        out.push_str(&ioacct(&agg.stats));
    }
    if o.ctxsw {
        out.push_str(&ctxsw(&agg.stats));
    }
    out
}

/// Prints exit records as the tool does, and copies them to -w FILE.
struct Records<'o, W: Write> {
    out: Printer<W>,
    opts: &'o Opts,
    /// -w FILE.
    log: Option<LogFile>,
}

impl<W: Write> Consumer for Records<'_, W> {
    fn registered(&mut self, _cpus: &CpuSet) -> Flow {
        if self.opts.debug {
            self.out.write("Sent register cpumask, retval 0\n")
        } else {
            Flow::Continue
        }
    }

    fn event(&mut self, event: Event<'_>) -> Flow {
        match event {
            Event::Exit((kind, agg)) => {
                if self.out.write(&record(kind, &agg, self.opts)) == Flow::Stop {
                    return Flow::Stop;
                }
                if self.log.as_mut().is_some_and(|l| !l.record(kind, &agg)) {
                    return Flow::Stop;
                }
                // The tool stops at the first statistics unless told to listen forever.
                if self.opts.forever {
                    Flow::Continue
                } else {
                    Flow::Stop
                }
            }
            Event::Loss => {
                if let Some(l) = self.log.as_mut() {
                    l.loss();
                }
                eprintln(format_args!(
                    "nonfatal reply error: errno {}",
                    rustix::io::Errno::NOBUFS.raw_os_error()
                ));
                Flow::Continue
            }
            Event::Truncated(n) => {
                eprintln(format_args!(
                    "nonfatal reply error: a {n}-byte message was truncated"
                ));
                Flow::Continue
            }
            Event::Undecodable(e) => {
                eprintln(format_args!("nonfatal reply error: {e}"));
                Flow::Continue
            }
        }
    }

    fn idle(&mut self) -> Flow {
        self.out.flush()
    }
}

/// Runs getdelays (`taskwire getdelays ARGS` and the binary invoked as `getdelays`).
pub fn main(mut o: Opts) -> Result<i32, Failure> {
    if o.container.is_some() && (o.target.is_some() || !o.command.is_empty()) {
        return Err(Failure::usage(CMD, "Select either -t or -C, not both"));
    }
    if o.cpumask.is_none() && o.target.is_none() && o.command.is_empty() && o.container.is_none() {
        let _ = Stderr.write_all(USAGE.as_bytes());
        return Err(Failure::usage(CMD, "give -p, -t, -c, -m or -C"));
    }
    let mut logfile = match &o.logfile {
        Some(p) => Some(LogFile::create(Path::new(p)).map_err(Failure::Runtime)?),
        None => None,
    };
    let cpus = match &o.cpumask {
        Some(arg) => {
            let possible = cpus::possible().map_err(Failure::Runtime)?;
            Some(cpus::resolve(arg, &possible).map_err(|e| Failure::usage(CMD, e))?)
        }
        None => None,
    };
    let sigfd =
        match cpus {
            Some(_) => Some(SignalFd::open(&signals::STOP_SIGNALS).map_err(|e| {
                Failure::Runtime(format!("setting up SIGINT/SIGTERM handling: {e}"))
            })?),
            None => None,
        };
    // A stop signal ends a write blocked on a pipe nobody reads (once -m installed it).
    let mut stdout = BufWriter::new(signals::Stdout);
    let echo: String = o.echo.iter().map(|l| format!("{l}\n")).collect();
    let _ = stdout.write_all(echo.as_bytes());

    let mut client = Client::connect()?;
    if let Some(b) = o.rcvbuf {
        client
            .socket()
            .set_recv_buffer(b)
            .map_err(|errno| ClientError::Os {
                op: Op::RecvBuffer,
                errno,
            })?;
    }
    if o.debug {
        let _ = stdout.write_all(format!("family id {}\n", client.family().id).as_bytes());
    }
    let mut child = None;
    if !o.command.is_empty() {
        let c = start(&mut client, &o.command)?;
        o.target = Some(Target::Pid(c.id()));
        child = Some(c);
    }
    let mut printed = false;
    if let Some(target) = o.target {
        let reply = client.get(target)?;
        if o.debug {
            let _ = stdout.write_all(b"Sent pid/tgid, retval 0\n");
        }
        if let Some((kind, agg)) = pick(&reply, target) {
            let _ = stdout.write_all(record(kind, &agg, &o).as_bytes());
            if let Some(l) = logfile.as_mut() {
                l.record(kind, &agg);
            }
            printed = true;
        }
    }
    // Reaped only now: until the query above, the zombie held the statistics.
    if let Some(c) = child {
        let _ = c.reap();
    }
    if let Some(path) = &o.container {
        let (dir, h) = open_dir(path)?;
        require_v1(path, h)?;
        let c = client.cgroup(dir.as_fd())?;
        let _ = stdout.write_all(cgroupstats(&c).as_bytes());
        printed = true;
    }
    if let Some(cpus) = cpus {
        if o.forever || !printed {
            let wake = sigfd.as_ref().map(|s| s.as_fd());
            let mut p = Records {
                out: Printer::new(&mut stdout),
                opts: &o,
                log: logfile.take(),
            };
            listener::listen(&mut client, &cpus, wake, &mut p)?;
            logfile = p.log.take();
        }
        let _ = stdout.write_all(b"Sent deregister mask, retval 0\n");
    }
    match stdout.flush() {
        // Stopped by a signal while stdout was blocked: what was not written is dropped.
        Err(_) if signals::caught().is_some() => {}
        r => r.map_err(|e| Failure::Runtime(format!("writing to stdout: {e}")))?,
    }
    if let Some(l) = logfile {
        l.finish().map_err(Failure::Runtime)?;
    }
    Ok(0)
}

/// Runs the command of `-c` and waits for it to exit without reaping it.
fn start(client: &mut Client, command: &[OsString]) -> Result<Child, Failure> {
    let Some((first, rest)) = command.split_first() else {
        return Err(Failure::usage(CMD, "-c needs a command"));
    };
    // A privilege problem shows before the command runs.
    client.get(Target::Pid(std::process::id()))?;
    let (child, waited) = spawn::run_to_exit(first, rest).map_err(|e| match e {
        NotStarted::Setup(f) => f,
        NotStarted::Exec(e) => Failure::Runtime(format!("{}: {e}", first.to_string_lossy())),
    })?;
    waited?;
    Ok(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Opts {
        match parse(args.iter().map(OsString::from).collect()).unwrap() {
            Parsed::Run(o) => o,
            Parsed::Help => panic!("help"),
        }
    }

    fn usage_err(args: &[&str]) -> String {
        let e = parse(args.iter().map(OsString::from).collect()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        e.to_string()
    }

    #[test]
    fn getopt_clusters_and_attached_values() {
        let o = parsed(&["-dqi", "-p123", "-r", "4096", "-m0-1", "-l", "-v"]);
        assert!(o.delays && o.ctxsw && o.io && o.forever && o.debug);
        assert_eq!(o.target, Some(Target::Pid(123)));
        assert_eq!(o.rcvbuf, Some(4096));
        assert_eq!(o.cpumask, Some(CpuArg::parse("0-1").unwrap()));
        assert_eq!(
            o.echo[..3],
            [
                "print delayacct stats ON",
                "printing task/process context switch rates",
                "printing IO accounting"
            ]
        );
        assert_eq!(
            o.echo[3..],
            [
                "receive buf size 4096",
                "cpumask 0-1 maskset 1",
                "listen forever",
                "debug on"
            ]
        );
        assert_eq!(parsed(&["-t", "7"]).target, Some(Target::Tgid(7)));
        assert_eq!(parsed(&["-C", "/cg"]).container, Some(PathBuf::from("/cg")));
    }

    #[test]
    fn c_takes_the_rest_of_the_line() {
        let o = parsed(&["-d", "-c", "sh", "-c", "exit 3", "-p", "1"]);
        let want: Vec<OsString> = ["sh", "-c", "exit 3", "-p", "1"]
            .map(OsString::from)
            .to_vec();
        assert_eq!(o.command, want);
        assert_eq!(o.target, None);
        assert_eq!(
            parsed(&["-csleep", "1"]).command,
            ["sleep", "1"].map(OsString::from).to_vec()
        );
    }

    #[test]
    fn bad_options_are_usage_errors() {
        assert!(usage_err(&["-x"]).contains("invalid option -- 'x'"));
        assert!(usage_err(&["-p"]).contains("requires an argument -- 'p'"));
        assert!(usage_err(&["-p", "0"]).contains("at least 1"));
        assert!(usage_err(&["-p", "abc"]).contains("not a decimal"));
        assert!(usage_err(&["-m", "3-1"]).contains("invalid CPU list"));
        assert!(usage_err(&["stray"]).contains("unexpected argument"));
        assert_eq!(parse(vec!["-h".into()]).unwrap(), Parsed::Help);
        assert_eq!(parse(vec!["--help".into()]).unwrap(), Parsed::Help);
    }

    #[test]
    fn help_documents_exit_codes() {
        let text = help();
        assert!(text.contains("2  usage error"), "{text}");
        assert!(text.contains("CAP_NET_ADMIN"), "{text}");
    }
}
