//! A view over a `struct taskstats` payload, decoded by offset.
//!
//! The kernel sends the struct as the payload of a STATS attribute, host-endian, at an
//! offset that is often only 4-byte aligned: it is never cast, each field is read from its
//! bytes. Which fields exist is decided by both the struct's `version` and the payload's
//! length, so a short or newer struct never yields a made-up zero.

use core::fmt;

use super::field::Field;
use super::layout::{self, COMM_LEN, LATEST_VERSION, MIN_VERSION};
use crate::bytes::{i64_at, u8_at, u16_at, u32_at, u64_at};
use crate::error::{Error, Result};

/// A read-only view over the payload of a TASKSTATS STATS attribute.
///
/// Contract: after [`Taskstats::new`] returns `Ok`, no method panics, whatever the bytes.
/// A field is present only if the struct's version carries it *and* its bytes lie within the
/// payload; absent fields read as `None`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Taskstats<'a> {
    buf: &'a [u8],
    version: u16,
}

impl<'a> Taskstats<'a> {
    /// The shortest payload accepted: just the `version` field.
    ///
    /// Shorter real structs do not exist (the smallest is 248 bytes), but a payload cut short
    /// is still decoded as far as it goes rather than rejected, so a caller can report what
    /// arrived; [`Taskstats::is_truncated`] tells it apart from a whole struct.
    pub const MIN_LEN: usize = 2;

    /// Wraps a STATS payload.
    ///
    /// Errors: [`Error::Truncated`] if it is shorter than [`Taskstats::MIN_LEN`];
    /// [`Error::Unsupported`] for version 0 or 1 (Linux 2.6.18's layout). Any other version
    /// is accepted; one newer than [`LATEST_VERSION`] is decoded as its version-17 prefix.
    pub fn new(payload: &'a [u8]) -> Result<Self> {
        let version = u16_at(payload, 0).ok_or(Error::Truncated)?;
        if version < MIN_VERSION {
            return Err(Error::Unsupported { version });
        }
        Ok(Taskstats {
            buf: payload,
            version,
        })
    }

    /// The struct's `version` field.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Length of the payload, in bytes.
    #[allow(clippy::len_without_is_empty)] // a view always holds at least `version`
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// The payload bytes.
    pub fn raw(&self) -> &'a [u8] {
        self.buf
    }

    /// Size of a whole struct of this version, in bytes; for a version newer than
    /// [`LATEST_VERSION`], the size of the prefix this crate knows.
    pub fn known_len(&self) -> usize {
        layout::struct_size(self.version.min(LATEST_VERSION)).unwrap_or(0)
    }

    /// Whether the payload is shorter than a whole struct of its version, so that some of
    /// the fields the version carries are absent.
    pub fn is_truncated(&self) -> bool {
        self.buf.len() < self.known_len()
    }

    /// Whether the struct is newer than this crate knows (its extra fields are ignored).
    pub fn is_newer(&self) -> bool {
        self.version > LATEST_VERSION
    }

    /// Whether `field` is present: carried by this version and within the payload.
    pub fn has(&self, field: Field) -> bool {
        self.get(field).is_some()
    }

    /// The field's value, zero-extended to `u64`; `None` when absent.
    ///
    /// A signed field ([`Field::is_signed`]) comes back as its two's-complement bits
    /// sign-extended to 64 (so `v as i64` restores it); [`Taskstats::get_i64`] reads it as a
    /// number.
    pub fn get(&self, field: Field) -> Option<u64> {
        let (off, width) = layout::slot(self.version, field)?;
        let b = self.buf;
        let raw = match width {
            1 => u64::from(u8_at(b, off)?),
            2 => u64::from(u16_at(b, off)?),
            4 => u64::from(u32_at(b, off)?),
            _ if field.is_signed() => i64_at(b, off)? as u64,
            _ => u64_at(b, off)?,
        };
        Some(if field.is_signed() {
            sign_extend(raw, width) as u64
        } else {
            raw
        })
    }

    /// The field's value as a signed number; `None` when absent, or for an unsigned field
    /// whose value exceeds `i64::MAX` (read those with [`Taskstats::get`]).
    pub fn get_i64(&self, field: Field) -> Option<i64> {
        let raw = self.get(field)?;
        if field.is_signed() {
            Some(raw as i64)
        } else {
            i64::try_from(raw).ok()
        }
    }

    /// The field's value with its signedness; `None` when absent.
    pub fn value(&self, field: Field) -> Option<Value> {
        let raw = self.get(field)?;
        Some(if field.is_signed() {
            Value::Signed(raw as i64)
        } else {
            Value::Unsigned(raw)
        })
    }

    /// The present fields with their values (as [`Taskstats::get`] gives them), in
    /// [`Field::ALL`] order.
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            stats: *self,
            next: 0,
        }
    }

    /// The `ac_comm` command name: its bytes up to the first NUL (all 32 if there is none).
    /// `None` if the payload ends before the end of the array.
    pub fn comm(&self) -> Option<&'a [u8]> {
        let raw = self.buf.get(layout::comm_range(self.version)?)?;
        let end = raw.iter().position(|&c| c == 0).unwrap_or(COMM_LEN);
        raw.get(..end)
    }

    /// The command name for display, invalid UTF-8 replaced by U+FFFD; empty when absent.
    ///
    /// Control characters pass through unchanged: a name is set by the task itself
    /// (`prctl(PR_SET_NAME)`), so escape it before writing it to a terminal.
    pub fn comm_lossy(&self) -> CommLossy<'a> {
        CommLossy(self.comm().unwrap_or(&[]))
    }

    /// One delay category's statistics, as getdelays prints them; `None` when the struct
    /// lacks the category's count or total.
    pub fn delay(&self, delay: Delay) -> Option<DelayStats> {
        let (sec, nsec) = delay.max_at_fields();
        Some(DelayStats {
            count: self.get(delay.count_field())?,
            total_ns: self.get(delay.total_field())?,
            max_ns: self.get(delay.max_field()),
            min_ns: self.get(delay.min_field()),
            max_at: self.get_i64(sec).zip(self.get_i64(nsec)),
        })
    }
}

