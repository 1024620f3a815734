//! Arbitrary record numbers and Loss frames into the sequence tracker, as a hostile or
//! broken sender could send them: it never panics, each frame gets one verdict, and the
//! counts it keeps agree with the verdicts. A one-word window reaches its edges quickly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskwire_core_fuzz::u64_at;
use taskwire_core::wire::{Loss, LossReason, SeqTracker, Verdict};

fuzz_target!(|data: &[u8]| {
    let mut t = SeqTracker::<1>::new();
    let (mut records, mut dropped) = (0u64, 0u64);
    // Each op: a tag byte, then 8 bytes of number and, for a Loss, 8 of count.
    for op in data.chunks(17) {
        let Some((&tag, rest)) = op.split_first() else {
            break;
        };
        let n = u64_at(rest);
        let first = tag & 0x10 != 0;
        let verdict = match tag % 4 {
            0 => {
                t.on_stream();
                continue;
            }
            1 => {
                let v = t.on_record(n, first);
                if v == Verdict::New {
                    records += 1;
                }
                v
            }
            r => {
                let reason = LossReason::ALL[usize::from(r - 1) % 3];
                // Small counts most of the time, so ranges meet the window.
                let count = u64_at(rest.get(8..).unwrap_or(&[])) >> ((tag >> 5) * 8);
                let l = Loss {
                    count,
                    reason,
                    next_seq: n,
                };
                t.on_loss(&l, first)
            }
        };
        if verdict == Verdict::Duplicate {
            dropped += 1;
        }
    }
    let c = t.counts();
    assert_eq!(c.records, records);
    assert_eq!(c.duplicates, dropped);
});
