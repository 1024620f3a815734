//! A `pthread_setname_np` for static musl builds, taken by the linker instead of libc.a's.
//!
//! musl's own formats `/proc/self/task/%d/comm` with `snprintf` (for naming another
//! thread), and it is the only caller of printf in the binary: it alone links musl's
//! printf core and float formatting, about 8 KiB on armv7 against a 256 KiB budget. std
//! only ever names the calling thread (a spawned thread names itself before running), so
//! this version does just that, with `prctl(PR_SET_NAME)` as musl does for that case.
#![allow(unsafe_code)]

use libc::{c_char, c_int, pthread_t};

/// Names the calling thread `name` (at most 15 bytes and a NUL, as on every Linux libc).
/// Another thread gets ENOSYS: nothing in this program names another thread. Exported
/// only on musl (static); elsewhere it is an ordinary function, for its test.
#[cfg_attr(target_env = "musl", unsafe(no_mangle))]
#[cfg_attr(not(target_env = "musl"), allow(dead_code))]
extern "C" fn pthread_setname_np(thread: pthread_t, name: *const c_char) -> c_int {
    // SAFETY: pthread_self and pthread_equal have no preconditions.
    if unsafe { libc::pthread_equal(thread, libc::pthread_self()) } == 0 {
        return libc::ENOSYS;
    }
    // SAFETY: the caller passes a NUL-terminated string (the function's contract);
    // strnlen reads at most 16 bytes of it.
    if unsafe { libc::strnlen(name, 16) } > 15 {
        return libc::ERANGE;
    }
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes, checked above.
    if unsafe { libc::prctl(libc::PR_SET_NAME, name) } == 0 {
        0
    } else {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL)
    }
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
            assert_eq!(pthread_setname_np(me, c"tw-name-test".as_ptr()), 0);
            assert_eq!(comm(), "tw-name-test\n");
            assert_eq!(
                pthread_setname_np(me, c"sixteen-bytes-xx".as_ptr()),
                libc::ERANGE
            );
            assert_eq!(comm(), "tw-name-test\n", "unchanged after ERANGE");
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
