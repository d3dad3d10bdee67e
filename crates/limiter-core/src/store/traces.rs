//! What an evicted bucket leaves behind, so that coming back does not refill
//! it.
//!
//! Under a key cap, [`WhenFull::EvictFullest`](crate::WhenFull) evicts
//! buckets that are not full. Were such a key to come back to a full bucket,
//! each eviction would give it the tokens it was short of: a flood of fresh
//! addresses would raise the limit of every client it evicts. So a bucket
//! evicted before it is idle leaves a trace, its state, in its shard's
//! [`Traces`], and its key is decided from that trace, never from a full
//! bucket, until the trace is idle.
//!
//! # Layout
//!
//! A shard's traces are sets of [`WAYS`] ways. A key's hash picks its set
//! and a 31-bit fingerprint (the hash is keyed per store, so an attacker
//! cannot choose keys that share either). A way holds a fingerprint and a
//! state. A shard keeps one way per [`KEYS_PER_WAY`] keys of the cap it may
//! hold, allocated on its first eviction of a bucket that is not idle, and
//! nothing else: the memory is fixed, whatever the flood.
//!
//! # The invariant: never looser
//!
//! For every key without a bucket, the way of its fingerprint, if there is
//! one, holds for a request at any time no more units than the key's own
//! state (its bucket as last evicted, or as last decided here, left to
//! refill); without one, the key's own state is full for every request
//! stamped at or after the eviction horizon. Every change keeps it:
//!
//! - A trace goes only into the way of its fingerprint, met with what that
//!   way holds (see [`Params::meet`]: both keys stay bounded when two share
//!   a fingerprint), or into a free way: one that holds nothing, or a state
//!   idle at the eviction horizon, which every request stamped from the
//!   horizon on sees as full. No trace is ever dropped or overwritten
//!   otherwise: when none of the buckets an eviction samples could leave
//!   its trace, the limiter evicts none, and denies a key that has no trace.
//! - A key with a trace starts its bucket from it and leaves the way as it
//!   is: its bucket's line (see [`Params::meet`]) only ever falls, so when it
//!   is evicted again meeting the old trace with the new state changes
//!   nothing a request from the bucket's own time on can see, and another
//!   key's trace met into the same way stays in force.
//! - A key with a trace and no room for a bucket is decided on the trace,
//!   which then holds the old state met with the new one.
//!
//! A fingerprint collision only makes a bucket stricter. The price of fixed
//! memory is paid by keys never seen: while a flood of new addresses keeps
//! every bucket busy and every way full, new keys are denied, as under
//! [`WhenFull::DenyNewKeys`](crate::WhenFull), until traces turn idle.

use crate::bucket::{Decision, Params, State};

/// Ways in a set.
pub(crate) const WAYS: usize = 4;

/// Keys of the cap per way: a shard sized for `n` keys keeps `n / 4` ways.
pub(crate) const KEYS_PER_WAY: usize = 4;

/// The traces of one shard's evicted buckets.
#[derive(Debug, Default)]
pub(crate) struct Traces {
    /// Empty until the shard first evicts a bucket that is not idle.
    sets: Box<[[Way; WAYS]]>,
}

/// One key's trace, or several keys' met, under one fingerprint.
#[derive(Debug, Clone, Copy)]
struct Way {
    /// The fingerprint, odd; 0 for a way that holds nothing.
    print: u32,
    state: State,
}

impl Traces {
    /// The sets a shard keeps for a cap of `max_keys` keys over `shards`
    /// shards: one way per [`KEYS_PER_WAY`] keys a shard may hold.
    pub(crate) fn sets_for(max_keys: usize, shards: usize) -> usize {
        max_keys.div_ceil(shards.max(1)).div_ceil(KEYS_PER_WAY * WAYS).clamp(1, 1 << 31)
    }

    /// The trace of the key of `hash`, if it has one.
    pub(crate) fn find(&self, hash: u64) -> Option<State> {
        if self.sets.is_empty() {
            return None;
        }
        let (set, print) = locate(hash, self.sets.len());
        self.sets[set].iter().find(|way| way.print == print).map(|way| way.state)
    }

    /// Whether the trace of the key of `hash` can be kept without losing
    /// another, judging idle states at `horizon`.
    pub(crate) fn fits(&self, params: &Params, hash: u64, horizon: Option<u64>) -> bool {
        if self.sets.is_empty() {
            return true;
        }
        let (set, print) = locate(hash, self.sets.len());
        self.sets[set].iter().any(|way| way.print == print || is_free(params, way, horizon))
    }

    /// Keeps `state` as the trace of the key of `hash`, unless it is idle at
    /// `horizon`. The trace must [fit](Traces::fits); `sets` is the size to
    /// allocate on first use.
    pub(crate) fn store(
        &mut self,
        params: &Params,
        sets: usize,
        hash: u64,
        state: State,
        horizon: Option<u64>,
    ) {
        if horizon.is_some_and(|h| params.is_idle(state, h)) {
            return;
        }
        if self.sets.is_empty() {
            let empty = Way { print: 0, state: params.fresh(0) };
            self.sets = vec![[empty; WAYS]; sets.max(1)].into_boxed_slice();
        }
        let (set, print) = locate(hash, self.sets.len());
        let ways = &mut self.sets[set];
        if let Some(way) = ways.iter_mut().find(|way| way.print == print) {
            way.state = params.meet(way.state, state);
        } else if let Some(way) = ways.iter_mut().find(|way| is_free(params, way, horizon)) {
            *way = Way { print, state };
        } else {
            debug_assert!(false, "a trace that does not fit was stored");
        }
    }

    /// Decides a request of `cost` at `now` on the trace of the key of
    /// `hash`, which then holds its old state met with the new one; `None`
    /// if the key has no trace.
    pub(crate) fn decide(
        &mut self,
        params: &Params,
        hash: u64,
        now: u64,
        cost: u64,
    ) -> Option<Decision> {
        if self.sets.is_empty() {
            return None;
        }
        let (set, print) = locate(hash, self.sets.len());
        let way = self.sets[set].iter_mut().find(|way| way.print == print)?;
        let mut state = way.state;
        let decision = params.decide(&mut state, now, cost);
        way.state = params.meet(way.state, state);
        Some(decision)
    }

    /// The bytes the traces take.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.sets)
    }
}

/// Whether `way` may take another key's trace: it holds none, or one idle
/// at `horizon`.
fn is_free(params: &Params, way: &Way, horizon: Option<u64>) -> bool {
    way.print == 0 || horizon.is_some_and(|h| params.is_idle(way.state, h))
}

/// The set (of `sets`) and the fingerprint of the key of `hash`.
///
/// The fingerprint is the hash's low 32 bits, made odd; the set comes from
/// the high half of the hash multiplied by an odd constant, which every bit
/// of the hash moves (the shard's bits, fixed within a shard, only shift
/// it).
fn locate(hash: u64, sets: usize) -> (usize, u32) {
    let mixed = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    (((mixed * sets as u64) >> 32) as usize, hash as u32 | 1)
}

#[cfg(test)]
mod tests;
