//! What `stream` tells its operator: one line per event on stderr, each starting with
//! `taskwire stream: `, and with `--syslog` the same line as an RFC 3164 datagram
//! (facility daemon, tag `taskwire[PID]`) to the system logger's socket, so a board's
//! syslogd or journald keeps them. No time stamp is sent: the logger adds its own (RFC
//! 3164 section 4.3.2), and the board needs no time zone code for it.
//!
//! [`Limit`] keeps a sink that is down for hours from filling the log: a few lines, then
//! one a minute with a count of those not shown.

use std::fmt;
#[cfg(feature = "service")]
use std::io::Write;
#[cfg(feature = "service")]
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The system logger's socket.
pub const DEV_LOG: &str = "/dev/log";

/// How bad an event is (RFC 3164 severities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something failed and the agent stops.
    Err = 3,
    /// The stream is disturbed (a sink down, a message dropped); the agent goes on.
    Warning = 4,
    /// What the agent does (registered, connected, stopped).
    Info = 6,
}

/// The facility `daemon`, shifted into a priority.
const DAEMON: u8 = 3 << 3;

/// Where the lines go besides stderr: a datagram socket and its path.
#[cfg(feature = "service")]
struct Syslog {
    fd: std::os::fd::OwnedFd,
    addr: rustix::net::SocketAddrUnix,
}

#[cfg(feature = "service")]
static SYSLOG: OnceLock<Syslog> = OnceLock::new();

/// Sends every later line to the logger at `path` too (feature `service`). An error when the socket cannot be
/// made; a logger that is not (yet) there only loses lines, which stderr still has.
#[cfg(feature = "service")]
pub fn open_syslog(path: &std::path::Path) -> Result<(), String> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let addr = rustix::net::SocketAddrUnix::new(path)
        .map_err(|e| format!("--syslog {}: {e}", path.display()))?;
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| format!("--syslog: a datagram socket: {e}"))?;
    let _ = SYSLOG.set(Syslog { fd, addr });
    Ok(())
}

/// Says `msg` as one line: stderr, and the logger if [`open_syslog`] was called.
#[cfg(feature = "service")]
pub fn say(level: Level, msg: fmt::Arguments<'_>) {
    let line = format!("taskwire stream: {msg}\n");
    let _ = taskwire_cli::output::Stderr.write_all(line.as_bytes());
    send(level, line.trim_end_matches('\n'));
}

/// [`say`] without syslog: stderr alone, the line in one write (`output::eprintln`, which
/// every command's messages share).
#[cfg(not(feature = "service"))]
pub fn say(_: Level, msg: fmt::Arguments<'_>) {
    taskwire_cli::output::eprintln(format_args!("taskwire stream: {msg}"));
}

#[cfg(feature = "service")]
/// Says `msg` to the logger alone (a failure the dispatcher prints on stderr).
pub fn to_syslog(level: Level, msg: fmt::Arguments<'_>) {
    send(level, &format!("taskwire stream: {msg}"));
}

#[cfg(feature = "service")]
fn send(level: Level, line: &str) {
    if let Some(log) = SYSLOG.get() {
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        let _ = rustix::net::sendto(
            &log.fd,
            datagram(level, pid, line).as_bytes(),
            rustix::net::SendFlags::DONTWAIT,
            &log.addr,
        );
    }
}

#[cfg_attr(not(feature = "service"), allow(dead_code))]
/// `<PRI>taskwire[PID]: stream: MSG` for the line `taskwire stream: MSG`.
fn datagram(level: Level, pid: i32, line: &str) -> String {
    let msg = line.strip_prefix("taskwire ").unwrap_or(line);
    format!("<{}>taskwire[{pid}]: {msg}", DAEMON | level as u8)
}

/// Lines shown before the limit starts.
const BURST: u32 = 5;
/// One line per this, past the burst.
const EVERY: Duration = Duration::from_secs(60);

/// A rate limit on a kind of line: the first 5, then one a minute.
#[derive(Debug, Default)]
pub struct Limit {
    shown: u32,
    last: Option<Instant>,
    hidden: u64,
}

impl Limit {
    /// Whether a line may be said `now`: `Some(n)` with the lines not shown since the
    /// last one (to be told), None to keep quiet.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        let due = self.shown < BURST
            || self
                .last
                .is_none_or(|last| now.saturating_duration_since(last) >= EVERY);
        if !due {
            self.hidden += 1;
            return None;
        }
        self.shown = self.shown.saturating_add(1);
        self.last = Some(now);
        Some(std::mem::take(&mut self.hidden))
    }

    /// Says `msg` at `level` if the limit allows it, with the count of lines not shown.
    pub fn say(&mut self, level: Level, msg: fmt::Arguments<'_>) {
        match self.allow(Instant::now()) {
            Some(0) => say(level, msg),
            Some(n) => say(
                level,
                format_args!("{msg} ({n} such messages not shown; at most one a minute)"),
            ),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_a_minute_with_the_count() {
        let mut l = Limit::default();
        let t0 = Instant::now();
        for i in 0..BURST {
            assert_eq!(l.allow(t0 + Duration::from_millis(u64::from(i))), Some(0));
        }
        // A collector down for an hour, retried every 5 s: 720 attempts, a line a minute
        // from the first past the burst's minute, each telling the 11 it stood for.
        let mut said = 0;
        let mut told = 0;
        for s in 1..=720u64 {
            if let Some(n) = l.allow(t0 + Duration::from_secs(5 * s)) {
                said += 1;
                told += n;
            }
        }
        assert_eq!(said, 59);
        assert_eq!(told, 58 * 11 + 12);
        assert_eq!(said + told + l.hidden, 720);
    }

    #[test]
    fn datagrams_are_rfc3164_daemon() {
        assert_eq!(
            datagram(Level::Info, 42, "taskwire stream: registered"),
            "<30>taskwire[42]: stream: registered"
        );
        assert_eq!(datagram(Level::Warning, 1, "x"), "<28>taskwire[1]: x");
        assert_eq!(datagram(Level::Err, 1, "x"), "<27>taskwire[1]: x");
    }

    #[cfg(feature = "service")]
    #[test]
    fn lines_reach_a_datagram_socket() {
        let path = std::env::temp_dir().join(format!("twlog-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        open_syslog(&path).unwrap();
        say(Level::Warning, format_args!("tcp:h:1: refused; retrying"));
        let mut buf = [0u8; 256];
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let pid = std::process::id();
        // Other tests of this process may say something meanwhile.
        let got = loop {
            let n = sock.recv(&mut buf).unwrap();
            let got = String::from_utf8_lossy(&buf[..n]).into_owned();
            if got.contains("refused; retrying") {
                break got;
            }
        };
        assert_eq!(
            got,
            format!("<28>taskwire[{pid}]: stream: tcp:h:1: refused; retrying")
        );
        std::fs::remove_file(&path).unwrap();
    }
}
