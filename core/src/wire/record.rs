//! The exit record: one task's (or thread group's) taskstats, cut to a profile.
//!
//! A record names its fields by position, not by name: each [`Profile`] is a fixed,
//! append-only list of [`Field`]s (its *slots*), and [`Values`] carries which slots the
//! kernel's struct had and the numbers of those, as varints. Fields the struct lacks (an
//! older kernel, a shorter struct) are absent, never zero. Signed fields travel zigzag-encoded
//! so that small negatives stay small.

use heapless::Vec;
use serde::{Deserialize, Deserializer, Serialize, Serializer, ser::SerializeStruct};

use crate::taskstats::{Field, Taskstats, Value};

/// The most slots a record can carry. Newer builds may append fields up to this many; a
/// record with more needs a new wire version (the absent mask is a `u128`).
pub const MAX_SLOTS: usize = 128;

/// Capacity of a record's command name, in bytes (the kernel's `TS_COMM_LEN`).
pub const COMM_CAP: usize = 32;

/// A task's command name: raw bytes (the kernel does not promise UTF-8), no NUL.
pub type Comm = Vec<u8, COMM_CAP>;

/// Which kind of kernel record this is: the taskstats nest it came from, defined next to
/// [`crate::taskstats::Reply`] so that a reply's aggregates and a record share one type.
pub use crate::taskstats::Kind;

/// Which fields a record carries. The lists are part of the wire format: append only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Profile {
    /// Every field the kernel sent, slot `i` being [`Field`] id `i`; comm included.
    Full,
    /// What the kernel's `procacct` prints, plus CPU and memory totals; comm included.
    Acct,
    /// Count and total of every delay category; no comm.
    Delays,
}

/// The slots of [`Profile::Acct`].
pub const ACCT_FIELDS: &[Field] = &[
    Field::AcPid,
    Field::AcPpid,
    Field::AcUid,
    Field::AcGid,
    Field::AcExitcode,
    Field::AcFlag,
    Field::AcBtime,
    Field::AcEtime,
    Field::AcUtime,
    Field::AcStime,
    Field::AcMinflt,
    Field::AcMajflt,
    Field::CpuRunRealTotal,
    Field::CpuRunVirtualTotal,
    Field::Coremem,
    Field::Virtmem,
    Field::HiwaterRss,
    Field::HiwaterVm,
];

/// The slots of [`Profile::Delays`].
pub const DELAYS_FIELDS: &[Field] = &[
    Field::CpuCount,
    Field::CpuDelayTotal,
    Field::BlkioCount,
    Field::BlkioDelayTotal,
    Field::SwapinCount,
    Field::SwapinDelayTotal,
    Field::FreepagesCount,
    Field::FreepagesDelayTotal,
    Field::ThrashingCount,
    Field::ThrashingDelayTotal,
    Field::CompactCount,
    Field::CompactDelayTotal,
    Field::WpcopyCount,
    Field::WpcopyDelayTotal,
    Field::IrqCount,
    Field::IrqDelayTotal,
];

impl Profile {
    /// The profile's slots, in wire order.
    pub const fn fields(self) -> &'static [Field] {
        match self {
            Profile::Full => Field::ALL,
            Profile::Acct => ACCT_FIELDS,
            Profile::Delays => DELAYS_FIELDS,
        }
    }

    /// Whether records of this profile carry the command name.
    pub const fn has_comm(self) -> bool {
        !matches!(self, Profile::Delays)
    }

    /// The profile's name as the agent's command line spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Full => "full",
            Profile::Acct => "acct",
            Profile::Delays => "delays",
        }
    }

    /// The profile with this name (`full`, `acct`, `delays`).
    pub fn from_name(name: &str) -> Option<Profile> {
        [Profile::Full, Profile::Acct, Profile::Delays]
            .into_iter()
            .find(|p| p.name() == name)
    }

    /// The field in slot `slot`, or `None` for a slot this build does not know (a newer
    /// sender's appended field).
    pub fn field(self, slot: usize) -> Option<Field> {
        self.fields().get(slot).copied()
    }
}

const fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

const fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// What goes on the wire for `value` in a slot holding `field` (`None`: not known here).
fn to_wire(field: Option<Field>, value: Value) -> u64 {
    match (field.is_some_and(Field::is_signed), value) {
        (true, Value::Signed(v)) => zigzag(v),
        (true, Value::Unsigned(v)) => zigzag(v as i64),
        (false, Value::Unsigned(v)) => v,
        (false, Value::Signed(v)) => v as u64,
    }
}

fn from_wire(field: Option<Field>, raw: u64) -> Value {
    if field.is_some_and(Field::is_signed) {
        Value::Signed(unzigzag(raw))
    } else {
        Value::Unsigned(raw)
    }
}

/// The slots of one record: which are present, and their wire numbers.
///
/// On the wire: `absent` (a varint `u128` whose bit `i` marks slot `i` absent) then the
/// numbers of the present slots as a postcard sequence of varint `u64`. The slots covered
/// are `present.len() + absent.count_ones()`; every slot after them is absent, so the last
/// covered slot is always present (the encoding is canonical and decoders reject others).
#[derive(Debug, Clone, Default)]
pub struct Values {
    /// Slots pushed so far, trailing absent ones included.
    slots: u8,
    /// Slots up to and including the last present one: kept as pushed so that encoding
    /// does not search the mask for it.
    covered: u8,
    absent: u128,
    present: Vec<u64, MAX_SLOTS>,
}

impl Values {
    /// No slots yet.
    pub const fn new() -> Self {
        Values {
            slots: 0,
            covered: 0,
            absent: 0,
            present: Vec::new(),
        }
    }

    /// Appends the next slot's wire number (`None`: absent).
    ///
    /// [`crate::Error::OutOfRange`] past [`MAX_SLOTS`] slots.
    pub fn push(&mut self, wire: Option<u64>) -> crate::Result<()> {
        let slot = usize::from(self.slots);
        if slot >= MAX_SLOTS {
            return Err(crate::Error::OutOfRange);
        }
        match wire {
            Some(v) => {
                self.present.push(v).map_err(|_| crate::Error::OutOfRange)?;
                self.covered = self.slots + 1;
            }
            None => self.absent |= 1u128 << slot,
        }
        self.slots += 1;
        Ok(())
    }

    /// Slots up to and including the last present one.
    pub fn len(&self) -> usize {
        self.present.len() + self.covered_absent().count_ones() as usize
    }

    /// Whether no slot is present.
    pub fn is_empty(&self) -> bool {
        self.present.is_empty()
    }

    /// Number of present slots.
    pub fn present_count(&self) -> usize {
        self.present.len()
    }

    /// The absent bits below the last present slot (trailing absent slots dropped).
    fn covered_absent(&self) -> u128 {
        match self.covered {
            0 => 0,
            c if usize::from(c) >= MAX_SLOTS => self.absent,
            c => self.absent & ((1u128 << c) - 1),
        }
    }

    /// The wire number in slot `slot`, `None` when absent.
    pub fn get(&self, slot: usize) -> Option<u64> {
        if slot >= MAX_SLOTS || self.absent & (1u128 << slot) != 0 {
            return None;
        }
        let below = self.absent & ((1u128 << slot) - 1);
        let index = slot - below.count_ones() as usize;
        self.present.get(index).copied()
    }

    /// What goes on the wire, in order: the absent mask (trailing absent slots dropped)
    /// and the present slots' numbers.
    pub(super) fn wire_parts(&self) -> (u128, &[u64]) {
        (self.covered_absent(), &self.present)
    }

    /// `(slot, wire number)` of every present slot, in order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        let absent = self.absent;
        (0..MAX_SLOTS)
            .filter(move |s| absent & (1u128 << s) == 0)
            .zip(self.present.iter().copied())
    }
}

