//! Messages and streams for the decode tests, built with core from real kernel records.

use taskwire_core::netlink::{self, Message as NlMessage};
use taskwire_core::taskstats::Reply;
use taskwire_core::wire::{
    Kind, MAX_FRAME_LEN, Message, Profile, Record, StreamHeader, Values, encode_frame,
};

use taskwire_core::fixtures::{EXIT_GROUP, EXIT_PID_ONLY, EXIT_THREAD_GROUP, FAMILY};

/// Every aggregate of the three captured exit messages as a record of `profile`, numbered
/// from 0: three per-task records and two per-thread-group ones.
pub fn fixture_records(profile: Profile) -> Vec<Record> {
    let mut out = Vec::new();
    for bytes in [&EXIT_PID_ONLY[..], &EXIT_GROUP, &EXIT_THREAD_GROUP] {
        let packet = netlink::messages(bytes).next().unwrap().unwrap();
        let NlMessage::Data(p) = NlMessage::parse(packet).unwrap() else {
            panic!("fixture is not a data message");
        };
        let reply = Reply::parse(p, FAMILY).unwrap();
        for (kind, a) in reply.aggregates() {
            let seq = out.len() as u64;
            out.push(Record::from_taskstats(seq, kind, a.id, &a.stats, profile));
        }
    }
    out
}

/// `msg` as one frame.
pub fn frame(msg: &Message) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    let n = encode_frame(msg, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// A header naming `board`.
pub fn header(board: &str) -> Message {
    let mut h = StreamHeader::new();
    h.board_id = board.try_into().unwrap();
    Message::Header(h)
}

/// A small per-task `delays` record numbered `seq`.
pub fn record(seq: u64) -> Message {
    let mut values = Values::new();
    for i in 0..16 {
        values.push(Some(seq * 100 + i)).unwrap();
    }
    Message::Record(Record {
        seq,
        kind: Kind::Pid,
        id: 1000 + seq as u32,
        profile: Profile::Delays,
        comm: None,
        values,
    })
}

/// A whole stream: the leading 0x00, a header for `board`, then records `seqs`.
pub fn stream_bytes(board: &str, seqs: impl IntoIterator<Item = u64>) -> Vec<u8> {
    let mut w = vec![0u8];
    w.extend(frame(&header(board)));
    for s in seqs {
        w.extend(frame(&record(s)));
    }
    w
}
