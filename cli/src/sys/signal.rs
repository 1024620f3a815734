//! Signal sets, the calling thread's mask, signalfd, and the one handler: it records a
//! stop signal so that a system call it interrupted can tell why.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

// Signal numbers as libc has them for the target, so that no other module spells a number.
pub use libc::{
    SIGABRT, SIGALRM, SIGBUS, SIGFPE, SIGHUP, SIGILL, SIGINT, SIGKILL, SIGPIPE, SIGQUIT, SIGSEGV,
    SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
};

/// A set of signals (`sigset_t`).
#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

impl SigSet {
    /// The set holding `signals`; EINVAL for a number that is no signal.
    pub fn of(signals: &[i32]) -> io::Result<SigSet> {
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initializes the set it is given.
        if unsafe { libc::sigemptyset(set.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: initialized by the successful call above.
        let mut set = SigSet(unsafe { set.assume_init() });
        for &sig in signals {
            // SAFETY: sigaddset reads and writes the initialized set it is given.
            if unsafe { libc::sigaddset(&mut set.0, sig) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(set)
    }

    /// Whether `sig` is in the set.
    pub fn contains(&self, sig: i32) -> bool {
        // SAFETY: sigismember only reads the initialized set.
        unsafe { libc::sigismember(&self.0, sig) == 1 }
    }

    pub(super) fn as_raw(&self) -> &libc::sigset_t {
        &self.0
    }
}

/// Adds `set` to the calling thread's blocked signals; returns the mask from before.
pub fn block(set: &SigSet) -> io::Result<SigSet> {
    let mut old = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: both pointers are valid for the call; pthread_sigmask fills `old` on success.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set.0, old.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: initialized by the successful call above.
    Ok(SigSet(unsafe { old.assume_init() }))
}

/// Removes `set` from the calling thread's blocked signals; returns the mask from before.
pub fn unblock(set: &SigSet) -> io::Result<SigSet> {
    let mut old = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: as in `block`.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set.0, old.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: initialized by the successful call above.
    Ok(SigSet(unsafe { old.assume_init() }))
}

/// Makes `set` the calling thread's mask (a mask `block` or `unblock` returned).
pub fn set_mask(set: &SigSet) {
    // SAFETY: `set` is initialized; a null old-mask pointer is allowed. It cannot fail for
    // SIG_SETMASK with a valid set.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &set.0, std::ptr::null_mut()) };
}

/// The last signal the handler caught, 0 for none.
static CAUGHT: AtomicI32 = AtomicI32::new(0);
/// The handler ran since [`take_fired`] last looked.
static FIRED: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(sig: libc::c_int) {
    // Atomic stores are async-signal-safe.
    CAUGHT.store(sig, Ordering::Relaxed);
    FIRED.store(sig, Ordering::Relaxed);
}

/// The signal the handler caught since the last call, if any.
pub fn take_fired() -> Option<i32> {
    match FIRED.swap(0, Ordering::Relaxed) {
        0 => None,
        sig => Some(sig),
    }
}

/// Sends `sig` to this process again: a signal the handler took (and so a signalfd did
/// not see) becomes pending for the signalfd's reader.
pub fn resend(sig: i32) {
    // SAFETY: kill(2) on our own process with a signal number the handler was given.
    unsafe { libc::kill(libc::getpid(), sig) };
}

/// Installs the recording handler for each signal in `signals`, without SA_RESTART: a
/// blocking call that one interrupts returns EINTR instead of resuming. The handler only
/// runs while a thread has the signal unblocked (see `crate::signals::interruptible`).
pub fn catch(signals: &[i32]) -> io::Result<()> {
    for &sig in signals {
        // SAFETY: a zeroed sigaction is valid (empty mask, no flags); the handler is an
        // extern "C" fn that only stores to an atomic.
        let rc = unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigaction(sig, &act, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Records `sig` as caught, as the handler does: for a stop signal read from a signalfd.
pub fn note(sig: i32) {
    CAUGHT.store(sig, Ordering::Relaxed);
}

/// The signal the handler caught, if any (it stays caught).
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::Relaxed) {
        0 => None,
        sig => Some(sig),
    }
}

/// A new non-blocking, close-on-exec signalfd for `set`.
pub fn signalfd(set: &SigSet) -> io::Result<OwnedFd> {
    // SAFETY: `set` is initialized; -1 asks for a new descriptor.
    let raw = unsafe { libc::signalfd(-1, &set.0, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: signalfd returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Sends `sig` to the calling thread only (pthread_kill): for tests of a blocked signal,
/// which a process-wide kill would deliver to whichever thread does not block it.
pub fn raise_in_this_thread(sig: i32) -> io::Result<()> {
    // SAFETY: pthread_self has no preconditions and names a live thread: this one.
    match unsafe { libc::pthread_kill(libc::pthread_self(), sig) } {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_masks() {
        let s = SigSet::of(&[SIGUSR1, SIGTERM]).unwrap();
        assert!(s.contains(SIGUSR1) && s.contains(SIGTERM) && !s.contains(SIGINT));
        assert!(SigSet::of(&[1000]).is_err());
        // In a thread of its own, so that the test harness's mask is untouched.
        std::thread::spawn(|| {
            let before = block(&SigSet::of(&[SIGUSR1]).unwrap()).unwrap();
            assert!(!before.contains(SIGUSR1));
            let now = block(&SigSet::of(&[]).unwrap()).unwrap();
            assert!(now.contains(SIGUSR1));
        })
        .join()
        .unwrap();
    }
}
