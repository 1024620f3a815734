//! The interactive terminal of a live screen (`taskwire top`, `decode --view top`): raw
//! key input, the size, and frames painted in place ([`frame`]), with the keys decoded and
//! mapped in one table ([`keys`]).
//!
//! [`Terminal::open`] puts the terminal in a raw-ish mode: no echo, non-canonical, reads
//! that never block (VMIN = VTIME = 0; [`Terminal::wait`] polls), and **ISIG off**, so
//! Ctrl-C and Ctrl-\ arrive as keys (which [`keys::KEYS`] maps to quit) and Ctrl-Z does not
//! stop the program with the terminal left raw. Output post-processing stays on, so a
//! stray `\n` still starts a line; frames write `\r\n` anyway.
//!
//! The terminal is restored (the saved settings, cursor shown, on a fresh line) when the
//! [`Terminal`] is dropped: at quit, when a signal ends the loop, and when a panic
//! unwinds. Signals reach the loop, not a handler: block [`crate::signals::SCREEN_SIGNALS`]
//! with a [`crate::signals::SignalFd`] before opening, pass it to [`Terminal::wait`], and
//! end the loop when it is woken. A panic in a `panic = "abort"` build does not unwind,
//! so `open` also installs a panic hook that restores the settings before the message is
//! printed; a board build (panic=immediate-abort) runs no hook but traps, and the crash
//! handler ([`crate::sys::crash`]) restores them. SIGKILL cannot be caught: `stty sane`
//! then.

pub mod frame;
pub mod keys;

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::termios::{self, LocalModes, OptionalActions, OutputModes, SpecialCodeIndex, Termios};

pub use frame::Size;
pub use keys::{Action, Key};

/// How long the rest of an escape sequence may take to arrive after its ESC before the
/// ESC counts as a key of its own: a 9600-baud line sends a byte a millisecond.
const ESC_WAIT: Duration = Duration::from_millis(50);

/// Hide the cursor (VT220; a VT100 ignores it): it would blink wherever the frame ended.
const HIDE_CURSOR: &[u8] = b"\x1b[?25l";
/// Show the cursor again.
const SHOW_CURSOR: &[u8] = b"\x1b[?25h";

/// The settings of standard input before [`Terminal::open`] changed them, for the panic
/// hook; set once per process.
static SAVED: OnceLock<Termios> = OnceLock::new();

/// Puts back the settings saved by the first [`Terminal::open`], shows the cursor and
/// starts a line: for a panic or a crash. System calls only, so a signal handler may run it.
fn restore_saved() {
    if let Some(saved) = SAVED.get() {
        let _ = termios::tcsetattr(rustix::stdio::stdin(), OptionalActions::Now, saved);
        let _ = write_all(rustix::stdio::stdout(), b"\x1b[?25h\r\n");
    }
}

/// What [`Terminal::wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A key was pressed.
    Key(Key),
    /// The timeout passed without a key.
    Timeout,
    /// The `wake` descriptor became readable (a signal is pending on the signalfd).
    Woken,
    /// The terminal hung up or its input ended: stop.
    Closed,
}

/// A terminal in raw-ish mode: standard input for keys, standard output for frames.
pub struct Terminal {
    input: BorrowedFd<'static>,
    output: BorrowedFd<'static>,
    saved: Termios,
    /// The bytes of the frame being painted, kept between frames.
    frame: Vec<u8>,
    /// Input read but not yet decoded: the rest of a burst or a cut escape sequence.
    pending: [u8; 32],
    pending_len: usize,
    /// Whether the cursor is after text on the last row (see [`frame::paint`]).
    on_last_row: bool,
    /// What starts a line: `\n` where output processing adds the CR.
    newline: &'static [u8],
}

impl Terminal {
    /// The terminal on standard input and output in raw-ish mode, or None when either is
    /// not a terminal or its settings cannot be changed: run in batch mode then.
    pub fn open() -> Option<Terminal> {
        let (input, output) = (rustix::stdio::stdin(), rustix::stdio::stdout());
        if !termios::isatty(output) {
            return None;
        }
        let term = Terminal::on(input, output).ok()?;
        if SAVED.set(term.saved.clone()).is_ok() {
            // A board build's panic runs no hook (2.7 KiB of hook machinery saved there):
            // it traps, and the crash handler restores (crate::sys::crash).
            #[cfg(not(panic = "immediate-abort"))]
            {
                let next = std::panic::take_hook();
                std::panic::set_hook(Box::new(move |info| {
                    restore_saved();
                    next(info);
                }));
            }
            crate::sys::crash::on_crash(restore_saved);
        }
        Some(term)
    }

