//! Issue 12's proof, all at once against the real kernel and binaries: agents stream to
//! two collectors, `taskwire decode --from tcp-listen:` (two agents) and `--from
//! unix-listen:` (one), each SIGKILLed mid-stream and started again on the same address
//! (its JSON appended to the same file); junk connections (HTTP probes, random bytes)
//! and slow ones (a byte a second) come and go on both throughout; a spoofer without
//! the agents' and collectors' key sends each collector a forged header under one agent's
//! board id with forged records and a forged Loss; and a fourth agent streams `--to -` into a pipe drained at serial speed and is
//! stopped with SIGTERM, its stream decoded from the captured bytes.
//!
//! For each agent, from its summary (records received, R) and what the decoders printed
//! under its board (its board id and stream instance): the record numbers printed (D) and
//! those inside its Loss frames (L) are disjoint and together exactly 0..R; within one
//! decoder run no number is printed twice; the decoder that saw the end counts no
//! uncovered gap. Across the restart a number may be printed by both runs: the killed
//! decoder printed it but died before its acknowledgement reached the agent, which
//! resends it (delivery is at least once across a collector that loses its memory);
//! those are counted and printed, not hidden. Only identities are asserted, never rates.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use taskwire_core::wire::testutil::{frame, loss_of, named_header, small_record};
use taskwire_core::wire::{LossReason, Message};

use common::procs::{Proc, agent_summary, summary_number};
use common::{SERIAL_BYTES_PER_SEC, json, num, read_paced, run_storm, taskwire, tw, unique_comm};

/// The shared secret of agents and decoders (`--key FILE`, mode 0600, in the scratch
/// directory); the spoofer, the junk and the slow connections have none. With it the
/// spoofer's connection fails the challenge and is refused and counted
/// (`refused_authentication`), so it makes no board at all, even if it knew the victim's
/// stream instance: without a key, only the instance (which a peer that merely reaches
/// the port cannot see) keeps a forger off the victim's board, as
/// tests/tests/decode_hostile.rs shows. The pipe agent has no return path and no key.
fn key_args() -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    static KEY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let path = KEY.get_or_init(|| {
        let p = scratch("key");
        std::fs::write(&p, b"the shared secret of this test, 40 bytes").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    });
    vec!["--key".to_owned(), path.display().to_string()]
}

/// The agents: board id, the collector each sends to (0: TCP, 1: Unix), queue size.
/// e2e-a and e2e-u have room for a busy machine's exits while their collector is down;
/// e2e-b's small queue overflows then, so its Loss frames are killed with the collector
/// and sent again too. The first of each collector is the one the spoofer impersonates.
const AGENTS: [(&str, usize, u32); 3] = [
    ("e2e-a", 0, 50_000),
    ("e2e-b", 0, 300),
    ("e2e-u", 1, 50_000),
];
const VICTIMS: [&str; 2] = ["e2e-a", "e2e-u"];
const PIPE_AGENT: &str = "e2e-pipe";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tw-all-at-once-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `taskwire decode --from FROM`, JSON appended to `out`; returns it and the address
/// it listens on (`tcp-listen:127.0.0.1:0` picks a port).
fn decoder(from: &str, out: &Path) -> (Proc, Addr) {
    let file = File::options().create(true).append(true).open(out).unwrap();
    let mut cmd = Command::new(taskwire());
    cmd.args(["decode", "--format", "json", "--stats", "--from", from])
        .args(key_args());
    let mut p = Proc::spawn_to(from, cmd, Stdio::from(file));
    let line = p.wait_lines("listening on", 1, Duration::from_secs(10));
    let addr = match from.strip_prefix("unix-listen:") {
        Some(path) => Addr::Unix(PathBuf::from(path)),
        None => {
            let port = line.rsplit(':').next().unwrap_or_default().trim();
            Addr::Tcp(format!("127.0.0.1:{port}"))
        }
    };
    (p, addr)
}

/// `taskwire stream` to `to` as board `id`, its queue `queue` records.
fn agent(to: &str, id: &str, queue: u32) -> Proc {
    let mut cmd = Command::new(taskwire());
    cmd.args(["stream", "--to", to, "--id", id, "--profile", "acct"])
        .args(["--rcvbuf", "8M", "--heartbeat", "1"])
        .args(["--queue", &queue.to_string()])
        .args(key_args());
    let mut p = Proc::spawn_to(id, cmd, Stdio::null());
    p.wait_lines("registered", 1, Duration::from_secs(10));
    p
}

