//! A last word when the program dies of a trap: what a board build's panic becomes.
//!
//! The board builds use `panic = "immediate-abort"` (cross/README.md): a panic runs no hook
//! and prints nothing, it executes a trap instruction (`brk` on aarch64, `udf` on arm,
//! `ud2` on x86) and the kernel kills the process with SIGTRAP or SIGILL. [`install`]
//! catches those two once, writes one line to stderr naming the signal and the address of
//! the trap (which maps to a source line with a symbol build of the same commit, the
//! builds being reproducible and not position-independent), runs the one cleanup hook
//! registered with [`on_crash`] (the terminal's restore), and lets the signal's default
//! action end the process, so the exit status still says how it died.
//!
//! Everything the handler does is async-signal-safe: write(2), a cleanup that only makes
//! system calls, and returning into the trap again with the default action restored
//! (`SA_RESETHAND`).

use std::sync::atomic::{AtomicPtr, Ordering};

/// The cleanup run before the line is written; null when none.
static HOOK: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Registers `cleanup` to run, in the signal handler, when the process dies of a trap. It
/// must be async-signal-safe (system calls only: no allocation, no lock). One hook per
/// process: a later call replaces it.
pub fn on_crash(cleanup: fn()) {
    HOOK.store(cleanup as *mut (), Ordering::Release);
}

/// Catches SIGILL and SIGTRAP for the rest of the process's life (see the module). Failure
/// is not reported: the program runs the same without its last word.
pub fn install() {
    for sig in [libc::SIGILL, libc::SIGTRAP] {
        // SAFETY: a zeroed sigaction is a valid starting value (empty mask, no flags); the
        // handler has the signature SA_SIGINFO asks for and is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESETHAND;
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    let hook = HOOK.load(Ordering::Acquire);
    if !hook.is_null() {
        // SAFETY: only `on_crash` stores here, and it stores a `fn()`.
        let cleanup: fn() = unsafe { std::mem::transmute::<*mut (), fn()>(hook) };
        cleanup();
    }
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler; for SIGILL and
    // SIGTRAP si_addr is the address of the instruction.
    let addr = if info.is_null() {
        0
    } else {
        unsafe { (*info).si_addr() as usize }
    };
    let mut line = [0u8; 96];
    let len = last_word(&mut line, sig, addr);
    // SAFETY: write(2) on stderr with a valid buffer; nothing to do if it fails.
    unsafe { libc::write(libc::STDERR_FILENO, line.as_ptr().cast(), len) };
    // Returning runs the trap again, now with the default action: the process dies of it.
}

/// Formats the line the handler writes, without allocating; returns its length.
fn last_word(out: &mut [u8; 96], sig: i32, addr: usize) -> usize {
    let name: &[u8] = match sig {
        libc::SIGILL => b"SIGILL",
        libc::SIGTRAP => b"SIGTRAP",
        _ => b"a signal",
    };
    let mut n = 0;
    for part in [
        &b"taskwire: internal error (a panic or abort): "[..],
        name,
        b" at 0x",
    ] {
        out[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    let digits = usize::BITS as usize / 4;
    for i in (0..digits).rev() {
        let nibble = (addr >> (i * 4)) & 0xf;
        out[n] = b"0123456789abcdef"[nibble];
        n += 1;
    }
    out[n] = b'\n';
    n + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    #[test]
    fn the_line_names_the_signal_and_the_address() {
        let mut out = [0u8; 96];
        let n = last_word(&mut out, libc::SIGTRAP, 0x41_2a_b0);
        let line = std::str::from_utf8(&out[..n]).unwrap();
        assert!(line.starts_with("taskwire: internal error (a panic or abort): SIGTRAP at 0x"));
        assert!(line.ends_with("412ab0\n"), "{line}");
        let n = last_word(&mut out, libc::SIGILL, usize::MAX);
        let line = std::str::from_utf8(&out[..n]).unwrap();
        assert!(line.contains("SIGILL at 0xffff"), "{line}");
    }

    /// The child side of the test below: installs, registers a hook, and traps the way an
    /// immediate-abort panic does.
    #[test]
    fn crash_child() {
        if std::env::var_os("TASKWIRE_CRASH_CHILD").is_none() {
            return;
        }
        fn cleanup() {
            let msg = b"cleanup ran\n";
            // SAFETY: write(2) of a static buffer.
            unsafe { libc::write(libc::STDERR_FILENO, msg.as_ptr().cast(), msg.len()) };
        }
        on_crash(cleanup);
        install();
        // What `panic = "immediate-abort"` compiles a panic to.
        trap();
    }

    #[test]
    fn a_trap_leaves_a_line_runs_the_hook_and_kills_by_its_signal() {
        let exe = std::env::current_exe().unwrap();
        let out = match Command::new(exe)
            .args(["--exact", "sys::crash::tests::crash_child", "--nocapture"])
            .env("TASKWIRE_CRASH_CHILD", "1")
            .output()
        {
            Ok(out) => out,
            // qemu-user without binfmt cannot exec a foreign binary again; cross/test-panic
            // checks the handler under qemu-user instead, through the probe's runner.
            Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => {
                eprintln!("skipped: cannot run this test binary again here: {e}");
                return;
            }
            Err(e) => panic!("running this test binary again: {e}"),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        let sig = out.status.signal();
        assert!(
            sig == Some(libc::SIGILL) || sig == Some(libc::SIGTRAP),
            "status {:?}, stderr: {stderr}",
            out.status
        );
        assert!(stderr.contains("cleanup ran\n"), "{stderr}");
        assert!(
            stderr.contains("taskwire: internal error (a panic or abort): SIG"),
            "{stderr}"
        );
    }

    /// The trap instruction of the target, as `core::intrinsics::abort` emits it (the
    /// intrinsic itself is unstable): for the test only.
    fn trap() -> ! {
        // SAFETY: a trap instruction; it never returns, the process dies of it.
        #[cfg(target_arch = "aarch64")]
        unsafe {
            std::arch::asm!("brk #0x1", options(noreturn))
        }
        // SAFETY: as above.
        #[cfg(target_arch = "arm")]
        unsafe {
            std::arch::asm!("udf #0xfe", options(noreturn))
        }
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::asm!("ud2", options(noreturn))
        }
        #[cfg(not(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64")))]
        std::process::abort()
    }
}
