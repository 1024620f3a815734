//! Decoded messages as text, JSON lines or CSV.
//!
//! * **text**: one `key=value` line per message, starting with the board. Records show the
//!   same summary as `taskwire listen` (ids, comm, exit status, times, context switches,
//!   delays); `--format json` has every field.
//! * **json**: one object per line. `"type"` is `header`, `record`, `loss`, `heartbeat`,
//!   `interval` or `sample`; every object has `"board"`. A record has `seq`, `kind` (`pid`/`tgid`),
//!   `id`, `profile`, `comm` (absent for the `delays` profile) and every present field
//!   under its kernel name; absent fields are omitted, never null. A slot this build does
//!   not know (a newer agent's appended field) appears as `slot_N`.
//! * **Samples of live tasks**: one line or object per task per interval, the rates made
//!   from the sample's deltas over its own `interval_ms`, through the live view's shared
//!   writer (`taskwire_cli::output::live`, the names of `top --format json`): in JSON
//!   `"type":"sample"`, `board`, `seq`, `sample` (the interval's number, so that rows can
//!   be grouped when the interval's frame was lost), `tgid`, `comm`, `interval_ms`, `cpu_pct`,
//!   `read_bytes_per_s`, `write_bytes_per_s`, and per delay category `C_delay_pct` and
//!   `C_per_s`; absent values omitted. Before its samples, an `"type":"interval"` object
//!   gives the interval's number, length, tasks and rows, delay accounting and the
//!   pressure (`R_some_avg10`, `R_full_avg10` per resource R, percent as the kernel
//!   prints them). A text sample line has the rates of CPU, storage and of the delay
//!   categories that moved. A sample slot this build does not know is not shown.
//! * **csv**: records and samples, each in its own table. A record table has a header row
//!   `board,seq,kind,id,comm,<the profile's fields>`, then one row per record; absent
//!   fields are empty cells. A sample table has the header row of `top --format csv` with
//!   `board,seq,sample` first. A row that does not belong in the current table (a sample
//!   after records, a record of another profile than the previous one) starts a new table:
//!   an empty line and its header row (an agent sends one profile, so records change table
//!   only when boards with different profiles share a decoder, or samples come between).
//!   Intervals, losses and heartbeats are not in CSV. Cells holding a comma, quote, CR or
//!   LF are quoted RFC 4180 style. `decode --only records|samples` prints one kind only,
//!   so a mixed stream gives one table.

use std::borrow::BorrowMut;
use std::fmt::Write;

use taskwire_core::taskstats::{Delay, Value};
use taskwire_core::wire::{
    Heartbeat, Interval, Kind, Loss, Profile, PsiResource, Record, Sample, StreamHeader,
};

use taskwire_cli::output::json::{self, Json};
use taskwire_cli::output::live::{self, CATEGORY_NAMES, IdKey};
use taskwire_cli::output::text::line_fields;
use taskwire_cli::output::{escape_token, push_fixed};

/// Output format of `decode`: the one every command shares.
pub use taskwire_cli::args::Format;

/// `--only`: which numbered frames `decode` prints (every frame is counted all the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// Exit records; no intervals or samples.
    Records,
    /// Intervals and samples; no exit records.
    Samples,
}

impl Only {
    /// `records` or `samples`.
    pub fn parse(s: &str) -> Result<Only, String> {
        match s {
            "records" => Ok(Only::Records),
            "samples" => Ok(Only::Samples),
            _ => Err(format!("--only: '{s}' is not records or samples")),
        }
    }
}

/// The name of a record kind.
pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Pid => "pid",
        Kind::Tgid => "tgid",
    }
}

/// What a CSV header row announced: records of a profile, or samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CsvTable {
    Records(Profile),
    Samples,
}

/// Turns messages into output lines, remembering what CSV needs between rows.
#[derive(Debug, Default)]
pub struct Renderer {
    format: Format,
    /// The CSV table whose header row was printed last.
    csv_table: Option<CsvTable>,
    /// Whether a record with slots this build does not know was seen (CSV drops them).
    pub unknown_slots: bool,
}

impl Renderer {
    /// A renderer for `format`.
    pub fn new(format: Format) -> Renderer {
        Renderer {
            format,
            ..Renderer::default()
        }
    }

