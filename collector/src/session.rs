//! One incoming byte stream (a connection, a file, a UART) and everything decoded from it.
//!
//! Each stream has its own [`StreamReader`] (frames never straddle two connections) and
//! its own board label; what it decodes goes to the shared [`Decoder`]: the output text
//! and the per-board [`Tally`], which follows each board's sequence numbers over all its
//! streams and drops duplicates.

use taskwire_core::Error;
use taskwire_core::wire::{Message, Refusal, SCHEMA_HASH, StreamReader, Verdict, WIRE_VERSION};

use super::boards::Key;
use super::rejected::Rejected;
use super::render::{Format, Only, Renderer};
use super::tally::Tally;
use super::view::View;
use taskwire_cli::output::escape_token;

/// State shared by every stream: the output and the counts.
#[derive(Debug)]
pub struct Decoder {
    /// Per-board counts.
    pub tally: Tally,
    renderer: Renderer,
    /// `--only`: the kind of numbered frames printed (all of them are counted).
    only: Option<Only>,
    /// `--view top`: samples go to the view and nothing else is printed (everything is
    /// still counted).
    pub view: Option<View>,
    /// Rendered output not written yet.
    pub out: String,
    /// Headerless streams labelled so far (`?1`, `?2`, ...).
    headerless: u64,
    /// The network connections' timeouts.
    pub timeouts: crate::Timeouts,
    /// Sources whose reading failed (not a reset connection): the exit status says so.
    pub read_errors: u64,
    /// When the last line about connections without a header was written.
    last_no_header: Option<std::time::Instant>,
    /// `--key`: every accepted connection must prove it knows this key before its stream
    /// is read (core/WIRE.md section 7.5).
    pub key: Option<taskwire_core::auth::Key>,
    /// When the last line about a connection refused for its proof was written.
    last_auth: Option<std::time::Instant>,
    /// `--metrics`: what is kept for the scrapers beside the counts, and their server.
    pub metrics: Option<crate::metrics::Metrics>,
    /// Sees every frame taken, after the tally (`taskwire report`); nothing is printed
    /// while there is one.
    pub observer: Option<Box<dyn crate::observer::Observer>>,
}

impl Decoder {
    /// A decoder rendering in `format`.
    pub fn new(format: Format) -> Decoder {
        Decoder {
            tally: Tally::new(),
            renderer: Renderer::new(format),
            only: None,
            view: None,
            out: String::new(),
            headerless: 0,
            timeouts: crate::Timeouts::default(),
            read_errors: 0,
            last_no_header: None,
            key: None,
            last_auth: None,
            metrics: None,
            observer: None,
        }
    }

