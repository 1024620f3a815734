//! What the broker's packets do to the connection: the handshake (CONNACK, SUBACK), the
//! messages, the pings, and the ways it ends (a refusal, a DISCONNECT, a close).

use std::time::Instant;

use taskwire_cli::Failure;
use taskwire_cli::output::escape_token;
use taskwire_core::mqtt::{self, Packet};

use super::link::Stage;
use super::{BACKOFF_FIRST, FLAP_WINDOW, FLAPS, SUBSCRIBE_ID, Subscriber};
use crate::session::Decoder;

/// What handling a packet asks of the connection.
pub(super) enum Next {
    Go,
    /// The broker closed a connection it had accepted, without a word.
    Closed,
    /// Drop the connection and reconnect, for this reason.
    Drop(String),
}

impl Subscriber {
    pub(super) fn handle(&mut self, d: &mut Decoder, p: Packet<'_>) -> Result<Next, Failure> {
        let broker = self.broker();
        let Some(link) = &mut self.link else {
            return Ok(Next::Go);
        };
        match p {
            Packet::ConnAck {
                reason,
                session_present,
                ..
            } => {
                if link.stage != Stage::ConnAck {
                    return Ok(Next::Drop("a second CONNACK".into()));
                }
                if reason >= 0x80 {
                    return self.refused(reason);
                }
                if let Some(b) = &mut d.tally.broker {
                    b.connects += 1;
                }
                if self.subscribed && !session_present {
                    if let Some(b) = &mut d.tally.broker {
                        b.sessions_lost += 1;
                    }
                    eprintln!(
                        "taskwire decode: the MQTT broker at {} kept no session for client id \
                         {} (restarted without persistence, or the session expired): what it \
                         had queued for this decoder is gone, and shows as gaps",
                        broker,
                        escape_token(self.client_id.as_bytes())
                    );
                }
                let status = self.url.status_filter();
                let mut filters: Vec<(&str, u8)> = vec![(&self.url.filter, 1)];
                if let Some(s) = &status {
                    filters.push((s, 1));
                }
                let mut buf =
                    vec![0u8; 16 + filters.iter().map(|(f, _)| f.len() + 3).sum::<usize>()];
                let n = match mqtt::encode_subscribe(SUBSCRIBE_ID, &filters, &mut buf) {
                    Ok(n) => n,
                    Err(e) => return Err(Failure::Runtime(format!("SUBSCRIBE: {e}"))),
                };
                link.stage = Stage::SubAck;
                if let Err(e) = link.send(&buf[..n]) {
                    return Ok(Next::Drop(format!("writing to it: {e}")));
                }
            }
            Packet::SubAck { packet_id, reasons } => {
                if link.stage != Stage::SubAck || packet_id != SUBSCRIBE_ID {
                    return Ok(Next::Go);
                }
                let stream = reasons.first().copied().unwrap_or(0x80);
                if stream >= 0x80 {
                    let hint = match stream {
                        0x9e => {
                            " (shared subscriptions need an MQTT 5 broker that has them; Mosquitto 2 has)"
                        }
                        0x87 => " (the broker's ACL does not let this user read it)",
                        _ => "",
                    };
                    return Err(Failure::Runtime(format!(
                        "the MQTT broker at {} refused the subscription to {}: {}{hint}",
                        broker,
                        escape_token(self.url.filter.as_bytes()),
                        mqtt::reason_text(stream)
                    )));
                }
                link.stage = Stage::Up;
                let first = !std::mem::replace(&mut self.subscribed, true);
                if stream == 0 && first {
                    eprintln!(
                        "taskwire decode: the MQTT broker grants QoS 0 only: messages in flight \
                         when this decoder stops are lost"
                    );
                }
                if let (Some(&s), true) = (reasons.get(1), first) {
                    if s >= 0x80 {
                        eprintln!(
                            "taskwire decode: the MQTT broker refused the status topics ({}): \
                             boards going away are not reported",
                            mqtt::reason_text(s)
                        );
                    }
                }
                self.backoff = BACKOFF_FIRST;
                match (first, self.outage.take()) {
                    (true, _) => eprintln!(
                        "taskwire decode: subscribed to {}{} at {} as client id {}{}",
                        escape_token(self.url.filter.as_bytes()),
                        self.url
                            .status_filter()
                            .map(|s| format!(" and {}", escape_token(s.as_bytes())))
                            .unwrap_or_default(),
                        broker,
                        escape_token(self.client_id.as_bytes()),
                        match self.url.shared_group() {
                            Some(g) => format!(
                                " (shared by group {}: this decoder gets part of each board's \
                                 numbers; the rest count as not seen here)",
                                escape_token(g.as_bytes())
                            ),
                            None => String::new(),
                        }
                    ),
                    (false, Some(since)) => eprintln!(
                        "taskwire decode: the MQTT broker at {} is back after {:.1} s",
                        broker,
                        since.elapsed().as_secs_f32()
                    ),
                    (false, None) => {}
                }
            }
            Packet::Publish {
                topic,
                packet_id,
                qos,
                retain,
                payload,
                ..
            } => {
                if link.stage == Stage::ConnAck {
                    return Ok(Next::Drop("a PUBLISH before CONNACK".into()));
                }
                if qos > 0 {
                    if let Some(id) = packet_id {
                        self.unacked.push(id);
                    }
                }
                self.topics.message(d, topic, payload, retain);
            }
            Packet::PingResp => link.ping = None,
            Packet::Disconnect { reason: 0x8e } => {
                return Err(Failure::Runtime(format!(
                    "the MQTT broker at {} dropped this decoder: another client connected with \
                     client id {} (session taken over); give each decoder its own client=ID",
                    broker,
                    escape_token(self.client_id.as_bytes())
                )));
            }
            Packet::Disconnect { reason } => {
                return Ok(Next::Drop(format!(
                    "it disconnected this decoder ({})",
                    mqtt::reason_text(reason)
                )));
            }
            Packet::PubAck { .. } | Packet::Other { .. } => {}
        }
        Ok(Next::Go)
    }

