//! Finding slots: where a slot index lies among a shard's chunks, and the
//! probes that walk them.

use std::ops::ControlFlow;

use super::hash::{SlotKey, home};
use super::{Hashed, MIN_SLOTS, Shard, Slot};
use crate::cell::{Cell, Tag};
use crate::sync::Ordering;

/// Where a writer's probe for a key ended.
pub(super) enum Probe {
    Found(usize),
    /// Not there; `free` is the first tombstone on the way, or else the
    /// vacant slot that ended the probe.
    Missing {
        free: usize,
    },
}

/// The slot after `index`, wrapping around.
#[inline]
pub(super) fn next(index: usize, capacity: usize) -> usize {
    if index + 1 == capacity { 0 } else { index + 1 }
}

impl<K: SlotKey, B: Cell> Shard<K, B> {
    /// Slot `index`, if its chunk exists.
    #[inline]
    pub(super) fn slot(&self, index: usize) -> Option<&Slot<K, B>> {
        self.run(index)?.first()
    }

    /// The slots from `index` to the end of its chunk, if the chunk exists.
    #[inline]
    fn run(&self, index: usize) -> Option<&[Slot<K, B>]> {
        let (chunk, offset) = if index < MIN_SLOTS {
            (0, index)
        } else {
            // `index` is in [2^(q+1), 2^(q+2)), whose halves are chunks of
            // 2^q slots: `index >> q` is 2 in the first half, 3 in the second.
            let q = index.ilog2() - 1;
            let half = index >> q;
            let chunk = 2 * q as usize + 1 + half - 2 * MIN_SLOTS.ilog2() as usize;
            (chunk, index - (half << q))
        };
        self.chunks.get(chunk)?.get()?.get(offset..)
    }

    /// The allocated slots among the first `capacity`, a chunk at a time.
    pub(super) fn runs(&self, capacity: usize) -> impl Iterator<Item = &[Slot<K, B>]> {
        let mut start = 0;
        self.chunks.iter().map_while(move |chunk| {
            if start >= capacity {
                return None;
            }
            let run = chunk.get()?;
            start += run.len();
            Some(&run[..])
        })
    }

    /// Visits the slots a probe from `start` passes in a table of `capacity`
    /// slots (more than 0), in order and wrapping around, a chunk at a time,
    /// until `visit` breaks with an answer; `None` if it never does, or a
    /// chunk is missing. Whole chunks are counted against the capacity, so a
    /// full table may see a few slots twice.
    #[inline(always)]
    pub(super) fn probe_from<'s, R>(
        &'s self,
        mut start: usize,
        capacity: usize,
        mut visit: impl FnMut(usize, &'s Slot<K, B>) -> ControlFlow<R>,
    ) -> Option<R> {
        let mut left = capacity;
        loop {
            let run = self.run(start)?;
            for (offset, slot) in run.iter().enumerate() {
                if let ControlFlow::Break(answer) = visit(start + offset, slot) {
                    return Some(answer);
                }
            }
            left = left.checked_sub(run.len()).filter(|&left| left > 0)?;
            // Chunks end where capacities do: the next run starts there or
            // at 0.
            start += run.len();
            if start == capacity {
                start = 0;
            }
        }
    }

    /// Probes for `key` under the mutex; `None` if the shard has no room
    /// for it and no slot of its.
    pub(super) fn probe(&self, sought: Hashed<K>) -> Option<Probe> {
        let Hashed { key, hash } = sought;
        let capacity = self.capacity.load(Ordering::Relaxed);
        if capacity == 0 {
            return None;
        }
        let mut free = None;
        let found = self.probe_from(home(hash, capacity), capacity, |index, slot| {
            match slot.cell.tag_hint() {
                Tag::Live if K::load(&slot.key) == key => ControlFlow::Break(Probe::Found(index)),
                Tag::Live => ControlFlow::Continue(()),
                Tag::Tomb => {
                    free.get_or_insert(index);
                    ControlFlow::Continue(())
                }
                Tag::Vacant => ControlFlow::Break(Probe::Missing { free: free.unwrap_or(index) }),
            }
        });
        found.or(free.map(|free| Probe::Missing { free }))
    }
}
