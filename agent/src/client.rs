//! Request/response exchanges with the TASKSTATS family over one [`NetlinkSocket`].
//!
//! Every request asks for an ACK, so that success and failure both end in a message
//! carrying our sequence number: the kernel sends a cgroupstats query on a bad fd, or a
//! successful (de)registration, no reply at all otherwise. Replies are matched by sequence
//! number; on a registered socket, exit records that arrive meanwhile are handed to the
//! caller rather than mistaken for the answer.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use rustix::io::Errno;
use taskwire_core::cgroupstats::{self, CgroupStats};
use taskwire_core::cpulist::CpuSet;
use taskwire_core::netlink::{self, Message, Packet};
use taskwire_core::nlctrl::{self, Family};
use taskwire_core::taskstats::{self, Command, Kind, Reply};

use crate::errors::{ClientError, Op};
use crate::socket::{Datagram, NetlinkSocket};

/// Receive buffer length, in bytes: an exit message with both an AGGR_PID and an AGGR_TGID
/// record of the largest struct is about 1.4 KiB; keep well above the codec's limit so a
/// longer future struct still fits (MSG_TRUNC catches anything longer).
pub const RECV_LEN: usize = 4 * taskwire_core::MAX_MSG_SIZE;

/// How long to wait for the kernel to answer one request.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What a GET asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// One thread, by its id.
    Pid(u32),
    /// A thread group (process), by its leader's id.
    Tgid(u32),
}

impl Target {
    /// Whether `reply` answers this target: it holds the nest asked for, with this id.
    pub fn answered_by(self, reply: &Reply<'_>) -> bool {
        reply.get(self.kind()).is_some_and(|a| a.id == self.id())
    }

    /// Which of the reply's nests answers the query.
    pub fn kind(self) -> Kind {
        match self {
            Target::Pid(_) => Kind::Pid,
            Target::Tgid(_) => Kind::Tgid,
        }
    }

    /// The pid or tgid asked about.
    pub fn id(self) -> u32 {
        match self {
            Target::Pid(p) | Target::Tgid(p) => p,
        }
    }

    pub(crate) fn op(self) -> Op {
        match self {
            Target::Pid(p) => Op::GetPid(p),
            Target::Tgid(p) => Op::GetTgid(p),
        }
    }
}

/// Something on the socket that is not the answer to a request of ours: an exit record on
/// a registered socket, or news that messages were lost or spoilt.
///
/// `E` is how far the exit record has been decoded: the client hands on the message as it
/// came (a [`Packet`]); the listener hands its consumer one task's or thread group's
/// statistics at a time ([`crate::listener::Event`]). Every other arm is the same to both.
#[derive(Debug, Clone, Copy)]
pub enum Unsolicited<E> {
    /// An exit record.
    Exit(E),
    /// The kernel dropped messages because the receive buffer was full (ENOBUFS); how many
    /// is not reported.
    Loss,
    /// A datagram longer than the receive buffer, with its real length in bytes; dropped.
    Truncated(usize),
    /// A message that does not decode; dropped.
    Undecodable(taskwire_core::Error),
}

impl<E> Unsolicited<E> {
    /// The same event with the exit record passed through `f`.
    pub fn map<F>(self, f: impl FnOnce(E) -> F) -> Unsolicited<F> {
        match self {
            Unsolicited::Exit(e) => Unsolicited::Exit(f(e)),
            Unsolicited::Loss => Unsolicited::Loss,
            Unsolicited::Truncated(n) => Unsolicited::Truncated(n),
            Unsolicited::Undecodable(e) => Unsolicited::Undecodable(e),
        }
    }

    /// The same event, borrowing its exit record.
    pub fn as_ref(&self) -> Unsolicited<&E> {
        match self {
            Unsolicited::Exit(e) => Unsolicited::Exit(e),
            Unsolicited::Loss => Unsolicited::Loss,
            Unsolicited::Truncated(n) => Unsolicited::Truncated(*n),
            Unsolicited::Undecodable(e) => Unsolicited::Undecodable(*e),
        }
    }
}

/// What the client hands on: an exit record as it came off the socket, not yet decoded.
pub type RawEvent<'a> = Unsolicited<Packet<&'a [u8]>>;

/// A socket with the TASKSTATS family resolved.
#[derive(Debug)]
pub struct Client {
    sock: NetlinkSocket,
    family: Family,
    seq: u32,
    tx: Vec<u8>,
    /// Bytes of `tx` holding GETs queued for one datagram ([`Client::queue_get`]).
    queued: usize,
    /// The first queued GET's, for a failure of their send.
    queued_op: Op,
    rx: Vec<u8>,
    answer: Vec<u8>,
}

impl Client {
    /// Opens a socket and resolves the TASKSTATS family.
    pub fn connect() -> Result<Client, ClientError> {
        let sock = NetlinkSocket::open().map_err(|errno| ClientError::Os {
            op: Op::Socket,
            errno,
        })?;
        Client::with_socket(sock)
    }

