//! A program in a real terminal: a detached tmux session of a given size on a tmux server
//! of its own, whose screen a test reads (`capture-pane`) and types into (`send-keys`).
//!
//! The program runs under a shell that records the terminal's settings (`stty -g`) before
//! and after it, and its exit status, so a test can check that it left the terminal as it
//! found it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A tmux session running one program.
pub struct Pane {
    server: String,
    dir: PathBuf,
}

/// What the shell recorded once the program ended.
#[derive(Debug)]
pub struct Finished {
    /// The program's exit status as the shell saw it (128 + N for signal N).
    pub status: i32,
    /// `stty -g` before the program started and after it ended.
    pub before: String,
    pub after: String,
    /// `stty -a` after it ended.
    pub settings: String,
}

impl Finished {
    /// Whether `stty -a` lists `flag` as set (`echo`, not `-echo`).
    pub fn has_flag(&self, flag: &str) -> bool {
        self.settings
            .split(|c: char| c.is_whitespace() || c == ';')
            .any(|t| t == flag)
    }
}

/// Quotes `s` for sh.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Pane {
    /// Starts `bin args` in a `cols` x `rows` session with `TERM` set to `term` (unset for
    /// None). Returns None, after saying why, when tmux is not installed.
    pub fn start(
        bin: &Path,
        args: &[&str],
        term: Option<&str>,
        cols: u16,
        rows: u16,
    ) -> Option<Pane> {
        if Command::new("tmux").arg("-V").output().is_err() {
            super::skip(
                "tmux is not installed (apt-get install tmux): no real terminal to test in",
            );
            return None;
        }
        static N: AtomicU32 = AtomicU32::new(0);
        let server = format!(
            "taskwire-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(&server);
        std::fs::create_dir_all(&dir).unwrap();
        let d = |name: &str| sq(dir.join(name).to_str().unwrap());
        let env = match term {
            Some(t) => format!("env TERM={}", sq(t)),
            None => "env -u TERM".to_owned(),
        };
        let mut program = format!("{env} {}", sq(bin.to_str().unwrap()));
        for a in args {
            program += " ";
            program += &sq(a);
        }
        // The inner shell writes its pid, then becomes the program: the test can signal it.
        let inner = format!("echo $$ > {}; exec {program}", d("pid"));
        let script = format!(
            "stty -g > {before}; sh -c {inner}; rc=$?; stty -g > {after}; stty -a > {all}; \
             echo $rc > {status}.tmp; mv {status}.tmp {status}; exec sleep 600",
            before = d("before"),
            inner = sq(&inner),
            after = d("after"),
            all = d("stty"),
            status = d("status"),
        );
        let pane = Pane { server, dir };
        let (c, r) = (cols.to_string(), rows.to_string());
        pane.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &c,
            "-y",
            &r,
            &script,
        ]);
        Some(pane)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.server)
            .args(args)
            .output()
            .expect("tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("tmux output is UTF-8")
    }

    /// The screen's lines as shown, trailing blank lines dropped. (Not joined with `-J`:
    /// after a resize tmux keeps its reflowed lines marked as wrapped even once they are
    /// overwritten, and would join lines that were written separately.)
    pub fn screen(&self) -> Vec<String> {
        let text = self.tmux(&["capture-pane", "-p", "-t", "t"]);
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        lines
    }

    /// Waits up to 10 s for a screen that satisfies `ok`, failing the test with the last
    /// screen and `what` otherwise.
    pub fn wait_screen(&self, what: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < end,
                "no {what} within 10 s; screen:\n{}",
                s.join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `text` literally.
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
    }

    /// Presses a key by its tmux name (`C-c`, `Up`).
    pub fn press(&self, key: &str) {
        self.tmux(&["send-keys", "-t", "t", key]);
    }

    /// Resizes the terminal (the program gets SIGWINCH).
    pub fn resize(&self, cols: u16, rows: u16) {
        let (c, r) = (cols.to_string(), rows.to_string());
        self.tmux(&["resize-window", "-t", "t", "-x", &c, "-y", &r]);
    }

    /// The program's process id.
    pub fn pid(&self) -> i32 {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let s = std::fs::read_to_string(self.dir.join("pid")).unwrap_or_default();
            if let Ok(pid) = s.trim().parse() {
                return pid;
            }
            assert!(Instant::now() < end, "the program never started");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to 10 s for the program to end; what the shell recorded then.
    pub fn finish(&self) -> Finished {
        let end = Instant::now() + Duration::from_secs(10);
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap();
        while !self.dir.join("status").exists() {
            assert!(
                Instant::now() < end,
                "the program did not end within 10 s; screen:\n{}",
                self.screen().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Finished {
            status: read("status").trim().parse().expect("status"),
            before: read("before"),
            after: read("after"),
            settings: read("stty"),
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.server)
            .arg("kill-server")
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
