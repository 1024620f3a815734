//! Reading the packets a client receives.

use super::varint::{self, Read};
use super::{Error, kind};

/// One packet a broker sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// The answer to CONNECT.
    ConnAck {
        /// The broker resumed a session it kept for this client id.
        session_present: bool,
        /// 0 = accepted; 0x80 and up = refused ([`super::reason_text`]).
        reason: u8,
        /// How many QoS 1 and 2 PUBLISHes the broker takes unacknowledged; `None` =
        /// 65,535.
        receive_maximum: Option<u16>,
        /// The largest packet the broker accepts; `None` = no limit but the protocol's.
        maximum_packet_size: Option<u32>,
        /// The highest QoS the broker accepts in a PUBLISH; `None` = 2.
        maximum_qos: Option<u8>,
    },
    /// A message.
    Publish {
        /// The topic it was published to.
        topic: &'a str,
        /// Its packet identifier, for QoS 1 and 2.
        packet_id: Option<u16>,
        /// 0, 1 or 2.
        qos: u8,
        /// A retained message (sent because of a new subscription).
        retain: bool,
        /// The broker may have sent it before.
        dup: bool,
        /// The application's bytes.
        payload: &'a [u8],
    },
    /// A QoS 1 PUBLISH was received (reason below 0x80) or refused.
    PubAck {
        /// The PUBLISH's identifier.
        packet_id: u16,
        /// The reason code; 0 when the short form leaves it out.
        reason: u8,
    },
    /// The answer to SUBSCRIBE: one reason code per filter, in order (the QoS granted, or
    /// 0x80 and up for a refusal).
    SubAck {
        /// The SUBSCRIBE's identifier.
        packet_id: u16,
        /// The codes.
        reasons: &'a [u8],
    },
    /// The answer to PINGREQ.
    PingResp,
    /// The broker closes the connection, saying why.
    Disconnect {
        /// The reason code; 0 when left out.
        reason: u8,
    },
    /// A packet of another type, well formed as far as its fixed header goes.
    Other {
        /// Its type (the high nibble of its first byte).
        kind: u8,
    },
}

/// Reads one packet from the start of `buf`: `Ok(None)` while `buf` ends before it does,
/// `Ok(Some((packet, used)))` with the bytes it took. An error means the connection can
/// not go on (its bytes have no packet boundaries any more): a malformed packet, or one
/// longer than `max_len` bytes in all, refused before its bytes arrive.
pub fn parse(buf: &[u8], max_len: usize) -> Result<Option<(Packet<'_>, usize)>, Error> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let (remaining, len_bytes) = match varint::get(buf.get(1..).unwrap_or_default())? {
        Read::Value(n, used) => (n, used),
        Read::Short => return Ok(None),
    };
    let total = 1 + len_bytes + remaining;
    if total > max_len {
        return Err(Error::TooLarge);
    }
    let Some(body) = buf.get(1 + len_bytes..total) else {
        return Ok(None);
    };
    let (kind, flags) = (first >> 4, first & 0x0F);
    let packet = match kind {
        kind::CONNACK => connack(flags, body)?,
        kind::PUBLISH => publish(flags, body)?,
        kind::PUBACK => {
            let mut r = Reader::new(flags, body)?;
            let packet_id = r.u16()?;
            let reason = r.optional_byte();
            r.optional_properties()?;
            r.end()?;
            Packet::PubAck { packet_id, reason }
        }
        kind::SUBACK => {
            let mut r = Reader::new(flags, body)?;
            let packet_id = r.u16()?;
            r.properties(|_, _| Ok(()))?;
            Packet::SubAck {
                packet_id,
                reasons: r.rest(),
            }
        }
        kind::PINGRESP => {
            Reader::new(flags, body)?.end()?;
            Packet::PingResp
        }
        kind::DISCONNECT => {
            let mut r = Reader::new(flags, body)?;
            let reason = r.optional_byte();
            r.optional_properties()?;
            r.end()?;
            Packet::Disconnect { reason }
        }
        0 => return Err(Error::Malformed),
        kind => Packet::Other { kind },
    };
    Ok(Some((packet, total)))
}

fn connack(flags: u8, body: &[u8]) -> Result<Packet<'_>, Error> {
    let mut r = Reader::new(flags, body)?;
    let ack = r.byte()?;
    if ack & 0xFE != 0 {
        return Err(Error::Malformed);
    }
    let reason = r.byte()?;
    let (mut receive_maximum, mut maximum_packet_size, mut maximum_qos) = (None, None, None);
    // A broker that refuses an older protocol answers in that protocol's form: two bytes,
    // no properties.
    if body.len() > 2 {
        r.properties(|id, value| {
            match (id, value) {
                (0x21, Value::Int(0)) | (0x27, Value::Int(0)) => return Err(Error::Malformed),
                (0x21, Value::Int(n)) => receive_maximum = u16::try_from(n).ok(),
                (0x27, Value::Int(n)) => maximum_packet_size = Some(n),
                (0x24, Value::Int(n)) => maximum_qos = u8::try_from(n).ok(),
                _ => {}
            }
            Ok(())
        })?;
    }
    r.end()?;
    Ok(Packet::ConnAck {
        session_present: ack & 1 == 1,
        reason,
        receive_maximum,
        maximum_packet_size,
        maximum_qos,
    })
}

