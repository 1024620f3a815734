//! The board table: one row per stream identity (board id and stream instance), bounded,
//! with idle boards evicted when it is full.
//!
//! A row is never shared: a board past the bound takes the place of the board idle the
//! longest (no connection reading it), so two boards are never counted, or de-duplicated,
//! as one. The collector reads at most [`crate::MAX_CONNECTIONS`] streams at once, fewer
//! than [`MAX_BOARDS`], so there is always an idle board to evict.

use std::collections::HashMap;

/// Most boards remembered at once. Board ids are chosen by whoever connects, so without a
/// bound the table could grow without end.
pub const MAX_BOARDS: usize = 1024;

const _: () = assert!(
    MAX_BOARDS > crate::MAX_CONNECTIONS,
    "a live board is never evicted"
);

/// Who a stream is: the header's board id and stream instance (core/WIRE.md,
/// `StreamHeader.instance`), or a stream read without a header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A header named it: `board_id` (non-empty) and `instance` (0 from an agent that
    /// sends none).
    Board {
        /// The header's `board_id`.
        id: String,
        /// The header's `instance`.
        instance: u64,
    },
    /// A stream read without a header (or with an empty board id), the `n`-th so far:
    /// labelled `?n`.
    Headerless(u64),
}

impl Key {
    /// A board of `id` from an agent that sends no instance (tests, old agents).
    pub fn named(id: &str) -> Key {
        Key::Board {
            id: id.to_owned(),
            instance: 0,
        }
    }

    /// The labels tried for this key, best first: the board id alone, then with a tag
    /// of its instance (`id#1a2b3c4d`, then the whole instance), then numbered.
    fn label(&self, attempt: u64) -> String {
        match (self, attempt) {
            (Key::Headerless(n), 0) => format!("?{n}"),
            (Key::Headerless(n), a) => format!("?{n}#{a}"),
            (Key::Board { id, .. }, 0) => id.clone(),
            (Key::Board { id, instance }, 1) => format!("{id}#{:08x}", instance & 0xffff_ffff),
            (Key::Board { id, instance }, 2) => format!("{id}#{instance:016x}"),
            (Key::Board { id, instance }, a) => format!("{id}#{instance:016x}#{a}"),
        }
    }

    fn id(&self) -> Option<&str> {
        match self {
            Key::Board { id, .. } => Some(id),
            Key::Headerless(_) => None,
        }
    }
}

/// One board's row.
#[derive(Debug)]
struct Row<V> {
    key: Key,
    label: String,
    /// Streams reading this board now.
    live: u32,
    /// When it was last used, in uses of the table: the smallest is idle the longest.
    used: u64,
    value: V,
}

/// A value per board, with its label.
#[derive(Debug)]
pub struct Boards<V> {
    rows: Vec<Row<V>>,
    index: HashMap<Key, usize>,
    /// Labels in use, so that no two rows print alike.
    labels: HashMap<String, usize>,
    uses: u64,
}

impl<V> Default for Boards<V> {
    fn default() -> Self {
        Boards {
            rows: Vec::new(),
            index: HashMap::new(),
            labels: HashMap::new(),
            uses: 0,
        }
    }
}

impl<V: Default> Boards<V> {
    /// The row of `key`, created on first use (evicting the board idle the longest when
    /// the table is full; its value is handed to `evicted`).
    pub fn get(&mut self, key: &Key, evicted: impl FnOnce(&str, V)) -> &mut V {
        let i = self.row(key, evicted);
        &mut self.rows[i].value
    }

    /// The label of `key`, its row created as by [`Boards::get`].
    pub fn label(&mut self, key: &Key, evicted: impl FnOnce(&str, V)) -> &str {
        let i = self.row(key, evicted);
        &self.rows[i].label
    }

    /// A stream now reads `key`'s board: it is not evicted until [`Boards::detach`].
    pub fn attach(&mut self, key: &Key, evicted: impl FnOnce(&str, V)) {
        let i = self.row(key, evicted);
        self.rows[i].live = self.rows[i].live.saturating_add(1);
    }

