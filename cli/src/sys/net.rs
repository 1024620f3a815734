//! recvmmsg(2): several datagrams per system call.

use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::io::Errno;

/// One datagram that [`recv_many`] received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Its length as the socket reports it with MSG_TRUNC: for netlink, the real length
    /// even when the slot was shorter.
    pub len: usize,
    /// It did not fit its slot: only the slot's bytes of it were kept.
    pub truncated: bool,
}

/// Receives up to `N` queued datagrams without blocking (MSG_DONTWAIT | MSG_TRUNC), the
/// i-th into `buf[i * slot..][..slot]`, and describes them in `out`; returns how many
/// arrived. Fewer slots are used when `buf` holds fewer than `N` of them. EAGAIN when none
/// is queued; other errors as recvmmsg returns them.
pub fn recv_many<const N: usize>(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    slot: usize,
    out: &mut [Received; N],
) -> Result<usize, Errno> {
    if slot == 0 {
        return Err(Errno::INVAL);
    }
    let mut slots = buf.chunks_exact_mut(slot);
    let mut iov: [libc::iovec; N] = std::array::from_fn(|_| libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    });
    let mut used = 0;
    for (v, s) in iov.iter_mut().zip(&mut slots) {
        v.iov_base = s.as_mut_ptr().cast();
        v.iov_len = s.len();
        used += 1;
    }
    // SAFETY: an all-zero mmsghdr is valid (null name and control, no iovecs).
    let mut msgs: [libc::mmsghdr; N] = unsafe { std::mem::zeroed() };
    for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
        m.msg_hdr.msg_iov = v;
        m.msg_hdr.msg_iovlen = 1;
    }
    let flags = libc::MSG_DONTWAIT | libc::MSG_TRUNC;
    // SAFETY: the first `used` headers each point to one iovec of `slot` writable bytes
    // inside `buf`, which outlives the call along with `iov` and `msgs`; the kernel writes
    // at most `iov_len` bytes per datagram and fills in `msg_len`/`msg_flags`.
    let n = unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            msgs.as_mut_ptr(),
            used as libc::c_uint,
            // c_int on glibc, c_uint on musl.
            flags as _,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        let raw = std::io::Error::last_os_error().raw_os_error();
        return Err(raw.map_or(Errno::IO, Errno::from_raw_os_error));
    }
    let n = (n as usize).min(used);
    for (r, m) in out.iter_mut().zip(&msgs[..n]) {
        let len = m.msg_len as usize;
        *r = Received {
            len,
            truncated: m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 || len > slot,
        };
    }
    Ok(n)
}

/// Bytes written to `fd` that the kernel still holds: TIOCOUTQ on a tty, which is
/// SIOCOUTQ (unsent and unacknowledged) on a socket. None where it has no answer.
pub fn output_queue(fd: std::os::fd::BorrowedFd<'_>) -> Option<usize> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one int to the pointer it is given; `fd` is open.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    match rc {
        0 => usize::try_from(n).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{AddressFamily, SendFlags, SocketFlags, SocketType, send, socketpair};
    use std::os::fd::AsFd;

    #[test]
    fn batches_and_truncation() {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let mut buf = [0u8; 12];
        let mut out = [Received {
            len: 0,
            truncated: false,
        }; 4];
        assert_eq!(
            recv_many(b.as_fd(), &mut buf, 4, &mut out),
            Err(Errno::AGAIN)
        );
        for d in [&b"ab"[..], b"cdefgh", b"ij", b"kl"] {
            send(&a, d, SendFlags::empty()).unwrap();
        }
        // Three slots of 4 bytes: the fourth datagram waits for the next call.
        assert_eq!(recv_many(b.as_fd(), &mut buf, 4, &mut out), Ok(3));
        assert_eq!(
            out[0],
            Received {
                len: 2,
                truncated: false
            }
        );
        assert!(out[1].truncated);
        assert_eq!(&buf[..2], b"ab");
        assert_eq!(&buf[4..8], b"cdef");
        assert_eq!(&buf[8..10], b"ij");
        assert_eq!(recv_many(b.as_fd(), &mut buf, 4, &mut out), Ok(1));
        assert_eq!(&buf[..2], b"kl");
    }
}
