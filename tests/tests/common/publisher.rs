//! A board that publishes through a real MQTT broker as `stream --to mqtt://` does
//! (core/WIRE.md section 8), for tests and the fleet benchmark: each payload is a whole
//! stream (0x00, the board's header, whole record frames), published at QoS 1, kept until
//! the broker's PUBACK and sent again (DUP) after a reconnect. Built on
//! `taskwire_core::mqtt`; blocking, one connection per publisher.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use taskwire_core::mqtt::{self, Packet};
use taskwire_core::wire::Message;
use taskwire_core::wire::testutil::{frame, named_header, small_record};

/// PUBLISHes in flight before waiting for PUBACKs.
const WINDOW: usize = 32;
/// How long a publisher keeps trying to reach the broker again.
const RECONNECT_LIMIT: Duration = Duration::from_secs(60);

/// One test board's stream: its header and its numbering.
pub struct TestBoard {
    /// The board id of its header.
    pub id: String,
    /// Where it publishes: `taskwire/ID/stream`.
    pub topic: String,
    header: Vec<u8>,
    /// The number of its next record.
    pub next: u64,
}

impl TestBoard {
    /// Board `id`, run `instance`, publishing to `taskwire/ID/stream`.
    pub fn new(id: &str, instance: u64) -> TestBoard {
        let Message::Header(mut h) = named_header(id) else {
            unreachable!()
        };
        h.instance = instance;
        TestBoard {
            id: id.to_owned(),
            topic: format!("taskwire/{id}/stream"),
            header: frame(&Message::Header(h)),
            next: 0,
        }
    }

    /// Its status topic.
    pub fn status_topic(&self) -> String {
        format!("{}/status", self.topic)
    }

    /// The next payload: 0x00, the header, `n` records numbered on from the last.
    pub fn payload(&mut self, n: u64) -> Vec<u8> {
        let mut p = vec![0u8];
        p.extend(&self.header);
        for seq in self.next..self.next + n {
            p.extend(frame(&small_record(seq)));
        }
        self.next += n;
        p
    }
}

/// An MQTT 5 publisher that survives broker restarts.
pub struct Publisher {
    port: u16,
    client: String,
    /// The status topic its will (`lost`, retained) goes to.
    will: Option<String>,
    sock: Option<TcpStream>,
    next_id: u16,
    inflight: VecDeque<(u16, String, Vec<u8>, bool)>,
    rx: Vec<u8>,
    /// Connections made after the first.
    pub reconnects: u64,
}

impl Publisher {
    /// Connects as `client` to the broker on 127.0.0.1:`port`, with a will (`lost`,
    /// retained) on `will` when given.
    pub fn connect(port: u16, client: &str, will: Option<&str>) -> Publisher {
        let mut p = Publisher {
            port,
            client: client.to_owned(),
            will: will.map(str::to_owned),
            sock: None,
            next_id: 0,
            inflight: VecDeque::new(),
            rx: Vec::new(),
            reconnects: 0,
        };
        p.reconnect();
        p.reconnects = 0;
        p
    }

    fn open(&self) -> std::io::Result<TcpStream> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let c = mqtt::Connect {
            client_id: &self.client,
            clean_start: false,
            keep_alive_s: 60,
            session_expiry_s: 3600,
            receive_maximum: None,
            username: None,
            password: None,
            will: self.will.as_deref().map(|t| mqtt::Will {
                topic: t,
                payload: b"lost",
                retain: true,
                qos: 1,
            }),
        };
        let mut buf = [0u8; 512];
        let n = mqtt::encode_connect(&c, &mut buf).expect("CONNECT");
        s.write_all(&buf[..n])?;
        let mut rx = Vec::new();
        loop {
            let mut b = [0u8; 256];
            let got = s.read(&mut b)?;
            if got == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            rx.extend(&b[..got]);
            match mqtt::parse(&rx, 1 << 16) {
                Ok(Some((Packet::ConnAck { reason: 0, .. }, _))) => break,
                Ok(Some((Packet::ConnAck { reason, .. }, _))) => {
                    panic!("{}: CONNACK {}", self.client, mqtt::reason_text(reason))
                }
                Ok(Some(_)) => panic!("{}: not a CONNACK first", self.client),
                Ok(None) => {}
                Err(e) => panic!("{}: {e}", self.client),
            }
        }
        s.set_read_timeout(Some(Duration::from_millis(200)))?;
        Ok(s)
    }

    /// Connects again (the broker went away), then sends again what it did not
    /// acknowledge.
    fn reconnect(&mut self) {
        self.sock = None;
        self.rx.clear();
        let end = Instant::now() + RECONNECT_LIMIT;
        loop {
            match self.open() {
                Ok(s) => {
                    self.sock = Some(s);
                    break;
                }
                Err(e) => {
                    assert!(
                        Instant::now() < end,
                        "{}: no broker again: {e}",
                        self.client
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        self.reconnects += 1;
        let again: Vec<_> = self.inflight.iter().cloned().collect();
        for (id, topic, payload, retain) in again {
            if !self.send(id, &topic, &payload, retain, true) {
                return self.reconnect();
            }
        }
    }

    fn send(&mut self, id: u16, topic: &str, payload: &[u8], retain: bool, dup: bool) -> bool {
        let head = mqtt::PublishHead {
            topic,
            packet_id: Some(id),
            retain,
            dup,
        };
        let mut buf = vec![0u8; topic.len() + mqtt::PUBLISH_HEAD_OVERHEAD];
        let n = mqtt::encode_publish_head(&head, payload.len(), &mut buf).expect("PUBLISH");
        let Some(s) = &mut self.sock else {
            return false;
        };
        s.write_all(&buf[..n])
            .and_then(|()| s.write_all(payload))
            .is_ok()
    }

    /// Publishes `payload` to `topic` at QoS 1 (waits while its window is full).
    pub fn publish(&mut self, topic: &str, payload: &[u8], retain: bool) {
        while self.inflight.len() >= WINDOW {
            self.pump();
        }
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let id = self.next_id;
        self.inflight
            .push_back((id, topic.to_owned(), payload.to_vec(), retain));
        if !self.send(id, topic, payload, retain, false) {
            self.reconnect();
        }
    }

    /// Reads the broker's answers for a while (200 ms at most).
    pub fn pump(&mut self) {
        let Some(s) = &mut self.sock else {
            return self.reconnect();
        };
        let mut b = [0u8; 4096];
        match s.read(&mut b) {
            Ok(0) => return self.reconnect(),
            Ok(n) => self.rx.extend(&b[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return,
            Err(_) => return self.reconnect(),
        }
        let mut at = 0;
        while let Ok(Some((p, used))) = mqtt::parse(&self.rx[at..], 1 << 20) {
            at += used;
            if let Packet::PubAck { packet_id, .. } = p {
                self.inflight.retain(|(id, ..)| *id != packet_id);
            }
        }
        self.rx.drain(..at);
    }

    /// Waits until the broker acknowledged everything published.
    pub fn flush(&mut self) {
        while !self.inflight.is_empty() {
            self.pump();
        }
    }

    /// Flushes, then leaves cleanly (DISCONNECT: no will).
    pub fn disconnect(mut self) {
        self.flush();
        if let Some(s) = &mut self.sock {
            let _ = s.write_all(&mqtt::DISCONNECT);
        }
    }

    /// Flushes, then drops the connection without a word: the broker publishes the will.
    pub fn vanish(mut self) {
        self.flush();
        self.sock = None;
    }
}
