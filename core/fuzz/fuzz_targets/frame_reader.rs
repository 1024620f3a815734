//! Arbitrary bytes into the record stream reader: it never panics, hands out one result
//! per non-empty frame, counts every one, and what it accepts re-encodes to an equal
//! message. Memory is fixed by the reader's type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskwire_core::wire::{
    DELIMITER, FrameReader, MAX_FRAME_LEN, Message, StreamReader, decode_frame, encode_frame,
};

fn check<const N: usize>(reader: &mut FrameReader<N>, data: &[u8], chunk: usize) -> u64 {
    let mut results = 0u64;
    for piece in data.chunks(chunk) {
        for r in reader.feed(piece) {
            results += 1;
            if let Ok(msg) = r {
                round_trip(&msg);
            }
        }
    }
    let s = reader.stats();
    assert_eq!(s.accepted + s.rejected(), results);
    results
}

fn round_trip(msg: &Message) {
    let mut buf = [0u8; MAX_FRAME_LEN];
    let n = encode_frame(msg, &mut buf).expect("an accepted message fits MAX_FRAME_LEN");
    let mut scratch = [0u8; MAX_FRAME_LEN];
    assert_eq!(decode_frame(&buf[..n], &mut scratch).as_ref(), Ok(msg));
}

fuzz_target!(|data: &[u8]| {
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    // A frame is a maximal run of non-zero bytes ending at a delimiter.
    let frames = data
        .windows(2)
        .filter(|w| w[0] != DELIMITER && w[1] == DELIMITER)
        .count() as u64;
    let mut big = StreamReader::new();
    assert_eq!(check(&mut big, data, chunk), frames);
    let mut small = FrameReader::<16>::new();
    assert_eq!(check(&mut small, data, chunk), frames);
});
