//! `--key FILE` (issue 12, authentication; core/WIRE.md section 7.5): a collector with a
//! key decodes every record of a board with the same key, refuses and counts a spoofer
//! that sends a forged stream under that board's id, and a board with a wrong key, no
//! key, or facing a collector without one, says what is wrong and sends no record.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::procs::Proc;
use common::{json, num, output, storm, taskwire, unique_comm};
use taskwire_core::wire::testutil::stream_bytes;
use taskwire_core::wire::{Answer, AnswerReader, RefuseReason};

/// A key file of `bytes` with `mode`, removed at the end of the test.
struct KeyFile(PathBuf);

impl KeyFile {
    fn new(name: &str, bytes: &[u8], mode: u32) -> KeyFile {
        let p = std::env::temp_dir().join(format!("twkey-e2e-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        KeyFile(p)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `taskwire decode --from SOURCE` (JSON out, stats on stderr), with `key`; once it
/// listens, the line that says where.
fn decoder(source: &str, key: Option<&KeyFile>) -> (Proc, String) {
    let mut cmd = Command::new(taskwire());
    cmd.args(["decode", "--format", "json", "--stats", "--from", source]);
    if let Some(k) = key {
        cmd.args(["--key", k.path()]);
    }
    let mut p = Proc::spawn("decoder", cmd);
    let line = p.wait_lines("listening on", 1, Duration::from_secs(10));
    (p, line)
}

fn tcp_port(listening: &str) -> u16 {
    listening
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {listening}"))
}

fn agent(to: &str, id: &str, key: Option<&KeyFile>) -> Proc {
    let mut cmd = Command::new(taskwire());
    cmd.args(["stream", "--to", to, "--id", id, "--profile", "acct"])
        .args(["--rcvbuf", "8M", "--queue", "50000", "--heartbeat", "1"]);
    if let Some(k) = key {
        cmd.args(["--key", k.path()]);
    }
    let mut p = Proc::spawn(id, cmd);
    p.wait_lines("registered", 1, Duration::from_secs(10));
    p
}

/// The decoder's stats total.
fn total(stderr: &[String]) -> serde_json::Value {
    stderr
        .iter()
        .find(|l| l.contains("\"type\":\"stats_total\""))
        .map(|l| json(l))
        .unwrap_or_else(|| panic!("no stats total: {stderr:?}"))
}

/// A spoofer without the key: connects, reads the challenge, sends a forged stream
/// under `board` (a header, records, and a Loss that would erase the board's next 8000
/// records), and returns every answer until the decoder closes.
fn spoof(port: u16, board: &str) -> Vec<Answer> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut bytes = stream_bytes(board, 0..20);
    let loss = taskwire_core::wire::Message::Loss(taskwire_core::wire::Loss {
        count: 8000,
        reason: taskwire_core::wire::LossReason::QueueOverflow,
        next_seq: 8020,
    });
    let mut f = [0u8; taskwire_core::wire::MAX_FRAME_LEN];
    let n = taskwire_core::wire::encode_frame(&loss, &mut f).unwrap();
    bytes.extend(&f[..n]);
    // The decoder may close before all of it is taken: that is the point.
    let _ = s.write_all(&bytes);
    let mut r = AnswerReader::new();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend(
            buf[..n]
                .iter()
                .filter_map(|&b| r.push(b))
                .filter_map(Result::ok),
        );
    }
    got
}

/// A board with the right key: every record it received is decoded. A spoofer that
/// sends a forged stream under its id is challenged, refused (`authentication`),
/// counted, and decodes nothing, while the real board goes on.
#[test]
fn a_right_key_decodes_every_record_and_a_spoofer_decodes_nothing() {
    require_kernel!();
    let key = KeyFile::new("right", b"0123456789abcdef0123456789abcdef", 0o600);
    let comm = unique_comm("twkey");
    let (mut d, listening) = decoder("tcp-listen:127.0.0.1:0", Some(&key));
    assert!(
        !d.lines.iter().any(|l| l.contains("warning")),
        "{:?}",
        d.lines
    );
    let port = tcp_port(&listening);
    let to = format!("tcp:127.0.0.1:{port}");
    let a = agent(&to, "keyboard", Some(&key));
    d.wait_lines("connected (board keyboard", 1, Duration::from_secs(10));
    let answers = spoof(port, "keyboard");
    assert!(
        matches!(answers.first(), Some(Answer::Challenge { .. })),
        "{answers:?}"
    );
    assert_eq!(
        answers.last(),
        Some(&Answer::Refuse {
            reason: RefuseReason::Authentication,
            retry_ms: 0
        }),
        "{answers:?}"
    );
    d.wait_lines("did not prove it knows the key", 1, Duration::from_secs(10));
    let st = Command::new(storm())
        .args(["--procs", "300", "--comm", &comm])
        .output()
        .expect("storm");
    assert!(st.status.success());
    std::thread::sleep(Duration::from_millis(1500));
    let (code, _, alines) = a.stop(libc::SIGINT);
    assert_eq!(code, Some(0), "{alines:?}");
    let summary = alines
        .iter()
        .find(|l| l.contains("stopped by"))
        .unwrap_or_else(|| panic!("no summary: {alines:?}"))
        .clone();
    d.wait_lines("closed (board keyboard)", 1, Duration::from_secs(30));
    let (_, out, dlines) = d.stop(libc::SIGTERM);
    let (mut storm_seqs, mut all) = (BTreeSet::new(), BTreeSet::new());
    let mut lost = 0;
    for line in out.lines() {
        let v = json(line);
        assert_eq!(v["board"].as_str(), Some("keyboard"), "{line}");
        match v["type"].as_str() {
            Some("record") => {
                all.insert(num(&v, "seq"));
                if v["comm"].as_str() == Some(&comm) {
                    storm_seqs.insert(num(&v, "seq"));
                }
            }
            Some("loss") => lost += num(&v, "count"),
            _ => {}
        }
    }
    let t = total(&dlines);
    println!(
        "key: {} storm records decoded, {lost} reported lost, refused_authentication {}; \
         agent: {summary}",
        storm_seqs.len(),
        t["refused_authentication"]
    );
    let received: u64 = summary
        .split("received ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no received count in {summary}"));
    assert_eq!(lost, 0, "nothing lost: {summary}");
    assert_eq!(
        all.len() as u64,
        received,
        "every record decoded: {summary}"
    );
    assert_eq!(
        storm_seqs.len(),
        300,
        "every storm record decoded: {summary}"
    );
    assert_eq!(num(&t, "refused_authentication"), 1, "{dlines:?}");
    assert_eq!(
        num(&t, "boards"),
        1,
        "the spoofer made no board: {dlines:?}"
    );
    // The forged seq 0..20 and Loss(8000) went nowhere: no loss, no duplicate.
    assert_eq!(num(&t, "duplicates"), 0, "{dlines:?}");
}

/// A board with another key, or with none, is refused and says clearly why (over a Unix
/// socket, the other two-way link); the decoder counts both and decodes nothing.
#[test]
fn a_wrong_or_missing_key_on_the_agent_is_said_clearly() {
    require_kernel!();
    let key = KeyFile::new("collector", b"the collector's key: 32 bytes...", 0o600);
    let other = KeyFile::new("other", b"a different key, also 32 bytes..", 0o600);
    let sock = std::env::temp_dir().join(format!("twkey-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let source = format!("unix-listen:{}", sock.display());
    let (d, _) = decoder(&source, Some(&key));
    let to = format!("unix:{}", sock.display());
    let mut wrong = agent(&to, "wrongkey", Some(&other));
    let l = wrong.wait_lines("refused by the collector", 1, Duration::from_secs(10));
    assert!(l.contains("--key FILE is not the collector's key"), "{l}");
    let mut none = agent(&to, "nokey", None);
    let l = none.wait_lines("requires a key", 1, Duration::from_secs(10));
    assert!(l.contains("give --key FILE"), "{l}");
    let (_, _, wlines) = wrong.stop(libc::SIGINT);
    let (_, _, nlines) = none.stop(libc::SIGINT);
    let (_, out, dlines) = d.stop(libc::SIGTERM);
    assert!(out.trim().is_empty(), "nothing decoded: {out}");
    let t = total(&dlines);
    assert!(num(&t, "refused_authentication") >= 2, "{dlines:?}");
    assert_eq!(num(&t, "boards"), 0, "{dlines:?}");
    // Said once per reason, not once per attempt.
    for lines in [&wlines, &nlines] {
        let said = lines.iter().filter(|l| l.contains("refused")).count();
        assert_eq!(said, 1, "{lines:?}");
    }
    let _ = std::fs::remove_file(&sock);
}

/// A board with a key facing a collector without one sends no record: it waits for a
/// challenge that never comes and says so.
#[test]
fn a_keyed_agent_sends_nothing_to_a_collector_without_a_key() {
    require_kernel!();
    let key = KeyFile::new("lonely", b"a key the collector does not have", 0o600);
    let (d, listening) = decoder("tcp-listen:127.0.0.1:0", None);
    let to = format!("tcp:127.0.0.1:{}", tcp_port(&listening));
    let mut a = agent(&to, "keyedboard", Some(&key));
    let l = a.wait_lines("did not ask for the key", 1, Duration::from_secs(10));
    assert!(l.contains("nothing is sent unauthenticated"), "{l}");
    let (_, _, _) = a.stop(libc::SIGINT);
    let (_, out, dlines) = d.stop(libc::SIGTERM);
    assert!(out.trim().is_empty(), "nothing decoded: {out}");
    assert_eq!(num(&total(&dlines), "boards"), 0, "{dlines:?}");
}

/// Key files that are missing, empty, too short or open to others stop both commands
/// at start, with what to do, exit 2. No kernel needed: the key is read first.
#[test]
fn bad_key_files_stop_both_commands_with_what_to_do() {
    let dir = std::env::temp_dir();
    let missing = dir.join(format!("twkey-e2e-{}-missing", std::process::id()));
    let empty = KeyFile::new("empty", b"", 0o600);
    let open = KeyFile::new("open", &[1u8; 32], 0o644);
    let short = KeyFile::new("short", b"hunter2\n", 0o600);
    let cases: [(&Path, &str); 4] = [
        (&missing, "no such file"),
        (&empty.0, "empty"),
        (&open.0, "chmod 600"),
        (&short.0, "shorter than 16 bytes"),
    ];
    for (path, says) in cases {
        for cmd in [
            vec!["stream", "--to", "tcp:127.0.0.1:9"],
            vec!["decode", "--from", "tcp-listen:127.0.0.1:0"],
        ] {
            let mut c = Command::new(taskwire());
            c.args(&cmd).arg("--key").arg(path);
            let out = output(c, Duration::from_secs(10));
            assert_eq!(out.code(), 2, "{cmd:?} {path:?}: {out:?}");
            assert!(out.stderr.contains(says), "{cmd:?}: {}", out.stderr);
            assert!(out.stderr.contains("--key"), "{}", out.stderr);
            assert!(!out.stderr.contains("listening"), "{}", out.stderr);
        }
    }
}
