//! The text layout of the kernel's `tools/accounting/getdelays`, for `taskwire getdelays`.
//!
//! The layout follows the modern tool, which picks columns by the struct's version: max
//! and min from version 16, the max timestamp from version 17, COMPACT, WPCOPY and IRQ
//! rows from 11, 13 and 14. Rows for categories the struct does not carry are left out
//! rather than printed as zeros, and the delay-max timestamp is UTC (the tool prints local
//! time).

use std::fmt::Write as _;

use taskwire_core::cgroupstats::CgroupStats;
use taskwire_core::taskstats::{Delay, Field, Taskstats};

use taskwire_cli::output::{fixed, utc_time};

/// `%15.3fms` of an average in ms, as the tool computes it (count 0 divides by 1).
fn avg_ms(total_ns: u64, count: u64) -> String {
    format!(
        "{:>15}ms",
        // Saturates only past 1.8e13 events.
        fixed(total_ns, 1_000_000u64.saturating_mul(count.max(1)), 3)
    )
}

/// `%13.6fms` of a delay in ms.
fn delay_ms(ns: u64) -> String {
    format!("{:>13}ms", fixed(ns, 1_000_000, 6))
}

/// The tool's `print_delayacct` for this struct.
pub fn delayacct(s: &Taskstats<'_>) -> String {
    let v = s.version();
    let g = |f| s.get(f).unwrap_or(0);
    let mut out = String::from("\n\n");
    let head = |out: &mut String, name: &str, cols: &[&str]| {
        let _ = write!(out, "{name:<10}");
        for c in cols {
            let _ = write!(out, "{c:>15}");
        }
    };
    for &d in Delay::ALL {
        let Some(x) = s.delay(d) else { continue };
        let minmax = v >= 16;
        let ts = v >= 17;
        // CPU alone carries the run times, between the count and the delay total.
        let cpu = d == Delay::Cpu;
        let mut cols = vec!["count"];
        if cpu {
            cols.extend(["real total", "virtual total"]);
        }
        cols.extend(["delay total", "delay average"]);
        if minmax {
            cols.extend(["delay max", "delay min"]);
        }
        head(&mut out, d.name(), &cols);
        if ts {
            let _ = write!(out, "{:>25}", "delay max timestamp");
        }
        let _ = write!(out, "\n          {:>15}", x.count);
        if cpu {
            let real = g(Field::CpuRunRealTotal);
            let _ = write!(out, "{real:>15}{:>15}", g(Field::CpuRunVirtualTotal));
        }
        let _ = write!(out, "{:>15}{}", x.total_ns, avg_ms(x.total_ns, x.count));
        if minmax {
            out.push_str(&delay_ms(x.max_ns.unwrap_or(0)));
            out.push_str(&delay_ms(x.min_ns.unwrap_or(0)));
        }
        if ts {
            let (sec, nsec) = x.max_at.unwrap_or((0, 0));
            let _ = write!(out, "{:>23}", utc_time(sec, nsec));
        }
        out.push('\n');
    }
    out
}

/// The tool's `print_ioacct`.
pub fn ioacct(s: &Taskstats<'_>) -> String {
    let g = |f| s.get(f).unwrap_or(0);
    format!(
        "{}: read={}, write={}, cancelled_write={}\n",
        s.comm_lossy(),
        g(Field::ReadBytes),
        g(Field::WriteBytes),
        g(Field::CancelledWriteBytes)
    )
}

/// The tool's `task_context_switch_counts`.
pub fn ctxsw(s: &Taskstats<'_>) -> String {
    format!(
        "\n\nTask   {:>15}{:>15}\n       {:>15}{:>15}\n",
        "voluntary",
        "nonvoluntary",
        s.get(Field::Nvcsw).unwrap_or(0),
        s.get(Field::Nivcsw).unwrap_or(0)
    )
}

