//! The system's and a cgroup's pressure (PSI) for the live view's header, read every sweep
//! into a fixed buffer.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags, open};
use rustix::io::{Errno, read, retry_on_intr};
use taskwire_cli::output::live::{Pressure, Psi};
use taskwire_core::psi;

/// Bytes read of a pressure file: room for the longest text and keys a newer kernel adds.
const BUF_LEN: usize = 2 * psi::MAX_TEXT_LEN;

/// The system's pressure files.
const SYSTEM: [&str; 4] = [
    "/proc/pressure/cpu",
    "/proc/pressure/memory",
    "/proc/pressure/io",
    "/proc/pressure/irq",
];

/// A cgroup v2 directory's own pressure files, in [`SYSTEM`]'s order.
const CGROUP: [&str; 4] = [
    "cpu.pressure",
    "memory.pressure",
    "io.pressure",
    "irq.pressure",
];

/// The system's pressure now. A file that is absent or refused (`CONFIG_PSI=n`, `psi=0`,
/// no `CONFIG_IRQ_TIME_ACCOUNTING` for irq) is [`Psi::Absent`].
pub fn system() -> Pressure {
    let mut buf = [0u8; BUF_LEN];
    let mut p = [Psi::Absent; 4];
    for (slot, path) in p.iter_mut().zip(SYSTEM) {
        *slot = read_psi(Path::new(path), &mut buf);
    }
    Pressure {
        cpu: p[0],
        memory: p[1],
        io: p[2],
        irq: p[3],
    }
}

/// The pressure of the cgroup v2 directory `dir`: its tasks' stalls only. `path_buf`
/// is kept by the caller so that its capacity is reused.
pub fn cgroup(dir: &Path, path_buf: &mut Vec<u8>) -> Pressure {
    let mut buf = [0u8; BUF_LEN];
    let mut p = [Psi::Absent; 4];
    for (slot, name) in p.iter_mut().zip(CGROUP) {
        path_buf.clear();
        path_buf.extend_from_slice(dir.as_os_str().as_bytes());
        crate::procfs::push_name(path_buf, name.as_bytes());
        *slot = read_psi(Path::new(OsStr::from_bytes(path_buf)), &mut buf);
    }
    Pressure {
        cpu: p[0],
        memory: p[1],
        io: p[2],
        irq: p[3],
    }
}

/// One pressure file's avg10s; [`Psi::Absent`] when it cannot be read or parsed.
pub fn read_psi(path: &Path, buf: &mut [u8]) -> Psi {
    let Ok(fd) = retry_on_intr(|| open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()))
    else {
        return Psi::Absent;
    };
    let mut len = 0;
    // seq_file hands the text over in one read, but a short read is no reason to lose it.
    while len < buf.len() {
        match retry_on_intr(|| read(&fd, &mut buf[len..])) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::OPNOTSUPP) | Err(_) => return Psi::Absent,
        }
    }
    parse(&buf[..len])
}

/// A pressure file's text as the header shows it.
pub fn parse(text: &[u8]) -> Psi {
    match psi::Pressure::parse(text) {
        Ok(p) if p.some.is_some() || p.full.is_some() => Psi::Avg10 {
            some: p.some.map(|s| s.avg10),
            full: p.full.map(|s| s.avg10),
        },
        _ => Psi::Absent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avg10_of_each_line() {
        let text = b"some avg10=2.71 avg60=0.49 avg300=0.10 total=413296\n\
                     full avg10=1.26 avg60=0.22 avg300=0.04 total=191340\n";
        assert_eq!(
            parse(text),
            Psi::Avg10 {
                some: Some(271),
                full: Some(126)
            }
        );
        let irq = b"full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(
            parse(irq),
            Psi::Avg10 {
                some: None,
                full: Some(0)
            }
        );
        assert_eq!(parse(b""), Psi::Absent);
        assert_eq!(parse(b"garbage"), Psi::Absent);
    }

    #[test]
    fn a_missing_file_is_absent() {
        let mut buf = [0; BUF_LEN];
        assert_eq!(
            read_psi(Path::new("/nonexistent/pressure/cpu"), &mut buf),
            Psi::Absent
        );
    }

    #[test]
    fn this_kernel_has_cpu_pressure_or_says_absent() {
        // Either is right; what matters is no panic and a consistent answer.
        let p = system();
        let direct = read_psi(Path::new("/proc/pressure/cpu"), &mut [0; BUF_LEN]);
        assert_eq!(p.cpu == Psi::Absent, direct == Psi::Absent);
    }
}
