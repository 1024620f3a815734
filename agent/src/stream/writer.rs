//! The sink-writer thread: takes items off the queue, frames them in batches, writes them,
//! sends heartbeats, and survives sink outages by reconnecting with backoff.
//!
//! An outage never reaches the reader: while the sink is down the writer reconnects
//! (100 ms doubling to 5 s), records keep queueing, and those that no longer fit are
//! counted as `SinkOutage` losses. After a reconnect the stream restarts (0x00, header)
//! and the batch that failed is written again whole; frames of it that did arrive before
//! the failure then arrive twice, with the same `seq`.
//!
//! A collector that stops on purpose first closes its side (FIN) and goes on reading for
//! a while. Before each write the writer looks for that ([`Connector::hung_up`]); on it,
//! it finishes the frame in progress, closes and reconnects, and the frames it had not
//! started go to the next connection: nothing is lost or sent twice.
//!
//! When the agent stops, the queue is written for a grace period, in short writes each
//! waited for no later than its end ([`Connector::writable`]); then the frame in progress
//! is finished, and the records not sent (in frames not started, still queued) are
//! dropped and reported, in a last write, as `SinkOutage` losses covering their numbers.
//!
//! On a two-way link (TCP, Unix) the collector answers (core/WIRE.md section 7; [`ack`]):
//! after each header the writer waits for its first answer before writing anything else,
//! a refusal or a close before it counts as a failed connect (the backoff grows), and
//! frames written are kept until acknowledged and written again after a reconnect.
//!
//! The thread's state is one `Writer`, and each thing it does is a step of its own
//! (reconnect, start the stream, fill a batch, send it, cut what the grace left), so a
//! test can drive the steps one by one against an in-memory sink.

use std::time::{Duration, Instant};

use taskwire_core::wire::{DELIMITER, LossReason, MAX_FRAME_LEN, MAX_PAYLOAD_LEN, RefuseReason};

use super::ack::{self, Acks, Back, Heard};
use super::batch::Batch;
use super::framer::Framer;
use super::link::{Link, Shared};
use super::loss_run::LossRun;
use super::queue::Item;
use super::say::{Level, Limit};
use super::sink::{OpenError, write_all};

/// Longest write while the agent stops: a UART, pipe or socket that polls writable
/// takes this much without blocking (a tty wakes writers at 256 bytes of room).
const CLOSING_WRITE: usize = 256;
/// How long the last write (the losses of what the grace left) may take, after the
/// grace; the command waits a little longer for the writer.
pub const LAST_WRITE: Duration = Duration::from_millis(150);

/// What the writer says when a collector closed the connection.
const CLOSED: &str = "the collector closed the connection";

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
    /// Whether the other end closed `sink` (a collector's FIN or RST), asked before each
    /// write without waiting. Sinks without a peer to close never are.
    fn hung_up(&self, _sink: &Self::Sink) -> bool {
        false
    }
    /// Whether sinks of this connector may carry answers back: false leaves every step
    /// of acknowledged delivery out of the build (the board's budget).
    const TWO_WAY: bool = false;
    /// Whether the sink carries answers back (a TCP or Unix socket): acknowledged
    /// delivery (core/WIRE.md section 7). Asked only when [`Connector::TWO_WAY`].
    fn two_way(&self) -> bool {
        false
    }
    /// Reads what the peer of a two-way `sink` sent into `buf`, waiting no later than
    /// `until` for it (None: not at all).
    fn read_back(&self, _sink: &Self::Sink, _buf: &mut [u8], _until: Option<Instant>) -> Back {
        Back::Nothing
    }
    /// Waits until `sink` takes a short write without blocking, or `until` passes;
    /// whether it does. Asked only while the agent stops, to end the flush on time.
    fn writable(&self, _sink: &Self::Sink, _until: Instant) -> bool {
        true
    }
    /// Waits until the kernel holds little of what was written to `sink`, or `stopping`
    /// says the agent stops ([`super::backlog`]). Asked before each batch otherwise.
    fn settle(&self, _sink: &Self::Sink, _stopping: &dyn Fn() -> bool) {}
    /// `stream --key`: the shared key each connection proves it knows before its header
    /// (core/WIRE.md section 7.5). Asked only when [`Connector::TWO_WAY`].
    fn key(&self) -> Option<&taskwire_core::auth::Key> {
        None
    }
    /// How the peer of a two-way `sink` ended the connection, when it said (an MQTT
    /// broker's reason code); None: it closed it (a collector's way). Asked only when
    /// [`Connector::TWO_WAY`], once a write or read found the connection over.
    fn ended(&self, _sink: &Self::Sink) -> Option<Ended> {
        None
    }
    /// Whether sinks of this connector need a turn while idle ([`Connector::tend`]):
    /// false leaves the tending out of the build.
    const TENDS: bool = false;
    /// Does what an idle `sink` needs (MQTT's keepalive) and says when it next needs a
    /// turn (None: never); an error ends the connection. Asked before each batch, and
    /// while idle at the time it gave. Only when [`Connector::TENDS`].
    fn tend(&self, _sink: &Self::Sink) -> Result<Option<Instant>, String> {
        Ok(None)
    }
    /// The agent stops on purpose and `sink` is up: says goodbye where the protocol has
    /// a way (MQTT: a `stopped` status and DISCONNECT). Only when [`Connector::TWO_WAY`].
    fn finish(&self, _sink: &mut Self::Sink) {}
}

