//! Small text files of /proc, /sys and /etc, read and written through rustix. std's
//! `fs::read_to_string`, `fs::write` and `OpenOptions` bring its own open path (a C string
//! built on the stack or the heap, per call shape), a size probe by `statx` and the
//! growth of `read_to_end`: over a kilobyte on a board for files of a few hundred bytes.

use std::io;
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::io::{Errno, retry_on_intr};

use crate::said;

/// `s` without leading and trailing white space: `str::trim` exactly (Unicode's
/// White_Space, which `char::is_whitespace` tests), with the set written out, since core's
/// test goes through a 256-byte table.
pub fn trim(s: &str) -> &str {
    s.trim_matches(|c| {
        matches!(
            c,
            '\t'..='\r'
                | ' '
                | '\u{85}'
                | '\u{a0}'
                | '\u{1680}'
                | '\u{2000}'..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
        )
    })
}

/// The text of the file at `path` (`std::fs::read_to_string`'s errors: the open's and
/// the read's, `InvalidData` for text that is not UTF-8).
pub fn read(path: &Path) -> io::Result<String> {
    let fd =
        retry_on_intr(|| rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()))?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        match rustix::io::read(&fd, &mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    String::from_utf8(bytes).map_err(|_| {
        said::error(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// Opens the file at `path` for writing with `flags` added (`CREATE`, `TRUNC`...) and
/// `mode` for a file it creates.
pub fn open_write(path: &Path, flags: OFlags, mode: u32) -> io::Result<std::os::fd::OwnedFd> {
    let flags = flags | OFlags::WRONLY | OFlags::CLOEXEC;
    Ok(retry_on_intr(|| {
        rustix::fs::open(path, flags, Mode::from_raw_mode(mode))
    })?)
}

/// Writes all of `bytes` to the file at `path` (created 0o666 less the umask, or
/// truncated), as `std::fs::write`.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let fd = open_write(path, OFlags::CREATE | OFlags::TRUNC, 0o666)?;
    std::fs::File::from(fd).write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_is_strs() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let s = format!("{c}x{c}");
            assert_eq!(trim(&s), s.trim(), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn reads_and_writes_like_std() {
        let p = std::env::temp_dir().join(format!("twtext-{}", std::process::id()));
        write(&p, b"1\nzwei\n").unwrap();
        assert_eq!(read(&p).unwrap(), "1\nzwei\n");
        write(&p, b"x").unwrap();
        assert_eq!(read(&p).unwrap(), "x", "truncates");
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert_eq!(read(&p).unwrap_err().kind(), io::ErrorKind::InvalidData);
        std::fs::remove_file(&p).unwrap();
        let e = read(&p).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            std::fs::read_to_string(&p).unwrap_err().to_string()
        );
        let big = read(Path::new("/proc/self/status")).unwrap();
        assert!(big.contains("Pid:"));
    }
}
