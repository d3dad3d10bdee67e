//! Deciding batches of records with the core limiter, one limit at a time.

use std::sync::Arc;
use std::sync::mpsc::Receiver;

use limiter_core::{Decision, KeyedRateLimiter, ManualClock, Nanos, RateLimiter};

use crate::args::{KeyKind, Limit};
use crate::batch::{Batch, Rec};
use crate::decisions::DecisionSink;
use crate::error::CliError;
use crate::keys::{Key, KeyCount, KeyId, Prefixes};
use crate::plot::Timeline;
use crate::redis::{RedisDecider, RedisTarget};
use crate::report::{KeyResult, LimitResult};

/// Batches a worker with several limits decides limit by limit, grouped by key.
pub(crate) const WINDOW: usize = 64;

/// The limiter that decides: the core's per bucket address or per opaque key
/// id, or limiter-redis's (`--redis`), which decides a batch ahead.
enum Limiter {
    Ip(RateLimiter<ManualClock>),
    Opaque(KeyedRateLimiter<KeyId, ManualClock>),
    Redis(Box<RedisDecider>),
}

/// One limit's limiter and counts.
pub(crate) struct LimitState {
    /// The limit's position in the configuration.
    pub(crate) index: usize,
    limit: Limit,
    limiter: Limiter,
    prefixes: Prefixes,
    allowed: u64,
    denied: u64,
    never_allowable: u64,
    /// Denials per key id; a key's allowed count is its record count less
    /// these, so only denials touch this table.
    denied_per_key: Vec<u64>,
    /// With `--plot`: requests and denials over trace time.
    pub(crate) timeline: Option<Timeline>,
}

impl LimitState {
    pub(crate) fn new(index: usize, limit: Limit, prefixes: Prefixes, key: KeyKind) -> LimitState {
        let limiter = match key {
            KeyKind::Ip => Limiter::Ip(limit.limiter(prefixes)),
            KeyKind::Any => Limiter::Opaque(limit.keyed_limiter()),
        };
        LimitState {
            index,
            limit,
            limiter,
            prefixes,
            allowed: 0,
            denied: 0,
            never_allowable: 0,
            denied_per_key: Vec::new(),
            timeline: None,
        }
    }

    /// This limit decided on Redis at `target` instead (`--redis`).
    pub(crate) fn through_redis(
        mut self,
        target: &RedisTarget,
        key: KeyKind,
    ) -> Result<LimitState, CliError> {
        let decider = RedisDecider::connect(target, self.index, self.limit, self.prefixes, key)?;
        self.limiter = Limiter::Redis(Box::new(decider));
        Ok(self)
    }

    /// Readies the decisions of `recs`, the next records [`LimitState::decide`]
    /// takes, in order: one round trip for Redis, nothing for the core.
    fn prepare(&mut self, recs: &[Rec]) -> Result<(), CliError> {
        match &mut self.limiter {
            Limiter::Redis(redis) => redis.prepare(recs),
            Limiter::Ip(_) | Limiter::Opaque(_) => Ok(()),
        }
    }

    /// Decides one record with the limiter and counts the outcome.
    #[inline]
    fn decide(&mut self, rec: &Rec) -> bool {
        let now = Nanos::new(rec.nanos);
        let decision = match &mut self.limiter {
            Limiter::Ip(limiter) => limiter.check_n_at(rec.ip, rec.cost, now),
            Limiter::Opaque(limiter) => limiter.check_n_at(&rec.id, rec.cost, now),
            Limiter::Redis(redis) => redis.next(),
        };
        let allowed = match decision {
            Decision::Allowed { .. } => true,
            Decision::Denied { .. } => false,
            Decision::OverCapacity { .. } => {
                self.never_allowable += 1;
                false
            }
        };
        if let Some(timeline) = &mut self.timeline {
            timeline.record(rec.nanos, rec.id, allowed);
        }
        if allowed {
            self.allowed += 1;
        } else {
            self.denied += 1;
            let id = rec.id as usize;
            if id >= self.denied_per_key.len() {
                self.denied_per_key.resize(id + 1, 0);
            }
            self.denied_per_key[id] += 1;
        }
        allowed
    }

