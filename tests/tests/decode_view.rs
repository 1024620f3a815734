//! `taskwire decode --view top`: a board's samples drawn as `taskwire top`'s screen on the
//! host. Streams are built with core's `wire::testutil` (no kernel needed): in a pipe one
//! batch screen per completed interval; in a real terminal (tmux, 80x24) the screen
//! redrawn as intervals arrive through a FIFO, a sort key re-sorting the same rows, Tab
//! switching boards, q quitting with status 0 and the terminal as it was. Also the
//! printing side: `--only samples` in JSON and CSV, rows carrying `seq` and `sample`.

// No kernel needed here: common's require_kernel! goes unused.
#[allow(unused_macros)]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::tmux::{Finished, Pane};
use common::{json, tw};
use taskwire_core::taskstats::{DelayCounter, Deltas};
use taskwire_core::wire::testutil::{frame, small_interval, small_record};
use taskwire_core::wire::{DELIMITER, Message, Sample, StreamHeader};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tw-view-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Numbers frames as an agent does, one board's stream.
struct Stream {
    bytes: Vec<u8>,
    seq: u64,
}

impl Stream {
    /// The leading 0x00 and a header naming `board` and its kernel.
    fn new(board: &str, kernel: &str) -> Stream {
        let mut h = StreamHeader::new();
        h.board_id = board.try_into().unwrap();
        h.kernel_release = kernel.try_into().unwrap();
        let mut bytes = vec![DELIMITER];
        bytes.extend(frame(&Message::Header(h)));
        Stream { bytes, seq: 0 }
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq - 1
    }

    /// An exit record.
    fn record(&mut self) -> &mut Stream {
        let seq = self.next();
        self.bytes.extend(frame(&small_record(seq)));
        self
    }

    /// Interval `n`'s frame announcing `rows` rows; `sent` false: lost in transit (its
    /// number is taken all the same).
    fn interval(&mut self, n: u64, rows: u32, sent: bool) -> &mut Stream {
        let seq = self.next();
        if sent {
            self.bytes.extend(frame(&small_interval(seq, n, rows)));
        }
        self
    }

    /// A row of interval `n`: task `tgid` over 2 s using `cpu_ms` of CPU and waiting
    /// `io_ms` on block IO.
    fn row(&mut self, n: u64, tgid: u32, comm: &str, cpu_ms: u64, io_ms: u64) -> &mut Stream {
        let mut d = Deltas::empty(2_000_000_000);
        d.cpu_us = Some(cpu_ms * 1000);
        d.delays[0] = Some(DelayCounter {
            count: 0,
            total_ns: 0,
        });
        d.delays[1] = Some(DelayCounter {
            count: 2,
            total_ns: io_ms * 1_000_000,
        });
        let mut s = Sample::new(n, tgid, Some(comm.as_bytes()), &d);
        s.seq = self.next();
        self.bytes.extend(frame(&Message::Sample(s)));
        self
    }

