//! Many GETs in flight on one socket: the per-interval query of `top` (issue 11).
//!
//! [`Client::get`] waits for each answer and its ACK, four datagrams and a poll per task.
//! A sweep sends up to a window of GETs, as many as the window has room for in one
//! datagram (the kernel runs each message of a datagram in turn, answering each alone),
//! then drains the answers in `recvmmsg` batches and matches each to its target by sequence
//! number, whatever order they come in.
//!
//! The GETs ask for no ACK: the kernel answers a GET with the statistics or with an
//! error, never with nothing, so the answer alone closes a request and the ACK would only
//! double the datagrams. The kernel runs a GET inside `sendto`, so its answer is queued
//! (or dropped, on a full receive buffer) before the next request goes out: the window is
//! how many answers may wait in the receive buffer, and is bounded by its size.
//!
//! A full buffer drops answers and says so once (ENOBUFS), not which; while it stays
//! full the kernel drops everything. So after a loss no request is sent until the queue is
//! drained; then every request still unanswered is asked once more, and reported lost
//! (ENOBUFS) if that answer is lost too. Nothing is allocated per target: the in-flight
//! table is a fixed array and answers are decoded in place in the receive batch.

use std::time::Duration;

use rustix::io::Errno;
use taskwire_core::netlink::{self, Message};
use taskwire_core::taskstats::Reply;

use crate::client::{Client, RawEvent, Target, Unsolicited, addressed_to_us};
use crate::errors::{ClientError, Op};
use crate::socket::Batch;

/// Most requests a sweep keeps in flight.
pub const MAX_WINDOW: usize = 64;

/// Receive buffer one queued answer is charged, in bytes, with room to spare: an answer
/// is under 1 KiB, and the kernel charges each datagram its allocation's size (about
/// 2.3 KiB) against the buffer. The spare room is for exit records on a registered socket.
const ANSWER_COST: usize = 4096;

/// How long a sweep waits for an answer before reporting its request timed out.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// The window for `requested` in a receive buffer of `recv_buffer` bytes (as the kernel
/// reports it, doubled): at least one, at most [`MAX_WINDOW`] and what fits.
pub fn window_for(requested: usize, recv_buffer: usize) -> usize {
    requested
        .min(MAX_WINDOW)
        .min(recv_buffer / ANSWER_COST)
        .max(1)
}

/// One sweep's tally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Targets answered with their statistics.
    pub answered: usize,
    /// Targets that failed (ESRCH among them: the task had exited).
    pub failed: usize,
    /// Requests asked a second time after their answer was lost.
    pub reasked: usize,
}

/// A request waiting for its answer.
#[derive(Debug, Clone, Copy)]
struct Pending {
    seq: u32,
    target: Target,
    reasked: bool,
}

/// What spoilt the answers of an unknown set of requests; the requests still unanswered
/// once the queue is drained are asked again.
#[derive(Debug, Clone, Copy)]
enum Spoilt {
    Loss,
    Truncated(usize),
    Undecodable(taskwire_core::Error),
}

impl Spoilt {
    /// What a request whose second answer was spoilt too reports.
    fn error(self, op: Op) -> ClientError {
        match self {
            Spoilt::Loss => ClientError::Os {
                op,
                errno: Errno::NOBUFS,
            },
            Spoilt::Truncated(len) => ClientError::Truncated { op, len },
            Spoilt::Undecodable(error) => ClientError::Decode { op, error },
        }
    }
}

/// Reusable state for sweeps: the receive batch and the requests in flight.
pub struct Sweep {
    batch: Batch,
    window: usize,
    timeout: Duration,
    flight: Flight,
}

/// The handler of each target's outcome.
pub type OnAnswer<'f> = dyn FnMut(Target, Result<Reply<'_>, ClientError>) + 'f;

