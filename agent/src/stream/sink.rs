//! Sinks: an owned descriptor behind `embedded_io::Write`, and opening one per endpoint.
//!
//! The descriptors are blocking: only the writer thread touches them, and the reader never
//! waits on it. std ignores SIGPIPE, so a closed pipe or socket is an `EPIPE` error here.

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::RecvFlags;

use taskwire_cli::endpoint::resolve;
use taskwire_cli::serial;

use super::spec::Sink;

/// How long one TCP connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long unacknowledged TCP data may wait before the connection counts as dead
/// (TCP_USER_TIMEOUT): a pulled cable shows as an error instead of a write blocked for
/// the kernel's default quarter of an hour.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// A write that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkError {
    /// The system call failed.
    Os(Errno),
    /// The descriptor accepted nothing (`write` returned 0).
    WriteZero,
    /// An MQTT session ended (`stream::mqtt`).
    #[cfg(feature = "mqtt")]
    Mqtt(super::mqtt::session::Ending),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Os(Errno::PIPE) => f.write_str("the reader went away (EPIPE)"),
            SinkError::Os(e) => write!(f, "{}", io::Error::from(*e)),
            SinkError::WriteZero => f.write_str("the sink accepted no bytes"),
            #[cfg(feature = "mqtt")]
            SinkError::Mqtt(e) => e.fmt(f),
        }
    }
}

impl embedded_io::Error for SinkError {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind as K;
        match self {
            SinkError::WriteZero => K::WriteZero,
            SinkError::Os(Errno::PIPE) => K::BrokenPipe,
            SinkError::Os(Errno::CONNRESET) => K::ConnectionReset,
            SinkError::Os(Errno::TIMEDOUT) => K::TimedOut,
            SinkError::Os(Errno::ACCESS | Errno::PERM) => K::PermissionDenied,
            SinkError::Os(Errno::NOENT) => K::NotFound,
            _ => K::Other,
        }
    }
}

/// A writable descriptor: a UART, socket, file or stdout.
#[derive(Debug)]
pub struct FdSink(OwnedFd);

impl AsFd for FdSink {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl From<OwnedFd> for FdSink {
    fn from(fd: OwnedFd) -> FdSink {
        FdSink(fd)
    }
}

impl FdSink {
    /// For a connected socket: whether the peer has closed its side (FIN) or reset the
    /// connection, found without waiting. A collector sends nothing, so input on the
    /// socket is the end of its stream (a read of 0), a reset (an error), or stray bytes,
    /// which are read and dropped. Only for sockets: on a UART, file or pipe it would
    /// consume their input.
    pub fn peer_closed(&self) -> bool {
        let mut fds = [PollFd::new(&self.0, PollFlags::IN | PollFlags::RDHUP)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if !matches!(poll(&mut fds, Some(&now)), Ok(n) if n > 0) {
            return false;
        }
        let mut buf = [0u8; 256];
        // Bounded: a peer that keeps sending cannot hold the writer here.
        for _ in 0..16 {
            match rustix::net::recv(&self.0, &mut buf, RecvFlags::DONTWAIT) {
                Ok((_, 0)) => return true,
                Ok(_) | Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return false,
                Err(_) => return true,
            }
        }
        false
    }
}

impl FdSink {
    /// Waits until a short write would not block, or `until` passes; whether it would
    /// not. An error or a hang-up counts as writable: the write then reports it.
    pub fn wait_writable(&self, until: Instant) -> bool {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let ts = Timespec {
                tv_sec: left.as_secs() as _,
                tv_nsec: left.subsec_nanos() as _,
            };
            let mut fds = [PollFd::new(&self.0, PollFlags::OUT)];
            match poll(&mut fds, Some(&ts)) {
                Ok(0) => return false,
                Err(Errno::INTR) => {}
                Ok(_) | Err(_) => return true,
            }
        }
    }
}

impl embedded_io::ErrorType for FdSink {
    type Error = SinkError;
}

impl embedded_io::Write for FdSink {
    fn write(&mut self, buf: &[u8]) -> Result<usize, SinkError> {
        if buf.is_empty() {
            return Ok(0);
        }
        match rustix::io::retry_on_intr(|| rustix::io::write(&self.0, buf)) {
            Ok(0) => Err(SinkError::WriteZero),
            Ok(n) => Ok(n),
            Err(e) => Err(SinkError::Os(e)),
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        // write(2) hands bytes to the kernel; nothing is buffered here.
        Ok(())
    }
}

/// Writes all of `buf`; `Ok(0)` from the writer is an error, never a panic or a spin.
pub fn write_all<W: embedded_io::Write>(
    w: &mut W,
    mut buf: &[u8],
) -> Result<(), WriteError<W::Error>> {
    while !buf.is_empty() {
        match w.write(buf) {
            Ok(0) => return Err(WriteError::Zero),
            Ok(n) => buf = buf.get(n..).unwrap_or_default(),
            Err(e) => return Err(WriteError::Sink(e)),
        }
    }
    Ok(())
}

/// Why [`write_all`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError<E> {
    /// The writer's error.
    Sink(E),
    /// The writer returned `Ok(0)`.
    Zero,
}

impl<E: fmt::Display> fmt::Display for WriteError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Sink(e) => e.fmt(f),
            WriteError::Zero => f.write_str("the sink accepted no bytes"),
        }
    }
}