    /// The limit's counts and top keys, given every key's record count.
    pub(crate) fn finish(self, keys: &[KeyCount], top: usize) -> LimitResult {
        let mut denied: Vec<(u64, u64, &KeyCount)> = self
            .denied_per_key
            .iter()
            .zip(keys)
            .filter(|(denied, _)| **denied > 0)
            .map(|(&denied, key)| (denied, key.records - denied, key))
            .collect();
        let keys_denied = denied.len() as u64;
        denied
            .sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.key.cmp(&b.2.key)));
        denied.truncate(top);
        let denied = denied
            .into_iter()
            .map(|(denied, allowed, key)| KeyResult {
                key: match &key.key {
                    Key::Ip(ip) => self.prefixes.show(*ip),
                    Key::Text(text) => String::from_utf8_lossy(text).into_owned(),
                },
                allowed,
                denied,
            })
            .collect();
        LimitResult {
            limit: self.limit,
            allowed: self.allowed,
            denied: self.denied,
            never_allowable: self.never_allowable,
            keys_denied,
            top: denied,
        }
    }
}

/// Decides every batch for each of its limits, writing decision rows when it
/// has the sink (only ever with a single limit).
pub(crate) fn work(
    mut limits: Vec<LimitState>,
    batches: Receiver<Arc<Batch>>,
    mut sink: Option<DecisionSink>,
) -> Result<Vec<LimitState>, CliError> {
    if let [state] = limits.as_mut_slice() {
        for batch in batches {
            state.prepare(&batch.recs)?;
            match sink.as_mut() {
                Some(sink) => {
                    let mut start = 0;
                    for (rec, &end) in batch.recs.iter().zip(&batch.row_ends) {
                        let allowed = state.decide(rec);
                        sink.row(&batch.rows[start..end], allowed, &batch.row_tail)?;
                        start = end;
                    }
                }
                None => batch.recs.iter().for_each(|rec| _ = state.decide(rec)),
            }
        }
    } else {
        sweep(&mut limits, batches)?;
    }
    if let Some(sink) = sink {
        sink.finish()?;
    }
    Ok(limits)
}

/// Decides every batch for several limits, a window at a time.
///
/// The records of a window of [`WINDOW`] batches are grouped by key, in
/// input order within each key, and each limit runs over the whole window
/// before the next. Buckets are independent, so each limiter still sees
/// every key's records in input order and decides exactly as in input order,
/// while it touches each bucket once per window rather than once per record,
/// and its table stays in cache for a quarter of a million records instead
/// of being evicted by the other limiters' every few thousand.
fn sweep(limits: &mut [LimitState], batches: Receiver<Arc<Batch>>) -> Result<(), CliError> {
    let mut window = Vec::with_capacity(WINDOW);
    let mut grouped = Vec::new();
    let mut starts = Vec::new();
    let mut batches = batches.into_iter().peekable();
    while batches.peek().is_some() {
        window.extend(batches.by_ref().take(WINDOW));
        group_by_key(&window, &mut grouped, &mut starts);
        for state in limits.iter_mut() {
            state.prepare(&grouped)?;
            grouped.iter().for_each(|rec| _ = state.decide(rec));
        }
        window.clear();
    }
    Ok(())
}

