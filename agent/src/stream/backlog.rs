//! Keeping a slow sink's kernel-side backlog small.
//!
//! A pipe holds 64 KiB by default, a tty a few KiB, a socket its send buffer: at serial
//! speed that is seconds of frames that left the queue but not the machine. When the agent
//! stops, its last write (the Loss frames covering what it could not send) has to get in
//! behind them within the grace, and into a full pipe it cannot: the host then saw a
//! clean stream that simply stopped. So before each batch, and during the grace, the writer
//! waits until what the kernel holds is at most [`MAX_BACKLOG`] ([`MAX_SOCKET_BACKLOG`] on
//! a socket); the records meanwhile wait in the queue, where an overflow is counted and
//! reported, and the kernel buffer always has room for the end.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::fs::FileType;

/// Bytes the kernel may hold for a pipe or tty before the writer waits.
pub const MAX_BACKLOG: usize = 2048;
/// The same for a socket. Larger: a collector starved of CPU during an exit storm reads
/// in bursts, and a small bound made the writer wait on every batch until the queue
/// overflowed (BENCHMARKS.md, "Acknowledgement window and socket backlog"); on a
/// collector that acknowledges, the window of kept frames covers what the kernel holds.
pub const MAX_SOCKET_BACKLOG: usize = 256 * 1024;
/// How often a waiting writer looks again.
const LOOK_EVERY: Duration = Duration::from_millis(10);

/// Bytes written to `fd` and still in the kernel (the fill of a pipe, the output queue of
/// a tty or socket) and the most it may hold; None for a file or anything else that has
/// no such queue.
pub fn queued(fd: BorrowedFd<'_>) -> Option<(usize, usize)> {
    let kind = FileType::from_raw_mode(rustix::fs::fstat(fd).ok()?.st_mode);
    match kind {
        FileType::Fifo => Some((
            usize::try_from(rustix::io::ioctl_fionread(fd).ok()?).ok()?,
            MAX_BACKLOG,
        )),
        FileType::CharacterDevice => Some((taskwire_cli::sys::net::output_queue(fd)?, MAX_BACKLOG)),
        FileType::Socket => Some((
            taskwire_cli::sys::net::output_queue(fd)?,
            MAX_SOCKET_BACKLOG,
        )),
        _ => None,
    }
}

fn over(fd: BorrowedFd<'_>) -> bool {
    queued(fd).is_some_and(|(q, max)| q > max)
}

/// Waits until the kernel holds at most its bound of bytes for `fd`, or `stopping`
/// says the agent stops (the grace then takes over).
pub fn settle(fd: BorrowedFd<'_>, stopping: &dyn Fn() -> bool) {
    while over(fd) && !stopping() {
        std::thread::sleep(LOOK_EVERY);
    }
}

/// While the agent stops: waits until the kernel holds at most its bound of bytes for
/// `fd` or `until` passes; whether it does. The grace then fills the kernel buffer no
/// more than the run did, and the last write (the Loss frames) always has room.
pub fn below_by(fd: BorrowedFd<'_>, until: Instant) -> bool {
    loop {
        if !over(fd) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(LOOK_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    #[test]
    fn a_pipe_reports_its_fill_and_settle_waits_for_the_reader() {
        let (mut r, mut w) = std::io::pipe().unwrap();
        assert_eq!(queued(w.as_fd()), Some((0, MAX_BACKLOG)));
        w.write_all(&[1u8; 5000]).unwrap();
        assert_eq!(queued(w.as_fd()), Some((5000, MAX_BACKLOG)));
        // Over the bound: settle returns only once the reader took enough, or at a stop.
        settle(w.as_fd(), &|| true);
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 5000];
            r.read_exact(&mut buf).unwrap();
            r
        });
        settle(w.as_fd(), &|| false);
        assert!(!over(w.as_fd()));
        assert!(below_by(w.as_fd(), Instant::now()));
        let _r = reader.join().unwrap();
        w.write_all(&[1u8; 3000]).unwrap();
        assert!(!below_by(w.as_fd(), Instant::now() + LOOK_EVERY));
    }

    #[test]
    fn a_file_has_no_backlog() {
        let f = std::fs::File::open("/proc/self/status").unwrap();
        assert_eq!(queued(f.as_fd()), None);
    }
}
