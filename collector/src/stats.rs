//! What `decode --stats` prints: per board, records, intervals and samples, sequence gaps (covered by the agent's
//! Loss frames, by reason, or not: lost in transit), duplicates, the losses the agent
//! reported and the frames the reader rejected; then a total.

use taskwire_cli::output::escape_token;
use taskwire_cli::output::json::Json;
use taskwire_core::wire::LossReason;

use crate::tally::{Counts, Tally};

/// `(key, value)` of every count, in the order the stats lines print them.
fn rows(c: &Counts) -> Vec<(&'static str, u64)> {
    let mut v = vec![
        ("streams", c.seq.streams),
        ("records", c.records()),
        ("pid", c.pid),
        ("tgid", c.tgid),
        ("intervals", c.intervals),
        ("samples", c.samples),
        ("gaps", c.gaps()),
        ("gaps_covered", c.covered_total()),
        (
            "gaps_covered_queue_overflow",
            c.covered_by(LossReason::QueueOverflow),
        ),
        (
            "gaps_covered_sink_outage",
            c.covered_by(LossReason::SinkOutage),
        ),
        ("gaps_uncovered", c.seq.uncovered),
        ("gaps_not_seen_here", c.not_seen_here),
        ("duplicates", c.seq.duplicates),
        ("restarts", c.seq.restarts),
        ("backwards", c.seq.backwards),
        ("heartbeats", c.heartbeats),
        ("lost_records", c.lost_records()),
    ];
    for (r, key) in LossReason::ALL.iter().zip([
        "lost_kernel_enobufs",
        "lost_queue_overflow",
        "lost_sink_outage",
    ]) {
        debug_assert_eq!(&key[5..], r.name());
        v.push((key, c.lost(*r)));
    }
    let r = &c.rejected;
    v.extend([
        ("rejected", r.total()),
        ("rejected_overflow", r.overflow),
        ("rejected_cobs", r.cobs),
        ("rejected_checksum", r.checksum),
        ("rejected_payload", r.payload),
        ("rejected_unsupported", r.unsupported),
        ("rejected_no_header", r.no_header),
    ]);
    v
}

/// The `--stats` lines: one per board (its counts, then `next_seq`: the number after the
/// highest it accounted for), then a total; `key=value` text, or one JSON object per line
/// (`"type":"stats"` per board, `"stats_total"` for the sum).
pub fn report(tally: &Tally, json: bool) -> String {
    let mut out = String::new();
    let total = tally.total();
    let mut extra = vec![
        ("boards", tally.board_count() as u64),
        ("connections", tally.connections),
        ("refused_connections", tally.refused_connections),
        ("refused_no_header", tally.refused_no_header),
        ("closed_idle", tally.closed_idle),
        ("evicted_boards", tally.evicted_boards),
        ("refused_authentication", tally.refused_authentication),
    ];
    if let Some(b) = &tally.broker {
        extra.extend([
            ("broker_connects", b.connects),
            ("broker_outages", b.outages),
            ("broker_sessions_lost", b.sessions_lost),
            ("payloads", b.payloads),
            ("status_online", b.online),
            ("status_stopped", b.stopped),
            ("status_lost", b.lost),
        ]);
    }
    let lines = tally
        .boards()
        .map(|(name, b)| {
            let mut counts = rows(&b);
            // Per board only. records + intervals + samples + gaps = next_seq (they share
            // the numbering), unless the agent restarted (the numbering started over) or
            // frames came back from too far.
            counts.push(("next_seq", b.next_seq().unwrap_or(0)));
            (Some(name), counts)
        })
        .chain(std::iter::once((None, rows(&total))));
    for (name, counts) in lines {
        let extra = if name.is_none() { &extra[..] } else { &[] };
        if json {
            let mut j = Json::with(&mut out);
            match name {
                Some(n) => j.str("type", "stats").bytes("board", n.as_bytes()),
                None => j.str("type", "stats_total"),
            };
            for (k, v) in counts.iter().chain(extra) {
                j.u64(k, *v);
            }
            j.end();
        } else {
            out.push_str("taskwire decode: stats ");
            match name {
                Some(n) => out.push_str(&format!("board={}", escape_token(n.as_bytes()))),
                None => out.push_str("total"),
            }
            for (k, v) in counts.iter().chain(extra) {
                out.push_str(&format!(" {k}={v}"));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boards::Key;
    use crate::rejected::Rejected;
    use taskwire_core::Error;
    use taskwire_core::wire::Kind;
    use taskwire_core::wire::testutil::loss_of as loss;

    #[test]
    fn report_has_a_line_per_board_and_a_total() {
        let mut t = Tally::new();
        t.header(&Key::named("b 1"));
        t.record(&Key::named("b 1"), Kind::Pid, 0, true);
        t.record(&Key::named("b 1"), Kind::Pid, 3, false);
        t.loss(
            &Key::named("b 1"),
            &loss(LossReason::SinkOutage, 2, 6),
            false,
        );
        t.record(&Key::named("b 1"), Kind::Pid, 6, false);
        t.interval(&Key::named("b 1"), 7, false);
        t.sample(&Key::named("b 1"), 8, false);
        t.sample(&Key::named("b 1"), 9, false);
        t.header(&Key::named("c"));
        let mut r = Rejected::default();
        r.count(Error::Cobs);
        t.rejected(&Key::named("c"), &r);
        t.connections = 2;
        let text = report(&t, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with(
            "taskwire decode: stats board=b\\x201 streams=1 records=3 pid=3 tgid=0 intervals=1 \
             samples=2 "
        ));
        // records + intervals + samples + gaps = next_seq.
        assert!(lines[0].ends_with(" next_seq=10"), "{}", lines[0]);
        // 1 and 2 lost in transit, 4 and 5 covered by the Loss.
        let gaps = " gaps=4 gaps_covered=2 gaps_covered_queue_overflow=0 \
                    gaps_covered_sink_outage=2 gaps_uncovered=2 gaps_not_seen_here=0 \
                    duplicates=0 restarts=0 \
                    backwards=0 ";
        assert!(lines[0].contains(gaps), "{}", lines[0]);
        assert!(lines[0].contains(" lost_records=2 "), "{}", lines[0]);
        assert!(lines[0].contains(" lost_sink_outage=2 "), "{}", lines[0]);
        assert!(lines[1].contains(" rejected=1 ") && lines[1].contains(" rejected_cobs=1 "));
        assert!(lines[2].starts_with("taskwire decode: stats total streams=2 records=3 "));
        assert!(
            lines[2].ends_with(
                " boards=2 connections=2 refused_connections=0 refused_no_header=0 \
                 closed_idle=0 evicted_boards=0 refused_authentication=0"
            ),
            "{}",
            lines[2]
        );

        let json = report(&t, true);
        let lines: Vec<&str> = json.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("{\"type\":\"stats\",\"board\":\"b 1\",\"streams\":1,"));
        assert!(lines[2].starts_with("{\"type\":\"stats_total\","));
        assert!(lines[2].contains("\"rejected_cobs\":1,"), "{}", lines[2]);
        assert!(lines[2].ends_with("\"refused_connections\":0,\"refused_no_header\":0,\"closed_idle\":0,\"evicted_boards\":0,\"refused_authentication\":0}"));
    }
}
