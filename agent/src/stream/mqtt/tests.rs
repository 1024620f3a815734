//! The publisher against a scripted broker on the loopback: what it sends, and what it
//! does with each answer.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use taskwire_core::mqtt::{self, Packet};
use taskwire_core::wire::{Kind, Message, Profile, StreamHeader, StreamReader};

use super::*;
use crate::stream::framer::Framer;
use crate::stream::framer::tests::payload;
use crate::stream::link::Link;
use crate::stream::queue::Queue;
use crate::stream::writer::{Settings, run};

/// What one connection of the scripted broker does.
#[derive(Clone, Copy)]
struct Plan {
    /// Refuse the CONNECT with this reason.
    refuse: Option<u8>,
    /// The Receive Maximum of its CONNACK.
    receive_max: u16,
    /// Stream PUBLISHes it acknowledges before it goes silent.
    acks: usize,
    /// The reason code of its PUBACKs.
    puback: u8,
    /// Stream PUBLISHes it takes before it closes the connection.
    close_after: Option<usize>,
}

const ACCEPT: Plan = Plan {
    refuse: None,
    receive_max: 3,
    acks: usize::MAX,
    puback: 0,
    close_after: None,
};

/// What the broker saw on one connection.
#[derive(Default)]
struct Seen {
    /// Topic, payload, retain.
    publishes: Vec<(String, Vec<u8>, bool)>,
    /// The most stream PUBLISHes it held unacknowledged at once.
    most_in_flight: usize,
    pings: usize,
    disconnected: bool,
}

impl Seen {
    fn stream(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.publishes
            .iter()
            .filter(|(t, _, _)| !t.ends_with("/status"))
            .map(|(_, p, _)| p)
    }

    fn statuses(&self) -> Vec<(&[u8], bool)> {
        self.publishes
            .iter()
            .filter(|(t, _, _)| t.ends_with("/status"))
            .map(|(_, p, r)| (&p[..], *r))
            .collect()
    }
}

/// Serves one connection per plan, in order, on `l`.
fn broker(l: TcpListener, plans: Vec<Plan>) -> JoinHandle<Vec<Seen>> {
    std::thread::spawn(move || plans.into_iter().map(|p| serve(&l, p)).collect())
}

fn puback(id: u16, reason: u8) -> Vec<u8> {
    match reason {
        0 => mqtt::encode_puback(id).to_vec(),
        r => {
            let b = id.to_be_bytes();
            vec![0x40, 3, b[0], b[1], r]
        }
    }
}

fn serve(l: &TcpListener, plan: Plan) -> Seen {
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut seen = Seen::default();
    let (mut buf, mut unacked, mut taken) = (Vec::new(), VecDeque::new(), 0);
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        while let Some((p, n)) = mqtt::parse(&buf, 1 << 20).unwrap() {
            match p {
                Packet::Other { kind: 1 } => {
                    if let Some(r) = plan.refuse {
                        s.write_all(&[0x20, 3, 0, r, 0]).unwrap();
                        return seen;
                    }
                    let rm = plan.receive_max.to_be_bytes();
                    s.write_all(&[0x20, 6, 0, 0, 3, 0x21, rm[0], rm[1]])
                        .unwrap();
                }
                Packet::Publish {
                    topic,
                    packet_id,
                    retain,
                    payload,
                    ..
                } => {
                    seen.publishes
                        .push((topic.to_owned(), payload.to_vec(), retain));
                    let id = packet_id.unwrap();
                    if topic.ends_with("/status") {
                        // The client may be gone already (DISCONNECT after `stopped`).
                        let _ = s.write_all(&puback(id, 0));
                    } else {
                        taken += 1;
                        unacked.push_back(id);
                        seen.most_in_flight = seen.most_in_flight.max(unacked.len());
                    }
                }
                Packet::Other { kind: 12 } => {
                    seen.pings += 1;
                    let _ = s.write_all(&[0xD0, 0]);
                }
                Packet::Disconnect { .. } => seen.disconnected = true,
                _ => {}
            }
            buf.drain(..n);
        }
        if plan.close_after.is_some_and(|c| taken >= c) {
            return seen;
        }
        // Acknowledged lazily: when the client may send no more, or goes quiet, so that
        // what it holds in flight grows to the limit.
        let mut chunk = [0u8; 4096];
        let got = s.read(&mut chunk);
        let quiet = matches!(&got, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut));
        if quiet || unacked.len() >= usize::from(plan.receive_max) {
            let acked_before = taken - unacked.len();
            let may = plan.acks.saturating_sub(acked_before);
            for id in unacked.drain(..may.min(unacked.len())) {
                let _ = s.write_all(&puback(id, plan.puback));
            }
        }
        match got {
            Ok(0) => return seen,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) if quiet => {}
            Err(_) => return seen,
        }
    }
    seen
}