/// The tool's `print_cgroupstats`.
pub fn cgroupstats(c: &CgroupStats) -> String {
    format!(
        "sleeping {}, blocked {}, running {}, stopped {}, uninterruptible {}\n",
        c.nr_sleeping, c.nr_io_wait, c.nr_running, c.nr_stopped, c.nr_uninterruptible
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_core::fixtures::{pid1, synthetic};
    use taskwire_core::taskstats::put_field;

    /// Line lengths the kernel tool's printf formats produce: `%-10s` plus `%15s` per
    /// column; values `%15llu` per integer, `%15.3fms` (17) for the average, `%13.6fms`
    /// (15) for max and min, `%25s`/`%23s` for the timestamp.
    #[test]
    fn layout_of_version_16_matches_the_tool() {
        let text = delayacct(&pid1().stats);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + 8 * 2, "{text}");
        assert_eq!(lines[..2], ["", ""]);
        assert_eq!(lines[2].len(), 10 + 7 * 15);
        assert_eq!(
            lines[2]
                .split("  ")
                .filter(|s| !s.is_empty())
                .map(str::trim)
                .collect::<Vec<_>>(),
            [
                "CPU",
                "count",
                "real total",
                "virtual total",
                "delay total",
                "delay average",
                "delay max",
                "delay min"
            ]
        );
        assert_eq!(lines[3].len(), 10 + 4 * 15 + 17 + 15 + 15);
        assert!(
            lines[3].starts_with(&format!("{}374 ", " ".repeat(10 + 12))),
            "{}",
            lines[3]
        );
        assert!(
            lines[3].contains("       17045851          0.046ms"),
            "{}",
            lines[3]
        );
        for (i, name) in [
            "IO",
            "SWAP",
            "RECLAIM",
            "THRASHING",
            "COMPACT",
            "WPCOPY",
            "IRQ",
        ]
        .iter()
        .enumerate()
        {
            let head = lines[4 + 2 * i];
            assert_eq!(head.len(), 10 + 5 * 15, "{head}");
            assert_eq!(&head[..10], format!("{name:<10}"));
            assert!(head.ends_with("  delay max      delay min"), "{head}");
            assert_eq!(lines[5 + 2 * i].len(), 10 + 2 * 15 + 17 + 15 + 15);
        }
    }

    #[test]
    fn layout_follows_the_struct_version() {
        let mut v14 = synthetic(14);
        put_field(&mut v14, 14, Field::CpuCount, 4).unwrap();
        put_field(&mut v14, 14, Field::CpuDelayTotal, 6_000_000).unwrap();
        let text = delayacct(&Taskstats::new(&v14).unwrap());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2].len(), 10 + 5 * 15, "no max/min columns before v16");
        assert_eq!(lines[3].len(), 10 + 4 * 15 + 17);
        assert!(
            lines[3].ends_with("          1.500ms"),
            "6 ms over 4 delays: {}",
            lines[3]
        );
        let v17 = synthetic(17);
        let text = delayacct(&Taskstats::new(&v17).unwrap());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2].len(), 10 + 7 * 15 + 25);
        assert!(lines[2].ends_with("delay max timestamp"));
        assert_eq!(lines[3].len(), 10 + 4 * 15 + 17 + 15 + 15 + 23);
        let v11 = synthetic(11);
        let text = delayacct(&Taskstats::new(&v11).unwrap());
        assert!(text.contains("\nCOMPACT ") && !text.contains("WPCOPY") && !text.contains("IRQ"));
    }

    #[test]
    fn io_ctxsw_and_cgroup_lines() {
        let s = pid1().stats;
        assert!(
            ioacct(&s).starts_with("process_api: read="),
            "{}",
            ioacct(&s)
        );
        let c = ctxsw(&s);
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines[2], "Task         voluntary   nonvoluntary");
        assert_eq!(lines[3].len(), 7 + 30);
        let cg = CgroupStats {
            nr_sleeping: 1,
            nr_running: 2,
            nr_stopped: 3,
            nr_uninterruptible: 4,
            nr_io_wait: 5,
        };
        assert_eq!(
            cgroupstats(&cg),
            "sleeping 1, blocked 5, running 2, stopped 3, uninterruptible 4\n"
        );
    }
}
