//! Acknowledged delivery on a two-way link (a TCP or Unix socket; core/WIRE.md section 7).
//!
//! After the header of each connection the writer waits for the collector's first answer
//! ([`FIRST_ANSWER_WAIT`]) before it sends anything else: an `Ack` proves the connection
//! (the reconnect backoff starts over), a `Refuse` or a close before any answer does not
//! (the backoff keeps growing, and nothing but the header went into a connection that
//! was going to be dropped). A peer that stays silent is one that sends nothing back (an
//! older collector, `nc`): the stream then goes on as on a one-way link.
//!
//! While the collector acknowledges, every frame written that carries numbers (records,
//! intervals, samples, losses) is kept, bytes and all, until an `Ack` covers its numbers;
//! after a reconnect the kept frames are written again first, with their own numbers, and
//! the collector drops those it had already seen. When [`WINDOW`] bytes wait for an
//! acknowledgement the writer takes nothing more from the queue: records then wait in it,
//! and what no longer fits there is lost and reported as such, never dropped silently.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::RecvFlags;
use taskwire_core::auth::{Key, NONCE_LEN, proof};
use taskwire_core::wire::{
    Answer, AnswerReader, LossReason, PROOF_FRAME_LEN, Proof, RefuseReason, encode_proof_frame,
};

use super::batch::Batch;
use super::queue::Item;

/// How long the writer waits for the collector's answer to a header before it takes the
/// peer for one that answers nothing.
pub const FIRST_ANSWER_WAIT: Duration = Duration::from_secs(1);
/// Bytes of written frames kept until acknowledged: past them the writer waits. As much
/// as the socket buffers absorbed before acknowledgements existed: a collector starved of
/// CPU during an exit storm lags by that much, and a smaller window turned the lag into
/// queue overflow (BENCHMARKS.md, "Acknowledgement window and socket backlog"). Memory only while it lags.
pub const WINDOW: usize = 1024 * 1024;
/// A full window with no acknowledgement for this long: the connection counts as dead.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(20);

/// What a read of the socket found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Back {
    /// Nothing to read.
    Nothing,
    /// This many bytes.
    Bytes(usize),
    /// The peer closed or reset the connection.
    Closed,
}

/// Reads what the peer of socket `fd` sent, waiting until `until` at most (None: not at
/// all).
pub fn read_socket(fd: &impl AsFd, buf: &mut [u8], until: Option<Instant>) -> Back {
    let left = until.map_or(Duration::ZERO, |u| {
        u.saturating_duration_since(Instant::now())
    });
    let ts = Timespec {
        tv_sec: left.as_secs() as _,
        tv_nsec: left.subsec_nanos() as _,
    };
    let mut fds = [PollFd::new(fd, PollFlags::IN | PollFlags::RDHUP)];
    match poll(&mut fds, Some(&ts)) {
        Ok(n) if n > 0 => {}
        _ => return Back::Nothing,
    }
    match rustix::net::recv(fd, buf, RecvFlags::DONTWAIT) {
        Ok((_, 0)) => Back::Closed,
        Ok((n, _)) => Back::Bytes(n),
        Err(Errno::AGAIN | Errno::INTR) => Back::Nothing,
        Err(_) => Back::Closed,
    }
}

/// What the collector said, as far as the writer must act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Nothing that ends the connection.
    Nothing,
    /// The peer closed the connection.
    Closed,
    /// The collector refused the connection.
    Refused(RefuseReason, u32),
}

/// The writer's side of acknowledged delivery, for one sink across its connections.
#[derive(Debug)]
pub struct Acks {
    reader: AnswerReader,
    /// Frames written and not acknowledged, back to back.
    kept: Vec<u8>,
    /// Per kept frame: where it ends in `kept`, and what it carries (the type of
    /// [`Batch::frames`]: one set of its vector's code serves both).
    frames: Vec<(usize, Option<Item>)>,
    /// This connection's collector acknowledges.
    acked: bool,
    /// This connection's collector said it is stopping on purpose: it reads everything
    /// sent before its close.
    closing: bool,
    /// When the last acknowledgement came (or the connection started).
    last_ack: Instant,
    /// This connection's collector sent a challenge (it wants a key).
    challenged: bool,
}

impl Default for Acks {
    fn default() -> Self {
        Acks::new()
    }
}

impl Acks {
    /// Nothing kept yet.
    pub fn new() -> Acks {
        Acks {
            reader: AnswerReader::new(),
            kept: Vec::new(),
            frames: Vec::new(),
            acked: false,
            closing: false,
            last_ack: Instant::now(),
            challenged: false,
        }
    }

