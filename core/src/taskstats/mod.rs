//! The taskstats generic netlink family: commands, replies and `struct taskstats`.
//!
//! [`Command`] builds the requests the kernel's getdelays sends (GET by pid or tgid,
//! REGISTER/DEREGISTER of a cpumask); [`Reply`] walks a NEW message, whether it answers a GET
//! or reports a task exit; [`Taskstats`] decodes the struct inside by offset, for every
//! version the kernel has shipped. [`Snapshot`] and [`Rates`] turn two replies about one task
//! into rates over the interval between them.

mod command;
mod reply;

mod field;
mod layout;
mod stats;

mod rates;

// --- lead: command/reply re-exports ---
pub use command::{CMD_GET, CMD_NEW, Command, cmd_attr};
pub use reply::{Aggregate, Aggregates, Kind, Reply, attr};

// --- struct decoding re-exports (field.rs, layout.rs, stats.rs) ---
pub use field::{Field, Unit, ac_flag};
#[cfg(any(test, feature = "test-util"))]
pub(crate) use layout::const_slot;
pub use layout::{
    COMM_LEN, LATEST_VERSION, MAX_STRUCT_SIZE, MIN_VERSION, comm_range, field_range, struct_size,
};
#[cfg(any(test, feature = "test-util"))]
pub use layout::{put_comm, put_field};
pub use stats::{CommLossy, Delay, DelayStats, Fields, Taskstats, Value};

// --- per-interval rates (rates.rs) ---
pub use rates::{
    Counter, DelayCounter, DelayRate, Deltas, Identity, Peak, Rates, Skip, Snapshot, SortKey, Start,
};

/// Name of the generic netlink family, resolved through nlctrl.
pub const FAMILY_NAME: &str = "TASKSTATS";
/// Version of the family's generic netlink header (`TASKSTATS_GENL_VERSION`).
pub const FAMILY_VERSION: u8 = 1;
