//! Concurrent single requests for one key share script calls.
//!
//! A single request (`check`, `check_n`, `check_n_at`) for a key with no call
//! in flight makes its own call. Requests for that key that come while it is
//! in flight queue (on a single Redis, requests for any key of the same one of
//! two shards: see `Builder::batch_across_keys`); when it returns, a task sends the queue (up to 256
//! requests) as one batch, and so on until no request waits. A batch costs one round trip,
//! one script dispatch, one `TIME` and, on the script's fast path, one read
//! and at most one write of the key, however many requests it holds.
//!
//! Decisions stay exact. Requests in flight together have no order of their
//! own; the script decides a batch atomically, one request after the other
//! in the order they queued, each exactly as a call of its own would have
//! been decided at that point (server-time requests of one batch share the
//! server's time, as requests within one microsecond do). Each request keeps
//! its own deadline: one that runs out while it waits is decided by the
//! failure policy, and is not sent if its batch has not left yet.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::limiter::{Inner, Item};
use crate::outcome::Outcome;

/// The most requests one batch takes from a queue (the rest wait for the
/// next), so that no script call holds Redis long.
const MAX_BATCH: usize = 256;

/// Flights of requests for any key, when they may share calls: a key always
/// goes to the same one, so its requests stay in order.
const SHARED_FLIGHTS: u8 = 2;

/// The keys with a call in flight, and the requests waiting for each. With
/// calls shared across keys, a flight is named by one byte (the key's shard),
/// which no Redis key of a limiter (`prefix:{name}`) can be.
#[derive(Debug)]
pub(crate) struct Flights {
    map: Mutex<HashMap<Arc<[u8]>, Queue>>,
    shared: [Arc<[u8]>; SHARED_FLIGHTS as usize],
}

impl Default for Flights {
    fn default() -> Self {
        Flights {
            map: Mutex::default(),
            shared: std::array::from_fn(|i| Arc::from([i as u8].as_slice())),
        }
    }
}

impl Flights {
    /// The name of the flight of a request for `key`.
    fn name<'k>(&'k self, key: &'k [u8], across_keys: bool) -> &'k [u8] {
        if !across_keys {
            return key;
        }
        // FNV-1a: any spread will do.
        let hash = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        &self.shared[(hash % u64::from(SHARED_FLIGHTS)) as usize]
    }
}

/// Requests waiting for a key's call in flight, and where their outcomes
/// go (`None`: the call failed).
#[derive(Debug, Default)]
struct Queue {
    items: Vec<Item>,
    replies: Vec<oneshot::Sender<Option<Outcome>>>,
}

/// A key's call in flight. While it lives, requests for the key queue; when
/// it ends, the queue goes to a task of its own, as the next call.
struct Flight {
    inner: Arc<Inner>,
    key: Arc<[u8]>,
}

enum Turn {
    Lead(Arc<[u8]>),
    Wait(oneshot::Receiver<Option<Outcome>>),
}

/// Decides one request: from the deny cache, or in a call of its own, or in
/// the next batch for its key; counted.
pub(crate) async fn decide(inner: &Arc<Inner>, item: Item) -> Outcome {
    let tally = &inner.parts.tally;
    if let Some(outcome) = inner.cached(&item) {
        return tally.count(outcome);
    }
    let flights = &inner.flights;
    let name = flights.name(&item.key, inner.parts.across_keys);
    let turn = {
        let mut map = flights.map.lock();
        if let Some(queue) = map.get_mut(name) {
            let (tx, rx) = oneshot::channel();
            queue.items.push(item.clone());
            queue.replies.push(tx);
            Turn::Wait(rx)
        } else {
            let shared = flights.shared.iter().find(|shared| shared[..] == *name);
            let key: Arc<[u8]> = shared.map_or_else(|| Arc::from(name), Arc::clone);
            map.insert(Arc::clone(&key), Queue::default());
            Turn::Lead(key)
        }
    };
    match turn {
        Turn::Lead(key) => {
            let flight = Flight { inner: Arc::clone(inner), key };
            let result = inner.call(&[&item]).await;
            drop(flight);
            match result {
                Ok(mut out) => tally.count(out.pop().expect("one outcome per request")),
                Err(_) => {
                    tally.error();
                    inner.fall_back(&item)
                }
            }
        }
        Turn::Wait(rx) => match tokio::time::timeout(inner.parts.deadline, rx).await {
            Ok(Ok(Some(outcome))) => tally.count(outcome),
            _ => {
                tally.error();
                inner.fall_back(&item)
            }
        },
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        let queue = {
            let mut map = self.inner.flights.map.lock();
            match map.get_mut(&*self.key) {
                Some(queue) if !queue.items.is_empty() => {
                    let n = queue.items.len().min(MAX_BATCH);
                    Queue {
                        items: queue.items.drain(..n).collect(),
                        replies: queue.replies.drain(..n).collect(),
                    }
                }
                _ => {
                    map.remove(&*self.key);
                    return;
                }
            }
        };
        let next = Flight { inner: Arc::clone(&self.inner), key: Arc::clone(&self.key) };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn(serve(next, queue))),
            // No runtime to send them on: dropping the queue drops its
            // senders, and its requests fall back.
            Err(_) => {
                drop(queue);
                drop(next);
            }
        }
    }
}

/// Sends `queue` as one call per run of one kind (server or explicit time)
/// while `flight` holds the key, and hands each outcome to its request.
async fn serve(flight: Flight, queue: Queue) {
    let (mut items, mut replies) = (Vec::new(), Vec::new());
    for (item, reply) in queue.items.into_iter().zip(queue.replies) {
        // A request whose deadline has passed is not sent.
        if !reply.is_closed() {
            items.push(item);
            replies.push(reply);
        }
    }
    let mut replies = replies.into_iter();
    for run in items.chunk_by(|a, b| a.at.is_some() == b.at.is_some()) {
        match flight.inner.decide(run).await {
            Ok(outcomes) => {
                for (outcome, reply) in outcomes.into_iter().zip(replies.by_ref()) {
                    let _ = reply.send(Some(outcome));
                }
            }
            Err(_) => {
                for reply in replies.by_ref().take(run.len()) {
                    let _ = reply.send(None);
                }
            }
        }
    }
}
