//! The host side of a record stream: bytes from a file, a UART or many boards' connections
//! in, decoded messages and per-board counts out.
//!
//! Layers: [`source`] opens what `--from` names; [`session`] keeps one stream's reader
//! and board and feeds the shared [`session::Decoder`], which renders ([`render`]) and
//! counts ([`tally`], which also follows each board's sequence numbers: gaps covered by
//! the agent's Loss frames or not, duplicates dropped). [`pump`] is the single-threaded
//! poll loop that ties them together: the listener, up to [`MAX_CONNECTIONS`] connections
//! or an MQTT broker's connection ([`mqtt`]), the SIGINT/SIGTERM descriptor and, for
//! `--view top` on a terminal, the terminal's keys ([`Front`], [`view`]). Memory is fixed
//! per connection (a frame buffer of each kind, about 3 KiB), so no input, however long
//! or broken, makes it grow; the view keeps two intervals per board, at most
//! [`view::assembly::MAX_ROWS`] rows each.

pub mod ack;
pub mod boards;
pub mod command;
pub mod exposure;
pub mod gate;
pub mod metrics;
pub mod mqtt;
pub mod observer;
pub mod rejected;
pub mod render;
pub mod report;
pub mod session;
pub mod source;
pub mod spec;
pub mod stats;
pub mod tally;
pub mod view;

use std::io::{self, ErrorKind, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::retry_on_intr;

use session::{Decoder, Session};
use source::{Input, Listener, Opened};
use taskwire_cli::Failure;
use taskwire_cli::output::escape_token;
use taskwire_cli::signals::SignalFd;

/// Connections decoded at once; more are refused with a message. Each costs a fixed few
/// KiB and a descriptor.
pub const MAX_CONNECTIONS: usize = 64;
/// Bytes read from one stream per turn, so that one busy board cannot starve the others.
const READ_CHUNK: usize = 16 * 1024;
/// Rendered output held before it is written even when more input is waiting.
const OUT_HIGH_WATER: usize = 64 * 1024;
/// A stopping decoder reads what its connections still send until they close, or until
/// none has sent anything for this long.
const DRAIN_QUIET: Duration = Duration::from_secs(1);
/// The most a stopping decoder spends reading what its connections still send, so that a
/// peer that never stops cannot hold it. Only a bound: an agent stops sending at the
/// `Closing` and closes, and what a starved decoder has not read by then may be megabytes
/// in its receive buffers, all promised to be read (core/WIRE.md section 7.2).
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// How long a board refused for capacity is asked to wait before it tries again.
const CAPACITY_RETRY_MS: u32 = 2000;
/// How often a lost UART is looked for again.
const REOPEN_EVERY: Duration = Duration::from_secs(1);
/// How long a network connection has to send a readable header before it is closed
/// (counted as `refused_no_header`). An agent sends its header first thing, in one write
/// (after its proof, with `--key`).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A network connection that sends nothing for this long is closed (`closed_idle`),
/// unless `decode --idle-timeout` says otherwise: six of the agent's default heartbeats
/// (10 s), so a quiet but living agent is never cut off.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the loop ended.
#[derive(Debug)]
pub enum Stop {
    /// Every stream reached its end (file, stdin, a connection that was closed).
    End,
    /// SIGINT or SIGTERM.
    Signal(i32),
    /// Writing the output failed (a closed pipe included).
    Output(io::Error),
    /// The interactive screen was quit (q), or its terminal hung up.
    Quit,
}

/// What the loop serves beside its streams: the interactive screen of `decode --view
/// top`, whose keys are read as they come while the streams go on being read.
pub trait Front {
    /// The descriptor of its input (a terminal's keys), polled with the streams.
    fn input(&self) -> BorrowedFd<'_>;
    /// Once per turn of the loop, `ready` when its input is readable: read the keys and
    /// redraw what changed. `Ok(false)` ends the loop ([`Stop::Quit`]).
    fn serve(&mut self, decoder: &mut Decoder, ready: bool) -> Result<bool, Failure>;
    /// A signal arrived on the wake descriptor: true when it was for the front (a
    /// resize), false when it stops the loop.
    fn signal(&mut self, sig: i32) -> bool;
}

/// What wakes the loop to stop: SIGINT/SIGTERM through a signalfd.
pub trait Wake: AsFd {
    /// The signal that arrived, consuming it; `None` for a spurious wake-up.
    fn take(&self) -> Option<i32>;
}

impl Wake for SignalFd {
    fn take(&self) -> Option<i32> {
        SignalFd::take(self)
    }
}

/// Reopens a stream that went away (a UART unplugged); `None` while it is still gone.
pub type Reopen = Box<dyn FnMut() -> Option<Input>>;

/// One stream being read.
struct Conn {
    /// `None` while a reopenable stream is gone.
    input: Option<Input>,
    session: Session,
    /// When it was accepted (network connections: the header timeout runs from here).
    opened: Instant,
    /// When it last sent a byte (network connections: the idle timeout runs from here).
    heard: Instant,
    /// The acknowledgements of an accepted connection (core/WIRE.md section 7); None for
    /// a stream the decoder opened itself.
    acker: Option<ack::Acker>,
    /// A connection to a decoder with a key that has not proved it knows it yet: what it
    /// sends goes here, not to the decoder.
    gate: Option<gate::Gate>,
    /// Refused for a missing or wrong proof (counted as such, not as headerless).
    refused: bool,
}

impl Conn {
    fn new(input: Input, session: Session) -> Conn {
        let now = Instant::now();
        Conn {
            input: Some(input),
            session,
            opened: now,
            heard: now,
            acker: None,
            gate: None,
            refused: false,
        }
    }

    /// Why a network connection is to be closed now, if it is: no header in time, or
    /// silent too long; and when it will be otherwise.
    fn deadline(&self, timeouts: &Timeouts) -> (Option<Closed>, Option<Instant>) {
        if !self.session.is_connection() {
            return (None, None);
        }
        let now = Instant::now();
        let header = (!self.session.has_header()).then(|| self.opened + timeouts.header);
        let idle = timeouts.idle.map(|d| self.heard + d);
        if header.is_some_and(|t| t <= now) {
            return (Some(Closed::NoHeader), None);
        }
        if idle.is_some_and(|t| t <= now) {
            return (Some(Closed::Idle), None);
        }
        (None, [header, idle].into_iter().flatten().min())
    }
}

/// Why a network connection was closed by the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    NoHeader,
    Idle,
}

