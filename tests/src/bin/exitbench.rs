//! End-to-end exit-storm benchmark of the taskwire agent.
//!
//! ```text
//! exitbench [--runs N] [--threads N] [--procs N] [--sinks listen,json,file,tcp,c]
//!           [--agent PATH] [--decoder PATH] [--storm PATH] [--c-listener PATH]
//!           [--batch B] [--comm NAME]
//!           [--settle-ms MS] [--drain-ms MS] [--agent-arg ARG]... [--agent-env NAME=VALUE]...
//!           [--decode-runs N] [--json] [--tmp DIR]
//! ```
//!
//! Per run: start the agent (`listen` to a file, as text or `--format json`, `stream --to
//! file:`, or `stream --to tcp:` into `decode --from tcp-listen:` on loopback) or the C
//! baseline (bench/c-listener.c, getdelays-style, its lines to a file just as listen's),
//! wait for its "registered" line on
//! stderr, run one storm (`--threads N` or `--procs N`, each a separate run), wait
//! `--drain-ms`, read the agent's peak RSS (VmHWM in /proc/PID/status), stop it with
//! SIGTERM and reap it with `wait4`, whose rusage gives the agent's own CPU time. Then count the records
//! carrying the storm's comm in what the agent delivered (listen's text or JSON output, the
//! C listener's lines, or the stream decoded by `taskwire decode`) and read the agent's
//! own account of loss (its
//! summary line: ENOBUFS events, queue overflow) and the stream's Loss frames.
//!
//! The table gives, per sink and workload, the median and [min-max] over the runs of:
//! exits produced per second, records lost (spawned minus delivered), ENOBUFS events,
//! records the Loss frames report, records the agent handled (the storm's plus whatever
//! else exited meanwhile: CPU per record divides by this), agent user and system CPU per
//! record in microseconds, and the agent's peak RSS in KiB. `--json` adds one JSON object
//! per run on stdout.
//!
//! Within each run number every sink takes its turn (storm by storm), so load drift on a
//! shared machine hits all of them alike. When the C listener (`c`) is among the sinks, a
//! second table gives every other sink's total CPU per record as a ratio to it: the ratio
//! of the medians, and the median [min-max] of the per-run ratios.
//!
//! Then `taskwire decode --from file:` of a capture made in the same invocation (the
//! stream file of the first `stream-file` thread-storm run, or of one extra such run if
//! that sink is not measured) is timed `--decode-runs` times (default: `--runs`) per
//! format, text and json alternating, output to /dev/null: wall time and the decoder's
//! CPU (wait4 rusage), medians [min-max], and json's medians over text's.
//!
//! Needs root (CAP_NET_ADMIN), like the agent. Every child is reaped before exit.
#![deny(unsafe_code)]

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long the agent (or decoder) may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopped agent may take to exit before it is killed: its flush grace is 1 s.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// `taskwire listen`, text lines to a file.
    Listen,
    /// `taskwire listen --format json`, JSON lines to a file.
    ListenJson,
    /// `taskwire stream --to file:PATH`.
    File,
    /// `taskwire stream --to tcp:127.0.0.1:PORT` into `taskwire decode --from tcp-listen:`.
    Tcp,
    /// bench/c-listener.c, the plain C getdelays-style baseline, lines to a file.
    C,
}

