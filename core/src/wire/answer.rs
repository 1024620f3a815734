//! The return path: what a collector sends back to an agent on a two-way link (a TCP or
//! Unix stream socket): an acknowledgement of what it has decoded, or a refusal with a
//! reason. Framed like the stream (payload ‖ CRC-32, COBS-stuffed, ended by 0x00), so one
//! damaged byte costs one answer and the reader resynchronises at the next 0x00.
//!
//! The payloads are written and read by hand (a tag byte, then varints): an agent that
//! reads answers links no serde code for them. core/WIRE.md section 7 is the contract:
//! who sends what when, and what a peer that sends nothing back means.

use super::cobs::{DELIMITER, Decoder, max_encoded_len};
use super::crc::Crc32;
use super::frame::{CRC_LEN, payload_frame};
use crate::auth::NONCE_LEN;
use crate::{Error, Result};

/// Tag of [`Answer::Ack`]. Answer tags start at 0x40, far from the stream's `Message`
/// variant indices, so a frame read on the wrong side is a rejection, never a message.
pub const TAG_ACK: u8 = 0x40;
/// Tag of [`Answer::Refuse`].
pub const TAG_REFUSE: u8 = 0x41;
/// Tag of [`Answer::Closing`].
pub const TAG_CLOSING: u8 = 0x42;
/// Tag of [`Answer::Challenge`].
pub const TAG_CHALLENGE: u8 = 0x43;

/// Why a collector refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    /// It already reads as many connections as it can (its connection limit).
    Capacity,
    /// The connection did not prove it knows the shared key.
    Authentication,
    /// A reason this build does not know (a newer collector's).
    Other,
}

impl RefuseReason {
    /// The byte on the wire.
    pub const fn code(self) -> u8 {
        match self {
            RefuseReason::Capacity => 0,
            RefuseReason::Authentication => 1,
            RefuseReason::Other => 0xFF,
        }
    }

    /// The reason of a wire byte; unknown ones are [`RefuseReason::Other`].
    pub const fn from_code(code: u8) -> RefuseReason {
        match code {
            0 => RefuseReason::Capacity,
            1 => RefuseReason::Authentication,
            _ => RefuseReason::Other,
        }
    }

    /// Its name in messages: `capacity`, `authentication`, `other`.
    pub const fn name(self) -> &'static str {
        match self {
            RefuseReason::Capacity => "capacity",
            RefuseReason::Authentication => "authentication",
            RefuseReason::Other => "other",
        }
    }
}

/// One message of the return path, collector to agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The collector has read this connection's header and every numbered frame (record,
    /// interval, sample, `Loss` of them) of this connection below `next_seq`: one past the
    /// highest number this connection carried so far, 0 when none yet.
    Ack {
        /// The agent may forget every frame whose numbers all lie below it.
        next_seq: u64,
    },
    /// The collector will not read this connection and closes it.
    Refuse {
        /// Why.
        reason: RefuseReason,
        /// The least time before trying again, ms; 0 = the agent's own backoff.
        retry_ms: u32,
    },
    /// The collector is stopping on purpose: it closes its side next (FIN) and still
    /// reads and decodes everything the agent sent before the agent's own close, but
    /// acknowledges nothing more.
    Closing,
    /// The collector requires a shared key: the agent must answer with a proof for this
    /// nonce ([`super::Proof`]) before its header. Sent first thing on a connection.
    Challenge {
        /// Fresh random bytes, one set per connection.
        nonce: [u8; NONCE_LEN],
    },
}

/// The longest answer payload this build writes: a tag and a challenge's nonce.
pub const MAX_ANSWER_PAYLOAD_LEN: usize = 1 + NONCE_LEN;
/// The longest answer frame this build writes, delimiter included.
pub const MAX_ANSWER_FRAME_LEN: usize = max_encoded_len(MAX_ANSWER_PAYLOAD_LEN + CRC_LEN) + 1;
/// The longest answer payload a reader takes: room for fields a later version appends
/// (they are ignored); a longer frame is rejected.
pub const ANSWER_READER_LEN: usize = 64;

/// Writes `v` as a LEB128 varint at `out[0..]`; returns its length. `out` holds 10 bytes.
fn put_varint(mut v: u64, out: &mut [u8]) -> usize {
    let mut n = 0;
    while let Some(slot) = out.get_mut(n) {
        n += 1;
        if v < 0x80 {
            *slot = v as u8;
            break;
        }
        *slot = v as u8 | 0x80;
        v >>= 7;
    }
    n
}

