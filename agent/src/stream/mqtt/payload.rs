//! The writer's bytes cut into MQTT payloads, each a complete stream (core/WIRE.md
//! section 8): `0x00`, the connection's header frame, then whole frames.
//!
//! The writer hands over runs of whole frames, each ending in 0x00, sometimes in pieces
//! (short writes while the agent stops): the frame being received waits at the end of
//! the buffer until its delimiter comes. The first frame after a connect is the stream
//! header (the writer starts every connection with it); it is kept and opens every
//! payload. Each payload remembers one past the highest number its frames carry, which
//! its PUBACK acknowledges.

use taskwire_core::wire::{DELIMITER, LossReason, MAX_FRAME_LEN};

/// The most bytes a board puts in one payload.
pub const MAX_PAYLOAD: usize = 16 * 1024;

/// Frames gathered into payloads, with room in front for each PUBLISH's head.
#[derive(Debug)]
pub struct Packer {
    /// `room` bytes for the head, then 0x00, the header frame and the payload's frames,
    /// then the frame still being received.
    buf: Vec<u8>,
    room: usize,
    /// Where the payload's frames begin; 0 until the header came.
    base: usize,
    /// Where the frame being received begins.
    open: usize,
    /// The most bytes of a payload.
    limit: usize,
    /// One past the highest number of the payload's frames; None: no number yet.
    covers: Option<u64>,
    /// Skipping a run longer than any frame, up to its delimiter.
    skipping: bool,
}

/// Sends one payload: `buf[room..]` is the payload, `buf[..room]` free for the head;
/// `covers` as [`Packer`] keeps it.
pub type Publish<'a, E> = dyn FnMut(&mut [u8], usize, Option<u64>) -> Result<(), E> + 'a;

impl Packer {
    /// Payloads of at most `limit` bytes, each with `room` bytes free before it.
    pub fn new(room: usize, limit: usize) -> Packer {
        Packer {
            buf: Vec::with_capacity(room + limit + MAX_FRAME_LEN),
            room,
            base: 0,
            open: 0,
            limit,
            covers: None,
            skipping: false,
        }
    }

    /// The header frame, once it came.
    pub fn header(&self) -> Option<&[u8]> {
        (self.base > 0).then(|| self.buf.get(self.room + 1..self.base).unwrap_or_default())
    }

    /// Takes `bytes`, publishing each payload that fills up.
    pub fn push<E>(&mut self, mut bytes: &[u8], publish: &mut Publish<'_, E>) -> Result<(), E> {
        if self.buf.is_empty() {
            self.buf.resize(self.room, 0);
            self.open = self.room;
        }
        while !bytes.is_empty() {
            let end = bytes.iter().position(|&b| b == DELIMITER);
            let (piece, rest) = bytes.split_at(end.map_or(bytes.len(), |i| i + 1));
            bytes = rest;
            let ended = end.is_some();
            if self.skipping || self.buf.len() - self.open + piece.len() > MAX_FRAME_LEN {
                // Never from the writer's framer: no frame is this long.
                self.buf.truncate(self.open);
                self.skipping = !ended;
                continue;
            }
            self.buf.extend_from_slice(piece);
            if ended {
                self.frame(publish)?;
            }
        }
        Ok(())
    }

    /// Publishes the whole frames taken so far (the frame being received stays).
    pub fn flush<E>(&mut self, publish: &mut Publish<'_, E>) -> Result<(), E> {
        if self.base == 0 || self.open == self.base {
            return Ok(());
        }
        let (open, covers) = (self.open, self.covers.take());
        publish(&mut self.buf[..open], self.room, covers)?;
        self.buf.copy_within(open.., self.base);
        self.buf.truncate(self.buf.len() - (open - self.base));
        self.open = self.base;
        Ok(())
    }

    /// A frame ended at the end of the buffer.
    fn frame<E>(&mut self, publish: &mut Publish<'_, E>) -> Result<(), E> {
        let len = self.buf.len() - self.open;
        if len == 1 {
            // An empty frame (the stream start, a keep-alive): nothing to carry.
            self.buf.truncate(self.open);
            return Ok(());
        }
        if self.base == 0 {
            // The header: 0x00 before it, and every payload starts so.
            let frame = self.open..self.buf.len();
            self.buf.push(DELIMITER);
            self.buf.copy_within(frame, self.room + 1);
            self.buf[self.room] = DELIMITER;
            self.buf.truncate(self.room + 1 + len);
            self.base = self.buf.len();
            self.open = self.base;
            return Ok(());
        }
        if self.buf.len() - self.room > self.limit && self.open > self.base {
            self.flush(publish)?;
        }
        let covers = covers(self.buf.get(self.open..).unwrap_or_default());
        self.covers = self.covers.max(covers);
        self.open = self.buf.len();
        Ok(())
    }
}

