//! One connection to the broker: the sink the writer writes to.
//!
//! Writes are frames (the writer's bytes), published as QoS 1 payloads
//! ([`super::payload`]); what comes back (PUBACK, PINGRESP, the broker's DISCONNECT) is
//! read whenever the writer reads for answers, and each PUBACK that moves the
//! acknowledged numbers becomes an `Ack` answer (core/WIRE.md section 7), so that the
//! writer's acknowledged delivery (`stream::ack`) keeps, releases and resends frames as
//! on a collector's socket.

use std::cell::RefCell;
use std::fmt;
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use taskwire_core::mqtt::{self, Packet, PublishHead};
use taskwire_core::wire::{Answer, encode_answer_frame};

use super::inflight::Inflight;
use super::payload::{MAX_PAYLOAD, Packer};
use crate::stream::ack::{Back, read_socket};

/// The longest packet taken from the broker: what it sends a publisher is a few bytes
/// (PUBACK, PINGRESP, DISCONNECT, each with perhaps a reason string).
pub const RX_LEN: usize = 512;
/// How long a PUBLISH may wait for room among those in flight before the connection
/// counts as dead (as `ack::ACK_TIMEOUT`).
pub const ACK_WAIT: Duration = Duration::from_secs(20);

/// Why the session ended, in the broker's words where it gave some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A system call failed.
    Os(Errno),
    /// The broker closed the connection without a word.
    Closed,
    /// A PUBACK with this reason code (0x80 and up).
    Refused(u8),
    /// The broker's DISCONNECT, with this reason code.
    Disconnected(u8),
    /// The broker sent what is no MQTT packet, or one longer than [`RX_LEN`].
    Malformed,
    /// No room among the PUBLISHes in flight within [`ACK_WAIT`].
    NoAck,
    /// No PINGRESP within the keepalive.
    NoPong,
}

impl Ending {
    /// Whether the broker refused something on purpose: the writer then waits before it
    /// connects again, as after a refused connect.
    pub fn is_refusal(self) -> bool {
        matches!(self, Ending::Refused(_) | Ending::Disconnected(_))
    }
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Ending::Os(e) => write!(f, "{}", crate::stream::sink::SinkError::Os(e)),
            Ending::Closed => f.write_str("the broker closed the connection"),
            Ending::Refused(r) => write!(
                f,
                "the broker refused a PUBLISH: {} (0x{r:02x})",
                mqtt::reason_text(r)
            ),
            Ending::Disconnected(r) => write!(
                f,
                "the broker disconnected: {} (0x{r:02x})",
                mqtt::reason_text(r)
            ),
            Ending::Malformed => f.write_str("the broker sent a malformed packet"),
            Ending::NoAck => write!(f, "no PUBACK for {} s", ACK_WAIT.as_secs()),
            Ending::NoPong => f.write_str("no PINGRESP within the keepalive"),
        }
    }
}

impl embedded_io::Error for Ending {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            Ending::Os(Errno::PIPE) => embedded_io::ErrorKind::BrokenPipe,
            Ending::Os(Errno::CONNRESET) | Ending::Closed => {
                embedded_io::ErrorKind::ConnectionReset
            }
            Ending::NoAck | Ending::NoPong => embedded_io::ErrorKind::TimedOut,
            _ => embedded_io::ErrorKind::Other,
        }
    }
}

/// The side of the session that reading changes: what is in flight, what came back.
#[derive(Debug)]
struct Wire {
    rx: [u8; RX_LEN],
    rx_len: usize,
    inflight: Inflight,
    /// An `Ack` to hand the writer: the session is new, or PUBACKs moved the numbers.
    unreported: bool,
    /// A PUBACK acknowledged numbers on this connection.
    proven: bool,
    ended: Option<Ending>,
    /// When a packet last went to the broker (the keepalive counts from it).
    last_out: Instant,
    /// When a PINGREQ went unanswered so far.
    ping_since: Option<Instant>,
}

/// A connected, accepted MQTT session.
#[derive(Debug)]
pub struct Session {
    sock: TcpStream,
    topic: String,
    packer: Packer,
    wire: RefCell<Wire>,
}

