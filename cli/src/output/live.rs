//! The live view of tasks, one row per task per interval: the screen of `taskwire top`,
//! and its JSON and CSV rows. Shared by the board (`top`) and the host (`decode` printing
//! samples, `decode --view top`), so both print the same names and the same screen.
//!
//! Everything here is a pure function of its inputs: a [`Header`], the [`Row`]s (sorted by
//! the caller with [`sort_rows`]) and a [`Size`]. A key that changes the sort re-sorts and
//! redraws the rows it has, with no new sweep.
//!
//! Names (a contract: scripts and `decode` depend on them; see README.md, "Fields of top and
//! samples"): one JSON object per task per interval with `type`, optional `board`, `tgid`
//! or `pid`, `comm`, `interval_ms`, `cpu_pct`, `read_bytes_per_s`, `write_bytes_per_s`, and
//! per delay category `C` (see [`CATEGORY_NAMES`]) `C_delay_pct`, `C_per_s`, and where known
//! `C_delay_max_ns` and `C_delay_max_at`. A value the kernel did not give is left out of
//! JSON and an empty cell in CSV, never a made-up 0.
//!
//! Numbers are integers turned into decimals digit by digit ([`super::push_fixed`]): no
//! float and no `core::fmt` on a board.

use taskwire_core::taskstats::{Delay, Peak, Rates, SortKey};

use super::json::Json;
use super::{csv_cell, push_fixed, push_u64, utc_time};

/// Delay categories a row carries, in [`Delay::ALL`] order.
pub const DELAYS: usize = Delay::ALL.len();

/// Bytes of a command name a [`Comm`] keeps: the taskstats struct's `ac_comm[32]`; the
/// kernel's own names are at most 15 bytes, or 63 for a kernel thread in /proc (cut here).
pub const COMM_MAX: usize = 32;

/// The name of each delay category in JSON and CSV names (`cpu_delay_pct`, ...), in
/// [`Delay::ALL`] order.
pub const CATEGORY_NAMES: [&str; DELAYS] = [
    "cpu",
    "blkio",
    "swapin",
    "freepages",
    "thrashing",
    "compact",
    "wpcopy",
    "irq",
];

/// The suffixes of one category's JSON members and CSV columns, in order: `C_delay_pct`,
/// `C_per_s`, `C_delay_max_ns`, `C_delay_max_at` for a name `C` of [`CATEGORY_NAMES`].
/// The 32 names are joined when written ([`category_key`]): spelled out, their table and
/// text took more bytes of the board binary than the code that joins them.
const CATEGORY_SUFFIXES: [&str; 4] = ["_delay_pct", "_per_s", "_delay_max_ns", "_delay_max_at"];

/// Room for the longest category member name (`freepages_delay_max_at`).
const KEY_LEN: usize = 24;

/// Category `i`'s name with suffix `s` of [`CATEGORY_SUFFIXES`], written into `buf`.
fn category_key(buf: &mut [u8; KEY_LEN], i: usize, s: usize) -> &str {
    let (name, suffix) = (
        CATEGORY_NAMES[i].as_bytes(),
        CATEGORY_SUFFIXES[s].as_bytes(),
    );
    let n = name.len() + suffix.len();
    buf[..name.len()].copy_from_slice(name);
    buf[name.len()..n].copy_from_slice(suffix);
    // Two ASCII names: the check cannot fail.
    std::str::from_utf8(&buf[..n]).unwrap_or_default()
}

/// ppm to percent with two decimals: 1% is 10,000 ppm.
const PPM_PER_PCT: u64 = 10_000;

/// A command name, kept inline so that a [`Row`] owns it and rows outlive the sweep that
/// made them (a redraw after a key press uses the last sweep's rows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Comm {
    bytes: [u8; COMM_MAX],
    len: u8,
}

impl Comm {
    /// The first [`COMM_MAX`] bytes of `name`.
    pub fn new(name: &[u8]) -> Comm {
        let len = name.len().min(COMM_MAX);
        let mut bytes = [0; COMM_MAX];
        bytes[..len].copy_from_slice(&name[..len]);
        Comm {
            bytes,
            len: len as u8,
        }
    }

    /// The name's bytes, as the kernel gave them (not necessarily UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Whether a row's id is a thread group's or a thread's: the JSON key and CSV column
/// (`tgid` or `pid`) and the screen's column title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKey {
    /// A thread group, its threads summed.
    Tgid,
    /// One thread.
    Pid,
}

impl IdKey {
    /// `"tgid"` or `"pid"`.
    pub const fn name(self) -> &'static str {
        match self {
            IdKey::Tgid => "tgid",
            IdKey::Pid => "pid",
        }
    }
}

