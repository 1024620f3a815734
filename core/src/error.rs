//! The one error type of the codec.

use core::fmt;

/// Everything that can go wrong while decoding or encoding.
///
/// Small and `Copy` on purpose: decoders run on every received datagram and must not
/// allocate or carry text. The agent turns these into messages a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The bytes end before the structure they should hold.
    Truncated,
    /// A length field disagrees with the bytes around it (nlmsg_len, nla_len, a payload
    /// that is not the size its type needs).
    BadLength,
    /// The caller's output buffer is too small for what is being emitted.
    BufferTooSmall,
    /// A required attribute or field is absent.
    Missing,
    /// A message of another type or command than the one expected.
    Unexpected,
    /// A version this code cannot read (taskstats version 1, a newer wire format), or a
    /// field a struct version lacks. Carries the version, so that a caller can say which
    /// without keeping the bytes it came in.
    Unsupported {
        /// The refused version: a `struct taskstats` version, or a stream's wire version.
        version: u16,
    },
    /// Text that does not follow its grammar (cpulist syntax, a bad name).
    Malformed,
    /// An empty list where at least one element is needed.
    Empty,
    /// A range whose end is below its start, such as `5-3`.
    Reversed,
    /// A number beyond what the type can hold (a CPU above [`crate::cpulist::MAX_CPUS`]).
    OutOfRange,
    /// A frame whose COBS encoding is broken.
    Cobs,
    /// A frame whose CRC-32 does not match its payload.
    Checksum,
    /// A frame whose payload does not decode as the schema says.
    Payload,
}

/// Result type of the codec.
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::Truncated => "message truncated",
            Error::BadLength => "length field does not match the data",
            Error::BufferTooSmall => "output buffer too small",
            Error::Missing => "required attribute missing",
            Error::Unexpected => "unexpected message type or command",
            Error::Unsupported { version } => return write!(f, "unsupported version {version}"),
            Error::Malformed => "malformed text",
            Error::Empty => "empty list",
            Error::Reversed => "range end below its start",
            Error::OutOfRange => "number out of range",
            Error::Cobs => "bad COBS encoding",
            Error::Checksum => "CRC mismatch",
            Error::Payload => "payload does not decode",
        };
        f.write_str(text)
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_names_its_version() {
        let e = Error::Unsupported { version: 3 };
        assert_eq!(e.to_string(), "unsupported version 3");
        assert_eq!(Error::Cobs.to_string(), "bad COBS encoding");
    }
}
