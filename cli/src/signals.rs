//! Stop signals: SIGINT/SIGTERM as a readable descriptor, the calls they may interrupt,
//! and the mask `run` keeps while its child runs.
//!
//! rustix offers no public signal API and std offers none, so the calls themselves are in
//! [`crate::sys::signal`]. The signals stay blocked and are read from a signalfd that
//! `poll` watches next to the netlink socket, so loops that wait in `poll` see them in
//! order. A call that may block for good outside such a loop (a write to a pipe nobody
//! reads, the open of a FIFO with no reader) runs through [`interruptible`]: the stop
//! signals are unblocked for that call alone, and a handler without SA_RESTART records
//! the signal and makes the call fail with EINTR, so every command ends when asked.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sys::signal::{self as sys, SigSet};

/// The signals that end `listen`.
pub const STOP_SIGNALS: [i32; 2] = [sys::SIGINT, sys::SIGTERM];
/// The signals a live screen (`top`) reads from its signalfd: the stop signals, SIGHUP (its
/// terminal went away) and SIGWINCH (its terminal was resized: redraw now). Each ends or
/// wakes the loop, which restores the terminal on the way out (see `crate::term`).
pub const SCREEN_SIGNALS: [i32; 4] = [sys::SIGINT, sys::SIGTERM, sys::SIGHUP, sys::SIGWINCH];
/// The signals `run` holds off while the command runs, as time(1) does: a Ctrl-C or
/// Ctrl-\ at the terminal reaches the command, and taskwire lives on to report.
pub const RUN_SIGNALS: [i32; 2] = [sys::SIGINT, sys::SIGQUIT];

/// A signal mask as it was before [`block`] changed it.
#[derive(Clone, Copy)]
pub struct SavedMask(SigSet);

/// Blocks `signals` in the calling thread and returns the previous mask.
///
/// Call it from the main thread before any other thread starts: threads inherit the mask,
/// and a thread that does not block the signals would take them instead.
pub fn block(signals: &[i32]) -> io::Result<SavedMask> {
    sys::block(&SigSet::of(signals)?).map(SavedMask)
}

impl SavedMask {
    /// The mask, for a child to start with (`spawn`).
    pub fn set(&self) -> &SigSet {
        &self.0
    }
}

/// Blocked signals delivered through a non-blocking signalfd.
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    /// Blocks `signals` (see [`block`] for the threading rule) and opens a descriptor that
    /// becomes readable when one of them is pending.
    ///
    /// Also installs the handler [`interruptible`] relies on; it only runs inside it.
    pub fn open(signals: &[i32]) -> io::Result<SignalFd> {
        let set = SigSet::of(signals)?;
        sys::block(&set)?;
        sys::catch(signals)?;
        Ok(SignalFd {
            fd: sys::signalfd(&set)?,
        })
    }

    /// The number of a pending signal, consuming it; else the stop signal an
    /// [`interruptible`] call caught; None when there is neither.
    pub fn take(&self) -> Option<i32> {
        // struct signalfd_siginfo is 128 bytes; ssi_signo is its first u32.
        let mut info = [0u8; 128];
        match rustix::io::retry_on_intr(|| rustix::io::read(&self.fd, &mut info)) {
            Ok(128) => {
                let signo = info.first_chunk::<4>().map(|b| u32::from_ne_bytes(*b))?;
                let sig = i32::try_from(signo).ok()?;
                // From now on output blocked for good no longer holds the exit (Stdout).
                if STOP_SIGNALS.contains(&sig) {
                    sys::note(sig);
                }
                Some(sig)
            }
            _ => sys::caught(),
        }
    }
}

impl AsFd for SignalFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The stop signal an [`interruptible`] call caught, if one did.
pub fn caught() -> Option<i32> {
    sys::caught()
}

/// Runs `op`, a call that may block for good, with the stop signals deliverable to this
/// thread, and retries it on an EINTR that no stop signal caused. Once a stop signal has
/// been caught (now or earlier) it fails at once, with an error naming the signal and
/// not of kind `Interrupted` (which `write_all` and `BufWriter` would retry).
///
/// Only after [`SignalFd::open`] (which installs the handler) does a stop signal end the
/// call rather than the process. A signal that lands between the check and the call
/// itself is recorded but does not interrupt it; a second one does.
pub fn interruptible<T>(mut op: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    let set = SigSet::of(&STOP_SIGNALS)?;
    loop {
        // A signal already pending is delivered as the mask opens.
        let old = sys::unblock(&set)?;
        let r = match sys::caught() {
            None => Some(op()),
            Some(_) => None,
        };
        sys::set_mask(&old);
        // The handler took the signal from the signalfd: put it back, so that the loop
        // that polls the signalfd stops as for any signal.
        if let Some(sig) = sys::take_fired() {
            sys::resend(sig);
        }
        match r {
            // Done is done, signal or not.
            Some(Ok(v)) => return Ok(v),
            Some(Err(rustix::io::Errno::INTR)) if sys::caught().is_none() => {}
            Some(Err(e)) if sys::caught().is_none() => return Err(e.into()),
            _ => return Err(stopped()),
        }
    }
}

