//! The bounded queue between the netlink reader (and the sampler) and the sink writer; it
//! also numbers what it is offered.
//!
//! The queue holds *numbered* payloads: exit records, and the intervals and samples of
//! live tasks (core/WIRE.md, "Numbered frames"); it does not look inside them, and below
//! "record" means any of the three. Every record offered gets the next sequence number,
//! in the order offered (for exit records, the order the kernel delivered them), whether
//! it is queued or dropped: the stream's `seq` counts records the agent received, so a
//! record dropped here leaves a gap that a `Loss` frame covers exactly (core/WIRE.md,
//! `Loss.next_seq`). The number is not stored: entries keep the order they were offered
//! in, so the queue knows each one's number when it hands it out
//! ([`Item::Numbered::seq`]), and payloads stay as they were encoded (`seq` 0).
//!
//! Payloads are packed into one byte ring allocated once. Capacity is counted both in
//! records and in bytes; whichever runs out first makes the queue full. A record that does
//! not fit is dropped and counted in a pending run of consecutive drops; the runs travel,
//! in order, as loss markers in front of the next record that fits, so the writer places
//! each `Loss` frame exactly where its records went missing. Kernel ENOBUFS events (no
//! records, no numbers: the kernel never gave those records to us) are placed the same
//! way.
//!
//! Entry layout in the ring: a 2-byte little-endian header, bit 15 set for a loss marker,
//! bits 0-14 the body length; then the body: a record's payload, or a marker's reason
//! (1 byte) and count (8 bytes, little-endian). A marker of dropped records covers the
//! `count` numbers just before the entry that follows it.

use taskwire_core::wire::LossReason;

use super::loss_run::LossRun;

const HEADER_LEN: usize = 2;
const MARKER_FLAG: u16 = 0x8000;
const MARKER_BODY_LEN: usize = 9;
/// The longest body a header can describe.
const MAX_BODY_LEN: usize = 0x7fff;
/// Runs of drops of different reasons kept apart between two queued records. The reason
/// changes only when the sink goes down or comes back, so a few are plenty; past them the
/// drops join the last run (its reason then covers them too; numbers and counts stay
/// exact).
const MAX_RUNS: usize = 8;

/// What [`Queue::pop`] hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// A numbered payload (a record, an interval or a sample), copied to the caller's
    /// buffer.
    Numbered {
        /// Payload bytes.
        len: usize,
        /// Its sequence number.
        seq: u64,
    },
    /// Records lost at this point of the stream: for `QueueOverflow` and `SinkOutage`
    /// exactly the numbers `next_seq - count .. next_seq`; for `KernelEnobufs`, `count`
    /// ENOBUFS events, seen after every number below `next_seq` was given out.
    Loss {
        /// Why.
        reason: LossReason,
        /// Records, or ENOBUFS events.
        count: u64,
        /// The number after the lost ones.
        next_seq: u64,
    },
}

/// A fixed-capacity FIFO of record payloads and loss markers that numbers records.
#[derive(Debug)]
pub struct Queue {
    ring: Box<[u8]>,
    /// Offset of the oldest entry.
    head: usize,
    /// Bytes in use.
    used: usize,
    records: usize,
    max_records: usize,
    /// The number the next record offered gets = records offered so far.
    next_seq: u64,
    /// The number of the oldest record (or first number of the oldest run of drops) not
    /// handed out yet.
    head_seq: u64,
    /// ENOBUFS events not yet written as a marker.
    pending_enobufs: u64,
    /// Runs of consecutive drops not yet written as markers, oldest first; together they
    /// end at `next_seq`.
    runs: [(LossReason, u64); MAX_RUNS],
    n_runs: usize,
    /// Every loss counted so far, per [`LossReason::index`].
    lost: [u64; LossReason::ALL.len()],
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
            next_seq: 0,
            head_seq: 0,
            pending_enobufs: 0,
            runs: [(LossReason::QueueOverflow, 0); MAX_RUNS],
            n_runs: 0,
            lost: [0; LossReason::ALL.len()],
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

    /// The number the next record offered will get: records offered so far.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether nothing waits, markers and pending losses included.
    pub fn is_empty(&self) -> bool {
        self.used == 0 && self.pending_enobufs == 0 && self.n_runs == 0
    }

    /// Every loss counted so far for `reason` (sent, queued or pending): records, or
    /// ENOBUFS events.
    pub fn lost(&self, reason: LossReason) -> u64 {
        self.lost[reason.index()]
    }

