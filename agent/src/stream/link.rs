//! What the reader thread and the writer thread share: the queue, the sink's state and
//! the writer's counts, behind one lock, changed only through methods named for what
//! happened. The reader's side is public; the writer's is the `stream` module's own.
//!
//! A sampler of live tasks feeds the same queue ([`Link::push_samples`], or
//! [`Shared::push_interval`] and [`Shared::push_sample`] one frame at a time): its
//! intervals and samples are numbered in the records' sequence, dropped into the same
//! loss runs on overflow or outage, and counted with the records in heartbeats
//! (core/WIRE.md, "Numbered frames"). In the counts below, "records" are all three.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use taskwire_core::taskstats::Deltas;
use taskwire_core::wire::{
    self, Interval, LossReason, MAX_INTERVAL_PAYLOAD_LEN, MAX_SAMPLE_PAYLOAD_LEN, Sample,
};

use super::queue::{Item, Queue};

/// One task's row of a sampling interval, as the sampler hands it to
/// [`Link::push_samples`].
#[derive(Debug, Clone, Copy)]
pub struct SampleRow<'a> {
    /// The thread group.
    pub tgid: u32,
    /// Its command name (cut at a NUL and at 32 bytes); `None` when not known.
    pub comm: Option<&'a [u8]>,
    /// What its counters moved by; the row's `interval_ms` comes from its `interval_ns`.
    pub deltas: &'a Deltas,
}

/// The state behind the lock.
#[derive(Debug)]
pub struct Shared {
    queue: Queue,
    /// Set when the agent stops: flush until this instant, then quit.
    closing: Option<Instant>,
    /// The sink is down: records that do not fit are `SinkOutage` losses.
    sink_down: bool,
    /// Why the writer gave up for good (stdout closed): the agent must stop.
    fatal: Option<String>,
    done: bool,
    records_framed: u64,
    records_written: u64,
    records_cut: u64,
    records_unacked: u64,
    reconnects: u64,
    /// Intervals offered to the queue (numbered, queued or not).
    intervals: u64,
    /// Samples offered to the queue (numbered, queued or not).
    samples: u64,
}

impl Shared {
    /// Numbers the next record and queues its payload; when it does not fit it is lost,
    /// to a sink outage while the sink is down, else to queue overflow. Whether it was
    /// queued.
    pub fn push(&mut self, payload: &[u8]) -> bool {
        let reason = if self.sink_down {
            LossReason::SinkOutage
        } else {
            LossReason::QueueOverflow
        };
        self.queue.push(payload, reason)
    }

    /// Numbers the next record and counts it lost (it could not be encoded).
    pub fn reject(&mut self) {
        self.queue.reject(LossReason::QueueOverflow);
    }

    /// Numbers an interval and queues it, as [`Shared::push`] a record; its `seq` is
    /// ignored (the queue's number goes out). Whether it was queued.
    pub fn push_interval(&mut self, interval: &Interval) -> bool {
        self.intervals += 1;
        let mut buf = [0u8; MAX_INTERVAL_PAYLOAD_LEN];
        let interval = Interval {
            seq: 0,
            ..*interval
        };
        let encoded = wire::encode_interval_payload(&interval, &mut buf);
        self.push_encoded(encoded, &buf)
    }

    /// Numbers the sample of task `tgid` over interval `sample` and queues it, as
    /// [`Shared::push`] a record. `comm` is cut at its first NUL and at 32 bytes; the
    /// sample's `interval_ms` is `deltas.interval_ns` in ms ([`wire::interval_ms_of`]).
    /// Whether it was queued.
    pub fn push_sample(
        &mut self,
        sample: u64,
        tgid: u32,
        comm: Option<&[u8]>,
        deltas: &Deltas,
    ) -> bool {
        self.samples += 1;
        let mut buf = [0u8; MAX_SAMPLE_PAYLOAD_LEN];
        let encoded =
            wire::encode_sample_payload(&Sample::new(sample, tgid, comm, deltas), &mut buf);
        self.push_encoded(encoded, &buf)
    }

    /// Pushes the payload `encoded` into `buf` (numbered 0). The buffers are sized for the
    /// longest interval and sample (core tests the bounds); should encoding fail anyway,
    /// the frame still takes its number and is reported lost.
    fn push_encoded(&mut self, encoded: taskwire_core::Result<usize>, buf: &[u8]) -> bool {
        match encoded {
            Ok(n) => self.push(&buf[..n]),
            Err(_) => {
                self.reject();
                false
            }
        }
    }

    /// Intervals and samples offered so far (numbered, whether queued or dropped): the
    /// rest of [`Queue::next_seq`] are exit records.
    pub fn sampled(&self) -> (u64, u64) {
        (self.intervals, self.samples)
    }