    /// Appends the lines for a stream header to `out`.
    pub fn header(&mut self, board: &str, h: &StreamHeader, out: &mut String) {
        let delayacct = delayacct_name(h.delay_accounting);
        match self.format {
            Format::Csv => {}
            Format::Text => {
                let _ = writeln!(
                    out,
                    "board={} header agent={} kernel={} taskstats=v{} delayacct={delayacct} \
                     cpus={} boot_time={} instance={:016x} wire={} schema={:#010x}{}",
                    text_str(board),
                    text_str(&h.agent_version),
                    text_str(&h.kernel_release),
                    h.taskstats_version,
                    text_str(&h.possible_cpus),
                    h.boot_time,
                    h.instance,
                    h.wire_version,
                    h.schema_hash,
                    if h.same_schema() {
                        ""
                    } else {
                        " schema_differs=1"
                    }
                );
            }
            Format::Json => {
                let mut j = Json::with(out);
                j.str("type", "header")
                    .bytes("board", board.as_bytes())
                    .str("agent_version", &h.agent_version)
                    .str("kernel_release", &h.kernel_release)
                    .u64("taskstats_version", u64::from(h.taskstats_version))
                    .str("delay_accounting", delayacct)
                    .str("possible_cpus", &h.possible_cpus)
                    .u64("boot_time", h.boot_time)
                    .bytes("board_id", h.board_id.as_bytes())
                    .str("instance", &format!("{:016x}", h.instance))
                    .u64("wire_version", u64::from(h.wire_version))
                    .u64("schema_hash", u64::from(h.schema_hash))
                    .bool("same_schema", h.same_schema());
                line(j);
            }
        }
    }

    /// Appends the line(s) for a record to `out`.
    pub fn record(&mut self, board: &str, r: &Record, out: &mut String) {
        match self.format {
            Format::Text => {
                out.push_str(&text_record(board, r));
                out.push('\n');
            }
            Format::Json => {
                let mut j = Json::with(out);
                record_members(&mut j, board, r);
                line(j);
            }
            Format::Csv => {
                if self.csv_table(CsvTable::Records(r.profile), out) {
                    out.push_str(&csv_header(r.profile));
                    out.push('\n');
                }
                if r.fields().any(|f| f.field.is_none()) {
                    self.unknown_slots = true;
                }
                out.push_str(&csv_row(board, r));
                out.push('\n');
            }
        }
    }

    /// Whether rows of `table` need a new header row; when they do, ends the table
    /// before (with an empty line) and makes `table` the current one.
    fn csv_table(&mut self, table: CsvTable, out: &mut String) -> bool {
        if self.csv_table == Some(table) {
            return false;
        }
        if self.csv_table.is_some() {
            out.push('\n');
        }
        self.csv_table = Some(table);
        true
    }

    /// Appends the line for a sampling interval to `out` (nothing in CSV).
    pub fn interval(&mut self, board: &str, i: &Interval, out: &mut String) {
        let delayacct = delayacct_name(i.delay_accounting);
        match self.format {
            Format::Csv => {}
            Format::Text => {
                let _ = write!(
                    out,
                    "board={} interval={} seq={} uptime_ms={} interval_ms={} tasks_total={} \
                     rows={} delayacct={delayacct}",
                    text_str(board),
                    i.sample,
                    i.seq,
                    i.uptime_ms,
                    i.interval_ms,
                    i.tasks_total,
                    i.rows
                );
                for (key, avg) in avg10s(i) {
                    let _ = write!(out, " {key}=");
                    push_fixed(out, u64::from(avg), 100, 2);
                }
                out.push('\n');
            }
            Format::Json => {
                let mut j = Json::with(out);
                j.str("type", "interval")
                    .bytes("board", board.as_bytes())
                    .u64("seq", i.seq)
                    .u64("sample", i.sample)
                    .u64("uptime_ms", i.uptime_ms)
                    .u64("interval_ms", u64::from(i.interval_ms))
                    .u64("tasks_total", u64::from(i.tasks_total))
                    .u64("rows", u64::from(i.rows))
                    .str("delay_accounting", delayacct);
                for (key, avg) in avg10s(i) {
                    j.fixed(key, u64::from(avg), 100, 2);
                }
                line(j);
            }
        }
    }

