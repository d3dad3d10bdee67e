//! The bucket's integer parameters, the script's arguments, and the exact
//! decision built from what the script returns.
//!
//! The script decides and stores; everything a decision reports beyond
//! allowed or denied (whole tokens left, the wait, the time to the next
//! token) is computed here from the bucket it returns, in `u128`, exactly as
//! limiter-core computes it from its own.

use std::time::Duration;

use limiter_core::{Decision, Rate};

use crate::error::ConfigError;

/// Nanoseconds in one second.
const NANOS_PER_SEC: u64 = 1_000_000_000;
/// A limb of the script's big numbers: 24 bits.
const LIMB: u32 = 24;
/// The latest time a bucket can hold, as in limiter-core: later times are
/// taken as this one.
pub(crate) const MAX_TIME: u64 = (1 << 63) - 1;

/// A limiter's capacity and rate in the units of the script's arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    pub(crate) capacity: u64,
    /// Units in one token (the rate's denominator in tokens per ns).
    pub(crate) unit: u128,
    /// Units refilled per nanosecond (its numerator), at most `unit`.
    pub(crate) refill: u128,
    /// A full bucket: `capacity · unit`.
    pub(crate) full: u128,
    /// Whether the script's fast path, in plain Lua numbers, is exact for
    /// these figures: a full bucket of at most 4·10¹⁵ units.
    pub(crate) fast: bool,
}

/// The largest full bucket, in units, of the script's fast path.
const FAST_FULL: u128 = 4_000_000_000_000_000;

impl Params {
    /// The parameters of `capacity` tokens at `rate`, refused unless every
    /// figure is within the bounds the script's proof of exactness relies on
    /// (see the top of `bucket.lua`).
    pub(crate) fn new(capacity: u64, rate: Rate) -> Result<Params, ConfigError> {
        if !(1..=limiter_core::MAX_CAPACITY).contains(&capacity) {
            return Err(ConfigError::CapacityOutOfRange { capacity });
        }
        let den = u128::from(rate.denom()) * u128::from(NANOS_PER_SEC);
        let num = u128::from(rate.numer());
        let g = gcd(num, den);
        let (refill, unit) = (num / g, den / g);
        let full = u128::from(capacity) * unit;
        // Within SPEC's range these always hold (unit <= 10^18, full <= 10^27);
        // they are checked so that the proof never rests on an unchecked value.
        for (name, value, bound) in [
            ("units per token", unit, 1u128 << (3 * LIMB)),
            ("units in a full bucket", full, 1 << (4 * LIMB)),
            ("units per millisecond of refill", refill * 1_000_000, 1 << (4 * LIMB)),
        ] {
            if value >= bound {
                return Err(ConfigError::BeyondExactRange { what: name, value, bound });
            }
        }
        Ok(Params { capacity, unit, refill, full, fast: full <= FAST_FULL })
    }

    /// The script's fixed arguments after the lifetime: on the fast path C,
    /// U, F, FULL and EMAX = ⌊2⁵³ / F⌋; on the general one C, and U, F, FULL
    /// and M = F·10⁶ in limbs.
    pub(crate) fn args(&self, out: &mut Vec<u64>) {
        out.push(self.capacity);
        if self.fast {
            // All at most FULL <= 4·10¹⁵ (F <= U <= FULL), or 2⁵³.
            for value in [self.unit, self.refill, self.full, (1u128 << 53) / self.refill] {
                out.push(value as u64);
            }
        } else {
            push_limbs(out, self.unit, 3);
            push_limbs(out, self.refill, 3);
            push_limbs(out, self.full, 4);
            push_limbs(out, self.refill * 1_000_000, 4);
        }
    }

    /// Whole tokens in `units`.
    pub(crate) fn whole(&self, units: u128) -> u64 {
        (units / self.unit) as u64
    }

    /// Nanoseconds until `short` more units have refilled, rounded up.
    pub(crate) fn refill_nanos(&self, short: u128) -> u128 {
        short.div_ceil(self.refill)
    }

    /// How long one token takes to refill, rounded up to the next nanosecond.
    pub(crate) fn token_interval(&self) -> Duration {
        nanos_to_duration(self.refill_nanos(self.unit))
    }

    /// The decision limiter-core makes for a request of `cost` at `now` that
    /// left (or found) the bucket at time `t` with `units`, and the time from
    /// `now` until the bucket holds one more whole token than it has left.
    pub(crate) fn outcome(
        &self,
        code: u64,
        cost: u64,
        now: u64,
        t: u64,
        units: u128,
    ) -> (Decision, Option<Duration>) {
        let behind = u128::from(t.saturating_sub(now));
        let whole = self.whole(units);
        let decision = match code {
            0 => Decision::Allowed { remaining: whole },
            1 => {
                let need = u128::from(cost) * self.unit;
                let wait = behind + self.refill_nanos(need.saturating_sub(units));
                Decision::Denied { remaining: whole, retry_after: nanos_to_duration(wait) }
            }
            _ => Decision::OverCapacity { cost, capacity: self.capacity },
        };
        let next = (whole < self.capacity).then(|| {
            let short = u128::from(whole + 1) * self.unit - units;
            nanos_to_duration(behind + self.refill_nanos(short))
        });
        (decision, next)
    }
}

