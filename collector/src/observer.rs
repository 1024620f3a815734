//! What sees the decoded frames beside the renderer: `taskwire report`'s aggregate
//! ([`crate::report`]). The decoder calls it after the tally, so it is told what the
//! board's sequence accounting made of each frame rather than working it out again.

use std::any::Any;
use std::fmt::Debug;

use taskwire_core::wire::{Message, SeqCounts};

/// Takes every frame the decoder read, with its board.
pub trait Observer: Debug + Any {
    /// `message` was read from `board`'s stream (its label); `seq` is the board's
    /// sequence accounting once the frame was counted: a numbered frame that left
    /// `seq.records` where it was, or a Loss that added to `seq.duplicates`, was a resend.
    fn message(&mut self, board: &str, message: &Message, seq: &SeqCounts);

    /// The observer itself, to be taken back as its own type when decoding is over.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}
