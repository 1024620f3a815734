//! The frames of one write, each remembered with what it carries: after a short write the
//! writer knows which records went out, and when the agent stops it knows which numbers
//! the frames it never started held, without decoding its own output.

use taskwire_core::wire::MAX_FRAME_LEN;

use super::framer::Framer;
use super::queue::Item;

/// Bytes of frames gathered before one write: enough to cut system calls under an exit
/// storm, small enough that a UART at 115200 baud drains it in a third of a second.
pub const BATCH_BYTES: usize = 4096;

/// Frames waiting to be written, oldest first.
#[derive(Debug)]
pub struct Batch {
    bytes: Vec<u8>,
    /// Per frame: where it ends in `bytes`, and the record or loss it carries (None for a
    /// heartbeat, which carries no numbers).
    frames: Vec<(usize, Option<Item>)>,
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

impl Batch {
    /// An empty batch, its room allocated now.
    pub fn new() -> Batch {
        Batch {
            bytes: Vec::with_capacity(BATCH_BYTES + MAX_FRAME_LEN),
            frames: Vec::new(),
        }
    }

    /// The frames, back to back.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Per frame: where it ends in [`Batch::bytes`], and the record or loss it carries
    /// (None for a heartbeat).
    pub fn frames(&self) -> &[(usize, Option<Item>)] {
        &self.frames
    }

    /// Whether no frame waits.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether the batch is big enough for one write.
    pub fn is_full(&self) -> bool {
        self.bytes.len() >= BATCH_BYTES
    }

    /// Frames `item` (its payload in `payload`) at the end.
    pub fn item(&mut self, framer: &mut Framer, item: Item, payload: &[u8]) {
        let framed = framer.item(item, payload, &mut self.bytes);
        self.frames.push((self.bytes.len(), Some(framed)));
    }

    /// Frames a heartbeat at the end (see [`Framer::heartbeat`]).
    pub fn heartbeat(
        &mut self,
        framer: &Framer,
        uptime_ms: u64,
        unsent_losses: u64,
        queue_depth: usize,
    ) {
        framer.heartbeat(uptime_ms, unsent_losses, queue_depth, &mut self.bytes);
        self.frames.push((self.bytes.len(), None));
    }

    /// Forgets the first `written` bytes, which went out; a write stops only at a frame's
    /// end. Returns the records among them.
    pub fn sent(&mut self, written: usize) -> u64 {
        let done = self.frames.partition_point(|&(end, _)| end <= written);
        let records = self.frames[..done]
            .iter()
            .filter(|(_, c)| matches!(c, Some(Item::Numbered { .. })))
            .count();
        self.frames.drain(..done);
        self.frames.iter_mut().for_each(|(end, _)| *end -= written);
        self.bytes.drain(..written);
        records as u64
    }

    /// Empties the batch, handing out what its frames carried, in order; heartbeats are
    /// left out.
    pub fn take(&mut self) -> Vec<Item> {
        self.bytes.clear();
        self.frames.drain(..).filter_map(|(_, c)| c).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::framer::tests::payload;
    use taskwire_core::wire::{Kind, LossReason, Profile, StreamHeader};

    #[test]
    fn frames_keep_their_contents_through_short_writes() {
        let (p, _) = payload(Kind::Pid, Profile::Delays);
        let mut f = Framer::new(StreamHeader::new());
        let mut b = Batch::new();
        let rec = |seq| Item::Numbered { len: p.len(), seq };
        let loss = Item::Loss {
            reason: LossReason::QueueOverflow,
            count: 2,
            next_seq: 3,
        };
        b.item(&mut f, rec(0), &p);
        let first = b.bytes().len();
        b.item(&mut f, loss, &[]);
        b.heartbeat(&f, 1, 0, 0);
        b.item(&mut f, rec(3), &p);
        assert_eq!(b.sent(0), 0);
        assert_eq!(b.sent(first), 1);
        assert_eq!(b.take(), [loss, rec(3)]);
        assert!(b.is_empty());
        assert_eq!(b.sent(0), 0);
    }
}
