//! The sink-writer thread: takes items off the queue, frames them in batches, writes them,
//! sends heartbeats, and survives sink outages by reconnecting with backoff.
//!
//! An outage never reaches the reader: while the sink is down the writer reconnects
//! (100 ms doubling to 5 s), records keep queueing, and those that no longer fit are
//! counted as `SinkOutage` losses. After a reconnect the stream restarts (0x00, header)
//! and the batch that failed is written again whole; frames of it that did arrive before
//! the failure then arrive twice, with the same `seq`.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use taskwire_core::wire::MAX_PAYLOAD_LEN;

use super::framer::Framer;
use super::queue::Queue;
use super::sink::{OpenError, write_all};

/// Bytes of frames gathered before one write: enough to cut system calls under an exit
/// storm, small enough that a UART at 115200 baud drains it in a third of a second.
pub const BATCH_BYTES: usize = 4096;

/// What the reader and the writer share.
#[derive(Debug)]
pub struct Shared {
    /// The records waiting.
    pub queue: Queue,
    /// Set when the agent stops: flush until this instant, then quit.
    pub closing: Option<Instant>,
    /// The sink is down (drops count as `SinkOutage`).
    pub sink_down: bool,
    /// The writer gave up for good (stdout closed): the agent must stop.
    pub fatal: Option<String>,
    /// The writer has returned.
    pub done: bool,
    /// Records framed (numbered and handed to a write) so far.
    pub records_framed: u64,
    /// Records whose write completed so far.
    pub records_written: u64,
    /// Successful reconnects after an outage.
    pub reconnects: u64,
}

/// The shared state and the two wake-ups: `work` for the writer, `finished` for whoever
/// waits for the writer to end.
#[derive(Debug)]
pub struct Link {
    /// The state.
    pub state: Mutex<Shared>,
    /// Signalled when there is something for the writer (an item, a stop).
    pub work: Condvar,
    /// Signalled when the writer returns.
    pub finished: Condvar,
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
}

/// Opens the sink again after an outage.
pub trait Connector {
    /// The sink; its errors are shown to the user.
    type Sink: embedded_io::Write<Error: std::fmt::Display>;
    /// A fresh connection (or open device or file).
    fn connect(&mut self) -> Result<Self::Sink, OpenError>;
    /// Whether a failed sink can be reopened at all (stdout cannot).
    fn reconnects(&self) -> bool;
    /// Names the sink in messages.
    fn name(&self) -> String;
}

/// Settings of the writer.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Heartbeat period; None = no heartbeats.
    pub heartbeat: Option<Duration>,
    /// First reconnect delay.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            heartbeat: Some(Duration::from_secs(10)),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// Runs the writer until the link is closed (and flushed, or its grace over) or the sink
