//! The generic netlink socket: every socket system call taskwire makes lives here.
//!
//! Blocking calls go through `retry_on_intr`, so a signal that arrives without terminating
//! the process never surfaces as a spurious error; shutdown on SIGINT/SIGTERM is driven by
//! polling a signalfd next to the socket (see `signals.rs`), not by EINTR.
//!
//! One call is not rustix's: `recvmmsg(2)`, which rustix does not offer, to drain several
//! exit records per system call ([`NetlinkSocket::recv_batch`]; the call itself is in
//! `taskwire_cli::sys::net`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::{Errno, retry_on_intr};
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, bind, recv, sendto, socket_with,
    sockopt,
};
use taskwire_cli::sys::net::{Received, recv_many};

/// The receive buffer `listen` and `stream` ask for unless told otherwise, in bytes: a
/// sixty-fourth of the machine's RAM, from [`MIN_DEFAULT_RECV_BUFFER`] to
/// [`MAX_DEFAULT_RECV_BUFFER`] (the kernel doubles what is asked for its bookkeeping).
///
/// Each queued exit record takes a fixed share of it, so the buffer is how long the reader
/// may be kept off the CPU during an exit storm without losing a record. The kernel's
/// default lost records in every thread storm, and 4 MiB still lost a rare burst when the
/// reader was stalled; 16 MiB absorbed them (BENCHMARKS.md, "Receive buffer"). The memory
/// is the kernel's and is used only while records wait; a small board gets a buffer in
/// proportion to its RAM.
pub fn default_recv_buffer() -> usize {
    let info = rustix::system::sysinfo();
    let unit = u64::from(info.mem_unit.max(1));
    default_for_ram((info.totalram as u64).saturating_mul(unit))
}

/// Smallest default receive buffer, in bytes: above the kernel's usual 212,992.
pub const MIN_DEFAULT_RECV_BUFFER: usize = 256 << 10;
/// Largest default receive buffer, in bytes.
pub const MAX_DEFAULT_RECV_BUFFER: usize = 16 << 20;

/// [`default_recv_buffer`] for `ram` bytes of RAM.
fn default_for_ram(ram: u64) -> usize {
    let share = usize::try_from(ram / 64).unwrap_or(usize::MAX);
    share.clamp(MIN_DEFAULT_RECV_BUFFER, MAX_DEFAULT_RECV_BUFFER)
}

/// A bound `NETLINK_GENERIC` socket.
#[derive(Debug)]
pub struct NetlinkSocket {
    fd: OwnedFd,
}

/// What one `recv` produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram {
    /// A whole datagram of this many bytes is at the start of the buffer.
    Complete(usize),
    /// The datagram was this many bytes, more than the buffer: its tail is lost and the
    /// head must not be decoded.
    Truncated(usize),
}

/// Datagrams one [`NetlinkSocket::recv_batch`] call receives at most.
pub const BATCH: usize = 16;

/// Buffers for [`NetlinkSocket::recv_batch`]: [`BATCH`] slots of one datagram each.
pub struct Batch {
    buf: Box<[u8]>,
    slot_len: usize,
    lens: [Datagram; BATCH],
    n: usize,
}

impl Batch {
    /// Slots of `slot_len` bytes each (a datagram longer than that is reported truncated).
    pub fn new(slot_len: usize) -> Batch {
        Batch {
            buf: vec![0; slot_len * BATCH].into_boxed_slice(),
            slot_len,
            lens: [Datagram::Complete(0); BATCH],
            n: 0,
        }
    }

    /// The datagrams of the last receive, in arrival order: bytes, or the real length of
    /// one that did not fit its slot.
    pub fn datagrams(&self) -> impl Iterator<Item = Result<&[u8], usize>> {
        self.lens[..self.n]
            .iter()
            .enumerate()
            .map(|(i, d)| match *d {
                Datagram::Complete(n) => Ok(self
                    .buf
                    .get(i * self.slot_len..i * self.slot_len + n)
                    .unwrap_or_default()),
                Datagram::Truncated(real) => Err(real),
            })
    }
}

/// Which of the polled descriptors became ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// The netlink socket has a datagram (or an error such as ENOBUFS) to read.
    pub socket: bool,
    /// The extra descriptor (a signalfd) is readable.
    pub wake: bool,
}

