//! The bounded queue between the netlink reader and the sink writer.
//!
//! It holds encoded record payloads (postcard, `seq` left at 0: the writer numbers records
//! as it sends them, so that sent records stay consecutive whatever was dropped), packed
//! into one byte ring allocated once. Capacity is counted both in records and in bytes;
//! whichever runs out first makes the queue full. A record that does not fit is dropped
//! and counted; the count travels, in order, as a loss marker in front of the next record
//! that fits, so the writer can place a `Loss` frame exactly where the records went
//! missing. Kernel ENOBUFS events are placed the same way.
//!
//! Entry layout in the ring: a 2-byte little-endian header, bit 15 set for a loss marker,
//! bits 0-14 the body length; then the body: a record's payload, or a marker's reason
//! (1 byte) and count (8 bytes, little-endian).

use taskwire_core::wire::LossReason;

const HEADER_LEN: usize = 2;
const MARKER_FLAG: u16 = 0x8000;
const MARKER_BODY_LEN: usize = 9;
/// The longest body a header can describe.
const MAX_BODY_LEN: usize = 0x7fff;

/// The loss reasons, in the order markers carry them.
const REASONS: [LossReason; 3] = [
    LossReason::KernelEnobufs,
    LossReason::QueueOverflow,
    LossReason::SinkOutage,
];

fn reason_index(r: LossReason) -> usize {
    match r {
        LossReason::KernelEnobufs => 0,
        LossReason::QueueOverflow => 1,
        LossReason::SinkOutage => 2,
    }
}

/// What [`Queue::pop`] hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// A record payload of this many bytes, copied to the caller's buffer.
    Record(usize),
    /// Records (or, for ENOBUFS, loss events) lost at this point of the stream.
    Loss(LossReason, u64),
}

/// A fixed-capacity FIFO of record payloads and loss markers.
#[derive(Debug)]
pub struct Queue {
    ring: Box<[u8]>,
    /// Offset of the oldest entry.
    head: usize,
    /// Bytes in use.
    used: usize,
    records: usize,
    max_records: usize,
    /// Losses not yet written as a marker, per [`REASONS`] index.
    pending: [u64; 3],
    /// Every loss counted so far, per [`REASONS`] index.
    lost: [u64; 3],
}

impl Queue {
    /// A queue of at most `max_records` records and `bytes` bytes of entries (2 bytes of
    /// header per entry included). Allocates `bytes` now and never again.
    pub fn new(max_records: usize, bytes: usize) -> Queue {
        Queue {
            ring: vec![0; bytes].into_boxed_slice(),
            head: 0,
            used: 0,
            records: 0,
            max_records,
            pending: [0; 3],
            lost: [0; 3],
        }
    }

    /// Records waiting.
    pub fn depth(&self) -> usize {
        self.records
    }

    /// Capacity in bytes.
    pub fn byte_capacity(&self) -> usize {
        self.ring.len()
    }

    /// Whether nothing waits, markers and pending losses included.
    pub fn is_empty(&self) -> bool {
        self.used == 0 && self.pending == [0; 3]
    }

    /// Every loss counted so far for `reason` (sent, queued or pending).
    pub fn lost(&self, reason: LossReason) -> u64 {
        self.lost[reason_index(reason)]
    }

    /// Losses counted but not handed out by [`Queue::pop`] yet, all reasons summed.
    pub fn unsent_losses(&self) -> u64 {
        let mut n: u64 = self.pending.iter().sum();
        let mut at = self.head;
        let mut left = self.used;
        while left >= HEADER_LEN {
            let h = u16::from_le_bytes([self.byte(at), self.byte(at + 1)]);
            let len = usize::from(h & !MARKER_FLAG);
            if h & MARKER_FLAG != 0 {
                let mut c = [0u8; 8];
                for (i, b) in c.iter_mut().enumerate() {
                    *b = self.byte(at + HEADER_LEN + 1 + i);
                }
                n += u64::from_le_bytes(c);
            }
            at = (at + HEADER_LEN + len) % self.ring.len().max(1);
            left = left.saturating_sub(HEADER_LEN + len);
        }
        n
    }

    /// Counts `count` losses of `reason` at this point of the stream.
    pub fn note_loss(&mut self, reason: LossReason, count: u64) {
        let i = reason_index(reason);
        self.pending[i] = self.pending[i].saturating_add(count);
        self.lost[i] = self.lost[i].saturating_add(count);
    }

