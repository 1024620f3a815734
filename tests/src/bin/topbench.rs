//! CPU per sweep of `taskwire top` against `iotop-c` over the same live tasks.
//!
//! ```text
//! topbench [--tasks 1000,10000] [--per-proc K] [--runs N] [--sweeps S] [--interval SECS]
//!          [--views procs,threads] [--formats text,json,csv|none] [--no-iotop]
//!          [--taskwire PATH] [--iotop PATH] [--idlers PATH] [--comm NAME]
//!          [--settle-ms MS] [--tw-arg ARG]... [--json] [--tmp DIR]
//! ```
//!
//! For each task count, starts `idlers --tasks N --per-proc K` (tests/src/bin/idlers.rs:
//! N idle tasks, K threads in each of ceil(N/K) processes) and waits for its ready line and
//! `--settle-ms` (default 1000). Then it checks that every tool sees the population: one
//! 2-iteration run of each with its output kept, counting rows naming the population's comm
//! or the idlers binary (iotop-c shows the command line) per iteration. Then `--runs` runs
//! (default 3); in each, for each view and tool (the tools' order alternating from run to
//! run so drift hits both alike), the tool runs twice with output to /dev/null: for 1
//! iteration and for 1 + S (`--sweeps`, default 10), `--interval` seconds apart (default
//! 1: iotop-c 1.23 does not sleep at all for a `-d` below 1). Its CPU time (user and
//! system, from `wait4`'s rusage: every thread of it) of the long run minus that of the
//! short one, divided by S, is its CPU per sweep: start-up, the first sweep and whatever a
//! tool does once cancel out.
//!
//! The views and what runs for them:
//! - `procs`, one row per thread group: `taskwire top --interval I --iterations N --format
//!   F` against `iotop-c -b -P -k -qqq -d I -n N` (processes only);
//! - `threads`, one row per thread: `taskwire top --threads ...` against `iotop-c -b -k
//!   -qqq -d I -n N` (every thread).
//!
//! iotop-c runs with HOME set to an empty directory, so no saved configuration changes it.
//!
//! Output: a markdown table of medians [min-max] over the runs per task count, view and
//! tool (user, system and total ms of CPU per sweep, us per row, CPU of the 1-iteration
//! run), and one of the ratio taskwire / iotop-c per sweep (ratio of the medians, and the
//! median [min-max] of the per-run ratios, each run's pair measured back to back).
//! `--json` adds one JSON object per measurement on stdout.
//!
//! Needs root (taskstats needs CAP_NET_ADMIN). Every child is reaped before exit; the
//! idlers go when their stdin closes, which is also what happens if this harness dies.
#![deny(unsafe_code)]

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// How long the idlers may take to say they are ready.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// One row per thread group.
    Procs,
    /// One row per thread.
    Threads,
}

