//! `taskwire report`: reads a stream as `decode` does (same sources, same decoder and
//! counts) and writes the page instead of lines.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::aggregate::Aggregate;
use super::page::{self, Input};
use crate::session::Decoder;
use crate::source::{self, Opened};
use crate::spec::Source;
use crate::{Stop, Wake};
use taskwire_cli::Failure;
use taskwire_cli::args::{Arg, Args, Format, Parsed};
use taskwire_cli::output::escape_token;
use taskwire_cli::signals::{self, SignalFd};

/// Options of `taskwire report`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opts {
    /// Where the stream comes from.
    pub from: Source,
    /// Where the page goes.
    pub out: PathBuf,
}

/// `taskwire report --help`.
pub fn help() -> String {
    HELP.to_owned()
}

const HELP: &str = "\
Usage: taskwire report --from SOURCE [--out FILE.html]

Reads a record stream as `taskwire decode` does and writes one HTML page
about it, for people rather than scripts: per board, the header facts and
counts, the exits per second with losses and gaps marked, the commands with
the most delay in each category, the distribution of each exit's delay (log
scale), how tasks ended (exit codes and signals) and, when the stream has
samples (`stream --sample`), the live tasks' delay over time. The page is
self-contained (style, charts and its small script inline; it loads nothing)
and bounded: it is drawn from a summary per board, never from every record,
so a longer capture makes no longer a page. Tables sort by a click on a
column's heading; hovering a bar or a point shows its numbers.

The counts on the page are those of `decode --stats`. Names from the stream
(board ids, comms) are shown as README \"Names in the output\" says, and
escaped for HTML.

Options:
  --from SOURCE  what `decode --from` reads: file:PATH, -, tcp:HOST:PORT,
                 tcp-listen:[HOST:]PORT, unix:PATH, unix-listen:PATH,
                 serial:/dev/ttyX[,baud=N][,rtscts]. A file is the usual
                 case; from a listener or a UART, SIGINT or SIGTERM ends the
                 reading and the page is written
  --out FILE     the page; by default the file beside a file: source with the
                 extension .html (capture.twr -> capture.html). Needed for
                 every other source. Written whole or not at all
  -h, --help     this text

Exit status:
  0  the page was written
  1  runtime error: the source cannot be opened, holds no readable frame, or
     reading it failed (the page of what came before is written all the
     same); the page cannot be written
  2  usage error
";

/// Parses `report`'s arguments.
pub fn parse(args: Vec<OsString>) -> Result<Parsed<Opts>, Failure> {
    let mut a = Args::new("report", args);
    let (mut from, mut out) = (None, None);
    while let Some(arg) = a.next_arg()? {
        match arg {
            a if a.is_help() => return Ok(Parsed::Help),
            Arg::Long(name, v) => match name.as_str() {
                "from" => {
                    let spec = a.value("from", v)?;
                    from = Some(Source::parse(&spec).map_err(|e| a.usage(e))?);
                }
                "out" => {
                    let o = a.value("out", v)?;
                    if o.is_empty() {
                        return Err(a.usage("--out needs a file name"));
                    }
                    out = Some(PathBuf::from(o));
                }
                _ => return Err(a.unexpected(&Arg::Long(name, v))),
            },
            other => return Err(a.unexpected(&other)),
        }
    }
    let from = from.ok_or_else(|| a.usage("--from SOURCE is needed, e.g. --from file:x.twr"))?;
    let out = match (out, &from) {
        (Some(o), _) => o,
        (None, Source::File(p)) => beside(p).ok_or_else(|| {
            a.usage(format!(
                "no page name to derive from {}: give --out FILE.html",
                escape_token(p.as_os_str().as_bytes())
            ))
        })?,
        (None, _) => {
            return Err(a.usage(format!(
                "--out FILE.html is needed: the page of {from} has no file to go beside"
            )));
        }
    };
    if let Source::File(p) = &from {
        if *p == out {
            return Err(a.usage("--out names the input itself"));
        }
    }
    Ok(Parsed::Run(Opts { from, out }))
}

/// The page beside `input`: its name with the extension `.html` (`capture.twr` ->
/// `capture.html`, `log` -> `log.html`); `None` when that is the input itself or it
/// has no file name.
pub fn beside(input: &Path) -> Option<PathBuf> {
    input.file_name()?;
    let out = input.with_extension("html");
    (out != input).then_some(out)
}