/// One task's interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Its tgid or pid (see [`IdKey`]).
    pub id: u32,
    /// Its command name.
    pub comm: Comm,
    /// Its rates over the interval.
    pub rates: Rates,
    /// Each delay category's longest delay so far, in [`Delay::ALL`] order; `None` where
    /// unknown (before struct version 15, or for a thread group).
    pub peaks: [Option<Peak>; DELAYS],
}

/// One resource's pressure (PSI), as the header shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Psi {
    /// No pressure file, or the kernel refuses to read it (`CONFIG_PSI=n`, `psi=0`).
    #[default]
    Absent,
    /// The `avg10` of the `some` and `full` lines, in hundredths of a percent; `None` for a
    /// line the file does not have.
    Avg10 {
        /// Share of time at least one task stalled.
        some: Option<u16>,
        /// Share of time every non-idle task stalled at once.
        full: Option<u16>,
    },
}

/// Pressure of the resources the header shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    /// Waiting for a CPU.
    pub cpu: Psi,
    /// Waiting for memory (reclaim, swap-in, thrashing).
    pub memory: Psi,
    /// Waiting for IO.
    pub io: Psi,
    /// Time taken by interrupts (6.1 and later with `CONFIG_IRQ_TIME_ACCOUNTING`).
    pub irq: Psi,
}

impl Pressure {
    /// Whether no resource has pressure information at all.
    pub fn is_absent(&self) -> bool {
        [self.cpu, self.memory, self.io, self.irq]
            .iter()
            .all(|p| *p == Psi::Absent)
    }
}

/// Whether the kernel accounts delays (`kernel.task_delayacct`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayAcct {
    /// Every delay category is accounted.
    On,
    /// Only CPU delay is: the others read zero.
    Off,
    /// No switch to read (kernels before 5.14), or not known (an old stream).
    Unknown,
}

/// What the screen says above the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// First words of the first line: `taskwire top`, or a board's name on the host.
    pub title: &'a str,
    /// Length of the interval, in ms.
    pub interval_ms: u64,
    /// The system's pressure.
    pub pressure: Pressure,
    /// A cgroup's path and its own pressure (cgroup v2; cpu, io and memory).
    pub cgroup: Option<(&'a str, Pressure)>,
    /// Delay accounting.
    pub delayacct: DelayAcct,
    /// Rows shown.
    pub shown: usize,
    /// Tasks seen in the sweep.
    pub total: usize,
    /// What the rows are sorted by.
    pub sort: SortKey,
    /// Rows are threads (`pid`) rather than thread groups (`tgid`).
    pub threads: bool,
}

impl Header<'_> {
    /// The id key of the rows.
    pub fn id_key(&self) -> IdKey {
        if self.threads {
            IdKey::Pid
        } else {
            IdKey::Tgid
        }
    }
}

/// The terminal's size, or how much of it to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Columns; every line is cut to this many.
    pub cols: usize,
    /// Lines, header included; `None` prints every row (batch mode).
    pub rows: Option<usize>,
}

impl Size {
    /// A serial console's or a VT100's screen.
    pub const CONSOLE: Size = Size {
        cols: 80,
        rows: Some(24),
    };
    /// Batch text: every column and every row, nothing cut.
    pub const BATCH: Size = Size {
        cols: usize::MAX,
        rows: None,
    };
}

/// The `--sort` keys, their meaning first in help order: name, key, what it ranks by.
pub const SORT_KEYS: &[(&str, SortKey, &str)] = &[
    ("cpu", SortKey::Cpu, "CPU time used (CPU%)"),
    (
        "cpu-delay",
        SortKey::Delay(Delay::Cpu),
        "time waiting for a CPU (RUNQ%)",
    ),
    (
        "blkio",
        SortKey::Delay(Delay::Blkio),
        "time waiting for block IO (IO%); also `io`",
    ),
    (
        "mem",
        SortKey::Mem,
        "swapin + freepages + thrashing + compact + wpcopy (MEM%)",
    ),
    (
        "swapin",
        SortKey::Delay(Delay::Swapin),
        "waiting for swap-in (SWAP%)",
    ),
    (
        "freepages",
        SortKey::Delay(Delay::Freepages),
        "memory reclaim (RECL%); also `reclaim`",
    ),
    (
        "thrashing",
        SortKey::Delay(Delay::Thrashing),
        "thrashing (THRS%)",
    ),
    (
        "compact",
        SortKey::Delay(Delay::Compact),
        "memory compaction (CMPT%)",
    ),
    (
        "wpcopy",
        SortKey::Delay(Delay::Wpcopy),
        "write-protect copy (WPCP%)",
    ),
    ("irq", SortKey::Delay(Delay::Irq), "IRQ/softirq time (IRQ%)"),
    (
        "rw",
        SortKey::Io,
        "storage bytes read + written per second (threads only)",
    ),
];

