//! The numeric fields of `struct taskstats`: names, units, widths and the version that
//! introduced each.
//!
//! One list below is the single source of truth: the enum, [`Field::ALL`], and every
//! per-field property are generated from it, so a field cannot be added to one and
//! forgotten in another. Byte offsets live in `layout.rs`, because version 15 places the
//! same fields elsewhere.

/// What a field's number measures.
///
/// Units follow the kernel's own comments in `include/uapi/linux/taskstats.h` and the code
/// that fills the struct (`kernel/tsacct.c`, `kernel/delayacct.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unit {
    /// A plain count of events (delay counts, page faults, context switches, syscalls).
    Count,
    /// Nanoseconds: every `*_delay_*` value, `cpu_run_*_total`, and the `tv_nsec` part of
    /// a delay-max timestamp.
    Nanoseconds,
    /// Microseconds: `ac_etime`, `ac_utime`, `ac_stime`, the scaled `ac_*timescaled` and
    /// the thread-group wall time `ac_tgetime`.
    Microseconds,
    /// Seconds since the Unix epoch (wall clock): `ac_btime`, `ac_btime64` and the `tv_sec`
    /// part of a delay-max timestamp.
    Seconds,
    /// Bytes (`read_char`, `write_char`, `read_bytes`, `write_bytes`,
    /// `cancelled_write_bytes`).
    Bytes,
    /// Kibibytes (`hiwater_rss`, `hiwater_vm`; the kernel calls them KB).
    Kilobytes,
    /// Megabyte-microseconds: memory size integrated over system CPU time (`coremem`,
    /// `virtmem`). Divide by `ac_stime` for an average size in MB.
    MbUsec,
    /// An identifier: uid, gid, pid, ppid, tgid, the executable's encoded device number and
    /// inode number.
    Id,
    /// A bit set: `ac_flag` (AFORK 0x01, ASU 0x02, ACOMPAT 0x04, ACORE 0x08, AXSIG 0x10,
    /// AGROUP 0x20; see [`ac_flag`]).
    Flags,
    /// The struct's version number (`version`).
    Version,
    /// A `wait(2)`-style exit status (`ac_exitcode`): exit code in bits 8..15, terminating
    /// signal in bits 0..6, core dump in bit 7.
    ExitStatus,
    /// A nice value, -20 (highest priority) to 19 (`ac_nice`, stored as a two's-complement
    /// byte).
    Nice,
    /// A scheduling policy number as in `sched_setscheduler(2)` (`ac_sched`: 0 SCHED_NORMAL,
    /// 1 SCHED_FIFO, 2 SCHED_RR, 3 SCHED_BATCH, 5 SCHED_IDLE, 6 SCHED_DEADLINE, 7 SCHED_EXT).
    Policy,
}

/// Bits of the `ac_flag` field ([`Field::AcFlag`]), as in `<linux/acct.h>`.
pub mod ac_flag {
    /// The task forked but did not exec.
    pub const AFORK: u8 = 0x01;
    /// The task used superuser privileges.
    pub const ASU: u8 = 0x02;
    /// The task used compatibility mode (unused on Linux).
    pub const ACOMPAT: u8 = 0x04;
    /// The task dumped core.
    pub const ACORE: u8 = 0x08;
    /// The task was killed by a signal.
    pub const AXSIG: u8 = 0x10;
    /// The record is the last thread of a thread group (the group as a whole exited).
    pub const AGROUP: u8 = 0x20;
}

/// How a field is stored: width and signedness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    U8,
    S8,
    U16,
    U32,
    U64,
    S64,
}

impl Kind {
    #[inline(always)]
    const fn width(self) -> usize {
        match self {
            Kind::U8 | Kind::S8 => 1,
            Kind::U16 => 2,
            Kind::U32 => 4,
            Kind::U64 | Kind::S64 => 8,
        }
    }
}

