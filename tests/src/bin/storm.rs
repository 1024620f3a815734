//! Exit-storm workload for taskwire's end-to-end tests and benchmarks.
//!
//! ```text
//! storm --threads N [--batch B] [--comm NAME]
//! storm --procs N [--batch B] [--comm NAME] [--exit-code C] [--exec]
//! ```
//!
//! Threads are spawned `B` at a time (default 64); each batch waits on a barrier
//! so its threads exit together, then the batch is joined. Processes are forked
//! `B` at a time and exit at once with `_exit(C)`; the batch is then reaped and
//! every exit status checked. `--exec` instead re-executes this binary per
//! process (`posix_spawn` + exec), which is slower but gives exec'd children
//! (no `AFORK` flag in their records). `--comm` names every exiting task
//! (at most 15 bytes, the kernel's comm limit, so tests can match it exactly).
//!
//! Both `--threads` and `--procs` may be given; threads run first. The last line
//! on stdout is `{"threads":N,"procs":M,"seconds":S,"exits_per_sec":R}` counting
//! only tasks actually spawned and exited; any failed spawn or unexpected exit
//! status ends the run with exit code 1 and a message on stderr instead.
//!
//! Measured on the 2-core development VM (Linux 6.18, release build, shared
//! machine): `--threads 100000` 17,000-19,000 exits/s, `--procs 20000` (fork)
//! about 13,000/s, `--procs 20000 --exec` about 2,200/s: hence fork by default.
#![deny(unsafe_code)]

use std::ffi::CString;
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

/// Longest comm the kernel keeps (TASK_COMM_LEN - 1), in bytes.
const COMM_MAX: usize = 15;
/// Stack of each storm thread, in bytes: they only wait on a barrier.
const THREAD_STACK: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Args {
    threads: u64,
    procs: u64,
    batch: usize,
    comm: Option<String>,
    exit_code: u8,
    exec: bool,
    child: bool,
}

const USAGE: &str = "usage: storm [--threads N] [--procs N] [--batch B] [--comm NAME] \
                     [--exit-code C] [--exec]";

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        batch: 64,
        ..Args::default()
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--threads" => a.threads = num(&flag, &value()?)?,
            "--procs" => a.procs = num(&flag, &value()?)?,
            "--batch" => a.batch = num(&flag, &value()?)?,
            "--exit-code" => a.exit_code = num(&flag, &value()?)?,
            "--comm" => a.comm = Some(value()?),
            "--exec" => a.exec = true,
            "--child" => a.child = true,
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    if a.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    if let Some(c) = &a.comm {
        if c.is_empty() || c.len() > COMM_MAX || c.contains('\0') {
            return Err(format!("--comm must be 1..={COMM_MAX} bytes without NUL"));
        }
    }
    Ok(a)
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
}

/// Spawns and joins `n` threads; returns how many ran.
fn storm_threads(n: u64, batch: usize, comm: Option<&str>) -> Result<u64, String> {
    let mut done = 0u64;
    while done < n {
        let size = usize::try_from(n - done).map_or(batch, |left| left.min(batch));
        // +1: this thread releases the batch once every member is running.
        let barrier = Arc::new(Barrier::new(size + 1));
        let mut handles = Vec::with_capacity(size);
        for _ in 0..size {
            let mut builder = thread::Builder::new().stack_size(THREAD_STACK);
            if let Some(c) = comm {
                builder = builder.name(c.to_owned());
            }
            let b = Arc::clone(&barrier);
            // On failure the batch's threads stay parked on the barrier; the
            // caller exits the process, which ends them.
            let h = builder
                .spawn(move || {
                    b.wait();
                })
                .map_err(|e| {
                    format!("thread spawn failed after {done} + {}: {e}", handles.len())
                })?;
            handles.push(h);
        }
        barrier.wait();
        for h in handles {
            h.join()
                .map_err(|_| "a storm thread panicked".to_string())?;
        }
        done += size as u64;
    }
    Ok(done)
}

/// Forks `n` children that exit with `code` at once; returns how many exited so.
fn storm_fork(n: u64, batch: usize, comm: Option<&str>, code: u8) -> Result<u64, String> {
    // Built before fork: the child must not allocate.
    let comm = comm.map(|c| CString::new(c).expect("checked for NUL in parse_args"));
    let mut done = 0u64;
    let mut pids = Vec::with_capacity(batch);
    while done < n {
        let size = usize::try_from(n - done).map_or(batch, |left| left.min(batch));
        for _ in 0..size {
            match fork_exit(comm.as_deref(), code) {
                Ok(pid) => pids.push(pid),
                Err(e) => {
                    return Err(format!(
                        "fork failed after {} children: {e}",
                        done + pids.len() as u64
                    ));
                }
            }
        }
        for pid in pids.drain(..) {
            check_status(pid, wait_pid(pid)?, code)?;
        }
        done += size as u64;
    }
    Ok(done)
}

