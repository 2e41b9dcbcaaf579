//! A latest-wins slot: the producer replaces the value, the consumer takes the newest one.
//! Stale values are dropped, never queued, and the consumer never blocks.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Latest<T> {
    /// Sequence number of the newest value; 0 = nothing published yet.
    seq: AtomicU64,
    value: Mutex<Option<(u64, Arc<T>)>>,
}

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Self {
            seq: AtomicU64::new(0),
            value: Mutex::new(None),
        }
    }
}

impl<T> Latest<T> {
    /// Replaces the value; returns its sequence number.
    pub fn publish(&self, value: T) -> u64 {
        let mut slot = self.value.lock();
        let seq = self.seq.load(Ordering::Relaxed) + 1;
        *slot = Some((seq, Arc::new(value)));
        self.seq.store(seq, Ordering::Release);
        seq
    }

    /// The newest value if it is newer than `seen`. Never waits: when the producer holds the slot
    /// at this instant, it answers `None` and the caller tries again on its next frame.
    pub fn newer_than(&self, seen: u64) -> Option<(u64, Arc<T>)> {
        if self.seq.load(Ordering::Acquire) <= seen {
            return None;
        }
        let slot = self.value.try_lock()?;
        slot.as_ref()
            .filter(|(seq, _)| *seq > seen)
            .map(|(seq, value)| (*seq, Arc::clone(value)))
    }

    /// Sequence number of the newest value (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_gets_only_the_newest_and_only_once() {
        let slot = Latest::default();
        assert!(slot.newer_than(0).is_none());
        slot.publish(1);
        slot.publish(2);
        let (seq, value) = slot.newer_than(0).unwrap();
        assert_eq!((seq, *value), (2, 2));
        assert!(slot.newer_than(seq).is_none());
        slot.publish(3);
        assert_eq!(*slot.newer_than(seq).unwrap().1, 3);
    }

    #[test]
    fn consumer_does_not_block_while_producer_holds_the_slot() {
        let slot = Latest::default();
        slot.publish(7);
        let _held = slot.value.lock();
        assert!(slot.newer_than(0).is_none());
    }
}