impl NetlinkSocket {
    /// Opens and binds a socket; the kernel picks the port id.
    pub fn open() -> Result<Self, Errno> {
        let fd = socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            Some(netlink::GENERIC),
        )?;
        bind(&fd, &SocketAddrNetlink::new(0, 0))?;
        Ok(NetlinkSocket { fd })
    }

    /// Asks for a receive buffer of `bytes` and returns what the kernel granted.
    ///
    /// SO_RCVBUFFORCE (root) can exceed `net.core.rmem_max`; without the privilege fall
    /// back to SO_RCVBUF, which the kernel silently caps. The kernel doubles the request
    /// for its bookkeeping, so the value returned is about twice `bytes`.
    pub fn set_recv_buffer(&self, bytes: usize) -> Result<usize, Errno> {
        if sockopt::set_socket_recv_buffer_size_force(&self.fd, bytes).is_err() {
            sockopt::set_socket_recv_buffer_size(&self.fd, bytes)?;
        }
        self.recv_buffer()
    }

    /// The receive buffer size the kernel uses, in bytes.
    pub fn recv_buffer(&self) -> Result<usize, Errno> {
        sockopt::socket_recv_buffer_size(&self.fd)
    }

    /// Sends one request to the kernel (port 0).
    pub fn send(&self, msg: &[u8]) -> Result<(), Errno> {
        let kernel = SocketAddrNetlink::new(0, 0);
        let sent = retry_on_intr(|| sendto(&self.fd, msg, SendFlags::empty(), &kernel))?;
        // Netlink datagrams go out whole or not at all; a short count would be a kernel bug.
        if sent == msg.len() {
            Ok(())
        } else {
            Err(Errno::MSGSIZE)
        }
    }

    /// Receives one datagram; without `block`, fails with EAGAIN when none is queued.
    ///
    /// MSG_TRUNC makes the kernel return the datagram's real length, which is how a
    /// truncation is told apart from a datagram that just fills the buffer. ENOBUFS (exit
    /// records dropped because the receive buffer was full) is returned as an error for the
    /// caller to count.
    pub fn recv(&self, buf: &mut [u8], block: bool) -> Result<Datagram, Errno> {
        let flags = if block {
            RecvFlags::TRUNC
        } else {
            RecvFlags::TRUNC | RecvFlags::DONTWAIT
        };
        let (got, real) = retry_on_intr(|| recv(&self.fd, &mut *buf, flags))?;
        Ok(if real > got {
            Datagram::Truncated(real)
        } else {
            Datagram::Complete(got)
        })
    }

    /// Receives up to [`BATCH`] queued datagrams in one `recvmmsg(2)` without blocking;
    /// returns how many `batch` now holds. EAGAIN when none is queued; ENOBUFS (records
    /// dropped) as in [`NetlinkSocket::recv`]: when it comes after some datagrams, the
    /// kernel keeps it for the next call, so no loss goes unreported.
    pub fn recv_batch(&self, batch: &mut Batch) -> Result<usize, Errno> {
        batch.n = 0;
        let slot = batch.slot_len;
        let mut got = [Received {
            len: 0,
            truncated: false,
        }; BATCH];
        let n = recv_many(self.fd.as_fd(), &mut batch.buf, slot, &mut got)?;
        for (len, r) in batch.lens.iter_mut().zip(&got[..n]) {
            *len = if r.truncated {
                Datagram::Truncated(r.len)
            } else {
                Datagram::Complete(r.len)
            };
        }
        batch.n = n;
        Ok(n)
    }

    /// Waits until the socket or `wake` is readable, or `timeout` passes (then both false).
    pub fn wait(
        &self,
        wake: Option<BorrowedFd<'_>>,
        timeout: Option<Duration>,
    ) -> Result<Ready, Errno> {
        let ts = timeout.map(|t| Timespec {
            tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let readable = PollFlags::IN;
        let mut fds = [
            PollFd::new(&self.fd, readable),
            PollFd::from_borrowed_fd(wake.unwrap_or(self.fd.as_fd()), readable),
        ];
        let n = if wake.is_some() { 2 } else { 1 };
        retry_on_intr(|| poll(&mut fds[..n], ts.as_ref()))?;
        // ERR/HUP count as ready too: the following recv reports what happened.
        let ready = |f: &PollFd<'_>| !f.revents().is_empty();
        Ok(Ready {
            socket: ready(&fds[0]),
            wake: n == 2 && ready(&fds[1]),
        })
    }
}

/// Sleeps for `timeout`, or until `wake` becomes readable (then true): a pause that a stop
/// signal still ends at once.
pub fn pause(wake: Option<BorrowedFd<'_>>, timeout: Duration) -> Result<bool, Errno> {
    let Some(wake) = wake else {
        std::thread::sleep(timeout);
        return Ok(false);
    };
    let ts = Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    let mut fds = [PollFd::from_borrowed_fd(wake, PollFlags::IN)];
    retry_on_intr(|| poll(&mut fds, Some(&ts)))?;
    Ok(!fds[0].revents().is_empty())
}

impl AsFd for NetlinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// True when `errno` from [`NetlinkSocket::open`] means this environment cannot reach
/// taskstats at all (no netlink, or an emulator such as qemu-user that refuses it), as
/// opposed to a transient failure.
pub fn unavailable(errno: Errno) -> bool {
    matches!(
        errno,
        Errno::PROTONOSUPPORT | Errno::AFNOSUPPORT | Errno::NOSYS
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_buffer_follows_ram_within_bounds() {
        assert_eq!(default_for_ram(0), MIN_DEFAULT_RECV_BUFFER);
        assert_eq!(default_for_ram(8 << 20), MIN_DEFAULT_RECV_BUFFER);
        assert_eq!(default_for_ram(256 << 20), 4 << 20);
        assert_eq!(default_for_ram(24 << 30), MAX_DEFAULT_RECV_BUFFER);
        assert_eq!(default_for_ram(u64::MAX), MAX_DEFAULT_RECV_BUFFER);
        let here = default_recv_buffer();
        assert!((MIN_DEFAULT_RECV_BUFFER..=MAX_DEFAULT_RECV_BUFFER).contains(&here));
    }

    #[test]
    fn unavailable_errnos() {
        assert!(unavailable(Errno::PROTONOSUPPORT));
        assert!(unavailable(Errno::AFNOSUPPORT));
        assert!(!unavailable(Errno::PERM));
        assert!(!unavailable(Errno::NOBUFS));
    }

    #[test]
    fn open_and_poll_with_timeout() {
        // Opening needs no privilege; skip where netlink itself is missing (qemu-user).
        let sock = match NetlinkSocket::open() {
            Ok(s) => s,
            Err(e) if unavailable(e) => {
                eprintln!("skipped: generic netlink socket unavailable here ({e})");
                return;
            }
            Err(e) => panic!("socket: {e}"),
        };
        let ready = sock.wait(None, Some(Duration::from_millis(1))).unwrap();
        assert_eq!(
            ready,
            Ready {
                socket: false,
                wake: false
            }
        );
        assert!(sock.recv_buffer().unwrap() > 0);
    }
}
