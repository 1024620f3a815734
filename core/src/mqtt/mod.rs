//! The part of MQTT 5.0 (OASIS Standard, 7 March 2019) that carries a record stream
//! through a broker: a board publishes its stream (CONNECT, PUBLISH at QoS 0 or 1,
//! PUBACK, PINGREQ, DISCONNECT) and a host subscribes to many boards' (SUBSCRIBE, and
//! PUBACK for what it was sent). core/WIRE.md section 8 says how the stream rides on it.
//!
//! Encoders write into the caller's buffer and say how much they wrote; [`parse`] reads
//! one packet from the start of a buffer without copying. Nothing allocates. Properties
//! are written only where taskwire needs them (session expiry and receive maximum in
//! CONNECT); every property a broker sends is walked by its type, and the few a client
//! must obey are handed out ([`Packet::ConnAck`]).
//!
//! Only what a client receives is parsed: CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP and
//! DISCONNECT; the other types come out as [`Packet::Other`] for the caller to ignore or
//! refuse. QoS 2 is not used: a PUBLISH at QoS 2 parses, and the subscriber never asks for
//! one (its subscriptions are QoS 1 at most).

mod encode;
mod parse;
mod varint;

pub use encode::{
    Connect, DISCONNECT, PINGREQ, PUBLISH_HEAD_OVERHEAD, PublishHead, Will, encode_connect,
    encode_puback, encode_publish_head, encode_subscribe,
};
pub use parse::{Packet, parse};

use core::fmt;

/// The protocol level of MQTT 5.0 in CONNECT.
pub const PROTOCOL_LEVEL: u8 = 5;

/// The largest remaining length a fixed header can carry (four length bytes).
pub const MAX_REMAINING: usize = 268_435_455;

/// What went wrong encoding or parsing a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The output buffer is too small for the packet.
    Buffer,
    /// A packet, string or field longer than its length field (or the reader's
    /// `max_len`) allows.
    TooLarge,
    /// Bytes that are not a packet of MQTT 5.0: a reserved bit set, a length that
    /// disagrees with the bytes, a string that is not UTF-8, an unknown property, a
    /// packet identifier 0.
    Malformed,
}

impl Error {
    /// Its text in messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Error::Buffer => "buffer too small for the packet",
            Error::TooLarge => "packet or field too large",
            Error::Malformed => "malformed packet",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Packet types (the high nibble of the first byte).
pub mod kind {
    /// CONNECT.
    pub const CONNECT: u8 = 1;
    /// CONNACK.
    pub const CONNACK: u8 = 2;
    /// PUBLISH.
    pub const PUBLISH: u8 = 3;
    /// PUBACK.
    pub const PUBACK: u8 = 4;
    /// SUBSCRIBE.
    pub const SUBSCRIBE: u8 = 8;
    /// SUBACK.
    pub const SUBACK: u8 = 9;
    /// PINGREQ.
    pub const PINGREQ: u8 = 12;
    /// PINGRESP.
    pub const PINGRESP: u8 = 13;
    /// DISCONNECT.
    pub const DISCONNECT: u8 = 14;
}

/// Whether a reason code (CONNACK, PUBACK, SUBACK, DISCONNECT) reports success: codes
/// below 0x80 do (0x10 "no matching subscribers" included: the broker took the message).
pub const fn is_success(code: u8) -> bool {
    code < 0x80
}

/// The meaning of a reason code, for messages. Codes that mean one thing in one packet
/// and another elsewhere are given the meaning they have where a failure comes from.
pub const fn reason_text(code: u8) -> &'static str {
    match code {
        0x00 => "success",
        0x01 => "granted QoS 1",
        0x02 => "granted QoS 2",
        0x04 => "disconnect with will message",
        0x10 => "no matching subscribers",
        0x80 => "unspecified error",
        0x81 => "malformed packet",
        0x82 => "protocol error",
        0x83 => "implementation specific error",
        0x84 => "unsupported protocol version (the broker does not speak MQTT 5)",
        0x85 => "client identifier not valid",
        0x86 => "bad user name or password",
        0x87 => "not authorized",
        0x88 => "server unavailable",
        0x89 => "server busy",
        0x8A => "banned",
        0x8B => "server shutting down",
        0x8C => "bad authentication method",
        0x8D => "keep alive timeout",
        0x8E => "session taken over (another client connected with this client id)",
        0x8F => "topic filter invalid",
        0x90 => "topic name invalid",
        0x91 => "packet identifier in use",
        0x93 => "receive maximum exceeded",
        0x95 => "packet too large",
        0x96 => "message rate too high",
        0x97 => "quota exceeded",
        0x98 => "administrative action",
        0x99 => "payload format invalid",
        0x9A => "retain not supported",
        0x9B => "QoS not supported",
        0x9C => "use another server",
        0x9D => "server moved",
        0x9E => "shared subscriptions not supported",
        0x9F => "connection rate exceeded",
        0xA0 => "maximum connect time",
        0xA1 => "subscription identifiers not supported",
        0xA2 => "wildcard subscriptions not supported",
        _ => "unknown reason code",
    }
}

#[cfg(test)]
mod tests;
