//! A population of live, idle tasks for benchmarks of live-task sweeps (`bench/top-sweep`).
//!
//! ```text
//! idlers --tasks N [--per-proc K] [--comm NAME] [--timeout SECS]
//! ```
//!
//! Forks `ceil(N / K)` processes (default K = 4); each runs K tasks, its main thread and
//! K - 1 more threads (the last process fewer, so that exactly N tasks are made), every one
//! named `--comm` (default `twidle`) and blocked in the kernel, using no CPU. So a sweep by
//! thread group sees `ceil(N / K)` of them and a sweep of every thread sees N.
//!
//! Once every process has started all its threads, prints one line on stdout:
//! `ready tasks=N procs=P pids=FIRST..LAST` (the range of the processes' pids). It then
//! holds them until its standard input reaches end of file (the harness closed it, or
//! died) or it gets SIGINT, SIGTERM or SIGHUP; then kills every process with SIGKILL,
//! reaps it, prints `released tasks=N procs=P` on stderr and exits 0.
//!
//! No leftovers whatever happens to the maker: each child has `PR_SET_PDEATHSIG` SIGKILL
//! (it dies with the maker, even a SIGKILLed one), and its main thread waits on a pipe
//! whose only writer is the maker, so a child also leaves when that pipe closes. The
//! maker itself gets SIGTERM when its own parent dies (`PR_SET_PDEATHSIG`). A fork or
//! thread that cannot be created ends the run (exit 1, every child made so far killed);
//! the message names the limit to look at (`kernel.pid_max`, `kernel.threads-max`).
#![deny(unsafe_code)]

use std::ffi::CString;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

/// Longest comm the kernel keeps (TASK_COMM_LEN - 1), in bytes.
const COMM_MAX: usize = 15;
/// Stack of each idle thread, in bytes: it only waits.
const THREAD_STACK: usize = 64 * 1024;

#[derive(Debug, PartialEq)]
struct Args {
    tasks: u64,
    per_proc: u64,
    comm: String,
    timeout: Duration,
}

const USAGE: &str = "usage: idlers --tasks N [--per-proc K] [--comm NAME] [--timeout SECS]";

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        tasks: 0,
        per_proc: 4,
        comm: "twidle".into(),
        timeout: Duration::from_secs(120),
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--tasks" => a.tasks = num(&flag, &value()?)?,
            "--per-proc" => a.per_proc = num(&flag, &value()?)?,
            "--comm" => a.comm = value()?,
            "--timeout" => a.timeout = Duration::from_secs(num(&flag, &value()?)?),
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    if a.tasks == 0 {
        return Err("--tasks N (at least 1) is required".into());
    }
    if a.per_proc == 0 {
        return Err("--per-proc must be at least 1".into());
    }
    if a.comm.is_empty() || a.comm.len() > COMM_MAX || a.comm.contains('\0') {
        return Err(format!("--comm must be 1..={COMM_MAX} bytes without NUL"));
    }
    Ok(a)
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
}

/// How many tasks each process runs: K each, the last one the remainder.
fn plan(tasks: u64, per_proc: u64) -> Vec<u64> {
    let mut v = vec![per_proc; (tasks / per_proc) as usize];
    if tasks % per_proc != 0 {
        v.push(tasks % per_proc);
    }
    v
}

// ---- thin wrappers over the libc calls this program makes ----

fn last_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

#[allow(unsafe_code)]
fn pipe() -> Result<(libc::c_int, libc::c_int), String> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid, writable array of two c_ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(last_err("pipe2"));
    }
    Ok((fds[0], fds[1]))
}

#[allow(unsafe_code)]
fn close(fd: libc::c_int) {
    // SAFETY: closing a descriptor this program owns; errors are of no consequence here.
    unsafe { libc::close(fd) };
}

#[allow(unsafe_code)]
fn read_byte(fd: libc::c_int) -> std::io::Result<Option<u8>> {
    let mut b = 0u8;
    loop {
        // SAFETY: b is a valid, writable byte.
        let r = unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
        match r {
            1 => return Ok(Some(b)),
            0 => return Ok(None),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

#[allow(unsafe_code)]
fn write_byte(fd: libc::c_int, b: u8) {
    // SAFETY: b is a valid byte; a failed write shows up as a missing ready byte.
    unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
}

/// Waits up to `ms` for `fd` to be readable (or closed); true if it is.
#[allow(unsafe_code)]
fn readable(fd: libc::c_int, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: p is a valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut p, 1, ms) > 0 }
}

/// SIGINT, SIGTERM and SIGHUP: the signals that end the hold.
#[allow(unsafe_code)]
fn stop_signals() -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is valid storage that sigemptyset then initialises.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid sigset_t.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
    }
    set
}