impl Sink {
    fn name(self) -> &'static str {
        match self {
            Sink::Listen => "listen",
            Sink::ListenJson => "listen-json",
            Sink::File => "stream-file",
            Sink::Tcp => "stream-tcp",
            Sink::C => "c-listener",
        }
    }

    fn parse(s: &str) -> Result<Sink, String> {
        match s {
            "listen" => Ok(Sink::Listen),
            "json" | "listen-json" => Ok(Sink::ListenJson),
            "file" | "stream-file" => Ok(Sink::File),
            "tcp" | "stream-tcp" => Ok(Sink::Tcp),
            "c" | "c-listener" => Ok(Sink::C),
            _ => Err(format!("unknown sink {s:?}: listen, json, file, tcp or c")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Threads(u64),
    Procs(u64),
}

impl Workload {
    fn name(self) -> String {
        match self {
            Workload::Threads(n) => format!("{n} threads"),
            Workload::Procs(n) => format!("{n} procs"),
        }
    }
}

#[derive(Debug)]
struct Config {
    runs: usize,
    threads: u64,
    procs: u64,
    sinks: Vec<Sink>,
    agent: PathBuf,
    decoder: PathBuf,
    storm: PathBuf,
    c_listener: PathBuf,
    batch: u64,
    comm: String,
    settle: Duration,
    drain: Duration,
    agent_args: Vec<String>,
    agent_env: Vec<(String, String)>,
    decode_runs: usize,
    json: bool,
    tmp: PathBuf,
}

const USAGE: &str = "usage: exitbench [--runs N] [--threads N] [--procs N] \
                     [--sinks listen,json,file,tcp,c] [--agent PATH] [--decoder PATH] \
                     [--storm PATH] [--c-listener PATH] [--batch B] [--comm NAME] [--settle-ms MS] [--drain-ms MS] \
                     [--agent-arg ARG]... [--agent-env NAME=VALUE]... [--decode-runs N] \
                     [--json] [--tmp DIR]";

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Config, String> {
    let mut c = Config {
        runs: 5,
        threads: 100_000,
        procs: 20_000,
        sinks: vec![
            Sink::Listen,
            Sink::ListenJson,
            Sink::File,
            Sink::Tcp,
            Sink::C,
        ],
        agent: sibling("taskwire"),
        decoder: PathBuf::new(),
        storm: sibling("storm"),
        c_listener: sibling("c-listener"),
        batch: 64,
        comm: "twbench".into(),
        settle: Duration::from_millis(200),
        drain: Duration::from_millis(500),
        agent_args: Vec::new(),
        agent_env: Vec::new(),
        decode_runs: 0,
        json: false,
        tmp: std::env::temp_dir(),
    };
    let mut decoder = None;
    let mut decode_runs = None;
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--runs" => c.runs = num(&flag, &value()?)?,
            "--threads" => c.threads = num(&flag, &value()?)?,
            "--procs" => c.procs = num(&flag, &value()?)?,
            "--batch" => c.batch = num(&flag, &value()?)?,
            "--sinks" => {
                c.sinks = value()?
                    .split(',')
                    .map(Sink::parse)
                    .collect::<Result<_, _>>()?
            }
            "--agent" => c.agent = value()?.into(),
            "--decoder" => decoder = Some(PathBuf::from(value()?)),
            "--storm" => c.storm = value()?.into(),
            "--c-listener" => c.c_listener = value()?.into(),
            "--comm" => c.comm = value()?,
            "--settle-ms" => c.settle = Duration::from_millis(num(&flag, &value()?)?),
            "--drain-ms" => c.drain = Duration::from_millis(num(&flag, &value()?)?),
            "--agent-arg" => c.agent_args.push(value()?),
            "--agent-env" => {
                let kv = value()?;
                let (k, v) = kv.split_once('=').ok_or("--agent-env wants NAME=VALUE")?;
                c.agent_env.push((k.to_owned(), v.to_owned()));
            }
            "--decode-runs" => decode_runs = Some(num(&flag, &value()?)?),
            "--tmp" => c.tmp = value()?.into(),
            "--json" => c.json = true,
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    if c.runs == 0 || c.batch == 0 {
        return Err("--runs and --batch must be at least 1".into());
    }
    if c.comm.is_empty() || c.comm.len() > 15 || c.comm.contains(char::is_whitespace) {
        return Err("--comm must be 1..=15 bytes without spaces".into());
    }
    // The decoder is host-side: the agent's own binary unless told otherwise.
    c.decoder = decoder.unwrap_or_else(|| c.agent.clone());
    c.decode_runs = decode_runs.unwrap_or(c.runs);
    Ok(c)
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
}

/// A child whose stderr lines are collected by a thread and also passed on as they come.
struct Watched {
    child: Child,
    lines: Receiver<String>,
    reader: JoinHandle<Vec<String>>,
}

impl Watched {
    fn spawn(cmd: &mut Command) -> Result<Watched, String> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {cmd:?}: {e}"))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        let reader = thread::spawn(move || {
            let mut all = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                all.push(line);
            }
            all
        });
        Ok(Watched {
            child,
            lines,
            reader,
        })
    }

    fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// Waits for a stderr line containing `needle`; returns it.
    fn wait_for(&self, needle: &str) -> Result<String, String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return Ok(l),
                Ok(_) => {}
                Err(_) => return Err(format!("no {needle:?} on stderr")),
            }
        }
    }

    /// SIGTERM, then reap with rusage (SIGKILL after [`EXIT_TIMEOUT`]); returns the exit
    /// status, the rusage and every stderr line.
    fn stop(self) -> (i32, libc::rusage, Vec<String>) {
        let pid = self.pid();
        signal(pid, libc::SIGTERM);
        let (status, ru) = reap(pid);
        // The child is reaped by pid: dropping `Child` afterwards neither waits nor kills.
        drop(self.child);
        let lines = self.reader.join().unwrap_or_default();
        (status, ru, lines)
    }
}

#[allow(unsafe_code)]
fn signal(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: kill has no memory arguments; pid is our own unreaped child.
    unsafe { libc::kill(pid, sig) };
}