    /// A network connection from `peer` failed the key's challenge (no proof, or a wrong
    /// one): counted, and said at most once a second, whatever a flood of forgers does.
    pub fn refused_authentication(&mut self, peer: &str) {
        self.tally.refused_authentication += 1;
        let now = std::time::Instant::now();
        if self
            .last_auth
            .is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(1))
        {
            self.last_auth = Some(now);
            eprintln!(
                "taskwire decode: refused {}: it did not prove it knows the key (an agent \
                 without --key, or with another key); {} refused so far",
                escape_token(peer.as_bytes()),
                self.tally.refused_authentication
            );
        }
    }

    /// A network connection from `peer` was closed before a readable header (`why`):
    /// counted, and said at most once a second, whatever a flood of junk does.
    pub fn no_header(&mut self, peer: &str, why: &str) {
        self.tally.refused_no_header += 1;
        let now = std::time::Instant::now();
        if self
            .last_no_header
            .is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(1))
        {
            self.last_no_header = Some(now);
            eprintln!(
                "taskwire decode: closed {} without a readable header ({why}); {} such \
                 connections so far",
                escape_token(peer.as_bytes()),
                self.tally.refused_no_header
            );
        }
    }

    /// This decoder printing only records or only samples (`--only`).
    pub fn with_only(self, only: Option<Only>) -> Decoder {
        Decoder { only, ..self }
    }

    /// This decoder feeding `view` rather than printing (`--view top`).
    pub fn with_view(self, view: View) -> Decoder {
        Decoder {
            view: Some(view),
            ..self
        }
    }

    /// Whether frames of `kind` are printed.
    fn prints(&self, kind: Only) -> bool {
        self.view.is_none() && self.observer.is_none() && self.only.is_none_or(|o| o == kind)
    }

    /// Every stream ended: the view's intervals being assembled are complete.
    pub fn end_of_input(&mut self) {
        if let Some(v) = &mut self.view {
            v.finish_all(&mut self.out);
        }
    }

    /// The renderer (to ask what it saw).
    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// Decodes `bytes`, the next bytes of `session`'s stream.
    pub fn feed(&mut self, session: &mut Session, bytes: &[u8]) {
        for &b in bytes {
            if let Some(result) = session.reader.push(b) {
                session.seen.note(&result);
                self.report_refusal(session);
                let seen = self.observer.is_some().then(|| result.clone());
                self.handle(session, result);
                if let (Some(Ok(m)), Some(o), Some(key)) = (seen, &mut self.observer, &session.key)
                {
                    o.message(session.board(), &m, &self.tally.seq_counts(key));
                }
            }
        }
    }

    /// The stream ended: counts what is still pending (rejections before any label, and
    /// a frame cut off by the end of the input, counted as a checksum failure: its CRC
    /// never arrived). A network stream that never sent a readable header leaves no
    /// board behind.
    pub fn close(&mut self, session: &mut Session) {
        if session.reader.mid_frame() {
            session.reader.reset();
            session.pending.count(Error::Checksum);
        }
        if session.pending.total() > 0 && (session.key.is_some() || !session.needs_header) {
            let key = self.key(session);
            let pending = std::mem::take(&mut session.pending);
            self.tally.rejected(&key, &pending);
        }
        if let (Some(v), Some(label)) = (&mut self.view, &session.label) {
            v.finish(label, &mut self.out);
        }
        if let Some(key) = session.key.take() {
            self.tally.detach(&key);
        }
        session.label = None;
    }

    /// The session's board, giving a headerless stream its `?N` now. Pending rejections
    /// go to it.
    fn key(&mut self, session: &mut Session) -> Key {
        if session.key.is_none() {
            self.headerless += 1;
            self.name(session, Key::Headerless(self.headerless));
        }
        session.key.clone().unwrap_or(Key::Headerless(0))
    }

    /// The session now reads `key`'s board.
    fn name(&mut self, session: &mut Session, key: Key) {
        if session.key.as_ref() == Some(&key) {
            return;
        }
        if let Some(old) = session.key.take() {
            self.tally.detach(&old);
        }
        session.label = Some(self.tally.attach(&key));
        session.key = Some(key.clone());
        let pending = std::mem::take(&mut session.pending);
        self.tally.rejected(&key, &pending);
    }

    /// Says once when the session's reader starts refusing a newer wire version (the
    /// header that ends a refusal says so itself).
    fn report_refusal(&self, s: &Session) {
        if let Refusal::Started { version } = s.reader.refusal_change() {
            eprintln!(
                "taskwire decode: {}: sends wire version {version}, this decoder reads version \
                 {WIRE_VERSION}: skipping this stream's frames until it sends a header this \
                 decoder can read (upgrade taskwire on the host)",
                s.describe()
            );
        }
    }

    fn handle(&mut self, s: &mut Session, result: taskwire_core::Result<Message>) {
        // A network connection is not a board until its header: what comes before it is
        // counted, not decoded.
        if s.needs_header && s.key.is_none() && !matches!(result, Ok(Message::Header(_))) {
            match result {
                Ok(_) => s.pending.no_header = s.pending.no_header.saturating_add(1),
                Err(e) => s.pending.count(e),
            }
            return;
        }
        match result {
            Ok(Message::Header(h)) => {
                if let Refusal::Ended { .. } = s.reader.refusal_change() {
                    eprintln!(
                        "taskwire decode: {}: readable wire version {} again; decoding resumes",
                        s.describe(),
                        h.wire_version
                    );
                }
                // Every MQTT payload starts with its board's header: the same one again
                // is not printed, and the next record is not taken for the first of a
                // stream (that would show a restart where a resend came). It is a stream
                // for the accounting, though: an ENOBUFS report in a payload sent again
                // is then known for a resend.
                if let Some(last) = &mut s.last_header {
                    if **last == h {
                        if let Some(key) = s.key.clone() {
                            self.tally.header(&key);
                            return;
                        }
                    }
                    **last = h.clone();
                }
                let key = if h.board_id.is_empty() {
                    // An unnamed board: a label of its own rather than "".
                    match &s.key {
                        Some(k @ Key::Headerless(_)) => k.clone(),
                        _ => {
                            self.headerless += 1;
                            Key::Headerless(self.headerless)
                        }
                    }
                } else {
                    Key::Board {
                        id: h.board_id.as_str().to_owned(),
                        instance: h.instance,
                    }
                };
                let first = s.needs_header && s.key.is_none();
                self.name(s, key.clone());
                let board = s.label.clone().unwrap_or_default();
                if first {
                    eprintln!(
                        "taskwire decode: {} connected (board {})",
                        escape_token(s.peer.as_bytes()),
                        escape_token(board.as_bytes())
                    );
                }
                if !h.same_schema() && !s.warned_schema {
                    s.warned_schema = true;
                    eprintln!(
                        "taskwire decode: board {} ({}): schema hash {:#010x} differs from \
                         this decoder's {SCHEMA_HASH:#010x}: fields or variants it added are \
                         skipped (upgrade taskwire on the host to see them)",
                        escape_token(board.as_bytes()),
                        escape_token(s.peer.as_bytes()),
                        h.schema_hash
                    );
                }
                s.fresh = true;
                self.tally.header(&key);
                match &mut self.view {
                    Some(v) => v.header(&board, &h),
                    None => self.renderer.header(&board, &h, &mut self.out),
                }
            }
            Ok(Message::Record(r)) => {
                let key = self.key(s);
                let fresh = std::mem::take(&mut s.fresh);
                if self.tally.record(&key, r.kind, r.seq, fresh) == Verdict::New {
                    if let Some(m) = &self.metrics {
                        m.record(self.tally.series(&key), &r);
                    }
                    if self.prints(Only::Records) {
                        self.renderer.record(s.board(), &r, &mut self.out);
                    }
                }
            }
            Ok(Message::Interval(i)) => {
                let key = self.key(s);
                let fresh = std::mem::take(&mut s.fresh);
                if self.tally.interval(&key, i.seq, fresh) == Verdict::New {
                    if let Some(m) = &self.metrics {
                        m.interval(self.tally.series(&key), &i);
                    }
                    if let Some(v) = &mut self.view {
                        v.interval(s.board(), &i, &mut self.out);
                    } else if self.prints(Only::Samples) {
                        self.renderer.interval(s.board(), &i, &mut self.out);
                    }
                }
            }
            Ok(Message::Sample(x)) => {
                let key = self.key(s);
                let fresh = std::mem::take(&mut s.fresh);
                if self.tally.sample(&key, x.seq, fresh) == Verdict::New {
                    if let Some(m) = &self.metrics {
                        m.sample(self.tally.series(&key), &x);
                    }
                    if let Some(v) = &mut self.view {
                        v.sample(s.board(), &x, &mut self.out);
                    } else if self.prints(Only::Samples) {
                        self.renderer.sample(s.board(), &x, &mut self.out);
                    }
                }
            }
            Ok(Message::Loss(l)) => {
                let key = self.key(s);
                // Only a Loss of numbered records is a numbered frame.
                let fresh = l.is_numbered() && std::mem::take(&mut s.fresh);
                if self.tally.loss(&key, &l, fresh) == Verdict::New && self.view.is_none() {
                    self.renderer.loss(s.board(), &l, &mut self.out);
                }
            }
            Ok(Message::Heartbeat(h)) => {
                // `records_sent` counts numbered frames sent, not numbers: no place in
                // the numbering (frames dropped before sending take numbers too).
                let key = self.key(s);
                self.tally.heartbeat(&key);
                if self.view.is_none() {
                    self.renderer.heartbeat(s.board(), &h, &mut self.out);
                }
            }
            Err(e) => match &s.key {
                Some(key) => {
                    let mut one = Rejected::default();
                    one.count(e);
                    let key = key.clone();
                    self.tally.rejected(&key, &one);
                }
                None => s.pending.count(e),
            },
        }
    }
}

