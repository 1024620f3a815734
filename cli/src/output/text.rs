//! Human-readable text: the multi-line view of `get` and `run`, the one-line view of
//! `listen`, and cgroupstats.

use std::fmt::Write;

use taskwire_core::cgroupstats::CgroupStats;
use taskwire_core::taskstats::{Aggregate, Delay, Field, Kind, Taskstats};

use super::{Status, escape_token, ms, secs_from_us, utc_time};

/// Which optional sections to print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sections {
    /// Storage I/O bytes.
    pub io: bool,
    /// Context switch counts.
    pub ctxsw: bool,
}

fn num(stats: &Taskstats<'_>, f: Field) -> String {
    stats
        .get(f)
        .map_or_else(|| "n/a".to_owned(), |v| v.to_string())
}

/// The multi-line view of one record: a task's, or a thread group's sum.
pub fn block(agg: &Aggregate<'_>, kind: Kind, sections: Sections) -> String {
    let s = &agg.stats;
    let mut out = String::new();
    if kind == Kind::Tgid {
        let _ = write!(out, "tgid {}  (sum over its threads)", agg.id);
    } else {
        let _ = write!(
            out,
            "pid {}  comm {}",
            agg.id,
            escape_token(s.comm().unwrap_or_default())
        );
        for (label, f) in [
            ("tgid", Field::AcTgid),
            ("ppid", Field::AcPpid),
            ("uid", Field::AcUid),
            ("gid", Field::AcGid),
        ] {
            if let Some(v) = s.get(f) {
                let _ = write!(out, "  {label} {v}");
            }
        }
    }
    let _ = writeln!(out, "  taskstats v{} ({} bytes)", s.version(), s.len());
    let t = |f| {
        s.get(f)
            .map_or_else(|| "n/a".to_owned(), |us| format!("{} s", secs_from_us(us)))
    };
    let _ = writeln!(
        out,
        "time      elapsed {}  user {}  system {}",
        t(Field::AcEtime),
        t(Field::AcUtime),
        t(Field::AcStime)
    );
    if kind == Kind::Pid {
        let _ = writeln!(
            out,
            "faults    minor {}  major {}",
            num(s, Field::AcMinflt),
            num(s, Field::AcMajflt)
        );
    }
    out.push('\n');
    out.push_str(&delay_table(s));
    if sections.io {
        let _ = writeln!(
            out,
            "\nio        read {} B  write {} B  cancelled write {} B",
            num(s, Field::ReadBytes),
            num(s, Field::WriteBytes),
            num(s, Field::CancelledWriteBytes)
        );
    }
    if sections.ctxsw {
        let _ = writeln!(
            out,
            "\nctxsw     voluntary {}  involuntary {}",
            num(s, Field::Nvcsw),
            num(s, Field::Nivcsw)
        );
    }
    out
}

/// The delay table: one row per category the struct carries.
pub fn delay_table(s: &Taskstats<'_>) -> String {
    let with_ts = Delay::ALL
        .iter()
        .any(|&d| s.delay(d).is_some_and(|x| x.max_at.is_some()));
    let mut out = format!(
        "{:<10}{:>12}{:>14}{:>14}{:>14}{:>14}",
        "delay", "count", "total ms", "average ms", "max ms", "min ms"
    );
    if with_ts {
        out.push_str("  max at (UTC)");
    }
    out.push('\n');
    for &d in Delay::ALL {
        let Some(x) = s.delay(d) else { continue };
        let avg = x.average_ns().map_or_else(|| "-".to_owned(), ms);
        let opt = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), ms);
        let _ = write!(
            out,
            "{:<10}{:>12}{:>14}{:>14}{:>14}{:>14}",
            d.name(),
            x.count,
            ms(x.total_ns),
            avg,
            opt(x.max_ns),
            opt(x.min_ns)
        );
        if let Some((sec, nsec)) = x.max_at {
            let _ = write!(out, "  {}", utc_time(sec, nsec));
        }
        out.push('\n');
    }
    out
}

/// The one-line view of an exit record, `key=value` separated by spaces; the first key
/// says whether it is a task (`pid=`) or a thread-group (`tgid=`) record.
pub fn line(agg: &Aggregate<'_>, kind: Kind) -> String {
    let s = &agg.stats;
    let mut out = String::with_capacity(256);
    let _ = write!(out, "{}={}", kind.name(), agg.id);
    line_fields(&mut out, kind == Kind::Pid, s.comm(), &|f| s.get(f));
    out
}