/// `value` as `count` limbs of 24 bits, least significant first.
fn push_limbs(out: &mut Vec<u64>, value: u128, count: usize) {
    for i in 0..count {
        out.push(((value >> (LIMB as usize * i)) & ((1 << LIMB) - 1)) as u64);
    }
}

/// Numbers as the script reads them: little-endian doubles, each an integer
/// of at most 2⁵³ (so exactly representable).
pub(crate) fn pack(values: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 * values.len());
    for &value in values {
        debug_assert!(value <= 1 << 53, "{value} is not exact as a double");
        out.extend_from_slice(&(value as f64).to_le_bytes());
    }
    out
}

/// One request's arguments: its time as whole seconds and nanoseconds, and
/// its cost (cut to `capacity + 1`, all the script needs to know of a cost
/// above the capacity).
pub(crate) fn request_arg(nanos: u64, cost: u64, capacity: u64) -> [u8; 24] {
    let mut out = [0; 24];
    let fields = [nanos / NANOS_PER_SEC, nanos % NANOS_PER_SEC, cost.min(capacity + 1)];
    for (bytes, value) in out.chunks_exact_mut(8).zip(fields) {
        // Seconds below 2^35, nanoseconds below 10^9, a cost of at most
        // 10^9 + 1: every one exact as a double.
        bytes.copy_from_slice(&(value as f64).to_le_bytes());
    }
    out
}

/// One request's answer from the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) code: u64,
    /// The request's time, ns.
    pub(crate) now: u64,
    /// The bucket's time after the decision, ns.
    pub(crate) t: u64,
    /// The bucket's units after the decision.
    pub(crate) units: u128,
}

impl Reply {
    /// Reads one request's 7 packed doubles, or `None` if they are not
    /// integers within their ranges.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Reply> {
        if bytes.len() != 56 {
            return None;
        }
        let field = |i: usize, below: u64| -> Option<u64> {
            let value = f64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().ok()?);
            let ok = value >= 0.0 && value.fract() == 0.0 && value < below as f64;
            ok.then_some(value as u64)
        };
        let time = |i: usize| -> Option<u64> {
            let nanos = u128::from(field(i, 1 << 34)?) * u128::from(NANOS_PER_SEC)
                + u128::from(field(i + 1, NANOS_PER_SEC)?);
            u64::try_from(nanos).ok()
        };
        Some(Reply {
            code: field(0, 3)?,
            now: time(1)?,
            t: time(3)?,
            units: u128::from(field(5, 1 << 53)?) + (u128::from(field(6, 1 << 48)?) << 48),
        })
    }
}

/// Nanoseconds as a `Duration`; at most 2⁶³ + 10²⁷ ns, so the seconds fit.
pub(crate) fn nanos_to_duration(nanos: u128) -> Duration {
    let secs = nanos / u128::from(NANOS_PER_SEC);
    Duration::new(secs as u64, (nanos % u128::from(NANOS_PER_SEC)) as u32)
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limbs_hold_24_bits_each() {
        for value in [0, 1, (1 << 24) - 1, 1 << 24, (1 << 63) - 1, 10u128.pow(27)] {
            let mut out = Vec::new();
            push_limbs(&mut out, value, 4);
            assert!(out.iter().all(|&limb| limb < 1 << 24), "{value}: {out:?}");
            let back = out.iter().rev().fold(0u128, |acc, &limb| acc << 24 | u128::from(limb));
            assert_eq!(back, value);
        }
    }

    #[test]
    fn replies_out_of_range_are_refused() {
        let good = [1, 5, 999_999_999, 6, 0, (1 << 53) - 1, 3];
        let reply = Reply::parse(&pack(&good)).unwrap();
        assert_eq!((reply.now, reply.t), (5_999_999_999, 6_000_000_000));
        assert_eq!(reply.units, (3 << 48) + ((1 << 53) - 1));
        for (i, bad) in [(0, 3), (2, 1_000_000_000), (6, 1 << 48), (1, 1 << 34)] {
            let mut fields = good;
            fields[i] = bad;
            assert_eq!(Reply::parse(&pack(&fields)), None, "field {i} = {bad}");
        }
        let mut fraction = pack(&good);
        fraction[8..16].copy_from_slice(&5.5f64.to_le_bytes());
        assert_eq!(Reply::parse(&fraction), None);
        assert_eq!(Reply::parse(&pack(&good[..6])), None);
    }

    #[test]
    fn extremes_of_the_range_fit_the_scripts_bounds() {
        for (capacity, rate) in [(1_000_000_000, "0.000000001"), (1_000_000_000, "1000000000")] {
            let p = Params::new(capacity, rate.parse().unwrap()).unwrap();
            assert!(p.unit <= 10u128.pow(18) && p.full <= 10u128.pow(27), "{p:?}");
        }
        let p = Params::new(7, "7/h".parse().unwrap()).unwrap();
        // 7 per hour: 7 / 3.6·10¹² tokens per ns, reduced.
        assert_eq!((p.refill, p.unit), (7, 3_600_000_000_000));
        assert!(p.fast);
        let p = Params::new(1_000_000_000, "0.5".parse().unwrap()).unwrap();
        assert!(!p.fast, "5·10¹⁸ units: the general path");
    }
}
