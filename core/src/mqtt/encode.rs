//! Writing the packets a client sends.

use super::{Error, PROTOCOL_LEVEL, kind, varint};

/// A PINGREQ: the client is alive while it has nothing else to send.
pub const PINGREQ: [u8; 2] = [kind::PINGREQ << 4, 0];
/// A DISCONNECT with reason 0 (normal): the broker drops the will message.
pub const DISCONNECT: [u8; 2] = [kind::DISCONNECT << 4, 0];

/// The largest [`encode_publish_head`] beyond its topic's length: the first byte, four
/// length bytes, the topic's two length bytes, a packet identifier and an empty property
/// length.
pub const PUBLISH_HEAD_OVERHEAD: usize = 1 + 4 + 2 + 2 + 1;

/// The message a broker publishes for a client whose connection ends without a
/// DISCONNECT (its last will).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Will<'a> {
    /// Where it is published.
    pub topic: &'a str,
    /// What.
    pub payload: &'a [u8],
    /// Whether the broker keeps it for later subscribers.
    pub retain: bool,
    /// Its QoS, 0 to 2.
    pub qos: u8,
}

/// A CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    /// The client identifier; a broker may refuse an empty one when `clean_start` is off.
    pub client_id: &'a str,
    /// Start a new session (true) or resume the one the broker kept for this client id.
    pub clean_start: bool,
    /// Seconds of silence after which the broker takes the client for dead; 0 = never.
    pub keep_alive_s: u16,
    /// Seconds the broker keeps the session after the connection ends; 0 = none (the
    /// session ends with the connection).
    pub session_expiry_s: u32,
    /// How many QoS 1 and 2 PUBLISHes the broker may send before they are acknowledged;
    /// `None` = the protocol's default, 65,535. Never 0.
    pub receive_maximum: Option<u16>,
    /// User name.
    pub username: Option<&'a str>,
    /// Password (binary data in MQTT 5).
    pub password: Option<&'a [u8]>,
    /// The last will.
    pub will: Option<Will<'a>>,
}

/// Writes bytes into a caller's buffer.
struct Out<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Out<'_> {
    fn byte(&mut self, b: u8) -> Result<(), Error> {
        *self.buf.get_mut(self.at).ok_or(Error::Buffer)? = b;
        self.at += 1;
        Ok(())
    }

    fn bytes(&mut self, b: &[u8]) -> Result<(), Error> {
        let end = self.at.checked_add(b.len()).ok_or(Error::Buffer)?;
        self.buf
            .get_mut(self.at..end)
            .ok_or(Error::Buffer)?
            .copy_from_slice(b);
        self.at = end;
        Ok(())
    }

    fn u16(&mut self, n: u16) -> Result<(), Error> {
        self.bytes(&n.to_be_bytes())
    }

    fn u32(&mut self, n: u32) -> Result<(), Error> {
        self.bytes(&n.to_be_bytes())
    }

    fn varint(&mut self, n: usize) -> Result<(), Error> {
        self.at = varint::put(n, self.buf, self.at)?;
        Ok(())
    }

    /// Binary data: a two-byte length, then the bytes.
    fn binary(&mut self, b: &[u8]) -> Result<(), Error> {
        self.u16(u16::try_from(b.len()).map_err(|_| Error::TooLarge)?)?;
        self.bytes(b)
    }

    /// A UTF-8 string; U+0000 is not allowed in one (section 1.5.4).
    fn string(&mut self, s: &str) -> Result<(), Error> {
        if s.as_bytes().contains(&0) {
            return Err(Error::Malformed);
        }
        self.binary(s.as_bytes())
    }

    /// The fixed header of a packet whose remaining part is `remaining` bytes.
    fn fixed(&mut self, first: u8, remaining: usize) -> Result<(), Error> {
        self.byte(first)?;
        self.varint(remaining)
    }
}

/// Bytes of a string or binary field.
fn field(s: &[u8]) -> usize {
    2 + s.len()
}

