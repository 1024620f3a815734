//! Signals without handlers: SIGINT/SIGTERM as a readable descriptor, and the mask `run`
//! keeps while its child runs.
//!
//! rustix offers no public signal API and std offers none, so the calls themselves are in
//! [`crate::sys::signal`]. No handler is ever installed: the signals are blocked and
//! then read from a signalfd that `poll` watches next to the netlink socket, so nothing
//! runs in signal context and blocking calls never see EINTR from them.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

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
    pub fn open(signals: &[i32]) -> io::Result<SignalFd> {
        let set = SigSet::of(signals)?;
        sys::block(&set)?;
        Ok(SignalFd {
            fd: sys::signalfd(&set)?,
        })
    }

    /// The number of a pending signal, consuming it; None when none is pending.
    pub fn take(&self) -> Option<i32> {
        // struct signalfd_siginfo is 128 bytes; ssi_signo is its first u32.
        let mut info = [0u8; 128];
        match rustix::io::retry_on_intr(|| rustix::io::read(&self.fd, &mut info)) {
            Ok(128) => {
                let signo = info.first_chunk::<4>().map(|b| u32::from_ne_bytes(*b))?;
                i32::try_from(signo).ok()
            }
            _ => None,
        }
    }
}

impl AsFd for SignalFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
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