fn listener() -> (TcpListener, Mqtt) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let spec = Mqtt::parse(&format!("//127.0.0.1:{port}/fleet/b1,keepalive=1")).unwrap();
    (l, spec)
}

fn fast() -> Settings {
    Settings {
        heartbeat: None,
        backoff_min: Duration::from_millis(1),
        backoff_max: Duration::from_millis(4),
    }
}

/// Every payload is a stream of its own: 0x00, the header, whole frames. Its records'
/// numbers.
fn records_of(payload: &[u8]) -> Vec<u64> {
    assert_eq!(payload[0], 0);
    let mut r = StreamReader::new();
    let msgs: Vec<Message> = r.feed(payload).map(Result::unwrap).collect();
    assert_eq!(r.stats().rejected(), 0);
    assert!(matches!(msgs[0], Message::Header(_)), "header first");
    assert!(payload.len() <= payload::MAX_PAYLOAD);
    msgs.iter()
        .filter_map(|m| match m {
            Message::Record(r) => Some(r.seq),
            _ => None,
        })
        .collect()
}

/// Runs the writer over `publisher` until `n` records were written and acknowledged,
/// then stops it.
fn stream(publisher: Publisher, n: usize) -> Arc<Link> {
    let (p, _) = payload(Kind::Pid, Profile::Full);
    let link = Arc::new(Link::new(Queue::new(n, n * 512)));
    for _ in 0..n {
        assert!(link.lock().push(&p));
    }
    let l2 = link.clone();
    let t = std::thread::spawn(move || {
        let mut c = publisher;
        let first = c.connect().ok();
        let framer = Framer::new(StreamHeader::new());
        run(&l2, &mut c, first, framer, fast(), Instant::now(), &|| {
            panic!("not fatal")
        })
    });
    let until = Instant::now() + Duration::from_secs(15);
    while link.lock().records_written() < n as u64 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    link.close(Duration::from_secs(2));
    assert!(link.wait_done(Instant::now() + Duration::from_secs(10)));
    t.join().unwrap();
    link
}

#[test]
fn a_refused_connect_says_why() {
    let (l, spec) = listener();
    let b = broker(
        l,
        vec![
            Plan {
                refuse: Some(0x86),
                ..ACCEPT
            },
            ACCEPT,
        ],
    );
    let mut c = Publisher::new(spec, "b1", Some(b"pw".to_vec()));
    let e = c.connect().unwrap_err();
    assert_eq!(
        e.msg,
        "the broker refused the connection: bad user name or password (0x86)"
    );
    let s = c.connect().unwrap();
    c.finish(&mut { s });
    let seen = b.join().unwrap();
    assert_eq!(seen[1].statuses(), [(ONLINE, true), (STOPPED, true)]);
    assert!(seen[1].disconnected);
}

#[test]
fn pubacks_release_frames_and_a_broken_connection_resends_the_rest() {
    let (l, spec) = listener();
    let first = Plan {
        acks: 2,
        close_after: Some(4),
        ..ACCEPT
    };
    let b = broker(l, vec![first, ACCEPT]);
    let link = stream(Publisher::new(spec, "b1", None), 400);
    let seen = b.join().unwrap();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert!(
            s.most_in_flight <= 3,
            "Receive Maximum: {}",
            s.most_in_flight
        );
        assert_eq!(s.statuses()[0], (ONLINE, true));
    }
    assert_eq!(seen[1].most_in_flight, 3, "in flight grows to the limit");
    let [one, two] = [0, 1].map(|i| seen[i].stream().map(|p| records_of(p)).collect::<Vec<_>>());
    assert_eq!(one.len(), 4);
    // What the first broker did not acknowledge goes again, first; what it did, not.
    let acked: Vec<u64> = one[..2].concat();
    let unacked: Vec<u64> = one[2..].concat();
    let again: Vec<u64> = two.concat();
    assert!(
        !acked.iter().any(|s| again.contains(s)),
        "acknowledged frames stay sent"
    );
    assert_eq!(again[..unacked.len()], unacked[..]);
    let mut all: Vec<u64> = [acked, again].concat();
    all.sort();
    all.dedup();
    assert_eq!(all, (0..400).collect::<Vec<_>>());
    assert_eq!(seen[1].statuses().last(), Some(&(STOPPED, true)));
    assert!(seen[1].disconnected && !seen[0].disconnected);
    let st = link.lock();
    assert_eq!((st.records_written(), st.reconnects()), (400, 1));
    assert_eq!(st.records_unacknowledged(), 0);
}

