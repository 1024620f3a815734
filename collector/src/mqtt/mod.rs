//! `decode --from mqtt://...`: a subscriber to an MQTT 5 broker, polled by [`crate::pump`]
//! beside the stop signals like any other input.
//!
//! The connection ([`Subscriber`]) goes CONNECT (clean start off and a session expiry, so
//! that the broker queues what comes while this decoder is away; a Receive Maximum), then
//! SUBSCRIBE at QoS 1 to the stream filter and, not shared, to the boards' status topics;
//! PINGREQ when it has sent nothing for [`KEEP_ALIVE`]; and when the broker goes away,
//! reconnects with a growing pause, saying so once per outage. Every PUBLISH is handed to
//! [`topics::Topics`] (one board's stream per topic) and acknowledged (PUBACK) only once
//! the output it produced is written ([`Subscriber::written`]), as `ack.rs` does for
//! agents' connections: a decoder killed before writing has acknowledged nothing it did
//! not print, and the broker sends it again.
//!
//! The packets are `taskwire_core::mqtt`'s; the socket, the buffers and the timers are
//! here.

mod answers;
mod connect;
mod dial;
mod link;
pub mod password;
#[cfg(test)]
mod tests;
pub mod topics;
pub mod url;

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use taskwire_cli::Failure;
use taskwire_cli::output::escape_token;
use taskwire_core::mqtt;

use crate::session::Decoder;
use answers::Next;
use link::{Link, Stage};
use topics::Topics;
use url::Url;

/// The keep alive unless `keepalive=` says otherwise: a PINGREQ goes after this long
/// without sending anything.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// How long a PINGREQ may go unanswered before the broker counts as gone (less when the
/// keep alive is shorter: half of it).
const PING_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the broker keeps this decoder's session (its subscriptions and the messages
/// queued for it) after the connection ends: a decoder restarted within this gets what
/// came meanwhile.
pub const SESSION_EXPIRY_S: u32 = 24 * 3600;
/// PUBLISH messages the broker may have in flight to this decoder (not acknowledged yet).
pub const RECEIVE_MAXIMUM: u16 = 512;
/// The largest packet read: an agent's payloads are at most 16 KiB (core/WIRE.md section
/// 8); other publishers may send more, up to this.
pub const MAX_PACKET: usize = (1 << 20) + 1024;
/// Bytes read from the broker per turn of the loop, so that output and acknowledgements
/// go out between reads.
const READ_CHUNK: usize = 256 * 1024;
/// How long one TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the broker has to answer CONNECT and SUBSCRIBE.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first pause before a reconnect, doubled after each failure up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
/// The longest pause between reconnects.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The packet id of the SUBSCRIBE (one per connection).
const SUBSCRIBE_ID: u16 = 1;
/// Closes by the broker of a connection it had just accepted, within [`FLAP_WINDOW`], that
/// mean another client takes this client id's session over again and again (Mosquitto
/// 2.0 closes the older connection without saying why).
const FLAPS: usize = 5;
/// See [`FLAPS`].
const FLAP_WINDOW: Duration = Duration::from_secs(10);

/// A decoder's MQTT subscription: the connection, its reconnects, and the topics.
#[derive(Debug)]
pub struct Subscriber {
    url: Url,
    client_id: String,
    password: Option<Vec<u8>>,
    link: Option<Link>,
    retry_at: Instant,
    backoff: Duration,
    /// Since when the broker is out of reach (said once), while it is.
    outage: Option<Instant>,
    /// A subscription was made once (later ones are reconnections).
    subscribed: bool,
    /// Packet ids of the PUBLISH messages decoded since the output was last written.
    unacked: Vec<u16>,
    rx: Vec<u8>,
    rx_len: usize,
    topics: Topics,
    /// When the broker last closed an accepted connection, the latest [`FLAPS`].
    closes: std::collections::VecDeque<Instant>,
    /// The broker's addresses not tried yet in this attempt, and why the last one failed.
    addrs: std::collections::VecDeque<std::net::SocketAddr>,
    dial_error: String,
}

/// The client id when the URL gives none: stable across restarts, so that a restarted
/// decoder finds the session the broker kept for it.
pub fn default_client_id() -> String {
    let uts = rustix::system::uname();
    let host = uts.nodename().to_string_lossy();
    format!("taskwire-decode-{host}")
}