    /// Appends the line (or CSV row) for one task's sample to `out`.
    pub fn sample(&mut self, board: &str, x: &Sample, out: &mut String) {
        let row = sample_row(x);
        let interval_ms = u64::from(x.interval_ms);
        match self.format {
            Format::Text => {
                text_sample(out, board, x, &row);
                out.push('\n');
            }
            Format::Json => {
                let numbers = [("seq", x.seq), ("sample", x.sample)];
                live::json_row_with(
                    out,
                    "sample",
                    Some(board),
                    &numbers,
                    IdKey::Tgid,
                    &row,
                    interval_ms,
                );
                out.push('\n');
            }
            Format::Csv => {
                if self.csv_table(CsvTable::Samples, out) {
                    out.push_str("board,seq,sample,");
                    live::csv_header(out, false, IdKey::Tgid);
                    out.push('\n');
                }
                let _ = write!(out, "{},{},{},", csv_cell(board), x.seq, x.sample);
                live::csv_row(out, None, &row, interval_ms);
                out.push('\n');
            }
        }
    }

    /// Appends the line for a loss report to `out` (nothing in CSV).
    pub fn loss(&mut self, board: &str, l: &Loss, out: &mut String) {
        match self.format {
            Format::Csv => {}
            Format::Text => {
                let _ = writeln!(
                    out,
                    "board={} loss count={} reason={} next_seq={}",
                    text_str(board),
                    l.count,
                    l.reason.name(),
                    l.next_seq
                );
            }
            Format::Json => {
                let mut j = Json::with(out);
                j.str("type", "loss")
                    .bytes("board", board.as_bytes())
                    .u64("count", l.count)
                    .str("reason", l.reason.name())
                    .u64("next_seq", l.next_seq);
                line(j);
            }
        }
    }

    /// Appends the line for a heartbeat to `out` (nothing in CSV).
    pub fn heartbeat(&mut self, board: &str, h: &Heartbeat, out: &mut String) {
        match self.format {
            Format::Csv => {}
            Format::Text => {
                let _ = writeln!(
                    out,
                    "board={} heartbeat uptime_ms={} records_sent={} drops={} queue_depth={}",
                    text_str(board),
                    h.uptime_ms,
                    h.records_sent,
                    h.drops,
                    h.queue_depth
                );
            }
            Format::Json => {
                let mut j = Json::with(out);
                j.str("type", "heartbeat")
                    .bytes("board", board.as_bytes())
                    .u64("uptime_ms", h.uptime_ms)
                    .u64("records_sent", h.records_sent)
                    .u64("drops", h.drops)
                    .u64("queue_depth", u64::from(h.queue_depth));
                line(j);
            }
        }
    }
}

/// Closes an object written into the output and ends its line.
fn line(j: Json<&mut String>) {
    let out = j.end();
    out.push('\n');
}

/// A string from the wire as one `key=value` token.
fn text_str(s: &str) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        escape_token(s.as_bytes())
    }
}

