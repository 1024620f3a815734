//! Authentication of accepted connections (`decode --key`, core/WIRE.md section 7.5): on
//! accept, a `Challenge` with a fresh random nonce; the connection's first frame must be
//! the agent's proof for it. Until then nothing of the connection reaches the decoder; a
//! missing or wrong proof is answered `Refuse { authentication }`, counted and closed, so
//! a spoofer that copies a board's id and instance decodes nothing and touches no board.

use taskwire_core::auth::{Key, NONCE_LEN, verify};
use taskwire_core::wire::{Answer, MAX_ANSWER_FRAME_LEN, ProofReader, encode_answer_frame};

use crate::source::Input;

/// Where a connection is in the handshake.
#[derive(Debug)]
pub struct Gate {
    nonce: [u8; NONCE_LEN],
    reader: ProofReader,
}

/// What the bytes read so far decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No whole frame yet.
    Waiting,
    /// The proof holds: the bytes from this offset on are the stream.
    Proven(usize),
    /// The first frame was no proof, or a wrong one.
    Refused,
}

impl Gate {
    /// Challenges `input`: a fresh nonce from the kernel's random source, sent at once (a
    /// new socket's buffer always takes it). None when no random bytes could be had: the
    /// connection cannot be authenticated and is refused.
    pub fn challenge(input: &Input) -> Option<Gate> {
        let mut nonce = [0u8; NONCE_LEN];
        let mut got = 0;
        while got < NONCE_LEN {
            match rustix::rand::getrandom(&mut nonce[got..], rustix::rand::GetRandomFlags::empty())
            {
                Ok(n) if n > 0 => got += n,
                Err(rustix::io::Errno::INTR) => {}
                _ => return None,
            }
        }
        let mut buf = [0u8; MAX_ANSWER_FRAME_LEN];
        let n = encode_answer_frame(&Answer::Challenge { nonce }, &mut buf).ok()?;
        crate::ack::write_some(input, &buf[..n]).ok()?;
        Some(Gate {
            nonce,
            reader: ProofReader::new(),
        })
    }

    /// Takes bytes read from the connection.
    pub fn take(&mut self, key: &Key, bytes: &[u8]) -> Verdict {
        for (i, &b) in bytes.iter().enumerate() {
            match self.reader.push(b) {
                None => {}
                Some(Ok(p)) if verify(key, &self.nonce, &p.mac) => return Verdict::Proven(i + 1),
                Some(_) => return Verdict::Refused,
            }
        }
        Verdict::Waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use taskwire_core::auth::proof;
    use taskwire_core::wire::testutil::stream_bytes;
    use taskwire_core::wire::{AnswerReader, PROOF_FRAME_LEN, Proof, encode_proof_frame};

    fn challenged() -> (Gate, [u8; NONCE_LEN]) {
        let (ours, peer) = UnixStream::pair().unwrap();
        let g = Gate::challenge(&Input::Unix(ours)).unwrap();
        let mut r = AnswerReader::new();
        let mut buf = [0u8; 64];
        let n = std::io::Read::read(&mut &peer, &mut buf).unwrap();
        let got: Vec<_> = buf[..n].iter().filter_map(|&b| r.push(b)).collect();
        let [Ok(Answer::Challenge { nonce })] = got[..] else {
            panic!("no challenge: {got:?}");
        };
        (g, nonce)
    }

    fn proof_frame(key: &Key, nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
        let mut buf = [0u8; PROOF_FRAME_LEN];
        let p = Proof {
            mac: proof(key, nonce),
        };
        let n = encode_proof_frame(&p, &mut buf).unwrap();
        let mut v = vec![0];
        v.extend(&buf[..n]);
        v
    }

    #[test]
    fn the_right_proof_opens_the_stream_after_it() {
        let key = Key::new(b"a key of sixteen+ bytes");
        let (mut g, nonce) = challenged();
        let mut bytes = proof_frame(&key, &nonce);
        let at = bytes.len();
        bytes.extend(stream_bytes("b1", 0..3));
        // In two pieces: the first ends inside the proof.
        assert_eq!(g.take(&key, &bytes[..5]), Verdict::Waiting);
        assert_eq!(g.take(&key, &bytes[5..]), Verdict::Proven(at - 5));
    }

    #[test]
    fn no_proof_a_wrong_one_or_an_old_one_is_refused() {
        let key = Key::new(b"a key of sixteen+ bytes");
        let (mut g, _) = challenged();
        assert_eq!(g.take(&key, &stream_bytes("b1", 0..3)), Verdict::Refused);
        let (mut g, nonce) = challenged();
        let wrong = Key::new(b"another key, just as long");
        assert_eq!(g.take(&key, &proof_frame(&wrong, &nonce)), Verdict::Refused);
        // A proof seen on an earlier connection is worth nothing on this one: new nonce.
        let (mut g2, nonce2) = challenged();
        assert_ne!(nonce, nonce2, "fresh nonces");
        assert_eq!(g2.take(&key, &proof_frame(&key, &nonce)), Verdict::Refused);
    }
}
