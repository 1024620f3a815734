//! A running taskwire (or other) child: its stderr read line by line, its stdout
//! collected whole, killed on drop; and the figures of `taskwire stream`'s summary.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use super::{taskwire, wait_deadline};

/// A child whose stderr is read line by line and whose stdout is collected whole.
pub struct Proc {
    name: String,
    pub child: Child,
    stderr: Receiver<String>,
    pub lines: Vec<String>,
    stdout: Receiver<String>,
}

impl Proc {
    pub fn spawn(name: &str, cmd: Command) -> Proc {
        Proc::spawn_to(name, cmd, Stdio::piped())
    }

    /// [`Proc::spawn`] with stdout going to `stdout` (a file, say) instead of collected.
    pub fn spawn_to(name: &str, mut cmd: Command, stdout: Stdio) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Proc::adopt(name, child)
    }

    /// A child spawned with its stderr piped; its stdout is collected if piped and not
    /// taken.
    pub fn adopt(name: &str, mut child: Child) -> Proc {
        let (tx, stderr) = channel();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let (otx, stdout) = channel();
        let out = child.stdout.take();
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut out) = out {
                let _ = out.read_to_string(&mut s);
            }
            let _ = otx.send(s);
        });
        Proc {
            name: name.to_owned(),
            child,
            stderr,
            lines: Vec::new(),
            stdout,
        }
    }

    /// The name it was given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits until `count` stderr lines (in all) contain `needle`; returns the last.
    pub fn wait_lines(&mut self, needle: &str, count: usize, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let seen: Vec<&String> = self.lines.iter().filter(|l| l.contains(needle)).collect();
            if seen.len() >= count {
                return seen[count - 1].clone();
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(l) => self.lines.push(l),
                Err(_) => panic!(
                    "{}: {count} x '{needle}' not on stderr within {limit:?}: {:?}",
                    self.name, self.lines
                ),
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Takes the stderr lines that arrived so far.
    pub fn pump(&mut self) {
        while let Ok(l) = self.stderr.try_recv() {
            self.lines.push(l);
        }
    }

    /// Sends `sig` and waits for the exit; returns (exit status, stdout, stderr lines).
    pub fn stop(mut self, sig: i32) -> (Option<i32>, String, Vec<String>) {
        self.signal(sig);
        let status = wait_deadline(&mut self.child, Duration::from_secs(20));
        // Killed or not, what it wrote to the pipe is there to read.
        let out = self
            .stdout
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default();
        while let Ok(l) = self.stderr.recv_timeout(Duration::from_millis(500)) {
            self.lines.push(l);
        }
        (
            status.and_then(|s| s.code()),
            out,
            std::mem::take(&mut self.lines),
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // On a failed assertion: no child outlives the test.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `taskwire decode` listening on TCP `port` of 127.0.0.1 (0: any), JSON out, stats on
/// stderr; and the port it listens on.
pub fn tcp_decoder(port: u16) -> (Proc, u16) {
    let mut cmd = Command::new(taskwire());
    cmd.args(["decode", "--format", "json", "--stats", "--from"])
        .arg(format!("tcp-listen:127.0.0.1:{port}"));
    let mut p = Proc::spawn("decoder", cmd);
    let line = p.wait_lines("listening on", 1, Duration::from_secs(10));
    let port = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {line}"));
    (p, port)
}

/// `taskwire stream` to a decoder on TCP `port` of 127.0.0.1 as board `id`, registered:
/// the `acct` profile, a heartbeat a second, and room in its queue for every exit on a
/// busy machine while no collector takes them (what the tests check is delivery, not
/// overflow, which is reported and counted if it happens).
pub fn tcp_agent(port: u16, id: &str) -> Proc {
    let mut cmd = Command::new(taskwire());
    cmd.args(["stream", "--to", &format!("tcp:127.0.0.1:{port}")])
        .args(["--id", id, "--rcvbuf", "8M", "--profile", "acct"])
        .args(["--queue", "50000"])
        .args(["--heartbeat", "1"]);
    let mut p = Proc::spawn(id, cmd);
    p.wait_lines("registered", 1, Duration::from_secs(10));
    p
}

/// The number before `phrase` in the agent's summary line ("(12 not acknowledged)" too).
pub fn summary_number(line: &str, phrase: &str) -> u64 {
    let i = line
        .find(phrase)
        .unwrap_or_else(|| panic!("no '{phrase}' in {line}"));
    line[..i]
        .split_whitespace()
        .last()
        .and_then(|w| w.trim_start_matches('(').parse().ok())
        .unwrap_or_else(|| panic!("no number before '{phrase}' in {line}"))
}

/// The agent's summary: (records received, records it reported lost, the line).
pub fn agent_summary(lines: &[String]) -> (u64, u64, String) {
    let l = lines
        .iter()
        .find(|l| l.contains("stopped by"))
        .unwrap_or_else(|| panic!("no summary: {lines:?}"));
    let received = l
        .split("received ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no received count in {l}"));
    let lost = summary_number(l, " to queue overflow") + summary_number(l, " to sink outages");
    (received, lost, l.clone())
}
