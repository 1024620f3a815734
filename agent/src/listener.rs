//! The exit-record loop, shared by `listen`, getdelays `-m` and `stream`: register (with
//! ACK) -> receive -> decode -> hand each event to a [`Consumer`] -> deregister (with ACK)
//! when the consumer or a wake-up descriptor says stop. Exit messages are taken apart here,
//! once for every consumer: each hears of a task's and a thread group's statistics as
//! separate events, with their [`Kind`].

use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::io::Errno;
use taskwire_core::cpulist::CpuSet;
use taskwire_core::netlink::{self, Message, Packet};
use taskwire_core::taskstats::{Aggregate, Kind, Reply};

use crate::client::{Client, RECV_LEN, RawEvent, Unsolicited};
use crate::errors::{ClientError, Op};
use crate::probe::Probe;
use crate::socket;

/// Datagrams read between two looks at the wake-up descriptor: bounds how long a stop
/// request waits under a flood of records.
const DRAIN_BATCH: usize = 64;

/// After emptying the receive queue the loop pauses this long at most (shorter for a
/// small receive buffer: [`pause_for`]), letting records pile up in the kernel, then takes
/// them all at once: under an exit storm it wakes once per batch instead of once per
/// record, and the wake-up was most of what a record cost (BENCHMARKS.md, "Pause after
/// emptying the socket"). Records wait that much longer; an idle agent still sleeps in
/// poll until the next record.
pub const MAX_PAUSE: Duration = Duration::from_millis(25);
/// Exit records per second the pause is sized for: above the peak exit rate of the
/// development machine (BENCHMARKS.md).
pub const DESIGN_RATE: u64 = 30_000;
/// Receive-buffer bytes a queued exit record takes (the kernel's skb accounting, read
/// from how many records a buffer of a known size held: BENCHMARKS.md).
const QUEUED_RECORD_BYTES: u64 = 2304;

/// Something the loop hands to its consumer: one task's or one thread group's exit
/// statistics, or news of messages lost or spoilt.
///
/// An exit message carries the task's statistics ([`Kind::Pid`]), then, when the last thread
/// of a multi-threaded group exited, the group's ([`Kind::Tgid`]): two events, in that
/// order.
pub type Event<'a> = Unsolicited<(Kind, Aggregate<'a>)>;

/// Whether the loop goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep receiving.
    Continue,
    /// Deregister and return.
    Stop,
}

/// Receives what the loop produces.
pub trait Consumer {
    /// Called once the kernel has acknowledged the registration: records flow from now on.
    fn registered(&mut self, _cpus: &CpuSet) -> Flow {
        Flow::Continue
    }

    /// Called for each event, in arrival order.
    fn event(&mut self, event: Event<'_>) -> Flow;

    /// Called before the loop blocks waiting for more: the moment to flush buffered output.
    fn idle(&mut self) -> Flow {
        Flow::Continue
    }
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The wake-up descriptor became readable (a signal, for the commands).
    Woken,
    /// The consumer returned [`Flow::Stop`].
    Consumer,
}

/// What the loop saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Exit messages delivered.
    pub messages: u64,
    /// ENOBUFS events (each one or more lost records).
    pub loss_events: u64,
    /// Datagrams dropped for not fitting the receive buffer.
    pub truncated: u64,
    /// Messages dropped for not decoding.
    pub undecodable: u64,
}

struct Run<'c> {
    consumer: &'c mut dyn Consumer,
    family: u16,
    summary: Summary,
    flow: Flow,
    probe: Option<Probe>,
}

impl Run<'_> {
    fn send(&mut self, event: Event<'_>) {
        if let Some(p) = self.probe.as_mut() {
            match event {
                Event::Exit((Kind::Pid, ref agg)) if p.is_own(agg.id) => return,
                _ => p.heard = true,
            }
        }
        match event {
            // Counted by message, in `exit`.
            Event::Exit(_) => {}
            Event::Loss => self.summary.loss_events += 1,
            Event::Truncated(_) => self.summary.truncated += 1,
            Event::Undecodable(_) => self.summary.undecodable += 1,
        }
        if self.flow == Flow::Continue {
            self.flow = self.consumer.event(event);
        }
    }

    /// Decodes an exit message and sends each of its aggregates.
    fn exit(&mut self, packet: Packet<&[u8]>) {
        match Reply::parse(packet, self.family) {
            Ok(reply) => {
                self.summary.messages += 1;
                for aggregate in reply.aggregates() {
                    self.send(Event::Exit(aggregate));
                }
            }
            Err(e) => self.send(Event::Undecodable(e)),
        }
    }

    /// Something the client met while it waited for an ACK.
    fn unsolicited(&mut self, u: RawEvent<'_>) {
        match u {
            Unsolicited::Exit(packet) => self.exit(packet),
            Unsolicited::Loss => self.send(Event::Loss),
            Unsolicited::Truncated(n) => self.send(Event::Truncated(n)),
            Unsolicited::Undecodable(e) => self.send(Event::Undecodable(e)),
        }
    }

    fn datagram(&mut self, bytes: &[u8]) {
        for item in netlink::messages(bytes) {
            if self.flow == Flow::Stop {
                return;
            }
            match item.and_then(Message::parse) {
                Ok(Message::Data(p)) => self.exit(p),
                // ACKs of earlier requests, NOOP, DONE: not records.
                Ok(_) => {}
                Err(e) => self.send(Event::Undecodable(e)),
            }
        }
    }
}

