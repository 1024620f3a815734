//! The text a scraper reads on /metrics: the Prometheus text exposition format (version
//! 0.0.4) or OpenMetrics 1.0, from the tally as it is now.
//!
//! Both formats group every sample of a metric family after its `# HELP` and `# TYPE`
//! lines, so the text is written family by family, the boards inside each. They differ
//! in what those lines name (OpenMetrics names a counter's family without `_total`, its
//! samples keep it), in `# UNIT`, and in the `# EOF` that ends OpenMetrics. Label values
//! are a name by the rule of the decoder's JSON output (`taskwire_cli::output::plain`:
//! printable ASCII, other bytes and the backslash as `\xNN`), then escaped for the format
//! (`\\`, `\"`; a newline cannot remain).

use std::fmt::Write;
use std::time::UNIX_EPOCH;

use taskwire_cli::output::plain;
use taskwire_core::taskstats::Delay;
use taskwire_core::wire::LossReason;

use super::comms::CommCounts;
use crate::tally::{BoardRow, BrokerCounts, Tally};

/// Which of the two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// The Prometheus text format, version 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Flavor {
    /// The format a request's `Accept` header asks for: OpenMetrics when it names it
    /// (Prometheus itself asks for it first), the Prometheus text otherwise.
    pub fn from_accept(accept: Option<&str>) -> Flavor {
        match accept {
            Some(a)
                if a.to_ascii_lowercase()
                    .contains("application/openmetrics-text") =>
            {
                Flavor::OpenMetrics
            }
            _ => Flavor::Prometheus,
        }
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Flavor::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Flavor::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Counter,
    Gauge,
}

/// Writes families and their samples into a string.
struct Writer<'a> {
    out: &'a mut String,
    flavor: Flavor,
    /// The name samples of the current family take.
    sample_name: String,
}