    /// Raw-ish mode on `input` (a terminal), frames to `output`.
    fn on(input: BorrowedFd<'static>, output: BorrowedFd<'static>) -> io::Result<Terminal> {
        let saved = termios::tcgetattr(input)?;
        let mut raw = saved.clone();
        raw.local_modes
            .remove(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG | LocalModes::IEXTEN);
        raw.special_codes[SpecialCodeIndex::VMIN] = 0;
        raw.special_codes[SpecialCodeIndex::VTIME] = 0;
        termios::tcsetattr(input, OptionalActions::Now, &raw)?;
        let term = Terminal {
            input,
            output,
            frame: Vec::new(),
            pending: [0; 32],
            pending_len: 0,
            on_last_row: false,
            newline: if saved
                .output_modes
                .contains(OutputModes::OPOST | OutputModes::ONLCR)
            {
                b"\n"
            } else {
                b"\r\n"
            },
            saved,
        };
        write_all(output, HIDE_CURSOR)?;
        Ok(term)
    }

    /// The descriptor keys are read from, for a caller that polls it with its own
    /// descriptors (`decode --view top`) and then calls [`Terminal::wait`] with no timeout.
    pub fn input(&self) -> BorrowedFd<'static> {
        self.input
    }

    /// The terminal's size now, [`Size::FALLBACK`] where it reports zero or cannot say.
    pub fn size(&self) -> Size {
        match termios::tcgetwinsize(self.output) {
            Ok(w) => Size::or_fallback(w.ws_col, w.ws_row),
            Err(_) => Size::FALLBACK,
        }
    }

    /// Paints `screen` (lines separated by `\n`) over the last frame in one write, clipped
    /// to the terminal's size as it is now (see [`frame::paint`]).
    pub fn draw(&mut self, screen: &str) -> io::Result<()> {
        let size = self.size();
        self.on_last_row = frame::paint(&mut self.frame, screen, size, self.newline);
        write_all(self.output, &self.frame)
    }

    /// Waits up to `timeout` for a key, or for `wake` (a signalfd) to become readable.
    pub fn wait(&mut self, timeout: Duration, wake: Option<BorrowedFd<'_>>) -> io::Result<Input> {
        let deadline = Instant::now() + timeout;
        // Whether a sequence cut short may still be completed by bytes to come.
        let mut more = true;
        loop {
            let buffered = &self.pending[..self.pending_len];
            let full = buffered.len() == self.pending.len();
            if let Some((key, n)) = keys::decode(buffered, more && !full) {
                self.pending.copy_within(n..self.pending_len, 0);
                self.pending_len -= n;
                return Ok(Input::Key(key));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            // Bytes of a cut escape sequence wait only briefly for the rest.
            let cut = self.pending_len > 0;
            let wait = if cut { left.min(ESC_WAIT) } else { left };
            let other = wake.unwrap_or(self.input);
            let mut fds = [
                PollFd::new(&self.input, PollFlags::IN),
                PollFd::new(&other, PollFlags::IN),
            ];
            let n = if wake.is_some() { 2 } else { 1 };
            let ready = rustix::io::retry_on_intr(|| {
                rustix::event::poll(&mut fds[..n], Some(&timespec(wait)))
            })?;
            if n == 2 && !fds[1].revents().is_empty() {
                return Ok(Input::Woken);
            }
            if ready == 0 {
                if cut {
                    // Nothing followed in time: decode a lone ESC or a cut sequence as is.
                    more = false;
                    continue;
                }
                return Ok(Input::Timeout);
            }
            let free = &mut self.pending[self.pending_len..];
            match rustix::io::retry_on_intr(|| rustix::io::read(self.input, &mut *free)) {
                // Readable but nothing to read, or EIO (a pty whose master closed): the
                // terminal hung up.
                Ok(0) | Err(rustix::io::Errno::IO) => return Ok(Input::Closed),
                Ok(got) => self.pending_len += got,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let end: &[u8] = if self.on_last_row {
            b"\r\n\x1b[?25h"
        } else {
            SHOW_CURSOR
        };
        let _ = write_all(self.output, end);
        let _ = termios::tcsetattr(self.input, OptionalActions::Now, &self.saved);
    }
}

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: d.subsec_nanos().into(),
    }
}