/// Opens `path` (close-on-exec added) through [`interruptible`]: a FIFO without its other
/// end blocks the open, and std's `File::open` would retry it after the signal.
pub fn open(
    path: &std::path::Path,
    flags: rustix::fs::OFlags,
    mode: rustix::fs::Mode,
) -> io::Result<std::fs::File> {
    let flags = flags | rustix::fs::OFlags::CLOEXEC;
    interruptible(|| rustix::fs::open(path, flags, mode)).map(std::fs::File::from)
}

/// Standard output written straight to descriptor 1, so that a stop signal ends a write
/// blocked on a full pipe. Unbuffered: wrap it in a `BufWriter`.
///
/// Once a stop signal has been seen, writes go on while the reader takes them, in pieces
/// a pipe with room takes without blocking; one that finds no room for [`STOP_GRACE`]
/// fails, and so does every write after it. A reader that keeps up gets everything, one
/// that reads nothing does not hold the exit.
pub struct Stdout;

/// How long a write may wait for room once a stop signal has been seen.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

static GAVE_UP: AtomicBool = AtomicBool::new(false);

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let out = rustix::stdio::stdout();
        if sys::caught().is_none() {
            match interruptible(|| rustix::io::write(out, buf)) {
                Err(_) if sys::caught().is_some() => {}
                r => return r,
            }
        }
        let grace = rustix::event::Timespec {
            tv_sec: STOP_GRACE.as_secs() as _,
            tv_nsec: 0,
        };
        let mut fds = [rustix::event::PollFd::new(
            &out,
            rustix::event::PollFlags::OUT,
        )];
        if !GAVE_UP.load(Ordering::Relaxed) {
            match rustix::event::poll(&mut fds, Some(&grace)) {
                // PIPE_BUF bytes fit a pipe that polls writable.
                Ok(1..) => return Ok(rustix::io::write(out, &buf[..buf.len().min(4096)])?),
                // No room for a whole grace: every later write fails at once.
                _ => GAVE_UP.store(true, Ordering::Relaxed),
            }
        }
        Err(stopped())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The error of a call a stop signal ended; not of kind `Interrupted`, which `write_all`
/// and `BufWriter` would retry.
fn stopped() -> io::Error {
    crate::said::error(io::ErrorKind::Other, "stopped by a signal")
}

/// The conventional name of a signal, for messages.
pub fn name(sig: i32) -> &'static str {
    match sig {
        sys::SIGHUP => "SIGHUP",
        sys::SIGINT => "SIGINT",
        sys::SIGQUIT => "SIGQUIT",
        sys::SIGILL => "SIGILL",
        sys::SIGABRT => "SIGABRT",
        sys::SIGBUS => "SIGBUS",
        sys::SIGFPE => "SIGFPE",
        sys::SIGKILL => "SIGKILL",
        sys::SIGSEGV => "SIGSEGV",
        sys::SIGPIPE => "SIGPIPE",
        sys::SIGALRM => "SIGALRM",
        sys::SIGTERM => "SIGTERM",
        sys::SIGUSR1 => "SIGUSR1",
        sys::SIGUSR2 => "SIGUSR2",
        sys::SIGWINCH => "SIGWINCH",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signalfd_reports_a_blocked_signal() {
        // SIGUSR2 so that the test harness's own handling of other signals is untouched;
        // the test threads of this binary never expect it.
        let sfd = SignalFd::open(&[sys::SIGUSR2]).unwrap();
        assert_eq!(sfd.take(), None);
        // A signal this thread blocks only becomes pending.
        sys::raise_in_this_thread(sys::SIGUSR2).unwrap();
        assert_eq!(sfd.take(), Some(sys::SIGUSR2));
        assert_eq!(sfd.take(), None);
    }

    #[test]
    fn names() {
        assert_eq!(name(sys::SIGTERM), "SIGTERM");
        assert_eq!(name(sys::SIGKILL), "SIGKILL");
        assert_eq!(name(sys::SIGWINCH), "SIGWINCH");
        assert_eq!(name(1000), "signal");
    }
}
