//! A board's exits along its timeline, with losses marked, and the list of its losses and
//! gaps.

use std::fmt::Write;

use taskwire_core::wire::LossReason;

use super::num_cell;
use crate::report::aggregate::{Axis, BoardSummary, MAX_EVENTS};
use crate::report::html::{count, utc};
use crate::report::svg::{self, Column};
use crate::report::timeline::Bucket;
use crate::tally::Counts;

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

pub(super) fn timeline(out: &mut String, b: &BoardSummary) {
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

pub(super) fn events(out: &mut String, b: &BoardSummary, c: &Counts) {
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
