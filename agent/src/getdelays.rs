//! getdelays mode: the kernel's `tools/accounting/getdelays` options and text layout,
//! selected by `taskwire getdelays ARGS` or by invoking the binary as `getdelays`.
//!
//! The layout follows the modern tool, which picks columns by the struct's version: max
//! and min from version 16, the max timestamp from version 17, COMPACT, WPCOPY and IRQ
//! rows from 11, 13 and 14. Rows for categories the struct does not carry are left out
//! rather than printed as zeros, and the delay-max timestamp is UTC (the tool prints local
//! time).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use taskwire_core::cgroupstats::CgroupStats;
use taskwire_core::cpulist::CpuSet;
use taskwire_core::taskstats::{Aggregate, Delay, Field, Taskstats};
use taskwire_core::wire::Kind;

use crate::client::{Client, Target};
use crate::cmd::cgroup::{open_dir, require_v1};
use crate::cpus::{self, CpuArg};
use crate::errors::{ClientError, Op};
use crate::help;
use crate::listener::{self, Consumer, Event, Flow};
use crate::options::Parsed;
use crate::spawn::{self, Child};
use crate::stream::logfile::LogFile;
use taskwire_cli::Failure;
use taskwire_cli::args::{parse_bytes, parse_pid};
use taskwire_cli::output::{fixed, utc_time};
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
            if !"wrmtpCc".contains(c) {
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

/// `%15.3fms` of an average in ms, as the tool computes it (count 0 divides by 1).
fn avg_ms(total_ns: u64, count: u64) -> String {
    format!(
        "{:>15}ms",
        // Saturates only past 1.8e13 events.
        fixed(total_ns, 1_000_000u64.saturating_mul(count.max(1)), 3)
    )
}

/// `%13.6fms` of a delay in ms.
fn delay_ms(ns: u64) -> String {
    format!("{:>13}ms", fixed(ns, 1_000_000, 6))
}

/// The tool's `print_delayacct` for this struct.
pub fn delayacct(s: &Taskstats<'_>) -> String {
    let v = s.version();
    let g = |f| s.get(f).unwrap_or(0);
    let mut out = String::from("\n\n");
    let head = |out: &mut String, name: &str, cols: &[&str]| {
        let _ = write!(out, "{name:<10}");
        for c in cols {
            let _ = write!(out, "{c:>15}");
        }
    };
    for &d in Delay::ALL {
        let Some(x) = s.delay(d) else { continue };
        let minmax = v >= 16;
        let ts = v >= 17;
        // CPU alone carries the run times, between the count and the delay total.
        let cpu = d == Delay::Cpu;
        let mut cols = vec!["count"];
        if cpu {
            cols.extend(["real total", "virtual total"]);
        }
        cols.extend(["delay total", "delay average"]);
        if minmax {
            cols.extend(["delay max", "delay min"]);
        }
        head(&mut out, d.name(), &cols);
        if ts {
            let _ = write!(out, "{:>25}", "delay max timestamp");
        }
        let _ = write!(out, "\n          {:>15}", x.count);
        if cpu {
            let real = g(Field::CpuRunRealTotal);
            let _ = write!(out, "{real:>15}{:>15}", g(Field::CpuRunVirtualTotal));
        }
        let _ = write!(out, "{:>15}{}", x.total_ns, avg_ms(x.total_ns, x.count));
        if minmax {
            out.push_str(&delay_ms(x.max_ns.unwrap_or(0)));
            out.push_str(&delay_ms(x.min_ns.unwrap_or(0)));
        }
        if ts {
            let (sec, nsec) = x.max_at.unwrap_or((0, 0));
            let _ = write!(out, "{:>23}", utc_time(sec, nsec));
        }
        out.push('\n');
    }
    out
}

/// The tool's `print_ioacct`.
pub fn ioacct(s: &Taskstats<'_>) -> String {
    let g = |f| s.get(f).unwrap_or(0);
    format!(
        "{}: read={}, write={}, cancelled_write={}\n",
        s.comm_lossy(),
        g(Field::ReadBytes),
        g(Field::WriteBytes),
        g(Field::CancelledWriteBytes)
    )
}

/// The tool's `task_context_switch_counts`.
pub fn ctxsw(s: &Taskstats<'_>) -> String {
    format!(
        "\n\nTask   {:>15}{:>15}\n       {:>15}{:>15}\n",
        "voluntary",
        "nonvoluntary",
        s.get(Field::Nvcsw).unwrap_or(0),
        s.get(Field::Nivcsw).unwrap_or(0)
    )
}

/// The tool's `print_cgroupstats`.
pub fn cgroupstats(c: &CgroupStats) -> String {
    format!(
        "sleeping {}, blocked {}, running {}, stopped {}, uninterruptible {}\n",
        c.nr_sleeping, c.nr_io_wait, c.nr_running, c.nr_stopped, c.nr_uninterruptible
    )
}

/// One AGGR_PID or AGGR_TGID record as the tool prints it.
pub fn record(agg: &Aggregate<'_>, tgid: bool, o: &Opts) -> String {
    let mut out = String::new();
    if o.delays {
        let _ = writeln!(out, "{}\t{}", if tgid { "TGID" } else { "PID" }, agg.id);
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

struct Printer<'o, W: Write> {
    out: W,
    opts: &'o Opts,
    error: Option<std::io::Error>,
    /// -w FILE.
    log: Option<LogFile>,
}

impl<W: Write> Consumer for Printer<'_, W> {
    fn registered(&mut self, _cpus: &CpuSet) -> Flow {
        if self.opts.debug {
            self.write("Sent register cpumask, retval 0\n")
        } else {
            Flow::Continue
        }
    }

    fn event(&mut self, event: Event<'_>) -> Flow {
        match event {
            Event::Exit(reply) => {
                for (agg, tgid) in [(reply.pid, false), (reply.tgid, true)] {
                    let Some(agg) = agg else { continue };
                    if self.write(&record(&agg, tgid, self.opts)) == Flow::Stop {
                        return Flow::Stop;
                    }
                    let kind = if tgid { Kind::Tgid } else { Kind::Pid };
                    if self.log.as_mut().is_some_and(|l| !l.record(kind, &agg)) {
                        return Flow::Stop;
                    }
                    // The tool stops at the first statistics unless told to listen forever.
                    if !self.opts.forever {
                        return Flow::Stop;
                    }
                }
                Flow::Continue
            }
            Event::Loss => {
                if let Some(l) = self.log.as_mut() {
                    l.loss();
                }
                eprintln!(
                    "nonfatal reply error: errno {}",
                    rustix::io::Errno::NOBUFS.raw_os_error()
                );
                Flow::Continue
            }
            Event::Truncated(n) => {
                eprintln!("nonfatal reply error: a {n}-byte message was truncated");
                Flow::Continue
            }
            Event::Undecodable(e) => {
                eprintln!("nonfatal reply error: {e}");
                Flow::Continue
            }
        }
    }

    fn idle(&mut self) -> Flow {
        match self.out.flush() {
            Ok(()) => Flow::Continue,
            Err(e) => {
                self.error = Some(e);
                Flow::Stop
            }
        }
    }
}

impl<W: Write> Printer<'_, W> {
    fn write(&mut self, s: &str) -> Flow {
        match self.out.write_all(s.as_bytes()) {
            Ok(()) => Flow::Continue,
            Err(e) => {
                self.error = Some(e);
                Flow::Stop
            }
        }
    }
}

