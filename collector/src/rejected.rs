//! Frames the reader rejected, by its reason.

use taskwire_core::Error;

/// Frames rejected, by the reader's reason (`ReaderStats` without `accepted`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rejected {
    /// Longer than the reader's buffer.
    pub overflow: u64,
    /// Broken COBS stuffing.
    pub cobs: u64,
    /// Bad CRC, or too short for one.
    pub checksum: u64,
    /// Good CRC, undecodable payload.
    pub payload: u64,
    /// A newer wire version's frames.
    pub unsupported: u64,
    /// Good frames a network connection sent before its header (it is not a board until
    /// then).
    pub no_header: u64,
}

impl Rejected {
    /// Counts one rejection.
    pub fn count(&mut self, e: Error) {
        let slot = match e {
            Error::BufferTooSmall => &mut self.overflow,
            Error::Cobs => &mut self.cobs,
            Error::Checksum => &mut self.checksum,
            Error::Unsupported { .. } => &mut self.unsupported,
            // The reader's own rule (`ReaderStats`): anything else is a payload problem.
            _ => &mut self.payload,
        };
        *slot = slot.saturating_add(1);
    }

    /// Every rejection.
    pub fn total(&self) -> u64 {
        self.overflow
            .saturating_add(self.cobs)
            .saturating_add(self.checksum)
            .saturating_add(self.payload)
            .saturating_add(self.unsupported)
            .saturating_add(self.no_header)
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Rejected) {
        self.overflow = self.overflow.saturating_add(other.overflow);
        self.cobs = self.cobs.saturating_add(other.cobs);
        self.checksum = self.checksum.saturating_add(other.checksum);
        self.payload = self.payload.saturating_add(other.payload);
        self.unsupported = self.unsupported.saturating_add(other.unsupported);
        self.no_header = self.no_header.saturating_add(other.no_header);
    }
}
