//! The recorded stream every simulated board replays: its header and its exit records,
//! each re-encoded as the payload the agent's reader queues (`seq` 0: the queue numbers
//! it), so the boards' writers frame and send exactly what a real agent would.

use taskwire_core::wire::{self, Message, StreamHeader, StreamReader};

/// A capture made by `taskwire stream --to file:`.
pub struct Capture {
    pub header: StreamHeader,
    /// Record payloads, in the order recorded.
    pub payloads: Vec<Vec<u8>>,
}

impl Capture {
    pub fn read(path: &str) -> Result<Capture, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        let mut reader: StreamReader = StreamReader::new();
        let mut header = None;
        let mut payloads = Vec::new();
        let mut buf = vec![0u8; wire::MAX_PAYLOAD_LEN];
        for m in reader.feed(&bytes) {
            match m {
                Ok(Message::Header(h)) => {
                    header.get_or_insert(h);
                }
                Ok(Message::Record(mut r)) => {
                    r.seq = 0;
                    let n = wire::encode_record_payload(&r, &mut buf)
                        .map_err(|e| format!("{path}: re-encoding a record: {e}"))?;
                    payloads.push(buf[..n].to_vec());
                }
                _ => {}
            }
        }
        let header = header.ok_or_else(|| format!("{path}: no stream header"))?;
        if payloads.is_empty() {
            return Err(format!("{path}: no records"));
        }
        Ok(Capture { header, payloads })
    }
}
