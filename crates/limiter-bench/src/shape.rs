//! The traffic shapes, their sizes, and the requests generated for them.

use std::net::IpAddr;

use crate::keys::{self, Family};

/// One kind of traffic the suite measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Every request for one IPv4 address, from `threads` threads.
    Hot {
        /// Threads sending at once.
        threads: usize,
    },
    /// Requests uniform over 100k known IPv4 addresses; with two threads,
    /// each thread has its own half of them.
    Uniform {
        /// Threads sending at once.
        threads: usize,
    },
    /// Requests over 1M known IPv4 addresses by a Zipf law, exponent 1.1.
    Zipf,
    /// Every request for an address never seen: the creation path.
    Fresh,
    /// `allow(&str)`: 100k known addresses of a family, parsed each time.
    Parse(Family),
    /// Requests uniform over 100k known IPv6 addresses.
    UniformV6,
}

impl Shape {
    /// Every shape, in table order.
    pub const ALL: [Shape; 9] = [
        Shape::Hot { threads: 1 },
        Shape::Hot { threads: 2 },
        Shape::Uniform { threads: 1 },
        Shape::Uniform { threads: 2 },
        Shape::Zipf,
        Shape::Fresh,
        Shape::Parse(Family::V4),
        Shape::Parse(Family::V6),
        Shape::UniformV6,
    ];

    /// The Zipf exponent of [`Shape::Zipf`].
    pub const ZIPF_EXPONENT: f64 = 1.1;

    /// The shape's name in the table.
    pub fn label(self, sizes: &Sizes) -> String {
        let threads =
            |n: usize| if n == 1 { "1 thread".to_owned() } else { format!("{n} threads") };
        match self {
            Shape::Hot { threads: n } => format!("hot key, {}", threads(n)),
            Shape::Uniform { threads: n } => {
                format!("{} IPv4 uniform, {}", count(sizes.uniform_keys), threads(n))
            }
            Shape::Zipf => format!("{} IPv4 Zipf {}", count(sizes.zipf_keys), Shape::ZIPF_EXPONENT),
            Shape::Fresh => "fresh IPv4 keys".to_owned(),
            Shape::Parse(family) => {
                format!("allow(&str) {}, {}", family.name(), count(sizes.uniform_keys))
            }
            Shape::UniformV6 => format!("{} IPv6 uniform", count(sizes.uniform_keys)),
        }
    }

    /// Threads sending at once.
    pub fn threads(self) -> usize {
        match self {
            Shape::Hot { threads } | Shape::Uniform { threads } => threads,
            _ => 1,
        }
    }

    /// For a shape on several threads, the same shape on one thread, whose
    /// throughput its scaling is measured against.
    pub fn one_thread(self) -> Option<Shape> {
        match self {
            Shape::Hot { threads } if threads > 1 => Some(Shape::Hot { threads: 1 }),
            Shape::Uniform { threads } if threads > 1 => Some(Shape::Uniform { threads: 1 }),
            _ => None,
        }
    }

    /// Whether every request is for a key the limiter already holds.
    pub fn known_keys(self) -> bool {
        self != Shape::Fresh
    }
}

/// Writes a count as `100k` or `1M` when it is round.
pub(crate) fn count(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// How much the suite does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Requests each thread sends per sample.
    pub requests: usize,
    /// Timed samples per implementation and row; the median is reported.
    pub samples: usize,
    /// Untimed samples run first.
    pub warmups: usize,
    /// New keys per sample in [`Shape::Fresh`], each in a new limiter.
    pub fresh_keys: usize,
    /// Known keys of the uniform and parse shapes.
    pub uniform_keys: usize,
    /// Known keys of [`Shape::Zipf`].
    pub zipf_keys: usize,
    /// Keys inserted for the memory figures.
    pub memory_keys: usize,
    /// Nanoseconds an explicit time advances per request and thread.
    pub step_ns: u64,
}

impl Sizes {
    /// The full suite.
    pub const FULL: Sizes = Sizes {
        requests: 300_000,
        samples: 11,
        warmups: 1,
        fresh_keys: 1_000_000,
        uniform_keys: 100_000,
        zipf_keys: 1_000_000,
        memory_keys: 1_000_000,
        step_ns: 100,
    };

    /// A short run, with the same keys and fewer, shorter samples.
    pub const QUICK: Sizes =
        Sizes { requests: 100_000, samples: 3, fresh_keys: 100_000, ..Sizes::FULL };
}

/// The requests of one shape, generated before any timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Keys each limiter learns before it is timed.
    pub keys: Vec<IpAddr>,
    /// Each thread's requests.
    pub requests: Vec<Vec<IpAddr>>,
    /// For [`Shape::Parse`], each thread's requests as text; otherwise empty.
    pub texts: Vec<Vec<String>>,
}

