//! Where each field of `struct taskstats` sits, for every version.
//!
//! The offsets are not typed in: they are computed at compile time from the member order of
//! the C struct, with the C alignment rules and the header's explicit `aligned(8)`
//! attributes, exactly as a compiler lays it out. Those attributes make the layout the same
//! on x86_64, aarch64, 32-bit ARM EABI and i386, so one table serves every target.
//!
//! Two orders exist. Every version but 15 extends the same struct at its end (version 16
//! appends the max/min pairs, 17 the timestamps of each max). Version 15 (Linux 6.14 only)
//! inserted each max/min pair right after its own count/total, which shifts every later
//! field, so it has its own order. Tests pin the resulting sizes and offsets against the
//! values the kernel headers give.

use core::ops::Range;

use super::field::Field;
#[cfg(any(test, feature = "test-util"))]
use crate::bytes::put_at;
#[cfg(any(test, feature = "test-util"))]
use crate::error::{Error, Result};

/// The lowest struct version this crate decodes. Version 1 (Linux 2.6.18) had another
/// layout.
pub const MIN_VERSION: u16 = 2;
/// The newest struct version whose layout this crate knows. A newer struct is decoded as
/// this version (its known prefix).
pub const LATEST_VERSION: u16 = 17;
/// The size of the largest known struct (version 17), in bytes.
pub const MAX_STRUCT_SIZE: usize = 688;
/// Length of the `ac_comm` command name array, in bytes (`TS_COMM_LEN`).
pub const COMM_LEN: usize = 32;

/// One member of the C struct, in declaration order.
#[derive(Clone, Copy)]
enum Member {
    /// A numeric field at its natural alignment.
    F(Field),
    /// A numeric field declared with `__attribute__((aligned(8)))`.
    A8(Field),
    /// `char ac_comm[TS_COMM_LEN]`.
    Comm,
    /// `__u8 ac_pad[3]`.
    Pad,
}

use Field as Fd;
use Member::{A8, Comm, F, Pad};

/// Member order of every version except 15 (`include/uapi/linux/taskstats.h`, v17).
#[rustfmt::skip]
const STANDARD_ORDER: [Member; Field::COUNT + 2] = [
    F(Fd::Version), F(Fd::AcExitcode), F(Fd::AcFlag), F(Fd::AcNice),
    A8(Fd::CpuCount), F(Fd::CpuDelayTotal),
    F(Fd::BlkioCount), F(Fd::BlkioDelayTotal),
    F(Fd::SwapinCount), F(Fd::SwapinDelayTotal),
    F(Fd::CpuRunRealTotal), F(Fd::CpuRunVirtualTotal),
    Comm, A8(Fd::AcSched), Pad,
    A8(Fd::AcUid), F(Fd::AcGid), F(Fd::AcPid), F(Fd::AcPpid), F(Fd::AcBtime),
    A8(Fd::AcEtime), F(Fd::AcUtime), F(Fd::AcStime), F(Fd::AcMinflt), F(Fd::AcMajflt),
    F(Fd::Coremem), F(Fd::Virtmem), F(Fd::HiwaterRss), F(Fd::HiwaterVm),
    F(Fd::ReadChar), F(Fd::WriteChar), F(Fd::ReadSyscalls), F(Fd::WriteSyscalls),
    F(Fd::ReadBytes), F(Fd::WriteBytes), F(Fd::CancelledWriteBytes),
    F(Fd::Nvcsw), F(Fd::Nivcsw),
    F(Fd::AcUtimescaled), F(Fd::AcStimescaled), F(Fd::CpuScaledRunRealTotal),
    F(Fd::FreepagesCount), F(Fd::FreepagesDelayTotal),
    F(Fd::ThrashingCount), F(Fd::ThrashingDelayTotal),
    F(Fd::AcBtime64),
    F(Fd::CompactCount), F(Fd::CompactDelayTotal),
    F(Fd::AcTgid), A8(Fd::AcTgetime), F(Fd::AcExeDev), F(Fd::AcExeInode),
    F(Fd::WpcopyCount), F(Fd::WpcopyDelayTotal),
    F(Fd::IrqCount), F(Fd::IrqDelayTotal),
    // v16: every max/min pair moved to the end.
    F(Fd::CpuDelayMax), F(Fd::CpuDelayMin),
    F(Fd::BlkioDelayMax), F(Fd::BlkioDelayMin),
    F(Fd::SwapinDelayMax), F(Fd::SwapinDelayMin),
    F(Fd::FreepagesDelayMax), F(Fd::FreepagesDelayMin),
    F(Fd::ThrashingDelayMax), F(Fd::ThrashingDelayMin),
    F(Fd::CompactDelayMax), F(Fd::CompactDelayMin),
    F(Fd::WpcopyDelayMax), F(Fd::WpcopyDelayMin),
    F(Fd::IrqDelayMax), F(Fd::IrqDelayMin),
    // v17: struct __kernel_timespec { s64 tv_sec; s64 tv_nsec; } per category.
    F(Fd::CpuDelayMaxTsSec), F(Fd::CpuDelayMaxTsNsec),
    F(Fd::BlkioDelayMaxTsSec), F(Fd::BlkioDelayMaxTsNsec),
    F(Fd::SwapinDelayMaxTsSec), F(Fd::SwapinDelayMaxTsNsec),
    F(Fd::FreepagesDelayMaxTsSec), F(Fd::FreepagesDelayMaxTsNsec),
    F(Fd::ThrashingDelayMaxTsSec), F(Fd::ThrashingDelayMaxTsNsec),
    F(Fd::CompactDelayMaxTsSec), F(Fd::CompactDelayMaxTsNsec),
    F(Fd::WpcopyDelayMaxTsSec), F(Fd::WpcopyDelayMaxTsNsec),
    F(Fd::IrqDelayMaxTsSec), F(Fd::IrqDelayMaxTsNsec),
];

