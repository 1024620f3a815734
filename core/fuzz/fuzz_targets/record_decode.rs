//! Arbitrary payloads into the message decoder: it never panics, and whatever it accepts
//! encodes again (as a payload and as a frame) to bytes that decode to an equal message.
//! A numbered message (record, interval, sample) queued with `seq` 0 frames, numbered, to
//! the same bytes as the message itself; a sample's deltas and rates never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskwire_core::wire::{
    Interval, MAX_FRAME_LEN, MAX_PAYLOAD_LEN, Message, Record, Sample, StreamReader, Values,
    decode_payload, encode_frame, encode_numbered_frame, encode_payload,
};

/// `msg` numbered `seq`, when it is a numbered message.
fn numbered(msg: &Message, seq: u64) -> Option<Message> {
    Some(match msg.clone() {
        Message::Record(r) => Message::Record(Record { seq, ..r }),
        Message::Interval(i) => Message::Interval(Interval { seq, ..i }),
        Message::Sample(s) => Message::Sample(Sample { seq, ..s }),
        _ => return None,
    })
}

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

    if let (Some(zero), Some(seq)) = (numbered(&msg, 0), msg.seq()) {
        let p = encode_payload(&zero, &mut buf).expect("fits");
        let mut again = [0u8; MAX_FRAME_LEN];
        let m = encode_numbered_frame(&buf[..p], seq, &mut again).expect("a numbered payload");
        assert_eq!(&again[..m], &frame[..n]);
    } else {
        let p = encode_payload(&msg, &mut buf).expect("fits");
        let mut again = [0u8; MAX_FRAME_LEN];
        assert!(encode_numbered_frame(&buf[..p], 0, &mut again).is_err());
    }

    if let Message::Sample(s) = &msg {
        let d = s.deltas();
        let _ = d.rates();
        // What a sample's known slots say survives a second trip through the slot list.
        assert_eq!(Values::from_deltas(&d).to_deltas(d.interval_ns), d);
    }
});
