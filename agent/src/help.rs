//! `--help` texts.

/// Exit status paragraph shared by every command's help.
const EXIT: &str = "\
Exit status:
  0  success
  1  runtime error (the kernel refused, no such task, I/O error)
  2  usage error (bad option, pid, CPU list or path)
";

const PRIVILEGE: &str = "\
Taskstats needs CAP_NET_ADMIN: run as root, or `setcap cap_net_admin+ep taskwire`.
";

/// `taskwire --help`.
pub fn main(commands: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "taskwire: per-task delay and exit accounting from the Linux taskstats interface\n\n\
         Usage: taskwire COMMAND [OPTIONS]\n       taskwire --help | --version\n\nCommands:\n",
    );
    for (name, summary) in commands {
        s.push_str(&format!("  {name:<10} {summary}\n"));
    }
    s.push_str(
        "\nRun `taskwire COMMAND --help` for a command's options. Invoked as `getdelays`,\n\
         taskwire behaves like the kernel's getdelays tool.\n\n",
    );
    s.push_str(PRIVILEGE);
    s.push('\n');
    s.push_str(EXIT);
    s
}

/// `taskwire get --help`.
pub fn get() -> String {
    format!(
        "Usage: taskwire get (--pid N | --tgid N) [--io] [--ctxsw] [--format text|json]\n\
         \x20                   [--enable-delayacct]\n\n\
         Queries the statistics of a live task (--pid, one thread) or thread group (--tgid,\n\
         the sum over its threads) and prints its delay table: count, total, average and,\n\
         where the kernel's struct carries them, max and min of each delay category\n\
         (CPU, IO, SWAP, RECLAIM, THRASHING, COMPACT, WPCOPY, IRQ).\n\n\
         Options:\n\
         \x20 --pid N              a thread id (1 to 4194304)\n\
         \x20 --tgid N             a thread group (process) id\n\
         \x20 --io                 also print storage I/O: read, write, cancelled-write bytes\n\
         \x20 --ctxsw              also print voluntary and involuntary context switches\n\
         \x20 --format text|json   json prints one object with every decoded field\n\
         \x20 --enable-delayacct   set kernel.task_delayacct=1 first (needs root)\n\
         \x20 -h, --help           this text\n\n{PRIVILEGE}\n{EXIT}"
    )
}

/// `taskwire run --help`.
pub fn run() -> String {
    format!(
        "Usage: taskwire run [--io] [--ctxsw] [--format text|json] [--enable-delayacct]\n\
         \x20                   [--] CMD [ARGS...]\n\n\
         Runs CMD, takes its statistics after it exits but before it is reaped (as\n\
         getdelays -c does), prints them, and exits with CMD's own status: its exit code,\n\
         or 128+N when signal N killed it. Ctrl-C and Ctrl-\\ reach CMD; taskwire waits to\n\
         report. If the statistics cannot be taken, taskwire says why and exits 1 when CMD\n\
         succeeded, or with CMD's status when CMD failed. A CMD that cannot be started\n\
         exits 127 (not found) or 126 (not executable).\n\n\
         Options:\n\
         \x20 --io                 also print storage I/O bytes\n\
         \x20 --ctxsw              also print context switch counts\n\
         \x20 --format text|json   output format (printed to stdout)\n\
         \x20 --enable-delayacct   set kernel.task_delayacct=1 before starting CMD\n\
         \x20 -h, --help           this text\n\n{PRIVILEGE}\n{EXIT}"
    )
}

/// `taskwire cgroup --help`.
pub fn cgroup() -> String {
    format!(
        "Usage: taskwire cgroup [--format text|json] PATH\n\n\
         Prints how many tasks of a cgroup v1 directory are sleeping, running, stopped, in\n\
         uninterruptible sleep and waiting for I/O. The kernel serves cgroupstats for\n\
         cgroup v1 only: a cgroup v2 path is refused.\n\n\
         Options:\n\
         \x20 --format text|json   output format\n\
         \x20 -h, --help           this text\n\n{PRIVILEGE}\n{EXIT}"
    )
}

/// `taskwire listen --help`.
pub fn listen() -> String {
    format!(
        "Usage: taskwire listen [--cpus LIST|all] [--rcvbuf BYTES] [--format text|json]\n\
         \x20                      [--count N] [--enable-delayacct]\n\n\
         Registers for the exit records of the given CPUs and prints one line (or JSON\n\
         object) per record: one per exiting task, plus one per thread group when the last\n\
         thread of a multi-threaded process exits. Stops on SIGINT/SIGTERM or after N\n\
         records, deregisters, prints a summary (records, loss events) on stderr, exits 0.\n\
         When the receive buffer overflows the kernel drops records (ENOBUFS): each such\n\
         loss event is counted and reported; a larger --rcvbuf helps.\n\n\
         Options:\n\
         \x20 --cpus LIST|all      CPUs such as 0-3,5; all (default) means every CPU in\n\
         \x20                      /sys/devices/system/cpu/possible\n\
         \x20 --rcvbuf BYTES       receive buffer, e.g. 4M (SO_RCVBUFFORCE when privileged;\n\
         \x20                      default RAM/64, between 256K and 16M)\n\
         \x20 --count N            stop after N records\n\
         \x20 --format text|json   output format\n\
         \x20 --enable-delayacct   set kernel.task_delayacct=1 first (needs root)\n\
         \x20 -h, --help           this text\n\n\
         Registration also needs the initial user and pid namespaces, and exit records\n\
         reach only the initial network namespace.\n{PRIVILEGE}\n{EXIT}"
    )
}

/// `getdelays --help` (taskwire's getdelays mode).
pub fn getdelays() -> String {
    format!(
        "Usage: getdelays [-dilqv] [-w logfile] [-r bufsize] [-m cpumask] [-t tgid]\n\
         \x20                [-p pid] [-c cmd [args...]] [-C container]\n\n\
         taskwire's implementation of the kernel's tools/accounting/getdelays, with the\n\
         same options and text layout.\n\n\
         \x20 -d        print delay accounting statistics\n\
         \x20 -i        print I/O accounting\n\
         \x20 -q        print context switch counts\n\
         \x20 -l        listen forever (with -m)\n\
         \x20 -v        debug output\n\
         \x20 -w FILE   also write the records to FILE as a taskwire record stream\n\
         \x20 -r SIZE   receive buffer size in bytes\n\
         \x20 -m LIST   register for exit records of the CPUs in LIST\n\
         \x20 -t TGID   query a thread group\n\
         \x20 -p PID    query a thread\n\
         \x20 -c CMD    run CMD (the rest of the line) and report it when it exits\n\
         \x20 -C PATH   cgroupstats of a cgroup v1 directory\n\
         \x20 -h        this text\n\n{PRIVILEGE}\n{EXIT}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_help_documents_exit_codes() {
        for text in [
            get(),
            run(),
            cgroup(),
            listen(),
            getdelays(),
            main(&[("get", "x")]),
        ] {
            assert!(text.contains("2  usage error"), "{text}");
            assert!(text.contains("CAP_NET_ADMIN"), "{text}");
        }
    }

    #[test]
    fn main_help_lists_commands() {
        let text = main(&[("get", "query one task"), ("listen", "exit records")]);
        assert!(text.contains("  get        query one task\n"), "{text}");
        assert!(text.contains("  listen     exit records\n"), "{text}");
    }
}