#[allow(unsafe_code)]
fn wait4(pid: libc::pid_t, flags: libc::c_int) -> Option<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: status and ru are valid and writable for the duration of the call.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut ru) };
        if r == pid {
            return Some((status, ru));
        }
        if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
}

/// Reaps `pid`, killing it if it has not exited within [`EXIT_TIMEOUT`].
fn reap(pid: libc::pid_t) -> (i32, libc::rusage) {
    let deadline = Instant::now() + EXIT_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(r) = wait4(pid, libc::WNOHANG) {
            return r;
        }
        thread::sleep(Duration::from_millis(5));
    }
    eprintln!("exitbench: pid {pid} did not exit after SIGTERM; killing it");
    signal(pid, libc::SIGKILL);
    #[allow(unsafe_code)]
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    wait4(pid, 0).unwrap_or((-1, unsafe { std::mem::zeroed() }))
}

fn micros(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 * 1e6 + tv.tv_usec as f64
}

/// `VmHWM` of a live process, in KiB.
fn vm_hwm_kib(pid: libc::pid_t) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn load1() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// One run's figures.
#[derive(Debug, Clone, Default)]
struct RunResult {
    exits_per_sec: f64,
    storm_secs: f64,
    spawned: u64,
    delivered: u64,
    /// Records the agent handled, all comms (its summary line).
    agent_records: u64,
    enobufs: u64,
    /// Records dropped by the agent's queue (stream only).
    queue_lost: u64,
    /// Sum of the counts in Loss frames (stream only).
    loss_frame_count: u64,
    user_us: f64,
    sys_us: f64,
    peak_rss_kib: u64,
    load1: f64,
}

impl RunResult {
    fn lost(&self) -> i64 {
        self.spawned as i64 - self.delivered as i64
    }

    fn per_record(&self, us: f64) -> f64 {
        us / self.agent_records.max(1) as f64
    }
}

/// The number after `word` in `line`'s tokens, looking backwards from `word`'s position.
fn number_before(line: &str, word: &str) -> Option<u64> {
    let toks: Vec<&str> = line.split_whitespace().collect();
    let i = toks
        .iter()
        .position(|t| t.trim_end_matches([',', ';']) == word)?;
    toks.get(i.checked_sub(1)?)?.parse().ok()
}

/// Reads listen's, stream's or the C listener's summary line: (records handled, ENOBUFS
/// events, queue losses).
fn parse_summary(lines: &[String]) -> Option<(u64, u64, u64)> {
    for l in lines.iter().rev() {
        if let Some(rest) = l.strip_prefix("taskwire stream: received ") {
            let records = rest.split_whitespace().next()?.parse().ok()?;
            let enobufs = number_before(l, "ENOBUFS")?;
            let overflow = l
                .split("lost ")
                .nth(1)
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            return Some((records, enobufs, overflow));
        }
        // listen's, and the C listener's in the same form.
        let listener = l.starts_with("taskwire: ") || l.starts_with("c-listener: ");
        if listener && l.contains(" loss events") && l.contains("records (") {
            let records = l.split_whitespace().nth(1)?.parse().ok()?;
            let loss = number_before(l, "loss")?;
            return Some((records, loss, 0));
        }
    }
    None
}

/// Counts text lines whose `comm=` token is exactly `comm` (and JSON lines, listen's
/// `--format json`, whose `"ac_comm"` is), and sums the `count=` of `loss` lines
/// (decode's text format; listen never writes those in text).
fn count_output(path: &Path, comm: &str) -> Result<(u64, u64), String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let want = format!("comm={comm}");
    let want_json = format!("\"ac_comm\":\"{comm}\"");
    let (mut records, mut loss) = (0, 0);
    for line in BufReader::new(f).split(b'\n').map_while(Result::ok) {
        let line = String::from_utf8_lossy(&line);
        if line.starts_with('{') {
            records += u64::from(line.contains(&want_json));
            continue;
        }
        let mut toks = line.split_whitespace();
        let second = toks.clone().nth(1);
        if second == Some("loss") {
            loss += toks
                .find_map(|t| t.strip_prefix("count="))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        } else if toks.any(|t| t == want) {
            records += 1;
        }
    }
    Ok((records, loss))
}

/// Storm's last stdout line: (tasks spawned, seconds, exits per second).
fn parse_storm(out: &str) -> Option<(u64, f64, f64)> {
    let line = out.lines().rev().find(|l| l.starts_with('{'))?;
    let field = |k: &str| -> Option<f64> {
        let rest = line.split(&format!("\"{k}\":")).nth(1)?;
        rest.split([',', '}']).next()?.parse().ok()
    };
    let spawned = field("threads")? as u64 + field("procs")? as u64;
    Some((spawned, field("seconds")?, field("exits_per_sec")?))
}

