//! Where a record stream goes (`stream --to SINK`) or comes from (`decode --from SOURCE`).
//!
//! ```text
//! serial:/dev/ttyS1[,baud=N][,rtscts]   a UART, raw 8N1 (sink and source); baud 115200 default
//! tcp:HOST:PORT                         connect to a collector (sink and source)
//! tcp-listen:[HOST:]PORT                wait for a board to connect (source only); HOST 0.0.0.0
//! unix:PATH                             connect to a Unix stream socket (sink and source)
//! unix-listen:PATH                      listen on a Unix stream socket (source only)
//! file:PATH                             append to (sink) or read (source) a file
//! -                                     stdout (sink) or stdin (source)
//! ```
//!
//! IPv6 hosts go in brackets (`tcp:[::1]:9000`). Errors are one line naming the spec, fit
//! for a usage message.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// 115200 baud: what most boards' consoles and USB-serial adapters run at.
pub const DEFAULT_BAUD: u32 = 115_200;

/// One end of a byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A serial device, configured raw 8N1.
    Serial {
        /// The device node, e.g. `/dev/ttyUSB0`.
        path: PathBuf,
        /// Line speed, in baud (bits per second): one of [`super::serial::STANDARD_BAUDS`].
        baud: u32,
        /// Hardware (RTS/CTS) flow control.
        rtscts: bool,
    },
    /// A TCP connection made to `host:port`.
    Tcp {
        /// A name or address, without brackets (`::1`, `collector.lan`).
        host: String,
        /// TCP port, 1 to 65535.
        port: u16,
    },
    /// A TCP listener; a source only.
    TcpListen {
        /// `host:port` as `std::net::TcpListener::bind` takes it (`0.0.0.0:9000`,
        /// `[::1]:9000`); port 0 picks a free one.
        addr: String,
    },
    /// A Unix stream socket connected to this path.
    Unix(PathBuf),
    /// A Unix stream socket listening at this path; a source only.
    UnixListen(PathBuf),
    /// A regular file (or FIFO): appended to as a sink, read as a source.
    File(PathBuf),
    /// stdout as a sink, stdin as a source.
    Stdio,
}

impl Endpoint {
    /// Whether this endpoint waits for the other side to connect (a source only).
    pub fn is_listener(&self) -> bool {
        matches!(self, Endpoint::TcpListen { .. } | Endpoint::UnixListen(_))
    }

    /// Whether a sink that failed is worth opening again: sockets and serial devices come
    /// back (collector restarted, adapter replugged), a full disk may clear; a closed
    /// stdout does not.
    pub fn reconnects(&self) -> bool {
        !matches!(self, Endpoint::Stdio)
    }
}

impl fmt::Display for Endpoint {
    /// The spec that parses back to this endpoint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Serial { path, baud, rtscts } => {
                write!(f, "serial:{},baud={baud}", path.display())?;
                if *rtscts {
                    f.write_str(",rtscts")?;
                }
                Ok(())
            }
            Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            Endpoint::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            Endpoint::TcpListen { addr } => write!(f, "tcp-listen:{addr}"),
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::UnixListen(p) => write!(f, "unix-listen:{}", p.display()),
            Endpoint::File(p) => write!(f, "file:{}", p.display()),
            Endpoint::Stdio => f.write_str("-"),
        }
    }
}

const SINK_FORMS: &str =
    "serial:/dev/ttyX[,baud=N][,rtscts], tcp:HOST:PORT, unix:PATH, file:PATH or -";
#[cfg_attr(not(feature = "decode"), allow(dead_code))] // only `decode` reads sources
const SOURCE_FORMS: &str = "serial:/dev/ttyX[,baud=N][,rtscts], tcp:HOST:PORT, \
                            tcp-listen:[HOST:]PORT, unix:PATH, unix-listen:PATH, file:PATH or -";

