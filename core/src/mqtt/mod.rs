//! TEMPORARY STUB of the lead's MQTT 5 codec (API of /work/helper-common13.md), so the
//! host side can be built and tried against Mosquitto before the real one lands on main.
//! Reverted before `git merge main`.
#![allow(missing_docs)]

pub struct Will<'a> { pub topic: &'a str, pub payload: &'a [u8], pub retain: bool, pub qos: u8 }
pub struct Connect<'a> { pub client_id: &'a str, pub clean_start: bool, pub keep_alive_s: u16,
    pub session_expiry_s: u32, pub receive_maximum: Option<u16>, pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>, pub will: Option<Will<'a>> }
pub struct PublishHead<'a> { pub topic: &'a str, pub packet_id: Option<u16>, pub retain: bool, pub dup: bool }

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error { Buffer, TooLarge, Malformed }
impl Error { pub fn as_str(&self) -> &'static str { match self { Error::Buffer => "buffer too small", Error::TooLarge => "packet too large", Error::Malformed => "malformed packet" } } }
impl core::fmt::Display for Error { fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result { f.write_str(self.as_str()) } }

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    ConnAck { session_present: bool, reason: u8, receive_maximum: Option<u16>, maximum_packet_size: Option<u32>, maximum_qos: Option<u8> },
    Publish { topic: &'a str, packet_id: Option<u16>, qos: u8, retain: bool, dup: bool, payload: &'a [u8] },
    PubAck { packet_id: u16, reason: u8 },
    SubAck { packet_id: u16, reasons: &'a [u8] },
    PingResp,
    Disconnect { reason: u8 },
    Other { kind: u8 },
}

pub const PUBLISH_HEAD_OVERHEAD: usize = 1 + 4 + 2 + 2 + 1;
pub const PINGREQ: [u8; 2] = [0xc0, 0];
pub const DISCONNECT: [u8; 2] = [0xe0, 0];

struct W<'a> { out: &'a mut [u8], n: usize }
impl W<'_> {
    fn b(&mut self, b: &[u8]) -> Result<(), Error> {
        let d = self.out.get_mut(self.n..self.n + b.len()).ok_or(Error::Buffer)?;
        d.copy_from_slice(b); self.n += b.len(); Ok(())
    }
    fn u16(&mut self, v: u16) -> Result<(), Error> { self.b(&v.to_be_bytes()) }
    fn s(&mut self, s: &[u8]) -> Result<(), Error> { self.u16(u16::try_from(s.len()).map_err(|_| Error::TooLarge)?)?; self.b(s) }
    fn var(&mut self, mut v: usize) -> Result<(), Error> {
        if v > 268_435_455 { return Err(Error::TooLarge) }
        loop { let mut byte = (v % 128) as u8; v /= 128; if v > 0 { byte |= 0x80 } self.b(&[byte])?; if v == 0 { return Ok(()) } }
    }
}
fn varlen(v: usize) -> usize { match v { 0..=127 => 1, 128..=16383 => 2, 16384..=2_097_151 => 3, _ => 4 } }

pub fn encode_connect(c: &Connect<'_>, out: &mut [u8]) -> Result<usize, Error> {
    let mut props = [0u8; 16]; let mut p = W { out: &mut props, n: 0 };
    if c.session_expiry_s > 0 { p.b(&[0x11])?; p.b(&c.session_expiry_s.to_be_bytes())?; }
    if let Some(r) = c.receive_maximum { p.b(&[0x21])?; p.u16(r)?; }
    let plen = p.n;
    let mut body = 10 + varlen(plen) + plen + 2 + c.client_id.len();
    if let Some(w) = &c.will { body += 1 + 2 + w.topic.len() + 2 + w.payload.len(); }
    if let Some(u) = c.username { body += 2 + u.len(); }
    if let Some(pw) = c.password { body += 2 + pw.len(); }
    let mut w = W { out, n: 0 };
    w.b(&[0x10])?; w.var(body)?;
    w.s(b"MQTT")?; w.b(&[5])?;
    let mut flags = 0u8;
    if c.clean_start { flags |= 0x02 }
    if let Some(wl) = &c.will { flags |= 0x04 | (wl.qos & 3) << 3; if wl.retain { flags |= 0x20 } }
    if c.password.is_some() { flags |= 0x40 }
    if c.username.is_some() { flags |= 0x80 }
    w.b(&[flags])?; w.u16(c.keep_alive_s)?;
    w.var(plen)?; w.b(&props[..plen])?;
    w.s(c.client_id.as_bytes())?;
    if let Some(wl) = &c.will { w.b(&[0])?; w.s(wl.topic.as_bytes())?; w.s(wl.payload)?; }
    if let Some(u) = c.username { w.s(u.as_bytes())?; }
    if let Some(pw) = c.password { w.s(pw)?; }
    Ok(w.n)
}

pub fn encode_publish_head(p: &PublishHead<'_>, payload_len: usize, out: &mut [u8]) -> Result<usize, Error> {
    let mut first = 0x30u8;
    if p.packet_id.is_some() { first |= 0x02 }
    if p.dup { first |= 0x08 }
    if p.retain { first |= 0x01 }
    let rem = 2 + p.topic.len() + if p.packet_id.is_some() { 2 } else { 0 } + 1 + payload_len;
    let mut w = W { out, n: 0 };
    w.b(&[first])?; w.var(rem)?; w.s(p.topic.as_bytes())?;
    if let Some(id) = p.packet_id { w.u16(id)?; }
    w.b(&[0])?;
    Ok(w.n)
}