    /// Losses counted but not handed out by [`Queue::pop`] yet, all reasons summed.
    pub fn unsent_losses(&self) -> u64 {
        let mut n = self.runs[..self.n_runs]
            .iter()
            .fold(self.pending_enobufs, |n, r| n.saturating_add(r.1));
        let mut at = self.head;
        let mut left = self.used;
        while left >= HEADER_LEN {
            let h = u16::from_le_bytes([self.byte(at), self.byte(at + 1)]);
            let len = usize::from(h & !MARKER_FLAG);
            if h & MARKER_FLAG != 0 {
                n = n.saturating_add(self.marker_count(at + HEADER_LEN));
            }
            at = (at + HEADER_LEN + len) % self.ring.len().max(1);
            left = left.saturating_sub(HEADER_LEN + len);
        }
        n
    }

    /// Counts `events` kernel ENOBUFS events at this point of the stream. They take no
    /// numbers.
    pub fn note_enobufs(&mut self, events: u64) {
        self.pending_enobufs = self.pending_enobufs.saturating_add(events);
        self.count_lost(LossReason::KernelEnobufs, events);
    }

    /// Numbers the next record and drops it, counted as a loss of `reason` (for a record
    /// that never reaches the queue at all).
    pub fn reject(&mut self, reason: LossReason) {
        let reason = match self.runs[..self.n_runs].last_mut() {
            Some(last) if last.0 == reason => {
                last.1 = last.1.saturating_add(1);
                reason
            }
            _ if self.n_runs < MAX_RUNS => {
                self.runs[self.n_runs] = (reason, 1);
                self.n_runs += 1;
                reason
            }
            _ => {
                let last = &mut self.runs[MAX_RUNS - 1];
                last.1 = last.1.saturating_add(1);
                last.0
            }
        };
        self.count_lost(reason, 1);
        self.next_seq = self.next_seq.saturating_add(1);
    }

    /// Numbers the next record and appends its payload; when it does not fit it is
    /// dropped and counted as a loss of `reason_if_full` ([`LossReason::QueueOverflow`],
    /// or [`LossReason::SinkOutage`] while the sink is down). Returns whether it was
    /// queued.
    pub fn push(&mut self, payload: &[u8], reason_if_full: LossReason) -> bool {
        let markers = self.n_runs + usize::from(self.pending_enobufs > 0);
        let need = HEADER_LEN + payload.len() + markers * (HEADER_LEN + MARKER_BODY_LEN);
        let fits = payload.len() <= MAX_BODY_LEN
            && self.records < self.max_records
            && need <= self.ring.len() - self.used;
        if !fits {
            self.reject(reason_if_full);
            return false;
        }
        // ENOBUFS first: the events were seen after the numbers below the runs' first.
        let enobufs = std::mem::take(&mut self.pending_enobufs);
        if enobufs > 0 {
            self.put_marker(LossReason::KernelEnobufs, enobufs);
        }
        for i in 0..std::mem::take(&mut self.n_runs) {
            let (reason, count) = self.runs[i];
            self.put_marker(reason, count);
        }
        // Fits MAX_BODY_LEN, checked above.
        self.put(payload.len() as u16, payload);
        self.records += 1;
        self.next_seq = self.next_seq.saturating_add(1);
        true
    }

