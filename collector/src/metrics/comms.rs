//! Exits and delays of one board per command name, with a bounded number of series.
//!
//! A board's comms are as many as its tasks care to name themselves, and each would be a
//! series of its own in every scraper's database. So at most `top` comms get their own
//! series; every other exit counts in the one `other` series. A comm gets its series
//! once it has exited [`PROMOTE_AFTER`] times (counted in a small table of candidates)
//! while fewer than `top` comms have one, and keeps it for as long as the board is in
//! the table: the comms that exit most get there first, and no series ever goes down or
//! moves into another (exits before its promotion stay in `other`). Counters stay
//! monotonic that way, which a scheme that demoted a comm back into `other` could not
//! give: `other` would jump by what the demoted series had counted.

use taskwire_core::taskstats::{Delay, Value};
use taskwire_core::wire::{Comm, Record};

/// Exits of a comm, counted as a candidate, before it gets a series of its own: one-off
/// commands (a shell running once) do not take the places.
pub const PROMOTE_AFTER: u64 = 4;

/// The label of the series that counts every exit of a comm without a series of its own.
pub const OTHER: &str = "other";

/// The label of the series of records that carry no comm (the `delays` profile leaves it
/// out). A task really named `other` or `(none)` counts in `other`.
pub const NO_COMM: &str = "(none)";

/// What one series counts: exits, and per delay category the delays and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommCounts {
    /// Per-task exit records.
    pub exits: u64,
    /// Per category ([`Delay::ALL`] order): delays recorded.
    pub delays: [u64; Delay::ALL.len()],
    /// Per category: their sum, ns.
    pub delay_ns: [u64; Delay::ALL.len()],
}

impl CommCounts {
    fn add(&mut self, r: &Record) -> u8 {
        self.exits = self.exits.saturating_add(1);
        let mut seen = 0u8;
        for (i, d) in Delay::ALL.iter().enumerate() {
            let (Some(count), Some(ns)) = (
                r.get(d.count_field()).map(unsigned),
                r.get(d.total_field()).map(unsigned),
            ) else {
                continue;
            };
            if count > 0 {
                seen |= 1 << i;
            }
            self.delays[i] = self.delays[i].saturating_add(count);
            self.delay_ns[i] = self.delay_ns[i].saturating_add(ns);
        }
        seen
    }
}

fn unsigned(v: Value) -> u64 {
    match v {
        Value::Unsigned(v) => v,
        Value::Signed(v) => v.max(0) as u64,
    }
}

/// One board's series by comm.
#[derive(Debug, Default)]
pub struct Comms {
    /// The comms with a series of their own, in the order they got it; at most `top`.
    own: Vec<(Comm, CommCounts)>,
    /// Records without a comm.
    none: CommCounts,
    /// Everything else.
    other: CommCounts,
    /// Comms without a series yet and how often they exited. When it is full a new comm
    /// takes the place of the least counted, from 1: a count is never above the truth, so
    /// a flood of one-off names promotes none of them, while a comm that keeps exiting
    /// outlasts them. Emptied once `own` is full.
    candidates: Vec<(Comm, u64)>,
    /// Delay categories in which the board's records recorded a delay (bit `i`:
    /// [`Delay::ALL`]`[i]`): only these are exported (zeros for the series that saw none),
    /// so categories a board never waits in cost no series.
    categories: u8,
}

impl Comms {
    /// A per-task exit record `r` of this board, with at most `top` comms of its own.
    pub fn exit(&mut self, r: &Record, top: usize) {
        let seen = match r.comm.as_ref() {
            None => self.none.add(r),
            Some(c) => {
                let i = self.series_of(c, top);
                match i {
                    Some(i) => self.own[i].1.add(r),
                    None => self.other.add(r),
                }
            }
        };
        self.categories |= seen;
    }

