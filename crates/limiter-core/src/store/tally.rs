//! The requests a limiter allowed and denied, counted on per-thread stripes,
//! and the registry that numbers threads for them.

use crate::sync::{AtomicU64, Ordering};

/// Requests allowed and denied, counted on stripes of their own cache line
/// each, so that counting never makes threads contend, even when they all
/// ask about one key.
///
/// Threads with an index ([`thread_index`]) below [`OWNED`] each own a
/// stripe and count on it with a plain load and store, which costs far less
/// than an atomic add; the rest share the other stripes, with atomic adds.
#[derive(Debug)]
pub(crate) struct Tally {
    /// `OWNED` owned stripes, then `SHARED` shared ones. (An array, so
    /// that an index below `OWNED` needs no bounds check.)
    stripes: Box<[Stripe; OWNED + SHARED]>,
}

#[derive(Debug)]
#[repr(align(128))]
struct Stripe {
    allowed: AtomicU64,
    denied: AtomicU64,
}

impl Stripe {
    /// The counter of requests `allowed`, or of those denied.
    #[inline]
    fn counter(&self, allowed: bool) -> &AtomicU64 {
        if allowed { &self.allowed } else { &self.denied }
    }
}

/// Stripes owned by one thread each.
const OWNED: usize = 16;

/// Stripes shared by the threads after the first [`OWNED`], a power of two.
const SHARED: usize = 16;

impl Tally {
    pub(crate) fn new() -> Tally {
        let stripe = |_| Stripe { allowed: AtomicU64::new(0), denied: AtomicU64::new(0) };
        Tally { stripes: Box::new(std::array::from_fn(stripe)) }
    }

    #[inline]
    pub(crate) fn count(&self, allowed: bool) {
        // One comparison for the common case: a thread whose index is set
        // and owns a stripe. loom runs its threads on one OS thread, so they
        // share an index there: every count is an atomic add.
        match thread_index_if_set() {
            Some(thread) if thread < OWNED && cfg!(not(loom)) => self.count_owned(thread, allowed),
            _ => self.count_other(allowed),
        }
    }

