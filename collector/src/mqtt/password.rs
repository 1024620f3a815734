//! `password-file=PATH` of an `mqtt://` source: the broker password, read once at start
//! from a file only its owner may read (as `--key`), so that it is never on a command
//! line (`ps` shows those to every user).

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use taskwire_cli::Failure;
use taskwire_cli::output::plain;

/// The longest password MQTT carries (a two-byte length).
const MAX_LEN: usize = u16::MAX as usize;

/// The password in `path`: its one line, without the newline that ends it. Every refusal
/// is a usage error naming the file.
pub fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    use std::os::unix::ffi::OsStrExt;
    let shown = plain(path.as_os_str().as_bytes()).into_owned();
    let refuse = |why: &str| Failure::usage("decode", format!("mqtt password-file={shown}: {why}"));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => refuse("no such file"),
            std::io::ErrorKind::PermissionDenied => refuse("permission denied"),
            _ => refuse(&format!("cannot open it: {e}")),
        })?;
    // Judged on the file opened, not on the path again.
    let m = f
        .metadata()
        .map_err(|e| refuse(&format!("cannot read it: {e}")))?;
    if !m.is_file() {
        return Err(refuse("not a regular file"));
    }
    if m.mode() & 0o077 != 0 {
        return Err(refuse(
            "group or others may read or change it: `chmod 600` it (and change the \
             password if it may have been read)",
        ));
    }
    let mut bytes = Vec::new();
    f.take(MAX_LEN as u64 + 3)
        .read_to_end(&mut bytes)
        .map_err(|e| refuse(&format!("cannot read it: {e}")))?;
    let line = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(&bytes);
    if line.is_empty() {
        return Err(refuse("empty: write the password on its one line"));
    }
    if line.contains(&b'\n') {
        return Err(refuse("more than one line: the password is its one line"));
    }
    if line.len() > MAX_LEN {
        return Err(refuse("longer than MQTT allows (65535 bytes)"));
    }
    Ok(line.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(name: &str, bytes: &[u8], mode: u32) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("twpass-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn one_line_without_its_newline() {
        for (name, bytes) in [
            ("nl", &b"s3cret\n"[..]),
            ("crlf", b"s3cret\r\n"),
            ("bare", b"s3cret"),
        ] {
            let p = file(name, bytes, 0o600);
            assert_eq!(read(&p).unwrap(), b"s3cret", "{name}");
            let _ = std::fs::remove_file(p);
        }
    }

    #[test]
    fn bad_files_are_usage_errors_naming_the_file() {
        for (name, bytes, mode, why) in [
            ("empty", &b"\n"[..], 0o600, "empty"),
            ("two", b"a\nb\n", 0o600, "more than one line"),
            ("open", b"a\n", 0o644, "chmod 600"),
        ] {
            let p = file(name, bytes, mode);
            let e = read(&p).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let s = e.to_string();
            assert!(
                s.contains(why) && s.contains(&format!("password-file={}", p.display())),
                "{s}"
            );
            let _ = std::fs::remove_file(p);
        }
        let e = read(Path::new("/nonexistent/pw")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/pw: no such file"), "{e}");
    }
}