/// The sort key called `name` (a [`SORT_KEYS`] name, or the aliases `io` and `reclaim`).
pub fn sort_key(name: &str) -> Option<SortKey> {
    let name = match name {
        "io" => "blkio",
        "reclaim" => "freepages",
        n => n,
    };
    SORT_KEYS.iter().find(|k| k.0 == name).map(|k| k.1)
}

/// The name [`sort_key`] takes for `key`.
pub fn sort_name(key: SortKey) -> &'static str {
    SORT_KEYS.iter().find(|k| k.1 == key).map_or("?", |k| k.0)
}

/// Sorts rows busiest first by `key`, ties by id (so that equal rows keep their places
/// from one redraw to the next).
pub fn sort_rows(rows: &mut [Row], key: SortKey) {
    rows.sort_unstable_by(|a, b| {
        b.rates
            .key(key)
            .cmp(&a.rates.key(key))
            .then(a.id.cmp(&b.id))
    });
}

/// A screen column after the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Cpu,
    Delay(Delay),
    Mem,
    Read,
    Write,
}

/// Columns in the order they are given room: the first ones fit 80 columns with a
/// 15-byte comm; the memory categories one by one on a wider screen.
const COLUMNS: [(Col, &str); 12] = [
    (Col::Cpu, "CPU%"),
    (Col::Delay(Delay::Cpu), "RUNQ%"),
    (Col::Delay(Delay::Blkio), "IO%"),
    (Col::Mem, "MEM%"),
    (Col::Delay(Delay::Irq), "IRQ%"),
    (Col::Read, "READ/s"),
    (Col::Write, "WRITE/s"),
    (Col::Delay(Delay::Swapin), "SWAP%"),
    (Col::Delay(Delay::Freepages), "RECL%"),
    (Col::Delay(Delay::Thrashing), "THRS%"),
    (Col::Delay(Delay::Compact), "CMPT%"),
    (Col::Delay(Delay::Wpcopy), "WPCP%"),
];

/// Width of the id column (pids up to 4,194,304).
const ID_WIDTH: usize = 7;
/// Width of a percentage column (`100.0`, `1234`).
const PCT_WIDTH: usize = 6;
/// Width of a bytes-per-second column (`1023.9M`).
const BYTES_WIDTH: usize = 7;
/// The room a command name keeps before another column is given room: a whole kernel
/// comm (15 bytes).
const COMM_MIN: usize = 15;

fn width(col: Col) -> usize {
    match col {
        Col::Read | Col::Write => BYTES_WIDTH,
        _ => PCT_WIDTH,
    }
}

/// The whole screen: the header lines, a title line, then one line per row until `size`
/// is full. Plain ASCII (a comm's other bytes become `?`), no escape sequences, every line
/// cut to `size.cols` and ended by `\n`.
pub fn screen(out: &mut String, header: &Header<'_>, rows: &[Row], size: Size) {
    let mut lines = Lines { size, count: 0 };
    let start = out.len();
    title_line(out, header);
    lines.end(out, start);
    let start = out.len();
    out.push_str("PSI some/full avg10 %:");
    pressure(out, &header.pressure, true);
    lines.end(out, start);
    if let Some((path, p)) = &header.cgroup {
        let start = out.len();
        out.push_str("cgroup ");
        out.push_str(path);
        out.push(':');
        pressure(out, p, false);
        lines.end(out, start);
    }
    if header.delayacct == DelayAcct::Off {
        let start = out.len();
        out.push_str(
            "delay accounting is off: only RUNQ% is measured; turn it on with \
             --enable-delayacct or sysctl kernel.task_delayacct=1",
        );
        lines.end(out, start);
    }
    let cols = columns(rows, size.cols);
    let start = out.len();
    pad_left(out, if header.threads { "PID" } else { "TGID" }, ID_WIDTH);
    for &(col, label) in &cols {
        out.push(' ');
        pad_left(out, label, width(col));
    }
    out.push_str(" COMM");
    lines.end(out, start);
    let mut cell = String::with_capacity(24);
    for row in rows {
        if !lines.room() {
            break;
        }
        let start = out.len();
        row_line(out, &mut cell, row, &cols);
        lines.end(out, start);
    }
}

