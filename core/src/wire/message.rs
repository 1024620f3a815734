//! The messages of a record stream, other than the record itself.

use heapless::String;
use serde::{Deserialize, Serialize};

use super::record::Record;
use super::sample::{Interval, Sample};
use super::schema::{SCHEMA_HASH, WIRE_VERSION};

/// The first four bytes of every [`StreamHeader`]: "TWRS", taskwire record stream.
pub const MAGIC: [u8; 4] = *b"TWRS";

/// Capacity of [`StreamHeader::agent_version`], in bytes.
pub const AGENT_VERSION_CAP: usize = 16;
/// Capacity of [`StreamHeader::board_id`], in bytes.
pub const BOARD_ID_CAP: usize = 64;
/// Capacity of [`StreamHeader::kernel_release`], in bytes (`utsname.release` is 65 with
/// its NUL).
pub const KERNEL_RELEASE_CAP: usize = 64;
/// Capacity of [`StreamHeader::possible_cpus`], in bytes.
pub const POSSIBLE_CPUS_CAP: usize = 128;

/// One frame's payload. The variant order is part of the wire format: append only.
// Records are nearly every message, and without alloc there is nothing to box with.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Describes the sender; the first frame of every connection or stream.
    Header(StreamHeader),
    /// One exit record.
    Record(Record),
    /// Records lost before they could be sent.
    Loss(Loss),
    /// Sent when the stream is idle, so the host can tell a quiet board from a dead one.
    Heartbeat(Heartbeat),
    /// One sampling interval of live tasks, before its samples; numbered like a record.
    Interval(Interval),
    /// One live task over one interval; numbered like a record.
    Sample(Sample),
}

impl Message {
    /// The sequence number of a numbered message (a record, an interval, a sample); a Loss
    /// covers numbers instead ([`Loss::numbers`]).
    pub fn seq(&self) -> Option<u64> {
        match self {
            Message::Record(r) => Some(r.seq),
            Message::Interval(i) => Some(i.seq),
            Message::Sample(s) => Some(s.seq),
            Message::Header(_) | Message::Loss(_) | Message::Heartbeat(_) => None,
        }
    }
}

/// Describes the sender and the format of what follows.
///
/// Its first three fields (magic, wire version, schema hash) keep their place and type in
/// every wire version, so any reader can tell whether it can read the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamHeader {
    /// Always [`MAGIC`].
    pub magic: [u8; 4],
    /// The wire version the stream is written in ([`WIRE_VERSION`] of the sender).
    pub wire_version: u16,
    /// The sender's [`SCHEMA_HASH`]: differs when the sender appended fields or variants
    /// this reader may not know.
    pub schema_hash: u32,
    /// The agent's version (its Cargo package version).
    pub agent_version: String<AGENT_VERSION_CAP>,
    /// A name for the board, chosen by whoever runs the agent (hostname by default).
    pub board_id: String<BOARD_ID_CAP>,
    /// The kernel's release (`uname -r`).
    pub kernel_release: String<KERNEL_RELEASE_CAP>,
    /// The `struct taskstats` version the kernel reports; 0 when not known yet.
    pub taskstats_version: u16,
    /// Whether delay accounting is on (`kernel.task_delayacct`); `None` when unreadable.
    /// When off, the delay fields of tasks read as zero.
    pub delay_accounting: Option<bool>,
    /// The CPUs that can exist, as a cpulist (`/sys/devices/system/cpu/possible`, "0-3").
    pub possible_cpus: String<POSSIBLE_CPUS_CAP>,
    /// When the board booted, in seconds since the Unix epoch (0 when not known).
    pub boot_time: u64,
    /// This run of the agent: picked at random when it starts and sent in every header it
    /// writes, so a host tells two boards with one `board_id` apart, and a restarted agent
    /// from a reconnect. 0 = not sent (a sender from before the field).
    pub instance: u64,
}

impl StreamHeader {
    /// A header for this build's wire format, with empty descriptive fields.
    pub fn new() -> Self {
        StreamHeader {
            magic: MAGIC,
            wire_version: WIRE_VERSION,
            schema_hash: SCHEMA_HASH,
            agent_version: String::new(),
            board_id: String::new(),
            kernel_release: String::new(),
            taskstats_version: 0,
            delay_accounting: None,
            possible_cpus: String::new(),
            boot_time: 0,
            instance: 0,
        }
    }

    /// Whether the sender's schema is exactly this build's (same hash): every field and
    /// variant is known. Otherwise the stream is still readable when the wire version is,
    /// but some appended data may be skipped.
    pub fn same_schema(&self) -> bool {
        self.schema_hash == SCHEMA_HASH
    }
}