/// Where a collector listens: a TCP address or a Unix socket path.
#[derive(Clone)]
enum Addr {
    Tcp(String),
    Unix(PathBuf),
}

impl Addr {
    /// The `--from` of the decoder listening there.
    fn listen(&self) -> String {
        match self {
            Addr::Tcp(a) => format!("tcp-listen:{a}"),
            Addr::Unix(p) => format!("unix-listen:{}", p.display()),
        }
    }

    /// The `--to` of an agent sending there.
    fn to(&self) -> String {
        match self {
            Addr::Tcp(a) => format!("tcp:{a}"),
            Addr::Unix(p) => format!("unix:{}", p.display()),
        }
    }

    fn connect(&self) -> Option<Box<dyn Write + Send>> {
        match self {
            Addr::Tcp(a) => TcpStream::connect(a)
                .ok()
                .map(|s| Box::new(s) as Box<dyn Write + Send>),
            Addr::Unix(p) => UnixStream::connect(p)
                .ok()
                .map(|s| Box::new(s) as Box<dyn Write + Send>),
        }
    }
}

/// A thread that runs until `stop`, counting what it did in `count`.
struct Background {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

impl Background {
    fn start(work: impl FnOnce(&AtomicBool, &AtomicU64) + Send + 'static) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (s, c) = (stop.clone(), count.clone());
        let thread = std::thread::spawn(move || work(&s, &c));
        Background {
            stop,
            count,
            thread,
        }
    }