/// Member order of version 15 (Linux 6.14): each max/min pair follows its count/total.
#[rustfmt::skip]
const V15_ORDER: [Member; Field::COUNT + 2 - 16] = [
    F(Fd::Version), F(Fd::AcExitcode), F(Fd::AcFlag), F(Fd::AcNice),
    A8(Fd::CpuCount), F(Fd::CpuDelayTotal), F(Fd::CpuDelayMax), F(Fd::CpuDelayMin),
    F(Fd::BlkioCount), F(Fd::BlkioDelayTotal), F(Fd::BlkioDelayMax), F(Fd::BlkioDelayMin),
    F(Fd::SwapinCount), F(Fd::SwapinDelayTotal),
    F(Fd::SwapinDelayMax), F(Fd::SwapinDelayMin),
    F(Fd::CpuRunRealTotal), F(Fd::CpuRunVirtualTotal),
    Comm, A8(Fd::AcSched), Pad,
    A8(Fd::AcUid), F(Fd::AcGid), F(Fd::AcPid), F(Fd::AcPpid), F(Fd::AcBtime),
    A8(Fd::AcEtime), F(Fd::AcUtime), F(Fd::AcStime), F(Fd::AcMinflt), F(Fd::AcMajflt),
    F(Fd::Coremem), F(Fd::Virtmem), F(Fd::HiwaterRss), F(Fd::HiwaterVm),
    F(Fd::ReadChar), F(Fd::WriteChar), F(Fd::ReadSyscalls), F(Fd::WriteSyscalls),
    F(Fd::ReadBytes), F(Fd::WriteBytes), F(Fd::CancelledWriteBytes),
    F(Fd::Nvcsw), F(Fd::Nivcsw),
    F(Fd::AcUtimescaled), F(Fd::AcStimescaled), F(Fd::CpuScaledRunRealTotal),
    F(Fd::FreepagesCount), F(Fd::FreepagesDelayTotal),
    F(Fd::FreepagesDelayMax), F(Fd::FreepagesDelayMin),
    F(Fd::ThrashingCount), F(Fd::ThrashingDelayTotal),
    F(Fd::ThrashingDelayMax), F(Fd::ThrashingDelayMin),
    F(Fd::AcBtime64),
    F(Fd::CompactCount), F(Fd::CompactDelayTotal),
    F(Fd::CompactDelayMax), F(Fd::CompactDelayMin),
    F(Fd::AcTgid), A8(Fd::AcTgetime), F(Fd::AcExeDev), F(Fd::AcExeInode),
    F(Fd::WpcopyCount), F(Fd::WpcopyDelayTotal),
    F(Fd::WpcopyDelayMax), F(Fd::WpcopyDelayMin),
    F(Fd::IrqCount), F(Fd::IrqDelayTotal), F(Fd::IrqDelayMax), F(Fd::IrqDelayMin),
];

/// Offset marker for a field the order does not contain.
const ABSENT: u16 = u16::MAX;

/// Byte offsets computed from one member order.
struct Table {
    /// Offset of each field, indexed by [`Field::id`]; [`ABSENT`] if not in the order.
    offsets: [u16; Field::COUNT],
    /// Offset of `ac_comm`.
    comm: u16,
}