impl Sweep {
    /// A sweep keeping up to `window` requests in flight (bounded when it runs by
    /// [`window_for`] the socket's receive buffer).
    pub fn new(window: usize) -> Sweep {
        Sweep {
            batch: Batch::new(taskwire_core::MAX_MSG_SIZE),
            window,
            timeout: DEFAULT_TIMEOUT,
            flight: Flight::new(),
        }
    }

    /// How long to wait for answers before reporting their requests timed out.
    pub fn with_timeout(mut self, timeout: Duration) -> Sweep {
        self.timeout = timeout;
        self
    }

    /// Asks about every target and hands each, with its answer or why there is none, to
    /// `on`, in the order the answers come. The reply borrows the receive batch for the
    /// call only. Exit records and loss news that arrive meanwhile go to `other`.
    ///
    /// ESRCH is a normal outcome: the task exited between listing and query. An error
    /// returned ends the sweep early (the socket failed); targets not yet handed to `on`
    /// were not answered.
    pub fn run(
        &mut self,
        client: &mut Client,
        targets: impl IntoIterator<Item = Target>,
        on: &mut OnAnswer<'_>,
        other: &mut dyn FnMut(RawEvent<'_>),
    ) -> Result<Summary, ClientError> {
        let recv_buffer = client
            .socket()
            .recv_buffer()
            .map_err(|errno| ClientError::Os {
                op: Op::RecvBuffer,
                errno,
            })?;
        let mut window = window_for(self.window, recv_buffer);
        let mut targets = targets.into_iter().fuse();
        self.flight = Flight::new();
        loop {
            if self.flight.spoilt.is_none() {
                // What the window has room for, in one datagram.
                while self.flight.len < window {
                    let Some(target) = targets.next() else { break };
                    let seq = client.queue_get(target)?;
                    self.flight.add(seq, target);
                }
                client.send_queued()?;
            }
            if self.flight.len == 0 {
                return Ok(self.flight.summary);
            }
            match client.socket().recv_batch(&mut self.batch) {
                Ok(_) => {
                    let family = client.family().id;
                    for datagram in self.batch.datagrams() {
                        self.flight.datagram(datagram, family, on, other);
                    }
                }
                Err(Errno::NOBUFS) => {
                    other(Unsolicited::Loss);
                    self.flight.spoilt = Some(Spoilt::Loss);
                }
                // Drained: what is still in flight now will not be answered (the kernel
                // answers inside sendto) unless nothing spoilt it; then wait a while.
                Err(Errno::AGAIN) => {
                    if self.flight.spoilt.is_some() {
                        window = (window / 2).max(1);
                        self.flight.reask(client, on)?;
                    } else if !self.wait(client)? {
                        self.flight.expire(on);
                    }
                }
                Err(errno) => {
                    return Err(ClientError::Os {
                        op: Op::Recv,
                        errno,
                    });
                }
            }
        }
    }

    /// Waits for the socket; false when the timeout passed first.
    fn wait(&self, client: &Client) -> Result<bool, ClientError> {
        let ready = client
            .socket()
            .wait(None, Some(self.timeout))
            .map_err(|errno| ClientError::Os {
                op: Op::Recv,
                errno,
            })?;
        Ok(ready.socket)
    }
}

/// The requests in flight, by sequence number, and what became of the sweep so far.
struct Flight {
    pending: [Option<Pending>; MAX_WINDOW],
    len: usize,
    spoilt: Option<Spoilt>,
    summary: Summary,
}

impl Flight {
    fn new() -> Flight {
        Flight {
            pending: [None; MAX_WINDOW],
            len: 0,
            spoilt: None,
            summary: Summary::default(),
        }
    }

    /// Records request `seq`; the caller keeps `len` below [`MAX_WINDOW`].
    fn add(&mut self, seq: u32, target: Target) {
        if let Some(slot) = self.pending.iter_mut().find(|s| s.is_none()) {
            *slot = Some(Pending {
                seq,
                target,
                reasked: false,
            });
            self.len += 1;
        }
    }