    fn end(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        self.count.load(Ordering::SeqCst)
    }
}

/// Junk, a connection every 50 ms: an HTTP probe or 200 random bytes, then closed.
fn junk(addr: Addr) -> Background {
    Background::start(move |stop, count| {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        while !stop.load(Ordering::SeqCst) {
            if let Some(mut s) = addr.connect() {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let bytes: Vec<u8> = if n % 2 == 0 {
                    b"GET / HTTP/1.1\r\nHost: board\r\n\r\n".to_vec()
                } else {
                    (0..200)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            x as u8
                        })
                        .collect()
                };
                let _ = s.write_all(&bytes);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// 64 connections sending a byte a second; one the decoder closed is opened again.
fn slow(addr: Addr) -> Background {
    Background::start(move |stop, count| {
        let mut conns: Vec<Option<Box<dyn Write + Send>>> = (0..64).map(|_| None).collect();
        while !stop.load(Ordering::SeqCst) {
            for c in &mut conns {
                if c.is_none() {
                    *c = addr.connect();
                    if c.is_some() {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                }
                if let Some(s) = c {
                    if s.write_all(b"G").is_err() {
                        *c = None;
                    }
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    })
}

/// The forger's instance: a guess (the victim's is random, chosen at its start, and not
/// visible to a peer that can only reach the port).
const FORGED_INSTANCE: u64 = 0x0bad_0bad_0bad_0bad;

/// A stream under the victim's board id: records 0..50 (twice: the second time are
/// duplicates within the forger's own instance) and a Loss of 0..8000.
fn spoof(addr: &Addr, victim: &str) {
    let mut w = vec![0u8];
    let mut h = named_header(victim);
    if let Message::Header(h) = &mut h {
        h.instance = FORGED_INSTANCE;
    }
    w.extend(frame(&h));
    for _ in 0..2 {
        for seq in 0..50 {
            w.extend(frame(&small_record(seq)));
        }
    }
    w.extend(frame(&Message::Loss(loss_of(
        LossReason::SinkOutage,
        8000,
        8000,
    ))));
    let mut s = addr.connect().expect("spoofer connects");
    // Refused at the challenge, it may find the connection closed under its write.
    let _ = s.write_all(&w);
    // Held open a moment, so that the forged board is live while the victim streams.
    std::thread::sleep(Duration::from_millis(500));
}

/// What one decoder run printed, by board label: its header's (board id, instance), the
/// record numbers printed (with how often), the numbers its Loss frames cover, and the
/// per-board stats (only from a run that ended by a signal, not a kill).
#[derive(Default)]
struct Run {
    ids: BTreeMap<String, (String, String)>,
    records: BTreeMap<String, BTreeMap<u64, u64>>,
    lost: BTreeMap<String, BTreeSet<u64>>,
    stats: BTreeMap<String, serde_json::Value>,
}

impl Run {
    fn parse(stdout: &str, stderr: &[String]) -> Run {
        let mut r = Run::default();
        for line in stdout.lines() {
            let v = json(line);
            let board = v["board"].as_str().unwrap_or_default().to_owned();
            match v["type"].as_str() {
                Some("header") => {
                    let id = v["board_id"].as_str().unwrap_or_default().to_owned();
                    let inst = v["instance"].as_str().unwrap_or_default().to_owned();
                    r.ids.insert(board, (id, inst));
                }
                Some("record") => {
                    *r.records
                        .entry(board)
                        .or_default()
                        .entry(num(&v, "seq"))
                        .or_default() += 1;
                }
                Some("loss") if v["reason"].as_str() != Some("kernel_enobufs") => {
                    let (count, next) = (num(&v, "count"), num(&v, "next_seq"));
                    r.lost.entry(board).or_default().extend(next - count..next);
                }
                _ => {}
            }
        }
        for l in stderr.iter().filter(|l| l.contains("\"type\":\"stats\"")) {
            let v = json(l);
            r.stats.insert(v["board"].as_str().unwrap().to_owned(), v);
        }
        r
    }

    /// The label of the board of `id` and `instance` in this run.
    fn label(&self, id: &str, instance: &str) -> Option<&str> {
        self.ids
            .iter()
            .find(|(_, (i, n))| i == id && n == instance)
            .map(|(l, _)| l.as_str())
    }
}

/// One agent's figures over every decoder run; asserts the accounting identity.
/// `summary` is the agent's summary line: records received, reported lost, and written
/// but not acknowledged at its exit (a figure for the output: with the collector up at
/// the end they are decoded, as the identity checks, however slowly it acknowledged).
fn account(name: &str, summary: &str, instance: &str, runs: &[&Run]) {
    let (received, reported_lost, _) = agent_summary(&[summary.to_owned()]);
    let unacked = summary_number(summary, " not acknowledged)");
    let mut decoded = BTreeSet::new();
    let mut printed = 0u64;
    let mut lost = BTreeSet::new();
    let mut gaps = None;
    let mut duplicates = 0;
    let mut per_run = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let Some(label) = run.label(name, instance) else {
            per_run.push(0);
            continue;
        };
        per_run.push(run.records.get(label).map_or(0, BTreeMap::len));
        for (seq, times) in run.records.get(label).into_iter().flatten() {
            assert_eq!(
                *times, 1,
                "{name}: seq {seq} printed {times} times in run {i}"
            );
            printed += 1;
            decoded.insert(*seq);
        }
        lost.extend(run.lost.get(label).into_iter().flatten());
        if let Some(s) = run.stats.get(label) {
            gaps = Some(num(s, "gaps_uncovered"));
            duplicates += num(s, "duplicates");
        }
    }
    let again = printed - decoded.len() as u64;
    let per_run: Vec<String> = per_run.iter().map(usize::to_string).collect();
    println!(
        "board {name}: received {received}, decoded {} (per decoder run {}; printed again \
         after the restart {again}), lost {} (agent's summary: {reported_lost}; not acknowledged \
         at its exit {unacked}), gaps {}, \
         duplicates dropped {duplicates}",
        decoded.len(),
        per_run.join(" + "),
        lost.len(),
        gaps.map_or("-".to_owned(), |g| g.to_string()),
    );
    let both: Vec<&u64> = decoded.intersection(&lost).take(5).collect();
    assert!(
        both.is_empty(),
        "{name}: numbers both decoded and reported lost: {both:?}"
    );
    let accounted: BTreeSet<u64> = decoded.union(&lost).copied().collect();
    let missing: Vec<u64> = (0..received)
        .filter(|s| !accounted.contains(s))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "{name}: received but neither decoded nor reported lost: {missing:?}..."
    );
    assert_eq!(
        accounted.len() as u64,
        received,
        "{name}: numbers beyond what the agent received"
    );
    assert_eq!(gaps, Some(0), "{name}: uncovered gaps, or no stats");
    // Each agent stops with its sink up: every loss it counted is in its stream.
    assert_eq!(
        lost.len() as u64,
        reported_lost,
        "{name}: losses counted but not in the stream"
    );
}

/// The instance of the board whose header said `id`, in the first run that has one.
fn instance_of<'a>(id: &str, runs: &[&'a Run]) -> &'a str {
    runs.iter()
        .flat_map(|r| r.ids.values())
        .find(|(i, n)| i == id && n != &format!("{FORGED_INSTANCE:016x}"))
        .map(|(_, n)| n.as_str())
        .unwrap_or_else(|| panic!("no header of {id}"))
}

/// Reads `out` at serial speed until `fast`, then to its end; returns what it read.
fn slow_pipe(out: impl Read + Send + 'static, fast: Arc<AtomicBool>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut got = Vec::new();
        read_paced(out, SERIAL_BYTES_PER_SEC, &fast, |b| {
            got.extend_from_slice(b)
        });
        got
    })
}

/// A collector killed mid-stream and started again on the same address, its JSON output
/// appended to one file.
struct Collector {
    from: String,
    addr: Addr,
    out: PathBuf,
    running: Option<Proc>,
    /// The output's length when the first run was killed.
    split: u64,
    /// The first run's stderr.
    err1: Vec<String>,
}

impl Collector {
    fn start(from: &str, out: PathBuf) -> Collector {
        let _ = std::fs::remove_file(&out);
        let (running, addr) = decoder(from, &out);
        Collector {
            from: addr.listen(),
            addr,
            out,
            running: Some(running),
            split: 0,
            err1: Vec::new(),
        }
    }