/// Encodes `a` as one frame into `buf` (stuffed payload and CRC, then the 0x00); returns
/// the frame's length. [`Error::BufferTooSmall`] when `buf` is shorter than the frame;
/// [`MAX_ANSWER_FRAME_LEN`] bytes always do.
pub fn encode_answer_frame(a: &Answer, buf: &mut [u8]) -> Result<usize> {
    let mut p = [0u8; MAX_ANSWER_PAYLOAD_LEN];
    let n = match *a {
        Answer::Ack { next_seq } => {
            p[0] = TAG_ACK;
            1 + put_varint(next_seq, &mut p[1..])
        }
        Answer::Refuse { reason, retry_ms } => {
            p[0] = TAG_REFUSE;
            p[1] = reason.code();
            2 + put_varint(retry_ms.into(), &mut p[2..])
        }
        Answer::Closing => {
            p[0] = TAG_CLOSING;
            1
        }
        Answer::Challenge { nonce } => {
            p[0] = TAG_CHALLENGE;
            p[1..].copy_from_slice(&nonce);
            1 + NONCE_LEN
        }
    };
    payload_frame(&p[..n], buf)
}

/// Reads fields as if zero bytes followed the payload (the stream's rule: fields are
/// appended, a field an older sender did not write reads 0).
struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Fields<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    /// A varint of at most `max_len` bytes whose last byte holds at most `last_max`
    /// (postcard's limits: u32 5 bytes and 0x0F, u64 10 bytes and 0x01).
    fn varint(&mut self, max_len: u32, last_max: u8) -> Result<u64> {
        let mut v = 0u64;
        for i in 0..max_len {
            let b = self.byte();
            if i == max_len - 1 && b > last_max {
                return Err(Error::Payload);
            }
            v |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::Payload)
    }
}

/// The first `N` bytes of `rest`; [`Error::Payload`] when there are fewer.
pub(super) fn fixed<const N: usize>(rest: Option<&[u8]>) -> Result<[u8; N]> {
    let mut out = [0u8; N];
    out.copy_from_slice(rest.and_then(|r| r.get(..N)).ok_or(Error::Payload)?);
    Ok(out)
}

/// Decodes a bare answer payload (CRC checked and removed). [`Error::Payload`] for an
/// empty payload, an unknown tag or a bad varint.
pub fn decode_answer(payload: &[u8]) -> Result<Answer> {
    let (&tag, _) = payload.split_first().ok_or(Error::Payload)?;
    let mut f = Fields {
        data: payload,
        pos: 1,
    };
    match tag {
        TAG_ACK => Ok(Answer::Ack {
            next_seq: f.varint(10, 0x01)?,
        }),
        TAG_REFUSE => {
            let reason = RefuseReason::from_code(f.byte());
            let retry_ms = f.varint(5, 0x0F)?;
            Ok(Answer::Refuse {
                reason,
                retry_ms: u32::try_from(retry_ms).map_err(|_| Error::Payload)?,
            })
        }
        TAG_CLOSING => Ok(Answer::Closing),
        // A fixed-size field: a short one is damage, not a field left out.
        TAG_CHALLENGE => Ok(Answer::Challenge {
            nonce: fixed(payload.get(1..))?,
        }),
        _ => Err(Error::Payload),
    }
}

/// Where a [`ShortFrames`] is within a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Frame,
    Overflow,
}

/// Cuts a byte stream into short frames (the stream's framing, payloads of up to
/// [`ANSWER_READER_LEN`] bytes) as bytes arrive: a fixed buffer, no allocation,
/// resynchronised at every 0x00. Under both the [`AnswerReader`] and the
/// [`super::ProofReader`].
#[derive(Debug, Clone)]
pub(super) struct ShortFrames {
    buf: [u8; ANSWER_READER_LEN + CRC_LEN],
    len: usize,
    state: State,
    cobs: Decoder,
}

impl ShortFrames {
    pub(super) const fn new() -> ShortFrames {
        ShortFrames {
            buf: [0; ANSWER_READER_LEN + CRC_LEN],
            len: 0,
            state: State::Idle,
            cobs: Decoder::new(),
        }
    }

    /// Takes one byte; at the end of a non-empty frame returns its payload (CRC checked
    /// and removed) or why it was rejected (the errors of the stream's reader:
    /// `BufferTooSmall`, `Cobs`, `Checksum`).
    pub(super) fn push(&mut self, byte: u8) -> Option<Result<&[u8]>> {
        if byte == DELIMITER {
            let state = core::mem::replace(&mut self.state, State::Idle);
            let cobs_ok = core::mem::replace(&mut self.cobs, Decoder::new()).at_end_ok();
            let len = core::mem::replace(&mut self.len, 0);
            return match state {
                State::Idle => None,
                State::Overflow => Some(Err(Error::BufferTooSmall)),
                State::Frame if !cobs_ok => Some(Err(Error::Cobs)),
                State::Frame => Some(self.payload(len)),
            };
        }
        match self.state {
            State::Overflow => return None,
            State::Idle => self.state = State::Frame,
            State::Frame => {}
        }
        let (zero, data) = self.cobs.feed(byte);
        for b in [zero.then_some(0), data].into_iter().flatten() {
            match self.buf.get_mut(self.len) {
                Some(slot) => {
                    *slot = b;
                    self.len += 1;
                }
                None => self.state = State::Overflow,
            }
        }
        None
    }