macro_rules! fields {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $id:literal, $name:literal, $kind:ident, $unit:ident, $since:literal;
    )*) => {
        /// A numeric field of `struct taskstats`, any version from 2 to 17.
        ///
        /// The discriminant is the field's index in [`Field::ALL`] and is part of taskwire's
        /// record format: fields are only ever appended, never renumbered. The text
        /// field `ac_comm` is not numeric and is read with
        /// [`Taskstats::comm`](super::Taskstats::comm); the padding `ac_pad` is not a field.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum Field {
            $( $(#[doc = $doc])* $variant = $id, )*
        }

        impl Field {
            /// Every field, in the stable order of their discriminants (append only).
            pub const ALL: &'static [Field] = &[ $( Field::$variant, )* ];

            /// The kernel's C name of the field (`cpu_delay_total`); a timestamp part is
            /// named as a member access (`cpu_delay_max_ts.tv_sec`).
            pub const fn name(self) -> &'static str {
                match self { $( Field::$variant => $name, )* }
            }

            /// What the field's number measures.
            pub const fn unit(self) -> Unit {
                match self { $( Field::$variant => Unit::$unit, )* }
            }

            /// The first struct version that carries the field.
            ///
            /// Version 15 is the first to carry the `*_delay_max`/`*_delay_min` fields, at
            /// offsets of its own; version 16 moved them to the end of the struct.
            #[inline(always)]
            pub const fn since(self) -> u16 {
                match self { $( Field::$variant => $since, )* }
            }

            #[inline(always)]
            const fn kind(self) -> Kind {
                match self { $( Field::$variant => Kind::$kind, )* }
            }
        }
    };
}

