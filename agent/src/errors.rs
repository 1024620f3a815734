//! Failures a user can act on, and the exit codes they map to.
//!
//! The codec reports `taskwire_core::Error` and the kernel an errno; neither says what to
//! do. This module turns (what we were doing, what went wrong) into one line that does.

use std::fmt;

use rustix::io::Errno;
use taskwire_cli::Failure;

/// Ways to grant taskwire the capability taskstats needs.
pub const NEED_CAP: &str = "taskstats needs CAP_NET_ADMIN: run as root, or grant it with \
                            `setcap cap_net_admin+ep /path/to/taskwire`";

/// What a system call or netlink request was for; decides how an errno is explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// socket() and bind().
    Socket,
    /// Resolving the TASKSTATS family through nlctrl.
    Family,
    /// GET for one thread.
    GetPid(u32),
    /// GET for a thread group.
    GetTgid(u32),
    /// REGISTER_CPUMASK.
    Register,
    /// DEREGISTER_CPUMASK.
    Deregister,
    /// CGROUPSTATS_CMD_GET.
    Cgroup,
    /// Waiting for or reading a datagram.
    Recv,
    /// Setting the receive buffer size.
    RecvBuffer,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Socket => f.write_str("opening the netlink socket"),
            Op::Family => f.write_str("resolving the TASKSTATS family"),
            Op::GetPid(p) => write!(f, "querying pid {p}"),
            Op::GetTgid(p) => write!(f, "querying tgid {p}"),
            Op::Register => f.write_str("registering for exit records"),
            Op::Deregister => f.write_str("deregistering"),
            Op::Cgroup => f.write_str("querying cgroupstats"),
            Op::Recv => f.write_str("receiving from the kernel"),
            Op::RecvBuffer => f.write_str("setting the receive buffer size"),
        }
    }
}

/// A failed exchange with the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// A system call failed, or the kernel answered with this errno.
    Os {
        /// What was being done.
        op: Op,
        /// Why it failed.
        errno: Errno,
    },
    /// A reply did not decode.
    Decode {
        /// What was being done.
        op: Op,
        /// The codec's complaint.
        error: taskwire_core::Error,
    },
    /// A reply was longer than the receive buffer (its real length in bytes).
    Truncated {
        /// What was being done.
        op: Op,
        /// The datagram's real length, in bytes.
        len: usize,
    },
    /// The kernel did not answer in time.
    Timeout {
        /// What was being done.
        op: Op,
    },
    /// Registered, but no exit record arrives, not even of a thread of ours that exited
    /// on a registered CPU (`crate::probe`).
    Deaf,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ClientError::Os { op, errno } => write_explained(f, op, errno),
            ClientError::Decode { op, error } => {
                write!(f, "{op}: the kernel's reply does not decode: {error}")
            }
            ClientError::Truncated { op, len } => write!(
                f,
                "{op}: a {len}-byte message did not fit the receive buffer and was dropped"
            ),
            ClientError::Timeout { op } => write!(f, "{op}: no answer from the kernel"),
            ClientError::Deaf => f.write_str(
                "registered, but no exit record arrives, not even of a thread of taskwire \
                 that exited: the kernel sends them to the initial network namespace only. \
                 Run taskwire in the host's network namespace (not under unshare -n, ip \
                 netns exec, or a container with a network of its own)",
            ),
        }
    }
}

/// One line saying what went wrong and what to do about it.
#[cfg(test)]
pub fn explain(op: Op, errno: Errno) -> String {
    ClientError::Os { op, errno }.to_string()
}

/// Writes [`ClientError::Os`]'s line: most say `{op}: ` and then what to do, written once
/// here rather than formatted per case.
fn write_explained(f: &mut fmt::Formatter<'_>, op: Op, errno: Errno) -> fmt::Result {
    let what = match (op, errno) {
        (Op::Socket, e) if crate::socket::unavailable(e) => {
            return write!(
                f,
                "{op}: generic netlink is unavailable here ({errno}): a kernel without \
                 CONFIG_NET/netlink, or an emulator such as qemu-user that does not forward it"
            );
        }
        (_, Errno::PERM | Errno::ACCESS) => {
            return write!(f, "{op}: permission denied: {NEED_CAP}");
        }
        (Op::GetPid(p), Errno::SRCH) => return write!(f, "no such task: pid {p}"),
        (Op::GetTgid(p), Errno::SRCH) => return write!(f, "no such task: tgid {p}"),
        (Op::Family, Errno::NOENT) => {
            "the kernel does not offer it: a kernel without CONFIG_TASKSTATS, or taskwire is \
             not in the initial network namespace"
        }
        (Op::Register, Errno::INVAL) => {
            "the kernel refused (EINVAL): exit records are only served to the initial user \
             and pid namespaces, and every CPU must be in /sys/devices/system/cpu/possible"
        }
        // Seen on 6.18 for CPUs beyond the possible set (core/fixtures/error_erange.bin).
        (Op::Register, Errno::RANGE) => {
            "the kernel refused (ERANGE): the CPU list names CPUs outside \
             /sys/devices/system/cpu/possible"
        }
        (Op::Register, Errno::TOOBIG) => "the CPU list is too long for the kernel",
        (Op::Cgroup, Errno::INVAL) => {
            "the kernel refused (EINVAL): it serves cgroupstats for cgroup v1 directories only"
        }
        (_, Errno::NOBUFS) => {
            "the receive buffer overflowed and records were lost (ENOBUFS); raise --rcvbuf"
        }
        _ => return write!(f, "{op}: {errno}"),
    };
    write!(f, "{op}: {what}")
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Runtime(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_map_to_actions() {
        assert!(explain(Op::GetPid(7), Errno::PERM).contains("CAP_NET_ADMIN"));
        assert!(explain(Op::Register, Errno::PERM).contains("setcap cap_net_admin+ep"));
        assert_eq!(explain(Op::GetPid(42), Errno::SRCH), "no such task: pid 42");
        assert_eq!(explain(Op::GetTgid(9), Errno::SRCH), "no such task: tgid 9");
        let e = explain(Op::Family, Errno::NOENT);
        assert!(
            e.contains("CONFIG_TASKSTATS") && e.contains("network namespace"),
            "{e}"
        );
        let e = explain(Op::Register, Errno::INVAL);
        assert!(e.contains("namespace") && e.contains("possible"), "{e}");
        let e = explain(Op::Register, Errno::RANGE);
        assert!(e.contains("ERANGE") && e.contains("possible"), "{e}");
        assert!(explain(Op::Cgroup, Errno::INVAL).contains("cgroup v1"));
        assert!(explain(Op::Socket, Errno::PROTONOSUPPORT).contains("qemu-user"));
        assert!(explain(Op::Recv, Errno::NOBUFS).contains("--rcvbuf"));
    }

    #[test]
    fn unknown_errno_names_the_operation() {
        let e = explain(Op::Deregister, Errno::BADF);
        assert!(e.starts_with("deregistering: "), "{e}");
    }

    #[test]
    fn client_errors_are_runtime_failures() {
        let f: Failure = ClientError::Os {
            op: Op::GetPid(3),
            errno: Errno::SRCH,
        }
        .into();
        assert_eq!(f.exit_code(), 1);
        assert_eq!(f.to_string(), "no such task: pid 3");
    }
}