impl Writer<'_> {
    /// Starts family `name` (a counter's without `_total`); `unit`: the base unit its
    /// name ends in, if any.
    fn family(&mut self, name: &str, ty: Type, unit: Option<&str>, help: &str) {
        self.sample_name = match ty {
            Type::Counter => format!("{name}_total"),
            Type::Gauge => name.to_owned(),
        };
        let (named, ty_name) = match (self.flavor, ty) {
            (Flavor::Prometheus, Type::Counter) => (self.sample_name.as_str(), "counter"),
            (_, Type::Counter) => (name, "counter"),
            (_, Type::Gauge) => (name, "gauge"),
        };
        let _ = writeln!(self.out, "# HELP {named} {help}");
        let _ = writeln!(self.out, "# TYPE {named} {ty_name}");
        if let (Flavor::OpenMetrics, Some(u)) = (self.flavor, unit) {
            let _ = writeln!(self.out, "# UNIT {named} {u}");
        }
    }

    /// One sample of the current family: labels as (name, value as [`label`] made it)
    /// and the value.
    fn sample(&mut self, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(&self.sample_name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                self.out.push_str(v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// `raw` as a label value: the names rule, then `\` and `"` escaped.
fn label(raw: &[u8]) -> String {
    let mut out = String::new();
    for c in plain(raw).chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A board with its labels made once per scrape: they are in every sample of it.
struct Row<'a> {
    /// The board's label, escaped.
    board: String,
    /// Its comm series with their labels, escaped.
    comms: Vec<(String, &'a CommCounts)>,
    b: BoardRow<'a>,
}

impl<'a> Row<'a> {
    fn new(b: BoardRow<'a>) -> Row<'a> {
        Row {
            board: label(b.label.as_bytes()),
            comms: b
                .series
                .comms
                .series()
                .map(|(c, n)| (label(c), n))
                .collect(),
            b,
        }
    }
}

/// A count of ns as seconds, exactly.
struct Seconds(u64);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{:09}",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

/// The category's label: its fields' prefix (`cpu`, `blkio`, ..., `irq`).
fn category(d: Delay) -> &'static str {
    let f = d.count_field().name();
    f.strip_suffix("_count").unwrap_or(f)
}

/// Every metric of `tally` now.
pub fn render(tally: &Tally, flavor: Flavor) -> String {
    let rows: Vec<Row<'_>> = tally.rows().map(Row::new).collect();
    let mut out = String::new();
    let mut w = Writer {
        out: &mut out,
        flavor,
        sample_name: String::new(),
    };
    decoder_wide(&mut w, tally);
    per_board(&mut w, &rows, tally.shared);
    per_comm(&mut w, &rows);
    per_task(&mut w, &rows);
    if flavor == Flavor::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn decoder_wide(w: &mut Writer<'_>, t: &Tally) {
    w.family(
        "taskwire_boards",
        Type::Gauge,
        None,
        "Boards in the decoder's table (at most 1024; idle ones are evicted past that).",
    );
    w.sample(&[], t.board_count());
    w.family(
        "taskwire_boards_evicted",
        Type::Counter,
        None,
        "Idle boards evicted from the full table (their series go away).",
    );
    w.sample(&[], t.evicted_boards);
    w.family(
        "taskwire_connections_accepted",
        Type::Counter,
        None,
        "Connections accepted by the listener, or sources opened.",
    );
    w.sample(&[], t.connections);
    w.family(
        "taskwire_connections_refused",
        Type::Counter,
        None,
        "Connections refused or closed before they became a board, by reason.",
    );
    for (reason, n) in [
        ("limit", t.refused_connections),
        ("no_header", t.refused_no_header),
        ("authentication", t.refused_authentication),
    ] {
        w.sample(&[("reason", reason)], n);
    }
    w.family(
        "taskwire_connections_closed_idle",
        Type::Counter,
        None,
        "Connections closed for sending nothing past the idle timeout.",
    );
    w.sample(&[], t.closed_idle);
    if let Some(b) = &t.broker {
        broker(w, b);
    }
}

/// What a decoder reading an MQTT broker counts of it.
fn broker(w: &mut Writer<'_>, b: &BrokerCounts) {
    for (name, help, n) in [
        (
            "taskwire_mqtt_connects",
            "Connections the MQTT broker accepted.",
            b.connects,
        ),
        (
            "taskwire_mqtt_outages",
            "Connections to the MQTT broker lost.",
            b.outages,
        ),
        (
            "taskwire_mqtt_sessions_lost",
            "Reconnections after which the broker had kept no session (what it queued is gone).",
            b.sessions_lost,
        ),
        (
            "taskwire_mqtt_payloads",
            "Stream payloads (PUBLISH messages) received.",
            b.payloads,
        ),
    ] {
        w.family(name, Type::Counter, None, help);
        w.sample(&[], n);
    }
    w.family(
        "taskwire_mqtt_status_messages",
        Type::Counter,
        None,
        "Changes of a board's status topic: online, stopped (it said so) or lost (its last \
         will: gone without a word).",
    );
    for (status, n) in [
        ("online", b.online),
        ("stopped", b.stopped),
        ("lost", b.lost),
    ] {
        w.sample(&[("status", status)], n);
    }
}

/// A per-board family: one sample per board of `value`.
fn board_family(
    w: &mut Writer<'_>,
    rows: &[Row<'_>],
    (name, ty, help): (&str, Type, &str),
    value: impl Fn(&Row<'_>) -> u64,
) {
    w.family(name, ty, None, help);
    for r in rows {
        w.sample(&[("board", &r.board)], value(r));
    }
}

fn per_board(w: &mut Writer<'_>, rows: &[Row<'_>], shared: bool) {
    w.family(
        "taskwire_records",
        Type::Counter,
        None,
        "Exit records decoded, by kind (pid: a task, tgid: a thread group); duplicates \
         not included.",
    );
    for r in rows {
        for (kind, n) in [("pid", r.b.counts.pid), ("tgid", r.b.counts.tgid)] {
            w.sample(&[("board", &r.board), ("kind", kind)], n);
        }
    }
    let c = Type::Counter;
    board_family(
        w,
        rows,
        ("taskwire_intervals", c, "Sampling intervals decoded."),
        |r| r.b.counts.intervals,
    );
    board_family(
        w,
        rows,
        (
            "taskwire_samples",
            c,
            "Samples (task rows of an interval) decoded.",
        ),
        |r| r.b.counts.samples,
    );
    w.family(
        "taskwire_losses",
        c,
        None,
        "What the board reported lost, by reason: records for queue_overflow and \
         sink_outage, overrun events for kernel_enobufs (the kernel's drops carry no count).",
    );
    for r in rows {
        for reason in LossReason::ALL {
            w.sample(
                &[("board", &r.board), ("reason", reason.name())],
                r.b.counts.lost(reason),
            );
        }
    }
    w.family(
        "taskwire_gaps_covered",
        c,
        None,
        "Sequence numbers missing between records that the board's Loss frames cover, by \
         reason.",
    );
    for r in rows {
        // ENOBUFS losses take no numbers: nothing is ever covered by them.
        for reason in [LossReason::QueueOverflow, LossReason::SinkOutage] {
            w.sample(
                &[("board", &r.board), ("reason", reason.name())],
                r.b.counts.covered_by(reason),
            );
        }
    }
    board_family(
        w,
        rows,
        (
            "taskwire_gaps_uncovered",
            Type::Gauge,
            "Sequence numbers missing between records that no Loss frame covers: lost in \
             transit. A gauge: a record arriving late takes its number off again.",
        ),
        |r| r.b.counts.seq.uncovered,
    );
    if shared {
        board_family(
            w,
            rows,
            (
                "taskwire_gaps_not_seen_here",
                Type::Gauge,
                "With an MQTT shared subscription: numbers missing between the records this \
                 decoder was handed that no Loss covers. Another decoder of the group has \
                 them, or they are lost: only the sum over the group tells.",
            ),
            |r| r.b.counts.not_seen_here,
        );
    }
    w.family(
        "taskwire_rejected_frames",
        c,
        None,
        "Frames rejected while reading the board's streams, by kind: overflow (too long), \
         cobs, checksum, payload, unsupported (a newer wire version), no_header.",
    );
    for r in rows {
        let j = &r.b.counts.rejected;
        for (kind, n) in [
            ("overflow", j.overflow),
            ("cobs", j.cobs),
            ("checksum", j.checksum),
            ("payload", j.payload),
            ("unsupported", j.unsupported),
            ("no_header", j.no_header),
        ] {
            w.sample(&[("board", &r.board), ("kind", kind)], n);
        }
    }
    board_family(
        w,
        rows,
        (
            "taskwire_duplicates",
            c,
            "Records and Loss frames received again (resent after a reconnect) and dropped.",
        ),
        |r| r.b.counts.seq.duplicates,
    );
    board_family(
        w,
        rows,
        (
            "taskwire_restarts",
            c,
            "Streams whose numbering started over: the agent restarted.",
        ),
        |r| r.b.counts.seq.restarts,
    );
    board_family(
        w,
        rows,
        ("taskwire_heartbeats", c, "Heartbeats received."),
        |r| r.b.counts.heartbeats,
    );
    board_family(
        w,
        rows,
        (
            "taskwire_streams",
            c,
            "Streams begun (stream headers received: one per connection of the agent).",
        ),
        |r| r.b.counts.seq.streams,
    );
    board_family(
        w,
        rows,
        (
            "taskwire_board_connections",
            Type::Gauge,
            "Connections (or other streams) reading the board now.",
        ),
        |r| u64::from(r.b.live),
    );
    w.family(
        "taskwire_last_seen_timestamp_seconds",
        Type::Gauge,
        Some("seconds"),
        "When this decoder last read a frame of the board, Unix time.",
    );
    for r in rows {
        if let Some(t) = r.b.last_seen {
            let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            w.sample(
                &[("board", &r.board)],
                format_args!("{}.{:03}", d.as_secs(), d.subsec_millis()),
            );
        }
    }
}

fn per_comm(w: &mut Writer<'_>, rows: &[Row<'_>]) {
    w.family(
        "taskwire_exits",
        Type::Counter,
        None,
        "Task exits (per-task records) by command name: the board's top comms each, the \
         rest under comm other, records without a comm under comm (none).",
    );
    for r in rows {
        for (comm, n) in &r.comms {
            w.sample(&[("board", &r.board), ("comm", comm)], n.exits);
        }
    }
    let delays = |w: &mut Writer<'_>, seconds: bool| {
        for r in rows {
            for (comm, n) in &r.comms {
                for (i, d) in Delay::ALL.iter().enumerate() {
                    if r.b.series.comms.has_category(i) {
                        let labels: [(&str, &str); 3] = [
                            ("board", &r.board),
                            ("comm", comm),
                            ("category", category(*d)),
                        ];
                        match seconds {
                            true => w.sample(&labels, Seconds(n.delay_ns[i])),
                            false => w.sample(&labels, n.delays[i]),
                        }
                    }
                }
            }
        }
    };
    w.family(
        "taskwire_delays",
        Type::Counter,
        None,
        "Delays recorded in exited tasks, by comm and delay-accounting category (cpu, \
         blkio, swapin, freepages, thrashing, compact, wpcopy, irq).",
    );
    delays(w, false);
    w.family(
        "taskwire_delay_seconds",
        Type::Counter,
        Some("seconds"),
        "Time exited tasks spent delayed, by comm and category.",
    );
    delays(w, true);
}

fn per_task(w: &mut Writer<'_>, rows: &[Row<'_>]) {
    w.family(
        "taskwire_task_delay_ratio",
        Type::Gauge,
        None,
        "Seconds of delay per second of the board's last sampling interval, by task and \
         category: the tasks with the most delay (stream --sample).",
    );
    for r in rows {
        for t in r.b.series.tasks.rows() {
            let tgid = t.tgid.to_string();
            let comm = label(t.comm.as_deref().unwrap_or(b""));
            for (d, ratio) in Delay::ALL.iter().zip(t.ratio) {
                // A category the task did not wait in is left out: fewer series.
                let Some(ratio) = ratio.filter(|&r| r > 0.0) else {
                    continue;
                };
                let labels: [(&str, &str); 4] = [
                    ("board", &r.board),
                    ("tgid", &tgid),
                    ("comm", &comm),
                    ("category", category(*d)),
                ];
                w.sample(&labels, ratio);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boards::Key;
    use crate::metrics::Metrics;
    use taskwire_core::taskstats::{DelayCounter, Deltas, Field, Kind, Value};
    use taskwire_core::wire::testutil::loss_of;
    use taskwire_core::wire::{Interval, Profile, Record, Sample};

    fn exit(seq: u64, comm: &[u8], cpu_ns: u64) -> Record {
        Record::build(seq, Kind::Pid, 1, Profile::Full, Some(comm), |f| match f {
            Field::CpuCount => Some(Value::Unsigned(1)),
            Field::CpuDelayTotal => Some(Value::Unsigned(cpu_ns)),
            _ => None,
        })
    }

    /// A tally fed as the decoder feeds it, with metrics of `top` comms.
    struct Fed {
        tally: Tally,
        metrics: Metrics,
        seq: u64,
    }

    impl Fed {
        fn new(top: usize) -> Fed {
            Fed {
                tally: Tally::new(),
                metrics: Metrics { top, server: None },
                seq: 0,
            }
        }

        fn exit(&mut self, board: &str, comm: &[u8], cpu_ns: u64) {
            let key = Key::named(board);
            let r = exit(self.seq, comm, cpu_ns);
            self.tally.record(&key, Kind::Pid, self.seq, self.seq == 0);
            self.seq += 1;
            self.metrics.record(self.tally.series(&key), &r);
        }
    }

    /// `name{labels} value` lines as (series, value).
    fn samples(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        samples(text)
            .into_iter()
            .find(|(k, _)| k == series)
            .map(|(_, v)| v.parse().unwrap())
    }

    #[test]
    fn names_are_escaped_for_the_format() {
        let mut f = Fed::new(10);
        for _ in 0..4 {
            f.exit("b \"1\"\\\n\u{e9}", b"a\"b\\c\x1b\xff", 1_500_000_000);
        }
        let text = render(&f.tally, Flavor::Prometheus);
        // The names rule first (\\, controls, non-ASCII as \xNN), then \ and " escaped.
        let board = r#"board="b \"1\"\\x5c\\x0a\\xc3\\xa9""#;
        assert!(
            text.contains(&format!(
                "taskwire_records_total{{{board},kind=\"pid\"}} 4\n"
            )),
            "{text}"
        );
        let comm = r#"comm="a\"b\\x5cc\\x1b\\xff""#;
        assert!(
            text.contains(&format!("taskwire_exits_total{{{board},{comm}}} 1\n")),
            "{text}"
        );
        assert!(text.contains(&format!(
            "taskwire_delay_seconds_total{{{board},{comm},category=\"cpu\"}} 1.500000000\n"
        )));
        // Every line is a comment or one sample; nothing else broke a line.
        for l in text.lines() {
            assert!(l.starts_with("# ") || l.starts_with("taskwire_"), "{l}");
        }
    }

    #[test]
    fn both_flavors_name_counters_as_their_specs_say() {
        let mut f = Fed::new(10);
        f.exit("b", b"x", 1);
        let p = render(&f.tally, Flavor::Prometheus);
        assert!(p.contains("# TYPE taskwire_records_total counter\n"));
        assert!(p.contains("# TYPE taskwire_gaps_uncovered gauge\n"));
        assert!(!p.contains("# UNIT") && !p.contains("# EOF"));
        let o = render(&f.tally, Flavor::OpenMetrics);
        assert!(o.contains("# TYPE taskwire_records counter\n"));
        assert!(o.contains("# UNIT taskwire_delay_seconds seconds\n"));
        assert!(o.contains("\ntaskwire_records_total{board=\"b\",kind=\"pid\"} 1\n"));
        assert!(o.ends_with("\n# EOF\n"));
        assert_eq!(samples(&p), samples(o.trim_end_matches("# EOF\n")));
        // HELP texts hold nothing either format would have to escape.
        for l in o.lines().filter(|l| l.starts_with("# HELP")) {
            assert!(!l.contains('"') && !l.contains('\\'), "{l}");
        }
        // Families are never split: each TYPE line once.
        let mut types: Vec<&str> = o.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let n = types.len();
        types.dedup();
        assert_eq!(types.len(), n);
    }

    #[test]
    fn counters_stay_monotonic_and_series_bounded_as_comms_come_and_go() {
        let mut f = Fed::new(3);
        let mut before: Vec<(String, String)> = Vec::new();
        for round in 0..200u64 {
            // A changing population: a few steady comms, a new comm every round, and one
            // that gets busy late.
            f.exit("b", b"steady1", 10);
            f.exit("b", b"steady2", 10);
            f.exit("b", format!("new{round}").as_bytes(), 10);
            if round > 100 {
                for _ in 0..5 {
                    f.exit("b", b"late", 10);
                }
            }
            let text = render(&f.tally, Flavor::Prometheus);
            let now = samples(&text);
            let exits: Vec<_> = now
                .iter()
                .filter(|(k, _)| k.starts_with("taskwire_exits_total"))
                .collect();
            assert!(exits.len() <= 3 + 1, "{exits:?}");
            for (k, v) in &before {
                if k.starts_with("taskwire_last_seen") {
                    continue;
                }
                let m = now.iter().find(|(n, _)| n == k).map(|(_, m)| m);
                let (old, new) = (v.parse::<f64>().unwrap(), m.map(|m| m.parse::<f64>()));
                assert!(matches!(new, Some(Ok(n)) if n >= old), "{k}: {v} -> {m:?}");
            }
            let sum: f64 = exits.iter().map(|(_, v)| v.parse::<f64>().unwrap()).sum();
            let records = value(&text, "taskwire_records_total{board=\"b\",kind=\"pid\"}");
            assert_eq!(Some(sum), records, "every exit in exactly one series");
            before = now;
        }
    }

    #[test]
    fn losses_gaps_rejections_and_task_rates_are_exported() {
        let mut f = Fed::new(2);
        let key = Key::named("b");
        f.tally.header(&key);
        f.tally.record(&key, Kind::Pid, 0, true);
        f.tally
            .loss(&key, &loss_of(LossReason::QueueOverflow, 3, 4), false);
        f.tally.record(&key, Kind::Tgid, 6, false);
        let mut i = Interval::new(0, 2000);
        i.rows = 3;
        f.tally.interval(&key, 7, false);
        f.metrics.interval(f.tally.series(&key), &i);
        for (seq, tgid, ms) in [(8, 10, 100), (9, 11, 1000), (10, 12, 0)] {
            let mut d = Deltas::empty(2_000_000_000);
            d.delays[1] = Some(DelayCounter {
                count: 1,
                total_ns: ms * 1_000_000,
            });
            let s = Sample::new(0, tgid, Some(b"t"), &d);
            f.tally.sample(&key, seq, false);
            f.metrics.sample(f.tally.series(&key), &s);
        }
        let text = render(&f.tally, Flavor::Prometheus);
        for (series, v) in [
            ("taskwire_records_total{board=\"b\",kind=\"tgid\"}", 1.0),
            (
                "taskwire_losses_total{board=\"b\",reason=\"queue_overflow\"}",
                3.0,
            ),
            (
                "taskwire_gaps_covered_total{board=\"b\",reason=\"queue_overflow\"}",
                3.0,
            ),
            ("taskwire_gaps_uncovered{board=\"b\"}", 2.0),
            ("taskwire_intervals_total{board=\"b\"}", 1.0),
            ("taskwire_samples_total{board=\"b\"}", 3.0),
            ("taskwire_board_connections{board=\"b\"}", 0.0),
            (
                "taskwire_task_delay_ratio{board=\"b\",tgid=\"11\",comm=\"t\",category=\"blkio\"}",
                0.5,
            ),
            (
                "taskwire_task_delay_ratio{board=\"b\",tgid=\"10\",comm=\"t\",category=\"blkio\"}",
                0.05,
            ),
        ] {
            assert_eq!(value(&text, series), Some(v), "{series}\n{text}");
        }
        assert!(!text.contains("tgid=\"12\""), "top 2 tasks only");
        let seen = value(&text, "taskwire_last_seen_timestamp_seconds{board=\"b\"}").unwrap();
        assert!(seen > 1.7e9, "{seen}");
    }

    /// What one scrape costs the decoder's loop with the board table full: every board
    /// with K comms of its own, `other` and three delay categories. A measurement, not a
    /// check (BENCHMARKS.md, "Metrics"): `cargo test --release -p taskwire-collector
    /// render_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn render_cost_of_a_full_table() {
        let mut f = Fed::new(crate::metrics::DEFAULT_TOP_COMMS);
        for b in 0..crate::boards::MAX_BOARDS {
            let board = format!("board-{b:04}");
            for c in 0..15 {
                for _ in 0..5 {
                    f.exit(&board, format!("comm{c}").as_bytes(), 1000);
                }
            }
        }
        let mut times = Vec::new();
        let mut text = String::new();
        for _ in 0..10 {
            let t = std::time::Instant::now();
            text = render(&f.tally, Flavor::OpenMetrics);
            times.push(t.elapsed());
        }
        times.sort();
        eprintln!(
            "render of {} boards: {} bytes, {} samples, median {:?} [{:?}-{:?}] over 10",
            f.tally.board_count(),
            text.len(),
            samples(text.trim_end_matches("# EOF\n")).len(),
            times[5],
            times[0],
            times[9]
        );
    }
}
