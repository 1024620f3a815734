//! `--key FILE` of `stream` and `decode`: the shared secret of a collector and its boards
//! (core/WIRE.md section 7.5), read from a file that only its owner may read. A key file
//! that is missing, empty, too short, unreadable or open to others is refused before
//! anything starts, with what to do about it.

use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use taskwire_core::auth::Key;

use crate::Failure;
use crate::output::plain;

/// The fewest bytes a key file may hold: a guessable secret is no secret.
pub const MIN_KEY_LEN: usize = 16;
/// The most: a key is a few dozen random bytes, not a file of any size read into memory.
pub const MAX_KEY_LEN: usize = 4096;
/// How to make a good key, for the messages.
const MAKE: &str = "make one with `head -c 32 /dev/urandom > FILE && chmod 600 FILE` \
                    and give the same file to the collector and its boards";

/// Reads the key file at `path` for command `cmd`. Every refusal is a usage error (exit 2).
pub fn read_key(cmd: &'static str, path: &Path) -> Result<Key, Failure> {
    let shown = plain(path.as_os_str().as_bytes()).into_owned();
    let no = |why: String| Failure::usage(cmd, format!("--key {shown}: {why}"));
    let mut file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => no(format!("no such file; {MAKE}")),
        std::io::ErrorKind::PermissionDenied => no(format!(
            "cannot read it (permission denied): run as the key's owner, or {MAKE}"
        )),
        _ => no(format!("cannot open it: {e}")),
    })?;
    // Judged on the file opened, not on the path again: nothing can swap it between.
    let meta = file
        .metadata()
        .map_err(|e| no(format!("cannot read it: {e}")))?;
    if !meta.is_file() {
        return Err(no(format!("not a regular file; {MAKE}")));
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(no(format!(
            "other users may read or change it (mode {:03o}); `chmod 600` it, \
             and make a new key if it may have been read",
            mode & 0o777
        )));
    }
    let mut secret = Vec::with_capacity(64);
    (&mut file)
        .take(MAX_KEY_LEN as u64 + 1)
        .read_to_end(&mut secret)
        .map_err(|e| no(format!("cannot read it: {e}")))?;
    let refused = match secret.len() {
        0 => Some("it is empty".to_owned()),
        n if n < MIN_KEY_LEN => Some(format!("{n} bytes is too short (at least {MIN_KEY_LEN})")),
        n if n > MAX_KEY_LEN => Some(format!("longer than {MAX_KEY_LEN} bytes")),
        _ => None,
    };
    let key = Key::new(&secret);
    secret.fill(0);
    match refused {
        Some(why) => Err(no(format!("{why}; {MAKE}"))),
        None => Ok(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::Permissions;

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
            ("empty", &b""[..], 0o600, "it is empty"),
            ("short", &b"secret\n"[..], 0o600, "7 bytes is too short"),
            ("group", &[1u8; 32][..], 0o640, "mode 640"),
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
}