/// Registers `client` for the exit records of `cpus`, feeds `consumer` until it or `wake`
/// says stop, then deregisters. Deregistration is attempted even when receiving failed.
pub fn listen(
    client: &mut Client,
    cpus: &CpuSet,
    wake: Option<BorrowedFd<'_>>,
    consumer: &mut dyn Consumer,
) -> Result<(Stopped, Summary), ClientError> {
    let family = client.family().id;
    // Records can arrive between the kernel's registration and its ACK; keep them for the
    // consumer, which only hears of the registration once the ACK is in.
    let mut early: Vec<Unsolicited<Vec<u8>>> = Vec::new();
    client.listener(true, cpus, &mut |u| {
        early.push(u.map(|p| p.into_inner().to_vec()))
    })?;

    let mut run = Run {
        consumer,
        family,
        summary: Summary::default(),
        flow: Flow::Continue,
        probe: Probe::start(cpus),
    };
    run.flow = run.consumer.registered(cpus);
    // Losses and dropped messages first, then the records: the order consumers have
    // always heard early events in.
    let (records, news): (Vec<_>, Vec<_>) = early
        .into_iter()
        .partition(|u| matches!(u, Unsolicited::Exit(_)));
    for u in news.iter().chain(&records) {
        // The bytes are a message the client already walked; Reply::parse checks its
        // length again.
        run.unsolicited(u.as_ref().map(|bytes| Packet::new_unchecked(&bytes[..])));
    }

    let result = receive(client, wake, &mut run);
    // Records queued before the deregistration took effect still reach the consumer (unless
    // it has stopped): stopping on a signal loses nothing that had already happened.
    let deregistered = client.listener(false, cpus, &mut |u| run.unsolicited(u));
    let stopped = result?;
    deregistered?;
    Ok((stopped, run.summary))
}

fn receive(
    client: &Client,
    wake: Option<BorrowedFd<'_>>,
    run: &mut Run<'_>,
) -> Result<Stopped, ClientError> {
    let os = |errno| ClientError::Os {
        op: Op::Recv,
        errno,
    };
    let mut batch = socket::Batch::new(RECV_LEN);
    let sock = client.socket();
    // A receive buffer whose size cannot be read gets the shortest pause of all.
    let coalesce = pause_for(sock.recv_buffer().unwrap_or(0));
    let mut emptied = false;
    loop {
        if run.flow == Flow::Stop {
            return Ok(Stopped::Consumer);
        }
        if run.consumer.idle() == Flow::Stop {
            return Ok(Stopped::Consumer);
        }
        if emptied && !coalesce.is_zero() && socket::pause(wake, coalesce).map_err(os)? {
            return Ok(Stopped::Woken);
        }
        let probing = run.probe.as_ref().and_then(Probe::wait_left);
        let ready = sock.wait(wake, probing).map_err(os)?;
        if ready.wake {
            return Ok(Stopped::Woken);
        }
        if !ready.socket && run.probe.as_ref().is_some_and(Probe::deaf) {
            return Err(ClientError::Deaf);
        }
        emptied = false;
        for _ in 0..DRAIN_BATCH / socket::BATCH {
            if run.flow == Flow::Stop {
                break;
            }
            match sock.recv_batch(&mut batch) {
                Ok(n) => {
                    for d in batch.datagrams() {
                        match d {
                            Ok(bytes) => run.datagram(bytes),
                            Err(real) => run.send(Event::Truncated(real)),
                        }
                    }
                    // A short batch emptied the queue (or met an error the next call
                    // reports).
                    if n < socket::BATCH {
                        emptied = true;
                        break;
                    }
                }
                Err(Errno::AGAIN) => {
                    emptied = true;
                    break;
                }
                Err(Errno::NOBUFS) => run.send(Event::Loss),
                Err(errno) => return Err(os(errno)),
            }
        }
    }
}

