//! `taskwire stream`: exit records, framed, to a UART, a socket, a file or stdout.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskwire_core::cpulist::CpuSet;
use taskwire_core::taskstats::Aggregate;
use taskwire_core::wire::{self, Kind, LossReason, Profile, Record};

use crate::client::{Client, Target};
use crate::cpus::{self, CpuArg};
use crate::errors::{ClientError, Op};
use crate::listener::{self, Consumer, Event, Flow, Stopped};
use crate::stream::framer::Framer;
use crate::stream::header::{self, Facts};
use crate::stream::link::Link;
use crate::stream::queue::Queue;
use crate::stream::reopen::Reopen;
#[cfg(feature = "sample")]
use crate::stream::sampling::Sampler;
use crate::stream::sampling::Sampling;
use crate::stream::say::{Level, say};
use crate::stream::spec::Sink;
use crate::stream::writer::{self, Settings};
use taskwire_cli::Failure;
use taskwire_cli::args::{Arg, Args, Parsed, parse_bytes, parse_count, parse_period_ms};
use taskwire_cli::help::{PRIVILEGE, REGISTRATION};
use taskwire_cli::signals::{self, SignalFd};

/// Records the queue holds by default, by profile: a ring of about 192 KiB, which keeps a
/// static agent with a full queue under 1 MiB resident (BENCHMARKS.md).
pub const fn default_queue(profile: Profile) -> usize {
    match profile {
        Profile::Full => 1536,
        Profile::Acct => 3072,
        Profile::Delays => 4096,
    }
}
/// Default heartbeat period, in seconds.
pub const DEFAULT_HEARTBEAT_SECS: u64 = 10;
/// How long a stopping agent keeps writing what is queued.
const FLUSH_GRACE: Duration = Duration::from_secs(1);

/// Queue bytes per record, by profile: a little over the mean payload of real records
/// (core/WIRE.md section 5: frames of 125, 56 and 35 bytes on average for full, acct and
/// delays) plus the 2-byte entry header. Records larger than that fill the queue sooner
/// than its record count says.
pub const fn bytes_per_record(profile: Profile) -> usize {
    match profile {
        Profile::Full => 128,
        Profile::Acct => 64,
        Profile::Delays => 40,
    }
}

/// Options of `taskwire stream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opts {
    /// Where the stream goes.
    pub to: Sink,
    /// CPUs to register for.
    pub cpus: CpuArg,
    /// Receive buffer to ask for, in bytes.
    pub rcvbuf: Option<usize>,
    /// Which fields each record carries.
    pub profile: Profile,
    /// Board name for the header (default: the hostname).
    pub id: Option<String>,
    /// Heartbeat period; None = off.
    pub heartbeat: Option<Duration>,
    /// Queue capacity, in records; None = [`default_queue`] of the profile.
    pub queue: Option<usize>,
    /// Write 1 to kernel.task_delayacct first.
    pub enable_delayacct: bool,
    /// `--sample SECS [--sample-top N]`: samples of live thread groups beside the records.
    pub sample: Option<Sampling>,
    /// `--key FILE`: prove to the collector that this board knows the shared key.
    pub key: Option<std::path::PathBuf>,
    /// `--syslog[=SOCKET]`: the lines of stderr to the system logger too.
    pub syslog: Option<std::path::PathBuf>,
}

/// Why `--sample` is refused by a build without feature `sample`.
const NO_SAMPLE: &str = "--sample is not in this build (the stream-only build, \
     CROSS_FEATURES=stream); it is in the board build (cross/build's default, \
     CROSS_FEATURES=board) and the host build";

/// Why `--syslog` is refused by a build without feature `service`.
const NO_SYSLOG: &str = "--syslog is not in this build: it is in the board build \
     (CROSS_FEATURES=board) and the host build, or add feature service";

/// The config file `stream` reads when not given `--config FILE`, if it exists.
pub const DEFAULT_CONFIG: &str = "/etc/taskwire.conf";

/// The options a config file line or a `TASKWIRE_*` variable may set: every option.
pub const OPTIONS: &[&str] = &[
    "to",
    "cpus",
    "rcvbuf",
    "profile",
    "id",
    "heartbeat",
    "queue",
    "enable-delayacct",
    "sample",
    "sample-top",
    "key",
    "syslog",
];

