//! Where a record stream goes: `stream --to SINK`.
//!
//! ```text
//! serial:/dev/ttyS1[,baud=N][,rtscts]   a UART, raw 8N1; baud 115200 default
//! tcp:HOST:PORT                         connect to a collector
//! unix:PATH                             connect to a Unix stream socket
//! file:PATH                             append to a file
//! -                                     stdout
//! ```

use std::fmt;
use std::path::PathBuf;

use taskwire_cli::endpoint::{self, Serial};

/// Where `stream --to` sends records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// A serial device, configured raw 8N1.
    Serial(Serial),
    /// A TCP connection made to `host:port`.
    Tcp {
        /// A name or address, without brackets (`::1`, `collector.lan`).
        host: String,
        /// TCP port, 1 to 65535.
        port: u16,
    },
    /// A Unix stream socket connected to this path.
    Unix(PathBuf),
    /// A regular file (or FIFO), appended to.
    File(PathBuf),
    /// stdout.
    Stdout,
}

const FORMS: &str = "serial:/dev/ttyX[,baud=N][,rtscts], tcp:HOST:PORT, unix:PATH, file:PATH or -";

/// The longest path a Unix socket address holds (`sun_path` less its NUL): a longer one
/// could never connect, so it is refused at start instead of retried for ever.
const UNIX_PATH_MAX: usize = 107;

fn unix_path(p: std::path::PathBuf) -> Result<std::path::PathBuf, String> {
    match p.as_os_str().len() {
        n if n > UNIX_PATH_MAX => Err(format!(
            "a Unix socket path is at most {UNIX_PATH_MAX} bytes, this one {n}"
        )),
        _ => Ok(p),
    }
}

impl Sink {
    /// Parses a sink spec. The error is one line.
    pub fn parse(spec: &str) -> Result<Sink, String> {
        if spec == "-" {
            return Ok(Sink::Stdout);
        }
        let (scheme, rest) = endpoint::split(spec, FORMS)?;
        let bad = |why: String| endpoint::bad(spec, &why);
        match scheme {
            "serial" => endpoint::serial(rest).map(Sink::Serial).map_err(bad),
            "tcp" => endpoint::host_port(rest, false)
                .map(|(host, port)| Sink::Tcp { host, port })
                .map_err(bad),
            "unix" => endpoint::path(rest)
                .and_then(unix_path)
                .map(Sink::Unix)
                .map_err(bad),
            "file" => endpoint::path(rest).map(Sink::File).map_err(bad),
            "tcp-listen" | "unix-listen" => Err(format!(
                "sink '{spec}': a sink connects to its collector and cannot listen; use {FORMS}"
            )),
            _ => Err(endpoint::unknown(spec, scheme, FORMS)),
        }
    }

    /// Whether a sink that failed is worth opening again: sockets and serial devices come
    /// back (collector restarted, adapter replugged), a full disk may clear; a closed
    /// stdout does not.
    pub fn reconnects(&self) -> bool {
        !matches!(self, Sink::Stdout)
    }
}