impl Default for StreamHeader {
    fn default() -> Self {
        Self::new()
    }
}

/// Why records were lost before sending. Append only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LossReason {
    /// The kernel dropped exit records because the netlink socket's receive buffer was
    /// full (ENOBUFS). The kernel gives no record count: [`Loss::count`] counts ENOBUFS
    /// events, each one or more records.
    KernelEnobufs,
    /// The agent's queue was full and records were dropped; count = records.
    QueueOverflow,
    /// The sink (UART, socket) failed or was disconnected and queued records were
    /// discarded; count = records.
    SinkOutage,
}

impl LossReason {
    /// Every reason, in wire order: `ALL[r.index()] == r`.
    pub const ALL: [LossReason; 3] = [
        LossReason::KernelEnobufs,
        LossReason::QueueOverflow,
        LossReason::SinkOutage,
    ];

    /// The reason's position in [`LossReason::ALL`], which is its wire tag: for arrays of
    /// counts per reason.
    pub const fn index(self) -> usize {
        // The variants carry no explicit discriminants, so `as` gives declaration order,
        // the order postcard tags them with.
        self as usize
    }

    /// The reason's stable name, as the agent's stats, logs and JSON spell it
    /// (`kernel_enobufs`, `queue_overflow`, `sink_outage`). Like the wire tag, a name is
    /// never changed once given: scripts match on it.
    pub const fn name(self) -> &'static str {
        match self {
            LossReason::KernelEnobufs => "kernel_enobufs",
            LossReason::QueueOverflow => "queue_overflow",
            LossReason::SinkOutage => "sink_outage",
        }
    }

    /// The reason named `name` (see [`LossReason::name`]).
    pub fn from_name(name: &str) -> Option<LossReason> {
        LossReason::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// Records lost before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loss {
    /// How many were lost: records, or ENOBUFS events for [`LossReason::KernelEnobufs`].
    pub count: u64,
    /// Why.
    pub reason: LossReason,
    /// One past the last lost sequence number: for queue overflow and sink outage the lost
    /// records are exactly `next_seq - count .. next_seq`; kernel ENOBUFS losses took no
    /// numbers, and `next_seq` only places them (every lower number was given out before).
    pub next_seq: u64,
}

/// A periodic sign of life with the agent's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Time since the agent started, in milliseconds.
    pub uptime_ms: u64,
    /// Numbered frames (records, intervals, samples) the agent has framed for sending since
    /// it started (not a sequence number: dropped ones take numbers too).
    pub records_sent: u64,
    /// Losses so far on this stream: the sum of every [`Loss::count`] sent or pending.
    pub drops: u64,
    /// Numbered frames (records, intervals, samples) waiting in the agent's queue.
    pub queue_depth: u32,
}

impl Loss {
    /// Whether this Loss covers sequence numbers: lost records (queue overflow, sink
    /// outage) took numbers, ENOBUFS events did not, and an empty Loss covers none.
    /// Only such a Loss is a numbered frame of its stream, as a record is.
    pub fn is_numbered(&self) -> bool {
        self.reason != LossReason::KernelEnobufs && self.count > 0
    }

    /// The sequence numbers this Loss covers, `next_seq - count .. next_seq` (empty when
    /// it is not [numbered](Loss::is_numbered)).
    pub fn numbers(&self) -> core::ops::Range<u64> {
        if self.is_numbered() {
            self.next_seq.saturating_sub(self.count)..self.next_seq
        } else {
            self.next_seq..self.next_seq
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_table_is_in_wire_order_with_distinct_names() {
        for (i, r) in LossReason::ALL.into_iter().enumerate() {
            assert_eq!(r.index(), i);
            // The wire tag of a unit variant is its index, one byte here.
            let mut buf = [0u8; 4];
            assert_eq!(postcard::to_slice(&r, &mut buf).unwrap(), [i as u8]);
            assert_eq!(LossReason::from_name(r.name()), Some(r));
        }
        assert_eq!(
            LossReason::ALL.map(LossReason::name),
            ["kernel_enobufs", "queue_overflow", "sink_outage"]
        );
        assert_eq!(LossReason::from_name("queue"), None);
    }

    #[test]
    fn only_losses_of_records_are_numbered() {
        let l = |reason, count, next_seq| Loss {
            count,
            reason,
            next_seq,
        };
        assert_eq!(l(LossReason::QueueOverflow, 3, 5).numbers(), 2..5);
        assert_eq!(l(LossReason::SinkOutage, 9, 5).numbers(), 0..5);
        assert!(!l(LossReason::SinkOutage, 0, 5).is_numbered());
        assert!(l(LossReason::KernelEnobufs, 2, 6).numbers().is_empty());
    }
}