/// Sets `grouped` to the window's records ordered by key id, each key's in
/// input order (a counting sort; `starts` is its scratch space).
fn group_by_key(window: &[Arc<Batch>], grouped: &mut Vec<Rec>, starts: &mut Vec<usize>) {
    let recs = || window.iter().flat_map(|batch| &batch.recs);
    let (Some(first), Some(max_id)) = (recs().next(), recs().map(|rec| rec.id).max()) else {
        grouped.clear();
        return;
    };
    starts.clear();
    starts.resize(max_id as usize + 2, 0);
    for rec in recs() {
        starts[rec.id as usize + 1] += 1;
    }
    for id in 1..starts.len() {
        starts[id] += starts[id - 1];
    }
    grouped.clear();
    grouped.resize(starts[starts.len() - 1], *first);
    for rec in recs() {
        let at = &mut starts[rec.id as usize];
        grouped[*at] = *rec;
        *at += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::mpsc::sync_channel;

    use limiter_testkit::{RngExt, rng};

    use super::*;
    use crate::keys::KeyTable;

    /// Batches of the given sizes over 30 keys, with costs 0 to 3 and some
    /// records out of order, from a fixed seed.
    fn batches(sizes: impl Iterator<Item = usize>) -> (Vec<Arc<Batch>>, Vec<KeyCount>) {
        let mut rng = rng(0x2545_f491_4f6c_dd1d, 0);
        let mut next = move || rng.random::<u64>();
        let mut keys = KeyTable::new();
        let mut nanos = 10_000_000_000;
        let batches = sizes
            .map(|size| {
                let recs = (0..size)
                    .map(|_| {
                        nanos += next() % 300_000_000;
                        let at = nanos - if next() % 10 == 0 { next() % 2_000_000_000 } else { 0 };
                        let ip = IpAddr::from([10, 0, 0, (next() % 30) as u8]);
                        let (id, _) = keys.observe(ip, at).unwrap();
                        Rec { ip, id, nanos: at, cost: next() % 4 }
                    })
                    .collect();
                Arc::new(Batch { recs, ..Batch::default() })
            })
            .collect();
        (batches, keys.into_keys())
    }

    fn limits() -> Vec<LimitState> {
        let limit = |index, capacity, rate: &str| {
            LimitState::new(
                index,
                Limit { capacity, rate: rate.parse().unwrap() },
                Prefixes::WHOLE,
                KeyKind::Ip,
            )
        };
        vec![limit(0, 2, "1"), limit(1, 5, "0.5"), limit(2, 3, "7/m")]
    }

    #[test]
    fn a_sweep_over_several_windows_decides_as_input_order_does() {
        // Three and a half windows, with batches of uneven sizes at the end.
        let sizes = std::iter::repeat_n(10, WINDOW * 3 + WINDOW / 2).chain([7, 1, 3]);
        let (all, keys) = batches(sizes);
        let (sender, receiver) = sync_channel(all.len());
        all.iter().for_each(|batch| sender.send(Arc::clone(batch)).unwrap());
        drop(sender);
        let mut swept = limits();
        sweep(&mut swept, receiver).unwrap();

        let mut one_by_one = limits();
        for state in &mut one_by_one {
            all.iter().flat_map(|batch| &batch.recs).for_each(|rec| _ = state.decide(rec));
        }
        let finish = |states: Vec<LimitState>| -> Vec<LimitResult> {
            states.into_iter().map(|state| state.finish(&keys, 30)).collect()
        };
        let (swept, one_by_one) = (finish(swept), finish(one_by_one));
        assert_eq!(swept, one_by_one);
        assert!(swept.iter().all(|r| r.denied > 100 && r.allowed > 100), "{swept:?}");
    }

    #[test]
    fn grouping_by_key_keeps_each_keys_input_order() {
        let (window, _) = batches([13, 13, 1, 13, 13].into_iter());
        let (mut grouped, mut starts) = (Vec::new(), Vec::new());
        group_by_key(&window, &mut grouped, &mut starts);
        let input: Vec<&Rec> = window.iter().flat_map(|batch| &batch.recs).collect();
        assert_eq!(grouped.len(), input.len());
        assert!(grouped.windows(2).all(|w| w[0].id <= w[1].id));
        for id in 0..30 {
            let of = |recs: &mut dyn Iterator<Item = &Rec>| -> Vec<(u64, u64)> {
                recs.filter(|r| r.id == id).map(|r| (r.nanos, r.cost)).collect()
            };
            assert_eq!(of(&mut grouped.iter()), of(&mut input.iter().copied()), "key {id}");
        }
    }
}
