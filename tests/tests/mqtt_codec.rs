//! The core's MQTT 5 codec against a real broker (Mosquitto): what it encodes the broker
//! accepts, and what the broker sends it parses, byte for byte as the broker meant it.

#[allow(unused_macros)]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::broker::Broker;
use taskwire_core::mqtt::{
    Connect, DISCONNECT, PUBLISH_HEAD_OVERHEAD, Packet, PublishHead, Will, encode_connect,
    encode_puback, encode_publish_head, encode_subscribe, parse,
};

/// A client connection reading whole packets.
struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(port: u16, c: &Connect<'_>) -> (Client, Vec<u8>) {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut client = Client { s, buf: Vec::new() };
        let mut out = [0u8; 256];
        let n = encode_connect(c, &mut out).unwrap();
        client.s.write_all(&out[..n]).unwrap();
        let connack = client.packet();
        (client, connack)
    }

    /// The next packet's bytes.
    fn packet(&mut self) -> Vec<u8> {
        loop {
            if let Some((_, used)) = parse(&self.buf, 1 << 20).unwrap() {
                return self.buf.drain(..used).collect();
            }
            let mut chunk = [0u8; 4096];
            let n = self.s.read(&mut chunk).expect("the broker answers in time");
            assert!(n > 0, "the broker closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn publish(&mut self, topic: &str, id: Option<u16>, retain: bool, payload: &[u8]) {
        let mut head = vec![0u8; topic.len() + PUBLISH_HEAD_OVERHEAD];
        let h = PublishHead {
            topic,
            packet_id: id,
            retain,
            dup: false,
        };
        let n = encode_publish_head(&h, payload.len(), &mut head).unwrap();
        head.truncate(n);
        head.extend_from_slice(payload);
        self.s.write_all(&head).unwrap();
    }
}

fn connect<'a>(id: &'a str, will: Option<Will<'a>>) -> Connect<'a> {
    Connect {
        client_id: id,
        clean_start: false,
        keep_alive_s: 30,
        session_expiry_s: 600,
        receive_maximum: Some(10),
        username: None,
        password: None,
        will,
    }
}

#[test]
fn publishes_subscribes_and_acknowledges_through_mosquitto() {
    if let Some(why) = Broker::unavailable() {
        common::skip(&why);
        return;
    }
    let broker = Broker::start();
    let (mut sub, connack) = Client::connect(broker.port(), &connect("codec-sub", None));
    let Packet::ConnAck {
        reason,
        session_present,
        receive_maximum,
        ..
    } = parse(&connack, 64).unwrap().unwrap().0
    else {
        panic!("not a CONNACK: {connack:02x?}");
    };
    assert_eq!(reason, 0, "{}", broker.log());
    assert!(!session_present);
    assert!(
        receive_maximum.is_some(),
        "mosquitto says how many QoS 1 messages it takes in flight"
    );
    let mut out = [0u8; 128];
    let n = encode_subscribe(
        1,
        &[("tw/+/stream", 1), ("tw/+/stream/status", 1)],
        &mut out,
    )
    .unwrap();
    sub.s.write_all(&out[..n]).unwrap();
    assert_eq!(
        parse(&sub.packet(), 64).unwrap().unwrap().0,
        Packet::SubAck {
            packet_id: 1,
            reasons: &[1, 1]
        }
    );

    let will = Will {
        topic: "tw/b1/stream/status",
        payload: b"lost",
        retain: true,
        qos: 1,
    };
    let (mut board, connack) = Client::connect(broker.port(), &connect("codec-b1", Some(will)));
    assert!(matches!(
        parse(&connack, 64).unwrap().unwrap().0,
        Packet::ConnAck { reason: 0, .. }
    ));
    let payload: Vec<u8> = (0..=255u8).cycle().take(20_000).collect();
    board.publish("tw/b1/stream", Some(7), false, &payload);
    assert_eq!(
        parse(&board.packet(), 64).unwrap().unwrap().0,
        Packet::PubAck {
            packet_id: 7,
            reason: 0
        }
    );
    let got = sub.packet();
    match parse(&got, 1 << 20).unwrap().unwrap().0 {
        Packet::Publish {
            topic,
            packet_id,
            qos,
            payload: p,
            ..
        } => {
            assert_eq!(topic, "tw/b1/stream");
            assert_eq!(qos, 1);
            assert_eq!(p, &payload[..]);
            sub.s.write_all(&encode_puback(packet_id.unwrap())).unwrap();
        }
        other => panic!("not a PUBLISH: {other:?}"),
    }
    // The board goes away without a DISCONNECT: the broker publishes its will.
    drop(board);
    match parse(&sub.packet(), 1 << 20).unwrap().unwrap().0 {
        Packet::Publish { topic, payload, .. } => {
            assert_eq!((topic, payload), ("tw/b1/stream/status", &b"lost"[..]));
        }
        other => panic!("not the will: {other:?}"),
    }
    sub.s.write_all(&DISCONNECT).unwrap();
}
