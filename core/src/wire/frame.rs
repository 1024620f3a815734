//! Frames: a postcard payload, its CRC-32, COBS-stuffed, ended by 0x00.
//!
//! ```text
//! on the wire:  COBS( payload ‖ crc32(payload) as 4 bytes little-endian ) ‖ 0x00
//! ```
//!
//! The encoder stuffs bytes as postcard produces them, so it needs no scratch buffer: only
//! the caller's output buffer, of at most [`MAX_FRAME_LEN`] bytes.

use postcard::{de_flavors, ser_flavors};
use serde::Deserialize;

use super::cobs::{self, DELIMITER, Encoder};
use super::crc::Crc32;
use super::message::{
    AGENT_VERSION_CAP, BOARD_ID_CAP, KERNEL_RELEASE_CAP, MAGIC, Message, POSSIBLE_CPUS_CAP,
    StreamHeader,
};
use super::record::{COMM_CAP, MAX_SLOTS, Record, Values};
use super::sample::{Interval, Sample};
use super::schema::WIRE_VERSION;
use crate::{Error, Result};

/// Bytes of CRC after the payload.
pub const CRC_LEN: usize = 4;

/// Length of the varint encoding of `v`.
const fn varint_len(mut v: u128) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

const U16_MAX_LEN: usize = varint_len(u16::MAX as u128);
const U32_MAX_LEN: usize = varint_len(u32::MAX as u128);
const U64_MAX_LEN: usize = varint_len(u64::MAX as u128);
/// One byte: every enum here has fewer than 128 variants, and `Option`/`bool` are one byte.
const TAG_LEN: usize = 1;

const fn str_max(cap: usize) -> usize {
    varint_len(cap as u128) + cap
}

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// The longest [`super::Values`] (of a record or a sample: a reader accepts up to
/// [`MAX_SLOTS`] slots in either): for `a` absent slots out of [`MAX_SLOTS`], the mask's
/// highest bit sits just below the last (present) slot.
const VALUES_MAX_LEN: usize = {
    let mut best = 0;
    let mut absent = 0;
    while absent < MAX_SLOTS {
        let present = MAX_SLOTS - absent;
        let mask_len = if absent == 0 {
            1
        } else {
            varint_len(1u128 << (MAX_SLOTS - 2))
        };
        let len = mask_len + varint_len(present as u128) + present * U64_MAX_LEN;
        best = max(best, len);
        absent += 1;
    }
    best
};

const HEADER_MAX_LEN: usize = MAGIC.len()
    + U16_MAX_LEN
    + U32_MAX_LEN
    + str_max(AGENT_VERSION_CAP)
    + str_max(BOARD_ID_CAP)
    + str_max(KERNEL_RELEASE_CAP)
    + U16_MAX_LEN
    + 2 * TAG_LEN
    + str_max(POSSIBLE_CPUS_CAP)
    + U64_MAX_LEN;

const RECORD_MAX_LEN: usize =
    U64_MAX_LEN + TAG_LEN + U32_MAX_LEN + TAG_LEN + TAG_LEN + str_max(COMM_CAP) + VALUES_MAX_LEN;

const LOSS_MAX_LEN: usize = U64_MAX_LEN + TAG_LEN + U64_MAX_LEN;

const HEARTBEAT_MAX_LEN: usize = 3 * U64_MAX_LEN + U32_MAX_LEN;

/// seq, sample, uptime_ms; interval_ms, tasks_total, rows; delay_accounting; 8 averages.
const INTERVAL_MAX_LEN: usize =
    3 * U64_MAX_LEN + 3 * U32_MAX_LEN + 2 * TAG_LEN + 8 * (TAG_LEN + U16_MAX_LEN);

/// seq, sample, interval_ms, tgid, comm, values.
const SAMPLE_MAX_LEN: usize =
    2 * U64_MAX_LEN + 2 * U32_MAX_LEN + TAG_LEN + str_max(COMM_CAP) + VALUES_MAX_LEN;

/// The longest payload of any [`Message`], in bytes (postcard, before CRC and COBS): a
/// sample with [`MAX_SLOTS`] ten-byte slots, the widest a reader accepts.
pub const MAX_PAYLOAD_LEN: usize = TAG_LEN
    + max(
        max(
            max(HEADER_MAX_LEN, RECORD_MAX_LEN),
            max(LOSS_MAX_LEN, HEARTBEAT_MAX_LEN),
        ),
        max(INTERVAL_MAX_LEN, SAMPLE_MAX_LEN),
    );

/// The longest payload of an [`super::Interval`].
pub const MAX_INTERVAL_PAYLOAD_LEN: usize = TAG_LEN + INTERVAL_MAX_LEN;

/// The longest payload of a [`super::Sample`] that an agent of this build sends: every
/// slot of [`super::SAMPLE_SLOTS`] present at ten bytes. An encode buffer this size holds
/// any sample made by [`super::Sample::new`].
pub const MAX_SAMPLE_PAYLOAD_LEN: usize = TAG_LEN
    + 2 * U64_MAX_LEN
    + 2 * U32_MAX_LEN
    + TAG_LEN
    + str_max(COMM_CAP)
    + 1
    + varint_len(super::SAMPLE_SLOTS.len() as u128)
    + super::SAMPLE_SLOTS.len() * U64_MAX_LEN;

/// The longest frame on the wire, in bytes: stuffed payload and CRC, plus the delimiter.
pub const MAX_FRAME_LEN: usize = cobs::max_encoded_len(MAX_PAYLOAD_LEN + CRC_LEN) + 1;