impl AsFd for Session {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// Writes all of `buf` to `sock`.
pub fn write_all(sock: &TcpStream, mut buf: &[u8]) -> Result<(), Ending> {
    while !buf.is_empty() {
        match rustix::io::retry_on_intr(|| rustix::io::write(sock, buf)) {
            Ok(0) => return Err(Ending::Os(Errno::PIPE)),
            Ok(n) => buf = buf.get(n..).unwrap_or_default(),
            Err(e) => return Err(Ending::Os(e)),
        }
    }
    Ok(())
}

impl Wire {
    /// Reads what the broker sent, waiting no later than `until` (None: not at all),
    /// and acts on every whole packet; whether any bytes came. Err once the session
    /// ended.
    fn pump(&mut self, sock: &TcpStream, until: Option<Instant>) -> Result<bool, Ending> {
        if let Some(e) = self.ended {
            return Err(e);
        }
        let room = self.rx.get_mut(self.rx_len..).unwrap_or_default();
        let n = match read_socket(sock, room, until) {
            Back::Nothing => return Ok(false),
            Back::Closed => return Err(*self.ended.insert(Ending::Closed)),
            Back::Bytes(n) => n,
        };
        self.rx_len += n;
        let mut used = 0;
        loop {
            let buf = self.rx.get(used..self.rx_len).unwrap_or_default();
            let packet = match mqtt::parse(buf, RX_LEN) {
                Ok(Some((p, len))) => {
                    used += len;
                    p
                }
                Ok(None) if self.rx_len - used < RX_LEN => break,
                Ok(None) | Err(_) => return Err(*self.ended.insert(Ending::Malformed)),
            };
            match packet {
                Packet::PubAck { reason, .. } if reason >= 0x80 => {
                    return Err(*self.ended.insert(Ending::Refused(reason)));
                }
                Packet::PubAck { packet_id, .. } if self.inflight.answered(packet_id) => {
                    self.unreported = true;
                    self.proven = true;
                }
                Packet::Disconnect { reason } => {
                    return Err(*self.ended.insert(Ending::Disconnected(reason)));
                }
                Packet::PingResp => self.ping_since = None,
                // A publisher subscribes to nothing: anything else is not for it.
                _ => {}
            }
        }
        self.rx.copy_within(used..self.rx_len, 0);
        self.rx_len -= used;
        Ok(true)
    }

    /// Waits, no later than `until`, for room among the PUBLISHes in flight.
    fn room(&mut self, sock: &TcpStream, until: Instant) -> Result<bool, Ending> {
        while !self.inflight.has_room() {
            if Instant::now() >= until {
                return Ok(false);
            }
            self.pump(sock, Some(until))?;
        }
        Ok(true)
    }
}

/// Publishes `buf[room..]` as QoS 1 on `topic`, its head put just before it; `covers`
/// is what its PUBACK acknowledges.
fn publish(
    sock: &TcpStream,
    wire: &RefCell<Wire>,
    topic: &str,
    retain: bool,
    buf: &mut [u8],
    room: usize,
    covers: Option<u64>,
) -> Result<(), Ending> {
    let mut w = wire.borrow_mut();
    if !w.room(sock, Instant::now() + ACK_WAIT)? {
        return Err(*w.ended.insert(Ending::NoAck));
    }
    let len = buf.len() - room;
    let id = w.inflight.open(covers);
    let head = PublishHead {
        topic,
        packet_id: Some(id),
        retain,
        dup: false,
    };
    let mut h = [0u8; 512];
    let n = mqtt::encode_publish_head(&head, len, &mut h).map_err(|_| Ending::Malformed)?;
    let start = room.checked_sub(n).ok_or(Ending::Malformed)?;
    buf[start..room].copy_from_slice(&h[..n]);
    let sent = write_all(sock, &buf[start..]);
    w.last_out = Instant::now();
    sent.map_err(|e| *w.ended.insert(e))
}

impl Session {
    /// A session on `sock`, whose CONNECT the broker accepted with `receive_maximum`,
    /// publishing payloads of at most `limit` bytes to `topic`.
    pub fn new(sock: TcpStream, topic: &str, receive_maximum: u16, limit: usize) -> Session {
        let room = topic.len() + mqtt::PUBLISH_HEAD_OVERHEAD;
        Session {
            sock,
            topic: topic.to_owned(),
            packer: Packer::new(room, limit.min(MAX_PAYLOAD)),
            wire: RefCell::new(Wire {
                rx: [0; RX_LEN],
                rx_len: 0,
                inflight: Inflight::new(receive_maximum),
                unreported: true,
                proven: false,
                ended: None,
                last_out: Instant::now(),
                ping_since: None,
            }),
        }
    }

