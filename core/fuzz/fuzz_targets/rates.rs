//! Two arbitrary structs as successive snapshots of one task: `Rates::between` never
//! panics, refuses a non-positive interval, and any rates it gives span the whole interval.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskwire_core_fuzz::u64_at;
use taskwire_core::taskstats::{Delay, Identity, Rates, Skip, Snapshot, SortKey, Start, Taskstats};

fuzz_target!(|data: &[u8]| {
    // Two times, a split point, then the two payloads.
    if data.len() < 18 {
        return;
    }
    let (t0, t1) = (u64_at(&data[..8]), u64_at(&data[8..16]));
    let tgid = data[16] & 1 != 0;
    let rest = &data[18..];
    // At most rest.len(), so split_at cannot panic.
    let split = usize::from(data[17]) * rest.len() / 255;
    let (a, b) = rest.split_at(split);
    let (Ok(a), Ok(b)) = (Taskstats::new(a), Taskstats::new(b)) else {
        return;
    };
    let identity = |s: &Taskstats<'_>| {
        if tgid {
            Some(Identity::tgid(7, 1))
        } else {
            Identity::pid(7, s)
        }
    };
    let (Some(ia), Some(ib)) = (identity(&a), identity(&b)) else {
        return;
    };
    let prev = Snapshot::new(ia, &a, t0);
    let cur = Snapshot::new(ib, &b, t1);
    match Rates::between(&prev, &cur) {
        Ok(r) => {
            assert!(t1 > t0 && r.interval_ns() == t1 - t0);
            if let (Start::Btime(x), Start::Btime(y)) = (ia.start, ib.start) {
                assert!(x.abs_diff(y) <= 1);
            }
            for &d in Delay::ALL {
                let _ = r.key(SortKey::Delay(d));
                assert_eq!(
                    r.delay(d).is_some(),
                    prev.delay(d).is_some() && cur.delay(d).is_some()
                );
            }
            for key in [SortKey::Cpu, SortKey::Mem, SortKey::Io] {
                let _ = r.key(key);
            }
        }
        Err(Skip::NoInterval) => assert!(t1 <= t0),
        Err(_) => {}
    }
});