impl Table {
    const fn build(order: &[Member]) -> Table {
        let mut offsets = [ABSENT; Field::COUNT];
        let mut comm = ABSENT;
        let mut off = 0usize;
        let mut i = 0;
        while i < order.len() {
            let (size, align) = match order[i] {
                F(f) => (f.width(), f.width()),
                A8(f) => (f.width(), 8),
                Comm => (COMM_LEN, 1),
                Pad => (3, 1),
            };
            off = off.next_multiple_of(align);
            match order[i] {
                F(f) | A8(f) => {
                    // A field listed twice would silently lose its first offset.
                    assert!(offsets[f as usize] == ABSENT);
                    offsets[f as usize] = off as u16;
                }
                Comm => comm = off as u16,
                Pad => {}
            }
            off += size;
            i += 1;
        }
        Table { offsets, comm }
    }

    /// Size of a struct of `version` laid out by this table: the end of the last field that
    /// version carries, rounded up to the struct's 8-byte alignment.
    const fn size(&self, version: u16) -> usize {
        let mut end = self.comm as usize + COMM_LEN;
        let mut i = 0;
        while i < Field::COUNT {
            let f = Field::ALL[i];
            let off = self.offsets[i];
            if off != ABSENT && f.since() <= version {
                let e = off as usize + f.width();
                if e > end {
                    end = e;
                }
            }
            i += 1;
        }
        end.next_multiple_of(8)
    }
}

const STANDARD: Table = Table::build(&STANDARD_ORDER);
const V15: Table = Table::build(&V15_ORDER);

/// Struct size of each version, indexed by version; 0 for versions not decoded.
const SIZES: [u16; LATEST_VERSION as usize + 1] = {
    let mut sizes = [0u16; LATEST_VERSION as usize + 1];
    let mut v = MIN_VERSION;
    while v <= LATEST_VERSION {
        let table = if v == 15 { &V15 } else { &STANDARD };
        sizes[v as usize] = table.size(v) as u16;
        v += 1;
    }
    sizes
};

// Every order must account for every field exactly once (the standard order) or for every
// field but the 16 timestamp parts (version 15); checked at compile time.
const _: () = {
    let mut i = 0;
    while i < Field::COUNT {
        assert!(STANDARD.offsets[i] != ABSENT);
        assert!((V15.offsets[i] == ABSENT) == (Field::ALL[i].since() == 17));
        i += 1;
    }
    assert!(SIZES[LATEST_VERSION as usize] as usize == MAX_STRUCT_SIZE);
};

fn table(version: u16) -> &'static Table {
    if version == 15 { &V15 } else { &STANDARD }
}

/// Offset and width of `field` in a struct of `version`, if that version carries it.
#[inline]
pub(crate) fn slot(version: u16, field: Field) -> Option<(usize, usize)> {
    if version < MIN_VERSION || field.since() > version {
        return None;
    }
    let off = *table(version).offsets.get(usize::from(field.id()))?;
    (off != ABSENT).then_some((usize::from(off), field.width()))
}

/// [`slot`] for const code (the fixtures' byte-order walk, `crate::byte_order`): offset and
/// width of the field at `index` of [`Field::ALL`], width 0 when `version` lacks it.
#[cfg(any(test, feature = "test-util"))]
pub(crate) const fn const_slot(version: u16, index: usize) -> (usize, usize) {
    if version < MIN_VERSION || index >= Field::COUNT {
        return (0, 0);
    }
    let f = Field::ALL[index];
    let t = if version == 15 { &V15 } else { &STANDARD };
    let off = t.offsets[index];
    if off == ABSENT || f.since() > version {
        (0, 0)
    } else {
        (off as usize, f.width())
    }
}

/// Size in bytes of `struct taskstats` as the kernel sends it for `version`.
///
/// `None` for versions below [`MIN_VERSION`] and above [`LATEST_VERSION`] (unknown sizes).
pub fn struct_size(version: u16) -> Option<usize> {
    match SIZES.get(usize::from(version)) {
        Some(&s) if s != 0 => Some(usize::from(s)),
        _ => None,
    }
}

/// Byte range of `field` in a struct of `version`, or `None` if that version does not carry
/// it. A version newer than [`LATEST_VERSION`] is taken to keep the latest layout.
pub fn field_range(version: u16, field: Field) -> Option<Range<usize>> {
    slot(version, field).map(|(off, width)| off..off + width)
}

/// Byte range of `ac_comm` in a struct of `version` (`None` below [`MIN_VERSION`]).
pub fn comm_range(version: u16) -> Option<Range<usize>> {
    if version < MIN_VERSION {
        return None;
    }
    let start = usize::from(table(version).comm);
    Some(start..start + COMM_LEN)
}

