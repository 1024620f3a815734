//! `stream --to mqtt://`: the stream published to an MQTT 5 broker (core/WIRE.md
//! section 8), on the codec `taskwire_core::mqtt`.
//!
//! [`Publisher`] opens the sessions of the writer's connector (`stream::reopen::Reopen`):
//! each connect opens a TCP connection, sends CONNECT (with a will: `lost`, retained, on
//! the status topic), waits for CONNACK and publishes `online` there. The sink is a
//! [`session::Session`], which publishes the
//! writer's frames as QoS 1 payloads, each a complete stream ([`payload`]), no more at a
//! time than the broker's Receive Maximum ([`inflight`]), and turns PUBACKs into the
//! `Ack` answers the writer's acknowledged delivery reads: a record counts as delivered
//! when the broker acknowledged the PUBLISH that holds it, and frames not acknowledged
//! are published again after a reconnect. A clean stop publishes `stopped` and sends
//! DISCONNECT.

pub mod inflight;
pub mod payload;
pub mod session;

use std::cell::Cell;
use std::time::{Duration, Instant};

use taskwire_core::mqtt::{self, Connect, Packet, Will};
use taskwire_core::wire::MAX_FRAME_LEN;

use super::ack::{Back, read_socket};
use super::sink::{self, OpenError};
use super::spec::Mqtt;
use super::writer::Ended;
use session::{RX_LEN, Session};

/// How long the broker may take to answer CONNECT (said in words in `handshake`).
pub const CONNACK_WAIT: Duration = Duration::from_secs(5);
/// Session Expiry Interval of the CONNECT: the broker keeps the board's session across
/// a reconnect within it.
pub const SESSION_EXPIRY_S: u32 = 3600;
/// The first wait after a broker refused a PUBLISH or disconnected the board; it doubles
/// with each refusal in a row up to [`REFUSED_WAIT_MAX`].
const REFUSED_WAIT: Duration = Duration::from_secs(1);
const REFUSED_WAIT_MAX: Duration = Duration::from_secs(60);

/// Status payloads, retained on `TOPIC/status`.
pub const ONLINE: &[u8] = b"online";
/// The agent stopped on purpose.
pub const STOPPED: &[u8] = b"stopped";
/// The will: the broker lost the board (no DISCONNECT, keepalive missed).
pub const LOST: &[u8] = b"lost";

/// What an MQTT sink connects with: the broker, topics, client id and credentials, and
/// how the broker's refusals went so far.
#[derive(Debug)]
pub struct Publisher {
    spec: Mqtt,
    topic: String,
    status: String,
    /// `mqtt://HOST:PORT/TOPIC`, for messages.
    name: String,
    client: String,
    password: Option<Vec<u8>>,
    /// Refusals in a row (PUBACK errors, the broker's DISCONNECT) since numbers were
    /// last acknowledged.
    refusals: Cell<u32>,
}

impl Publisher {
    /// The connector of `spec` for the board named `board_id`, with the password read
    /// from its file at start.
    pub fn new(mut spec: Mqtt, board_id: &str, password: Option<Vec<u8>>) -> Publisher {
        let topic = spec.topic_for(board_id);
        spec.topic = Some(topic.clone());
        let name = spec.to_string();
        let mut status = topic.clone();
        status.push_str("/status");
        Publisher {
            name,
            status,
            client: spec.client.clone().unwrap_or_else(|| board_id.to_owned()),
            topic,
            spec,
            password,
            refusals: Cell::new(0),
        }
    }

    fn keepalive(&self) -> Option<Duration> {
        (self.spec.keepalive_s > 0).then(|| Duration::from_secs(self.spec.keepalive_s.into()) / 2)
    }

