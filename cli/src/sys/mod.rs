//! The libc calls taskwire cannot do without, each behind a safe function: the signal mask,
//! signalfd and the stop handler ([`signal`]), posix_spawnp ([`spawn`]), recvmmsg and the
//! output-queue ioctl ([`net`]), threads started with `pthread_create` and the
//! thread-naming hook ([`thread`]), the last word of a crash ([`crash`]), the environment
//! read in place ([`env`](mod@env)), and `CLOCK_BOOTTIME` with the clock tick ([`clock`]).
//! rustix offers none of the first five (its signal API is hidden, it has no spawn, no
//! recvmmsg and no thread start) and std offers none publicly; its clock and tick come with
//! a vDSO and auxiliary-vector parser of its own
//! that libc already has.
//!
//! This is the only module that may use `unsafe` or name `libc`: the rest of the workspace
//! sees plain Rust types, so every raw pointer and every C contract is checked here, once.
#![allow(unsafe_code)]

pub mod clock;
pub mod crash;
pub mod env;
pub mod net;
pub mod signal;
pub mod spawn;
pub mod thread;
