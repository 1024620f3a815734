//! Reading /proc and cgroup member lists into fixed buffers: the task list under `top`
//! (issue 11).
//!
//! A sweep visits every task of the system every interval, on a small board, so nothing
//! here allocates per task: directory entries come from getdents into a caller's
//! [`DirBuf`] (rustix's `Dir` allocates a `CString` per entry), a stat line is read into a
//! caller's [`StatBuf`], and paths are formatted on the stack relative to one /proc
//! descriptor opened once. A task that exits between being listed and being read is the
//! ordinary case of a sweep and comes back as `Ok(None)`, never as an error. Pids are
//! reused, so a task is known by its [`Identity`]: pid and start time together.
//!
//! Cgroup member lists ([`Members`]) are read recursively into a vector the caller keeps
//! across sweeps, so it only grows when the cgroup does.

use std::ffi::{CStr, OsString};
use std::fmt;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, FileType, Mode, OFlags, RawDir, openat};
use rustix::io::{Errno, read, retry_on_intr};

/// Bytes of a [`DirBuf`]: a getdents batch. A /proc entry takes about 24 bytes, so one
/// call lists some 150 tasks; any name up to NAME_MAX fits.
pub const DIR_BUF_LEN: usize = 4096;

/// Bytes of a [`StatBuf`]. The fields parsed end well inside it even in the worst case
/// (a 63-byte comm, the kernel's limit, then 20 fields of at most 21 characters); a longer
/// line is read as its prefix.
pub const STAT_BUF_LEN: usize = 1024;

/// Cgroup directories deeper than this below the starting one are an error rather than a
/// stack that grows with the hierarchy: each level holds a getdents buffer on the stack.
pub const MAX_CGROUP_DEPTH: usize = 32;

/// Bytes of one level's getdents buffer in the cgroup walk: three or more entries.
const LEVEL_BUF_LEN: usize = 1024;

/// The longest relative path formatted here: "4294967295/task/4294967295/stat" and a NUL.
const REL_PATH_LEN: usize = 40;

/// A getdents buffer reused across sweeps; one per directory being walked at a time
/// (thread groups and one group's threads make two).
#[repr(align(8))]
pub struct DirBuf([MaybeUninit<u8>; DIR_BUF_LEN]);

impl DirBuf {
    /// An empty buffer.
    pub const fn new() -> Self {
        DirBuf([MaybeUninit::uninit(); DIR_BUF_LEN])
    }
}

impl Default for DirBuf {
    fn default() -> Self {
        Self::new()
    }
}

/// A stat line's buffer, reused across sweeps; a [`Stat`] borrows its comm from it.
pub struct StatBuf([u8; STAT_BUF_LEN]);

impl StatBuf {
    /// An empty buffer.
    pub const fn new() -> Self {
        StatBuf([0; STAT_BUF_LEN])
    }
}

impl Default for StatBuf {
    fn default() -> Self {
        Self::new()
    }
}

/// What went wrong reading /proc or a cgroup directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A system call failed.
    Os(Errno),
    /// A stat line did not parse.
    Stat(Malformed),
    /// A cgroup member file held something other than one decimal id per line.
    NotAnId,
    /// The cgroup hierarchy is deeper than [`MAX_CGROUP_DEPTH`] below the start.
    TooDeep,
}

/// A failure, with the path it happened on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    path: PathBuf,
    kind: ErrorKind,
}

impl Error {
    /// The file or directory being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.kind {
            ErrorKind::Os(Errno::NOENT) => write!(f, "{path}: no such file or directory"),
            ErrorKind::Os(Errno::ACCESS | Errno::PERM) => write!(f, "{path}: permission denied"),
            ErrorKind::Os(e) => write!(f, "{path}: {e}"),
            ErrorKind::Stat(m) => write!(f, "{path}: unexpected stat line: {m}"),
            ErrorKind::NotAnId => write!(f, "{path}: a line that is not a decimal id"),
            ErrorKind::TooDeep => write!(
                f,
                "{path}: cgroups nested more than {MAX_CGROUP_DEPTH} levels deep"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Appends `/name` to the path bytes `path`, as `PathBuf::push` does for a relative name
/// (no separator after an empty path or a trailing one). Paths are built as bytes here:
/// std's `PathBuf::push`, `pop` and `join` parse components, which a sweep does not need.
pub(crate) fn push_name(path: &mut Vec<u8>, name: &[u8]) {
    if path.last().is_some_and(|&b| b != b'/') {
        path.push(b'/');
    }
    path.extend_from_slice(name);
}

/// Path bytes as a `PathBuf`, without copying.
fn path_buf(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes))
}

