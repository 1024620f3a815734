//! Which tasks a sweep asks about: every thread group in /proc, or their threads, or a
//! cgroup's, narrowed by `--pid`/`--tgid`. A thread group comes with the start time and
//! name its /proc stat line gives (its taskstats reply has neither); a thread is its id
//! alone, found by listing `/proc/TGID/task`: its reply by pid carries its name, start
//! and age, so no file of its own is read. Buffers are kept across sweeps, so listing
//! allocates only when the system has more tasks than ever before.

use std::path::PathBuf;

use taskwire_cli::output::live::Comm;

use crate::client::Target;
use crate::procfs::{DirBuf, Error, MemberFile, Members, Proc, StatBuf, Task};

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Select {
    /// Threads rather than thread groups.
    pub threads: bool,
    /// Only these pids: thread groups by their leader's pid, or threads.
    pub pids: Vec<u32>,
    /// Only these thread groups (with `threads`, their threads).
    pub tgids: Vec<u32>,
    /// Only the tasks of this cgroup directory and the cgroups below it.
    pub cgroup: Option<Cgroup>,
}

/// A cgroup to list the tasks of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    /// Its directory.
    pub dir: PathBuf,
    /// Whether it is a cgroup v2 directory (`cgroup.procs` only, and pressure files).
    pub v2: bool,
}

/// One task to ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    /// What to ask.
    pub target: Target,
    /// A thread group's start time, clock ticks since boot (/proc stat field 22); 0 for a
    /// thread, whose reply carries its own.
    pub start: u64,
    /// A thread group's name, from the same stat line; empty for a thread, whose reply
    /// carries its own.
    pub comm: Comm,
}

impl Listed {
    /// A thread, listed by id only.
    fn thread(tid: u32) -> Listed {
        Listed {
            target: Target::Pid(tid),
            start: 0,
            comm: Comm::default(),
        }
    }
}

/// The lister and its buffers.
pub struct Lister {
    proc: Proc,
    select: Select,
    groups_buf: DirBuf,
    threads_buf: DirBuf,
    stat_buf: StatBuf,
    members: Members,
    groups: Vec<u32>,
}

impl Lister {
    /// A lister over `proc` (/proc, or a tree laid out like it), sorting its filter lists.
    pub fn new(proc: Proc, mut select: Select) -> Lister {
        for ids in [&mut select.pids, &mut select.tgids] {
            ids.sort_unstable();
            ids.dedup();
        }
        Lister {
            proc,
            select,
            groups_buf: DirBuf::new(),
            threads_buf: DirBuf::new(),
            stat_buf: StatBuf::new(),
            members: Members::new(),
            groups: Vec::new(),
        }
    }

    /// What it lists.
    pub fn select(&self) -> &Select {
        &self.select
    }

    /// Task `pid`'s name as /proc gives it; `None` if it is gone or unreadable. For a
    /// kernel thread this is finer than its reply's `ac_comm`, which is cut at 15 bytes
    /// and lacks the workqueue a kworker serves (`kworker/0:1-events`).
    pub fn proc_comm(&mut self, pid: u32) -> Option<Comm> {
        let stat = self
            .proc
            .stat(Task::Group(pid), &mut self.stat_buf)
            .ok()??;
        Some(Comm::new(stat.comm))
    }

    /// Replaces `out` with the tasks there are now, sorted by id, each once. A thread group
    /// that exits while being listed is left out; a thread named by `--pid` or a cgroup v1
    /// `tasks` file is listed unread, and if it is gone its query says so (ESRCH).
    pub fn list(&mut self, out: &mut Vec<Listed>) -> Result<(), Error> {
        out.clear();
        let s = &self.select;
        let filtered = !s.pids.is_empty() || !s.tgids.is_empty();
        // Thread ids straight from a cgroup v1 `tasks` file, or from --pid with --threads.
        let mut direct_threads = false;
        self.groups.clear();
        match &s.cgroup {
            Some(cg) => {
                let file = if s.threads && !cg.v2 {
                    direct_threads = true;
                    MemberFile::Tasks
                } else {
                    MemberFile::Procs
                };
                self.groups
                    .extend_from_slice(self.members.read(&cg.dir, file)?);
            }
            None if filtered => {
                self.groups.extend_from_slice(&s.tgids);
                if !s.threads {
                    self.groups.extend_from_slice(&s.pids);
                }
            }
            None => {
                for tgid in self.proc.thread_groups(&mut self.groups_buf)? {
                    self.groups.push(tgid?);
                }
            }
        }
        let keep_group = |id: u32| {
            !filtered
                || s.tgids.binary_search(&id).is_ok()
                || (!s.threads && s.pids.binary_search(&id).is_ok())
        };
        let keep_thread = |tgid: Option<u32>, tid: u32| {
            !filtered
                || s.pids.binary_search(&tid).is_ok()
                || tgid.is_some_and(|g| s.tgids.binary_search(&g).is_ok())
        };
        for &id in &self.groups {
            if !s.threads {
                if keep_group(id) {
                    push_group(&self.proc, &mut self.stat_buf, out, id)?;
                }
            } else if direct_threads {
                if keep_thread(None, id) {
                    out.push(Listed::thread(id));
                }
            } else {
                // Within a cgroup, a group is listed for the threads --pid names too.
                if s.cgroup.is_none() || !filtered || keep_group(id) || !s.pids.is_empty() {
                    let Some(tids) = self.proc.threads(id, &mut self.threads_buf)? else {
                        continue;
                    };
                    for tid in tids {
                        let tid = tid?;
                        if keep_thread(Some(id), tid) {
                            out.push(Listed::thread(tid));
                        }
                    }
                }
            }
        }
        if s.threads && s.cgroup.is_none() {
            // --pid names threads directly, any thread of any group.
            out.extend(s.pids.iter().map(|&tid| Listed::thread(tid)));
        }
        out.sort_unstable_by_key(|l| l.target.id());
        out.dedup_by_key(|l| l.target.id());
        Ok(())
    }
}

/// Reads thread group `tgid`'s stat line and lists it; nothing if it has exited.
fn push_group(
    proc: &Proc,
    buf: &mut StatBuf,
    out: &mut Vec<Listed>,
    tgid: u32,
) -> Result<(), Error> {
    if let Some(stat) = proc.stat(Task::Group(tgid), buf)? {
        out.push(Listed {
            target: Target::Tgid(tgid),
            start: stat.starttime,
            comm: Comm::new(stat.comm),
        });
    }
    Ok(())
}
