//! The charts, drawn as inline SVG: a bar per bucket or per row, scaled to the largest.
//! Every mark that has numbers behind it carries them in `data-tip`, which the page's
//! script shows on hover (and a `<title>` would repeat for every bar: twice the bytes).
//! Coordinates are whole pixels or one decimal, to keep the page small.

use std::fmt::Write;

use super::html::{self, count};

/// Width of every chart, px.
pub const WIDTH: f64 = 960.0;
/// Left margin for the y axis labels, px.
const LEFT: f64 = 64.0;
/// Right margin, px.
const RIGHT: f64 = 12.0;

/// The series colours of line charts, and the bars' one.
pub const COLOURS: [&str; 8] = [
    "#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00",
];

/// One bar of a vertical bar chart.
#[derive(Debug, Clone)]
pub struct Column {
    /// Its height's value.
    pub value: u64,
    /// Its tooltip (plain text, escaped when written).
    pub tip: String,
    /// A red mark above it, with its own tooltip: something was lost here.
    pub alert: Option<String>,
}

/// A vertical bar chart of `columns` (empty ones drawn as nothing), labelled below at
/// the first, the middle and the last column with `labels`.
pub fn columns(out: &mut String, class: &str, columns: &[Column], labels: [&str; 3], y_unit: &str) {
    let height = 180.0;
    let (top, bottom) = (14.0, 28.0);
    let plot_h = height - top - bottom;
    let plot_w = WIDTH - LEFT - RIGHT;
    let max = columns.iter().map(|c| c.value).max().unwrap_or(0).max(1);
    let n = columns.len().max(1) as f64;
    let step = plot_w / n;
    let bar = (step * 0.85).max(1.0);
    let _ = write!(
        out,
        "<svg class=\"chart {class}\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" \
         height=\"{height}\" role=\"img\">"
    );
    axis_y(out, top, plot_h, &count(max), y_unit);
    for (i, c) in columns.iter().enumerate() {
        let x = LEFT + i as f64 * step;
        if c.value > 0 {
            let h = (c.value as f64 / max as f64 * plot_h).max(1.0);
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" \
                 data-tip=\"",
                top + plot_h - h
            );
            html::text(out, &c.tip);
            out.push_str("\"/>");
        }
        if let Some(tip) = &c.alert {
            // A band above the plot, not over the bar: the exits stay readable.
            let _ = write!(
                out,
                "<rect class=\"loss\" x=\"{x:.1}\" y=\"1\" width=\"{:.1}\" height=\"{:.1}\" \
                 data-tip=\"",
                bar.max(3.0),
                top - 3.0
            );
            html::text(out, tip);
            out.push_str("\"/>");
        }
    }
    let base = top + plot_h;
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>",
        WIDTH - RIGHT
    );
    for (label, (x, anchor)) in labels.iter().zip([
        (LEFT, "start"),
        (LEFT + plot_w / 2.0, "middle"),
        (WIDTH - RIGHT, "end"),
    ]) {
        let _ = write!(
            out,
            "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">",
            base + 18.0
        );
        html::text(out, label);
        out.push_str("</text>");
    }
    out.push_str("</svg>");
}

/// The y axis: 0 and `max` (the top's label) with `unit`, and a grid line at the top.
fn axis_y(out: &mut String, top: f64, plot_h: f64, max: &str, unit: &str) {
    let _ = write!(
        out,
        "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{top}\" x2=\"{}\" y2=\"{top}\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>",
        WIDTH - RIGHT,
        LEFT - 6.0,
        top + 4.0,
        LEFT - 6.0,
        top + plot_h + 4.0,
    );
    if !unit.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">",
            LEFT - 6.0,
            top + 18.0
        );
        html::text(out, unit);
        out.push_str("</text>");
    }
}

/// One row of a horizontal bar chart.
#[derive(Debug, Clone)]
pub struct Row {
    /// The row's label, already HTML (a name escaped by [`html::name`]).
    pub label_html: String,
    /// Its bar's value.
    pub value: u64,
    /// The value as shown at the end of the bar.
    pub shown: String,
    /// Its tooltip, already HTML.
    pub tip_html: String,
}