/// Entry point (`taskwire getdelays ARGS` and the binary invoked as `getdelays`).
pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let mut o = match parse(args)? {
        Parsed::Help => return crate::cmd::help(&help::getdelays()),
        Parsed::Run(o) => o,
    };
    if o.container.is_some() && (o.target.is_some() || !o.command.is_empty()) {
        return Err(Failure::usage(CMD, "Select either -t or -C, not both"));
    }
    if o.cpumask.is_none() && o.target.is_none() && o.command.is_empty() && o.container.is_none() {
        eprint!("{USAGE}");
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
    let mut stdout = BufWriter::new(std::io::stdout());
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
        let _ = writeln!(stdout, "family id {}", client.family().id);
    }
    let mut child = None;
    if !o.command.is_empty() {
        let c = spawn_and_wait(&mut client, &o.command)?;
        o.target = Some(Target::Pid(c.id()));
        child = Some(c);
    }
    let mut printed = false;
    if let Some(target) = o.target {
        let reply = client.get(target)?;
        if o.debug {
            let _ = writeln!(stdout, "Sent pid/tgid, retval 0");
        }
        if let Some((agg, tgid)) = crate::cmd::get::pick(&reply, target) {
            let _ = stdout.write_all(record(&agg, tgid, &o).as_bytes());
            if let Some(l) = logfile.as_mut() {
                l.record(if tgid { Kind::Tgid } else { Kind::Pid }, &agg);
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
            let mut p = Printer {
                out: &mut stdout,
                opts: &o,
                error: None,
                log: logfile.take(),
            };
            listener::listen(&mut client, &cpus, wake, &mut p)?;
            logfile = p.log.take();
        }
        let _ = writeln!(stdout, "Sent deregister mask, retval 0");
    }
    stdout
        .flush()
        .map_err(|e| Failure::Runtime(format!("writing to stdout: {e}")))?;
    if let Some(l) = logfile {
        l.finish().map_err(Failure::Runtime)?;
    }
    Ok(0)
}

