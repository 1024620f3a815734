//! Delay totals per command name, bounded: the first [`MAX_COMMS`] names seen get a row
//! each, later ones share one row ([`Comms::other`]), so a stream of ever-new names
//! (every comm of a fuzzer) costs no more than a few hundred KiB.

use std::collections::HashMap;

use taskwire_core::taskstats::Delay;

/// Command names with a row of their own.
pub const MAX_COMMS: usize = 1024;

/// Delay categories, in [`Delay::ALL`] order.
pub const DELAYS: usize = Delay::ALL.len();

/// What the exits of one command name added up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommTotals {
    /// Exit records.
    pub exits: u64,
    /// Per category: delays recorded.
    pub count: [u64; DELAYS],
    /// Per category: their sum, ns.
    pub total_ns: [u64; DELAYS],
}

impl CommTotals {
    fn add(&mut self, delays: &[Option<(u64, u64)>; DELAYS]) {
        self.exits = self.exits.saturating_add(1);
        for (i, d) in delays.iter().enumerate() {
            if let Some((count, total)) = d {
                self.count[i] = self.count[i].saturating_add(*count);
                self.total_ns[i] = self.total_ns[i].saturating_add(*total);
            }
        }
    }
}

/// Totals per command name (`None`: records of a profile without one).
#[derive(Debug, Default)]
pub struct Comms {
    named: HashMap<Vec<u8>, CommTotals>,
    /// Records of the `delays` profile, which carries no name.
    unnamed: Option<CommTotals>,
    /// The names past [`MAX_COMMS`], together.
    pub other: CommTotals,
    /// How many exits went to [`Comms::other`] (their names are not kept).
    pub other_names: u64,
}

impl Comms {
    /// One exit of `comm` with these delays (count, total ns) per category.
    pub fn add(&mut self, comm: Option<&[u8]>, delays: &[Option<(u64, u64)>; DELAYS]) {
        // Looked up by the borrowed name: no allocation per exit, only per new name.
        let found = match comm {
            Some(c) => self.named.get_mut(c),
            None => self.unnamed.as_mut(),
        };
        if let Some(row) = found {
            row.add(delays);
        } else if self.len() < MAX_COMMS {
            let row = match comm {
                Some(c) => self.named.entry(c.to_vec()).or_default(),
                None => self.unnamed.get_or_insert_default(),
            };
            row.add(delays);
        } else {
            self.other.add(delays);
            self.other_names = self.other_names.saturating_add(1);
        }
    }

    /// The `n` names with the most delay in category `i` (and some), most first, ties by
    /// name.
    pub fn top(&self, i: usize, n: usize) -> Vec<(Option<&[u8]>, &CommTotals)> {
        let mut v: Vec<_> = self
            .rows()
            .filter(|(_, t)| t.total_ns.get(i).is_some_and(|&x| x > 0))
            .collect();
        v.sort_by(|a, b| b.1.total_ns[i].cmp(&a.1.total_ns[i]).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// The `n` names with the most exits, most first, ties by name.
    pub fn by_exits(&self, n: usize) -> Vec<(Option<&[u8]>, &CommTotals)> {
        let mut v: Vec<_> = self.rows().collect();
        v.sort_by(|a, b| b.1.exits.cmp(&a.1.exits).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    fn rows(&self) -> impl Iterator<Item = (Option<&[u8]>, &CommTotals)> {
        let named = self.named.iter().map(|(k, t)| (Some(k.as_slice()), t));
        named.chain(self.unnamed.iter().map(|t| (None, t)))
    }

    /// Names with a row (no name counting as one).
    pub fn len(&self) -> usize {
        self.named.len() + usize::from(self.unnamed.is_some())
    }

    /// Whether no exit was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_past_the_bound_share_a_row_and_the_top_is_ordered() {
        let mut c = Comms::default();
        let mut d = [None; DELAYS];
        for i in 0..(MAX_COMMS as u64 + 10) {
            d[1] = Some((1, i));
            c.add(Some(format!("c{i}").as_bytes()), &d);
        }
        d[1] = Some((2, 5_000));
        c.add(Some(b"c3"), &d);
        assert_eq!(c.len(), MAX_COMMS);
        assert_eq!((c.other.exits, c.other_names), (10, 10));
        let top = c.top(1, 3);
        assert_eq!(top[0].0, Some(&b"c3"[..]));
        assert_eq!(top[0].1.total_ns[1], 5_003);
        assert_eq!(top[0].1.count[1], 3);
        assert_eq!(top[1].0, Some(&b"c1023"[..]));
        assert!(c.top(0, 3).is_empty(), "no CPU delay anywhere");
    }
}
