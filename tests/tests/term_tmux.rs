//! The terminal layer (`taskwire_cli::term`) in a real terminal: tmux sessions sized 80x24
//! with TERM=vt100, TERM=linux and no TERM run `termdemo`, a live screen of made-up rows
//! too many and too wide for the screen, and check what a user would see: the frame fits
//! (nothing wrapped, nothing scrolled), sort and help keys redraw at once, a resize is
//! followed, and q, Ctrl-C or SIGTERM end it with status 0 and the terminal's settings
//! exactly as before. Skipped, with the reason printed, where tmux is not installed.

#[macro_use]
#[allow(unused_macros)] // require_kernel: these tests need no kernel
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