/// Feeds postcard's output through the CRC and the COBS encoder.
struct FrameFlavor<'a> {
    cobs: Encoder<'a>,
    crc: Crc32,
}

impl FrameFlavor<'_> {
    #[inline(always)]
    fn put(&mut self, byte: u8) -> postcard::Result<()> {
        // The stuffer's only failure is running out of room.
        self.cobs
            .push(byte)
            .map_err(|_| postcard::Error::SerializeBufferFull)
    }
}

impl ser_flavors::Flavor for FrameFlavor<'_> {
    type Output = usize;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.crc = self.crc.push(byte);
        self.put(byte)
    }

    // postcard hands over every varint as a slice: one call for it, not one per byte.
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.crc = self.crc.update(data);
        data.iter().try_for_each(|&b| self.put(b))
    }

    fn finalize(mut self) -> postcard::Result<usize> {
        for b in self.crc.finish().to_le_bytes() {
            self.put(b)?;
        }
        let (out, n) = self.cobs.finish_into();
        *out.get_mut(n).ok_or(postcard::Error::SerializeBufferFull)? = DELIMITER;
        Ok(n + 1)
    }
}

/// Encodes `msg` as one frame into `buf` (stuffed payload and CRC, then the 0x00
/// delimiter); returns the frame's length.
///
/// [`Error::BufferTooSmall`] when `buf` is too short; [`MAX_FRAME_LEN`] bytes always do.
/// A stream must begin with one extra 0x00 ([`DELIMITER`]) before its first frame.
pub fn encode_frame(msg: &Message, buf: &mut [u8]) -> Result<usize> {
    // The payload first, written by hand like the one-variant payload encoders (the
    // same bytes as postcard's: core tests compare them), then framed: a board that
    // encodes links no serde serializer at all.
    let mut p = [0u8; MAX_PAYLOAD_LEN];
    let n = match msg {
        Message::Header(h) => header_payload(h, &mut p),
        Message::Record(r) => encode_record_payload(r, &mut p),
        // All integers (a loss's reason is its variant number): written by hand too.
        Message::Loss(l) => varints(2, [l.count, l.reason as u64, l.next_seq], &mut p),
        Message::Heartbeat(h) => varints(
            3,
            [h.uptime_ms, h.records_sent, h.drops, h.queue_depth.into()],
            &mut p,
        ),
        Message::Interval(i) => encode_interval_payload(i, &mut p),
        Message::Sample(s) => encode_sample_payload(s, &mut p),
    }?;
    payload_frame(p.get(..n).unwrap_or(&p), buf)
}

/// The payload of `Message::Header(h.clone())`, as postcard writes it: the magic as four
/// bytes (an array is a tuple: no length), integers as varints, each string as its length
/// (a varint) then its bytes, `delay_accounting` as an `Option<bool>`.
fn header_payload(h: &StreamHeader, buf: &mut [u8]) -> Result<usize> {
    let mut out = Out { buf, n: 0 };
    out.byte(0);
    out.bytes(&h.magic);
    out.varint(h.wire_version.into());
    out.varint(h.schema_hash.into());
    for s in [&h.agent_version[..], &h.board_id, &h.kernel_release] {
        out.str(s);
    }
    out.varint(h.taskstats_version.into());
    out.option(h.delay_accounting.map(u64::from));
    out.str(&h.possible_cpus);
    out.varint(h.boot_time.into());
    out.varint(h.instance.into());
    out.len()
}

/// The payload of variant `tag` whose fields are the integers `fields`, in order.
fn varints<const N: usize>(tag: u8, fields: [u64; N], buf: &mut [u8]) -> Result<usize> {
    let mut out = Out { buf, n: 0 };
    out.byte(tag);
    for v in fields {
        out.varint(v.into());
    }
    out.len()
}

/// The frame of a bare payload.
pub(super) fn payload_frame(payload: &[u8], buf: &mut [u8]) -> Result<usize> {
    let mut flavor = FrameFlavor {
        cobs: Encoder::new(buf)?,
        crc: Crc32::new(),
    };
    ser_flavors::Flavor::try_extend(&mut flavor, payload).map_err(|_| Error::BufferTooSmall)?;
    ser_flavors::Flavor::finalize(flavor).map_err(|_| Error::BufferTooSmall)
}

/// postcard's tags of the numbered messages, whose first field is `seq`: [`Message::Record`],
/// [`Message::Interval`], [`Message::Sample`]. Each is its variant index, a one-byte varint.
const NUMBERED_TAGS: [u8; 3] = [1, 4, 5];

/// Frames a numbered payload (a record, an interval or a sample) that [`encode_payload`]
/// wrote with `seq` 0, numbered `seq`: the same bytes as [`encode_frame`] of that message
/// numbered `seq`, without decoding and re-encoding it. A sender can so encode each
/// message once, when it arrives, and number it when it goes out, cheaper per record than
/// decode + `encode_frame` (BENCHMARKS.md).
///
/// [`Error::Payload`] unless `payload` begins as a numbered message numbered 0 does (its
/// tag, then 0); the rest is framed as it is. [`Error::BufferTooSmall`] as for
/// [`encode_frame`].
pub fn encode_numbered_frame(payload: &[u8], seq: u64, buf: &mut [u8]) -> Result<usize> {
    let [tag, 0, rest @ ..] = payload else {
        return Err(Error::Payload);
    };
    if !NUMBERED_TAGS.contains(tag) {
        return Err(Error::Payload);
    }
    let mut varint = [0u8; U64_MAX_LEN];
    let mut n = 0;
    let mut v = seq;
    // LEB128, as postcard writes every integer wider than a byte.
    for slot in varint.iter_mut() {
        n += 1;
        if v < 0x80 {
            *slot = v as u8;
            break;
        }
        *slot = (v as u8) | 0x80;
        v >>= 7;
    }
    let mut flavor = FrameFlavor {
        cobs: Encoder::new(buf)?,
        crc: Crc32::new(),
    };
    let full = |_| Error::BufferTooSmall;
    ser_flavors::Flavor::try_push(&mut flavor, *tag).map_err(full)?;
    ser_flavors::Flavor::try_extend(&mut flavor, varint.get(..n).unwrap_or(&varint))
        .map_err(full)?;
    ser_flavors::Flavor::try_extend(&mut flavor, rest).map_err(full)?;
    ser_flavors::Flavor::finalize(flavor).map_err(full)
}

