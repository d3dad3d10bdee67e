//! The synchronisation primitives the limiter is built on.
//!
//! This is the only module that names `parking_lot` or `std::sync::atomic`,
//! so that a model checker such as loom can be swapped in here without
//! touching the rest.

pub(crate) use parking_lot::RwLock;
pub(crate) use std::hint::spin_loop;
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};
pub(crate) use std::thread::yield_now;
