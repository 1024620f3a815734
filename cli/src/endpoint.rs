//! The pieces of endpoint specs that a board's sinks (`stream --to`) and a host's sources
//! (`decode --from`) share: `SCHEME:REST` splitting, serial options, `HOST:PORT`, and name
//! resolution without DNS. Each side's own type lists the schemes it takes.
//!
//! IPv6 hosts go in brackets (`tcp:[::1]:9000`). Errors are one line naming the spec, fit
//! for a usage message.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// 115200 baud: what most boards' consoles and USB-serial adapters run at.
pub const DEFAULT_BAUD: u32 = 115_200;

/// A serial device and its line settings (raw 8N1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serial {
    /// The device node, e.g. `/dev/ttyUSB0`.
    pub path: PathBuf,
    /// Line speed, in baud (bits per second): one of [`crate::serial::STANDARD_BAUDS`].
    pub baud: u32,
    /// Hardware (RTS/CTS) flow control.
    pub rtscts: bool,
}

impl fmt::Display for Serial {
    /// The spec that parses back to this device.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "serial:{},baud={}", self.path.display(), self.baud)?;
        if self.rtscts {
            f.write_str(",rtscts")?;
        }
        Ok(())
    }
}

/// Splits `SCHEME:REST` at the first colon (paths may hold more). `forms` lists what the
/// caller accepts, for the error.
pub fn split<'a>(spec: &'a str, forms: &str) -> Result<(&'a str, &'a str), String> {
    spec.split_once(':')
        .ok_or_else(|| format!("'{spec}' is not an endpoint: use {forms}"))
}

/// The error for a scheme the caller does not take.
pub fn unknown(spec: &str, scheme: &str, forms: &str) -> String {
    format!("'{spec}': unknown endpoint type '{scheme}'; use {forms}")
}

/// The error for `why` in `spec`.
pub fn bad(spec: &str, why: &str) -> String {
    format!("'{spec}': {why}")
}

/// A path after the colon; it must not be empty.
pub fn path(rest: &str) -> Result<PathBuf, String> {
    if rest.is_empty() {
        return Err("a path is needed after the colon".into());
    }
    Ok(PathBuf::from(rest))
}

/// A listening address from `[HOST:]PORT`, as `std::net::TcpListener::bind` takes it: a
/// bare port listens on every IPv4 address, the usual way to collect from boards.
pub fn listen_addr(rest: &str) -> Result<String, String> {
    let full = if rest.parse::<u16>().is_ok() {
        format!("0.0.0.0:{rest}")
    } else {
        rest.to_owned()
    };
    let (host, port) = host_port(&full, true)?;
    Ok(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// `tcp:HOST:PORT` written back, with brackets for an IPv6 host.
pub fn fmt_tcp(f: &mut fmt::Formatter<'_>, scheme: &str, host: &str, port: u16) -> fmt::Result {
    if host.contains(':') {
        write!(f, "{scheme}:[{host}]:{port}")
    } else {
        write!(f, "{scheme}:{host}:{port}")
    }
}

/// The part of `serial:PATH[,baud=N][,rtscts]` after the colon. The error is one line.
pub fn serial(rest: &str) -> Result<Serial, String> {
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
                    .filter(|b| crate::serial::is_standard(*b))
                    .ok_or_else(|| {
                        format!(
                            "baud '{n}' is not a standard rate ({})",
                            crate::serial::standard_list()
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
    Ok(Serial {
        path: PathBuf::from(path),
        baud,
        rtscts,
    })
}

/// `HOST:PORT` or `[V6]:PORT`; port 0 only where `listen`.
pub fn host_port(s: &str, listen: bool) -> Result<(String, u16), String> {
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
/// No DNS on purpose: musl's `getaddrinfo` brings its resolver and printf into a static
/// board binary (cross/README.md), and a board's collector has a fixed address.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let hosts = crate::textfile::read(HOSTS_FILE.as_ref()).unwrap_or_default();
    resolve_in(host, port, &hosts)
}

/// [`resolve`] of a `HOST:PORT` or `[V6]:PORT` string, as [`listen_addr`] makes it.
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

    #[test]
    fn serial_options() {
        let s = serial("/dev/pts/3,rtscts,baud=9600").unwrap();
        assert_eq!((s.baud, s.rtscts), (9600, true));
        assert_eq!(s.to_string(), "serial:/dev/pts/3,baud=9600,rtscts");
        assert_eq!(serial("/dev/ttyS0").unwrap().baud, DEFAULT_BAUD);
    }

    #[test]
    fn listening_addresses() {
        assert_eq!(listen_addr("9000").unwrap(), "0.0.0.0:9000");
        assert_eq!(listen_addr("127.0.0.1:0").unwrap(), "127.0.0.1:0");
        assert_eq!(listen_addr("[::1]:7").unwrap(), "[::1]:7");
        assert!(listen_addr("x").is_err());
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