fn sign_extend(raw: u64, width: usize) -> i64 {
    match width {
        1 => i64::from(raw as u8 as i8),
        2 => i64::from(raw as u16 as i16),
        4 => i64::from(raw as u32 as i32),
        _ => raw as i64,
    }
}

impl fmt::Debug for Taskstats<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Taskstats")
            .field("version", &self.version)
            .field("len", &self.buf.len())
            .field("pid", &self.get(Field::AcPid))
            .field("comm", &self.comm_lossy())
            .finish_non_exhaustive()
    }
}

/// A field value with its signedness, from [`Taskstats::value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Value {
    /// An unsigned field.
    Unsigned(u64),
    /// A signed field ([`Field::is_signed`]).
    Signed(i64),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unsigned(v) => fmt::Display::fmt(v, f),
            Value::Signed(v) => fmt::Display::fmt(v, f),
        }
    }
}

/// Iterator over the present fields of a [`Taskstats`], from [`Taskstats::fields`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    stats: Taskstats<'a>,
    next: usize,
}

impl Iterator for Fields<'_> {
    type Item = (Field, u64);

    fn next(&mut self) -> Option<(Field, u64)> {
        while let Some(&f) = Field::ALL.get(self.next) {
            self.next += 1;
            if let Some(v) = self.stats.get(f) {
                return Some((f, v));
            }
        }
        None
    }
}

/// The command name of a [`Taskstats`], displayed with invalid UTF-8 replaced by U+FFFD.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CommLossy<'a>(&'a [u8]);

impl<'a> CommLossy<'a> {
    /// The raw bytes (up to the first NUL).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The name as `&str` if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.0).ok()
    }
}

impl fmt::Display for CommLossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{fffd}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for CommLossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                write!(f, "{}", c.escape_debug())?;
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}

/// A delay-accounting category, in getdelays' order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Delay {
    /// Waiting for a CPU while runnable (`cpu_*`).
    Cpu,
    /// Waiting for synchronous block I/O (`blkio_*`).
    Blkio,
    /// Waiting for swap-in (`swapin_*`).
    Swapin,
    /// Waiting for memory reclaim (`freepages_*`).
    Freepages,
    /// Waiting for thrashing pages (`thrashing_*`, since version 9).
    Thrashing,
    /// Waiting for memory compaction (`compact_*`, since version 11).
    Compact,
    /// Waiting for write-protect copy (`wpcopy_*`, since version 13).
    Wpcopy,
    /// Delayed by IRQ/softirq handling (`irq_*`, since version 14).
    Irq,
}