fn run_once(c: &Config, sink: Sink, work: Workload, dir: &Path) -> Result<RunResult, String> {
    let out_path = dir.join("out.txt");
    let stream_path = dir.join("stream.twr");
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&stream_path);

    // The TCP collector first, so the agent's first connect succeeds.
    let mut decoder = None;
    let mut agent_cmd = Command::new(&c.agent);
    match sink {
        Sink::Listen | Sink::ListenJson => {
            let out = File::create(&out_path).map_err(|e| e.to_string())?;
            agent_cmd.arg("listen").stdout(out);
            if sink == Sink::ListenJson {
                agent_cmd.args(["--format", "json"]);
            }
        }
        Sink::C => {
            // Not the agent: its own binary, with none of the agent's arguments.
            let out = File::create(&out_path).map_err(|e| e.to_string())?;
            agent_cmd = Command::new(&c.c_listener);
            agent_cmd.stdout(out);
        }
        Sink::File => {
            agent_cmd
                .args(["stream", "--to"])
                .arg(format!("file:{}", stream_path.display()))
                .stdout(Stdio::null());
        }
        Sink::Tcp => {
            let out = File::create(&out_path).map_err(|e| e.to_string())?;
            let d = Watched::spawn(
                Command::new(&c.decoder)
                    .args(["decode", "--from", "tcp-listen:127.0.0.1:0", "--stats"])
                    .stdout(out),
            )?;
            let line = d.wait_for("listening on")?;
            let addr = line
                .rsplit("tcp-listen:")
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            agent_cmd
                .args(["stream", "--to"])
                .arg(format!("tcp:{addr}"))
                .stdout(Stdio::null());
            decoder = Some(d);
        }
    }
    if sink != Sink::C {
        agent_cmd.args(&c.agent_args);
        agent_cmd.envs(c.agent_env.iter().map(|(k, v)| (k, v)));
    }
    let load = load1();
    let agent = Watched::spawn(&mut agent_cmd)?;
    let ready = agent.wait_for("for exit records").and_then(|_| {
        if sink == Sink::Tcp {
            // The writer thread connects after registration: wait for the decoder to
            // see it, so that connecting is not part of the storm.
            if let Some(d) = &decoder {
                d.wait_for("connected")?;
            }
        }
        Ok(())
    });
    if let Err(e) = ready {
        let (_, _, lines) = agent.stop();
        if let Some(d) = decoder {
            d.stop();
        }
        return Err(format!("agent not ready: {e}; stderr: {lines:?}"));
    }
    thread::sleep(c.settle);

    let mut storm = Command::new(&c.storm);
    match work {
        Workload::Threads(n) => storm.args(["--threads", &n.to_string()]),
        Workload::Procs(n) => storm.args(["--procs", &n.to_string()]),
    };
    storm.args(["--batch", &c.batch.to_string(), "--comm", &c.comm]);
    let storm_out = storm.output().map_err(|e| format!("running storm: {e}"));
    thread::sleep(c.drain);
    let hwm = vm_hwm_kib(agent.pid()).unwrap_or(0);
    let (status, ru, lines) = agent.stop();
    let storm_out = storm_out?;
    if !storm_out.status.success() {
        if let Some(d) = decoder {
            d.stop();
        }
        return Err(format!(
            "storm failed: {}",
            String::from_utf8_lossy(&storm_out.stderr)
        ));
    }
    let (spawned, storm_secs, rate) = parse_storm(&String::from_utf8_lossy(&storm_out.stdout))
        .ok_or("storm printed no result line")?;

    if let Some(d) = decoder {
        // The agent closed the connection on exit; give the decoder a moment to read the
        // rest before asking it to stop.
        thread::sleep(Duration::from_millis(300));
        d.stop();
    }
    if sink == Sink::File {
        let out = File::create(&out_path).map_err(|e| e.to_string())?;
        let st = Command::new(&c.decoder)
            .args(["decode", "--from"])
            .arg(format!("file:{}", stream_path.display()))
            .stdout(out)
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("decoding the stream file: {e}"))?;
        if !st.success() {
            return Err(format!("decode of the stream file failed: {st}"));
        }
    }
    if status != 0 {
        return Err(format!(
            "agent exited with wait status {status:#x}: {lines:?}"
        ));
    }
    let (agent_records, enobufs, queue_lost) =
        parse_summary(&lines).ok_or_else(|| format!("no summary line from agent: {lines:?}"))?;
    let (delivered, loss_frame_count) = count_output(&out_path, &c.comm)?;
    Ok(RunResult {
        exits_per_sec: rate,
        storm_secs,
        spawned,
        delivered,
        agent_records,
        enobufs,
        queue_lost,
        loss_frame_count,
        user_us: micros(ru.ru_utime),
        sys_us: micros(ru.ru_stime),
        // Not ru_maxrss: Linux keeps in it the RSS the child had before exec (a copy of
        // this harness, 2.3 MiB), whatever the agent used. VmHWM is the agent's own.
        peak_rss_kib: hwm,
        load1: load,
    })
}

