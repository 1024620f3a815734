//! The stream header's facts about this board, read once at start.

use taskwire_core::wire::{BOARD_ID_CAP, StreamHeader};

use crate::{cpus, delayacct};

/// What the header says beyond the constants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `--id`, else the hostname.
    pub board_id: String,
    /// `uname -r`.
    pub kernel_release: String,
    /// The kernel's `struct taskstats` version; 0 = not known.
    pub taskstats_version: u16,
    /// `kernel.task_delayacct`; None = no such switch or unreadable.
    pub delay_accounting: Option<bool>,
    /// The possible-CPUs cpulist text.
    pub possible_cpus: String,
    /// Boot time, seconds since the Unix epoch; 0 = not known.
    pub boot_time: u64,
}

impl Facts {
    /// Reads this machine's facts; `id` overrides the hostname.
    pub fn read(id: Option<&str>, taskstats_version: u16) -> Facts {
        let uts = rustix::system::uname();
        let text = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
        Facts {
            board_id: id.map_or_else(|| text(uts.nodename()), str::to_owned),
            kernel_release: text(uts.release()),
            taskstats_version,
            delay_accounting: delayacct::switch_now(),
            possible_cpus: taskwire_cli::textfile::read(cpus::POSSIBLE.as_ref())
                .map(|s| taskwire_cli::textfile::trim(&s).to_owned())
                .unwrap_or_default(),
            boot_time: taskwire_cli::textfile::read("/proc/stat".as_ref())
                .ok()
                .and_then(|s| btime(&s))
                .unwrap_or(0),
        }
    }

    /// The header frame's message, with a new stream instance: called once per run (the
    /// writer resends this one header after every reconnect). Text longer than a field's
    /// capacity is cut at a character boundary (only `--id` can be, and the command
    /// refuses that earlier).
    pub fn header(&self) -> StreamHeader {
        let mut h = StreamHeader::new();
        fill(|c| h.agent_version.push(c), env!("CARGO_PKG_VERSION"));
        fill(|c| h.board_id.push(c), &self.board_id);
        fill(|c| h.kernel_release.push(c), &self.kernel_release);
        fill(|c| h.possible_cpus.push(c), &self.possible_cpus);
        h.taskstats_version = self.taskstats_version;
        h.delay_accounting = self.delay_accounting;
        h.boot_time = self.boot_time;
        h.instance = instance();
        h
    }
}

/// A random stream instance from the kernel, never 0 (0 means "not sent"). Read once per
/// run, so every reconnect of this run sends the same one and a restart a new one. Mixed
/// with the pid, so that two runs still differ on a kernel without `getrandom` (before
/// 3.17).
fn instance() -> u64 {
    let mut b = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty());
    (u64::from_ne_bytes(b) ^ u64::from(std::process::id())).max(1)
}

/// Checks a `--id` value: non-empty, fits the header field.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("--id must not be empty".into());
    }
    if id.len() > BOARD_ID_CAP {
        return Err(format!(
            "--id '{id}' is {} bytes; the stream header holds {BOARD_ID_CAP}",
            id.len()
        ));
    }
    Ok(())
}

/// The `btime` line of /proc/stat: boot time in seconds since the epoch.
pub fn btime(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| taskwire_cli::textfile::trim(v).parse().ok())
}

/// Pushes the characters of `src` until one does not fit (the header's strings are
/// fixed-capacity).
fn fill<E>(mut push: impl FnMut(char) -> Result<(), E>, src: &str) {
    for c in src.chars() {
        if push(c).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_core::wire::{MAGIC, SCHEMA_HASH, WIRE_VERSION};

    #[test]
    fn btime_line() {
        assert_eq!(
            btime("cpu 1 2\nbtime 1732600000\nprocesses 5\n"),
            Some(1_732_600_000)
        );
        assert_eq!(btime("cpu 1 2\n"), None);
        assert_eq!(btime("btime x\n"), None);
    }

    #[test]
    fn this_machine() {
        let f = Facts::read(None, 16);
        assert!(!f.board_id.is_empty());
        assert!(
            f.kernel_release
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        );
        assert!(f.boot_time > 1_000_000_000, "{}", f.boot_time);
        assert!(f.possible_cpus.starts_with('0'), "{}", f.possible_cpus);
        // An instance per run, never 0; another run (a restart) picks another.
        let h = f.header();
        assert_ne!(h.instance, 0);
        assert_ne!(f.header().instance, h.instance);
        assert_eq!(
            (h.magic, h.wire_version, h.schema_hash),
            (MAGIC, WIRE_VERSION, SCHEMA_HASH)
        );
        assert_eq!(h.agent_version.as_str(), env!("CARGO_PKG_VERSION"));
        assert_eq!(h.taskstats_version, 16);
        assert_eq!(
            Facts::read(Some("board-7"), 0).header().board_id.as_str(),
            "board-7"
        );
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let f = Facts {
            board_id: "é".repeat(40),
            ..Facts::default()
        };
        let h = f.header();
        assert_eq!(h.board_id.len(), 64);
        assert!(h.board_id.chars().all(|c| c == 'é'));
        assert!(check_id(&"x".repeat(65)).is_err());
        assert!(check_id("").is_err());
        assert!(check_id(&"x".repeat(64)).is_ok());
    }
}
