//! Turns queue items into frames: numbered frames (records, intervals, samples), losses
//! placed on their numbers, headers and heartbeats. Pure byte work, so it is tested without a kernel or a sink.

use taskwire_core::wire::{
    self, DELIMITER, Heartbeat, Loss, LossReason, MAX_FRAME_LEN, Message, Record, StreamHeader,
};

use super::queue::Item;

/// The framing and counters of one agent's stream.
///
/// Records (and intervals and samples, numbered alike) arrive numbered
/// ([`Item::Numbered::seq`], given by the queue when the reader received them), and the
/// numbers run on across reconnects: the header is resent on each
/// new connection but the records after it keep counting, so a collector can tell records
/// lost inside a dead connection (a gap no `Loss` covers) from a fresh agent (a new
/// header with `seq` back at 0).
#[derive(Debug)]
pub struct Framer {
    header: StreamHeader,
    /// Where a record is framed before joining the batch: zeroing room for the longest
    /// frame in the batch itself cost more than framing.
    frame: Box<[u8; MAX_FRAME_LEN]>,
    /// Numbered frames (records, intervals, samples) framed so far: a heartbeat's
    /// `records_sent`.
    records: u64,
    drops: u64,
}

impl Framer {
    /// A stream that will open with `header`.
    pub fn new(header: StreamHeader) -> Framer {
        Framer {
            header,
            frame: Box::new([0; MAX_FRAME_LEN]),
            records: 0,
            drops: 0,
        }
    }

    /// Numbered frames (records, intervals, samples) framed so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Appends a stream start: one 0x00 (ends whatever half frame the line held), then
    /// the header frame.
    pub fn start(&self, out: &mut Vec<u8>) {
        out.push(DELIMITER);
        push_frame(out, &Message::Header(self.header.clone()));
    }

    /// Appends the frame of one queue item; a numbered item's payload (a record, an
    /// interval or a sample, with `seq` 0: the item carries the number) is in `payload`.
    /// The payload is framed as it is, its number patched in, never decoded and
    /// re-encoded (that was a third of the agent's CPU per record). A payload that is not
    /// a numbered message numbered 0 (never produced by this agent) is framed as a queue
    /// loss of its number, so the count and the numbering stay true.
    /// Returns what the frame carries: `item`, or the loss it became.
    pub fn item(&mut self, item: Item, payload: &[u8], out: &mut Vec<u8>) -> Item {
        match item {
            Item::Numbered { len, seq } => {
                let framed = payload
                    .get(..len)
                    .map(|p| wire::encode_numbered_frame(p, seq, &mut self.frame[..]));
                match framed
                    .and_then(|r| r.ok())
                    .and_then(|n| self.frame.get(..n))
                {
                    Some(f) => {
                        out.extend_from_slice(f);
                        self.records += 1;
                        item
                    }
                    None => {
                        let next_seq = seq.saturating_add(1);
                        self.loss(LossReason::QueueOverflow, 1, next_seq, out);
                        Item::Loss {
                            reason: LossReason::QueueOverflow,
                            count: 1,
                            next_seq,
                        }
                    }
                }
            }
            Item::Loss {
                reason,
                count,
                next_seq,
            } => {
                self.loss(reason, count, next_seq, out);
                item
            }
        }
    }

    /// Appends `r`'s frame, numbered as it is.
    pub fn record(&mut self, r: Record, out: &mut Vec<u8>) {
        self.records += 1;
        push_frame(out, &Message::Record(r));
    }

    /// Appends a Loss frame of `count` losses of `reason`; for records, the numbers
    /// `next_seq - count .. next_seq`.
    pub fn loss(&mut self, reason: LossReason, count: u64, next_seq: u64, out: &mut Vec<u8>) {
        self.drops = self.drops.saturating_add(count);
        push_frame(
            out,
            &Message::Loss(Loss {
                count,
                reason,
                next_seq,
            }),
        );
    }

    /// Appends a heartbeat. `unsent_losses` are counted but not framed yet (they are
    /// included in `drops`, as the wire format says); `queue_depth` in records.
    pub fn heartbeat(
        &self,
        uptime_ms: u64,
        unsent_losses: u64,
        queue_depth: usize,
        out: &mut Vec<u8>,
    ) {
        push_frame(
            out,
            &Message::Heartbeat(Heartbeat {
                uptime_ms,
                records_sent: self.records,
                drops: self.drops.saturating_add(unsent_losses),
                queue_depth: u32::try_from(queue_depth).unwrap_or(u32::MAX),
            }),
        );
    }
}