/// (median, min, max); the median of an even count is the mean of the middle two.
fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (med, v[0], v[n - 1])
}

fn cell(v: Vec<f64>, decimals: usize) -> String {
    let (m, lo, hi) = stats(v);
    if lo == hi {
        format!("{m:.decimals$}")
    } else {
        format!("{m:.decimals$} [{lo:.decimals$}-{hi:.decimals$}]")
    }
}

fn json_line(sink: Sink, work: Workload, run: usize, r: &RunResult) -> String {
    format!(
        "{{\"sink\":\"{}\",\"workload\":\"{}\",\"run\":{run},\"exits_per_sec\":{:.1},\
         \"storm_secs\":{:.3},\"spawned\":{},\"delivered\":{},\"lost\":{},\"agent_records\":{},\
         \"enobufs\":{},\"queue_lost\":{},\"loss_frame_count\":{},\"user_us\":{:.0},\
         \"sys_us\":{:.0},\"user_us_per_record\":{:.3},\"sys_us_per_record\":{:.3},\
         \"peak_rss_kib\":{},\"load1\":{:.2}}}",
        sink.name(),
        work.name(),
        r.exits_per_sec,
        r.storm_secs,
        r.spawned,
        r.delivered,
        r.lost(),
        r.agent_records,
        r.enobufs,
        r.queue_lost,
        r.loss_frame_count,
        r.user_us,
        r.sys_us,
        r.per_record(r.user_us),
        r.per_record(r.sys_us),
        r.peak_rss_kib,
        r.load1,
    )
}

fn summary_row(sink: Sink, work: Workload, rs: &[RunResult]) -> String {
    let col = |f: &dyn Fn(&RunResult) -> f64, d| cell(rs.iter().map(f).collect(), d);
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        sink.name(),
        work.name(),
        rs.len(),
        col(&|r| r.exits_per_sec, 0),
        col(&|r| r.lost() as f64, 0),
        col(&|r| r.enobufs as f64, 0),
        col(&|r| r.loss_frame_count as f64, 0),
        col(&|r| r.agent_records as f64, 0),
        col(&|r| r.per_record(r.user_us), 2),
        col(&|r| r.per_record(r.sys_us), 2),
        col(&|r| r.per_record(r.user_us + r.sys_us), 2),
        col(&|r| r.peak_rss_kib as f64, 0),
    )
}

/// One timed `taskwire decode --format FORMAT --from file:CAPTURE` to /dev/null:
/// (wall seconds, CPU seconds, records decoded by its own count).
fn time_decode(c: &Config, capture: &Path, format: &str) -> Result<(f64, f64, u64), String> {
    let start = Instant::now();
    let mut child = Command::new(&c.decoder)
        .args(["decode", "--format", format, "--from"])
        .arg(format!("file:{}", capture.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting decode: {e}"))?;
    let mut err = String::new();
    let read = child
        .stderr
        .take()
        .expect("stderr is piped")
        .read_to_string(&mut err);
    let pid = child.id() as libc::pid_t;
    let (status, ru) = wait4(pid, 0).ok_or("wait4 on decode failed")?;
    let wall = start.elapsed().as_secs_f64();
    // Reaped by pid: dropping `Child` neither waits nor kills.
    drop(child);
    read.map_err(|e| format!("reading decode's stderr: {e}"))?;
    if status != 0 {
        return Err(format!(
            "decode --format {format} failed ({status:#x}): {err}"
        ));
    }
    let records = parse_decode_count(&err).ok_or_else(|| format!("no record count: {err}"))?;
    Ok((
        wall,
        (micros(ru.ru_utime) + micros(ru.ru_stime)) / 1e6,
        records,
    ))
}

/// The N of decode's "taskwire decode: N records from ..." line on stderr.
fn parse_decode_count(err: &str) -> Option<u64> {
    err.lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix("taskwire decode: ")?
                .split_once(" records from ")
        })?
        .0
        .parse()
        .ok()
}

/// One sink's runs of one workload, by run number (1-based).
type Runs = Vec<(usize, RunResult)>;

/// Total (user + system) CPU per record.
fn total_per_record(r: &RunResult) -> f64 {
    r.per_record(r.user_us + r.sys_us)
}