    /// Counts kernel ENOBUFS events at this point of the stream.
    pub fn note_enobufs(&mut self, events: u64) {
        self.queue.note_enobufs(events);
    }

    /// The queue, for its counts.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Why the writer gave up for good, if it did.
    pub fn fatal(&self) -> Option<&str> {
        self.fatal.as_deref()
    }

    /// Whether the sink is down.
    #[cfg(test)]
    pub fn sink_down(&self) -> bool {
        self.sink_down
    }

    /// Whether the writer has returned.
    #[cfg(test)]
    pub fn done(&self) -> bool {
        self.done
    }

    /// Records framed (numbered and handed to a write) so far.
    pub fn records_framed(&self) -> u64 {
        self.records_framed
    }

    /// Records whose write completed so far.
    pub fn records_written(&self) -> u64 {
        self.records_written
    }

    /// Records dropped when the flush grace ran out (queued, or framed and not started),
    /// reported as `SinkOutage` losses (also counted in the queue's losses).
    pub fn records_cut(&self) -> u64 {
        self.records_cut
    }

    /// Records written that the collector had not acknowledged when the writer
    /// returned: a collector that hung or died may never have read them.
    pub fn records_unacknowledged(&self) -> u64 {
        self.records_unacked
    }

    /// Successful reconnects after an outage.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// When the flush grace ends, once the agent stops.
    pub(super) fn closing(&self) -> Option<Instant> {
        self.closing
    }

    pub(super) fn pop(&mut self, payload: &mut [u8]) -> Option<Item> {
        self.queue.pop(payload)
    }

    /// The framer has framed `records` records in all.
    pub(super) fn framed(&mut self, records: u64) {
        self.records_framed = records;
    }

    pub(super) fn written(&mut self, records: u64) {
        self.records_written += records;
    }

    /// The grace is over: `unframed` records framed but not started are dropped, and so
    /// is everything still queued; `each` gets the queue's losses to frame, in order
    /// (see [`Queue::discard`]).
    pub(super) fn cut(&mut self, unframed: u64, each: impl FnMut(Item)) {
        self.queue.lost_after_pop(LossReason::SinkOutage, unframed);
        let queued = self.queue.discard(LossReason::SinkOutage, each);
        self.records_framed -= unframed;
        self.records_cut += unframed + queued;
    }

    pub(super) fn went_down(&mut self) {
        self.sink_down = true;
    }

    pub(super) fn unacknowledged(&mut self, records: u64) {
        self.records_unacked = records;
    }

    pub(super) fn came_back(&mut self) {
        self.sink_down = false;
        self.reconnects += 1;
    }

    pub(super) fn fail(&mut self, why: String) {
        self.fatal = Some(why);
    }
}

/// The shared state and the two wake-ups: `work` for the writer, `finished` for whoever
/// waits for the writer to end.
#[derive(Debug)]
pub struct Link {
    state: Mutex<Shared>,
    work: Condvar,
    finished: Condvar,
}

impl Link {
    /// A link around `queue`.
    pub fn new(queue: Queue) -> Link {
        Link {
            state: Mutex::new(Shared {
                queue,
                closing: None,
                sink_down: false,
                fatal: None,
                done: false,
                records_framed: 0,
                records_written: 0,
                records_cut: 0,
                records_unacked: 0,
                reconnects: 0,
                intervals: 0,
                samples: 0,
            }),
            work: Condvar::new(),
            finished: Condvar::new(),
        }
    }

    /// Locks the state; a panicked holder cannot leave it inconsistent in a way that
    /// matters more than stopping, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the writer there is something for it.
    pub fn wake_writer(&self) {
        self.work.notify_one();
    }

    /// The sampler's entry point: queues one interval and then its rows, numbered on
    /// arrival in the records' sequence, under one lock, and wakes the writer once.
    /// `interval.rows` is set to the number of rows and its `seq` ignored. Frames that do
    /// not fit are dropped into the loss runs like records (a `QueueOverflow`, or a
    /// `SinkOutage` while the sink is down). Returns how many of the `1 + rows` frames
    /// were queued.
    pub fn push_samples<'a, I>(&self, interval: &Interval, rows: I) -> u64
    where
        I: IntoIterator<Item = SampleRow<'a>>,
        I::IntoIter: ExactSizeIterator,
    {
        let rows = rows.into_iter();
        let head = Interval {
            rows: u32::try_from(rows.len()).unwrap_or(u32::MAX),
            ..*interval
        };
        let mut st = self.lock();
        let mut queued = u64::from(st.push_interval(&head));
        for r in rows {
            queued += u64::from(st.push_sample(interval.sample, r.tgid, r.comm, r.deltas));
        }
        drop(st);
        self.wake_writer();
        queued
    }

