//! Sorting a netlink message: data, acknowledgement, error, end of dump.

use super::{DONE, ERROR, HEADER_LEN, Header, Packet};
use crate::bytes::{i32_at, u32_at};
use crate::{Error, Result};

/// What a received netlink message means to a requester.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A message of a family (its payload is the family's to decode).
    Data(Packet<&'a [u8]>),
    /// `NLMSG_ERROR` with errno 0: the request with this sequence number succeeded.
    Ack {
        /// Sequence number of the acknowledged request.
        seq: u32,
    },
    /// `NLMSG_ERROR` with a non-zero errno: the request with this sequence number failed.
    Error {
        /// The errno, positive (the kernel sends it negated).
        errno: i32,
        /// Sequence number of the failed request.
        seq: u32,
    },
    /// `NLMSG_DONE`: the end of a multi-part reply.
    Done {
        /// Sequence number of the request.
        seq: u32,
    },
    /// Another core message type (`NLMSG_NOOP`, `NLMSG_OVERRUN`), to be ignored.
    Other(Packet<&'a [u8]>),
}

/// `struct nlmsgerr`: an `int error` then the header of the request it answers.
mod field {
    use core::ops::Range;
    pub const ERROR: Range<usize> = 0..4;
    pub const REQUEST_SEQ: usize = ERROR.end + 8;
    pub const LEN: usize = ERROR.end + super::HEADER_LEN;
}

impl<'a> Message<'a> {
    /// Sorts a checked packet.
    ///
    /// For errors and acks the sequence number is the one in the copy of the request the
    /// kernel sends back, which is what a requester matches against.
    pub fn parse(packet: Packet<&'a [u8]>) -> Result<Message<'a>> {
        packet.check_len()?;
        match packet.msg_type() {
            ERROR => {
                let p = packet.payload();
                if p.len() < field::LEN {
                    return Err(Error::Truncated);
                }
                let error = i32_at(p, field::ERROR.start).ok_or(Error::Truncated)?;
                let seq = u32_at(p, field::REQUEST_SEQ).ok_or(Error::Truncated)?;
                Ok(if error == 0 {
                    Message::Ack { seq }
                } else {
                    // i32::MIN has no positive counterpart; no kernel sends it.
                    Message::Error {
                        errno: error.checked_neg().ok_or(Error::Malformed)?,
                        seq,
                    }
                })
            }
            DONE => Ok(Message::Done { seq: packet.seq() }),
            t if t < 0x10 => Ok(Message::Other(packet)),
            _ => Ok(Message::Data(packet)),
        }
    }
}

impl Message<'_> {
    /// Writes an `NLMSG_ERROR` (errno 0 for an ACK) answering request `seq`, capped as the
    /// kernel sends it (the request's header only). Other kinds have nothing to emit and
    /// give [`Error::Unexpected`].
    pub fn emit(&self, buf: &mut [u8], request_type: u16) -> Result<usize> {
        let (error, seq) = match *self {
            Message::Ack { seq } => (0i32, seq),
            Message::Error { errno, seq } => (errno.checked_neg().ok_or(Error::Malformed)?, seq),
            _ => return Err(Error::Unexpected),
        };
        let len = HEADER_LEN + field::LEN;
        let dst = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let outer = Header {
            len: len as u32,
            msg_type: ERROR,
            flags: super::flags::CAPPED,
            seq,
            port: 0,
        };
        outer.emit(&mut Packet::new_unchecked(&mut *dst))?;
        dst[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&error.to_ne_bytes());
        let request = Header {
            len: HEADER_LEN as u32,
            msg_type: request_type,
            flags: 0,
            seq,
            port: 0,
        };
        request.emit(&mut Packet::new_unchecked(&mut dst[HEADER_LEN + 4..]))?;
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_msg(errno: i32, seq: u32) -> Vec<u8> {
        let mut v = vec![0u8; HEADER_LEN + 20];
        let h = Header {
            len: v.len() as u32,
            msg_type: ERROR,
            flags: 0x100,
            seq,
            port: 1,
        };
        h.emit(&mut Packet::new_unchecked(&mut v[..])).unwrap();
        v[16..20].copy_from_slice(&(-errno).to_ne_bytes());
        let req = Header {
            len: 20,
            msg_type: 0x1b,
            flags: 5,
            seq,
            port: 1,
        };
        req.emit(&mut Packet::new_unchecked(&mut v[20..])).unwrap();
        v
    }

    #[test]
    fn ack_and_error() {
        let v = error_msg(0, 42);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(Message::parse(p).unwrap(), Message::Ack { seq: 42 });
        let v = error_msg(3, 43);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(
            Message::parse(p).unwrap(),
            Message::Error { errno: 3, seq: 43 }
        );
    }

    #[test]
    fn short_error_is_truncated() {
        let mut v = error_msg(1, 1);
        v.truncate(HEADER_LEN + 8);
        v[0..4].copy_from_slice(&((HEADER_LEN + 8) as u32).to_ne_bytes());
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(Message::parse(p), Err(Error::Truncated));
    }

    #[test]
    fn errno_min_is_rejected() {
        let mut v = error_msg(0, 1);
        v[16..20].copy_from_slice(&i32::MIN.to_ne_bytes());
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(Message::parse(p), Err(Error::Malformed));
    }

    #[test]
    fn done_data_other() {
        for (t, want) in [(DONE, "done"), (1, "other"), (0x1d, "data")] {
            let mut v = [0u8; HEADER_LEN];
            let h = Header {
                len: 16,
                msg_type: t,
                seq: 9,
                ..Header::default()
            };
            h.emit(&mut Packet::new_unchecked(&mut v[..])).unwrap();
            let got = Message::parse(Packet::new_checked(&v[..]).unwrap()).unwrap();
            let kind = match got {
                Message::Done { seq } => {
                    assert_eq!(seq, 9);
                    "done"
                }
                Message::Other(_) => "other",
                Message::Data(_) => "data",
                _ => "?",
            };
            assert_eq!(kind, want);
        }
    }

    /// Errors and an ACK captured from this machine's kernel by core/fixtures/capture.py.
    /// The ACK carries NLM_F_CAPPED: only the request's header is echoed.
    static ACK: [u8; 36] = crate::byte_order::host_order(*include_bytes!("../../fixtures/ack.bin"));
    static EPERM: [u8; 48] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/error_eperm.bin"));
    static ESRCH: [u8; 48] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/error_esrch.bin"));
    static EINVAL: [u8; 48] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/error_einval.bin"));
    static ERANGE: [u8; 48] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/error_erange.bin"));
    static CGROUP2: [u8; 48] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/error_cgroup2.bin"));

    fn sort(bytes: &[u8]) -> Message<'_> {
        let p = crate::netlink::messages(bytes).next().unwrap().unwrap();
        Message::parse(p).unwrap()
    }

    #[test]
    fn real_errors_and_ack() {
        assert_eq!(sort(&ACK), Message::Ack { seq: 7 });
        assert_eq!(sort(&EPERM), Message::Error { errno: 1, seq: 4 });
        assert_eq!(sort(&ESRCH), Message::Error { errno: 3, seq: 5 });
        assert_eq!(sort(&EINVAL), Message::Error { errno: 22, seq: 6 });
        assert_eq!(sort(&ERANGE), Message::Error { errno: 34, seq: 13 });
        assert_eq!(sort(&CGROUP2), Message::Error { errno: 22, seq: 12 });
    }

    proptest::proptest! {
        #[test]
        fn emit_then_parse(errno in 0i32..4096, seq: u32) {
            let m = if errno == 0 { Message::Ack { seq } } else { Message::Error { errno, seq } };
            let mut buf = [0u8; 64];
            let n = m.emit(&mut buf, 31).unwrap();
            proptest::prop_assert_eq!(sort(&buf[..n]), m);
        }
    }
}
