//! `taskwire listen`: exit records as they happen, one line or JSON object each.

use std::ffi::OsString;
use std::io::{BufWriter, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use taskwire_core::cpulist::CpuSet;
use taskwire_core::taskstats::Kind;

use crate::client::Client;
use crate::cpus::CpuArg;
use crate::errors::{ClientError, Op};
use crate::flags::Flags;
use crate::listener::{self, Consumer, Event, Flow, Stopped};
use crate::printer::Printer;
use crate::socket;
use crate::{cpus, delayacct};
use taskwire_cli::Failure;
use taskwire_cli::args::{Arg, Args, Format, Parsed, parse_bytes, parse_count};
use taskwire_cli::help::{EXIT_STATUS, PRIVILEGE, REGISTRATION};
use taskwire_cli::output::{eprintln, json, text};
use taskwire_cli::signals::{self, SignalFd};

/// Options of `taskwire listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opts {
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

/// Parses `listen` arguments.
pub fn parse(items: Vec<OsString>) -> Result<Parsed<Opts>, Failure> {
    let mut args = Args::new("listen", items);
    let mut flags = Flags::default();
    let mut opts = Opts {
        cpus: CpuArg::All,
        rcvbuf: None,
        format: Format::Text,
        count: None,
        enable_delayacct: false,
    };
    while let Some(arg) = args.next_arg()? {
        if arg.is_help() {
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
            // listen prints whole records: --io and --ctxsw are not its flags.
            "format" | "enable-delayacct" => {
                flags.take(&mut args, &name, v)?;
            }
            _ => return Err(args.unexpected(&Arg::Long(name, v))),
        }
    }
    opts.format = flags.format;
    opts.enable_delayacct = flags.enable_delayacct;
    Ok(Parsed::Run(opts))
}

/// `taskwire listen --help`.
pub fn help() -> String {
    format!(
        "Usage: taskwire listen [--cpus LIST|all] [--rcvbuf BYTES] [--format text|json]\n\
         \x20                      [--count N] [--enable-delayacct]\n\n\
         Registers for the exit records of the given CPUs and prints one line (or JSON\n\
         object) per record: one per exiting task, plus one per thread group when the last\n\
         thread of a multi-threaded process exits. Stops on SIGINT/SIGTERM or after N\n\
         records, deregisters, prints a summary (records, loss events) on stderr, exits 0.\n\
         When the receive buffer overflows the kernel drops records (ENOBUFS): each such\n\
         loss event is counted and reported; a larger --rcvbuf helps.\n\n\
         Options:\n\
         \x20 --cpus LIST|all      CPUs such as 0-3,5; all (default) means every CPU in\n\
         \x20                      /sys/devices/system/cpu/possible\n\
         \x20 --rcvbuf BYTES       receive buffer, e.g. 4M (SO_RCVBUFFORCE when privileged;\n\
         \x20                      default RAM/64, between 256K and 16M)\n\
         \x20 --count N            stop after N records\n\
         \x20 --format text|json   output format\n\
         \x20 --enable-delayacct   set kernel.task_delayacct=1 first (needs root)\n\
         \x20 -h, --help           this text\n\n\
         {REGISTRATION}{PRIVILEGE}\n{EXIT_STATUS}"
    )
}

/// Prints records and counts what it saw.
pub struct Lines<W: Write> {
    out: Printer<W>,
    format: Format,
    limit: Option<u64>,
    /// Per-task records printed.
    pub pid_records: u64,
    /// Per-thread-group records printed.
    pub tgid_records: u64,
    /// ENOBUFS events.
    pub loss_events: u64,
    rcvbuf: Option<usize>,
    delayacct_off: bool,
    /// When loss was last reported on stderr: at most once a second, so that a flood of
    /// ENOBUFS does not become a flood of lines (each still counts, and appears in JSON).
    loss_reported: Option<Instant>,
    /// The line being written, its allocation kept from record to record.
    line: String,
}

impl<W: Write> Lines<W> {
    /// Lines to `out`, stopping after `limit` records.
    pub fn new(out: W, format: Format, limit: Option<u64>) -> Self {
        Lines {
            out: Printer::new(out),
            format,
            limit,
            pid_records: 0,
            tgid_records: 0,
            loss_events: 0,
            rcvbuf: None,
            delayacct_off: false,
            loss_reported: None,
            line: String::new(),
        }
    }

    /// Records printed, both kinds.
    pub fn records(&self) -> u64 {
        self.pid_records + self.tgid_records
    }

    fn full(&self) -> bool {
        self.limit.is_some_and(|n| self.records() >= n)
    }

    /// The output stream, for inspection.
    pub fn into_inner(self) -> W {
        self.out.into_inner()
    }
}

impl<W: Write> Consumer for Lines<W> {
    fn registered(&mut self, cpus: &CpuSet) -> Flow {
        let buf = self
            .rcvbuf
            .map(|b| format!(", receive buffer {b} bytes"))
            .unwrap_or_default();
        eprintln(format_args!(
            "taskwire: listening for exit records on CPUs {cpus}{buf}"
        ));
        if self.delayacct_off {
            eprintln(format_args!("{}", delayacct::NOTICE));
        }
        Flow::Continue
    }

    fn event(&mut self, event: Event<'_>) -> Flow {
        match event {
            Event::Exit((kind, agg)) => {
                self.line.clear();
                match self.format {
                    Format::Text => self.line.push_str(&text::line(&agg, kind)),
                    Format::Json => json::aggregate_into(&mut self.line, kind.name(), &agg),
                    // --format takes Format::TEXT_JSON here.
                    Format::Csv => unreachable!("listen prints text or json"),
                }
                self.line.push('\n');
                if self.out.write(&self.line) == Flow::Stop {
                    return Flow::Stop;
                }
                match kind {
                    Kind::Pid => self.pid_records += 1,
                    Kind::Tgid => self.tgid_records += 1,
                }
                if self.full() {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            }
            Event::Loss => {
                self.loss_events += 1;
                if self
                    .loss_reported
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                {
                    self.loss_reported = Some(Instant::now());
                    eprintln(format_args!(
                        "taskwire: records lost: the receive buffer overflowed (ENOBUFS; {} loss \
                         events so far); a larger --rcvbuf helps",
                        self.loss_events
                    ));
                }
                if self.format == Format::Json {
                    let mut j = json::Json::new();
                    j.str("type", "loss").u64("event", self.loss_events);
                    return self.out.write(&(j.finish() + "\n"));
                }
                Flow::Continue
            }
            Event::Truncated(len) => {
                eprintln(format_args!(
                    "taskwire: dropped a {len}-byte message longer than the receive buffer"
                ));
                Flow::Continue
            }
            Event::Undecodable(e) => {
                eprintln(format_args!(
                    "taskwire: dropped a message that does not decode: {e}"
                ));
                Flow::Continue
            }
        }
    }

    fn idle(&mut self) -> Flow {
        self.out.flush()
    }
}

/// Runs `taskwire listen`.
pub fn main(opts: Opts) -> Result<i32, Failure> {
    let possible = cpus::possible().map_err(Failure::Runtime)?;
    let set = cpus::resolve(&opts.cpus, &possible).map_err(|e| Failure::usage("listen", e))?;
    if opts.enable_delayacct {
        delayacct::enable().map_err(Failure::Runtime)?;
    }
    // Block the stop signals before anything else could start a thread.
    let sigfd = SignalFd::open(&signals::STOP_SIGNALS)
        .map_err(|e| Failure::Runtime(format!("setting up SIGINT/SIGTERM handling: {e}")))?;
    let mut client = Client::connect()?;
    let rcvbuf = client
        .socket()
        .set_recv_buffer(opts.rcvbuf.unwrap_or_else(socket::default_recv_buffer))
        .map_err(|errno| ClientError::Os {
            op: Op::RecvBuffer,
            errno,
        })?;
    // A stop signal ends a write blocked on a pipe nobody reads, so that listen still
    // deregisters.
    let out = BufWriter::with_capacity(16 * 1024, signals::Stdout);
    let mut lines = Lines::new(out, opts.format, opts.count);
    lines.rcvbuf = Some(rcvbuf);
    // Said once registered, so that a refused registration prints its error alone.
    lines.delayacct_off =
        delayacct::read_at(std::path::Path::new(delayacct::SYSCTL)) == delayacct::State::Off;
    let (stopped, summary) = listener::listen(&mut client, &set, Some(sigfd.as_fd()), &mut lines)?;
    let why = match stopped {
        Stopped::Woken => sigfd.take().map_or("a signal", signals::name).to_owned(),
        Stopped::Consumer if signals::caught().is_some() => signals::caught()
            .map_or("a signal", signals::name)
            .to_owned(),
        Stopped::Consumer if lines.out.failed() => "an output error".to_owned(),
        Stopped::Consumer => format!("--count {}", opts.count.unwrap_or_default()),
    };
    let mut extra = String::new();
    if summary.truncated > 0 {
        extra += &format!(", {} truncated", summary.truncated);
    }
    if summary.undecodable > 0 {
        extra += &format!(", {} undecodable", summary.undecodable);
    }
    eprintln(format_args!(
        "taskwire: {} records ({} per-task, {} per-thread-group), {} loss events{extra}; \
         stopped by {why}, deregistered",
        lines.records(),
        lines.pid_records,
        lines.tgid_records,
        summary.loss_events
    ));
    let write_error = lines.out.take_error();
    let flushed = lines.into_inner().into_inner().map_err(|e| e.into_error());
    match write_error.or(flushed.err()) {
        None => Ok(0),
        // Stopped by a signal while stdout was blocked: what was not written is dropped.
        Some(_) if signals::caught().is_some() => Ok(0),
        // `taskwire listen | head` ends the reader first: not taskwire's failure.
        Some(e) if e.raw_os_error() == Some(rustix::io::Errno::PIPE.raw_os_error()) => Ok(0),
        Some(e) => Err(Failure::Runtime(format!("writing to stdout: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::test_args::{usage_msg, v};

    #[test]
    fn listen_options() {
        let Parsed::Run(o) = parse(v(&[])).unwrap() else {
            panic!()
        };
        assert_eq!(o.cpus, CpuArg::All);
        assert_eq!((o.rcvbuf, o.count), (None, None));
        let Parsed::Run(o) = parse(v(&[
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
        assert!(usage_msg(parse(v(&["--cpus", "1-0"]))).contains("invalid CPU list"));
        assert!(usage_msg(parse(v(&["--cpus", "x"]))).contains("invalid CPU list"));
        assert!(usage_msg(parse(v(&["--count", "0"]))).contains("at least 1"));
        assert!(usage_msg(parse(v(&["--io"]))).contains("unknown option"));
    }

    #[test]
    fn help_documents_exit_codes() {
        let text = help();
        assert!(text.contains("2  usage error"), "{text}");
        assert!(text.contains("CAP_NET_ADMIN"), "{text}");
    }
}
