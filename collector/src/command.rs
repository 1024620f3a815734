//! `taskwire decode`: the host side of `taskwire stream`.

use std::ffi::OsString;
use std::io::{ErrorKind, IsTerminal};

use crate::render::Only;
use crate::session::Decoder;
use crate::source::{self, Opened};
use crate::spec::Source;
use crate::view::View;
use crate::view::front::Screen;
use crate::{self as decode, Front, Stop, Wake};
use taskwire_cli::Failure;
use taskwire_cli::args::{Arg, Args, Format, Parsed, parse_format};
use taskwire_cli::output::live::{Size, sort_key};
use taskwire_cli::signals::{self, SignalFd};
use taskwire_cli::term::Terminal;
use taskwire_core::taskstats::SortKey;

/// Options of `taskwire decode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opts {
    /// Where the stream comes from.
    pub from: Source,
    /// Output format.
    pub format: Format,
    /// Print per-board counts on stderr at the end.
    pub stats: bool,
    /// `--only`: print only records or only samples.
    pub only: Option<Only>,
    /// `--view top`: the boards' live top instead of the frames.
    pub view: Option<ViewOpts>,
    /// `--idle-timeout SECS`: a network connection silent this long is closed; `None`:
    /// never.
    pub idle_timeout: Option<std::time::Duration>,
    /// `--key FILE`: connections must prove they know the key in it (read at start).
    pub key: Option<std::path::PathBuf>,
    /// `--metrics [HOST:]PORT`: where to serve /metrics (`host:port`, bindable).
    pub metrics: Option<String>,
    /// `--metrics-top-comms K`: comms with their own series per board.
    pub top_comms: usize,
}

/// Options of `--view top`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewOpts {
    /// `--board`: the board shown (interactive: first; batch: only).
    pub board: Option<String>,
    /// `--sort`: the first sort.
    pub sort: SortKey,
}

/// `taskwire decode --help`.
pub fn help() -> String {
    let mut keys = String::new();
    for line in taskwire_cli::term::keys::board_help_lines(76).lines() {
        keys.push_str("    ");
        keys.push_str(line);
        keys.push('\n');
    }
    HELP.replace("{keys}", &keys)
}

const HELP: &str = "\
Usage: taskwire decode --from SOURCE [--format text|json|csv]
                       [--only records|samples] [--stats]
                       [--metrics [HOST:]PORT [--metrics-top-comms K]]
       taskwire decode --from SOURCE --view top [--board ID] [--sort KEY] [--stats]

Reads the record stream that `taskwire stream` sends (core/WIRE.md) and prints every
record, loss report and heartbeat, each with the board it came from (the board id of
its stream's header; `?1`, `?2`, ... for a stream read without one). Damaged frames
are skipped and counted; the rest of the stream is unaffected. A record or loss
report whose sequence numbers its board already sent (resent after a failed write)
is dropped and counted as a duplicate, not printed twice; so is an ENOBUFS report
(it carries no numbers) that repeats the board's last one on a later connection.
Names (board ids, comms) are written with every byte outside printable ASCII, and
the backslash, as \\xNN; a CSV cell starting with = + - or @ gets a ' before it.

Sources:
  serial:/dev/ttyX[,baud=N][,rtscts]  a UART, raw 8N1 (115200 baud by default);
                                      reopened every second if it goes away
  tcp-listen:[HOST:]PORT              accept boards' connections (up to 64 at once,
                                      each its own stream); port 0 picks a free one
  unix-listen:PATH                    the same on a Unix socket
  tcp:HOST:PORT, unix:PATH            connect and read one stream
  file:PATH                           a recorded stream (what `stream --to file:` wrote)
  -                                   stdin
  mqtt://HOST[:PORT][/FILTER][,client=ID][,user=NAME][,password-file=PATH]
         [,session-expiry=SECS][,keepalive=SECS]
                                      subscribe to the boards' topics on an MQTT 5
                                      broker (port 1883; FILTER taskwire/+/stream)