/// Runs the command of `-c` and waits for it to exit without reaping it.
fn spawn_and_wait(client: &mut Client, command: &[OsString]) -> Result<Child, Failure> {
    // A privilege problem shows before the command runs.
    client.get(Target::Pid(std::process::id()))?;
    let mask = signals::block(&signals::RUN_SIGNALS)
        .map_err(|e| Failure::Runtime(format!("blocking SIGINT/SIGQUIT: {e}")))?;
    let Some((first, rest)) = command.split_first() else {
        return Err(Failure::usage(CMD, "-c needs a command"));
    };
    let child = spawn::spawn(first, rest, mask)
        .map_err(|e| Failure::Runtime(format!("{}: {e}", first.to_string_lossy())))?;
    child
        .wait_exited()
        .map_err(|e| Failure::Runtime(format!("waiting for {}: {e}", child.id())))?;
    Ok(child)
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_core::fixtures::{pid1, synthetic};
    use taskwire_core::taskstats::put_field;

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
    }

    /// Line lengths the kernel tool's printf formats produce: `%-10s` plus `%15s` per
    /// column; values `%15llu` per integer, `%15.3fms` (17) for the average, `%13.6fms`
    /// (15) for max and min, `%25s`/`%23s` for the timestamp.
    #[test]
    fn layout_of_version_16_matches_the_tool() {
        let text = delayacct(&pid1().stats);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + 8 * 2, "{text}");
        assert_eq!(lines[..2], ["", ""]);
        assert_eq!(lines[2].len(), 10 + 7 * 15);
        assert_eq!(
            lines[2]
                .split("  ")
                .filter(|s| !s.is_empty())
                .map(str::trim)
                .collect::<Vec<_>>(),
            [
                "CPU",
                "count",
                "real total",
                "virtual total",
                "delay total",
                "delay average",
                "delay max",
                "delay min"
            ]
        );
        assert_eq!(lines[3].len(), 10 + 4 * 15 + 17 + 15 + 15);
        assert!(
            lines[3].starts_with(&format!("{}374 ", " ".repeat(10 + 12))),
            "{}",
            lines[3]
        );
        assert!(
            lines[3].contains("       17045851          0.046ms"),
            "{}",
            lines[3]
        );
        for (i, name) in [
            "IO",
            "SWAP",
            "RECLAIM",
            "THRASHING",
            "COMPACT",
            "WPCOPY",
            "IRQ",
        ]
        .iter()
        .enumerate()
        {
            let head = lines[4 + 2 * i];
            assert_eq!(head.len(), 10 + 5 * 15, "{head}");
            assert_eq!(&head[..10], format!("{name:<10}"));
            assert!(head.ends_with("  delay max      delay min"), "{head}");
            assert_eq!(lines[5 + 2 * i].len(), 10 + 2 * 15 + 17 + 15 + 15);
        }
    }

    #[test]
    fn layout_follows_the_struct_version() {
        let mut v14 = synthetic(14);
        put_field(&mut v14, 14, Field::CpuCount, 4).unwrap();
        put_field(&mut v14, 14, Field::CpuDelayTotal, 6_000_000).unwrap();
        let text = delayacct(&Taskstats::new(&v14).unwrap());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2].len(), 10 + 5 * 15, "no max/min columns before v16");
        assert_eq!(lines[3].len(), 10 + 4 * 15 + 17);
        assert!(
            lines[3].ends_with("          1.500ms"),
            "6 ms over 4 delays: {}",
            lines[3]
        );
        let v17 = synthetic(17);
        let text = delayacct(&Taskstats::new(&v17).unwrap());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2].len(), 10 + 7 * 15 + 25);
        assert!(lines[2].ends_with("delay max timestamp"));
        assert_eq!(lines[3].len(), 10 + 4 * 15 + 17 + 15 + 15 + 23);
        let v11 = synthetic(11);
        let text = delayacct(&Taskstats::new(&v11).unwrap());
        assert!(text.contains("\nCOMPACT ") && !text.contains("WPCOPY") && !text.contains("IRQ"));
    }

    #[test]
    fn io_ctxsw_and_cgroup_lines() {
        let s = pid1().stats;
        assert!(
            ioacct(&s).starts_with("process_api: read="),
            "{}",
            ioacct(&s)
        );
        let c = ctxsw(&s);
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines[2], "Task         voluntary   nonvoluntary");
        assert_eq!(lines[3].len(), 7 + 30);
        let cg = CgroupStats {
            nr_sleeping: 1,
            nr_running: 2,
            nr_stopped: 3,
            nr_uninterruptible: 4,
            nr_io_wait: 5,
        };
        assert_eq!(
            cgroupstats(&cg),
            "sleeping 1, blocked 5, running 2, stopped 3, uninterruptible 4\n"
        );
    }
}
