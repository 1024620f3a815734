//! How a board's tasks ended: exit codes and signals.

use std::fmt::Write;

use super::num_cell;
use crate::report::aggregate::{BoardSummary, Ending};
use crate::report::html::{count, percent};
use crate::report::svg::{self, Row};

pub(super) fn endings(out: &mut String, b: &BoardSummary) {
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