/// The decoding state of one stream.
#[derive(Debug)]
pub struct Session {
    reader: StreamReader,
    /// The board of the last header, or a `?N` once something arrived without one.
    key: Option<Key>,
    /// `key`'s label.
    label: Option<String>,
    /// A network connection: only a readable header makes it a board.
    needs_header: bool,
    /// Rejections before the stream's board is known.
    pending: Rejected,
    /// No numbered frame (record, interval, sample, Loss of them) since the stream or its
    /// header began: the next one tells whether the agent restarted its numbering.
    fresh: bool,
    warned_schema: bool,
    /// What this connection carried, for its acknowledgements.
    pub seen: crate::ack::Seen,
    /// An MQTT topic's stream, whose every payload repeats the header: the last one, so
    /// that only a different one counts (`None` for other streams).
    last_header: Option<Box<taskwire_core::wire::StreamHeader>>,
    /// Where the bytes come from, for messages (`127.0.0.1:40312`, `file:x.twr`).
    pub peer: String,
}

impl Session {
    /// A stream from `peer`, read from its start or its middle; frames before a header
    /// are decoded under a `?N` label.
    pub fn new(peer: impl Into<String>) -> Session {
        Session {
            reader: StreamReader::new(),
            key: None,
            label: None,
            needs_header: false,
            pending: Rejected::default(),
            fresh: true,
            warned_schema: false,
            seen: crate::ack::Seen::default(),
            last_header: None,
            peer: peer.into(),
        }
    }

