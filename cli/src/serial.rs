//! Opening a UART (or any terminal) for a record stream: raw 8N1 at a standard rate.
//!
//! Raw matters twice over: the frames are binary (a line discipline would turn 0x0A into
//! 0x0D 0x0A, swallow 0x03 as ^C or 0x11/0x13 as XON/XOFF), and echo on the far side would
//! send every byte back. `CLOCAL` ignores the modem lines, so a three-wire cable works
//! and opening does not wait for carrier.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::termios::{self, ControlModes, OptionalActions, SpecialCodeIndex, speed};

/// The baud rates every Linux UART driver is asked to support (the `B*` constants), in bits
/// per second.
pub const STANDARD_BAUDS: &[u32] = &[
    speed::B50,
    speed::B75,
    speed::B110,
    speed::B134,
    speed::B150,
    speed::B200,
    speed::B300,
    speed::B600,
    speed::B1200,
    speed::B1800,
    speed::B2400,
    speed::B4800,
    speed::B9600,
    speed::B19200,
    speed::B38400,
    speed::B57600,
    speed::B115200,
    speed::B230400,
    speed::B460800,
    speed::B500000,
    speed::B576000,
    speed::B921600,
    speed::B1000000,
    speed::B1152000,
    speed::B1500000,
    speed::B2000000,
    speed::B2500000,
    speed::B3000000,
    speed::B3500000,
    speed::B4000000,
];

/// Whether `baud` is one of [`STANDARD_BAUDS`].
pub fn is_standard(baud: u32) -> bool {
    STANDARD_BAUDS.contains(&baud)
}

/// The common rates, for error messages.
pub fn standard_list() -> &'static str {
    "9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, ... up to 4000000"
}

/// Bytes per second a UART moves at `baud` with 8N1 framing (10 bits a byte).
pub const fn bytes_per_second(baud: u32) -> u32 {
    baud / 10
}

/// Opens `path` read-write and configures it with [`configure`]; the descriptor is
/// blocking and close-on-exec, and does not become the process's controlling terminal.
pub fn open(path: &Path, baud: u32, rtscts: bool) -> io::Result<OwnedFd> {
    // O_NONBLOCK only for the open itself: without CLOCAL set yet, a blocking open of a
    // modem-control port waits for carrier.
    let fd = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )?;
    configure(&fd, baud, rtscts)?;
    rustix::fs::fcntl_setfl(&fd, OFlags::RDWR)?;
    Ok(fd)
}

/// Sets a terminal raw 8N1 at `baud` (must be in [`STANDARD_BAUDS`]), receiver on, modem
/// lines ignored, RTS/CTS flow control on or off, reads returning as soon as a byte is there.
/// Pending output and input are discarded first, so stale bytes of an earlier stream do
/// not precede the new one.
pub fn configure(fd: impl AsFd, baud: u32, rtscts: bool) -> io::Result<()> {
    let fd = fd.as_fd();
    if !is_standard(baud) {
        return Err(crate::said::error(
            io::ErrorKind::InvalidInput,
            format!("{baud} baud is not a standard rate"),
        ));
    }
    let mut t = termios::tcgetattr(fd)?;
    t.make_raw();
    t.control_modes
        .remove(ControlModes::CSIZE | ControlModes::PARENB | ControlModes::CSTOPB);
    t.control_modes
        .insert(ControlModes::CS8 | ControlModes::CREAD | ControlModes::CLOCAL);
    t.control_modes.set(ControlModes::CRTSCTS, rtscts);
    t.special_codes[SpecialCodeIndex::VMIN] = 1;
    t.special_codes[SpecialCodeIndex::VTIME] = 0;
    t.set_speed(baud)?;
    termios::tcflush(fd, termios::QueueSelector::IOFlush)?;
    termios::tcsetattr(fd, OptionalActions::Now, &t)?;
    Ok(())
}