impl PartialEq for Values {
    fn eq(&self, other: &Self) -> bool {
        // Trailing absent slots are not carried on the wire: compare what is.
        self.present == other.present && self.covered_absent() == other.covered_absent()
    }
}

impl Eq for Values {}

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Values", 2)?;
        st.serialize_field("absent", &self.covered_absent())?;
        st.serialize_field("present", &self.present)?;
        st.end()
    }
}

#[derive(Deserialize)]
#[serde(rename = "Values")]
struct RawValues {
    absent: u128,
    present: Vec<u64, MAX_SLOTS>,
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawValues::deserialize(d)?;
        let covered = raw.present.len() + raw.absent.count_ones() as usize;
        let canonical = covered <= MAX_SLOTS
            && (covered == MAX_SLOTS || raw.absent >> covered == 0)
            && (covered == 0 || raw.absent & (1u128 << (covered - 1)) == 0);
        if !canonical {
            return Err(serde::de::Error::custom("non-canonical absent mask"));
        }
        Ok(Values {
            // covered <= MAX_SLOTS = 128 fits a u8; canonical, so its last slot is present.
            slots: covered as u8,
            covered: covered as u8,
            absent: raw.absent,
            present: raw.present,
        })
    }
}

/// What a record of `profile` carries of the command name `comm`: up to its first NUL,
/// at most [`COMM_CAP`] bytes.
fn profile_comm(profile: Profile, comm: Option<&[u8]>) -> Option<Comm> {
    if !profile.has_comm() {
        return None;
    }
    comm.map(comm_of)
}

/// A command name as the wire carries it: up to its first NUL, at most [`COMM_CAP`] bytes.
pub(super) fn comm_of(c: &[u8]) -> Comm {
    let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
    let c = &c[..end.min(COMM_CAP)];
    Vec::from_slice(c).unwrap_or_default()
}

/// One exit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Sequence number, consecutive over the records of one stream (starting at 0): a gap
    /// seen by the host is loss on the wire; losses before sending come as [`super::Loss`].
    pub seq: u64,
    /// Per task or per thread group.
    pub kind: Kind,
    /// The pid (thread id) for [`Kind::Pid`], the tgid for [`Kind::Tgid`].
    pub id: u32,
    /// Which slots [`Record::values`] holds.
    pub profile: Profile,
    /// The command name (`ac_comm` up to its NUL); `None` when the profile leaves it out.
    pub comm: Option<Comm>,
    /// The profile's slots.
    pub values: Values,
}

/// One present field of a record, for printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldValue {
    /// Position in the profile's slot list.
    pub slot: usize,
    /// The field, `None` for a slot appended by a newer sender.
    pub field: Option<Field>,
    /// The number.
    pub value: Value,
}

impl FieldValue {
    /// The kernel's name of the field, or `"?"` for an unknown slot.
    pub fn name(&self) -> &'static str {
        self.field.map_or("?", Field::name)
    }
}

impl Record {
    /// Builds a record of `profile` from `get`, which gives each field's value or `None`
    /// when the struct lacks it.
    pub fn build(
        seq: u64,
        kind: Kind,
        id: u32,
        profile: Profile,
        comm: Option<&[u8]>,
        mut get: impl FnMut(Field) -> Option<Value>,
    ) -> Record {
        let mut values = Values::new();
        for &f in profile.fields() {
            // Profiles are at most MAX_SLOTS long (a test pins this), so push cannot fail.
            let _ = values.push(get(f).map(|v| to_wire(Some(f), v)));
        }
        Record {
            seq,
            kind,
            id,
            profile,
            comm: profile_comm(profile, comm),
            values,
        }
    }

