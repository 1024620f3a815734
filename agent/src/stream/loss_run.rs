//! Merging lost numbers into as few `Loss` frames as the wire format allows: one per run
//! of consecutive numbers of one reason (core/WIRE.md, `Loss.next_seq`).
//!
//! Both ends of the stream drop records in bulk: the queue when the agent stops with
//! records still queued, the writer when the grace ends with frames it never started.
//! Both feed what they drop, in stream order, through one [`LossRun`].

use taskwire_core::wire::LossReason;

use super::queue::Item;

/// The run of lost numbers being built.
#[derive(Debug, Default)]
pub struct LossRun {
    /// (reason, count, next_seq) of the losses gathered and not handed out yet.
    run: Option<(LossReason, u64, u64)>,
}

impl LossRun {
    /// Adds `item` to the losses: a record becomes a loss of `reason` of its number, a
    /// loss joins the run when its numbers follow on and its reason is the same.
    /// `KernelEnobufs` losses cover no numbers: they end the run and pass through in
    /// place. Hands `emit` each loss that can no longer grow, in order.
    pub fn add(&mut self, item: Item, reason: LossReason, mut emit: impl FnMut(Item)) {
        let (reason, count, next) = match item {
            Item::Numbered { seq, .. } => (reason, 1, seq.saturating_add(1)),
            Item::Loss {
                reason: LossReason::KernelEnobufs,
                ..
            } => {
                self.end(&mut emit);
                emit(item);
                return;
            }
            Item::Loss {
                reason,
                count,
                next_seq,
            } => (reason, count, next_seq),
        };
        match &mut self.run {
            Some((r, c, n)) if *r == reason && next.checked_sub(count) == Some(*n) => {
                *c = c.saturating_add(count);
                *n = next;
            }
            _ => {
                self.end(&mut emit);
                self.run = Some((reason, count, next));
            }
        }
    }

    /// Hands `emit` the run gathered so far, if any; the next loss starts a new one.
    pub fn end(&mut self, mut emit: impl FnMut(Item)) {
        if let Some((reason, count, next_seq)) = self.run.take() {
            emit(Item::Loss {
                reason,
                count,
                next_seq,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(reason: LossReason, count: u64, next_seq: u64) -> Item {
        Item::Loss {
            reason,
            count,
            next_seq,
        }
    }

    fn merge(items: &[Item]) -> Vec<Item> {
        let mut out = Vec::new();
        let mut run = LossRun::default();
        for &i in items {
            run.add(i, LossReason::SinkOutage, |l| out.push(l));
        }
        run.end(|l| out.push(l));
        out
    }

    const SINK: LossReason = LossReason::SinkOutage;
    const FULL: LossReason = LossReason::QueueOverflow;
    const ENOBUFS: LossReason = LossReason::KernelEnobufs;

    #[test]
    fn records_become_losses_of_their_numbers_and_neighbours_merge() {
        let rec = |seq| Item::Numbered { len: 0, seq };
        assert_eq!(
            merge(&[rec(3), rec(4), loss(SINK, 2, 7), rec(7)]),
            [loss(SINK, 5, 8)]
        );
    }

    #[test]
    fn a_new_reason_or_a_gap_starts_a_new_run() {
        assert_eq!(
            merge(&[loss(SINK, 2, 2), loss(FULL, 1, 3), loss(FULL, 1, 4)]),
            [loss(SINK, 2, 2), loss(FULL, 2, 4)]
        );
        // Numbers 2..5 were sent: two frames, not one covering them.
        assert_eq!(
            merge(&[loss(SINK, 2, 2), loss(SINK, 1, 6)]),
            [loss(SINK, 2, 2), loss(SINK, 1, 6)]
        );
    }

    #[test]
    fn enobufs_pass_through_in_place_and_split_runs() {
        assert_eq!(
            merge(&[loss(SINK, 1, 1), loss(ENOBUFS, 3, 1), loss(SINK, 1, 2)]),
            [loss(SINK, 1, 1), loss(ENOBUFS, 3, 1), loss(SINK, 1, 2)]
        );
        assert_eq!(
            merge(&[loss(ENOBUFS, 1, 0), loss(ENOBUFS, 1, 0)]),
            [loss(ENOBUFS, 1, 0), loss(ENOBUFS, 1, 0)]
        );
    }

    #[test]
    fn merged_output_merges_to_itself() {
        // The writer feeds the queue's merged losses through a second run.
        let items = [loss(FULL, 1, 1), loss(SINK, 2, 3), loss(SINK, 4, 7)];
        let once = merge(&items);
        assert_eq!(merge(&once), once);
        assert_eq!(once, [loss(FULL, 1, 1), loss(SINK, 6, 7)]);
    }
}