    /// Hands `target`'s outcome on, its request done.
    fn finish(
        &mut self,
        target: Target,
        result: Result<Reply<'_>, ClientError>,
        on: &mut OnAnswer<'_>,
    ) {
        self.len -= 1;
        if result.is_ok() {
            self.summary.answered += 1;
        } else {
            self.summary.failed += 1;
        }
        on(target, result);
    }

    /// Matches the messages of one datagram (or the real length of one that did not fit
    /// its slot) to the requests in flight.
    fn datagram(
        &mut self,
        datagram: Result<&[u8], usize>,
        family: u16,
        on: &mut OnAnswer<'_>,
        other: &mut dyn FnMut(RawEvent<'_>),
    ) {
        let datagram = match datagram {
            Ok(d) => d,
            Err(real) => {
                other(Unsolicited::Truncated(real));
                self.spoilt = Some(Spoilt::Truncated(real));
                return;
            }
        };
        for item in netlink::messages(datagram) {
            let message = match item.and_then(Message::parse) {
                Ok(m) => m,
                Err(error) => {
                    other(Unsolicited::Undecodable(error));
                    self.spoilt = Some(Spoilt::Undecodable(error));
                    return;
                }
            };
            let (seq, answer) = match message {
                Message::Data(p) if addressed_to_us(&p) => (p.seq(), Ok(p)),
                Message::Data(p) => {
                    other(Unsolicited::Exit(p));
                    continue;
                }
                Message::Error { errno, seq } => (seq, Err(Errno::from_raw_os_error(errno))),
                // ACKs, NOOP, DONE: no GET of ours asks for them.
                _ => continue,
            };
            // An answer to a request given up on (timed out, or asked again) has no slot
            // any more and is dropped here.
            let Some(slot) = self
                .pending
                .iter_mut()
                .find(|s| s.is_some_and(|p| p.seq == seq))
            else {
                continue;
            };
            let Some(Pending { target, .. }) = *slot else {
                continue;
            };
            let op = target.op();
            let result = match answer {
                // The kernel could not queue the answer and said so: asked again with the
                // rest once the queue is drained.
                Err(Errno::AGAIN | Errno::NOBUFS) => {
                    self.spoilt = Some(Spoilt::Loss);
                    continue;
                }
                Err(errno) => Err(ClientError::Os { op, errno }),
                Ok(p) => Reply::parse(p, family)
                    .and_then(|r| {
                        if target.answered_by(&r) {
                            Ok(r)
                        } else {
                            Err(taskwire_core::Error::Missing)
                        }
                    })
                    .map_err(|error| ClientError::Decode { op, error }),
            };
            *slot = None;
            self.finish(target, result, on);
        }
    }

    /// With the queue drained after a loss, asks once more about every target still
    /// unanswered (in the same slot, under a new sequence number) and fails those asked
    /// twice.
    fn reask(&mut self, client: &mut Client, on: &mut OnAnswer<'_>) -> Result<(), ClientError> {
        let Some(why) = self.spoilt.take() else {
            return Ok(());
        };
        for i in 0..MAX_WINDOW {
            let Some(p) = self.pending[i] else { continue };
            if p.reasked {
                self.pending[i] = None;
                self.finish(p.target, Err(why.error(p.target.op())), on);
            } else {
                let seq = client.queue_get(p.target)?;
                self.pending[i] = Some(Pending {
                    seq,
                    reasked: true,
                    ..p
                });
                self.summary.reasked += 1;
            }
        }
        client.send_queued()
    }

    /// Reports every request in flight as timed out.
    fn expire(&mut self, on: &mut OnAnswer<'_>) {
        for i in 0..MAX_WINDOW {
            if let Some(p) = self.pending[i].take() {
                self.finish(
                    p.target,
                    Err(ClientError::Timeout { op: p.target.op() }),
                    on,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::os::fd::AsFd;
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;
    use std::thread::JoinHandle;
    use std::time::Instant;

    use rustix::net::sockopt;
    use taskwire_core::netlink::Packet;
    use taskwire_core::taskstats::{
        Aggregate, LATEST_VERSION, MAX_STRUCT_SIZE, Taskstats, struct_size,
    };

    use super::*;

    #[test]
    fn window_fits_the_receive_buffer() {
        assert_eq!(window_for(32, 212_992), 32);
        assert_eq!(window_for(1000, 16 << 20), MAX_WINDOW);
        assert_eq!(window_for(32, 4608), 1, "the kernel's smallest buffer");
        assert_eq!(window_for(0, 212_992), 1);
    }

    /// One answer as a test sees it: the id it carried, or why there was none.
    type Outcome = Result<u32, ClientError>;

    fn outcome(target: Target, r: Result<Reply<'_>, ClientError>) -> Outcome {
        r.map(|reply| reply.get(target.kind()).map_or(0, |a| a.id))
    }

    #[test]
    fn answers_match_by_sequence_in_any_order() {
        let family = 30;
        let mut stats_bytes = [0u8; MAX_STRUCT_SIZE];
        stats_bytes[..2].copy_from_slice(&LATEST_VERSION.to_ne_bytes());
        let stats_bytes = &stats_bytes[..struct_size(LATEST_VERSION).unwrap()];
        let stats = Taskstats::new(stats_bytes).unwrap();
        let mut flight = Flight::new();
        flight.add(1, Target::Pid(10));
        flight.add(2, Target::Tgid(20));
        flight.add(3, Target::Pid(30));
        let mut datagram = vec![0u8; 4 * taskwire_core::MAX_MSG_SIZE];
        let mut at = 0;
        // The answer to request 2 first, addressed to our port.
        let answer = Reply {
            pid: None,
            tgid: Some(Aggregate { id: 20, stats }),
        };
        let n = answer.emit(&mut datagram[at..], family, 2).unwrap();
        Packet::new_unchecked(&mut datagram[at..at + n]).set_port(77);
        at += n;
        // An exit record whose sequence number happens to be request 1's (port 0).
        let exit = Reply {
            pid: Some(Aggregate { id: 10, stats }),
            tgid: None,
        };
        at += exit.emit(&mut datagram[at..], family, 1).unwrap();
        // Then request 1 fails (ESRCH), and a stale answer to a request given up on.
        at += Message::Error { errno: 3, seq: 1 }
            .emit(&mut datagram[at..], family)
            .unwrap();
        let n = answer.emit(&mut datagram[at..], family, 99).unwrap();
        Packet::new_unchecked(&mut datagram[at..at + n]).set_port(77);
        at += n;

        let mut got = Vec::new();
        let mut exits = 0;
        flight.datagram(
            Ok(&datagram[..at]),
            family,
            &mut |t, r| got.push((t, outcome(t, r))),
            &mut |e| {
                assert!(matches!(e, Unsolicited::Exit(_)), "{e:?}");
                exits += 1;
            },
        );
        assert_eq!(exits, 1);
        assert_eq!(
            got,
            [
                (Target::Tgid(20), Ok(20)),
                (
                    Target::Pid(10),
                    Err(ClientError::Os {
                        op: Op::GetPid(10),
                        errno: Errno::SRCH
                    })
                ),
            ]
        );
        assert_eq!(flight.len, 1);
        got.clear();
        flight.expire(&mut |t, r| got.push((t, outcome(t, r))));
        assert_eq!(
            got,
            [(
                Target::Pid(30),
                Err(ClientError::Timeout { op: Op::GetPid(30) })
            )]
        );
        assert_eq!(flight.len, 0);
        assert_eq!(
            flight.summary,
            Summary {
                answered: 1,
                failed: 2,
                reasked: 0
            }
        );
    }

    /// A client, or `None` (said why) where taskstats cannot be reached.
    fn connect() -> Option<Client> {
        match Client::connect() {
            Ok(c) => Some(c),
            Err(e @ ClientError::Os { errno, .. })
                if crate::socket::unavailable(errno)
                    || matches!(errno, Errno::PERM | Errno::ACCESS | Errno::NOENT) =>
            {
                eprintln!("skipped: {e}");
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// This thread's id, from /proc/thread-self (`<tgid>/task/<tid>`).
    fn tid() -> u32 {
        let link = std::fs::read_link("/proc/thread-self").unwrap();
        link.file_name().unwrap().to_str().unwrap().parse().unwrap()
    }

    /// Threads asleep until dropped.
    struct Sleepers {
        tids: Vec<u32>,
        wake: Vec<mpsc::Sender<()>>,
        threads: Vec<JoinHandle<()>>,
    }

    impl Sleepers {
        fn spawn(n: usize) -> Sleepers {
            let (tx, rx) = mpsc::channel();
            let mut s = Sleepers {
                tids: Vec::new(),
                wake: Vec::new(),
                threads: Vec::new(),
            };
            for _ in 0..n {
                let (wake, sleep) = mpsc::channel::<()>();
                let tx = tx.clone();
                s.threads.push(std::thread::spawn(move || {
                    tx.send(tid()).unwrap();
                    let _ = sleep.recv();
                }));
                s.wake.push(wake);
            }
            s.tids = rx.iter().take(n).collect();
            s
        }
    }

    impl Drop for Sleepers {
        fn drop(&mut self) {
            self.wake.clear();
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
    }

    fn pid_max() -> u32 {
        std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn every_target_is_answered_with_its_own_id() {
        let Some(mut client) = connect() else { return };
        let sleepers = Sleepers::spawn(200);
        let mut children: Vec<Child> = (0..10)
            .map(|_| {
                Command::new("sleep")
                    .arg("60")
                    .stdin(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // A thread that exits while the sweep runs, asked about last.
        let (tx, rx) = mpsc::channel();
        let victim = std::thread::spawn(move || tx.send(tid()).unwrap());
        let victim_tid = rx.recv().unwrap();
        let mut victim = Some(victim);

        let mut targets: Vec<Target> = sleepers.tids.iter().map(|&t| Target::Pid(t)).collect();
        targets.extend(children.iter().map(|c| Target::Tgid(c.id())));
        // Pids are below pid_max: this one never exists.
        targets.push(Target::Pid(pid_max()));
        targets.push(Target::Pid(victim_tid));

        let mut got: HashMap<Target, Vec<Outcome>> = HashMap::new();
        let mut sweep = Sweep::new(32);
        let summary = sweep
            .run(
                &mut client,
                targets.iter().copied(),
                &mut |t, r| {
                    if let Some(v) = victim.take() {
                        v.join().unwrap();
                        let gone = format!("/proc/self/task/{victim_tid}");
                        let deadline = Instant::now() + Duration::from_secs(5);
                        while std::path::Path::new(&gone).exists() && Instant::now() < deadline {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    got.entry(t).or_default().push(outcome(t, r));
                },
                &mut |_| {},
            )
            .unwrap();
        for c in &mut children {
            let _ = c.kill();
            let _ = c.wait();
        }

        assert_eq!(got.len(), targets.len(), "every target once");
        let srch = |op| {
            Err(ClientError::Os {
                op,
                errno: Errno::SRCH,
            })
        };
        for t in &targets {
            let want = match *t {
                Target::Pid(p) if p == victim_tid => srch(Op::GetPid(p)),
                Target::Pid(p) if p == pid_max() => srch(Op::GetPid(p)),
                t => Ok(t.id()),
            };
            assert_eq!(got[t], [want], "{t:?}");
        }
        assert_eq!(
            summary,
            Summary {
                answered: targets.len() - 2,
                failed: 2,
                reasked: 0
            }
        );
        // The one-at-a-time GET still works on the same client afterwards.
        let me = std::process::id();
        let reply = client.get(Target::Tgid(me)).unwrap();
        assert_eq!(reply.tgid.unwrap().id, me);
    }

    #[test]
    fn exit_records_on_the_same_socket_go_to_other() {
        let Some(mut client) = connect() else { return };
        let cpus = match crate::cpus::possible() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipped: {e}");
                return;
            }
        };
        if let Err(e) = client.listener(true, &cpus, &mut |_| {}) {
            eprintln!("skipped: {e}");
            return;
        }
        let sleepers = Sleepers::spawn(50);
        // Its exit record is queued on our socket before the sweep starts.
        Command::new("true").status().unwrap();
        let mut answered = 0;
        let mut exits = 0;
        let summary = Sweep::new(32)
            .run(
                &mut client,
                sleepers.tids.iter().map(|&t| Target::Pid(t)),
                &mut |t, r| {
                    assert_eq!(outcome(t, r), Ok(t.id()));
                    answered += 1;
                },
                &mut |e| {
                    if let Unsolicited::Exit(_) = e {
                        exits += 1;
                    }
                },
            )
            .unwrap();
        client.listener(false, &cpus, &mut |_| {}).unwrap();
        assert_eq!(answered, 50);
        assert_eq!(summary.answered, 50);
        assert!(exits >= 1, "the exit record of `true` reached `other`");
    }

    #[test]
    fn lost_answers_are_asked_again() {
        let Some(mut client) = connect() else { return };
        let sleepers = Sleepers::spawn(200);
        let fd = client.socket().as_fd().try_clone_to_owned().unwrap();
        let roomy = client.socket().recv_buffer().unwrap() / 2;
        let mut shrunk = false;
        let mut losses = 0;
        let mut got = HashMap::new();
        let summary = Sweep::new(32)
            .run(
                &mut client,
                sleepers.tids.iter().map(|&t| Target::Pid(t)),
                &mut |t, r| {
                    // Answers queued from here on overflow the smallest buffer the kernel
                    // allows, until `other` hears of the loss and makes room again.
                    if !shrunk {
                        sockopt::set_socket_recv_buffer_size(&fd, 0).unwrap();
                        shrunk = true;
                    }
                    assert!(got.insert(t, outcome(t, r)).is_none(), "{t:?} twice");
                },
                &mut |e| {
                    if let Unsolicited::Loss = e {
                        losses += 1;
                        sockopt::set_socket_recv_buffer_size(&fd, roomy).unwrap();
                    }
                },
            )
            .unwrap();
        assert!(losses >= 1, "no loss provoked");
        assert!(summary.reasked >= 1, "{summary:?}");
        assert_eq!(got.len(), 200);
        for (t, o) in &got {
            assert_eq!(*o, Ok(t.id()), "{t:?}");
        }
    }

    #[test]
    fn sweep_time_by_window() {
        let Some(mut client) = connect() else { return };
        let sleepers = Sleepers::spawn(200);
        let targets: Vec<Target> = sleepers
            .tids
            .iter()
            .cycle()
            .take(1000)
            .map(|&t| Target::Pid(t))
            .collect();
        for window in [1, 32] {
            let mut sweep = Sweep::new(window);
            let mut best = Duration::MAX;
            for _ in 0..5 {
                let start = Instant::now();
                let summary = sweep
                    .run(
                        &mut client,
                        targets.iter().copied(),
                        &mut |_, _| {},
                        &mut |_| {},
                    )
                    .unwrap();
                best = best.min(start.elapsed());
                assert_eq!(summary.answered, 1000);
            }
            eprintln!("sweep of 1000 pids, window {window}: best of 5 {best:?}");
        }
        let start = Instant::now();
        for &t in &targets {
            client.get(t).unwrap();
        }
        eprintln!("1000 pids by get() (ACK each): {:?}", start.elapsed());
    }
}