impl Subscriber {
    /// A subscriber to `url` (nothing is connected yet: the first turn does it).
    pub fn new(url: Url, password: Option<Vec<u8>>) -> Subscriber {
        let client_id = url.client.clone().unwrap_or_else(default_client_id);
        Subscriber {
            url,
            client_id,
            password,
            link: None,
            retry_at: Instant::now(),
            backoff: BACKOFF_FIRST,
            outage: None,
            subscribed: false,
            unacked: Vec::new(),
            rx: Vec::new(),
            rx_len: 0,
            topics: Topics::default(),
            closes: std::collections::VecDeque::new(),
            addrs: std::collections::VecDeque::new(),
            dial_error: String::new(),
        }
    }

    /// What it subscribes to.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The socket to poll, and whether for writing too; `None` while disconnected.
    pub fn poll_fd(&self) -> Option<(BorrowedFd<'_>, bool)> {
        self.link
            .as_ref()
            .map(|l| (l.sock.as_fd(), !l.tx.is_empty() || l.stage == Stage::Tcp))
    }

    /// When [`Subscriber::turn`] has something to do without input: a reconnect, a
    /// ping, a timeout.
    pub fn due(&self) -> Instant {
        match &self.link {
            None => self.retry_at,
            Some(l) if l.stage == Stage::Tcp => l.opened + CONNECT_TIMEOUT,
            Some(l) if l.stage != Stage::Up => l.opened + HANDSHAKE_TIMEOUT,
            Some(l) => match l.ping {
                Some(p) => p + self.ping_timeout(),
                None => l.last_sent + self.keep_alive(),
            },
        }
    }

    /// One turn of the loop: connects when due, reads what arrived (`ready`), keeps the
    /// connection alive. An error is a refusal no retry can change (credentials, the
    /// subscription, another decoder with this client id).
    pub fn turn(&mut self, d: &mut Decoder, ready: bool) -> Result<(), Failure> {
        if self.link.is_none() {
            if Instant::now() >= self.retry_at {
                self.connect(d);
            }
            return Ok(());
        }
        if self.link.as_ref().is_some_and(|l| l.stage == Stage::Tcp) {
            self.dialled(d, ready);
            return Ok(());
        }
        if ready {
            match self.read(d)? {
                Next::Go => {}
                Next::Closed => {
                    self.closed_by_broker()?;
                    self.lost(d, "it closed the connection");
                    return Ok(());
                }
                Next::Drop(why) => {
                    self.lost(d, &why);
                    return Ok(());
                }
            }
        }
        let now = Instant::now();
        let (keep_alive, ping_timeout) = (self.keep_alive(), self.ping_timeout());
        let Some(link) = &mut self.link else {
            return Ok(());
        };
        let why = if link.stage != Stage::Up && now >= link.opened + HANDSHAKE_TIMEOUT {
            Some(format!(
                "no answer to {} within {} s",
                if link.stage == Stage::ConnAck {
                    "CONNECT"
                } else {
                    "SUBSCRIBE"
                },
                HANDSHAKE_TIMEOUT.as_secs()
            ))
        } else if link.ping.is_some_and(|p| now >= p + ping_timeout) {
            Some(format!(
                "no answer to a ping within {:.1} s",
                ping_timeout.as_secs_f32()
            ))
        } else if link.stage == Stage::Up
            && link.ping.is_none()
            && now >= link.last_sent + keep_alive
        {
            link.ping = Some(now);
            link.send(&mqtt::PINGREQ)
                .err()
                .map(|e| format!("sending a ping: {e}"))
        } else {
            link.flush().err().map(|e| format!("writing to it: {e}"))
        };
        if let Some(why) = why {
            self.lost(d, &why);
        }
        Ok(())
    }

    /// The output of everything decoded so far is written: acknowledges those messages.
    pub fn written(&mut self, d: &mut Decoder) {
        let Some(link) = &mut self.link else {
            self.unacked.clear();
            return;
        };
        if self.unacked.is_empty() {
            return;
        }
        for id in self.unacked.drain(..) {
            link.tx.extend_from_slice(&mqtt::encode_puback(id));
        }
        if let Err(e) = link.flush() {
            self.lost(d, &format!("writing to it: {e}"));
        }
    }