Files, stdin and connections end at their end; listeners, UARTs and brokers run
until SIGINT or SIGTERM, after which connected agents are told (FIN) and read for up
to 1 s.
With mqtt:// each topic is one board's stream, each message (a whole stream: header
and frames) is acknowledged only once its output is written, and its header is
printed when it differs from the topic's last one. Clean start is off and the
broker keeps the session session-expiry seconds (default 86400) after the decoder
goes, so a decoder restarted with the same client id (default
taskwire-decode-HOSTNAME) gets what came meanwhile. A ping goes after keepalive
seconds (default 30) without sending; a broker that goes away (or leaves a ping
unanswered) is said once and retried every 5 s at most. The boards' status topics (FILTER/status: online, stopped, lost: its last will)
give one line per change. FILTER $share/GROUP/... is a shared subscription: the
broker hands each message to one decoder of the group, so this decoder sees part
of each board's numbers and counts the rest as gaps_not_seen_here, not as lost;
the fleet's totals are the sums over the group (README, MQTT). Give each decoder
its own client=ID. password-file: one line, mode 600.
A connection to a listener is not a board until it sends a readable header: one
that sends none within 5 s is closed (and, when all 64 places are taken, the
oldest such connection makes room for a new one); frames before the header are
counted, not decoded. A board is its header's board id and stream instance: two
agents with one id, or a restarted agent, are separate boards, the later ones
labelled ID#TAG (8 hex digits of the instance).