/// Each pressure average an interval carries, under its output name
/// (`cpu_some_avg10`, ...), in hundredths of a percent.
fn avg10s(i: &Interval) -> impl Iterator<Item = (&'static str, u16)> + '_ {
    const KEYS: [[&str; 2]; 4] = [
        ["cpu_some_avg10", "cpu_full_avg10"],
        ["memory_some_avg10", "memory_full_avg10"],
        ["io_some_avg10", "io_full_avg10"],
        ["irq_some_avg10", "irq_full_avg10"],
    ];
    PsiResource::ALL
        .into_iter()
        .zip(KEYS)
        .flat_map(move |(r, [some, full])| [(some, i.avg10(r, false)), (full, i.avg10(r, true))])
        .filter_map(|(k, v)| Some((k, v?)))
}

/// A sample as a row of the live view: its rates over its own interval, no peaks (a
/// sample carries none). A sample without a comm gets an empty one.
pub fn sample_row(x: &Sample) -> live::Row {
    live::Row {
        id: x.tgid,
        comm: live::Comm::new(x.comm.as_deref().unwrap_or_default()),
        rates: x.deltas().rates(),
        peaks: [None; live::DELAYS],
    }
}

/// The text line of a sample: the interval it belongs to and its number, who, and the
/// rates of CPU, storage and the delay categories that moved.
fn text_sample(out: &mut String, board: &str, x: &Sample, row: &live::Row) {
    let comm = match x.comm.as_deref() {
        Some(c) if !c.is_empty() => escape_token(c),
        _ => "-".to_owned(),
    };
    let _ = write!(
        out,
        "board={} sample={} seq={} tgid={} comm={comm} interval_ms={}",
        text_str(board),
        x.sample,
        x.seq,
        x.tgid,
        x.interval_ms
    );
    let r = &row.rates;
    if let Some(p) = r.cpu_ppm() {
        out.push_str(" cpu_pct=");
        push_fixed(out, p, 10_000, 2);
    }
    for (key, v) in [
        ("read_bytes_per_s", r.read_bytes_per_s()),
        ("write_bytes_per_s", r.write_bytes_per_s()),
    ] {
        if let Some(v) = v {
            let _ = write!(out, " {key}={v}");
        }
    }
    for (&d, name) in Delay::ALL.iter().zip(CATEGORY_NAMES) {
        let Some(rate) = r.delay(d).filter(|c| c.ppm != 0 || c.milli_hz != 0) else {
            continue;
        };
        let _ = write!(out, " {name}_delay_pct=");
        push_fixed(out, rate.ppm, 10_000, 2);
        let _ = write!(out, " {name}_per_s=");
        push_fixed(out, rate.milli_hz, 1000, 3);
    }
}

/// The one-line summary of a record.
pub fn text_record(board: &str, r: &Record) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "board={} seq={} {}={}",
        text_str(board),
        r.seq,
        kind_name(r.kind),
        r.id
    );
    let get = |f| match r.get(f)? {
        Value::Unsigned(v) => Some(v),
        // None of the fields on the line is signed; a signed one is not shown as unsigned.
        Value::Signed(_) => None,
    };
    line_fields(&mut out, r.kind == Kind::Pid, r.comm.as_deref(), &get);
    out
}

/// The JSON object of a record, every present field included.
pub fn json_record(board: &str, r: &Record) -> Json {
    let mut j = Json::new();
    record_members(&mut j, board, r);
    j
}

/// A record's members: what it is and where from, then its fields.
fn record_members<O: BorrowMut<String>>(j: &mut Json<O>, board: &str, r: &Record) {
    j.str("type", "record")
        .bytes("board", board.as_bytes())
        .u64("seq", r.seq)
        .str("kind", kind_name(r.kind))
        .u64("id", u64::from(r.id))
        .str("profile", r.profile.name());
    json::record_fields(j, r);
}

/// The CSV header row of `profile` (no line end).
pub fn csv_header(profile: Profile) -> String {
    let mut out = String::from("board,seq,kind,id,comm");
    for f in profile.fields() {
        out.push(',');
        out.push_str(&csv_cell(f.name()));
    }
    out
}

/// One record as a CSV row in its profile's columns (no line end).
pub fn csv_row(board: &str, r: &Record) -> String {
    let mut out = format!(
        "{},{},{},{},",
        csv_cell(board),
        r.seq,
        kind_name(r.kind),
        r.id,
    );
    taskwire_cli::output::csv_cell(&mut out, r.comm.as_deref().unwrap_or_default());
    for &f in r.profile.fields() {
        out.push(',');
        if let Some(v) = r.get(f) {
            let _ = write!(out, "{v}");
        }
    }
    out
}

/// `s` as one CSV cell, by the rule every CSV of taskwire follows
/// ([`taskwire_cli::output::csv_cell`]: RFC 4180, formulas neutralised).
pub fn csv_cell(s: &str) -> String {
    let mut out = String::new();
    taskwire_cli::output::csv_cell(&mut out, s.as_bytes());
    out
}

