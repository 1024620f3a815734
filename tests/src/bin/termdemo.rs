//! A live screen of made-up rows on `taskwire_cli::term`, for the tmux test of the terminal
//! layer without a kernel (`tests/tests/term_tmux.rs`): the loop `top` runs, minus the
//! sweep.
//!
//! ```text
//! termdemo [--interval-ms N]
//! ```
//!
//! The rows are deliberately too many (40) and too wide (120 columns) for 80x24, so that
//! only the layer's clipping keeps the screen from scrolling or wrapping. The first line
//! says `sort: NAME` (the sort's `--sort` name); the rows are `row NN value VVV`
//! in descending order of the sort's value, which is a fixed function of row and sort.
//! `q` (or Ctrl-C, SIGINT, SIGTERM, SIGHUP) restores the terminal and exits 0; without a
//! terminal it prints one frame and exits 0.

use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use taskwire_cli::signals::{self, SCREEN_SIGNALS, SignalFd};
use taskwire_cli::sys::signal::SIGWINCH;
use taskwire_cli::term::keys::{self, KEYS};
use taskwire_cli::term::{Action, Input, Size, Terminal};
use taskwire_core::taskstats::SortKey;

const ROWS: u64 = 40;

fn main() -> ExitCode {
    let mut interval = Duration::from_secs(2);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--interval-ms", Some(ms)) => interval = Duration::from_millis(ms),
            _ => {
                eprintln!("usage: termdemo [--interval-ms N]");
                return ExitCode::from(2);
            }
        }
    }
    let sigfd = SignalFd::open(&SCREEN_SIGNALS).expect("signalfd");
    let Some(mut term) = Terminal::open() else {
        print!("{}", screen(SortKey::Cpu, false, Size::FALLBACK, 0));
        return ExitCode::SUCCESS;
    };
    let (mut sort, mut help, mut sweeps) = (SortKey::Cpu, false, 0u64);
    let mut next = Instant::now() + interval;
    loop {
        if let Err(e) = term.draw(&screen(sort, help, term.size(), sweeps)) {
            drop(term);
            eprintln!("termdemo: writing to the terminal: {e}");
            return ExitCode::FAILURE;
        }
        let left = next.saturating_duration_since(Instant::now());
        match term.wait(left, Some(sigfd.as_fd())).expect("wait") {
            Input::Key(k) => match keys::action(k) {
                Some(Action::Quit) => break,
                Some(Action::Sort(s)) => sort = s,
                Some(Action::Help) => help = !help,
                Some(Action::Refresh) => next = Instant::now(),
                Some(Action::NextBoard) | None => {}
            },
            Input::Timeout => {
                sweeps += 1;
                next += interval;
            }
            Input::Woken => match sigfd.take() {
                Some(SIGWINCH) | None => {}
                Some(sig) => {
                    drop(term);
                    eprintln!("termdemo: stopped by {}", signals::name(sig));
                    return ExitCode::SUCCESS;
                }
            },
            Input::Closed => break,
        }
    }
    ExitCode::SUCCESS
}

/// The screen for `sort`, made wider and taller than `size` on purpose.
fn screen(sort: SortKey, help: bool, size: Size, sweeps: u64) -> String {
    let word = keys::word(Action::Sort(sort));
    let mut s = format!(
        "termdemo  sort: {word}  sweeps: {sweeps}  size: {}x{}  h for keys\n",
        size.cols, size.rows
    );
    if help {
        s += &keys::help_lines(usize::from(size.cols));
    }
    let key = KEYS
        .iter()
        .position(|k| k.1 == Action::Sort(sort))
        .unwrap_or(0) as u64;
    let value = |row: u64| (row * 37 + key * 53) % 101;
    let mut rows: Vec<u64> = (0..ROWS).collect();
    rows.sort_by_key(|&r| std::cmp::Reverse(value(r)));
    for r in rows {
        s += &format!("row {r:02} value {:03} {}\n", value(r), "=".repeat(100));
    }
    s
}