/// Encodes `msg` as a bare postcard payload (no CRC, no COBS); returns its length.
pub fn encode_payload(msg: &Message, buf: &mut [u8]) -> Result<usize> {
    postcard::to_slice(msg, buf)
        .map(|s| s.len())
        .map_err(payload_error)
}

fn payload_error(e: postcard::Error) -> Error {
    match e {
        postcard::Error::SerializeBufferFull => Error::BufferTooSmall,
        _ => Error::Payload,
    }
}

/// The payload of `Message::Interval(*interval)`, byte for byte as [`encode_payload`]
/// writes it; its length. Written by hand: every field is an integer, an `Option` of one
/// or an `Option<bool>`, which postcard writes as a varint, or a 0 (`None`) or a 1 then
/// the value (a `bool` is the byte 0 or 1, the varint of 0 or 1), in field order; serde's
/// derive spends about 1 KiB on the fifteen fields. A core test checks it against
/// [`encode_payload`].
pub fn encode_interval_payload(i: &Interval, buf: &mut [u8]) -> Result<usize> {
    let mut out = Out { buf, n: 0 };
    out.byte(4);
    for v in [i.seq, i.sample, i.uptime_ms] {
        out.varint(v.into());
    }
    for v in [i.interval_ms, i.tasks_total, i.rows] {
        out.varint(v.into());
    }
    out.option(i.delay_accounting.map(u64::from));
    for v in [
        i.cpu_some_avg10,
        i.cpu_full_avg10,
        i.memory_some_avg10,
        i.memory_full_avg10,
        i.io_some_avg10,
        i.io_full_avg10,
        i.irq_some_avg10,
        i.irq_full_avg10,
    ] {
        out.option(v.map(u64::from));
    }
    out.len()
}

/// The payload of `Message::Record(r.clone())`, byte for byte as [`encode_payload`]
/// writes it; its length. Written by hand as [`encode_sample_payload`] is (a record's
/// `kind` and `profile` are unit variants: postcard writes their numbers as varints), so
/// that the board links no serde serializer of a record. A core test checks it against
/// [`encode_payload`].
pub fn encode_record_payload(r: &Record, buf: &mut [u8]) -> Result<usize> {
    let mut out = Out { buf, n: 0 };
    out.byte(1);
    for v in [r.seq, r.kind as u64, r.id.into(), r.profile as u64] {
        out.varint(v.into());
    }
    out.comm_values(r.comm.as_deref(), &r.values);
    out.len()
}

/// The payload of `Message::Sample(sample.clone())`, byte for byte as [`encode_payload`]
/// writes it; its length. Written by hand as [`encode_interval_payload`] is, so that no
/// serde serializer of [`Sample`] is linked: the integers as varints; `comm` as an
/// `Option` (0, or 1 then the value) of a byte sequence, its length (a varint) then its
/// bytes; the values as their `absent` mask (a varint `u128`) then the present numbers as
/// a sequence (its length, then each number). A core test checks it against
/// [`encode_payload`].
pub fn encode_sample_payload(sample: &Sample, buf: &mut [u8]) -> Result<usize> {
    let mut out = Out { buf, n: 0 };
    out.byte(5);
    for v in [
        sample.seq.into(),
        sample.sample.into(),
        sample.interval_ms.into(),
        sample.tgid.into(),
    ] {
        out.varint(v);
    }
    out.comm_values(sample.comm.as_deref(), &sample.values);
    out.len()
}

/// A payload written by hand as postcard writes it: `n` bytes so far, of which those past
/// the end of `buf` were dropped (the payload is then refused, once, by [`Out::len`]: one
/// check instead of one per byte).
struct Out<'a> {
    buf: &'a mut [u8],
    n: usize,
}