/// Parses where `stream --to` sends records. The error is one line.
pub fn parse_sink(spec: &str) -> Result<Endpoint, String> {
    let e = parse(spec, SINK_FORMS)?;
    if e.is_listener() {
        return Err(format!(
            "sink '{spec}': a sink connects to its collector and cannot listen; use {SINK_FORMS}"
        ));
    }
    Ok(e)
}

/// Parses where `decode --from` reads a stream. The error is one line.
#[cfg_attr(not(feature = "decode"), allow(dead_code))] // only `decode` reads sources
pub fn parse_source(spec: &str) -> Result<Endpoint, String> {
    parse(spec, SOURCE_FORMS)
}

fn parse(spec: &str, forms: &str) -> Result<Endpoint, String> {
    if spec == "-" {
        return Ok(Endpoint::Stdio);
    }
    let Some((scheme, rest)) = spec.split_once(':') else {
        return Err(format!("'{spec}' is not an endpoint: use {forms}"));
    };
    let bad = |why: &str| Err(format!("'{spec}': {why}"));
    match scheme {
        "serial" => serial(rest).or_else(|why| bad(&why)),
        "tcp" => match host_port(rest, false) {
            Ok((host, port)) => Ok(Endpoint::Tcp { host, port }),
            Err(why) => bad(&why),
        },
        "tcp-listen" => {
            // A bare port listens on every IPv4 address, the usual way to collect from boards.
            let full = if rest.parse::<u16>().is_ok() {
                format!("0.0.0.0:{rest}")
            } else {
                rest.to_owned()
            };
            match host_port(&full, true) {
                Ok((host, port)) if host.contains(':') => Ok(Endpoint::TcpListen {
                    addr: format!("[{host}]:{port}"),
                }),
                Ok((host, port)) => Ok(Endpoint::TcpListen {
                    addr: format!("{host}:{port}"),
                }),
                Err(why) => bad(&why),
            }
        }
        "unix" | "unix-listen" | "file" => {
            if rest.is_empty() {
                return bad("a path is needed after the colon");
            }
            let p = PathBuf::from(rest);
            Ok(match scheme {
                "unix" => Endpoint::Unix(p),
                "unix-listen" => Endpoint::UnixListen(p),
                _ => Endpoint::File(p),
            })
        }
        _ => Err(format!(
            "'{spec}': unknown endpoint type '{scheme}'; use {forms}"
        )),
    }
}

fn serial(rest: &str) -> Result<Endpoint, String> {
    let mut parts = rest.split(',');
    let path = parts.next().unwrap_or_default();
    if path.is_empty() {
        return Err("a device path is needed, e.g. serial:/dev/ttyUSB0".into());
    }
    let mut baud = DEFAULT_BAUD;
    let mut rtscts = false;
    for opt in parts {
        match opt.split_once('=') {
            Some(("baud", n)) => {
                baud = n
                    .parse::<u32>()
                    .ok()
                    .filter(|b| super::serial::is_standard(*b))
                    .ok_or_else(|| {
                        format!(
                            "baud '{n}' is not a standard rate ({})",
                            super::serial::standard_list()
                        )
                    })?;
            }
            None if opt == "rtscts" => rtscts = true,
            _ => {
                return Err(format!(
                    "unknown serial option '{opt}' (options: baud=N, rtscts)"
                ));
            }
        }
    }
    Ok(Endpoint::Serial {
        path: PathBuf::from(path),
        baud,
        rtscts,
    })
}

/// `HOST:PORT` or `[V6]:PORT`; port 0 only where `listen`.
fn host_port(s: &str, listen: bool) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or("an IPv6 address needs its closing ']'")?;
        let port = after
            .strip_prefix(':')
            .ok_or("a port is needed after the address, e.g. [::1]:9000")?;
        (host, port)
    } else {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or("HOST:PORT is needed, e.g. tcp:192.168.1.10:9000")?;
        if host.contains(':') {
            return Err("put an IPv6 address in brackets, e.g. [::1]:9000".into());
        }
        (host, port)
    };
    if host.is_empty() {
        return Err("a host is needed before the port".into());
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port '{port}' is not a number from 1 to 65535"))?;
    if port == 0 && !listen {
        return Err("port 0 cannot be connected to".into());
    }
    Ok((host.to_owned(), port))
}

