//! `Pressure::parse` on arbitrary bytes: it never panics, and whatever parses has at least
//! one line, averages within 100.00, and reads back the same when printed as the kernel
//! prints it.
#![no_main]

use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use taskwire_core::psi::{AVG_MAX, Pressure, Stall};

fn print(out: &mut String, kind: &str, s: &Stall) {
    let avg = |h: u16| format!("{}.{:02}", h / 100, h % 100);
    writeln!(
        out,
        "{kind} avg10={} avg60={} avg300={} total={}",
        avg(s.avg10),
        avg(s.avg60),
        avg(s.avg300),
        s.total_us
    )
    .unwrap();
}

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Pressure::parse(data) else {
        return;
    };
    assert!(p.some.is_some() || p.full.is_some());
    let mut text = String::new();
    for (kind, line) in [("some", &p.some), ("full", &p.full)] {
        if let Some(s) = line {
            assert!(s.avg10.max(s.avg60).max(s.avg300) <= AVG_MAX);
            print(&mut text, kind, s);
        }
    }
    assert_eq!(Pressure::parse(text.as_bytes()), Ok(p));
});