/// Why a sink could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenError {
    /// One line for the user.
    pub msg: String,
    /// Whether this is about rights (permission denied): never worth waiting out at start.
    pub permission: bool,
}

/// Whether `e` is a refusal for want of rights (`io::ErrorKind::PermissionDenied`, told
/// by the errno: every error of an open here is the system's).
fn denied(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw_os_error),
        Some(Errno::ACCESS | Errno::PERM)
    )
}

fn open_error(what: &str, e: &io::Error) -> OpenError {
    let permission = denied(e);
    OpenError {
        msg: if permission {
            format!("{what}: permission denied")
        } else {
            format!("{what}: {e}")
        },
        permission,
    }
}

/// Opens (connects, creates) the sink `ep`.
pub fn open(ep: &Sink) -> Result<FdSink, OpenError> {
    let fd: OwnedFd = match ep {
        Sink::Serial(s) => serial::open(&s.path, s.baud, s.rtscts).map_err(|e| OpenError {
            msg: serial::explain(&s.path, &e),
            permission: denied(&e),
        })?,
        Sink::Tcp { host, port } => tcp(host, *port)?.into(),
        Sink::Unix(path) => UnixStream::connect(path)
            .map_err(|e| open_error(&format!("connecting to {}", path.display()), &e))?
            .into(),
        // A FIFO with no reader blocks the open: a stop signal ends it.
        Sink::File(path) => {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE;
            taskwire_cli::signals::open(path, flags, Mode::from_raw_mode(0o644))
                .map_err(|e| open_error(&format!("opening {}", path.display()), &e))?
                .into()
        }
        Sink::Stdout => rustix::stdio::stdout()
            .try_clone_to_owned()
            .map_err(|e| open_error("stdout", &e))?,
        // A session of its own (`stream::mqtt`), not a bare descriptor.
        #[cfg(feature = "mqtt")]
        Sink::Mqtt(_) => {
            return Err(OpenError {
                msg: "an MQTT sink is opened by its session".into(),
                permission: false,
            });
        }
    };
    Ok(FdSink(fd))
}