impl View {
    fn name(self) -> &'static str {
        match self {
            View::Procs => "procs",
            View::Threads => "threads",
        }
    }

    fn parse(s: &str) -> Result<View, String> {
        match s {
            "procs" | "processes" => Ok(View::Procs),
            "threads" => Ok(View::Threads),
            _ => Err(format!("unknown view {s:?}: procs or threads")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tool {
    /// `taskwire top --format FORMAT`.
    Taskwire(String),
    Iotop,
}

impl Tool {
    fn name(&self) -> String {
        match self {
            Tool::Taskwire(f) => format!("taskwire-{f}"),
            Tool::Iotop => "iotop-c".into(),
        }
    }
}

#[derive(Debug)]
struct Config {
    tasks: Vec<u64>,
    per_proc: u64,
    runs: usize,
    sweeps: u32,
    interval: String,
    views: Vec<View>,
    formats: Vec<String>,
    iotop_on: bool,
    taskwire: PathBuf,
    iotop: PathBuf,
    idlers: PathBuf,
    comm: String,
    settle: Duration,
    tw_args: Vec<String>,
    json: bool,
    tmp: PathBuf,
}

const USAGE: &str = "usage: topbench [--tasks 1000,10000] [--per-proc K] [--runs N] \
                     [--sweeps S] [--interval SECS] [--views procs,threads] \
                     [--formats text,json,csv|none] [--no-iotop] [--taskwire PATH] [--iotop PATH] \
                     [--idlers PATH] [--comm NAME] [--settle-ms MS] [--tw-arg ARG]... \
                     [--json] [--tmp DIR]";

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn list<T>(v: &str, f: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    let out: Vec<T> = v
        .split(',')
        .filter(|s| !s.is_empty())
        .map(f)
        .collect::<Result<_, _>>()?;
    if out.is_empty() {
        return Err(format!("empty list {v:?}"));
    }
    Ok(out)
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Config, String> {
    let mut c = Config {
        tasks: vec![1000, 10_000],
        per_proc: 4,
        runs: 3,
        sweeps: 10,
        interval: "1".into(),
        views: vec![View::Procs, View::Threads],
        formats: vec!["text".into()],
        iotop_on: true,
        taskwire: sibling("taskwire"),
        iotop: PathBuf::from("iotop-c"),
        idlers: sibling("idlers"),
        comm: "twidle".into(),
        settle: Duration::from_millis(1000),
        tw_args: Vec::new(),
        json: false,
        tmp: std::env::temp_dir(),
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--tasks" => {
                c.tasks = list(&value()?, |s| num("--tasks", s))?;
                if c.tasks.contains(&0) {
                    return Err("--tasks: every count must be at least 1".into());
                }
            }
            "--per-proc" => c.per_proc = num(&flag, &value()?)?,
            "--runs" => c.runs = num(&flag, &value()?)?,
            "--sweeps" => c.sweeps = num(&flag, &value()?)?,
            "--interval" => {
                let v = value()?;
                match v.parse::<f64>() {
                    Ok(x) if x > 0.0 => c.interval = v,
                    _ => return Err(format!("--interval: {v:?} is not a positive number")),
                }
            }
            "--views" => c.views = list(&value()?, View::parse)?,
            "--formats" => {
                let v = value()?;
                c.formats = if v == "none" {
                    Vec::new()
                } else {
                    list(&v, |s| match s {
                        "text" | "json" | "csv" => Ok(s.to_owned()),
                        _ => Err(format!("unknown format {s:?}: text, json, csv or none")),
                    })?
                };
            }
            "--no-iotop" => c.iotop_on = false,
            "--taskwire" => c.taskwire = value()?.into(),
            "--iotop" => c.iotop = value()?.into(),
            "--idlers" => c.idlers = value()?.into(),
            "--comm" => c.comm = value()?,
            "--settle-ms" => c.settle = Duration::from_millis(num(&flag, &value()?)?),
            "--tw-arg" => c.tw_args.push(value()?),
            "--json" => c.json = true,
            "--tmp" => c.tmp = value()?.into(),
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    if c.formats.is_empty() && !c.iotop_on {
        return Err("nothing to measure: --formats none and --no-iotop".into());
    }
    if c.runs == 0 || c.sweeps == 0 || c.per_proc == 0 {
        return Err("--runs, --sweeps and --per-proc must be at least 1".into());
    }
    Ok(c)
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
}

impl Config {
    fn tools(&self) -> Vec<Tool> {
        let mut t: Vec<Tool> = self
            .formats
            .iter()
            .map(|f| Tool::Taskwire(f.clone()))
            .collect();
        if self.iotop_on {
            t.push(Tool::Iotop);
        }
        t
    }

    /// The command that runs `tool` for `view` and `iterations` sweeps.
    fn command(&self, tool: &Tool, view: View, iterations: u32) -> Command {
        match tool {
            Tool::Taskwire(format) => {
                let mut cmd = Command::new(&self.taskwire);
                cmd.arg("top");
                if view == View::Threads {
                    cmd.arg("--threads");
                }
                cmd.args(["--interval", &self.interval])
                    .args(["--iterations", &iterations.to_string()])
                    .args(["--format", format])
                    .args(&self.tw_args);
                cmd
            }
            Tool::Iotop => {
                let mut cmd = Command::new(&self.iotop);
                cmd.args(["-b", "-k", "-qqq"]);
                if view == View::Procs {
                    cmd.arg("-P");
                }
                cmd.args(["-d", &self.interval])
                    .args(["-n", &iterations.to_string()])
                    .env("HOME", self.tmp.join("iotop-home"));
                cmd
            }
        }
    }
}

// ---- children and their CPU time ----

#[allow(unsafe_code)]
fn wait4(pid: libc::pid_t) -> Option<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: status and ru are valid and writable for the duration of the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            return Some((status, ru));
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
}

fn micros(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 * 1e6 + tv.tv_usec as f64
}

fn load1() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// What one run of a tool cost.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    user_us: f64,
    sys_us: f64,
    wall_s: f64,
}

/// Runs `cmd` to completion, stdout to `out`; its CPU time from wait4. A failure (exit
/// status not 0) is an error carrying the tail of its stderr.
fn run_tool(mut cmd: Command, out: File, err_path: &Path) -> Result<Cost, String> {
    let err = File::create(err_path).map_err(|e| format!("{}: {e}", err_path.display()))?;
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("starting {cmd:?}: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let (status, ru) = wait4(pid).ok_or_else(|| format!("wait4 on {cmd:?} failed"))?;
    // Reaped by pid: dropping `Child` neither waits nor kills.
    drop(child);
    let wall_s = start.elapsed().as_secs_f64();
    if status != 0 {
        let text = fs::read_to_string(err_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "{cmd:?} ended with wait status {status:#x}: {}",
            tail.join(" / ")
        ));
    }
    Ok(Cost {
        user_us: micros(ru.ru_utime),
        sys_us: micros(ru.ru_stime),
        wall_s,
    })
}

fn dev_null() -> Result<File, String> {
    File::options()
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("/dev/null: {e}"))
}

/// The idle population, released (stdin closed, then reaped) when dropped.
struct Idlers {
    child: Child,
    stdin: Option<ChildStdin>,
    procs: u64,
}

impl Idlers {
    fn start(c: &Config, tasks: u64) -> Result<Idlers, String> {
        let mut child = Command::new(&c.idlers)
            .args(["--tasks", &tasks.to_string()])
            .args(["--per-proc", &c.per_proc.to_string()])
            .args(["--comm", &c.comm])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", c.idlers.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut me = Idlers {
            child,
            stdin,
            procs: 0,
        };
        // The ready line, or end of output if it failed (its stderr says why).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(READY_TIMEOUT)
            .map_err(|_| format!("idlers not ready after {READY_TIMEOUT:?}"))?;
        me.procs = parse_ready(&line).ok_or_else(|| {
            format!(
                "idlers --tasks {tasks} did not start (its output: {:?})",
                line.trim()
            )
        })?;
        Ok(me)
    }
}

