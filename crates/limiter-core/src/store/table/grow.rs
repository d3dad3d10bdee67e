//! Putting keys into a shard: inserting a new key, growing the shard, and
//! rebuilding it without tombstones.

use super::hash::{Seed, SlotKey, home};
use super::probe::{Probe, next};
use super::{Hashed, Ledger, MAX_LOAD, MAX_SLOTS, MIN_SLOTS, Shard, Slot};
use crate::bucket::State;
use crate::cell::{Cell, Tag};
use crate::sync::{Ordering, fence};

/// The capacity after `capacity` (at least [`MIN_SLOTS`]): half as much
/// again from a power of two, a third as much again from 1.5 times one.
fn grow(capacity: usize) -> usize {
    if capacity.is_power_of_two() { capacity + capacity / 2 } else { capacity / 3 * 4 }
}

impl<K: SlotKey, B: Cell> Shard<K, B> {
    /// Whether one more key would load the shard beyond [`MAX_LOAD`].
    pub(super) fn is_full(&self, ledger: &Ledger) -> bool {
        let capacity = self.capacity.load(Ordering::Relaxed);
        (ledger.live + ledger.tombs + 1) * MAX_LOAD.1 > capacity * MAX_LOAD.0
    }

    /// Inserts a key known to be missing, into `free` unless the shard has
    /// to grow first; false if the shard can hold no more keys.
    pub(super) fn insert(
        &self,
        ledger: &mut Ledger,
        seed: &Seed,
        sought: Hashed<K>,
        mut free: Option<usize>,
        state: State,
    ) -> bool {
        let capacity = self.capacity.load(Ordering::Relaxed);
        if capacity == 0 {
            // The first key: no reader can be in a table of no slots.
            self.allocate(MIN_SLOTS);
            self.capacity.store(MIN_SLOTS, Ordering::Release);
            free = None;
        } else if self.is_full(ledger) {
            // Grow, unless shedding the tombstones leaves room enough.
            let live = (ledger.live + 1) * MAX_LOAD.1 * 4;
            let roomy = live <= capacity * MAX_LOAD.0 * 3;
            let grown = if roomy || capacity == MAX_SLOTS { capacity } else { grow(capacity) };
            self.rebuild(ledger, grown, seed);
            free = None;
        }
        if free.is_none()
            && let Some(Probe::Missing { free: slot }) = self.probe(sought)
        {
            free = Some(slot);
        }
        // None only for a shard at its largest capacity and full of keys.
        let Some(slot) = free.and_then(|free| self.slot(free)) else { return false };
        let (_, tag) = slot.cell.lock();
        if tag == Tag::Tomb {
            // The slot changes hands: readers that saw its old key must not
            // trust what they read.
            self.epoch.fetch_add(1, Ordering::Relaxed);
            fence(Ordering::Release);
            K::store(&slot.key, sought.key);
            slot.cell.unlock(state, Tag::Live);
            self.epoch.fetch_add(1, Ordering::Release);
            ledger.tombs -= 1;
        } else {
            K::store(&slot.key, sought.key);
            slot.cell.unlock(state, Tag::Live);
        }
        self.count_change();
        ledger.live += 1;
        ledger.created += 1;
        true
    }

    /// Counts a write that put keys into slots, after its slot stores.
    fn count_change(&self) {
        // Only writers, under the mutex, change the count.
        self.changes.store(self.changes.load(Ordering::Relaxed) + 1, Ordering::Release);
    }

    /// Rehashes every live key into the first `capacity` slots, allocating
    /// the chunks they need, and leaves no tombstone.
    pub(super) fn rebuild(&self, ledger: &mut Ledger, capacity: usize, seed: &Seed) {
        let old = self.capacity.load(Ordering::Relaxed);
        // Every old slot is locked below and unlocked by being rewritten.
        debug_assert!(capacity >= old, "a shard never shrinks");
        self.epoch.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        // Lock every slot, and keep the live keys with their buckets.
        let mut live = Vec::with_capacity(ledger.live);
        for slot in self.runs(old).flatten() {
            let (state, tag) = slot.cell.lock();
            if tag == Tag::Live {
                live.push((K::load(&slot.key), state));
            }
        }
        self.allocate(capacity);
        // Place them as a probe would, then write every slot.
        const EMPTY: u32 = u32::MAX;
        let mut placed = vec![EMPTY; capacity];
        for (entry, &(key, _)) in live.iter().enumerate() {
            let mut index = home(key.hash(seed), capacity);
            while placed[index] != EMPTY {
                index = next(index, capacity);
            }
            // A shard holds fewer than 2³² slots.
            placed[index] = entry as u32;
        }
        let mut places = placed.iter().enumerate();
        for run in self.runs(capacity) {
            for (slot, (index, &place)) in run.iter().zip(places.by_ref()) {
                if place != EMPTY {
                    let (key, state) = live[place as usize];
                    K::store(&slot.key, key);
                    slot.cell.unlock(state, Tag::Live);
                } else if index < old {
                    K::store(&slot.key, K::ZERO);
                    slot.cell.unlock(State::new(0, 0), Tag::Vacant);
                }
                // Slots past the old capacity were allocated just now,
                // vacant, and are unreachable until the new capacity is
                // stored; the others were locked above, and this unlocks
                // them.
            }
        }
        self.capacity.store(capacity, Ordering::Release);
        self.count_change();
        self.epoch.fetch_add(1, Ordering::Release);
        ledger.live = live.len();
        ledger.tombs = 0;
        ledger.cursor = 0;
    }

    /// Allocates the chunks that the first `capacity` slots need.
    fn allocate(&self, capacity: usize) {
        let mut start = 0;
        for cell in &self.chunks {
            if start >= capacity {
                break;
            }
            let end = if start == 0 { MIN_SLOTS } else { grow(start) };
            cell.get_or_init(|| (start..end).map(|_| Slot::vacant()).collect());
            start = end;
        }
    }
}
