//! Threads started with `pthread_create` ([`spawn`]), and the `pthread_setname_np` of
//! static musl builds: std's, done with rustix.
//!
//! [`spawn`] is what std's `thread::Builder::spawn` does for the agent's few threads,
//! without what the agent never uses: the thread handle `thread::current()` returns (made
//! on first use instead), spawn hooks, the result packet and, in std's stack overflow
//! handler, the record of each thread's guard page (a B-tree) and its alternate signal
//! stack, so that an overflow of such a thread dies by SIGSEGV without std's "has
//! overflowed its stack" line. A panic cannot cross into the thread's C start routine:
//! the boards abort at once anyway.
//!
//! std names every thread it spawns with a name through `pthread_setname_np` (the call is
//! in its thread start-up whether or not a name is given, so it is always linked). musl's
//! version formats `/proc/self/task/%d/comm` with `snprintf` for naming another thread,
//! and it is the only caller of printf in the binary: it alone would link musl's printf
//! core and float formatting (BENCHMARKS.md, "Thread naming"). std only ever names the
//! calling thread, so this version does just that, with rustix's `prctl(PR_SET_NAME)`,
//! as musl does for that case.
//!
//! It replaces musl's without depending on the order of the link line: the definition is
//! in the program's own code (with LTO, the one object the linker reads before libc.a; in
//! other builds rustc's synthetic object references every exported symbol of the crates,
//! so this one is in before libc.a is searched), and the linker takes an archive member
//! only for a symbol still undefined. musl's `pthread_setname_np.o` defines nothing else,
//! so nothing else can pull it in next to this one. Elsewhere (glibc, dynamic) libc keeps
//! its own and this is an ordinary function, for its test.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::io;
use std::mem::MaybeUninit;

/// A thread started by [`spawn`]: [`Thread::join`] waits for it; dropped, it is detached
/// (as std's `JoinHandle`).
#[derive(Debug)]
pub struct Thread(libc::pthread_t);

/// What the new thread runs: its name, then its closure.
struct Start {
    name: &'static CStr,
    f: Box<dyn FnOnce() + Send>,
}

/// Starts a thread named `name` (at most 15 bytes) with a `stack`-byte stack (at least
/// `PTHREAD_STACK_MIN`), running `f`.
pub fn spawn(name: &'static CStr, stack: usize, f: Box<dyn FnOnce() + Send>) -> io::Result<Thread> {
    let start = Box::into_raw(Box::new(Start { name, f }));
    let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
    let mut native = MaybeUninit::<libc::pthread_t>::uninit();
    // SAFETY: `attr` is initialised before use and destroyed once; `start` is a live box
    // that the new thread takes over, or that is freed here when no thread started.
    unsafe {
        let mut r = libc::pthread_attr_init(attr.as_mut_ptr());
        if r == 0 {
            r = libc::pthread_attr_setstacksize(
                attr.as_mut_ptr(),
                stack.max(libc::PTHREAD_STACK_MIN),
            );
            if r == 0 {
                r = libc::pthread_create(
                    native.as_mut_ptr(),
                    attr.as_ptr(),
                    run,
                    start.cast::<c_void>(),
                );
            }
            libc::pthread_attr_destroy(attr.as_mut_ptr());
        }
        if r != 0 {
            drop(Box::from_raw(start));
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(Thread(native.assume_init()))
    }
}

extern "C" fn run(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `arg` is the box `spawn` made for this thread, taken once, here.
    let start = unsafe { Box::from_raw(arg.cast::<Start>()) };
    // As std: a name the kernel refuses leaves the thread unnamed.
    let _ = set_current(start.name);
    (start.f)();
    std::ptr::null_mut()
}

impl Thread {
    /// Waits for the thread to end.
    pub fn join(self) {
        let t = self.0;
        std::mem::forget(self);
        // SAFETY: `t` is a thread of ours, neither joined nor detached (`self` is gone).
        unsafe { libc::pthread_join(t, std::ptr::null_mut()) };
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        // SAFETY: as in `join`: joined or detached once.
        unsafe { libc::pthread_detach(self.0) };
    }
}

/// Names the calling thread `name` (at most 15 bytes and a NUL, as on every Linux libc).
/// Another thread gets ENOSYS: nothing in this program names another thread.
///
/// # Safety
///
/// `name` points to a NUL-terminated string (the C function's contract).
#[cfg_attr(target_env = "musl", unsafe(no_mangle))]
pub unsafe extern "C" fn pthread_setname_np(thread: libc::pthread_t, name: *const c_char) -> c_int {
    // SAFETY: pthread_self and pthread_equal have no preconditions.
    if unsafe { libc::pthread_equal(thread, libc::pthread_self()) } == 0 {
        return libc::ENOSYS;
    }
    // SAFETY: the caller passes a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(name) };
    match set_current(name) {
        Ok(()) => 0,
        Err(e) => e.raw_os_error(),
    }
}

/// Names the calling thread `name`: ERANGE beyond 15 bytes (as `pthread_setname_np`; the
/// kernel would cut it short silently).
pub fn set_current(name: &CStr) -> Result<(), rustix::io::Errno> {
    if name.to_bytes().len() > 15 {
        return Err(rustix::io::Errno::RANGE);
    }
    rustix::thread::set_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comm() -> String {
        std::fs::read_to_string("/proc/thread-self/comm").unwrap()
    }

    #[test]
    fn names_the_calling_thread_only() {
        std::thread::spawn(|| {
            // SAFETY: no preconditions.
            let me = unsafe { libc::pthread_self() };
            // SAFETY: NUL-terminated literals.
            unsafe {
                assert_eq!(pthread_setname_np(me, c"tw-name-test".as_ptr()), 0);
                assert_eq!(comm(), "tw-name-test\n");
                let long = c"sixteen-bytes-xx".as_ptr();
                assert_eq!(pthread_setname_np(me, long), libc::ERANGE);
            }
            assert_eq!(comm(), "tw-name-test\n", "unchanged after ERANGE");
            assert_eq!(set_current(c"tw-rustix"), Ok(()));
            assert_eq!(comm(), "tw-rustix\n");
        })
        .join()
        .unwrap();
        // A std-named thread goes through this function on musl (the libc name elsewhere).
        let t = std::thread::Builder::new()
            .name("tw-std-named".into())
            .spawn(comm)
            .unwrap();
        assert_eq!(t.join().unwrap(), "tw-std-named\n");
    }
}