    fn payload(&self, len: usize) -> Result<&[u8]> {
        let bytes = self.buf.get(..len).ok_or(Error::BufferTooSmall)?;
        let split = bytes.len().checked_sub(CRC_LEN).ok_or(Error::Checksum)?;
        let (payload, crc) = bytes.split_at(split);
        let mut expected = [0u8; CRC_LEN];
        expected.copy_from_slice(crc);
        if Crc32::new().update(payload).finish() != u32::from_le_bytes(expected) {
            return Err(Error::Checksum);
        }
        Ok(payload)
    }
}

/// Reads answers from a byte stream as they arrive, like [`super::FrameReader`] reads
/// the stream: a fixed buffer, no allocation, resynchronised at every 0x00.
#[derive(Debug, Clone)]
pub struct AnswerReader {
    frames: ShortFrames,
    rejected: u64,
}

impl Default for AnswerReader {
    fn default() -> Self {
        AnswerReader::new()
    }
}

impl AnswerReader {
    /// A reader expecting the start of a frame.
    pub const fn new() -> AnswerReader {
        AnswerReader {
            frames: ShortFrames::new(),
            rejected: 0,
        }
    }

    /// Takes one byte; at the end of a non-empty frame returns its answer or why it was
    /// rejected (the errors of the stream's reader: `BufferTooSmall`, `Cobs`, `Checksum`,
    /// `Payload`).
    pub fn push(&mut self, byte: u8) -> Option<Result<Answer>> {
        let result = self.frames.push(byte)?.and_then(decode_answer);
        if result.is_err() {
            self.rejected = self.rejected.saturating_add(1);
        }
        Some(result)
    }