/// One past the highest number a frame carries, as a collector's `Ack` counts them
/// (core/WIRE.md section 7.2): a record's, interval's or sample's `seq` + 1, a `Loss`'s
/// `next_seq`; None for a frame without numbers (a header, a heartbeat, a
/// `KernelEnobufs` loss, which numbers nothing). Read from the first bytes alone: the
/// variant and the first fields, unstuffed (sections 1 to 3).
pub fn covers(frame: &[u8]) -> Option<u64> {
    let mut head = [0u8; 40];
    let n = unstuff_prefix(frame, &mut head);
    let mut f = head.get(..n).unwrap_or_default();
    match varint(&mut f)? {
        1 | 4 | 5 => varint(&mut f)?.checked_add(1),
        2 => {
            let (_count, reason, next_seq) = (varint(&mut f)?, varint(&mut f)?, varint(&mut f)?);
            (reason != LossReason::KernelEnobufs.index() as u64).then_some(next_seq)
        }
        _ => None,
    }
}

/// Unstuffs the start of COBS `frame` into `out`; how many bytes it filled.
fn unstuff_prefix(frame: &[u8], out: &mut [u8]) -> usize {
    let (mut n, mut i) = (0, 0);
    while let Some(&code) = frame.get(i) {
        if code == DELIMITER {
            break;
        }
        i += 1;
        for _ in 1..code {
            match (frame.get(i), out.get_mut(n)) {
                (Some(&b), Some(o)) if b != DELIMITER => *o = b,
                _ => return n,
            }
            (i, n) = (i + 1, n + 1);
        }
        // A block below 0xFF stands for a zero after it, unless it is the frame's last.
        if code < 0xFF && frame.get(i).is_some_and(|&b| b != DELIMITER) {
            match out.get_mut(n) {
                Some(o) => *o = 0,
                None => return n,
            }
            n += 1;
        }
    }
    n
}

