//! The schema's written form, its hash and the wire version.
//!
//! [`SCHEMA`] describes every type on the wire, one line each, in the notation of
//! `core/WIRE.md`; [`SCHEMA_HASH`] is its FNV-1a hash, computed at compile time and sent in
//! every [`super::StreamHeader`]. A test walks the real types through serde and fails when
//! they no longer match the text, so the hash cannot silently go stale.

/// The wire format's version. Bumped only for a change an older reader cannot skip
/// (anything but appending); readers refuse streams of a newer version.
pub const WIRE_VERSION: u16 = 1;

/// The schema, as text. Every change to the wire types must change this text (the tests
/// enforce it), which changes [`SCHEMA_HASH`].
pub const SCHEMA: &str = concat!(
    "taskwire record stream, wire version 1\n",
    "struct StreamHeader { magic: [u8; 4], wire_version: u16, schema_hash: u32, \
     agent_version: str<16>, board_id: str<64>, kernel_release: str<64>, \
     taskstats_version: u16, delay_accounting: Option<bool>, possible_cpus: str<128>, \
     boot_time: u64, instance: u64 }\n",
    "struct Record { seq: u64, kind: Kind, id: u32, profile: Profile, \
     comm: Option<[u8]<32>>, values: Values }\n",
    "struct Values { absent: u128, present: [u64]<128> }\n",
    "struct Loss { count: u64, reason: LossReason, next_seq: u64 }\n",
    "struct Heartbeat { uptime_ms: u64, records_sent: u64, drops: u64, queue_depth: u32 }\n",
    "struct Interval { seq: u64, sample: u64, uptime_ms: u64, interval_ms: u32, \
     tasks_total: u32, rows: u32, delay_accounting: Option<bool>, \
     cpu_some_avg10: Option<u16>, cpu_full_avg10: Option<u16>, \
     memory_some_avg10: Option<u16>, memory_full_avg10: Option<u16>, \
     io_some_avg10: Option<u16>, io_full_avg10: Option<u16>, \
     irq_some_avg10: Option<u16>, irq_full_avg10: Option<u16> }\n",
    "struct Sample { seq: u64, sample: u64, interval_ms: u32, tgid: u32, \
     comm: Option<[u8]<32>>, values: Values }\n",
    "enum Message { 0 Header(StreamHeader), 1 Record(Record), 2 Loss(Loss), \
     3 Heartbeat(Heartbeat), 4 Interval(Interval), 5 Sample(Sample) }\n",
    "enum Kind { 0 Pid, 1 Tgid }\n",
    "enum Profile { 0 Full, 1 Acct, 2 Delays }\n",
    "enum LossReason { 0 KernelEnobufs, 1 QueueOverflow, 2 SinkOutage }\n",
    "profile full comm = every field\n",
    "profile acct comm = ac_pid ac_ppid ac_uid ac_gid ac_exitcode ac_flag ac_btime ac_etime \
     ac_utime ac_stime ac_minflt ac_majflt cpu_run_real_total cpu_run_virtual_total coremem \
     virtmem hiwater_rss hiwater_vm\n",
    "profile delays = cpu_count cpu_delay_total blkio_count blkio_delay_total swapin_count \
     swapin_delay_total freepages_count freepages_delay_total thrashing_count \
     thrashing_delay_total compact_count compact_delay_total wpcopy_count wpcopy_delay_total \
     irq_count irq_delay_total\n",
    "sample slots = cpu_us read_bytes write_bytes cpu_count cpu_delay_total blkio_count \
     blkio_delay_total swapin_count swapin_delay_total freepages_count freepages_delay_total \
     thrashing_count thrashing_delay_total compact_count compact_delay_total wpcopy_count \
     wpcopy_delay_total irq_count irq_delay_total\n",
    "field 0 version u\n",
    "field 1 ac_exitcode u\n",
    "field 2 ac_flag u\n",
    "field 3 ac_nice i\n",
    "field 4 cpu_count u\n",
    "field 5 cpu_delay_total u\n",
    "field 6 blkio_count u\n",
    "field 7 blkio_delay_total u\n",
    "field 8 swapin_count u\n",
    "field 9 swapin_delay_total u\n",
    "field 10 cpu_run_real_total u\n",
    "field 11 cpu_run_virtual_total u\n",
    "field 12 ac_sched u\n",
    "field 13 ac_uid u\n",
    "field 14 ac_gid u\n",
    "field 15 ac_pid u\n",
    "field 16 ac_ppid u\n",
    "field 17 ac_btime u\n",
    "field 18 ac_etime u\n",
    "field 19 ac_utime u\n",
    "field 20 ac_stime u\n",
    "field 21 ac_minflt u\n",
    "field 22 ac_majflt u\n",
    "field 23 coremem u\n",
    "field 24 virtmem u\n",
    "field 25 hiwater_rss u\n",
    "field 26 hiwater_vm u\n",
    "field 27 read_char u\n",
    "field 28 write_char u\n",
    "field 29 read_syscalls u\n",
    "field 30 write_syscalls u\n",
    "field 31 read_bytes u\n",
    "field 32 write_bytes u\n",
    "field 33 cancelled_write_bytes u\n",
    "field 34 nvcsw u\n",
    "field 35 nivcsw u\n",
    "field 36 ac_utimescaled u\n",
    "field 37 ac_stimescaled u\n",
    "field 38 cpu_scaled_run_real_total u\n",
    "field 39 freepages_count u\n",
    "field 40 freepages_delay_total u\n",
    "field 41 thrashing_count u\n",
    "field 42 thrashing_delay_total u\n",
    "field 43 ac_btime64 u\n",
    "field 44 compact_count u\n",
    "field 45 compact_delay_total u\n",
    "field 46 ac_tgid u\n",
    "field 47 ac_tgetime u\n",
    "field 48 ac_exe_dev u\n",
    "field 49 ac_exe_inode u\n",
    "field 50 wpcopy_count u\n",
    "field 51 wpcopy_delay_total u\n",
    "field 52 irq_count u\n",
    "field 53 irq_delay_total u\n",
    "field 54 cpu_delay_max u\n",
    "field 55 cpu_delay_min u\n",
    "field 56 blkio_delay_max u\n",
    "field 57 blkio_delay_min u\n",
    "field 58 swapin_delay_max u\n",
    "field 59 swapin_delay_min u\n",
    "field 60 freepages_delay_max u\n",
    "field 61 freepages_delay_min u\n",
    "field 62 thrashing_delay_max u\n",
    "field 63 thrashing_delay_min u\n",
    "field 64 compact_delay_max u\n",
    "field 65 compact_delay_min u\n",
    "field 66 wpcopy_delay_max u\n",
    "field 67 wpcopy_delay_min u\n",
    "field 68 irq_delay_max u\n",
    "field 69 irq_delay_min u\n",
    "field 70 cpu_delay_max_ts.tv_sec i\n",
    "field 71 cpu_delay_max_ts.tv_nsec i\n",
    "field 72 blkio_delay_max_ts.tv_sec i\n",
    "field 73 blkio_delay_max_ts.tv_nsec i\n",
    "field 74 swapin_delay_max_ts.tv_sec i\n",
    "field 75 swapin_delay_max_ts.tv_nsec i\n",
    "field 76 freepages_delay_max_ts.tv_sec i\n",
    "field 77 freepages_delay_max_ts.tv_nsec i\n",
    "field 78 thrashing_delay_max_ts.tv_sec i\n",
    "field 79 thrashing_delay_max_ts.tv_nsec i\n",
    "field 80 compact_delay_max_ts.tv_sec i\n",
    "field 81 compact_delay_max_ts.tv_nsec i\n",
    "field 82 wpcopy_delay_max_ts.tv_sec i\n",
    "field 83 wpcopy_delay_max_ts.tv_nsec i\n",
    "field 84 irq_delay_max_ts.tv_sec i\n",
    "field 85 irq_delay_max_ts.tv_nsec i\n",
);

