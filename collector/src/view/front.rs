//! The interactive screen of `decode --view top`: one board's last interval drawn in place
//! on the terminal ([`taskwire_cli::term`]), the keys of `taskwire top` (one table,
//! [`keys::KEYS`]) plus Tab for the next board.
//!
//! It does not run a loop of its own: the decoder's poll loop ([`crate::pump`]) watches
//! the terminal's input beside the streams and the signalfd and calls
//! [`Front::serve`] once per turn, so keys are answered at once while frames keep being
//! read and counted. A screen is drawn only when it would change: an interval completed,
//! a board appeared, a key, a resize.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use taskwire_cli::Failure;
use taskwire_cli::output::live::Size;
use taskwire_cli::sys::signal::SIGWINCH;
use taskwire_cli::term::{Action, Input, Terminal, keys};

use super::View;
use crate::Front;
use crate::session::Decoder;

/// The terminal and what it shows.
pub struct Screen {
    term: Terminal,
    /// The board shown: `--board`, else the first seen, until Tab moves on.
    chosen: Option<String>,
    help: bool,
    /// The view's generation when last drawn; `None`: draw at the next turn.
    drawn: Option<u64>,
    frame: String,
}

impl Screen {
    /// A screen on `term`, showing board `chosen` (or the first seen).
    pub fn new(term: Terminal, chosen: Option<String>) -> Screen {
        Screen {
            term,
            chosen,
            help: false,
            drawn: None,
            frame: String::new(),
        }
    }

    /// The position of the board shown, once it was seen.
    fn shown(&self, view: &View) -> Option<usize> {
        match &self.chosen {
            Some(label) => view.position(label),
            None => (view.board_count() > 0).then_some(0),
        }
    }

    /// Reads the keys waiting; false on a key that quits or a terminal that hung up.
    fn keys(&mut self, view: &mut View) -> Result<bool, Failure> {
        loop {
            let input = self
                .term
                .wait(Duration::ZERO, None)
                .map_err(|e| Failure::Runtime(format!("reading the terminal: {e}")))?;
            let action = match input {
                Input::Key(k) => keys::action(k),
                Input::Timeout | Input::Woken => return Ok(true),
                Input::Closed => return Ok(false),
            };
            match action {
                Some(Action::Quit) => return Ok(false),
                Some(Action::Sort(key)) => view.sort = key,
                Some(Action::Help) => self.help = !self.help,
                Some(Action::NextBoard) => {
                    let n = view.board_count();
                    let next = self.shown(view).map_or(0, |i| (i + 1) % n.max(1));
                    self.chosen = view.label(next).map(str::to_owned);
                }
                // No sweep to ask for on the host: redraw what there is.
                Some(Action::Refresh) | None => {}
            }
            self.drawn = None;
        }
    }

    fn draw(&mut self, view: &View) -> Result<(), Failure> {
        let size = self.term.size();
        let cols = usize::from(size.cols);
        let help = match self.help {
            true => keys::board_help_lines(cols),
            false => String::new(),
        };
        let help_rows = help.bytes().filter(|&b| b == b'\n').count();
        let rows = usize::from(size.rows).saturating_sub(help_rows).max(1);
        let size = Size {
            cols,
            rows: Some(rows),
        };
        self.frame.clear();
        let drawn = self
            .shown(view)
            .is_some_and(|i| view.screen(i, size, &mut self.frame));
        if !drawn {
            self.frame
                .push_str("taskwire decode: waiting for a whole interval of samples");
            if let Some(b) = &self.chosen {
                self.frame.push_str(" of board ");
                self.frame.push_str(b);
            }
            self.frame.push_str("  (h keys, q quit)\n");
            self.frame.push_str(if view.ended {
                "the input ended before one came\n"
            } else {
                "(the board sends them with `taskwire stream --sample SECS`)\n"
            });
        }
        self.frame.push_str(&help);
        self.term
            .draw(&self.frame)
            .map_err(|e| Failure::Runtime(format!("writing to the terminal: {e}")))
    }
}

impl Front for Screen {
    fn input(&self) -> BorrowedFd<'_> {
        self.term.input()
    }

    fn serve(&mut self, decoder: &mut Decoder, ready: bool) -> Result<bool, Failure> {
        let Some(view) = decoder.view.as_mut() else {
            return Ok(true);
        };
        if ready && !self.keys(view)? {
            return Ok(false);
        }
        let now = view.generation();
        if self.drawn != Some(now) {
            self.draw(view)?;
            self.drawn = Some(now);
        }
        Ok(true)
    }

    fn signal(&mut self, sig: i32) -> bool {
        // A resize redraws at the new size; SIGHUP and the stop signals end the loop.
        let resized = sig == SIGWINCH;
        if resized {
            self.drawn = None;
        }
        resized
    }
}
