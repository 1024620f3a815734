//! The terminal layer (`taskwire_cli::term`) and `taskwire top` in a real terminal: tmux
//! sessions sized 80x24 with TERM=vt100, TERM=linux and no TERM, checked as a user would
//! see them: the frame fits (nothing wrapped, nothing scrolled), sort and help keys
//! redraw at once, a resize is followed, and q, Ctrl-C or SIGTERM end it with status 0
//! and the terminal's settings exactly as before.
//!
//! `termdemo` (a live screen of made-up rows, too many and too wide for the screen) needs
//! no kernel; `taskwire top` needs taskstats (root). Each test skips, with the reason
//! printed, where tmux is not installed or the kernel is out of reach.

#[macro_use]
mod common;

use std::path::Path;

use common::tmux::{Finished, Pane};
use taskwire_cli::term::keys;

fn demo(term: Option<&str>) -> Option<Pane> {
    let bin = Path::new(env!("CARGO_BIN_EXE_termdemo"));
    Pane::start(bin, &["--interval-ms", "300"], term, 80, 24)
}

/// Whether the header says `sort: WORD`.
fn sorted_by(screen: &[String], word: &str) -> bool {
    screen
        .first()
        .is_some_and(|l| l.starts_with(&format!("termdemo  sort: {word} ")))
}

/// The (row, value) pairs of the screen's `row NN value VVV` lines.
fn rows(screen: &[String]) -> Vec<(u32, u32)> {
    screen
        .iter()
        .filter_map(|l| {
            let mut w = l.split(' ');
            match (w.next(), w.next(), w.next(), w.next()) {
                (Some("row"), Some(r), Some("value"), Some(v)) => {
                    Some((r.parse().unwrap(), v.parse().unwrap()))
                }
                _ => None,
            }
        })
        .collect()
}

/// The screen is the header, maybe the help line, then rows to the last line, each row
/// exactly `cols` wide: the demo writes 40 rows of 120 columns, so a frame that wrapped
/// would show a line starting with the rest of a row ("===="), one that scrolled would
/// have lost its header, and one cut short would have fewer lines.
fn fills_exactly(screen: &[String], cols: usize, rows: usize) {
    let all = screen.join("\n");
    assert_eq!(screen.len(), rows, "{all}");
    assert!(screen[0].starts_with("termdemo  sort: "), "{all}");
    assert!(screen.iter().all(|l| l.chars().count() <= cols), "{all}");
    // The help lines, when shown, come between the header and the rows, as the key
    // table makes them for this width.
    let help = screen[1..]
        .iter()
        .take_while(|l| !l.starts_with("row "))
        .count();
    if help > 0 {
        let text = keys::help_lines(cols);
        let want: Vec<&str> = text.lines().collect();
        assert_eq!(screen[1..=help], want, "{all}");
    }
    let body = &screen[1 + help..];
    for l in body {
        assert!(l.starts_with("row "), "not a row: {l}\n{all}");
        assert_eq!(l.chars().count(), cols, "{l}");
    }
}

fn descending(r: &[(u32, u32)]) -> bool {
    r.windows(2).all(|w| w[0].1 >= w[1].1)
}

fn restored(f: &Finished) {
    assert_eq!(f.status, 0, "{f:?}");
    assert_eq!(f.before, f.after, "terminal settings changed");
    for flag in ["echo", "icanon", "isig", "opost"] {
        assert!(f.has_flag(flag), "{flag} not set after: {}", f.settings);
    }
}

#[test]
fn vt100_keys_sort_and_help_resize_redraws_q_restores() {
    let Some(pane) = demo(Some("vt100")) else {
        return;
    };
    let s = pane.wait_screen("first frame", |s| sorted_by(s, "cpu"));
    fills_exactly(&s, 80, 24);
    let by_cpu = rows(&s);
    assert_eq!(by_cpu.len(), 23);
    assert!(descending(&by_cpu), "{by_cpu:?}");

    pane.type_text("i");
    let s = pane.wait_screen("blkio sort", |s| sorted_by(s, "blkio"));
    fills_exactly(&s, 80, 24);
    let by_io = rows(&s);
    assert!(descending(&by_io), "{by_io:?}");
    assert_ne!(by_io[0].0, by_cpu[0].0, "the order did not change");

    pane.type_text("h");
    let s = pane.wait_screen("help line", |s| {
        s.get(1)
            .is_some_and(|l| l.starts_with("q quit  c cpu  d cpu-delay"))
    });
    fills_exactly(&s, 80, 24);
    assert!(sorted_by(&s, "blkio"));

    // SIGWINCH redraws at the new size at once (the header says the size it drew for).
    pane.resize(60, 10);
    let s = pane.wait_screen("60x10 frame", |s| {
        s.first().is_some_and(|l| l.contains("size: 60x10"))
    });
    fills_exactly(&s, 60, 10);

    pane.type_text("q");
    restored(&pane.finish());
}

#[test]
fn linux_ctrl_c_is_a_key_that_quits() {
    let Some(pane) = demo(Some("linux")) else {
        return;
    };
    let s = pane.wait_screen("first frame", |s| sorted_by(s, "cpu"));
    fills_exactly(&s, 80, 24);
    pane.type_text("m");
    pane.wait_screen("mem sort", |s| sorted_by(s, "mem"));
    pane.press("C-c");
    restored(&pane.finish());
}

