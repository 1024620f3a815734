//! posix_spawnp with a signal mask and default signal actions for the child.

use std::ffi::{CStr, CString, c_char};
use std::io;

use super::env::environ;
use super::signal::SigSet;

/// Starts `file` (looked up in PATH when it has no slash) with `argv` (its first entry is
/// the program's `argv[0]`) and this process's environment; the child gets the signal mask
/// `mask` and the default action for the signals in `default`. Returns the child's pid.
///
/// Errors are those of the exec as well (musl and glibc both report them from the child
/// before returning): `NotFound`, `PermissionDenied`, ...
pub fn spawnp(file: &CStr, argv: &[CString], mask: &SigSet, default: &SigSet) -> io::Result<i32> {
    let mut ptrs: Vec<*mut c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
    ptrs.push(std::ptr::null_mut());
    let attr = Attr::new(mask, default)?;
    let mut pid: libc::pid_t = 0;
    // SAFETY: `file` and every argv entry are NUL-terminated strings that outlive the call,
    // `ptrs` ends with a null pointer, `environ` is the process environment (taskwire never
    // calls setenv, so nothing changes it concurrently), and `attr` is initialized.
    let rc = unsafe {
        libc::posix_spawnp(
            &mut pid,
            file.as_ptr(),
            std::ptr::null(),
            &attr.0,
            ptrs.as_ptr(),
            environ,
        )
    };
    match rc {
        0 => Ok(pid),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// posix_spawn attributes that are destroyed when dropped.
struct Attr(libc::posix_spawnattr_t);

impl Attr {
    fn new(mask: &SigSet, default: &SigSet) -> io::Result<Attr> {
        let check = |rc: libc::c_int| match rc {
            0 => Ok(()),
            e => Err(io::Error::from_raw_os_error(e)),
        };
        let mut raw = std::mem::MaybeUninit::<libc::posix_spawnattr_t>::uninit();
        // SAFETY: posix_spawnattr_init initializes the attribute object it is given.
        check(unsafe { libc::posix_spawnattr_init(raw.as_mut_ptr()) })?;
        // SAFETY: initialized by the successful call above; Drop destroys it.
        let mut attr = Attr(unsafe { raw.assume_init() });
        // Both flags are small constants (0x08, 0x04): the c_short cast keeps them whole.
        let flags = (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
        // SAFETY: the attribute object is initialized; the sets are copied into it.
        unsafe {
            check(libc::posix_spawnattr_setsigmask(&mut attr.0, mask.as_raw()))?;
            check(libc::posix_spawnattr_setsigdefault(
                &mut attr.0,
                default.as_raw(),
            ))?;
            check(libc::posix_spawnattr_setflags(&mut attr.0, flags))?;
        }
        Ok(attr)
    }
}

impl Drop for Attr {
    fn drop(&mut self) {
        // SAFETY: initialized in Attr::new and destroyed only here.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}