    /// Resolves the TASKSTATS family on an already opened socket.
    pub fn with_socket(sock: NetlinkSocket) -> Result<Client, ClientError> {
        let mut client = Client {
            sock,
            family: Family {
                id: 0,
                version: 0,
                hdrsize: 0,
                maxattr: 0,
            },
            seq: 0,
            tx: vec![0; taskwire_core::MAX_MSG_SIZE],
            queued: 0,
            queued_op: Op::Socket,
            rx: vec![0; RECV_LEN],
            answer: Vec::with_capacity(RECV_LEN),
        };
        let seq = client.next_seq();
        let len = nlctrl::request_family(&mut client.tx, taskstats::FAMILY_NAME, seq).map_err(
            |error| ClientError::Decode {
                op: Op::Family,
                error,
            },
        )?;
        // nlctrl's builder does not ask for an ACK; every exchange here ends on one.
        if let Some(msg) = client.tx.get_mut(..len) {
            let mut p = Packet::new_unchecked(msg);
            p.set_flags(p.flags() | netlink::flags::ACK);
        }
        client.exchange(Op::Family, len, seq, true, ANSWER_TIMEOUT, &mut |_| {})?;
        let packet =
            Packet::new_checked(&client.answer[..]).map_err(|error| ClientError::Decode {
                op: Op::Family,
                error,
            })?;
        client.family = Family::parse(packet).map_err(|error| ClientError::Decode {
            op: Op::Family,
            error,
        })?;
        Ok(client)
    }

    /// The socket, for polling and buffer sizing.
    pub fn socket(&self) -> &NetlinkSocket {
        &self.sock
    }

