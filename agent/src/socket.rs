//! The generic netlink socket: every socket system call taskwire makes lives here.
//!
//! Blocking calls go through `retry_on_intr`, so a signal that arrives without terminating
//! the process never surfaces as a spurious error; shutdown on SIGINT/SIGTERM is driven by
//! polling a signalfd next to the socket (see `signals.rs`), not by EINTR.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::{Errno, retry_on_intr};
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, bind, recv, sendto, socket_with,
    sockopt,
};

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