fields! {
    /// `version`: the struct's version number.
    Version = 0, "version", U16, Version, 1;
    /// `ac_exitcode`: the exit status, as `wait(2)` reports it.
    AcExitcode = 1, "ac_exitcode", U32, ExitStatus, 2;
    /// `ac_flag`: accounting flags ([`ac_flag`] bits).
    AcFlag = 2, "ac_flag", U8, Flags, 2;
    /// `ac_nice`: the nice value, -20 to 19 (signed).
    AcNice = 3, "ac_nice", S8, Nice, 2;
    /// `cpu_count`: number of waits for a CPU while runnable.
    CpuCount = 4, "cpu_count", U64, Count, 1;
    /// `cpu_delay_total`: total time runnable but waiting for a CPU, in ns.
    CpuDelayTotal = 5, "cpu_delay_total", U64, Nanoseconds, 1;
    /// `blkio_count`: number of waits for synchronous block I/O.
    BlkioCount = 6, "blkio_count", U64, Count, 1;
    /// `blkio_delay_total`: total wait for synchronous block I/O, in ns.
    BlkioDelayTotal = 7, "blkio_delay_total", U64, Nanoseconds, 1;
    /// `swapin_count`: number of waits for swap-in.
    SwapinCount = 8, "swapin_count", U64, Count, 1;
    /// `swapin_delay_total`: total wait for swap-in, in ns.
    SwapinDelayTotal = 9, "swapin_delay_total", U64, Nanoseconds, 1;
    /// `cpu_run_real_total`: wall-clock running time, in ns.
    CpuRunRealTotal = 10, "cpu_run_real_total", U64, Nanoseconds, 1;
    /// `cpu_run_virtual_total`: running time as the kernel saw it, in ns.
    CpuRunVirtualTotal = 11, "cpu_run_virtual_total", U64, Nanoseconds, 1;
    /// `ac_sched`: scheduling policy.
    AcSched = 12, "ac_sched", U8, Policy, 2;
    /// `ac_uid`: user id.
    AcUid = 13, "ac_uid", U32, Id, 2;
    /// `ac_gid`: group id.
    AcGid = 14, "ac_gid", U32, Id, 2;
    /// `ac_pid`: process (thread) id.
    AcPid = 15, "ac_pid", U32, Id, 2;
    /// `ac_ppid`: parent process id.
    AcPpid = 16, "ac_ppid", U32, Id, 2;
    /// `ac_btime`: start time, in seconds since the epoch (32 bits; see `ac_btime64`).
    AcBtime = 17, "ac_btime", U32, Seconds, 2;
    /// `ac_etime`: elapsed time, in µs.
    AcEtime = 18, "ac_etime", U64, Microseconds, 2;
    /// `ac_utime`: user CPU time, in µs.
    AcUtime = 19, "ac_utime", U64, Microseconds, 2;
    /// `ac_stime`: system CPU time, in µs.
    AcStime = 20, "ac_stime", U64, Microseconds, 2;
    /// `ac_minflt`: minor page faults.
    AcMinflt = 21, "ac_minflt", U64, Count, 2;
    /// `ac_majflt`: major page faults.
    AcMajflt = 22, "ac_majflt", U64, Count, 2;
    /// `coremem`: RSS integrated over system time, in MB-µs.
    Coremem = 23, "coremem", U64, MbUsec, 2;
    /// `virtmem`: virtual memory size integrated over system time, in MB-µs.
    Virtmem = 24, "virtmem", U64, MbUsec, 2;
    /// `hiwater_rss`: peak RSS, in KiB.
    HiwaterRss = 25, "hiwater_rss", U64, Kilobytes, 2;
    /// `hiwater_vm`: peak virtual memory size, in KiB.
    HiwaterVm = 26, "hiwater_vm", U64, Kilobytes, 2;
    /// `read_char`: bytes passed to read syscalls.
    ReadChar = 27, "read_char", U64, Bytes, 2;
    /// `write_char`: bytes passed to write syscalls.
    WriteChar = 28, "write_char", U64, Bytes, 2;
    /// `read_syscalls`: number of read syscalls.
    ReadSyscalls = 29, "read_syscalls", U64, Count, 2;
    /// `write_syscalls`: number of write syscalls.
    WriteSyscalls = 30, "write_syscalls", U64, Count, 2;
    /// `read_bytes`: bytes read from storage.
    ReadBytes = 31, "read_bytes", U64, Bytes, 4;
    /// `write_bytes`: bytes written to storage.
    WriteBytes = 32, "write_bytes", U64, Bytes, 4;
    /// `cancelled_write_bytes`: bytes whose write to storage was cancelled (truncation).
    CancelledWriteBytes = 33, "cancelled_write_bytes", U64, Bytes, 4;
    /// `nvcsw`: voluntary context switches.
    Nvcsw = 34, "nvcsw", U64, Count, 5;
    /// `nivcsw`: involuntary context switches.
    Nivcsw = 35, "nivcsw", U64, Count, 5;
    /// `ac_utimescaled`: user CPU time scaled by CPU frequency, in µs.
    AcUtimescaled = 36, "ac_utimescaled", U64, Microseconds, 6;
    /// `ac_stimescaled`: system CPU time scaled by CPU frequency, in µs.
    AcStimescaled = 37, "ac_stimescaled", U64, Microseconds, 6;
    /// `cpu_scaled_run_real_total`: scaled `cpu_run_real_total`, in ns.
    CpuScaledRunRealTotal = 38, "cpu_scaled_run_real_total", U64, Nanoseconds, 6;
    /// `freepages_count`: number of waits for memory reclaim.
    FreepagesCount = 39, "freepages_count", U64, Count, 7;
    /// `freepages_delay_total`: total wait for memory reclaim, in ns.
    FreepagesDelayTotal = 40, "freepages_delay_total", U64, Nanoseconds, 7;
    /// `thrashing_count`: number of waits for thrashing pages.
    ThrashingCount = 41, "thrashing_count", U64, Count, 9;
    /// `thrashing_delay_total`: total wait for thrashing pages, in ns.
    ThrashingDelayTotal = 42, "thrashing_delay_total", U64, Nanoseconds, 9;
    /// `ac_btime64`: start time, in seconds since the epoch (64 bits).
    AcBtime64 = 43, "ac_btime64", U64, Seconds, 10;
    /// `compact_count`: number of waits for memory compaction.
    CompactCount = 44, "compact_count", U64, Count, 11;
    /// `compact_delay_total`: total wait for memory compaction, in ns.
    CompactDelayTotal = 45, "compact_delay_total", U64, Nanoseconds, 11;
    /// `ac_tgid`: thread group id.
    AcTgid = 46, "ac_tgid", U32, Id, 12;
    /// `ac_tgetime`: thread group wall time so far, in µs (the whole process's when AGROUP
    /// is set).
    AcTgetime = 47, "ac_tgetime", U64, Microseconds, 12;
    /// `ac_exe_dev`: device of the executable (kernel `huge_encode_dev` encoding).
    AcExeDev = 48, "ac_exe_dev", U64, Id, 12;
    /// `ac_exe_inode`: inode number of the executable.
    AcExeInode = 49, "ac_exe_inode", U64, Id, 12;
    /// `wpcopy_count`: number of waits for write-protect copy.
    WpcopyCount = 50, "wpcopy_count", U64, Count, 13;
    /// `wpcopy_delay_total`: total wait for write-protect copy, in ns.
    WpcopyDelayTotal = 51, "wpcopy_delay_total", U64, Nanoseconds, 13;
    /// `irq_count`: number of delays by IRQ/softirq handling.
    IrqCount = 52, "irq_count", U64, Count, 14;
    /// `irq_delay_total`: total delay by IRQ/softirq handling, in ns.
    IrqDelayTotal = 53, "irq_delay_total", U64, Nanoseconds, 14;
    /// `cpu_delay_max`: longest single CPU wait, in ns.
    CpuDelayMax = 54, "cpu_delay_max", U64, Nanoseconds, 15;
    /// `cpu_delay_min`: shortest non-zero CPU wait, in ns.
    CpuDelayMin = 55, "cpu_delay_min", U64, Nanoseconds, 15;
    /// `blkio_delay_max`: longest single block I/O wait, in ns.
    BlkioDelayMax = 56, "blkio_delay_max", U64, Nanoseconds, 15;
    /// `blkio_delay_min`: shortest block I/O wait, in ns.
    BlkioDelayMin = 57, "blkio_delay_min", U64, Nanoseconds, 15;
    /// `swapin_delay_max`: longest single swap-in wait, in ns.
    SwapinDelayMax = 58, "swapin_delay_max", U64, Nanoseconds, 15;
    /// `swapin_delay_min`: shortest swap-in wait, in ns.
    SwapinDelayMin = 59, "swapin_delay_min", U64, Nanoseconds, 15;
    /// `freepages_delay_max`: longest single reclaim wait, in ns.
    FreepagesDelayMax = 60, "freepages_delay_max", U64, Nanoseconds, 15;
    /// `freepages_delay_min`: shortest reclaim wait, in ns.
    FreepagesDelayMin = 61, "freepages_delay_min", U64, Nanoseconds, 15;
    /// `thrashing_delay_max`: longest single thrashing wait, in ns.
    ThrashingDelayMax = 62, "thrashing_delay_max", U64, Nanoseconds, 15;
    /// `thrashing_delay_min`: shortest thrashing wait, in ns.
    ThrashingDelayMin = 63, "thrashing_delay_min", U64, Nanoseconds, 15;
    /// `compact_delay_max`: longest single compaction wait, in ns.
    CompactDelayMax = 64, "compact_delay_max", U64, Nanoseconds, 15;
    /// `compact_delay_min`: shortest compaction wait, in ns.
    CompactDelayMin = 65, "compact_delay_min", U64, Nanoseconds, 15;
    /// `wpcopy_delay_max`: longest single write-protect copy wait, in ns.
    WpcopyDelayMax = 66, "wpcopy_delay_max", U64, Nanoseconds, 15;
    /// `wpcopy_delay_min`: shortest write-protect copy wait, in ns.
    WpcopyDelayMin = 67, "wpcopy_delay_min", U64, Nanoseconds, 15;
    /// `irq_delay_max`: longest single IRQ delay, in ns.
    IrqDelayMax = 68, "irq_delay_max", U64, Nanoseconds, 15;
    /// `irq_delay_min`: shortest non-zero IRQ delay, in ns.
    IrqDelayMin = 69, "irq_delay_min", U64, Nanoseconds, 15;
    /// `cpu_delay_max_ts.tv_sec`: when the longest CPU wait happened, seconds since the epoch.
    CpuDelayMaxTsSec = 70, "cpu_delay_max_ts.tv_sec", S64, Seconds, 17;
    /// `cpu_delay_max_ts.tv_nsec`: nanoseconds part of that timestamp.
    CpuDelayMaxTsNsec = 71, "cpu_delay_max_ts.tv_nsec", S64, Nanoseconds, 17;
    /// `blkio_delay_max_ts.tv_sec`: when the longest block I/O wait happened, seconds.
    BlkioDelayMaxTsSec = 72, "blkio_delay_max_ts.tv_sec", S64, Seconds, 17;
    /// `blkio_delay_max_ts.tv_nsec`: nanoseconds part of that timestamp.
    BlkioDelayMaxTsNsec = 73, "blkio_delay_max_ts.tv_nsec", S64, Nanoseconds, 17;
    /// `swapin_delay_max_ts.tv_sec`: when the longest swap-in wait happened, seconds.
    SwapinDelayMaxTsSec = 74, "swapin_delay_max_ts.tv_sec", S64, Seconds, 17;
    /// `swapin_delay_max_ts.tv_nsec`: nanoseconds part of that timestamp.
    SwapinDelayMaxTsNsec = 75, "swapin_delay_max_ts.tv_nsec", S64, Nanoseconds, 17;
    /// `freepages_delay_max_ts.tv_sec`: when the longest reclaim wait happened, seconds.
    FreepagesDelayMaxTsSec = 76, "freepages_delay_max_ts.tv_sec", S64, Seconds, 17;
    /// `freepages_delay_max_ts.tv_nsec`: nanoseconds part of that timestamp.
    FreepagesDelayMaxTsNsec = 77, "freepages_delay_max_ts.tv_nsec", S64, Nanoseconds, 17;
    /// `thrashing_delay_max_ts.tv_sec`: when the longest thrashing wait happened, seconds.
    ThrashingDelayMaxTsSec = 78, "thrashing_delay_max_ts.tv_sec", S64, Seconds, 17;
    /// `thrashing_delay_max_ts.tv_nsec`: nanoseconds part of that timestamp.
    ThrashingDelayMaxTsNsec = 79, "thrashing_delay_max_ts.tv_nsec", S64, Nanoseconds, 17;
    /// `compact_delay_max_ts.tv_sec`: when the longest compaction wait happened, seconds.
    CompactDelayMaxTsSec = 80, "compact_delay_max_ts.tv_sec", S64, Seconds, 17;
    /// `compact_delay_max_ts.tv_nsec`: nanoseconds part of that timestamp.
    CompactDelayMaxTsNsec = 81, "compact_delay_max_ts.tv_nsec", S64, Nanoseconds, 17;
    /// `wpcopy_delay_max_ts.tv_sec`: when the longest write-protect copy wait happened,
    /// seconds.
    WpcopyDelayMaxTsSec = 82, "wpcopy_delay_max_ts.tv_sec", S64, Seconds, 17;
    /// `wpcopy_delay_max_ts.tv_nsec`: nanoseconds part of that timestamp.
    WpcopyDelayMaxTsNsec = 83, "wpcopy_delay_max_ts.tv_nsec", S64, Nanoseconds, 17;
    /// `irq_delay_max_ts.tv_sec`: when the longest IRQ delay happened, seconds.
    IrqDelayMaxTsSec = 84, "irq_delay_max_ts.tv_sec", S64, Seconds, 17;
    /// `irq_delay_max_ts.tv_nsec`: nanoseconds part of that timestamp.
    IrqDelayMaxTsNsec = 85, "irq_delay_max_ts.tv_nsec", S64, Nanoseconds, 17;
}