    /// Builds a record of `profile` from a decoded `struct taskstats`.
    pub fn from_taskstats(
        seq: u64,
        kind: Kind,
        id: u32,
        ts: &Taskstats<'_>,
        profile: Profile,
    ) -> Record {
        let mut values = Values::new();
        for &f in profile.fields() {
            // `get` gives a signed field's bits sign-extended, which is what to_wire's
            // zigzag takes; skipping `Value` keeps this loop, run for every field of every
            // record, short. Profiles fit MAX_SLOTS, so push cannot fail.
            let wire = ts.get(f).map(|raw| {
                if f.is_signed() {
                    zigzag(raw as i64)
                } else {
                    raw
                }
            });
            let _ = values.push(wire);
        }
        Record {
            seq,
            kind,
            id,
            profile,
            comm: profile_comm(profile, ts.comm()),
            values,
        }
    }

    /// The value of `field`, `None` when absent or not in this record's profile.
    pub fn get(&self, field: Field) -> Option<Value> {
        let slot = self.profile.fields().iter().position(|&f| f == field)?;
        self.values.get(slot).map(|raw| from_wire(Some(field), raw))
    }

    /// Every present field in slot order, for printing.
    pub fn fields(&self) -> impl Iterator<Item = FieldValue> + '_ {
        let profile = self.profile;
        self.values.iter().map(move |(slot, raw)| {
            let field = profile.field(slot);
            FieldValue {
                slot,
                field,
                value: from_wire(field, raw),
            }
        })
    }

    /// The command name as text, when it is UTF-8 (it nearly always is).
    pub fn comm_str(&self) -> Option<&str> {
        self.comm
            .as_ref()
            .and_then(|c| core::str::from_utf8(c).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{self, Message as NlMessage};
    use crate::taskstats::{Reply, put_comm, put_field, struct_size};
    use crate::wire::testutil;
    use proptest::prelude::*;

    /// TASKSTATS family id where the fixtures were captured (core/fixtures/README.md).
    const FAMILY: u16 = 31;
    static EXIT_PID: [u8; 596] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/exit_pid.bin"));
    static EXIT_TID_TGID: [u8; 1172] =
        crate::byte_order::host_order(*include_bytes!("../../fixtures/exit_tid_tgid.bin"));

    fn reply(bytes: &[u8]) -> Reply<'_> {
        let packet = netlink::messages(bytes).next().unwrap().unwrap();
        match NlMessage::parse(packet).unwrap() {
            NlMessage::Data(p) => Reply::parse(p, FAMILY).unwrap(),
            other => panic!("not data: {other:?}"),
        }
    }

    fn encoded(r: &Record) -> std::vec::Vec<u8> {
        testutil::to_vec(r)
    }

    fn decoded(b: &[u8]) -> postcard::Result<Record> {
        postcard::from_bytes(b)
    }

    #[test]
    fn profiles_fit_the_slot_limit() {
        for p in [Profile::Full, Profile::Acct, Profile::Delays] {
            assert!(p.fields().len() <= MAX_SLOTS, "{p:?}");
            assert_eq!(Profile::from_name(p.name()), Some(p));
        }
        assert_eq!(Profile::Full.fields().len(), Field::COUNT);
        for (i, f) in Profile::Full.fields().iter().enumerate() {
            assert_eq!(usize::from(f.id()), i);
        }
        assert_eq!(Profile::from_name("nope"), None);
    }

    #[test]
    fn values_slots_and_absence() {
        let mut v = Values::new();
        for s in [Some(5), None, Some(0), None, None] {
            v.push(s).unwrap();
        }
        assert_eq!(v.get(0), Some(5));
        assert_eq!(v.get(1), None);
        assert_eq!(v.get(2), Some(0));
        assert_eq!(v.get(3), None);
        assert_eq!(v.get(200), None);
        assert_eq!(v.len(), 3);
        assert_eq!(v.iter().collect::<std::vec::Vec<_>>(), [(0, 5), (2, 0)]);
        // Trailing absent slots are not sent: mask 0b10, then [5, 0].
        let b = testutil::to_vec(&v);
        assert_eq!(b, [0x02, 0x02, 0x05, 0x00]);
        let back: Values = postcard::from_bytes(&b).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn values_limit() {
        let mut v = Values::new();
        for _ in 0..MAX_SLOTS {
            v.push(None).unwrap();
        }
        assert_eq!(v.push(Some(1)), Err(crate::Error::OutOfRange));
        assert!(v.is_empty());
        assert_eq!(testutil::to_vec(&v), [0, 0]);
    }

    #[test]
    fn non_canonical_values_rejected() {
        // Mask marks slot 1 absent but only one value: slots covered = 2, last one absent.
        assert!(postcard::from_bytes::<Values>(&[0x02, 0x01, 0x07]).is_err());
        // A bit far beyond the covered slots.
        assert!(postcard::from_bytes::<Values>(&[0x80, 0x01, 0x01, 0x07]).is_err());
        // The canonical form of the same single value.
        let v: Values = postcard::from_bytes(&[0x00, 0x01, 0x07]).unwrap();
        assert_eq!(v.get(0), Some(7));
    }

    #[test]
    fn zigzag_round_trip() {
        for v in [0i64, -1, 1, -20, 19, i64::MIN, i64::MAX, 1_700_000_000] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        // Small negatives stay one byte.
        assert_eq!(zigzag(-20), 39);
    }

    #[test]
    fn real_exit_record_all_profiles() {
        let r = reply(&EXIT_PID);
        let a = r.pid.unwrap();
        let ts = a.stats;
        let full = Record::from_taskstats(7, Kind::Pid, a.id, &ts, Profile::Full);
        assert_eq!(full.comm_str(), Some("twfixture"));
        assert_eq!(full.values.len(), 70, "v16 carries fields 0..=69");
        assert_eq!(full.values.present_count(), 70);
        for f in Field::ALL {
            assert_eq!(full.get(*f), ts.value(*f), "{f:?}");
        }
        // Every present field comes back with the kernel's value, in slot order.
        let listed: std::vec::Vec<_> = full
            .fields()
            .map(|fv| (fv.field.unwrap(), fv.value))
            .collect();
        let direct: std::vec::Vec<_> = ts
            .fields()
            .map(|(f, _)| (f, ts.value(f).unwrap()))
            .collect();
        assert_eq!(listed, direct);

        let acct = Record::from_taskstats(8, Kind::Pid, a.id, &ts, Profile::Acct);
        assert_eq!(acct.get(Field::AcExitcode), Some(Value::Unsigned(768)));
        assert_eq!(acct.get(Field::AcPid), Some(Value::Unsigned(9876)));
        assert_eq!(acct.get(Field::AcPpid), Some(Value::Unsigned(9829)));
        assert_eq!(acct.get(Field::CpuCount), None, "not in the acct profile");
        assert_eq!(acct.comm.as_deref(), Some(&b"twfixture"[..]));

        let delays = Record::from_taskstats(9, Kind::Pid, a.id, &ts, Profile::Delays);
        assert_eq!(delays.comm, None);
        assert_eq!(delays.values.present_count(), 16);
        assert_eq!(
            delays.get(Field::CpuDelayTotal).unwrap(),
            ts.value(Field::CpuDelayTotal).unwrap()
        );

        for r in [full, acct, delays] {
            assert_eq!(decoded(&encoded(&r)).unwrap(), r);
        }
    }

    #[test]
    fn real_tgid_record() {
        let r = reply(&EXIT_TID_TGID);
        let g = r.tgid.unwrap();
        let rec = Record::from_taskstats(1, Kind::Tgid, g.id, &g.stats, Profile::Acct);
        assert_eq!(rec.id, 9881);
        // The kernel leaves comm empty in a per-group record.
        assert_eq!(rec.comm.as_deref(), Some(&b""[..]));
        assert_eq!(decoded(&encoded(&rec)).unwrap(), rec);
    }

    /// A struct of `version`, every field set to `f(field)`.
    fn synthetic(version: u16, f: impl Fn(Field) -> u64) -> std::vec::Vec<u8> {
        let mut buf = vec![0u8; struct_size(version).unwrap()];
        for &field in Field::ALL {
            let _ = put_field(&mut buf, version, field, f(field));
        }
        put_field(&mut buf, version, Field::Version, u64::from(version)).unwrap();
        put_comm(&mut buf, version, b"synthetic").unwrap();
        buf
    }

    #[test]
    fn from_taskstats_is_build_over_the_struct_values() {
        // The direct loop must give what the general builder gives over `value`, signed
        // fields (ac_nice, v17 timestamps) negative included, for every profile.
        let neg = synthetic(17, |f| {
            if f.is_signed() {
                (-(i64::from(f.id()) + 2)) as u64
            } else {
                u64::from(f.id()) * 1_000_003
            }
        });
        let real = reply(&EXIT_TID_TGID);
        let structs = [
            Taskstats::new(&neg).unwrap(),
            Taskstats::new(&neg[..333]).unwrap(),
            real.pid.unwrap().stats,
            real.tgid.unwrap().stats,
        ];
        for ts in structs {
            for p in [Profile::Full, Profile::Acct, Profile::Delays] {
                let built = Record::build(3, Kind::Pid, 9, p, ts.comm(), |f| ts.value(f));
                let direct = Record::from_taskstats(3, Kind::Pid, 9, &ts, p);
                assert_eq!(direct, built, "{p:?} {ts:?}");
                assert_eq!(encoded(&direct), encoded(&built));
            }
        }
        let ts = Taskstats::new(&neg).unwrap();
        let r = Record::from_taskstats(0, Kind::Pid, 1, &ts, Profile::Full);
        assert_eq!(r.get(Field::AcNice), Some(Value::Signed(-5)));
    }

    #[test]
    fn older_struct_marks_fields_absent() {
        // Version 12 has no wpcopy/irq delays (13, 14) nor max/min (16).
        let bytes = synthetic(12, |f| u64::from(f.id()) + 1);
        let ts = Taskstats::new(&bytes).unwrap();
        let d = Record::from_taskstats(0, Kind::Pid, 1, &ts, Profile::Delays);
        assert_eq!(d.values.len(), 12, "trailing wpcopy/irq slots dropped");
        assert_eq!(d.get(Field::WpcopyCount), None);
        assert_eq!(d.get(Field::CompactCount), Some(Value::Unsigned(45)));
        let full = Record::from_taskstats(0, Kind::Pid, 1, &ts, Profile::Full);
        assert_eq!(full.get(Field::IrqCount), None);
        assert_eq!(full.get(Field::AcExeInode), Some(Value::Unsigned(50)));
        let back = decoded(&encoded(&full)).unwrap();
        assert_eq!(back.get(Field::IrqCount), None);
        assert_eq!(back, full);

        // A payload cut inside the struct: the cut fields are absent, not zero.
        let cut = Taskstats::new(&bytes[..300]).unwrap();
        let r = Record::from_taskstats(0, Kind::Pid, 1, &cut, Profile::Full);
        assert_eq!(r.get(Field::Nvcsw), Some(Value::Unsigned(35)));
        // ac_utimescaled sits at 288..296, ac_stimescaled at 296..304: the cut runs through it.
        assert_eq!(r.get(Field::AcUtimescaled), Some(Value::Unsigned(37)));
        assert_eq!(r.get(Field::AcStimescaled), None);
        assert_eq!(r.get(Field::FreepagesCount), None);
    }

    #[test]
    fn signed_fields_keep_their_sign() {
        let bytes = synthetic(17, |f| if f.is_signed() { (-3i64) as u64 } else { 1 });
        let ts = Taskstats::new(&bytes).unwrap();
        let r = Record::from_taskstats(0, Kind::Pid, 1, &ts, Profile::Full);
        assert_eq!(r.get(Field::AcNice), Some(Value::Signed(-3)));
        assert_eq!(r.get(Field::IrqDelayMaxTsNsec), Some(Value::Signed(-3)));
        let back = decoded(&encoded(&r)).unwrap();
        assert_eq!(back.get(Field::CpuDelayMaxTsSec), Some(Value::Signed(-3)));
        // Zigzag keeps a small negative to one byte on the wire.
        assert_eq!(r.values.get(usize::from(Field::AcNice.id())), Some(5));
    }

    #[test]
    fn unknown_slots_are_listed_raw() {
        // A newer sender's record with a slot past this build's Field list.
        let mut values = Values::new();
        for i in 0..=Field::COUNT {
            values.push(Some(i as u64)).unwrap();
        }
        let r = Record {
            seq: 0,
            kind: Kind::Pid,
            id: 1,
            profile: Profile::Full,
            comm: None,
            values,
        };
        let last = r.fields().last().unwrap();
        assert_eq!(last.slot, Field::COUNT);
        assert_eq!(last.field, None);
        assert_eq!(last.name(), "?");
        assert_eq!(last.value, Value::Unsigned(Field::COUNT as u64));

        // Not un-zigzagged: an appended signed field holding -3 (zigzag 5) shows as 5.
        let mut values = Values::new();
        for _ in DELAYS_FIELDS {
            values.push(Some(0)).unwrap();
        }
        values.push(Some(zigzag(-3))).unwrap();
        let msg = crate::wire::Message::Record(Record {
            seq: 0,
            kind: Kind::Pid,
            id: 1,
            profile: Profile::Delays,
            comm: None,
            values,
        });
        let crate::wire::Message::Record(back) =
            crate::wire::decode_payload(&testutil::to_vec(&msg)).unwrap()
        else {
            panic!("not a record")
        };
        let last = back.fields().last().unwrap();
        assert_eq!((last.slot, last.field), (DELAYS_FIELDS.len(), None));
        assert_eq!(last.value, Value::Unsigned(5));
    }

    #[test]
    fn comm_is_not_checked_against_the_profile() {
        // core/WIRE.md, Record.comm: a reader keeps the comm of a `delays` record that
        // carries one, and reads a `full` record without one.
        for (profile, comm) in [
            (Profile::Delays, Some(Comm::from_slice(b"sh").unwrap())),
            (Profile::Full, None),
        ] {
            let msg = crate::wire::Message::Record(Record {
                seq: 1,
                kind: Kind::Pid,
                id: 2,
                profile,
                comm,
                values: Values::new(),
            });
            let payload = testutil::to_vec(&msg);
            assert_eq!(crate::wire::decode_payload(&payload), Ok(msg));
        }
    }

    #[test]
    fn comm_is_cut_at_nul() {
        let r = Record::build(0, Kind::Pid, 1, Profile::Acct, Some(b"ab\0cd"), |_| None);
        assert_eq!(r.comm.as_deref(), Some(&b"ab"[..]));
        assert!(r.values.is_empty());
        let r = Record::build(0, Kind::Pid, 1, Profile::Delays, Some(b"ab"), |_| None);
        assert_eq!(r.comm, None);
    }

    proptest! {
        #[test]
        fn record_round_trip(r in testutil::record()) {
            prop_assert_eq!(decoded(&encoded(&r)).unwrap(), r);
        }

        #[test]
        fn values_get_matches_pushes(slots in proptest::collection::vec(
            proptest::option::of(testutil::wire_u64()), 0..=MAX_SLOTS)) {
            let mut v = Values::new();
            for s in &slots {
                v.push(*s).unwrap();
            }
            let back: Values = postcard::from_bytes(&testutil::to_vec(&v)).unwrap();
            for (i, s) in slots.iter().enumerate() {
                prop_assert_eq!(v.get(i), *s);
                prop_assert_eq!(back.get(i), *s);
            }
        }
    }
}