impl Delay {
    /// Every category, in getdelays' order.
    pub const ALL: &'static [Delay] = &[
        Delay::Cpu,
        Delay::Blkio,
        Delay::Swapin,
        Delay::Freepages,
        Delay::Thrashing,
        Delay::Compact,
        Delay::Wpcopy,
        Delay::Irq,
    ];

    /// getdelays' label for the category.
    pub const fn name(self) -> &'static str {
        match self {
            Delay::Cpu => "CPU",
            Delay::Blkio => "IO",
            Delay::Swapin => "SWAP",
            Delay::Freepages => "RECLAIM",
            Delay::Thrashing => "THRASHING",
            Delay::Compact => "COMPACT",
            Delay::Wpcopy => "WPCOPY",
            Delay::Irq => "IRQ",
        }
    }

    /// The `*_count` field: how many delays were recorded.
    pub const fn count_field(self) -> Field {
        self.fields()[0]
    }

    /// The `*_delay_total` field, in ns.
    pub const fn total_field(self) -> Field {
        self.fields()[1]
    }

    /// The `*_delay_max` field, in ns (since version 15).
    pub const fn max_field(self) -> Field {
        self.fields()[2]
    }

    /// The `*_delay_min` field, in ns (since version 15).
    pub const fn min_field(self) -> Field {
        self.fields()[3]
    }

    /// The `tv_sec` and `tv_nsec` fields of the time of the longest delay (since version 17).
    pub const fn max_at_fields(self) -> (Field, Field) {
        let f = self.fields();
        (f[4], f[5])
    }

    const fn fields(self) -> [Field; 6] {
        use Field as F;
        match self {
            Delay::Cpu => [
                F::CpuCount,
                F::CpuDelayTotal,
                F::CpuDelayMax,
                F::CpuDelayMin,
                F::CpuDelayMaxTsSec,
                F::CpuDelayMaxTsNsec,
            ],
            Delay::Blkio => [
                F::BlkioCount,
                F::BlkioDelayTotal,
                F::BlkioDelayMax,
                F::BlkioDelayMin,
                F::BlkioDelayMaxTsSec,
                F::BlkioDelayMaxTsNsec,
            ],
            Delay::Swapin => [
                F::SwapinCount,
                F::SwapinDelayTotal,
                F::SwapinDelayMax,
                F::SwapinDelayMin,
                F::SwapinDelayMaxTsSec,
                F::SwapinDelayMaxTsNsec,
            ],
            Delay::Freepages => [
                F::FreepagesCount,
                F::FreepagesDelayTotal,
                F::FreepagesDelayMax,
                F::FreepagesDelayMin,
                F::FreepagesDelayMaxTsSec,
                F::FreepagesDelayMaxTsNsec,
            ],
            Delay::Thrashing => [
                F::ThrashingCount,
                F::ThrashingDelayTotal,
                F::ThrashingDelayMax,
                F::ThrashingDelayMin,
                F::ThrashingDelayMaxTsSec,
                F::ThrashingDelayMaxTsNsec,
            ],
            Delay::Compact => [
                F::CompactCount,
                F::CompactDelayTotal,
                F::CompactDelayMax,
                F::CompactDelayMin,
                F::CompactDelayMaxTsSec,
                F::CompactDelayMaxTsNsec,
            ],
            Delay::Wpcopy => [
                F::WpcopyCount,
                F::WpcopyDelayTotal,
                F::WpcopyDelayMax,
                F::WpcopyDelayMin,
                F::WpcopyDelayMaxTsSec,
                F::WpcopyDelayMaxTsNsec,
            ],
            Delay::Irq => [
                F::IrqCount,
                F::IrqDelayTotal,
                F::IrqDelayMax,
                F::IrqDelayMin,
                F::IrqDelayMaxTsSec,
                F::IrqDelayMaxTsNsec,
            ],
        }
    }
}

