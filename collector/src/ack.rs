//! The collector's side of the return path (core/WIRE.md section 7): on each accepted
//! connection, an `Ack` once the stream's header is read and again whenever a read
//! brought higher numbers; to a connection over the limit, a `Refuse` before closing it.
//!
//! Answers are written without blocking. One the socket cannot take whole now stays
//! pending and goes before the next; an acknowledgement is cumulative, so a newer one
//! simply replaces one that never started.

use std::io::{self, ErrorKind, Write};

use taskwire_core::Result as WireResult;
use taskwire_core::wire::{
    Answer, LossReason, MAX_ANSWER_FRAME_LEN, Message, RefuseReason, encode_answer_frame,
};

use crate::source::Input;

/// What one connection's stream has carried, as far as acknowledgements go.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// A readable header arrived on this connection.
    pub header: bool,
    /// One past the highest number it carried (a record, interval or sample, or a
    /// `Loss` of them); 0 while none.
    pub next_seq: u64,
}

impl Seen {
    /// Takes note of one frame's result.
    pub fn note(&mut self, result: &WireResult<Message>) {
        let end = match result {
            Ok(Message::Header(_)) => {
                self.header = true;
                return;
            }
            Ok(Message::Record(r)) => r.seq.saturating_add(1),
            Ok(Message::Interval(i)) => i.seq.saturating_add(1),
            Ok(Message::Sample(s)) => s.seq.saturating_add(1),
            Ok(Message::Loss(l)) if l.reason != LossReason::KernelEnobufs => l.next_seq,
            _ => return,
        };
        self.next_seq = self.next_seq.max(end);
    }
}

/// Writes what the socket takes now; `WouldBlock` is 0 bytes, any other error `Err`.
pub(crate) fn write_some(input: &Input, bytes: &[u8]) -> io::Result<usize> {
    let r = match input {
        Input::Tcp(s) => (&*s).write(bytes),
        Input::Unix(s) => (&*s).write(bytes),
        Input::File(_) => return Ok(bytes.len()),
    };
    match r {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => Ok(0),
        r => r,
    }
}

/// The acknowledgements of one accepted connection.
#[derive(Debug, Default)]
pub struct Acker {
    /// The last `next_seq` acknowledged (queued whole), None before the first.
    sent: Option<u64>,
    /// The unwritten rest of an answer the socket took only in part.
    pending: Vec<u8>,
}

impl Acker {
    /// After a read: acknowledges what `seen` holds if it is more than last time. Errors
    /// are left for the next read to find (the connection is then over anyway).
    pub fn after_read(&mut self, input: &Input, seen: &Seen) {
        if !self.flush(input) || !seen.header || self.sent.is_some_and(|s| s >= seen.next_seq) {
            return;
        }
        let mut buf = [0u8; MAX_ANSWER_FRAME_LEN];
        let ack = Answer::Ack {
            next_seq: seen.next_seq,
        };
        let Ok(n) = encode_answer_frame(&ack, &mut buf) else {
            return;
        };
        self.sent = Some(seen.next_seq);
        self.pending.extend_from_slice(&buf[..n]);
        self.flush(input);
    }

    /// Writes what is pending; whether nothing is left.
    fn flush(&mut self, input: &Input) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        match write_some(input, &self.pending) {
            Ok(n) => {
                self.pending.drain(..n.min(self.pending.len()));
            }
            Err(_) => self.pending.clear(),
        }
        self.pending.is_empty()
    }
}

/// Before the FIN of a decoder that stops: acknowledges what `seen` holds, then says
/// `Closing` (core/WIRE.md section 7), so that the agent does not send again what the
/// draining decoder reads anyway.
pub fn closing(acker: &mut Acker, input: &Input, seen: &Seen) {
    acker.after_read(input, seen);
    let mut buf = [0u8; MAX_ANSWER_FRAME_LEN];
    if let Ok(n) = encode_answer_frame(&Answer::Closing, &mut buf) {
        acker.pending.extend_from_slice(&buf[..n]);
        acker.flush(input);
    }
}

/// Tells the agent on `input` why it is refused, then ends the connection (FIN after the
/// answer; whatever it had sent already is read and dropped, so that the close is not a
/// reset that could overtake the answer).
pub fn refuse(input: &Input, reason: RefuseReason, retry_ms: u32) {
    let mut buf = [0u8; MAX_ANSWER_FRAME_LEN];
    if let Ok(n) = encode_answer_frame(&Answer::Refuse { reason, retry_ms }, &mut buf) {
        let _ = write_some(input, &buf[..n]);
    }
    input.shutdown_write();
    let mut sink = [0u8; 512];
    let input_read = |b: &mut [u8]| match input {
        Input::Tcp(s) => io::Read::read(&mut &*s, b),
        Input::Unix(s) => io::Read::read(&mut &*s, b),
        Input::File(_) => Ok(0),
    };
    for _ in 0..8 {
        if !matches!(input_read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use taskwire_core::wire::testutil::small_record;
    use taskwire_core::wire::{AnswerReader, Loss, StreamHeader};

    fn answers(peer: &mut UnixStream) -> Vec<Answer> {
        peer.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 256];
        let mut r = AnswerReader::new();
        let mut out = Vec::new();
        while let Ok(n) = peer.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend(
                buf[..n]
                    .iter()
                    .filter_map(|&b| r.push(b))
                    .map(Result::unwrap),
            );
        }
        out
    }

    #[test]
    fn acknowledges_after_the_header_and_when_numbers_grow() {
        let (ours, mut peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let input = Input::Unix(ours);
        let mut seen = Seen::default();
        let mut a = Acker::default();
        seen.note(&Ok(small_record(4)));
        a.after_read(&input, &seen);
        assert!(answers(&mut peer).is_empty(), "nothing before a header");
        seen.note(&Ok(Message::Header(StreamHeader::new())));
        a.after_read(&input, &seen);
        a.after_read(&input, &seen);
        assert_eq!(answers(&mut peer), [Answer::Ack { next_seq: 5 }]);
        seen.note(&Ok(Message::Loss(Loss {
            count: 3,
            reason: LossReason::QueueOverflow,
            next_seq: 9,
        })));
        seen.note(&Ok(Message::Loss(Loss {
            count: 3,
            reason: LossReason::KernelEnobufs,
            next_seq: 20,
        })));
        seen.note(&Err(taskwire_core::Error::Checksum));
        a.after_read(&input, &seen);
        assert_eq!(answers(&mut peer), [Answer::Ack { next_seq: 9 }]);
    }

    #[test]
    fn a_refusal_is_read_before_the_close() {
        let (ours, mut peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        std::io::Write::write_all(&mut peer, b"header bytes").unwrap();
        refuse(&Input::Unix(ours), RefuseReason::Capacity, 1000);
        assert_eq!(
            answers(&mut peer),
            [Answer::Refuse {
                reason: RefuseReason::Capacity,
                retry_ms: 1000
            }]
        );
    }
}
