//! Where a record stream comes from: `decode --from SOURCE`.
//!
//! ```text
//! serial:/dev/ttyS1[,baud=N][,rtscts]   a UART, raw 8N1; baud 115200 default
//! tcp:HOST:PORT                         connect to an agent's or relay's socket
//! tcp-listen:[HOST:]PORT                wait for boards to connect; HOST 0.0.0.0
//! unix:PATH                             connect to a Unix stream socket
//! unix-listen:PATH                      listen on a Unix stream socket
//! file:PATH                             read a recorded stream
//! -                                     stdin
//! mqtt://HOST[:PORT][/FILTER][,client=ID][,user=NAME][,password-file=PATH]
//!                                       subscribe to boards' topics on an MQTT broker
//! ```

use std::fmt;
use std::path::PathBuf;

use taskwire_cli::endpoint::{self, Serial};

/// Where `decode --from` reads a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A serial device, configured raw 8N1.
    Serial(Serial),
    /// A TCP connection made to `host:port`.
    Tcp {
        /// A name or address, without brackets.
        host: String,
        /// TCP port, 1 to 65535.
        port: u16,
    },
    /// A TCP listener for boards' connections.
    TcpListen {
        /// `host:port` as `std::net::TcpListener::bind` takes it (`0.0.0.0:9000`,
        /// `[::1]:9000`); port 0 picks a free one.
        addr: String,
    },
    /// A Unix stream socket connected to this path.
    Unix(PathBuf),
    /// A Unix stream socket listening at this path.
    UnixListen(PathBuf),
    /// A regular file (or FIFO).
    File(PathBuf),
    /// stdin.
    Stdin,
    /// An MQTT broker's topics (`mqtt://`).
    Mqtt(crate::mqtt::url::Url),
}

const FORMS: &str = "serial:/dev/ttyX[,baud=N][,rtscts], tcp:HOST:PORT, \
                     tcp-listen:[HOST:]PORT, unix:PATH, unix-listen:PATH, \
                     mqtt://HOST[:PORT][/FILTER], file:PATH or -";

impl Source {
    /// Parses a source spec. The error is one line.
    pub fn parse(spec: &str) -> Result<Source, String> {
        if spec == "-" {
            return Ok(Source::Stdin);
        }
        let (scheme, rest) = endpoint::split(spec, FORMS)?;
        let bad = |why: String| endpoint::bad(spec, &why);
        match scheme {
            "serial" => endpoint::serial(rest).map(Source::Serial).map_err(bad),
            "tcp" => endpoint::host_port(rest, false)
                .map(|(host, port)| Source::Tcp { host, port })
                .map_err(bad),
            "tcp-listen" => endpoint::listen_addr(rest)
                .map(|addr| Source::TcpListen { addr })
                .map_err(bad),
            "unix" => endpoint::path(rest).map(Source::Unix).map_err(bad),
            "unix-listen" => endpoint::path(rest).map(Source::UnixListen).map_err(bad),
            "file" => endpoint::path(rest).map(Source::File).map_err(bad),
            "mqtt" => crate::mqtt::url::Url::parse(rest)
                .map(Source::Mqtt)
                .map_err(bad),
            _ => Err(endpoint::unknown(spec, scheme, FORMS)),
        }
    }
}

impl fmt::Display for Source {
    /// The spec that parses back to this source.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Serial(s) => s.fmt(f),
            Source::Tcp { host, port } => endpoint::fmt_tcp(f, "tcp", host, *port),
            Source::TcpListen { addr } => write!(f, "tcp-listen:{addr}"),
            Source::Unix(p) => write!(f, "unix:{}", p.display()),
            Source::UnixListen(p) => write!(f, "unix-listen:{}", p.display()),
            Source::File(p) => write!(f, "file:{}", p.display()),
            Source::Stdin => f.write_str("-"),
            Source::Mqtt(u) => u.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_are_sources() {
        assert_eq!(
            Source::parse("tcp-listen:9000"),
            Ok(Source::TcpListen {
                addr: "0.0.0.0:9000".into()
            })
        );
        assert_eq!(
            Source::parse("tcp-listen:127.0.0.1:0"),
            Ok(Source::TcpListen {
                addr: "127.0.0.1:0".into()
            })
        );
        assert_eq!(
            Source::parse("tcp-listen:[::1]:7"),
            Ok(Source::TcpListen {
                addr: "[::1]:7".into()
            })
        );
        assert_eq!(
            Source::parse("unix-listen:/tmp/s"),
            Ok(Source::UnixListen("/tmp/s".into()))
        );
        assert_eq!(Source::parse("-"), Ok(Source::Stdin));
        assert!(Source::parse("tcp-listen:x").is_err());
        assert!(Source::parse("unix-listen:").unwrap_err().contains("path"));
        // The error lists the listening forms too.
        assert!(Source::parse("nope:1").unwrap_err().contains("tcp-listen"));
        assert!(Source::parse("x").unwrap_err().contains("not an endpoint"));
        assert!(Source::parse("nope:1").unwrap_err().contains("mqtt://"));
        let e = Source::parse("mqtt://h/a/#/b").unwrap_err();
        assert!(
            e.starts_with("'mqtt://h/a/#/b': ") && e.contains("last level"),
            "{e}"
        );
    }

    #[test]
    fn display_parses_back() {
        for s in [
            "serial:/dev/ttyS0",
            "serial:/dev/ttyS0,baud=57600,rtscts",
            "tcp:h:9",
            "tcp:[fe80::1]:9",
            "tcp-listen:0.0.0.0:9",
            "tcp-listen:[::]:9",
            "unix:/s",
            "unix-listen:/s",
            "file:/f",
            "-",
            "mqtt://h/taskwire/+/stream",
            "mqtt://[::1]:1884/$share/g/t/#,client=c",
        ] {
            let e = Source::parse(s).unwrap();
            assert_eq!(Source::parse(&e.to_string()), Ok(e.clone()), "{s}");
        }
    }
}
