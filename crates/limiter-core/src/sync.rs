//! The synchronisation primitives the limiter is built on.
//!
//! This is the only module that names `parking_lot`, `std::sync::atomic` or
//! `loom`. Built with `RUSTFLAGS="--cfg loom"`, the same code runs on loom's
//! model-checked primitives instead (see `tests/loom.rs`).

#[cfg(not(loom))]
pub(crate) use parking_lot::{Mutex, RwLock};
#[cfg(not(loom))]
pub(crate) use std::hint::spin_loop;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::thread::yield_now;

#[cfg(loom)]
pub(crate) use loom::hint::spin_loop;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};

#[cfg(loom)]
pub(crate) use loom::thread::yield_now;
/// A cell written once and then only read: std's, even under loom, which has
/// none. The tables publish each chunk through it before they publish the
/// capacity that reaches into the chunk, with loom's atomics, so loom still
/// sees every ordering that matters.
pub(crate) use std::sync::OnceLock;

/// loom's reader-writer lock with parking_lot's interface: no poisoning.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct RwLock<T>(loom::sync::RwLock<T>);

#[cfg(loom)]
impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> RwLock<T> {
        RwLock(loom::sync::RwLock::new(value))
    }

    pub(crate) fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// loom's mutex with parking_lot's interface: no poisoning.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Mutex<T> {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
pub(crate) fn thread_index() -> usize {
    match INDEX.get() {
        UNSET => Index::assign(),
        index => index,
    }
}

/// [`thread_index`] if the thread has asked before (and still has its
/// thread-locals): a single load, for callers that take another path when
/// it is `None`.
#[inline]
pub(crate) fn thread_index_if_set() -> Option<usize> {
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
    use super::thread_index;

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