/// Lines written so far, against the screen's size.
struct Lines {
    size: Size,
    count: usize,
}

impl Lines {
    fn room(&self) -> bool {
        self.size.rows.is_none_or(|r| self.count < r)
    }

    /// Ends the line begun at `start`: cut to the width, or taken back when the screen is
    /// full.
    fn end(&mut self, out: &mut String, start: usize) {
        if !self.room() {
            out.truncate(start);
            return;
        }
        cut(out, start, self.size.cols);
        out.push('\n');
        self.count += 1;
    }
}

/// The first line: title, interval, tasks, sort, delay accounting.
fn title_line(o: &mut String, h: &Header<'_>) {
    o.push_str(h.title);
    o.push_str("  every ");
    push_fixed(o, h.interval_ms, 1000, 1);
    o.push_str(" s  ");
    push_u64(o, h.shown as u64);
    o.push_str(" of ");
    push_u64(o, h.total as u64);
    o.push_str(if h.threads {
        " threads"
    } else {
        " thread groups"
    });
    o.push_str("  sort ");
    o.push_str(sort_name(h.sort));
    o.push_str(match h.delayacct {
        DelayAcct::On => "  delayacct on",
        DelayAcct::Off => "  delayacct OFF",
        DelayAcct::Unknown => "",
    });
}

/// ` cpu 1.20/0.00 mem ...`, or how to turn PSI on when the kernel has none.
fn pressure(o: &mut String, p: &Pressure, system: bool) {
    if p.is_absent() {
        o.push_str(if system {
            " absent: needs a kernel with CONFIG_PSI=y, booted with psi=1 if it defaults off"
        } else {
            " no pressure files (cgroup v1, or PSI off)"
        });
        return;
    }
    let resources = [
        ("cpu", p.cpu),
        ("mem", p.memory),
        ("io", p.io),
        ("irq", p.irq),
    ];
    for (name, psi) in resources {
        if !system && name == "irq" && psi == Psi::Absent {
            continue;
        }
        o.push_str("  ");
        o.push_str(name);
        o.push(' ');
        match psi {
            Psi::Absent => o.push('-'),
            Psi::Avg10 { some, full } => {
                avg(o, some);
                o.push('/');
                avg(o, full);
            }
        }
    }
}

fn avg(o: &mut String, v: Option<u16>) {
    match v {
        Some(v) => push_fixed(o, u64::from(v), 100, 2),
        None => o.push('-'),
    }
}

/// The columns that fit `cols` with room for a command name: those of [`COLUMNS`] in
/// order, without READ/s and WRITE/s when no row has them (thread groups: the kernel does
/// not sum storage bytes over threads).
fn columns(rows: &[Row], cols: usize) -> Vec<(Col, &'static str)> {
    let bytes = rows
        .iter()
        .any(|r| r.rates.read_bytes_per_s().is_some() || r.rates.write_bytes_per_s().is_some());
    let mut used = ID_WIDTH + 1 + COMM_MIN;
    let mut out = Vec::with_capacity(COLUMNS.len());
    for &(col, label) in &COLUMNS {
        if !bytes && matches!(col, Col::Read | Col::Write) {
            continue;
        }
        if used + 1 + width(col) > cols {
            break;
        }
        used += 1 + width(col);
        out.push((col, label));
    }
    out
}

fn row_line(o: &mut String, cell: &mut String, row: &Row, cols: &[(Col, &str)]) {
    cell.clear();
    push_u64(cell, u64::from(row.id));
    pad_left(o, cell, ID_WIDTH);
    let r = &row.rates;
    for &(col, _) in cols {
        cell.clear();
        match col {
            Col::Cpu => pct(cell, r.cpu_ppm()),
            Col::Delay(d) => pct(cell, r.delay(d).map(|d| d.ppm)),
            Col::Mem => {
                let known = SortKey::MEM.iter().any(|&d| r.delay(d).is_some());
                pct(cell, known.then(|| r.key(SortKey::Mem)));
            }
            Col::Read => human_bytes(cell, r.read_bytes_per_s()),
            Col::Write => human_bytes(cell, r.write_bytes_per_s()),
        }
        o.push(' ');
        pad_left(o, cell, width(col));
    }
    o.push(' ');
    for &b in row.comm.as_bytes() {
        o.push(if b.is_ascii_graphic() || b == b' ' {
            char::from(b)
        } else {
            '?'
        });
    }
}

/// A percentage of ppm with one decimal, whole above 1000 %; `-` when absent.
fn pct(o: &mut String, ppm: Option<u64>) {
    match ppm {
        None => o.push('-'),
        Some(p) if p >= 1000 * PPM_PER_PCT => push_fixed(o, p, PPM_PER_PCT, 0),
        Some(p) => push_fixed(o, p, PPM_PER_PCT, 1),
    }
}

