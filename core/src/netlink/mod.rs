//! Netlink messages: the `nlmsghdr` view, walking a datagram, and error/ack messages.
//!
//! One `recv` on a netlink socket may return several messages back to back, each padded to
//! four bytes. [`messages`] walks them by their own length fields; [`Message::parse`] sorts
//! each into data, acknowledgement, error or end-of-dump.

mod header;
mod message;
mod walk;

pub use header::{HEADER_LEN, Header, Packet};
pub use message::Message;
pub use walk::{Messages, messages};

/// Netlink alignment: every message and attribute starts on a 4-byte boundary.
pub const ALIGNTO: usize = 4;

/// Rounds `len` up to the netlink alignment, or `None` on overflow.
#[inline]
pub(crate) const fn align(len: usize) -> Option<usize> {
    match len.checked_add(ALIGNTO - 1) {
        Some(v) => Some(v & !(ALIGNTO - 1)),
        None => None,
    }
}

/// Message types the netlink core reserves (below 0x10); families use higher numbers.
pub const NOOP: u16 = 1;
/// An error report, or an acknowledgement when its errno is zero.
pub const ERROR: u16 = 2;
/// End of a multi-part dump.
pub const DONE: u16 = 3;
/// Data lost (unused by taskstats, recognised for completeness).
pub const OVERRUN: u16 = 4;

/// `nlmsg_flags` bits used by taskwire.
pub mod flags {
    /// A request (every message sent to the kernel carries it).
    pub const REQUEST: u16 = 0x01;
    /// Part of a multi-part message.
    pub const MULTI: u16 = 0x02;
    /// Ask for an acknowledgement. Taskstats REGISTER sends nothing back without it.
    pub const ACK: u16 = 0x04;
    /// Echo this request.
    pub const ECHO: u16 = 0x08;
    /// In an ACK: the error message carries no copy of the request's payload.
    pub const CAPPED: u16 = 0x100;
    /// In an ACK: extended acknowledgement attributes follow.
    pub const ACK_TLVS: u16 = 0x200;
}
