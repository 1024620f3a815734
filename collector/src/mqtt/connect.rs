//! Connecting: the broker's addresses tried in turn, each TCP connect finished by the
//! poll ([`super::dial`]), then CONNECT.

use std::time::Instant;

use taskwire_core::mqtt;

use super::link::{Link, Stage};
use super::{CONNECT_TIMEOUT, MAX_PACKET, READ_CHUNK, RECEIVE_MAXIMUM};
use super::{SESSION_EXPIRY_S, Subscriber, dial};
use crate::session::Decoder;

impl Subscriber {
    /// Starts a connection attempt: every address of the broker in turn.
    pub(super) fn connect(&mut self, d: &mut Decoder) {
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
    pub(super) fn dialled(&mut self, d: &mut Decoder, ready: bool) {
        let keep_alive = self.keep_alive().as_secs() as u16;
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
            keep_alive_s: keep_alive,
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
}