#[allow(unsafe_code)]
fn set_mask(how: libc::c_int, set: &libc::sigset_t) {
    // SAFETY: set is a valid, initialised sigset_t; the old mask is not wanted.
    unsafe { libc::pthread_sigmask(how, set, std::ptr::null_mut()) };
}

/// Whether one of `set` is pending (blocked, so not yet acted on).
#[allow(unsafe_code)]
fn pending(set: &libc::sigset_t) -> bool {
    // SAFETY: as in stop_signals; p and set are valid sigset_t values.
    unsafe {
        let mut p: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut p);
        [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
            .iter()
            .any(|&s| libc::sigismember(set, s) == 1 && libc::sigismember(&p, s) == 1)
    }
}

/// Blocks until one of `set` (blocked in every thread) arrives; returns it.
#[allow(unsafe_code)]
fn wait_signal(set: &libc::sigset_t) -> libc::c_int {
    let mut sig = 0;
    // SAFETY: set and sig are valid for the duration of the call.
    unsafe { libc::sigwait(set, &mut sig) };
    sig
}

#[allow(unsafe_code)]
fn kill(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: sending a signal has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) };
}

#[allow(unsafe_code)]
fn reap(pid: libc::pid_t) {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid, writable c_int.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// Dies (SIGKILL, or `sig`) when the thread that forked this process ends.
#[allow(unsafe_code)]
fn die_with_parent(sig: libc::c_int) {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) };
}

#[allow(unsafe_code)]
fn getppid() -> libc::pid_t {
    // SAFETY: no preconditions.
    unsafe { libc::getppid() }
}

#[allow(unsafe_code)]
fn getpid() -> libc::pid_t {
    // SAFETY: no preconditions.
    unsafe { libc::getpid() }
}

#[allow(unsafe_code)]
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit ends the process at once; nothing is left to run or flush.
    unsafe { libc::_exit(code) }
}

#[allow(unsafe_code)]
fn fork() -> std::io::Result<libc::pid_t> {
    // SAFETY: the maker forks only while it is single-threaded (every fork happens before
    // it starts any thread), so the child may allocate and start threads of its own.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        pid => Ok(pid),
    }
}

#[allow(unsafe_code)]
fn set_comm(comm: &CString) {
    // SAFETY: comm is a valid NUL-terminated string that outlives the call.
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr(), 0, 0, 0) };
}

/// Parks the calling thread for good (it ends with its process).
#[allow(unsafe_code)]
fn park_forever() -> ! {
    loop {
        // SAFETY: pause has no preconditions; it returns only after a caught signal.
        unsafe { libc::pause() };
    }
}

// ---- the child ----

/// Runs in each forked child: `threads` more threads, a ready byte, then wait on `hold`.
fn child(maker: libc::pid_t, threads: u64, comm: &CString, fds: &Fds) -> ! {
    die_with_parent(libc::SIGKILL);
    if getppid() != maker {
        exit_now(1); // the maker died before prctl took effect
    }
    close(fds.hold_w);
    close(fds.ready_r);
    // Let Ctrl-C reach the children directly too (the maker blocked these before forking).
    set_mask(libc::SIG_UNBLOCK, &stop_signals());
    set_comm(comm);
    for _ in 0..threads {
        let spawned = thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(|| park_forever());
        if spawned.is_err() {
            write_byte(fds.ready_w, b'E');
            exit_now(1);
        }
    }
    write_byte(fds.ready_w, b'R');
    close(fds.ready_w);
    // EOF (the maker closed its end or died) or an error: leave.
    let _ = read_byte(fds.hold_r);
    exit_now(0)
}

struct Fds {
    hold_r: libc::c_int,
    hold_w: libc::c_int,
    ready_r: libc::c_int,
    ready_w: libc::c_int,
}

/// The children made so far: killed and reaped when dropped, on every path.
struct Population {
    pids: Vec<libc::pid_t>,
}

impl Drop for Population {
    fn drop(&mut self) {
        for &pid in &self.pids {
            kill(pid, libc::SIGKILL);
        }
        for &pid in &self.pids {
            reap(pid);
        }
    }
}