/// Parses `stream` arguments after the options of the config file and the environment
/// (feature `service`; without it, the command line alone).
pub fn parse_configured(items: Vec<OsString>) -> Result<Parsed<Opts>, Failure> {
    #[cfg(feature = "service")]
    let args = taskwire_cli::config::layered(
        "stream",
        OPTIONS,
        items,
        &|var| taskwire_cli::sys::env::var(var).map(std::ffi::OsStr::to_os_string),
        std::path::Path::new(DEFAULT_CONFIG),
    )?;
    #[cfg(not(feature = "service"))]
    let args = Args::new("stream", items);
    parse_args(args)
}

/// Parses `stream` arguments, the command line alone.
pub fn parse(items: Vec<OsString>) -> Result<Parsed<Opts>, Failure> {
    parse_args(Args::new("stream", items))
}

fn parse_args(mut args: Args) -> Result<Parsed<Opts>, Failure> {
    let mut to = None;
    let mut cpus = CpuArg::All;
    let mut rcvbuf = None;
    let mut profile = Profile::Full;
    let mut id = None;
    let mut heartbeat = Some(Duration::from_secs(DEFAULT_HEARTBEAT_SECS));
    let mut queue = None;
    let mut enable_delayacct = false;
    let mut sample_ms = None;
    let mut sample_top = None;
    let mut key = None;
    let mut syslog = None;
    while let Some(arg) = args.next_arg()? {
        let (name, v) = match arg {
            a if a.is_help() => return Ok(Parsed::Help),
            Arg::Long(n, v) => (n, v),
            other => return Err(args.unexpected(&other)),
        };
        // A bare `--syslog` never takes the next item: its socket is optional.
        if name == "syslog" {
            if !cfg!(feature = "service") {
                return Err(args.usage(NO_SYSLOG));
            }
            let path = v.unwrap_or_else(|| crate::stream::say::DEV_LOG.to_owned());
            syslog = Some(std::path::PathBuf::from(path));
            continue;
        }
        if name == "enable-delayacct" {
            args.no_value(&name, v)?;
            enable_delayacct = true;
            continue;
        }
        let value = args.value(&name, v.clone());
        match name.as_str() {
            "to" if to.is_some() => {
                return Err(args.usage("--to given twice: a stream has one sink"));
            }
            "to" => to = Some(Sink::parse(&value?).map_err(|e| args.usage(e))?),
            "key" => key = Some(std::path::PathBuf::from(value?)),
            "cpus" => cpus = CpuArg::parse(&value?).map_err(|e| args.usage(e))?,
            "rcvbuf" => rcvbuf = Some(parse_bytes(&value?, "--rcvbuf").map_err(|e| args.usage(e))?),
            "profile" => {
                let p = value?;
                profile = Profile::from_name(&p).ok_or_else(|| {
                    args.usage(format!(
                        "invalid --profile '{p}': expected full, acct or delays"
                    ))
                })?;
            }
            "id" => {
                let s = value?;
                header::check_id(&s).map_err(|e| args.usage(e))?;
                id = Some(s);
            }
            "heartbeat" => {
                let s = value?;
                heartbeat = match s.parse::<u64>() {
                    Ok(0) => None,
                    Ok(n) if n <= 86_400 => Some(Duration::from_secs(n)),
                    _ => {
                        return Err(args.usage(format!(
                            "invalid --heartbeat '{s}': seconds from 0 (off) to 86400"
                        )));
                    }
                };
            }
            "queue" => {
                let s = value?;
                let n = parse_count(&s, "--queue").map_err(|e| args.usage(e))?;
                // Past a million records the queue alone is over 100 MiB: surely a typo.
                if n > 1 << 20 {
                    return Err(args.usage(format!(
                        "invalid --queue '{s}': at most {} records",
                        1 << 20
                    )));
                }
                queue = Some(n as usize);
            }
            // (Without the feature the two arms after this one are dead code: not linked.)
            "sample" | "sample-top" if !cfg!(feature = "sample") => {
                return Err(args.usage(NO_SAMPLE));
            }
            "sample" => {
                sample_ms = Some(parse_period_ms(&value?, "--sample").map_err(|e| args.usage(e))?);
            }
            "sample-top" => {
                let n = parse_count(&value?, "--sample-top").map_err(|e| args.usage(e))?;
                sample_top = Some(usize::try_from(n).unwrap_or(usize::MAX));
            }
            _ => return Err(args.unexpected(&Arg::Long(name, v))),
        }
    }
    let sample = match (sample_ms, sample_top) {
        (Some(period_ms), top) => Some(Sampling { period_ms, top }),
        (None, Some(_)) => {
            return Err(args.usage(
                "--sample-top N picks the thread groups of each sample: give --sample SECS too",
            ));
        }
        (None, None) => None,
    };
    let Some(to) = to else {
        return Err(args.usage(
            "--to SINK is required (serial:/dev/ttyX, tcp:HOST:PORT, unix:PATH, file:PATH or -)",
        ));
    };
    if key.is_some() && !matches!(to, Sink::Tcp { .. } | Sink::Unix(_)) {
        return Err(args.usage(
            "--key goes with --to tcp: or unix: (a collector challenges a connection; a \
             UART, file or pipe has no way back)",
        ));
    }
    Ok(Parsed::Run(Opts {
        to,
        key,
        cpus,
        rcvbuf,
        profile,
        id,
        heartbeat,
        queue,
        enable_delayacct,
        sample,
        syslog,
    }))
}