/// One row of the ratio table: `sink`'s total CPU per record against the C listener's,
/// as the ratio of the medians and as the spread of the per-run ratios (runs paired by
/// number; a run that failed for either has no ratio).
fn ratio_row(
    sink: Sink,
    work: Workload,
    rs: &[(usize, RunResult)],
    base: &[(usize, RunResult)],
) -> String {
    let med =
        |v: &[(usize, RunResult)]| stats(v.iter().map(|(_, r)| total_per_record(r)).collect()).0;
    let (m, b) = (med(rs), med(base));
    let paired: Vec<f64> = rs
        .iter()
        .filter_map(|(run, r)| {
            let (_, c) = base.iter().find(|(n, _)| n == run)?;
            Some(total_per_record(r) / total_per_record(c))
        })
        .collect();
    let per_run = if paired.is_empty() {
        "-".to_owned()
    } else {
        format!("{}x", cell(paired, 2))
    };
    format!(
        "| {} | {} | {m:.2} | {b:.2} | {:.2}x | {per_run} |",
        sink.name(),
        work.name(),
        m / b
    )
}

/// Keeps the stream file of the run just made as the decode capture.
fn keep_capture(dir: &Path) -> Option<PathBuf> {
    let kept = dir.join("capture.twr");
    fs::rename(dir.join("stream.twr"), &kept).ok()?;
    Some(kept)
}

/// Times decode of `capture` (made first if the storms gave none), text and json
/// alternating; returns the markdown to print, or None when there is no thread storm.
fn decode_timing(
    c: &Config,
    dir: &Path,
    capture: Option<PathBuf>,
) -> Result<Option<String>, String> {
    if c.threads == 0 {
        eprintln!(
            "exitbench: decode timing skipped: it decodes a thread storm's capture (--threads 0)"
        );
        return Ok(None);
    }
    let work = Workload::Threads(c.threads);
    let capture = match capture {
        Some(p) => p,
        None => {
            let r = run_once(c, Sink::File, work, dir)?;
            eprintln!(
                "exitbench: capture run ({} {}, for decode timing): lost {}, ENOBUFS {}",
                Sink::File.name(),
                work.name(),
                r.lost(),
                r.enobufs
            );
            keep_capture(dir).ok_or("the capture run left no stream file")?
        }
    };
    let bytes = fs::metadata(&capture).map(|m| m.len()).unwrap_or(0);
    let formats = ["text", "json"];
    // Per format: (wall s, CPU s) per run.
    let mut times: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
    let mut records = 0;
    for run in 1..=c.decode_runs {
        for (i, format) in formats.iter().enumerate() {
            let (wall, cpu, n) = time_decode(c, &capture, format)?;
            eprintln!(
                "exitbench: decode {format} run {run}: {wall:.3} s wall, {cpu:.3} s CPU, {n} records"
            );
            if c.json {
                println!(
                    "{{\"decode\":\"{format}\",\"run\":{run},\"records\":{n},\"bytes\":{bytes},\
                     \"wall_s\":{wall:.4},\"cpu_s\":{cpu:.4}}}"
                );
            }
            records = n;
            times[i].push((wall, cpu));
        }
    }
    let med = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| stats(v.iter().map(f).collect()).0;
    let mut out = format!(
        "`taskwire decode --from file:` of a capture of one {} storm ({records} records, \
         {bytes} bytes), output to /dev/null, {} runs per format, alternating:\n\n\
         | format | wall s | CPU s | CPU us/rec |\n|---|---|---|---|\n",
        work.name(),
        c.decode_runs
    );
    for (format, t) in formats.iter().zip(&times) {
        out += &format!(
            "| {format} | {} | {} | {} |\n",
            cell(t.iter().map(|x| x.0).collect(), 3),
            cell(t.iter().map(|x| x.1).collect(), 3),
            cell(
                t.iter()
                    .map(|x| x.1 * 1e6 / records.max(1) as f64)
                    .collect(),
                2
            ),
        );
    }
    out += &format!(
        "| json / text (medians) | {:.2}x | {:.2}x | |\n",
        med(&times[1], |x| x.0) / med(&times[0], |x| x.0),
        med(&times[1], |x| x.1) / med(&times[0], |x| x.1),
    );
    Ok(Some(out))
}