impl Drop for Idlers {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// `procs=P` of idlers' ready line.
fn parse_ready(line: &str) -> Option<u64> {
    if !line.starts_with("ready ") {
        return None;
    }
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("procs="))?
        .parse()
        .ok()
}

/// Rows of a tool's output naming the population (its comm or the idlers binary).
fn count_rows(text: &str, comm: &str) -> u64 {
    text.lines()
        .filter(|l| l.contains(comm) || l.contains("idlers"))
        .count() as u64
}

// ---- measurements and tables ----

/// One run's CPU per sweep of one tool, view and task count.
#[derive(Debug, Clone)]
struct Sample {
    tasks: u64,
    view: View,
    tool: Tool,
    run: usize,
    short: Cost,
    long: Cost,
    sweeps: u32,
    load1: f64,
}

impl Sample {
    fn user_ms(&self) -> f64 {
        (self.long.user_us - self.short.user_us) / f64::from(self.sweeps) / 1e3
    }
    fn sys_ms(&self) -> f64 {
        (self.long.sys_us - self.short.sys_us) / f64::from(self.sweeps) / 1e3
    }
    fn total_ms(&self) -> f64 {
        self.user_ms() + self.sys_ms()
    }
    fn startup_ms(&self) -> f64 {
        (self.short.user_us + self.short.sys_us) / 1e3
    }
}

