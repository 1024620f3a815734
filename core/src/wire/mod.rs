//! The taskwire record stream: schema and serial-safe framing.
//!
//! The agent turns each kernel exit record into a [`Record`] of one [`Profile`], wraps it
//! in a [`Message`] and sends it as a frame (`core/WIRE.md` is the written contract):
//!
//! * **Schema** ([`Message`], [`StreamHeader`], [`Record`], [`Loss`], [`Heartbeat`], and
//!   for live tasks [`Interval`] and [`Sample`]): serde types encoded with postcard
//!   (varints, no field names). A stream opens with a
//!   [`StreamHeader`] carrying [`WIRE_VERSION`] and [`SCHEMA_HASH`]. Fields and variants
//!   are only ever appended.
//! * **Framing** ([`encode_frame`], [`FrameReader`]): payload ‖ CRC-32, COBS-stuffed,
//!   ended by 0x00, with a 0x00 before the first frame so that a frame cut off by a reboot
//!   is dropped. The reader resynchronises at every 0x00, so one bad byte costs one frame.
//!
//! * **Return path** ([`Answer`], [`encode_answer_frame`], [`AnswerReader`]): what a
//!   collector sends back on a two-way link (acknowledgements, refusals), framed alike.
//!
//! Nothing here allocates; buffer sizes come from [`MAX_FRAME_LEN`] and
//! [`MAX_PAYLOAD_LEN`], which tests check against the largest message.

mod answer;
mod cobs;
mod crc;
mod frame;
mod message;
mod proof;
mod reader;
mod record;
mod sample;
mod schema;
mod sequence;

pub use answer::{
    ANSWER_READER_LEN, Answer, AnswerReader, MAX_ANSWER_FRAME_LEN, MAX_ANSWER_PAYLOAD_LEN,
    RefuseReason, TAG_ACK, TAG_CHALLENGE, TAG_CLOSING, TAG_REFUSE, decode_answer,
    encode_answer_frame,
};
pub use cobs::{DELIMITER, decode as cobs_decode, encode as cobs_encode, max_encoded_len};
pub use crc::{Crc32, crc32};
pub use frame::{
    CRC_LEN, MAX_FRAME_LEN, MAX_INTERVAL_PAYLOAD_LEN, MAX_PAYLOAD_LEN, MAX_SAMPLE_PAYLOAD_LEN,
    decode_frame, decode_payload, encode_frame, encode_interval_payload, encode_numbered_frame,
    encode_payload, encode_record_payload, encode_sample_payload,
};
pub use message::{
    AGENT_VERSION_CAP, BOARD_ID_CAP, Heartbeat, KERNEL_RELEASE_CAP, Loss, LossReason, MAGIC,
    Message, POSSIBLE_CPUS_CAP, StreamHeader,
};
pub use proof::{
    PROOF_FRAME_LEN, PROOF_PAYLOAD_LEN, Proof, ProofReader, TAG_PROOF, decode_proof,
    encode_proof_frame,
};
pub use reader::{FrameReader, Frames, ReaderStats, Refusal, StreamReader};
pub use record::{
    ACCT_FIELDS, COMM_CAP, Comm, DELAYS_FIELDS, FieldValue, Kind, MAX_SLOTS, Profile, Record,
    Values,
};
pub use sample::{Interval, PsiResource, SAMPLE_SLOTS, Sample, interval_ms_of};
pub use schema::{SCHEMA, SCHEMA_HASH, WIRE_VERSION, fnv1a32};
pub use sequence::{SEQ_WINDOW, SEQ_WINDOW_WORDS, SeqCounts, SeqTracker, Verdict};

#[cfg(test)]
mod measure;
#[cfg(any(test, feature = "test-util"))]
pub mod testutil;