/// Where [`resolve`] looks names up.
pub const HOSTS_FILE: &str = "/etc/hosts";

/// The addresses to try for `host` (an IP literal, `localhost`, or a name in
/// [`HOSTS_FILE`]) on `port`, in the file's order. The error is one line.
///
/// No DNS on purpose: musl's `getaddrinfo` brings its resolver and printf (~23 KiB on
/// armv7), too much for the board budget, and a board's collector has a fixed address.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let hosts = std::fs::read_to_string(HOSTS_FILE).unwrap_or_default();
    resolve_in(host, port, &hosts)
}

/// [`resolve`] of a `HOST:PORT` or `[V6]:PORT` string, as [`Endpoint::TcpListen`] keeps it.
#[cfg_attr(not(feature = "decode"), allow(dead_code))] // only `decode` reads sources
pub fn resolve_addr(addr: &str) -> Result<Vec<SocketAddr>, String> {
    let (host, port) = host_port(addr, true)?;
    resolve(&host, port)
}

/// [`resolve`] against the text of a hosts file.
fn resolve_in(host: &str, port: u16, hosts: &str) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let mut ips = hosts_lookup(hosts, host);
    if ips.is_empty() && host.eq_ignore_ascii_case("localhost") {
        // What glibc and musl answer for localhost even without an /etc/hosts entry.
        ips = vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
    }
    if ips.is_empty() {
        return Err(format!(
            "cannot resolve {host}: use an IP address or add it to {HOSTS_FILE}"
        ));
    }
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

