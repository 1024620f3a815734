//! Boards by label: a sorted `Vec`, capped.
//!
//! Sorted by label, so a binary search finds a board without allocating and the order is
//! the one the stats print (a BTreeMap would cost more code and an owned key per lookup).

/// Most boards kept apart; later ones share [`OVERFLOW_BOARD`]. Board ids are chosen by
/// whoever connects, so without a cap the map could grow without end.
pub const MAX_BOARDS: usize = 1024;
/// The label of every board past [`MAX_BOARDS`].
pub const OVERFLOW_BOARD: &str = "(more boards)";

/// A value per board label.
#[derive(Debug)]
pub struct Boards<V> {
    rows: Vec<(String, V)>,
}

impl<V> Default for Boards<V> {
    fn default() -> Self {
        Boards { rows: Vec::new() }
    }
}

impl<V: Default> Boards<V> {
    /// The value of `label`, created on first use; past [`MAX_BOARDS`] a new label gets
    /// the shared [`OVERFLOW_BOARD`] row.
    pub fn get(&mut self, label: &str) -> &mut V {
        let find =
            |rows: &[(String, V)], key: &str| rows.binary_search_by(|(k, _)| k.as_str().cmp(key));
        let mut at = find(&self.rows, label);
        if at.is_err() && self.rows.len() >= MAX_BOARDS {
            at = find(&self.rows, OVERFLOW_BOARD);
        }
        let i = match at {
            Ok(i) => i,
            Err(i) => {
                let key = if self.rows.len() < MAX_BOARDS {
                    label
                } else {
                    OVERFLOW_BOARD
                };
                self.rows.insert(i, (key.to_owned(), V::default()));
                i
            }
        };
        &mut self.rows[i].1
    }
}

impl<V> Boards<V> {
    /// Every board, by label.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.rows.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many rows (the overflow row included).
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

    #[test]
    fn capped_with_one_shared_row() {
        let mut b: Boards<u64> = Boards::default();
        for i in 0..MAX_BOARDS + 10 {
            *b.get(&format!("b{i}")) += 1;
        }
        assert_eq!(b.len(), MAX_BOARDS + 1);
        assert_eq!(b.iter().find(|(n, _)| *n == OVERFLOW_BOARD).unwrap().1, &10);
        // A board already known keeps its own row.
        *b.get("b0") += 1;
        assert_eq!(b.iter().find(|(n, _)| *n == "b0").unwrap().1, &2);
        let labels: Vec<&str> = b.iter().map(|(n, _)| n).collect();
        assert!(labels.windows(2).all(|w| w[0] < w[1]), "sorted");
    }
}