    /// Asks the writer to flush for at most `grace`, then return.
    pub fn close(&self, grace: Duration) {
        self.lock().closing = Some(Instant::now() + grace);
        self.work.notify_all();
    }

    /// Waits until the writer has returned or `until`; whether it has.
    pub fn wait_done(&self, until: Instant) -> bool {
        let mut st = self.lock();
        while !st.done {
            let now = Instant::now();
            if now >= until {
                return false;
            }
            st = self
                .finished
                .wait_timeout(st, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// The writer waits, with `st` unlocked, until woken or `timeout` (None: no limit).
    pub(super) fn wait<'a>(
        &'a self,
        st: MutexGuard<'a, Shared>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, Shared> {
        match timeout {
            Some(t) => {
                self.work
                    .wait_timeout(st, t)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => self.work.wait(st).unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// The writer has returned.
    pub(super) fn finish(&self) {
        self.lock().done = true;
        self.finished.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::framer::Framer;
    use crate::stream::framer::tests::{decode_all, payload};
    use taskwire_core::taskstats::DelayCounter;
    use taskwire_core::wire::{Kind, Loss, Message, Profile, StreamHeader};

    fn deltas(cpu_us: u64) -> Deltas {
        let mut d = Deltas::empty(2_000_000_000);
        d.cpu_us = Some(cpu_us);
        d.delays[1] = Some(DelayCounter {
            count: 2,
            total_ns: 5_000_000,
        });
        d
    }

    /// Frames everything queued, then a heartbeat.
    fn drain(link: &Link) -> Vec<Message> {
        let mut f = Framer::new(StreamHeader::new());
        let mut out = Vec::new();
        let mut buf = vec![0u8; wire::MAX_PAYLOAD_LEN];
        let mut st = link.lock();
        while let Some(item) = st.pop(&mut buf) {
            f.item(item, &buf, &mut out);
        }
        let q = st.queue();
        f.heartbeat(1, q.unsent_losses(), q.depth(), &mut out);
        decode_all(&out)
    }

    #[test]
    fn samples_take_numbers_beside_records_and_overflow_into_their_losses() {
        let (rec, _) = payload(Kind::Pid, Profile::Delays);
        // Room for four frames: a record, the interval and two of its five rows.
        let link = Link::new(Queue::new(4, 4096));
        assert!(link.lock().push(&rec));
        let ds: Vec<Deltas> = (0..5).map(|i| deltas(1000 * i)).collect();
        let names: [&[u8]; 5] = [b"a", b"b\0junk", b"c", b"d", b"e"];
        let rows = ds
            .iter()
            .zip(names)
            .enumerate()
            .map(|(i, (d, n))| SampleRow {
                tgid: 100 + i as u32,
                comm: Some(n),
                deltas: d,
            });
        let mut interval = Interval::new(7, 2000);
        interval.seq = 99;
        interval.tasks_total = 50;
        assert_eq!(link.push_samples(&interval, rows), 3);
        assert_eq!(link.lock().sampled(), (1, 5));
        let msgs = drain(&link);
        // Record 0, interval 1 and samples 2 and 3 fit; samples 4 to 6 are one loss.
        let Message::Interval(i) = &msgs[1] else {
            panic!("{msgs:?}")
        };
        assert_eq!((i.seq, i.sample, i.rows, i.tasks_total), (1, 7, 5, 50));
        let Message::Sample(s) = &msgs[3] else {
            panic!("{msgs:?}")
        };
        assert_eq!((s.seq, s.sample, s.tgid), (3, 7, 101));
        assert_eq!(s.comm_str(), Some("b"));
        assert_eq!(s.deltas(), ds[1]);
        assert_eq!(
            msgs[4],
            Message::Loss(Loss {
                count: 3,
                reason: LossReason::QueueOverflow,
                next_seq: 7
            })
        );
        let Message::Heartbeat(h) = msgs[5] else {
            panic!("{msgs:?}")
        };
        // Every number is framed, lost or queued: 4 + 3 + 0 = 7.
        assert_eq!((h.records_sent, h.drops, h.queue_depth), (4, 3, 0));
        assert!(matches!(msgs[0], Message::Record(ref r) if r.seq == 0));
        assert_eq!(link.lock().queue().next_seq(), 7);
    }

    #[test]
    fn samples_dropped_while_the_sink_is_down_are_outage_losses() {
        let link = Link::new(Queue::new(1, 4096));
        link.lock().went_down();
        let d = deltas(5);
        let row = SampleRow {
            tgid: 1,
            comm: None,
            deltas: &d,
        };
        assert_eq!(link.push_samples(&Interval::new(0, 2000), [row, row]), 1);
        let st = link.lock();
        assert_eq!(st.queue().lost(LossReason::SinkOutage), 2);
        assert_eq!(st.queue().next_seq(), 3);
    }
}
