//! One TCP connection to the broker: where it is in its handshake, what waits to be
//! written, and the times the keepalive runs from.

use std::io::{self, ErrorKind, Write};
use std::net::TcpStream;
use std::time::Instant;

/// Where a connection is in its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// The TCP connect is under way (non-blocking: a stop signal is seen meanwhile).
    Tcp,
    /// CONNECT sent; waiting for CONNACK.
    ConnAck,
    /// SUBSCRIBE sent; waiting for SUBACK (queued messages may come first).
    SubAck,
    /// Subscribed: messages and pings.
    Up,
}

/// One TCP connection to the broker.
#[derive(Debug)]
pub(super) struct Link {
    pub(super) sock: TcpStream,
    pub(super) stage: Stage,
    /// When the current stage began (its timeout runs from here).
    pub(super) opened: Instant,
    /// When a byte was last written: a PINGREQ goes [`super::KEEP_ALIVE`] after.
    pub(super) last_sent: Instant,
    /// When the PINGREQ not answered yet was sent.
    pub(super) ping: Option<Instant>,
    /// Bytes not written yet (the socket took only part).
    pub(super) tx: Vec<u8>,
}

impl Link {
    /// Queues `bytes` and writes what the socket takes now.
    pub(super) fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.tx.extend_from_slice(bytes);
        self.flush()
    }

    /// Writes what is pending, as far as the socket takes it now.
    pub(super) fn flush(&mut self) -> io::Result<()> {
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
