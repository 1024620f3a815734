//! Byte-exact vectors worked out from the MQTT 5.0 text, and round trips.

use super::*;
use proptest::prelude::*;

const BIG: usize = 1 << 20;

fn one(bytes: &[u8]) -> Packet<'_> {
    match parse(bytes, BIG) {
        Ok(Some((p, used))) => {
            assert_eq!(used, bytes.len(), "the whole packet is used");
            p
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn connect_with_everything() {
    let c = Connect {
        client_id: "b1",
        clean_start: false,
        keep_alive_s: 30,
        session_expiry_s: 3600,
        receive_maximum: Some(20),
        username: Some("u"),
        password: Some(b"pw"),
        will: Some(Will {
            topic: "t/s",
            payload: b"lost",
            retain: true,
            qos: 1,
        }),
    };
    let mut buf = [0u8; 128];
    let n = encode_connect(&c, &mut buf).unwrap();
    #[rustfmt::skip]
    let want = [
        0x10, 42,                               // CONNECT, remaining length
        0, 4, b'M', b'Q', b'T', b'T', 5,        // protocol name, level 5
        0x80 | 0x40 | 0x20 | 0x08 | 0x04,       // user, password, will retain, QoS 1, will
        0, 30,                                  // keep alive
        8, 0x11, 0, 0, 0x0E, 0x10, 0x21, 0, 20, // session expiry 3600, receive maximum 20
        0, 2, b'b', b'1',                       // client id
        0, 0, 3, b't', b'/', b's',              // will properties (none), will topic
        0, 4, b'l', b'o', b's', b't',           // will payload
        0, 1, b'u', 0, 2, b'p', b'w',           // user name, password
    ];
    assert_eq!(&buf[..n], &want);
    // Every buffer too small says so, never writes past its end.
    for short in 0..n {
        assert_eq!(encode_connect(&c, &mut buf[..short]), Err(Error::Buffer));
    }
}

#[test]
fn minimal_connect_and_bad_fields() {
    let mut c = Connect {
        client_id: "",
        clean_start: true,
        keep_alive_s: 0,
        session_expiry_s: 0,
        receive_maximum: None,
        username: None,
        password: None,
        will: None,
    };
    let mut buf = [0u8; 32];
    let n = encode_connect(&c, &mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        &[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 0, 0, 0, 0]
    );
    c.receive_maximum = Some(0);
    assert_eq!(encode_connect(&c, &mut buf), Err(Error::Malformed));
    c.receive_maximum = None;
    c.client_id = "a\0b";
    assert_eq!(encode_connect(&c, &mut buf), Err(Error::Malformed));
}

#[test]
fn publish_head_then_payload_parses_back() {
    let head = PublishHead {
        topic: "taskwire/b1/stream",
        packet_id: Some(0x1234),
        retain: false,
        dup: true,
    };
    let payload = [0u8, 1, 2, 3, 0];
    let mut buf = [0u8; 64];
    let n = encode_publish_head(&head, payload.len(), &mut buf).unwrap();
    assert!(n <= head.topic.len() + PUBLISH_HEAD_OVERHEAD);
    assert_eq!(&buf[..3], &[0x3A, (2 + 18 + 2 + 1 + 5) as u8, 0]);
    buf[n..n + payload.len()].copy_from_slice(&payload);
    let p = one(&buf[..n + payload.len()]);
    assert_eq!(
        p,
        Packet::Publish {
            topic: "taskwire/b1/stream",
            packet_id: Some(0x1234),
            qos: 1,
            retain: false,
            dup: true,
            payload: &payload,
        }
    );
    // QoS 0, retained: no packet id.
    let head = PublishHead {
        topic: "t",
        packet_id: None,
        retain: true,
        dup: false,
    };
    let n = encode_publish_head(&head, 2, &mut buf).unwrap();
    assert_eq!(&buf[..n], &[0x31, 6, 0, 1, b't', 0]);
    for bad in ["", "a/+", "a/#"] {
        let h = PublishHead { topic: bad, ..head };
        assert_eq!(encode_publish_head(&h, 0, &mut buf), Err(Error::Malformed));
    }
    let h = PublishHead {
        packet_id: Some(0),
        ..head
    };
    assert_eq!(encode_publish_head(&h, 0, &mut buf), Err(Error::Malformed));
    assert_eq!(
        encode_publish_head(&head, MAX_REMAINING, &mut buf),
        Err(Error::TooLarge)
    );
}

#[test]
fn subscribe_bytes() {
    let mut buf = [0u8; 64];
    let n = encode_subscribe(7, &[("$share/g/t/+/s", 1), ("t/+/s/status", 1)], &mut buf).unwrap();
    let mut want = vec![0x82, 0, 0, 7, 0, 0, 14];
    want.extend_from_slice(b"$share/g/t/+/s");
    want.extend_from_slice(&[1, 0, 12]);
    want.extend_from_slice(b"t/+/s/status");
    want.push(1);
    want[1] = (want.len() - 2) as u8;
    assert_eq!(&buf[..n], &want[..]);
    assert_eq!(
        encode_subscribe(0, &[("t", 1)], &mut buf),
        Err(Error::Malformed)
    );
    assert_eq!(encode_subscribe(1, &[], &mut buf), Err(Error::Malformed));
    assert_eq!(
        encode_subscribe(1, &[("t", 3)], &mut buf),
        Err(Error::Malformed)
    );
}

#[test]
fn acks_and_small_packets() {
    assert_eq!(encode_puback(0x0102), [0x40, 2, 1, 2]);
    assert_eq!(
        one(&encode_puback(0x0102)),
        Packet::PubAck {
            packet_id: 0x0102,
            reason: 0
        }
    );
    // Long form with a reason and a reason string property.
    let p = [0x40, 9, 0, 5, 0x87, 5, 0x1F, 0, 2, b'n', b'o'];
    assert_eq!(
        one(&p),
        Packet::PubAck {
            packet_id: 5,
            reason: 0x87
        }
    );
    assert_eq!(one(&[0xD0, 0]), Packet::PingResp);
    assert_eq!(one(&[0xE0, 0]), Packet::Disconnect { reason: 0 });
    assert_eq!(
        one(&[0xE0, 2, 0x8E, 0]),
        Packet::Disconnect { reason: 0x8E }
    );
    assert_eq!(
        one(&[0x90, 4, 0, 9, 0, 1]),
        Packet::SubAck {
            packet_id: 9,
            reasons: &[1]
        }
    );
    assert_eq!(one(&[0x50, 2, 0, 1]), Packet::Other { kind: 5 });
    assert_eq!(PINGREQ, [0xC0, 0]);
    assert_eq!(DISCONNECT, [0xE0, 0]);
}

#[test]
fn connack_properties() {
    // Session present, success, receive maximum 20, maximum packet size 4096, maximum QoS
    // 1, an assigned client id and a user property skipped.
    #[rustfmt::skip]
    let p = [
        0x20, 25, 1, 0, 22,
        0x21, 0, 20,
        0x27, 0, 0, 0x10, 0,
        0x24, 1,
        0x12, 0, 1, b'c',
        0x26, 0, 1, b'k', 0, 2, b'v', b'w',
    ];
    assert_eq!(
        one(&p),
        Packet::ConnAck {
            session_present: true,
            reason: 0,
            receive_maximum: Some(20),
            maximum_packet_size: Some(4096),
            maximum_qos: Some(1),
        }
    );
    // An MQTT 3.1.1 broker's refusal of protocol level 5: two bytes.
    assert_eq!(
        one(&[0x20, 2, 0, 1]),
        Packet::ConnAck {
            session_present: false,
            reason: 1,
            receive_maximum: None,
            maximum_packet_size: None,
            maximum_qos: None,
        }
    );
    assert_eq!(reason_text(0x86), "bad user name or password");
    assert!(is_success(0x10) && !is_success(0x80));
}

#[test]
fn malformed_and_incomplete() {
    let bad: &[&[u8]] = &[
        &[0x00, 0],                         // type 0
        &[0x21, 2, 0, 0],                   // CONNACK with flags
        &[0x20, 2, 2, 0],                   // reserved acknowledge flag
        &[0x20, 5, 0, 0, 2, 0x99, 0],       // unknown property
        &[0x20, 6, 0, 0, 3, 0x21, 0, 0],    // receive maximum 0
        &[0x20, 4, 0, 0, 5, 0x21],          // property list longer than the packet
        &[0x36, 3, 0, 1, b't'],             // PUBLISH QoS 3
        &[0x32, 5, 0, 1, b't', 0, 0],       // QoS 1 with packet id 0
        &[0x30, 4, 0, 2, 0xC3, 0x28],       // topic not UTF-8
        &[0x30, 3, 0, 1, 0],                // topic holds U+0000
        &[0x40, 1, 0],                      // PUBACK too short
        &[0xD0, 1, 0],                      // PINGRESP with a body
        &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 1], // five length bytes
    ];
    for b in bad {
        assert_eq!(parse(b, BIG), Err(Error::Malformed), "{b:02x?}");
    }
    // Every prefix of a good packet is incomplete, never an error.
    let mut buf = [0u8; 64];
    let head = PublishHead {
        topic: "a/b",
        packet_id: Some(3),
        retain: false,
        dup: false,
    };
    let n = encode_publish_head(&head, 4, &mut buf).unwrap() + 4;
    for cut in 0..n {
        assert_eq!(parse(&buf[..cut], BIG), Ok(None), "{cut}");
    }
    // Too long for the reader: refused from its fixed header alone.
    assert_eq!(parse(&buf[..2], n - 1), Err(Error::TooLarge));
    assert!(matches!(parse(&buf[..n], n), Ok(Some((_, used))) if used == n));
}

proptest! {
    #[test]
    fn publish_round_trips(
        topic in "[a-z/]{1,40}",
        id in proptest::option::of(1u16..),
        retain: bool,
        dup: bool,
        payload in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let head = PublishHead { topic: &topic, packet_id: id, retain, dup };
        let mut buf = vec![0u8; topic.len() + PUBLISH_HEAD_OVERHEAD + payload.len()];
        let n = encode_publish_head(&head, payload.len(), &mut buf).unwrap();
        buf.truncate(n);
        buf.extend_from_slice(&payload);
        let (p, used) = parse(&buf, BIG).unwrap().unwrap();
        prop_assert_eq!(used, buf.len());
        prop_assert_eq!(p, Packet::Publish {
            topic: &topic, packet_id: id, qos: u8::from(id.is_some()), retain, dup, payload: &payload,
        });
    }

    #[test]
    fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(Some((_, used))) = parse(&bytes, BIG) {
            prop_assert!(used >= 2 && used <= bytes.len());
        }
    }

    #[test]
    fn varints_round_trip(n in 0usize..=MAX_REMAINING) {
        let mut buf = [0u8; 4];
        let end = varint::put(n, &mut buf, 0).unwrap();
        prop_assert_eq!(end, varint::len(n));
        prop_assert_eq!(varint::get(&buf[..end]), Ok(varint::Read::Value(n, end)));
    }
}