/// How a peer ended a connection, in its own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// What the user is told.
    pub why: String,
    /// Some: a refusal; the writer waits this long (or its backoff, if longer) before it
    /// connects again, and its backoff grows. None: it reconnects at once.
    pub retry: Option<Duration>,
}

/// How [`write_batch`] ended.
enum Sent {
    /// Every byte was written.
    All,
    /// Stopped at a frame boundary after this many bytes; the frames after it were not
    /// started. `hung_up`: the peer closed; otherwise the deadline passed.
    Short { written: usize, hung_up: bool },
    /// The write failed.
    Failed(String),
}

/// Writes `buf`, a run of whole frames, looking before each write for the peer having
/// closed (`hung_up`) and, with a `deadline`, writing in short pieces each waited for no later than
/// it. On either it completes the frame in progress (a collector that closed on purpose
/// still reads what is on the way; a half frame would cost the next one) and stops at
/// its end.
fn write_batch<C: Connector>(
    connector: &C,
    hung_up: &mut dyn FnMut(&C::Sink) -> bool,
    w: &mut C::Sink,
    buf: &[u8],
    deadline: Option<Instant>,
) -> Sent {
    let (mut done, mut end) = (0, buf.len());
    let mut short: Option<bool> = None;
    while done < end {
        if short.is_none() {
            let hung_up = hung_up(w);
            if hung_up || deadline.is_some_and(|d| !connector.writable(w, d)) {
                short = Some(hung_up);
                let in_frame = done > 0 && buf.get(done - 1) != Some(&DELIMITER);
                end = if in_frame {
                    buf[done..]
                        .iter()
                        .position(|&b| b == DELIMITER)
                        .map_or(buf.len(), |i| done + i + 1)
                } else {
                    done
                };
                continue;
            }
        }
        let limit = match (short, deadline) {
            (None, Some(_)) => end.min(done + CLOSING_WRITE),
            _ => end,
        };
        match embedded_io::Write::write(w, &buf[done..limit]) {
            Ok(0) => return Sent::Failed("the sink accepted no bytes".to_owned()),
            Ok(n) => done += n,
            Err(e) => return Sent::Failed(e.to_string()),
        }
    }
    match short {
        None => Sent::All,
        Some(hung_up) => Sent::Short {
            written: done,
            hung_up,
        },
    }
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
    sink: Option<C::Sink>,
    framer: Framer,
    settings: Settings,
    started: Instant,
    fatal: &dyn Fn(),
) {
    let mut writer = Writer::new(link, connector, sink, framer, settings, started, fatal);
    while writer.step() {}
    if let (true, Some(w)) = (C::TWO_WAY, writer.sink.as_mut()) {
        writer.connector.finish(w);
    }
    // What the collector may not have: the summary says so, since no stream can.
    if let Some(a) = &writer.acks {
        link.lock().unacknowledged(a.unacknowledged());
    }
    link.finish();
}

/// The writer thread's state; each method is one step of its work.
struct Writer<'a, C: Connector> {
    link: &'a Link,
    connector: &'a mut C,
    /// None while the sink is down.
    sink: Option<C::Sink>,
    framer: Framer,
    /// Frames not written yet: after a failed write, the batch goes again whole.
    batch: Batch,
    /// Where a popped record's payload lands to be framed.
    payload: Vec<u8>,
    settings: Settings,
    started: Instant,
    name: String,
    fatal: &'a dyn Fn(),
    /// The connection has not had the stream start (0x00, header) yet.
    need_header: bool,
    next_beat: Option<Instant>,
    backoff: Duration,
    /// Since when the sink is down, to say how long the outage lasted.
    down_since: Option<Instant>,
    /// The last reason a reconnect failed, so a collector that stays away is not named
    /// again on every retry.
    last_complaint: String,
    /// The rate limit of the lines about the sink going and coming.
    said: Limit,
    /// The grace is over: the writes left are the last ones.
    finishing: bool,
    /// Acknowledged delivery, on a two-way sink.
    acks: Option<Acks>,
    /// When the sink next needs a turn while idle ([`Connector::tend`]).
    tend_at: Option<Instant>,
}