/// The reader's side: turns exit records into queued payloads. The queue numbers each
/// record as it is offered, kept or not: `seq` counts the records the kernel delivered
/// (per-task and per-thread-group).
struct Feeder {
    link: Arc<Link>,
    profile: Profile,
    payload: Vec<u8>,
    /// Something was queued since the writer was last woken.
    queued: bool,
    truncated: u64,
    undecodable: u64,
    /// Opens the sink and starts the writer, once registered.
    start_writer: Option<StartWriter>,
    writer: Option<taskwire_cli::sys::thread::Thread>,
    /// Why the sink could not be opened or the writer started.
    failure: Option<Failure>,
}

type StartWriter = Box<dyn FnOnce() -> Result<taskwire_cli::sys::thread::Thread, Failure>>;

impl Feeder {
    fn push(&mut self, kind: Kind, agg: &Aggregate<'_>) {
        // The payload carries seq 0: the queue knows each record's number.
        let rec = Record::from_taskstats(0, kind, agg.id, &agg.stats, self.profile);
        // MAX_PAYLOAD_LEN bytes hold any record (core tests the bound); should encoding
        // fail anyway, the record still takes its number and is reported lost.
        let encoded = wire::encode_record_payload(&rec, &mut self.payload);
        let mut st = self.link.lock();
        match encoded {
            Ok(n) => {
                st.push(&self.payload[..n]);
            }
            Err(_) => st.reject(),
        }
        drop(st);
        self.queued = true;
    }

    /// Wakes the writer once for everything queued since the last call. Called when the
    /// reader has drained what the kernel had (at most 64 messages), not per record: the
    /// writer then frames and writes a batch per wake-up instead of a record or two
    /// (BENCHMARKS.md).
    fn wake_writer(&mut self) {
        if std::mem::take(&mut self.queued) {
            self.link.wake_writer();
        }
    }

