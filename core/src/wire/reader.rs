//! The receiving side: bytes in, checked and decoded messages out.

use super::cobs::{DELIMITER, Decoder};
use super::frame::{CRC_LEN, MAX_PAYLOAD_LEN, decode_unstuffed};
use super::message::Message;
use crate::{Error, Result};

/// Frames accepted and rejected by a [`FrameReader`], by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// Frames decoded and handed out.
    pub accepted: u64,
    /// Frames longer than the reader's buffer ([`Error::BufferTooSmall`]).
    pub overflow: u64,
    /// Frames whose COBS stuffing is broken ([`Error::Cobs`]).
    pub cobs: u64,
    /// Frames whose CRC does not match, or too short to hold one ([`Error::Checksum`]).
    pub checksum: u64,
    /// Frames with a good CRC whose payload does not decode ([`Error::Payload`]).
    pub payload: u64,
    /// Frames of a newer wire version ([`Error::Unsupported`]).
    pub unsupported: u64,
}

impl ReaderStats {
    /// Frames rejected for any reason.
    pub fn rejected(&self) -> u64 {
        self.overflow + self.cobs + self.checksum + self.payload + self.unsupported
    }

    fn count(&mut self, r: &Result<Message>) {
        let slot = match r {
            Ok(_) => &mut self.accepted,
            Err(Error::BufferTooSmall) => &mut self.overflow,
            Err(Error::Cobs) => &mut self.cobs,
            Err(Error::Checksum) => &mut self.checksum,
            Err(Error::Unsupported { .. }) => &mut self.unsupported,
            Err(_) => &mut self.payload,
        };
        *slot = slot.saturating_add(1);
    }
}

/// How the frame a [`FrameReader`] handed out last changed its refusal of a newer wire
/// version, from [`FrameReader::refusal_change`]: what a host reports once per refusal
/// rather than once per refused frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The refusal is as it was before the frame (on or off).
    Unchanged,
    /// The frame was a header of wire version `version`, newer than this build reads:
    /// this and every frame until a readable header are refused.
    Started {
        /// The header's wire version.
        version: u16,
    },
    /// The frame was a readable header and ended the refusal of `version`.
    Ended {
        /// The wire version that had been refused.
        version: u16,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames: nothing since the last delimiter.
    Idle,
    /// Inside a frame that still fits.
    Frame,
    /// Inside a frame that overflowed: skip to the next delimiter.
    Overflow,
}

/// Splits a byte stream into frames, checks them and decodes their messages, in at most
/// `N` bytes of buffer (the unstuffed frame: payload plus CRC).
///
/// Every rejected frame is reported once, as an `Err`, and counted in [`ReaderStats`]; the
/// reader then carries on with the next frame, whatever the bytes were. After a header of
/// a newer wire version it refuses ([`Error::Unsupported`], carrying that version) every
/// frame until a header it can read arrives; [`FrameReader::refusing`] and
/// [`FrameReader::refusal_change`] tell a caller so, without it keeping frames of its own. Use [`StreamReader`] for a buffer that holds every valid frame.
///
/// ```
/// # use taskwire_core::wire::*;
/// let mut buf = [0u8; MAX_FRAME_LEN];
/// let n = encode_frame(&Message::Header(StreamHeader::new()), &mut buf).unwrap();
/// let mut reader = StreamReader::new();
/// for msg in reader.feed(&buf[..n]) {
///     assert!(matches!(msg, Ok(Message::Header(_))));
/// }
/// assert_eq!(reader.stats().accepted, 1);
/// ```
#[derive(Debug, Clone)]
pub struct FrameReader<const N: usize> {
    buf: [u8; N],
    len: usize,
    state: State,
    cobs: Decoder,
    /// The wire version of a newer header seen with no readable one since.
    refusing: Option<u16>,
    /// What the last frame handed out did to `refusing`.
    change: Refusal,
    stats: ReaderStats,
}

