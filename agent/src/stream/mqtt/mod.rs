//! `stream --to mqtt://`: the stream published to an MQTT 5 broker (core/WIRE.md
//! section 8), on the codec `taskwire_core::mqtt`.
//!
//! [`Publisher`] is the writer's connector: each connect opens a TCP connection, sends
//! CONNECT (with a will: `lost`, retained, on the status topic), waits for CONNACK and
//! publishes `online` there. Its sink is a [`session::Session`], which publishes the
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
use super::writer::{Connector, Ended};
use session::{RX_LEN, Session};

/// How long the broker may take to answer CONNECT.
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

/// The connector of an MQTT sink.
#[derive(Debug)]
pub struct Publisher {
    spec: Mqtt,
    topic: String,
    status: String,
    client: String,
    password: Option<Vec<u8>>,
    /// Refusals in a row (PUBACK errors, the broker's DISCONNECT) since numbers were
    /// last acknowledged.
    refusals: Cell<u32>,
}

impl Publisher {
    /// The connector of `spec` for the board named `board_id`, with the password read
    /// from its file at start.
    pub fn new(spec: Mqtt, board_id: &str, password: Option<Vec<u8>>) -> Publisher {
        let topic = spec.topic_for(board_id);
        Publisher {
            status: format!("{topic}/status"),
            client: spec.client.clone().unwrap_or_else(|| board_id.to_owned()),
            topic,
            spec,
            password,
            refusals: Cell::new(0),
        }
    }

    /// The stream's topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn keepalive(&self) -> Option<Duration> {
        (self.spec.keepalive_s > 0).then(|| Duration::from_secs(self.spec.keepalive_s.into()) / 2)
    }

    /// CONNECT, CONNACK, `online`: the session, or why there is none.
    fn handshake(&self) -> Result<Session, String> {
        let sock = sink::tcp(&self.spec.host, self.spec.port).map_err(|e| e.msg)?;
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
            match mqtt::parse(&rx[..len], RX_LEN) {
                Ok(Some((Packet::ConnAck { reason, .. }, _))) if reason >= 0x80 => {
                    return Err(format!(
                        "the broker refused the connection: {} (0x{reason:02x})",
                        mqtt::reason_text(reason)
                    ));
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
                    return Err(format!("no CONNACK within {} s", CONNACK_WAIT.as_secs()));
                }
                Back::Nothing => {}
            }
        };
        // A payload must hold the 0x00, the header and a frame of the largest size.
        let head = self.topic.len() + mqtt::PUBLISH_HEAD_OVERHEAD;
        let limit = max_packet.map_or(usize::MAX, |m| (m as usize).saturating_sub(head));
        if limit < 1 + 2 * MAX_FRAME_LEN {
            return Err(format!(
                "the broker's maximum packet size ({} bytes) is below what one frame needs",
                max_packet.unwrap_or(0)
            ));
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

impl Connector for Publisher {
    type Sink = Session;

    const TWO_WAY: bool = true;

    fn connect(&mut self) -> Result<Session, OpenError> {
        self.handshake().map_err(|msg| OpenError {
            msg,
            permission: false,
        })
    }

    fn reconnects(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        let Mqtt { host, port, .. } = &self.spec;
        match host.contains(':') {
            true => format!("mqtt://[{host}]:{port}/{}", self.topic),
            false => format!("mqtt://{host}:{port}/{}", self.topic),
        }
    }

    fn two_way(&self) -> bool {
        true
    }

    fn read_back(&self, sink: &Session, buf: &mut [u8], until: Option<Instant>) -> Back {
        sink.read_back(buf, until)
    }

    fn writable(&self, sink: &Session, until: Instant) -> bool {
        sink.writable(until)
    }

    fn settle(&self, sink: &Session, stopping: &dyn Fn() -> bool) {
        use std::os::fd::AsFd;
        super::backlog::settle(sink.as_fd(), stopping);
    }

    fn ended(&self, sink: &Session) -> Option<Ended> {
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

    fn tend(&self, sink: &Session) -> Result<Option<Instant>, String> {
        match self.keepalive() {
            Some(every) => sink.tend(every).map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }

    fn finish(&self, sink: &mut Session) {
        let until = Instant::now() + Duration::from_millis(200);
        let _ = sink.status(&self.status, STOPPED, until);
        sink.disconnect();
    }
}

#[cfg(test)]
mod tests;
