//! `taskwire top`: live tasks every interval, their CPU, delays and storage IO as rates
//! over the interval, with the system's pressure. Batch output (text screens, JSON lines,
//! CSV) for scripts and pipes; on a terminal, a screen redrawn in place that answers keys
//! ([`taskwire_cli::term`]), built on the same [`View`].
//!
//! The loop keeps the last interval's rows in a [`View`]: rendering is a pure function of
//! them, the header, the sort and the screen size, so a key that changes the sort redraws
//! without a new sweep.

use std::ffi::OsString;
use std::fmt::Display;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use taskwire_cli::Failure;
use taskwire_cli::args::{
    Arg, Args, Format, Parsed, parse_count, parse_format, parse_period_ms, parse_pid,
};
use taskwire_cli::help::{EXIT_STATUS, PRIVILEGE};
use taskwire_cli::output::live::{
    self, DelayAcct, Header, IdKey, Pressure, Row, SORT_KEYS, Size, sort_key, sort_rows,
};
use taskwire_cli::signals::{self, SignalFd};
use taskwire_cli::sys::signal::SIGWINCH;
use taskwire_cli::term::{Action, Input, Terminal, keys};
use taskwire_core::taskstats::SortKey;

use crate::cgroupdir::{self, Hierarchy};
use crate::client::Client;
use crate::delayacct::{self, State};
use crate::live::{Cgroup, Interval, Live, Select};
use crate::socket;

const CMD: &str = "top";

/// Options of `taskwire top`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opts {
    /// Length of an interval, in ms.
    pub interval_ms: u64,
    /// Threads rather than thread groups.
    pub threads: bool,
    /// What rows are sorted by.
    pub sort: SortKey,
    /// Show at most this many rows per interval.
    pub top: Option<usize>,
    /// `--pid` values.
    pub pids: Vec<u32>,
    /// `--tgid` values.
    pub tgids: Vec<u32>,
    /// `--cgroup` directory.
    pub cgroup: Option<PathBuf>,
    /// Stop after this many intervals (`--once` is 1).
    pub iterations: Option<u64>,
    /// Output format.
    pub format: Format,
    /// Write 1 to kernel.task_delayacct first.
    pub enable_delayacct: bool,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            interval_ms: 2000,
            threads: false,
            sort: SortKey::Cpu,
            top: None,
            pids: Vec::new(),
            tgids: Vec::new(),
            cgroup: None,
            iterations: None,
            format: Format::Text,
            enable_delayacct: false,
        }
    }
}

