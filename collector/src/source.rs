//! Opening what `decode --from` reads: a file, stdin, a UART, a connection, or a listening
//! socket that boards connect to. Every failure is one line a user can act on.

use std::fs::File;
use std::io::{self, ErrorKind, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use crate::spec::Source;
use taskwire_cli::Failure;
use taskwire_cli::endpoint::{resolve, resolve_addr};
use taskwire_cli::output::plain;
use taskwire_cli::serial;

/// A byte stream being read.
#[derive(Debug)]
pub enum Input {
    /// A file, stdin or a UART.
    File(File),
    /// An accepted or connected TCP connection.
    Tcp(TcpStream),
    /// An accepted or connected Unix stream socket.
    Unix(UnixStream),
}

impl Input {
    /// Reads what is there (a socket is non-blocking: `WouldBlock` when nothing is).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::File(f) => f.read(buf),
            Input::Tcp(s) => s.read(buf),
            Input::Unix(s) => s.read(buf),
        }
    }

    /// Tells a connected agent that the decoder is going away (FIN), so that it can stop
    /// sending and keep its queue for the next connection; reading goes on. Nothing for
    /// files.
    pub fn shutdown_write(&self) {
        // Errors only mean the peer is gone already.
        let _ = match self {
            Input::File(_) => Ok(()),
            Input::Tcp(s) => s.shutdown(Shutdown::Write),
            Input::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }
}

impl AsFd for Input {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Input::File(f) => f.as_fd(),
            Input::Tcp(s) => s.as_fd(),
            Input::Unix(s) => s.as_fd(),
        }
    }
}

/// A socket boards connect to.
#[derive(Debug)]
pub enum Listener {
    /// `tcp-listen:`.
    Tcp(TcpListener),
    /// `unix-listen:`; the path is removed when the listener is dropped, if it is still
    /// the socket this listener bound.
    Unix(UnixListener, PathBuf, Bound),
}

/// The device and inode of the socket file a listener created: at exit it unlinks the
/// path only while it is still that file, never a socket another decoder made there since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    dev: u64,
    ino: u64,
}

impl Bound {
    fn of(path: &Path) -> Option<Bound> {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(path).ok().map(|m| Bound {
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

impl Listener {
    /// The next pending connection and a name for it; `None` when there is none now.
    pub fn accept(&self) -> io::Result<Option<(Input, String)>> {
        let accepted = match self {
            Listener::Tcp(l) => l
                .accept()
                .map(|(s, peer)| (Input::Tcp(s), peer.to_string())),
            Listener::Unix(l, path, _) => l.accept().map(|(s, _)| {
                // Unix peers are unnamed: number them by descriptor for messages.
                let fd = std::os::fd::AsRawFd::as_raw_fd(&s);
                (Input::Unix(s), format!("{}#{fd}", path.display()))
            }),
        };
        match accepted {
            Ok((input, peer)) => {
                match &input {
                    Input::Tcp(s) => s.set_nonblocking(true)?,
                    Input::Unix(s) => s.set_nonblocking(true)?,
                    Input::File(_) => {}
                }
                Ok(Some((input, peer)))
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(None),
            // The peer gave up between SYN and accept, or a descriptor limit: not fatal.
            Err(e) => Err(e),
        }
    }

    /// The TCP address it is bound to; None for a Unix socket.
    pub fn tcp_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok(),
            Listener::Unix(..) => None,
        }
    }

    /// Where it listens, for the "listening on" line (the real port when 0 was asked).
    pub fn local(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| "?".to_owned(), |a| format!("tcp-listen:{a}")),
            Listener::Unix(_, p, _) => format!("unix-listen:{}", p.display()),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path, bound) = self {
            // Another decoder may have replaced the path since (after a stale-socket
            // clean-up, or by hand): its socket is not ours to remove.
            if Bound::of(path) == Some(*bound) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l, _, _) => l.as_fd(),
        }
    }
}

/// What a source opened as.
#[derive(Debug)]
pub enum Opened {
    /// One stream, read to its end.
    Stream(Input, String),
    /// A listener; streams come as boards connect.
    Listener(Listener),
    /// A subscription to an MQTT broker; streams come as its topics' messages.
    Mqtt(Box<crate::mqtt::Subscriber>),
}