impl Out<'_> {
    fn byte(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.n) {
            *slot = b;
        }
        self.n += 1;
    }

    /// LEB128, as postcard writes every integer wider than a byte (one function for
    /// every width: a `u128` is the widest, the absent mask of values). Never inlined: a
    /// copy of its loop at each of the encoders' dozen calls cost 336 bytes on aarch64.
    #[inline(never)]
    fn varint(&mut self, mut v: u128) {
        while v >= 0x80 {
            self.byte(v as u8 | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    /// A `str` or a byte sequence: its length (a varint `usize`), then its bytes.
    fn str(&mut self, s: impl AsRef<[u8]>) {
        let s = s.as_ref();
        self.varint(s.len() as u128);
        self.bytes(s);
    }

    /// A record's or a sample's last two fields: `comm`, an `Option` of a byte sequence,
    /// then the values: their `absent` mask (a varint `u128`), then the present numbers
    /// as a sequence (its length, then each number).
    fn comm_values(&mut self, comm: Option<&[u8]>, values: &Values) {
        match comm {
            None => self.byte(0),
            Some(c) => {
                self.byte(1);
                self.str(c);
            }
        }
        let (absent, present) = values.wire_parts();
        self.varint(absent);
        self.varint(present.len() as u128);
        for &v in present {
            self.varint(v.into());
        }
    }

    fn option(&mut self, v: Option<u64>) {
        match v {
            None => self.byte(0),
            Some(v) => {
                self.byte(1);
                self.varint(v.into());
            }
        }
    }

    /// The payload's length, or [`Error::BufferTooSmall`] if it did not fit.
    fn len(&self) -> Result<usize> {
        if self.n <= self.buf.len() {
            Ok(self.n)
        } else {
            Err(Error::BufferTooSmall)
        }
    }
}

/// Reads a payload as if zero bytes followed it.
///
/// This is what lets fields be appended: a field a sender did not know yet is missing from
/// the end of its payload, and zero bytes decode as `None`, 0, `false` or empty. Bytes past
/// what this build knows are ignored, which lets an older reader read a newer payload.
struct ZeroPadded<'de> {
    data: &'de [u8],
    pos: usize,
}

impl<'de> de_flavors::Flavor<'de> for ZeroPadded<'de> {
    type Remainder = ();
    type Source = &'de [u8];

    fn pop(&mut self) -> postcard::Result<u8> {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        Ok(b)
    }

    fn try_take_n(&mut self, ct: usize) -> postcard::Result<&'de [u8]> {
        if ct == 0 {
            return Ok(&[]);
        }
        let end = self
            .pos
            .checked_add(ct)
            .ok_or(postcard::Error::DeserializeUnexpectedEnd)?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(postcard::Error::DeserializeUnexpectedEnd)?;
        self.pos = end;
        Ok(s)
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// The fields of [`super::StreamHeader`] that every wire version keeps.
#[derive(Deserialize)]
struct HeaderPrefix {
    magic: [u8; 4],
    wire_version: u16,
}

/// Decodes a bare payload (CRC already checked and removed).
///
/// [`Error::Unsupported`] for a header of a newer wire version, [`Error::Payload`] for
/// anything that does not decode or a header without [`MAGIC`].
pub fn decode_payload(payload: &[u8]) -> Result<Message> {
    // Variant 0 is the header in every version: check its version before trusting the rest.
    // The tag is a varint, and postcard accepts overlong ones: decode it, never peek.
    let (tag, rest) = postcard::take_from_bytes::<u32>(payload).map_err(|_| Error::Payload)?;
    if tag == 0 {
        let prefix: HeaderPrefix = postcard::from_bytes(rest).map_err(|_| Error::Payload)?;
        if prefix.magic != MAGIC {
            return Err(Error::Payload);
        }
        if prefix.wire_version > WIRE_VERSION {
            return Err(Error::Unsupported {
                version: prefix.wire_version,
            });
        }
    }
    let mut de = postcard::Deserializer::from_flavor(ZeroPadded {
        data: payload,
        pos: 0,
    });
    let msg = Message::deserialize(&mut de).map_err(|_| Error::Payload)?;
    if let Message::Header(h) = &msg {
        // Checked above already; kept so that no path hands out a header it cannot read.
        if h.magic != MAGIC {
            return Err(Error::Payload);
        }
        if h.wire_version > WIRE_VERSION {
            return Err(Error::Unsupported {
                version: h.wire_version,
            });
        }
    }
    Ok(msg)
}

/// Checks and decodes one frame's unstuffed bytes (payload then CRC).
pub(crate) fn decode_unstuffed(bytes: &[u8]) -> Result<Message> {
    let split = bytes.len().checked_sub(CRC_LEN).ok_or(Error::Checksum)?;
    let (payload, crc) = bytes.split_at(split);
    let mut expected = [0u8; CRC_LEN];
    expected.copy_from_slice(crc);
    if Crc32::new().update(payload).finish() != u32::from_le_bytes(expected) {
        return Err(Error::Checksum);
    }
    decode_payload(payload)
}

/// Decodes one whole frame (with or without its trailing delimiter), unstuffing into
/// `scratch`, which needs as many bytes as the frame.
pub fn decode_frame(frame: &[u8], scratch: &mut [u8]) -> Result<Message> {
    let frame = frame.strip_suffix(&[DELIMITER]).unwrap_or(frame);
    let n = cobs::decode(frame, scratch)?;
    decode_unstuffed(scratch.get(..n).ok_or(Error::BufferTooSmall)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{self, frame};
    use crate::wire::*;
    use heapless::String;
    use proptest::prelude::*;
    use serde::Serialize;

    fn full_string<const N: usize>(c: char) -> String<N> {
        let mut s = String::new();
        while s.push(c).is_ok() {}
        s
    }

    /// The longest record: every slot's number needs ten bytes, and one absent slot puts
    /// the absent mask's high bit as far up as a canonical mask allows.
    fn largest_record() -> Message {
        let mut values = Values::new();
        for slot in 0..MAX_SLOTS {
            values
                .push((slot != MAX_SLOTS - 2).then_some(u64::MAX))
                .unwrap();
        }
        Message::Record(Record {
            seq: u64::MAX,
            kind: Kind::Tgid,
            id: u32::MAX,
            profile: Profile::Delays,
            comm: Some(Comm::from_slice(&[0xFF; COMM_CAP]).unwrap()),
            values,
        })
    }

    fn largest_header() -> Message {
        Message::Header(StreamHeader {
            schema_hash: u32::MAX,
            agent_version: full_string('v'),
            board_id: full_string('b'),
            kernel_release: full_string('k'),
            taskstats_version: u16::MAX,
            delay_accounting: Some(true),
            possible_cpus: full_string('9'),
            boot_time: u64::MAX,
            instance: u64::MAX,
            wire_version: WIRE_VERSION,
            ..StreamHeader::new()
        })
    }

    /// The longest sample a reader accepts: as [`largest_record`]'s values, every other
    /// field at its longest.
    fn largest_sample() -> Message {
        let Message::Record(r) = largest_record() else {
            unreachable!()
        };
        Message::Sample(Sample {
            seq: u64::MAX,
            sample: u64::MAX,
            interval_ms: u32::MAX,
            tgid: u32::MAX,
            comm: r.comm,
            values: r.values,
        })
    }

    /// The longest interval: every number at its type's maximum, every Option Some.
    fn largest_interval() -> Message {
        let mut i = Interval::new(u64::MAX, u32::MAX);
        i.seq = u64::MAX;
        i.uptime_ms = u64::MAX;
        i.tasks_total = u32::MAX;
        i.rows = u32::MAX;
        i.delay_accounting = Some(true);
        for r in PsiResource::ALL {
            let full = crate::psi::Stall {
                avg10: u16::MAX,
                ..Default::default()
            };
            let p = crate::psi::Pressure {
                some: Some(full),
                full: Some(full),
            };
            i.set_pressure(r, Some(&p));
        }
        Message::Interval(i)
    }

    #[test]
    fn max_lengths_match_the_largest_message() {
        let big = largest_sample();
        assert_eq!(testutil::to_vec(&big).len(), MAX_PAYLOAD_LEN);
        // core/WIRE.md section 1, "Sizes", states these.
        assert_eq!((MAX_PAYLOAD_LEN, MAX_FRAME_LEN), (1355, 1366));
        assert_eq!(
            testutil::to_vec(&largest_interval()).len(),
            MAX_INTERVAL_PAYLOAD_LEN
        );
        assert_eq!(MAX_INTERVAL_PAYLOAD_LEN, 80);
        // The longest sample an agent makes: every slot it knows at ten bytes.
        let mut every = crate::taskstats::Deltas::empty(u64::MAX);
        every.cpu_us = Some(u64::MAX);
        every.read_bytes = Some(u64::MAX);
        every.write_bytes = Some(u64::MAX);
        every.delays = [Some(crate::taskstats::DelayCounter {
            count: u64::MAX,
            total_ns: u64::MAX,
        }); 8];
        let mut s = Sample::new(u64::MAX, u32::MAX, Some(&[0xFF; COMM_CAP]), &every);
        s.seq = u64::MAX;
        assert_eq!(
            testutil::to_vec(&Message::Sample(s)).len(),
            MAX_SAMPLE_PAYLOAD_LEN
        );
        assert_eq!(MAX_SAMPLE_PAYLOAD_LEN, 257);
        let record = largest_record();
        assert_eq!(testutil::to_vec(&record).len(), MAX_PAYLOAD_LEN - 13);
        // Other shapes of the values part are not longer.
        let mut values = Values::new();
        for _ in 0..MAX_SLOTS {
            values.push(Some(u64::MAX)).unwrap();
        }
        let Message::Sample(mut r) = big.clone() else {
            unreachable!()
        };
        r.values = values;
        assert!(testutil::to_vec(&Message::Sample(r)).len() <= MAX_PAYLOAD_LEN);
        assert!(testutil::to_vec(&largest_header()).len() <= MAX_PAYLOAD_LEN);

        // The largest payload has no zero byte, so COBS adds its most.
        let f = frame(&big);
        assert_eq!(f.len(), MAX_FRAME_LEN);
        let mut exact = vec![0u8; MAX_FRAME_LEN];
        assert_eq!(encode_frame(&big, &mut exact), Ok(MAX_FRAME_LEN));
    }

    #[test]
    fn every_short_buffer_is_refused() {
        for msg in [
            testutil::small_record(3),
            largest_header(),
            testutil::small_sample(4, 1, 812),
            largest_interval(),
        ] {
            let full = frame(&msg);
            for len in 0..full.len() {
                let mut buf = vec![0u8; len];
                assert_eq!(
                    encode_frame(&msg, &mut buf),
                    Err(Error::BufferTooSmall),
                    "{len}"
                );
                if len < testutil::to_vec(&msg).len() {
                    assert_eq!(encode_payload(&msg, &mut buf), Err(Error::BufferTooSmall));
                }
            }
        }
    }

    #[test]
    fn frame_layout() {
        let msg = Message::Heartbeat(Heartbeat {
            uptime_ms: 1,
            records_sent: 2,
            drops: 0,
            queue_depth: 3,
        });
        let payload = testutil::to_vec(&msg);
        assert_eq!(payload, [3, 1, 2, 0, 3]);
        let mut raw = payload.clone();
        raw.extend_from_slice(&crc32(&payload).to_le_bytes());
        let mut stuffed = vec![0u8; max_encoded_len(raw.len())];
        let n = cobs_encode(&raw, &mut stuffed).unwrap();
        stuffed.truncate(n);
        stuffed.push(0);
        assert_eq!(frame(&msg), stuffed);
        let mut scratch = [0u8; 64];
        assert_eq!(decode_frame(&stuffed, &mut scratch), Ok(msg));
    }

    #[test]
    fn bad_frames() {
        let mut f = frame(&testutil::small_record(1));
        let mut scratch = [0u8; MAX_FRAME_LEN];
        let mid = f.len() / 2;
        f[mid] ^= 0x40;
        if f[mid] != 0 {
            assert!(matches!(
                decode_frame(&f, &mut scratch),
                Err(Error::Checksum | Error::Cobs)
            ));
        }
        assert_eq!(
            decode_frame(&[0x02, 0x01, 0x00], &mut scratch),
            Err(Error::Checksum)
        );
        assert_eq!(decode_frame(&[0x05, 1, 2], &mut scratch), Err(Error::Cobs));
    }

    #[test]
    fn newer_wire_version_refused() {
        let mut h = StreamHeader::new();
        h.wire_version = WIRE_VERSION + 1;
        let payload = testutil::to_vec(&Message::Header(h));
        let newer_err = Error::Unsupported {
            version: WIRE_VERSION + 1,
        };
        assert_eq!(decode_payload(&payload), Err(newer_err));
        // Refused from the fixed prefix alone, whatever a newer header carries after it.
        let mut newer = payload[..1 + 4 + 1].to_vec();
        newer.extend_from_slice(&[0xFF; 10]);
        assert_eq!(decode_payload(&newer), Err(newer_err));
        // An overlong varint tag is still the header's (found by the record_decode fuzzer).
        let mut overlong = vec![0x80, 0x00];
        overlong.extend_from_slice(&payload[1..]);
        assert_eq!(decode_payload(&overlong), Err(newer_err));
        // This version and older ones are read.
        let current = testutil::to_vec(&Message::Header(StreamHeader::new()));
        assert!(decode_payload(&current).is_ok());
    }

    fn heartbeat(uptime_ms: u64, records_sent: u64, drops: u64, queue_depth: u32) -> Message {
        Message::Heartbeat(Heartbeat {
            uptime_ms,
            records_sent,
            drops,
            queue_depth,
        })
    }

    /// `payload` with `bytes` put in place of its byte `at`.
    fn spliced(payload: &[u8], at: usize, bytes: &[u8]) -> std::vec::Vec<u8> {
        let mut v = payload[..at].to_vec();
        v.extend_from_slice(bytes);
        v.extend_from_slice(&payload[at + 1..]);
        v
    }

    #[test]
    fn varint_lengths_are_postcards() {
        // core/WIRE.md section 2. The heartbeat example, 03 01 02 00 03.
        let p = [3u8, 1, 2, 0, 3];
        let hb = heartbeat(1, 2, 0, 3);
        assert_eq!(decode_payload(&p), Ok(hb.clone()));
        let pad = |first: u8, n: usize| {
            let mut v = vec![first | 0x80];
            v.resize(n - 1, 0x80);
            v.push(0);
            v
        };
        // Overlong forms up to the type's longest are the same value.
        assert_eq!(decode_payload(&spliced(&p, 1, &pad(1, 10))), Ok(hb.clone()));
        assert_eq!(decode_payload(&spliced(&p, 4, &pad(3, 5))), Ok(hb.clone()));
        assert_eq!(decode_payload(&spliced(&p, 0, &pad(3, 5))), Ok(hb.clone()));
        // One byte longer is a Payload rejection: u64 (uptime_ms), u32 (queue_depth), and
        // the variant index, a u32.
        assert_eq!(
            decode_payload(&spliced(&p, 1, &pad(1, 11))),
            Err(Error::Payload)
        );
        assert_eq!(
            decode_payload(&spliced(&p, 4, &pad(3, 6))),
            Err(Error::Payload)
        );
        assert_eq!(
            decode_payload(&spliced(&p, 0, &pad(3, 6))),
            Err(Error::Payload)
        );
        // The last byte may carry only the type's remaining bits: 0x01 for u64, 0x0F for
        // u32; more overflows (Payload).
        let mut max64 = vec![0xFF; 9];
        max64.push(0x01);
        assert_eq!(
            decode_payload(&spliced(&p, 1, &max64)),
            Ok(heartbeat(u64::MAX, 2, 0, 3))
        );
        max64[9] = 0x02;
        assert_eq!(decode_payload(&spliced(&p, 1, &max64)), Err(Error::Payload));
        let mut max32 = vec![0xFF; 4];
        max32.push(0x0F);
        assert_eq!(
            decode_payload(&spliced(&p, 4, &max32)),
            Ok(heartbeat(1, 2, 0, u32::MAX))
        );
        max32[4] = 0x10;
        assert_eq!(decode_payload(&spliced(&p, 4, &max32)), Err(Error::Payload));

        // u16 (wire_version): 3 bytes at most, the third at most 0x03.
        let h = testutil::to_vec(&Message::Header(StreamHeader::new()));
        assert_eq!(h[5], 1, "wire_version after tag and magic");
        assert!(decode_payload(&spliced(&h, 5, &pad(1, 3))).is_ok());
        assert_eq!(
            decode_payload(&spliced(&h, 5, &pad(1, 4))),
            Err(Error::Payload)
        );
        assert_eq!(
            decode_payload(&spliced(&h, 5, &[0xFF, 0xFF, 0x04])),
            Err(Error::Payload)
        );

        // u128 (absent): 19 bytes at most. A delays record with no comm and no slots:
        // tag, seq, kind, id, profile, comm, absent, present length.
        let r = [1u8, 0, 0, 0, 2, 0, 0, 0];
        assert!(matches!(decode_payload(&r), Ok(Message::Record(_))));
        assert!(decode_payload(&spliced(&r, 6, &pad(0, 19))).is_ok());
        assert_eq!(
            decode_payload(&spliced(&r, 6, &pad(0, 20))),
            Err(Error::Payload)
        );

        // Lengths are usize varints: 5 bytes are read everywhere, 10 on a 64-bit reader
        // and not on a 32-bit one, 11 nowhere.
        let c = [1u8, 0, 0, 0, 1, 1, 1, b's', 0, 0];
        let Ok(Message::Record(rec)) = decode_payload(&c) else {
            panic!("a record with comm \"s\"")
        };
        assert_eq!(rec.comm.as_deref(), Some(&b"s"[..]));
        assert!(decode_payload(&spliced(&c, 6, &pad(1, 5))).is_ok());
        let ten = decode_payload(&spliced(&c, 6, &pad(1, 10)));
        if cfg!(target_pointer_width = "64") {
            assert!(ten.is_ok());
        } else {
            assert_eq!(ten, Err(Error::Payload));
        }
        assert_eq!(
            decode_payload(&spliced(&c, 6, &pad(1, 11))),
            Err(Error::Payload)
        );
        // A length over the capacity is rejected, whatever follows.
        assert_eq!(decode_payload(&spliced(&c, 6, &[33])), Err(Error::Payload));
    }

    #[test]
    fn payload_reads_as_if_zero_bytes_followed() {
        // core/WIRE.md section 2, "Short payloads".
        // Missing fields read 0, None, empty.
        assert_eq!(decode_payload(&[3]), Ok(heartbeat(0, 0, 0, 0)));
        let Ok(Message::Record(r)) = decode_payload(&[1]) else {
            panic!("a record")
        };
        assert_eq!(
            (r.seq, r.kind, r.id, r.profile),
            (0, Kind::Pid, 0, Profile::Full)
        );
        assert_eq!((r.comm, r.values.present_count()), (None, 0));
        // A varint cut after a byte with the continuation bit ends at the first zero
        // that follows: 03 81 reads uptime_ms 1.
        assert_eq!(decode_payload(&[3, 0x81]), Ok(heartbeat(1, 0, 0, 0)));
        assert_eq!(
            decode_payload(&[3, 0xFF, 0xFF]),
            Ok(heartbeat(0x3FFF, 0, 0, 0))
        );
        // Not so the variant index: it must be whole.
        assert_eq!(decode_payload(&[]), Err(Error::Payload));
        assert_eq!(decode_payload(&[0x83]), Err(Error::Payload));
        // Nor a header's magic and wire_version; the rest of a header may be missing.
        let mut h = vec![0u8];
        h.extend_from_slice(&MAGIC);
        assert_eq!(decode_payload(&h[..4]), Err(Error::Payload));
        assert_eq!(decode_payload(&h), Err(Error::Payload));
        h.push(0x81);
        assert_eq!(decode_payload(&h), Err(Error::Payload));
        h[5] = 1;
        assert_eq!(
            decode_payload(&h),
            Ok(Message::Header(StreamHeader {
                schema_hash: 0,
                ..StreamHeader::new()
            }))
        );
        // A str cut short is rejected: agent_version of 5 bytes, 2 sent.
        let mut cut = h.clone();
        cut.extend_from_slice(&[0, 5, b'0', b'.']);
        assert_eq!(decode_payload(&cut), Err(Error::Payload));
        // A [u8] cut short is completed with zero bytes: comm of 3 bytes, 1 sent.
        let Ok(Message::Record(r)) = decode_payload(&[1, 0, 0, 0, 1, 1, 3, b's']) else {
            panic!("a record")
        };
        assert_eq!(r.comm.as_deref(), Some(&b"s\0\0"[..]));
        // So are the numbers of a present list cut short: 3 slots, 1 number sent.
        let Ok(Message::Record(r)) = decode_payload(&[1, 0, 0, 0, 2, 0, 0, 3, 7]) else {
            panic!("a record")
        };
        assert_eq!(
            r.values.iter().collect::<std::vec::Vec<_>>(),
            [(0, 7), (1, 0), (2, 0)]
        );
    }

    #[test]
    fn a_header_from_before_the_instance_reads_instance_0() {
        // core/WIRE.md, StreamHeader.instance: a sender from before the field ends its
        // header at boot_time; its instance reads 0, "not sent".
        let mut h = StreamHeader::new();
        h.boot_time = 300;
        h.instance = 0x1234_5678_9abc_def0;
        let now = testutil::to_vec(&Message::Header(h.clone()));
        let mut old = testutil::to_vec(&Message::Header(StreamHeader {
            instance: 0,
            ..h.clone()
        }));
        assert_eq!(old.pop(), Some(0), "instance 0 is one zero byte");
        let Ok(Message::Header(back)) = decode_payload(&old) else {
            panic!("a header")
        };
        assert_eq!((back.boot_time, back.instance), (300, 0));
        assert_eq!(decode_payload(&now), Ok(Message::Header(h)));
    }

    #[test]
    fn header_needs_magic() {
        let mut h = StreamHeader::new();
        h.magic = *b"TWRX";
        assert_eq!(
            decode_payload(&testutil::to_vec(&Message::Header(h))),
            Err(Error::Payload)
        );
        assert_eq!(decode_payload(&[]), Err(Error::Payload));
        assert_eq!(decode_payload(&[0]), Err(Error::Payload));
        assert_eq!(decode_payload(&[9]), Err(Error::Payload), "unknown variant");
    }

    // A later schema that appended a field to Heartbeat, as the stability rules allow.
    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct HeartbeatV2 {
        uptime_ms: u64,
        records_sent: u64,
        drops: u64,
        queue_depth: u32,
        cpu_load: Option<u16>,
    }

    #[allow(clippy::large_enum_variant)] // mirrors Message
    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    enum MessageV2 {
        Header(StreamHeader),
        Record(Record),
        Loss(Loss),
        Heartbeat(HeartbeatV2),
    }

    #[test]
    fn appended_fields_read_both_ways() {
        // Old reader, new sender: the appended bytes are ignored.
        let new = MessageV2::Heartbeat(HeartbeatV2 {
            uptime_ms: 10,
            records_sent: 20,
            drops: 1,
            queue_depth: 2,
            cpu_load: Some(900),
        });
        let got = decode_payload(&testutil::to_vec(&new)).unwrap();
        assert_eq!(
            got,
            Message::Heartbeat(Heartbeat {
                uptime_ms: 10,
                records_sent: 20,
                drops: 1,
                queue_depth: 2
            })
        );
        // New reader, old sender: the field the sender did not know reads as None.
        let old_bytes = testutil::to_vec(&got);
        let mut de = postcard::Deserializer::from_flavor(ZeroPadded {
            data: &old_bytes,
            pos: 0,
        });
        let back = MessageV2::deserialize(&mut de).unwrap();
        let MessageV2::Heartbeat(hb) = back else {
            panic!()
        };
        assert_eq!(hb.cpu_load, None);
        assert_eq!(hb.queue_depth, 2);
    }

    #[test]
    fn numbered_frame_from_payload_refuses_other_payloads() {
        let mut buf = [0u8; MAX_FRAME_LEN];
        // Numbered already, a loss, empty, a bare tag.
        let Message::Record(mut r) = testutil::small_record(5) else {
            panic!()
        };
        let numbered = testutil::to_vec(&Message::Record(r.clone()));
        assert_eq!(
            encode_numbered_frame(&numbered, 9, &mut buf),
            Err(Error::Payload)
        );
        r.seq = 0;
        let zero = testutil::to_vec(&Message::Record(r));
        assert!(encode_numbered_frame(&zero, 9, &mut buf).is_ok());
        assert_eq!(
            encode_numbered_frame(&zero, 9, &mut buf[..zero.len()]),
            Err(Error::BufferTooSmall)
        );
        let loss = testutil::to_vec(&Message::Loss(Loss {
            count: 0,
            reason: LossReason::QueueOverflow,
            next_seq: 0,
        }));
        let hb = testutil::to_vec(&heartbeat(0, 0, 0, 0));
        for p in [
            &loss[..],
            &hb[..],
            &[],
            &[1],
            &[4],
            &[5],
            &[2, 0],
            &[3, 0],
            &[6, 0],
        ] {
            assert_eq!(
                encode_numbered_frame(p, 1, &mut buf),
                Err(Error::Payload),
                "{p:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn numbered_frame_from_payload_matches_encode_frame(
            msg in testutil::numbered(),
            seq in any::<u64>(),
        ) {
            let payload = testutil::to_vec(&testutil::with_seq(msg.clone(), 0));
            let want = frame(&testutil::with_seq(msg, seq));
            let mut buf = [0u8; MAX_FRAME_LEN];
            let n = encode_numbered_frame(&payload, seq, &mut buf).unwrap();
            prop_assert_eq!(&buf[..n], &want[..]);
        }

        #[test]
        fn one_variant_encoders_write_what_encode_payload_writes(
            msg in prop_oneof![
                testutil::record().prop_map(Message::Record),
                testutil::interval().prop_map(Message::Interval),
                testutil::sample().prop_map(Message::Sample),
            ],
            short in 0usize..MAX_PAYLOAD_LEN,
        ) {
            let mut want = [0u8; MAX_PAYLOAD_LEN];
            let mut got = [0u8; MAX_PAYLOAD_LEN];
            let one = |buf: &mut [u8]| match &msg {
                Message::Record(r) => encode_record_payload(r, buf),
                Message::Interval(i) => encode_interval_payload(i, buf),
                Message::Sample(s) => encode_sample_payload(s, buf),
                _ => unreachable!(),
            };
            let n = encode_payload(&msg, &mut want).unwrap();
            prop_assert_eq!(one(&mut got), Ok(n));
            prop_assert_eq!(&got[..n], &want[..n]);
            // A buffer too small fails the same way, empty included.
            let short = short.min(n - 1);
            prop_assert_eq!(one(&mut got[..short]), encode_payload(&msg, &mut want[..short]));
            prop_assert_eq!(one(&mut []), Err(Error::BufferTooSmall));
        }

        #[test]
        fn frame_is_postcards_payload_crc_and_cobs(
            mut msg in testutil::message(),
            magic in any::<[u8; 4]>(),
            wire_version in any::<u16>(),
        ) {
            // encode_frame writes each variant on its own (every one but a record by
            // hand): the same bytes as postcard's payload of the whole message, framed.
            if let Message::Header(h) = &mut msg {
                (h.magic, h.wire_version) = (magic, wire_version);
            }
            let mut raw = testutil::to_vec(&msg);
            raw.extend_from_slice(&crc32(&raw.clone()).to_le_bytes());
            let mut stuffed = vec![0u8; max_encoded_len(raw.len())];
            let n = cobs_encode(&raw, &mut stuffed).unwrap();
            stuffed.truncate(n);
            stuffed.push(0);
            prop_assert_eq!(frame(&msg), stuffed);
        }

        #[test]
        fn frame_round_trip(msg in testutil::message()) {
            let f = frame(&msg);
            prop_assert!(f.len() <= MAX_FRAME_LEN);
            prop_assert_eq!(f.iter().position(|&b| b == 0), Some(f.len() - 1));
            let mut scratch = vec![0u8; f.len()];
            prop_assert_eq!(decode_frame(&f, &mut scratch).unwrap(), msg.clone());
            let p = testutil::to_vec(&msg);
            prop_assert!(p.len() <= MAX_PAYLOAD_LEN);
            prop_assert_eq!(decode_payload(&p).unwrap(), msg);
        }
    }
}
