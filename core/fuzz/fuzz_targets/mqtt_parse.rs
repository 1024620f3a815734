//! Arbitrary bytes into the MQTT packet reader, as a hostile or broken broker (or anything
//! else listening where a broker should) could send them: it never panics, never claims
//! more bytes than it was given or fewer than a fixed header, refuses what is longer than
//! its limit, and a PUBLISH or PUBACK it accepts re-encodes to bytes that parse back the
//! same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskwire_core::mqtt::{Packet, PublishHead, encode_puback, encode_publish_head, parse};

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((packet, used))) = parse(rest, MAX) {
        assert!(used >= 2 && used <= rest.len() && used <= MAX);
        match packet {
            Packet::Publish {
                topic,
                packet_id,
                qos,
                retain,
                dup,
                payload,
            } if qos < 2 && !topic.is_empty() && !topic.contains(['+', '#']) => {
                let head = PublishHead {
                    topic,
                    packet_id,
                    retain,
                    dup,
                };
                let mut buf = vec![0u8; used + 16];
                let n = encode_publish_head(&head, payload.len(), &mut buf).unwrap();
                buf.truncate(n);
                buf.extend_from_slice(payload);
                let (again, _) = parse(&buf, usize::MAX).unwrap().unwrap();
                assert_eq!(
                    again,
                    Packet::Publish {
                        topic,
                        packet_id,
                        qos,
                        retain,
                        dup,
                        payload
                    }
                );
            }
            Packet::PubAck { packet_id, .. } => {
                let b = encode_puback(packet_id);
                assert_eq!(
                    parse(&b, 4).unwrap().unwrap().0,
                    Packet::PubAck {
                        packet_id,
                        reason: 0
                    }
                );
            }
            _ => {}
        }
        rest = &rest[used..];
    }
});