/// Writes a CONNECT; its length.
pub fn encode_connect(c: &Connect<'_>, out: &mut [u8]) -> Result<usize, Error> {
    if c.receive_maximum == Some(0) {
        return Err(Error::Malformed);
    }
    let props = if c.session_expiry_s > 0 { 5 } else { 0 } + c.receive_maximum.map_or(0, |_| 3);
    let will_len = c
        .will
        .map_or(0, |w| 1 + field(w.topic.as_bytes()) + field(w.payload));
    let remaining = field(b"MQTT")
        + 1
        + 1
        + 2
        + varint::len(props)
        + props
        + field(c.client_id.as_bytes())
        + will_len
        + c.username.map_or(0, |u| field(u.as_bytes()))
        + c.password.map_or(0, field);
    let mut flags = 0u8;
    if c.username.is_some() {
        flags |= 0x80;
    }
    if c.password.is_some() {
        flags |= 0x40;
    }
    if let Some(w) = c.will {
        if w.qos > 2 {
            return Err(Error::Malformed);
        }
        flags |= 0x04 | (w.qos << 3) | if w.retain { 0x20 } else { 0 };
    }
    if c.clean_start {
        flags |= 0x02;
    }
    let mut o = Out { buf: out, at: 0 };
    o.fixed(kind::CONNECT << 4, remaining)?;
    o.string("MQTT")?;
    o.byte(PROTOCOL_LEVEL)?;
    o.byte(flags)?;
    o.u16(c.keep_alive_s)?;
    o.varint(props)?;
    if c.session_expiry_s > 0 {
        o.byte(0x11)?;
        o.u32(c.session_expiry_s)?;
    }
    if let Some(r) = c.receive_maximum {
        o.byte(0x21)?;
        o.u16(r)?;
    }
    o.string(c.client_id)?;
    if let Some(w) = c.will {
        o.varint(0)?; // no will properties
        o.string(w.topic)?;
        o.binary(w.payload)?;
    }
    if let Some(u) = c.username {
        o.string(u)?;
    }
    if let Some(p) = c.password {
        o.binary(p)?;
    }
    Ok(o.at)
}

/// What precedes a PUBLISH's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishHead<'a> {
    /// The topic name (no wildcards).
    pub topic: &'a str,
    /// The packet identifier of a QoS 1 PUBLISH (never 0); `None` publishes at QoS 0.
    pub packet_id: Option<u16>,
    /// Whether the broker keeps it as the topic's retained message.
    pub retain: bool,
    /// Set when this is a resend of a PUBLISH the broker may have received already.
    pub dup: bool,
}

/// Writes the fixed header, topic, packet identifier and (empty) properties of a
/// PUBLISH whose `payload_len` bytes of payload follow it on the wire; its length. The
/// caller sends the payload from its own buffer, so a payload is never copied to be sent.
pub fn encode_publish_head(
    p: &PublishHead<'_>,
    payload_len: usize,
    out: &mut [u8],
) -> Result<usize, Error> {
    if p.packet_id == Some(0) || p.topic.contains(['+', '#']) || p.topic.is_empty() {
        return Err(Error::Malformed);
    }
    let id_len = if p.packet_id.is_some() { 2 } else { 0 };
    let remaining = field(p.topic.as_bytes())
        .checked_add(id_len + 1)
        .and_then(|n| n.checked_add(payload_len))
        .ok_or(Error::TooLarge)?;
    let qos = if p.packet_id.is_some() { 1 } else { 0 };
    let first = (kind::PUBLISH << 4) | (u8::from(p.dup) << 3) | (qos << 1) | u8::from(p.retain);
    let mut o = Out { buf: out, at: 0 };
    o.fixed(first, remaining)?;
    o.string(p.topic)?;
    if let Some(id) = p.packet_id {
        o.u16(id)?;
    }
    o.varint(0)?;
    Ok(o.at)
}

/// A PUBACK with reason 0 (success), in its short form (no reason code, no properties).
pub fn encode_puback(packet_id: u16) -> [u8; 4] {
    let [hi, lo] = packet_id.to_be_bytes();
    [kind::PUBACK << 4, 2, hi, lo]
}

/// Writes a SUBSCRIBE of `filters`, each with the highest QoS wanted (0 to 2); its length.
/// The options are otherwise the defaults (No Local and Retain As Published off, retained
/// messages sent at subscribe), which a shared subscription (`$share/GROUP/FILTER`)
/// requires.
pub fn encode_subscribe(
    packet_id: u16,
    filters: &[(&str, u8)],
    out: &mut [u8],
) -> Result<usize, Error> {
    if packet_id == 0 || filters.is_empty() {
        return Err(Error::Malformed);
    }
    let mut remaining = 2 + 1;
    for (f, qos) in filters {
        if *qos > 2 || f.is_empty() {
            return Err(Error::Malformed);
        }
        remaining += field(f.as_bytes()) + 1;
    }
    let mut o = Out { buf: out, at: 0 };
    o.fixed((kind::SUBSCRIBE << 4) | 0x02, remaining)?;
    o.u16(packet_id)?;
    o.varint(0)?;
    for (f, qos) in filters {
        o.string(f)?;
        o.byte(*qos)?;
    }
    Ok(o.at)
}