    /// Takes the oldest entry; a record's payload is copied into `out`, which must hold
    /// the longest payload pushed (`wire::MAX_PAYLOAD_LEN` does). Losses still pending
    /// come out once every entry is out. None when empty.
    pub fn pop(&mut self, out: &mut [u8]) -> Option<Item> {
        if self.used < HEADER_LEN {
            if self.pending_enobufs > 0 {
                let events = std::mem::take(&mut self.pending_enobufs);
                return Some(self.loss_item(LossReason::KernelEnobufs, events));
            }
            if self.n_runs == 0 {
                return None;
            }
            let (reason, count) = self.runs[0];
            self.runs.copy_within(1..self.n_runs, 0);
            self.n_runs -= 1;
            return Some(self.loss_item(reason, count));
        }
        let h = u16::from_le_bytes([self.byte(self.head), self.byte(self.head + 1)]);
        let len = usize::from(h & !MARKER_FLAG);
        let body = self.head + HEADER_LEN;
        let item = if h & MARKER_FLAG != 0 {
            let reason = LossReason::ALL
                .get(usize::from(self.byte(body)))
                .copied()
                .unwrap_or(LossReason::QueueOverflow);
            self.loss_item(reason, self.marker_count(body))
        } else {
            let n = len.min(out.len());
            self.copy_out(body, &mut out[..n]);
            self.records -= 1;
            let seq = self.head_seq;
            self.head_seq = self.head_seq.saturating_add(1);
            Item::Numbered { len: n, seq }
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

    /// Empties the queue for good (the agent stops with records it cannot send): every
    /// record still queued becomes a loss of `reason`. Hands `each` the losses to frame,
    /// in order: the markers already queued, and one loss per run of consecutive
    /// discarded records (merged with a neighbouring run of the same reason). Returns
    /// the records discarded.
    pub fn discard(&mut self, reason: LossReason, mut each: impl FnMut(Item)) -> u64 {
        // Payloads are not needed, only their numbers.
        let mut scratch = [0u8; 0];
        let mut discarded = 0u64;
        let mut run = LossRun::default();
        while let Some(item) = self.pop(&mut scratch) {
            if matches!(item, Item::Numbered { .. }) {
                discarded += 1;
            }
            run.add(item, reason, &mut each);
        }
        run.end(&mut each);
        self.count_lost(reason, discarded);
        discarded
    }

    /// Counts `records` already handed out by [`Queue::pop`] that were dropped after all
    /// (never sent), as losses of `reason`.
    pub fn lost_after_pop(&mut self, reason: LossReason, records: u64) {
        self.count_lost(reason, records);
    }

    /// The item for a marker of `count` losses of `reason` at the head of the stream,
    /// moving past the numbers it covers.
    fn loss_item(&mut self, reason: LossReason, count: u64) -> Item {
        if reason != LossReason::KernelEnobufs {
            self.head_seq = self.head_seq.saturating_add(count);
        }
        Item::Loss {
            reason,
            count,
            next_seq: self.head_seq,
        }
    }

    fn count_lost(&mut self, reason: LossReason, n: u64) {
        let slot = &mut self.lost[reason.index()];
        *slot = slot.saturating_add(n);
    }

    fn marker_count(&self, body: usize) -> u64 {
        let mut c = [0u8; 8];
        for (i, b) in c.iter_mut().enumerate() {
            *b = self.byte(body + 1 + i);
        }
        u64::from_le_bytes(c)
    }

    fn put_marker(&mut self, reason: LossReason, count: u64) {
        let mut body = [0u8; MARKER_BODY_LEN];
        body[0] = reason.index() as u8;
        body[1..].copy_from_slice(&count.to_le_bytes());
        self.put(MARKER_FLAG | MARKER_BODY_LEN as u16, &body);
    }

    fn byte(&self, at: usize) -> u8 {
        self.ring[at % self.ring.len()]
    }

    /// Copies the ring's bytes from `at` (wrapping) into `out`: two slice copies at most,
    /// not a division per byte (the queue was a tenth of the agent's CPU per record).
    fn copy_out(&self, at: usize, out: &mut [u8]) {
        let at = at % self.ring.len();
        let first = out.len().min(self.ring.len() - at);
        let (a, b) = out.split_at_mut(first);
        a.copy_from_slice(&self.ring[at..at + first]);
        b.copy_from_slice(&self.ring[..b.len()]);
    }

    /// Copies `bytes` into the ring from `at` (wrapping); the caller checked they fit.
    fn copy_in(&mut self, at: usize, bytes: &[u8]) {
        let at = at % self.ring.len();
        let first = bytes.len().min(self.ring.len() - at);
        let (a, b) = bytes.split_at(first);
        self.ring[at..at + first].copy_from_slice(a);
        self.ring[..b.len()].copy_from_slice(b);
    }

    fn put(&mut self, header: u16, body: &[u8]) {
        let end = self.head + self.used;
        self.copy_in(end, &header.to_le_bytes());
        self.copy_in(end + HEADER_LEN, body);
        self.used += HEADER_LEN + body.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| n.wrapping_add(i as u8)).collect()
    }

    /// What popping hands out: (seq, payload) for records, (reason, count, next_seq) for
    /// losses.
    type Out = Result<(u64, Vec<u8>), (LossReason, u64, u64)>;

    fn drain(q: &mut Queue) -> Vec<Out> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Some(item) = q.pop(&mut buf) {
            out.push(to_out(item, &buf));
        }
        out
    }

    fn to_out(item: Item, buf: &[u8]) -> Out {
        match item {
            Item::Numbered { len, seq } => Ok((seq, buf[..len].to_vec())),
            Item::Loss {
                reason,
                count,
                next_seq,
            } => Err((reason, count, next_seq)),
        }
    }