/// A horizontal bar chart, one row per entry, scaled to the largest.
pub fn rows(out: &mut String, class: &str, rows: &[Row]) {
    let row_h = 20.0;
    let label_w = 200.0;
    let value_w = 90.0;
    let height = row_h * rows.len().max(1) as f64 + 4.0;
    let plot_w = WIDTH - label_w - value_w;
    let max = rows.iter().map(|r| r.value).max().unwrap_or(0).max(1);
    let _ = write!(
        out,
        "<svg class=\"chart {class}\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" \
         height=\"{height}\" role=\"img\">"
    );
    for (i, r) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 2.0;
        let w = (r.value as f64 / max as f64 * plot_w).max(1.0);
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect class=\"bar\" x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" \
             data-tip=\"{}\"/><text x=\"{:.1}\" y=\"{}\">{}</text>",
            label_w - 6.0,
            y + 14.0,
            r.label_html,
            row_h - 4.0,
            r.tip_html,
            label_w + w + 4.0,
            y + 14.0,
            r.shown,
        );
    }
    out.push_str("</svg>");
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its legend, already HTML.
    pub label_html: String,
    /// (x, y) points, x ascending.
    pub points: Vec<(u64, u64)>,
}

/// Lines over a shared x range `x0..=x1` (`step` apart), y from 0 to the largest, with
/// a legend; hovering a column shows every line's value there (`tip` makes a value's
/// text, `x_label` an x's).
pub fn lines(
    out: &mut String,
    class: &str,
    lines: &[Line],
    (x0, x1, step): (u64, u64, u64),
    tip: &dyn Fn(u64) -> String,
    x_label: &dyn Fn(u64) -> String,
) {
    let height = 220.0;
    let (top, bottom) = (14.0, 28.0);
    let plot_h = height - top - bottom;
    let plot_w = WIDTH - LEFT - RIGHT;
    let max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(0)
        .max(1);
    let span = x1.saturating_sub(x0).max(1) as f64;
    let px = |x: u64| LEFT + x.saturating_sub(x0) as f64 / span * plot_w;
    let py = |y: u64| top + plot_h - y as f64 / max as f64 * plot_h;
    let _ = write!(
        out,
        "<svg class=\"chart {class}\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" \
         height=\"{height}\" role=\"img\">"
    );
    axis_y(out, top, plot_h, &tip(max), "");
    for (i, l) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let _ = write!(
            out,
            "<polyline class=\"series\" fill=\"none\" stroke=\"{colour}\" points=\""
        );
        for (j, &(x, y)) in l.points.iter().enumerate() {
            if j > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{:.1},{:.1}", px(x), py(y));
        }
        out.push_str("\"/>");
    }
    // Hover columns: one per x, its tip every line's value there.
    let step = step.max(1);
    let col_w = (plot_w / (span / step as f64 + 1.0)).max(1.0);
    let mut x = x0;
    loop {
        let mut t = x_label(x);
        for l in lines {
            if let Ok(k) = l.points.binary_search_by_key(&x, |p| p.0) {
                t.push_str("; ");
                t.push_str(&l.label_html);
                t.push_str(": ");
                t.push_str(&tip(l.points[k].1));
            }
        }
        let _ = write!(
            out,
            "<rect class=\"hover\" x=\"{:.1}\" y=\"{top}\" width=\"{col_w:.1}\" height=\"{plot_h}\" \
             data-tip=\"{t}\"/>",
            px(x) - col_w / 2.0
        );
        match x.checked_add(step) {
            Some(n) if n <= x1 => x = n,
            _ => break,
        }
    }
    let base = top + plot_h;
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>\
         <text x=\"{LEFT}\" y=\"{}\">",
        WIDTH - RIGHT,
        base + 18.0
    );
    html::text(out, &x_label(x0));
    let _ = write!(
        out,
        "</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">",
        WIDTH - RIGHT,
        base + 18.0
    );
    html::text(out, &x_label(x1));
    out.push_str("</text></svg><p class=\"legend\">");
    for (i, l) in lines.iter().enumerate() {
        let _ = write!(
            out,
            "<span><i style=\"background:{}\"></i>{}</span> ",
            COLOURS[i % COLOURS.len()],
            l.label_html
        );
    }
    out.push_str("</p>");
}