impl From<Error> for taskwire_cli::Failure {
    fn from(e: Error) -> Self {
        taskwire_cli::Failure::Runtime(e.to_string())
    }
}

/// Why a stat line did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// No "(comm)" in the line.
    NoComm,
    /// The line ends before this field (numbered as in proc(5)).
    Missing(u8),
    /// This field is not what proc(5) says it is.
    Bad(u8),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::NoComm => f.write_str("no (comm)"),
            Malformed::Missing(n) => write!(f, "field {n} missing"),
            Malformed::Bad(n) => write!(f, "field {n} malformed"),
        }
    }
}

/// A task for good: pids are reused, start times within one boot are not reused for the
/// same pid, so a pid seen again with another start time is another task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    /// Process (thread group) id or thread id.
    pub pid: u32,
    /// Start time, in clock ticks since boot (stat field 22).
    pub starttime: u64,
}

/// What `top` takes from /proc/PID/stat; `comm` borrows the [`StatBuf`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat<'a> {
    /// The command name as the kernel keeps it: any bytes but NUL, not always UTF-8.
    pub comm: &'a [u8],
    /// The state letter as the kernel prints it (R running, S sleeping, D disk sleep,
    /// Z zombie, ...).
    pub state: u8,
    /// Start time, in clock ticks since boot (field 22).
    pub starttime: u64,
}

impl Stat<'_> {
    /// The task's identity, given the pid it was read for.
    pub fn identity(&self, pid: u32) -> Identity {
        Identity {
            pid,
            starttime: self.starttime,
        }
    }
}

/// Field 22 of proc(5), counted from the state letter, which is field 3.
const STARTTIME_FIELD: u8 = 22;

/// Parses a /proc/PID/stat line, or any prefix of one that reaches field 22.
///
/// comm sits between the first '(' and the last ')': it may itself hold spaces,
/// parentheses and newlines, and everything after it is numbers and one letter.
pub fn parse_stat(line: &[u8]) -> Result<Stat<'_>, Malformed> {
    let open = line.iter().position(|&b| b == b'(');
    let close = line.iter().rposition(|&b| b == b')');
    let (open, close) = match (open, close) {
        (Some(o), Some(c)) if o < c => (o, c),
        _ => return Err(Malformed::NoComm),
    };
    let mut fields = line[close + 1..]
        .split(u8::is_ascii_whitespace)
        .filter(|f| !f.is_empty());
    let state = match fields.next() {
        Some(&[s]) if s.is_ascii_alphabetic() => s,
        Some(_) => return Err(Malformed::Bad(3)),
        None => return Err(Malformed::Missing(3)),
    };
    let starttime = fields
        .nth(usize::from(STARTTIME_FIELD - 4))
        .ok_or(Malformed::Missing(STARTTIME_FIELD))?;
    let starttime = parse_decimal(starttime).ok_or(Malformed::Bad(STARTTIME_FIELD))?;
    Ok(Stat {
        comm: &line[open + 1..close],
        state,
        starttime,
    })
}

/// A decimal number of ASCII digits only, without overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// The pid a /proc directory name stands for: canonical decimal, nonzero, fits u32;
/// "self", "sys" and the like are not tasks.
pub fn parse_pid(name: &[u8]) -> Option<u32> {
    if name.first() == Some(&b'0') || name.len() > 10 {
        return None;
    }
    parse_decimal(name)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n != 0)
}

/// Errnos that mean the task or cgroup went away while we looked: a normal outcome of a
/// sweep. kernfs answers ENODEV for a removed cgroup's open files.
fn vanished(e: Errno) -> bool {
    matches!(e, Errno::NOENT | Errno::SRCH | Errno::NODEV)
}

/// A path relative to the /proc descriptor, NUL-terminated, on the stack.
#[derive(Clone, Copy)]
struct RelPath {
    buf: [u8; REL_PATH_LEN],
    len: usize,
}

impl RelPath {
    fn new() -> Self {
        RelPath {
            buf: [0; REL_PATH_LEN],
            len: 0,
        }
    }

    fn push(mut self, s: &[u8]) -> Self {
        // Only this module builds these, from at most two u32s and fixed names that fit
        // by REL_PATH_LEN; cutting short rather than panicking keeps that a local promise.
        let room = REL_PATH_LEN - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        self
    }