/// One delay category of a [`Taskstats`], from [`Taskstats::delay`].
///
/// The kernel leaves max, min and the timestamp at zero when nothing was recorded; for a
/// per-thread-group record they are the last thread's, not true group extremes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DelayStats {
    /// Number of delays recorded.
    pub count: u64,
    /// Sum of the delays, in ns (wraps to zero on overflow, per the kernel).
    pub total_ns: u64,
    /// Longest single delay, in ns; `None` before version 15 or when cut off.
    pub max_ns: Option<u64>,
    /// Shortest single delay, in ns; `None` before version 15 or when cut off.
    pub min_ns: Option<u64>,
    /// Wall-clock time of the longest delay as (seconds since the epoch, nanoseconds);
    /// `None` before version 17 or when cut off. `(0, 0)` means never set.
    pub max_at: Option<(i64, i64)>,
}

impl DelayStats {
    /// Average delay in ns (`total_ns / count`), or `None` when nothing was recorded.
    pub fn average_ns(&self) -> Option<u64> {
        self.total_ns.checked_div(self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taskstats::layout::{field_range, put_comm, put_field, struct_size};
    use proptest::prelude::*;

    /// A value unique to each field that fits its width (the width's low bytes of
    /// `(id + 1) * 0x0101...`); for a one-byte field that is just `id + 1`.
    fn distinct(f: Field) -> u64 {
        let v = (u64::from(f.id()) + 1) * 0x0101_0101_0101_0101;
        match f.width() {
            8 => v,
            w => v & ((1u64 << (8 * w)) - 1),
        }
    }

    /// What `get` should return for `distinct(f)` written into the field.
    fn expected(f: Field) -> u64 {
        let v = distinct(f);
        if f.is_signed() {
            sign_extend(v, f.width()) as u64
        } else {
            v
        }
    }

    /// A whole struct of `version` with every field it carries set to `distinct`.
    fn synthetic(version: u16, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        put_field(&mut buf, version, Field::Version, u64::from(version)).unwrap();
        for &f in Field::ALL.iter().skip(1) {
            match put_field(&mut buf, version, f, distinct(f)) {
                Ok(()) | Err(Error::Unsupported { .. }) | Err(Error::BufferTooSmall) => {}
                Err(e) => panic!("{e}"),
            }
        }
        put_comm(&mut buf, version, b"worker/3").ok();
        buf
    }

    fn carried(version: u16, f: Field) -> bool {
        f.since() <= version && !(version == 15 && f.since() == 17)
    }

    #[test]
    fn every_version_decodes_every_field_it_carries() {
        for v in 2..=17u16 {
            let size = struct_size(v).unwrap();
            let buf = synthetic(v, size);
            let ts = Taskstats::new(&buf).unwrap();
            assert_eq!(ts.version(), v);
            assert_eq!(ts.len(), size);
            assert!(!ts.is_truncated());
            assert_eq!(ts.get(Field::Version), Some(u64::from(v)));
            for &f in &Field::ALL[1..] {
                if carried(v, f) {
                    assert_eq!(ts.get(f), Some(expected(f)), "v{v} {f:?}");
                } else {
                    assert_eq!(ts.get(f), None, "v{v} {f:?} beyond its version");
                }
            }
            assert_eq!(ts.comm(), Some(&b"worker/3"[..]));
            // Distinct values read back distinct: no two fields share bytes.
            let mut seen: Vec<u64> = ts.fields().map(|(_, v)| v).skip(1).collect();
            let n = seen.len();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), n, "v{v}");
        }
    }

    #[test]
    fn field_count_per_version() {
        // Numbers of numeric fields each version adds, from the header's version comments.
        let counts = [
            (2, 31),
            (3, 31),
            (4, 34),
            (5, 36),
            (6, 39),
            (7, 41),
            (8, 41),
            (9, 43),
            (10, 44),
            (11, 46),
            (12, 50),
            (13, 52),
            (14, 54),
            (15, 70),
            (16, 70),
            (17, 86),
        ];
        for (v, n) in counts {
            let buf = synthetic(v, struct_size(v).unwrap());
            assert_eq!(Taskstats::new(&buf).unwrap().fields().count(), n, "v{v}");
        }
    }