/// Runs `taskwire report`.
pub fn main(opts: Opts) -> Result<i32, Failure> {
    let sigfd = SignalFd::open(&signals::STOP_SIGNALS)
        .map_err(|e| Failure::Runtime(format!("setting up SIGINT/SIGTERM handling: {e}")))?;
    let opened = source::open(&opts.from)?;
    if let Opened::Listener(l) = &opened {
        eprintln!(
            "taskwire report: listening on {}; SIGINT or SIGTERM ends the reading and \
             writes the page",
            escape_token(l.local().as_bytes())
        );
        if let Some(w) = l.tcp_addr().and_then(crate::exposure::warning) {
            eprintln!("{w}");
        }
    }
    let reopen = source::reopener(&opts.from);
    let mut decoder = Decoder::new(Format::Text);
    decoder.observer = Some(Box::new(Aggregate::new()));
    let wake: &dyn Wake = &sigfd;
    // Only headers, losses and heartbeats are still rendered with an observer: dropped.
    let stop = crate::pump(
        opened,
        &mut decoder,
        Some(wake),
        &mut std::io::sink(),
        reopen,
        None,
    )?;
    if let Stop::Output(e) = stop {
        return Err(Failure::Runtime(format!("decoding: {e}")));
    }
    let aggregate = decoder
        .observer
        .take()
        .and_then(|o| o.into_any().downcast::<Aggregate>().ok())
        .unwrap_or_default();
    let t = &decoder.tally;
    let total = t.total();
    let source = escape_token(opts.from.to_string().as_bytes());
    // Not one frame decoded (rejections alone may have made a `?1` board): not a stream.
    if aggregate.boards().is_empty() {
        return Err(Failure::Runtime(format!(
            "taskwire report: {source} holds no readable frame of a taskwire stream ({} \
             frames rejected): no page written",
            total.rejected.total() + t.refused_no_header
        )));
    }
    let one_stream = !matches!(
        opts.from,
        Source::TcpListen { .. } | Source::UnixListen(_) | Source::Serial(_)
    );
    let cut_short = decoder.read_errors > 0 && one_stream;
    let html = page::render(&Input {
        source: &opts.from.to_string(),
        tally: t,
        aggregate: &aggregate,
        cut_short,
    });
    write_whole(&opts.out, html.as_bytes()).map_err(|e| {
        Failure::Runtime(format!(
            "taskwire report: writing {}: {e}",
            escape_token(opts.out.as_os_str().as_bytes())
        ))
    })?;
    eprintln!(
        "taskwire report: {} records from {} boards, {} frames rejected: wrote {} ({} bytes)",
        total.records(),
        t.board_count() as u64 + t.evicted_boards,
        total.rejected.total(),
        escape_token(opts.out.as_os_str().as_bytes()),
        html.len()
    );
    Ok(if cut_short { 1 } else { 0 })
}

/// Writes `bytes` to `path` through a temporary file beside it, renamed into place: a
/// page is there whole or not at all, and an older page stays until the new one is done.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Option<Opts>, Failure> {
        super::parse(v.iter().map(OsString::from).collect()).map(|p| match p {
            Parsed::Run(o) => Some(o),
            Parsed::Help => None,
        })
    }

    #[test]
    fn the_page_goes_beside_a_file() {
        let o = parse(&["--from", "file:/tmp/cap.twr"]).unwrap().unwrap();
        assert_eq!(o.out, PathBuf::from("/tmp/cap.html"));
        let o = parse(&["--from=file:log"]).unwrap().unwrap();
        assert_eq!(o.out, PathBuf::from("log.html"));
        let o = parse(&["--from=-", "--out", "x.html"]).unwrap().unwrap();
        assert_eq!((o.from, o.out), (Source::Stdin, PathBuf::from("x.html")));
        assert!(parse(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn usage_errors() {
        for (args, needle) in [
            (&[][..], "--from SOURCE is needed"),
            (&["--from", "-"][..], "--out FILE.html is needed"),
            (
                &["--from", "tcp-listen:9000"][..],
                "--out FILE.html is needed",
            ),
            (&["--from", "file:x.html"][..], "give --out"),
            (
                &["--from", "file:a.twr", "--out", "a.twr"][..],
                "the input itself",
            ),
            (
                &["--from", "file:a", "--out="][..],
                "--out needs a file name",
            ),
            (&["--from", "nope:1"][..], "nope:1"),
            (
                &["--from", "-", "--out", "x", "y"][..],
                "unexpected argument",
            ),
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
            let s = e.to_string();
            assert!(s.contains(needle), "{args:?}: {s}");
            assert!(s.ends_with("(see `taskwire report --help`)"), "{s}");
        }
    }
}
