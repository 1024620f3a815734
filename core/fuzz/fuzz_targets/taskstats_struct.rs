//! `Taskstats::new` and every accessor on arbitrary bytes: no panic, and a present field
//! always lies within the payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskwire_core::taskstats::{Delay, Field, Taskstats, field_range};

fuzz_target!(|data: &[u8]| {
    let Ok(ts) = Taskstats::new(data) else {
        return;
    };
    for &f in Field::ALL {
        let v = ts.get(f);
        let _ = ts.get_i64(f);
        let _ = ts.value(f);
        if v.is_some() {
            let r = field_range(ts.version(), f).expect("present field has a range");
            assert!(r.end <= data.len());
        }
    }
    for &d in Delay::ALL {
        if let Some(s) = ts.delay(d) {
            let _ = s.average_ns();
        }
    }
    if let Some(c) = ts.comm() {
        assert!(c.len() <= 32 && !c.contains(&0));
    }
    let _ = ts.comm_lossy().to_string();
    let _ = format!("{ts:?}");
    assert!(ts.fields().count() <= Field::COUNT);
});