/// Writes `value` into `field` of a struct of `version` held in `buf`, host-endian, keeping
/// the field's low bytes (pass a signed value as its two's-complement bits, `v as u64`).
///
/// For building structs in tests and simulators (feature `test-util`); the agent never
/// writes one. Errors:
/// [`Error::Unsupported`] if `version` does not carry `field`, [`Error::BufferTooSmall`] if
/// `buf` ends before the field (nothing is written then).
#[cfg(any(test, feature = "test-util"))]
pub fn put_field(buf: &mut [u8], version: u16, field: Field, value: u64) -> Result<()> {
    let (off, width) = slot(version, field).ok_or(Error::Unsupported { version })?;
    let bytes = value.to_ne_bytes();
    // The low-order bytes of a host-endian u64 are its first bytes on little-endian hosts
    // and its last on big-endian ones.
    let low = if cfg!(target_endian = "little") {
        bytes.get(..width)
    } else {
        bytes.get(8 - width..)
    };
    let ok = low.is_some_and(|low| put_at(buf, off, low));
    if ok {
        Ok(())
    } else {
        Err(Error::BufferTooSmall)
    }
}

/// Writes `name` into `ac_comm` of a struct of `version` in `buf`, NUL-padded; a name of
/// [`COMM_LEN`] bytes or more is cut to fill the array without a NUL, as the kernel may.
///
/// Errors as [`put_field`].
#[cfg(any(test, feature = "test-util"))]
pub fn put_comm(buf: &mut [u8], version: u16, name: &[u8]) -> Result<()> {
    let range = comm_range(version).ok_or(Error::Unsupported { version })?;
    let dst = buf.get_mut(range).ok_or(Error::BufferTooSmall)?;
    dst.fill(0);
    let n = name.len().min(COMM_LEN);
    if let (Some(d), Some(s)) = (dst.get_mut(..n), name.get(..n)) {
        d.copy_from_slice(s);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes from the kernel headers, one per version.
    const SIZES_BY_VERSION: [(u16, usize); 16] = [
        (2, 248),
        (3, 248),
        (4, 272),
        (5, 288),
        (6, 312),
        (7, 328),
        (8, 328),
        (9, 344),
        (10, 352),
        (11, 368),
        (12, 400),
        (13, 416),
        (14, 432),
        (15, 560),
        (16, 560),
        (17, 688),
    ];

    #[test]
    fn sizes_pinned_per_version() {
        for (v, size) in SIZES_BY_VERSION {
            assert_eq!(struct_size(v), Some(size), "version {v}");
        }
        assert_eq!(struct_size(0), None);
        assert_eq!(struct_size(1), None);
        assert_eq!(struct_size(18), None);
        assert_eq!(struct_size(u16::MAX), None);
    }

    /// Offsets of the standard layout, read off the header (the reference table).
    #[test]
    fn standard_offsets_pinned() {
        let pins = [
            (Fd::Version, 0),
            (Fd::AcExitcode, 4),
            (Fd::AcFlag, 8),
            (Fd::AcNice, 9),
            (Fd::CpuCount, 16),
            (Fd::CpuRunVirtualTotal, 72),
            (Fd::AcSched, 112),
            (Fd::AcUid, 120),
            (Fd::AcBtime, 136),
            (Fd::AcEtime, 144),
            (Fd::Coremem, 184),
            (Fd::WriteSyscalls, 240),
            (Fd::ReadBytes, 248),
            (Fd::Nvcsw, 272),
            (Fd::AcUtimescaled, 288),
            (Fd::FreepagesCount, 312),
            (Fd::ThrashingCount, 328),
            (Fd::AcBtime64, 344),
            (Fd::CompactCount, 352),
            (Fd::AcTgid, 368),
            (Fd::AcTgetime, 376),
            (Fd::AcExeInode, 392),
            (Fd::WpcopyCount, 400),
            (Fd::IrqCount, 416),
            (Fd::IrqDelayTotal, 424),
            (Fd::CpuDelayMax, 432),
            (Fd::CpuDelayMin, 440),
            (Fd::BlkioDelayMax, 448),
            (Fd::IrqDelayMin, 552),
            (Fd::CpuDelayMaxTsSec, 560),
            (Fd::CpuDelayMaxTsNsec, 568),
            (Fd::BlkioDelayMaxTsSec, 576),
            (Fd::IrqDelayMaxTsSec, 672),
            (Fd::IrqDelayMaxTsNsec, 680),
        ];
        for (f, off) in pins {
            assert_eq!(field_range(17, f).map(|r| r.start), Some(off), "{f:?}");
        }
        assert_eq!(comm_range(16), Some(80..112));
    }

    /// Offsets of version 15, worked out by hand from the 6.14 header: 48 bytes of max/min
    /// pairs inside the delay block shift everything after it, and each later pair shifts
    /// what follows by 16 more.
    #[test]
    fn v15_offsets_pinned() {
        let pins = [
            (Fd::CpuCount, 16),
            (Fd::CpuDelayTotal, 24),
            (Fd::CpuDelayMax, 32),
            (Fd::CpuDelayMin, 40),
            (Fd::BlkioCount, 48),
            (Fd::BlkioDelayMax, 64),
            (Fd::SwapinDelayMin, 104),
            (Fd::CpuRunRealTotal, 112),
            (Fd::AcSched, 160),
            (Fd::AcUid, 168),
            (Fd::AcEtime, 192),
            (Fd::Coremem, 232),
            (Fd::ReadBytes, 296),
            (Fd::CpuScaledRunRealTotal, 352),
            (Fd::FreepagesCount, 360),
            (Fd::FreepagesDelayMax, 376),
            (Fd::ThrashingCount, 392),
            (Fd::ThrashingDelayMin, 416),
            (Fd::AcBtime64, 424),
            (Fd::CompactDelayMin, 456),
            (Fd::AcTgid, 464),
            (Fd::AcTgetime, 472),
            (Fd::AcExeInode, 488),
            (Fd::WpcopyCount, 496),
            (Fd::WpcopyDelayMin, 520),
            (Fd::IrqCount, 528),
            (Fd::IrqDelayMin, 552),
        ];
        for (f, off) in pins {
            assert_eq!(field_range(15, f).map(|r| r.start), Some(off), "{f:?}");
        }
        assert_eq!(comm_range(15), Some(128..160));
        assert_eq!(field_range(15, Fd::CpuDelayMaxTsSec), None);
    }

    #[test]
    fn fields_never_overlap_and_fit_their_version() {
        for v in MIN_VERSION..=LATEST_VERSION {
            let size = struct_size(v).unwrap();
            let mut ranges: Vec<Range<usize>> = Field::ALL
                .iter()
                .filter_map(|&f| field_range(v, f))
                .collect();
            ranges.push(comm_range(v).unwrap());
            ranges.sort_by_key(|r| r.start);
            for w in ranges.windows(2) {
                assert!(
                    w[0].end <= w[1].start,
                    "v{v}: {:?} overlaps {:?}",
                    w[0],
                    w[1]
                );
            }
            assert!(ranges.iter().all(|r| r.end <= size), "v{v}");
            for &f in Field::ALL {
                if let Some(r) = field_range(v, f) {
                    assert_eq!(r.start % f.width(), 0, "v{v} {f:?} misaligned");
                }
            }
        }
    }

    #[test]
    fn versions_below_two_have_no_fields() {
        for v in [0, 1] {
            assert!(Field::ALL.iter().all(|&f| field_range(v, f).is_none()));
            assert_eq!(comm_range(v), None);
        }
    }

    #[test]
    fn newer_versions_keep_the_latest_layout() {
        for &f in Field::ALL {
            assert_eq!(field_range(18, f), field_range(17, f));
            assert_eq!(field_range(u16::MAX, f), field_range(17, f));
        }
    }

    #[test]
    fn put_field_writes_low_bytes_and_checks_bounds() {
        let mut buf = [0xaau8; 248];
        put_field(&mut buf, 2, Fd::AcPid, 0x1234_5678).unwrap();
        assert_eq!(buf[128..132], 0x1234_5678u32.to_ne_bytes());
        put_field(&mut buf, 2, Fd::AcNice, (-5i64) as u64).unwrap();
        assert_eq!(buf[9], (-5i8) as u8);
        assert_eq!(buf[8], 0xaa);
        assert_eq!(
            put_field(&mut buf, 2, Fd::ReadBytes, 1),
            Err(Error::Unsupported { version: 2 })
        );
        assert_eq!(
            put_field(&mut buf, 4, Fd::ReadBytes, 1),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(
            put_field(&mut buf, 1, Fd::Version, 1),
            Err(Error::Unsupported { version: 1 })
        );
        put_comm(&mut buf, 2, b"sleep").unwrap();
        assert_eq!(&buf[80..86], b"sleep\0");
        assert!(buf[86..112].iter().all(|&b| b == 0));
        assert_eq!(
            put_comm(&mut buf[..100], 2, b"x"),
            Err(Error::BufferTooSmall)
        );
    }
}
