//! Arbitrary bytes into the reader of a connection's first frame on a collector with a key
//! (core/WIRE.md section 7.5), as anyone who reaches the port could send them: it never
//! panics, gives one result per non-empty frame, a proof it accepts re-encodes to a frame
//! that reads back the same, and a MAC made from the bytes is judged without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskwire_core::auth::{Key, NONCE_LEN, verify};
use taskwire_core::wire::{
    DELIMITER, PROOF_FRAME_LEN, ProofReader, decode_proof, encode_proof_frame,
};

fuzz_target!(|data: &[u8]| {
    let mut reader = ProofReader::new();
    let mut results = 0u64;
    let key = Key::new(data.get(..8).unwrap_or(data));
    let nonce = [0x5au8; NONCE_LEN];
    for &b in data {
        let Some(r) = reader.push(b) else { continue };
        results += 1;
        if let Ok(p) = r {
            let mut buf = [0u8; PROOF_FRAME_LEN];
            let n = encode_proof_frame(&p, &mut buf).expect("a proof fits its frame");
            let mut again = ProofReader::new();
            let back: Vec<_> = buf[..n].iter().filter_map(|&b| again.push(b)).collect();
            assert_eq!(back, [Ok(p)]);
            let _ = verify(&key, &nonce, &p.mac);
        }
    }
    let frames = data
        .windows(2)
        .filter(|w| w[0] != DELIMITER && w[1] == DELIMITER)
        .count() as u64;
    assert_eq!(results, frames);
    let _ = decode_proof(data);
});
