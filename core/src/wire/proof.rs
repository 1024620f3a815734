//! The agent's proof that it knows the collector's key (core/WIRE.md section 7.5): one
//! frame, framed like the stream's, that the agent writes before its header when the
//! collector challenged it. Written and read by hand, like the answers.

use super::answer::{ShortFrames, fixed};
use super::frame::{CRC_LEN, payload_frame};
use super::max_encoded_len;
use crate::auth::MAC_LEN;
use crate::{Error, Result};

/// Tag of a [`Proof`]: after the answers' tags, and like them far from the stream's
/// `Message` variant indices.
pub const TAG_PROOF: u8 = 0x44;

/// Agent to collector, in reply to `Answer::Challenge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proof {
    /// HMAC-SHA256(key, "taskwire proof v1" ‖ nonce) ([`crate::auth::proof`]).
    pub mac: [u8; MAC_LEN],
}

/// The proof's payload: its tag and the MAC.
pub const PROOF_PAYLOAD_LEN: usize = 1 + MAC_LEN;
/// The proof's frame, delimiter included.
pub const PROOF_FRAME_LEN: usize = max_encoded_len(PROOF_PAYLOAD_LEN + CRC_LEN) + 1;

/// Encodes `p` as one frame into `buf`; returns the frame's length.
/// [`Error::BufferTooSmall`] when `buf` is shorter than [`PROOF_FRAME_LEN`].
pub fn encode_proof_frame(p: &Proof, buf: &mut [u8]) -> Result<usize> {
    let mut payload = [TAG_PROOF; PROOF_PAYLOAD_LEN];
    payload[1..].copy_from_slice(&p.mac);
    payload_frame(&payload, buf)
}

/// Decodes a bare proof payload (CRC checked and removed): [`Error::Payload`] for another
/// tag or a MAC cut short; bytes after the MAC are ignored (fields are only appended).
pub fn decode_proof(payload: &[u8]) -> Result<Proof> {
    match payload.split_first() {
        Some((&TAG_PROOF, rest)) => Ok(Proof {
            mac: fixed(Some(rest))?,
        }),
        _ => Err(Error::Payload),
    }
}

/// Reads the first frame of a connection a collector with a key accepted: the proof, or
/// why what came is none. No allocation; bytes up to the first non-empty frame.
#[derive(Debug, Clone)]
pub struct ProofReader {
    frames: ShortFrames,
}

impl Default for ProofReader {
    fn default() -> Self {
        ProofReader::new()
    }
}

impl ProofReader {
    /// A reader expecting the start of a frame.
    pub const fn new() -> ProofReader {
        ProofReader {
            frames: ShortFrames::new(),
        }
    }

    /// Takes one byte; at the end of a non-empty frame, the proof it holds or why it
    /// holds none (a stream frame, a header sent without a proof, is `Payload` or
    /// `BufferTooSmall`).
    pub fn push(&mut self, byte: u8) -> Option<Result<Proof>> {
        Some(self.frames.push(byte)?.and_then(decode_proof))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::wire::testutil::stream_bytes;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn frame(p: &Proof) -> Vec<u8> {
        let mut buf = [0u8; PROOF_FRAME_LEN];
        let n = encode_proof_frame(p, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn first(bytes: &[u8]) -> Option<Result<Proof>> {
        let mut r = ProofReader::new();
        bytes.iter().find_map(|&b| r.push(b))
    }

    #[test]
    fn proof_layout() {
        let p = Proof {
            mac: core::array::from_fn(|i| i as u8 + 1),
        };
        let f = frame(&p);
        // Tag, the MAC (no zero in it: one COBS block), CRC, delimiter.
        assert_eq!(f.len(), PROOF_FRAME_LEN);
        assert_eq!(&f[..3], &[0x26, TAG_PROOF, 0x01]);
        assert_eq!(f[f.len() - 1], 0);
        assert_eq!(first(&f), Some(Ok(p)));
        // The example of core/WIRE.md section 7.5.
        let key = crate::auth::Key::new(b"0123456789abcdef0123456789abcdef");
        let nonce: [u8; crate::auth::NONCE_LEN] = core::array::from_fn(|i| i as u8);
        let example = frame(&Proof {
            mac: crate::auth::proof(&key, &nonce),
        });
        assert_eq!(
            example,
            [
                0x26, 0x44, 0x69, 0x93, 0x47, 0x61, 0xdf, 0x5a, 0xa8, 0xa3, 0x89, 0x0f, 0x39, 0x3a,
                0x21, 0x98, 0x63, 0x9c, 0xe9, 0x89, 0x05, 0xae, 0xa5, 0xea, 0x16, 0xa9, 0xe6, 0x55,
                0x62, 0x6b, 0x95, 0x86, 0x51, 0xbf, 0x38, 0x94, 0xf1, 0xd4, 0x00
            ]
        );
        let zeros = Proof { mac: [0; MAC_LEN] };
        assert_eq!(first(&frame(&zeros)), Some(Ok(zeros)));
    }

    #[test]
    fn payload_rules() {
        let mut payload = [7u8; PROOF_PAYLOAD_LEN + 3];
        payload[0] = TAG_PROOF;
        assert_eq!(decode_proof(&payload), Ok(Proof { mac: [7; MAC_LEN] }));
        assert_eq!(
            decode_proof(&payload[..PROOF_PAYLOAD_LEN - 1]),
            Err(Error::Payload)
        );
        assert_eq!(decode_proof(&[]), Err(Error::Payload));
        payload[0] = 0x43;
        assert_eq!(decode_proof(&payload), Err(Error::Payload));
    }

    /// An agent without a key starts with its header: that is no proof.
    #[test]
    fn a_stream_is_no_proof() {
        let got = first(&stream_bytes("b1", 0..2)).expect("a frame");
        assert!(got.is_err(), "{got:?}");
    }

    proptest! {
        #[test]
        fn proofs_round_trip(mac in any::<[u8; MAC_LEN]>(), junk in proptest::collection::vec(any::<u8>(), 0..200)) {
            let p = Proof { mac };
            let mut r = ProofReader::new();
            for &b in &junk {
                if let Some(Ok(x)) = r.push(b) {
                    prop_assert_eq!(first(&frame(&x)), Some(Ok(x)));
                }
            }
            r.push(0);
            let got: Vec<_> = frame(&p).iter().filter_map(|&b| r.push(b)).collect();
            prop_assert_eq!(got, std::vec![Ok(p)]);
        }

        #[test]
        fn any_payload_decodes_or_is_rejected(payload in proptest::collection::vec(any::<u8>(), 0..48)) {
            if let Ok(p) = decode_proof(&payload) {
                prop_assert_eq!(&p.mac[..], &payload[1..=MAC_LEN]);
            }
        }
    }
}