    /// Appends a record payload; when it does not fit it is dropped and counted as a loss
    /// of `reason_if_full` ([`LossReason::QueueOverflow`], or
    /// [`LossReason::SinkOutage`] while the sink is down). Returns whether it was queued.
    pub fn push(&mut self, payload: &[u8], reason_if_full: LossReason) -> bool {
        let markers = self.pending.iter().filter(|&&c| c > 0).count();
        let need = HEADER_LEN + payload.len() + markers * (HEADER_LEN + MARKER_BODY_LEN);
        let fits = payload.len() <= MAX_BODY_LEN
            && self.records < self.max_records
            && need <= self.ring.len() - self.used;
        if !fits {
            self.note_loss(reason_if_full, 1);
            return false;
        }
        for i in 0..REASONS.len() {
            let count = std::mem::take(&mut self.pending[i]);
            if count > 0 {
                let mut body = [0u8; MARKER_BODY_LEN];
                body[0] = i as u8;
                body[1..].copy_from_slice(&count.to_le_bytes());
                self.put(MARKER_FLAG | MARKER_BODY_LEN as u16, &body);
            }
        }
        // Fits MAX_BODY_LEN, checked above.
        self.put(payload.len() as u16, payload);
        self.records += 1;
        true
    }

    /// Takes the oldest entry; a record's payload is copied into `out`, which must hold
    /// the longest payload pushed (`wire::MAX_PAYLOAD_LEN` does). Losses still pending
    /// come out once every entry is out. None when empty.
    pub fn pop(&mut self, out: &mut [u8]) -> Option<Item> {
        if self.used < HEADER_LEN {
            let i = self.pending.iter().position(|&c| c > 0)?;
            return Some(Item::Loss(REASONS[i], std::mem::take(&mut self.pending[i])));
        }
        let h = u16::from_le_bytes([self.byte(self.head), self.byte(self.head + 1)]);
        let len = usize::from(h & !MARKER_FLAG);
        let body = self.head + HEADER_LEN;
        let item = if h & MARKER_FLAG != 0 {
            let reason = REASONS
                .get(usize::from(self.byte(body)))
                .copied()
                .unwrap_or(LossReason::QueueOverflow);
            let mut c = [0u8; 8];
            for (i, b) in c.iter_mut().enumerate() {
                *b = self.byte(body + 1 + i);
            }
            Item::Loss(reason, u64::from_le_bytes(c))
        } else {
            let n = len.min(out.len());
            for (i, b) in out[..n].iter_mut().enumerate() {
                *b = self.byte(body + i);
            }
            self.records -= 1;
            Item::Record(n)
        };
        self.used -= HEADER_LEN + len;
        // An empty ring starts over at its beginning: a sink that keeps up then reuses
        // the same few pages instead of walking through (and making resident) all of them.
        self.head = if self.used == 0 {
            0
        } else {
            (self.head + HEADER_LEN + len) % self.ring.len()
        };
        Some(item)
    }

    fn byte(&self, at: usize) -> u8 {
        self.ring[at % self.ring.len()]
    }