    /// A v16 struct written by hand at the header's offsets, independent of the layout code.
    #[test]
    fn v16_by_hand() {
        let mut b = [0u8; 560];
        b[0..2].copy_from_slice(&16u16.to_ne_bytes());
        b[4..8].copy_from_slice(&0x0900u32.to_ne_bytes());
        b[8] = 0x21;
        b[9] = 0xfb; // nice -5
        b[16..24].copy_from_slice(&7u64.to_ne_bytes());
        b[24..32].copy_from_slice(&7_000u64.to_ne_bytes());
        b[80..85].copy_from_slice(b"bash\0");
        b[128..132].copy_from_slice(&4242u32.to_ne_bytes());
        b[152..160].copy_from_slice(&1_500u64.to_ne_bytes());
        b[368..372].copy_from_slice(&4240u32.to_ne_bytes());
        b[432..440].copy_from_slice(&3_000u64.to_ne_bytes());
        b[440..448].copy_from_slice(&100u64.to_ne_bytes());
        let ts = Taskstats::new(&b).unwrap();
        assert_eq!(ts.get(Field::AcExitcode), Some(0x0900));
        assert_eq!(ts.get(Field::AcFlag), Some(0x21));
        assert_eq!(ts.get_i64(Field::AcNice), Some(-5));
        assert_eq!(ts.get(Field::AcPid), Some(4242));
        assert_eq!(ts.get(Field::AcTgid), Some(4240));
        assert_eq!(ts.get(Field::AcUtime), Some(1_500));
        assert_eq!(ts.comm(), Some(&b"bash"[..]));
        let cpu = ts.delay(Delay::Cpu).unwrap();
        assert_eq!(
            cpu,
            DelayStats {
                count: 7,
                total_ns: 7_000,
                max_ns: Some(3_000),
                min_ns: Some(100),
                max_at: None,
            }
        );
        assert_eq!(cpu.average_ns(), Some(1_000));
    }

    #[test]
    fn v15_and_v16_read_the_same_bytes_differently() {
        let v16 = synthetic(16, 560);
        let mut as15 = v16.clone();
        as15[0..2].copy_from_slice(&15u16.to_ne_bytes());
        let a = Taskstats::new(&v16).unwrap();
        let b = Taskstats::new(&as15).unwrap();
        // The delay block's head is shared; everything after cpu_delay_total moved.
        assert_eq!(a.get(Field::CpuCount), b.get(Field::CpuCount));
        assert_eq!(a.get(Field::CpuDelayTotal), b.get(Field::CpuDelayTotal));
        for f in [
            Field::CpuDelayMax,
            Field::BlkioCount,
            Field::CpuRunRealTotal,
            Field::AcPid,
            Field::AcTgid,
            Field::WpcopyDelayMax,
        ] {
            assert_ne!(a.get(f), b.get(f), "{f:?}");
        }
        // Both end with irq_delay_max and irq_delay_min, at 544 and 552.
        assert_eq!(a.get(Field::IrqDelayMax), b.get(Field::IrqDelayMax));
        assert_eq!(a.get(Field::IrqDelayMin), b.get(Field::IrqDelayMin));
        // v15's own synthetic struct reads back right under its own table.
        let v15 = synthetic(15, 560);
        let c = Taskstats::new(&v15).unwrap();
        assert_eq!(c.get(Field::BlkioCount), Some(expected(Field::BlkioCount)));
        assert_eq!(c.comm(), Some(&b"worker/3"[..]));
        assert_eq!(
            c.delay(Delay::Wpcopy).unwrap().max_ns,
            Some(expected(Field::WpcopyDelayMax))
        );
        assert_eq!(c.delay(Delay::Irq).unwrap().max_at, None);
    }