/// Connects to `host:port` (a collector, a broker), the socket set up for streaming.
pub fn tcp(host: &str, port: u16) -> Result<TcpStream, OpenError> {
    let what = || format!("connecting to {host}:{port}");
    let addrs = resolve(host, port).map_err(|msg| OpenError {
        msg,
        permission: false,
    })?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                // Frames are batched before each write: Nagle's delay buys nothing.
                let _ = s.set_nodelay(true);
                let _ = rustix::net::sockopt::set_tcp_user_timeout(
                    &s,
                    TCP_USER_TIMEOUT.as_millis() as u32,
                );
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => open_error(&what(), &e),
        None => OpenError {
            msg: format!("resolving {host}: no addresses"),
            permission: false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_io::Write as _;
    use std::io::Read;
    use std::net::TcpListener;
    use taskwire_cli::endpoint::Serial;

    #[test]
    fn fd_sink_writes_and_reports_epipe() {
        let (mut r, w) = UnixStream::pair().unwrap();
        let mut sink = FdSink(w.into());
        write_all(&mut sink, b"abc").unwrap();
        let mut got = [0u8; 3];
        r.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abc");
        drop(r);
        let e = write_all(&mut sink, b"x").unwrap_err();
        assert_eq!(e, WriteError::Sink(SinkError::Os(Errno::PIPE)));
        assert_eq!(
            embedded_io::Error::kind(&SinkError::Os(Errno::PIPE)),
            embedded_io::ErrorKind::BrokenPipe
        );
        assert!(e.to_string().contains("EPIPE"));
    }

    #[test]
    fn peer_closed_sees_fin_and_reset_but_not_stray_bytes() {
        use std::io::Write;
        let (mut peer, ours) = UnixStream::pair().unwrap();
        let sink = FdSink(ours.into());
        assert!(!sink.peer_closed());
        peer.write_all(b"hello").unwrap();
        assert!(!sink.peer_closed(), "bytes from the peer are not a close");
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(sink.peer_closed(), "FIN");
        // A half-closed peer still reads what is written.
        let mut s = sink;
        write_all(&mut s, b"tail").unwrap();
        let mut got = [0u8; 4];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"tail");

        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let s = open(&Sink::Tcp {
            host: "127.0.0.1".into(),
            port: l.local_addr().unwrap().port(),
        })
        .unwrap();
        let (conn, _) = l.accept().unwrap();
        assert!(!s.peer_closed());
        // Linger 0: close sends an RST instead of a FIN.
        rustix::net::sockopt::set_socket_linger(&conn, Some(Duration::ZERO)).unwrap();
        drop(conn);
        let until = std::time::Instant::now() + Duration::from_secs(2);
        while !s.peer_closed() {
            assert!(std::time::Instant::now() < until, "reset not seen");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn write_all_treats_zero_as_an_error() {
        let mut full: [u8; 0] = [];
        let mut w: &mut [u8] = &mut full;
        // `&mut [u8]` reports a full buffer as an error of its own, never Ok(0) in a loop.
        assert!(write_all(&mut w, b"x").is_err());

        struct Zero;
        impl embedded_io::ErrorType for Zero {
            type Error = SinkError;
        }
        impl embedded_io::Write for Zero {
            fn write(&mut self, _: &[u8]) -> Result<usize, SinkError> {
                Ok(0)
            }
            fn flush(&mut self) -> Result<(), SinkError> {
                Ok(())
            }
        }
        assert_eq!(write_all(&mut Zero, b"x"), Err(WriteError::Zero));
        let mut buf = [0u8; 4];
        let mut w: &mut [u8] = &mut buf;
        write_all(&mut w, b"ab").unwrap();
        w.flush().unwrap();
        assert_eq!(&buf[..2], b"ab");
    }

    #[test]
    fn opens_each_kind() {
        let dir = std::env::temp_dir().join(format!("tw-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("out.twr");
        std::fs::write(&file, b"old").unwrap();
        let mut s = open(&Sink::File(file.clone())).unwrap();
        write_all(&mut s, b"new").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"oldnew", "appends");

        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut s = open(&Sink::Tcp {
            host: "127.0.0.1".into(),
            port,
        })
        .unwrap();
        write_all(&mut s, b"hi").unwrap();
        let mut got = [0u8; 2];
        l.accept().unwrap().0.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi");

        let sock = dir.join("s");
        let ul = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let mut s = open(&Sink::Unix(sock.clone())).unwrap();
        write_all(&mut s, b"u").unwrap();
        let mut got = [0u8; 1];
        ul.accept().unwrap().0.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"u");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn open_errors_are_one_line() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let e = open(&Sink::Tcp {
            host: "127.0.0.1".into(),
            port,
        })
        .unwrap_err();
        assert!(e.msg.starts_with("connecting to 127.0.0.1:"), "{}", e.msg);
        assert!(!e.permission);
        let e = open(&Sink::Unix("/nonexistent/tw.sock".into())).unwrap_err();
        assert!(e.msg.contains("/nonexistent/tw.sock"), "{}", e.msg);
        let e = open(&Sink::File("/nonexistent/dir/f".into())).unwrap_err();
        assert!(e.msg.contains("opening /nonexistent/dir/f"), "{}", e.msg);
        let e = open(&Sink::Serial(Serial {
            path: "/dev/nonexistent-tty".into(),
            baud: 115_200,
            rtscts: false,
        }))
        .unwrap_err();
        assert!(e.msg.contains("does not exist"), "{}", e.msg);
        assert!(!e.msg.contains('\n'));
    }
}
