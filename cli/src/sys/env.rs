//! The process environment, read where exec left it. std's `env::var_os` takes the
//! environment lock and copies each name into a C string first: code a board build has no
//! other use for.

use std::ffi::{CStr, OsStr, c_char};
use std::os::unix::ffi::OsStrExt;

unsafe extern "C" {
    // The process environment (POSIX: declared by the caller).
    pub(super) static environ: *const *mut c_char;
}

/// The value of the variable `name`, if it is set.
pub fn var(name: &str) -> Option<&'static OsStr> {
    // SAFETY: taskwire never calls setenv, putenv or unsetenv, so `environ` and the strings
    // it points to stay as exec made them, NUL-terminated and ending in a null pointer, for
    // the life of the process.
    let mut p = unsafe { environ };
    if p.is_null() {
        return None;
    }
    loop {
        // SAFETY: `p` is within the null-terminated array (see above).
        let entry = unsafe { *p };
        if entry.is_null() {
            return None;
        }
        // SAFETY: each entry is a NUL-terminated string that lives as long as the process.
        let bytes = unsafe { CStr::from_ptr(entry) }.to_bytes();
        if let Some(value) = bytes
            .strip_prefix(name.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"="))
        {
            return Some(OsStr::from_bytes(value));
        }
        // SAFETY: `entry` was not the terminating null pointer, so the next one exists.
        p = unsafe { p.add(1) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_std_reads() {
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            assert_eq!(var(name), Some(value.as_os_str()), "{name}");
        }
        assert_eq!(var("TASKWIRE_NO_SUCH_VARIABLE_SET"), None);
        // A name that is a prefix of a set one is not that one.
        let (long, _) = std::env::vars().find(|(n, _)| n.len() > 1).unwrap();
        let prefix = &long[..long.len() - 1];
        if std::env::var_os(prefix).is_none() {
            assert_eq!(var(prefix), None, "{prefix}");
        }
    }
}