    fn num(self, n: u32) -> Self {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        let mut n = n;
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..])
    }

    fn as_cstr(&self) -> &CStr {
        // The buffer is zeroed beyond len and len < REL_PATH_LEN, so a NUL follows.
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"")
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Which task's stat to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// A thread group, /proc/TGID/stat: its times summed over its threads.
    Group(u32),
    /// One thread, /proc/TGID/task/TID/stat.
    Thread {
        /// The thread group.
        tgid: u32,
        /// The thread.
        tid: u32,
    },
}

impl Task {
    fn stat_path(self) -> RelPath {
        match self {
            Task::Group(tgid) => RelPath::new().num(tgid).push(b"/stat"),
            Task::Thread { tgid, tid } => RelPath::new()
                .num(tgid)
                .push(b"/task/")
                .num(tid)
                .push(b"/stat"),
        }
    }
}

fn open_dir<Fd: AsFd>(at: Fd, path: &CStr) -> Result<OwnedFd, Errno> {
    retry_on_intr(|| {
        openat(
            &at,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    })
}

fn open_file<Fd: AsFd>(at: Fd, path: &CStr) -> Result<OwnedFd, Errno> {
    retry_on_intr(|| openat(&at, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()))
}

/// /proc, opened once and read relative to its descriptor.
#[derive(Debug)]
pub struct Proc {
    root: OwnedFd,
    path: PathBuf,
}

impl Proc {
    /// Opens /proc.
    pub fn open() -> Result<Self, Error> {
        Self::open_at(Path::new("/proc"))
    }

    /// Opens a directory laid out like /proc (a tree in a test, or procfs mounted
    /// elsewhere).
    pub fn open_at(path: &Path) -> Result<Self, Error> {
        let root = retry_on_intr(|| {
            openat(
                CWD,
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
        })
        .map_err(|e| Error {
            path: path.to_owned(),
            kind: ErrorKind::Os(e),
        })?;
        Ok(Proc {
            root,
            path: path.to_owned(),
        })
    }

    fn error(&self, rel: &RelPath, kind: ErrorKind) -> Error {
        let mut path = self.path.as_os_str().as_bytes().to_vec();
        push_name(&mut path, rel.bytes());
        Error {
            path: path_buf(path),
            kind,
        }
    }

    /// The thread groups on the system, as tgids, in the kernel's order.
    pub fn thread_groups<'a>(&'a self, buf: &'a mut DirBuf) -> Result<Pids<'a>, Error> {
        // A new open file description per sweep, so each sweep starts at the first entry
        // without depending on how a directory offset survives a seek on procfs.
        let rel = RelPath::new().push(b".");
        let fd =
            open_dir(&self.root, rel.as_cstr()).map_err(|e| self.error(&rel, ErrorKind::Os(e)))?;
        Ok(Pids::new(self, fd, rel, buf))
    }

    /// The threads of thread group `tgid`, as tids; `None` if the group has exited.
    pub fn threads<'a>(
        &'a self,
        tgid: u32,
        buf: &'a mut DirBuf,
    ) -> Result<Option<Pids<'a>>, Error> {
        let rel = RelPath::new().num(tgid).push(b"/task");
        match open_dir(&self.root, rel.as_cstr()) {
            Ok(fd) => Ok(Some(Pids::new(self, fd, rel, buf))),
            Err(e) if vanished(e) => Ok(None),
            Err(e) => Err(self.error(&rel, ErrorKind::Os(e))),
        }
    }

    /// Reads and parses `task`'s stat line; `None` if the task has exited.
    pub fn stat<'b>(&self, task: Task, buf: &'b mut StatBuf) -> Result<Option<Stat<'b>>, Error> {
        let rel = task.stat_path();
        let os = |e| self.error(&rel, ErrorKind::Os(e));
        let fd = match open_file(&self.root, rel.as_cstr()) {
            Ok(fd) => fd,
            Err(e) if vanished(e) => return Ok(None),
            Err(e) => return Err(os(e)),
        };
        // One read: procfs hands over the whole line at once when it fits, and a line that
        // does not fit is used as its prefix (STAT_BUF_LEN).
        let n = match retry_on_intr(|| read(&fd, &mut buf.0[..])) {
            Ok(n) => n,
            Err(e) if vanished(e) => return Ok(None),
            Err(e) => return Err(os(e)),
        };
        let mut line = &buf.0[..n];
        if n == buf.0.len() {
            // The last field may be cut in the middle of its digits: keep whole fields only.
            let end = line.iter().rposition(u8::is_ascii_whitespace).unwrap_or(0);
            line = &line[..end];
        }
        match parse_stat(line) {
            Ok(stat) => Ok(Some(stat)),
            // A task that exits between open and read can leave an empty read.
            Err(_) if n == 0 => Ok(None),
            Err(m) => Err(self.error(&rel, ErrorKind::Stat(m))),
        }
    }
}