/// Bytes per second in at most 7 characters: `512`, `12.5K`, `3.1M`, `1.0G`; `-` when
/// absent. K is 1024.
fn human_bytes(o: &mut String, v: Option<u64>) {
    let Some(v) = v else {
        o.push('-');
        return;
    };
    if v < 10_000 {
        push_u64(o, v);
        return;
    }
    let mut unit = 1024u64;
    for suffix in ['K', 'M', 'G', 'T'] {
        if v < unit.saturating_mul(1000) || suffix == 'T' {
            push_fixed(o, v, unit, 1);
            o.push(suffix);
            return;
        }
        unit *= 1024;
    }
}

fn pad_left(o: &mut String, s: &str, w: usize) {
    for _ in s.len()..w {
        o.push(' ');
    }
    o.push_str(s);
}

/// Cuts what was written since `start` to `cols` characters (all ASCII).
fn cut(o: &mut String, start: usize, cols: usize) {
    if o.len() - start > cols {
        o.truncate(start + cols);
    }
}

/// One row as a JSON object (no line end) appended to `out`: `"type":ty`, then `"board"`
/// when given, then the row's fields under the names in the module docs. `interval_ms` is
/// the interval's length as the caller reports it.
pub fn json_row(
    out: &mut String,
    ty: &str,
    board: Option<&str>,
    id: IdKey,
    row: &Row,
    interval_ms: u64,
) {
    json_row_with(out, ty, board, &[], id, row, interval_ms);
}

/// [`json_row`] with `numbers` (name, value) after `"board"`: the host's sample rows add
/// their `seq` and `sample` there.
pub fn json_row_with(
    out: &mut String,
    ty: &str,
    board: Option<&str>,
    numbers: &[(&str, u64)],
    id: IdKey,
    row: &Row,
    interval_ms: u64,
) {
    let mut j = Json::with(out);
    j.str("type", ty);
    if let Some(b) = board {
        j.bytes("board", b.as_bytes());
    }
    for &(name, v) in numbers {
        j.u64(name, v);
    }
    j.u64(id.name(), u64::from(row.id))
        .bytes("comm", row.comm.as_bytes())
        .u64("interval_ms", interval_ms);
    let r = &row.rates;
    if let Some(p) = r.cpu_ppm() {
        j.fixed("cpu_pct", p, PPM_PER_PCT, 2);
    }
    if let Some(v) = r.read_bytes_per_s() {
        j.u64("read_bytes_per_s", v);
    }
    if let Some(v) = r.write_bytes_per_s() {
        j.u64("write_bytes_per_s", v);
    }
    let mut key = [0; KEY_LEN];
    for (i, &d) in Delay::ALL.iter().enumerate() {
        if let Some(rate) = r.delay(d) {
            j.fixed(category_key(&mut key, i, 0), rate.ppm, PPM_PER_PCT, 2);
            j.fixed(category_key(&mut key, i, 1), rate.milli_hz, 1000, 3);
        }
        if let Some(peak) = row.peaks[i] {
            j.u64(category_key(&mut key, i, 2), peak.max_ns);
            if let Some((sec, nsec)) = peak.at.filter(|&at| at != (0, 0)) {
                j.str(category_key(&mut key, i, 3), &utc_time(sec, nsec));
            }
        }
    }
    j.end();
}

/// The CSV header line (no line end) for rows of `id`, with a `board` column first when
/// `board` is set: the JSON names in the same order, every column always present.
pub fn csv_header(out: &mut String, board: bool, id: IdKey) {
    if board {
        out.push_str("board,");
    }
    out.push_str(id.name());
    out.push_str(",comm,interval_ms,cpu_pct,read_bytes_per_s,write_bytes_per_s");
    for name in CATEGORY_NAMES {
        for suffix in CATEGORY_SUFFIXES {
            out.push(',');
            out.push_str(name);
            out.push_str(suffix);
        }
    }
}