#[test]
fn a_refused_publish_ends_the_session_and_says_why() {
    let (l, spec) = listener();
    let refuse = Plan {
        puback: 0x87,
        ..ACCEPT
    };
    let b = broker(l, vec![refuse, refuse, ACCEPT]);
    let mut c = Publisher::new(spec, "b1", None);
    let mut start = Vec::new();
    Framer::new(StreamHeader::new()).start(&mut start);
    let (p, _) = payload(Kind::Pid, Profile::Full);
    let mut frame = vec![0u8; taskwire_core::wire::MAX_FRAME_LEN];
    let n = taskwire_core::wire::encode_numbered_frame(&p, 0, &mut frame).unwrap();
    for wait in [1, 2] {
        let mut s = c.connect().unwrap();
        let mut answer = [0u8; 64];
        // The CONNACK proved the session: an `Ack` of nothing yet.
        assert!(matches!(s.read_back(&mut answer, None), Back::Bytes(_)));
        embedded_io::Write::write(&mut s, &start).unwrap();
        embedded_io::Write::write(&mut s, &frame[..n]).unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        assert_eq!(s.read_back(&mut answer, Some(until)), Back::Closed);
        let ended = c.ended(&s).unwrap();
        assert_eq!(
            ended.why,
            "the broker refused a PUBLISH: not authorized (0x87)"
        );
        assert_eq!(
            ended.retry,
            Some(Duration::from_secs(wait)),
            "the wait grows"
        );
        assert!(embedded_io::Write::write(&mut s, &frame[..n]).is_err());
        drop(s);
    }
    let s = c.connect().unwrap();
    drop(s);
    b.join().unwrap();
}

#[test]
fn an_idle_session_pings_within_its_keepalive() {
    let (l, spec) = listener();
    let b = broker(l, vec![ACCEPT]);
    let mut c = Publisher::new(spec, "b1", None);
    let link = Arc::new(Link::new(Queue::new(4, 4 * 512)));
    let l2 = link.clone();
    let t = std::thread::spawn(move || {
        let first = c.connect().ok();
        let framer = Framer::new(StreamHeader::new());
        run(&l2, &mut c, first, framer, fast(), Instant::now(), &|| {
            panic!("not fatal")
        })
    });
    // keepalive=1: a PINGREQ after half a second without a packet.
    std::thread::sleep(Duration::from_millis(1700));
    link.close(Duration::from_millis(100));
    assert!(link.wait_done(Instant::now() + Duration::from_secs(5)));
    t.join().unwrap();
    let seen = b.join().unwrap();
    assert!((2..=4).contains(&seen[0].pings), "{}", seen[0].pings);
    assert_eq!(link.lock().reconnects(), 0);
}

#[test]
fn the_broker_gone_at_connect_is_a_failed_connect() {
    let (l, spec) = listener();
    drop(l);
    let e = Publisher::new(spec, "b1", None).connect().unwrap_err();
    assert!(e.msg.starts_with("connecting to 127.0.0.1:"), "{}", e.msg);
    // A listener that never answers CONNECT.
    let (l, spec) = listener();
    let t = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        std::thread::sleep(CONNACK_WAIT + Duration::from_millis(500));
        drop(s);
    });
    let e = Publisher::new(spec, "b1", None).connect().unwrap_err();
    assert_eq!(e.msg, "no CONNACK within 5 s");
    t.join().unwrap();
    let _ = TcpStream::connect("127.0.0.1:1");
}
