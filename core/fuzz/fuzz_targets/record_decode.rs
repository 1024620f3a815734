//! Arbitrary payloads into the message decoder: it never panics, and whatever it accepts
//! encodes again (as a payload and as a frame) to bytes that decode to an equal message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskwire_core::wire::{
    MAX_FRAME_LEN, MAX_PAYLOAD_LEN, StreamReader, decode_payload, encode_frame, encode_payload,
};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = decode_payload(data) else {
        return;
    };
    let mut buf = [0u8; MAX_PAYLOAD_LEN];
    let n = encode_payload(&msg, &mut buf).expect("a decoded message fits MAX_PAYLOAD_LEN");
    assert_eq!(decode_payload(&buf[..n]).as_ref(), Ok(&msg));

    let mut frame = [0u8; MAX_FRAME_LEN];
    let n = encode_frame(&msg, &mut frame).expect("a decoded message fits MAX_FRAME_LEN");
    let mut reader = StreamReader::new();
    let mut it = reader.feed(&frame[..n]);
    assert_eq!(it.next().as_ref().map(|r| r.as_ref()), Some(Ok(&msg)));
    assert!(it.next().is_none());
});
