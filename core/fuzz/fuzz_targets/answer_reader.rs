//! Arbitrary bytes into the return path's reader, as a hostile or broken collector (or
//! anything else on the socket) could send them: it never panics, hands out one result
//! per non-empty frame, counts every rejection, and what it accepts re-encodes to a frame
//! that reads back the same. Memory is fixed by the reader's type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskwire_core::wire::{
    AnswerReader, DELIMITER, MAX_ANSWER_FRAME_LEN, decode_answer, encode_answer_frame,
};

fuzz_target!(|data: &[u8]| {
    let mut reader = AnswerReader::new();
    let (mut results, mut accepted) = (0u64, 0u64);
    for &b in data {
        let Some(r) = reader.push(b) else { continue };
        results += 1;
        if let Ok(a) = r {
            accepted += 1;
            let mut buf = [0u8; MAX_ANSWER_FRAME_LEN];
            let n = encode_answer_frame(&a, &mut buf).expect("an answer fits its frame");
            let mut again = AnswerReader::new();
            let back: Vec<_> = buf[..n].iter().filter_map(|&b| again.push(b)).collect();
            assert_eq!(back, [Ok(a)]);
        }
    }
    let frames = data
        .windows(2)
        .filter(|w| w[0] != DELIMITER && w[1] == DELIMITER)
        .count() as u64;
    assert_eq!(results, frames);
    assert_eq!(results - accepted, reader.rejected());
    // The payload decoder alone, on the same bytes.
    let _ = decode_answer(data);
});