impl<'a, C: Connector> Writer<'a, C> {
    fn new(
        link: &'a Link,
        connector: &'a mut C,
        sink: Option<C::Sink>,
        framer: Framer,
        settings: Settings,
        started: Instant,
        fatal: &'a dyn Fn(),
    ) -> Self {
        let name = connector.name();
        let acks = (C::TWO_WAY && connector.two_way()).then(Acks::new);
        Writer {
            link,
            connector,
            sink,
            framer,
            batch: Batch::new(),
            payload: vec![0; MAX_PAYLOAD_LEN],
            settings,
            started,
            name,
            fatal,
            need_header: true,
            next_beat: settings.heartbeat.map(|p| Instant::now() + p),
            backoff: settings.backoff_min,
            down_since: None,
            last_complaint: String::new(),
            said: Limit::default(),
            finishing: false,
            acks,
            tend_at: None,
        }
    }

    /// Does the next thing to do; false when the writer is done.
    fn step(&mut self) -> bool {
        if self.sink.is_none() {
            return self.reconnect();
        }
        if self.need_header {
            return self.start_stream();
        }
        if C::TENDS && self.batch.is_empty() {
            if let Some(w) = self.sink.as_ref() {
                match self.connector.tend(w) {
                    Ok(at) => self.tend_at = at,
                    Err(why) => return self.ended(&why),
                }
            }
        }
        if C::TWO_WAY
            && self.acks.as_ref().is_some_and(Acks::is_full)
            && self.link.lock().closing().is_none()
        {
            return self.await_acks();
        }
        if self.batch.is_empty() && !self.fill() {
            return false;
        }
        self.batch.is_empty() || self.send()
    }

    /// Opens the sink again, or waits a backoff; false when the agent stops meanwhile
    /// (there is nowhere to write what is left).
    fn reconnect(&mut self) -> bool {
        if self.link.lock().closing().is_some() {
            return false;
        }
        match self.connector.connect() {
            Ok(s) => {
                self.sink = Some(s);
                self.need_header = true;
            }
            Err(e) => {
                if e.msg != self.last_complaint {
                    self.said.say(
                        Level::Warning,
                        format_args!("{}: {}; retrying", self.name, e.msg),
                    );
                    self.last_complaint = e.msg;
                }
                let st = self.link.lock();
                if st.closing().is_none() {
                    drop(self.link.wait(st, Some(self.backoff)));
                }
                self.backoff = (self.backoff * 2).min(self.settings.backoff_max);
            }
        }
        true
    }

    /// Starts the stream on a new connection; false when the sink failed for good.
    fn start_stream(&mut self) -> bool {
        let mut start = Vec::with_capacity(MAX_FRAME_LEN + 1);
        if C::TWO_WAY {
            match self.prove() {
                Some(proof) => start = proof,
                None => return true,
            }
        }
        let Some(w) = self.sink.as_mut() else {
            return true;
        };
        self.framer.start(&mut start);
        if let Err(e) = write_all(w, &start) {
            return self.outage(&e.to_string());
        }
        self.need_header = false;
        if C::TWO_WAY && !self.answered() {
            return true;
        }
        if let Some(since) = self.down_since.take() {
            self.link.lock().came_back();
            self.said.say(
                Level::Info,
                format_args!(
                    "{}: back after {} s; stream header resent",
                    self.name,
                    taskwire_cli::output::fixed(
                        u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                        1000,
                        1
                    )
                ),
            );
            self.last_complaint.clear();
        }
        self.backoff = self.settings.backoff_min;
        true
    }

    /// Waits for something to write (records or losses queued, a heartbeat due, the
    /// grace over) and frames a batch of it; false when the agent stops and nothing is
    /// left.
    fn fill(&mut self) -> bool {
        let link = self.link;
        let mut st = link.lock();
        loop {
            if let Some(deadline) = st.closing() {
                if st.queue().is_empty() || Instant::now() >= deadline {
                    break;
                }
            }
            if !st.queue().is_empty() {
                break;
            }
            let now = Instant::now();
            let wake = match (self.next_beat, self.tend_at) {
                (Some(a), Some(b)) if C::TENDS => Some(a.min(b)),
                (a, b) if C::TENDS => a.or(b),
                (a, _) => a,
            };
            if C::TENDS && self.tend_at.is_some_and(|t| t <= now) {
                break;
            }
            match wake {
                Some(t) if t <= now => break,
                Some(t) => st = link.wait(st, Some(t - now)),
                None => st = link.wait(st, None),
            }
        }
        if let Some(deadline) = st.closing() {
            if st.queue().is_empty() {
                drop(st);
                if C::TWO_WAY {
                    self.last_acks(deadline);
                }
                return false;
            }
            if Instant::now() >= deadline {
                self.cut(&mut st);
            }
        }
        // Frame outside the lock: the reader must not wait on framing.
        while !self.batch.is_full() {
            let Some(item) = st.pop(&mut self.payload) else {
                break;
            };
            drop(st);
            self.batch.item(&mut self.framer, item, &self.payload);
            st = link.lock();
        }
        st.framed(self.framer.records());
        let now = Instant::now();
        if let (Some(t), Some(p)) = (self.next_beat, self.settings.heartbeat) {
            if t <= now {
                let uptime = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let q = st.queue();
                self.batch
                    .heartbeat(&self.framer, uptime, q.unsent_losses(), q.depth());
                self.next_beat = Some(now + p);
            }
        }
        true
    }

