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

mod dial;
pub mod password;
#[cfg(test)]
mod tests;
pub mod topics;
pub mod url;

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use taskwire_cli::Failure;
use taskwire_cli::output::escape_token;
use taskwire_core::mqtt::{self, Packet};

use crate::session::Decoder;
use topics::Topics;
use url::Url;

/// Sent as the keep alive; a PINGREQ goes after this long without sending anything.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// How long a PINGREQ may go unanswered before the broker counts as gone.
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

/// Where a connection is in its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The TCP connect is under way (non-blocking: a stop signal is seen meanwhile).
    Tcp,
    ConnAck,
    SubAck,
    Up,
}

/// One TCP connection to the broker.
#[derive(Debug)]
struct Link {
    sock: TcpStream,
    stage: Stage,
    opened: Instant,
    last_sent: Instant,
    /// When the PINGREQ not answered yet was sent.
    ping: Option<Instant>,
    /// Bytes not written yet (the socket took only part).
    tx: Vec<u8>,
}

impl Link {
    /// Queues `bytes` and writes what the socket takes now.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.tx.extend_from_slice(bytes);
        self.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        while !self.tx.is_empty() {
            match (&self.sock).write(&self.tx) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.tx.drain(..n);
                    self.last_sent = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// What handling a packet asks of the connection.
enum Next {
    Go,
    /// The broker closed a connection it had accepted, without a word.
    Closed,
    /// Drop the connection and reconnect, for this reason.
    Drop(String),
}

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
                Some(p) => p + PING_TIMEOUT,
                None => l.last_sent + KEEP_ALIVE,
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
        } else if link.ping.is_some_and(|p| now >= p + PING_TIMEOUT) {
            Some(format!(
                "no answer to a ping within {} s",
                PING_TIMEOUT.as_secs()
            ))
        } else if link.stage == Stage::Up
            && link.ping.is_none()
            && now >= link.last_sent + KEEP_ALIVE
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
        if let Some(mut link) = self.link.take() {
            link.tx.extend_from_slice(&mqtt::DISCONNECT);
            // A second at most, whatever the broker does.
            let _ = link.sock.set_nonblocking(false);
            let _ = link.sock.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = (&link.sock).write_all(&link.tx);
            let _ = link.sock.shutdown(std::net::Shutdown::Write);
        }
        self.topics.close_all(d);
    }

    fn broker(&self) -> String {
        let (h, p) = (&self.url.host, self.url.port);
        let shown = match h.contains(':') {
            true => format!("[{h}]:{p}"),
            false => format!("{h}:{p}"),
        };
        escape_token(shown.as_bytes())
    }

    /// Starts a connection attempt: every address of the broker in turn.
    fn connect(&mut self, d: &mut Decoder) {
        match taskwire_cli::endpoint::resolve(&self.url.host, self.url.port) {
            Ok(addrs) => {
                self.addrs = addrs.into();
                self.dial_error = "no address".into();
                self.dial(d);
            }
            Err(why) => self.failed(d, &why),
        }
    }

    /// Starts a TCP connect to the next address; when none is left, the attempt failed.
    fn dial(&mut self, d: &mut Decoder) {
        while let Some(addr) = self.addrs.pop_front() {
            match dial::start(addr) {
                Ok(sock) => {
                    let now = Instant::now();
                    self.link = Some(Link {
                        sock,
                        stage: Stage::Tcp,
                        opened: now,
                        last_sent: now,
                        ping: None,
                        tx: Vec::new(),
                    });
                    return;
                }
                Err(e) => self.dial_error = dial::explain(&e),
            }
        }
        let why = std::mem::take(&mut self.dial_error);
        self.failed(d, &why);
    }

    /// The TCP connect under way is done (`ready`) or overdue: CONNECT goes, or the next
    /// address is tried.
    fn dialled(&mut self, d: &mut Decoder, ready: bool) {
        let Some(link) = &mut self.link else { return };
        let result = match ready {
            true => dial::result(&link.sock),
            false if Instant::now() < link.opened + CONNECT_TIMEOUT => return,
            false => Err(format!(
                "no answer to the TCP connect within {} s",
                CONNECT_TIMEOUT.as_secs()
            )),
        };
        if let Err(why) = result {
            self.link = None;
            self.dial_error = why;
            return self.dial(d);
        }
        let _ = link.sock.set_nodelay(true);
        let c = mqtt::Connect {
            client_id: &self.client_id,
            clean_start: false,
            keep_alive_s: KEEP_ALIVE.as_secs() as u16,
            session_expiry_s: self.url.session_expiry.unwrap_or(SESSION_EXPIRY_S),
            receive_maximum: Some(RECEIVE_MAXIMUM),
            username: self.url.user.as_deref(),
            password: self.password.as_deref(),
            will: None,
        };
        let room = 64
            + self.client_id.len()
            + self.url.user.as_ref().map_or(0, String::len)
            + self.password.as_ref().map_or(0, Vec::len);
        let mut buf = vec![0u8; room];
        let sent = mqtt::encode_connect(&c, &mut buf)
            .map_err(|e| format!("CONNECT: {e}"))
            .and_then(|n| {
                link.stage = Stage::ConnAck;
                link.opened = Instant::now();
                link.send(&buf[..n]).map_err(|e| e.to_string())
            });
        if let Err(why) = sent {
            self.link = None;
            return self.failed(d, &why);
        }
        if self.rx.is_empty() {
            self.rx = vec![0u8; MAX_PACKET + READ_CHUNK];
        }
        self.rx_len = 0;
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

    fn handle(&mut self, d: &mut Decoder, p: Packet<'_>) -> Result<Next, Failure> {
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
    fn closed_by_broker(&mut self) -> Result<(), Failure> {
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
            0x86 => " (check user= and password-file=)",
            0x87 => " (the broker does not let this user or client id in)",
            0x85 => " (set another client=ID)",
            _ => "",
        };
        Err(Failure::Runtime(format!(
            "the MQTT broker at {} refused this decoder: {text}{hint}",
            self.broker()
        )))
    }
}