    /// The decoder stops: after [`Subscriber::written`], says DISCONNECT (the broker keeps
    /// the session and queues for the next run) and ends every topic's stream.
    pub fn stop(&mut self, d: &mut Decoder) {
        // A connect still under way has nothing to say.
        if let Some(mut link) = self.link.take().filter(|l| l.stage != Stage::Tcp) {
            link.tx.extend_from_slice(&mqtt::DISCONNECT);
            // A second at most, whatever the broker does.
            let _ = link.sock.set_nonblocking(false);
            let _ = link.sock.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = (&link.sock).write_all(&link.tx);
            let _ = link.sock.shutdown(std::net::Shutdown::Write);
        }
        self.topics.close_all(d);
    }

    /// The keep alive sent in CONNECT, and kept.
    pub(super) fn keep_alive(&self) -> Duration {
        self.url
            .keepalive
            .map_or(KEEP_ALIVE, |s| Duration::from_secs(s.into()))
    }

    fn ping_timeout(&self) -> Duration {
        PING_TIMEOUT.min(self.keep_alive() / 2)
    }

    fn broker(&self) -> String {
        let (h, p) = (&self.url.host, self.url.port);
        let shown = match h.contains(':') {
            true => format!("[{h}]:{p}"),
            false => format!("{h}:{p}"),
        };
        escape_token(shown.as_bytes())
    }

    /// A connect failed: says so once per outage and tries again later.
    fn failed(&mut self, _d: &mut Decoder, why: &str) {
        if self.outage.is_none() {
            self.outage = Some(Instant::now());
            eprintln!(
                "taskwire decode: cannot reach the MQTT broker at {}: {}; trying again \
                 (every {} s at most) until it answers",
                self.broker(),
                why,
                BACKOFF_MAX.as_secs()
            );
        }
        self.retry_later();
    }

    /// The connection ended: what was decoded and not acknowledged comes again (the
    /// broker resends it), and a reconnect follows.
    fn lost(&mut self, d: &mut Decoder, why: &str) {
        let Some(link) = self.link.take() else { return };
        self.unacked.clear();
        self.rx_len = 0;
        let was_up = !matches!(link.stage, Stage::Tcp | Stage::ConnAck);
        if was_up {
            if let Some(b) = &mut d.tally.broker {
                b.outages += 1;
            }
        }
        if self.outage.is_none() {
            self.outage = Some(Instant::now());
            eprintln!(
                "taskwire decode: lost the MQTT broker at {}: {}; reconnecting (every {} s \
                 at most)",
                self.broker(),
                why,
                BACKOFF_MAX.as_secs()
            );
        }
        if was_up {
            // It was up: the first retry comes soon.
            self.backoff = BACKOFF_FIRST;
        }
        self.retry_later();
    }

    fn retry_later(&mut self) {
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// Reads once and handles every whole packet.
    fn read(&mut self, d: &mut Decoder) -> Result<Next, Failure> {
        let Some(link) = &mut self.link else {
            return Ok(Next::Go);
        };
        let mut rx = std::mem::take(&mut self.rx);
        let end = (self.rx_len + READ_CHUNK).min(rx.len());
        let n = match (&link.sock).read(&mut rx[self.rx_len..end]) {
            Ok(0) => {
                self.rx = rx;
                return Ok(match link.stage {
                    Stage::Tcp | Stage::ConnAck => Next::Drop("it closed the connection".into()),
                    _ => Next::Closed,
                });
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                self.rx = rx;
                return Ok(Next::Go);
            }
            Err(e) => {
                self.rx = rx;
                return Ok(Next::Drop(format!("reading: {e}")));
            }
        };
        self.rx_len += n;
        let mut at = 0;
        let next = loop {
            match mqtt::parse(&rx[at..self.rx_len], MAX_PACKET) {
                Ok(Some((p, used))) => {
                    at += used;
                    match self.handle(d, p) {
                        Ok(Next::Go) => {}
                        other => break other,
                    }
                }
                Ok(None) => break Ok(Next::Go),
                Err(e) => {
                    break Ok(Next::Drop(format!(
                        "a packet this decoder cannot read ({e})"
                    )));
                }
            }
        };
        rx.copy_within(at..self.rx_len, 0);
        self.rx_len -= at;
        self.rx = rx;
        next
    }
}