    /// CONNECT, CONNACK, `online`: the session, or why there is none.
    fn handshake(&self) -> Result<Session, String> {
        let sock: sink::FdSink = std::os::fd::OwnedFd::from(
            sink::tcp(&self.spec.host, self.spec.port).map_err(|e| e.msg)?,
        )
        .into();
        let connect = Connect {
            client_id: &self.client,
            clean_start: false,
            keep_alive_s: self.spec.keepalive_s,
            session_expiry_s: SESSION_EXPIRY_S,
            receive_maximum: None,
            username: self.spec.user.as_deref(),
            password: self.password.as_deref(),
            will: Some(Will {
                topic: &self.status,
                payload: LOST,
                retain: true,
                qos: 1,
            }),
        };
        let mut buf = vec![0u8; 64 + self.client.len() + self.status.len() + 2 * 64 + 4096];
        let n = mqtt::encode_connect(&connect, &mut buf).map_err(|e| e.as_str().to_owned())?;
        session::write_all(&sock, &buf[..n]).map_err(|e| e.to_string())?;
        let until = Instant::now() + CONNACK_WAIT;
        let mut rx = [0u8; RX_LEN];
        let mut len = 0;
        let (receive_maximum, max_packet) = loop {
            match mqtt::parse_publisher(&rx[..len], RX_LEN) {
                Ok(Some((Packet::ConnAck { reason, .. }, _))) if reason >= 0x80 => {
                    let mut msg = String::new();
                    let _ = session::said(&mut msg, "the broker refused the connection", reason);
                    return Err(msg);
                }
                Ok(Some((
                    Packet::ConnAck {
                        maximum_qos: Some(0),
                        ..
                    },
                    _,
                ))) => {
                    return Err("the broker takes QoS 0 only; the stream needs QoS 1".into());
                }
                Ok(Some((
                    Packet::ConnAck {
                        receive_maximum,
                        maximum_packet_size,
                        ..
                    },
                    _,
                ))) => break (receive_maximum, maximum_packet_size),
                Ok(Some(_)) | Err(_) => {
                    return Err("the broker answered CONNECT with no CONNACK".into());
                }
                Ok(None) if len == RX_LEN => {
                    return Err("the broker answered CONNECT with no CONNACK".into());
                }
                Ok(None) => {}
            }
            match read_socket(&sock, &mut rx[len..], Some(until)) {
                Back::Bytes(n) => len += n,
                Back::Closed => return Err("the broker closed the connection at CONNECT".into()),
                Back::Nothing if Instant::now() >= until => {
                    return Err("no CONNACK within 5 s".into());
                }
                Back::Nothing => {}
            }
        };
        // A payload must hold the 0x00, the header and a frame of the largest size.
        let head = self.topic.len() + mqtt::PUBLISH_HEAD_OVERHEAD;
        let limit = max_packet.map_or(usize::MAX, |m| (m as usize).saturating_sub(head));
        if limit < 1 + 2 * MAX_FRAME_LEN {
            return Err("the broker's maximum packet size is below what one frame needs".into());
        }
        let session = Session::new(
            sock,
            &self.topic,
            receive_maximum.unwrap_or(u16::MAX),
            limit,
        );
        session
            .status(&self.status, ONLINE, Instant::now() + CONNACK_WAIT)
            .map_err(|e| e.to_string())?;
        Ok(session)
    }
}

impl Publisher {
    /// A new session: CONNECT, CONNACK, `online`.
    pub fn connect(&self) -> Result<Session, OpenError> {
        self.handshake().map_err(|msg| OpenError {
            msg,
            permission: false,
        })
    }

    /// Names the sink in messages: the broker and the topic.
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// How `sink` ended, once it did: a refusal by the broker is waited out longer each
    /// time in a row (a broker that refuses every PUBLISH is not hammered), a lost
    /// connection is reconnected at once.
    pub fn ended(&self, sink: &Session) -> Option<Ended> {
        let how = sink.ended()?;
        if sink.proven() {
            self.refusals.set(0);
        }
        let retry = how.is_refusal().then(|| {
            let n = self.refusals.get();
            self.refusals.set(n.saturating_add(1));
            REFUSED_WAIT
                .saturating_mul(1 << n.min(6))
                .min(REFUSED_WAIT_MAX)
        });
        Some(Ended {
            why: how.to_string(),
            retry,
        })
    }

    /// Keepalive: when `sink` next needs a turn while idle.
    pub fn tend(&self, sink: &Session) -> Result<Option<Instant>, String> {
        match self.keepalive() {
            Some(every) => sink.tend(every).map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }

    /// A clean stop: `stopped` on the status topic, DISCONNECT (so no will). When
    /// `stopped` cannot go (no room in flight soon), the connection is dropped without
    /// DISCONNECT, and the broker's will says `lost` rather than leave `online` standing.
    pub fn finish(&self, sink: &mut Session) {
        let until = Instant::now() + Duration::from_millis(200);
        if sink.status(&self.status, STOPPED, until).is_ok() {
            sink.disconnect();
        }
    }
}

#[cfg(test)]
mod tests;