/// FNV-1a (32-bit) of [`SCHEMA`]: changes whenever the schema does.
pub const SCHEMA_HASH: u32 = fnv1a32(SCHEMA.as_bytes());

/// FNV-1a, 32-bit: offset basis 0x811C9DC5, prime 0x01000193.
pub const fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u32;
        h = h.wrapping_mul(0x0100_0193);
        i += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    //! The schema text is checked against the types themselves: a serializer that writes
    //! down each type's shape instead of its bytes walks one sample of every variant.
    use super::*;
    use crate::taskstats::Field;
    use crate::wire::*;
    use serde::ser::{self, Serialize};
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};
    use std::string::{String, ToString};
    use std::vec::Vec;

    #[derive(Default)]
    struct Shapes {
        structs: BTreeMap<&'static str, String>,
        enums: BTreeMap<&'static str, BTreeMap<u32, String>>,
    }

    #[derive(Debug)]
    struct Unsupported(String);
    impl std::fmt::Display for Unsupported {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for Unsupported {}
    impl ser::Error for Unsupported {
        fn custom<T: std::fmt::Display>(msg: T) -> Self {
            Unsupported(msg.to_string())
        }
    }

    #[derive(Clone, Copy)]
    struct Describe<'a>(&'a RefCell<Shapes>);

    struct Compound<'a> {
        d: Describe<'a>,
        name: &'static str,
        items: Vec<String>,
        tuple: bool,
    }

    type R = Result<String, Unsupported>;

    macro_rules! prim {
        ($($f:ident: $t:ty => $n:literal),*) => {
            $(fn $f(self, _: $t) -> R { Ok($n.into()) })*
        };
    }

    impl<'a> ser::Serializer for Describe<'a> {
        type Ok = String;
        type Error = Unsupported;
        type SerializeSeq = Compound<'a>;
        type SerializeTuple = Compound<'a>;
        type SerializeTupleStruct = ser::Impossible<String, Unsupported>;
        type SerializeTupleVariant = ser::Impossible<String, Unsupported>;
        type SerializeMap = ser::Impossible<String, Unsupported>;
        type SerializeStruct = Compound<'a>;
        type SerializeStructVariant = ser::Impossible<String, Unsupported>;

        prim!(serialize_bool: bool => "bool", serialize_i8: i8 => "i8", serialize_i16: i16 => "i16",
              serialize_i32: i32 => "i32", serialize_i64: i64 => "i64", serialize_u8: u8 => "u8",
              serialize_u16: u16 => "u16", serialize_u32: u32 => "u32", serialize_u64: u64 => "u64",
              serialize_u128: u128 => "u128", serialize_f32: f32 => "f32", serialize_f64: f64 => "f64",
              serialize_char: char => "char", serialize_str: &str => "str", serialize_bytes: &[u8] => "bytes");

        fn serialize_none(self) -> R {
            Err(Unsupported("give samples with Some".into()))
        }
        fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> R {
            Ok(format!("Option<{}>", v.serialize(self)?))
        }
        fn serialize_unit(self) -> R {
            Ok("()".into())
        }
        fn serialize_unit_struct(self, name: &'static str) -> R {
            Ok(name.into())
        }
        fn serialize_unit_variant(self, name: &'static str, i: u32, v: &'static str) -> R {
            self.0
                .borrow_mut()
                .enums
                .entry(name)
                .or_default()
                .insert(i, v.into());
            Ok(name.into())
        }
        fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> R {
            v.serialize(self)
        }
        fn serialize_newtype_variant<T: ?Sized + Serialize>(
            self,
            name: &'static str,
            i: u32,
            variant: &'static str,
            v: &T,
        ) -> R {
            let inner = v.serialize(self)?;
            let text = format!("{variant}({inner})");
            self.0
                .borrow_mut()
                .enums
                .entry(name)
                .or_default()
                .insert(i, text);
            Ok(name.into())
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Unsupported> {
            Ok(Compound {
                d: self,
                name: "",
                items: Vec::new(),
                tuple: false,
            })
        }
        fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Unsupported> {
            Ok(Compound {
                d: self,
                name: "",
                items: Vec::new(),
                tuple: true,
            })
        }
        fn serialize_struct(
            self,
            name: &'static str,
            _: usize,
        ) -> Result<Compound<'a>, Unsupported> {
            Ok(Compound {
                d: self,
                name,
                items: Vec::new(),
                tuple: false,
            })
        }
        fn serialize_tuple_struct(
            self,
            n: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, Unsupported> {
            Err(Unsupported(n.into()))
        }
        fn serialize_tuple_variant(
            self,
            n: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, Unsupported> {
            Err(Unsupported(n.into()))
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
            Err(Unsupported("map".into()))
        }
        fn serialize_struct_variant(
            self,
            n: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, Unsupported> {
            Err(Unsupported(n.into()))
        }
    }

    impl Compound<'_> {
        fn element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            let t = v.serialize(self.d)?;
            if !self.items.contains(&t) {
                self.items.push(t);
            }
            Ok(())
        }
        fn finish(self, len: usize) -> R {
            match self.items.as_slice() {
                [one] if self.tuple => Ok(format!("[{one}; {len}]")),
                [one] => Ok(format!("[{one}]")),
                _ => Err(Unsupported("give non-empty, uniform sequences".into())),
            }
        }
    }

    impl ser::SerializeSeq for Compound<'_> {
        type Ok = String;
        type Error = Unsupported;
        fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            self.element(v)
        }
        fn end(self) -> R {
            self.finish(0)
        }
    }

    impl ser::SerializeTuple for Compound<'_> {
        type Ok = String;
        type Error = Unsupported;
        fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            // A tuple's length is the number of elements seen; keep a count in `name`'s place.
            let t = v.serialize(self.d)?;
            self.items.push(t);
            Ok(())
        }
        fn end(self) -> R {
            let len = self.items.len();
            let first = self.items.first().cloned().unwrap_or_default();
            Ok(format!("[{first}; {len}]"))
        }
    }

    impl ser::SerializeStruct for Compound<'_> {
        type Ok = String;
        type Error = Unsupported;
        fn serialize_field<T: ?Sized + Serialize>(
            &mut self,
            key: &'static str,
            v: &T,
        ) -> Result<(), Unsupported> {
            let t = v.serialize(self.d)?;
            self.items.push(format!("{key}: {t}"));
            Ok(())
        }
        fn end(self) -> R {
            let text = format!("struct {} {{ {} }}", self.name, self.items.join(", "));
            self.d.0.borrow_mut().structs.insert(self.name, text);
            Ok(self.name.into())
        }
    }

    /// One sample of every variant, every Option as Some, every sequence non-empty.
    fn samples() -> Vec<Message> {
        let mut h = StreamHeader::new();
        h.delay_accounting = Some(true);
        let mut values = Values::new();
        values.push(Some(1)).unwrap();
        let mut out = vec![Message::Header(h)];
        for (kind, profile) in [
            (Kind::Pid, Profile::Full),
            (Kind::Tgid, Profile::Acct),
            (Kind::Pid, Profile::Delays),
        ] {
            out.push(Message::Record(Record {
                seq: 0,
                kind,
                id: 0,
                profile,
                comm: Some(Comm::from_slice(b"x").unwrap()),
                values: values.clone(),
            }));
        }
        for reason in [
            LossReason::KernelEnobufs,
            LossReason::QueueOverflow,
            LossReason::SinkOutage,
        ] {
            out.push(Message::Loss(Loss {
                count: 1,
                reason,
                next_seq: 0,
            }));
        }
        out.push(Message::Heartbeat(Heartbeat {
            uptime_ms: 0,
            records_sent: 0,
            drops: 0,
            queue_depth: 0,
        }));
        let mut interval = Interval::new(0, 0);
        interval.delay_accounting = Some(true);
        for r in PsiResource::ALL {
            let line = Some(crate::psi::Stall::default());
            let p = crate::psi::Pressure {
                some: line,
                full: line,
            };
            interval.set_pressure(r, Some(&p));
        }
        out.push(Message::Interval(interval));
        out.push(Message::Sample(Sample {
            seq: 0,
            sample: 0,
            interval_ms: 0,
            tgid: 0,
            comm: Some(Comm::from_slice(b"x").unwrap()),
            values,
        }));
        out
    }

    /// `str<16>` -> `str`, `[u8]<32>` -> `[u8]`: capacities are checked separately.
    fn strip_caps(line: &str) -> String {
        let mut out = String::new();
        let mut rest = line;
        while let Some(i) = rest.find('<') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let digits = after.chars().take_while(char::is_ascii_digit).count();
            if digits > 0 && after[digits..].starts_with('>') {
                rest = &after[digits + 1..];
            } else {
                out.push('<');
                rest = after;
            }
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn types_match_the_schema_text() {
        let shapes = RefCell::new(Shapes::default());
        for m in samples() {
            m.serialize(Describe(&shapes)).unwrap();
        }
        let shapes = shapes.into_inner();
        let mut described: BTreeSet<String> = shapes.structs.into_values().collect();
        for (name, variants) in shapes.enums {
            let list: Vec<String> = variants.iter().map(|(i, v)| format!("{i} {v}")).collect();
            described.insert(format!("enum {name} {{ {} }}", list.join(", ")));
        }
        let written: BTreeSet<String> = SCHEMA
            .lines()
            .filter(|l| l.starts_with("struct ") || l.starts_with("enum "))
            .map(strip_caps)
            .collect();
        assert_eq!(
            described, written,
            "update SCHEMA (and core/WIRE.md) with the types"
        );
    }

    #[test]
    fn capacities_match_the_schema_text() {
        for needle in [
            format!("agent_version: str<{AGENT_VERSION_CAP}>"),
            format!("board_id: str<{BOARD_ID_CAP}>"),
            format!("kernel_release: str<{KERNEL_RELEASE_CAP}>"),
            format!("possible_cpus: str<{POSSIBLE_CPUS_CAP}>"),
            format!("comm: Option<[u8]<{COMM_CAP}>>"),
            format!("present: [u64]<{MAX_SLOTS}>"),
            format!("wire version {WIRE_VERSION}\n"),
        ] {
            assert!(SCHEMA.contains(&needle), "SCHEMA lacks {needle:?}");
        }
    }

    #[test]
    fn fields_and_profiles_match_the_schema_text() {
        let mut expected: Vec<String> = Field::ALL
            .iter()
            .map(|f| {
                format!(
                    "field {} {} {}",
                    f.id(),
                    f.name(),
                    if f.is_signed() { "i" } else { "u" }
                )
            })
            .collect();
        for p in [Profile::Acct, Profile::Delays] {
            let names: Vec<&str> = p.fields().iter().map(|f| f.name()).collect();
            let comm = if p.has_comm() { " comm" } else { "" };
            expected.push(format!("profile {}{comm} = {}", p.name(), names.join(" ")));
        }
        assert!(Profile::Full.has_comm());
        expected.push("profile full comm = every field".into());
        expected.push(format!("sample slots = {}", SAMPLE_SLOTS.join(" ")));
        let written: Vec<String> = SCHEMA
            .lines()
            .filter(|l| {
                ["field ", "profile ", "sample "]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(String::from)
            .collect();
        let (mut e, mut w) = (expected, written);
        e.sort();
        w.sort();
        assert_eq!(e, w, "update SCHEMA (and core/WIRE.md) with the field list");
        // Every line of the text is one of the kinds checked above.
        assert!(SCHEMA.lines().skip(1).all(|l| {
            ["struct ", "enum ", "field ", "profile ", "sample "]
                .iter()
                .any(|k| l.starts_with(k))
        }));
    }

    #[test]
    fn wire_md_states_this_schema() {
        let doc = include_str!("../../WIRE.md");
        assert!(
            doc.contains(SCHEMA),
            "copy SCHEMA into core/WIRE.md section 6"
        );
        let hash = format!("Schema hash: **{SCHEMA_HASH:#010x}**");
        assert!(doc.contains(&hash), "core/WIRE.md must say {hash}");
        let version = format!("Wire version: **{WIRE_VERSION}**");
        assert!(doc.contains(&version), "core/WIRE.md must say {version}");
    }

    #[test]
    fn fnv1a_known_vectors() {
        assert_eq!(fnv1a32(b""), 0x811C_9DC5);
        assert_eq!(fnv1a32(b"a"), 0xE40C_292C);
        assert_eq!(fnv1a32(b"foobar"), 0xBF9C_F968);
        assert_eq!(SCHEMA_HASH, fnv1a32(SCHEMA.as_bytes()));
        assert_eq!(StreamHeader::new().schema_hash, SCHEMA_HASH);
    }
}