/// One line saying why opening serial device `path` failed and what to do.
pub fn explain(path: &Path, err: &io::Error) -> String {
    let p = path.display();
    match err.raw_os_error().map(Errno::from_raw_os_error) {
        Some(Errno::NOENT) => format!("serial device {p} does not exist (unplugged?)"),
        Some(Errno::ACCESS | Errno::PERM) => format!(
            "serial device {p}: permission denied: run as root or add the user to the \
             device's group (often dialout)"
        ),
        Some(Errno::NOTTY) => format!("{p} is not a serial device (not a terminal)"),
        Some(Errno::BUSY) => {
            format!("serial device {p} is busy (held exclusively by another program)")
        }
        Some(Errno::NXIO | Errno::NODEV | Errno::IO) => {
            format!("serial device {p} has no hardware behind it ({err})")
        }
        _ => format!("serial device {p}: {err}"),
    }
}

/// Whether termios is missing here, saying so on stderr for the test that asks: qemu-user
/// does not translate the `TCGETS2` ioctl rustix uses and answers ENOSYS, where a kernel
/// would answer ENOTTY for `/dev/null`.
pub fn termios_missing(test: &str) -> bool {
    let null = std::fs::File::open("/dev/null").expect("/dev/null");
    let missing = termios::tcgetattr(&null).err() == Some(Errno::NOSYS);
    if missing {
        eprintln!("skipped {test}: termios unavailable here (tcgetattr: ENOSYS, qemu-user?)");
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::termios::{InputModes, LocalModes, OutputModes};

    /// A pseudo-terminal's slave side stands in for a UART: same termios calls.
    fn pty() -> (OwnedFd, std::path::PathBuf) {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .expect("/dev/ptmx");
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        (master, std::path::PathBuf::from(name.to_str().unwrap()))
    }

    #[test]
    fn standard_rates() {
        assert!(is_standard(115_200) && is_standard(9600) && is_standard(4_000_000));
        assert!(!is_standard(0) && !is_standard(12345));
        assert_eq!(bytes_per_second(115_200), 11_520);
    }

    #[test]
    fn open_makes_the_terminal_raw_8n1() {
        if termios_missing("open_makes_the_terminal_raw_8n1") {
            return;
        }
        let (_master, slave) = pty();
        let fd = open(&slave, 57_600, true).unwrap();
        let t = termios::tcgetattr(&fd).unwrap();
        assert!(
            t.control_modes
                .contains(ControlModes::CS8 | ControlModes::CLOCAL)
        );
        assert!(
            t.control_modes
                .contains(ControlModes::CREAD | ControlModes::CRTSCTS)
        );
        assert!(
            !t.control_modes
                .intersects(ControlModes::PARENB | ControlModes::CSTOPB)
        );
        assert!(
            !t.local_modes
                .intersects(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG)
        );
        assert!(
            !t.input_modes
                .intersects(InputModes::IXON | InputModes::ICRNL)
        );
        assert!(!t.output_modes.contains(OutputModes::OPOST));
        assert_eq!(t.output_speed(), 57_600);
        // The descriptor is left blocking.
        assert!(
            !rustix::fs::fcntl_getfl(&fd)
                .unwrap()
                .contains(OFlags::NONBLOCK)
        );

        configure(&fd, 115_200, false).unwrap();
        let t = termios::tcgetattr(&fd).unwrap();
        assert!(!t.control_modes.contains(ControlModes::CRTSCTS));
        assert_eq!(t.output_speed(), 115_200);
    }

    #[test]
    fn binary_bytes_pass_unchanged() {
        if termios_missing("binary_bytes_pass_unchanged") {
            return;
        }
        let (master, slave) = pty();
        configure(&master, 115_200, false).unwrap();
        let fd = open(&slave, 115_200, false).unwrap();
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(rustix::io::write(&fd, &bytes).unwrap(), 256);
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while got.len() < 256 {
            let n = rustix::io::read(&master, &mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, bytes);
    }

    #[test]
    fn errors_say_what_to_do() {
        if termios_missing("errors_say_what_to_do") {
            return;
        }
        let e = open(Path::new("/dev/nonexistent-tty"), 115_200, false).unwrap_err();
        assert!(explain(Path::new("/dev/x"), &e).contains("does not exist"));
        let e = open(Path::new("/dev/null"), 115_200, false).unwrap_err();
        assert!(explain(Path::new("/dev/null"), &e).contains("not a serial device"));
        let (_m, slave) = pty();
        assert!(open(&slave, 12_345, false).is_err());
    }
}