    /// Interval `n` of three tasks: `db` busiest on CPU, `logger` waiting most on IO.
    fn three(&mut self, n: u64, sent: bool) -> &mut Stream {
        self.interval(n, 3, sent)
            .row(n, 300, "logger", 20, 1500)
            .record()
            .row(n, 100, "db", 900, 100)
            .row(n, 200, "web", 400, 600)
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

/// The (tgid, comm) of a screen's rows, top to bottom.
fn rows(screen: &[&str]) -> Vec<(u32, String)> {
    screen
        .iter()
        .skip_while(|l| !l.trim_start().starts_with("TGID"))
        .skip(1)
        .map_while(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            Some((w.first()?.parse().ok()?, w.last()?.to_string()))
        })
        .collect()
}

fn ids(screen: &[&str]) -> Vec<u32> {
    rows(screen).into_iter().map(|r| r.0).collect()
}

#[test]
fn batch_prints_a_screen_per_completed_interval() {
    let mut s = Stream::new("rig1", "6.1.0-test");
    // Interval 0 whole; interval 1's frame lost (its rows show, pressure unknown);
    // interval 2 announced 3 rows and got 2 before the input ended.
    s.three(0, true).three(1, false).interval(2, 3, true);
    s.row(2, 100, "db", 10, 0)
        .row(2, 400, "new", 50, 0)
        .record();
    let path = tmp("batch.twr");
    std::fs::write(&path, s.take()).unwrap();
    let from = format!("file:{}", path.display());

    let out = tw(&["decode", "--from", &from, "--view", "top", "--stats"]);
    assert_eq!(out.code(), 0, "{out:?}");
    let screens: Vec<Vec<&str>> = out
        .stdout
        .split("\n\n")
        .map(|s| s.lines().collect())
        .collect();
    assert_eq!(screens.len(), 3, "{}", out.stdout);
    let first = &screens[0];
    assert!(
        first[0].starts_with("rig1 6.1.0-test  every 2.0 s  3 of 100 thread groups  sort cpu"),
        "{}",
        out.stdout
    );
    assert!(first[0].ends_with("delayacct on"), "{}", first[0]);
    assert!(first[1].contains("io 2.71/1.26"), "{}", first[1]);
    assert_eq!(
        rows(first),
        [
            (100, "db".into()),
            (200, "web".into()),
            (300, "logger".into())
        ]
    );
    let second = &screens[1];
    assert!(
        second[0].starts_with("rig1 6.1.0-test (interval frame lost)  every 2.0 s  3 of 3"),
        "{}",
        second[0]
    );
    assert!(second[1].contains("cpu -/-"), "{}", second[1]);
    assert_eq!(ids(second), [100, 200, 300]);
    let third = &screens[2];
    assert!(third[0].contains(" (1 rows lost)  every"), "{}", third[0]);
    assert_eq!(ids(third), [400, 100]);
    // Records were counted, not printed; the lost Interval frame is a gap.
    assert!(!out.stdout.contains("seq="), "{}", out.stdout);
    assert!(
        out.stderr.contains("3 records, 8 samples in 2 intervals"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("stopped by end of input"),
        "{}",
        out.stderr
    );

    // Another first sort.
    let out = tw(&["decode", "--from", &from, "--view", "top", "--sort", "io"]);
    let first: Vec<&str> = out.stdout.split("\n\n").next().unwrap().lines().collect();
    assert!(first[0].contains("sort blkio"), "{}", first[0]);
    assert_eq!(ids(&first), [300, 200, 100]);
    // Only the board asked for.
    let out = tw(&["decode", "--from", &from, "--view=top", "--board", "other"]);
    assert_eq!((out.code(), out.stdout.as_str()), (0, ""), "{out:?}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn only_samples_gives_one_table_and_rows_carry_their_numbers() {
    let mut s = Stream::new("rig2", "6.1.0-test");
    s.record().three(0, true).record().three(1, false).record();
    let path = tmp("only.twr");
    std::fs::write(&path, s.take()).unwrap();
    let from = format!("file:{}", path.display());

    let out = tw(&["decode", "--from", &from, "--format=json", "--only=samples"]);
    assert_eq!(out.code(), 0, "{out:?}");
    let objs: Vec<serde_json::Value> = out.stdout.lines().map(json).collect();
    let of = |ty: &str| objs.iter().filter(|o| o["type"] == ty).count();
    assert_eq!((of("record"), of("interval"), of("sample")), (0, 1, 6));
    // Every row says its interval, the one whose frame was lost too.
    let samples: Vec<(u64, u64)> = objs
        .iter()
        .filter(|o| o["type"] == "sample")
        .map(|o| (o["seq"].as_u64().unwrap(), o["sample"].as_u64().unwrap()))
        .collect();
    assert_eq!(samples, [(2, 0), (4, 0), (5, 0), (8, 1), (10, 1), (11, 1)]);

    let out = tw(&["decode", "--from", &from, "--format=csv", "--only=samples"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "one header row, six rows: {}", out.stdout);
    assert!(lines[0].starts_with("board,seq,sample,tgid,comm,interval_ms,cpu_pct,"));
    assert!(
        lines[1].starts_with("rig2,2,0,300,logger,2000,"),
        "{}",
        lines[1]
    );

    let out = tw(&["decode", "--from", &from, "--format=csv", "--only=records"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1 + 5, "{}", out.stdout);
    assert!(
        lines[0].starts_with("board,seq,kind,id,comm"),
        "{}",
        lines[0]
    );
    let _ = std::fs::remove_file(&path);
}

// --- in a real terminal ---

fn restored(f: &Finished) {
    assert_eq!(f.status, 0, "{f:?}");
    assert_eq!(f.before, f.after, "terminal settings changed");
    for flag in ["echo", "icanon", "isig", "opost"] {
        assert!(f.has_flag(flag), "{flag} not set after: {}", f.settings);
    }
}

fn view(from: &str, term: Option<&str>) -> Option<Pane> {
    let bin = common::taskwire();
    Pane::start(
        &bin,
        &["decode", "--from", from, "--view", "top"],
        term,
        80,
        24,
    )
}

fn lines(screen: &[String]) -> Vec<&str> {
    screen.iter().map(String::as_str).collect()
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) of a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

#[test]
fn tmux_screen_follows_the_stream_keys_resort_tab_switches_q_restores() {
    let fifo = tmp("live.fifo");
    let _ = std::fs::remove_file(&fifo);
    mkfifo(&fifo);
    let Some(pane) = view(&format!("file:{}", fifo.display()), Some("vt100")) else {
        let _ = std::fs::remove_file(&fifo);
        return;
    };
    // The decoder opens the FIFO for reading; this open waits for it.
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let waiting = pane.wait_screen("waiting screen", |s| {
        s.first()
            .is_some_and(|l| l.starts_with("taskwire decode: waiting for a whole interval"))
    });
    assert!(waiting.len() <= 24);

    let mut a = Stream::new("rigA", "6.1.0-a");
    w.write_all(&a.three(0, true).take()).unwrap();
    let s = pane.wait_screen("rigA's first interval", |s| {
        s.first()
            .is_some_and(|l| l.starts_with("rigA 6.1.0-a  every 2.0 s"))
    });
    assert!(s.iter().all(|l| l.chars().count() <= 80));
    assert_eq!(ids(&lines(&s)), [100, 200, 300]);

    // A sort key re-sorts the same rows at once.
    pane.type_text("i");
    let s = pane.wait_screen("blkio sort", |s| {
        s.first().is_some_and(|l| l.contains("sort blkio"))
    });
    assert_eq!(ids(&lines(&s)), [300, 200, 100]);

    // The next interval is drawn when it is complete, in the sort chosen.
    a.interval(1, 2, true)
        .row(1, 500, "burst", 10, 1900)
        .row(1, 100, "db", 900, 0);
    w.write_all(&a.take()).unwrap();
    let s = pane.wait_screen("interval 1", |s| ids(&lines(s)) == [500, 100]);
    assert!(s[0].contains("2 of 100"), "{}", s[0]);

    // A second board: the header counts them, Tab shows the next, the help says so.
    let mut b = Stream::new("rigB", "5.10.0-b");
    b.interval(7, 1, true).row(7, 42, "solo", 1, 1);
    w.write_all(&b.take()).unwrap();
    pane.wait_screen("board count", |s| {
        s.first()
            .is_some_and(|l| l.starts_with("rigA [1/2] 6.1.0-a"))
    });
    pane.press("Tab");
    let s = pane.wait_screen("rigB", |s| {
        s.first()
            .is_some_and(|l| l.starts_with("rigB [2/2] 5.10.0-b"))
    });
    assert_eq!(ids(&lines(&s)), [42]);
    pane.type_text("h");
    pane.wait_screen("help lines", |s| {
        s.iter().any(|l| l.contains("tab next board"))
    });

    // The input ends: the screen stays until q.
    drop(w);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let s = pane.screen();
    assert!(s[0].starts_with("rigB [2/2]"), "{}", s.join("\n"));
    pane.type_text("q");
    restored(&pane.finish());
    let _ = std::fs::remove_file(&fifo);
}