    fn kill(&mut self) {
        let killed = self.running.take().expect("running");
        let (_, _, err1) = killed.stop(libc::SIGKILL);
        self.err1 = err1;
        self.split = std::fs::metadata(&self.out).map_or(0, |m| m.len());
    }

    fn restart(&mut self) {
        let (running, addr) = decoder(&self.from, &self.out);
        assert_eq!(addr.listen(), self.from, "the same address again");
        self.running = Some(running);
    }

    fn running(&mut self) -> &mut Proc {
        self.running.as_mut().expect("running")
    }

    /// Stops the second run; returns both runs' output and the second's total line.
    fn finish(self) -> (Run, Run, serde_json::Value) {
        let running = self.running.expect("running");
        let (code, _, err2) = running.stop(libc::SIGTERM);
        assert_eq!(code, Some(0), "{err2:?}");
        let all = std::fs::read(&self.out).unwrap();
        let (first, second) = all.split_at(self.split as usize);
        // A line the kill cut short was not acknowledged: the agent sends it again.
        let first = String::from_utf8_lossy(first);
        let first = &first[..first.rfind('\n').map_or(0, |i| i + 1)];
        let total = err2
            .iter()
            .find(|l| l.contains("\"type\":\"stats_total\""))
            .map(|l| json(l))
            .expect("a total line");
        (
            Run::parse(first, &self.err1),
            Run::parse(&String::from_utf8_lossy(second), &err2),
            total,
        )
    }
}

#[test]
fn every_record_is_decoded_once_or_reported_lost_whatever_the_peers_do() {
    require_kernel!();
    let comms = [
        unique_comm("twalla"),
        unique_comm("twallb"),
        unique_comm("twallc"),
    ];
    let mut collectors = [
        Collector::start("tcp-listen:127.0.0.1:0", scratch("tcp.json")),
        Collector::start(
            &format!("unix-listen:{}", scratch("c.sock").display()),
            scratch("unix.json"),
        ),
    ];
    let mut agents: Vec<Proc> = AGENTS
        .iter()
        .map(|(id, c, q)| agent(&collectors[*c].addr.to(), id, *q))
        .collect();
    for (id, c, _) in AGENTS {
        let needle = format!("connected (board {id})");
        collectors[c]
            .running()
            .wait_lines(&needle, 1, Duration::from_secs(10));
    }
    // The pipe agent: a default pipe drained at serial speed.
    let mut pipe_agent = {
        let mut cmd = Command::new(taskwire());
        cmd.args([
            "stream",
            "--to",
            "-",
            "--id",
            PIPE_AGENT,
            "--profile",
            "acct",
        ])
        .args(["--rcvbuf", "8M", "--heartbeat", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        cmd
    }
    .spawn()
    .expect("spawn the pipe agent");
    let fast = Arc::new(AtomicBool::new(false));
    let pipe_reader = slow_pipe(pipe_agent.stdout.take().unwrap(), fast.clone());
    let mut pipe_proc = Proc::adopt(PIPE_AGENT, pipe_agent);
    pipe_proc.wait_lines("registered", 1, Duration::from_secs(10));

    let hostile: Vec<Background> = collectors
        .iter()
        .flat_map(|c| [junk(c.addr.clone()), slow(c.addr.clone())])
        .collect();
    run_storm(&comms[0], 2000);
    for (c, victim) in collectors.iter().zip(VICTIMS) {
        spoof(&c.addr, victim);
    }

    // The collectors are killed while a storm's records flow, and started again.
    let storm2 = {
        let comm = comms[1].clone();
        std::thread::spawn(move || run_storm(&comm, 3000))
    };
    std::thread::sleep(Duration::from_millis(300));
    for c in &mut collectors {
        c.kill();
    }
    std::thread::sleep(Duration::from_millis(500));
    for c in &mut collectors {
        c.restart();
    }
    let restarted = Instant::now();
    storm2.join().unwrap();
    for (id, c, _) in AGENTS {
        let needle = format!("connected (board {id})");
        collectors[c]
            .running()
            .wait_lines(&needle, 1, Duration::from_secs(20));
    }
    for (c, victim) in collectors.iter().zip(VICTIMS) {
        spoof(&c.addr, victim);
    }
    run_storm(&comms[2], 2000);
    // The slow connections of the second runs outlive the 5 s given for a header.
    std::thread::sleep(Duration::from_secs(7).saturating_sub(restarted.elapsed()));

    // The pipe agent stops with its line still busy; the others once it is done.
    pipe_proc.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_secs(2));
    let mut summaries = BTreeMap::new();
    for a in agents.drain(..) {
        let name = a.name().to_owned();
        let (code, _, lines) = a.stop(libc::SIGTERM);
        assert_eq!(code, Some(0), "{name}: {lines:?}");
        summaries.insert(name, agent_summary(&lines));
    }
    for (id, c, _) in AGENTS {
        let needle = format!("closed (board {id})");
        collectors[c]
            .running()
            .wait_lines(&needle, 1, Duration::from_secs(60));
    }
    let hostile: Vec<u64> = hostile.into_iter().map(Background::end).collect();
    let (code, _, pipe_lines) = pipe_proc.stop(libc::SIGTERM);
    fast.store(true, Ordering::SeqCst);
    let piped = pipe_reader.join().unwrap();
    assert_eq!(code, Some(0), "{pipe_lines:?}");

    let forged = format!("{FORGED_INSTANCE:016x}");
    for (i, (c, victim)) in collectors.into_iter().zip(VICTIMS).enumerate() {
        let from = c.from.clone();
        let (run1, run2, total) = c.finish();
        println!(
            "collector {from}: {} junk and {} slow connections opened; after the restart \
             boards {}, refused_no_header {}, refused_connections {}, \
             refused_authentication {}",
            hostile[2 * i],
            hostile[2 * i + 1],
            num(&total, "boards"),
            num(&total, "refused_no_header"),
            num(&total, "refused_connections"),
            num(&total, "refused_authentication"),
        );
        let mut boards = 0;
        for (id, _, _) in AGENTS.iter().filter(|(_, n, _)| *n == i) {
            let instance = instance_of(id, &[&run1, &run2]);
            account(id, &summaries[*id].2, instance, &[&run1, &run2]);
            boards += 1;
        }
        // The spoofer: refused at the challenge in both runs, so no board of its own
        // and nothing on the victim's (the identities above show none of the victim's
        // numbers went); the second run ended by a signal and counted its refusal.
        for (n, run) in [&run1, &run2].iter().enumerate() {
            assert!(
                run.label(victim, &forged).is_none(),
                "{from} run {n}: the forger without the key made a board"
            );
        }
        assert!(
            num(&total, "refused_authentication") >= 1,
            "the spoofer is refused: {total}"
        );
        // Junk made no board either: the agents' only.
        assert_eq!(num(&total, "boards"), boards, "{total}");
        assert!(
            num(&total, "refused_no_header") + num(&total, "refused_authentication") >= 64,
            "the slow and junk connections are closed: {total}"
        );
    }

    // The pipe agent's stream, decoded from the captured bytes.
    let captured = scratch("pipe.twr");
    std::fs::write(&captured, &piped).unwrap();
    let dec = tw(&[
        "decode",
        &format!("--from=file:{}", captured.display()),
        "--format=json",
        "--stats",
    ]);
    assert_eq!(dec.code(), 0, "{dec:?}");
    let err_lines: Vec<String> = dec.stderr.lines().map(str::to_owned).collect();
    let run = Run::parse(&dec.stdout, &err_lines);
    let (_, _, summary) = agent_summary(&pipe_lines);
    account(
        PIPE_AGENT,
        &summary,
        instance_of(PIPE_AGENT, &[&run]),
        &[&run],
    );
    let _ = std::fs::remove_dir_all(captured.parent().unwrap());
}