    /// The resolved family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Queries the statistics of a live (or zombie) task or thread group.
    ///
    /// The reply borrows the client's buffer and holds the aggregate asked for.
    pub fn get(&mut self, target: Target) -> Result<Reply<'_>, ClientError> {
        let op = target.op();
        // The buffer is this exchange's: GETs a failed sweep left queued are dropped.
        self.queued = 0;
        let len = self.emit_get(target, true, 0)?;
        self.exchange(op, len, self.seq, true, ANSWER_TIMEOUT, &mut |_| {})?;
        let decode = |error| ClientError::Decode { op, error };
        let packet = Packet::new_checked(&self.answer[..]).map_err(decode)?;
        let reply = Reply::parse(packet, self.family.id).map_err(decode)?;
        if target.answered_by(&reply) {
            Ok(reply)
        } else {
            Err(decode(taskwire_core::Error::Missing))
        }
    }

    /// Adds a GET for `target` to the datagram [`Client::send_queued`] sends, and returns
    /// its sequence number: the sweep's half of an exchange ([`crate::sweep`]). The kernel
    /// runs every message of a datagram in turn, answering each as if sent alone, so one
    /// datagram of many GETs saves a system call and a request buffer per GET but changes
    /// no answer. A GET is 28 bytes: the buffer holds over 140 (a full one is an error here,
    /// never a cut datagram).
    pub(crate) fn queue_get(&mut self, target: Target) -> Result<u32, ClientError> {
        if self.queued == 0 {
            self.queued_op = target.op();
        }
        self.queued += self.emit_get(target, false, self.queued)?;
        Ok(self.seq)
    }

    /// Sends the GETs queued since the last send, if any, in one datagram.
    pub(crate) fn send_queued(&mut self) -> Result<(), ClientError> {
        let len = std::mem::take(&mut self.queued);
        if len == 0 {
            return Ok(());
        }
        self.sock
            .send(self.tx.get(..len).unwrap_or_default())
            .map_err(|errno| ClientError::Os {
                op: self.queued_op,
                errno,
            })
    }

    /// Writes a GET for `target` with a fresh sequence number (`self.seq`) into `tx` from
    /// `at` on and returns its length.
    fn emit_get(&mut self, target: Target, ack: bool, at: usize) -> Result<usize, ClientError> {
        let seq = self.next_seq();
        let cmd = match target {
            Target::Pid(p) => Command::GetPid(p),
            Target::Tgid(p) => Command::GetTgid(p),
        };
        let buf = self.tx.get_mut(at..).unwrap_or_default();
        cmd.emit(buf, self.family.id, seq, ack)
            .map_err(|error| ClientError::Decode {
                op: target.op(),
                error,
            })
    }

    /// Queries the task counts of a cgroup v1 directory opened as `dir`.
    pub fn cgroup(&mut self, dir: BorrowedFd<'_>) -> Result<CgroupStats, ClientError> {
        let op = Op::Cgroup;
        let decode = |error| ClientError::Decode { op, error };
        let fd = u32::try_from(dir.as_raw_fd()).map_err(|_| ClientError::Os {
            op,
            errno: Errno::BADF,
        })?;
        let seq = self.next_seq();
        let len =
            cgroupstats::request(&mut self.tx, self.family.id, fd, seq, true).map_err(decode)?;
        self.exchange(op, len, seq, true, ANSWER_TIMEOUT, &mut |_| {})?;
        let packet = Packet::new_checked(&self.answer[..]).map_err(decode)?;
        CgroupStats::parse(packet, self.family.id).map_err(decode)
    }

    /// Registers (or deregisters) this socket for the exit records of `cpus`, waiting for
    /// the kernel's ACK. Exit records and loss events that arrive meanwhile go to `other`.
    ///
    /// The kernel sends the ACK without blocking: when the receive buffer is full it is
    /// dropped like an exit record. The request is therefore repeated, with a fresh
    /// sequence number, when no ACK came; both commands are idempotent in the kernel.
    pub fn listener(
        &mut self,
        register: bool,
        cpus: &CpuSet,
        other: &mut dyn FnMut(RawEvent<'_>),
    ) -> Result<(), ClientError> {
        let op = if register {
            Op::Register
        } else {
            Op::Deregister
        };
        const ATTEMPTS: u32 = 4;
        let mut last = ClientError::Timeout { op };
        for _ in 0..ATTEMPTS {
            let seq = self.next_seq();
            let cmd = if register {
                Command::Register(cpus)
            } else {
                Command::Deregister(cpus)
            };
            let len = cmd
                .emit(&mut self.tx, self.family.id, seq, true)
                .map_err(|error| ClientError::Decode { op, error })?;
            match self.exchange(op, len, seq, false, Duration::from_secs(1), other) {
                Err(e @ ClientError::Timeout { .. }) => last = e,
                r => return r,
            }
        }
        Err(last)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends `tx[..len]` and reads until the ACK or error for `seq`.
    ///
    /// With `want_data`, the data message carrying `seq` is copied to `self.answer`, and a
    /// datagram too long for the buffer is taken to be that answer and fails the exchange.
    fn exchange(
        &mut self,
        op: Op,
        len: usize,
        seq: u32,
        want_data: bool,
        timeout: Duration,
        other: &mut dyn FnMut(RawEvent<'_>),
    ) -> Result<(), ClientError> {
        let os = |errno| ClientError::Os { op, errno };
        let msg = self.tx.get(..len).ok_or(os(Errno::MSGSIZE))?;
        self.sock.send(msg).map_err(os)?;
        self.answer.clear();
        let mut answered = false;
        loop {
            if !self.sock.wait(None, Some(timeout)).map_err(os)?.socket {
                return Err(ClientError::Timeout { op });
            }
            let n = match self.sock.recv(&mut self.rx, true) {
                Ok(Datagram::Complete(n)) => n,
                Ok(Datagram::Truncated(real)) if want_data => {
                    return Err(ClientError::Truncated { op, len: real });
                }
                Ok(Datagram::Truncated(real)) => {
                    other(Unsolicited::Truncated(real));
                    continue;
                }
                Err(Errno::AGAIN) => continue,
                Err(Errno::NOBUFS) => {
                    other(Unsolicited::Loss);
                    continue;
                }
                Err(errno) => {
                    return Err(ClientError::Os {
                        op: Op::Recv,
                        errno,
                    });
                }
            };
            let datagram = self.rx.get(..n).unwrap_or_default();
            for item in netlink::messages(datagram) {
                let decode = |error| ClientError::Decode { op, error };
                let message = match item.and_then(Message::parse) {
                    Ok(m) => m,
                    Err(error) if want_data => return Err(decode(error)),
                    Err(error) => {
                        other(Unsolicited::Undecodable(error));
                        break;
                    }
                };
                match message {
                    Message::Ack { seq: s } if s == seq => {
                        return if want_data && !answered {
                            Err(decode(taskwire_core::Error::Missing))
                        } else {
                            Ok(())
                        };
                    }
                    Message::Error { errno, seq: s } if s == seq => {
                        return Err(ClientError::Os {
                            op,
                            errno: Errno::from_raw_os_error(errno),
                        });
                    }
                    Message::Data(p)
                        if want_data && p.seq() == seq && addressed_to_us(&p) && !answered =>
                    {
                        self.answer.extend_from_slice(p.into_inner());
                        answered = true;
                    }
                    Message::Data(p) => other(Unsolicited::Exit(p)),
                    // Stale ACKs of an earlier attempt, NOOP, DONE: nothing to do.
                    _ => {}
                }
            }
        }
    }
}

/// Whether data message `p` is an answer to a request from this socket.
///
/// The kernel addresses an answer to the requester's port; an exit record goes out with
/// port 0 and a sequence number from its own per-CPU counter, which can equal ours.
pub(crate) fn addressed_to_us(p: &Packet<&[u8]>) -> bool {
    p.port() != 0
}