    /// The series `comm` counts in: its own (an index into `own`) or `other` (None).
    fn series_of(&mut self, comm: &Comm, top: usize) -> Option<usize> {
        if let Some(i) = self.own.iter().position(|(c, _)| c == comm) {
            return Some(i);
        }
        if self.own.len() >= top || reserved(comm) {
            return None;
        }
        let slots = candidate_slots(top);
        let i = match self.candidates.iter().position(|(c, _)| c == comm) {
            Some(i) => i,
            None if self.candidates.len() < slots => {
                self.candidates.push((comm.clone(), 0));
                self.candidates.len() - 1
            }
            None => {
                let (i, _) = self
                    .candidates
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, (_, n))| *n)?;
                self.candidates[i] = (comm.clone(), 0);
                i
            }
        };
        let n = &mut self.candidates[i].1;
        *n = n.saturating_add(1);
        if *n < PROMOTE_AFTER {
            return None;
        }
        self.candidates.swap_remove(i);
        self.own.push((comm.clone(), CommCounts::default()));
        if self.own.len() >= top {
            self.candidates = Vec::new();
        }
        Some(self.own.len() - 1)
    }

    /// Every series with its label's raw bytes: own comms, then records without a comm
    /// (once there were some), then `other`.
    pub fn series(&self) -> impl Iterator<Item = (&[u8], &CommCounts)> {
        let none = (self.none.exits > 0).then_some((NO_COMM.as_bytes(), &self.none));
        self.own
            .iter()
            .map(|(c, n)| (&c[..], n))
            .chain(none)
            .chain(std::iter::once((OTHER.as_bytes(), &self.other)))
    }

    /// Whether records of this board recorded a delay of category `i` of [`Delay::ALL`].
    pub fn has_category(&self, i: usize) -> bool {
        self.categories & (1 << i) != 0
    }
}

/// Candidates remembered while places are free: enough to rank the comms exiting now.
fn candidate_slots(top: usize) -> usize {
    top.saturating_mul(4).clamp(8, 256)
}

/// A comm spelled like a label of ours counts in `other`, so a label means one thing.
fn reserved(comm: &Comm) -> bool {
    &comm[..] == OTHER.as_bytes() || &comm[..] == NO_COMM.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_core::taskstats::{Field, Kind};
    use taskwire_core::wire::Profile;

    fn exit(comm: Option<&str>, cpu_ns: Option<u64>) -> Record {
        Record::build(
            0,
            Kind::Pid,
            1,
            Profile::Full,
            comm.map(str::as_bytes),
            |f| match f {
                Field::CpuCount => cpu_ns.map(|_| Value::Unsigned(2)),
                Field::CpuDelayTotal => cpu_ns.map(Value::Unsigned),
                _ => None,
            },
        )
    }

    fn exits(c: &Comms) -> Vec<(String, u64)> {
        c.series()
            .map(|(l, n)| (String::from_utf8_lossy(l).into_owned(), n.exits))
            .collect()
    }

    #[test]
    fn at_most_top_comms_get_a_series_and_keep_it() {
        let mut c = Comms::default();
        let mut before: Vec<(String, u64)> = Vec::new();
        let mut check = |c: &Comms| {
            let now = exits(c);
            // Every series present before is still there, never lower.
            for (l, n) in &before {
                let m = now.iter().find(|(k, _)| k == l).map(|(_, m)| *m);
                assert!(m.is_some_and(|m| m >= *n), "{l}: {n} -> {m:?}");
            }
            assert!(now.len() <= 3 + 1, "two own series, none, other: {now:?}");
            before = now;
        };
        // Three comms compete for two places; a one-off never gets one.
        for round in 0..50 {
            for name in ["a", "b", "c"] {
                c.exit(&exit(Some(name), None), 2);
                check(&c);
            }
            if round % 10 == 0 {
                c.exit(&exit(Some(&format!("once{round}")), None), 2);
                check(&c);
            }
        }
        let got = exits(&c);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!((got[0].0.as_str(), got[1].0.as_str()), ("a", "b"));
        // Promoted at their 4th exit: 3 of each before went to other, with all of c.
        assert_eq!((got[0].1, got[1].1), (47, 47));
        assert_eq!(got[2], ("other".to_owned(), 3 + 3 + 50 + 5));
        let total: u64 = got.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 155, "every exit counted once");
    }

    #[test]
    fn reserved_names_and_missing_comms_have_their_places() {
        let mut c = Comms::default();
        for _ in 0..10 {
            c.exit(&exit(Some("other"), None), 5);
            c.exit(&exit(Some("(none)"), None), 5);
            c.exit(&exit(None, Some(1_500_000_000)), 5);
        }
        assert_eq!(
            exits(&c),
            [("(none)".to_owned(), 10), ("other".to_owned(), 20)]
        );
        let (_, none) = c.series().next().unwrap();
        assert_eq!((none.delays[0], none.delay_ns[0]), (20, 15_000_000_000));
        assert!(c.has_category(0) && !c.has_category(1));
    }

    #[test]
    fn candidates_stay_bounded_under_a_flood_of_names() {
        let mut c = Comms::default();
        for i in 0..100_000u32 {
            c.exit(&exit(Some(&format!("n{i}")), None), 10);
            assert!(c.candidates.len() <= candidate_slots(10));
        }
        // Each name exited once: no place taken by a one-off, all in other.
        assert_eq!(exits(&c), [("other".to_owned(), 100_000)]);
    }
}