    fn row(&mut self, key: &Key, evicted: impl FnOnce(&str, V)) -> usize {
        self.uses += 1;
        if let Some(&i) = self.index.get(key) {
            self.rows[i].used = self.uses;
            return i;
        }
        if self.rows.len() >= MAX_BOARDS {
            let idle = self
                .rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.live == 0)
                .min_by_key(|(_, r)| r.used)
                .map(|(i, _)| i);
            if let Some(i) = idle {
                let gone = self.remove(i);
                evicted(&gone.label, gone.value);
            }
        }
        // The board id alone unless another instance of it is known, or the label is a
        // real board id of another row (`x#1` sent as a board id).
        let shared_id = key
            .id()
            .is_some_and(|id| self.rows.iter().any(|r| r.key.id() == Some(id)));
        let mut attempt = u64::from(shared_id);
        let label = loop {
            let l = key.label(attempt);
            if !self.labels.contains_key(&l) {
                break l;
            }
            attempt += 1;
        };
        let i = self.rows.len();
        self.labels.insert(label.clone(), i);
        self.index.insert(key.clone(), i);
        self.rows.push(Row {
            key: key.clone(),
            label,
            live: 0,
            used: self.uses,
            value: V::default(),
        });
        i
    }
}

impl<V> Boards<V> {
    /// A stream stopped reading `key`'s board.
    pub fn detach(&mut self, key: &Key) {
        if let Some(&i) = self.index.get(key) {
            self.rows[i].live = self.rows[i].live.saturating_sub(1);
        }
    }

    fn remove(&mut self, i: usize) -> Row<V> {
        let gone = self.rows.swap_remove(i);
        self.index.remove(&gone.key);
        self.labels.remove(&gone.label);
        if let Some(moved) = self.rows.get(i) {
            self.index.insert(moved.key.clone(), i);
            self.labels.insert(moved.label.clone(), i);
        }
        gone
    }

    /// Every board, by label.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.iter_live().map(|(l, _, v)| (l, v))
    }

    /// Every board, by label, with the number of streams reading it now.
    pub fn iter_live(&self) -> impl Iterator<Item = (&str, u32, &V)> {
        let mut v: Vec<&Row<V>> = self.rows.iter().collect();
        v.sort_by(|a, b| a.label.cmp(&b.label));
        v.into_iter().map(|r| (r.label.as_str(), r.live, &r.value))
    }

    /// How many boards.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no board was seen.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(id: &str, instance: u64) -> Key {
        Key::Board {
            id: id.into(),
            instance,
        }
    }

    #[test]
    fn full_table_evicts_the_longest_idle_board_and_never_shares_a_row() {
        let mut b: Boards<u64> = Boards::default();
        let mut gone = Vec::new();
        for i in 0..MAX_BOARDS {
            *b.get(&Key::named(&format!("b{i}")), |_, _| panic!("not full")) += 1;
        }
        // b0 and b2 are read by a stream; b1 is the idle board used the longest ago.
        b.attach(&Key::named("b0"), |_, _| panic!());
        b.attach(&Key::named("b2"), |_, _| panic!());
        for i in MAX_BOARDS..MAX_BOARDS + 10 {
            *b.get(&Key::named(&format!("b{i}")), |l, v| {
                gone.push((l.to_owned(), v))
            }) += 1;
        }
        assert_eq!(b.len(), MAX_BOARDS, "bounded");
        assert_eq!(gone.len(), 10);
        assert_eq!(gone[0], ("b1".to_owned(), 1));
        assert!(
            gone.iter().all(|(l, _)| l != "b0" && l != "b2"),
            "live kept"
        );
        // Every board past the bound has a row of its own.
        for i in MAX_BOARDS..MAX_BOARDS + 10 {
            let l = format!("b{i}");
            assert_eq!(b.iter().find(|(n, _)| *n == l).unwrap().1, &1);
        }
        let labels: Vec<&str> = b.iter().map(|(n, _)| n).collect();
        assert!(labels.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
        // Once no stream reads b0, it can go too.
        b.detach(&Key::named("b0"));
        b.detach(&Key::named("b2"));
    }

    #[test]
    fn one_board_id_two_instances_two_labels() {
        let mut b: Boards<u64> = Boards::default();
        let no = |_: &str, _| panic!("nothing evicted");
        assert_eq!(b.label(&board("same", 0x1111_2222_3333_4444), no), "same");
        assert_eq!(
            b.label(&board("same", 0x5555_6666_7777_8888), no),
            "same#77778888"
        );
        // Again: the same rows.
        assert_eq!(b.label(&board("same", 0x1111_2222_3333_4444), no), "same");
        // A tag that collides takes the whole instance; a board id that looks like a
        // label does not take another board's.
        assert_eq!(
            b.label(&board("same", 0x9999_6666_7777_8888), no),
            "same#9999666677778888"
        );
        assert_eq!(
            b.label(&board("same#77778888", 1), no),
            "same#77778888#00000001"
        );
        assert_eq!(b.label(&Key::Headerless(1), no), "?1");
        assert_eq!(b.label(&board("?2", 1), no), "?2");
        assert_eq!(b.label(&Key::Headerless(2), no), "?2#1");
        assert_eq!(b.len(), 7);
    }
}
