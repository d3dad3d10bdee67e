//! Time as the limiter sees it: integer nanoseconds from a clock.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
#[cfg(doc)]
use std::time::Instant;

/// Nanoseconds in a second: the one conversion between seconds and the
/// limiter's time, for the whole crate.
pub(crate) const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A point in time: whole nanoseconds since some epoch fixed by a [`Clock`].
///
/// For replay, the epoch is whatever the trace uses (usually the Unix epoch).
/// Every `u64` value is a valid time; the supported range of SPEC is
/// `0..2^63`.
///
/// # Example
///
/// ```
/// use limiter_core::Nanos;
/// use std::time::Duration;
///
/// let t = Nanos::from_secs(2);
/// assert_eq!(t.as_u64(), 2_000_000_000);
/// assert_eq!(t + Duration::from_millis(5), Nanos::new(2_005_000_000));
/// assert_eq!(Nanos::new(7).saturating_sub(Nanos::new(9)), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanos(u64);

impl Nanos {
    /// The epoch.
    pub const ZERO: Nanos = Nanos(0);

    /// The time `nanos` nanoseconds after the epoch.
    pub const fn new(nanos: u64) -> Nanos {
        Nanos(nanos)
    }

    /// The time `secs` seconds after the epoch, saturating at `u64::MAX` ns.
    pub const fn from_secs(secs: u64) -> Nanos {
        Nanos(secs.saturating_mul(NANOS_PER_SEC))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_sub(self, earlier: Nanos) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl From<u64> for Nanos {
    fn from(nanos: u64) -> Nanos {
        Nanos(nanos)
    }
}

impl std::ops::Add<Duration> for Nanos {
    type Output = Nanos;

    /// Moves the time forward, saturating at `u64::MAX` ns.
    fn add(self, rhs: Duration) -> Nanos {
        Nanos(self.0.saturating_add(u64::try_from(rhs.as_nanos()).unwrap_or(u64::MAX)))
    }
}

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ns", self.0)
    }
}

/// A source of the current time for a limiter.
///
/// A clock need not be monotonic across threads: the limiter never moves a
/// bucket's time backwards, so a reading that is slightly behind another
/// thread's is decided at the bucket's latest time instead.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Nanos;
}

/// The default clock: the CPU's time-stamp counter, counted from the clock's
/// creation.
///
/// Reading the time is on the path of every call, so it must be cheap. This
/// clock reads the time-stamp counter through the `quanta` crate and scales it
/// to nanoseconds, which costs less than [`Instant::now`]'s system call or
/// vDSO read (`cargo xtask bench` compares them). `quanta` uses the counter only
/// when the CPU reports it invariant (constant rate, synchronised across
/// cores), calibrating it once per process against the OS monotonic clock (the
/// first clock made in a process may block for up to 200 ms while it does); on
/// other CPUs it reads the OS monotonic clock, as `Instant` does. Either way
/// readings have nanosecond resolution and never run backwards, and the epoch
/// is the moment the clock was made, so readings stay far below 2⁶³ ns.
///
/// If a clock should ever run backwards, the limiter stays safe: a request
/// stamped before its bucket's time is decided at the bucket's time.
#[derive(Debug, Clone)]
pub struct MonotonicClock {
    clock: quanta::Clock,
    /// The raw reading at the epoch.
    start: u64,
    /// Nanoseconds per 2^[`SCALE_SHIFT`] raw units, as quanta's calibration
    /// gives them: scaling here rather than through quanta spares every
    /// reading quanta's choice of clock and its check against `start`.
    per_unit: u64,
}

/// The fixed point of [`MonotonicClock`]'s scale: 40 bits, so that a reading
/// rounds off less than a nanosecond per 2^40 raw units (about six minutes of
/// a 3 GHz counter), and the product with a raw delta of centuries still fits
/// in 128 bits.
const SCALE_SHIFT: u32 = 40;

impl MonotonicClock {
    /// A clock whose epoch is now.
    pub fn new() -> MonotonicClock {
        let clock = quanta::Clock::new();
        let start = clock.raw();
        let per_unit = clock.delta_as_nanos(0, 1 << SCALE_SHIFT);
        MonotonicClock { clock, start, per_unit }
    }
}

impl Default for MonotonicClock {
    fn default() -> MonotonicClock {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now(&self) -> Nanos {
        self.since_start(self.clock.raw())
    }
}

impl MonotonicClock {
    /// The time of the raw reading `raw`. A reading before the epoch
    /// (another core's counter, slightly behind) is the epoch. The product
    /// fits in 128 bits, and its top would take 2^64 ns, six centuries, to
    /// overflow the result.
    #[inline]
    fn since_start(&self, raw: u64) -> Nanos {
        let elapsed = raw.saturating_sub(self.start);
        let nanos = (u128::from(elapsed) * u128::from(self.per_unit)) >> SCALE_SHIFT;
        Nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told to, for tests and simulations.
///
/// Clones share one time, so a test keeps a clone and moves the limiter's
/// clock from outside.
///
/// # Example
///
/// ```
/// use limiter_core::{Clock, ManualClock, Nanos};
/// use std::time::Duration;
///
/// let clock = ManualClock::default();
/// let shared = clock.clone();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(shared.now(), Nanos::new(1_500_000_000));
/// shared.set(Nanos::new(7));
/// assert_eq!(clock.now(), Nanos::new(7));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock that reads `start` until moved.
    pub fn new(start: Nanos) -> ManualClock {
        ManualClock { nanos: Arc::new(AtomicU64::new(start.0)) }
    }

    /// Moves the time forward by `by`, saturating at `u64::MAX` ns.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // `fetch_update` with `Some` never fails.
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| Some(now.saturating_add(by)));
    }

    /// Sets the time, forwards or backwards.
    pub fn set(&self, now: Nanos) {
        self.nanos.store(now.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now(&self) -> Nanos {
        Nanos(self.nanos.load(Ordering::SeqCst))
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Nanos {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Nanos {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_saturates_instead_of_wrapping() {
        let clock = ManualClock::new(Nanos::new(u64::MAX - 1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.now(), Nanos::new(u64::MAX));
    }

    #[test]
    fn monotonic_clock_scales_raw_readings_as_quanta_does() {
        let clock = MonotonicClock::new();
        let start = clock.start;
        assert_eq!(clock.since_start(start.saturating_sub(5)), Nanos::ZERO);
        for delta in [1u64, 999, 1 << 20, 3_000_000_007, 1 << 40, 1 << 50] {
            let ours = clock.since_start(start + delta).as_u64();
            let quanta = clock.clock.delta_as_nanos(start, start + delta);
            // Both round down, ours with a scale rounded down to 2^-40 ns.
            let slack = 1 + (delta >> SCALE_SHIFT);
            assert!(ours.abs_diff(quanta) <= slack, "{delta}: {ours} against {quanta}");
        }
        // A clock whose raw readings are nanoseconds scales them by one.
        let exact = MonotonicClock { per_unit: 1 << SCALE_SHIFT, start: 7, ..clock };
        assert_eq!(exact.since_start(7 + 123_456_789_012), Nanos::new(123_456_789_012));
        assert_eq!(exact.since_start(u64::MAX), Nanos::new(u64::MAX - 7));
    }

    #[test]
    fn monotonic_clock_never_goes_backwards() {
        let clock = MonotonicClock::new();
        let mut last = clock.now();
        for _ in 0..1000 {
            let now = clock.now();
            assert!(now >= last, "{now} < {last}");
            last = now;
        }
    }
}
