//! What arrives on a broker's topics: each stream topic is one board's stream, read
//! payload after payload by a [`Session`] of its own; each status topic (`TOPIC/status`)
//! says whether that board is `online`, `stopped` (it said so) or `lost` (its last will:
//! it went away without stopping).

use std::collections::HashMap;

use taskwire_cli::output::escape_token;

use super::url::STATUS_LEVEL;
use crate::session::{Decoder, Session};

/// Stream topics read at once. Past this the topic idle the longest is closed (its board
/// and counts stay; its next payload opens it again and shows its header again). Below
/// the board table's bound, so that a board being read is never evicted from it.
pub const MAX_TOPICS: usize = 512;
const _: () = assert!(MAX_TOPICS < crate::boards::MAX_BOARDS);
/// Status topics remembered, to tell a change from a repeat.
const MAX_STATUS: usize = 4096;

/// What a board's status topic says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `online`: its agent connected to the broker.
    Online,
    /// `stopped`: its agent stopped and said so.
    Stopped,
    /// `lost`: the broker published its last will: it went away without a word.
    Lost,
}

impl Status {
    fn parse(payload: &[u8]) -> Option<Status> {
        match payload {
            b"online" => Some(Status::Online),
            b"stopped" => Some(Status::Stopped),
            b"lost" => Some(Status::Lost),
            _ => None,
        }
    }
}

/// One stream topic.
#[derive(Debug)]
struct Stream {
    session: Session,
    /// When it last brought a payload, in payloads received.
    used: u64,
}

/// The topics heard from so far.
#[derive(Debug, Default)]
pub struct Topics {
    streams: HashMap<String, Stream>,
    status: HashMap<String, Status>,
    payloads: u64,
}

impl Topics {
    /// A message on `topic`: a status when its last level is `status`, else the next
    /// payload of that topic's stream. `retained`: the broker's stored message, sent as
    /// this decoder subscribed (a state from before, not a change now).
    pub fn message(&mut self, d: &mut Decoder, topic: &str, payload: &[u8], retained: bool) {
        match topic
            .strip_suffix(STATUS_LEVEL)
            .and_then(|t| t.strip_suffix('/'))
        {
            Some(board) => self.status(d, board, payload, retained),
            None => self.payload(d, topic, payload),
        }
    }

    fn payload(&mut self, d: &mut Decoder, topic: &str, payload: &[u8]) {
        self.payloads += 1;
        if let Some(b) = &mut d.tally.broker {
            b.payloads += 1;
        }
        if !self.streams.contains_key(topic) && self.streams.len() >= MAX_TOPICS {
            let idle = self.streams.iter().min_by_key(|(_, s)| s.used);
            if let Some(t) = idle.map(|(t, _)| t.clone()) {
                if let Some(mut gone) = self.streams.remove(&t) {
                    d.close(&mut gone.session);
                }
            }
        }
        let used = self.payloads;
        let s = self
            .streams
            .entry(topic.to_owned())
            .or_insert_with(|| Stream {
                session: Session::topic(topic),
                used,
            });
        s.used = used;
        let before = s.session.label().map(str::to_owned);
        d.feed(&mut s.session, payload);
        let after = s.session.label();
        if after.is_some() && after != before.as_deref() {
            eprintln!(
                "taskwire decode: {}: board {}",
                escape_token(topic.as_bytes()),
                escape_token(after.unwrap_or_default().as_bytes())
            );
        }
    }

    fn status(&mut self, d: &mut Decoder, board: &str, payload: &[u8], retained: bool) {
        let Some(now) = Status::parse(payload) else {
            // An empty payload clears a retained message: nothing to say.
            return;
        };
        let full = self.status.len() >= MAX_STATUS;
        let before = match self.status.get_mut(board) {
            Some(s) => Some(std::mem::replace(s, now)),
            None => {
                if !full {
                    self.status.insert(board.to_owned(), now);
                }
                None
            }
        };
        if before == Some(now) {
            return;
        }
        if let Some(b) = &mut d.tally.broker {
            match now {
                Status::Online => b.online += 1,
                Status::Stopped => b.stopped += 1,
                Status::Lost => b.lost += 1,
            }
        }
        // The states stored before this decoder subscribed are not news, but a board
        // that died unseen is.
        if before.is_none() && retained && now != Status::Lost {
            return;
        }
        let what = match (now, before.is_none() && retained) {
            (Status::Online, _) => "is online",
            (Status::Stopped, _) => "stopped",
            (Status::Lost, false) => "went away without stopping (its last will)",
            (Status::Lost, true) => {
                "went away without stopping (its last will), before this decoder subscribed"
            }
        };
        let name = match self.streams.get(board).and_then(|s| s.session.label()) {
            Some(label) => format!(
                "board {} ({})",
                escape_token(label.as_bytes()),
                escape_token(board.as_bytes())
            ),
            None => format!("board at topic {}", escape_token(board.as_bytes())),
        };
        eprintln!("taskwire decode: {name} {what}");
    }