    /// The stream of an MQTT topic: payload after payload, each a whole stream of its own
    /// (0x00, the header, frames: core/WIRE.md section 8); a header equal to the last one
    /// read is counted as a stream (`streams` counts the payloads) but not printed, and
    /// does not make the next record a stream's first.
    pub fn topic(topic: impl Into<String>) -> Session {
        Session {
            last_header: Some(Box::new(taskwire_core::wire::StreamHeader::new())),
            ..Session::new(topic)
        }
    }

    /// A network connection from `peer`: not a board until a readable header arrives;
    /// frames before it are counted (`rejected_no_header`), not decoded.
    pub fn connection(peer: impl Into<String>) -> Session {
        Session {
            needs_header: true,
            ..Session::new(peer)
        }
    }

    /// Whether this is a network connection (header and idle timeouts apply).
    pub fn is_connection(&self) -> bool {
        self.needs_header
    }

    /// The board label, once known.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// Whether a readable header named the board.
    pub fn has_header(&self) -> bool {
        matches!(self.key, Some(Key::Board { .. })) || (self.key.is_some() && self.needs_header)
    }

    fn board(&self) -> &str {
        self.label.as_deref().unwrap_or("?")
    }

    fn describe(&self) -> String {
        match (&self.key, &self.label) {
            (Some(Key::Board { .. }), Some(l)) => {
                format!(
                    "board {} ({})",
                    escape_token(l.as_bytes()),
                    escape_token(self.peer.as_bytes())
                )
            }
            _ => format!("stream from {}", escape_token(self.peer.as_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Only;
    use taskwire_core::wire::testutil::{
        self, frame, instance_stream, loss_of, named_header as header, small_interval,
        small_record as record, small_sample, stream_bytes,
    };
    use taskwire_core::wire::{Heartbeat, Kind, Loss, LossReason, StreamHeader};

    fn decoder() -> Decoder {
        Decoder::new(Format::Json)
    }

    #[test]
    fn records_carry_their_streams_board() {
        let mut d = decoder();
        let mut a = Session::new("a");
        let mut b = Session::new("b");
        // Interleaved, split mid-frame: each session keeps its own partial frame.
        let wa = stream_bytes("alpha", 0..3);
        let wb = stream_bytes("beta", 0..2);
        let (a1, a2) = wa.split_at(wa.len() / 2);
        let (b1, b2) = wb.split_at(wb.len() / 3);
        d.feed(&mut a, a1);
        d.feed(&mut b, b1);
        d.feed(&mut a, a2);
        d.feed(&mut b, b2);
        let recs: Vec<&str> = d.out.lines().filter(|l| l.contains("\"record\"")).collect();
        assert_eq!(recs.len(), 5);
        assert_eq!(
            recs.iter()
                .filter(|l| l.contains("\"board\":\"alpha\""))
                .count(),
            3
        );
        assert_eq!(
            recs.iter()
                .filter(|l| l.contains("\"board\":\"beta\""))
                .count(),
            2
        );
        let boards: Vec<_> = d
            .tally
            .boards()
            .map(|(n, b)| (n.to_owned(), b.records()))
            .collect();
        assert_eq!(boards, [("alpha".to_owned(), 3), ("beta".to_owned(), 2)]);
    }

    #[test]
    fn two_boards_with_one_id_stay_apart_and_a_forged_loss_erases_nothing() {
        // Issue 12, finding 4: two honest boards both named `same` sending 0..1000 each
        // lost 999 of 2000 records as duplicates; a Loss(count=8000) sent under a
        // victim's id made its next 500 records vanish.
        let mut d = Decoder::new(Format::Text);
        let (mut a, mut b, mut forger) = (
            Session::connection("a"),
            Session::connection("b"),
            Session::connection("f"),
        );
        d.feed(&mut a, &instance_stream("same", 0x1111, 0..0));
        d.feed(&mut b, &instance_stream("same", 0x2222, 0..0));
        let mut forged = instance_stream("same", 0x3333, 0..0);
        forged.extend(frame(&Message::Loss(loss_of(
            LossReason::SinkOutage,
            8000,
            8000,
        ))));
        d.feed(&mut forger, &forged);
        for seq in 0..1000 {
            d.feed(&mut a, &frame(&record(seq)));
            d.feed(&mut b, &frame(&record(seq)));
        }
        // One of them reconnects (the same run): still its board, its resend a duplicate.
        d.close(&mut a);
        let mut a2 = Session::connection("a2");
        let mut again = instance_stream("same", 0x1111, 999..1001);
        again.extend(frame(&record(1001)));
        d.feed(&mut a2, &again);
        let rows: Vec<(String, u64, u64)> = d
            .tally
            .boards()
            .map(|(n, c)| (n.to_owned(), c.records(), c.seq.duplicates))
            .collect();
        assert_eq!(
            rows,
            [
                ("same".to_owned(), 1002, 1),
                ("same#00002222".to_owned(), 1000, 0),
                ("same#00003333".to_owned(), 0, 0),
            ]
        );
        // Every record printed, each under a label telling the boards apart.
        let printed = |label: &str| {
            d.out
                .lines()
                .filter(|l| l.starts_with(&format!("board={label} seq=")))
                .count()
        };
        assert_eq!((printed("same"), printed("same#00002222")), (1002, 1000));
        assert!(d.out.contains(" instance=0000000000002222"), "{}", d.out);
    }

    #[test]
    fn headerless_streams_get_numbered_labels() {
        let mut d = decoder();
        let mut s1 = Session::new("x");
        let mut s2 = Session::new("y");
        let mut w = vec![0u8];
        w.extend(frame(&record(7)));
        w.extend(frame(&record(9)));
        d.feed(&mut s1, &w);
        d.feed(&mut s2, &w);
        assert!(d.out.contains("\"board\":\"?1\",\"seq\":7"), "{}", d.out);
        assert!(d.out.contains("\"board\":\"?2\",\"seq\":9"), "{}", d.out);
        let t: Vec<_> = d
            .tally
            .boards()
            .map(|(n, b)| (n.to_owned(), b.records(), b.gaps()))
            .collect();
        // Joined midway: 7 is the baseline, 8 is missing.
        assert_eq!(t, [("?1".to_owned(), 2, 1), ("?2".to_owned(), 2, 1)]);
        // A header later names the board: what follows is counted under it.
        d.feed(&mut s1, &frame(&header("late")));
        d.feed(&mut s1, &frame(&record(0)));
        assert_eq!(s1.label(), Some("late"));
        assert!(d.out.contains("\"board\":\"late\",\"seq\":0"));
    }

    #[test]
    fn numbering_runs_across_reconnects_and_duplicates_are_dropped() {
        let mut d = decoder();
        let mut s = Session::new("t");
        // 0 1, 2 and 3 lost in transit, 4, then 5..10 lost to a sink outage.
        let mut w = stream_bytes("b", [0, 1, 4]);
        w.extend(frame(&Message::Loss(Loss {
            count: 5,
            reason: LossReason::SinkOutage,
            next_seq: 10,
        })));
        d.feed(&mut s, &w);
        d.close(&mut s);
        // Reconnect on a new connection: the batch that failed is resent (the Loss and 4
        // again), then 10 twice within the stream, 11; 12 and 13 lost in transit.
        let mut s = Session::new("t2");
        let mut w = stream_bytes("b", []);
        w.extend(frame(&record(4)));
        w.extend(frame(&Message::Loss(Loss {
            count: 5,
            reason: LossReason::SinkOutage,
            next_seq: 10,
        })));
        for seq in [10, 10, 11] {
            w.extend(frame(&record(seq)));
        }
        // A heartbeat places nothing: records dropped before sending take numbers too.
        w.extend(frame(&Message::Heartbeat(Heartbeat {
            uptime_ms: 1,
            records_sent: 5,
            drops: 5,
            queue_depth: 0,
        })));
        w.extend(frame(&record(14)));
        d.feed(&mut s, &w);
        d.close(&mut s);
        let (_, b) = d.tally.boards().next().unwrap();
        assert_eq!(
            (b.seq.streams, b.records(), b.seq.duplicates, b.seq.restarts),
            (2, 6, 3, 0)
        );
        assert_eq!(b.seq.uncovered, 4, "2, 3, 12 and 13");
        assert_eq!(b.covered_by(LossReason::SinkOutage), 5);
        assert_eq!(
            b.lost(LossReason::SinkOutage),
            5,
            "the resent Loss counts once"
        );
        assert_eq!(b.records() + b.gaps(), 15);
        // Each record and Loss is shown once.
        let shown = |out: &str, needle: &str| out.lines().filter(|l| l.contains(needle)).count();
        assert_eq!(shown(&d.out, "\"seq\":4,"), 1);
        assert_eq!(shown(&d.out, "\"seq\":10,"), 1);
        let loss = "{\"type\":\"loss\",\"board\":\"b\",\"count\":5,";
        assert_eq!(shown(&d.out, loss), 1);
        // A restarted agent: a stream numbered from 0 again is shown whole.
        let mut s = Session::new("t3");
        d.feed(&mut s, &stream_bytes("b", 0..3));
        let (_, b) = d.tally.boards().next().unwrap();
        assert_eq!(
            (b.seq.streams, b.records(), b.seq.restarts, b.seq.duplicates),
            (3, 9, 1, 3)
        );
        assert_eq!(shown(&d.out, "\"seq\":0,"), 2);
    }

    #[test]
    fn rejections_before_the_header_go_to_its_board() {
        let mut d = decoder();
        let mut s = Session::new("t");
        // Line noise, then the stream.
        let mut w = vec![0x11, 0x22, 0x00, 0x05, 0x01, 0x00];
        w.extend(stream_bytes("noisy", 0..2));
        d.feed(&mut s, &w);
        let mut bad = frame(&record(2));
        bad[2] ^= 0x40;
        d.feed(&mut s, &bad);
        d.close(&mut s);
        let rows: Vec<_> = d.tally.boards().collect();
        assert_eq!(rows.len(), 1);
        let (name, b) = rows[0];
        assert_eq!(name, "noisy");
        assert_eq!(b.records(), 2);
        assert_eq!(b.rejected.total(), 3, "{:?}", b.rejected);
        // A stream that never names its board keeps its rejections under ?N.
        let mut junk = Session::new("j");
        d.feed(&mut junk, &[1, 2, 3, 0]);
        d.close(&mut junk);
        assert!(
            d.tally
                .boards()
                .any(|(n, b)| n == "?1" && b.rejected.total() == 1)
        );
    }

    #[test]
    fn a_frame_cut_off_by_the_end_of_input_is_rejected() {
        let mut d = decoder();
        let mut s = Session::new("t");
        let mut w = stream_bytes("cut", 0..2);
        let f = frame(&record(2));
        w.extend_from_slice(&f[..f.len() / 2]);
        d.feed(&mut s, &w);
        d.close(&mut s);
        let (_, b) = d.tally.boards().next().unwrap();
        assert_eq!((b.records(), b.rejected.checksum), (2, 1));
        // A stream ending on a delimiter leaves nothing behind.
        let mut s = Session::new("u");
        d.feed(&mut s, &stream_bytes("whole", 0..2));
        d.close(&mut s);
        let (_, b) = d.tally.boards().find(|(n, _)| *n == "whole").unwrap();
        assert_eq!(b.rejected.total(), 0);
    }

    #[test]
    fn a_newer_wire_version_is_reported_and_skipped_per_stream() {
        let mut d = decoder();
        let mut newer = Session::new("10.0.0.9:5000");
        let mut fine = Session::new("10.0.0.8:5000");
        let mut h = StreamHeader::new();
        h.wire_version = WIRE_VERSION + 1;
        h.board_id = "future".try_into().unwrap();
        let mut w = vec![0u8];
        w.extend(frame(&Message::Header(h)));
        w.extend(frame(&record(0)));
        d.feed(&mut newer, &w);
        d.feed(&mut fine, &stream_bytes("now", 0..2));
        d.feed(&mut newer, &frame(&record(1)));
        let recs = d.out.lines().filter(|l| l.contains("\"record\"")).count();
        assert_eq!(recs, 2, "only the readable stream's records: {}", d.out);
        d.close(&mut newer);
        let unsupported: u64 = d.tally.boards().map(|(_, b)| b.rejected.unsupported).sum();
        assert_eq!(unsupported, 3);
    }

    /// A stream of records and samples interleaved, as an agent with `--sample` writes
    /// it: records 0, 1, 6, 13; interval 2 with samples 3 to 5; interval 7 and samples 8
    /// and 9 dropped into a queue-overflow Loss; interval 10 with samples 11 and 12.
    fn mixed_stream() -> Vec<u8> {
        let mut w = stream_bytes("mix", [0, 1]);
        for m in [
            small_interval(2, 0, 3),
            small_sample(3, 0, 100),
            small_sample(4, 0, 101),
            small_sample(5, 0, 102),
            record(6),
            Message::Loss(loss_of(LossReason::QueueOverflow, 3, 10)),
            small_interval(10, 1, 2),
            small_sample(11, 1, 100),
            small_sample(12, 1, 101),
            record(13),
        ] {
            w.extend(frame(&m));
        }
        w
    }

    #[test]
    fn samples_share_the_numbering_and_its_accounting() {
        let mut d = decoder();
        let mut s = Session::new("m");
        let w = mixed_stream();
        d.feed(&mut s, &w);
        // The last batch again on a new connection (an agent resending after a failed
        // write): every frame is a duplicate and nothing is shown twice.
        let mut again = Session::new("m2");
        let mut resent = stream_bytes("mix", []);
        for m in [
            small_interval(10, 1, 2),
            small_sample(11, 1, 100),
            small_sample(12, 1, 101),
            record(13),
        ] {
            resent.extend(frame(&m));
        }
        d.feed(&mut again, &resent);
        d.close(&mut s);
        d.close(&mut again);
        let (_, b) = d.tally.boards().next().unwrap();
        assert_eq!((b.records(), b.intervals, b.samples), (4, 2, 5));
        assert_eq!(b.covered_by(LossReason::QueueOverflow), 3);
        assert_eq!((b.seq.uncovered, b.gaps()), (0, 3));
        assert_eq!(b.records() + b.intervals + b.samples + b.gaps(), 14);
        assert_eq!(b.next_seq(), Some(14));
        assert_eq!((b.seq.streams, b.seq.duplicates, b.seq.restarts), (2, 4, 0));
        assert_eq!(b.rejected.total(), 0);
        let count = |ty: &str| {
            d.out
                .lines()
                .filter(|l| l.contains(&format!("\"type\":\"{ty}\"")))
                .count()
        };
        assert_eq!(
            (count("interval"), count("sample"), count("record")),
            (2, 5, 4)
        );
        let first = d
            .out
            .lines()
            .find(|l| l.contains("\"type\":\"sample\""))
            .unwrap();
        assert!(
            first.starts_with(
                "{\"type\":\"sample\",\"board\":\"mix\",\"seq\":3,\"sample\":0,\"tgid\":100,"
            ),
            "{first}"
        );
    }

    #[test]
    fn only_picks_what_is_printed_not_what_is_counted() {
        for (only, types) in [
            (Only::Records, &["header", "record", "loss"][..]),
            (Only::Samples, &["header", "interval", "sample", "loss"][..]),
        ] {
            let mut d = decoder().with_only(Some(only));
            let mut s = Session::new("m");
            d.feed(&mut s, &mixed_stream());
            let (_, b) = d.tally.boards().next().unwrap();
            assert_eq!((b.records(), b.intervals, b.samples), (4, 2, 5));
            for l in d.out.lines() {
                assert!(
                    types
                        .iter()
                        .any(|t| l.contains(&format!("\"type\":\"{t}\""))),
                    "{l}"
                );
            }
        }
        // CSV of samples only: one table.
        let mut d = Decoder::new(Format::Csv).with_only(Some(Only::Samples));
        let mut s = Session::new("m");
        d.feed(&mut s, &mixed_stream());
        let lines: Vec<&str> = d.out.lines().collect();
        assert_eq!(lines.len(), 1 + 5, "{}", d.out);
        assert!(lines[0].starts_with("board,seq,sample,tgid,"));
        assert!(lines[1..].iter().all(|l| l.starts_with("mix,")));
    }

    #[test]
    fn the_view_takes_the_samples_and_every_frame_is_still_counted() {
        use crate::view::View;
        use taskwire_cli::output::live::Size;
        use taskwire_core::taskstats::SortKey;
        let mut d = decoder().with_view(View::new(SortKey::Cpu, None, Some(Size::BATCH)));
        let mut s = Session::new("m");
        d.feed(&mut s, &mixed_stream());
        // Interval 0 is whole (3 rows); interval 1 (2 rows) too; the one dropped into
        // the Loss never shows.
        let (_, b) = d.tally.boards().next().unwrap();
        assert_eq!((b.records(), b.intervals, b.samples), (4, 2, 5));
        assert_eq!(b.covered_by(LossReason::QueueOverflow), 3);
        let screens: Vec<&str> = d.out.split("\n\n").collect();
        assert_eq!(screens.len(), 2, "{}", d.out);
        assert!(screens[0].starts_with("mix  every 2.0 s  3 of 100 thread groups"));
        assert!(
            !d.out.contains("\"type\""),
            "nothing else printed: {}",
            d.out
        );
        d.close(&mut s);
        assert_eq!(d.out.split("\n\n").count(), 2, "nothing was pending");
    }

    #[test]
    fn a_lost_sample_is_a_gap_and_a_damaged_one_a_rejection() {
        let mut d = decoder();
        let mut s = Session::new("m");
        let mut w = stream_bytes("dmg", [0]);
        w.extend(frame(&small_interval(1, 0, 3)));
        // Sample 2 damaged in transit (CRC), sample 3 lost whole, sample 4 cut short, the
        // next frame fine; then a sample whose payload is not canonical (good CRC).
        let mut bad = frame(&small_sample(2, 0, 7));
        bad[5] ^= 0x10;
        w.extend(&bad);
        let cut = frame(&small_sample(4, 0, 9));
        w.extend(&cut[..cut.len() / 2]);
        w.push(0);
        w.extend(frame(&record(5)));
        let mut payload = testutil::to_vec(&small_sample(6, 0, 9));
        // The values, after tag, seq, sample, interval_ms (2), tgid, comm (8): 7 absent
        // slots and no number, so the last slot covered is absent.
        let at = 14;
        assert_eq!(payload[at..at + 2], [0x00, 0x07], "{payload:?}");
        payload[at..at + 2].copy_from_slice(&[0x7f, 0x00]);
        let mut raw = payload.clone();
        raw.extend(taskwire_core::wire::crc32(&payload).to_le_bytes());
        let mut stuffed = vec![0u8; taskwire_core::wire::max_encoded_len(raw.len())];
        let n = taskwire_core::wire::cobs_encode(&raw, &mut stuffed).unwrap();
        w.extend(&stuffed[..n]);
        w.push(0);
        w.extend(frame(&small_sample(7, 0, 11)));
        d.feed(&mut s, &w);
        d.close(&mut s);
        let (_, b) = d.tally.boards().next().unwrap();
        assert_eq!((b.records(), b.intervals, b.samples), (2, 1, 1));
        assert_eq!(b.seq.uncovered, 4, "2, 3, 4 and 6");
        assert_eq!(b.rejected.checksum + b.rejected.cobs, 2, "{:?}", b.rejected);
        assert_eq!(b.rejected.payload, 1);
    }

    #[test]
    fn a_restart_announced_by_a_sample_is_seen() {
        // An old decoder misses this one (core/WIRE.md section 4): this one sees it.
        let mut d = decoder();
        let mut s = Session::new("a");
        d.feed(&mut s, &stream_bytes("r", 0..6));
        let mut s = Session::new("b");
        let mut w = stream_bytes("r", []);
        for m in [
            small_interval(0, 0, 2),
            small_sample(1, 0, 5),
            small_sample(2, 0, 6),
            record(3),
            record(4),
        ] {
            w.extend(frame(&m));
        }
        d.feed(&mut s, &w);
        let (_, b) = d.tally.boards().next().unwrap();
        assert_eq!((b.seq.restarts, b.seq.duplicates), (1, 0));
        assert_eq!((b.records(), b.intervals, b.samples), (8, 1, 2));
    }

    #[test]
    fn kinds_are_counted_apart() {
        let mut d = decoder();
        let mut s = Session::new("k");
        let mut w = stream_bytes("k", 0..1);
        let mut tg = record(1);
        if let Message::Record(r) = &mut tg {
            r.kind = Kind::Tgid;
        }
        w.extend(frame(&tg));
        d.feed(&mut s, &w);
        let (_, b) = d.tally.boards().next().unwrap();
        assert_eq!((b.pid, b.tgid), (1, 1));
        assert!(d.out.contains("\"kind\":\"tgid\""));
    }
}