impl Field {
    /// Number of known fields (the length of [`Field::ALL`]).
    pub const COUNT: usize = Field::ALL.len();

    /// The field's stable index, equal to its position in [`Field::ALL`].
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// The field with stable index `id`, or `None` for an index this build does not know.
    pub fn from_id(id: u8) -> Option<Field> {
        Field::ALL.get(usize::from(id)).copied()
    }

    /// The field with this kernel C name (as [`Field::name`] gives it).
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// Width of the field in the struct, in bytes (1, 2, 4 or 8).
    #[inline(always)]
    pub const fn width(self) -> usize {
        self.kind().width()
    }

    /// Whether the kernel's value is signed: the `tv_sec`/`tv_nsec` parts of the v17
    /// timestamps (`s64`) and `ac_nice`, which holds `task_nice()` in a `__u8`.
    #[inline(always)]
    pub const fn is_signed(self) -> bool {
        matches!(self.kind(), Kind::S8 | Kind::S64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positions_in_all() {
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(usize::from(f.id()), i, "{f:?}");
            assert_eq!(Field::from_id(f.id()), Some(*f));
        }
        assert_eq!(Field::COUNT, 86);
        assert_eq!(Field::from_id(86), None);
        assert_eq!(Field::from_id(255), None);
    }

    #[test]
    fn names_are_unique_and_reversible() {
        for f in Field::ALL {
            assert_eq!(Field::from_name(f.name()), Some(*f));
        }
        assert_eq!(Field::from_name("ac_comm"), None);
        assert_eq!(Field::from_name("ac_pad"), None);
    }

    // The wire format depends on these indices: pin a few by their kernel names so that a
    // reordering of the list fails here.
    #[test]
    fn stable_indices_pinned() {
        let pins = [
            (0, "version"),
            (4, "cpu_count"),
            (12, "ac_sched"),
            (17, "ac_btime"),
            (31, "read_bytes"),
            (43, "ac_btime64"),
            (46, "ac_tgid"),
            (53, "irq_delay_total"),
            (54, "cpu_delay_max"),
            (69, "irq_delay_min"),
            (70, "cpu_delay_max_ts.tv_sec"),
            (85, "irq_delay_max_ts.tv_nsec"),
        ];
        for (id, name) in pins {
            assert_eq!(Field::from_id(id).map(Field::name), Some(name));
        }
    }

    #[test]
    fn units_and_signedness() {
        assert_eq!(Field::Coremem.unit(), Unit::MbUsec);
        assert_eq!(Field::Virtmem.unit(), Unit::MbUsec);
        assert_eq!(Field::HiwaterRss.unit(), Unit::Kilobytes);
        assert_eq!(Field::AcEtime.unit(), Unit::Microseconds);
        assert_eq!(Field::AcUtimescaled.unit(), Unit::Microseconds);
        assert_eq!(Field::CpuDelayTotal.unit(), Unit::Nanoseconds);
        assert_eq!(Field::AcBtime.unit(), Unit::Seconds);
        assert_eq!(Field::AcBtime64.unit(), Unit::Seconds);
        assert_eq!(Field::IrqDelayMaxTsSec.unit(), Unit::Seconds);
        assert_eq!(Field::IrqDelayMaxTsNsec.unit(), Unit::Nanoseconds);
        let signed: usize = Field::ALL.iter().filter(|f| f.is_signed()).count();
        // 16 timespec parts plus ac_nice.
        assert_eq!(signed, 17);
        assert!(Field::AcNice.is_signed());
        assert!(!Field::CpuDelayMax.is_signed());
    }

    #[test]
    fn delay_fields_are_nanoseconds_or_counts() {
        for f in Field::ALL {
            let n = f.name();
            if n.ends_with("_delay_total") || n.ends_with("_delay_max") || n.ends_with("_min") {
                assert_eq!(f.unit(), Unit::Nanoseconds, "{n}");
                assert_eq!(f.width(), 8, "{n}");
            }
            if n.ends_with("_count") {
                assert_eq!(f.unit(), Unit::Count, "{n}");
            }
        }
    }

    #[test]
    fn since_never_decreases_along_all_except_the_v2_block() {
        // Fields are appended in version order, except that the v1 delay block sits inside
        // the v2 header fields.
        let mut last = 0;
        for f in &Field::ALL[12..] {
            assert!(f.since() >= last, "{f:?}");
            last = f.since();
        }
        assert!(Field::ALL.iter().all(|f| (1..=17).contains(&f.since())));
    }
}