/// Parses `top` arguments.
pub fn parse(items: Vec<OsString>) -> Result<Parsed<Opts>, Failure> {
    let mut args = Args::new(CMD, items);
    let mut opts = Opts::default();
    let mut once = false;
    while let Some(arg) = args.next_arg()? {
        if arg.is_help() {
            return Ok(Parsed::Help);
        }
        let Arg::Long(name, v) = arg else {
            return Err(args.unexpected(&arg));
        };
        match name.as_str() {
            "interval" => {
                let s = args.value(&name, v)?;
                opts.interval_ms = parse_interval(&s).map_err(|e| args.usage(e))?;
            }
            "sort" => {
                let s = args.value(&name, v)?;
                opts.sort = sort_key(&s).ok_or_else(|| {
                    let mut msg = format!("--sort: unknown key '{s}'; one of ");
                    for (i, (name, _, _)) in SORT_KEYS.iter().enumerate() {
                        if i > 0 {
                            msg.push_str(", ");
                        }
                        msg.push_str(name);
                    }
                    args.usage(msg)
                })?;
            }
            "top" => {
                let s = args.value(&name, v)?;
                let n = parse_count(&s, "--top").map_err(|e| args.usage(e))?;
                opts.top = Some(usize::try_from(n).unwrap_or(usize::MAX));
            }
            "pid" | "tgid" => {
                let s = args.value(&name, v)?;
                let what = if name == "pid" { "pid" } else { "tgid" };
                for part in s.split(',') {
                    let id = parse_pid(taskwire_cli::textfile::trim(part), what)
                        .map_err(|e| args.usage(e))?;
                    if name == "pid" {
                        opts.pids.push(id);
                    } else {
                        opts.tgids.push(id);
                    }
                }
            }
            "cgroup" => {
                let s = args.value(&name, v)?;
                if s.is_empty() {
                    return Err(args.usage("--cgroup needs a cgroup directory"));
                }
                opts.cgroup = Some(PathBuf::from(s));
            }
            "threads" | "once" | "enable-delayacct" => {
                args.no_value(&name, v)?;
                match name.as_str() {
                    "threads" => opts.threads = true,
                    "once" => once = true,
                    _ => opts.enable_delayacct = true,
                }
            }
            "iterations" => {
                let s = args.value(&name, v)?;
                opts.iterations = Some(parse_count(&s, "--iterations").map_err(|e| args.usage(e))?);
            }
            "format" => {
                let s = args.value(&name, v)?;
                opts.format = parse_format(&s, Format::ALL).map_err(|e| args.usage(e))?;
            }
            _ => return Err(args.unexpected(&Arg::Long(name, v))),
        }
    }
    if once {
        if opts.iterations.is_some_and(|n| n != 1) {
            return Err(args.usage("--once and --iterations N disagree; give one"));
        }
        opts.iterations = Some(1);
    }
    if opts.sort == SortKey::Io && !opts.threads {
        return Err(args.usage(
            "--sort rw needs --threads: the kernel does not sum storage bytes over a thread \
             group's threads",
        ));
    }
    Ok(Parsed::Run(opts))
}

/// Seconds with up to three decimals ("2", "0.5", "1.25") as ms, within the limits.
pub fn parse_interval(s: &str) -> Result<u64, String> {
    parse_period_ms(s, "--interval")
}

/// `taskwire top --help`.
pub fn help() -> String {
    let mut keys = String::new();
    for (name, _, what) in SORT_KEYS {
        keys.push_str("    ");
        keys.push_str(name);
        for _ in name.len()..10 {
            keys.push(' ');
        }
        keys.push(' ');
        keys.push_str(what);
        keys.push('\n');
    }
    format!(
        "Usage: taskwire top [--interval SECS] [--threads] [--sort KEY] [--top N]\n\
         \x20                   [--pid LIST] [--tgid LIST] [--cgroup PATH]\n\
         \x20                   [--once | --iterations N] [--format text|json|csv]\n\
         \x20                   [--enable-delayacct]\n\n\
         Every interval, per thread group (or thread, --threads): CPU% of one CPU and\n\
         the share of the interval spent waiting per delay category (the columns: the\n\
         sort keys below); header: PSI avg10, tasks shown of those seen. '-': not in\n\
         the kernel's struct. More: README.md, \"Live tasks\".\n\n\
         Options:\n\
         \x20 --interval SECS      length of an interval (default 2; decimals: 0.5)\n\
         \x20 --threads            one row per thread (pid) instead of per thread group\n\
         \x20 --sort KEY           order of the rows, busiest first (default cpu):\n\
         {keys}\
         \x20 --top N              at most N rows per interval\n\
         \x20 --pid LIST           only these pids (repeatable, or 1,2,3); without\n\
         \x20                      --threads, the thread groups they lead\n\
         \x20 --tgid LIST          only these thread groups (with --threads, their threads)\n\
         \x20 --cgroup PATH        only the tasks of a cgroup v2 or v1 directory and the\n\
         \x20                      cgroups below it; on v2 the header adds its own pressure\n\
         \x20 --once               one interval, then exit\n\
         \x20 --iterations N       N intervals, then exit\n\
         \x20 --format FORMAT      text (screens), json (one object per task per interval,\n\
         \x20                      \"type\":\"task\"), csv (a header line, then rows);\n\
         \x20                      field names: README.md, \"Fields of top and samples\"\n\
         \x20 --enable-delayacct   set kernel.task_delayacct=1 first (needs root)\n\
         \x20 -h, --help           this text\n\n\
         Interactive on a terminal unless --once, --iterations or --format json|csv:\n\
         redrawn in place (VT100 only, 80x24 serial consoles will do); keys re-sort the\n\
         last interval at once:\n\
         {keys_help}\
         Ctrl-C quits too. Otherwise a screen (or JSON/CSV rows) per interval. Runs until\n\
         q, SIGINT or SIGTERM (or --once/--iterations), and exits 0.\n\n\
         {PRIVILEGE}\n{EXIT_STATUS}",
        keys_help = indent(&keys::help_lines(76)),
    )
}

