//! Where a record stream goes: `stream --to SINK`.
//!
//! ```text
//! serial:/dev/ttyS1[,baud=N][,rtscts]   a UART, raw 8N1; baud 115200 default
//! tcp:HOST:PORT                         connect to a collector
//! unix:PATH                             connect to a Unix stream socket
//! file:PATH                             append to a file
//! -                                     stdout
//! mqtt://HOST[:PORT][/TOPIC][,client=ID][,user=NAME][,password-file=PATH][,keepalive=SECS]
//!                                       publish to an MQTT broker (feature `mqtt`)
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
    /// An MQTT broker, published to (core/WIRE.md section 8).
    #[cfg(feature = "mqtt")]
    Mqtt(Mqtt),
}

#[cfg(not(feature = "mqtt"))]
const FORMS: &str = "serial:/dev/ttyX[,baud=N][,rtscts], tcp:HOST:PORT, unix:PATH, file:PATH or -";
#[cfg(feature = "mqtt")]
const FORMS: &str = "serial:/dev/ttyX[,baud=N][,rtscts], tcp:HOST:PORT, unix:PATH, file:PATH, mqtt://HOST[:PORT][/TOPIC] or -";

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
            #[cfg(feature = "mqtt")]
            "mqtt" => Mqtt::parse(rest).map(Sink::Mqtt).map_err(bad),
            #[cfg(not(feature = "mqtt"))]
            "mqtt" => Err(format!(
                "sink '{spec}': MQTT is not in this build; it is in builds with feature mqtt \
                 (CROSS_FEATURES=stream,mqtt) and the host build"
            )),
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
            #[cfg(feature = "mqtt")]
            Sink::Mqtt(m) => m.fmt(f),
        }
    }
}

#[cfg(feature = "mqtt")]
pub use mqtt_spec::{DEFAULT_KEEPALIVE_S, DEFAULT_PORT, Mqtt, default_topic};

/// `mqtt://...`: the broker, topic and session options of an MQTT sink.
#[cfg(feature = "mqtt")]
mod mqtt_spec {
    use std::fmt;
    use std::path::PathBuf;

    use taskwire_cli::endpoint;

    /// MQTT's registered port, without TLS.
    pub const DEFAULT_PORT: u16 = 1883;
    /// Seconds without a packet after which the broker pings back or gives the board up.
    pub const DEFAULT_KEEPALIVE_S: u16 = 30;
    /// The longest topic taken: the status topic adds 7 bytes, and every PUBLISH repeats it.
    const MAX_TOPIC_LEN: usize = 256;
    /// The longest client id and user name taken (the length of a board id).
    const MAX_NAME_LEN: usize = 64;

