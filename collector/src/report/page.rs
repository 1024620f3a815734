//! The page: one HTML document holding its style, its charts (SVG written by
//! [`super::svg`]) and a small script for sorting tables and hover tips, so that it opens
//! anywhere without a network. Its Content-Security-Policy forbids loading anything at all.
//!
//! Layout: a summary of the source and every board's counts (the tally's, as `decode
//! --stats` prints them), then a section per board, for the [`MAX_SECTIONS`] boards with
//! the most records: header facts, exits over time with losses marked, losses and gaps,
//! top commands per delay category, per-exit delay histograms, how tasks ended, live
//! tasks when the stream had samples.

use std::collections::HashMap;
use std::fmt::Write;

use taskwire_core::taskstats::Delay;
use taskwire_core::wire::LossReason;

use super::aggregate::{Aggregate, Axis, BoardSummary, Ending, MAX_EVENTS};
use super::comms::{CommTotals, DELAYS};
use super::histogram::bucket_floor;
use super::html::{count, duration, name, name_string, percent, text, utc};
use super::svg::{self, Column, Line, Row};
use super::timeline::Bucket;
use crate::tally::{Counts, Tally};

/// Boards drawn in full; the others are rows of the summary table.
pub const MAX_SECTIONS: usize = 16;
/// Commands per delay category's chart.
const TOP_COMMS: usize = 10;
/// Rows of a board's table of commands.
const TABLE_COMMS: usize = 50;
/// Live tasks drawn as lines.
const TOP_TASKS: usize = 8;

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// What a page is made of.
#[derive(Debug)]
pub struct Input<'a> {
    /// The source as `--from` named it.
    pub source: &'a str,
    /// The decoder's counts.
    pub tally: &'a Tally,
    /// The summaries.
    pub aggregate: &'a Aggregate,
    /// Reading the source failed before its end: the page is of what came before.
    pub cut_short: bool,
}

/// The whole page.
pub fn render(input: &Input<'_>) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <meta name=\"generator\" content=\"taskwire ",
    );
    out.push_str(env!("CARGO_PKG_VERSION"));
    out.push_str("\"><title>taskwire report: ");
    text(&mut out, input.source);
    out.push_str("</title><style>");
    out.push_str(STYLE);
    out.push_str("</style></head><body>\n");
    summary(&mut out, input);
    let counts: HashMap<&str, Counts> = input.tally.boards().collect();
    for (i, b) in sections(input).into_iter().enumerate() {
        let c = counts.get(b.label.as_str()).copied().unwrap_or_default();
        board(&mut out, i, b, &c);
    }
    out.push_str("<div id=\"tip\" hidden></div>\n<script>");
    out.push_str(SCRIPT);
    out.push_str("</script></body></html>\n");
    out
}

/// The boards drawn in full: the most records first, at most [`MAX_SECTIONS`], then in
/// the order seen.
fn sections<'a>(input: &Input<'a>) -> Vec<&'a BoardSummary> {
    let mut v: Vec<(usize, &BoardSummary)> = input.aggregate.boards().iter().enumerate().collect();
    v.sort_by(|a, b| b.1.records.cmp(&a.1.records).then(a.0.cmp(&b.0)));
    v.truncate(MAX_SECTIONS);
    v.sort_by_key(|x| x.0);
    v.into_iter().map(|x| x.1).collect()
}

