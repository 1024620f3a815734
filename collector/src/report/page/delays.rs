//! Delay per command (the top of each category, and a table) and the distribution of
//! each exit's delay per category.

use std::fmt::Write;

use taskwire_core::taskstats::Delay;

use super::{category, comm_html, num_cell};
use crate::report::aggregate::BoardSummary;
use crate::report::comms::{CommTotals, DELAYS};
use crate::report::histogram::bucket_floor;
use crate::report::html::{count, duration};
use crate::report::svg::{self, Column, Row};

/// Commands per delay category's chart.
const TOP_COMMS: usize = 10;
/// Rows of a board's table of commands.
const TABLE_COMMS: usize = 50;
pub(super) fn commands(out: &mut String, b: &BoardSummary) {
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
    if b.tgid_records > 0 {
        let _ = write!(
            out,
            "<p class=\"note\">From the per-task records: the {} per-thread-group records sum \
             their threads' delays, which are here already.</p>",
            count(b.tgid_records)
        );
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

pub(super) fn histograms(out: &mut String, b: &BoardSummary) {
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
