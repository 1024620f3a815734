//! Wall-clock timestamps (the delay-max times of struct version 17) as UTC calendar time.
//!
//! The kernel's getdelays prints local time through localtime_r; taskwire prints UTC, which
//! is what a board without a TZ setting shows anyway. Doing the conversion here avoids
//! libc's `time_t`, whose width on 32-bit musl (32 bits in the libc crate, 64 in musl 1.2
//! and later) would make a foreign call wrong there.

/// `YYYY-MM-DD HH:MM:SS` in UTC, or `N/A` for the kernel's "never set" `(0, 0)`.
pub fn utc_time(sec: i64, nsec: i64) -> String {
    if sec == 0 && nsec == 0 {
        return "N/A".to_owned();
    }
    let days = sec.div_euclid(86_400);
    let rem = sec.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian (year, month, day) of a day count from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`); exact for every `i64` day count that fits a year in `i64`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe.saturating_add(era.saturating_mul(400)) + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_set_is_na() {
        assert_eq!(utc_time(0, 0), "N/A");
    }

    #[test]
    fn known_instants() {
        assert_eq!(utc_time(0, 1), "1970-01-01 00:00:00");
        assert_eq!(utc_time(1_700_000_000, 5), "2023-11-14 22:13:20");
        assert_eq!(
            utc_time(951_782_400, 0),
            "2000-02-29 00:00:00",
            "leap day of a /400 year"
        );
        assert_eq!(
            utc_time(4_107_542_400, 0),
            "2100-03-01 00:00:00",
            "2100 is not leap"
        );
        assert_eq!(utc_time(-1, 0), "1969-12-31 23:59:59");
    }

    #[test]
    fn extremes_do_not_panic() {
        for s in [i64::MIN, i64::MAX, i64::MIN + 1, -86_400 * 146_097] {
            assert!(!utc_time(s, 0).is_empty());
        }
    }
}
