//! Starting the command of `run` and `getdelays -c`: posix_spawnp, then waitid.
//!
//! std's `process::Command` does this too, but with a `pre_exec` hook (needed to restore
//! the signal mask) it links both its fork/exec path and its posix_spawn path, its
//! environment map and pidfd support, a large part of the static board binary
//! (cross/README.md) for two callers that need none of it. posix_spawnp (`taskwire_cli::sys::spawn`) does the same job in
//! libc: the mask and SIGPIPE are set through its attributes, and an exec failure comes
//! back as the call's own error.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;

use rustix::io::retry_on_intr;
use rustix::process::{Pid, WaitId, WaitIdOptions, WaitIdStatus, waitid};

use taskwire_cli::Failure;
use taskwire_cli::said;
use taskwire_cli::signals::{self, SavedMask};
use taskwire_cli::sys::signal::{SIGPIPE, SigSet};

/// Why [`run_to_exit`] started nothing.
#[derive(Debug)]
pub enum NotStarted {
    /// SIGINT and SIGQUIT could not be blocked.
    Setup(Failure),
    /// The exec failed: `NotFound` for a missing program, `PermissionDenied` for one that
    /// cannot be executed.
    Exec(io::Error),
}

/// How waiting for the child went: its status, or why the wait failed.
pub type Waited = Result<Option<WaitIdStatus>, Failure>;

/// Starts `program` with `args` and waits for it to exit without reaping it: what `run` and
/// `getdelays -c` do. SIGINT and SIGQUIT stay blocked in taskwire from here on and the
/// child gets the mask from before, so Ctrl-C and Ctrl-\\ reach the command and taskwire
/// lives to report on it. The exited child stays a zombie whose statistics the kernel
/// still serves; the caller queries them, then reaps it (also when the wait failed).
pub fn run_to_exit(program: &OsStr, args: &[OsString]) -> Result<(Child, Waited), NotStarted> {
    let mask = signals::block(&signals::RUN_SIGNALS).map_err(|e| {
        NotStarted::Setup(Failure::Runtime(format!("blocking SIGINT/SIGQUIT: {e}")))
    })?;
    let child = spawn(program, args, mask).map_err(NotStarted::Exec)?;
    let waited = child
        .wait_exited()
        .map_err(|e| Failure::Runtime(format!("waiting for {}: {e}", child.id())));
    Ok((child, waited))
}

/// A started child, not yet reaped.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
}

/// Runs `program` (looked up in PATH when it has no slash) with `args`, the environment
/// of this process, SIGPIPE at its default action (Rust ignores it in this process), and
/// the signal mask `mask` (the one before taskwire blocked SIGINT/SIGQUIT).
///
/// Errors are those of the exec: `NotFound` for a missing program, `PermissionDenied`
/// for one that cannot be executed.
pub fn spawn(program: &OsStr, args: &[OsString], mask: SavedMask) -> io::Result<Child> {
    let cstr = |s: &OsStr| {
        CString::new(s.as_bytes())
            .map_err(|_| said::error(io::ErrorKind::InvalidInput, "an argument holds a NUL"))
    };
    let file = cstr(program)?;
    let owned: Vec<CString> = std::iter::once(Ok(file.clone()))
        .chain(args.iter().map(|a| cstr(a)))
        .collect::<io::Result<_>>()?;
    let pid =
        taskwire_cli::sys::spawn::spawnp(&file, &owned, mask.set(), &SigSet::of(&[SIGPIPE])?)?;
    let pid = Pid::from_raw(pid)
        .ok_or_else(|| said::error(io::ErrorKind::Other, "posix_spawnp gave pid 0"))?;
    Ok(Child { pid })
}