    #[test]
    fn v17_timestamps() {
        let mut buf = synthetic(17, 688);
        put_field(&mut buf, 17, Field::IrqDelayMaxTsSec, 1_768_489_558).unwrap();
        put_field(&mut buf, 17, Field::IrqDelayMaxTsNsec, 999_999_999).unwrap();
        put_field(&mut buf, 17, Field::CpuDelayMaxTsSec, (-1i64) as u64).unwrap();
        let ts = Taskstats::new(&buf).unwrap();
        assert_eq!(ts.get(Field::IrqDelayMaxTsSec), Some(1_768_489_558));
        assert_eq!(
            ts.delay(Delay::Irq).unwrap().max_at,
            Some((1_768_489_558, 999_999_999))
        );
        assert_eq!(ts.get_i64(Field::CpuDelayMaxTsSec), Some(-1));
        assert_eq!(ts.value(Field::CpuDelayMaxTsSec), Some(Value::Signed(-1)));
        assert_eq!(ts.get(Field::CpuDelayMaxTsSec), Some(u64::MAX));
        for &d in Delay::ALL {
            assert!(ts.delay(d).unwrap().max_at.is_some(), "{d:?}");
        }
        // The same bytes labelled 16 have no timestamps.
        let mut as16 = buf.clone();
        as16[0..2].copy_from_slice(&16u16.to_ne_bytes());
        let ts16 = Taskstats::new(&as16).unwrap();
        assert_eq!(ts16.delay(Delay::Irq).unwrap().max_at, None);
        assert_eq!(ts16.get(Field::IrqDelayMaxTsSec), None);
    }

    #[test]
    fn truncated_payload_drops_what_it_cuts() {
        let buf = synthetic(16, 560);
        for cut in [2usize, 8, 9, 100, 112, 300, 436, 559] {
            let ts = Taskstats::new(&buf[..cut]).unwrap();
            assert!(ts.is_truncated());
            for &f in Field::ALL {
                let fits = field_range(16, f).is_some_and(|r| r.end <= cut);
                assert_eq!(ts.get(f).is_some(), fits, "cut {cut} {f:?}");
            }
            assert_eq!(ts.comm().is_some(), cut >= 112, "cut {cut}");
        }
        // Cut inside cpu_delay_max (432..440): the CPU category keeps count and total.
        let ts = Taskstats::new(&buf[..436]).unwrap();
        let cpu = ts.delay(Delay::Cpu).unwrap();
        assert_eq!(cpu.max_ns, None);
        assert_eq!(cpu.min_ns, None);
        assert_eq!(cpu.count, expected(Field::CpuCount));
        assert_eq!(Taskstats::new(&buf[..30]).unwrap().delay(Delay::Cpu), None);
    }

    #[test]
    fn longer_and_newer_structs_decode_their_known_prefix() {
        let mut buf = synthetic(17, 800);
        buf[688..].fill(0xee);
        buf[0..2].copy_from_slice(&18u16.to_ne_bytes());
        let ts = Taskstats::new(&buf).unwrap();
        assert!(ts.is_newer());
        assert!(!ts.is_truncated());
        assert_eq!(ts.known_len(), 688);
        assert_eq!(ts.fields().count(), Field::COUNT);
        assert_eq!(
            ts.get(Field::IrqDelayMaxTsNsec),
            Some(expected(Field::IrqDelayMaxTsNsec))
        );
        // A v16 struct in a longer payload still has no v17 fields.
        let mut v16 = synthetic(16, 688);
        v16[560..].fill(0x11);
        let ts = Taskstats::new(&v16).unwrap();
        assert!(!ts.is_newer());
        assert_eq!(ts.get(Field::CpuDelayMaxTsSec), None);
        assert_eq!(ts.fields().count(), 70);
    }

    #[test]
    fn rejects_version_0_and_1_and_short_payloads() {
        let mut b = synthetic(16, 560);
        for v in [0u16, 1] {
            b[0..2].copy_from_slice(&v.to_ne_bytes());
            assert_eq!(Taskstats::new(&b), Err(Error::Unsupported { version: v }));
        }
        assert_eq!(Taskstats::new(&[]), Err(Error::Truncated));
        assert_eq!(Taskstats::new(&[16]), Err(Error::Truncated));
        let two = 16u16.to_ne_bytes();
        let ts = Taskstats::new(&two).unwrap();
        assert_eq!(ts.fields().count(), 1);
        assert_eq!(ts.comm(), None);
        assert_eq!(ts.comm_lossy().to_string(), "");
    }