/// The pause after the receive queue has been emptied, for a receive buffer of `rcvbuf`
/// bytes: as long as [`MAX_PAUSE`], but short enough that records arriving at
/// [`DESIGN_RATE`] fill at most a quarter of the buffer meanwhile.
pub fn pause_for(rcvbuf: usize) -> Duration {
    let records = rcvbuf as u64 / QUEUED_RECORD_BYTES;
    let micros = records.saturating_mul(1_000_000) / DESIGN_RATE / 4;
    Duration::from_micros(micros).min(MAX_PAUSE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_core::fixtures::{EXIT_PID, EXIT_PID_AND_TGID, FAMILY};
    use taskwire_core::taskstats::Field;

    /// Records what it is given, as (pid id, tgid id, the pid's ac_pid) per exit message
    /// and event names.
    #[derive(Default)]
    struct Log {
        exits: Vec<(Option<u32>, Option<u32>, Option<u64>)>,
        other: Vec<String>,
        stop_after: Option<usize>,
    }

    impl Consumer for Log {
        fn event(&mut self, event: Event<'_>) -> Flow {
            match event {
                // Every exit message starts with its task's statistics.
                Event::Exit((Kind::Pid, a)) => {
                    self.exits
                        .push((Some(a.id), None, a.stats.get(Field::AcPid)))
                }
                Event::Exit((Kind::Tgid, a)) => match self.exits.last_mut() {
                    Some(last) if last.1.is_none() => last.1 = Some(a.id),
                    _ => self.exits.push((None, Some(a.id), None)),
                },
                Event::Loss => self.other.push("loss".into()),
                Event::Truncated(n) => self.other.push(format!("truncated {n}")),
                Event::Undecodable(e) => self.other.push(format!("undecodable {e}")),
            }
            match self.stop_after {
                Some(n) if self.exits.len() >= n => Flow::Stop,
                _ => Flow::Continue,
            }
        }
    }

    fn feed(log: &mut Log, datagram: &[u8]) -> Summary {
        let mut run = Run {
            consumer: log,
            family: FAMILY,
            summary: Summary::default(),
            flow: Flow::Continue,
            probe: None,
        };
        run.datagram(datagram);
        run.summary
    }

    #[test]
    fn exit_with_pid_and_tgid_records() {
        let mut log = Log::default();
        let s = feed(&mut log, &EXIT_PID_AND_TGID);
        assert_eq!(s.messages, 1);
        let (pid, tgid, ac_pid) = log.exits[0];
        assert!(pid.is_some() && tgid.is_some(), "{:?}", log.exits);
        assert_eq!(
            pid.map(u64::from),
            ac_pid,
            "the nest's PID is the struct's ac_pid"
        );
        assert!(log.other.is_empty(), "{:?}", log.other);
    }

    #[test]
    fn several_messages_in_one_datagram() {
        let mut two = EXIT_PID.to_vec();
        two.extend_from_slice(&EXIT_PID_AND_TGID);
        let mut log = Log::default();
        assert_eq!(feed(&mut log, &two).messages, 2);
        assert_eq!(
            log.exits[0].1, None,
            "the first carries no thread-group record"
        );
        assert!(log.exits[1].1.is_some());
    }

    #[test]
    fn consumer_stop_ends_delivery() {
        let mut two = EXIT_PID.to_vec();
        two.extend_from_slice(&EXIT_PID);
        let mut log = Log {
            stop_after: Some(1),
            ..Log::default()
        };
        feed(&mut log, &two);
        assert_eq!(log.exits.len(), 1);
    }

    #[test]
    fn a_stop_after_the_task_withholds_its_thread_group() {
        // getdelays without -l stops at the first statistics of an exit message.
        let mut log = Log {
            stop_after: Some(1),
            ..Log::default()
        };
        let s = feed(&mut log, &EXIT_PID_AND_TGID);
        assert_eq!(s.messages, 1);
        assert_eq!(log.exits.len(), 1);
        assert!(
            log.exits[0].0.is_some() && log.exits[0].1.is_none(),
            "{:?}",
            log.exits
        );
    }

    #[test]
    fn pause_shrinks_with_the_receive_buffer() {
        assert_eq!(pause_for(0), Duration::ZERO);
        // The kernel's default buffer holds about 92 records: 3 ms at the design rate, so
        // a quarter of that.
        let small = pause_for(212_992);
        assert!(
            small > Duration::from_micros(500) && small < Duration::from_millis(1),
            "{small:?}"
        );
        assert_eq!(pause_for(8 << 20), MAX_PAUSE);
        assert_eq!(pause_for(usize::MAX), MAX_PAUSE);
        let mut last = Duration::ZERO;
        for kib in [1, 64, 256, 1024, 4096] {
            let p = pause_for(kib * 1024);
            assert!(p >= last, "{kib} KiB: {p:?} < {last:?}");
            last = p;
        }
    }

    #[test]
    fn damaged_messages_are_reported_not_delivered() {
        // Cut inside the STATS attribute, with nlmsg_len still claiming the whole message.
        let cut = &EXIT_PID[..300];
        let mut log = Log::default();
        let s = feed(&mut log, cut);
        assert_eq!((s.messages, s.undecodable), (0, 1));
        assert!(log.other[0].starts_with("undecodable"), "{:?}", log.other);
        // Every prefix, and a flipped byte anywhere: never a panic.
        for n in 0..EXIT_PID_AND_TGID.len() {
            let mut log = Log::default();
            feed(&mut log, &EXIT_PID_AND_TGID[..n]);
            let mut bytes = EXIT_PID_AND_TGID.to_vec();
            bytes[n] ^= 0xff;
            feed(&mut log, &bytes);
        }
    }
}
