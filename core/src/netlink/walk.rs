//! Walking the netlink messages packed into one datagram.

use super::{Packet, align};
use crate::Result;

/// Iterates over the messages of a datagram, each checked with [`Packet::new_checked`].
///
/// Messages are walked by their own `nlmsg_len`, rounded up to four bytes. A malformed
/// length makes the next item an error and ends the walk: past a bad length there is no
/// way to know where the next message starts.
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Walks the messages of `datagram`.
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages {
        rest: datagram,
        failed: false,
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Packet<&'a [u8]>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let packet = match Packet::new_checked(self.rest) {
            Ok(p) => p,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let len = packet.total_len() as usize;
        // The last message may omit its trailing padding.
        let step = align(len).unwrap_or(len).min(self.rest.len());
        let (this, rest) = self.rest.split_at(step);
        self.rest = rest;
        Some(Ok(Packet::new_unchecked(this.get(..len).unwrap_or(this))))
    }
}

impl core::iter::FusedIterator for Messages<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::netlink::{HEADER_LEN, Header};

    fn push(v: &mut Vec<u8>, msg_type: u16, payload: &[u8]) {
        let h = Header {
            len: (HEADER_LEN + payload.len()) as u32,
            msg_type,
            ..Header::default()
        };
        let start = v.len();
        v.resize(start + HEADER_LEN, 0);
        h.emit(&mut Packet::new_unchecked(&mut v[start..])).unwrap();
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
    }

    #[test]
    fn several_messages_with_padding() {
        let mut v = Vec::new();
        push(&mut v, 0x20, &[1, 2, 3]);
        push(&mut v, 0x21, &[4; 8]);
        push(&mut v, 3, &[]);
        let got: Vec<_> = messages(&v).map(|m| m.unwrap()).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].msg_type(), 0x20);
        assert_eq!(got[0].payload(), &[1, 2, 3]);
        assert_eq!(got[1].payload(), &[4; 8]);
        assert_eq!(got[2].msg_type(), 3);
    }

    #[test]
    fn last_message_without_padding() {
        let mut v = Vec::new();
        push(&mut v, 0x20, &[1, 2, 3]);
        v.pop();
        assert_eq!(messages(&v).count(), 1);
    }

    #[test]
    fn stops_for_good_after_an_error() {
        let mut v = Vec::new();
        push(&mut v, 0x20, &[0; 4]);
        // nlmsg_len 5 (< header), in the host's order as the kernel would send it.
        v.extend_from_slice(&5u32.to_ne_bytes());
        v.extend_from_slice(&[0; 12]);
        push(&mut v, 0x20, &[0; 4]);
        let mut it = messages(&v);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(it.next().unwrap().unwrap_err(), Error::BadLength);
        assert!(it.next().is_none());
    }

    #[test]
    fn empty_datagram() {
        assert_eq!(messages(&[]).count(), 0);
    }
}