    /// A new connection: its collector has not answered yet.
    pub fn connected(&mut self) {
        self.reader = AnswerReader::new();
        self.acked = false;
        self.closing = false;
        self.last_ack = Instant::now();
        self.challenged = false;
    }

    /// Whether this connection's collector asked for a key.
    pub fn challenged(&self) -> bool {
        self.challenged
    }

    /// On a new connection, before anything is written, with `key`: waits no later than
    /// `until` for the collector's challenge (core/WIRE.md section 7.5) and returns the
    /// bytes that answer it (0x00, then the proof frame). Without a challenge, what the
    /// collector did instead: nothing ([`Heard::Nothing`]: it wants no key), a refusal or
    /// a close.
    pub fn prove(
        &mut self,
        key: &Key,
        read: &mut dyn FnMut(&mut [u8], Option<Instant>) -> Back,
        until: Instant,
    ) -> Result<Vec<u8>, Heard> {
        self.connected();
        let mut buf = [0u8; 64];
        // Bounded: a peer that keeps sending cannot hold the writer here.
        for _ in 0..64 {
            let n = match read(&mut buf, Some(until)) {
                Back::Nothing => return Err(Heard::Nothing),
                Back::Closed => return Err(Heard::Closed),
                Back::Bytes(n) => n,
            };
            for &b in buf.get(..n).unwrap_or_default() {
                match self.reader.push(b) {
                    Some(Ok(Answer::Challenge { nonce })) => return Ok(answer(key, &nonce)),
                    Some(Ok(Answer::Refuse { reason, retry_ms })) => {
                        return Err(Heard::Refused(reason, retry_ms));
                    }
                    _ => {}
                }
            }
        }
        Err(Heard::Nothing)
    }

    /// Whether this connection's collector acknowledges.
    pub fn acked(&self) -> bool {
        self.acked
    }

    /// The frames to write again first on a new connection.
    pub fn kept(&self) -> &[u8] {
        &self.kept
    }

    /// Records (any numbered frame) written and not acknowledged.
    pub fn unacknowledged(&self) -> u64 {
        self.frames
            .iter()
            .filter(|(_, i)| matches!(i, Some(Item::Numbered { .. })))
            .count() as u64
    }

    /// The collector said `Closing` and closed: it reads what was sent before the
    /// agent's close, so nothing kept needs to go again.
    pub fn forget(&mut self) {
        self.kept.clear();
        self.frames.clear();
    }

    /// Whether the window is full: the writer must wait for acknowledgements.
    pub fn is_full(&self) -> bool {
        self.acked && self.kept.len() >= WINDOW
    }

    /// Whether a full window has waited too long for an acknowledgement.
    pub fn stalled(&self) -> bool {
        self.last_ack.elapsed() >= ACK_TIMEOUT
    }

    /// Takes answer bytes.
    pub fn take_in(&mut self, bytes: &[u8]) -> Heard {
        for &b in bytes {
            match self.reader.push(b) {
                Some(Ok(Answer::Ack { next_seq })) => {
                    self.acked = true;
                    self.last_ack = Instant::now();
                    self.release(next_seq);
                }
                Some(Ok(Answer::Refuse { reason, retry_ms })) => {
                    return Heard::Refused(reason, retry_ms);
                }
                Some(Ok(Answer::Closing)) => self.closing = true,
                // Only asked for before the header, and only by a collector with a key:
                // here it tells an agent without one why the refusal will come.
                Some(Ok(Answer::Challenge { .. })) => self.challenged = true,
                // Damage or an answer of a newer collector: ignored, like a stream's.
                Some(Err(_)) | None => {}
            }
        }
        Heard::Nothing
    }

    /// Reads (through `read`, a [`read_socket`]) and takes in what the peer sent,
    /// waiting no later than `until` for the first bytes; with `until`, returns at the
    /// first acknowledgement or at `until`.
    pub fn poll(
        &mut self,
        read: &mut dyn FnMut(&mut [u8], Option<Instant>) -> Back,
        until: Option<Instant>,
    ) -> Heard {
        let mut buf = [0u8; 256];
        let was = self.acked;
        // Bounded: a peer that keeps sending cannot hold the writer here.
        for _ in 0..64 {
            match read(&mut buf, until) {
                Back::Nothing => return Heard::Nothing,
                Back::Closed => {
                    // A collector that stops on purpose reads what was sent before its
                    // FIN (it drains): nothing kept needs to go again. After a crash
                    // (no `Closing`) everything kept does.
                    if self.closing {
                        self.forget();
                    }
                    return Heard::Closed;
                }
                Back::Bytes(n) => match self.take_in(&buf[..n]) {
                    Heard::Nothing if until.is_some() && self.acked != was => {
                        return Heard::Nothing;
                    }
                    Heard::Nothing => {}
                    other => return other,
                },
            }
        }
        Heard::Nothing
    }