    /// Counts on the stripe of `thread`, which owns it.
    #[inline]
    fn count_owned(&self, thread: usize, allowed: bool) {
        let counter = self.stripes[thread].counter(allowed);
        // Only this thread ever writes this counter.
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Counts for a thread that owns no stripe, or has no index yet (and
    /// gets one).
    #[cold]
    fn count_other(&self, allowed: bool) {
        let thread = thread_index();
        if thread < OWNED && cfg!(not(loom)) {
            self.count_owned(thread, allowed);
        } else {
            self.stripes[OWNED + (thread & (SHARED - 1))]
                .counter(allowed)
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts so far, as [`Counters`] with nothing created or evicted.
    pub(crate) fn counters(&self) -> Counters {
        self.stripes.iter().fold(Counters::default(), |sum, stripe| {
            sum + Counters {
                allowed: stripe.allowed.load(Ordering::Relaxed),
                denied: stripe.denied.load(Ordering::Relaxed),
                created: 0,
                evicted: 0,
            }
        })
    }
}

/// What a limiter has done since it was built.
///
/// Requests are counted with relaxed atomics on per-thread stripes, so
/// counting costs the hot path one uncontended add; read while calls are
/// running, the counts are each exact but not a snapshot of one instant.
///
/// # Example
///
/// ```
/// use limiter_core::{Counters, Rate, RateLimiter};
///
/// let limiter = RateLimiter::with_rate(1, Rate::per_second(1)?)?;
/// let _ = limiter.allow("10.0.0.1")?;
/// let _ = limiter.allow("10.0.0.1")?;
/// let counters = limiter.counters();
/// assert_eq!((counters.allowed, counters.denied, counters.created), (1, 1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Requests allowed.
    pub allowed: u64,
    /// Requests denied, those costing more than the capacity included.
    pub denied: u64,
    /// Buckets created.
    pub created: u64,
    /// Buckets evicted, idle or to make room under the key cap.
    pub evicted: u64,
}

impl std::ops::Add for Counters {
    type Output = Counters;

    fn add(self, other: Counters) -> Counters {
        Counters {
            allowed: self.allowed + other.allowed,
            denied: self.denied + other.denied,
            created: self.created + other.created,
            evicted: self.evicted + other.evicted,
        }
    }
}

/// A number that stays the same for the calling thread and that no other
/// living thread has: the smallest one free when the thread first asks, and
/// free again once it exits. Counters use it to give threads stripes of their
/// own, so a pool that replaces its threads keeps its numbers small.
///
/// A thread asking after its thread-locals were destroyed gets `usize::MAX`,
/// which owns nothing.
#[inline]
fn thread_index() -> usize {
    match INDEX.get() {
        UNSET => Index::assign(),
        index => index,
    }
}

/// [`thread_index`] if the thread has asked before (and still has its
/// thread-locals): a single load, for callers that take another path when
/// it is `None`.
#[inline]
fn thread_index_if_set() -> Option<usize> {
    match INDEX.get() {
        UNSET => None,
        index => Some(index),
    }
}

/// [`INDEX`] before the thread asks for the first time.
const UNSET: usize = usize::MAX - 1;

/// Indices of exited threads, for new ones to take. Indices only spread
/// threads over stripes, and the counters order their own accesses, so this
/// is std's even under loom: the handover happens between real threads.
static FREE: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());

/// The next index never handed out.
static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

std::thread_local! {
    /// The thread's index, in a thread-local with nothing to destroy, which
    /// is the cheapest kind to read.
    static INDEX: std::cell::Cell<usize> = const { std::cell::Cell::new(UNSET) };
    /// Gives the index back when the thread exits.
    static GUARD: Index = const { Index };
}

/// The owner of a thread's index, which it gives back on drop.
struct Index;

impl Index {
    #[cold]
    fn assign() -> usize {
        let mut free = FREE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let smallest = free.iter().enumerate().min_by_key(|&(_, index)| *index).map(|(at, _)| at);
        let index = match smallest {
            Some(at) => free.swap_remove(at),
            None => NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        };
        // Registers the guard's destructor; fails only if it already ran.
        if GUARD.try_with(|_| ()).is_err() {
            free.push(index);
            return usize::MAX;
        }
        INDEX.set(index);
        index
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        let index = INDEX.replace(usize::MAX);
        if index < UNSET {
            // The mutex orders this thread's last counts before the next
            // owner's.
            FREE.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(index);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_count_lands_whether_a_thread_owns_a_stripe_or_shares_one() {
        // More threads than there are owned stripes, all living at once, so
        // that some count on shared stripes; each thread's first count is
        // the one that gives it its index.
        let tally = Tally::new();
        let barrier = std::sync::Barrier::new(OWNED + 9);
        std::thread::scope(|scope| {
            for t in 0..OWNED + 9 {
                let (tally, barrier) = (&tally, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    for i in 0..1000 {
                        tally.count(i % 4 != t % 4);
                    }
                });
            }
        });
        let counters = tally.counters();
        assert_eq!((counters.allowed, counters.denied), (750 * 25, 250 * 25));
    }

    #[test]
    fn living_threads_never_share_an_index_and_exited_ones_give_theirs_back() {
        let mine = thread_index();
        assert_eq!(thread_index(), mine);
        let theirs: Vec<usize> =
            (0..200).map(|_| std::thread::spawn(thread_index).join().unwrap()).collect();
        assert!(!theirs.contains(&mine));
        // One at a time, 200 threads reuse a handful of indices (other
        // tests' threads may hold a few), where fresh ones would be 200.
        let mut distinct = theirs.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() < 20, "{} distinct indices", distinct.len());
    }
}