#[test]
fn no_term_sigterm_restores() {
    let Some(pane) = demo(None) else {
        return;
    };
    let s = pane.wait_screen("first frame", |s| sorted_by(s, "cpu"));
    fills_exactly(&s, 80, 24);
    // SAFETY: kill(2) of the demo's own pid, which is alive (its screen is up).
    assert_eq!(unsafe { libc::kill(pane.pid(), libc::SIGTERM) }, 0);
    restored(&pane.finish());
}

// --- taskwire top ---

/// `taskwire top ARGS` in an 80x24 pane.
fn top(term: Option<&str>, args: &[&str]) -> Option<Pane> {
    Pane::start(
        &common::taskwire(),
        &[&["top"], args].concat(),
        term,
        80,
        24,
    )
}

/// Whether the screen is top's, sorted by `name`.
fn top_sorted_by(screen: &[String], name: &str) -> bool {
    screen.first().is_some_and(|l| {
        l.starts_with("taskwire top  every ") && l.contains(&format!("  sort {name}"))
    })
}

/// The task rows under the column titles: each row's tokens, and the column titles.
fn top_rows(screen: &[String]) -> (Vec<String>, Vec<Vec<String>>) {
    let all = screen.join("\n");
    let at = screen
        .iter()
        .position(|l| l.trim_start().starts_with("TGID"))
        .unwrap_or_else(|| panic!("no column titles:\n{all}"));
    let words = |l: &String| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let rows: Vec<Vec<String>> = screen[at + 1..].iter().map(words).collect();
    for r in &rows {
        // A wrapped or scrolled frame would show a line that is no task row.
        assert!(
            r.len() >= 3 && r[0].parse::<u32>().is_ok(),
            "not a row: {r:?}\n{all}"
        );
    }
    (words(&screen[at]), rows)
}

/// The column `title` of `rows` as numbers ('-' when the kernel lacks it: -1).
fn column(titles: &[String], rows: &[Vec<String>], title: &str) -> Vec<f64> {
    let i = titles.iter().position(|t| t == title).expect(title);
    rows.iter().map(|r| r[i].parse().unwrap_or(-1.0)).collect()
}

/// The screen fills the pane exactly, title first, no line wider than it.
fn top_fits(screen: &[String]) {
    let all = screen.join("\n");
    assert_eq!(screen.len(), 24, "{all}");
    assert!(screen[0].starts_with("taskwire top"), "{all}");
    assert!(screen.iter().all(|l| l.chars().count() <= 80), "{all}");
}

#[test]
fn top_vt100_resorts_the_same_rows_at_once_and_q_restores() {
    require_kernel!();
    // A long interval: the re-sorted screen must come from the rows already there.
    let Some(pane) = top(Some("vt100"), &["--interval", "4"]) else {
        return;
    };
    let s = pane.wait_screen("first screen", |s| top_sorted_by(s, "cpu"));
    top_fits(&s);
    let (titles, by_cpu) = top_rows(&s);
    let cpu = column(&titles, &by_cpu, "CPU%");
    assert!(cpu.windows(2).all(|w| w[0] >= w[1]), "{cpu:?}");

    pane.type_text("d");
    let s = pane.wait_screen("cpu-delay sort", |s| top_sorted_by(s, "cpu-delay"));
    top_fits(&s);
    let (titles, by_runq) = top_rows(&s);
    let runq = column(&titles, &by_runq, "RUNQ%");
    assert!(runq.windows(2).all(|w| w[0] >= w[1]), "{runq:?}");
    // No sweep in between: a task on both screens shows the same figures.
    let mut common_rows = 0;
    for r in &by_runq {
        if let Some(old) = by_cpu.iter().find(|o| o[0] == r[0]) {
            assert_eq!(old, r, "task {} changed without a sweep", r[0]);
            common_rows += 1;
        }
    }
    assert!(common_rows > 0, "no task on both screens");

    pane.type_text("h");
    let s = pane.wait_screen("help lines", |s| {
        s.iter()
            .any(|l| l.starts_with("q quit  c cpu  d cpu-delay"))
    });
    assert_eq!(s.len(), 24, "{}", s.join("\n"));
    assert!(s.iter().all(|l| l.chars().count() <= 80));

    pane.type_text("q");
    restored(&pane.finish());
}

#[test]
fn top_linux_ctrl_c_quits_and_restores() {
    require_kernel!();
    let Some(pane) = top(Some("linux"), &["--interval", "0.5", "--sort", "mem"]) else {
        return;
    };
    let s = pane.wait_screen("first screen", |s| top_sorted_by(s, "mem"));
    top_fits(&s);
    pane.press("C-c");
    restored(&pane.finish());
}

#[test]
fn top_once_on_a_terminal_is_batch() {
    require_kernel!();
    // Not interactive: it ends by itself, with no key pressed.
    let Some(pane) = top(None, &["--once", "--interval", "0.2"]) else {
        return;
    };
    restored(&pane.finish());
}
