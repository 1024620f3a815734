//! The page: one HTML document holding its style, its charts (SVG written by
//! [`super::svg`]) and a small script for sorting tables and hover tips, so that it opens
//! anywhere without a network. Its Content-Security-Policy forbids loading anything at all.
//!
//! Layout: a summary of the source and every board's counts (the tally's, as `decode
//! --stats` prints them), then a section per board, for the [`MAX_SECTIONS`] boards with
//! the most records: header facts, exits over time with losses marked, losses and gaps,
//! top commands per delay category, per-exit delay histograms, how tasks ended, live
//! tasks when the stream had samples.

mod delays;
mod endings;
mod live;
mod timeline;

use std::collections::HashMap;
use std::fmt::Write;

use taskwire_core::wire::LossReason;

use super::aggregate::{Aggregate, BoardSummary};
use super::html::{count, duration, name, name_string, utc};
use crate::tally::{Counts, Tally};

/// Boards drawn in full; the others are rows of the summary table.
pub const MAX_SECTIONS: usize = 16;
const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("script.js");

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
    name(&mut out, input.source.as_bytes());
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
    name(out, input.source.as_bytes());
    let _ = write!(
        out,
        "</p><p class=\"totals\" data-records=\"{}\" data-boards=\"{boards}\">\
         <b>{}</b> exit records, <b>{}</b> samples in <b>{}</b> intervals from <b>{}</b> \
         board{}; <b>{}</b> sequence numbers lost (<b>{}</b> reported by the agents, <b>{}</b> \
         missing in transit), <b>{}</b> frames rejected, <b>{}</b> duplicates dropped.</p>",
        total.records(),
        count(total.records()),
        count(total.samples),
        count(total.intervals),
        count(boards),
        if boards == 1 { "" } else { "s" },
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

pub(super) fn num_cell(out: &mut String, v: u64) {
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
    timeline::timeline(out, b);
    timeline::events(out, b, c);
    delays::commands(out, b);
    delays::histograms(out, b);
    endings::endings(out, b);
    live::live(out, b);
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

/// A comm's HTML (records of the `delays` profile carry none).
fn comm_html(c: Option<&[u8]>) -> String {
    match c {
        Some([]) => "(empty)".to_owned(),
        Some(c) => name_string(c),
        None => "(no comm)".to_owned(),
    }
}

/// The delay category's field name (`cpu`, `blkio`, ...).
fn category(i: usize) -> &'static str {
    taskwire_cli::output::live::CATEGORY_NAMES
        .get(i)
        .copied()
        .unwrap_or("?")
}
