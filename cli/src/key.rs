//! `--key FILE` of `stream` and `decode`: the shared secret of a collector and its boards
//! (core/WIRE.md section 7.5), read from a file that only its owner may read. A key file
//! that is missing, empty, too short, unreadable or open to others is refused before
//! anything starts, with what to do about it.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use taskwire_core::auth::Key;

use crate::Failure;
use crate::output::plain;

/// The fewest bytes a key file may hold: a guessable secret is no secret.
pub const MIN_KEY_LEN: usize = 16;
/// The most: a key is a few dozen random bytes, not a file of any size read into memory.
pub const MAX_KEY_LEN: usize = 4096;
/// How to make a good key, for the messages.
const MAKE: &str = "make one with `head -c 32 /dev/urandom > FILE; chmod 600 FILE` and \
                    give the same file to the collector and its boards (README: threat model)";

/// Reads the key file at `path` for command `cmd`. Every refusal is a usage error (exit 2).
pub fn read_key(cmd: &'static str, path: &Path) -> Result<Key, Failure> {
    let mut secret = [0u8; MAX_KEY_LEN + 1];
    // One message shape, built once: the board build is counted in bytes.
    let (len, why) = match read(path, &mut secret) {
        Ok(n) if n > MAX_KEY_LEN => (0, "longer than 4096 bytes"),
        Ok(n) if n < MIN_KEY_LEN => (0, "empty, or shorter than 16 bytes"),
        Ok(n) => (n, ""),
        Err(why) => (0, why),
    };
    let key = Key::new(&secret[..len]);
    secret.fill(0);
    if why.is_empty() {
        return Ok(key);
    }
    let shown = plain(path.as_os_str().as_bytes());
    Err(Failure::usage(cmd, format!("--key {shown}: {why}; {MAKE}")))
}

/// The longest MQTT password taken from a `password-file=`.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Reads the `password-file=` of an `mqtt://` endpoint for command `cmd`: one line (a
/// trailing newline is not part of it), in a file only its owner may read, as a key file.
/// Every refusal is a usage error (exit 2) naming the file.
pub fn read_password(cmd: &'static str, path: &Path) -> Result<Vec<u8>, Failure> {
    let mut buf = [0u8; MAX_PASSWORD_LEN + 2];
    let read = read(path, &mut buf).map(|n| {
        let line = buf.get(..n).unwrap_or_default();
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        line.strip_suffix(b"\r").unwrap_or(line)
    });
    let why = match read {
        Ok(l) if l.len() > MAX_PASSWORD_LEN => "longer than 1024 bytes",
        Ok([]) => "empty",
        Ok(l) if l.contains(&b'\n') => "more than one line",
        Ok(l) => {
            let pw = l.to_vec();
            buf.fill(0);
            return Ok(pw);
        }
        Err(why) => why,
    };
    buf.fill(0);
    let shown = plain(path.as_os_str().as_bytes());
    Err(Failure::usage(cmd, format!("password-file={shown}: {why}")))
}

/// Reads the key file into `buf`; its length, or why it is refused.
fn read(path: &Path, buf: &mut [u8]) -> Result<usize, &'static str> {
    // rustix rather than std's File, for the same reason.
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| match e {
        Errno::NOENT => "no such file",
        Errno::ACCESS => "permission denied (run as the key's owner)",
        _ => "cannot open it",
    })?;
    // Judged on the file opened, not on the path again: nothing can swap it between.
    let st = rustix::fs::fstat(&fd).map_err(|_| "cannot read it")?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err("not a regular file");
    }
    if st.st_mode & 0o077 != 0 {
        return Err(
            "group or others may read or change it: `chmod 600` it, and make a \
                    new key if it may have been read",
        );
    }
    let mut len = 0;
    while let Some(room) = buf.get_mut(len..).filter(|r| !r.is_empty()) {
        match rustix::io::read(&fd, room) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::INTR) => {}
            Err(_) => return Err("cannot read it"),
        }
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::Permissions;
    use std::os::unix::fs::PermissionsExt;

    fn file(name: &str, bytes: &[u8], mode: u32) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("twkey-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, Permissions::from_mode(mode)).unwrap();
        p
    }

    fn refusal(p: &Path) -> String {
        let e = read_key("stream", p).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        e.to_string()
    }

    #[test]
    fn a_good_key_reads() {
        let p = file("good", &[7u8; 32], 0o600);
        let k = read_key("decode", &p).unwrap();
        assert_eq!(k.mac(&[b"x"]), Key::new(&[7u8; 32]).mac(&[b"x"]));
        std::fs::set_permissions(&p, Permissions::from_mode(0o400)).unwrap();
        assert!(read_key("decode", &p).is_ok());
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn bad_key_files_are_refused_with_what_to_do() {
        let missing = std::env::temp_dir().join("twkey-none/such");
        let m = refusal(&missing);
        assert!(
            m.contains("no such file") && m.contains("head -c 32 /dev/urandom"),
            "{m}"
        );
        for (name, bytes, mode, says) in [
            ("empty", &b""[..], 0o600, "empty"),
            ("short", &b"secret\n"[..], 0o600, "shorter than 16 bytes"),
            ("group", &[1u8; 32][..], 0o640, "group or others"),
            ("world", &[1u8; 32][..], 0o604, "`chmod 600`"),
        ] {
            let p = file(name, bytes, mode);
            let m = refusal(&p);
            assert!(m.contains(says), "{name}: {m}");
            assert!(m.starts_with("--key "), "{name}: {m}");
            std::fs::remove_file(p).unwrap();
        }
        let long = file("long", &vec![1u8; MAX_KEY_LEN + 1], 0o600);
        assert!(refusal(&long).contains("longer than"));
        std::fs::remove_file(long).unwrap();
        let dir = std::env::temp_dir();
        assert!(refusal(&dir).contains("not a regular file"));
    }

    #[test]
    fn password_files_are_one_private_line() {
        for (name, bytes, got) in [
            ("pw-nl", &b"s3cret\n"[..], &b"s3cret"[..]),
            ("pw-crlf", b"s3cret\r\n", b"s3cret"),
            ("pw-bare", b"p w", b"p w"),
        ] {
            let p = file(name, bytes, 0o600);
            assert_eq!(read_password("stream", &p).unwrap(), got, "{name}");
            std::fs::remove_file(p).unwrap();
        }
        for (name, bytes, mode, says) in [
            ("pw-empty", &b"\n"[..], 0o600, "empty"),
            ("pw-two", b"a\nb\n", 0o600, "more than one line"),
            ("pw-open", b"a\n", 0o644, "`chmod 600`"),
        ] {
            let p = file(name, bytes, mode);
            let e = read_password("stream", &p).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let m = e.to_string();
            assert!(
                m.contains(says) && m.contains("password-file="),
                "{name}: {m}"
            );
            std::fs::remove_file(p).unwrap();
        }
        let long = file("pw-long", &vec![b'x'; MAX_PASSWORD_LEN + 1], 0o600);
        assert!(
            read_password("stream", &long)
                .unwrap_err()
                .to_string()
                .contains("longer")
        );
        std::fs::remove_file(long).unwrap();
        let e = read_password("stream", Path::new("/nonexistent/pw")).unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent/pw: no such file"),
            "{e}"
        );
    }
}
