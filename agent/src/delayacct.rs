//! The `kernel.task_delayacct` switch: off by default since Linux 5.14, and then every
//! delay but CPU reads zero. Say so once, and offer to turn it on.

use std::io::Write;
use std::path::Path;

/// Where the switch lives.
pub const SYSCTL: &str = "/proc/sys/kernel/task_delayacct";

/// The one-line notice shown when delay accounting is off.
pub const NOTICE: &str = "note: delay accounting is off (kernel.task_delayacct = 0): all delays \
                          except CPU read zero. Turn it on with `sysctl \
                          kernel.task_delayacct=1`, the boot option `delayacct`, or \
                          --enable-delayacct; only tasks started afterwards are counted.";

/// The switch's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Delays are being accounted.
    On,
    /// Delays other than CPU are not accounted.
    Off,
    /// No switch: kernels before 5.14 account whenever CONFIG_TASK_DELAY_ACCT is on.
    Unknown,
}

/// Parses the file's content ("0\n" or "1\n").
pub fn parse(content: &str) -> State {
    match taskwire_cli::textfile::trim(content) {
        "0" => State::Off,
        "" => State::Unknown,
        _ => State::On,
    }
}

/// Reads the switch at `path`.
pub fn read_at(path: &Path) -> State {
    taskwire_cli::textfile::read(path).map_or(State::Unknown, |s| parse(&s))
}

/// The switch now, as the stream carries it (`StreamHeader.delay_accounting`,
/// `Interval.delay_accounting`): `Some(on)`, or `None` when there is no switch.
pub fn switch_now() -> Option<bool> {
    match read_at(Path::new(SYSCTL)) {
        State::On => Some(true),
        State::Off => Some(false),
        State::Unknown => None,
    }
}

/// Turns delay accounting on (needs CAP_SYS_ADMIN).
pub fn enable() -> Result<(), String> {
    taskwire_cli::textfile::write(SYSCTL.as_ref(), b"1\n").map_err(|e| {
        format!("cannot enable delay accounting ({SYSCTL}: {e}); run as root or use `sysctl`")
    })
}

/// Applies `--enable-delayacct` when asked, then warns on `err` if accounting is still off.
pub fn prepare(enable_requested: bool, err: &mut dyn Write) -> Result<State, String> {
    if enable_requested {
        enable()?;
    }
    let state = read_at(Path::new(SYSCTL));
    if state == State::Off {
        // The notice is advice: a closed stderr must not stop the command.
        let _ = err
            .write_all(NOTICE.as_bytes())
            .and_then(|()| err.write_all(b"\n"));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_switch() {
        assert_eq!(parse("0\n"), State::Off);
        assert_eq!(parse("1\n"), State::On);
        assert_eq!(parse(""), State::Unknown);
    }

    #[test]
    fn missing_file_is_unknown() {
        assert_eq!(
            read_at(Path::new("/nonexistent/task_delayacct")),
            State::Unknown
        );
    }

    #[test]
    fn notice_says_how_to_turn_it_on() {
        for needle in [
            "sysctl kernel.task_delayacct=1",
            "delayacct`",
            "--enable-delayacct",
        ] {
            assert!(NOTICE.contains(needle), "{needle}");
        }
    }
}
