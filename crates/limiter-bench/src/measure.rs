//! Timing: run pre-generated requests on one or more threads at once and
//! take the median over samples.

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use limiter_testkit::Subject;

/// One request as the timed loop makes it.
pub trait Request: Sync {
    /// Sends this request to `subject` at `now`; true if it was allowed.
    fn send<S: Subject>(&self, subject: &S, now: u64) -> bool;
}

impl Request for IpAddr {
    #[inline]
    fn send<S: Subject>(&self, subject: &S, now: u64) -> bool {
        subject.check(*self, now)
    }
}

impl Request for String {
    #[inline]
    fn send<S: Subject>(&self, subject: &S, now: u64) -> bool {
        subject.check_str(self, now)
    }
}

impl Request for &str {
    #[inline]
    fn send<S: Subject>(&self, subject: &S, now: u64) -> bool {
        subject.check_str(self, now)
    }
}

/// What one timed run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    /// From the first thread's start to the last thread's end.
    pub wall: Duration,
    /// Requests sent by each thread.
    pub per_thread: usize,
    /// Requests allowed, over all threads.
    pub allowed: u64,
    /// Requests sent, over all threads.
    pub sent: u64,
}

impl Run {
    /// Nanoseconds per request as each thread saw it: the wall time over the
    /// requests one thread sent. With one thread this is the plain time per
    /// request; with two, equal figures mean perfect scaling.
    pub fn ns_per_op(&self) -> f64 {
        self.wall.as_secs_f64() * 1e9 / self.per_thread.max(1) as f64
    }
}

/// Sends each thread's requests to `subject`, all threads at once, released
/// together by a barrier. Thread `i` sends `requests[i]`, the `k`-th at time
/// `start + (k + 1) · step` nanoseconds.
///
/// Threads are spawned and joined outside the timed span, and requests are
/// generated beforehand, so only the checks are timed.
///
/// # Panics
///
/// If the threads do not all send the same number of requests, or a check
/// panics.
pub fn run<S: Subject, R: Request>(subject: &S, requests: &[Vec<R>], start: u64, step: u64) -> Run {
    let per_thread = requests.first().map_or(0, Vec::len);
    assert!(requests.iter().all(|r| r.len() == per_thread), "uneven requests per thread");
    let barrier = Barrier::new(requests.len());
    let spans: Vec<(Instant, Instant, u64)> = thread::scope(|scope| {
        let handles: Vec<_> = requests
            .iter()
            .map(|requests| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    let begin = Instant::now();
                    let mut now = start;
                    let mut allowed = 0;
                    for request in requests {
                        now += step;
                        allowed += u64::from(black_box(request.send(subject, now)));
                    }
                    (begin, Instant::now(), allowed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a benchmark thread panicked")).collect()
    });
    let begin = spans.iter().map(|s| s.0).min();
    let end = spans.iter().map(|s| s.1).max();
    Run {
        wall: match (begin, end) {
            (Some(begin), Some(end)) => end - begin,
            _ => Duration::ZERO,
        },
        per_thread,
        allowed: spans.iter().map(|s| s.2).sum(),
        sent: (per_thread * requests.len()) as u64,
    }
}

/// The median of `values`, or NaN if there are none. For an even count it
/// is the mean of the middle two.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::floor::Floor;
    use crate::quota::Quota;
    use crate::subject::FloorAt;

    #[test]
    fn a_run_sends_every_request_at_advancing_times() {
        // One token per second, capacity 1: with one-second steps, every
        // request of a single thread is allowed.
        let floor = FloorAt(Floor::new(Quota { capacity: 1, per_second: 1 }));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let run = run(&floor, &[vec![ip; 50]], 0, 1_000_000_000);
        assert_eq!((run.sent, run.allowed, run.per_thread), (50, 50, 50));
        assert!(run.ns_per_op() > 0.0);
    }

    #[test]
    fn threads_run_together_on_their_own_requests() {
        let floor = FloorAt(Floor::new(Quota { capacity: 10, per_second: 1 }));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        // Both threads stay within the first second: 10 allowed per key.
        let run = run(&floor, &[vec![a; 100], vec![b; 100]], 0, 1);
        assert_eq!((run.sent, run.allowed, run.per_thread), (200, 20, 100));
        assert_eq!(floor.0.len(), 2);
    }

    #[test]
    fn string_requests_are_parsed() {
        let floor = FloorAt(Floor::new(Quota::ALLOW_ALL));
        let run = run(&floor, &[vec!["10.0.0.1", "::1", "nonsense", "10.0.0.256"]], 0, 1);
        assert_eq!((run.sent, run.allowed), (4, 2));
    }

    #[test]
    fn medians_of_odd_even_and_empty_sets() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
