//! `CpuSet::parse` on arbitrary UTF-8; whatever parses must print and reparse to itself,
//! and `write_to` must give the same text as `Display`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskwire_core::cpulist::{CpuSet, MAX_FORMATTED_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let Ok(set) = CpuSet::parse(text) else {
        return;
    };
    let printed = set.to_string();
    assert!(printed.len() <= MAX_FORMATTED_LEN);
    assert_eq!(CpuSet::parse(&printed), Ok(set.clone()));
    let mut buf = vec![0u8; printed.len()];
    let n = set.write_to(&mut buf).expect("exact-size buffer suffices");
    assert_eq!(&buf[..n], printed.as_bytes());
    if n > 0 {
        assert!(set.write_to(&mut buf[..n - 1]).is_err());
    }
});