/// Appends `msg`'s frame to `out`.
fn push_frame(out: &mut Vec<u8>, msg: &Message) {
    let start = out.len();
    out.resize(start + MAX_FRAME_LEN, 0);
    // MAX_FRAME_LEN bytes always hold a frame (core tests that bound).
    let n = wire::encode_frame(msg, &mut out[start..]).unwrap_or(0);
    out.truncate(start + n);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stream::queue::Queue;
    use taskwire_core::fixtures::{EXIT_PID_AND_TGID, FAMILY};
    use taskwire_core::netlink::{self, Message as NlMessage};
    use taskwire_core::taskstats::{Field, Reply};
    use taskwire_core::wire::{Kind, Profile, StreamReader};

    /// Every message of a byte stream, or the first rejection.
    pub(crate) fn decode_all(bytes: &[u8]) -> Vec<Message> {
        let mut r = StreamReader::new();
        let msgs: Result<Vec<_>, _> = r.feed(bytes).collect();
        msgs.unwrap()
    }

    /// The payload of a real exit record from the fixture, as the reader queues it.
    pub(crate) fn payload(kind: Kind, profile: Profile) -> (Vec<u8>, Record) {
        let packet = netlink::messages(&EXIT_PID_AND_TGID)
            .next()
            .unwrap()
            .unwrap();
        let NlMessage::Data(p) = NlMessage::parse(packet).unwrap() else {
            panic!("not data")
        };
        let reply = Reply::parse(p, FAMILY).unwrap();
        let agg = reply.get(kind).unwrap();
        let rec = Record::from_taskstats(0, kind, agg.id, &agg.stats, profile);
        let mut buf = vec![0u8; wire::MAX_PAYLOAD_LEN];
        let n = wire::encode_payload(&Message::Record(rec.clone()), &mut buf).unwrap();
        buf.truncate(n);
        (buf, rec)
    }

    #[test]
    fn stream_starts_with_zero_then_header() {
        let mut h = StreamHeader::new();
        h.taskstats_version = 16;
        let f = Framer::new(h.clone());
        let mut out = Vec::new();
        f.start(&mut out);
        assert_eq!(out[0], 0);
        assert_eq!(decode_all(&out), [Message::Header(h)]);
    }

    #[test]
    fn records_keep_their_received_numbers_and_losses_cover_the_rest() {
        let mut q = Queue::new(2, 4096);
        let (pid, pid_rec) = payload(Kind::Pid, Profile::Full);
        let (tgid, tgid_rec) = payload(Kind::Tgid, Profile::Full);
        assert!(q.push(&pid, LossReason::QueueOverflow));
        assert!(q.push(&tgid, LossReason::QueueOverflow));
        // Full: numbers 2, 3 and 4 are dropped, then an ENOBUFS event.
        for _ in 0..3 {
            assert!(!q.push(&pid, LossReason::QueueOverflow));
        }
        q.note_enobufs(1);

        let mut f = Framer::new(StreamHeader::new());
        let mut out = Vec::new();
        f.start(&mut out);
        let mut buf = vec![0u8; wire::MAX_PAYLOAD_LEN];
        let mut pop_one = |f: &mut Framer, q: &mut Queue, out: &mut Vec<u8>| {
            let item = q.pop(&mut buf).unwrap();
            f.item(item, &buf, out);
        };
        pop_one(&mut f, &mut q, &mut out);
        // One slot free again: the next record (number 5) goes in behind the markers.
        assert!(q.push(&pid, LossReason::QueueOverflow));
        while !q.is_empty() {
            pop_one(&mut f, &mut q, &mut out);
        }
        f.heartbeat(1234, q.unsent_losses(), q.depth(), &mut out);

        let msgs = decode_all(&out);
        let with_seq = |r: &Record, seq| Message::Record(Record { seq, ..r.clone() });
        assert_eq!(
            msgs[1..],
            [
                with_seq(&pid_rec, 0),
                with_seq(&tgid_rec, 1),
                // The events were seen after number 1; they take no numbers.
                Message::Loss(Loss {
                    count: 1,
                    reason: LossReason::KernelEnobufs,
                    next_seq: 2
                }),
                // Exactly 2, 3 and 4.
                Message::Loss(Loss {
                    count: 3,
                    reason: LossReason::QueueOverflow,
                    next_seq: 5
                }),
                with_seq(&pid_rec, 5),
                Message::Heartbeat(Heartbeat {
                    uptime_ms: 1234,
                    records_sent: 3,
                    drops: 4,
                    queue_depth: 0
                }),
            ]
        );
        // The record survived the trip: exit code, comm and ids as the kernel sent them.
        let Message::Record(r) = &msgs[1] else {
            panic!()
        };
        assert_eq!(r.get(Field::AcPid), pid_rec.get(Field::AcPid));
        assert!(r.comm.as_ref().is_some_and(|c| !c.is_empty()));
        assert_eq!(f.records(), 3);
    }

    #[test]
    fn every_profile_frames() {
        for profile in [Profile::Full, Profile::Acct, Profile::Delays] {
            let (p, rec) = payload(Kind::Pid, profile);
            let mut f = Framer::new(StreamHeader::new());
            let mut out = Vec::new();
            let item = Item::Numbered {
                len: p.len(),
                seq: 77,
            };
            f.item(item, &p, &mut out);
            let want = Record { seq: 77, ..rec };
            assert_eq!(decode_all(&out), [Message::Record(want)], "{profile:?}");
        }
    }

    #[test]
    fn a_bad_payload_becomes_a_loss_of_its_number() {
        let mut f = Framer::new(StreamHeader::new());
        let mut out = Vec::new();
        let item = Item::Numbered { len: 3, seq: 9 };
        let framed = f.item(item, &[0xff, 0xff, 0xff], &mut out);
        assert_eq!(
            framed,
            Item::Loss {
                reason: LossReason::QueueOverflow,
                count: 1,
                next_seq: 10
            }
        );
        assert_eq!(
            decode_all(&out),
            [Message::Loss(Loss {
                count: 1,
                reason: LossReason::QueueOverflow,
                next_seq: 10
            })]
        );
        assert_eq!(f.records(), 0);
    }
}