    /// Publishes `payload` retained to `topic` (a status), waiting no later than `until`
    /// for room in flight.
    pub fn status(&self, topic: &str, payload: &[u8], until: Instant) -> Result<(), Ending> {
        let room = topic.len() + mqtt::PUBLISH_HEAD_OVERHEAD;
        let mut buf = vec![0u8; room + payload.len()];
        buf[room..].copy_from_slice(payload);
        if !self.wire.borrow_mut().room(&self.sock, until)? {
            return Err(Ending::NoAck);
        }
        publish(&self.sock, &self.wire, topic, true, &mut buf, room, None)
    }

    /// Ends the session on purpose: DISCONNECT with reason 0 (the will is not sent).
    pub fn disconnect(&self) {
        let _ = write_all(&self.sock, &mqtt::DISCONNECT);
    }

    /// What the writer reads for answers: an `Ack` frame when PUBACKs moved the
    /// acknowledged numbers (or the session is new: its CONNACK proved it), else what a
    /// read of the socket finds, waiting no later than `until`.
    pub fn read_back(&self, buf: &mut [u8], until: Option<Instant>) -> Back {
        let mut w = self.wire.borrow_mut();
        // Bounded: a broker that keeps sending cannot hold the writer here.
        for _ in 0..64 {
            if w.unreported {
                w.unreported = false;
                let next_seq = w.inflight.acked().unwrap_or(0);
                return match encode_answer_frame(&Answer::Ack { next_seq }, buf) {
                    Ok(n) => Back::Bytes(n),
                    Err(_) => Back::Nothing,
                };
            }
            match w.pump(&self.sock, until) {
                Ok(true) => {}
                Ok(false) => return Back::Nothing,
                Err(_) => return Back::Closed,
            }
        }
        Back::Nothing
    }

    /// How the session ended, once it did.
    pub fn ended(&self) -> Option<Ending> {
        self.wire.borrow().ended
    }

    /// Whether a PUBACK acknowledged numbers on this connection.
    pub fn proven(&self) -> bool {
        self.wire.borrow().proven
    }

    /// Keepalive (`every`: half the keepalive): reads what came without waiting and
    /// sends a PINGREQ when nothing went out for `every`. When it next needs a turn.
    pub fn tend(&self, every: Duration) -> Result<Instant, Ending> {
        let mut w = self.wire.borrow_mut();
        w.pump(&self.sock, None)?;
        let now = Instant::now();
        if w.ping_since
            .is_some_and(|t| now.duration_since(t) >= every * 2)
        {
            return Err(*w.ended.insert(Ending::NoPong));
        }
        if now.duration_since(w.last_out) >= every {
            write_all(&self.sock, &mqtt::PINGREQ).map_err(|e| *w.ended.insert(e))?;
            w.last_out = now;
            w.ping_since.get_or_insert(now);
        }
        Ok(w.last_out + every)
    }

    /// Waits, no later than `until`, until a payload could go without waiting: room in
    /// flight and in the socket. An ended session counts as ready (the write says why).
    pub fn writable(&self, until: Instant) -> bool {
        let ready = self.wire.borrow_mut().room(&self.sock, until);
        match ready {
            Ok(true) => crate::stream::backlog::below_by(self.sock.as_fd(), until),
            Ok(false) => false,
            Err(_) => true,
        }
    }

    /// PUBLISHes not acknowledged yet.
    pub fn in_flight(&self) -> usize {
        self.wire.borrow().inflight.len()
    }
}

impl embedded_io::ErrorType for Session {
    type Error = Ending;
}

impl embedded_io::Write for Session {
    /// Takes frames; publishes every whole one taken, in payloads.
    fn write(&mut self, buf: &[u8]) -> Result<usize, Ending> {
        let Session {
            sock,
            topic,
            packer,
            wire,
        } = self;
        if let Some(e) = wire.borrow().ended {
            return Err(e);
        }
        let mut go = |b: &mut [u8], room: usize, covers: Option<u64>| {
            publish(sock, wire, topic, false, b, room, covers)
        };
        packer.push(buf, &mut go)?;
        packer.flush(&mut go)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Ending> {
        Ok(())
    }
}
