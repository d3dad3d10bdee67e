//! What the parser hands the workers: records in batches. Both
//! [`crate::replay`] (which fills them) and [`crate::decide`] (which
//! decides them) use this module, and neither uses the other's types.

use std::net::IpAddr;
use std::sync::Arc;

use crate::keys::KeyId;

/// Records per batch: big enough that handing a batch over costs little per
/// record, small enough that a batch stays in cache.
pub(crate) const BATCH: usize = 4096;

/// A record as the workers need it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rec {
    /// The bucket address: canonical, cut to its family's prefix (unused,
    /// and unspecified, for an opaque key, which its id stands for).
    pub(crate) ip: IpAddr,
    pub(crate) id: KeyId,
    pub(crate) nanos: u64,
    pub(crate) cost: u64,
}

/// Records in input order, all from one input.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) recs: Vec<Rec>,
    /// With `--decisions`: each record's row up to `allowed`, back to back.
    pub(crate) rows: Vec<u8>,
    /// Where each record's part of `rows` ends.
    pub(crate) row_ends: Vec<usize>,
    /// What follows `allowed` on every row of this batch.
    pub(crate) row_tail: Arc<[u8]>,
}