#[allow(unsafe_code)]
fn fork_exit(comm: Option<&std::ffi::CStr>, code: u8) -> std::io::Result<libc::pid_t> {
    // SAFETY: after fork the child only makes the async-signal-safe calls prctl
    // and _exit on memory prepared before fork, which is sound even if other
    // threads existed in the parent.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => unsafe {
            if let Some(c) = comm {
                libc::prctl(libc::PR_SET_NAME, c.as_ptr());
            }
            libc::_exit(i32::from(code))
        },
        pid => Ok(pid),
    }
}

#[allow(unsafe_code)]
fn wait_pid(pid: libc::pid_t) -> Result<libc::c_int, String> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid, writable c_int for the duration of the call.
        if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
            return Ok(status);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("waitpid({pid}): {e}"));
        }
    }
}

fn check_status(pid: libc::pid_t, status: libc::c_int, code: u8) -> Result<(), String> {
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == i32::from(code) {
        Ok(())
    } else {
        Err(format!(
            "child {pid} ended with wait status {status:#x}, expected exit {code}"
        ))
    }
}

/// Spawns `n` exec'd copies of this binary in child mode; returns how many exited so.
fn storm_exec(n: u64, batch: usize, comm: Option<&str>, code: u8) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--child")
        .arg("--exit-code")
        .arg(code.to_string())
        .stdin(Stdio::null());
    if let Some(c) = comm {
        cmd.arg("--comm").arg(c);
    }
    let mut done = 0u64;
    let mut children = Vec::with_capacity(batch);
    while done < n {
        let size = usize::try_from(n - done).map_or(batch, |left| left.min(batch));
        for _ in 0..size {
            let child = cmd.spawn().map_err(|e| {
                format!(
                    "spawn failed after {} children: {e}",
                    done + children.len() as u64
                )
            })?;
            children.push(child);
        }
        for mut child in children.drain(..) {
            let st = child.wait().map_err(|e| format!("wait: {e}"))?;
            if st.code() != Some(i32::from(code)) {
                return Err(format!(
                    "child {} ended with {st}, expected exit {code}",
                    child.id()
                ));
            }
        }
        done += size as u64;
    }
    Ok(done)
}

/// Child mode of `--exec`: rename, then exit with the requested code.
#[allow(unsafe_code)]
fn child(a: &Args) -> ! {
    if let Some(c) = &a.comm {
        let c = CString::new(c.as_str()).expect("checked for NUL in parse_args");
        // SAFETY: c is a valid NUL-terminated string that outlives the call.
        unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr()) };
    }
    std::process::exit(i32::from(a.exit_code))
}

fn run(a: &Args) -> Result<(u64, u64, f64), String> {
    let start = Instant::now();
    let threads = storm_threads(a.threads, a.batch, a.comm.as_deref())?;
    let procs = if a.exec {
        storm_exec(a.procs, a.batch, a.comm.as_deref(), a.exit_code)?
    } else {
        storm_fork(a.procs, a.batch, a.comm.as_deref(), a.exit_code)?
    };
    Ok((threads, procs, start.elapsed().as_secs_f64()))
}

fn main() -> ExitCode {
    let a = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("storm: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if a.child {
        child(&a);
    }
    match run(&a) {
        Ok((threads, procs, seconds)) => {
            let total = (threads + procs) as f64;
            let rate = if seconds > 0.0 { total / seconds } else { 0.0 };
            println!(
                "{{\"threads\":{threads},\"procs\":{procs},\"seconds\":{seconds:.6},\"exits_per_sec\":{rate:.1}}}"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("storm: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, String> {
        parse_args(s.split_whitespace().map(String::from))
    }

    #[test]
    fn parses_flags_and_defaults() {
        let a = args("--procs 7 --comm twstorm --exit-code 3").unwrap();
        assert_eq!((a.threads, a.procs, a.batch, a.exit_code), (0, 7, 64, 3));
        assert_eq!(a.comm.as_deref(), Some("twstorm"));
        assert!(!a.exec);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(args("--batch 0").is_err());
        assert!(args("--threads").is_err());
        assert!(args("--threads x").is_err());
        assert!(args("--exit-code 256").is_err());
        assert!(args("--comm sixteen_bytes_xx").is_err());
        assert!(args("--bogus").is_err());
    }

    #[test]
    fn thread_storm_counts_every_thread() {
        // 10 with batch 4 exercises a short final batch.
        assert_eq!(storm_threads(10, 4, Some("twtest")), Ok(10));
        assert_eq!(storm_threads(0, 4, None), Ok(0));
    }

    #[test]
    fn fork_storm_reaps_with_exit_code() {
        assert_eq!(storm_fork(5, 2, Some("twtest"), 3), Ok(5));
    }

    #[test]
    fn wrong_exit_status_is_an_error() {
        assert!(check_status(1, 3 << 8, 3).is_ok());
        assert!(check_status(1, 4 << 8, 3).is_err());
        // Killed by SIGKILL: not an exit at all.
        assert!(check_status(1, 9, 0).is_err());
    }
}