impl Workload {
    /// The requests for `shape`, the same for every `seed` and `sizes`.
    pub fn new(shape: Shape, sizes: &Sizes, seed: u64) -> Workload {
        let v4 = || keys::distinct_v4(sizes.uniform_keys, &mut keys::rng(seed, 1));
        let v6 = || keys::distinct_v6(sizes.uniform_keys, &mut keys::rng(seed, 2));
        let uniform = |keys: &[IpAddr], thread: u64| {
            keys::uniform(keys, sizes.requests, &mut keys::rng(seed, 100 + thread))
        };
        let (keys, requests) = match shape {
            Shape::Hot { threads } => {
                let key = keys::distinct_v4(1, &mut keys::rng(seed, 3));
                let requests = vec![vec![key[0]; sizes.requests]; threads];
                (key, requests)
            }
            Shape::Uniform { threads } => {
                let keys = v4();
                let requests = (0..threads)
                    .map(|t| {
                        let own: Vec<IpAddr> =
                            keys.iter().copied().skip(t).step_by(threads).collect();
                        uniform(&own, t as u64)
                    })
                    .collect();
                (keys, requests)
            }
            Shape::Zipf => {
                let keys = keys::distinct_v4(sizes.zipf_keys, &mut keys::rng(seed, 4));
                let requests = keys::zipf(
                    &keys,
                    Shape::ZIPF_EXPONENT,
                    sizes.requests,
                    &mut keys::rng(seed, 100),
                );
                (keys, vec![requests])
            }
            Shape::Fresh => {
                (Vec::new(), vec![keys::distinct_v4(sizes.fresh_keys, &mut keys::rng(seed, 5))])
            }
            Shape::Parse(Family::V4) => {
                let keys = v4();
                let requests = vec![uniform(&keys, 0)];
                (keys, requests)
            }
            Shape::Parse(Family::V6) | Shape::UniformV6 => {
                let keys = v6();
                let requests = vec![uniform(&keys, 0)];
                (keys, requests)
            }
        };
        let texts = match shape {
            Shape::Parse(_) => requests
                .iter()
                .map(|thread| thread.iter().map(IpAddr::to_string).collect())
                .collect(),
            _ => Vec::new(),
        };
        Workload { keys, requests, texts }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const SMALL: Sizes = Sizes {
        requests: 2_000,
        samples: 1,
        warmups: 0,
        fresh_keys: 500,
        uniform_keys: 1_000,
        zipf_keys: 10_000,
        memory_keys: 1_000,
        step_ns: 100,
    };

    #[test]
    fn every_shape_gives_each_thread_its_requests() {
        for shape in Shape::ALL {
            let workload = Workload::new(shape, &SMALL, 1);
            assert_eq!(workload.requests.len(), shape.threads(), "{shape:?}");
            let expected = if shape == Shape::Fresh { SMALL.fresh_keys } else { SMALL.requests };
            assert!(workload.requests.iter().all(|r| r.len() == expected), "{shape:?}");
            let known: HashSet<_> = workload.keys.iter().collect();
            assert_eq!(known.len(), workload.keys.len(), "{shape:?}: duplicate keys");
            let all_known = workload.requests.iter().flatten().all(|ip| known.contains(ip));
            assert_eq!(all_known, shape.known_keys(), "{shape:?}");
            assert_eq!(workload, Workload::new(shape, &SMALL, 1), "{shape:?}: not seeded");
        }
    }

    #[test]
    fn two_uniform_threads_use_disjoint_halves_of_the_keys() {
        let workload = Workload::new(Shape::Uniform { threads: 2 }, &SMALL, 1);
        assert_eq!(workload.keys.len(), SMALL.uniform_keys);
        let a: HashSet<_> = workload.requests[0].iter().collect();
        let b: HashSet<_> = workload.requests[1].iter().collect();
        assert!(a.is_disjoint(&b));
        assert!(a.len() > 400 && b.len() > 400, "{} {}", a.len(), b.len());
    }

    #[test]
    fn hot_threads_share_one_key_and_fresh_keys_never_repeat() {
        let hot = Workload::new(Shape::Hot { threads: 2 }, &SMALL, 1);
        assert_eq!(hot.keys.len(), 1);
        assert!(hot.requests.iter().flatten().all(|ip| *ip == hot.keys[0]));
        let fresh = Workload::new(Shape::Fresh, &SMALL, 1);
        assert_eq!(fresh.requests[0].iter().collect::<HashSet<_>>().len(), SMALL.fresh_keys);
    }

    #[test]
    fn parse_shapes_carry_text_of_their_family() {
        for family in Family::ALL {
            let workload = Workload::new(Shape::Parse(family), &SMALL, 1);
            let texts = &workload.texts[0];
            assert_eq!(texts.len(), SMALL.requests);
            for (text, ip) in texts.iter().zip(&workload.requests[0]) {
                assert_eq!(text.parse::<IpAddr>().unwrap(), *ip);
                assert_eq!(ip.is_ipv4(), family == Family::V4);
            }
        }
        assert!(Workload::new(Shape::UniformV6, &SMALL, 1).texts.is_empty());
    }

    #[test]
    fn labels_name_sizes_and_threads() {
        assert_eq!(Shape::Hot { threads: 1 }.label(&Sizes::FULL), "hot key, 1 thread");
        assert_eq!(
            Shape::Uniform { threads: 2 }.label(&Sizes::FULL),
            "100k IPv4 uniform, 2 threads"
        );
        assert_eq!(Shape::Zipf.label(&Sizes::FULL), "1M IPv4 Zipf 1.1");
        assert_eq!(Shape::Parse(Family::V6).label(&Sizes::FULL), "allow(&str) IPv6, 100k");
        assert_eq!(Shape::UniformV6.label(&SMALL), "1k IPv6 uniform");
        assert_eq!(count(1_500), "1500");
    }

    #[test]
    fn scaling_compares_with_the_one_thread_shape() {
        assert_eq!(Shape::Hot { threads: 2 }.one_thread(), Some(Shape::Hot { threads: 1 }));
        assert_eq!(Shape::Uniform { threads: 2 }.one_thread(), Some(Shape::Uniform { threads: 1 }));
        assert_eq!(Shape::Zipf.one_thread(), None);
        assert_eq!(Shape::Hot { threads: 1 }.one_thread(), None);
    }
}