/// The part of a record's one-line view after its first key. `listen` and `decode` share
/// it, so a record reads the same live as after the wire; `get` gives a field's value or
/// `None` when the record lacks it. Identity and exit status belong to task records only.
pub fn line_fields(
    out: &mut String,
    task: bool,
    comm: Option<&[u8]>,
    get: &dyn Fn(Field) -> Option<u64>,
) {
    if task {
        for (k, f) in [
            ("tgid", Field::AcTgid),
            ("ppid", Field::AcPpid),
            ("uid", Field::AcUid),
            ("gid", Field::AcGid),
        ] {
            if let Some(v) = get(f) {
                let _ = write!(out, " {k}={v}");
            }
        }
    }
    if let Some(comm) = comm.filter(|c| !c.is_empty()) {
        let _ = write!(out, " comm={}", escape_token(comm));
    }
    if let (true, Some(raw)) = (task, get(Field::AcExitcode)) {
        match Status::from_wait(raw) {
            Status::Exited(c) => {
                let _ = write!(out, " exit={c}");
            }
            Status::Signaled(sig, core) => {
                let _ = write!(out, " signal={sig}{}", if core { " core=1" } else { "" });
            }
        }
    }
    for (k, f) in [
        ("etime_us", Field::AcEtime),
        ("utime_us", Field::AcUtime),
        ("stime_us", Field::AcStime),
        ("nvcsw", Field::Nvcsw),
        ("nivcsw", Field::Nivcsw),
    ] {
        if let Some(v) = get(f) {
            let _ = write!(out, " {k}={v}");
        }
    }
    for &d in Delay::ALL {
        let (Some(count), Some(total)) = (get(d.count_field()), get(d.total_field())) else {
            continue;
        };
        // CPU and IO always, the rarer categories only when they happened: the line stays
        // short and nothing that occurred is hidden.
        if matches!(d, Delay::Cpu | Delay::Blkio) || count != 0 {
            let name = d.name().to_ascii_lowercase();
            let _ = write!(out, " {name}_delay_count={count} {name}_delay_ns={total}");
        }
    }
}

/// cgroupstats, in the order of the kernel's struct.
pub fn cgroup(c: &CgroupStats) -> String {
    format!(
        "sleeping {}  running {}  stopped {}  uninterruptible {}  io_wait {}\n",
        c.nr_sleeping, c.nr_running, c.nr_stopped, c.nr_uninterruptible, c.nr_io_wait
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_core::fixtures::{pid1, synthetic};

    #[test]
    fn block_from_a_real_reply() {
        let b = block(
            &pid1(),
            Kind::Pid,
            Sections {
                io: true,
                ctxsw: true,
            },
        );
        let first = b.lines().next().unwrap();
        assert_eq!(
            first,
            "pid 1  comm process_api  tgid 1  ppid 0  uid 0  gid 0  taskstats v16 (560 bytes)"
        );
        assert!(b.contains("\nio        read "), "{b}");
        assert!(b.contains("\nctxsw     voluntary "), "{b}");
        let t = block(&pid1(), Kind::Tgid, Sections::default());
        assert!(t.starts_with("tgid 1  (sum over its threads)"), "{t}");
        assert!(!t.contains("faults") && !t.contains("ctxsw"), "{t}");
    }

    #[test]
    fn delay_table_rows_and_columns() {
        let table = delay_table(&pid1().stats);
        let lines: Vec<&str> = table.lines().collect();
        let names: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(
            names,
            [
                "delay",
                "CPU",
                "IO",
                "SWAP",
                "RECLAIM",
                "THRASHING",
                "COMPACT",
                "WPCOPY",
                "IRQ"
            ]
        );
        assert!(
            lines.iter().all(|l| l.len() == lines[0].len()),
            "aligned:\n{table}"
        );
        let cpu: Vec<&str> = lines[1].split_whitespace().collect();
        // 17045851 ns = 17.046 ms over 374 delays = 0.046 ms each.
        assert_eq!(&cpu[..4], ["CPU", "374", "17.046", "0.046"]);
        assert_eq!(
            lines[2].split_whitespace().nth(3),
            Some("-"),
            "no average of no delays"
        );
    }

    #[test]
    fn old_structs_show_only_what_they_carry() {
        let v14 = synthetic(14);
        let s = Taskstats::new(&v14).unwrap();
        let table = delay_table(&s);
        assert_eq!(table.lines().count(), 9, "{table}");
        let cpu: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(
            cpu,
            ["CPU", "1000", "0.001", "0.000", "-", "-"],
            "no max/min before v15"
        );
        let v9 = synthetic(9);
        let table = delay_table(&Taskstats::new(&v9).unwrap());
        assert_eq!(
            table.lines().last().unwrap().split(' ').next(),
            Some("THRASHING")
        );
        let v17 = synthetic(17);
        let table = delay_table(&Taskstats::new(&v17).unwrap());
        assert!(
            table.lines().next().unwrap().ends_with("  max at (UTC)"),
            "{table}"
        );
    }

    #[test]
    fn line_from_a_real_reply() {
        let l = line(&pid1(), Kind::Pid);
        assert!(
            l.starts_with("pid=1 tgid=1 ppid=0 uid=0 gid=0 comm=process_api exit=0 "),
            "{l}"
        );
        assert!(
            l.contains(" cpu_delay_count=374 cpu_delay_ns=17045851 "),
            "{l}"
        );
        assert!(!l.contains('\n'));
        let t = line(&pid1(), Kind::Tgid);
        assert!(t.starts_with("tgid=1 comm=process_api etime_us="), "{t}");
    }

    #[test]
    fn cgroup_line() {
        let c = CgroupStats {
            nr_sleeping: 5,
            nr_running: 1,
            nr_stopped: 0,
            nr_uninterruptible: 2,
            nr_io_wait: 3,
        };
        assert_eq!(
            cgroup(&c),
            "sleeping 5  running 1  stopped 0  uninterruptible 2  io_wait 3\n"
        );
    }
}