fn summary(out: &mut String, input: &Input<'_>) {
    let t = input.tally;
    let total = t.total();
    let boards = t.board_count() as u64 + t.evicted_boards;
    out.push_str("<header><h1>taskwire report</h1><p class=\"source\">");
    text(out, input.source);
    let _ = write!(
        out,
        "</p><p class=\"totals\" data-records=\"{}\" data-boards=\"{boards}\">\
         <b>{}</b> exit records, <b>{}</b> samples in <b>{}</b> intervals from <b>{}</b> \
         boards; <b>{}</b> sequence numbers lost (<b>{}</b> reported by the agents, <b>{}</b> \
         missing in transit), <b>{}</b> frames rejected, <b>{}</b> duplicates dropped.</p>",
        total.records(),
        count(total.records()),
        count(total.samples),
        count(total.intervals),
        count(boards),
        count(total.gaps()),
        count(total.covered_total()),
        count(total.seq.uncovered),
        count(total.rejected.total()),
        count(total.seq.duplicates),
    );
    if input.cut_short {
        out.push_str(
            "<p class=\"warn\">Reading the source failed before its end: this is what came \
             before.</p>",
        );
    }
    if t.evicted_boards > 0 {
        let _ = write!(
            out,
            "<p class=\"warn\">{} boards were evicted from the decoder's full table: they \
             are in the totals, not in the table below.</p>",
            count(t.evicted_boards)
        );
    }
    out.push_str(
        "</header>\n<h2>Boards</h2><table class=\"sort\" id=\"boards\"><thead><tr>\
         <th>board</th><th>records</th><th>per task</th><th>per group</th>\
         <th>samples</th><th>lost (agent)</th><th>ENOBUFS</th><th>missing</th>\
         <th>rejected</th><th>duplicates</th><th>restarts</th></tr></thead><tbody>",
    );
    let drawn: Vec<&str> = sections(input).iter().map(|b| b.label.as_str()).collect();
    for (label, c) in t.boards() {
        let _ = write!(
            out,
            "<tr data-board=\"{}\"><td>",
            name_string(label.as_bytes())
        );
        match drawn.iter().position(|&d| d == label) {
            Some(i) => {
                let _ = write!(
                    out,
                    "<a href=\"#b{i}\">{}</a>",
                    name_string(label.as_bytes())
                );
            }
            None => name(out, label.as_bytes()),
        }
        out.push_str("</td>");
        for v in [
            c.records(),
            c.pid,
            c.tgid,
            c.samples,
            c.covered_total(),
            c.lost(LossReason::KernelEnobufs),
            c.seq.uncovered,
            c.rejected.total(),
            c.seq.duplicates,
            c.seq.restarts,
        ] {
            num_cell(out, v);
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
    if input.aggregate.boards().len() > drawn.len() {
        let _ = write!(
            out,
            "<p class=\"note\">The {} boards with the most records are drawn below.</p>",
            drawn.len()
        );
    }
}

fn num_cell(out: &mut String, v: u64) {
    let _ = write!(out, "<td data-v=\"{v}\">{}</td>", count(v));
}

fn board(out: &mut String, i: usize, b: &BoardSummary, c: &Counts) {
    let label = name_string(b.label.as_bytes());
    let _ = write!(
        out,
        "<section class=\"board\" id=\"b{i}\" data-board=\"{label}\" data-records=\"{}\" \
         data-lost=\"{}\" data-missing=\"{}\" data-rejected=\"{}\"><h2>Board {label}</h2>",
        c.records(),
        c.covered_total(),
        c.seq.uncovered,
        c.rejected.total(),
    );
    facts(out, b, c);
    timeline(out, b);
    events(out, b, c);
    commands(out, b);
    histograms(out, b);
    endings(out, b);
    live(out, b);
    out.push_str("</section>\n");
}

fn fact(out: &mut String, k: &str, v_html: &str) {
    let _ = write!(out, "<dt>{k}</dt><dd>{v_html}</dd>");
}

fn facts(out: &mut String, b: &BoardSummary, c: &Counts) {
    out.push_str("<dl class=\"facts\">");
    if let Some(h) = &b.header {
        fact(out, "board id", &name_string(h.board_id.as_bytes()));
        fact(out, "instance", &format!("{:016x}", h.instance));
        fact(out, "agent", &name_string(h.agent_version.as_bytes()));
        fact(out, "kernel", &name_string(h.kernel_release.as_bytes()));
        fact(
            out,
            "taskstats",
            &format!("version {}", h.taskstats_version),
        );
        let acct = match h.delay_accounting {
            Some(true) => "on",
            Some(false) => "off (only CPU delays are measured)",
            None => "unknown",
        };
        fact(out, "delay accounting", acct);
        fact(out, "CPUs", &name_string(h.possible_cpus.as_bytes()));
        fact(out, "boot time", &format!("{} UTC", utc(h.boot_time)));
        fact(
            out,
            "wire",
            &format!("version {}, schema {:#010x}", h.wire_version, h.schema_hash),
        );
    } else {
        fact(out, "header", "none read (a stream read from its middle)");
    }
    fact(out, "streams", &count(b.headers));
    let profiles: Vec<String> = ["full", "acct", "delays"]
        .iter()
        .zip(b.profiles)
        .filter(|(_, n)| *n > 0)
        .map(|(p, n)| format!("{p} ({})", count(n)))
        .collect();
    if !profiles.is_empty() {
        fact(out, "profile", &profiles.join(", "));
    }
    fact(
        out,
        "records",
        &format!(
            "<b class=\"records\">{}</b> ({} per task, {} per thread group)",
            count(c.records()),
            count(c.pid),
            count(c.tgid)
        ),
    );
    if c.samples + c.intervals > 0 {
        fact(
            out,
            "samples",
            &format!("{} in {} intervals", count(c.samples), count(c.intervals)),
        );
    }
    let mut lost = format!(
        "{} numbers reported lost by the agent",
        count(c.covered_total())
    );
    for r in [LossReason::QueueOverflow, LossReason::SinkOutage] {
        if c.covered_by(r) > 0 {
            let _ = write!(lost, ", {} {}", count(c.covered_by(r)), r.name());
        }
    }
    let _ = write!(
        lost,
        "; {} ENOBUFS events; {} missing in transit",
        count(c.lost(LossReason::KernelEnobufs)),
        count(c.seq.uncovered)
    );
    fact(out, "losses", &lost);
    let r = &c.rejected;
    fact(
        out,
        "rejected frames",
        &format!(
            "{} (checksum {}, COBS {}, payload {}, overflow {}, newer wire {})",
            count(r.total()),
            count(r.checksum),
            count(r.cobs),
            count(r.payload),
            count(r.overflow),
            count(r.unsupported)
        ),
    );
    fact(
        out,
        "duplicates, restarts",
        &format!("{}, {}", count(c.seq.duplicates), count(c.seq.restarts)),
    );
    if b.heartbeats > 0 {
        let up = b
            .uptime_ms
            .map(|ms| {
                format!(
                    ", the last at agent uptime {}",
                    duration(ms.saturating_mul(1_000_000))
                )
            })
            .unwrap_or_default();
        fact(out, "heartbeats", &format!("{}{up}", count(b.heartbeats)));
    }
    out.push_str("</dl>");
}

/// What a bucket's position reads as.
fn position(axis: Axis, at: u64, width: u64) -> String {
    match (axis, width) {
        (Axis::Time, 1) => format!("{} UTC", utc(at)),
        (Axis::Time, w) => format!("{} UTC + {w} s", utc(at)),
        (Axis::Seq, 1) => format!("seq {at}"),
        (Axis::Seq, w) => format!("seq {at} to {}", at.saturating_add(w - 1)),
    }
}

fn loss_text(b: &Bucket) -> String {
    let mut parts = Vec::new();
    if b.lost > 0 {
        parts.push(format!("{} lost (agent)", count(b.lost)));
    }
    if b.enobufs > 0 {
        parts.push(format!("{} ENOBUFS events", count(b.enobufs)));
    }
    if b.uncovered > 0 {
        parts.push(format!("{} missing in transit", count(b.uncovered)));
    }
    parts.join(", ")
}

fn timeline(out: &mut String, b: &BoardSummary) {
    out.push_str("<h3>Exits over time</h3>");
    let (Some(axis), span) = (b.axis, b.timeline.span()) else {
        out.push_str("<p class=\"note\">No exit records.</p>");
        return;
    };
    if span.is_empty() {
        out.push_str("<p class=\"note\">No record has a time.</p>");
        return;
    }
    let w = b.timeline.width();
    let cols: Vec<Column> = span
        .iter()
        .map(|(at, k)| Column {
            value: k.exits,
            tip: format!("{}: {} exits", position(axis, *at, w), count(k.exits)),
            alert: k
                .has_loss()
                .then(|| format!("{}: {}", position(axis, *at, w), loss_text(k))),
        })
        .collect();
    let first = span.first().map_or(0, |s| s.0);
    let last = span.last().map_or(0, |s| s.0);
    let mid = span.get(span.len() / 2).map_or(0, |s| s.0);
    let label = |at: u64| match axis {
        Axis::Time => utc(at),
        Axis::Seq => format!("seq {at}"),
    };
    let unit = match (axis, w) {
        (Axis::Time, 1) => "exits/s".to_owned(),
        (Axis::Time, w) => format!("per {w} s"),
        (Axis::Seq, w) => format!("per {w} seq"),
    };
    // Fewer than three bars: the middle label would repeat an end's.
    let mid = match span.len() {
        0..=2 => String::new(),
        _ => label(mid),
    };
    svg::columns(
        out,
        "timeline",
        &cols,
        [&label(first), &mid, &label(last)],
        &unit,
    );
    let what = match axis {
        Axis::Time => "exit time (start + elapsed, UTC)",
        Axis::Seq => "sequence number (records of the delays profile carry no time)",
    };
    let _ = write!(
        out,
        "<p class=\"note\">Along the {what}, {} per bar; red marks where numbers were lost.",
        match axis {
            Axis::Time if w == 1 => "one second".to_owned(),
            Axis::Time => format!("{w} seconds"),
            Axis::Seq => format!("{w} numbers"),
        }
    );
    let u = &b.untimed;
    if u.exits > 0 || u.has_loss() {
        let _ = write!(
            out,
            " Before the first record with a time: {} exits{}{}.",
            count(u.exits),
            if u.has_loss() { ", " } else { "" },
            loss_text(u)
        );
    }
    out.push_str("</p>");
}

fn events(out: &mut String, b: &BoardSummary, c: &Counts) {
    out.push_str("<h3>Losses and gaps</h3>");
    if b.events.is_empty() {
        let _ = write!(
            out,
            "<p class=\"note\">None: every number from the first to the last ({}) arrived.</p>",
            count(c.records() + c.intervals + c.samples)
        );
        return;
    }
    out.push_str(
        "<table class=\"sort events\"><thead><tr><th>what</th><th>count</th>\
         <th>from seq</th><th>where</th></tr></thead><tbody>",
    );
    for e in &b.events {
        let what = match e.reason {
            Some(LossReason::KernelEnobufs) => "kernel ENOBUFS (events)",
            Some(LossReason::QueueOverflow) => "queue overflow (agent)",
            Some(LossReason::SinkOutage) => "sink outage (agent)",
            None => "missing in transit",
        };
        let at = match (b.axis, e.at) {
            (Some(Axis::Time), Some(t)) => format!("{} UTC", utc(t)),
            (Some(Axis::Seq), Some(s)) => format!("seq {s}"),
            _ => "before the first timed record".to_owned(),
        };
        let _ = write!(out, "<tr><td>{what}</td>");
        num_cell(out, e.count);
        num_cell(out, e.first_seq);
        let _ = write!(out, "<td data-v=\"{}\">{at}</td></tr>", e.at.unwrap_or(0));
    }
    out.push_str("</tbody></table>");
    if b.more_events > 0 {
        let _ = write!(
            out,
            "<p class=\"note\">The first {MAX_EVENTS}; {} more are in the counts and the \
             timeline.</p>",
            count(b.more_events)
        );
    }
}

/// A comm's HTML (records of the `delays` profile carry none).
fn comm_html(c: Option<&[u8]>) -> String {
    match c {
        Some([]) => "(empty)".to_owned(),
        Some(c) => name_string(c),
        None => "(no comm)".to_owned(),
    }
}

fn commands(out: &mut String, b: &BoardSummary) {
    out.push_str("<h3>Top commands by delay</h3>");
    let used: Vec<usize> = (0..DELAYS)
        .filter(|&i| !b.comms.top(i, 1).is_empty())
        .collect();
    if used.is_empty() {
        out.push_str("<p class=\"note\">No delay recorded in any exit record.</p>");
    }
    for &i in &used {
        let d = Delay::ALL[i];
        let rows: Vec<Row> = b
            .comms
            .top(i, TOP_COMMS)
            .into_iter()
            .map(|(comm, t)| {
                let label_html = comm_html(comm);
                let tip_html = format!(
                    "{label_html}: {} delay in {} delays over {} exits, {} per delay",
                    duration(t.total_ns[i]),
                    count(t.count[i]),
                    count(t.exits),
                    duration(t.total_ns[i].checked_div(t.count[i]).unwrap_or(0))
                );
                Row {
                    label_html,
                    value: t.total_ns[i],
                    shown: duration(t.total_ns[i]),
                    tip_html,
                }
            })
            .collect();
        let _ = write!(out, "<h4>{} delay ({})</h4>", d.name(), category(i));
        svg::rows(out, "top", &rows);
    }
    if b.comms.is_empty() {
        return;
    }
    out.push_str("<table class=\"sort comms\"><thead><tr><th>command</th><th>exits</th>");
    for &i in &used {
        let _ = write!(out, "<th>{} delay</th>", Delay::ALL[i].name());
    }
    out.push_str("</tr></thead><tbody>");
    let row = |out: &mut String, label: &str, t: &CommTotals| {
        let _ = write!(out, "<tr><td>{label}</td>");
        num_cell(out, t.exits);
        for &i in &used {
            let _ = write!(
                out,
                "<td data-v=\"{}\">{}</td>",
                t.total_ns[i],
                duration(t.total_ns[i])
            );
        }
        out.push_str("</tr>");
    };
    for (comm, t) in b.comms.by_exits(TABLE_COMMS) {
        row(out, &comm_html(comm), t);
    }
    if b.comms.other_names > 0 {
        row(out, "(names past the first 1,024)", &b.comms.other);
    }
    out.push_str("</tbody></table>");
    if b.comms.len() > TABLE_COMMS {
        let _ = write!(
            out,
            "<p class=\"note\">The {TABLE_COMMS} commands with the most exits of {}.</p>",
            count(b.comms.len() as u64)
        );
    }
}

/// The delay category's field name (`cpu`, `blkio`, ...).
fn category(i: usize) -> &'static str {
    taskwire_cli::output::live::CATEGORY_NAMES
        .get(i)
        .copied()
        .unwrap_or("?")
}

fn histograms(out: &mut String, b: &BoardSummary) {
    out.push_str("<h3>Delay per exit</h3>");
    let mut any = false;
    for (i, h) in b.histograms.iter().enumerate() {
        let Some(used) = h.used() else { continue };
        any = true;
        let cols: Vec<Column> = used
            .clone()
            .map(|k| {
                let lo = bucket_floor(k);
                let hi = bucket_floor(k + 1).saturating_sub(1);
                let range = match k {
                    0 => "0 ns".to_owned(),
                    64 => format!("{} and more", duration(lo)),
                    _ => format!("{} to {}", duration(lo), duration(hi)),
                };
                Column {
                    value: h.buckets[k],
                    tip: format!("{range}: {} exits", count(h.buckets[k])),
                    alert: None,
                }
            })
            .collect();
        let (first, last) = (*used.start(), *used.end());
        let mid = first + (last - first) / 2;
        let _ = write!(
            out,
            "<h4>{} delay ({}): {} exits with a delay, {} without</h4>",
            Delay::ALL[i].name(),
            category(i),
            count(h.delayed()),
            count(h.none)
        );
        svg::columns(
            out,
            "histogram",
            &cols,
            [
                &duration(bucket_floor(first)),
                &duration(bucket_floor(mid)),
                &duration(bucket_floor(last)),
            ],
            "exits",
        );
    }
    if any {
        out.push_str(
            "<p class=\"note\">An exit's delay is its total of the category; each bar is a \
             power of two of nanoseconds (log scale).</p>",
        );
    } else {
        out.push_str("<p class=\"note\">No delay recorded in any exit record.</p>");
    }
}

fn endings(out: &mut String, b: &BoardSummary) {
    out.push_str("<h3>How tasks ended</h3>");
    if b.endings.is_empty() {
        out.push_str(
            "<p class=\"note\">No record carries an exit code (the delays profile does not).</p>",
        );
        return;
    }
    let total: u64 = b.endings.values().sum();
    let mut sorted: Vec<(&Ending, &u64)> = b.endings.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let rows: Vec<Row> = sorted
        .iter()
        .map(|&(e, &n)| {
            let label_html = ending(*e);
            Row {
                tip_html: format!(
                    "{label_html}: {} exits, {}",
                    count(n),
                    percent(n.saturating_mul(1_000_000) / total.max(1))
                ),
                label_html,
                value: n,
                shown: count(n),
            }
        })
        .collect();
    svg::rows(out, "endings", &rows);
    out.push_str(
        "<table class=\"sort endings\"><thead><tr><th>ended by</th><th>exits</th></tr>\
         </thead><tbody>",
    );
    for (e, &n) in sorted {
        let _ = write!(out, "<tr><td>{}</td>", ending(*e));
        num_cell(out, n);
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

fn ending(e: Ending) -> String {
    match e {
        Ending::Exit(c) => format!("exit {c}"),
        Ending::Signal(s) => match taskwire_cli::signals::name(i32::from(s)) {
            "" | "?" => format!("signal {s}"),
            n => format!("signal {s} ({n})"),
        },
    }
}

fn live(out: &mut String, b: &BoardSummary) {
    let s = &b.samples;
    if s.rows == 0 && s.intervals == 0 {
        return;
    }
    out.push_str("<h3>Live tasks</h3>");
    let top = s.top(TOP_TASKS);
    let Some((x0, x1)) = s.range() else {
        out.push_str("<p class=\"note\">Intervals without samples.</p>");
        return;
    };
    let lines: Vec<Line> = top
        .iter()
        .map(|t| Line {
            label_html: format!("{} {}", t.tgid, comm_html(t.comm.as_deref())),
            points: t.points().collect(),
        })
        .collect();
    let w = s.width();
    svg::lines(
        out,
        "live",
        &lines,
        (x0, x1, w),
        &|ppm| percent(ppm),
        &|x| match w {
            1 => format!("interval {x}"),
            w => format!("intervals {x} to {}", x.saturating_add(w - 1)),
        },
    );
    let _ = write!(
        out,
        "<p class=\"note\">Delay (every category) as a share of wall time, per task, over \
         the sampling intervals{}; the {} tasks with the most delay of {} followed{}.</p>",
        if w > 1 {
            format!(" ({w} intervals a point)")
        } else {
            String::new()
        },
        lines.len(),
        count(s.top(usize::MAX).len() as u64),
        if s.evicted > 0 {
            format!(
                " ({} quieter tasks were let go to keep the memory bounded)",
                count(s.evicted)
            )
        } else {
            String::new()
        }
    );
    let used: Vec<usize> = (0..DELAYS)
        .filter(|&i| s.top(usize::MAX).iter().any(|t| t.delay_ns[i] > 0))
        .collect();
    out.push_str(
        "<table class=\"sort tasks\"><thead><tr><th>tgid</th><th>command</th>\
         <th>samples</th><th>CPU</th><th>delay</th>",
    );
    for &i in &used {
        let _ = write!(out, "<th>{}</th>", Delay::ALL[i].name());
    }
    out.push_str("</tr></thead><tbody>");
    for t in s.top(usize::MAX) {
        let _ = write!(
            out,
            "<tr><td data-v=\"{}\">{}</td><td class=\"t\">{}</td>",
            t.tgid,
            t.tgid,
            comm_html(t.comm.as_deref())
        );
        num_cell(out, t.rows);
        let cpu_ns = t.cpu_us.saturating_mul(1_000);
        let _ = write!(
            out,
            "<td data-v=\"{cpu_ns}\">{}</td><td data-v=\"{}\">{}</td>",
            duration(cpu_ns),
            t.delay_total(),
            duration(t.delay_total())
        );
        for &i in &used {
            let _ = write!(
                out,
                "<td data-v=\"{}\">{}</td>",
                t.delay_ns[i],
                duration(t.delay_ns[i])
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}
