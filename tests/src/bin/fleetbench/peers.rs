//! The processes a run measures: a Mosquitto of its own and `taskwire decode`s, with
//! their CPU time read from /proc and the decoders' counts read from their metrics
//! (`decode --metrics`) while they run and their `--stats` when they stop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

pub const MOSQUITTO: &str = "/usr/sbin/mosquitto";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// User plus system CPU time of `pid` so far, in seconds.
pub fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the comm's closing parenthesis; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    f.iter().sum::<u64>() as f64 / tick
}

/// A Mosquitto on 127.0.0.1 and a free port, in memory (no persistence), no limit on
/// queued messages; killed on drop.
pub struct Broker {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Broker {
    pub fn start(tmp: &Path) -> Broker {
        let port = free_port();
        let dir = tmp.join(format!("broker-{port}"));
        std::fs::create_dir_all(&dir).expect("broker directory");
        let conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence false\n\
             max_queued_messages 0\nmax_queued_bytes 0\nset_tcp_nodelay true\n\
             log_dest file {}/mosquitto.log\nlog_type error\nlog_type warning\n",
            dir.display()
        );
        std::fs::write(dir.join("mosquitto.conf"), conf).expect("broker configuration");
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let end = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "mosquitto not listening within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker { child, port, dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `taskwire decode`, its output to /dev/null, its stderr read line by line.
pub struct Decoder {
    child: Child,
    lines: Receiver<String>,
    pub seen: Vec<String>,
    /// Its `--metrics` port.
    pub metrics: u16,
    /// Its `tcp-listen:` port, if it listens.
    pub listen: Option<u16>,
}

/// A decoder's `--stats` total line, as numbers by key.
pub type Stats = std::collections::BTreeMap<String, u64>;

impl Decoder {
    /// `taskwire decode --from FROM --metrics 127.0.0.1:0 --stats`, started and ready.
    pub fn start(taskwire: &Path, from: &str, ready: &str) -> Decoder {
        let mut child = Command::new(taskwire)
            .args([
                "decode",
                "--stats",
                "--metrics",
                "127.0.0.1:0",
                "--from",
                from,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start taskwire decode");
        let (tx, lines) = channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut d = Decoder {
            child,
            lines,
            seen: Vec::new(),
            metrics: 0,
            listen: None,
        };
        let l = d.wait_line("serving metrics on");
        d.metrics = port_in(l.trim_end_matches("/metrics"));
        if from.starts_with("tcp-listen:") {
            let l = d.wait_line("listening on");
            d.listen = Some(port_in(&l));
        }
        d.wait_line(ready);
        d
    }

    fn wait_line(&mut self, needle: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!("decode: no '{needle}' within 20 s: {:?}", self.seen),
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Records decoded so far, and when it last read a frame of any board (Unix
    /// seconds), from its metrics.
    pub fn progress(&self) -> (u64, f64) {
        let text = http_get(self.metrics, "/metrics").unwrap_or_default();
        let (mut records, mut last) = (0u64, 0f64);
        for l in text.lines() {
            let Some((series, v)) = l.rsplit_once(' ') else {
                continue;
            };
            if series.starts_with("taskwire_records_total{") {
                records += v.parse::<u64>().unwrap_or(0);
            } else if series.starts_with("taskwire_last_seen_timestamp_seconds{") {
                last = last.max(v.parse().unwrap_or(0.0));
            }
        }
        (records, last)
    }

    /// Stops it (SIGTERM) and returns its `--stats` total line.
    pub fn stop(mut self) -> Stats {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(l);
        }
        let total = self
            .seen
            .iter()
            .find(|l| l.starts_with("taskwire decode: stats total "))
            .unwrap_or_else(|| panic!("no stats total: {:?}", self.seen));
        total
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect()
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The port at the end of `line` (`...:PORT`).
fn port_in(line: &str) -> u16 {
    line.rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {line}"))
}

/// The body of `GET target` on 127.0.0.1:`port`.
fn http_get(port: u16, target: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {target} HTTP/1.0\r\n\r\n").ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    r.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}