    #[test]
    fn comm_without_nul_and_invalid_utf8() {
        let mut buf = synthetic(16, 560);
        put_comm(&mut buf, 16, &[b'x'; 40]).unwrap();
        let ts = Taskstats::new(&buf).unwrap();
        assert_eq!(ts.comm(), Some(&[b'x'; 32][..]));
        put_comm(&mut buf, 16, b"a\xffb\xc3").unwrap();
        let ts = Taskstats::new(&buf).unwrap();
        assert_eq!(ts.comm(), Some(&b"a\xffb\xc3"[..]));
        assert_eq!(ts.comm_lossy().to_string(), "a\u{fffd}b\u{fffd}");
        assert_eq!(ts.comm_lossy().as_str(), None);
        assert_eq!(format!("{:?}", ts.comm_lossy()), r#""a\xffb\xc3""#);
        put_comm(&mut buf, 16, "kwörker".as_bytes()).unwrap();
        let ts = Taskstats::new(&buf).unwrap();
        assert_eq!(ts.comm_lossy().as_str(), Some("kwörker"));
    }

    #[test]
    fn get_i64_refuses_unsigned_values_beyond_i64() {
        let mut buf = synthetic(16, 560);
        put_field(&mut buf, 16, Field::ReadBytes, u64::MAX).unwrap();
        let ts = Taskstats::new(&buf).unwrap();
        assert_eq!(ts.get(Field::ReadBytes), Some(u64::MAX));
        assert_eq!(ts.get_i64(Field::ReadBytes), None);
        assert_eq!(ts.value(Field::ReadBytes), Some(Value::Unsigned(u64::MAX)));
        assert_eq!(
            ts.get_i64(Field::AcPid),
            Some(expected(Field::AcPid) as i64)
        );
    }

    #[test]
    fn delay_categories_follow_versions() {
        let since = [
            (Delay::Cpu, 1),
            (Delay::Blkio, 1),
            (Delay::Swapin, 1),
            (Delay::Freepages, 7),
            (Delay::Thrashing, 9),
            (Delay::Compact, 11),
            (Delay::Wpcopy, 13),
            (Delay::Irq, 14),
        ];
        for v in 2..=17u16 {
            let buf = synthetic(v, struct_size(v).unwrap());
            let ts = Taskstats::new(&buf).unwrap();
            for (d, s) in since {
                let stats = ts.delay(d);
                assert_eq!(stats.is_some(), v >= s, "v{v} {d:?}");
                if let Some(st) = stats {
                    assert_eq!(st.max_ns.is_some(), v >= 15, "v{v} {d:?}");
                    assert_eq!(st.max_at.is_some(), v >= 17, "v{v} {d:?}");
                    assert_eq!(st.total_ns, expected(d.total_field()));
                }
            }
        }
        let names: Vec<&str> = Delay::ALL.iter().map(|d| d.name()).collect();
        assert_eq!(
            names,
            [
                "CPU",
                "IO",
                "SWAP",
                "RECLAIM",
                "THRASHING",
                "COMPACT",
                "WPCOPY",
                "IRQ"
            ]
        );
        let zero = DelayStats {
            count: 0,
            total_ns: 0,
            max_ns: None,
            min_ns: None,
            max_at: None,
        };
        assert_eq!(zero.average_ns(), None);
    }

    /// Payloads of the STATS attributes (type 3) inside the AGGR nests (types 4, 5) of one
    /// captured netlink datagram, in order. A walk of its own, so that these tests do not
    /// depend on the reply parser they could be used to check.
    fn stats_payloads(msg: &[u8]) -> Vec<(u16, &[u8])> {
        fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
            let mut out = Vec::new();
            while b.len() >= 4 {
                let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
                let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
                assert!(len >= 4 && len <= b.len(), "bad nla_len {len}");
                out.push((ty, &b[4..len]));
                b = &b[len.next_multiple_of(4).min(b.len())..];
            }
            out
        }
        // nlmsghdr (16) + genlmsghdr (4).
        let mut found = Vec::new();
        for (ty, nest) in attrs(&msg[20..]) {
            if ty == 4 || ty == 5 {
                for (inner, payload) in attrs(nest) {
                    if inner == 3 {
                        found.push((ty, payload));
                    }
                }
            }
        }
        found
    }