/// A [`FrameReader`] whose buffer holds the longest valid frame.
pub type StreamReader = FrameReader<{ MAX_PAYLOAD_LEN + CRC_LEN }>;

impl<const N: usize> FrameReader<N> {
    /// A reader expecting the start of a frame.
    pub const fn new() -> Self {
        FrameReader {
            buf: [0; N],
            len: 0,
            state: State::Idle,
            cobs: Decoder::new(),
            refusing: None,
            change: Refusal::Unchanged,
            stats: ReaderStats {
                accepted: 0,
                overflow: 0,
                cobs: 0,
                checksum: 0,
                payload: 0,
                unsupported: 0,
            },
        }
    }

    /// Takes one byte; at the end of a frame returns its message or why it was rejected.
    ///
    /// Empty frames (consecutive delimiters, such as the 0x00 that starts a stream) are
    /// skipped silently.
    pub fn push(&mut self, byte: u8) -> Option<Result<Message>> {
        if byte == DELIMITER {
            if self.state != State::Idle {
                self.change = Refusal::Unchanged;
            }
            let result = match self.state {
                State::Idle => return None,
                State::Overflow => Err(Error::BufferTooSmall),
                State::Frame if !self.cobs.at_end_ok() => Err(Error::Cobs),
                State::Frame => self.decode(),
            };
            self.start_frame();
            self.stats.count(&result);
            return Some(result);
        }
        match self.state {
            State::Overflow => return None,
            State::Idle => self.state = State::Frame,
            State::Frame => {}
        }
        let (zero, data) = self.cobs.feed(byte);
        if zero {
            self.store(0);
        }
        if let Some(d) = data {
            self.store(d);
        }
        None
    }

    /// Whether a frame has begun and not ended: at the end of the input, a frame cut short
    /// (its CRC never arrived).
    pub fn mid_frame(&self) -> bool {
        self.state != State::Idle
    }

    /// Returns an iterator over the messages (or rejections) of the frames that end within
    /// `bytes`; an unfinished frame stays buffered for the next call.
    pub fn feed<'r, 'b>(&'r mut self, bytes: &'b [u8]) -> Frames<'r, 'b, N> {
        Frames {
            reader: self,
            bytes,
        }
    }

    /// Counts of frames accepted and rejected so far.
    pub fn stats(&self) -> &ReaderStats {
        &self.stats
    }

    /// The newer wire version whose frames are being refused: a header of it was read and
    /// no readable header since. `None` while frames are read.
    pub fn refusing(&self) -> Option<u16> {
        self.refusing
    }

    /// How the last frame handed out (as a message or a rejection) changed
    /// [`FrameReader::refusing`]: to report a refusal once, when it starts, and once
    /// more when it ends.
    pub fn refusal_change(&self) -> Refusal {
        self.change
    }

    /// Forgets any partial frame and a refused wire version, for a new connection. Counts
    /// are kept.
    pub fn reset(&mut self) {
        self.start_frame();
        self.refusing = None;
        self.change = Refusal::Unchanged;
    }

    fn start_frame(&mut self) {
        self.len = 0;
        self.state = State::Idle;
        self.cobs = Decoder::new();
    }

    fn store(&mut self, b: u8) {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = b;
                self.len += 1;
            }
            None => self.state = State::Overflow,
        }
    }

    fn decode(&mut self) -> Result<Message> {
        let frame = self.buf.get(..self.len).ok_or(Error::BufferTooSmall)?;
        let result = decode_unstuffed(frame);
        match (&result, self.refusing) {
            (Ok(Message::Header(_)), Some(version)) => {
                self.refusing = None;
                self.change = Refusal::Ended { version };
            }
            // Only a header is refused by version: this one starts a refusal, or replaces
            // the version of one under way (another newer agent took over the stream).
            (&Err(Error::Unsupported { version }), was) => {
                self.refusing = Some(version);
                if was.is_none() {
                    self.change = Refusal::Started { version };
                }
            }
            // A good CRC but a payload this build cannot read: the newer version's.
            (Ok(_) | Err(Error::Payload), Some(version)) => {
                return Err(Error::Unsupported { version });
            }
            _ => {}
        }
        result
    }
}