    fn flow(&self) -> Flow {
        if self.link.lock().fatal().is_some() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

impl Consumer for Feeder {
    fn registered(&mut self, cpus: &CpuSet) -> Flow {
        say(
            Level::Info,
            format_args!("registered for exit records on CPUs {cpus}"),
        );
        if let Some(start) = self.start_writer.take() {
            match start() {
                Ok(w) => self.writer = Some(w),
                Err(f) => {
                    self.failure = Some(f);
                    return Flow::Stop;
                }
            }
        }
        self.flow()
    }

    fn event(&mut self, event: Event<'_>) -> Flow {
        match event {
            Event::Exit((kind, agg)) => self.push(kind, &agg),
            Event::Loss => {
                self.link.lock().note_enobufs(1);
                self.queued = true;
            }
            // Neither can be counted as records on the wire (no record was decoded);
            // they are rare enough to name on stderr.
            Event::Truncated(len) => {
                self.truncated += 1;
                say(
                    Level::Warning,
                    format_args!("dropped a {len}-byte message longer than the receive buffer"),
                );
            }
            Event::Undecodable(e) => {
                self.undecodable += 1;
                say(
                    Level::Warning,
                    format_args!("dropped a message that does not decode: {e}"),
                );
            }
        }
        Flow::Continue
    }

    fn idle(&mut self) -> Flow {
        self.wake_writer();
        self.flow()
    }
}

/// What starts the writer thread over `connector`.
fn writer_start(
    mut connector: Reopen,
    link: Arc<Link>,
    framer: Framer,
    settings: Settings,
    started: Instant,
) -> StartWriter {
    Box::new(move || {
        let first = connector.open_first()?;
        // Frames are built on the writer's stack (a record is about 1 KiB); 64 KiB is
        // plenty and keeps the agent's memory small.
        crate::stream::spawn_thread(
            c"sink",
            64 * 1024,
            Box::new(move || {
                writer::run(
                    &link,
                    &mut connector,
                    first,
                    framer,
                    settings,
                    started,
                    &|| {
                        // Wake the reader through its signalfd: the signal is blocked
                        // everywhere.
                        let _ = rustix::process::kill_process(
                            rustix::process::getpid(),
                            rustix::process::Signal::TERM,
                        );
                    },
                )
            }),
        )
        .map_err(|e| Failure::Runtime(format!("starting the sink writer: {e}")))
    })
}

/// The kernel's `struct taskstats` version, from a GET of this process.
fn taskstats_version(client: &mut Client) -> u16 {
    let me = rustix::process::getpid().as_raw_nonzero().get() as u32;
    client
        .get(Target::Pid(me))
        .ok()
        .and_then(|r| r.pid)
        .map_or(0, |a| a.stats.version())
}

/// Runs `taskwire stream`.
pub fn main(opts: Opts) -> Result<i32, Failure> {
    #[cfg(feature = "service")]
    if let Some(path) = &opts.syslog {
        crate::stream::say::open_syslog(path).map_err(Failure::Runtime)?;
    }
    let result = run(opts);
    // stderr gets the failure from the dispatcher; the logger (if open) from here.
    #[cfg(feature = "service")]
    if let Err(f) = &result {
        crate::stream::say::to_syslog(Level::Err, format_args!("{f}"));
    }
    result
}

// Kept out of the dispatcher in the board build, where inlining it costs more bytes than
// the call; the stream-only builds are smaller with it inlined (README "Binary size").
#[cfg_attr(feature = "board", inline(never))]
fn run(opts: Opts) -> Result<i32, Failure> {
    let started = Instant::now();
    // First: a bad key file is a usage error, before anything registers or connects.
    let key = match &opts.key {
        Some(path) => Some(taskwire_cli::key::read_key("stream", path)?),
        None => None,
    };
    #[cfg(feature = "mqtt")]
    let password = match &opts.to {
        Sink::Mqtt(crate::stream::spec::Mqtt {
            password_file: Some(path),
            ..
        }) => Some(taskwire_cli::key::read_password("stream", path)?),
        _ => None,
    };
    let possible = cpus::possible().map_err(Failure::Runtime)?;
    let set = cpus::resolve(&opts.cpus, &possible).map_err(|e| Failure::usage("stream", e))?;
    // Block the stop signals before the writer thread starts: it inherits the mask.
    let sigfd = SignalFd::open(&signals::STOP_SIGNALS)
        .map_err(|e| Failure::Runtime(format!("setting up SIGINT/SIGTERM handling: {e}")))?;
    let mut client = Client::connect()?;
    client
        .socket()
        .set_recv_buffer(
            opts.rcvbuf
                .unwrap_or_else(crate::socket::default_recv_buffer),
        )
        .map_err(|errno| ClientError::Os {
            op: Op::RecvBuffer,
            errno,
        })?;
    if opts.profile != Profile::Acct {
        let state = crate::delayacct::prepare(opts.enable_delayacct, &mut std::io::sink())
            .map_err(Failure::Runtime)?;
        if state == crate::delayacct::State::Off {
            say(Level::Warning, format_args!("{}", crate::delayacct::NOTICE));
        }
    } else if opts.enable_delayacct {
        crate::delayacct::enable().map_err(Failure::Runtime)?;
    }
    let facts = Facts::read(opts.id.as_deref(), taskstats_version(&mut client));
    // The baseline sweep now, so that a sampler that cannot work is an error at start.
    #[cfg(feature = "sample")]
    let sampler = match opts.sample {
        Some(s) => Some(
            Sampler::new(s, Client::connect()?)
                .map_err(|e| Failure::Runtime(format!("sampling: {e}")))?,
        ),
        None => None,
    };

    let settings = Settings {
        heartbeat: opts.heartbeat,
        ..Settings::default()
    };
    let records = opts.queue.unwrap_or(default_queue(opts.profile));
    let bytes = records.saturating_mul(bytes_per_record(opts.profile));
    let link = Arc::new(Link::new(Queue::new(records, bytes)));
    let rate = match &opts.to {
        Sink::Serial(s) => format!(
            " (the line carries {} bytes/s)",
            taskwire_cli::serial::bytes_per_second(s.baud)
        ),
        _ => String::new(),
    };
    // What writes the stream: the sink's own opening, or a broker's session.
    #[cfg(feature = "mqtt")]
    let connector = match opts.to {
        Sink::Mqtt(m) => Reopen::publisher(crate::stream::mqtt::Publisher::new(
            m,
            &facts.board_id,
            password,
        )),
        sink => Reopen::new(sink, key),
    };
    #[cfg(not(feature = "mqtt"))]
    let connector = Reopen::new(opts.to, key);
    let to = writer::Connector::name(&connector);
    #[cfg(not(feature = "sample"))]
    let sampling = "";
    #[cfg(feature = "sample")]
    let sampling = match opts.sample {
        Some(Sampling { period_ms, top }) => format!(
            ", a sample every {period_ms} ms of {}",
            top.map_or("the thread groups that moved".to_owned(), |n| format!(
                "the {n} thread groups with the most delay"
            ))
        ),
        None => String::new(),
    };
    say(
        Level::Info,
        format_args!(
            "to {to}{rate} as '{}', profile {}, queue {} records ({} KiB){sampling}",
            facts.board_id,
            opts.profile.name(),
            records,
            link.lock().queue().byte_capacity() / 1024
        ),
    );
    let framer = Framer::new(facts.header());
    // The sink is opened (a file created, a broker connected to) only once the kernel
    // has accepted the registration: a refused run leaves nothing behind.
    let start_writer = writer_start(connector, link.clone(), framer, settings, started);
    #[cfg(feature = "sample")]
    let sampler = match sampler {
        Some(s) => Some(
            s.spawn(link.clone(), started)
                .map_err(|e| Failure::Runtime(format!("starting the sampler: {e}")))?,
        ),
        None => None,
    };

    let mut feeder = Feeder {
        link: link.clone(),
        profile: opts.profile,
        payload: vec![0; wire::MAX_PAYLOAD_LEN],
        queued: false,
        truncated: 0,
        undecodable: 0,
        start_writer: Some(start_writer),
        writer: None,
        failure: None,
    };
    let result = listener::listen(&mut client, &set, Some(sigfd.as_fd()), &mut feeder);
    // No sample after the close: what is queued then is what the grace flushes.
    #[cfg(feature = "sample")]
    if let Some(s) = sampler {
        s.stop();
    }
    link.close(FLUSH_GRACE);
    if let Some(failure) = feeder.failure.take() {
        return Err(failure);
    }
    // A writer blocked in write(2) on a sink that takes nothing is not waited for past
    // the grace and its last write: the process exits around it.
    let until = Instant::now() + FLUSH_GRACE + writer::LAST_WRITE + Duration::from_millis(50);
    if let Some(writer) = feeder.writer.take() {
        if link.wait_done(until) {
            writer.join();
        }
    }
    let (stopped, summary) = result?;
    let st = link.lock();
    let why = match (st.fatal(), stopped) {
        (Some(_), _) => "a sink failure".to_owned(),
        (None, Stopped::Woken) => sigfd.take().map_or("a signal", signals::name).to_owned(),
        (None, Stopped::Consumer) => "the consumer".to_owned(),
    };
    let q = st.queue();
    let mut extra = String::new();
    if feeder.truncated + feeder.undecodable > 0 {
        extra += &format!(
            ", {} truncated and {} undecodable messages dropped",
            feeder.truncated, feeder.undecodable
        );
    }
    // (Constant without the feature: the stream-only build links one summary.)
    let (intervals, samples) = match cfg!(feature = "sample") {
        true => st.sampled(),
        false => (0, 0),
    };
    let last = q.next_seq().saturating_sub(1);
    let received = match intervals {
        0 if q.next_seq() == 0 => "no records".to_owned(),
        0 => format!("{} records (seq 0 to {last})", q.next_seq()),
        _ => format!(
            "{} numbered frames (seq 0 to {last}: {} exit records, {intervals} intervals, \
             {samples} samples)",
            q.next_seq(),
            q.next_seq() - intervals - samples
        ),
    };
    say(
        Level::Info,
        format_args!(
            "received {received}: {} written ({} not acknowledged), {} in a \
         write cut short, {} left unsent and unreported; lost {} to queue overflow and {} to sink outages, {} of them \
         cut at shutdown; {} ENOBUFS events{extra}; {} reconnects; stopped by {why}, \
         deregistered",
            st.records_written(),
            st.records_unacknowledged(),
            st.records_framed() - st.records_written(),
            q.depth(),
            q.lost(LossReason::QueueOverflow),
            q.lost(LossReason::SinkOutage),
            st.records_cut(),
            summary.loss_events,
            st.reconnects(),
        ),
    );
    match st.fatal() {
        Some(msg) => Err(Failure::Runtime(msg.to_owned())),
        None => Ok(0),
    }
}

/// The MQTT sink's line of the help, in builds that have it.
#[cfg(feature = "mqtt")]
const MQTT_HELP: &str =
    "  mqtt://HOST[:PORT][/TOPIC][,OPTION...]  publish to an MQTT 5 broker (README)\n";
#[cfg(not(feature = "mqtt"))]
const MQTT_HELP: &str = "";

#[cfg(feature = "service")]
const SERVICE_USAGE: &str = "                       [--syslog[=SOCKET]] [--config FILE]\n";
#[cfg(not(feature = "service"))]
const SERVICE_USAGE: &str = "";
#[cfg(feature = "service")]
const SERVICE_OPTIONS: &str = "  --syslog[=SOCKET]    also send each line to the system logger (RFC 3164,\n\
    \x20                      facility daemon, tag taskwire[PID]; default /dev/log)\n\
    \x20 --config FILE        options from FILE (default /etc/taskwire.conf if it exists)\n";
#[cfg(not(feature = "service"))]
const SERVICE_OPTIONS: &str = "";
#[cfg(feature = "service")]
const SERVICE_HELP: &str = "Config file and environment: every option but --config as a line 'NAME = VALUE'\n\
    (a flag: 'NAME' alone; '#' starts a comment line) or a variable TASKWIRE_NAME\n\
    (upper case, '-' as '_': TASKWIRE_SAMPLE_TOP=5; a flag: set and empty). The command\n\
    line wins over the environment, the environment over the file.\n\n";
#[cfg(not(feature = "service"))]
const SERVICE_HELP: &str = "";

/// `taskwire stream --help`.
pub fn help() -> String {
    format!(
        "Usage: taskwire stream --to SINK [--cpus LIST|all] [--rcvbuf BYTES]\n\
         \x20                      [--profile full|acct|delays] [--id NAME]\n\
         \x20                      [--heartbeat SECS] [--queue RECORDS] [--enable-delayacct]\n\
         \x20                      [--sample SECS [--sample-top N]] [--key FILE]\n{SERVICE_USAGE}\n\
         Registers for exit records and sends them to SINK in taskwire's record stream\n\
         (core/WIRE.md: COBS frames with a CRC-32):\n\n\
         \x20 serial:/dev/ttyX[,baud=N][,rtscts]  a UART, raw 8N1; N a standard rate (default\n\
         \x20                                     115200); rtscts = hardware flow control\n\
         \x20 tcp:HOST:PORT                       connect to a collector ([::1]:PORT for IPv6)\n\
         \x20 unix:PATH                           connect to a Unix stream socket\n\
         \x20 file:PATH                           append to a file\n\
         \x20 -                                   stdout\n{MQTT_HELP}\n\
         A header (board id, kernel, CPUs, boot time) opens the stream; each record\n\
         carries its sequence number. What a bounded queue drops (overflow, sink outage,\n\
         kernel ENOBUFS) is reported by Loss frames. A failed sink is reopened (100 ms\n\
         doubling to 5 s); a collector not up at start is waited for.\n\n\
         --sample SECS adds an Interval and a Sample per thread group that moved (top's\n\
         sweep) every SECS seconds, numbered and lost like records (20 tasks every 2 s:\n\
         5.4% of a 115200-baud line). Not in the stream-only board build.\n\n\
         SIGINT/SIGTERM: deregister, flush for up to 1 s, report the rest as lost, print\n\
         a summary, exit 0. More: README.md, \"Streaming from a board to a host\".\n\n\
         Options:\n\
         \x20 --to SINK            where to send the stream (required)\n\
         \x20 --cpus LIST|all      CPUs such as 0-3,5; all (default) = every possible CPU\n\
         \x20 --key FILE           tcp:/unix: prove to the collector (decode --key) that this\n\
         \x20                      board has the key in FILE; no records without it\n\
         \x20 --rcvbuf BYTES       netlink receive buffer, against ENOBUFS (default: RAM/64,\n\
         \x20                      256K to 16M)\n\
         \x20 --profile P          fields per record: full (default, every field, about 125\n\
         \x20                      bytes a record), acct (procacct's fields plus CPU and\n\
         \x20                      memory, about 56), delays (delay counts and totals, no\n\
         \x20                      command name, about 35). At 115200 baud a UART carries\n\
         \x20                      about 92, 207 or 328 records a second\n\
         \x20 --id NAME            board name for the header (default: the hostname)\n\
         \x20 --heartbeat SECS     send uptime, records sent, drops and queue depth every\n\
         \x20                      SECS seconds (default {DEFAULT_HEARTBEAT_SECS}; 0 = off)\n\
         \x20 --queue RECORDS      queue capacity in records (default 1536 full, 3072 acct,\n\
         \x20                      4096 delays), also bounded in bytes: RECORDS x 128\n\
         \x20                      (full), 64 (acct) or 40 (delays)\n\
         \x20 --enable-delayacct   set kernel.task_delayacct=1 first (needs root)\n\
         \x20 --sample SECS        also a sample of live thread groups every SECS seconds\n\
         \x20                      (0.1 to 86400; decimals: 0.5)\n\
         \x20 --sample-top N       only the N thread groups with the most delay\n{SERVICE_OPTIONS}\
         \x20 -h, --help           this text\n\n{SERVICE_HELP}{REGISTRATION}{PRIVILEGE}\n\
         Exit status:\n\
         \x20 0  stopped by SIGINT/SIGTERM\n\
         \x20 1  runtime error (the kernel refused, sink missing or not writable, stdout closed)\n\
         \x20 2  usage error (bad option, CPU list or sink)\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `None` for help.
    fn p(a: &[&str]) -> Result<Option<Opts>, Failure> {
        parse(a.iter().map(OsString::from).collect()).map(|p| match p {
            Parsed::Run(o) => Some(o),
            Parsed::Help => None,
        })
    }

    #[test]
    fn one_sink_only() {
        let e = p(&["--to", "-", "--to", "file:/tmp/x"])
            .err()
            .map(|f| f.to_string());
        let msg = e.unwrap_or_default();
        assert!(msg.contains("--to given twice"), "{msg}");
        assert!(p(&["--to", "-", "--to", "-"]).is_err());
    }

    #[test]
    fn defaults_and_every_option() {
        let o = p(&["--to", "-"]).unwrap().unwrap();
        assert_eq!(o.to, Sink::Stdout);
        assert_eq!(o.profile, Profile::Full);
        assert_eq!(o.queue, None);
        assert_eq!(o.heartbeat, Some(Duration::from_secs(10)));
        assert_eq!(o.cpus, CpuArg::All);
        let o = p(&[
            "--to=serial:/dev/ttyS1,baud=9600",
            "--cpus",
            "0",
            "--rcvbuf=1M",
            "--profile",
            "delays",
            "--id",
            "b1",
            "--heartbeat=0",
            "--queue",
            "64",
            "--enable-delayacct",
        ])
        .unwrap()
        .unwrap();
        assert!(matches!(&o.to, Sink::Serial(s) if s.baud == 9600));
        assert_eq!(o.rcvbuf, Some(1 << 20));
        assert_eq!(o.profile, Profile::Delays);
        assert_eq!(o.id.as_deref(), Some("b1"));
        assert_eq!(o.heartbeat, None);
        assert_eq!(o.queue, Some(64));
        assert!(o.enable_delayacct);
        assert_eq!(o.sample, None);
        assert!(p(&["--help"]).unwrap().is_none());
    }

    #[cfg(feature = "sample")]
    #[test]
    fn sample_options() {
        let o = p(&["--to", "-", "--sample", "0.5"]).unwrap().unwrap();
        assert_eq!(
            o.sample,
            Some(Sampling {
                period_ms: 500,
                top: None
            })
        );
        let o = p(&["--sample-top=3", "--to", "-", "--sample", "86400"])
            .unwrap()
            .unwrap();
        assert_eq!(
            o.sample,
            Some(Sampling {
                period_ms: 86_400_000,
                top: Some(3)
            })
        );
        for (args, why) in [
            (
                &["--to", "-", "--sample", "0.09"][..],
                "between 0.1 and 86400",
            ),
            (
                &["--to", "-", "--sample", "86400.5"],
                "between 0.1 and 86400",
            ),
            (&["--to", "-", "--sample", "2s"], "seconds such as 2 or 0.5"),
            (
                &["--to", "-", "--sample", "1", "--sample-top", "0"],
                "at least 1",
            ),
            (
                &["--to", "-", "--sample-top", "5"],
                "give --sample SECS too",
            ),
            (&["--to", "-", "--sample"], "needs a value"),
        ] {
            let e = p(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
            assert!(e.to_string().contains(why), "{args:?}: {e}");
        }
    }

    #[cfg(not(feature = "sample"))]
    #[test]
    fn sample_is_a_usage_error_naming_the_build_that_has_it() {
        for args in [&["--to", "-", "--sample", "1"][..], &["--sample-top", "2"]] {
            let e = p(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
            assert!(e.to_string().contains("CROSS_FEATURES=board"), "{e}");
        }
    }

    #[test]
    fn usage_errors() {
        for (args, why) in [
            (&["--cpus", "0"][..], "--to SINK is required"),
            (&["--to", "udp:x:1"], "unknown endpoint type"),
            (&["--to", "tcp-listen:9"], "cannot listen"),
            (
                &["--to", "-", "--key", "k"],
                "--key goes with --to tcp: or unix:",
            ),
            (&["--to", "serial:/dev/ttyS1", "--key=k"], "--key goes with"),
            (
                &["--to", "-", "--profile", "all"],
                "expected full, acct or delays",
            ),
            (&["--to", "-", "--queue", "0"], "--queue"),
            (&["--to", "-", "--queue", "99999999"], "at most"),
            (&["--to", "-", "--heartbeat", "-1"], "--heartbeat"),
            (&["--to", "-", "--id", ""], "empty"),
            (&["--to", "-", "--frob"], "unknown option"),
            (&["--to"], "needs a value"),
            (&["--to", "-", "x"], "unexpected argument"),
        ] {
            let e = p(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
            let s = e.to_string();
            assert!(s.contains(why), "{args:?}: {s}");
            assert!(!s.contains('\n'));
        }
    }

    #[cfg(feature = "mqtt")]
    #[test]
    fn an_mqtt_sink_takes_no_key() {
        let o = p(&["--to", "mqtt://broker/t,user=b1"]).unwrap().unwrap();
        assert!(matches!(&o.to, Sink::Mqtt(m) if m.user.as_deref() == Some("b1")));
        let e = p(&["--to", "mqtt://broker", "--key", "k"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--key goes with"), "{e}");
        assert!(help().contains("mqtt://HOST[:PORT][/TOPIC]"));
    }

    /// Every option, once as a config file and once as variables, gives the options of
    /// the same command line.
    #[cfg(feature = "service")]
    #[test]
    fn every_option_from_the_file_and_the_environment() {
        let cmdline = [
            "--to=tcp:127.0.0.1:9",
            "--cpus=0",
            "--rcvbuf=1M",
            "--profile=delays",
            "--id=b1",
            "--heartbeat=0",
            "--queue=64",
            "--enable-delayacct",
            "--sample=0.5",
            "--sample-top=3",
            "--key=/k",
            "--syslog=/run/log",
        ];
        let want = p(&cmdline).unwrap().unwrap();
        assert_eq!(cmdline.len(), OPTIONS.len(), "a test line per option");
        let pairs: Vec<(&str, &str)> = cmdline
            .iter()
            .map(|a| {
                let a = a.trim_start_matches('-');
                a.split_once('=').unwrap_or((a, ""))
            })
            .collect();
        for (name, _) in &pairs {
            assert!(OPTIONS.contains(name), "{name}");
        }
        let file = std::env::temp_dir().join(format!("twstream-{}.conf", std::process::id()));
        let text: String = pairs
            .iter()
            .map(|(n, v)| match *v {
                "" => format!("{n}\n"),
                v => format!("# {n}\n{n} = {v}\n"),
            })
            .collect();
        std::fs::write(&file, text).unwrap();
        let layered = |env: &dyn Fn(&str) -> Option<OsString>, default: &std::path::Path| {
            let args = taskwire_cli::config::layered("stream", OPTIONS, vec![], env, default)?;
            parse_args(args)
        };
        let from_file = layered(&|_| None, &file).unwrap();
        assert_eq!(from_file, Parsed::Run(want.clone()));
        let env = |var: &str| {
            pairs
                .iter()
                .find(|(n, _)| taskwire_cli::config::env_name(n) == var)
                .map(|(_, v)| OsString::from(v))
        };
        let nowhere = std::path::Path::new("/nonexistent/taskwire.conf");
        assert_eq!(layered(&env, nowhere).unwrap(), Parsed::Run(want));
        // A bad value on a line names it.
        std::fs::write(&file, "to = -\n\nqueue = 0\n").unwrap();
        let e = layered(&|_| None, &file).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let s = e.to_string();
        assert!(
            s.starts_with(&format!("{}:3: invalid --queue '0'", file.display())),
            "{s}"
        );
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn help_names_every_option_and_sink() {
        let h = help();
        for s in [
            "--to",
            "--cpus",
            "--rcvbuf",
            "--profile",
            "--id",
            "--heartbeat",
            "--queue",
            "--enable-delayacct",
            "--sample",
            "--sample-top",
            "--key FILE",
            "--config FILE",
            "--syslog[=SOCKET]",
            "TASKWIRE_SAMPLE_TOP",
            "5.4%",
            "serial:",
            "tcp:",
            "unix:",
            "file:",
            "ENOBUFS",
            "2  usage",
        ] {
            assert!(h.contains(s), "{s}");
        }
    }
}