/// The addresses of `name` in hosts-file text (`ADDRESS NAME [ALIAS...]` lines, `#`
/// comments), without duplicates. Names compare case-insensitively, as in DNS; lines whose
/// address does not parse (zone-scoped `fe80::1%eth0`, garbage) are skipped.
fn hosts_lookup(text: &str, name: &str) -> Vec<IpAddr> {
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_ascii_whitespace();
        let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        if words.any(|w| w.eq_ignore_ascii_case(name)) && !found.contains(&ip) {
            found.push(ip);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(s: &str) -> Endpoint {
        parse_sink(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn sink_err(s: &str) -> String {
        let e = parse_sink(s).expect_err(s);
        assert!(!e.contains('\n'), "one line: {e}");
        e
    }

    #[test]
    fn serial_forms() {
        assert_eq!(
            sink("serial:/dev/ttyUSB0"),
            Endpoint::Serial {
                path: "/dev/ttyUSB0".into(),
                baud: 115_200,
                rtscts: false
            }
        );
        assert_eq!(
            sink("serial:/dev/ttyAMA1,baud=921600,rtscts"),
            Endpoint::Serial {
                path: "/dev/ttyAMA1".into(),
                baud: 921_600,
                rtscts: true
            }
        );
        assert_eq!(
            sink("serial:/dev/pts/3,rtscts,baud=9600"),
            Endpoint::Serial {
                path: "/dev/pts/3".into(),
                baud: 9600,
                rtscts: true
            }
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
            Endpoint::Tcp {
                host: "192.168.1.10".into(),
                port: 9000
            }
        );
        assert_eq!(
            sink("tcp:collector.lan:1"),
            Endpoint::Tcp {
                host: "collector.lan".into(),
                port: 1
            }
        );
        assert_eq!(
            sink("tcp:[::1]:65535"),
            Endpoint::Tcp {
                host: "::1".into(),
                port: 65535
            }
        );
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
        assert_eq!(sink("-"), Endpoint::Stdio);
        assert_eq!(
            sink("unix:/run/tw.sock"),
            Endpoint::Unix("/run/tw.sock".into())
        );
        assert_eq!(
            sink("file:records.twr"),
            Endpoint::File("records.twr".into())
        );
        // Only the first colon separates: paths may hold more.
        assert_eq!(sink("file:a:b"), Endpoint::File("a:b".into()));
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
    fn listeners_are_sources_only() {
        let e = sink_err("tcp-listen:9000");
        assert!(e.contains("cannot listen"), "{e}");
        assert!(sink_err("unix-listen:/tmp/s").contains("cannot listen"));
        assert_eq!(
            parse_source("tcp-listen:9000"),
            Ok(Endpoint::TcpListen {
                addr: "0.0.0.0:9000".into()
            })
        );
        assert_eq!(
            parse_source("tcp-listen:127.0.0.1:0"),
            Ok(Endpoint::TcpListen {
                addr: "127.0.0.1:0".into()
            })
        );
        assert_eq!(
            parse_source("tcp-listen:[::1]:7"),
            Ok(Endpoint::TcpListen {
                addr: "[::1]:7".into()
            })
        );
        assert_eq!(
            parse_source("unix-listen:/tmp/s"),
            Ok(Endpoint::UnixListen("/tmp/s".into()))
        );
        assert_eq!(parse_source("-"), Ok(Endpoint::Stdio));
        assert!(parse_source("tcp-listen:x").is_err());
        // The source error lists the listening forms too.
        assert!(parse_source("nope:1").unwrap_err().contains("tcp-listen"));
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
        ] {
            let e = parse_source(s).unwrap();
            assert_eq!(parse_source(&e.to_string()), Ok(e.clone()), "{s}");
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

    const HOSTS: &str = "\
# comment line
127.0.0.1\tlocalhost
::1     localhost ip6-localhost ip6-loopback
192.168.1.10 collector.lan collector  # the bench PC
fe80::1%eth0 scoped
bogus-address not-an-ip
10.0.0.2 Collector
192.168.1.10 collector
";

    #[test]
    fn hosts_file_lookup() {
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        assert_eq!(
            hosts_lookup(HOSTS, "localhost"),
            [v4(127, 0, 0, 1), IpAddr::V6(Ipv6Addr::LOCALHOST)]
        );
        // Aliases count, case does not, and a repeated line adds nothing.
        assert_eq!(
            hosts_lookup(HOSTS, "COLLECTOR"),
            [v4(192, 168, 1, 10), v4(10, 0, 0, 2)]
        );
        assert_eq!(
            hosts_lookup(HOSTS, "ip6-loopback"),
            [IpAddr::V6(Ipv6Addr::LOCALHOST)]
        );
        // Comments, unparsable addresses and partial names never match.
        assert!(hosts_lookup(HOSTS, "the").is_empty());
        assert!(hosts_lookup(HOSTS, "scoped").is_empty());
        assert!(hosts_lookup(HOSTS, "not-an-ip").is_empty());
        assert!(hosts_lookup(HOSTS, "collector.la").is_empty());
        assert!(hosts_lookup("", "localhost").is_empty());
    }

    #[test]
    fn resolve_literals_hosts_and_failures() {
        let sa = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            resolve_in("10.1.2.3", 9000, "").unwrap(),
            [sa("10.1.2.3:9000")]
        );
        assert_eq!(resolve_in("::1", 7, HOSTS).unwrap(), [sa("[::1]:7")]);
        assert_eq!(
            resolve_in("collector", 9000, HOSTS).unwrap(),
            [sa("192.168.1.10:9000"), sa("10.0.0.2:9000")]
        );
        // localhost works without an /etc/hosts entry.
        assert_eq!(
            resolve_in("localhost", 80, "").unwrap(),
            [sa("127.0.0.1:80"), sa("[::1]:80")]
        );
        let e = resolve_in("collector.example", 9000, HOSTS).unwrap_err();
        assert_eq!(
            e,
            "cannot resolve collector.example: use an IP address or add it to /etc/hosts"
        );
        assert_eq!(resolve_addr("[::1]:9").unwrap(), [sa("[::1]:9")]);
        assert_eq!(resolve_addr("0.0.0.0:0").unwrap(), [sa("0.0.0.0:0")]);
        assert!(
            resolve_addr("nohost.invalid:9")
                .unwrap_err()
                .contains("/etc/hosts")
        );
    }
}