Formats (stdout):
  text   one key=value line per message: board=B seq=N pid=ID comm=... and a summary
  json   one object per line; \"type\" is header, record, loss, heartbeat, interval
         or sample. A record has board, seq, kind (pid|tgid), id, profile, comm (not
         for the delays profile) and every field present, by its kernel name; absent
         fields are omitted, never null. A sample (one task over one interval of
         `stream --sample`) has board, seq, sample (the interval's number), then the
         names of `top --format json`
  csv    records: board,seq,kind,id,comm then the fields of the record's profile,
         empty cells for absent fields; samples: board,seq,sample then the columns
         of `top --format csv`. A new header row (after an empty line) when the
         table changes: another profile, or records and samples mixed; --only gives
         one table

Live top of the boards (--view top): the screen of `taskwire top`, drawn on the
host from the samples a board sends (`taskwire stream --sample SECS`), redrawn
each time an interval is complete: its Interval frame and every row it
announced, or its rows once the next interval starts or the input ends (the
title then says what was lost). Records, losses and heartbeats are counted
(--stats) but not printed. On a terminal (standard input and output, and the
source is not -), one board at a time, keys acting at once:
{keys}Ctrl-C quits too; the screen stays after the input ends, until q.
Otherwise (a pipe, a file) one screen per completed interval of every board, or
of --board ID only, with an empty line between screens.

Options:
  --from SOURCE           where to read (required)
  --format text|json|csv  output format (default text)
  --only records|samples  print only exit records (with headers, losses and
                          heartbeats in text and json) or only intervals and
                          samples; every frame is still counted
  --view top              the boards' live top instead of the frames
  --board ID              with --view top: show board ID first (batch: only it)
  --sort KEY              with --view top: the first sort, a key of `top --sort`
                          (cpu, cpu-delay, blkio, mem, ...; default cpu)
  --idle-timeout SECS     close a board's connection after SECS with nothing
                          received (default 60; 0: never); keep it above the
                          agents' --heartbeat (default 10)
  --key FILE              with tcp-listen: or unix-listen: take only connections
                          that prove they know the shared key in FILE (the
                          boards' `stream --key`); others are refused and counted.
                          FILE: 16 to 4096 bytes, mode 600 (README: threat model)
  --metrics [HOST:]PORT   serve Prometheus metrics on http://HOST:PORT/metrics
                          (HOST 0.0.0.0 unless given; port 0 picks a free one):
                          per board records, losses by reason, gaps, rejected
                          frames, duplicates, last seen; exits and delay seconds
                          by comm and category; the most delayed tasks of the
                          last sampling interval (README: Metrics). Prometheus
                          text 0.0.4, or OpenMetrics when the scraper asks for
                          it. With a file or stdin, the metrics stay served
                          after the input ends, until SIGINT or SIGTERM
  --metrics-top-comms K   comms with series of their own per board (default 10,
                          at most 100); a comm gets one at its 4th exit while
                          places are free and keeps it; other exits count under
                          comm=\"other\". K also bounds the tasks per board
  --stats                 at the end, print per board on stderr: records; sequence
                          gaps (numbers missing between records), split into those
                          covered by the agent's Loss frames, by reason, and those
                          uncovered (gaps_uncovered: frames lost in transit;
                          with a $share/ filter gaps_not_seen_here: handed to
                          another decoder of the group, or lost);
                          duplicates dropped; restarts; losses the agent reported by
                          reason; frames rejected by reason; next_seq (records +
                          gaps = next_seq); then a total line. key=value lines, or
                          JSON objects with --format json
  -h, --help              this text

Exit status:
  0  the input ended, SIGINT/SIGTERM, or q (--view top)
  1  runtime error (the source cannot be opened or read, port in use, output
     error; the broker refused the credentials or the subscription)
  2  usage error (bad option or source)
";

/// Parses `decode`'s arguments.
pub fn parse(args: Vec<OsString>) -> Result<Parsed<Opts>, Failure> {
    let mut a = Args::new("decode", args);
    let mut from = None;
    let mut format = Format::Text;
    let mut stats = false;
    let mut only = None;
    let (mut view, mut board, mut sort) = (false, None, None);
    let mut format_given = false;
    let mut idle_timeout = Some(decode::IDLE_TIMEOUT);
    let mut key = None;
    let (mut metrics, mut top_comms) = (None, None);
    while let Some(arg) = a.next_arg()? {
        match arg {
            a if a.is_help() => return Ok(Parsed::Help),
            Arg::Long(name, v) => match name.as_str() {
                "from" => {
                    let spec = a.value("from", v)?;
                    from = Some(Source::parse(&spec).map_err(|e| a.usage(e))?);
                }
                "format" => {
                    let f = a.value("format", v)?;
                    format = parse_format(&f, Format::ALL).map_err(|e| a.usage(e))?;
                    format_given = true;
                }
                "only" => {
                    let o = a.value("only", v)?;
                    only = Some(Only::parse(&o).map_err(|e| a.usage(e))?);
                }
                "view" => {
                    let w = a.value("view", v)?;
                    if w != "top" {
                        return Err(a.usage(format!("--view: '{w}' is not a view; there is top")));
                    }
                    view = true;
                }
                "board" => {
                    let b = a.value("board", v)?;
                    if b.is_empty() {
                        return Err(a.usage("--board needs a board id"));
                    }
                    board = Some(b);
                }
                "sort" => {
                    let k = a.value("sort", v)?;
                    sort = Some(sort_key(&k).ok_or_else(|| {
                        a.usage(format!("--sort: unknown key '{k}'; see --help"))
                    })?);
                }
                "idle-timeout" => {
                    let t = a.value("idle-timeout", v)?;
                    idle_timeout = match t.parse::<u64>() {
                        Ok(0) => None,
                        Ok(n) if n <= 86_400 => Some(std::time::Duration::from_secs(n)),
                        _ => {
                            return Err(a.usage(format!(
                                "invalid --idle-timeout '{t}': seconds from 0 (never) to 86400"
                            )));
                        }
                    };
                }
                "key" => key = Some(std::path::PathBuf::from(a.value("key", v)?)),
                "metrics" => {
                    let m = a.value("metrics", v)?;
                    let addr = taskwire_cli::endpoint::listen_addr(&m)
                        .map_err(|e| a.usage(format!("--metrics '{m}': {e}")))?;
                    metrics = Some(addr);
                }
                "metrics-top-comms" => {
                    let k = a.value("metrics-top-comms", v)?;
                    top_comms = match k.parse::<usize>() {
                        Ok(n) if (1..=crate::metrics::MAX_TOP_COMMS).contains(&n) => Some(n),
                        _ => {
                            return Err(a.usage(format!(
                                "invalid --metrics-top-comms '{k}': from 1 to {}",
                                crate::metrics::MAX_TOP_COMMS
                            )));
                        }
                    };
                }
                "stats" => {
                    a.no_value("stats", v)?;
                    stats = true;
                }
                _ => return Err(a.unexpected(&Arg::Long(name, v))),
            },
            other => return Err(a.unexpected(&other)),
        }
    }
    let from = from.ok_or_else(|| {
        a.usage("--from SOURCE is needed, e.g. --from tcp-listen:9000 or --from file:x.twr")
    })?;
    if key.is_some() && !matches!(from, Source::TcpListen { .. } | Source::UnixListen(_)) {
        return Err(a.usage(
            "--key goes with --from tcp-listen: or unix-listen: (only a connection can be \
             challenged; a file, pipe or UART has no way back to its sender)",
        ));
    }
    if top_comms.is_some() && metrics.is_none() {
        return Err(a.usage("--metrics-top-comms goes with --metrics"));
    }
    let view = match view {
        true if format_given || only.is_some() => {
            return Err(
                a.usage("--view top draws screens: --format and --only are for printing frames")
            );
        }
        true => Some(ViewOpts {
            board,
            sort: sort.unwrap_or(SortKey::Cpu),
        }),
        false if board.is_some() || sort.is_some() => {
            return Err(a.usage("--board and --sort go with --view top"));
        }
        false => None,
    };
    Ok(Parsed::Run(Opts {
        from,
        format,
        stats,
        only,
        view,
        idle_timeout,
        key,
        metrics,
        top_comms: top_comms.unwrap_or(crate::metrics::DEFAULT_TOP_COMMS),
    }))
}

/// Runs `taskwire decode`.
pub fn main(opts: Opts) -> Result<i32, Failure> {
    // Interactive with --view top when the keys can come from the terminal (stdin is not
    // the source).
    let term = match (&opts.view, &opts.from) {
        (Some(_), Source::Stdin) | (None, _) => None,
        (Some(_), _) => Terminal::open(),
    };
    // Before anything could start a thread: the stop signals are read from a descriptor;
    // a terminal adds SIGHUP (it went away) and SIGWINCH (resized: redraw).
    let stop: &[i32] = match term {
        Some(_) => &signals::SCREEN_SIGNALS,
        None => &signals::STOP_SIGNALS,
    };
    let sigfd = SignalFd::open(stop)
        .map_err(|e| Failure::Runtime(format!("setting up SIGINT/SIGTERM handling: {e}")))?;
    // Before the socket is bound: a bad key file is a usage error, and nothing listens.
    let key = match &opts.key {
        Some(path) => Some(taskwire_cli::key::read_key("decode", path)?),
        None => None,
    };
    let opened = source::open(&opts.from)?;
    let server = match &opts.metrics {
        Some(addr) => {
            let s = crate::metrics::http::Server::bind(addr, &format!("--metrics {addr}"))?;
            eprintln!(
                "taskwire decode: serving metrics on http://{}/metrics",
                s.local()
            );
            Some(s)
        }
        None => None,
    };
    if let Opened::Listener(l) = &opened {
        eprintln!(
            "taskwire decode: listening on {}",
            taskwire_cli::output::escape_token(l.local().as_bytes())
        );
        let exposed = l.tcp_addr().filter(|_| key.is_none());
        if let Some(w) = exposed.and_then(crate::exposure::warning) {
            eprintln!("{w}");
        }
    }
    let reopen = source::reopener(&opts.from);
    let mut decoder = Decoder::new(opts.format).with_only(opts.only);
    decoder.timeouts.idle = opts.idle_timeout;
    decoder.key = key;
    decoder.metrics = server.map(|s| crate::metrics::Metrics {
        top: opts.top_comms,
        server: Some(s),
    });
    if let Some(v) = &opts.view {
        // Batch screens as `top` prints them: a terminal's cut to a console's width.
        let batch = match std::io::stdout().is_terminal() {
            true => Size {
                cols: 80,
                rows: None,
            },
            false => Size::BATCH,
        };
        let batch = term.is_none().then_some(batch);
        decoder = decoder.with_view(View::new(v.sort, v.board.clone(), batch));
    }
    let mut screen = term.map(|t| Screen::new(t, opts.view.as_ref().and_then(|v| v.board.clone())));
    // A stop signal ends a write blocked on a pipe nobody reads.
    let mut out = signals::Stdout;
    let wake: &dyn Wake = &sigfd;
    let front = screen.as_mut().map(|s| s as &mut dyn Front);
    let stop = decode::pump(opened, &mut decoder, Some(wake), &mut out, reopen, front);
    // The terminal is restored before anything more is said.
    drop(screen);
    let stop = match stop? {
        Stop::Output(_) if signals::caught().is_some() => {
            Stop::Signal(signals::caught().unwrap_or(0))
        }
        stop => stop,
    };
    let why = match &stop {
        Stop::End => "end of input".to_owned(),
        Stop::Signal(sig) => signals::name(*sig).to_owned(),
        Stop::Output(_) => "an output error".to_owned(),
        Stop::Quit => "q".to_owned(),
    };
    if decoder.renderer().unknown_slots {
        eprintln!(
            "taskwire decode: some records carry fields this build does not know (a newer \
             agent); CSV leaves them out, --format json shows them as slot_N"
        );
    }
    let total = decoder.tally.total();
    let samples = if total.intervals + total.samples > 0 {
        format!(
            ", {} samples in {} intervals",
            total.samples, total.intervals
        )
    } else {
        String::new()
    };
    let t = &decoder.tally;
    let mut closed = String::new();
    for (n, what) in [
        (t.refused_connections, "refused at the connection limit"),
        (t.refused_no_header, "closed without a readable header"),
        (
            t.refused_authentication,
            "refused for a missing or wrong key proof",
        ),
        (t.closed_idle, "closed idle"),
    ] {
        if n > 0 {
            closed.push_str(&format!(", {n} connections {what}"));
        }
    }
    if t.evicted_boards > 0 {
        closed.push_str(&format!(
            ", {} idle boards evicted from the full table",
            t.evicted_boards
        ));
    }
    if let Some(b) = &t.broker {
        closed.push_str(&format!(", {} messages", b.payloads));
        if b.outages > 0 {
            closed.push_str(&format!(", {} broker outages", b.outages));
        }
        if b.sessions_lost > 0 {
            closed.push_str(&format!(
                ", {} reconnects to a broker that had kept no session",
                b.sessions_lost
            ));
        }
    }
    if t.shared {
        closed.push_str(&format!(
            ", {} numbers not seen here (shared subscription: other decoders of the group \
             have them, or they are lost)",
            total.not_seen_here
        ));
    }
    eprintln!(
        "taskwire decode: {} records{samples} from {} boards, {} frames rejected{closed}; \
         stopped by {why}",
        total.records(),
        t.board_count() as u64 + t.evicted_boards,
        total.rejected.total()
    );
    if opts.stats {
        eprint!(
            "{}",
            crate::stats::report(&decoder.tally, opts.format == Format::Json)
        );
    }
    let one_stream = !matches!(
        opts.from,
        Source::TcpListen { .. } | Source::UnixListen(_) | Source::Serial(_) | Source::Mqtt(_)
    );
    match stop {
        // `taskwire decode ... | head` ends the reader first: not a failure.
        Stop::Output(e) if e.kind() == ErrorKind::BrokenPipe => Ok(0),
        Stop::Output(e) => Err(Failure::Runtime(format!("writing to stdout: {e}"))),
        // The source itself failed (EIO on a file, a connection error): its end was not
        // its real end, and a script must not take it for one.
        // A listener's connections and a reopened UART fail one at a time, not the source.
        Stop::End | Stop::Signal(_) | Stop::Quit if decoder.read_errors > 0 && one_stream => Ok(1),
        Stop::End | Stop::Signal(_) | Stop::Quit => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `None` for help.
    fn parse(v: &[&str]) -> Result<Option<Opts>, Failure> {
        super::parse(v.iter().map(OsString::from).collect()).map(|p| match p {
            Parsed::Run(o) => Some(o),
            Parsed::Help => None,
        })
    }

    #[test]
    fn options_parse() {
        let o = parse(&["--from", "file:x.twr", "--format=csv", "--stats"])
            .unwrap()
            .unwrap();
        assert_eq!(o.from, Source::File("x.twr".into()));
        assert_eq!(o.format, Format::Csv);
        assert!(o.stats);
        let o = parse(&["--from=-"]).unwrap().unwrap();
        assert_eq!(
            (o.from, o.format, o.stats, o.only, o.view),
            (Source::Stdin, Format::Text, false, None, None)
        );
        let o = parse(&["--from=-", "--format=csv", "--only", "samples"])
            .unwrap()
            .unwrap();
        assert_eq!(o.only, Some(Only::Samples));
        let o = parse(&["--from=-", "--view", "top", "--board=b1", "--sort", "io"])
            .unwrap()
            .unwrap();
        assert_eq!(
            o.view,
            Some(ViewOpts {
                board: Some("b1".into()),
                sort: SortKey::Delay(taskwire_core::taskstats::Delay::Blkio),
            })
        );
        let o = parse(&["--from=tcp-listen:9000"]).unwrap().unwrap();
        assert_eq!(o.idle_timeout, Some(decode::IDLE_TIMEOUT));
        let o = parse(&["--from=unix-listen:/tmp/s", "--key", "/etc/k"])
            .unwrap()
            .unwrap();
        assert_eq!(o.key, Some(std::path::PathBuf::from("/etc/k")));
        let o = parse(&["--from=tcp-listen:9000", "--idle-timeout", "0"])
            .unwrap()
            .unwrap();
        assert_eq!(o.idle_timeout, None);
        let o = parse(&["--from=tcp-listen:9000", "--idle-timeout=25"])
            .unwrap()
            .unwrap();
        assert_eq!(o.idle_timeout, Some(std::time::Duration::from_secs(25)));
        let o = parse(&["--from=-", "--metrics", "9464"]).unwrap().unwrap();
        assert_eq!(o.metrics.as_deref(), Some("0.0.0.0:9464"));
        assert_eq!(o.top_comms, crate::metrics::DEFAULT_TOP_COMMS);
        let o = parse(&[
            "--from=-",
            "--metrics=127.0.0.1:0",
            "--metrics-top-comms",
            "3",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (o.metrics.as_deref(), o.top_comms),
            (Some("127.0.0.1:0"), 3)
        );
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["-h", "--bogus"]).unwrap().is_none());
    }

    #[test]
    fn usage_errors() {
        for (args, needle) in [
            (&[][..], "--from SOURCE is needed"),
            (&["--from"][..], "--from needs a value"),
            (&["--from", "/dev/ttyS0"][..], "not an endpoint"),
            (&["--from", "tcp-listen:x"][..], "tcp-listen:x"),
            (&["--from", "-", "--format", "xml"][..], "text, json or csv"),
            (&["--from", "-", "--stats=yes"][..], "takes no value"),
            (&["--from", "-", "extra"][..], "unexpected argument"),
            (&["--from", "-", "--only", "both"][..], "records or samples"),
            (
                &["--from", "-", "--idle-timeout", "x"][..],
                "seconds from 0",
            ),
            (
                &["--from", "-", "--idle-timeout=86401"][..],
                "seconds from 0",
            ),
            (&["--from", "-", "--view", "htop"][..], "not a view"),
            (&["--from", "-", "--metrics", "x"][..], "--metrics 'x'"),
            (
                &["--from", "-", "--metrics-top-comms", "3"][..],
                "goes with --metrics",
            ),
            (
                &["--from", "-", "--metrics=1", "--metrics-top-comms=0"][..],
                "from 1 to 100",
            ),
            (
                &["--from", "-", "--metrics=1", "--metrics-top-comms=101"][..],
                "from 1 to 100",
            ),
            (&["--from", "-", "--key", "k"][..], "--key goes with"),
            (
                &["--from", "tcp-listen:9", "--key"][..],
                "--key needs a value",
            ),
            (&["--from", "-", "--board", "b"][..], "go with --view top"),
            (&["--from", "-", "--sort", "cpu"][..], "go with --view top"),
            (
                &["--from", "-", "--view=top", "--sort", "x"][..],
                "unknown key 'x'",
            ),
            (
                &["--from", "-", "--view=top", "--format=json"][..],
                "draws screens",
            ),
            (
                &["--from", "-", "--view=top", "--only=samples"][..],
                "draws screens",
            ),
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
            let s = e.to_string();
            assert!(s.contains(needle), "{args:?}: {s}");
            assert!(s.ends_with("(see `taskwire decode --help`)"), "{s}");
            assert!(!s.contains('\n'));
        }
    }

    #[test]
    fn help_documents_sources_formats_and_stats() {
        let h = help();
        for needle in [
            "serial:",
            "tcp-listen:",
            "unix-listen:",
            "file:",
            "json",
            "csv",
            "--stats",
            "omitted",
            "2  usage error",
            "--only records|samples",
            "--view top",
            "stream --sample",
            "tab next board",
            "cpu-delay, blkio",
            "--board ID",
            "--key FILE",
            "--metrics [HOST:]PORT",
            "--metrics-top-comms K",
            "OpenMetrics",
            "mqtt://HOST",
            "gaps_not_seen_here",
            "password-file",
        ] {
            assert!(h.contains(needle), "{needle}");
        }
    }
}