    /// Writes the batch (while the agent stops, no later than the grace, or its last
    /// write); false when the writer is done.
    fn send(&mut self) -> bool {
        let Some(w) = self.sink.as_mut() else {
            return true;
        };
        let finishing = self.finishing;
        let link = self.link;
        if link.lock().closing().is_none() {
            self.connector
                .settle(w, &|| link.lock().closing().is_some());
        }
        let deadline = self
            .link
            .lock()
            .closing()
            .map(|d| if finishing { d + LAST_WRITE } else { d });
        let connector = &*self.connector;
        let acks = &mut self.acks;
        let mut hung_up = |w: &C::Sink| match acks.as_mut() {
            Some(a) if C::TWO_WAY => {
                a.poll(&mut |b, u| connector.read_back(w, b, u), None) != Heard::Nothing
            }
            _ => connector.hung_up(w),
        };
        let (written, late, failure) =
            match write_batch(connector, &mut hung_up, w, self.batch.bytes(), deadline) {
                Sent::All => (self.batch.bytes().len(), false, None),
                Sent::Short {
                    written,
                    hung_up: true,
                } => (written, false, Some(CLOSED.to_owned())),
                Sent::Short { written, .. } => (written, true, None),
                // Nothing counts as written: the whole batch goes again after the reconnect.
                Sent::Failed(e) => (0, false, Some(e)),
            };
        if let (true, Some(a)) = (C::TWO_WAY, &mut self.acks) {
            a.keep(&self.batch, written);
        }
        let records = self.batch.sent(written);
        let link = self.link;
        link.lock().written(records);
        if late && !finishing {
            self.cut(&mut link.lock());
            return true;
        }
        if let Some(e) = failure {
            if !self.ended(&e) {
                return false;
            }
        }
        !finishing
    }

    /// The grace is over: the frames not started and what is still queued are lost; the
    /// batch becomes `SinkOutage` losses covering their numbers (other losses kept,
    /// heartbeats left out), for a last write.
    fn cut(&mut self, st: &mut Shared) {
        let unsent = self.batch.take();
        let (batch, framer) = (&mut self.batch, &mut self.framer);
        let mut emit = |loss| batch.item(framer, loss, &[]);
        let mut run = LossRun::default();
        let mut unframed = 0;
        for item in unsent {
            unframed += u64::from(matches!(item, Item::Numbered { .. }));
            run.add(item, LossReason::SinkOutage, &mut emit);
        }
        st.cut(unframed, |item| {
            run.add(item, LossReason::SinkOutage, &mut emit)
        });
        run.end(&mut emit);
        self.finishing = true;
    }

    /// On a two-way sink with a key, before the header: the proof for the collector's
    /// challenge (empty without a key). None when the connection is over: no challenge
    /// (a collector without a key is not sent records unauthenticated), a refusal or a
    /// close; the sink is then dropped and the backoff grows.
    fn prove(&mut self) -> Option<Vec<u8>> {
        let (Some(a), Some(w), Some(key)) =
            (self.acks.as_mut(), self.sink.as_ref(), self.connector.key())
        else {
            return Some(Vec::new());
        };
        let connector = &*self.connector;
        let until = Instant::now() + ack::FIRST_ANSWER_WAIT;
        let heard = match a.prove(key, &mut |b, u| connector.read_back(w, b, u), until) {
            Ok(proof) => return Some(proof),
            Err(heard) => heard,
        };
        self.not_proven(heard, "closed before asking for the key");
        None
    }