    /// Keeps the frames of `batch` among its first `written` bytes that carry numbers,
    /// while the collector acknowledges.
    pub fn keep(&mut self, batch: &Batch, written: usize) {
        if !self.acked {
            return;
        }
        let mut start = 0;
        for &(end, item) in batch.frames() {
            if end > written {
                break;
            }
            if let (Some(item), Some(bytes)) = (item, batch.bytes().get(start..end)) {
                self.kept.extend_from_slice(bytes);
                self.frames.push((self.kept.len(), Some(item)));
            }
            start = end;
        }
    }

    /// Forgets the kept frames an acknowledgement of `next_seq` covers: the oldest ones,
    /// up to the first it does not.
    fn release(&mut self, next_seq: u64) {
        let done = self
            .frames
            .iter()
            .position(|&(_, item)| release_at(item) > next_seq)
            .unwrap_or(self.frames.len());
        let Some(&(cut, _)) = done.checked_sub(1).and_then(|i| self.frames.get(i)) else {
            return;
        };
        self.frames.drain(..done);
        self.kept.drain(..cut);
        self.frames.iter_mut().for_each(|(end, _)| *end -= cut);
    }
}

/// The bytes that answer a challenge of `nonce`: a 0x00 (a frame starts), the proof.
fn answer(key: &Key, nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
    let mut f = [0u8; PROOF_FRAME_LEN];
    let p = Proof {
        mac: proof(key, nonce),
    };
    let n = encode_proof_frame(&p, &mut f).unwrap_or(0);
    let mut out = Vec::with_capacity(n + 1);
    out.push(0);
    out.extend_from_slice(f.get(..n).unwrap_or_default());
    out
}