impl fmt::Display for Sink {
    /// The spec that parses back to this sink.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sink::Serial(s) => s.fmt(f),
            Sink::Tcp { host, port } => endpoint::fmt_tcp(f, "tcp", host, *port),
            Sink::Unix(p) => write!(f, "unix:{}", p.display()),
            Sink::File(p) => write!(f, "file:{}", p.display()),
            Sink::Stdout => f.write_str("-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(s: &str) -> Sink {
        Sink::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn sink_err(s: &str) -> String {
        let e = Sink::parse(s).expect_err(s);
        assert!(!e.contains('\n'), "one line: {e}");
        e
    }

    #[test]
    fn serial_forms() {
        assert_eq!(
            sink("serial:/dev/ttyUSB0"),
            Sink::Serial(Serial {
                path: "/dev/ttyUSB0".into(),
                baud: 115_200,
                rtscts: false
            })
        );
        assert_eq!(
            sink("serial:/dev/ttyAMA1,baud=921600,rtscts"),
            Sink::Serial(Serial {
                path: "/dev/ttyAMA1".into(),
                baud: 921_600,
                rtscts: true
            })
        );
        assert_eq!(
            sink("serial:/dev/pts/3,rtscts,baud=9600"),
            Sink::Serial(Serial {
                path: "/dev/pts/3".into(),
                baud: 9600,
                rtscts: true
            })
        );
    }

    #[test]
    fn serial_errors() {
        assert!(sink_err("serial:").contains("device path"));
        assert!(sink_err("serial:,baud=9600").contains("device path"));
        let e = sink_err("serial:/dev/ttyS0,baud=12345");
        assert!(e.contains("12345") && e.contains("115200"), "{e}");
        assert!(sink_err("serial:/dev/ttyS0,baud=0").contains("standard"));
        assert!(sink_err("serial:/dev/ttyS0,baud=fast").contains("standard"));
        assert!(sink_err("serial:/dev/ttyS0,parity=even").contains("parity=even"));
        assert!(sink_err("serial:/dev/ttyS0,").contains("unknown serial option"));
    }

    #[test]
    fn tcp_forms() {
        assert_eq!(
            sink("tcp:192.168.1.10:9000"),
            Sink::Tcp {
                host: "192.168.1.10".into(),
                port: 9000
            }
        );
        assert_eq!(
            sink("tcp:collector.lan:1"),
            Sink::Tcp {
                host: "collector.lan".into(),
                port: 1
            }
        );
        assert_eq!(
            sink("tcp:[::1]:65535"),
            Sink::Tcp {
                host: "::1".into(),
                port: 65535
            }
        );
    }

    #[test]
    fn unix_path_must_fit_a_socket_address() {
        let fits = format!("unix:/{}", "a".repeat(106));
        assert!(Sink::parse(&fits).is_ok());
        let long = format!("unix:/{}", "a".repeat(107));
        assert!(sink_err(&long).contains("at most 107 bytes, this one 108"));
    }

    #[test]
    fn tcp_errors() {
        assert!(sink_err("tcp:localhost").contains("HOST:PORT"));
        assert!(sink_err("tcp::9000").contains("host"));
        assert!(sink_err("tcp:h:0").contains("port 0"));
        assert!(sink_err("tcp:h:65536").contains("65536"));
        assert!(sink_err("tcp:h:").contains("port"));
        assert!(sink_err("tcp:::1:9000").contains("brackets"));
        assert!(sink_err("tcp:[::1:9000").contains("']'"));
        assert!(sink_err("tcp:[::1]9000").contains("port"));
    }

    #[test]
    fn paths_and_stdio() {
        assert_eq!(sink("-"), Sink::Stdout);
        assert_eq!(sink("unix:/run/tw.sock"), Sink::Unix("/run/tw.sock".into()));
        assert_eq!(sink("file:records.twr"), Sink::File("records.twr".into()));
        // Only the first colon separates: paths may hold more.
        assert_eq!(sink("file:a:b"), Sink::File("a:b".into()));
        assert!(sink_err("file:").contains("path"));
        assert!(sink_err("unix:").contains("path"));
    }

    #[test]
    fn unknown_and_missing_scheme() {
        let e = sink_err("/dev/ttyS0");
        assert!(
            e.contains("not an endpoint") && e.contains("serial:"),
            "{e}"
        );
        let e = sink_err("udp:h:1");
        assert!(e.contains("unknown endpoint type 'udp'"), "{e}");
        assert!(sink_err("").contains("not an endpoint"));
    }

    #[test]
    fn listeners_are_refused() {
        let e = sink_err("tcp-listen:9000");
        assert!(e.contains("cannot listen"), "{e}");
        assert!(sink_err("unix-listen:/tmp/s").contains("cannot listen"));
    }

    #[test]
    fn display_parses_back() {
        for s in [
            "serial:/dev/ttyS0,baud=115200",
            "serial:/dev/ttyS0,baud=57600,rtscts",
            "tcp:h:9",
            "tcp:[fe80::1]:9",
            "unix:/s",
            "file:/f",
            "-",
        ] {
            assert_eq!(sink(s).to_string(), s);
        }
    }

    #[test]
    fn which_endpoints_reconnect() {
        assert!(sink("tcp:h:1").reconnects());
        assert!(sink("serial:/dev/ttyS0").reconnects());
        assert!(sink("unix:/s").reconnects());
        assert!(sink("file:/f").reconnects());
        assert!(!sink("-").reconnects());
    }
}