    /// The connection ended before it proved itself (`heard`; `closed`: what a close
    /// means at this step): says why and waits, as [`Writer::refused`].
    fn not_proven(&mut self, heard: Heard, closed: &'static str) {
        let keyed = self.connector.key().is_some();
        let (why, retry) = match heard {
            Heard::Refused(RefuseReason::Authentication, _) if keyed => (
                "refused by the collector (authentication): --key FILE is not the \
                  collector's key",
                0,
            ),
            Heard::Refused(RefuseReason::Authentication, _) => (
                "the collector requires a key (refused: authentication): give --key \
                  FILE, a copy of the collector's key file",
                0,
            ),
            Heard::Refused(RefuseReason::Capacity, ms) => {
                ("refused by the collector (capacity)", ms)
            }
            Heard::Refused(_, ms) => ("refused by the collector (other)", ms),
            Heard::Closed => (closed, 0),
            Heard::Nothing => (
                "the collector did not ask for the key (it runs without --key, or is not \
                 taskwire decode); with --key nothing is sent unauthenticated",
                0,
            ),
        };
        self.refused(why.to_owned(), Duration::from_millis(retry.into()));
    }

    /// On a two-way sink, just after the header: waits for the collector's first answer
    /// and writes again what it kept from earlier connections. False when the connection
    /// is over (refused, closed, or the resend failed); the sink is then dropped.
    fn answered(&mut self) -> bool {
        let (Some(a), Some(w)) = (self.acks.as_mut(), self.sink.as_mut()) else {
            return true;
        };
        a.connected();
        let connector = &*self.connector;
        let until = Instant::now() + ack::FIRST_ANSWER_WAIT;
        let heard = a.poll(&mut |b, u| connector.read_back(w, b, u), Some(until));
        let why = match heard {
            Heard::Nothing => {
                // A peer that answers nothing gets the stream one-way from here on. What
                // was kept for an earlier collector goes to it too, and stays kept: a
                // collector that hangs answers nothing either, and may never read it.
                let resent = write_all(w, a.kept());
                if resent.is_err() {
                    self.outage("the connection failed");
                    return false;
                }
                return true;
            }
            other => other,
        };
        self.not_proven(why, "closed before acknowledging the header");
        false
    }