impl<const N: usize> Default for FrameReader<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// The messages of the frames completed by one [`FrameReader::feed`] call.
#[derive(Debug)]
pub struct Frames<'r, 'b, const N: usize> {
    reader: &'r mut FrameReader<N>,
    bytes: &'b [u8],
}

impl<'b, const N: usize> Frames<'_, 'b, N> {
    /// The bytes not read yet (those after the last frame handed out).
    pub fn remaining(&self) -> &'b [u8] {
        self.bytes
    }
}

impl<const N: usize> Iterator for Frames<'_, '_, N> {
    type Item = Result<Message>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Some((&b, rest)) = self.bytes.split_first() {
            self.bytes = rest;
            if let Some(r) = self.reader.push(b) {
                return Some(r);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{self, frame, small_record};
    use crate::wire::*;
    use proptest::prelude::*;

    type Vec<T> = std::vec::Vec<T>;

    fn read_all<const N: usize>(reader: &mut FrameReader<N>, bytes: &[u8]) -> Vec<Result<Message>> {
        reader.feed(bytes).collect()
    }

    fn oks(results: &[Result<Message>]) -> Vec<Message> {
        results.iter().filter_map(|r| r.clone().ok()).collect()
    }

    /// A stream of `n` small records: leading 0x00, then frames; with each frame's range.
    fn stream(n: u64) -> (Vec<u8>, Vec<Message>, Vec<core::ops::Range<usize>>) {
        let mut bytes = vec![DELIMITER];
        let mut msgs = Vec::new();
        let mut ranges = Vec::new();
        for seq in 0..n {
            let m = small_record(seq);
            let f = frame(&m);
            ranges.push(bytes.len()..bytes.len() + f.len());
            bytes.extend_from_slice(&f);
            msgs.push(m);
        }
        (bytes, msgs, ranges)
    }

    #[test]
    fn empty_frames_are_skipped() {
        let mut r = StreamReader::new();
        assert!(read_all(&mut r, &[0, 0, 0]).is_empty());
        assert_eq!(r.stats().rejected() + r.stats().accepted, 0);
    }

    #[test]
    fn mid_frame_until_the_delimiter() {
        let mut r = StreamReader::new();
        assert!(!r.mid_frame());
        let f = frame(&small_record(3));
        for &b in &f[..f.len() - 1] {
            assert!(r.push(b).is_none());
            assert!(r.mid_frame());
        }
        assert!(r.push(0).is_some());
        assert!(!r.mid_frame());
    }

    #[test]
    fn half_frame_before_reboot_is_dropped() {
        // The board died mid-frame and came back: its new stream starts with 0x00.
        let (bytes, msgs, _) = stream(2);
        let mut wire = frame(&msgs[0])[..7].to_vec();
        wire.extend_from_slice(&bytes);
        let mut r = StreamReader::new();
        let out = read_all(&mut r, &wire);
        assert_eq!(out.len(), 3);
        assert!(out[0].is_err());
        assert_eq!(oks(&out), msgs);
        assert_eq!(r.stats().rejected(), 1);
    }

    #[test]
    fn chunking_does_not_matter() {
        let (bytes, msgs, _) = stream(20);
        for chunk in [1, 2, 3, 7, 64, 1000] {
            let mut r = StreamReader::new();
            let mut got = Vec::new();
            for c in bytes.chunks(chunk) {
                let mut it = r.feed(c);
                got.extend(it.by_ref());
                assert!(it.remaining().is_empty());
            }
            assert_eq!(oks(&got), msgs, "chunk {chunk}");
            assert_eq!(r.stats().accepted, 20);
        }
    }

    #[test]
    fn feed_stops_after_each_frame() {
        let (bytes, _, ranges) = stream(2);
        let mut r = StreamReader::new();
        let mut it = r.feed(&bytes);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(it.remaining().len(), bytes.len() - ranges[0].end);
    }

    #[test]
    fn overflow_is_rejected_and_the_reader_recovers() {
        let big = Message::Header(StreamHeader {
            board_id: heapless::String::try_from("x".repeat(60).as_str()).unwrap(),
            ..StreamHeader::new()
        });
        let mut wire = vec![0u8];
        wire.extend_from_slice(&frame(&small_record(1)));
        wire.extend_from_slice(&frame(&big));
        wire.extend_from_slice(&frame(&small_record(2)));
        let mut r = FrameReader::<48>::new();
        let out = read_all(&mut r, &wire);
        assert_eq!(out.len(), 3);
        assert_eq!(out[1], Err(Error::BufferTooSmall));
        assert_eq!(oks(&out), [small_record(1), small_record(2)]);
        assert_eq!(r.stats().overflow, 1);
        // Endless garbage without a delimiter stays within the buffer and yields nothing.
        let garbage = vec![0x55u8; 100_000];
        assert!(read_all(&mut r, &garbage).is_empty());
        assert_eq!(read_all(&mut r, &[0]), [Err(Error::BufferTooSmall)]);
        assert_eq!(r.stats().overflow, 2);
    }

    #[test]
    fn each_reason_is_counted() {
        let good = frame(&small_record(5));
        let mut wire = vec![0u8];
        // Bad COBS: a code promising more bytes than come before the delimiter.
        wire.extend_from_slice(&[0x09, 1, 2, 0]);
        // Too short to hold a CRC.
        wire.extend_from_slice(&[0x03, 1, 2, 0]);
        // Bad CRC.
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 2] ^= 0x01;
        if bad_crc[n - 2] == 0 {
            bad_crc[n - 2] = 0x80;
        }
        wire.extend_from_slice(&bad_crc);
        // Good CRC, payload of an unknown variant.
        let mut raw = vec![0x2A];
        raw.extend_from_slice(&crc32(&[0x2A]).to_le_bytes());
        let mut stuffed = vec![0u8; 16];
        let k = cobs_encode(&raw, &mut stuffed).unwrap();
        wire.extend_from_slice(&stuffed[..k]);
        wire.push(0);
        wire.extend_from_slice(&good);

        let mut r = StreamReader::new();
        let out = read_all(&mut r, &wire);
        assert_eq!(
            out,
            [
                Err(Error::Cobs),
                Err(Error::Checksum),
                Err(Error::Checksum),
                Err(Error::Payload),
                Ok(small_record(5)),
            ]
        );
        let s = r.stats();
        assert_eq!((s.cobs, s.checksum, s.payload, s.accepted), (1, 2, 1, 1));
        assert_eq!(s.rejected(), 4);
    }

    #[test]
    fn size_limit_counts_unstuffed_bytes_and_overflow_wins() {
        // core/WIRE.md section 1, "Reading". The heartbeat example: 9 unstuffed bytes.
        let hb = Message::Heartbeat(Heartbeat {
            uptime_ms: 1,
            records_sent: 2,
            drops: 0,
            queue_depth: 3,
        });
        let f = frame(&hb);
        assert_eq!(f, [0x04, 3, 1, 2, 0x06, 3, 0x7c, 0x6f, 0xb3, 0xa3, 0]);
        // The last block's implied zero is not stored: 9 bytes of buffer are enough.
        assert_eq!(read_all(&mut FrameReader::<9>::new(), &f), [Ok(hb.clone())]);
        assert_eq!(
            read_all(&mut FrameReader::<8>::new(), &f),
            [Err(Error::BufferTooSmall)]
        );
        // Too long and a bad CRC: too long. A bad CRC alone: Checksum.
        let mut bad_crc = f.clone();
        bad_crc[6] ^= 0x01;
        assert_eq!(
            read_all(&mut FrameReader::<8>::new(), &bad_crc),
            [Err(Error::BufferTooSmall)]
        );
        assert_eq!(
            read_all(&mut FrameReader::<9>::new(), &bad_crc),
            [Err(Error::Checksum)]
        );
        // Too long and cut inside a block (the code promises 10 bytes, 9 come): too long.
        let cut = [0x0B, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0];
        assert_eq!(
            read_all(&mut FrameReader::<8>::new(), &cut),
            [Err(Error::BufferTooSmall)]
        );
        assert_eq!(
            read_all(&mut FrameReader::<16>::new(), &cut),
            [Err(Error::Cobs)]
        );
        // Cut inside a block and too short for a CRC: Cobs.
        assert_eq!(
            read_all(&mut FrameReader::<16>::new(), &[0x05, 1, 0]),
            [Err(Error::Cobs)]
        );
    }

    #[test]
    fn trailing_code_byte_after_a_full_block_is_optional() {
        // A record whose payload and CRC are 254 bytes without a zero: one 0xFF block.
        let mut values = Values::new();
        values.push(None).unwrap();
        for _ in 0..20 {
            values.push(Some(u64::MAX)).unwrap();
        }
        let (msg, f) = (1u64 << 63..)
            .map(|seq| {
                let msg = Message::Record(Record {
                    seq,
                    kind: Kind::Tgid,
                    id: 5,
                    profile: Profile::Acct,
                    comm: Some(Comm::from_slice(&[b'c'; COMM_CAP]).unwrap()),
                    values: values.clone(),
                });
                let f = frame(&msg);
                (msg, f)
            })
            .find(|(_, f)| f.len() == 257)
            .unwrap();
        assert_eq!(testutil::to_vec(&msg).len() + CRC_LEN, 254);
        // The encoder writes the 0xFF block, then a trailing 0x01 (an empty last block).
        assert_eq!((f[0], f[255], f[256]), (0xFF, 0x01, 0x00));
        let mut without = f[..255].to_vec();
        without.push(0);
        for bytes in [&f[..], &without[..]] {
            let mut r = FrameReader::<254>::new();
            assert_eq!(read_all(&mut r, bytes), [Ok(msg.clone())]);
        }
    }

    #[test]
    fn newer_wire_version_is_refused_until_a_readable_header() {
        let mut newer = StreamHeader::new();
        newer.wire_version = WIRE_VERSION + 1;
        let mut wire = vec![0u8];
        wire.extend_from_slice(&frame(&Message::Header(newer)));
        wire.extend_from_slice(&frame(&small_record(0)));
        wire.extend_from_slice(&frame(&small_record(1)));
        // The board was downgraded (or another agent took over the port).
        wire.extend_from_slice(&frame(&Message::Header(StreamHeader::new())));
        wire.extend_from_slice(&frame(&small_record(2)));
        let mut r = StreamReader::new();
        let out = read_all(&mut r, &wire);
        let refused = Err(Error::Unsupported {
            version: WIRE_VERSION + 1,
        });
        assert_eq!(&out[..3], [refused.clone(), refused.clone(), refused]);
        assert!(matches!(out[3], Ok(Message::Header(_))));
        assert_eq!(out[4], Ok(small_record(2)));
        assert_eq!(r.stats().unsupported, 3);

        // The refusal's state and its changes, frame by frame.
        let mut r = StreamReader::new();
        let mut seen = Vec::new();
        for b in wire.iter().copied() {
            if r.push(b).is_some() {
                seen.push((r.refusing(), r.refusal_change()));
            }
        }
        let newer = Some(WIRE_VERSION + 1);
        let started = Refusal::Started {
            version: WIRE_VERSION + 1,
        };
        let ended = Refusal::Ended {
            version: WIRE_VERSION + 1,
        };
        assert_eq!(
            seen,
            [
                (newer, started),
                (newer, Refusal::Unchanged),
                (newer, Refusal::Unchanged),
                (None, ended),
                (None, Refusal::Unchanged),
            ]
        );

        // A reset (new connection) forgets the refusal.
        let mut r = StreamReader::new();
        read_all(&mut r, &wire[..wire.len() / 3]);
        assert_eq!(r.refusing(), Some(WIRE_VERSION + 1));
        r.reset();
        assert_eq!(
            (r.refusing(), r.refusal_change()),
            (None, Refusal::Unchanged)
        );
        let f = frame(&small_record(9));
        assert_eq!(read_all(&mut r, &f), [Ok(small_record(9))]);
    }

    #[test]
    fn what_a_readable_header_is() {
        // core/WIRE.md section 4. No header is needed before other frames.
        let mut r = StreamReader::new();
        assert_eq!(
            read_all(&mut r, &frame(&small_record(0))),
            [Ok(small_record(0))]
        );

        let mut newer = StreamHeader::new();
        newer.wire_version = WIRE_VERSION + 1;
        // Good CRC, magic and version, but a payload that does not decode (Option byte 2).
        let mut broken = testutil::to_vec(&Message::Header(StreamHeader::new()));
        // The last four bytes: delay_accounting, possible_cpus (empty), boot_time,
        // instance.
        let at = broken.len() - 4;
        assert_eq!(broken[at], 0, "delay_accounting None");
        broken[at] = 2;
        let mut broken_frame = broken.clone();
        broken_frame.extend_from_slice(&crc32(&broken).to_le_bytes());
        let mut stuffed = vec![0u8; max_encoded_len(broken_frame.len())];
        let n = cobs_encode(&broken_frame, &mut stuffed).unwrap();
        stuffed.truncate(n);
        stuffed.push(0);
        let mut bad_crc = frame(&small_record(1));
        let crc_at = bad_crc.len() - 2;
        bad_crc[crc_at] ^= 0x01;
        assert_ne!(bad_crc[crc_at], 0);
        let mut older = StreamHeader::new();
        older.wire_version = 0;
        older.schema_hash = 0x1234_5678;

        let mut wire = frame(&Message::Header(newer));
        wire.extend_from_slice(&stuffed);
        wire.extend_from_slice(&bad_crc);
        wire.extend_from_slice(&frame(&Message::Header(older.clone())));
        wire.extend_from_slice(&stuffed);
        let out = read_all(&mut r, &wire);
        assert_eq!(out.len(), 5);
        assert_eq!(
            out[0],
            Err(Error::Unsupported {
                version: WIRE_VERSION + 1
            })
        );
        // While refusing, a payload that does not decode, header or not, is Unsupported,
        // and frame damage keeps its own name.
        assert_eq!(
            out[1],
            Err(Error::Unsupported {
                version: WIRE_VERSION + 1
            })
        );
        assert_eq!(out[2], Err(Error::Checksum));
        // Any decodable header of this version or older ends the refusal, whatever its
        // schema hash.
        assert_eq!(out[3], Ok(Message::Header(older)));
        assert_eq!(out[4], Err(Error::Payload));
    }

    #[derive(Debug, Clone)]
    enum Damage {
        Flip { at: usize, bit: u8 },
        Drop { at: usize },
        Insert { at: usize, byte: u8 },
        Truncate { frame: usize, keep: usize },
        Garbage { at: usize, len: usize, seed: u8 },
    }

    fn damage() -> impl Strategy<Value = Damage> {
        prop_oneof![
            (any::<usize>(), 0..8u8).prop_map(|(at, bit)| Damage::Flip { at, bit }),
            any::<usize>().prop_map(|at| Damage::Drop { at }),
            (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Insert { at, byte }),
            (any::<usize>(), any::<usize>())
                .prop_map(|(frame, keep)| Damage::Truncate { frame, keep }),
            (any::<usize>(), 1..300usize, any::<u8>())
                .prop_map(|(at, len, seed)| Damage::Garbage { at, len, seed }),
        ]
    }

    proptest! {
        #[test]
        fn every_message_kind_round_trips(msgs in proptest::collection::vec(testutil::message(), 1..8)) {
            let mut wire = vec![0u8];
            for m in &msgs {
                wire.extend_from_slice(&frame(m));
            }
            let mut r = StreamReader::new();
            let out = read_all(&mut r, &wire);
            prop_assert_eq!(out.len(), msgs.len());
            prop_assert_eq!(oks(&out), msgs);
            prop_assert_eq!(r.stats().rejected(), 0);
        }

        #[test]
        fn resync_after_damage(d in damage()) {
            // Damage lands in the first 12 frames; the 13th shows whether the last one's
            // delimiter survived.
            let (mut bytes, msgs, ranges) = stream(13);
            // Bytes 1.. belong to frames; frame i owns ranges[i] including its delimiter.
            let owner = |pos: usize| ranges.iter().position(|r| r.contains(&pos));
            let mut touched: Vec<usize> = Vec::new();
            // Whether the damage must show as a rejection (not when it only adds delimiters
            // between frames).
            let mut visible = true;
            let at_frame_start = |p: usize| ranges.iter().any(|r| r.start == p);
            let at_delimiter = |p: usize| ranges.iter().any(|r| r.end - 1 == p);
            let body = 1..ranges[11].end;
            let pick = |x: usize| body.start + x % body.len();
            match d {
                Damage::Flip { at, bit } => {
                    let p = pick(at);
                    bytes[p] ^= 1 << bit;
                    touched.extend(owner(p));
                    // A broken delimiter merges its frame with the next.
                    if bytes[p] != 0 && p + 1 == ranges[owner(p).unwrap()].end {
                        touched.push(owner(p).unwrap() + 1);
                    }
                }
                Damage::Drop { at } => {
                    let p = pick(at);
                    let o = owner(p).unwrap();
                    touched.push(o);
                    if p + 1 == ranges[o].end {
                        touched.push(o + 1);
                    }
                    bytes.remove(p);
                }
                Damage::Insert { at, byte } => {
                    let p = pick(at);
                    // Inserted before byte p: it lands in p's frame, unless it is a delimiter
                    // between two frames, or right before a frame's own delimiter (the frame
                    // then ends at it, and an empty frame follows).
                    if byte == 0 && (at_frame_start(p) || at_delimiter(p)) {
                        visible = false;
                    } else {
                        touched.extend(owner(p));
                    }
                    bytes.insert(p, byte);
                }
                Damage::Truncate { frame: f, keep } => {
                    let f = f % 12;
                    let r = ranges[f].clone();
                    let keep = keep % (r.len() - 1);
                    // The frame is cut short and the rest of it never sent.
                    bytes.drain(r.start + keep..r.end - 1);
                    touched.push(f);
                    // Nothing left of it but its delimiter: an empty frame, skipped.
                    visible = keep > 0;
                }
                Damage::Garbage { at, len, seed } => {
                    let p = pick(at);
                    let junk: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
                    // Junk ending in a delimiter at a frame's start, or starting with one
                    // right before a frame's delimiter, is a frame of its own: the real
                    // frames keep their bytes.
                    let apart = (at_frame_start(p) && junk.last() == Some(&0))
                        || (at_delimiter(p) && junk.first() == Some(&0));
                    if !apart {
                        touched.extend(owner(p));
                    }
                    visible = !touched.is_empty() || junk.iter().any(|&b| b != 0);
                    bytes.splice(p..p, junk);
                }
            }
            let expect: Vec<Message> = msgs
                .iter()
                .enumerate()
                .filter(|(i, _)| !touched.contains(i))
                .map(|(_, m)| m.clone())
                .collect();
            let mut r = StreamReader::new();
            let out = read_all(&mut r, &bytes);
            prop_assert_eq!(oks(&out), expect.clone());
            prop_assert_eq!(r.stats().accepted, expect.len() as u64);
            if visible {
                prop_assert!(r.stats().rejected() >= 1, "{:?}", r.stats());
            }
            prop_assert_eq!(r.stats().rejected() + r.stats().accepted, out.len() as u64);
        }
    }
}