    fn put(&mut self, header: u16, body: &[u8]) {
        let cap = self.ring.len();
        let mut at = (self.head + self.used) % cap;
        for &b in header.to_le_bytes().iter().chain(body) {
            self.ring[at] = b;
            at = if at + 1 == cap { 0 } else { at + 1 };
        }
        self.used += HEADER_LEN + body.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| n.wrapping_add(i as u8)).collect()
    }

    fn drain(q: &mut Queue) -> Vec<Result<Vec<u8>, (LossReason, u64)>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Some(item) = q.pop(&mut buf) {
            out.push(match item {
                Item::Record(n) => Ok(buf[..n].to_vec()),
                Item::Loss(r, c) => Err((r, c)),
            });
        }
        out
    }

    #[test]
    fn fifo_across_the_wrap() {
        // 3 entries of 2+10 bytes fit 40 bytes; pushing and popping walks round the ring.
        let mut q = Queue::new(100, 40);
        let mut buf = [0u8; 64];
        for n in 0..50u8 {
            assert!(q.push(&rec(n, 10), LossReason::QueueOverflow));
            assert_eq!(q.pop(&mut buf), Some(Item::Record(10)));
            assert_eq!(&buf[..10], &rec(n, 10)[..], "entry {n}");
        }
        assert!(q.is_empty());
        assert_eq!(q.pop(&mut buf), None);
    }

    #[test]
    fn overflow_by_records_is_counted_and_placed() {
        let mut q = Queue::new(3, 1000);
        for n in 0..5 {
            let queued = q.push(&rec(n, 4), LossReason::QueueOverflow);
            assert_eq!(queued, n < 3, "record {n}");
        }
        assert_eq!(q.depth(), 3);
        assert_eq!(q.lost(LossReason::QueueOverflow), 2);
        let mut buf = [0u8; 16];
        assert_eq!(q.pop(&mut buf), Some(Item::Record(4)));
        // Room for one more: the marker for the 2 dropped goes in front of it.
        assert!(q.push(&rec(9, 4), LossReason::QueueOverflow));
        assert_eq!(q.unsent_losses(), 2);
        let rest = drain(&mut q);
        assert_eq!(
            rest,
            [
                Ok(rec(1, 4)),
                Ok(rec(2, 4)),
                Err((LossReason::QueueOverflow, 2)),
                Ok(rec(9, 4)),
            ]
        );
        assert_eq!(q.unsent_losses(), 0);
        assert_eq!(q.lost(LossReason::QueueOverflow), 2, "totals are kept");
    }

    #[test]
    fn overflow_by_bytes() {
        // 30 bytes hold two 2+10 entries but not a third.
        let mut q = Queue::new(100, 30);
        assert!(q.push(&rec(0, 10), LossReason::QueueOverflow));
        assert!(q.push(&rec(1, 10), LossReason::QueueOverflow));
        assert!(!q.push(&rec(2, 10), LossReason::QueueOverflow));
        // A small one still fits the 6 bytes left, but not with its marker (2+9) in front.
        assert!(!q.push(&rec(3, 2), LossReason::QueueOverflow));
        assert_eq!(q.lost(LossReason::QueueOverflow), 2);
    }

    #[test]
    fn reasons_are_kept_apart_and_pending_losses_come_last() {
        let mut q = Queue::new(1, 1000);
        q.note_loss(LossReason::KernelEnobufs, 1);
        assert!(q.push(&rec(0, 3), LossReason::QueueOverflow));
        assert!(!q.push(&rec(1, 3), LossReason::SinkOutage));
        assert!(!q.push(&rec(2, 3), LossReason::SinkOutage));
        assert!(!q.push(&rec(3, 3), LossReason::QueueOverflow));
        q.note_loss(LossReason::KernelEnobufs, 1);
        assert_eq!(q.unsent_losses(), 5);
        assert!(!q.is_empty());
        assert_eq!(
            drain(&mut q),
            [
                Err((LossReason::KernelEnobufs, 1)),
                Ok(rec(0, 3)),
                Err((LossReason::KernelEnobufs, 1)),
                Err((LossReason::QueueOverflow, 1)),
                Err((LossReason::SinkOutage, 2)),
            ]
        );
        assert!(q.is_empty());
        assert_eq!(q.lost(LossReason::SinkOutage), 2);
        assert_eq!(q.lost(LossReason::KernelEnobufs), 2);
    }

    #[test]
    fn conservation_under_random_load() {
        // Whatever the interleaving: records popped + losses counted = records offered.
        let mut q = Queue::new(17, 300);
        let mut buf = [0u8; 64];
        let (mut offered, mut popped, mut lost) = (0u64, 0u64, 0u64);
        let mut x: u32 = 12345;
        let mut last: Option<u32> = None;
        let mut check_order = |bytes: &[u8]| {
            // Records come out in the order they went in (drops only skip numbers).
            let n = u32::from_le_bytes(bytes[..4].try_into().unwrap());
            assert!(last.is_none_or(|l| n > l), "{n} after {last:?}");
            last = Some(n);
        };
        for i in 0..20_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            if x >> 16 & 3 != 0 {
                offered += 1;
                let mut r = i.to_le_bytes().to_vec();
                r.resize(4 + (x as usize >> 8) % 40, 0xAA);
                q.push(&r, LossReason::QueueOverflow);
            } else {
                match q.pop(&mut buf) {
                    Some(Item::Record(n)) => {
                        popped += 1;
                        check_order(&buf[..n]);
                    }
                    Some(Item::Loss(_, c)) => lost += c,
                    None => {}
                }
            }
        }
        for item in drain(&mut q) {
            match item {
                Ok(r) => {
                    popped += 1;
                    check_order(&r);
                }
                Err((_, c)) => lost += c,
            }
        }
        assert_eq!(popped + lost, offered);
        assert_eq!(lost, q.lost(LossReason::QueueOverflow));
        assert!(lost > 0 && popped > 0);
    }

    #[test]
    fn oversized_payload_is_a_loss_not_a_panic() {
        let mut q = Queue::new(10, 100);
        assert!(!q.push(&[0u8; 200], LossReason::QueueOverflow));
        let mut q = Queue::new(10, 0);
        assert!(!q.push(&[1], LossReason::QueueOverflow));
        assert_eq!(drain(&mut q), [Err((LossReason::QueueOverflow, 1))]);
    }
}