/// Task ids in a /proc directory (/proc itself or /proc/TGID/task); names that are not
/// pids are skipped. Stops for good after an error.
pub struct Pids<'a> {
    proc: &'a Proc,
    rel: RelPath,
    dir: RawDir<'a, OwnedFd>,
    done: bool,
}

impl<'a> Pids<'a> {
    fn new(proc: &'a Proc, fd: OwnedFd, rel: RelPath, buf: &'a mut DirBuf) -> Self {
        Pids {
            proc,
            rel,
            dir: RawDir::new(fd, &mut buf.0),
            done: false,
        }
    }
}

impl Iterator for Pids<'_> {
    type Item = Result<u32, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.dir.next() {
                None => self.done = true,
                Some(Ok(entry)) => {
                    // Unknown: a filesystem without d_type; a pid there is still a pid.
                    let dir = matches!(entry.file_type(), FileType::Directory | FileType::Unknown);
                    if let Some(pid) = parse_pid(entry.file_name().to_bytes()).filter(|_| dir) {
                        return Some(Ok(pid));
                    }
                }
                // The thread group exited while its task directory was being read.
                Some(Err(e)) if vanished(e) => self.done = true,
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(self.proc.error(&self.rel, ErrorKind::Os(e))));
                }
            }
        }
        None
    }
}

/// Which member list of a cgroup directory to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberFile {
    /// `cgroup.procs`: thread group ids (v2, and v1).
    Procs,
    /// `tasks`: thread ids (v1 only).
    Tasks,
}

impl MemberFile {
    fn name(self) -> &'static CStr {
        match self {
            MemberFile::Procs => c"cgroup.procs",
            MemberFile::Tasks => c"tasks",
        }
    }
}

/// A cgroup's members, read recursively into buffers reused across sweeps.
pub struct Members {
    ids: Vec<u32>,
    chunk: [u8; 4096],
    /// The directory being read, for error messages; names are appended and cut off
    /// again, so its capacity is reused too.
    path: Vec<u8>,
}

impl Members {
    /// Empty buffers.
    pub fn new() -> Self {
        Members {
            ids: Vec::new(),
            chunk: [0; 4096],
            path: Vec::new(),
        }
    }

    /// The ids of `file` in `dir` and every cgroup below it, sorted, each once.
    ///
    /// `dir` itself and its member file must exist; a child cgroup removed during the walk
    /// is skipped, as its tasks have moved or exited.
    pub fn read(&mut self, dir: &Path, file: MemberFile) -> Result<&[u32], Error> {
        self.ids.clear();
        self.path.clear();
        self.path.extend_from_slice(dir.as_os_str().as_bytes());
        let fd = retry_on_intr(|| {
            openat(
                CWD,
                dir,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
        })
        .map_err(|e| self.error(ErrorKind::Os(e)))?;
        self.walk(&fd, file, 0)?;
        // Both files are unordered and may list an id twice (moved out and back, or a pid
        // reused while reading): sorting in place keeps the buffer and gives top an order.
        self.ids.sort_unstable();
        self.ids.dedup();
        Ok(&self.ids)
    }

    /// What the last [`read`](Self::read) found.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    fn error(&self, kind: ErrorKind) -> Error {
        Error {
            path: path_buf(self.path.clone()),
            kind,
        }
    }