fn measure(c: &Config, tasks: u64, view: View, tool: &Tool, run: usize) -> Result<Sample, String> {
    let err = c.tmp.join(format!("{}-{}.err", tool.name(), view.name()));
    let load = load1();
    let short = run_tool(c.command(tool, view, 1), dev_null()?, &err)?;
    let long = run_tool(c.command(tool, view, 1 + c.sweeps), dev_null()?, &err)?;
    // A tool that quit early (iotop-c exits 0 on SIGINT) would give a meaningless
    // difference. iotop-c 1.23 does not sleep for a -d below 1, so it is not held to it.
    let interval: f64 = c.interval.parse().unwrap_or(0.0);
    let floor = 0.8 * f64::from(c.sweeps) * interval;
    if long.wall_s < floor && !(*tool == Tool::Iotop && interval < 1.0) {
        return Err(format!(
            "{} {} with {} iterations ended after {:.2} s, before its {} intervals of {} s",
            tool.name(),
            view.name(),
            1 + c.sweeps,
            long.wall_s,
            c.sweeps,
            c.interval
        ));
    }
    Ok(Sample {
        tasks,
        view,
        tool: tool.clone(),
        run,
        short,
        long,
        sweeps: c.sweeps,
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

fn median(v: Vec<f64>) -> f64 {
    stats(v).0
}

fn cell(v: Vec<f64>, decimals: usize) -> String {
    let (m, lo, hi) = stats(v);
    if lo == hi {
        format!("{m:.decimals$}")
    } else {
        format!("{m:.decimals$} [{lo:.decimals$}-{hi:.decimals$}]")
    }
}

fn json_line(s: &Sample) -> String {
    format!(
        "{{\"tasks\":{},\"view\":\"{}\",\"tool\":\"{}\",\"run\":{},\"sweeps\":{},\
         \"short_user_us\":{:.0},\"short_sys_us\":{:.0},\"long_user_us\":{:.0},\
         \"long_sys_us\":{:.0},\"long_wall_s\":{:.3},\"user_ms_per_sweep\":{:.3},\
         \"sys_ms_per_sweep\":{:.3},\"total_ms_per_sweep\":{:.3},\"load1\":{:.2}}}",
        s.tasks,
        s.view.name(),
        s.tool.name(),
        s.run,
        s.sweeps,
        s.short.user_us,
        s.short.sys_us,
        s.long.user_us,
        s.long.sys_us,
        s.long.wall_s,
        s.user_ms(),
        s.sys_ms(),
        s.total_ms(),
        s.load1
    )
}

fn rows_of(tasks: u64, procs: u64, view: View) -> u64 {
    match view {
        View::Procs => procs,
        View::Threads => tasks,
    }
}

fn cost_row(ss: &[&Sample], rows: u64) -> String {
    let col = |f: &dyn Fn(&Sample) -> f64, d| cell(ss.iter().map(|s| f(s)).collect(), d);
    let s = ss[0];
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        s.tasks,
        s.view.name(),
        rows,
        s.tool.name(),
        col(&|s| s.user_ms(), 2),
        col(&|s| s.sys_ms(), 2),
        col(&|s| s.total_ms(), 2),
        col(&|s| s.total_ms() * 1e3 / rows.max(1) as f64, 2),
        col(&|s| s.startup_ms(), 1),
    )
}

/// Ratio row of `tool` against iotop-c: ratio of medians, and per-run ratios paired by run.
fn ratio_row(tw: &[&Sample], io: &[&Sample]) -> String {
    let m_tw = median(tw.iter().map(|s| s.total_ms()).collect());
    let m_io = median(io.iter().map(|s| s.total_ms()).collect());
    let per_run: Vec<f64> = tw
        .iter()
        .filter_map(|t| {
            io.iter()
                .find(|i| i.run == t.run)
                .map(|i| t.total_ms() / i.total_ms())
        })
        .collect();
    let ratio = m_tw / m_io;
    let s = tw[0];
    format!(
        "| {} | {} | {} | {:.2} | {:.2} | **{:.2}** | {} | {} |",
        s.tasks,
        s.view.name(),
        s.tool.name(),
        m_tw,
        m_io,
        ratio,
        cell(per_run, 2),
        if ratio <= 0.5 { "met" } else { "not met" }
    )
}

fn check_visibility(c: &Config, tasks: u64, procs: u64) -> Result<(), String> {
    for &view in &c.views {
        for tool in c.tools() {
            let out_path = c
                .tmp
                .join(format!("check-{}-{}-{tasks}.out", tool.name(), view.name()));
            let out =
                File::create(&out_path).map_err(|e| format!("{}: {e}", out_path.display()))?;
            let err = c.tmp.join("check.err");
            run_tool(c.command(&tool, view, 2), out, &err)?;
            let text = fs::read_to_string(&out_path).unwrap_or_default();
            let lines = text.lines().count();
            let seen = count_rows(&text, &c.comm) as f64 / 2.0;
            let want = rows_of(tasks, procs, view);
            println!(
                "check: {} {} over 2 iterations: {lines} lines, {seen} rows per iteration name \
                 the population (it has {want}; the maker adds 1-2)",
                tool.name(),
                view.name()
            );
            if seen < want as f64 {
                eprintln!(
                    "topbench: warning: {} {} sees fewer rows than the population has \
                     (output kept in {})",
                    tool.name(),
                    view.name(),
                    out_path.display()
                );
            }
        }
    }
    Ok(())
}

fn run(c: &Config) -> Result<(), String> {
    fs::create_dir_all(c.tmp.join("iotop-home")).map_err(|e| format!("{e}"))?;
    let tools = c.tools();
    let mut samples: Vec<Sample> = Vec::new();
    let mut procs_of = Vec::new();
    for &tasks in &c.tasks {
        let idlers = Idlers::start(c, tasks)?;
        std::thread::sleep(c.settle);
        println!(
            "population: {tasks} tasks in {} processes ({} per process); load {:.2}",
            idlers.procs,
            c.per_proc,
            load1()
        );
        procs_of.push((tasks, idlers.procs));
        check_visibility(c, tasks, idlers.procs)?;
        for run in 1..=c.runs {
            for &view in &c.views {
                let mut order: Vec<&Tool> = tools.iter().collect();
                if run % 2 == 0 {
                    order.reverse();
                }
                for tool in order {
                    let s = measure(c, tasks, view, tool, run)?;
                    if c.json {
                        println!("{}", json_line(&s));
                    }
                    eprintln!(
                        "run {run}: {tasks} tasks, {}, {}: {:.2} ms per sweep",
                        view.name(),
                        tool.name(),
                        s.total_ms()
                    );
                    samples.push(s);
                }
            }
        }
        drop(idlers);
    }
    println!();
    println!(
        "CPU per sweep, {} runs, median [min-max]; {} sweeps {}s apart, minus a 1-iteration run:",
        c.runs, c.sweeps, c.interval
    );
    println!();
    println!(
        "| tasks | view | rows | tool | user ms/sweep | sys ms/sweep | total ms/sweep | \
         us/row | 1-iteration run ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let pick = |tasks: u64, view: View, tool: &Tool| -> Vec<&Sample> {
        samples
            .iter()
            .filter(|s| s.tasks == tasks && s.view == view && &s.tool == tool)
            .collect()
    };
    for &(tasks, procs) in &procs_of {
        for &view in &c.views {
            for tool in &tools {
                let ss = pick(tasks, view, tool);
                if !ss.is_empty() {
                    println!("{}", cost_row(&ss, rows_of(tasks, procs, view)));
                }
            }
        }
    }
    if c.iotop_on {
        println!();
        println!("taskwire / iotop-c, total CPU per sweep (target <= 0.5):");
        println!();
        println!(
            "| tasks | view | taskwire | taskwire ms | iotop-c ms | ratio of medians | \
             per-run ratios | target |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for &(tasks, _) in &procs_of {
            for &view in &c.views {
                let io = pick(tasks, view, &Tool::Iotop);
                for tool in tools.iter().filter(|t| **t != Tool::Iotop) {
                    let tw = pick(tasks, view, tool);
                    if !tw.is_empty() && !io.is_empty() {
                        println!("{}", ratio_row(&tw, &io));
                    }
                }
            }
        }
    }
    let loads: Vec<f64> = samples.iter().map(|s| s.load1).collect();
    let (_, lo, hi) = stats(loads);
    println!();
    println!("load1 during the runs: {lo:.1}-{hi:.1}");
    Ok(())
}

fn main() -> ExitCode {
    let c = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("topbench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&c) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("topbench: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Config, String> {
        parse_args(s.split_whitespace().map(String::from))
    }

    #[test]
    fn parses_flags_and_defaults() {
        let c = args("").unwrap();
        assert_eq!(c.tasks, vec![1000, 10_000]);
        assert_eq!((c.runs, c.sweeps, c.per_proc), (3, 10, 4));
        assert_eq!(c.views, vec![View::Procs, View::Threads]);
        assert_eq!(c.tools(), vec![Tool::Taskwire("text".into()), Tool::Iotop]);
        let c =
            args("--tasks 50 --views threads --formats json,csv --no-iotop --interval 1").unwrap();
        assert_eq!(c.tasks, vec![50]);
        assert_eq!(c.views, vec![View::Threads]);
        assert_eq!(
            c.tools(),
            vec![Tool::Taskwire("json".into()), Tool::Taskwire("csv".into())]
        );
        assert_eq!(c.interval, "1");
    }

    #[test]
    fn rejects_bad_input() {
        assert!(args("--tasks 0").is_err());
        assert!(args("--tasks ,").is_err());
        assert!(args("--runs 0").is_err());
        assert!(args("--interval 0").is_err());
        assert!(args("--interval x").is_err());
        assert!(args("--views all").is_err());
        assert!(args("--formats xml").is_err());
        assert!(args("--formats none --no-iotop").is_err());
        assert_eq!(args("--formats none").unwrap().tools(), vec![Tool::Iotop]);
        assert!(args("--bogus").is_err());
    }

    #[test]
    fn commands_compare_like_with_like() {
        let c = args("--interval 0.5").unwrap();
        let show = |cmd: Command| {
            cmd.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let tw = Tool::Taskwire("text".into());
        assert_eq!(
            show(c.command(&tw, View::Procs, 11)),
            "top --interval 0.5 --iterations 11 --format text"
        );
        assert_eq!(
            show(c.command(&tw, View::Threads, 1)),
            "top --threads --interval 0.5 --iterations 1 --format text"
        );
        assert_eq!(
            show(c.command(&Tool::Iotop, View::Procs, 11)),
            "-b -k -qqq -P -d 0.5 -n 11"
        );
        assert_eq!(
            show(c.command(&Tool::Iotop, View::Threads, 1)),
            "-b -k -qqq -d 0.5 -n 1"
        );
    }

    #[test]
    fn per_sweep_is_the_difference_over_the_sweeps() {
        let cost = |u, s| Cost {
            user_us: u,
            sys_us: s,
            wall_s: 0.0,
        };
        let s = Sample {
            tasks: 10,
            view: View::Procs,
            tool: Tool::Iotop,
            run: 1,
            short: cost(1000.0, 2000.0),
            long: cost(11_000.0, 7000.0),
            sweeps: 10,
            load1: 0.0,
        };
        assert_eq!((s.user_ms(), s.sys_ms(), s.total_ms()), (1.0, 0.5, 1.5));
        assert_eq!(s.startup_ms(), 3.0);
    }

    #[test]
    fn reads_ready_line_and_counts_rows() {
        assert_eq!(parse_ready("ready tasks=10 procs=3 pids=5..9\n"), Some(3));
        assert_eq!(parse_ready(""), None);
        let out = "  1 be/4 root x init\n  7 be/4 root y target/release/idlers\n\
                   {\"comm\":\"twidle\"}\n";
        assert_eq!(count_rows(out, "twidle"), 2);
    }

    #[test]
    fn median_and_spread() {
        assert_eq!(stats(vec![3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(stats(vec![4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        assert_eq!(cell(vec![1.0, 1.0], 1), "1.0");
    }
}