/// One row in [`csv_header`]'s columns (no line end); an absent value is an empty cell.
/// `board` must be given exactly when the header has the column.
pub fn csv_row(out: &mut String, board: Option<&str>, row: &Row, interval_ms: u64) {
    if let Some(b) = board {
        csv_cell(out, b.as_bytes());
        out.push(',');
    }
    push_u64(out, u64::from(row.id));
    out.push(',');
    csv_cell(out, row.comm.as_bytes());
    out.push(',');
    push_u64(out, interval_ms);
    let r = &row.rates;
    out.push(',');
    if let Some(p) = r.cpu_ppm() {
        push_fixed(out, p, PPM_PER_PCT, 2);
    }
    for v in [r.read_bytes_per_s(), r.write_bytes_per_s()] {
        out.push(',');
        if let Some(v) = v {
            push_u64(out, v);
        }
    }
    for (i, &d) in Delay::ALL.iter().enumerate() {
        let rate = r.delay(d);
        out.push(',');
        if let Some(rate) = rate {
            push_fixed(out, rate.ppm, PPM_PER_PCT, 2);
        }
        out.push(',');
        if let Some(rate) = rate {
            push_fixed(out, rate.milli_hz, 1000, 3);
        }
        let peak = row.peaks[i];
        out.push(',');
        if let Some(p) = peak {
            push_u64(out, p.max_ns);
        }
        out.push(',');
        if let Some((sec, nsec)) = peak.and_then(|p| p.at).filter(|&at| at != (0, 0)) {
            out.push_str(&utc_time(sec, nsec));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_core::taskstats::{DelayCounter, Deltas};

    const SECOND: u64 = 1_000_000_000;

    /// A row over one second: `cpu_us` of CPU, blkio waits of `blkio_ns` in 3 delays,
    /// storage bytes when `bytes`, every other category zero (present).
    fn row(id: u32, comm: &[u8], cpu_us: u64, blkio_ns: u64, bytes: bool) -> Row {
        let mut d = Deltas::empty(SECOND);
        d.cpu_us = Some(cpu_us);
        if bytes {
            d.read_bytes = Some(4096);
            d.write_bytes = Some(3 * 1024 * 1024);
        }
        for (i, slot) in d.delays.iter_mut().enumerate() {
            *slot = Some(DelayCounter {
                count: 0,
                total_ns: 0,
            });
            if Delay::ALL[i] == Delay::Blkio {
                *slot = Some(DelayCounter {
                    count: 3,
                    total_ns: blkio_ns,
                });
            }
        }
        Row {
            id,
            comm: Comm::new(comm),
            rates: d.rates(),
            peaks: [None; DELAYS],
        }
    }

    fn header(rows: usize) -> Header<'static> {
        Header {
            title: "taskwire top",
            interval_ms: 2000,
            pressure: Pressure {
                cpu: Psi::Avg10 {
                    some: Some(125),
                    full: Some(0),
                },
                memory: Psi::Avg10 {
                    some: Some(0),
                    full: Some(0),
                },
                io: Psi::Avg10 {
                    some: Some(3500),
                    full: Some(1000),
                },
                irq: Psi::Absent,
            },
            cgroup: None,
            delayacct: DelayAcct::On,
            shown: rows,
            total: 245,
            sort: SortKey::Cpu,
            threads: false,
        }
    }

    #[test]
    fn json_names_are_the_contract() {
        let mut r = row(42, b"db\"x", 1_500_000, 350_000_000, false);
        r.peaks[1] = Some(Peak {
            max_ns: 9_000_000,
            at: Some((1_700_000_000, 5)),
        });
        r.peaks[2] = Some(Peak {
            max_ns: 0,
            at: Some((0, 0)),
        });
        let mut out = String::new();
        json_row(&mut out, "task", None, IdKey::Tgid, &r, 1000);
        assert_eq!(
            out,
            concat!(
                r#"{"type":"task","tgid":42,"comm":"db\"x","interval_ms":1000,"cpu_pct":150.00,"#,
                r#""cpu_delay_pct":0.00,"cpu_per_s":0.000,"#,
                r#""blkio_delay_pct":35.00,"blkio_per_s":3.000,"blkio_delay_max_ns":9000000,"#,
                r#""blkio_delay_max_at":"2023-11-14 22:13:20","#,
                r#""swapin_delay_pct":0.00,"swapin_per_s":0.000,"swapin_delay_max_ns":0,"#,
                r#""freepages_delay_pct":0.00,"freepages_per_s":0.000,"#,
                r#""thrashing_delay_pct":0.00,"thrashing_per_s":0.000,"#,
                r#""compact_delay_pct":0.00,"compact_per_s":0.000,"#,
                r#""wpcopy_delay_pct":0.00,"wpcopy_per_s":0.000,"#,
                r#""irq_delay_pct":0.00,"irq_per_s":0.000}"#
            )
        );
        out.clear();
        let r = row(7, b"io", 0, 0, true);
        json_row(&mut out, "sample", Some("b1"), IdKey::Pid, &r, 2000);
        assert!(
            out.starts_with(concat!(
                r#"{"type":"sample","board":"b1","pid":7,"comm":"io","interval_ms":2000,"#,
                r#""cpu_pct":0.00,"read_bytes_per_s":4096,"write_bytes_per_s":3145728,"#
            )),
            "{out}"
        );
    }

    #[test]
    fn csv_cells_quote_as_rfc_4180_says() {
        // The char-by-char rule the byte-wise one replaced, with the formula guard.
        fn by_char(raw: &[u8]) -> String {
            let s = super::super::plain(raw);
            let quote = s.contains([',', '"']) || s.starts_with(' ') || s.ends_with(' ');
            let formula = if s.starts_with(['=', '+', '-', '@']) {
                "'"
            } else {
                ""
            };
            let mut out = String::from(if quote { "\"" } else { "" });
            out.push_str(formula);
            for c in s.chars() {
                if c == '"' {
                    out.push('"');
                }
                out.push(c);
            }
            if quote {
                out.push('"');
            }
            out
        }
        let pieces: [&[u8]; 11] = [
            b"",
            b"=",
            b"a",
            b",",
            b"\"",
            b" ",
            b"\r\n",
            "é".as_bytes(),
            b"\xff",
            b"\"\"",
            b"x y",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let raw = [a, b, c].concat();
                    let mut out = String::new();
                    csv_cell(&mut out, &raw);
                    assert_eq!(out, by_char(&raw), "{raw:?}");
                }
            }
        }
    }

    #[test]
    fn csv_names_are_the_contract() {
        let mut head = String::new();
        csv_header(&mut head, true, IdKey::Tgid);
        let mut want =
            String::from("board,tgid,comm,interval_ms,cpu_pct,read_bytes_per_s,write_bytes_per_s");
        for c in [
            "cpu",
            "blkio",
            "swapin",
            "freepages",
            "thrashing",
            "compact",
            "wpcopy",
            "irq",
        ] {
            want.push_str(&format!(
                ",{c}_delay_pct,{c}_per_s,{c}_delay_max_ns,{c}_delay_max_at"
            ));
        }
        assert_eq!(head, want);
        let mut buf = [0; KEY_LEN];
        assert_eq!(category_key(&mut buf, 3, 3), "freepages_delay_max_at");
    }

    #[test]
    fn absent_values_are_left_out_never_zero() {
        let r = Row {
            id: 1,
            comm: Comm::new(b"old"),
            rates: Deltas::empty(SECOND).rates(),
            peaks: [None; DELAYS],
        };
        let mut out = String::new();
        json_row(&mut out, "task", None, IdKey::Tgid, &r, 1000);
        assert_eq!(
            out,
            r#"{"type":"task","tgid":1,"comm":"old","interval_ms":1000}"#
        );
        let mut head = String::new();
        csv_header(&mut head, false, IdKey::Tgid);
        let mut line = String::new();
        csv_row(&mut line, None, &r, 1000);
        assert_eq!(line.split(',').count(), head.split(',').count());
        assert!(line.starts_with("1,old,1000,,,,"), "{line}");
        assert!(line.split(',').skip(3).all(str::is_empty), "{line}");
    }

    #[test]
    fn csv_matches_json() {
        let mut r = row(9, b"a,b", 250_000, 20_000_000, true);
        r.peaks[0] = Some(Peak {
            max_ns: 77,
            at: None,
        });
        let mut head = String::new();
        csv_header(&mut head, true, IdKey::Pid);
        let mut line = String::new();
        csv_row(&mut line, Some("brd"), &r, 1000);
        // The quoted comm holds the only comma inside a cell.
        assert!(line.starts_with("brd,9,\"a,b\",1000,"), "{line}");
        let cells: Vec<&str> = line
            .replacen("\"a,b\"", "ab", 1)
            .leak()
            .split(',')
            .collect();
        let names: Vec<&str> = head.split(',').collect();
        assert_eq!(cells.len(), names.len());
        let mut json = String::new();
        json_row(&mut json, "sample", Some("brd"), IdKey::Pid, &r, 1000);
        for (name, cell) in names.iter().zip(&cells).skip(3) {
            let member = format!("\"{name}\":{cell}");
            if cell.is_empty() {
                assert!(!json.contains(&format!("\"{name}\"")), "{name} in {json}");
            } else {
                assert!(json.contains(&member), "{member} not in {json}");
            }
        }
        assert!(json.contains("\"cpu_delay_max_ns\":77"), "{json}");
    }

    #[test]
    fn screen_fits_a_console() {
        let rows: Vec<Row> = (0..100)
            .map(|i| {
                row(
                    4_000_000 + i,
                    b"a-very-long-command-name",
                    1_234_567,
                    5,
                    true,
                )
            })
            .collect();
        let mut out = String::new();
        screen(&mut out, &header(100), &rows, Size::CONSOLE);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 24, "{out}");
        assert!(lines.iter().all(|l| l.len() <= 80), "{out}");
        assert!(out.is_ascii());
        assert!(lines[0].starts_with("taskwire top  every 2.0 s  100 of 245 thread groups"));
        assert_eq!(
            lines[1],
            "PSI some/full avg10 %:  cpu 1.25/0.00  mem 0.00/0.00  io 35.00/10.00  irq -"
        );
        assert_eq!(
            lines[2],
            "   TGID   CPU%  RUNQ%    IO%   MEM%   IRQ%  READ/s WRITE/s COMM"
        );
        assert_eq!(
            lines[3],
            "4000000  123.5    0.0    0.0    0.0    0.0    4096    3.0M a-very-long-command-name"
                [..80]
                .trim_end()
        );
    }

    #[test]
    fn narrow_and_wide_screens() {
        let rows = [row(1, b"x\x1b[2J", 0, 0, false)];
        let mut out = String::new();
        let size = Size {
            cols: 40,
            rows: Some(10),
        };
        screen(&mut out, &header(1), &rows, size);
        assert!(out.lines().all(|l| l.len() <= 40), "{out}");
        let last = out.lines().last().unwrap();
        assert!(
            last.ends_with(" x?[2J"),
            "escape sequences never reach the terminal: {last}"
        );
        // Thread groups carry no storage bytes: no READ/s column; wide: every category.
        out.clear();
        screen(&mut out, &header(1), &rows, Size::BATCH);
        assert!(!out.contains("READ/s"), "{out}");
        assert!(out.contains("RECL%  THRS%  CMPT%  WPCP% COMM"), "{out}");
    }

    #[test]
    fn header_says_what_is_missing() {
        let mut h = header(0);
        h.pressure = Pressure::default();
        h.delayacct = DelayAcct::Off;
        h.cgroup = Some(("/sys/fs/cgroup/app", Pressure::default()));
        let mut out = String::new();
        screen(&mut out, &h, &[], Size::BATCH);
        assert!(out.contains("psi=1"), "{out}");
        assert!(out.contains("CONFIG_PSI"), "{out}");
        assert!(out.contains("--enable-delayacct"), "{out}");
        assert!(out.contains("cgroup /sys/fs/cgroup/app:"), "{out}");
        // A screen too short for the rows still shows the header first.
        out.clear();
        let tiny = Size {
            cols: 80,
            rows: Some(2),
        };
        screen(&mut out, &h, &[row(1, b"a", 0, 0, false)], tiny);
        assert_eq!(out.lines().count(), 2);
        assert!(out.starts_with("taskwire top"));
    }

    #[test]
    fn sort_keys_and_order() {
        for &(name, key, _) in SORT_KEYS {
            assert_eq!(sort_key(name), Some(key));
            assert_eq!(sort_name(key), name);
        }
        assert_eq!(sort_key("io"), Some(SortKey::Delay(Delay::Blkio)));
        assert_eq!(sort_key("reclaim"), Some(SortKey::Delay(Delay::Freepages)));
        assert_eq!(sort_key("bogus"), None);
        let mut rows = [
            row(3, b"c", 10, 900_000, false),
            row(1, b"a", 10, 100_000, false),
            row(2, b"b", 500, 100_000, false),
        ];
        sort_rows(&mut rows, SortKey::Cpu);
        assert_eq!(rows.map(|r| r.id), [2, 1, 3]);
        sort_rows(&mut rows, SortKey::Delay(Delay::Blkio));
        assert_eq!(rows.map(|r| r.id), [3, 1, 2]);
    }

    #[test]
    fn human_bytes_fit_their_column() {
        for (v, want) in [
            (0, "0"),
            (9_999, "9999"),
            (10_000, "9.8K"),
            (1_023_999, "1000.0K"),
            (1_024_000, "1.0M"),
            (5 << 30, "5.0G"),
            (u64::MAX, "16777216.0T"),
        ] {
            let mut s = String::new();
            human_bytes(&mut s, Some(v));
            assert_eq!(s, want, "{v}");
        }
    }

    #[test]
    fn comm_is_cut_to_its_room() {
        let long = [b'k'; 70];
        assert_eq!(Comm::new(&long).as_bytes().len(), COMM_MAX);
        assert_eq!(Comm::new(b"init").as_bytes(), b"init");
    }
}
