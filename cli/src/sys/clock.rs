//! `CLOCK_BOOTTIME` and the clock tick: what the live view compares /proc start times
//! with.
//!
//! libc's `clock_gettime`, which std's `Instant` already links (musl finds the vDSO
//! itself), and `getauxval`, a lookup in the auxiliary vector musl saved at start-up.
//! rustix's own versions parse the vDSO and the auxiliary vector again (about 3 KiB on
//! aarch64). The libc crate's `timespec` and the symbol it links agree on every target:
//! on 32-bit musl it is musl's 32-bit `time_t` entry point, the seconds of which count
//! since boot here and so fit.

/// Now on `CLOCK_BOOTTIME` (the monotonic clock that counts suspend too, as /proc start
/// times do), as (seconds, nanoseconds); `(0, 0)` if the kernel lacks the clock (before
/// 2.6.39).
pub fn boottime() -> (u64, u64) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec of the type the linked symbol takes.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return (0, 0);
    }
    (ts.tv_sec as u64, ts.tv_nsec as u64)
}

/// Clock ticks per second (`AT_CLKTCK`, the kernel's `USER_HZ`): the unit of /proc start
/// times; 100 if the auxiliary vector does not say.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: getauxval has no preconditions; it returns 0 for an absent entry.
    match unsafe { libc::getauxval(libc::AT_CLKTCK) } {
        0 => 100,
        // c_ulong: u64 here, u32 on 32-bit boards.
        #[allow(clippy::useless_conversion)]
        n => u64::from(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boottime_moves_forward_and_ticks_are_known() {
        let a = boottime();
        let b = boottime();
        assert!(a.0 > 0 && a.1 < 1_000_000_000, "{a:?}");
        assert!(b >= a, "{a:?} then {b:?}");
        assert!(clock_ticks_per_second() > 0);
    }
}