    /// The connection was refused or closed before it proved itself: the sink is down,
    /// the backoff (or the collector's `retry`, if longer) is waited and grows. Said
    /// once per reason, not once per attempt.
    fn refused(&mut self, why: String, retry: Duration) {
        self.sink = None;
        self.link.lock().went_down();
        self.down_since.get_or_insert_with(Instant::now);
        if why != self.last_complaint {
            self.said.say(
                Level::Warning,
                format_args!("{}: {why}; retrying", self.name),
            );
            self.last_complaint = why;
        }
        // Records arriving wake the writer; only the agent stopping ends the wait early.
        let until = Instant::now() + self.backoff.max(retry);
        let mut st = self.link.lock();
        while st.closing().is_none() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self.link.wait(st, Some(left));
        }
        drop(st);
        self.backoff = (self.backoff * 2).min(self.settings.backoff_max);
    }

    /// The window is full: waits a little for acknowledgements; a collector that closes,
    /// or acknowledges nothing for [`ack::ACK_TIMEOUT`], ends the connection.
    fn await_acks(&mut self) -> bool {
        let (Some(a), Some(w)) = (self.acks.as_mut(), self.sink.as_mut()) else {
            return true;
        };
        let connector = &*self.connector;
        let until = Instant::now() + Duration::from_millis(200);
        let gone = a.poll(&mut |b, u| connector.read_back(w, b, u), Some(until)) != Heard::Nothing;
        if gone {
            return self.ended(CLOSED);
        }
        if a.is_full() && a.stalled() {
            return self.outage("no acknowledgement for 20 s");
        }
        true
    }

    /// Everything is written and the agent stops: waits, no later than `deadline`, for
    /// the collector to acknowledge what it has not yet, so that the summary's "written"
    /// means decoded wherever the collector keeps up.
    fn last_acks(&mut self, deadline: Instant) {
        let (Some(a), Some(w)) = (self.acks.as_mut(), self.sink.as_mut()) else {
            return;
        };
        let connector = &*self.connector;
        while a.acked() && !a.kept().is_empty() && Instant::now() < deadline {
            // Short waits: the loop ends as soon as everything is acknowledged.
            let until = deadline.min(Instant::now() + Duration::from_millis(20));
            let heard = a.poll(&mut |b, u| connector.read_back(w, b, u), Some(until));
            if heard != Heard::Nothing {
                return;
            }
        }
    }

    /// The connection is over (`plain`: what to say when its peer said nothing): an
    /// outage, or a refusal when the peer said so ([`Connector::ended`]); false when the
    /// sink cannot come back.
    fn ended(&mut self, plain: &str) -> bool {
        let said = match (C::TWO_WAY, self.sink.as_ref()) {
            (true, Some(w)) => self.connector.ended(w),
            _ => None,
        };
        match said {
            Some(Ended {
                why,
                retry: Some(wait),
            }) => {
                self.refused(why, wait);
                true
            }
            Some(Ended { why, retry: None }) => self.outage(&why),
            None => self.outage(plain),
        }
    }

    /// A write failed: drops the sink and marks the outage; false when the sink cannot
    /// come back (the writer must stop and the agent with it).
    fn outage(&mut self, err: &str) -> bool {
        self.sink = None;
        let name = &self.name;
        if !self.connector.reconnects() {
            self.link.lock().fail(format!("writing to {name}: {err}"));
            (self.fatal)();
            return false;
        }
        self.link.lock().went_down();
        if self.down_since.is_none() {
            self.down_since = Some(Instant::now());
            self.said.say(
                Level::Warning,
                format_args!("{name}: {err}; reconnecting (records keep queueing)"),
            );
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::framer::tests::{decode_all, payload};
    use crate::stream::queue::Queue;
    use crate::stream::sink::SinkError;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use taskwire_core::wire::{Kind, Loss, LossReason, Message, Profile, StreamHeader};

    /// A sink writing into a shared byte log, failing after `budget` bytes; its peer
    /// closes (FIN) once `hang_after` bytes are written; each write takes at most
    /// `chunk` bytes and `delay`.
    struct Flaky {
        log: Arc<Mutex<Vec<u8>>>,
        budget: usize,
        written: usize,
        hang_after: Option<usize>,
        chunk: usize,
        delay: Duration,
    }

    impl Flaky {
        fn new(log: Arc<Mutex<Vec<u8>>>, budget: usize) -> Flaky {
            Flaky {
                log,
                budget,
                written: 0,
                hang_after: None,
                chunk: usize::MAX,
                delay: Duration::ZERO,
            }
        }
    }

    impl embedded_io::ErrorType for Flaky {
        type Error = SinkError;
    }

    impl embedded_io::Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> Result<usize, SinkError> {
            if self.budget == 0 {
                return Err(SinkError::Os(rustix::io::Errno::CONNRESET));
            }
            std::thread::sleep(self.delay);
            let n = buf.len().min(self.budget).min(self.chunk);
            self.budget -= n;
            self.written += n;
            self.log.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
    }

    /// Hands out `Flaky` sinks with the given byte budgets, then refuses; each
    /// connection's bytes go to the next log of `logs` (the last one is reused).
    struct Script {
        log: Arc<Mutex<Vec<u8>>>,
        budgets: Vec<usize>,
        connects: Arc<AtomicUsize>,
        reconnects: bool,
        /// Per connection, in order: when its peer closes.
        hang_after: Vec<Option<usize>>,
        logs: Vec<Arc<Mutex<Vec<u8>>>>,
        chunk: usize,
        delay: Duration,
    }

    impl Script {
        fn new(log: Arc<Mutex<Vec<u8>>>, budgets: Vec<usize>, reconnects: bool) -> Script {
            Script {
                log,
                budgets,
                connects: Arc::new(AtomicUsize::new(0)),
                reconnects,
                hang_after: Vec::new(),
                logs: Vec::new(),
                chunk: usize::MAX,
                delay: Duration::ZERO,
            }
        }
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
            let log = if self.logs.len() > 1 {
                self.logs.remove(0)
            } else {
                self.logs.first().unwrap_or(&self.log).clone()
            };
            let mut f = Flaky::new(log, self.budgets.remove(0));
            f.hang_after = if self.hang_after.is_empty() {
                None
            } else {
                self.hang_after.remove(0)
            };
            f.chunk = self.chunk;
            f.delay = self.delay;
            Ok(f)
        }
        fn reconnects(&self) -> bool {
            self.reconnects
        }
        fn name(&self) -> String {
            "test".into()
        }
        fn hung_up(&self, sink: &Flaky) -> bool {
            sink.hang_after.is_some_and(|h| sink.written >= h)
        }
        // Ready until the deadline, then never again: a sink stalled at the worst time.
        fn writable(&self, _sink: &Flaky, until: Instant) -> bool {
            Instant::now() < until
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
            assert!(link.lock().push(&p));
        }
        let log = Arc::new(Mutex::new(Vec::new()));
        let connects = Arc::new(AtomicUsize::new(0));
        let mut c = Script::new(log.clone(), vec![300, usize::MAX], true);
        c.connects = connects.clone();
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
        while link.lock().records_written() < 20 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        link.close(Duration::from_secs(1));
        assert!(link.wait_done(Instant::now() + Duration::from_secs(5)));
        t.join().unwrap();
        assert_eq!(connects.load(Ordering::SeqCst), 2);
        assert_eq!(link.lock().reconnects(), 1);
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
        let mut c = Script::new(log.clone(), vec![0], true);
        c.connects = connects.clone();
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
        while !link.lock().sink_down() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        for _ in 0..8 {
            // Shared::push picks the reason: SinkOutage while the sink is down.
            link.lock().push(&p);
        }
        assert_eq!(link.lock().queue().lost(LossReason::SinkOutage), 3);
        link.close(Duration::from_millis(50));
        assert!(link.wait_done(Instant::now() + Duration::from_secs(5)));
        t.join().unwrap();
        assert_eq!(link.lock().records_framed(), 0);
    }

    #[test]
    fn stdout_failure_is_fatal_and_reported() {
        let (p, _) = payload(Kind::Pid, Profile::Delays);
        let link = Link::new(Queue::new(5, 5 * 64));
        link.lock().push(&p);
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut c = Script::new(log, vec![10], false);
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
        assert!(st.done());
        assert!(
            st.fatal().is_some_and(|f| f.contains("test")),
            "{:?}",
            st.fatal()
        );
    }

    #[test]
    fn heartbeats_when_idle() {
        let link = Arc::new(Link::new(Queue::new(5, 5 * 64)));
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut c = Script::new(log.clone(), vec![usize::MAX], true);
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

    /// Runs the writer over `link` until it is closed with `grace` (at once, or after
    /// `records` records were written).
    fn run_until(link: &Arc<Link>, mut c: Script, records: Option<u64>, grace: Duration) {
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
        if let Some(n) = records {
            let until = Instant::now() + Duration::from_secs(5);
            while link.lock().records_written() < n && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        link.close(grace);
        assert!(link.wait_done(Instant::now() + Duration::from_secs(10)));
        t.join().unwrap();
    }

    #[test]
    fn a_collector_fin_sends_the_frames_not_started_to_the_next_connection() {
        let (p, _) = payload(Kind::Pid, Profile::Acct);
        let link = Arc::new(Link::new(Queue::new(100, 100 * 96)));
        for _ in 0..30 {
            assert!(link.lock().push(&p));
        }
        let logs = [(); 2].map(|_| Arc::new(Mutex::new(Vec::new())));
        let mut c = Script::new(logs[0].clone(), vec![usize::MAX, usize::MAX], true);
        c.logs = logs.to_vec();
        // The first collector closes its side once 300 bytes arrived; writes are short,
        // so that happens in the middle of a frame.
        c.hang_after = vec![Some(300), None];
        c.chunk = 50;
        run_until(&link, c, Some(30), Duration::from_secs(1));
        let st = link.lock();
        assert_eq!((st.records_written(), st.reconnects()), (30, 1));
        let mut seqs = Vec::new();
        for (i, log) in logs.iter().enumerate() {
            let bytes = log.lock().unwrap().clone();
            // Every frame is whole: the one in progress at the FIN was finished.
            let msgs = decode_all(&bytes);
            assert!(matches!(msgs[0], Message::Header(_)), "connection {i}");
            let these = records(&msgs);
            assert!(!these.is_empty(), "connection {i}: {msgs:?}");
            seqs.extend(these);
        }
        let first = logs[0].lock().unwrap().clone();
        assert!(first.len() < 400, "stopped at the FIN");
        assert_eq!(first.last(), Some(&DELIMITER), "no frame left half-written");
        // Nothing lost, nothing twice.
        assert_eq!(seqs, (0..30).collect::<Vec<_>>());
    }

    #[test]
    fn records_left_at_the_end_of_the_grace_become_losses_of_their_numbers() {
        let (p, _) = payload(Kind::Pid, Profile::Delays);
        // A batch of about 110 records cannot be written in the grace, let alone 200.
        for (delay, what) in [(10, "a batch cut short"), (1, "a faster sink")] {
            let link = Arc::new(Link::new(Queue::new(1000, 1000 * 64)));
            for _ in 0..200 {
                assert!(link.lock().push(&p));
            }
            let log = Arc::new(Mutex::new(Vec::new()));
            let mut c = Script::new(log.clone(), vec![usize::MAX], true);
            c.chunk = 40;
            c.delay = Duration::from_millis(delay);
            run_until(&link, c, None, Duration::from_millis(100));
            // Whole frames only (a half one would spoil the losses after it), then the
            // records sent and the numbers lost are 0..200, each once, in order.
            let msgs = decode_all(&log.lock().unwrap());
            let mut next = 0;
            let mut records = 0;
            for m in &msgs {
                match m {
                    Message::Record(r) => {
                        assert_eq!(r.seq, next, "{what}");
                        next += 1;
                        records += 1;
                    }
                    Message::Loss(l) => {
                        assert_eq!(l.reason, LossReason::SinkOutage, "{what}");
                        assert_eq!(l.next_seq - l.count, next, "{what}: {msgs:?}");
                        next = l.next_seq;
                    }
                    _ => {}
                }
            }
            assert_eq!(next, 200, "{what}: every number accounted for");
            let st = link.lock();
            assert!(records < 200, "{what}");
            assert_eq!(
                (st.records_written(), st.records_framed(), st.records_cut()),
                (records, records, 200 - records),
                "{what}"
            );
            assert_eq!(st.queue().lost(LossReason::SinkOutage), 200 - records);
            assert!(st.queue().is_empty());
        }
    }

    /// The numbers a sequence of connections carried, checked against the promise: on
    /// each connection every record or records' loss starts where the one before it
    /// ended, and a new connection starts no later than where the last one stopped (a
    /// batch written again). Returns where the numbers end.
    fn covered(conns: &[Vec<Message>]) -> u64 {
        let mut end = 0;
        for (i, msgs) in conns.iter().enumerate() {
            let mut at: Option<u64> = None;
            for m in msgs {
                let (from, to) = match m {
                    Message::Record(r) => (r.seq, r.seq + 1),
                    Message::Loss(l) if l.reason != LossReason::KernelEnobufs => {
                        (l.next_seq - l.count, l.next_seq)
                    }
                    _ => continue,
                };
                match at {
                    Some(a) => assert_eq!(from, a, "connection {i}: a gap or overlap: {msgs:?}"),
                    None => assert!(from <= end, "connection {i} skips numbers: {msgs:?}"),
                }
                at = Some(to);
                end = end.max(to);
            }
        }
        end
    }

    #[test]
    fn a_failed_sink_and_the_grace_cut_leave_no_number_uncovered() {
        let (p, _) = payload(Kind::Pid, Profile::Delays);
        let link = Link::new(Queue::new(8, 8 * 64));
        // 0..8 queued, 8..12 lost to overflow.
        for n in 0..12 {
            assert_eq!(link.lock().push(&p), n < 8);
        }
        let mut start = Vec::new();
        Framer::new(StreamHeader::new()).start(&mut start);
        let logs = [(); 2].map(|_| Arc::new(Mutex::new(Vec::new())));
        // The first connection dies two or three records into the batch.
        let budgets = vec![start.len() + 2 * p.len() + 20, usize::MAX];
        let mut c = Script::new(logs[0].clone(), budgets, true);
        c.logs = logs.to_vec();
        let first = c.connect().ok();
        let framer = Framer::new(StreamHeader::new());
        let not_fatal = || panic!("not fatal");
        let mut w = Writer::new(
            &link,
            &mut c,
            first,
            framer,
            fast(),
            Instant::now(),
            &not_fatal,
        );

        assert!(w.step(), "stream started");
        assert!(w.fill());
        assert!(w.send(), "an outage, not the end");
        assert!(w.sink.is_none() && link.lock().sink_down());
        // While the sink is down: 12..20 queue, 20 and 21 are lost to the outage.
        for n in 0..10 {
            assert_eq!(link.lock().push(&p), n < 8);
        }
        assert!(w.step(), "reconnected");
        assert!(w.step(), "stream restarted");
        assert!(!link.lock().sink_down());
        // The grace is over at once: the batch that failed and the queue are cut.
        link.close(Duration::ZERO);
        assert!(w.step(), "cut, the last write to go");
        assert!(!w.step(), "last write sent");
        drop(w);

        let conns: Vec<Vec<Message>> = logs
            .iter()
            .map(|l| {
                let bytes = l.lock().unwrap().clone();
                let mut r = taskwire_core::wire::StreamReader::new();
                r.feed(&bytes).filter_map(Result::ok).collect()
            })
            .collect();
        assert!(!records(&conns[0]).is_empty(), "some records arrived first");
        assert_eq!(covered(&conns), 22);
        assert_eq!(
            conns[1][1..],
            [
                Message::Loss(Loss {
                    count: 8,
                    reason: LossReason::SinkOutage,
                    next_seq: 8
                }),
                Message::Loss(Loss {
                    count: 4,
                    reason: LossReason::QueueOverflow,
                    next_seq: 12
                }),
                // The queue's eight and the outage's two: one run.
                Message::Loss(Loss {
                    count: 10,
                    reason: LossReason::SinkOutage,
                    next_seq: 22
                }),
            ]
        );
        let st = link.lock();
        assert_eq!((st.records_written(), st.records_framed()), (0, 0));
        assert_eq!((st.records_cut(), st.reconnects()), (16, 1));
        assert_eq!(st.queue().lost(LossReason::SinkOutage), 2 + 16);
        assert_eq!(st.queue().lost(LossReason::QueueOverflow), 4);
    }
}