fn publish(flags: u8, body: &[u8]) -> Result<Packet<'_>, Error> {
    let qos = (flags >> 1) & 0x03;
    if qos == 3 {
        return Err(Error::Malformed);
    }
    let mut r = Reader { body, at: 0 };
    let topic = r.string()?;
    let packet_id = match qos {
        0 => None,
        _ => match r.u16()? {
            0 => return Err(Error::Malformed),
            id => Some(id),
        },
    };
    r.properties(|_, _| Ok(()))?;
    Ok(Packet::Publish {
        topic,
        packet_id,
        qos,
        retain: flags & 1 == 1,
        dup: flags & 0x08 != 0,
        payload: r.rest(),
    })
}

/// A property's value, as far as this reader needs it.
#[derive(Debug, Clone, Copy)]
enum Value {
    /// A byte, two- or four-byte integer, or variable byte integer.
    Int(u32),
    /// A string, binary data or string pair (skipped).
    Bytes,
}

/// Reads a packet's body.
struct Reader<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A body whose fixed header's flags must be 0 (every type but PUBLISH and the
    /// client-to-server ones).
    fn new(flags: u8, body: &'a [u8]) -> Result<Reader<'a>, Error> {
        match flags {
            0 => Ok(Reader { body, at: 0 }),
            _ => Err(Error::Malformed),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.at.checked_add(n).ok_or(Error::Malformed)?;
        let b = self.body.get(self.at..end).ok_or(Error::Malformed)?;
        self.at = end;
        Ok(b)
    }

    fn byte(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn u16(&mut self) -> Result<u16, Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ]))
    }

    fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_be_bytes(a))
    }

    fn varint(&mut self) -> Result<usize, Error> {
        match varint::get(self.body.get(self.at..).unwrap_or_default())? {
            Read::Value(n, used) => {
                self.at += used;
                Ok(n)
            }
            Read::Short => Err(Error::Malformed),
        }
    }

    fn binary(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    fn string(&mut self) -> Result<&'a str, Error> {
        let b = self.binary()?;
        match core::str::from_utf8(b) {
            Ok(s) if !b.contains(&0) => Ok(s),
            _ => Err(Error::Malformed),
        }
    }

    /// A byte that the packet's short form leaves out (a reason code): 0 when absent.
    fn optional_byte(&mut self) -> u8 {
        self.take(1)
            .ok()
            .and_then(|b| b.first().copied())
            .unwrap_or(0)
    }

    /// Properties that the packet's short form leaves out.
    fn optional_properties(&mut self) -> Result<(), Error> {
        match self.at < self.body.len() {
            true => self.properties(|_, _| Ok(())),
            false => Ok(()),
        }
    }

    /// Walks a property list, each property by its type (section 2.2.2.2), handing each
    /// to `each`. An unknown identifier is malformed: its length is unknown.
    fn properties(
        &mut self,
        mut each: impl FnMut(u32, Value) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let len = self.varint()?;
        let list = self.take(len)?;
        let mut p = Reader { body: list, at: 0 };
        while p.at < list.len() {
            let id = u32::try_from(p.varint()?).map_err(|_| Error::Malformed)?;
            let value = match id {
                0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
                    Value::Int(u32::from(p.byte()?))
                }
                0x13 | 0x21 | 0x22 | 0x23 => Value::Int(u32::from(p.u16()?)),
                0x02 | 0x11 | 0x18 | 0x27 => Value::Int(p.u32()?),
                0x0B => Value::Int(u32::try_from(p.varint()?).map_err(|_| Error::Malformed)?),
                0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C | 0x1F => {
                    p.string()?;
                    Value::Bytes
                }
                0x09 | 0x16 => {
                    p.binary()?;
                    Value::Bytes
                }
                0x26 => {
                    p.string()?;
                    p.string()?;
                    Value::Bytes
                }
                _ => return Err(Error::Malformed),
            };
            each(id, value)?;
        }
        Ok(())
    }

    fn rest(&mut self) -> &'a [u8] {
        let r = self.body.get(self.at..).unwrap_or_default();
        self.at = self.body.len();
        r
    }

    fn end(&self) -> Result<(), Error> {
        match self.at == self.body.len() {
            true => Ok(()),
            false => Err(Error::Malformed),
        }
    }
}
