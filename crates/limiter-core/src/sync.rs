//! The synchronisation primitives the limiter is built on.
//!
//! This is the only module that names `parking_lot`, so that a model checker
//! such as loom can be swapped in here without touching the rest.

pub(crate) use parking_lot::{Mutex, RwLock};