/// fails for good. `sink` is the connection opened at start, if any. `started` is the
/// agent's start, for heartbeat uptimes; `fatal` is called once when the writer gives up
/// (the command uses it to wake its reader).
pub fn run<C: Connector>(
    link: &Link,
    connector: &mut C,
    mut sink: Option<C::Sink>,
    mut framer: Framer,
    settings: Settings,
    started: Instant,
    fatal: &dyn Fn(),
) {
    let mut out: Vec<u8> = Vec::with_capacity(BATCH_BYTES + taskwire_core::wire::MAX_FRAME_LEN);
    let mut start: Vec<u8> = Vec::with_capacity(taskwire_core::wire::MAX_FRAME_LEN + 1);
    let mut payload = vec![0u8; MAX_PAYLOAD_LEN];
    let mut need_header = true;
    let mut backoff = settings.backoff_min;
    let mut next_beat = settings.heartbeat.map(|p| Instant::now() + p);
    let mut last_complaint = String::new();
    let mut down_since: Option<Instant> = None;
    let name = connector.name();
    let finish = |link: &Link| {
        link.lock().done = true;
        link.finished.notify_all();
    };

    loop {
        let Some(w) = sink.as_mut() else {
            let closing = link.lock().closing.is_some();
            if closing {
                break;
            }
            match connector.connect() {
                Ok(s) => {
                    sink = Some(s);
                    need_header = true;
                    continue;
                }
                Err(e) => {
                    if e.msg != last_complaint {
                        eprintln!("taskwire stream: {name}: {}; retrying", e.msg);
                        last_complaint = e.msg;
                    }
                    let st = link.lock();
                    if st.closing.is_none() {
                        let _ = link.work.wait_timeout(st, backoff);
                    }
                    backoff = (backoff * 2).min(settings.backoff_max);
                    continue;
                }
            }
        };
        if need_header {
            start.clear();
            framer.start(&mut start);
            if let Err(e) = write_all(w, &start) {
                let e = format!("{e}");
                if !outage(link, connector, &mut sink, &e, &mut down_since, fatal) {
                    break;
                }
                continue;
            }
            need_header = false;
            if let Some(since) = down_since.take() {
                let mut st = link.lock();
                st.sink_down = false;
                st.reconnects += 1;
                drop(st);
                eprintln!(
                    "taskwire stream: {name}: back after {:.1} s; stream header resent",
                    since.elapsed().as_secs_f64()
                );
                last_complaint.clear();
            }
            backoff = settings.backoff_min;
        }

        if out.is_empty() {
            let mut st = link.lock();
            loop {
                let closing = st.closing;
                if let Some(deadline) = closing {
                    if st.queue.is_empty() || Instant::now() >= deadline {
                        break;
                    }
                }
                if !st.queue.is_empty() {
                    break;
                }
                let now = Instant::now();
                match next_beat {
                    Some(t) if t <= now => break,
                    Some(t) => {
                        st = link
                            .work
                            .wait_timeout(st, t - now)
                            .unwrap_or_else(|p| p.into_inner())
                            .0
                    }
                    None => st = link.work.wait(st).unwrap_or_else(|p| p.into_inner()),
                }
            }
            if let Some(deadline) = st.closing {
                if st.queue.is_empty() || Instant::now() >= deadline {
                    drop(st);
                    break;
                }
            }
            // Frame outside the lock: the reader must not wait on decoding and encoding.
            while out.len() < BATCH_BYTES {
                let Some(item) = st.queue.pop(&mut payload) else {
                    break;
                };
                drop(st);
                framer.item(item, &payload, &mut out);
                st = link.lock();
            }
            st.records_framed = framer.seq();
            let now = Instant::now();
            if let (Some(t), Some(p)) = (next_beat, settings.heartbeat) {
                if t <= now {
                    let uptime = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    framer.heartbeat(uptime, st.queue.unsent_losses(), st.queue.depth(), &mut out);
                    next_beat = Some(now + p);
                }
            }
        }
        if out.is_empty() {
            continue;
        }
        match write_all(w, &out) {
            Ok(()) => {
                out.clear();
                link.lock().records_written = framer.seq();
            }
            Err(e) => {
                let e = format!("{e}");
                if !outage(link, connector, &mut sink, &e, &mut down_since, fatal) {
                    break;
                }
            }
        }
    }
    finish(link);
}