    /// Frames rejected so far.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn frame(a: &Answer) -> Vec<u8> {
        let mut buf = [0u8; MAX_ANSWER_FRAME_LEN];
        let n = encode_answer_frame(a, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn read_all(bytes: &[u8]) -> Vec<Result<Answer>> {
        let mut r = AnswerReader::new();
        bytes.iter().filter_map(|&b| r.push(b)).collect()
    }

    /// The layouts core/WIRE.md section 7 shows.
    #[test]
    fn answer_layouts() {
        assert_eq!(
            frame(&Answer::Ack { next_seq: 300 }),
            [0x08, 0x40, 0xac, 0x02, 0x1b, 0xc6, 0x67, 0x63, 0x00]
        );
        let refuse = frame(&Answer::Refuse {
            reason: RefuseReason::Capacity,
            retry_ms: 5000,
        });
        assert_eq!(
            refuse,
            [0x02, 0x41, 0x07, 0x88, 0x27, 0x6c, 0x47, 0xbc, 0x54, 0x00]
        );
        assert_eq!(frame(&Answer::Ack { next_seq: u64::MAX }).len(), 17);
        // The longest: a challenge, its nonce written as it is.
        let nonce: [u8; NONCE_LEN] = core::array::from_fn(|i| i as u8 + 1);
        let challenge = frame(&Answer::Challenge { nonce });
        assert_eq!(challenge.len(), MAX_ANSWER_FRAME_LEN);
        assert_eq!(&challenge[..3], [0x16, TAG_CHALLENGE, 0x01]);
        assert_eq!(&challenge[2..18], nonce);
        assert_eq!(read_all(&challenge), [Ok(Answer::Challenge { nonce })]);
        // The example of core/WIRE.md section 7.5: nonce 00..0f.
        let nonce: [u8; NONCE_LEN] = core::array::from_fn(|i| i as u8);
        assert_eq!(
            frame(&Answer::Challenge { nonce }),
            [
                0x02, 0x43, 0x14, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x66, 0x46, 0xe5, 0x00
            ]
        );
    }

    #[test]
    fn payload_rules() {
        // A missing field reads 0; bytes past the known fields are ignored.
        assert_eq!(decode_answer(&[TAG_ACK]), Ok(Answer::Ack { next_seq: 0 }));
        assert_eq!(
            decode_answer(&[TAG_ACK, 0x05, 0xFF, 0xFF]),
            Ok(Answer::Ack { next_seq: 5 })
        );
        assert_eq!(
            decode_answer(&[TAG_REFUSE, 7]),
            Ok(Answer::Refuse {
                reason: RefuseReason::Other,
                retry_ms: 0
            })
        );
        // Overlong forms within the limit are read; past it, or too large, rejected.
        assert_eq!(
            decode_answer(&[TAG_ACK, 0x81, 0x80, 0x00]),
            Ok(Answer::Ack { next_seq: 1 })
        );
        let mut too_big = [0xFFu8; 11];
        too_big[0] = TAG_ACK;
        too_big[10] = 0x02;
        assert_eq!(decode_answer(&too_big), Err(Error::Payload));
        too_big[10] = 0x01;
        assert_eq!(
            decode_answer(&too_big),
            Ok(Answer::Ack { next_seq: u64::MAX })
        );
        assert_eq!(
            decode_answer(&[TAG_REFUSE, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x10]),
            Err(Error::Payload)
        );
        assert_eq!(decode_answer(&[TAG_CLOSING, 9]), Ok(Answer::Closing));
        // A nonce is whole or the challenge is damage; bytes after it are ignored.
        let mut challenge = [5u8; 1 + NONCE_LEN + 2];
        challenge[0] = TAG_CHALLENGE;
        assert_eq!(
            decode_answer(&challenge),
            Ok(Answer::Challenge {
                nonce: [5; NONCE_LEN]
            })
        );
        assert_eq!(decode_answer(&challenge[..NONCE_LEN]), Err(Error::Payload));
        assert_eq!(decode_answer(&[]), Err(Error::Payload));
        assert_eq!(decode_answer(&[0x01, 0x00]), Err(Error::Payload));
    }

    #[test]
    fn reader_rejects_damage_and_resynchronises() {
        let ack = Answer::Ack { next_seq: 42 };
        let good = frame(&ack);
        let mut bad = good.clone();
        bad[2] ^= 0x10;
        let mut bytes = std::vec![0u8];
        bytes.extend(&bad);
        bytes.extend([0x00, 0x00]);
        // A stream frame (a heartbeat) is a payload rejection here.
        bytes.extend([
            0x04, 0x03, 0x01, 0x02, 0x06, 0x03, 0x7c, 0x6f, 0xb3, 0xa3, 0x00,
        ]);
        bytes.extend([0x07u8; 100]);
        bytes.push(0);
        bytes.extend(&good);
        let got = read_all(&bytes);
        assert_eq!(
            got,
            [
                Err(Error::Checksum),
                Err(Error::Payload),
                Err(Error::BufferTooSmall),
                Ok(ack)
            ]
        );
        let mut r = AnswerReader::new();
        bytes.iter().for_each(|&b| {
            r.push(b);
        });
        assert_eq!(r.rejected(), 3);
    }

    fn answer() -> impl Strategy<Value = Answer> {
        prop_oneof![
            Just(Answer::Closing),
            any::<[u8; NONCE_LEN]>().prop_map(|nonce| Answer::Challenge { nonce }),
            any::<u64>().prop_map(|next_seq| Answer::Ack { next_seq }),
            (0u8..3, any::<u32>()).prop_map(|(r, retry_ms)| Answer::Refuse {
                reason: RefuseReason::from_code(if r == 2 { 0xFF } else { r }),
                retry_ms
            }),
        ]
    }

    proptest! {
        #[test]
        fn answers_round_trip_through_the_reader(
            answers in proptest::collection::vec(answer(), 1..8),
            split in any::<prop::sample::Index>(),
        ) {
            let mut bytes = std::vec![0u8];
            for a in &answers {
                bytes.extend(frame(a));
            }
            // Fed in two pieces anywhere: the reader keeps its place.
            let at = split.index(bytes.len());
            let mut r = AnswerReader::new();
            let mut got = Vec::new();
            for piece in [&bytes[..at], &bytes[at..]] {
                got.extend(piece.iter().filter_map(|&b| r.push(b)));
            }
            prop_assert_eq!(got, answers.into_iter().map(Ok).collect::<Vec<_>>());
        }

        #[test]
        fn garbage_never_panics_and_a_good_frame_after_it_reads(
            junk in proptest::collection::vec(any::<u8>(), 0..300),
            a in answer(),
        ) {
            let mut r = AnswerReader::new();
            for &b in &junk {
                if let Some(Ok(x)) = r.push(b) {
                    // Whatever decodes re-encodes to a frame that decodes the same.
                    prop_assert_eq!(read_all(&frame(&x)), std::vec![Ok(x)]);
                }
            }
            r.push(0);
            let got: Vec<_> = frame(&a).iter().filter_map(|&b| r.push(b)).collect();
            prop_assert_eq!(got, std::vec![Ok(a)]);
        }

        #[test]
        fn any_payload_decodes_or_is_rejected(payload in proptest::collection::vec(any::<u8>(), 0..24)) {
            let _ = decode_answer(&payload);
        }
    }
}