    fn walk(&mut self, dir: &OwnedFd, file: MemberFile, depth: usize) -> Result<(), Error> {
        match self.read_ids(dir, file) {
            Ok(()) => {}
            Err(ErrorKind::Os(e)) if depth > 0 && vanished(e) => return Ok(()),
            Err(kind) => {
                push_name(&mut self.path, file.name().to_bytes());
                return Err(self.error(kind));
            }
        }
        let mut buf = [MaybeUninit::<u8>::uninit(); LEVEL_BUF_LEN];
        let mut entries = RawDir::new(dir, &mut buf);
        while let Some(entry) = entries.next() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if depth > 0 && vanished(e) => return Ok(()),
                Err(e) => return Err(self.error(ErrorKind::Os(e))),
            };
            let name = entry.file_name();
            if matches!(name.to_bytes(), b"." | b"..")
                || !matches!(entry.file_type(), FileType::Directory | FileType::Unknown)
            {
                continue;
            }
            let parent_len = self.path.len();
            push_name(&mut self.path, name.to_bytes());
            let child = match open_dir(dir, name) {
                Ok(fd) => Some(fd),
                Err(e) if vanished(e) || e == Errno::NOTDIR => None,
                Err(e) => return Err(self.error(ErrorKind::Os(e))),
            };
            if let Some(child) = child {
                if depth + 1 >= MAX_CGROUP_DEPTH {
                    return Err(self.error(ErrorKind::TooDeep));
                }
                self.walk(&child, file, depth + 1)?;
            }
            self.path.truncate(parent_len);
        }
        Ok(())
    }

    /// Appends the ids of `file` in `dir`.
    fn read_ids(&mut self, dir: &OwnedFd, file: MemberFile) -> Result<(), ErrorKind> {
        let fd = open_file(dir, file.name()).map_err(ErrorKind::Os)?;
        // The file is read in chunks, so an id may straddle two: it is carried over.
        let mut id: Option<u32> = None;
        loop {
            let n = retry_on_intr(|| read(&fd, &mut self.chunk[..])).map_err(ErrorKind::Os)?;
            if n == 0 {
                break;
            }
            for &b in &self.chunk[..n] {
                match b {
                    b'0'..=b'9' => {
                        let next = id
                            .unwrap_or(0)
                            .checked_mul(10)
                            .and_then(|v| v.checked_add(u32::from(b - b'0')));
                        id = Some(next.ok_or(ErrorKind::NotAnId)?);
                    }
                    b'\n' => self.ids.push(id.take().ok_or(ErrorKind::NotAnId)?),
                    _ => return Err(ErrorKind::NotAnId),
                }
            }
        }
        self.ids.extend(id);
        Ok(())
    }
}

impl Default for Members {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// This kernel's own stat line for `head`, as read in /proc.
    const REAL: &[u8] =
        b"25248 (head) R 25240 25240 18734 0 -1 4194304 103 0 0 0 0 0 0 0 20 0 1 0 \
        470043 2998272 391 18446744073709551615 94388861267968 94388861292073 140725538715312 \
        0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94388861307920 94388861309536 94389901705216 \
        140725538720459 140725538720487 140725538720487 140725538721770 0\n";

    fn getpid() -> u32 {
        rustix::process::getpid().as_raw_nonzero().get() as u32
    }

    /// This thread's id, from the /proc/thread-self link ("TGID/task/TID").
    fn gettid() -> u32 {
        let link = std::fs::read_link("/proc/thread-self").unwrap();
        let tid = link.file_name().unwrap().to_str().unwrap();
        tid.parse().unwrap()
    }

