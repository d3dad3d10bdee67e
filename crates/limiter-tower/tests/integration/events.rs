//! The `tracing` event on each refusal, caught by a subscriber of the test's
//! own.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use limiter_core::Rate;
use limiter_tower::RateLimitLayer;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::util::{client, clock, get, send, serve_limited};

/// One event: its level and its fields, each formatted with `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Caught {
    level: Level,
    fields: Vec<(String, String)>,
}

impl Caught {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl Visit for Caught {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.fields.push((field.name().to_owned(), format!("{value:?}")));
    }
}

/// Keeps every event of limiter-tower's; sees nothing else.
#[derive(Debug, Clone, Default)]
struct Catcher {
    caught: Arc<Mutex<Vec<Caught>>>,
}

impl Catcher {
    /// The process's global subscriber. Not a thread's default: tracing
    /// caches each callsite's interest when it is first hit, on whichever
    /// test's thread, and with one scoped subscriber only it asks that
    /// thread's (none), so a test running alongside could switch the
    /// refusal's event off for good.
    fn global() -> &'static Catcher {
        static GLOBAL: OnceLock<Catcher> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let catcher = Catcher::default();
            tracing::subscriber::set_global_default(catcher.clone()).unwrap();
            catcher
        })
    }

    /// The events of the policy named `policy`, in order (other tests'
    /// layers, named "default", refuse requests at the same time).
    fn caught(&self, policy: &str) -> Vec<Caught> {
        let caught = self.caught.lock().unwrap();
        caught.iter().filter(|c| c.field("policy") == Some(policy)).cloned().collect()
    }
}

impl Subscriber for Catcher {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("limiter_tower")
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut caught = Caught { level: *event.metadata().level(), fields: Vec::new() };
        event.record(&mut caught);
        self.caught.lock().unwrap().push(caught);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn each_refusal_emits_one_event_with_policy_and_key() {
    let catcher = Catcher::global();
    let layer = RateLimitLayer::builder(2, Rate::per_second(1).unwrap())
        .name("events-test")
        .build_with_clock(clock())
        .unwrap();
    let addr = serve_limited(layer).await;
    let client = client();

    for _ in 0..2 {
        assert_eq!(send(&client, addr, get(&[])).await.status.as_u16(), 200);
    }
    assert_eq!(catcher.caught("events-test"), [], "allowed requests emit nothing");

    for refusals in 1..=3 {
        assert_eq!(send(&client, addr, get(&[])).await.status.as_u16(), 429);
        let caught = catcher.caught("events-test");
        assert_eq!(caught.len(), refusals, "{caught:#?}");
        let event = caught.last().unwrap();
        assert_eq!(event.level, Level::INFO);
        assert_eq!(event.field("message"), Some("rate limit refused a request"));
        assert_eq!(event.field("policy"), Some("events-test"));
        assert_eq!(event.field("key"), Some("127.0.0.1"));
        assert_eq!(event.field("dry_run"), Some("false"));
        let decision = event.field("decision").unwrap();
        assert!(decision.starts_with("Denied"), "{decision}");
    }
}