    /// Every stream ends (the decoder stops): pending rejections are counted.
    pub fn close_all(&mut self, d: &mut Decoder) {
        for (_, mut s) in self.streams.drain() {
            d.close(&mut s.session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Format;
    use crate::tally::BrokerCounts;
    use taskwire_core::wire::testutil::{frame, named_header, small_record};

    /// A payload as an agent publishes it: 0x00, the header, records `seqs`.
    fn payload(board: &str, seqs: std::ops::Range<u64>) -> Vec<u8> {
        let mut p = vec![0u8];
        p.extend(frame(&named_header(board)));
        for s in seqs {
            p.extend(frame(&small_record(s)));
        }
        p
    }

    #[test]
    fn payloads_of_a_topic_are_one_board_and_its_header_shows_once() {
        let mut d = Decoder::new(Format::Json);
        d.tally.broker = Some(BrokerCounts::default());
        let mut t = Topics::default();
        t.message(&mut d, "taskwire/a/stream", &payload("a", 0..3), false);
        t.message(&mut d, "taskwire/b/stream", &payload("b", 0..2), false);
        t.message(&mut d, "taskwire/a/stream", &payload("a", 3..5), false);
        // Redelivered by the broker: duplicates, not a restart.
        t.message(&mut d, "taskwire/a/stream", &payload("a", 0..3), false);
        let headers = d
            .out
            .lines()
            .filter(|l| l.contains("\"type\":\"header\""))
            .count();
        assert_eq!(headers, 2, "{}", d.out);
        let rows: Vec<(String, u64, u64, u64, u64)> = d
            .tally
            .boards()
            .map(|(n, c)| {
                (
                    n.to_owned(),
                    c.records(),
                    c.seq.duplicates,
                    c.seq.restarts,
                    c.seq.streams,
                )
            })
            .collect();
        // Each payload a stream for the accounting: a, 3; b, 1.
        assert_eq!(
            rows,
            [("a".to_owned(), 5, 3, 0, 3), ("b".to_owned(), 2, 0, 0, 1)]
        );
        assert_eq!(d.tally.broker.unwrap().payloads, 4);
    }

    #[test]
    fn an_enobufs_report_in_a_payload_sent_again_counts_once() {
        use taskwire_core::wire::testutil::loss_of;
        use taskwire_core::wire::{LossReason, Message};
        let mut d = Decoder::new(Format::Json);
        let mut t = Topics::default();
        let mut p = payload("e", 0..2);
        p.extend(frame(&Message::Loss(loss_of(
            LossReason::KernelEnobufs,
            1,
            2,
        ))));
        p.extend(frame(&small_record(2)));
        t.message(&mut d, "taskwire/e/stream", &p, false);
        t.message(&mut d, "taskwire/e/stream", &p, false);
        let (_, c) = d.tally.boards().next().unwrap();
        assert_eq!(c.lost(LossReason::KernelEnobufs), 1);
        assert_eq!((c.records(), c.seq.duplicates, c.seq.restarts), (3, 4, 0));
        let losses = d
            .out
            .lines()
            .filter(|l| l.contains("\"type\":\"loss\""))
            .count();
        assert_eq!(losses, 1);
    }

    #[test]
    fn a_restarted_agent_on_its_topic_is_a_new_board() {
        use taskwire_core::wire::testutil::instance_stream;
        let mut d = Decoder::new(Format::Json);
        let mut t = Topics::default();
        let run = |instance: u64, seqs: std::ops::Range<u64>| instance_stream("r", instance, seqs);
        t.message(&mut d, "taskwire/r/stream", &run(1, 0..10), false);
        t.message(&mut d, "taskwire/r/stream", &run(2, 0..4), false);
        t.message(&mut d, "taskwire/r/stream", &run(2, 4..6), false);
        let rows: Vec<(String, u64, u64)> = d
            .tally
            .boards()
            .map(|(n, c)| (n.to_owned(), c.records(), c.seq.duplicates))
            .collect();
        assert_eq!(
            rows,
            [("r".to_owned(), 10, 0), ("r#00000002".to_owned(), 6, 0)]
        );
        let headers = d
            .out
            .lines()
            .filter(|l| l.contains("\"type\":\"header\""))
            .count();
        assert_eq!(headers, 2);
    }

    #[test]
    fn topics_past_the_bound_close_the_idle_ones_and_keep_their_counts() {
        let mut d = Decoder::new(Format::Text);
        let mut t = Topics::default();
        for i in 0..MAX_TOPICS + 10 {
            let b = format!("b{i}");
            t.message(
                &mut d,
                &format!("taskwire/{b}/stream"),
                &payload(&b, 0..2),
                false,
            );
        }
        assert_eq!(t.streams.len(), MAX_TOPICS);
        assert!(
            !t.streams.contains_key("taskwire/b0/stream"),
            "the idlest went"
        );
        // It comes back: read again, its numbers still known.
        t.message(&mut d, "taskwire/b0/stream", &payload("b0", 1..3), false);
        let (_, b0) = d.tally.boards().find(|(n, _)| *n == "b0").unwrap();
        assert_eq!((b0.records(), b0.seq.duplicates), (3, 1));
        assert_eq!(d.tally.total().records(), 2 * (MAX_TOPICS as u64 + 10) + 1);
    }

    #[test]
    fn status_changes_are_counted_once() {
        let mut d = Decoder::new(Format::Text);
        d.tally.broker = Some(BrokerCounts::default());
        let mut t = Topics::default();
        t.message(&mut d, "taskwire/a/stream/status", b"online", true);
        t.message(&mut d, "taskwire/a/stream/status", b"online", true);
        t.message(&mut d, "taskwire/a/stream/status", b"lost", false);
        t.message(&mut d, "taskwire/a/stream/status", b"", false);
        t.message(&mut d, "taskwire/b/stream/status", b"stopped", false);
        let b = d.tally.broker.unwrap();
        assert_eq!((b.online, b.lost, b.stopped, b.payloads), (1, 1, 1, 0));
        assert_eq!(d.tally.board_count(), 0, "a status is no board");
    }
}
