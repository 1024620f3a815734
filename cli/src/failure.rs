//! Failures a user can act on, and the exit codes they map to.

use std::fmt;

/// Exit status for a runtime failure (kernel refused, I/O error, no such task).
pub const EXIT_RUNTIME: i32 = 1;
/// Exit status for a usage error (bad option, malformed pid, cpulist or path).
pub const EXIT_USAGE: i32 = 2;

/// Why a command stopped short of success.
#[derive(Debug)]
pub enum Failure {
    /// The command line is wrong; exit status 2.
    Usage {
        /// The command whose --help explains the fix.
        cmd: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// Something failed at run time; exit status 1.
    Runtime(String),
}

impl Failure {
    /// A usage error of `cmd`.
    pub fn usage(cmd: &'static str, msg: impl Into<String>) -> Self {
        Failure::Usage {
            cmd,
            msg: msg.into(),
        }
    }

    /// The process exit status for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Usage { .. } => EXIT_USAGE,
            Failure::Runtime(_) => EXIT_RUNTIME,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage { cmd, msg } => {
                // The command's own name, `taskwire` or `getdelays`, stands alone.
                let prefix = match *cmd {
                    "taskwire" | "getdelays" => "",
                    _ => "taskwire ",
                };
                write!(f, "{msg} (see `{prefix}{cmd} --help`)")
            }
            Failure::Runtime(msg) => f.write_str(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(Failure::usage("get", "bad").exit_code(), 2);
        assert_eq!(Failure::Runtime("x".into()).exit_code(), 1);
    }

    #[test]
    fn usage_points_at_help() {
        let s = Failure::usage("listen", "invalid --count").to_string();
        assert!(s.ends_with("(see `taskwire listen --help`)"), "{s}");
        let s = Failure::usage("getdelays", "x").to_string();
        assert!(s.ends_with("(see `getdelays --help`)"), "{s}");
    }
}