/// The network connections' timeouts ([`HEADER_TIMEOUT`], [`IDLE_TIMEOUT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// No readable header within this: closed.
    pub header: Duration,
    /// Nothing received for this long: closed; `None`: never.
    pub idle: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: HEADER_TIMEOUT,
            idle: Some(IDLE_TIMEOUT),
        }
    }
}

/// Runs until the input ends, a stop signal arrives or the output fails.
///
/// `reopen`, for a single stream, is tried every second after the stream ends or fails
/// instead of stopping (a UART whose adapter was unplugged). With a `front` (an
/// interactive screen), the end of the input does not end the loop: the screen stays
/// until it is quit or a stop signal comes.
pub fn pump(
    opened: Opened,
    decoder: &mut Decoder,
    wake: Option<&dyn Wake>,
    out: &mut dyn Write,
    mut reopen: Option<Reopen>,
    mut front: Option<&mut dyn Front>,
) -> Result<Stop, Failure> {
    let timeouts = decoder.timeouts;
    let (listener, mut conns, mut mqtt) = match opened {
        Opened::Stream(input, peer) => (None, vec![Conn::new(input, Session::new(peer))], None),
        Opened::Listener(l) => (Some(l), Vec::new(), None),
        Opened::Mqtt(m) => {
            decoder.tally.shared = m.url().shared_group().is_some();
            decoder.tally.broker = Some(tally::BrokerCounts::default());
            (None, Vec::new(), Some(m))
        }
    };
    decoder.tally.connections = conns.len() as u64;
    let mut buf = vec![0u8; READ_CHUNK];
    let mut last_refusal: Option<Instant> = None;
    let (mut keys, mut ended) = (false, false);
    loop {
        if let Some(f) = front.as_mut() {
            if !f.serve(decoder, std::mem::take(&mut keys))? {
                return Ok(match write_out(decoder, out) {
                    Ok(()) => Stop::Quit,
                    Err(e) => Stop::Output(e),
                });
            }
        }
        if let Err(e) = write_out(decoder, out) {
            return Ok(Stop::Output(e));
        }
        // Acknowledged only once written out: a decoder killed now has not
        // acknowledged records it never printed.
        if let Some(m) = &mut mqtt {
            m.written(decoder);
        }
        for c in &mut conns {
            if let (Some(a), Some(input)) = (&mut c.acker, &c.input) {
                a.after_read(input, &c.session.seen);
            }
        }
        let down = conns.iter().any(|c| c.input.is_none());
        let next = close_overdue(&mut conns, decoder, &timeouts);
        let scrapers = metrics::polled(decoder);
        let next = [
            next,
            mqtt.as_deref().map(mqtt::Subscriber::due),
            scrapers.and_then(|(_, d)| d),
        ]
        .into_iter()
        .flatten()
        .min();
        let until = next.map(|t| t.saturating_duration_since(Instant::now()));
        let timeout = match (down.then_some(REOPEN_EVERY), until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let ready = wait(
            wake,
            listener.as_ref(),
            front.as_deref().map(Front::input),
            mqtt.as_deref().and_then(mqtt::Subscriber::poll_fd),
            scrapers.map(|(fd, _)| fd),
            &conns,
            timeout,
        )?;
        keys = ready.front;
        if ready.metrics
            || scrapers
                .and_then(|(_, d)| d)
                .is_some_and(|d| d <= Instant::now())
        {
            metrics::serve(decoder);
        }
        if ready.wake {
            let sig = wake.and_then(Wake::take);
            let stop = sig.filter(|&s| !front.as_mut().is_some_and(|f| f.signal(s)));
            if let Some(sig) = stop {
                drop(listener);
                drain(&mut conns, decoder, &mut buf);
                if let Some(m) = &mut mqtt {
                    // What was printed is acknowledged before DISCONNECT; the rest the
                    // broker keeps for the next run.
                    if write_out(decoder, out).is_ok() {
                        m.written(decoder);
                    }
                    m.stop(decoder);
                }
                return Ok(match write_out(decoder, out) {
                    Ok(()) => Stop::Signal(sig),
                    Err(e) => Stop::Output(e),
                });
            }
        }
        if let Some(m) = &mut mqtt {
            if let Err(f) = m.turn(decoder, ready.mqtt) {
                let _ = write_out(decoder, out);
                m.stop(decoder);
                return Err(f);
            }
        }
        if ready.listener {
            if let Some(l) = &listener {
                accept_all(l, &mut conns, decoder, &mut last_refusal);
            }
        }
        let mut i = 0;
        while i < conns.len() {
            let c = &mut conns[i];
            let ended = match &mut c.input {
                Some(input) if ready.conns.get(i).copied().unwrap_or(false) => {
                    c.heard = Instant::now();
                    match c.gate.is_some() {
                        true => read_gated(c, decoder, &mut buf),
                        false => read_once(input, &mut c.session, decoder, &mut buf),
                    }
                }
                Some(_) => false,
                None => {
                    if let Some(input) = reopen.as_mut().and_then(|f| f()) {
                        eprintln!(
                            "taskwire decode: {} is back",
                            escape_token(c.session.peer.as_bytes())
                        );
                        c.input = Some(input);
                    }
                    false
                }
            };
            if ended {
                if let Some(r) = reopen.as_mut() {
                    eprintln!(
                        "taskwire decode: {} went away; trying to reopen it every second",
                        escape_token(c.session.peer.as_bytes())
                    );
                    c.input = r();
                    i += 1;
                    continue;
                }
                let mut gone = conns.swap_remove(i);
                if listener.is_some() {
                    match gone.session.label() {
                        Some(b) if gone.session.has_header() => eprintln!(
                            "taskwire decode: {} closed (board {})",
                            escape_token(gone.session.peer.as_bytes()),
                            escape_token(b.as_bytes())
                        ),
                        _ if gone.refused => {}
                        _ => decoder.no_header(&gone.session.peer, "it hung up"),
                    }
                }
                decoder.close(&mut gone.session);
                continue;
            }
            i += 1;
            if decoder.out.len() >= OUT_HIGH_WATER {
                if let Err(e) = write_out(decoder, out) {
                    return Ok(Stop::Output(e));
                }
            }
        }
        if listener.is_none() && conns.is_empty() && mqtt.is_none() {
            // An interactive screen stays up, showing the last interval, until quit; so
            // do the metrics, for their last scrape, until a stop signal.
            let serving = decoder.metrics.as_ref().is_some_and(|m| m.server.is_some());
            if !std::mem::replace(&mut ended, true) {
                decoder.end_of_input();
                if serving && front.is_none() {
                    eprintln!(
                        "taskwire decode: end of input; the metrics stay served until \
                         SIGINT or SIGTERM"
                    );
                }
            }
            if front.is_none() && !serving {
                return Ok(match write_out(decoder, out) {
                    Ok(()) => Stop::End,
                    Err(e) => Stop::Output(e),
                });
            }
        }
    }
}

/// Writes and clears the rendered output.
fn write_out(decoder: &mut Decoder, out: &mut dyn Write) -> io::Result<()> {
    if decoder.out.is_empty() {
        return Ok(());
    }
    let r = out
        .write_all(decoder.out.as_bytes())
        .and_then(|()| out.flush());
    decoder.out.clear();
    r
}

/// Which descriptors are readable.
struct Ready {
    wake: bool,
    listener: bool,
    front: bool,
    metrics: bool,
    /// The broker's connection is readable (or writable, when asked).
    mqtt: bool,
    conns: Vec<bool>,
}

fn wait(
    wake: Option<&dyn Wake>,
    listener: Option<&Listener>,
    front: Option<BorrowedFd<'_>>,
    mqtt: Option<(BorrowedFd<'_>, bool)>,
    metrics: Option<BorrowedFd<'_>>,
    conns: &[Conn],
    timeout: Option<Duration>,
) -> Result<Ready, Failure> {
    let mut fds = Vec::with_capacity(4 + conns.len());
    if let Some(w) = wake {
        fds.push(PollFd::from_borrowed_fd(w.as_fd(), PollFlags::IN));
    }
    if let Some(l) = listener {
        fds.push(PollFd::new(l, PollFlags::IN));
    }
    if let Some(f) = front {
        fds.push(PollFd::from_borrowed_fd(f, PollFlags::IN));
    }
    if let Some((m, write)) = mqtt {
        let flags = match write {
            true => PollFlags::IN | PollFlags::OUT,
            false => PollFlags::IN,
        };
        fds.push(PollFd::from_borrowed_fd(m, flags));
    }
    if let Some(m) = metrics {
        fds.push(PollFd::from_borrowed_fd(m, PollFlags::IN));
    }
    // Streams that are gone are not polled; their slots stay false.
    let polled: Vec<usize> = (0..conns.len())
        .filter(|&i| conns[i].input.is_some())
        .collect();
    for &i in &polled {
        if let Some(input) = &conns[i].input {
            fds.push(PollFd::new(input, PollFlags::IN));
        }
    }
    let ts = timeout.map(|d| Timespec {
        tv_sec: d.as_secs() as _,
        tv_nsec: d.subsec_nanos() as _,
    });
    retry_on_intr(|| poll(&mut fds, ts.as_ref()))
        .map_err(|e| Failure::Runtime(format!("waiting for input: {e}")))?;
    let mut it = fds.iter().map(|f| !f.revents().is_empty());
    let mut ready = Ready {
        wake: wake.is_some() && it.next().unwrap_or(false),
        listener: listener.is_some() && it.next().unwrap_or(false),
        front: front.is_some() && it.next().unwrap_or(false),
        mqtt: mqtt.is_some() && it.next().unwrap_or(false),
        metrics: metrics.is_some() && it.next().unwrap_or(false),
        conns: vec![false; conns.len()],
    };
    for (&i, r) in polled.iter().zip(it) {
        ready.conns[i] = r;
    }
    Ok(ready)
}

/// Reads one chunk of a connection that has not proved it knows the key yet: into its
/// gate, and what follows a good proof into the decoder. True when the stream ended,
/// failed or was refused.
fn read_gated(c: &mut Conn, d: &mut Decoder, buf: &mut [u8]) -> bool {
    let (Some(input), Some(g), Some(key)) = (&mut c.input, &mut c.gate, &d.key) else {
        return true;
    };
    let n = match input.read(buf) {
        Ok(0) => return true,
        Ok(n) => n,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
            return false;
        }
        Err(_) => return true,
    };
    let bytes = buf.get(..n).unwrap_or_default();
    match g.take(key, bytes) {
        gate::Verdict::Waiting => false,
        gate::Verdict::Proven(at) => {
            c.gate = None;
            d.feed(&mut c.session, bytes.get(at..).unwrap_or_default());
            false
        }
        gate::Verdict::Refused => {
            c.refused = true;
            d.refused_authentication(&c.session.peer);
            ack::refuse(input, taskwire_core::wire::RefuseReason::Authentication, 0);
            true
        }
    }
}

/// Reads one chunk and decodes it; true when the stream ended or failed.
fn read_once(input: &mut Input, s: &mut Session, d: &mut Decoder, buf: &mut [u8]) -> bool {
    match input.read(buf) {
        Ok(0) => true,
        Ok(n) => {
            d.feed(s, buf.get(..n).unwrap_or_default());
            false
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => false,
        Err(e) => {
            // A reset connection or an unplugged UART (EIO): the stream is over.
            if e.kind() != ErrorKind::ConnectionReset {
                eprintln!(
                    "taskwire decode: reading {}: {e}",
                    escape_token(s.peer.as_bytes())
                );
                d.read_errors += 1;
            }
            true
        }
    }
}

fn accept_all(
    l: &Listener,
    conns: &mut Vec<Conn>,
    decoder: &mut Decoder,
    last_refusal: &mut Option<Instant>,
) {
    let turn = Instant::now();
    loop {
        match l.accept() {
            Ok(None) => return,
            Ok(Some((input, peer))) => {
                if conns.len() >= MAX_CONNECTIONS {
                    // A connection is not a board until its header: the oldest one still
                    // without one makes room, so junk cannot hold every slot. Only one
                    // accepted before this turn: it has had a turn to be read.
                    if let Some(i) = oldest_headerless(conns, turn) {
                        let mut gone = conns.swap_remove(i);
                        decoder.no_header(&gone.session.peer, "closed to make room");
                        decoder.close(&mut gone.session);
                    }
                }
                if conns.len() >= MAX_CONNECTIONS {
                    decoder.tally.refused_connections += 1;
                    // At most one line a second, whatever a flood of connections does.
                    if last_refusal.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        *last_refusal = Some(Instant::now());
                        eprintln!(
                            "taskwire decode: refused a connection from {}: already \
                             {MAX_CONNECTIONS} connections (the limit); {} refused so far",
                            escape_token(peer.as_bytes()),
                            decoder.tally.refused_connections
                        );
                    }
                    // Told why before the close: the agent waits, and sent nothing but
                    // its header (core/WIRE.md section 7).
                    ack::refuse(
                        &input,
                        taskwire_core::wire::RefuseReason::Capacity,
                        CAPACITY_RETRY_MS,
                    );
                    continue;
                }
                // Said when its header names the board: junk makes no line of its own.
                decoder.tally.connections += 1;
                let mut conn = Conn::new(input, Session::connection(peer));
                conn.acker = Some(ack::Acker::default());
                if decoder.key.is_some() {
                    let Some(input) = &conn.input else { continue };
                    conn.gate = gate::Gate::challenge(input);
                    if conn.gate.is_none() {
                        // No random bytes for a nonce: cannot authenticate, so no reading.
                        eprintln!(
                            "taskwire decode: refused a connection from {}: no random bytes \
                             for its challenge (getrandom failed)",
                            escape_token(conn.session.peer.as_bytes())
                        );
                        ack::refuse(input, taskwire_core::wire::RefuseReason::Authentication, 0);
                        continue;
                    }
                }
                conns.push(conn);
            }
            Err(e) => {
                // ECONNABORTED, EMFILE and the like: this connection is lost, not the rest.
                eprintln!("taskwire decode: accepting a connection: {e}");
                return;
            }
        }
    }
}

/// The network connection accepted the longest ago, before `turn`, that has not sent a
/// header yet.
fn oldest_headerless(conns: &[Conn], turn: Instant) -> Option<usize> {
    conns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.session.is_connection() && !c.session.has_header())
        .filter(|(_, c)| c.opened < turn)
        .min_by_key(|(_, c)| c.opened)
        .map(|(i, _)| i)
}

