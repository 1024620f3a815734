//! `taskwire decode`: the host side of `taskwire stream`.

use std::ffi::OsString;
use std::io::ErrorKind;

use crate::session::Decoder;
use crate::source::{self, Input, Opened};
use crate::spec::Source;
use crate::{self as decode, Reopen, Stop, Wake};
use taskwire_cli::Failure;
use taskwire_cli::args::{Arg, Args, Format, Parsed, parse_format};
use taskwire_cli::signals::{self, SignalFd};

/// Options of `taskwire decode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opts {
    /// Where the stream comes from.
    pub from: Source,
    /// Output format.
    pub format: Format,
    /// Print per-board counts on stderr at the end.
    pub stats: bool,
}

/// `taskwire decode --help`.
pub fn help() -> String {
    "\
Usage: taskwire decode --from SOURCE [--format text|json|csv] [--stats]

Reads the record stream that `taskwire stream` sends (core/WIRE.md) and prints every
record, loss report and heartbeat, each with the board it came from (the board id of
its stream's header; `?1`, `?2`, ... for a stream read without one). Damaged frames
are skipped and counted; the rest of the stream is unaffected. A record or loss
report whose sequence numbers its board already sent (resent after a failed write)
is dropped and counted as a duplicate, not printed twice; so is an ENOBUFS report
(it carries no numbers) that repeats the board's last one on a later connection.

Sources:
  serial:/dev/ttyX[,baud=N][,rtscts]  a UART, raw 8N1 (115200 baud by default);
                                      reopened every second if it goes away
  tcp-listen:[HOST:]PORT              accept boards' connections (up to 64 at once,
                                      each its own stream); port 0 picks a free one
  unix-listen:PATH                    the same on a Unix socket
  tcp:HOST:PORT, unix:PATH            connect and read one stream
  file:PATH                           a recorded stream (what `stream --to file:` wrote)
  -                                   stdin
Files, stdin and connections end at their end; listeners and UARTs run until SIGINT
or SIGTERM, after which connected agents are told (FIN) and read for up to 1 s.

Formats (stdout):
  text   one key=value line per message: board=B seq=N pid=ID comm=... and a summary
  json   one object per line; \"type\" is header, record, loss or heartbeat. A record
         has board, seq, kind (pid|tgid), id, profile, comm (not for the delays
         profile) and every field present, by its kernel name; absent fields are
         omitted, never null
  csv    records only: board,seq,kind,id,comm then the fields of the record's
         profile; empty cells for absent fields; a new header row when the profile
         changes

Options:
  --from SOURCE           where to read (required)
  --format text|json|csv  output format (default text)
  --stats                 at the end, print per board on stderr: records; sequence
                          gaps (numbers missing between records), split into those
                          covered by the agent's Loss frames, by reason, and those
                          uncovered (gaps_uncovered: frames lost in transit);
                          duplicates dropped; restarts; losses the agent reported by
                          reason; frames rejected by reason; next_seq (records +
                          gaps = next_seq); then a total line. key=value lines, or
                          JSON objects with --format json
  -h, --help              this text

Exit status:
  0  the input ended, or SIGINT/SIGTERM
  1  runtime error (the source cannot be opened, port in use, output error)
  2  usage error (bad option or source)
"
    .to_owned()
}

/// Parses `decode`'s arguments.
pub fn parse(args: Vec<OsString>) -> Result<Parsed<Opts>, Failure> {
    let mut a = Args::new("decode", args);
    let mut from = None;
    let mut format = Format::Text;
    let mut stats = false;
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
    Ok(Parsed::Run(Opts {
        from,
        format,
        stats,
    }))
}

/// Runs `taskwire decode`.
pub fn main(opts: Opts) -> Result<i32, Failure> {
    // Before anything could start a thread: the stop signals are read from a descriptor.
    let sigfd = SignalFd::open(&signals::STOP_SIGNALS)
        .map_err(|e| Failure::Runtime(format!("setting up SIGINT/SIGTERM handling: {e}")))?;
    let opened = source::open(&opts.from)?;
    if let Opened::Listener(l) = &opened {
        eprintln!("taskwire decode: listening on {}", l.local());
    }
    let reopen: Option<Reopen> = match &opts.from {
        Source::Serial(serial) => {
            let serial = serial.clone();
            Some(Box::new(move || {
                source::open_serial(&serial.path, serial.baud, serial.rtscts)
                    .ok()
                    .map(Input::File)
            }))
        }
        _ => None,
    };
    let mut decoder = Decoder::new(opts.format);
    let mut out = std::io::stdout().lock();
    let wake: &dyn Wake = &sigfd;
    let stop = decode::pump(opened, &mut decoder, Some(wake), &mut out, reopen)?;
    let why = match &stop {
        Stop::End => "end of input".to_owned(),
        Stop::Signal(sig) => signals::name(*sig).to_owned(),
        Stop::Output(_) => "an output error".to_owned(),
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
    eprintln!(
        "taskwire decode: {} records{samples} from {} boards, {} frames rejected; stopped by \
         {why}",
        total.records(),
        decoder.tally.board_count(),
        total.rejected.total()
    );
    if opts.stats {
        eprint!(
            "{}",
            crate::stats::report(&decoder.tally, opts.format == Format::Json)
        );
    }
    match stop {
        // `taskwire decode ... | head` ends the reader first: not a failure.
        Stop::Output(e) if e.kind() == ErrorKind::BrokenPipe => Ok(0),
        Stop::Output(e) => Err(Failure::Runtime(format!("writing to stdout: {e}"))),
        Stop::End | Stop::Signal(_) => Ok(0),
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
            (o.from, o.format, o.stats),
            (Source::Stdin, Format::Text, false)
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
        ] {
            assert!(h.contains(needle), "{needle}");
        }
    }
}