    /// Captured on this machine's 6.18 kernel (core/fixtures/README.md, facts.json).
    #[test]
    fn real_v16_exit_record() {
        let msg = &crate::byte_order::host_order(*include_bytes!("../../fixtures/exit_pid.bin"));
        let found = stats_payloads(msg);
        assert_eq!(found.len(), 1);
        let (nest, payload) = found[0];
        assert_eq!(nest, 4);
        assert_eq!(payload.len(), 560);
        let ts = Taskstats::new(payload).unwrap();
        assert_eq!(ts.version(), 16);
        assert!(!ts.is_truncated());
        assert_eq!(ts.comm(), Some(&b"twfixture"[..]));
        assert_eq!(ts.get(Field::AcPid), Some(9876));
        assert_eq!(ts.get(Field::AcTgid), Some(9876));
        assert_eq!(ts.get(Field::AcPpid), Some(9829));
        assert_eq!(ts.get(Field::AcUid), Some(0));
        assert_eq!(ts.get(Field::AcExitcode), Some(768));
        assert_eq!(
            ts.get(Field::AcFlag),
            Some(u64::from(crate::taskstats::ac_flag::AGROUP))
        );
        assert_eq!(ts.get(Field::AcStime), Some(4000));
        assert_eq!(ts.get(Field::AcUtime), Some(0));
        assert_eq!(ts.get(Field::Nvcsw), Some(0));
        assert_eq!(ts.get(Field::CpuDelayMaxTsSec), None);
        let cpu = ts.delay(Delay::Cpu).unwrap();
        assert_eq!(cpu.count, 2);
        assert_eq!(cpu.max_at, None);
        // The v16 tail is where it should be: the average CPU wait lies between the
        // recorded shortest and longest waits.
        let (max, min) = (cpu.max_ns.unwrap(), cpu.min_ns.unwrap());
        let avg = cpu.average_ns().unwrap();
        assert!(min <= avg && avg <= max, "min {min} avg {avg} max {max}");
        // Started within the last decade or so, and both begin times agree.
        let btime = ts.get(Field::AcBtime64).unwrap();
        assert_eq!(ts.get(Field::AcBtime), Some(btime));
        assert!((1_700_000_000..4_000_000_000).contains(&btime), "{btime}");
    }

    #[test]
    fn real_v16_thread_and_group_records() {
        let msg =
            &crate::byte_order::host_order(*include_bytes!("../../fixtures/exit_tid_tgid.bin"));
        let found = stats_payloads(msg);
        assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), [4, 5]);
        let tid = Taskstats::new(found[0].1).unwrap();
        assert_eq!(tid.comm_lossy().to_string(), "twthread");
        assert_eq!(tid.get(Field::AcPid), Some(9883));
        assert_eq!(tid.get(Field::AcTgid), Some(9881));
        assert_eq!(tid.get(Field::AcExitcode), Some(1536));
        assert_eq!(tid.delay(Delay::Cpu).unwrap().count, 2);
        assert_eq!(tid.get(Field::Nvcsw), Some(1));
        let group = Taskstats::new(found[1].1).unwrap();
        assert_eq!(group.version(), 16);
        // The kernel fills only the summed fields of a TGID record.
        assert_eq!(group.comm(), Some(&b""[..]));
        assert_eq!(group.get(Field::AcPid), Some(0));
        assert_eq!(group.get(Field::AcUtime), Some(20_000));
        assert_eq!(group.get(Field::AcStime), Some(16_000));
        assert_eq!(group.get(Field::Nvcsw), Some(4));
        assert_eq!(group.delay(Delay::Cpu).unwrap().count, 11);
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..800),
            version in prop_oneof![Just(None), (0u16..20).prop_map(Some), any::<u16>().prop_map(Some)],
        ) {
            if let Some(v) = version {
                if bytes.len() >= 2 {
                    bytes[0..2].copy_from_slice(&v.to_ne_bytes());
                }
            }
            if let Ok(ts) = Taskstats::new(&bytes) {
                for &f in Field::ALL {
                    let got = ts.get(f);
                    let _ = ts.get_i64(f);
                    let _ = ts.value(f);
                    // Present implies within the payload.
                    if got.is_some() {
                        let r = field_range(ts.version(), f).unwrap();
                        prop_assert!(r.end <= bytes.len());
                    }
                }
                for &d in Delay::ALL {
                    let _ = ts.delay(d);
                }
                let _ = ts.comm();
                let _ = ts.comm_lossy().to_string();
                let _ = format!("{ts:?}");
                prop_assert!(ts.fields().count() <= Field::COUNT);
            }
        }
    }
}
