//! Which CPUs to listen on: `all`, or a cpulist checked against the possible set before
//! the kernel sees it, so that a bad CPU is named instead of an opaque EINVAL.

use taskwire_cli::textfile;
use taskwire_core::cpulist::CpuSet;

/// The kernel's list of CPUs that can ever come online.
pub const POSSIBLE: &str = "/sys/devices/system/cpu/possible";

/// A `--cpus` (or getdelays `-m`) argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuArg {
    /// Every possible CPU.
    All,
    /// An explicit list, already parsed (boxed: a set is 1 KiB).
    List(Box<CpuSet>),
}

impl CpuArg {
    /// Parses `all` or a cpulist such as `0-3,5`.
    pub fn parse(s: &str) -> Result<CpuArg, String> {
        if s == "all" {
            return Ok(CpuArg::All);
        }
        CpuSet::parse(s)
            .map(|set| CpuArg::List(Box::new(set)))
            .map_err(|e| format!("invalid CPU list '{s}': {e}"))
    }
}

/// Reads the possible CPUs.
pub fn possible() -> Result<CpuSet, String> {
    let text =
        taskwire_cli::textfile::read(POSSIBLE.as_ref()).map_err(|e| format!("{POSSIBLE}: {e}"))?;
    CpuSet::parse(textfile::trim(&text))
        .map_err(|e| format!("{POSSIBLE}: cannot parse '{}': {e}", textfile::trim(&text)))
}

/// The CPUs to register for, or a message naming those that are not possible.
pub fn resolve(arg: &CpuArg, possible: &CpuSet) -> Result<CpuSet, String> {
    match arg {
        CpuArg::All => Ok(possible.clone()),
        CpuArg::List(set) if set.is_subset_of(possible) => Ok((**set).clone()),
        CpuArg::List(set) => Err(format!(
            "CPU {} not possible on this machine (possible: {possible}, from {POSSIBLE})",
            set.difference(possible)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> CpuSet {
        CpuSet::parse(s).unwrap()
    }

    #[test]
    fn all_means_possible() {
        assert_eq!(resolve(&CpuArg::All, &set("0-3")).unwrap(), set("0-3"));
    }

    #[test]
    fn subset_passes_and_outsiders_are_named() {
        let possible = set("0-3");
        assert_eq!(
            resolve(&CpuArg::parse("1,3").unwrap(), &possible).unwrap(),
            set("1,3")
        );
        let e = resolve(&CpuArg::parse("2-6").unwrap(), &possible).unwrap_err();
        assert!(e.starts_with("CPU 4-6 not possible"), "{e}");
        assert!(e.contains("possible: 0-3"), "{e}");
    }

    #[test]
    fn malformed_lists_are_rejected() {
        for bad in ["", "x", "3-1", "1,,2", "-1", "0-", "1 2"] {
            let e = CpuArg::parse(bad).unwrap_err();
            assert!(e.contains("invalid CPU list"), "{bad}: {e}");
        }
    }

    #[test]
    fn this_machine_has_possible_cpus() {
        match possible() {
            Ok(p) => assert!(p.count() > 0),
            Err(e) => eprintln!("skipped: {e}"),
        }
    }
}