    /// A directory of its own under the temporary directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let p = std::env::temp_dir().join(format!("taskwire-procfs-{}-{name}", getpid()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Scratch(p)
        }

        fn file(&self, rel: &str, content: &[u8]) {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_real_line() {
        let s = parse_stat(REAL).unwrap();
        assert_eq!(s.comm, b"head");
        assert_eq!(s.state, b'R');
        assert_eq!(s.starttime, 470043);
        assert_eq!(
            s.identity(25248),
            Identity {
                pid: 25248,
                starttime: 470043
            }
        );
    }

    #[test]
    fn hostile_lines() {
        let with_comm = |comm: &[u8]| {
            let mut l = b"7 (".to_vec();
            l.extend_from_slice(comm);
            l.push(b')');
            l.extend_from_slice(&REAL[b"25248 (head)".len()..]);
            l
        };
        for comm in [
            &b") ("[..],
            b"a) R 1 2 (b",
            b"((",
            b"))",
            b"",
            b"x\ny",
            b"\xff\xfe",
        ] {
            let l = with_comm(comm);
            let s = parse_stat(&l).unwrap();
            assert_eq!((s.comm, s.state, s.starttime), (comm, b'R', 470043));
        }
        // A comm far longer than the kernel allows, and a line far longer than the buffer.
        let long = with_comm(&[b'x'; 100_000]);
        assert_eq!(parse_stat(&long).unwrap().comm.len(), 100_000);
        let mut tail = REAL.to_vec();
        tail.extend(std::iter::repeat_n(b" 1", 50_000).flatten());
        assert_eq!(parse_stat(&tail).unwrap().starttime, 470043);

        assert_eq!(parse_stat(b""), Err(Malformed::NoComm));
        assert_eq!(parse_stat(b"1 (x"), Err(Malformed::NoComm));
        assert_eq!(parse_stat(b"1 )x( R"), Err(Malformed::NoComm));
        assert_eq!(parse_stat(b"1 (x)"), Err(Malformed::Missing(3)));
        assert_eq!(parse_stat(b"1 (x) RR 1"), Err(Malformed::Bad(3)));
        assert_eq!(parse_stat(b"1 (x) 5 1"), Err(Malformed::Bad(3)));
        assert_eq!(parse_stat(b"1 (x) R 1 2 3"), Err(Malformed::Missing(22)));
        let field22 = |v: &[u8]| {
            let mut l = b"1 (x) R".to_vec();
            for _ in 4..22 {
                l.extend_from_slice(b" 0");
            }
            l.push(b' ');
            l.extend_from_slice(v);
            l
        };
        assert_eq!(parse_stat(&field22(b"42")).unwrap().starttime, 42);
        for bad in [
            &b"-1"[..],
            b"+1",
            b"1x",
            b"99999999999999999999999",
            b"\xff",
        ] {
            assert_eq!(
                parse_stat(&field22(bad)),
                Err(Malformed::Bad(22)),
                "{bad:?}"
            );
        }
        // Every prefix and every one-byte corruption of a real line: an answer, never a panic.
        for n in 0..REAL.len() {
            let _ = parse_stat(&REAL[..n]);
            for b in [b'(', b')', b' ', b'\n', 0, 0xff] {
                let mut l = REAL.to_vec();
                l[n] = b;
                let _ = parse_stat(&l);
            }
        }
    }

    #[test]
    fn pid_names() {
        assert_eq!(parse_pid(b"1"), Some(1));
        assert_eq!(parse_pid(b"4294967295"), Some(u32::MAX));
        for bad in [
            &b""[..],
            b"0",
            b"007",
            b"self",
            b"thread-self",
            b"-1",
            b"+1",
            b"1 ",
            b"12a",
            b"4294967296",
            b"99999999999999999999999",
        ] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_tree_laid_out_like_proc() {
        let t = Scratch::new("tree");
        t.file("1/stat", REAL);
        t.file(
            "42/stat",
            b"42 () (x) (y)) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0\n",
        );
        t.file(
            "42/task/42/stat",
            b"42 (t) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0\n",
        );
        t.file("42/task/43/stat", b"garbage");
        t.file("self/stat", REAL);
        t.file("007/stat", REAL);
        t.file("4294967296/stat", REAL);
        t.file("99", b"a file, not a task directory");
        let proc = Proc::open_at(&t.0).unwrap();
        let (mut d1, mut d2, mut sb) = (DirBuf::new(), DirBuf::new(), StatBuf::new());

        let mut groups: Vec<u32> = proc
            .thread_groups(&mut d1)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        groups.sort();
        assert_eq!(groups, [1, 42]);
        let mut threads: Vec<u32> = proc
            .threads(42, &mut d2)
            .unwrap()
            .unwrap()
            .map(Result::unwrap)
            .collect();
        threads.sort();
        assert_eq!(threads, [42, 43]);
        assert!(proc.threads(1, &mut d2).unwrap().is_none());

        let s = proc.stat(Task::Group(42), &mut sb).unwrap().unwrap();
        assert_eq!(
            (s.comm, s.state, s.starttime),
            (&b") (x) (y)"[..], b'S', 99)
        );
        let s = proc
            .stat(Task::Thread { tgid: 42, tid: 42 }, &mut sb)
            .unwrap()
            .unwrap();
        assert_eq!(s.comm, b"t");
        assert_eq!(proc.stat(Task::Group(7), &mut sb), Ok(None));
        let e = proc
            .stat(Task::Thread { tgid: 42, tid: 43 }, &mut sb)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Stat(Malformed::NoComm));
        assert_eq!(e.path(), t.0.join("42/task/43/stat"));
        assert!(
            e.to_string()
                .ends_with("42/task/43/stat: unexpected stat line: no (comm)"),
            "{e}"
        );

        // A stat line longer than the buffer: its prefix, cut back to whole fields.
        let mut huge = REAL.trim_ascii_end().to_vec();
        huge.extend(std::iter::repeat_n(b" 12345", 1000).flatten());
        t.file("1/stat", &huge);
        let s = proc.stat(Task::Group(1), &mut sb).unwrap().unwrap();
        assert_eq!(s.starttime, 470043);
        let mut cut = b"5 (".to_vec();
        cut.extend(std::iter::repeat_n(b'c', STAT_BUF_LEN));
        cut.extend_from_slice(b") R");
        t.file("1/stat", &cut);
        assert_eq!(
            proc.stat(Task::Group(1), &mut sb).unwrap_err().kind(),
            ErrorKind::Stat(Malformed::NoComm)
        );
        let e = Proc::open_at(&t.0.join("none")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Os(Errno::NOENT));
    }

    #[test]
    fn self_and_a_spawned_thread_in_real_proc() {
        let proc = Proc::open().unwrap();
        let (mut d1, mut d2, mut sb) = (DirBuf::new(), DirBuf::new(), StatBuf::new());
        let (pid, tid) = (getpid(), gettid());
        let groups: Vec<u32> = proc
            .thread_groups(&mut d1)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(groups.contains(&pid));

        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (tidtx, tidrx) = std::sync::mpsc::channel();
        let probe = std::thread::Builder::new()
            .name("tw-probe".into())
            .spawn(move || {
                tidtx.send(gettid()).unwrap();
                let _ = rx.recv();
            })
            .unwrap();
        let probe_tid = tidrx.recv().unwrap();
        let threads: Vec<u32> = proc
            .threads(pid, &mut d2)
            .unwrap()
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(threads.contains(&pid) && threads.contains(&tid) && threads.contains(&probe_tid));
        let s = proc
            .stat(
                Task::Thread {
                    tgid: pid,
                    tid: probe_tid,
                },
                &mut sb,
            )
            .unwrap()
            .unwrap();
        assert_eq!(s.comm, b"tw-probe");
        drop(tx);
        probe.join().unwrap();

        // Reading itself, this thread is running; its identity does not change.
        let me = Task::Thread { tgid: pid, tid };
        let first = proc.stat(me, &mut sb).unwrap().unwrap();
        assert_eq!(first.state, b'R');
        let first = first.identity(tid);
        let group = proc
            .stat(Task::Group(pid), &mut sb)
            .unwrap()
            .unwrap()
            .identity(pid);
        let again = proc.stat(me, &mut sb).unwrap().unwrap().identity(tid);
        assert_eq!(first, again);
        assert!(group.starttime <= first.starttime);
    }

    #[test]
    fn a_child_that_exits_disappears() {
        let proc = Proc::open().unwrap();
        let (mut d1, mut sb) = (DirBuf::new(), StatBuf::new());
        let mut child = std::process::Command::new("sleep")
            .arg("1000")
            .spawn()
            .unwrap();
        let pid = child.id();
        let alive = proc
            .stat(Task::Group(pid), &mut sb)
            .unwrap()
            .unwrap()
            .identity(pid);
        assert!(proc.thread_groups(&mut d1).unwrap().any(|p| p == Ok(pid)));
        child.kill().unwrap();
        child.wait().unwrap();
        // Gone, or the pid already reused by another task, which its start time tells apart.
        match proc.stat(Task::Group(pid), &mut sb).unwrap() {
            None => assert!(!proc.thread_groups(&mut d1).unwrap().any(|p| p == Ok(pid))),
            Some(s) => assert_ne!(s.identity(pid), alive),
        }
    }

    /// Where a cgroup hierarchy is mounted: cgroup2 for `None`, else the v1 hierarchy of
    /// this controller.
    fn mount_of(controller: Option<&str>) -> Option<PathBuf> {
        let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
        mounts.lines().find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let ok = match controller {
                None => f.get(2) == Some(&"cgroup2"),
                Some(c) => f.get(2) == Some(&"cgroup") && f.get(3)?.split(',').any(|o| o == c),
            };
            ok.then(|| PathBuf::from(f[1]))
        })
    }

    /// This process's cgroup directory: v2 for `None`, else in the controller's hierarchy.
    fn own_cgroup(controller: Option<&str>) -> Option<PathBuf> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let rel = own.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctls, path) = (f.next()?, f.next()?, f.next()?);
            let hit = match controller {
                None => ctls.is_empty(),
                Some(c) => ctls.split(',').any(|x| x == c),
            };
            hit.then(|| path.trim_start_matches('/').to_owned())
        })?;
        Some(mount_of(controller)?.join(rel))
    }

    #[test]
    fn real_cgroups_list_this_process() {
        let (pid, tid) = (getpid(), gettid());
        let mut m = Members::new();
        match own_cgroup(None) {
            None => println!("skipped cgroup v2: not mounted, or this process is not in it"),
            Some(dir) => match m.read(&dir, MemberFile::Procs) {
                Err(e) => println!("skipped cgroup v2: {e}"),
                Ok(ids) => {
                    assert!(ids.contains(&pid), "{} lacks {pid}", dir.display());
                    // From the root down, too, and every id a thread group (or one gone).
                    let root = mount_of(None).unwrap();
                    let ids = m.read(&root, MemberFile::Procs).unwrap().to_vec();
                    assert!(ids.contains(&pid));
                    let proc = Proc::open().unwrap();
                    let mut sb = StatBuf::new();
                    let live = ids
                        .iter()
                        .filter(|&&p| proc.stat(Task::Group(p), &mut sb).unwrap().is_some())
                        .count();
                    println!(
                        "cgroup v2 {}: {} tgids, {live} still there",
                        root.display(),
                        ids.len()
                    );
                    assert!(live * 10 >= ids.len() * 9, "{live} of {}", ids.len());
                }
            },
        }
        let v1 = ["pids", "memory", "cpu"]
            .into_iter()
            .find_map(|c| own_cgroup(Some(c)));
        match v1 {
            None => println!("skipped cgroup v1: no pids, memory or cpu hierarchy"),
            Some(dir) => match m.read(&dir, MemberFile::Tasks) {
                Err(e) => println!("skipped cgroup v1: {e}"),
                Ok(ids) => assert!(ids.contains(&tid), "{} lacks {tid}", dir.display()),
            },
        }
    }

    #[test]
    fn cgroup_trees_and_hostile_member_files() {
        let t = Scratch::new("cgroup");
        t.file("cgroup.procs", b"3\n1\n3\n");
        t.file("a/cgroup.procs", b"2\n4294967295");
        t.file("a/deeper/cgroup.procs", b"");
        // Removed while the walk ran: its member file is gone.
        std::fs::create_dir_all(t.0.join("b")).unwrap();
        t.file("not-a-dir", b"9\n");
        let mut m = Members::new();
        assert_eq!(
            m.read(&t.0, MemberFile::Procs).unwrap(),
            [1, 2, 3, u32::MAX]
        );
        assert_eq!(m.ids(), [1, 2, 3, u32::MAX]);

        for bad in [&b"1\n\n"[..], b"x\n", b" 1\n", b"4294967296\n", b"-1\n"] {
            t.file("a/cgroup.procs", bad);
            let e = m.read(&t.0, MemberFile::Procs).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotAnId, "{bad:?}");
            assert_eq!(e.path(), t.0.join("a/cgroup.procs"));
        }
        // A member list longer than the read chunk, with ids across chunk boundaries.
        let many: String = (1..=5000u32).rev().map(|i| format!("{i}\n")).collect();
        t.file("a/cgroup.procs", many.as_bytes());
        assert_eq!(m.read(&t.0, MemberFile::Procs).map(<[u32]>::len), Ok(5000));

        let e = m.read(&t.0, MemberFile::Tasks).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Os(Errno::NOENT));
        assert!(
            e.to_string().ends_with("/tasks: no such file or directory"),
            "{e}"
        );
        assert!(m.read(&t.0.join("none"), MemberFile::Procs).is_err());

        // Every level a cgroup, with its member file, as in a real hierarchy.
        let mut deep = String::from("d");
        for _ in 0..MAX_CGROUP_DEPTH {
            t.file(&format!("{deep}/cgroup.procs"), b"");
            deep.push_str("/d");
        }
        assert_eq!(
            m.read(&t.0, MemberFile::Procs).unwrap_err().kind(),
            ErrorKind::TooDeep
        );
    }

    /// One sweep as top will make it: every thread group and every thread, each stat read.
    /// Run with --nocapture for the figure.
    #[test]
    fn time_of_a_full_sweep() {
        let proc = Proc::open().unwrap();
        let (mut d1, mut d2, mut sb) = (DirBuf::new(), DirBuf::new(), StatBuf::new());
        let mut sweep = || {
            let start = Instant::now();
            let (mut groups, mut threads) = (0usize, 0usize);
            for tgid in proc.thread_groups(&mut d1).unwrap() {
                let tgid = tgid.unwrap();
                if proc.stat(Task::Group(tgid), &mut sb).unwrap().is_some() {
                    groups += 1;
                }
                let Some(tids) = proc.threads(tgid, &mut d2).unwrap() else {
                    continue;
                };
                for tid in tids {
                    let task = Task::Thread {
                        tgid,
                        tid: tid.unwrap(),
                    };
                    if proc.stat(task, &mut sb).unwrap().is_some() {
                        threads += 1;
                    }
                }
            }
            (start.elapsed(), groups, threads)
        };
        let runs: Vec<(Duration, usize, usize)> = (0..5).map(|_| sweep()).collect();
        let best = runs.iter().min().unwrap();
        println!(
            "procfs sweep: {} thread groups, {} threads, stat of each: best {:?} of {} runs ({:?})",
            best.1,
            best.2,
            best.0,
            runs.len(),
            runs.iter().map(|r| r.0).collect::<Vec<_>>()
        );
        assert!(best.1 > 0 && best.2 >= best.1);
    }
}