/// Closes the network connections past a timeout (counted by reason, one line each at
/// most a second); when the next one falls due otherwise.
fn close_overdue(conns: &mut Vec<Conn>, decoder: &mut Decoder, t: &Timeouts) -> Option<Instant> {
    let mut next: Option<Instant> = None;
    let mut i = 0;
    while i < conns.len() {
        let (why, due) = conns[i].deadline(t);
        let Some(why) = why else {
            next = match (next, due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            i += 1;
            continue;
        };
        let mut gone = conns.swap_remove(i);
        let peer = escape_token(gone.session.peer.as_bytes());
        match why {
            Closed::NoHeader => {
                let why = format!("none within {} s", t.header.as_secs_f32());
                decoder.no_header(&gone.session.peer, &why);
            }
            Closed::Idle => {
                decoder.tally.closed_idle += 1;
                eprintln!(
                    "taskwire decode: closed {peer}{}: nothing received for {} s",
                    gone.session
                        .label()
                        .map(|b| format!(" (board {})", escape_token(b.as_bytes())))
                        .unwrap_or_default(),
                    t.idle.map_or(0, |d| d.as_secs())
                );
            }
        }
        decoder.close(&mut gone.session);
    }
    next
}

/// On a stop signal: tell each connected agent (FIN) and read what it still sends, until
/// it closes, goes quiet ([`DRAIN_QUIET`]) or [`DRAIN_LIMIT`] passes, so records already
/// on the way are not lost.
/// Files and stdin are not drained: the signal means stop now.
fn drain(conns: &mut Vec<Conn>, decoder: &mut Decoder, buf: &mut [u8]) {
    // Connections that have not proved themselves have nothing to drain.
    conns.retain(|c| matches!(c.input, Some(Input::Tcp(_) | Input::Unix(_))) && c.gate.is_none());
    for c in conns.iter_mut() {
        if let Some(i) = &c.input {
            if let Some(a) = &mut c.acker {
                ack::closing(a, i, &c.session.seen);
            }
            i.shutdown_write();
        }
    }
    let limit = Instant::now() + DRAIN_LIMIT;
    let mut quiet = Instant::now() + DRAIN_QUIET;
    while !conns.is_empty() {
        let left = quiet.min(limit).saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let Ok(ready) = wait(None, None, None, None, None, conns, Some(left)) else {
            break;
        };
        if ready.conns.iter().any(|&r| r) {
            quiet = Instant::now() + DRAIN_QUIET;
        }
        let mut i = 0;
        while i < conns.len() {
            let c = &mut conns[i];
            let ended = match &mut c.input {
                Some(input) if ready.conns[i] => read_once(input, &mut c.session, decoder, buf),
                _ => false,
            };
            if ended {
                let mut gone = conns.swap_remove(i);
                decoder.close(&mut gone.session);
            } else {
                i += 1;
            }
        }
    }
    for c in conns.iter_mut() {
        decoder.close(&mut c.session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Format;
    use crate::spec::Source;
    use std::io::Read;
    use std::net::TcpStream;
    use std::os::unix::net::UnixStream;
    use taskwire_core::wire::testutil::stream_bytes;

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("tw-pump-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn a_file_is_read_to_its_end() {
        let path = tmp("two.twr");
        let mut bytes = stream_bytes("f", 0..50);
        // Reconnect in the same file (the agent appends): a second stream.
        bytes.extend(stream_bytes("f", 0..10));
        std::fs::write(&path, &bytes).unwrap();
        let src = Source::parse(&format!("file:{}", path.display())).unwrap();
        let mut d = Decoder::new(Format::Text);
        let mut out = Vec::new();
        let stop = pump(
            source::open(&src).unwrap(),
            &mut d,
            None,
            &mut out,
            None,
            None,
        )
        .unwrap();
        assert!(matches!(stop, Stop::End), "{stop:?}");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().filter(|l| l.contains(" seq=")).count(), 60);
        let (_, b) = d.tally.boards().next().unwrap();
        // The second stream numbers from 0 again: a restarted agent, shown whole.
        assert_eq!(
            (
                b.seq.streams,
                b.records(),
                b.gaps(),
                b.seq.restarts,
                b.seq.duplicates
            ),
            (2, 60, 0, 1, 0)
        );
        let _ = std::fs::remove_file(&path);
    }

    /// Stands in for the signalfd: a byte written to the other end is the "signal".
    struct PipeWake(UnixStream);

    impl AsFd for PipeWake {
        fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
            self.0.as_fd()
        }
    }

    impl Wake for PipeWake {
        fn take(&self) -> Option<i32> {
            let mut b = [0u8; 1];
            (&self.0)
                .read(&mut b)
                .ok()
                .filter(|&n| n == 1)
                .map(|_| i32::from(b[0]))
        }
    }

    #[test]
    fn listener_serves_several_connections_until_stopped() {
        let Opened::Listener(l) =
            source::open(&Source::parse("tcp-listen:127.0.0.1:0").unwrap()).unwrap()
        else {
            panic!("not a listener");
        };
        let addr = l.local().trim_start_matches("tcp-listen:").to_owned();
        let (wake, mut stop_tx) = UnixStream::pair().unwrap();
        let sender = std::thread::spawn(move || {
            let mut socks: Vec<TcpStream> =
                (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
            for (i, s) in socks.iter_mut().enumerate() {
                s.write_all(&stream_bytes(&format!("b{i}"), 0..(10 * (i as u64 + 1))))
                    .unwrap();
            }
            // b0 and b1 hang up; b2 stays connected and is drained at the stop.
            let last = socks.pop().unwrap();
            drop(socks);
            std::thread::sleep(Duration::from_millis(300));
            stop_tx.write_all(&[15]).unwrap();
            // The decoder acknowledged the 30 records and says it is closing, then its
            // FIN tells the agent to close; it does.
            let mut got = Vec::new();
            (&last).read_to_end(&mut got).unwrap();
            let mut r = taskwire_core::wire::AnswerReader::new();
            let acks: Vec<_> = got.iter().filter_map(|&b| r.push(b)).collect();
            use taskwire_core::wire::Answer;
            assert_eq!(acks.last(), Some(&Ok(Answer::Closing)), "{acks:?}");
            assert_eq!(
                acks.iter().rev().nth(1),
                Some(&Ok(Answer::Ack { next_seq: 30 })),
                "{acks:?}"
            );
        });
        let mut d = Decoder::new(Format::Json);
        let mut out = Vec::new();
        let w = PipeWake(wake);
        let stop = pump(Opened::Listener(l), &mut d, Some(&w), &mut out, None, None).unwrap();
        sender.join().unwrap();
        assert!(matches!(stop, Stop::Signal(15)), "{stop:?}");
        let recs: Vec<(String, u64)> = d
            .tally
            .boards()
            .map(|(n, b)| (n.to_owned(), b.records()))
            .collect();
        assert_eq!(
            recs,
            [
                ("b0".to_owned(), 10),
                ("b1".to_owned(), 20),
                ("b2".to_owned(), 30)
            ]
        );
        assert_eq!(d.tally.connections, 3);
        assert!(d.out.is_empty(), "everything drained was written");
        let text = String::from_utf8(out).unwrap();
        // 3 headers and 60 records, one JSON object each.
        assert_eq!(text.lines().count(), 63, "{text}");
    }

    fn listener() -> (Listener, String) {
        let Opened::Listener(l) =
            source::open(&Source::parse("tcp-listen:127.0.0.1:0").unwrap()).unwrap()
        else {
            panic!("not a listener");
        };
        let addr = l.local().trim_start_matches("tcp-listen:").to_owned();
        (l, addr)
    }

    #[test]
    fn connections_past_the_limit_are_refused() {
        let (l, addr) = listener();
        let (wake, mut stop_tx) = UnixStream::pair().unwrap();
        let client = std::thread::spawn(move || {
            // Boards (each has sent its header), so none of them makes room for another.
            let mut socks: Vec<TcpStream> = (0..MAX_CONNECTIONS)
                .map(|i| {
                    let mut s = TcpStream::connect(&addr).unwrap();
                    s.write_all(&stream_bytes(&format!("b{i}"), [])).unwrap();
                    s
                })
                .collect();
            std::thread::sleep(Duration::from_millis(300));
            socks.extend((0..3).map(|_| TcpStream::connect(&addr).unwrap()));
            // The refused ones are told why and closed by the decoder: they read a
            // refusal, then EOF; the others would block.
            std::thread::sleep(Duration::from_millis(300));
            let mut closed = 0;
            for s in &socks {
                s.set_nonblocking(true).unwrap();
                let mut got = Vec::new();
                if (&*s).read_to_end(&mut got).is_ok() {
                    let mut r = taskwire_core::wire::AnswerReader::new();
                    let answers: Vec<_> = got.iter().filter_map(|&b| r.push(b)).collect();
                    assert_eq!(
                        answers,
                        [Ok(taskwire_core::wire::Answer::Refuse {
                            reason: taskwire_core::wire::RefuseReason::Capacity,
                            retry_ms: CAPACITY_RETRY_MS
                        })]
                    );
                    closed += 1;
                }
            }
            stop_tx.write_all(&[2]).unwrap();
            closed
        });
        let mut d = Decoder::new(Format::Text);
        let w = PipeWake(wake);
        let stop = pump(
            Opened::Listener(l),
            &mut d,
            Some(&w),
            &mut Vec::new(),
            None,
            None,
        )
        .unwrap();
        assert!(matches!(stop, Stop::Signal(2)), "{stop:?}");
        assert_eq!(client.join().unwrap(), 3);
        assert_eq!(d.tally.refused_connections, 3);
        assert_eq!(d.tally.connections, MAX_CONNECTIONS as u64);
    }

    /// Runs the pump over `l` until `client` returns, then stops it; what it returns.
    fn serve<T: Send + 'static>(
        l: Listener,
        d: &mut Decoder,
        client: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let (wake, mut stop_tx) = UnixStream::pair().unwrap();
        let client = std::thread::spawn(move || {
            let r = client();
            stop_tx.write_all(&[15]).unwrap();
            r
        });
        let w = PipeWake(wake);
        let stop = pump(
            Opened::Listener(l),
            d,
            Some(&w),
            &mut Vec::new(),
            None,
            None,
        )
        .unwrap();
        assert!(matches!(stop, Stop::Signal(15)), "{stop:?}");
        client.join().unwrap()
    }

    /// A board's connection: sends its stream, waits to be read, then hangs up.
    fn board(addr: &str, name: &str, seqs: std::ops::Range<u64>) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&stream_bytes(name, seqs)).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        // The decoder closes it after reading everything (EOF), or at its stop. Its
        // answers are read to that end: a close with answers unread would be a reset,
        // which can cost the decoder the stream's last bytes.
        let mut buf = [0u8; 256];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Connects to a decoder with a key: reads its challenge, sends a proof made with
    /// `key` (none: no proof, like an agent without --key) and the stream, and returns
    /// every answer it gets until the decoder closes.
    fn keyed_board(
        addr: &str,
        key: Option<&[u8]>,
        name: &str,
        seqs: std::ops::Range<u64>,
    ) -> Vec<taskwire_core::wire::Answer> {
        use taskwire_core::wire::{Answer, AnswerReader, PROOF_FRAME_LEN, Proof};
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut r = AnswerReader::new();
        let mut answers = Vec::new();
        let mut buf = [0u8; 256];
        while answers.is_empty() {
            let n = s.read(&mut buf).unwrap();
            answers.extend(
                buf[..n]
                    .iter()
                    .filter_map(|&b| r.push(b))
                    .map(Result::unwrap),
            );
        }
        let Answer::Challenge { nonce } = answers[0] else {
            panic!("no challenge first: {answers:?}");
        };
        let mut bytes = vec![0u8];
        if let Some(k) = key {
            let mac = taskwire_core::auth::proof(&taskwire_core::auth::Key::new(k), &nonce);
            let mut f = [0u8; PROOF_FRAME_LEN];
            let n = taskwire_core::wire::encode_proof_frame(&Proof { mac }, &mut f).unwrap();
            bytes.extend(&f[..n]);
        }
        bytes.extend(stream_bytes(name, seqs));
        // A refused connection may be reset before all of it is written.
        let _ = s.write_all(&bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            answers.extend(
                buf[..n]
                    .iter()
                    .filter_map(|&b| r.push(b))
                    .map(Result::unwrap),
            );
        }
        answers
    }

    #[test]
    fn with_a_key_only_proven_connections_are_decoded() {
        use taskwire_core::wire::{Answer, RefuseReason};
        const KEY: &[u8] = b"the shared key, 32 bytes long...";
        let (l, addr) = listener();
        let mut d = Decoder::new(Format::Text);
        d.key = Some(taskwire_core::auth::Key::new(KEY));
        let (real, spoofed, wrong) = serve(l, &mut d, move || {
            let real = keyed_board(&addr, Some(KEY), "real", 0..50);
            // Under the real board's id and instance, without the key, then with another.
            let spoofed = keyed_board(&addr, None, "real", 50..60);
            let wrong = keyed_board(&addr, Some(b"a guess at the key, as long.."), "real", 0..5);
            (real, spoofed, wrong)
        });
        assert!(real.contains(&Answer::Ack { next_seq: 50 }), "{real:?}");
        let refused = Answer::Refuse {
            reason: RefuseReason::Authentication,
            retry_ms: 0,
        };
        for (who, got) in [("no key", &spoofed), ("wrong key", &wrong)] {
            assert_eq!(got.len(), 2, "{who}: {got:?}");
            assert!(matches!(got[0], Answer::Challenge { .. }), "{who}: {got:?}");
            assert_eq!(got[1], refused, "{who}");
        }
        let rows: Vec<(String, u64, Option<u64>)> = d
            .tally
            .boards()
            .map(|(n, c)| (n.to_owned(), c.records(), c.next_seq()))
            .collect();
        assert_eq!(rows, [("real".to_owned(), 50, Some(50))]);
        assert_eq!(d.tally.refused_authentication, 2);
        assert_eq!(d.tally.refused_no_header, 0);
    }

    #[test]
    fn junk_connections_never_become_boards() {
        // Issue 12, finding 2: after 1,024 junk connections (an HTTP probe each) every
        // new board shared one "(more boards)" row and two boards sending 0..100 each
        // printed 100 and 1 records.
        let (l, addr) = listener();
        let mut d = Decoder::new(Format::Text);
        serve(l, &mut d, move || {
            for _ in 0..1100 {
                let mut s = TcpStream::connect(&addr).unwrap();
                let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            }
            let (a, b) = (addr.clone(), addr.clone());
            let one = std::thread::spawn(move || board(&a, "late-a", 0..100));
            let two = std::thread::spawn(move || board(&b, "late-b", 0..100));
            one.join().unwrap();
            two.join().unwrap();
        });
        let rows: Vec<(String, u64, u64)> = d
            .tally
            .boards()
            .map(|(n, c)| (n.to_owned(), c.records(), c.seq.duplicates))
            .collect();
        assert_eq!(
            rows,
            [("late-a".to_owned(), 100, 0), ("late-b".to_owned(), 100, 0)]
        );
        assert!(d.tally.refused_no_header > 0);
        assert_eq!(d.tally.evicted_boards, 0);
    }

    #[test]
    fn slow_headerless_connections_do_not_lock_a_board_out() {
        // Issue 12, finding 3: 64 connections sending a byte a second held every place;
        // a real board got 0 of its records through.
        let (l, addr) = listener();
        let mut d = Decoder::new(Format::Text);
        let slow = serve(l, &mut d, move || {
            let mut slow: Vec<TcpStream> = (0..MAX_CONNECTIONS)
                .map(|_| {
                    let mut s = TcpStream::connect(&addr).unwrap();
                    s.write_all(b"x").unwrap();
                    s
                })
                .collect();
            std::thread::sleep(Duration::from_millis(200));
            // One more byte each, as the trickle goes on.
            for s in &mut slow {
                let _ = s.write_all(b"y");
            }
            board(&addr, "real", 0..100);
            slow
        });
        let rows: Vec<(String, u64)> = d
            .tally
            .boards()
            .map(|(n, c)| (n.to_owned(), c.records()))
            .collect();
        assert_eq!(rows, [("real".to_owned(), 100)]);
        assert_eq!(d.tally.refused_connections, 0);
        assert!(d.tally.refused_no_header >= 1, "one made room");
        drop(slow);
    }

    #[test]
    fn connections_without_a_header_or_gone_quiet_are_closed() {
        let (l, addr) = listener();
        let mut d = Decoder::new(Format::Text);
        d.timeouts = Timeouts {
            header: Duration::from_millis(100),
            idle: Some(Duration::from_millis(300)),
        };
        let (junk_eof, quiet_eof) = serve(l, &mut d, move || {
            let mut junk = TcpStream::connect(&addr).unwrap();
            junk.write_all(b"x").unwrap();
            let mut quiet = TcpStream::connect(&addr).unwrap();
            quiet.write_all(&stream_bytes("quiet", 0..3)).unwrap();
            // A decoder that never closes them fails here rather than hanging.
            for s in [&junk, &quiet] {
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            }
            // Each is closed by the decoder, whatever the time it takes: reads end, after
            // the answers (the quiet board's header is acknowledged).
            let ends = |mut s: &TcpStream| loop {
                match s.read(&mut [0u8; 64]) {
                    Ok(0) => return true,
                    Ok(_) => {}
                    Err(_) => return false,
                }
            };
            (ends(&junk), ends(&quiet))
        });
        assert!(junk_eof && quiet_eof);
        assert_eq!((d.tally.refused_no_header, d.tally.closed_idle), (1, 1));
        let rows: Vec<(String, u64)> = d
            .tally
            .boards()
            .map(|(n, c)| (n.to_owned(), c.records()))
            .collect();
        assert_eq!(rows, [("quiet".to_owned(), 3)]);
    }

    #[test]
    fn a_serial_line_is_read_and_reopened_after_a_hangup() {
        if taskwire_cli::serial::termios_missing(
            "a_serial_line_is_read_and_reopened_after_a_hangup",
        ) {
            return;
        }
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .expect("/dev/ptmx");
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let slave = ptsname(&master, Vec::new()).unwrap();
        let slave = std::path::PathBuf::from(slave.to_str().unwrap());
        let src = Source::parse(&format!("serial:{},baud=9600", slave.display())).unwrap();
        let opened = source::open(&src).unwrap();
        let reopen_path = slave.clone();
        let reopened = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = reopened.clone();
        let reopen: Reopen = Box::new(move || {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            source::open_serial(&reopen_path, 9600, false)
                .ok()
                .map(Input::File)
        });
        let (wake, mut stop_tx) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            let bytes = stream_bytes("uart", 0..20);
            rustix::io::write(&master, &bytes).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            // The adapter is unplugged: the slave side reads EIO once the master closes.
            drop(master);
            std::thread::sleep(Duration::from_millis(300));
            stop_tx.write_all(&[15]).unwrap();
        });
        let mut d = Decoder::new(Format::Json);
        let mut out = Vec::new();
        let w = PipeWake(wake);
        let stop = pump(opened, &mut d, Some(&w), &mut out, Some(reopen), None).unwrap();
        writer.join().unwrap();
        assert!(matches!(stop, Stop::Signal(15)), "{stop:?}");
        let (name, b) = d.tally.boards().next().unwrap();
        assert_eq!((name, b.records(), b.gaps()), ("uart", 20, 0));
        assert!(reopened.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }
}