/// Opens `source` (already parsed) for reading.
pub fn open(source: &Source) -> Result<Opened, Failure> {
    // Paths come from the command line: shown by the names rule all the same.
    let spec = plain(source.to_string().as_bytes()).into_owned();
    match source {
        Source::Stdin => {
            let fd = io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| Failure::Runtime(format!("stdin: {e}")))?;
            Ok(Opened::Stream(Input::File(File::from(fd)), "stdin".into()))
        }
        Source::File(path) => open_file(path).map(|f| Opened::Stream(Input::File(f), spec)),
        Source::Serial(s) => {
            open_serial(&s.path, s.baud, s.rtscts).map(|f| Opened::Stream(Input::File(f), spec))
        }
        Source::Tcp { host, port } => {
            let addrs =
                resolve(host, *port).map_err(|e| Failure::Runtime(format!("{spec}: {e}")))?;
            let s = TcpStream::connect(&addrs[..])
                .map_err(|e| Failure::Runtime(explain_connect(&spec, &e)))?;
            s.set_nonblocking(true)
                .map_err(|e| Failure::Runtime(format!("{spec}: {e}")))?;
            Ok(Opened::Stream(Input::Tcp(s), spec))
        }
        Source::Unix(path) => {
            let s = UnixStream::connect(path)
                .map_err(|e| Failure::Runtime(explain_connect(&spec, &e)))?;
            s.set_nonblocking(true)
                .map_err(|e| Failure::Runtime(format!("{spec}: {e}")))?;
            Ok(Opened::Stream(Input::Unix(s), spec))
        }
        Source::TcpListen { addr } => {
            let addrs = resolve_addr(addr).map_err(|e| Failure::Runtime(format!("{spec}: {e}")))?;
            let l = TcpListener::bind(&addrs[..])
                .map_err(|e| Failure::Runtime(explain_bind(&spec, &e)))?;
            l.set_nonblocking(true)
                .map_err(|e| Failure::Runtime(format!("{spec}: {e}")))?;
            Ok(Opened::Listener(Listener::Tcp(l)))
        }
        Source::UnixListen(path) => bind_unix(path, &spec).map(Opened::Listener),
        // The broker is connected to by the loop, again and again if need be: an
        // unreachable one is retried, not an error.
        Source::Mqtt(url) => {
            let password = match &url.password_file {
                Some(p) => Some(crate::mqtt::password::read(p)?),
                None => None,
            };
            Ok(Opened::Mqtt(Box::new(crate::mqtt::Subscriber::new(
                url.clone(),
                password,
            ))))
        }
    }
}

/// A path for a message, by the names rule (README, "Names in the output").
fn shown(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    plain(path.as_os_str().as_bytes()).into_owned()
}

/// Opens a file for reading; a directory is refused up front (its read fails later with a
/// less helpful EISDIR).
pub fn open_file(path: &Path) -> Result<File, Failure> {
    let p = shown(path);
    // A FIFO with no writer blocks the open: a stop signal ends it.
    let (flags, mode) = (rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty());
    let f = taskwire_cli::signals::open(path, flags, mode).map_err(|e| {
        Failure::Runtime(match e.kind() {
            ErrorKind::NotFound => format!("file:{p}: no such file"),
            ErrorKind::PermissionDenied => format!("file:{p}: permission denied"),
            _ => format!("file:{p}: {e}"),
        })
    })?;
    match f.metadata() {
        Ok(m) if m.is_dir() => Err(Failure::Runtime(format!(
            "file:{p} is a directory, not a recorded stream"
        ))),
        _ => Ok(f),
    }
}

/// What opens `from` again after it went away, for a UART (an adapter unplugged and
/// plugged back); `None` for every other source.
pub fn reopener(from: &Source) -> Option<crate::Reopen> {
    let Source::Serial(serial) = from else {
        return None;
    };
    let serial = serial.clone();
    Some(Box::new(move || {
        open_serial(&serial.path, serial.baud, serial.rtscts)
            .ok()
            .map(Input::File)
    }))
}