    /// The broker closed an accepted connection: [`FLAPS`] of them within [`FLAP_WINDOW`]
    /// is another client taking this client id over, again and again.
    pub(super) fn closed_by_broker(&mut self) -> Result<(), Failure> {
        let now = Instant::now();
        self.closes.push_back(now);
        while self.closes.len() > FLAPS {
            self.closes.pop_front();
        }
        let flapping = self.closes.len() == FLAPS
            && self.closes.front().is_some_and(|&t| now - t <= FLAP_WINDOW);
        if !flapping {
            return Ok(());
        }
        Err(Failure::Runtime(format!(
            "the MQTT broker at {} closed this decoder's connection {FLAPS} times in {} s, \
             each time soon after accepting it: another client most likely connects with the \
             same client id {} (each takes the session over from the other); give each \
             decoder its own client=ID",
            self.broker(),
            FLAP_WINDOW.as_secs(),
            escape_token(self.client_id.as_bytes())
        )))
    }

    /// CONNACK with an error: worth retrying when the broker is busy, else the end.
    fn refused(&self, reason: u8) -> Result<Next, Failure> {
        let text = mqtt::reason_text(reason);
        let hint = match reason {
            // Server unavailable, busy, quota or rate exceeded: it may pass.
            0x88 | 0x89 | 0x97 | 0x9f => {
                return Ok(Next::Drop(format!("it refused the connection ({text})")));
            }
            // Mosquitto 2.0 answers a wrong password with "not authorized".
            0x86 | 0x87 => " (check user= and password-file=, and the broker's users and ACL)",
            0x85 => " (set another client=ID)",
            _ => "",
        };
        Err(Failure::Runtime(format!(
            "the MQTT broker at {} refused this decoder: {text}{hint}",
            self.broker()
        )))
    }
}