impl Child {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.pid.as_raw_nonzero().get().unsigned_abs()
    }

    /// Waits for the child to exit but leaves it a zombie, so that the kernel still serves
    /// its statistics.
    pub fn wait_exited(&self) -> io::Result<Option<WaitIdStatus>> {
        retry_on_intr(|| {
            waitid(
                WaitId::Pid(self.pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
            )
        })
        .map_err(io::Error::from)
    }

    /// Reaps the child (waiting for it if it has not exited) and returns how it ended.
    pub fn reap(self) -> io::Result<Option<WaitIdStatus>> {
        retry_on_intr(|| waitid(WaitId::Pid(self.pid), WaitIdOptions::EXITED))
            .map_err(io::Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_cli::sys::signal::SIGUSR1;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    /// The calling thread's mask, unchanged.
    fn unblocked() -> SavedMask {
        taskwire_cli::signals::block(&[]).unwrap()
    }

    #[test]
    fn exit_status_and_path_lookup() {
        let c = spawn(OsStr::new("sh"), &args(&["-c", "exit 7"]), unblocked()).unwrap();
        let early = c.wait_exited().unwrap().unwrap();
        assert_eq!(early.exit_status(), Some(7));
        // WNOWAIT left it to reap: the same status comes back once more.
        let st = c.reap().unwrap().unwrap();
        assert_eq!(st.exit_status(), Some(7));
    }

    #[test]
    fn run_to_exit_leaves_the_child_to_reap() {
        let (c, waited) = run_to_exit(OsStr::new("sh"), &args(&["-c", "exit 5"])).unwrap();
        assert_eq!(waited.unwrap().unwrap().exit_status(), Some(5));
        assert_eq!(c.reap().unwrap().unwrap().exit_status(), Some(5));
        if exec_failure_unreported() {
            return;
        }
        let e = run_to_exit(OsStr::new("taskwire-no-such-program"), &[]).unwrap_err();
        assert!(matches!(e, NotStarted::Exec(e) if e.kind() == io::ErrorKind::NotFound));
    }

    /// glibc's posix_spawn learns of a failed exec through memory it shares with its
    /// CLONE_VFORK child; qemu-user runs that clone as a plain fork, so the failure never
    /// reaches the parent (the child exits 127). The runners of the glibc targets under
    /// qemu-user (.cargo/config.toml) say so with this variable. musl reports through a
    /// pipe, and these checks run on every musl target and on the host.
    fn exec_failure_unreported() -> bool {
        let lost = std::env::var_os("TASKWIRE_QEMU_GLIBC_SPAWN").is_some();
        if lost {
            eprintln!("skip: glibc's posix_spawn under qemu-user cannot report a failed exec");
        }
        lost
    }

    #[test]
    fn missing_program_is_not_found() {
        if exec_failure_unreported() {
            return;
        }
        let e = spawn(OsStr::new("taskwire-no-such-program"), &[], unblocked()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let e = spawn(OsStr::new("/dev/null"), &[], unblocked()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn child_gets_the_saved_mask_and_default_sigpipe() {
        // This test's thread blocks SIGUSR1 (as run blocks SIGINT); the child must not.
        // It reports its blocked and ignored signal masks from /proc.
        let saved = taskwire_cli::signals::block(&[SIGUSR1]).unwrap();
        let c = spawn(
            OsStr::new("sh"),
            &args(&[
                "-c",
                "grep -E '^Sig(Blk|Ign)' /proc/self/status > \"$0\"",
                &format!("/tmp/taskwire-spawn-test-{}", std::process::id()),
            ]),
            saved,
        )
        .unwrap();
        assert_eq!(c.reap().unwrap().unwrap().exit_status(), Some(0));
        let path = format!("/tmp/taskwire-spawn-test-{}", std::process::id());
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let mask = |key: &str| {
            let line = text.lines().find(|l| l.starts_with(key)).unwrap();
            u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
        };
        let bit = |sig: i32| 1u64 << (sig - 1);
        // This test process ignores SIGPIPE (Rust's start-up does); the child must not.
        assert_eq!(mask("SigIgn:") & bit(SIGPIPE), 0, "{text}");
        assert_eq!(mask("SigBlk:") & bit(SIGUSR1), 0, "{text}");
    }
}