pub fn encode_puback(packet_id: u16) -> [u8; 4] { let b = packet_id.to_be_bytes(); [0x40, 2, b[0], b[1]] }

pub fn encode_subscribe(packet_id: u16, filters: &[(&str, u8)], out: &mut [u8]) -> Result<usize, Error> {
    let rem = 2 + 1 + filters.iter().map(|(f, _)| 2 + f.len() + 1).sum::<usize>();
    let mut w = W { out, n: 0 };
    w.b(&[0x82])?; w.var(rem)?; w.u16(packet_id)?; w.b(&[0])?;
    for (f, q) in filters { w.s(f.as_bytes())?; w.b(&[*q & 3])?; }
    Ok(w.n)
}

struct R<'a> { b: &'a [u8], at: usize }
impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> { let s = self.b.get(self.at..self.at + n).ok_or(Error::Malformed)?; self.at += n; Ok(s) }
    fn u8(&mut self) -> Result<u8, Error> { Ok(self.take(1)?[0]) }
    fn u16(&mut self) -> Result<u16, Error> { let s = self.take(2)?; Ok(u16::from_be_bytes([s[0], s[1]])) }
    fn u32(&mut self) -> Result<u32, Error> { let s = self.take(4)?; Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]])) }
    fn var(&mut self) -> Result<usize, Error> { let mut v = 0usize; for i in 0..4 { let b = self.u8()?; v |= ((b & 0x7f) as usize) << (7 * i); if b & 0x80 == 0 { return Ok(v) } } Err(Error::Malformed) }
    fn s(&mut self) -> Result<&'a [u8], Error> { let n = self.u16()? as usize; self.take(n) }
    fn rest(&mut self) -> &'a [u8] { let s = self.b.get(self.at..).unwrap_or(&[]); self.at = self.b.len(); s }
}

#[derive(Default)]
struct Props { receive_maximum: Option<u16>, maximum_packet_size: Option<u32>, maximum_qos: Option<u8> }
fn props(r: &mut R<'_>) -> Result<Props, Error> {
    let len = r.var()?; let mut p = R { b: r.take(len)?, at: 0 }; let mut out = Props::default();
    while p.at < p.b.len() {
        match p.var()? {
            0x01 | 0x17 | 0x19 | 0x25 | 0x28 | 0x29 | 0x2a => { p.u8()?; }
            0x24 => out.maximum_qos = Some(p.u8()?),
            0x13 | 0x22 | 0x23 => { p.u16()?; }
            0x21 => out.receive_maximum = Some(p.u16()?),
            0x02 | 0x11 | 0x18 => { p.u32()?; }
            0x27 => out.maximum_packet_size = Some(p.u32()?),
            0x0b => { p.var()?; }
            0x03 | 0x08 | 0x12 | 0x15 | 0x1a | 0x1c | 0x1f | 0x09 | 0x16 => { p.s()?; }
            0x26 => { p.s()?; p.s()?; }
            _ => return Err(Error::Malformed),
        }
    }
    Ok(out)
}

pub fn parse(buf: &[u8], max_len: usize) -> Result<Option<(Packet<'_>, usize)>, Error> {
    let Some(&first) = buf.first() else { return Ok(None) };
    let mut rem = 0usize; let mut i = 1;
    loop {
        let Some(&b) = buf.get(i) else { return Ok(None) };
        rem |= ((b & 0x7f) as usize) << (7 * (i - 1)); i += 1;
        if b & 0x80 == 0 { break } if i > 4 { return Err(Error::Malformed) }
    }
    if i + rem > max_len { return Err(Error::TooLarge) }
    let Some(body) = buf.get(i..i + rem) else { return Ok(None) };
    let mut r = R { b: body, at: 0 };
    let p = match first >> 4 {
        2 => { let f = r.u8()?; let reason = r.u8()?; let p = if r.at < body.len() { props(&mut r)? } else { Props::default() };
               Packet::ConnAck { session_present: f & 1 != 0, reason, receive_maximum: p.receive_maximum, maximum_packet_size: p.maximum_packet_size, maximum_qos: p.maximum_qos } }
        3 => { let qos = (first >> 1) & 3; if qos == 3 { return Err(Error::Malformed) }
               let topic = core::str::from_utf8(r.s()?).map_err(|_| Error::Malformed)?;
               let packet_id = if qos > 0 { Some(r.u16()?) } else { None };
               props(&mut r)?;
               Packet::Publish { topic, packet_id, qos, retain: first & 1 != 0, dup: first & 8 != 0, payload: r.rest() } }
        4 => { let packet_id = r.u16()?; let reason = if r.at < body.len() { r.u8()? } else { 0 }; Packet::PubAck { packet_id, reason } }
        9 => { let packet_id = r.u16()?; props(&mut r)?; Packet::SubAck { packet_id, reasons: r.rest() } }
        13 => Packet::PingResp,
        14 => Packet::Disconnect { reason: if rem > 0 { r.u8()? } else { 0 } },
        k => Packet::Other { kind: k },
    };
    Ok(Some((p, i + rem)))
}

pub fn reason_text(code: u8) -> &'static str {
    match code {
        0x00 => "success", 0x80 => "unspecified error", 0x81 => "malformed packet", 0x82 => "protocol error",
        0x84 => "unsupported protocol version", 0x85 => "client identifier not valid",
        0x86 => "bad user name or password", 0x87 => "not authorized", 0x88 => "server unavailable",
        0x89 => "server busy", 0x8e => "session taken over", 0x8f => "topic filter invalid",
        0x97 => "quota exceeded", 0x9e => "shared subscriptions not supported", _ => "error",
    }
}
