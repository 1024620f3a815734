//! Paragraphs that every board command's `--help` ends with, kept in one place so that
//! they cannot drift apart. Commands whose exit statuses differ (`stream`, `decode`) say
//! their own.

/// The exit statuses of the board commands.
pub const EXIT_STATUS: &str = "\
Exit status:
  0  success
  1  runtime error (the kernel refused, no such task, I/O error)
  2  usage error (bad option, pid, CPU list or path)
";

/// What taskstats needs and how to grant it.
pub const PRIVILEGE: &str = "\
Taskstats needs CAP_NET_ADMIN: run as root, or `setcap cap_net_admin+ep taskwire`.
";

/// Where exit records can be registered for (`listen`, `stream`).
pub const REGISTRATION: &str = "\
Registration also needs the initial user and pid namespaces, and exit records
reach only the initial network namespace.
";
