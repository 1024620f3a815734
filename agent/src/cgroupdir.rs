//! Opening a cgroup directory for cgroupstats (`cgroup`, `getdelays -C`): the kernel
//! serves cgroup v1 only, so the hierarchy is checked first and a v2 or non-cgroup path
//! gets a message that says which it is.

use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags, fstatfs, open};
use rustix::io::Errno;

use taskwire_cli::Failure;

/// statfs magic of a cgroup v1 hierarchy.
pub const CGROUP_SUPER_MAGIC: u64 = 0x0027_e0eb;
/// statfs magic of the cgroup v2 hierarchy.
pub const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

/// What kind of directory a path is, for cgroupstats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// A cgroup v1 directory: cgroupstats works.
    V1,
    /// A cgroup v2 directory: the kernel refuses.
    V2,
    /// Not a cgroup at all (filesystem magic).
    Other(u64),
}

/// Classifies a filesystem magic number.
pub fn classify(magic: u64) -> Hierarchy {
    match magic {
        CGROUP_SUPER_MAGIC => Hierarchy::V1,
        CGROUP2_SUPER_MAGIC => Hierarchy::V2,
        m => Hierarchy::Other(m),
    }
}

/// Opens `path` as a directory and says which hierarchy it is in.
pub fn open_dir(path: &Path) -> Result<(OwnedFd, Hierarchy), Failure> {
    let shown = path.display();
    let fd = open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        Failure::Runtime(match e {
            Errno::NOENT => format!("{shown}: no such directory"),
            Errno::NOTDIR => format!("{shown}: not a directory"),
            e => format!("{shown}: {e}"),
        })
    })?;
    let fs = fstatfs(&fd).map_err(|e| Failure::Runtime(format!("{shown}: statfs: {e}")))?;
    // f_type's integer type differs between architectures; the magics fit in 32 bits.
    #[allow(clippy::unnecessary_cast)]
    let magic = fs.f_type as u64 & 0xffff_ffff;
    Ok((fd, classify(magic)))
}

/// Fails with the message a user needs when `h` cannot serve cgroupstats.
pub fn require_v1(path: &Path, h: Hierarchy) -> Result<(), Failure> {
    match h {
        Hierarchy::V1 => Ok(()),
        Hierarchy::V2 => Err(Failure::Runtime(format!(
            "{}: this is a cgroup v2 directory; the kernel serves cgroupstats for cgroup v1 only",
            path.display()
        ))),
        Hierarchy::Other(m) => Err(Failure::Runtime(format!(
            "{}: not a cgroup v1 directory (filesystem magic {m:#x})",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics() {
        assert_eq!(classify(0x27e0eb), Hierarchy::V1);
        assert_eq!(classify(0x63677270), Hierarchy::V2);
        assert_eq!(classify(0x9fa0), Hierarchy::Other(0x9fa0));
        let e = require_v1(Path::new("/x"), Hierarchy::V2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cgroup v1 only"), "{e}");
        assert!(require_v1(Path::new("/x"), Hierarchy::V1).is_ok());
    }

    #[test]
    fn proc_is_not_a_cgroup() {
        let (_, h) = open_dir(Path::new("/proc")).unwrap();
        assert_eq!(h, Hierarchy::Other(0x9fa0));
        let e = open_dir(Path::new("/nonexistent-dir"))
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("no such directory"), "{e}");
    }
}