    /// An MQTT sink: where to connect, what to publish to, as whom.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Mqtt {
        /// A name or address, without brackets.
        pub host: String,
        /// TCP port, [`DEFAULT_PORT`] unless given.
        pub port: u16,
        /// The stream's topic; None: [`default_topic`] of the board id.
        pub topic: Option<String>,
        /// The client id; None: the board id.
        pub client: Option<String>,
        /// User name of the CONNECT.
        pub user: Option<String>,
        /// The file holding the password, read once at start.
        pub password_file: Option<PathBuf>,
        /// Keepalive, seconds; 0 = none.
        pub keepalive_s: u16,
    }

    /// `taskwire/BOARD/stream`, the board id's `/`, `+` and `#` made `_` (a topic level
    /// of its own, never a wildcard).
    pub fn default_topic(board_id: &str) -> String {
        let board: String = board_id
            .chars()
            .map(|c| {
                if matches!(c, '/' | '+' | '#' | '\0') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        format!("taskwire/{board}/stream")
    }

    fn topic(t: &str) -> Result<String, String> {
        if t.is_empty() {
            return Err("a topic is needed after the '/' (or leave out the '/' for \
                        taskwire/BOARD/stream)"
                .into());
        }
        if t.len() > MAX_TOPIC_LEN {
            return Err(format!("the topic is at most {MAX_TOPIC_LEN} bytes"));
        }
        if t.contains(['+', '#', '\0']) {
            return Err("a topic to publish to has no wildcard ('+', '#')".into());
        }
        if t.starts_with('$') {
            return Err("topics starting with '$' belong to the broker".into());
        }
        Ok(t.to_owned())
    }

    fn name(opt: &str, v: &str) -> Result<String, String> {
        if v.is_empty() || v.len() > MAX_NAME_LEN || v.contains('\0') {
            return Err(format!("{opt}= takes 1 to {MAX_NAME_LEN} bytes"));
        }
        Ok(v.to_owned())
    }

    /// `HOST`, `HOST:PORT`, `[V6]` or `[V6]:PORT`.
    fn host_port(s: &str) -> Result<(String, u16), String> {
        if s.is_empty() {
            return Err("a host is needed: mqtt://HOST[:PORT][/TOPIC]".into());
        }
        let bare_v6 = s.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
        match bare_v6 {
            Some(h) if !h.is_empty() => Ok((h.to_owned(), DEFAULT_PORT)),
            None if !s.contains([':', '[']) => Ok((s.to_owned(), DEFAULT_PORT)),
            _ => endpoint::host_port(s, false),
        }
    }

    impl Mqtt {
        /// Parses what follows `mqtt:`. The error is one line.
        pub fn parse(rest: &str) -> Result<Mqtt, String> {
            let rest = rest
                .strip_prefix("//")
                .ok_or("write mqtt://HOST[:PORT][/TOPIC]")?;
            let mut parts = rest.split(',');
            let place = parts.next().unwrap_or_default();
            let (hp, topic) = match place.split_once('/') {
                Some((hp, t)) => (hp, Some(self::topic(t)?)),
                None => (place, None),
            };
            let (host, port) = host_port(hp)?;
            let mut m = Mqtt {
                host,
                port,
                topic,
                client: None,
                user: None,
                password_file: None,
                keepalive_s: DEFAULT_KEEPALIVE_S,
            };
            let mut seen: Vec<&str> = Vec::new();
            for opt in parts {
                let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
                if seen.contains(&k) {
                    return Err(format!("{k}= given twice"));
                }
                seen.push(k);
                match k {
                    "client" => m.client = Some(name(k, v)?),
                    "user" => m.user = Some(name(k, v)?),
                    "password-file" if !v.is_empty() => m.password_file = Some(v.into()),
                    "password-file" => return Err("password-file= needs a path".into()),
                    "keepalive" => {
                        m.keepalive_s = v.parse().map_err(|_| {
                            format!("keepalive '{v}' is not seconds from 0 (none) to 65535")
                        })?;
                    }
                    _ => {
                        return Err(format!(
                            "unknown MQTT option '{opt}' (options: client=ID, user=NAME, \
                             password-file=PATH, keepalive=SECS)"
                        ));
                    }
                }
            }
            Ok(m)
        }

        /// The topic streamed to, for a board named `board_id`.
        pub fn topic_for(&self, board_id: &str) -> String {
            self.topic
                .clone()
                .unwrap_or_else(|| default_topic(board_id))
        }
    }

    impl fmt::Display for Mqtt {
        /// The spec that parses back to this sink.
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.host.contains(':') {
                true => write!(f, "mqtt://[{}]:{}", self.host, self.port)?,
                false => write!(f, "mqtt://{}:{}", self.host, self.port)?,
            }
            if let Some(t) = &self.topic {
                write!(f, "/{t}")?;
            }
            if let Some(c) = &self.client {
                write!(f, ",client={c}")?;
            }
            if let Some(u) = &self.user {
                write!(f, ",user={u}")?;
            }
            if let Some(p) = &self.password_file {
                write!(f, ",password-file={}", p.display())?;
            }
            if self.keepalive_s != DEFAULT_KEEPALIVE_S {
                write!(f, ",keepalive={}", self.keepalive_s)?;
            }
            Ok(())
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
            #[cfg(feature = "mqtt")]
            "mqtt://h:1883",
            #[cfg(feature = "mqtt")]
            "mqtt://[::1]:1/a/b,client=c,user=u,password-file=/p,keepalive=5",
        ] {
            assert_eq!(sink(s).to_string(), s);
        }
    }

    #[cfg(feature = "mqtt")]
    #[test]
    fn mqtt_forms() {
        let Sink::Mqtt(m) = sink("mqtt://broker.lan") else {
            panic!("not mqtt")
        };
        assert_eq!((m.host.as_str(), m.port), ("broker.lan", 1883));
        assert_eq!((&m.topic, &m.client, &m.user), (&None, &None, &None));
        assert_eq!(m.topic_for("b1"), "taskwire/b1/stream");
        assert_eq!((m.password_file, m.keepalive_s), (None, 30));
        let Sink::Mqtt(m) =
            sink("mqtt://[::1]:8883/fleet/a/b,client=c1,user=u,password-file=/etc/pw,keepalive=0")
        else {
            panic!("not mqtt")
        };
        assert_eq!((m.host.as_str(), m.port), ("::1", 8883));
        assert_eq!(m.topic.as_deref(), Some("fleet/a/b"));
        assert_eq!(m.topic_for("ignored"), "fleet/a/b");
        assert_eq!(
            (m.client.as_deref(), m.user.as_deref()),
            (Some("c1"), Some("u"))
        );
        assert_eq!(m.password_file, Some("/etc/pw".into()));
        assert_eq!(m.keepalive_s, 0);
        let Sink::Mqtt(m) = sink("mqtt://[fe80::2]/t") else {
            panic!("not mqtt")
        };
        assert_eq!((m.host.as_str(), m.port), ("fe80::2", 1883));
        let Sink::Mqtt(m) = sink("mqtt://10.0.0.1:1884,keepalive=65535") else {
            panic!("not mqtt")
        };
        assert_eq!((m.port, m.keepalive_s, m.topic), (1884, 65535, None));
    }

    #[cfg(feature = "mqtt")]
    #[test]
    fn mqtt_default_topic_has_no_wildcards() {
        assert_eq!(default_topic("a/b+c#d"), "taskwire/a_b_c_d/stream");
        assert_eq!(default_topic("rpi-7"), "taskwire/rpi-7/stream");
    }

    #[cfg(feature = "mqtt")]
    #[test]
    fn mqtt_errors() {
        assert!(sink_err("mqtt:broker").contains("mqtt://HOST"));
        assert!(sink_err("mqtt://").contains("host"));
        assert!(sink_err("mqtt:///t").contains("host"));
        assert!(sink_err("mqtt://h:0").contains("port 0"));
        assert!(sink_err("mqtt://h:x").contains("port 'x'"));
        assert!(sink_err("mqtt://::1").contains("brackets"));
        assert!(sink_err("mqtt://h/").contains("a topic is needed"));
        assert!(sink_err("mqtt://h/a/+/b").contains("wildcard"));
        assert!(sink_err("mqtt://h/a/#").contains("wildcard"));
        assert!(sink_err("mqtt://h/$SYS/x").contains("'$'"));
        let long = format!("mqtt://h/{}", "t".repeat(257));
        assert!(sink_err(&long).contains("at most 256"));
        assert!(sink_err("mqtt://h,keepalive=65536").contains("keepalive '65536'"));
        assert!(sink_err("mqtt://h,keepalive=-1").contains("0 (none) to 65535"));
        assert!(sink_err("mqtt://h,client=").contains("client= takes"));
        assert!(sink_err("mqtt://h,user=a,user=b").contains("user= given twice"));
        assert!(sink_err("mqtt://h,password-file=").contains("needs a path"));
        assert!(sink_err("mqtt://h,qos=2").contains("unknown MQTT option 'qos=2'"));
        assert!(sink_err("mqtt://h,").contains("unknown MQTT option"));
    }

    #[cfg(not(feature = "mqtt"))]
    #[test]
    fn mqtt_is_named_as_missing_from_the_build() {
        assert!(sink_err("mqtt://h").contains("CROSS_FEATURES=stream,mqtt"));
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