    #[test]
    fn fifo_across_the_wrap() {
        // 3 entries of 2+10 bytes fit 40 bytes; pushing and popping walks round the ring.
        let mut q = Queue::new(100, 40);
        let mut buf = [0u8; 64];
        for n in 0..50u8 {
            assert!(q.push(&rec(n, 10), LossReason::QueueOverflow));
            assert_eq!(
                q.pop(&mut buf),
                Some(Item::Numbered {
                    len: 10,
                    seq: u64::from(n)
                })
            );
            assert_eq!(&buf[..10], &rec(n, 10)[..], "entry {n}");
        }
        assert!(q.is_empty());
        assert_eq!(q.pop(&mut buf), None);
        assert_eq!(q.next_seq(), 50);
    }

    #[test]
    fn overflow_by_records_is_counted_and_placed_on_its_numbers() {
        let mut q = Queue::new(3, 1000);
        for n in 0..5 {
            let queued = q.push(&rec(n, 4), LossReason::QueueOverflow);
            assert_eq!(queued, n < 3, "record {n}");
        }
        assert_eq!(q.depth(), 3);
        assert_eq!(q.next_seq(), 5);
        assert_eq!(q.lost(LossReason::QueueOverflow), 2);
        let mut buf = [0u8; 16];
        assert_eq!(q.pop(&mut buf), Some(Item::Numbered { len: 4, seq: 0 }));
        // Room for one more (number 5): the marker for 3 and 4 goes in front of it.
        assert!(q.push(&rec(9, 4), LossReason::QueueOverflow));
        assert_eq!(q.unsent_losses(), 2);
        let rest = drain(&mut q);
        assert_eq!(
            rest,
            [
                Ok((1, rec(1, 4))),
                Ok((2, rec(2, 4))),
                Err((LossReason::QueueOverflow, 2, 5)),
                Ok((5, rec(9, 4))),
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
        assert_eq!(
            drain(&mut q),
            [
                Ok((0, rec(0, 10))),
                Ok((1, rec(1, 10))),
                Err((LossReason::QueueOverflow, 2, 4)),
            ]
        );
    }

    #[test]
    fn reasons_are_kept_apart_in_order_and_enobufs_take_no_numbers() {
        let mut q = Queue::new(1, 1000);
        q.note_enobufs(1);
        assert!(q.push(&rec(0, 3), LossReason::QueueOverflow));
        // Numbers 1 and 2 dropped while the sink is down, 3 after it came back.
        assert!(!q.push(&rec(1, 3), LossReason::SinkOutage));
        assert!(!q.push(&rec(2, 3), LossReason::SinkOutage));
        q.note_enobufs(2);
        assert!(!q.push(&rec(3, 3), LossReason::QueueOverflow));
        assert_eq!(q.unsent_losses(), 6);
        assert!(!q.is_empty());
        assert_eq!(
            drain(&mut q),
            [
                Err((LossReason::KernelEnobufs, 1, 0)),
                Ok((0, rec(0, 3))),
                Err((LossReason::KernelEnobufs, 2, 1)),
                Err((LossReason::SinkOutage, 2, 3)),
                Err((LossReason::QueueOverflow, 1, 4)),
            ]
        );
        assert!(q.is_empty());
        assert_eq!(q.lost(LossReason::SinkOutage), 2);
        assert_eq!(q.lost(LossReason::KernelEnobufs), 3);
        // Markers go into the ring in front of the next record that fits.
        assert!(q.push(&rec(4, 3), LossReason::SinkOutage));
        assert!(!q.push(&rec(5, 3), LossReason::SinkOutage));
        q.reject(LossReason::QueueOverflow);
        let mut buf = [0u8; 8];
        assert_eq!(q.pop(&mut buf), Some(Item::Numbered { len: 3, seq: 4 }));
        assert!(q.push(&rec(7, 3), LossReason::QueueOverflow));
        assert_eq!(
            drain(&mut q),
            [
                Err((LossReason::SinkOutage, 1, 6)),
                Err((LossReason::QueueOverflow, 1, 7)),
                Ok((7, rec(7, 3))),
            ]
        );
    }

    #[test]
    fn many_reason_changes_keep_exact_numbers() {
        let mut q = Queue::new(0, 100);
        for i in 0..(3 * MAX_RUNS as u64) {
            let r = if i % 2 == 0 {
                LossReason::QueueOverflow
            } else {
                LossReason::SinkOutage
            };
            q.reject(r);
        }
        let out = drain(&mut q);
        assert_eq!(out.len(), MAX_RUNS);
        let mut next = 0;
        for o in &out {
            let Err((_, count, next_seq)) = *o else {
                panic!("{o:?}")
            };
            assert_eq!(next_seq - count, next, "runs are consecutive: {out:?}");
            next = next_seq;
        }
        assert_eq!(next, 3 * MAX_RUNS as u64);
        let lost = q.lost(LossReason::QueueOverflow) + q.lost(LossReason::SinkOutage);
        assert_eq!(lost, next, "the counts follow the framed reasons");
    }

    /// Checks a drained sequence against the contract: every number below `next_seq`
    /// comes out exactly once, as a record or inside a loss, in order.
    fn check_numbers(items: &[Out], next_seq: u64) -> (u64, u64) {
        let (mut expect, mut recs, mut lost) = (0u64, 0u64, 0u64);
        for it in items {
            match it {
                Ok((seq, _)) => {
                    assert_eq!(*seq, expect, "{items:?}");
                    expect += 1;
                    recs += 1;
                }
                Err((LossReason::KernelEnobufs, _, n)) => assert_eq!(*n, expect),
                Err((_, c, n)) => {
                    assert_eq!(n - c, expect, "a loss starts where the last item ended");
                    expect = *n;
                    lost += c;
                }
            }
        }
        assert_eq!(expect, next_seq);
        (recs, lost)
    }

    #[test]
    fn conservation_under_random_load() {
        // Whatever the interleaving: every number is popped once, as a record or a loss.
        let mut q = Queue::new(17, 300);
        let mut buf = [0u8; 64];
        let mut items = Vec::new();
        let mut x: u32 = 12345;
        for i in 0..20_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            match x >> 16 & 7 {
                0 | 1 => {
                    if let Some(item) = q.pop(&mut buf) {
                        items.push(to_out(item, &buf));
                    }
                }
                2 => q.note_enobufs(1),
                k => {
                    let mut r = i.to_le_bytes().to_vec();
                    r.resize(4 + (x as usize >> 8) % 40, 0xAA);
                    let reason = if k == 3 {
                        LossReason::SinkOutage
                    } else {
                        LossReason::QueueOverflow
                    };
                    q.push(&r, reason);
                }
            }
        }
        items.extend(drain(&mut q));
        let (recs, lost) = check_numbers(&items, q.next_seq());
        assert_eq!(
            lost,
            q.lost(LossReason::QueueOverflow) + q.lost(LossReason::SinkOutage)
        );
        assert!(lost > 0 && recs > 0);
        // Records come out as they went in.
        let mut last = None;
        for (_, p) in items.iter().flatten() {
            let n = u32::from_le_bytes(p[..4].try_into().unwrap());
            assert!(last.is_none_or(|l| n > l));
            last = Some(n);
        }
    }

    #[test]
    fn discard_turns_the_rest_into_covering_losses() {
        let mut q = Queue::new(4, 1000);
        for n in 0..4 {
            assert!(q.push(&rec(n, 4), LossReason::QueueOverflow));
        }
        // 4 and 5 overflow; ENOBUFS; then 6 fits after one pop.
        assert!(!q.push(&rec(4, 4), LossReason::QueueOverflow));
        assert!(!q.push(&rec(5, 4), LossReason::SinkOutage));
        q.note_enobufs(1);
        let mut buf = [0u8; 8];
        assert_eq!(q.pop(&mut buf), Some(Item::Numbered { len: 4, seq: 0 }));
        assert!(q.push(&rec(6, 4), LossReason::QueueOverflow));
        assert!(!q.push(&rec(7, 4), LossReason::SinkOutage));
        let mut got = Vec::new();
        let n = q.discard(LossReason::SinkOutage, |i| got.push(to_out(i, &[])));
        assert_eq!(n, 4, "records 1, 2, 3 and 6");
        assert_eq!(
            got,
            [
                Err((LossReason::SinkOutage, 3, 4)),
                Err((LossReason::KernelEnobufs, 1, 4)),
                Err((LossReason::QueueOverflow, 1, 5)),
                Err((LossReason::SinkOutage, 3, 8)),
            ]
        );
        assert!(q.is_empty());
        assert_eq!(q.depth(), 0);
        assert_eq!(q.lost(LossReason::SinkOutage), 2 + 4);
        let mut all = vec![Ok((0, rec(0, 4)))];
        all.extend(got);
        check_numbers(&all, 8);
    }

    #[test]
    fn oversized_payload_is_a_loss_not_a_panic() {
        let mut q = Queue::new(10, 100);
        assert!(!q.push(&[0u8; 200], LossReason::QueueOverflow));
        let mut q = Queue::new(10, 0);
        assert!(!q.push(&[1], LossReason::QueueOverflow));
        assert_eq!(drain(&mut q), [Err((LossReason::QueueOverflow, 1, 1))]);
    }
}