fn limit_hint() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "?".into())
    };
    format!(
        "kernel.pid_max {}, kernel.threads-max {}, tasks now {}",
        read("/proc/sys/kernel/pid_max"),
        read("/proc/sys/kernel/threads-max"),
        read("/proc/loadavg")
            .split_whitespace()
            .nth(3)
            .unwrap_or("?")
            .to_owned()
    )
}

/// Makes the population; returns it once every child is ready.
fn populate(a: &Args, fds: &Fds, stop: &libc::sigset_t) -> Result<Population, String> {
    let comm = CString::new(a.comm.as_str()).expect("checked for NUL in parse_args");
    let maker = getpid();
    let plan = plan(a.tasks, a.per_proc);
    let mut pop = Population {
        pids: Vec::with_capacity(plan.len()),
    };
    for &k in &plan {
        if pending(stop) {
            return Err("interrupted while starting the tasks".into());
        }
        match fork() {
            Ok(0) => child(maker, k - 1, &comm, fds),
            Ok(pid) => pop.pids.push(pid),
            Err(e) => {
                return Err(format!(
                    "fork failed after {} processes: {e} ({})",
                    pop.pids.len(),
                    limit_hint()
                ));
            }
        }
    }
    close(fds.ready_w);
    let deadline = Instant::now() + a.timeout;
    let mut ready = 0usize;
    while ready < plan.len() {
        if pending(stop) {
            return Err("interrupted while the tasks were starting".into());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {ready} of {} processes ready after {:?}",
                plan.len(),
                a.timeout
            ));
        }
        if !readable(fds.ready_r, 100) {
            continue;
        }
        match read_byte(fds.ready_r) {
            Ok(Some(b'R')) => ready += 1,
            Ok(Some(_)) => {
                return Err(format!(
                    "a process could not start its threads ({})",
                    limit_hint()
                ));
            }
            Ok(None) => {
                return Err(format!(
                    "{} of {} processes died before they were ready",
                    plan.len() - ready,
                    plan.len()
                ));
            }
            Err(e) => return Err(format!("reading ready bytes: {e}")),
        }
    }
    close(fds.ready_r);
    Ok(pop)
}

fn run(a: &Args) -> Result<(), String> {
    let stop = stop_signals();
    // Blocked before any fork or thread: the stop signals are taken by sigwait only.
    set_mask(libc::SIG_BLOCK, &stop);
    die_with_parent(libc::SIGTERM);
    if getppid() == 1 {
        return Err("the parent is gone".into());
    }
    let (hold_r, hold_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    let fds = Fds {
        hold_r,
        hold_w,
        ready_r,
        ready_w,
    };
    let pop = populate(a, &fds, &stop)?;
    let procs = pop.pids.len();
    println!(
        "ready tasks={} procs={procs} pids={}..{}",
        a.tasks,
        pop.pids.first().copied().unwrap_or(0),
        pop.pids.last().copied().unwrap_or(0)
    );
    std::io::stdout()
        .flush()
        .map_err(|e| format!("stdout: {e}"))?;
    // End of stdin ends the hold like a signal does.
    let me = getpid();
    thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        kill(me, libc::SIGTERM);
    });
    wait_signal(&stop);
    close(fds.hold_w);
    drop(pop);
    eprintln!("released tasks={} procs={procs}", a.tasks);
    Ok(())
}

fn main() -> ExitCode {
    let a = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("idlers: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idlers: {e}");
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
        let a = args("--tasks 10").unwrap();
        assert_eq!((a.tasks, a.per_proc, a.comm.as_str()), (10, 4, "twidle"));
        let a = args("--tasks 7 --per-proc 1 --comm x --timeout 5").unwrap();
        assert_eq!(
            (a.tasks, a.per_proc, a.timeout),
            (7, 1, Duration::from_secs(5))
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(args("").is_err());
        assert!(args("--tasks 0").is_err());
        assert!(args("--tasks 5 --per-proc 0").is_err());
        assert!(args("--tasks x").is_err());
        assert!(args("--tasks 5 --comm sixteen_bytes_xx").is_err());
        assert!(args("--bogus").is_err());
    }

    #[test]
    fn plan_makes_exactly_n_tasks() {
        assert_eq!(plan(10, 4), vec![4, 4, 2]);
        assert_eq!(plan(8, 4), vec![4, 4]);
        assert_eq!(plan(3, 1), vec![1, 1, 1]);
        assert_eq!(plan(1000, 4).iter().sum::<u64>(), 1000);
    }
}