/// Opens a UART raw 8N1 (the stream command's opener).
pub fn open_serial(path: &Path, baud: u32, rtscts: bool) -> Result<File, Failure> {
    serial::open(path, baud, rtscts)
        .map(File::from)
        .map_err(|e| Failure::Runtime(serial::explain(path, &e)))
}

/// Binds a Unix listening socket, replacing a stale socket file nobody listens on.
fn bind_unix(path: &Path, spec: &str) -> Result<Listener, Failure> {
    let stale = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => {
                return Err(Failure::Runtime(format!(
                    "{spec}: address already in use: another process listens there"
                )));
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => true,
            Err(_) => false,
        },
        Ok(_) => {
            return Err(Failure::Runtime(format!(
                "{spec}: {} exists and is not a socket; not replacing it",
                shown(path)
            )));
        }
        Err(_) => false,
    };
    if stale {
        // Left by a decoder that was killed: nobody accepts on it.
        let _ = std::fs::remove_file(path);
    }
    let l = UnixListener::bind(path).map_err(|e| Failure::Runtime(explain_bind(spec, &e)))?;
    l.set_nonblocking(true)
        .map_err(|e| Failure::Runtime(format!("{spec}: {e}")))?;
    let bound = Bound::of(path).ok_or_else(|| {
        Failure::Runtime(format!(
            "{spec}: the socket file went away as soon as it was made"
        ))
    })?;
    Ok(Listener::Unix(l, path.to_path_buf(), bound))
}

/// One line for a failed bind.
pub fn explain_bind(spec: &str, e: &io::Error) -> String {
    match e.kind() {
        ErrorKind::AddrInUse => format!(
            "{spec}: address already in use (another decoder running? pick another port or path)"
        ),
        ErrorKind::PermissionDenied => format!(
            "{spec}: permission denied (TCP ports below 1024 need root or \
             CAP_NET_BIND_SERVICE; a socket path needs a writable directory)"
        ),
        ErrorKind::AddrNotAvailable => {
            format!("{spec}: that address is not one of this machine's")
        }
        ErrorKind::NotFound => format!("{spec}: the directory does not exist"),
        _ => match e.raw_os_error() {
            // getaddrinfo failures come through std as "other" errors with no errno.
            None => format!("{spec}: cannot resolve the host: {e}"),
            Some(_) => format!("{spec}: {e}"),
        },
    }
}

