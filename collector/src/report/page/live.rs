//! A board's live tasks (from samples) over time: the most delayed as lines, all as a
//! table.

use std::fmt::Write;

use taskwire_core::taskstats::Delay;

use super::{comm_html, num_cell};
use crate::report::aggregate::BoardSummary;
use crate::report::comms::DELAYS;
use crate::report::html::{count, duration, percent};
use crate::report::svg::{self, Line};

/// Live tasks drawn as lines.
const TOP_TASKS: usize = 8;
pub(super) fn live(out: &mut String, b: &BoardSummary) {
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
