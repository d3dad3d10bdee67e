//! How address keys sit in a table's slots, and the keyed hash that places
//! them.
//!
//! Keys come from the network, so the hash is keyed with random words drawn
//! per table from std's randomly keyed SipHash: a folded 64×64→128-bit
//! multiply of the key with them, as in `foldhash`/wyhash (the 128-bit
//! product of the key XORed with one random word and another random word,
//! its halves XORed).
//!
//! # Why this resists flooding one shard or one probe chain
//!
//! The two words are never revealed: not in `Debug`, not in any order the
//! API exposes (nothing iterates keys), not in any output. Without them,
//! which addresses collide is unpredictable, as with SipHash. What this gives
//! up against SipHash is resistance to an attacker who can learn the words by
//! observing hash values, which the limiter never shows: timing is the only
//! channel, and a probe chain's length moves a request's time by far less
//! than network noise. Damage is also bounded: an attacker who did fill one
//! shard only makes that shard grow; it holds up no other shard, and known
//! keys elsewhere are never slowed. `KeyedRateLimiter` keeps SipHash, since
//! its keys may be arbitrary strings.

use std::fmt;
use std::hash::BuildHasher;

use crate::ip::V6Bits;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// The hash bits that place a key among a shard's slots: the low ones (the
/// shard comes from higher bits, see `store::shard_index`).
const HOME_BITS: u32 = 32;

/// A key the tables store in atomics: an IPv4 address or an IPv6 one.
pub(crate) trait SlotKey: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// The key's storage in a slot.
    type Word: fmt::Debug + Send + Sync;

    /// The all-zero key, which vacant slots hold.
    const ZERO: Self;

    /// Storage holding [`SlotKey::ZERO`].
    fn zeroed() -> Self::Word;

    fn load(word: &Self::Word) -> Self;

    fn store(word: &Self::Word, key: Self);

    /// The key's hash under `seed`.
    fn hash(self, seed: &Seed) -> u64;
}

impl SlotKey for u32 {
    type Word = AtomicU32;

    const ZERO: u32 = 0;

    fn zeroed() -> AtomicU32 {
        AtomicU32::new(0)
    }

    #[inline]
    fn load(word: &AtomicU32) -> u32 {
        word.load(Ordering::Relaxed)
    }

    fn store(word: &AtomicU32, key: u32) {
        word.store(key, Ordering::Relaxed);
    }

    #[inline]
    fn hash(self, seed: &Seed) -> u64 {
        fold(u64::from(self) ^ seed.0[0], seed.0[1])
    }
}

impl SlotKey for V6Bits {
    type Word = [AtomicU64; 2];

    const ZERO: V6Bits = V6Bits([0, 0]);

    fn zeroed() -> [AtomicU64; 2] {
        [AtomicU64::new(0), AtomicU64::new(0)]
    }

    #[inline]
    fn load(word: &[AtomicU64; 2]) -> V6Bits {
        V6Bits([word[0].load(Ordering::Relaxed), word[1].load(Ordering::Relaxed)])
    }

    fn store(word: &[AtomicU64; 2], key: V6Bits) {
        word[0].store(key.0[0], Ordering::Relaxed);
        word[1].store(key.0[1], Ordering::Relaxed);
    }

    #[inline]
    fn hash(self, seed: &Seed) -> u64 {
        fold(self.0[0] ^ seed.0[0], self.0[1] ^ seed.0[1])
    }
}

/// The random words that key a table's hash.
#[derive(Clone, Copy)]
pub(crate) struct Seed(pub(super) [u64; 2]);

impl Seed {
    /// Fresh words: std's `RandomState` is keyed from the operating system's
    /// randomness, and differs for every instance.
    pub(crate) fn random() -> Seed {
        // loom runs a model many times and needs each run to make the same
        // choices, so its tables all hash alike.
        #[cfg(loom)]
        let state = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default();
        #[cfg(not(loom))]
        let state = std::hash::RandomState::new();
        // The second word is odd, so that multiplying by it loses no bits.
        Seed([state.hash_one(0u8), state.hash_one(1u8) | 1])
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the words: they are the table's secret.
        f.write_str("Seed(..)")
    }
}

/// The 128-bit product of `a` and `b`, its halves folded together.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ (product >> 64) as u64
}

/// Where a probe for `hash` starts among `capacity` slots: its low
/// [`HOME_BITS`] bits scaled to the capacity.
#[inline]
pub(super) fn home(hash: u64, capacity: usize) -> usize {
    (((hash & ((1 << HOME_BITS) - 1)) * capacity as u64) >> HOME_BITS) as usize
}
