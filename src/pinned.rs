//! A byte budget for a tokio broadcast's queue (pure): the link's event broadcast, the tray
//! process's line hub to its windows.
//!
//! tokio's broadcast keeps each value until every receiver has seen it or it is overwritten at
//! capacity, so a receiver that stops reading pins up to `capacity` values: with large ones,
//! gigabytes. [`Pinned`] tracks the bytes still held (the sender's `len()` says how many of the
//! latest values are) and says when a value would take them past the budget, so the sender skips
//! it for the receivers (they may skip: the lossless path is the link's consumer). Skips are
//! counted and reported once the receivers hold less again.

use std::collections::VecDeque;

#[derive(Debug, Default)]
pub struct Pinned {
    /// Payload sizes of the events sent, oldest first; only the last `retained` are still held.
    sizes: VecDeque<usize>,
    bytes: usize,
    /// Messages not sent to the observers since the last report.
    skipped: u64,
}

impl Pinned {
    /// The sender now holds the latest `retained` values (tokio's `Sender::len`).
    pub fn settle(&mut self, retained: usize) {
        while self.sizes.len() > retained {
            if let Some(s) = self.sizes.pop_front() {
                self.bytes -= s;
            }
        }
    }

    /// Whether a value of `size` bytes may be sent now. A `false` is counted as skipped; a value
    /// of size 0 (an event without a payload) always may.
    pub fn admit(&mut self, size: usize, budget: usize) -> bool {
        if size > 0 && self.bytes + size > budget {
            self.skipped += 1;
            return false;
        }
        true
    }

    /// A value of `size` bytes was sent and is held.
    pub fn sent(&mut self, size: usize) {
        self.sizes.push_back(size);
        self.bytes += size;
    }

    /// Values skipped since the last call, once the queue is back under half the budget (so
    /// a skip episode is reported once, not per message).
    pub fn take_report(&mut self, budget: usize) -> Option<u64> {
        (self.skipped > 0 && self.bytes <= budget / 2).then(|| std::mem::take(&mut self.skipped))
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_observers_have_read_is_no_longer_counted() {
        let mut p = Pinned::default();
        for s in [10, 0, 20, 30] {
            assert!(p.admit(s, 100));
            p.sent(s);
        }
        assert_eq!(p.bytes(), 60);
        // The slowest observer has read the first two.
        p.settle(2);
        assert_eq!(p.bytes(), 50);
        p.settle(0);
        assert_eq!(p.bytes(), 0);
    }

    #[test]
    fn a_message_past_the_budget_is_skipped_and_the_skips_are_reported_once_it_drains() {
        let mut p = Pinned::default();
        assert!(p.admit(60, 100));
        p.sent(60);
        assert!(!p.admit(60, 100), "60 + 60 > 100");
        assert!(!p.admit(50, 100));
        // Events without a payload always go: connection events are never skipped.
        assert!(p.admit(0, 100));
        p.sent(0);
        assert_eq!(p.take_report(100), None, "still over half the budget");
        p.settle(1);
        assert_eq!(p.take_report(100), Some(2));
        assert_eq!(p.take_report(100), None);
    }
}