fn main() -> ExitCode {
    let c = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("exitbench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if c.sinks.contains(&Sink::C) && !c.c_listener.is_file() {
        eprintln!(
            "exitbench: no C listener at {}: build it with `cc -O2 -o {} bench/c-listener.c` \
             (bench/exit-storm does), or leave `c` out of --sinks",
            c.c_listener.display(),
            c.c_listener.display()
        );
        return ExitCode::from(2);
    }
    let dir = c.tmp.join(format!("exitbench.{}", std::process::id()));
    if let Err(e) = fs::create_dir_all(&dir) {
        eprintln!("exitbench: {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    let mut works = Vec::new();
    if c.threads > 0 {
        works.push(Workload::Threads(c.threads));
    }
    if c.procs > 0 {
        works.push(Workload::Procs(c.procs));
    }
    eprintln!(
        "exitbench: agent {} {:?} {:?}, {} runs each, drain {} ms",
        c.agent.display(),
        c.agent_args,
        c.agent_env,
        c.runs,
        c.drain.as_millis()
    );
    // Per (sink, workload), its runs. Sinks take turns within each run, so that every
    // sink, the C baseline included, meets the same load drift: their ratios are what
    // matter, and they are paired by run.
    let mut results: Vec<(Sink, Workload, Runs)> = c
        .sinks
        .iter()
        .flat_map(|&s| works.iter().map(move |&w| (s, w, Vec::new())))
        .collect();
    let mut failed = false;
    let mut capture = None;
    for &work in &works {
        for run in 1..=c.runs {
            for &sink in &c.sinks {
                match run_once(&c, sink, work, &dir) {
                    Ok(r) => {
                        eprintln!(
                            "exitbench: {} {} run {run}: {:.0} exits/s, lost {}, ENOBUFS {}, \
                             {:.2}+{:.2} us/record, {} KiB",
                            sink.name(),
                            work.name(),
                            r.exits_per_sec,
                            r.lost(),
                            r.enobufs,
                            r.per_record(r.user_us),
                            r.per_record(r.sys_us),
                            r.peak_rss_kib
                        );
                        if c.json {
                            println!("{}", json_line(sink, work, run, &r));
                        }
                        if sink == Sink::File
                            && matches!(work, Workload::Threads(_))
                            && c.decode_runs > 0
                            && capture.is_none()
                        {
                            capture = keep_capture(&dir);
                        }
                        let slot = results
                            .iter_mut()
                            .find(|(s, w, _)| (*s, *w) == (sink, work))
                            .expect("a slot per sink and workload");
                        slot.2.push((run, r));
                    }
                    Err(e) => {
                        eprintln!("exitbench: {} {} run {run}: {e}", sink.name(), work.name());
                        failed = true;
                    }
                }
            }
        }
    }
    let decode = if c.decode_runs > 0 {
        match decode_timing(&c, &dir, capture) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("exitbench: decode timing: {e}");
                failed = true;
                None
            }
        }
    } else {
        None
    };
    let _ = fs::remove_dir_all(&dir);
    println!(
        "| sink | workload | runs | exits/s | lost | ENOBUFS | loss reported | agent records \
         | user us/rec | sys us/rec | total us/rec | peak RSS KiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (sink, work, rs) in &results {
        if !rs.is_empty() {
            let rs: Vec<RunResult> = rs.iter().map(|(_, r)| r.clone()).collect();
            println!("{}", summary_row(*sink, *work, &rs));
        }
    }
    let base = |work: Workload| {
        results
            .iter()
            .find(|(s, w, rs)| (*s, *w) == (Sink::C, work) && !rs.is_empty())
            .map(|(_, _, rs)| rs)
    };
    let ratios: Vec<String> = results
        .iter()
        .filter(|(s, _, rs)| *s != Sink::C && !rs.is_empty())
        .filter_map(|(sink, work, rs)| Some(ratio_row(*sink, *work, rs, base(*work)?)))
        .collect();
    if !ratios.is_empty() {
        println!();
        println!(
            "Total CPU per record relative to the C listener ({}) in the same runs: the ratio \
             of the medians, and the median [min-max] of each run's own ratio.",
            Sink::C.name()
        );
        println!();
        println!(
            "| sink | workload | total us/rec | c-listener us/rec | ratio of medians \
             | per-run ratio |"
        );
        println!("|---|---|---|---|---|---|");
        for r in ratios {
            println!("{r}");
        }
    }
    if let Some(d) = decode {
        println!();
        print!("{d}");
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_listen_and_stream_summaries() {
        let listen = vec![
            "taskwire: listening ...".to_owned(),
            "taskwire: 2069 records (2066 per-task, 3 per-thread-group), 7 loss events; \
             stopped by SIGTERM, deregistered"
                .to_owned(),
        ];
        assert_eq!(parse_summary(&listen), Some((2069, 7, 0)));
        let stream = vec![
            "taskwire stream: received 1200 records: 1100 written, 0 in a write cut short, \
             0 left unsent and unreported; lost 100 to queue overflow and 0 to sink outages; 3 ENOBUFS \
             events; 0 reconnects; stopped by SIGTERM, deregistered"
                .to_owned(),
        ];
        assert_eq!(parse_summary(&stream), Some((1200, 3, 100)));
        let c = vec![
            "c-listener: listening for exit records on CPUs 0-1, receive buffer 33554432 bytes"
                .to_owned(),
            "c-listener: 2041 records (2037 per-task, 4 per-thread-group), 2 loss events; \
             stopped by SIGTERM, deregistered"
                .to_owned(),
        ];
        assert_eq!(parse_summary(&c), Some((2041, 2, 0)));
        assert_eq!(parse_summary(&["nothing".to_owned()]), None);
    }

    #[test]
    fn reads_storm_line() {
        let out = "x\n{\"threads\":10,\"procs\":5,\"seconds\":0.5,\"exits_per_sec\":30.0}\n";
        assert_eq!(parse_storm(out), Some((15, 0.5, 30.0)));
        assert_eq!(parse_storm("no json"), None);
    }

    #[test]
    fn counts_comm_tokens_and_loss_frames() {
        let dir = std::env::temp_dir().join(format!("exitbench-test.{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("o.txt");
        fs::write(
            &p,
            "pid=1 comm=twbench exit=0\n\
             board=b seq=1 pid=2 comm=twbenchx\n\
             board=b seq=2 pid=3 comm=twbench\n\
             board=b loss count=4 reason=queue_overflow next_seq=3\n\
             board=b loss count=2 reason=kernel_enobufs next_seq=3\n\
             {\"type\":\"pid\",\"id\":4,\"ac_comm\":\"twbench\",\"ac_pid\":4}\n\
             {\"type\":\"pid\",\"id\":5,\"ac_comm\":\"twbenchx\",\"ac_pid\":5}\n\
             {\"type\":\"tgid\",\"id\":1,\"ac_comm\":\"\"}\n\
             pid=6 tgid=6 comm=twbench exit=0 cpu_count=1\n",
        )
        .unwrap();
        assert_eq!(count_output(&p, "twbench").unwrap(), (4, 6));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ratios_pair_runs_by_number() {
        let r = |n: usize, us: f64| {
            (
                n,
                RunResult {
                    agent_records: 10,
                    user_us: us * 10.0,
                    ..RunResult::default()
                },
            )
        };
        let base = [r(1, 4.0), r(2, 5.0), r(3, 6.0)];
        // Run 2 of the sink failed: runs 1 and 3 pair up (2.0/4.0, 3.0/6.0).
        let row = ratio_row(
            Sink::ListenJson,
            Workload::Threads(10),
            &[r(1, 2.0), r(3, 3.0)],
            &base,
        );
        assert_eq!(
            row,
            "| listen-json | 10 threads | 2.50 | 5.00 | 0.50x | 0.50x |"
        );
        let row = ratio_row(
            Sink::Listen,
            Workload::Threads(10),
            &[r(1, 8.0), r(2, 5.0)],
            &base,
        );
        assert_eq!(
            row,
            "| listen | 10 threads | 6.50 | 5.00 | 1.30x | 1.50 [1.00-2.00]x |"
        );
    }

    #[test]
    fn reads_decode_count() {
        let err = "taskwire decode: 100047 records from 1 boards, 0 frames rejected; \
                   stopped by end of input\n";
        assert_eq!(parse_decode_count(err), Some(100047));
        assert_eq!(parse_decode_count("taskwire decode: no"), None);
    }

    #[test]
    fn median_and_spread() {
        assert_eq!(stats(vec![3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(stats(vec![4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        assert_eq!(cell(vec![1.0, 1.0], 0), "1");
        assert_eq!(cell(vec![1.0, 3.0, 2.0], 1), "2.0 [1.0-3.0]");
    }

    #[test]
    fn args_defaults_and_errors() {
        let c = parse_args(std::iter::empty()).unwrap();
        assert_eq!((c.runs, c.threads, c.procs), (5, 100_000, 20_000));
        assert_eq!(c.decoder, c.agent);
        assert_eq!(c.decode_runs, 5);
        let c = parse_args(
            "--runs 3 --sinks listen,tcp,json,c --agent-arg --rcvbuf --agent-arg 4M"
                .split(' ')
                .map(String::from),
        )
        .unwrap();
        assert_eq!(
            c.sinks,
            vec![Sink::Listen, Sink::Tcp, Sink::ListenJson, Sink::C]
        );
        assert_eq!(c.agent_args, vec!["--rcvbuf", "4M"]);
        assert_eq!(c.decode_runs, 3);
        assert!(parse_args(["--runs", "0"].map(String::from).into_iter()).is_err());
        assert!(parse_args(["--sinks", "udp"].map(String::from).into_iter()).is_err());
    }
}