/// One line for a failed connect.
pub fn explain_connect(spec: &str, e: &io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => format!("{spec}: nothing is listening there"),
        ErrorKind::NotFound => format!("{spec}: no such socket"),
        ErrorKind::PermissionDenied => format!("{spec}: permission denied"),
        _ => format!("{spec}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Source;

    fn err(spec: &str) -> String {
        match open(&Source::parse(spec).unwrap()) {
            Ok(_) => panic!("{spec} opened"),
            Err(f) => {
                assert_eq!(f.exit_code(), 1, "{f}");
                let s = f.to_string();
                assert!(!s.contains('\n'), "{s}");
                s
            }
        }
    }

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tw-decode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn missing_things_are_one_line_runtime_errors() {
        assert!(err("file:/nonexistent/x.twr").contains("no such file"));
        assert!(err("file:/").contains("is a directory"));
        assert!(err("serial:/dev/nonexistent-tty").contains("does not exist"));
        if !serial::termios_missing("missing_things_are_one_line_runtime_errors: serial:/dev/null")
        {
            assert!(err("serial:/dev/null").contains("not a serial device"));
        }
        assert!(err("unix:/nonexistent/sock").contains("no such socket"));
    }

    #[test]
    fn a_port_in_use_is_reported() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let e = err(&format!("tcp-listen:127.0.0.1:{port}"));
        assert!(e.contains("address already in use"), "{e}");
        // And connecting where nothing listens.
        drop(taken);
        let e = err(&format!("tcp:127.0.0.1:{port}"));
        assert!(e.contains("nothing is listening"), "{e}");
    }

    #[test]
    fn unix_listen_replaces_a_stale_socket_but_not_a_live_one_or_a_file() {
        let path = tmp("stale.sock");
        let _ = std::fs::remove_file(&path);
        // A socket file whose listener is gone.
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let spec = format!("unix-listen:{}", path.display());
        let Opened::Listener(l) = open(&Source::parse(&spec).unwrap()).unwrap() else {
            panic!("not a listener");
        };
        // Live now: a second decoder is refused.
        assert!(err(&spec).contains("already in use"));
        // Its probe connection was queued and has hung up already.
        let (mut probe, _) = l.accept().unwrap().unwrap();
        assert_eq!(probe.read(&mut [0u8; 4]).unwrap(), 0);
        let client = UnixStream::connect(&path).unwrap();
        let (mut input, peer) = l.accept().unwrap().unwrap();
        assert!(peer.contains("stale.sock"), "{peer}");
        let mut buf = [0u8; 4];
        assert_eq!(
            input.read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        drop(client);
        assert_eq!(input.read(&mut buf).unwrap(), 0);
        drop(l);
        assert!(!path.exists(), "the listener removes its socket file");

        let file = tmp("plain");
        std::fs::write(&file, b"x").unwrap();
        let e = err(&format!("unix-listen:{}", file.display()));
        assert!(e.contains("not a socket"), "{e}");
        assert!(file.exists());
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn unix_listen_removes_only_the_socket_it_made() {
        // Issue 12, finding 6: a decoder exiting removed the socket of the decoder now
        // listening at its path, cutting that one off.
        let path = tmp("replaced.sock");
        let _ = std::fs::remove_file(&path);
        let spec = format!("unix-listen:{}", path.display());
        let Opened::Listener(first) = open(&Source::parse(&spec).unwrap()).unwrap() else {
            panic!("not a listener");
        };
        // The path is taken over by another listener (its own file, same name).
        std::fs::remove_file(&path).unwrap();
        let second = UnixListener::bind(&path).unwrap();
        drop(first);
        assert!(path.exists(), "the other listener's socket is left alone");
        assert!(UnixStream::connect(&path).is_ok(), "and still reachable");
        drop(second);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn paths_in_messages_follow_the_names_rule() {
        let e = err("file:/nonexistent/a\x1b[2J\nb.twr");
        assert!(
            e.contains("file:/nonexistent/a\\x1b[2J\\x0ab.twr: no such file"),
            "{e}"
        );
    }

    #[test]
    fn bind_and_connect_errors_say_what_to_do() {
        let e = |k: ErrorKind| io::Error::from(k);
        let s = explain_bind("tcp-listen:0.0.0.0:80", &e(ErrorKind::PermissionDenied));
        assert!(s.contains("CAP_NET_BIND_SERVICE"), "{s}");
        let s = explain_bind("tcp-listen:10.9.9.9:9", &e(ErrorKind::AddrNotAvailable));
        assert!(s.contains("not one of this machine's"), "{s}");
        let s = explain_bind("unix-listen:/no/dir/s", &e(ErrorKind::NotFound));
        assert!(s.contains("directory does not exist"), "{s}");
        let s = explain_bind("tcp-listen:nohost:9", &io::Error::other("lookup failed"));
        assert!(s.contains("cannot resolve"), "{s}");
        let s = explain_connect("unix:/s", &e(ErrorKind::PermissionDenied));
        assert!(s.starts_with("unix:/s: permission denied"), "{s}");
    }

    #[test]
    fn tcp_listener_reports_its_port_and_accepts() {
        let Opened::Listener(l) = open(&Source::parse("tcp-listen:127.0.0.1:0").unwrap()).unwrap()
        else {
            panic!("not a listener");
        };
        let local = l.local();
        assert!(local.starts_with("tcp-listen:127.0.0.1:"), "{local}");
        assert!(l.accept().unwrap().is_none());
        let addr = local.trim_start_matches("tcp-listen:");
        let _c = TcpStream::connect(addr).unwrap();
        let mut got = None;
        for _ in 0..100 {
            got = l.accept().unwrap();
            if got.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (_, peer) = got.expect("accepted");
        assert!(peer.starts_with("127.0.0.1:"), "{peer}");
    }
}
