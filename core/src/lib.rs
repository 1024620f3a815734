//! `taskwire-core`: a `no_std`, allocation-free codec for the Linux taskstats interface.
//!
//! The crate has three layers, each built on the one below:
//!
//! * **Netlink plumbing** ([`netlink`], [`genl`], [`nla`], [`builder`]): zero-copy views over
//!   netlink and generic netlink headers and attributes, in the style of smoltcp's `wire`
//!   module, and a builder that writes outgoing messages into a caller's fixed buffer.
//! * **Taskstats** ([`nlctrl`], [`taskstats`], [`cgroupstats`], [`cpulist`]): resolving the
//!   `TASKSTATS` family, building GET and REGISTER/DEREGISTER commands, walking replies and
//!   exit messages, and decoding every version of `struct taskstats` by offset.
//! * **The record stream** ([`wire`]): the record schema taskwire sends from a board to a host,
//!   and the serial-safe framing (postcard payload, CRC-32, COBS, 0x00 delimiters).
//!
//! The stream rides on any byte pipe, and through an MQTT broker: [`mqtt`] holds the
//! part of MQTT 5.0 a board needs to publish it and a host to subscribe to many boards'.
//!
//! Beside the layers, [`psi`] parses the kernel's pressure stall information files
//! (`/proc/pressure/*`, a cgroup's `*.pressure`), so that per-task delays can be shown with
//! the pressure of the whole system or cgroup they ran in.
//!
//! Contract shared by every view: after `new_checked` (or `check_len`) returns `Ok`, no
//! accessor panics. Every decoder returns an [`Error`] rather than panicking, whatever bytes
//! it is given; cargo-fuzz targets under `core/fuzz` hold it to that.
//!
//! Netlink integers are in host byte order; all reads and writes of them go through one
//! private module so that this is said in one place.
//!
//! The `test-util` feature adds what tests and simulators need to build kernel input and
//! record streams (`taskstats::put_field`, `put_comm`, `Reply::emit`, `wire::testutil`).
//! It is for dev-dependencies: those items are not part of the codec's API, and the
//! helpers use std.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The test helpers build vectors and proptest strategies; the codec itself never uses std.
#[cfg(all(feature = "test-util", not(test)))]
extern crate std;

mod bytes;
pub mod error;

pub mod builder;
pub mod genl;
pub mod netlink;
pub mod nla;

pub mod cgroupstats;
pub mod cpulist;
pub mod nlctrl;
pub mod taskstats;

pub mod psi;

pub mod auth;

pub mod wire;

pub mod mqtt;

#[cfg(feature = "test-util")]
pub mod fixtures;

#[cfg(any(test, feature = "test-util"))]
pub mod byte_order;

pub use error::{Error, Result};

/// The largest netlink message taskwire builds or expects to receive, in bytes.
///
/// An exit message carrying both an AGGR_PID and an AGGR_TGID nest of the largest known
/// struct (version 17, 688 bytes) is about 1,430 bytes; padding attributes and a newer,
/// longer struct need headroom, and a REGISTER command's cpulist for thousands of CPUs can be
/// long too. Builders fail with [`Error::BufferTooSmall`] rather than exceed their buffer.
pub const MAX_MSG_SIZE: usize = 4096;