/// `text` with every line indented by four spaces.
fn indent(text: &str) -> String {
    let mut s = String::new();
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        s.push_str("    ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// The last interval, kept to redraw it: rows, and what the header says.
#[derive(Debug)]
pub struct View {
    rows: Vec<Row>,
    sort: SortKey,
    top: Option<usize>,
    threads: bool,
    total: usize,
    interval_ms: u64,
    pressure: Pressure,
    cgroup: Option<(String, Pressure)>,
    delayacct: DelayAcct,
}

impl View {
    /// An empty view of rows sorted by `sort`, at most `top` shown.
    pub fn new(opts: &Opts) -> View {
        View {
            rows: Vec::new(),
            sort: opts.sort,
            top: opts.top,
            threads: opts.threads,
            total: 0,
            interval_ms: 0,
            pressure: Pressure::default(),
            cgroup: opts.cgroup.as_ref().map(|p| {
                // What `Path::display` shows, without core::fmt.
                let shown = String::from_utf8_lossy(p.as_os_str().as_bytes()).into_owned();
                (shown, Pressure::default())
            }),
            delayacct: DelayAcct::Unknown,
        }
    }

    /// Takes a new interval's rows (capacity kept) and header figures, sorted.
    pub fn update(&mut self, iv: &Interval<'_>, delayacct: DelayAcct) {
        self.rows.clear();
        self.rows.extend(iv.rows.iter().map(|t| Row {
            id: t.id,
            comm: t.comm,
            rates: t.deltas.rates(),
            peaks: t.peaks,
        }));
        self.total = iv.total;
        self.interval_ms = (iv.interval_ns + 500_000) / 1_000_000;
        self.pressure = iv.pressure;
        if let (Some((_, p)), Some(cp)) = (&mut self.cgroup, iv.cgroup_pressure) {
            *p = cp;
        }
        self.delayacct = delayacct;
        sort_rows(&mut self.rows, self.sort);
    }

    /// Sorts the rows kept by `key`: a redraw, no new sweep.
    pub fn resort(&mut self, key: SortKey) {
        self.sort = key;
        sort_rows(&mut self.rows, key);
    }

    /// The rows shown: the first `--top` of them.
    pub fn shown(&self) -> &[Row] {
        &self.rows[..self.top.map_or(self.rows.len(), |n| n.min(self.rows.len()))]
    }

    /// The header of the screen.
    pub fn header(&self) -> Header<'_> {
        Header {
            title: "taskwire top",
            interval_ms: self.interval_ms,
            pressure: self.pressure,
            cgroup: self.cgroup.as_ref().map(|(p, cp)| (p.as_str(), *cp)),
            delayacct: self.delayacct,
            shown: self.shown().len(),
            total: self.total,
            sort: self.sort,
            threads: self.threads,
        }
    }

    /// Appends this interval in `format` to `out`: a text screen of `size`, or one JSON
    /// object or CSV row per task shown.
    pub fn render(&self, format: Format, size: Size, out: &mut String) {
        let id = if self.threads {
            IdKey::Pid
        } else {
            IdKey::Tgid
        };
        match format {
            Format::Text => live::screen(out, &self.header(), self.shown(), size),
            Format::Json => {
                for row in self.shown() {
                    live::json_row(out, "task", None, id, row, self.interval_ms);
                    out.push('\n');
                }
            }
            Format::Csv => {
                for row in self.shown() {
                    live::csv_row(out, None, row, self.interval_ms);
                    out.push('\n');
                }
            }
        }
    }
}

fn delayacct_now() -> DelayAcct {
    match delayacct::read_at(std::path::Path::new(delayacct::SYSCTL)) {
        State::On => DelayAcct::On,
        State::Off => DelayAcct::Off,
        State::Unknown => DelayAcct::Unknown,
    }
}

/// What `--cgroup` names, checked before the first sweep.
fn cgroup(path: &std::path::Path) -> Result<Cgroup, Failure> {
    let (_fd, h) = cgroupdir::open_dir(path)?;
    let v2 = match h {
        Hierarchy::V2 => true,
        Hierarchy::V1 => false,
        Hierarchy::Other(m) => {
            return Err(Failure::usage(
                CMD,
                format!(
                    "--cgroup {}: not a cgroup directory (filesystem magic {m:#x}); give a \
                     directory under /sys/fs/cgroup",
                    path.display()
                ),
            ));
        }
    };
    Ok(Cgroup {
        dir: path.to_owned(),
        v2,
    })
}

/// Runs `taskwire top`.
pub fn main(mut opts: Opts) -> Result<i32, Failure> {
    let cgroup = opts.cgroup.as_deref().map(cgroup).transpose()?;
    delayacct::prepare(opts.enable_delayacct, &mut taskwire_cli::output::Stderr)
        .map_err(Failure::Runtime)?;
    // Interactive unless batch output was asked for (or either end is no terminal).
    let term = match (opts.iterations, opts.format) {
        (None, Format::Text) => Terminal::open(),
        _ => None,
    };
    // Block the stop signals before anything else could start a thread; a terminal adds
    // SIGHUP and SIGWINCH, which would end a batch run.
    let stop: &[i32] = match term {
        Some(_) => &signals::SCREEN_SIGNALS,
        None => &signals::STOP_SIGNALS,
    };
    let sigfd =
        SignalFd::open(stop).map_err(|e| runtime("setting up SIGINT/SIGTERM handling", &e))?;
    let mut client = Client::connect()?;
    let select = Select {
        threads: opts.threads,
        // Moved, not cloned: nothing after this reads them from `opts`.
        pids: std::mem::take(&mut opts.pids),
        tgids: std::mem::take(&mut opts.tgids),
        cgroup,
    };
    let mut live = Live::new(select).map_err(|e| runtime("", &e))?;
    // The baseline: every task's first interval is measured from here.
    live.sweep(&mut client).map_err(sweep_failed)?;
    if let Some(term) = term {
        return interactive(term, &sigfd, &mut client, &mut live, &opts);
    }
    // Not yet interactive (the terminal layer comes with its own loop): a terminal gets
    // the batch screens too, cut to a console's width.
    let size = if rustix::stdio::stdout().is_terminal() {
        Size {
            cols: 80,
            rows: None,
        }
    } else {
        Size::BATCH
    };
    let mut view = View::new(&opts);
    let mut out = String::new();
    if opts.format == Format::Csv {
        live::csv_header(&mut out, false, view_id(&opts));
        out.push('\n');
    }
    let period = Duration::from_millis(opts.interval_ms);
    let mut next = Instant::now() + period;
    let mut done = 0u64;
    while opts.iterations.is_none_or(|n| done < n) {
        let wait = next.saturating_duration_since(Instant::now());
        let woken = socket::pause(Some(sigfd.as_fd()), wait)
            .map_err(|e| runtime("waiting for the interval", &e))?;
        if woken {
            break;
        }
        // Fixed steps, so intervals do not drift by the sweep's own time.
        next += period;
        let iv = live.sweep(&mut client).map_err(sweep_failed)?;
        view.update(&iv, delayacct_now());
        view.render(opts.format, size, &mut out);
        if opts.format == Format::Text && opts.iterations != Some(done + 1) {
            out.push('\n');
        }
        if let Err(e) = write_out(&out) {
            // `taskwire top | head` ends the reader first: not taskwire's failure.
            if e.raw_os_error() == Some(rustix::io::Errno::PIPE.raw_os_error()) {
                return Ok(0);
            }
            return Err(runtime("writing to stdout", &e));
        }
        out.clear();
        done += 1;
    }
    Ok(0)
}

/// The interactive screen: redrawn in place every interval; a key re-sorts the last
/// interval's rows and redraws at once, without a sweep. Returns 0 on q, Ctrl-C, a stop
/// signal or a hangup; the terminal is restored when `term` drops, whichever way this
/// returns.
fn interactive(
    mut term: Terminal,
    sigfd: &SignalFd,
    client: &mut Client,
    live: &mut Live,
    opts: &Opts,
) -> Result<i32, Failure> {
    let mut view = View::new(opts);
    let (mut screen, mut help, mut measured) = (String::new(), false, false);
    let period = Duration::from_millis(opts.interval_ms);
    let mut next = Instant::now() + period;
    loop {
        let size = term.size();
        let help_text = match help {
            true => keys::help_lines(size.cols.into()),
            false => String::new(),
        };
        let help_rows = help_text.bytes().filter(|&b| b == b'\n').count();
        let rows = usize::from(size.rows).saturating_sub(help_rows);
        screen.clear();
        if measured {
            let size = Size {
                cols: size.cols.into(),
                rows: Some(rows.max(1)),
            };
            view.render(Format::Text, size, &mut screen);
        } else {
            screen.push_str("taskwire top: measuring the first interval  (h keys, q quit)\n");
        }
        screen.push_str(&help_text);
        term.draw(&screen)
            .map_err(|e| runtime("writing to the terminal", &e))?;
        // Until something changes the screen.
        loop {
            let left = next.saturating_duration_since(Instant::now());
            let input = term
                .wait(left, Some(sigfd.as_fd()))
                .map_err(|e| runtime("reading the terminal", &e))?;
            match input {
                Input::Timeout => {
                    let iv = live.sweep(client).map_err(sweep_failed)?;
                    view.update(&iv, delayacct_now());
                    measured = true;
                    // Fixed steps, as in batch; after a stall (a stopped process), a
                    // whole interval from now rather than a burst of short ones.
                    let now = Instant::now();
                    next += period;
                    if next <= now {
                        next = now + period;
                    }
                    break;
                }
                Input::Key(key) => match keys::action(key) {
                    Some(Action::Quit) => return Ok(0),
                    // Storage bytes only add up per thread (see --sort rw).
                    Some(Action::Sort(SortKey::Io)) if !opts.threads => {}
                    Some(Action::Sort(key)) => {
                        view.resort(key);
                        break;
                    }
                    Some(Action::Refresh) => next = Instant::now(),
                    Some(Action::Help) => {
                        help = !help;
                        break;
                    }
                    // One board here.
                    Some(Action::NextBoard) | None => {}
                },
                Input::Woken => match sigfd.take() {
                    Some(SIGWINCH) => break,
                    Some(_) => return Ok(0),
                    None => {}
                },
                Input::Closed => return Ok(0),
            }
        }
    }
}

/// A runtime failure: `what: e`, or `e` alone after an empty `what`. One formatting
/// call for every failure of the loop.
fn runtime(what: &str, e: &dyn Display) -> Failure {
    let mut msg = what.to_owned();
    if !msg.is_empty() {
        msg.push_str(": ");
    }
    msg.push_str(&e.to_string());
    Failure::Runtime(msg)
}

fn sweep_failed(e: crate::live::Error) -> Failure {
    runtime("sweep", &e)
}

fn view_id(opts: &Opts) -> IdKey {
    if opts.threads {
        IdKey::Pid
    } else {
        IdKey::Tgid
    }
}

fn write_out(text: &str) -> std::io::Result<()> {
    taskwire_cli::output::write_stdout(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::test_args::{usage_msg, v};
    use taskwire_core::taskstats::Delay;

    fn run(items: &[&str]) -> Opts {
        match parse(v(items)).unwrap() {
            Parsed::Run(o) => o,
            Parsed::Help => panic!("help"),
        }
    }

    #[test]
    fn defaults_and_options() {
        assert_eq!(run(&[]), Opts::default());
        let o = run(&[
            "--interval",
            "0.5",
            "--threads",
            "--sort=io",
            "--top",
            "5",
            "--pid",
            "1,2",
            "--pid=3",
            "--tgid",
            "9",
            "--iterations",
            "4",
            "--format",
            "csv",
            "--cgroup",
            "/sys/fs/cgroup",
            "--enable-delayacct",
        ]);
        assert_eq!(o.interval_ms, 500);
        assert!(o.threads && o.enable_delayacct);
        assert_eq!(o.sort, SortKey::Delay(Delay::Blkio));
        assert_eq!(o.top, Some(5));
        assert_eq!((o.pids, o.tgids), (vec![1, 2, 3], vec![9]));
        assert_eq!(o.iterations, Some(4));
        assert_eq!(o.format, Format::Csv);
        assert_eq!(o.cgroup, Some(PathBuf::from("/sys/fs/cgroup")));
        assert_eq!(run(&["--once"]).iterations, Some(1));
        assert_eq!(run(&["--sort", "mem"]).sort, SortKey::Mem);
        assert_eq!(run(&["--threads", "--sort", "rw"]).sort, SortKey::Io);
    }

    #[test]
    fn bad_input_says_what_to_do() {
        assert!(usage_msg(parse(v(&["--sort", "x"]))).contains("one of cpu, cpu-delay"));
        assert!(usage_msg(parse(v(&["--sort", "rw"]))).contains("needs --threads"));
        assert!(usage_msg(parse(v(&["--interval", "0"]))).contains("between 0.1 and"));
        assert!(usage_msg(parse(v(&["--interval", "1.2345"]))).contains("seconds such as"));
        assert!(usage_msg(parse(v(&["--interval", "-1"]))).contains("seconds such as"));
        assert!(usage_msg(parse(v(&["--pid", "1,x"]))).contains("invalid pid 'x'"));
        assert!(usage_msg(parse(v(&["--top", "0"]))).contains("at least 1"));
        assert!(usage_msg(parse(v(&["--once", "--iterations", "3"]))).contains("disagree"));
        assert!(usage_msg(parse(v(&["--format", "xml"]))).contains("xml"));
        assert!(usage_msg(parse(v(&["--once=1"]))).contains("takes no value"));
        assert!(usage_msg(parse(v(&["stray"]))).contains("unexpected argument"));
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("2"), Ok(2000));
        assert_eq!(parse_interval("0.1"), Ok(100));
        assert_eq!(parse_interval(".25"), Ok(250));
        assert_eq!(parse_interval("1."), Ok(1000));
        assert_eq!(parse_interval("86400"), Ok(86_400_000));
        assert!(parse_interval("86400.001").is_err());
        assert!(parse_interval("99999999999999999999").is_err());
        assert!(parse_interval(".").is_err());
        assert!(parse_interval("").is_err());
        assert!(parse_interval("1e3").is_err());
    }

    #[test]
    fn help_lists_every_sort_key_and_exit_codes() {
        let text = help();
        for (name, _, _) in SORT_KEYS {
            assert!(text.contains(&format!("    {name} ")), "{name}: {text}");
        }
        assert!(text.contains("2  usage error"), "{text}");
        assert!(text.contains("CAP_NET_ADMIN"), "{text}");
        // The keys of the interactive screen, from the key table.
        assert!(
            text.contains("    q quit  c cpu  d cpu-delay  i blkio"),
            "{text}"
        );
    }
}