/// The `Ack.next_seq` that releases a kept frame carrying `item`: one past its numbers.
/// ENOBUFS events sit after the number before their `next_seq`: kept until a later number
/// is acknowledged (a resent one is known as such).
fn release_at(item: Option<Item>) -> u64 {
    match item {
        Some(Item::Numbered { seq, .. }) => seq.saturating_add(1),
        Some(Item::Loss {
            reason: LossReason::KernelEnobufs,
            next_seq,
            ..
        }) => next_seq.saturating_add(1),
        Some(Item::Loss { next_seq, .. }) => next_seq,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::framer::Framer;
    use crate::stream::framer::tests::{decode_all, payload};
    use crate::stream::link::Link;
    use crate::stream::queue::Queue;
    use crate::stream::sink::{OpenError, SinkError};
    use crate::stream::writer::{Connector, Settings, run};
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::sync::{Arc, Mutex};
    use taskwire_core::wire::{
        Kind, MAX_ANSWER_FRAME_LEN, Message, Profile, StreamHeader, encode_answer_frame,
    };

    fn answer(a: Answer) -> Vec<u8> {
        let mut buf = [0u8; MAX_ANSWER_FRAME_LEN];
        let n = encode_answer_frame(&a, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn seqs(bytes: &[u8]) -> Vec<u64> {
        decode_all(bytes)
            .iter()
            .filter_map(|m| match m {
                Message::Record(r) => Some(r.seq),
                Message::Loss(l) => Some(1000 + l.next_seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn keeps_what_is_written_until_acknowledged() {
        let (p, _) = payload(Kind::Pid, Profile::Delays);
        let mut f = Framer::new(StreamHeader::new());
        let mut b = Batch::new();
        for seq in 0..3 {
            b.item(&mut f, Item::Numbered { len: p.len(), seq }, &p);
        }
        b.heartbeat(&f, 1, 0, 0);
        let loss = Item::Loss {
            reason: LossReason::QueueOverflow,
            count: 2,
            next_seq: 5,
        };
        b.item(&mut f, loss, &[]);
        b.item(
            &mut f,
            Item::Numbered {
                len: p.len(),
                seq: 5,
            },
            &p,
        );
        let mut a = Acks::new();
        // Nothing is kept for a collector that has not acknowledged anything.
        a.keep(&b, b.bytes().len());
        assert!(a.kept().is_empty());
        assert_eq!(
            a.take_in(&answer(Answer::Ack { next_seq: 0 })),
            Heard::Nothing
        );
        assert!(a.acked());
        // The last record was not written: not kept. The heartbeat carries no numbers.
        let written = b.bytes().len() - 1;
        a.keep(&b, written);
        assert_eq!(seqs(a.kept()), [0, 1, 2, 1005]);
        assert_eq!(a.unacknowledged(), 3, "records, not the Loss");
        a.take_in(&answer(Answer::Ack { next_seq: 2 }));
        assert_eq!(seqs(a.kept()), [2, 1005]);
        assert_eq!(a.unacknowledged(), 1);
        a.take_in(&answer(Answer::Ack { next_seq: 4 }));
        assert_eq!(
            seqs(a.kept()),
            [1005],
            "a loss goes when all its numbers are in"
        );
        a.take_in(&answer(Answer::Ack { next_seq: 5 }));
        assert!(a.kept().is_empty());
        assert_eq!(
            a.take_in(&answer(Answer::Refuse {
                reason: RefuseReason::Capacity,
                retry_ms: 7
            })),
            Heard::Refused(RefuseReason::Capacity, 7)
        );
    }

    #[test]
    fn a_challenge_is_answered_with_a_proof_and_nothing_else_is_taken_for_one() {
        use taskwire_core::auth::verify;
        use taskwire_core::wire::ProofReader;
        let key = Key::new(b"sixteen bytes or more");
        let nonce = [9u8; NONCE_LEN];
        let feed = |bytes: Vec<u8>| {
            let mut left = Some(bytes);
            move |buf: &mut [u8], _: Option<Instant>| match left.take() {
                Some(b) => {
                    buf[..b.len()].copy_from_slice(&b);
                    Back::Bytes(b.len())
                }
                None => Back::Nothing,
            }
        };
        let soon = Instant::now() + Duration::from_millis(10);
        let mut a = Acks::new();
        let out = a
            .prove(&key, &mut feed(answer(Answer::Challenge { nonce })), soon)
            .unwrap();
        let mut r = ProofReader::new();
        let proofs: Vec<_> = out.iter().filter_map(|&b| r.push(b)).collect();
        let [Ok(p)] = proofs[..] else {
            panic!("{proofs:?}")
        };
        assert!(verify(&key, &nonce, &p.mac));
        // A collector without a key says nothing before the header: no proof, no header.
        assert_eq!(
            a.prove(&key, &mut feed(Vec::new()), soon),
            Err(Heard::Nothing)
        );
        // An Ack is no challenge either.
        let ack = answer(Answer::Ack { next_seq: 0 });
        assert_eq!(a.prove(&key, &mut feed(ack), soon), Err(Heard::Nothing));
        let refuse = answer(Answer::Refuse {
            reason: RefuseReason::Capacity,
            retry_ms: 3,
        });
        assert_eq!(
            a.prove(&key, &mut feed(refuse), soon),
            Err(Heard::Refused(RefuseReason::Capacity, 3))
        );
        // Without a key the challenge is only noted, for the message of the refusal.
        a.connected();
        a.take_in(&answer(Answer::Challenge { nonce }));
        assert!(a.challenged() && !a.acked());
    }

    #[test]
    fn a_full_window_waits_and_damage_is_ignored() {
        let (p, _) = payload(Kind::Pid, Profile::Full);
        let mut f = Framer::new(StreamHeader::new());
        let mut a = Acks::new();
        a.take_in(&answer(Answer::Ack { next_seq: 0 }));
        let mut seq = 0;
        while !a.is_full() {
            let mut b = Batch::new();
            b.item(&mut f, Item::Numbered { len: p.len(), seq }, &p);
            a.keep(&b, b.bytes().len());
            seq += 1;
        }
        let mut bad = answer(Answer::Ack { next_seq: seq });
        bad[1] ^= 1;
        a.take_in(&bad);
        assert!(a.is_full(), "a damaged ack releases nothing");
        a.take_in(&answer(Answer::Ack { next_seq: seq }));
        assert!(!a.is_full() && a.kept().is_empty());
    }

    /// A scripted two-way connection: it hands back `answers`, then reports a close
    /// (a crash: no `Closing`) once `close_after` bytes were written to `log`.
    struct Scripted {
        log: Arc<Mutex<Vec<u8>>>,
        answers: Mutex<Vec<u8>>,
        close_after: usize,
    }

    impl embedded_io::ErrorType for Scripted {
        type Error = SinkError;
    }

    impl embedded_io::Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> Result<usize, SinkError> {
            self.log.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
    }

    /// Hands out the scripted connections in order, then refuses to connect.
    struct Collector(Vec<Scripted>);

    impl Connector for Collector {
        type Sink = Scripted;
        const TWO_WAY: bool = true;
        fn connect(&mut self) -> Result<Scripted, OpenError> {
            if self.0.is_empty() {
                return Err(OpenError {
                    msg: "no more".into(),
                    permission: false,
                });
            }
            Ok(self.0.remove(0))
        }
        fn reconnects(&self) -> bool {
            true
        }
        fn name(&self) -> String {
            "scripted".into()
        }
        fn two_way(&self) -> bool {
            true
        }
        fn read_back(&self, sink: &Scripted, buf: &mut [u8], _: Option<Instant>) -> Back {
            let mut a = sink.answers.lock().unwrap();
            if a.is_empty() {
                let closed = sink.log.lock().unwrap().len() >= sink.close_after;
                return if closed { Back::Closed } else { Back::Nothing };
            }
            let n = a.len().min(buf.len());
            buf[..n].copy_from_slice(&a[..n]);
            a.drain(..n);
            Back::Bytes(n)
        }
    }

    #[test]
    fn a_refusal_costs_only_a_header_and_what_was_not_acknowledged_goes_again() {
        let (p, _) = payload(Kind::Pid, Profile::Delays);
        let link = Arc::new(Link::new(Queue::new(100, 100 * 64)));
        for _ in 0..20 {
            assert!(link.lock().push(&p));
        }
        let logs = [(); 3].map(|_| Arc::new(Mutex::new(Vec::new())));
        let ack0 = answer(Answer::Ack { next_seq: 0 });
        let mut start = Vec::new();
        Framer::new(StreamHeader::new()).start(&mut start);
        let conns = vec![
            // Refused: told why, then closed.
            Scripted {
                log: logs[0].clone(),
                answers: Mutex::new(answer(Answer::Refuse {
                    reason: RefuseReason::Capacity,
                    retry_ms: 0,
                })),
                close_after: 0,
            },
            // Acknowledges the header only, takes a batch, and dies.
            Scripted {
                log: logs[1].clone(),
                answers: Mutex::new(ack0.clone()),
                close_after: start.len() + 1,
            },
            Scripted {
                log: logs[2].clone(),
                answers: Mutex::new(ack0),
                close_after: usize::MAX,
            },
        ];
        let mut c = Collector(conns);
        let first = c.connect().ok();
        let l2 = link.clone();
        let settings = Settings {
            heartbeat: None,
            backoff_min: Duration::from_millis(1),
            backoff_max: Duration::from_millis(4),
        };
        let t = std::thread::spawn(move || {
            run(
                &l2,
                &mut c,
                first,
                Framer::new(StreamHeader::new()),
                settings,
                Instant::now(),
                &|| panic!("not fatal"),
            )
        });
        let until = Instant::now() + Duration::from_secs(5);
        while link.lock().records_written() < 20 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        // The second connection took all 20; the next write finds it dead.
        for _ in 0..5 {
            assert!(link.lock().push(&p));
        }
        link.wake_writer();
        while link.lock().records_written() < 25 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        link.close(Duration::from_millis(100));
        assert!(link.wait_done(Instant::now() + Duration::from_secs(5)));
        t.join().unwrap();
        let got: Vec<Vec<Message>> = logs
            .iter()
            .map(|l| {
                let bytes = l.lock().unwrap().clone();
                let mut r = taskwire_core::wire::StreamReader::new();
                r.feed(&bytes).filter_map(Result::ok).collect()
            })
            .collect();
        assert!(
            matches!(&got[0][..], [Message::Header(_)]),
            "the refused connection got its header only: {:?}",
            got[0]
        );
        let records = |msgs: &[Message]| -> Vec<u64> {
            msgs.iter()
                .filter_map(|m| match m {
                    Message::Record(r) => Some(r.seq),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(records(&got[1]), (0..20).collect::<Vec<_>>());
        // Nothing the second connection carried was acknowledged: it all goes again,
        // first, then the rest; no number is missing and none is reported lost.
        assert_eq!(records(&got[2]), (0..25).collect::<Vec<_>>());
        assert!(!got[2].iter().any(|m| matches!(m, Message::Loss(_))));
        assert_eq!(link.lock().queue().lost(LossReason::SinkOutage), 0);
    }

    #[test]
    fn reads_answers_and_closes_from_a_socket() {
        let (mut peer, ours) = UnixStream::pair().unwrap();
        let mut a = Acks::new();
        let read = &mut |b: &mut [u8], u| read_socket(&ours, b, u);
        assert_eq!(a.poll(read, None), Heard::Nothing);
        peer.write_all(&answer(Answer::Ack { next_seq: 3 }))
            .unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        assert_eq!(a.poll(read, Some(until)), Heard::Nothing);
        assert!(a.acked());
        // Junk is not a close.
        peer.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(a.poll(read, None), Heard::Nothing);
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(a.poll(read, Some(until)), Heard::Closed);
    }
}