/// Handles a failed write: drops the sink and marks the outage; false when the sink
/// cannot come back (the writer must stop and the agent with it).
fn outage<C: Connector>(
    link: &Link,
    connector: &C,
    sink: &mut Option<C::Sink>,
    err: &str,
    down_since: &mut Option<Instant>,
    fatal: &dyn Fn(),
) -> bool {
    *sink = None;
    let name = connector.name();
    if !connector.reconnects() {
        let mut st = link.lock();
        st.fatal = Some(format!("writing to {name}: {err}"));
        drop(st);
        fatal();
        return false;
    }
    link.lock().sink_down = true;
    if down_since.is_none() {
        *down_since = Some(Instant::now());
        eprintln!("taskwire stream: {name}: {err}; reconnecting (records keep queueing)");
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::framer::tests::{decode_all, payload};
    use crate::stream::sink::SinkError;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use taskwire_core::wire::{Kind, LossReason, Message, Profile, StreamHeader};

    /// A sink writing into a shared byte log, failing after `budget` bytes.
    struct Flaky {
        log: Arc<Mutex<Vec<u8>>>,
        budget: usize,
    }

    impl embedded_io::ErrorType for Flaky {
        type Error = SinkError;
    }

    impl embedded_io::Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> Result<usize, SinkError> {
            if self.budget == 0 {
                return Err(SinkError::Os(rustix::io::Errno::CONNRESET));
            }
            let n = buf.len().min(self.budget);
            self.budget -= n;
            self.log.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
    }

    /// Hands out `Flaky` sinks with the given byte budgets, then refuses.
    struct Script {
        log: Arc<Mutex<Vec<u8>>>,
        budgets: Vec<usize>,
        connects: Arc<AtomicUsize>,
        reconnects: bool,
    }

    impl Connector for Script {
        type Sink = Flaky;
        fn connect(&mut self) -> Result<Flaky, OpenError> {
            self.connects.fetch_add(1, Ordering::SeqCst);
            if self.budgets.is_empty() {
                return Err(OpenError {
                    msg: "refused".into(),
                    permission: false,
                });
            }
            Ok(Flaky {
                log: self.log.clone(),
                budget: self.budgets.remove(0),
            })
        }
        fn reconnects(&self) -> bool {
            self.reconnects
        }
        fn name(&self) -> String {
            "test".into()
        }
    }

    fn fast() -> Settings {
        Settings {
            heartbeat: None,
            backoff_min: Duration::from_millis(1),
            backoff_max: Duration::from_millis(4),
        }
    }

    fn records(msgs: &[Message]) -> Vec<u64> {
        msgs.iter()
            .filter_map(|m| match m {
                Message::Record(r) => Some(r.seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn records_survive_an_outage_and_keep_their_numbers() {
        let (p, _) = payload(Kind::Pid, Profile::Acct);
        let link = Arc::new(Link::new(Queue::new(100, 100 * 96)));
        for _ in 0..20 {
            assert!(link.lock().queue.push(&p, LossReason::QueueOverflow));
        }
        let log = Arc::new(Mutex::new(Vec::new()));
        let connects = Arc::new(AtomicUsize::new(0));
        let mut c = Script {
            log: log.clone(),
            budgets: vec![300, usize::MAX],
            connects: connects.clone(),
            reconnects: true,
        };
        let first = c.connect().ok();
        let l2 = link.clone();
        let t = std::thread::spawn(move || {
            run(
                &l2,
                &mut c,
                first,
                Framer::new(StreamHeader::new()),
                fast(),
                Instant::now(),
                &|| panic!("not fatal"),
            )
        });
        // Wait for everything to be written, then close.
        let until = Instant::now() + Duration::from_secs(5);
        while link.lock().records_written < 20 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        link.close(Duration::from_secs(1));
        assert!(link.wait_done(Instant::now() + Duration::from_secs(5)));
        t.join().unwrap();
        assert_eq!(connects.load(Ordering::SeqCst), 2);
        assert_eq!(link.lock().reconnects, 1);
        let bytes = log.lock().unwrap().clone();
        let mut r = taskwire_core::wire::StreamReader::new();
        let results: Vec<_> = r.feed(&bytes).collect();
        // The frame cut by the outage is rejected, and only it.
        assert_eq!(r.stats().rejected(), 1);
        let msgs: Vec<Message> = results.into_iter().filter_map(Result::ok).collect();
        let headers = msgs
            .iter()
            .filter(|m| matches!(m, Message::Header(_)))
            .count();
        assert_eq!(headers, 2);
        let seqs = records(&msgs);
        // Every record arrived, numbered 0..20 across both connections; the batch cut by
        // the outage was resent, so its early frames may come twice.
        let mut uniq = seqs.clone();
        uniq.dedup();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq, (0..20).collect::<Vec<_>>());
        assert!(!msgs.iter().any(|m| matches!(m, Message::Loss(_))));
    }

    #[test]
    fn drops_during_an_outage_are_sink_outage_losses() {
        let (p, _) = payload(Kind::Pid, Profile::Delays);
        let link = Arc::new(Link::new(Queue::new(5, 5 * 64)));
        // Down from the start: the connector refuses until it has a budget.
        let log = Arc::new(Mutex::new(Vec::new()));
        let connects = Arc::new(AtomicUsize::new(0));
        let mut c = Script {
            log: log.clone(),
            budgets: vec![0],
            connects: connects.clone(),
            reconnects: true,
        };
        let first = c.connect().ok();
        let l2 = link.clone();
        let t = std::thread::spawn(move || {
            run(
                &l2,
                &mut c,
                first,
                Framer::new(StreamHeader::new()),
                fast(),
                Instant::now(),
                &|| {},
            )
        });
        let until = Instant::now() + Duration::from_secs(5);
        while !link.lock().sink_down && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        for _ in 0..8 {
            let mut st = link.lock();
            let reason = if st.sink_down {
                LossReason::SinkOutage
            } else {
                LossReason::QueueOverflow
            };
            st.queue.push(&p, reason);
        }
        assert_eq!(link.lock().queue.lost(LossReason::SinkOutage), 3);
        link.close(Duration::from_millis(50));
        assert!(link.wait_done(Instant::now() + Duration::from_secs(5)));
        t.join().unwrap();
        assert_eq!(link.lock().records_framed, 0);
    }

    #[test]
    fn stdout_failure_is_fatal_and_reported() {
        let (p, _) = payload(Kind::Pid, Profile::Delays);
        let link = Link::new(Queue::new(5, 5 * 64));
        link.lock().queue.push(&p, LossReason::QueueOverflow);
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut c = Script {
            log,
            budgets: vec![10],
            connects: Arc::new(AtomicUsize::new(0)),
            reconnects: false,
        };
        let first = c.connect().ok();
        let called = AtomicUsize::new(0);
        run(
            &link,
            &mut c,
            first,
            Framer::new(StreamHeader::new()),
            fast(),
            Instant::now(),
            &|| {
                called.fetch_add(1, Ordering::SeqCst);
            },
        );
        assert_eq!(called.load(Ordering::SeqCst), 1);
        let st = link.lock();
        assert!(st.done);
        assert!(
            st.fatal.as_deref().is_some_and(|f| f.contains("test")),
            "{:?}",
            st.fatal
        );
    }

    #[test]
    fn heartbeats_when_idle() {
        let link = Arc::new(Link::new(Queue::new(5, 5 * 64)));
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut c = Script {
            log: log.clone(),
            budgets: vec![usize::MAX],
            connects: Arc::new(AtomicUsize::new(0)),
            reconnects: true,
        };
        let first = c.connect().ok();
        let l2 = link.clone();
        let settings = Settings {
            heartbeat: Some(Duration::from_millis(20)),
            ..fast()
        };
        let t = std::thread::spawn(move || {
            run(
                &l2,
                &mut c,
                first,
                Framer::new(StreamHeader::new()),
                settings,
                Instant::now(),
                &|| {},
            )
        });
        std::thread::sleep(Duration::from_millis(150));
        link.close(Duration::from_millis(100));
        assert!(link.wait_done(Instant::now() + Duration::from_secs(5)));
        t.join().unwrap();
        let msgs = decode_all(&log.lock().unwrap());
        let beats: Vec<_> = msgs
            .iter()
            .filter_map(|m| match m {
                Message::Heartbeat(h) => Some(*h),
                _ => None,
            })
            .collect();
        assert!(beats.len() >= 3, "{beats:?}");
        assert!(beats.windows(2).all(|w| w[1].uptime_ms > w[0].uptime_ms));
        assert!(
            beats
                .iter()
                .all(|b| b.records_sent == 0 && b.queue_depth == 0)
        );
    }
}
