//! Signals without handlers: SIGINT/SIGTERM as a readable descriptor, and the mask `run`
//! keeps while its child runs.
//!
//! rustix offers no public signal API (its `runtime` module is hidden behind a name that
//! rotates between releases, for libc implementations only) and std offers none, so these
//! few calls go through `libc`. No handler is ever installed: the signals are blocked and
//! then read from a signalfd that `poll` watches next to the netlink socket, so nothing
//! runs in signal context and blocking calls never see EINTR from them.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

/// The signals that end `listen`.
pub const STOP_SIGNALS: [i32; 2] = [libc::SIGINT, libc::SIGTERM];
/// The signals `run` holds off while the command runs, as time(1) does: a Ctrl-C or
/// Ctrl-\ at the terminal reaches the command, and taskwire lives on to report.
pub const RUN_SIGNALS: [i32; 2] = [libc::SIGINT, libc::SIGQUIT];

/// A signal mask as it was before [`block`] changed it.
#[derive(Clone, Copy)]
pub struct SavedMask(libc::sigset_t);

/// A signal set holding `signals`.
pub fn set_of(signals: &[i32]) -> io::Result<libc::sigset_t> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initializes the set it is given; sigaddset only reads and writes
    // that initialized set.
    unsafe {
        if libc::sigemptyset(set.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        for &sig in signals {
            if libc::sigaddset(set.as_mut_ptr(), sig) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(set.assume_init())
    }
}

/// Blocks `signals` in the calling thread and returns the previous mask.
///
/// Call it from the main thread before any other thread starts: threads inherit the mask,
/// and a thread that does not block the signals would take them instead.
pub fn block(signals: &[i32]) -> io::Result<SavedMask> {
    let set = set_of(signals)?;
    let mut old = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: both pointers are valid for the call; pthread_sigmask fills `old` on success.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, old.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: initialized by the successful call above.
    Ok(SavedMask(unsafe { old.assume_init() }))
}

impl SavedMask {
    /// The mask, for posix_spawnattr_setsigmask (crate::spawn).
    pub fn as_ptr(&self) -> *const libc::sigset_t {
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
        block(signals)?;
        let set = set_of(signals)?;
        // SAFETY: `set` is initialized; -1 asks for a new descriptor.
        let raw = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: signalfd returned a fresh descriptor that nothing else owns.
        Ok(SignalFd {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
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
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
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
        let sfd = SignalFd::open(&[libc::SIGUSR2]).unwrap();
        assert_eq!(sfd.take(), None);
        // SAFETY: raising a signal this thread blocks only makes it pending.
        let rc = unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR2) };
        assert_eq!(rc, 0);
        assert_eq!(sfd.take(), Some(libc::SIGUSR2));
        assert_eq!(sfd.take(), None);
    }

    #[test]
    fn names() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGKILL), "SIGKILL");
        assert_eq!(name(1000), "signal");
    }
}