/// How a header or interval's delay-accounting state is printed.
fn delayacct_name(state: Option<bool>) -> &'static str {
    match state {
        Some(true) => "on",
        Some(false) => "off",
        None => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_core::fixtures::exit_records as fixture_records;
    use taskwire_core::taskstats::Field;
    use taskwire_core::wire::testutil::{small_interval, small_sample};
    use taskwire_core::wire::{LossReason, Message, Values};

    fn full() -> Record {
        fixture_records(Profile::Full).remove(0)
    }

    #[test]
    fn text_line_has_board_seq_id_and_summary() {
        let r = full();
        let line = text_record("bench-1", &r);
        assert!(
            line.starts_with(&format!("board=bench-1 seq={} pid={}", r.seq, r.id)),
            "{line}"
        );
        let comm = r.comm_str().unwrap();
        assert!(line.contains(&format!(" comm={comm}")), "{line}");
        let etime = r.get(Field::AcEtime).unwrap();
        assert!(line.contains(&format!(" etime_us={etime}")), "{line}");
        assert!(line.contains(" cpu_delay_count="), "{line}");
        assert!(!line.contains('\n'));
        // A board id with a space cannot split the token.
        assert!(text_record("a b", &r).starts_with("board=a\\x20b "));
    }

    #[test]
    fn json_record_carries_every_present_field_by_kernel_name() {
        for profile in [Profile::Full, Profile::Acct, Profile::Delays] {
            for r in fixture_records(profile) {
                let s = json_record("b\"1", &r).finish();
                assert!(
                    s.starts_with("{\"type\":\"record\",\"board\":\"b\\\"1\","),
                    "{s}"
                );
                assert!(s.contains(&format!("\"seq\":{},", r.seq)), "{s}");
                assert!(s.contains(&format!("\"id\":{},", r.id)), "{s}");
                assert!(s.contains(&format!("\"profile\":\"{}\"", profile.name())));
                assert_eq!(s.contains("\"comm\":"), profile.has_comm(), "{s}");
                let mut present = 0;
                for f in profile.fields() {
                    let key = format!("\"{}\":", f.name());
                    match r.get(*f) {
                        Some(v) => {
                            present += 1;
                            assert!(s.contains(&format!("{key}{v}")), "{key} in {s}");
                        }
                        None => assert!(!s.contains(&key), "absent {key} in {s}"),
                    }
                }
                assert!(present > 0);
                // Keys: type board seq kind id profile [comm] + one per present field.
                let keys = s.matches("\":").count();
                assert_eq!(keys, 6 + usize::from(profile.has_comm()) + present, "{s}");
            }
        }
    }

    #[test]
    fn unknown_slots_are_named_by_number() {
        let mut values = Values::new();
        for v in 0..17 {
            values.push(Some(v)).unwrap();
        }
        let r = Record {
            seq: 1,
            kind: Kind::Tgid,
            id: 9,
            profile: Profile::Delays,
            comm: None,
            values,
        };
        let s = json_record("x", &r).finish();
        assert!(s.contains("\"kind\":\"tgid\""), "{s}");
        assert!(
            s.ends_with(",\"irq_delay_total\":15,\"slot_16\":16}"),
            "{s}"
        );
        let mut rend = Renderer::new(Format::Csv);
        let mut out = String::new();
        rend.record("x", &r, &mut out);
        assert!(rend.unknown_slots);
    }

    fn sample_of(msg: Message) -> Sample {
        let Message::Sample(x) = msg else {
            panic!("not a sample")
        };
        x
    }

    #[test]
    fn a_sample_is_a_row_of_the_live_view_names() {
        // testutil's sample: 2 s, cpu 0.5 s, 0 read, 8 KiB written, 40 CPU waits of 20 ms
        // in all, 3 block-IO waits of 700 ms; the other categories absent.
        let x = sample_of(small_sample(10, 3, 812));
        let mut out = String::new();
        Renderer::new(Format::Json).sample("b\"1", &x, &mut out);
        assert_eq!(
            out,
            "{\"type\":\"sample\",\"board\":\"b\\\"1\",\"seq\":10,\"sample\":3,\"tgid\":812,\
             \"comm\":\"worker\",\
             \"interval_ms\":2000,\"cpu_pct\":25.00,\"read_bytes_per_s\":0,\
             \"write_bytes_per_s\":4096,\"cpu_delay_pct\":1.00,\"cpu_per_s\":20.000,\
             \"blkio_delay_pct\":35.00,\"blkio_per_s\":1.500}\n"
        );
        let mut out = String::new();
        Renderer::new(Format::Text).sample("b 1", &x, &mut out);
        assert_eq!(
            out,
            "board=b\\x201 sample=3 seq=10 tgid=812 comm=worker interval_ms=2000 cpu_pct=25.00 \
             read_bytes_per_s=0 write_bytes_per_s=4096 cpu_delay_pct=1.00 cpu_per_s=20.000 \
             blkio_delay_pct=35.00 blkio_per_s=1.500\n"
        );
        // A category present and still is left out of the text line, kept in JSON.
        let mut still = x.clone();
        let mut d = still.deltas();
        d.delays[2] = Some(taskwire_core::taskstats::DelayCounter {
            count: 0,
            total_ns: 0,
        });
        still.values = Values::from_deltas(&d);
        let mut text = String::new();
        Renderer::new(Format::Text).sample("b", &still, &mut text);
        assert!(!text.contains("swapin"), "{text}");
        let mut json = String::new();
        Renderer::new(Format::Json).sample("b", &still, &mut json);
        assert!(json.contains("\"swapin_delay_pct\":0.00,\"swapin_per_s\":0.000}"));
    }

    #[test]
    fn an_interval_shows_its_pressure_as_the_kernel_prints_it() {
        let Message::Interval(mut i) = small_interval(9, 3, 20) else {
            panic!()
        };
        i.cpu_full_avg10 = Some(0);
        let mut out = String::new();
        Renderer::new(Format::Json).interval("b", &i, &mut out);
        assert_eq!(
            out,
            "{\"type\":\"interval\",\"board\":\"b\",\"seq\":9,\"sample\":3,\"uptime_ms\":8000,\
             \"interval_ms\":2000,\"tasks_total\":100,\"rows\":20,\"delay_accounting\":\"on\",\
             \"cpu_full_avg10\":0.00,\"io_some_avg10\":2.71,\"io_full_avg10\":1.26}\n"
        );
        let mut out = String::new();
        Renderer::new(Format::Text).interval("b", &i, &mut out);
        assert_eq!(
            out,
            "board=b interval=3 seq=9 uptime_ms=8000 interval_ms=2000 tasks_total=100 rows=20 \
             delayacct=on cpu_full_avg10=0.00 io_some_avg10=2.71 io_full_avg10=1.26\n"
        );
        let mut out = String::new();
        Renderer::new(Format::Csv).interval("b", &i, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn csv_samples_and_records_each_get_their_table() {
        let mut rend = Renderer::new(Format::Csv);
        let mut out = String::new();
        let acct = fixture_records(Profile::Acct);
        rend.record("a", &acct[0], &mut out);
        let mut x = sample_of(small_sample(1, 0, 5));
        rend.sample("a", &x, &mut out);
        x.comm = Some(taskwire_core::wire::Comm::from_slice(b"a,b").unwrap());
        rend.sample("a", &x, &mut out);
        rend.record("a", &acct[0], &mut out);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 9, "{out}");
        assert_eq!(lines[0], csv_header(Profile::Acct));
        assert_eq!(lines[2], "");
        // The sample table: where each row is in the numbering, then top's columns.
        let mut header = String::from("board,seq,sample,");
        live::csv_header(&mut header, false, IdKey::Tgid);
        assert_eq!(lines[3], header);
        assert!(lines[4].starts_with("a,1,0,5,worker,2000,25.00,0,4096,1.00,20.000,,,35.00,"));
        assert!(
            lines[5].starts_with("a,1,0,5,\"a,b\",2000,"),
            "{}",
            lines[5]
        );
        let cols = header.split(',').count();
        assert_eq!(lines[4].split(',').count(), cols);
        assert_eq!(lines[6], "");
        assert_eq!(lines[7], csv_header(Profile::Acct));
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_cell("storm"), "storm");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        // Line ends are names' control characters: \xNN, never a forged row.
        assert_eq!(csv_cell("l1\nl2"), "l1\\x0al2");
        assert_eq!(csv_cell("cr\r"), "cr\\x0d");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell(" pad"), "\" pad\"");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn csv_rows_line_up_with_the_header() {
        for profile in [Profile::Full, Profile::Acct, Profile::Delays] {
            let header = csv_header(profile);
            let cols = header.split(',').count();
            assert_eq!(cols, 5 + profile.fields().len());
            for mut r in fixture_records(profile) {
                if profile.has_comm() {
                    r.comm = Some(taskwire_core::wire::Comm::from_slice(b"a,\"b").unwrap());
                }
                let row = csv_row("brd", &r);
                // The comm cell is quoted; without it every comma separates a column.
                let unquoted = row.replace("\"a,\"\"b\"", "C");
                assert_eq!(unquoted.split(',').count(), cols, "{row}");
                let cells: Vec<&str> = unquoted.split(',').collect();
                assert_eq!(cells[0], "brd");
                assert_eq!(cells[1], r.seq.to_string());
                assert_eq!(cells[3], r.id.to_string());
                for (i, f) in profile.fields().iter().enumerate() {
                    let want = r.get(*f).map(|v| v.to_string()).unwrap_or_default();
                    assert_eq!(cells[5 + i], want, "{}", f.name());
                }
            }
        }
    }

    #[test]
    fn csv_prints_a_new_header_when_the_profile_changes_and_skips_the_rest() {
        let mut rend = Renderer::new(Format::Csv);
        let mut out = String::new();
        let acct = fixture_records(Profile::Acct);
        rend.record("a", &acct[0], &mut out);
        rend.record("a", &acct[0], &mut out);
        rend.loss(
            "a",
            &Loss {
                count: 1,
                reason: LossReason::SinkOutage,
                next_seq: 3,
            },
            &mut out,
        );
        rend.record("b", &fixture_records(Profile::Delays)[0], &mut out);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 6, "{out}");
        assert_eq!(lines[0], csv_header(Profile::Acct));
        assert_eq!(lines[3], "");
        assert_eq!(lines[4], csv_header(Profile::Delays));
        assert!(lines[5].starts_with("b,"));
    }

    #[test]
    fn loss_heartbeat_and_header_lines() {
        let loss = Loss {
            count: 4,
            reason: LossReason::QueueOverflow,
            next_seq: 10,
        };
        let hb = Heartbeat {
            uptime_ms: 5,
            records_sent: 6,
            drops: 7,
            queue_depth: 8,
        };
        let mut h = StreamHeader::new();
        h.board_id = "b1".try_into().unwrap();
        h.taskstats_version = 16;
        let mut out = String::new();
        let mut t = Renderer::new(Format::Text);
        t.loss("b1", &loss, &mut out);
        t.heartbeat("b1", &hb, &mut out);
        t.header("b1", &h, &mut out);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "board=b1 loss count=4 reason=queue_overflow next_seq=10"
        );
        assert_eq!(
            lines[1],
            "board=b1 heartbeat uptime_ms=5 records_sent=6 drops=7 queue_depth=8"
        );
        assert!(lines[2].starts_with("board=b1 header agent=- kernel=- taskstats=v16 "));
        assert!(!lines[2].contains("schema_differs"), "{}", lines[2]);

        let mut out = String::new();
        let mut j = Renderer::new(Format::Json);
        j.loss("b1", &loss, &mut out);
        j.heartbeat("b1", &hb, &mut out);
        h.schema_hash ^= 1;
        j.header("b1", &h, &mut out);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "{\"type\":\"loss\",\"board\":\"b1\",\"count\":4,\"reason\":\"queue_overflow\",\"next_seq\":10}"
        );
        assert!(lines[1].contains("\"queue_depth\":8}"), "{}", lines[1]);
        assert!(lines[2].contains("\"same_schema\":false"), "{}", lines[2]);

        let mut out = String::new();
        let mut c = Renderer::new(Format::Csv);
        c.loss("b1", &loss, &mut out);
        c.heartbeat("b1", &hb, &mut out);
        c.header("b1", &h, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn formats_parse() {
        assert_eq!(Format::parse("csv"), Ok(Format::Csv));
        assert_eq!(Format::parse("json"), Ok(Format::Json));
        assert_eq!(Format::parse("text"), Ok(Format::Text));
        assert!(Format::parse("xml").unwrap_err().contains("csv"));
    }
}
