//! What the reader thread and the writer thread share: the queue, the sink's state and
//! the writer's counts, behind one lock, changed only through methods named for what
//! happened. The reader's side is public; the writer's is the `stream` module's own.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use taskwire_core::wire::LossReason;

use super::queue::{Item, Queue};

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
    reconnects: u64,
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
                reconnects: 0,
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
