//! The subscriber in the pump against a scripted broker on loopback: a message is
//! acknowledged only after its output is written, never when writing failed, and a stop
//! signal ends with DISCONNECT.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskwire_core::mqtt::{self, Packet};
use taskwire_core::wire::testutil::stream_bytes;

use crate::render::Format;
use crate::session::Decoder;
use crate::source::Opened;
use crate::spec::Source;
use crate::{Stop, Wake, pump};

/// Stands in for the signalfd: a byte written to the other end is the "signal".
struct PipeWake(UnixStream);

impl AsFd for PipeWake {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Wake for PipeWake {
    fn take(&self) -> Option<i32> {
        let mut b = [0u8; 1];
        (&self.0)
            .read(&mut b)
            .ok()
            .filter(|&n| n == 1)
            .map(|_| i32::from(b[0]))
    }
}

/// The decoder's side of a scripted broker: packets as the codec reads them (a client's
/// CONNECT and SUBSCRIBE come as `Other`).
struct Peer {
    sock: TcpStream,
    rx: Vec<u8>,
}

/// What the peer saw of a packet.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Kind(u8),
    PubAck(u16),
    Disconnect,
    Closed,
}

impl Peer {
    fn accept(l: &TcpListener) -> Peer {
        let (sock, _) = l.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Peer {
            sock,
            rx: Vec::new(),
        }
    }

    fn next(&mut self) -> Seen {
        loop {
            if let Some((p, used)) = mqtt::parse(&self.rx, 1 << 20).unwrap() {
                let seen = match p {
                    Packet::PubAck { packet_id, .. } => Seen::PubAck(packet_id),
                    Packet::Disconnect { .. } => Seen::Disconnect,
                    Packet::Other { kind } => Seen::Kind(kind),
                    _ => Seen::Kind(0xff),
                };
                self.rx.drain(..used);
                return seen;
            }
            let mut b = [0u8; 1024];
            match self.sock.read(&mut b) {
                Ok(0) | Err(_) => return Seen::Closed,
                Ok(n) => self.rx.extend(&b[..n]),
            }
        }
    }

    /// CONNECT, CONNACK, SUBSCRIBE, SUBACK.
    fn handshake(&mut self) {
        assert_eq!(self.next(), Seen::Kind(1), "CONNECT");
        self.sock.write_all(&[0x20, 3, 0, 0, 0]).unwrap();
        assert_eq!(self.next(), Seen::Kind(8), "SUBSCRIBE");
        self.sock.write_all(&[0x90, 5, 0, 1, 0, 1, 1]).unwrap();
    }

    fn publish(&mut self, id: u16, topic: &str, payload: &[u8]) {
        let head = mqtt::PublishHead {
            topic,
            packet_id: Some(id),
            retain: false,
            dup: false,
        };
        let mut buf = vec![0u8; topic.len() + mqtt::PUBLISH_HEAD_OVERHEAD];
        let n = mqtt::encode_publish_head(&head, payload.len(), &mut buf).unwrap();
        self.sock.write_all(&buf[..n]).unwrap();
        self.sock.write_all(payload).unwrap();
    }
}

/// Output shared with the scripted broker, or failing when `fail` is set.
#[derive(Clone, Default)]
struct Shared {
    bytes: Arc<Mutex<Vec<u8>>>,
    fail: bool,
}

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.fail {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        self.bytes.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn subscriber(port: u16) -> Opened {
    let src = Source::parse(&format!("mqtt://127.0.0.1:{port},client=t")).unwrap();
    crate::source::open(&src).unwrap()
}

#[test]
fn a_message_is_acknowledged_once_its_output_is_written_and_a_stop_says_disconnect() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (wake, mut stop_tx) = UnixStream::pair().unwrap();
    let out = Shared::default();
    let seen_out = out.bytes.clone();
    let broker = std::thread::spawn(move || {
        let mut p = Peer::accept(&l);
        p.handshake();
        p.publish(7, "taskwire/a/stream", &stream_bytes("a", 0..3));
        assert_eq!(p.next(), Seen::PubAck(7));
        // The records were written before the acknowledgement left.
        let text = String::from_utf8(seen_out.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches("\"type\":\"record\"").count(), 3, "{text}");
        stop_tx.write_all(&[15]).unwrap();
        assert_eq!(p.next(), Seen::Disconnect);
        assert_eq!(p.next(), Seen::Closed);
    });
    let mut d = Decoder::new(Format::Json);
    let w = PipeWake(wake);
    let mut sink = out.clone();
    let stop = pump(subscriber(port), &mut d, Some(&w), &mut sink, None, None).unwrap();
    broker.join().unwrap();
    assert!(matches!(stop, Stop::Signal(15)), "{stop:?}");
    let b = d.tally.broker.unwrap();
    assert_eq!((b.connects, b.payloads), (1, 1));
}

#[test]
fn output_that_fails_acknowledges_nothing() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let broker = std::thread::spawn(move || {
        let mut p = Peer::accept(&l);
        p.handshake();
        p.publish(9, "taskwire/a/stream", &stream_bytes("a", 0..3));
        // The decoder ends without a PUBACK or a DISCONNECT: the broker keeps the
        // message for its next run.
        p.next()
    });
    let mut d = Decoder::new(Format::Json);
    let mut sink = Shared {
        fail: true,
        ..Shared::default()
    };
    let stop = pump(subscriber(port), &mut d, None, &mut sink, None, None).unwrap();
    assert!(matches!(stop, Stop::Output(_)), "{stop:?}");
    drop(d);
    assert_eq!(broker.join().unwrap(), Seen::Closed);
}