/// A LEB128 varint of at most 10 bytes from the start of `f`, which it advances past.
fn varint(f: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = f.split_first()?;
        *f = rest;
        v |= u64::from(b & 0x7F).checked_shl(7 * i)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_core::wire::{
        Heartbeat, Loss, MAX_FRAME_LEN, Message, StreamHeader, StreamReader, encode_frame,
    };

    fn frame(m: &Message) -> Vec<u8> {
        let mut b = vec![0u8; MAX_FRAME_LEN];
        let n = encode_frame(m, &mut b).unwrap();
        b.truncate(n);
        b
    }

    fn record(seq: u64) -> Vec<u8> {
        let (p, _) = crate::stream::framer::tests::payload(
            taskwire_core::wire::Kind::Pid,
            taskwire_core::wire::Profile::Acct,
        );
        let mut b = vec![0u8; MAX_FRAME_LEN];
        let n = taskwire_core::wire::encode_numbered_frame(&p, seq, &mut b).unwrap();
        b.truncate(n);
        b
    }

    fn loss(reason: LossReason, count: u64, next_seq: u64) -> Vec<u8> {
        frame(&Message::Loss(Loss {
            count,
            reason,
            next_seq,
        }))
    }

    #[test]
    fn numbers_are_read_from_the_first_bytes() {
        assert_eq!(covers(&record(0)), Some(1));
        assert_eq!(covers(&record(300)), Some(301));
        assert_eq!(covers(&record(u64::MAX - 1)), Some(u64::MAX));
        assert_eq!(covers(&record(u64::MAX)), None, "no number past u64::MAX");
        assert_eq!(covers(&loss(LossReason::QueueOverflow, 4, 12)), Some(12));
        assert_eq!(
            covers(&loss(LossReason::SinkOutage, 1, 1 << 40)),
            Some(1 << 40)
        );
        assert_eq!(covers(&loss(LossReason::KernelEnobufs, 1, 12)), None);
        assert_eq!(covers(&frame(&Message::Header(StreamHeader::new()))), None);
        let beat = Heartbeat {
            uptime_ms: 1,
            records_sent: 2,
            drops: 0,
            queue_depth: 3,
        };
        assert_eq!(covers(&frame(&Message::Heartbeat(beat))), None);
        assert_eq!(covers(&[]), None);
        assert_eq!(covers(&[0x00]), None);
        assert_eq!(covers(&[0x02, 0x01]), None, "cut before the seq");
    }

    /// Packs `writes` into payloads of at most `limit`, flushing after each write.
    fn pack(writes: &[Vec<u8>], limit: usize) -> Vec<(Vec<u8>, Option<u64>)> {
        let mut out = Vec::new();
        let mut p = Packer::new(8, limit);
        let mut publish = |b: &mut [u8], room: usize, c: Option<u64>| -> Result<(), ()> {
            out.push((b[room..].to_vec(), c));
            Ok(())
        };
        for w in writes {
            p.push(w, &mut publish).unwrap();
            p.flush(&mut publish).unwrap();
        }
        out
    }

    fn messages(payload: &[u8]) -> Vec<Message> {
        let mut r = StreamReader::new();
        let got: Vec<_> = r.feed(payload).collect();
        assert_eq!(r.stats().rejected(), 0);
        got.into_iter().map(Result::unwrap).collect()
    }

    #[test]
    fn every_payload_is_a_stream_of_its_own() {
        let header = frame(&Message::Header(StreamHeader::new()));
        let mut start = vec![0u8];
        start.extend_from_slice(&header);
        let mut batch = Vec::new();
        for seq in 0..40 {
            batch.extend(record(seq));
        }
        batch.extend(loss(LossReason::KernelEnobufs, 1, 40));
        batch.extend(loss(LossReason::QueueOverflow, 3, 43));
        // Small payloads: several per write.
        let got = pack(&[start.clone(), batch.clone()], 600);
        assert!(got.len() > 3, "{}", got.len());
        let mut seqs = Vec::new();
        for (payload, covers) in &got {
            assert!(payload.len() <= 600);
            assert_eq!(payload[0], 0);
            assert_eq!(&payload[1..=header.len()], &header[..]);
            let msgs = messages(payload);
            assert!(matches!(msgs[0], Message::Header(_)));
            let mut top = None;
            for m in &msgs[1..] {
                match m {
                    Message::Record(r) => {
                        seqs.push(r.seq);
                        top = Some(r.seq + 1);
                    }
                    Message::Loss(l) if l.reason != LossReason::KernelEnobufs => {
                        top = Some(l.next_seq)
                    }
                    _ => {}
                }
            }
            assert_eq!(*covers, top);
        }
        assert_eq!(seqs, (0..40).collect::<Vec<_>>());
        assert_eq!(got.last().unwrap().1, Some(43));
    }

    #[test]
    fn pieces_and_empty_frames_are_put_together() {
        let header = frame(&Message::Header(StreamHeader::new()));
        let mut all = vec![0u8];
        all.extend_from_slice(&header);
        for seq in 0..10 {
            all.extend(record(seq));
            all.push(0);
        }
        // Written 7 bytes at a time, flushed after each: whole frames go as they end.
        let writes: Vec<Vec<u8>> = all.chunks(7).map(<[u8]>::to_vec).collect();
        let got = pack(&writes, MAX_PAYLOAD);
        let seqs: Vec<u64> = got
            .iter()
            .flat_map(|(p, _)| messages(p))
            .filter_map(|m| match m {
                Message::Record(r) => Some(r.seq),
                _ => None,
            })
            .collect();
        assert_eq!(seqs, (0..10).collect::<Vec<_>>());
        // Nothing before the header is published, and a write of the start alone
        // publishes nothing.
        assert!(pack(&[all[..1 + header.len()].to_vec()], MAX_PAYLOAD).is_empty());
    }

    #[test]
    fn junk_longer_than_a_frame_is_skipped() {
        let header = frame(&Message::Header(StreamHeader::new()));
        let mut all = vec![0u8];
        all.extend_from_slice(&header);
        all.extend(std::iter::repeat_n(7u8, 3 * MAX_FRAME_LEN));
        all.push(0);
        all.extend(record(5));
        let got = pack(&[all], MAX_PAYLOAD);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, Some(6));
        assert_eq!(messages(&got[0].0).len(), 2);
    }
}