/// Writes all of `bytes` to `fd` (not through `std::io::Stdout`, whose line buffering
/// would cut a frame at its newlines).
fn write_all(fd: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<()> {
    write_with(bytes, |b| {
        rustix::io::retry_on_intr(|| rustix::io::write(fd, b))
    })
}

/// Hands all of `bytes` to `write` (a write(2)) in as few calls as it allows: one, unless
/// it takes less at a time.
fn write_with(
    mut bytes: &[u8],
    mut write: impl FnMut(&[u8]) -> rustix::io::Result<usize>,
) -> io::Result<()> {
    while !bytes.is_empty() {
        match write(bytes)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => bytes = &bytes[n..],
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serial::termios_missing;
    use rustix::termios::Winsize;
    use std::os::fd::{AsFd, OwnedFd};

    /// A pseudo-terminal: its master (the far side, "the user"), and its slave leaked as a
    /// `'static` descriptor for a [`Terminal`] to run on.
    fn pty() -> (OwnedFd, BorrowedFd<'static>) {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .expect("/dev/ptmx");
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave = rustix::fs::open(
            name.as_c_str(),
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let slave: &'static OwnedFd = Box::leak(Box::new(slave));
        (master, slave.as_fd())
    }

    /// What the master reads within a second, until `want` bytes came.
    fn read_master(master: &OwnedFd, want: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < want {
            let mut fds = [PollFd::new(master, PollFlags::IN)];
            let t = timespec(Duration::from_secs(1));
            if rustix::event::poll(&mut fds, Some(&t)).unwrap() == 0 {
                break;
            }
            let n = rustix::io::read(master, &mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    const RAW: LocalModes = LocalModes::ECHO
        .union(LocalModes::ICANON)
        .union(LocalModes::ISIG)
        .union(LocalModes::IEXTEN);

    #[test]
    fn raw_while_open_and_restored_on_drop() {
        if termios_missing("raw_while_open_and_restored_on_drop") {
            return;
        }
        let (master, slave) = pty();
        let before = termios::tcgetattr(slave).unwrap();
        assert!(before.local_modes.contains(RAW), "a new pty starts cooked");
        let term = Terminal::on(slave, slave).unwrap();
        let t = termios::tcgetattr(slave).unwrap();
        assert!(!t.local_modes.intersects(RAW), "{:?}", t.local_modes);
        assert_eq!(t.special_codes[SpecialCodeIndex::VMIN], 0);
        assert_eq!(t.special_codes[SpecialCodeIndex::VTIME], 0);
        // Output processing is kept, so a stray "\n" still starts a line.
        assert!(
            t.output_modes
                .contains(OutputModes::OPOST | OutputModes::ONLCR)
        );
        assert_eq!(read_master(&master, HIDE_CURSOR.len()), HIDE_CURSOR);
        drop(term);
        let after = termios::tcgetattr(slave).unwrap();
        assert_eq!(after.local_modes, before.local_modes);
        for i in [SpecialCodeIndex::VMIN, SpecialCodeIndex::VTIME] {
            assert_eq!(after.special_codes[i], before.special_codes[i]);
        }
        assert_eq!(read_master(&master, SHOW_CURSOR.len()), SHOW_CURSOR);
    }

    #[test]
    fn frames_arrive_clipped_to_the_size_now() {
        if termios_missing("frames_arrive_clipped_to_the_size_now") {
            return;
        }
        let (master, slave) = pty();
        let mut term = Terminal::on(slave, slave).unwrap();
        read_master(&master, HIDE_CURSOR.len());
        // A pty nobody sized reports 0x0, like a serial console.
        assert_eq!(term.size(), Size::FALLBACK);
        let ws = |cols, rows| Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        termios::tcsetwinsize(&master, ws(6, 2)).unwrap();
        assert_eq!(term.size(), Size { cols: 6, rows: 2 });
        term.draw("header line\nrow 1\nrow 2\n").unwrap();
        // ONLCR turned the frame's "\n" into "\r\n" on the way.
        let want = b"\x1b[Hheader\r\nrow 1\x1b[K";
        assert_eq!(read_master(&master, want.len()), want);
        // Resized between frames: the next frame fits the new size.
        termios::tcsetwinsize(&master, ws(20, 5)).unwrap();
        term.draw("a\nb").unwrap();
        let want = b"\x1b[Ha\x1b[K\r\nb\x1b[K\r\n\x1b[J";
        assert_eq!(read_master(&master, want.len()), want);
        // The cursor was left below the frame: no extra line at the end.
        drop(term);
        assert_eq!(read_master(&master, SHOW_CURSOR.len()), SHOW_CURSOR);
    }

    #[test]
    fn a_frame_is_one_write() {
        let frame = vec![b'x'; 3000];
        let mut calls = Vec::new();
        write_with(&frame, |b| {
            calls.push(b.len());
            Ok(b.len())
        })
        .unwrap();
        assert_eq!(calls, [3000]);
        // A terminal that takes less at a time still gets every byte, in order.
        let mut got = Vec::new();
        write_with(&frame, |b| {
            let n = b.len().min(1024);
            got.push(n);
            Ok(n)
        })
        .unwrap();
        assert_eq!(got, [1024, 1024, 952]);
        assert!(write_with(b"x", |_| Ok(0)).is_err());
    }

    #[test]
    fn keys_timeouts_and_wakes() {
        if termios_missing("keys_timeouts_and_wakes") {
            return;
        }
        let (master, slave) = pty();
        let mut term = Terminal::on(slave, slave).unwrap();
        let short = Duration::from_millis(20);
        assert_eq!(term.wait(short, None).unwrap(), Input::Timeout);
        // A burst: each key in turn, the arrow as one key, no echo on the master.
        rustix::io::write(&master, b"c\x1b[Aq").unwrap();
        let long = Duration::from_secs(2);
        assert_eq!(term.wait(long, None).unwrap(), Input::Key(Key::Char(b'c')));
        assert_eq!(term.wait(long, None).unwrap(), Input::Key(Key::Up));
        assert_eq!(term.wait(long, None).unwrap(), Input::Key(Key::Char(b'q')));
        assert_eq!(read_master(&master, 1 + HIDE_CURSOR.len()), HIDE_CURSOR);
        // Ctrl-C is a key, not a signal.
        rustix::io::write(&master, b"\x03").unwrap();
        assert_eq!(term.wait(long, None).unwrap(), Input::Key(Key::Char(3)));
        // An arrow whose bytes come in two reads (a slow line) is still one key.
        rustix::io::write(&master, b"\x1b").unwrap();
        let writer = std::thread::spawn({
            let master = master.try_clone().unwrap();
            move || {
                std::thread::sleep(ESC_WAIT / 5);
                rustix::io::write(&master, b"[Bq").unwrap();
            }
        });
        assert_eq!(term.wait(long, None).unwrap(), Input::Key(Key::Down));
        assert_eq!(term.wait(long, None).unwrap(), Input::Key(Key::Char(b'q')));
        writer.join().unwrap();
        // A lone ESC becomes a key once nothing followed it for a while.
        let start = Instant::now();
        rustix::io::write(&master, b"\x1b").unwrap();
        assert_eq!(term.wait(long, None).unwrap(), Input::Key(Key::Esc));
        assert!(start.elapsed() >= ESC_WAIT && start.elapsed() < long);
        // A readable wake descriptor ends the wait, and the key is kept for later.
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(term.wait(short, Some(b.as_fd())).unwrap(), Input::Timeout);
        rustix::io::write(&a, b"!").unwrap();
        assert_eq!(term.wait(long, Some(b.as_fd())).unwrap(), Input::Woken);
        // The far side goes away: closed, not an error and not a busy loop.
        drop(master);
        assert_eq!(term.wait(long, None).unwrap(), Input::Closed);
    }
}
