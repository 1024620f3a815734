//! The PUBLISHes a broker has not acknowledged yet, in the order sent.
//!
//! A broker answers QoS 1 PUBLISHes in the order it received them (MQTT 5.0, 4.6), so
//! acknowledged numbers only grow; an answer out of order is still taken, and counts
//! once every PUBLISH before it is answered too. At most the broker's Receive Maximum
//! (and never more than [`MAX_INFLIGHT`]) wait at a time.

use std::collections::VecDeque;

/// The most PUBLISHes in flight whatever the broker allows: with payloads of at most
/// 16 KiB, 1 MiB, the writer's window of kept frames.
pub const MAX_INFLIGHT: usize = 64;

/// One PUBLISH waiting for its PUBACK.
#[derive(Debug, Clone, Copy)]
struct Slot {
    id: u16,
    /// One past the highest number of its frames (None: none, or a status message).
    covers: Option<u64>,
    answered: bool,
}

/// The PUBLISHes in flight on one connection.
#[derive(Debug)]
pub struct Inflight {
    slots: VecDeque<Slot>,
    max: usize,
    last_id: u16,
    /// One past the highest number acknowledged on this connection.
    acked: Option<u64>,
}

impl Inflight {
    /// None in flight; at most `receive_maximum` (the broker's) at a time.
    pub fn new(receive_maximum: u16) -> Inflight {
        let max = usize::from(receive_maximum).clamp(1, MAX_INFLIGHT);
        Inflight {
            slots: VecDeque::with_capacity(max),
            max,
            last_id: 0,
            acked: None,
        }
    }

    /// Whether another PUBLISH may go.
    pub fn has_room(&self) -> bool {
        self.slots.len() < self.max
    }

    /// PUBLISHes waiting for their PUBACK.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// A PUBLISH goes, carrying numbers below `covers`: its packet identifier.
    pub fn open(&mut self, covers: Option<u64>) -> u16 {
        // 1 to 65535 in turn; at most MAX_INFLIGHT are in use, so none is taken twice.
        self.last_id = self.last_id.checked_add(1).unwrap_or(1);
        self.slots.push_back(Slot {
            id: self.last_id,
            covers,
            answered: false,
        });
        self.last_id
    }

    /// The PUBACK of `id` came; whether the acknowledged numbers grew. An unknown id
    /// (answered already, or never sent) changes nothing.
    pub fn answered(&mut self, id: u16) -> bool {
        let Some(slot) = self.slots.iter_mut().find(|s| s.id == id && !s.answered) else {
            return false;
        };
        slot.answered = true;
        let before = self.acked;
        while let Some(s) = self.slots.front().filter(|s| s.answered) {
            self.acked = self.acked.max(s.covers);
            self.slots.pop_front();
        }
        self.acked != before
    }

    /// One past the highest number acknowledged on this connection; None: none yet.
    pub fn acked(&self) -> Option<u64> {
        self.acked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_count_in_order() {
        let mut f = Inflight::new(3);
        let a = f.open(None);
        let b = f.open(Some(10));
        let c = f.open(Some(25));
        assert!(!f.has_room());
        assert_eq!((a, b, c), (1, 2, 3));
        // Out of order: counts once the ones before it are answered.
        assert!(!f.answered(c));
        assert_eq!(f.acked(), None);
        assert!(!f.answered(a), "a status message moves no number");
        assert!(f.answered(b));
        assert_eq!(f.acked(), Some(25));
        assert!(f.is_empty() && f.has_room());
        assert!(!f.answered(b), "answered already");
        assert!(!f.answered(999), "never sent");
    }

    #[test]
    fn receive_maximum_is_bounded_and_ids_wrap_past_zero() {
        assert_eq!(Inflight::new(0).max, 1);
        assert_eq!(Inflight::new(65535).max, MAX_INFLIGHT);
        let mut f = Inflight::new(2);
        f.last_id = u16::MAX - 1;
        assert_eq!(f.open(Some(1)), u16::MAX);
        assert_eq!(f.open(Some(2)), 1, "0 is no packet identifier");
        assert!(f.answered(u16::MAX) && f.answered(1));
        assert_eq!(f.acked(), Some(2));
    }
}
