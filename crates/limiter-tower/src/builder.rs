//! Configuring a layer: its limiter and its HTTP policy.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use limiter_core::{
    AnyKeys, Clock, ConfigError, Eviction, KeyedRateLimiter, Rate, RateLimiter, WhenFull,
};

use crate::backend::Backend;
use crate::cidr::{Cidr, CidrList};
use crate::headers::{HeaderMode, QuotaHeaders};
use crate::key::{ClientIp, KeyExtractor, MissingKey, RequestHead};
use crate::layer::{RateLimitLayer, Shared};
use crate::proxy::ProxyHeader;
use crate::response::{BodyFormat, Refusals};

/// The key cap a layer's limiter has unless told otherwise.
///
/// A public server must not grow without bound: at most this many client
/// addresses (or keys) are tracked at once, and buckets idle for
/// [`DEFAULT_IDLE_WINDOW`] are evicted. For address keys that is at most
/// about 39 MB of buckets for IPv4 clients and 52 MB for IPv6 ones (the
/// core's figures for a million keys); when the cap is reached, the core's
/// [`WhenFull`] policy (by default, evict the fullest of a sample, leaving a
/// trace so that no client gains tokens) decides.
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;

/// How long a client's bucket stays after it is full again, unless told
/// otherwise ([`Builder::eviction`]).
///
/// The key cap bounds memory, so eviction only has to keep the tables from
/// holding clients long gone. A window longer than the core's one second
/// keeps clients that come back within a minute from having their buckets
/// evicted and created again between requests, which a busy server would
/// otherwise pay for on most requests of its regular clients. Eviction
/// never changes a decision, whatever the window.
pub const DEFAULT_IDLE_WINDOW: Duration = Duration::from_secs(60);

/// A request's cost in tokens.
pub(crate) type CostFn = dyn Fn(&RequestHead<'_>) -> u64 + Send + Sync;

/// Builds a [`RateLimitLayer`]: the limiter's capacity, rate and knobs, the
/// key, and what the layer does with each decision.
///
/// Setters take and return the builder, so a layer is configured in one
/// chain; `build` can be called more than once.
#[must_use = "a builder does nothing until it is built"]
pub struct Builder<X: KeyExtractor = ClientIp> {
    core: limiter_core::Builder,
    extractor: X,
    missing: MissingKey<X::Key>,
    name: String,
    headers: HeaderMode,
    status: StatusCode,
    format: BodyFormat,
    exempt: Vec<Method>,
    allowlist: CidrList,
    proxies: CidrList,
    proxy_header: ProxyHeader,
    dry_run: bool,
    cost: Option<Arc<CostFn>>,
}

impl Builder {
    pub(crate) fn new(capacity: u64, rate: Rate) -> Builder {
        let mut core = limiter_core::Builder::new(capacity, rate);
        core.max_keys(DEFAULT_MAX_KEYS).eviction(Eviction::Idle { window: DEFAULT_IDLE_WINDOW });
        Builder {
            core,
            extractor: ClientIp,
            missing: MissingKey::Reject,
            name: "default".to_owned(),
            headers: HeaderMode::default(),
            status: StatusCode::TOO_MANY_REQUESTS,
            format: BodyFormat::default(),
            exempt: vec![Method::OPTIONS],
            allowlist: CidrList::default(),
            proxies: CidrList::default(),
            proxy_header: ProxyHeader::default(),
            dry_run: false,
            cost: None,
        }
    }

    /// A layer keyed by client address, on the monotonic clock.
    ///
    /// # Errors
    ///
    /// The core's [`ConfigError`] for a capacity, prefix or key cap out of range.
    pub fn build(&self) -> Result<RateLimitLayer<RateLimiter>, ConfigError> {
        Ok(self.build_with_backend(self.core.build()?))
    }

    /// A layer keyed by client address that reads time from `clock` (a
    /// `ManualClock` in tests).
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    pub fn build_with_clock<C: Clock + 'static>(
        &self,
        clock: C,
    ) -> Result<RateLimitLayer<RateLimiter<C>>, ConfigError> {
        Ok(self.build_with_backend(self.core.build_with_clock(clock)?))
    }
}

impl<X: KeyExtractor + Clone> Builder<X>
where
    X::Key: Clone,
{
    /// Keys requests with `extractor` instead of the client address: an API
    /// key, a user id, a route, or [`Global`](crate::Global). Build the
    /// layer with [`Builder::build_keyed`]. Resets [`Builder::missing_key`].
    pub fn key<Y: KeyExtractor + Clone>(self, extractor: Y) -> Builder<Y> {
        Builder {
            core: self.core,
            extractor,
            missing: MissingKey::Reject,
            name: self.name,
            headers: self.headers,
            status: self.status,
            format: self.format,
            exempt: self.exempt,
            allowlist: self.allowlist,
            proxies: self.proxies,
            proxy_header: self.proxy_header,
            dry_run: self.dry_run,
            cost: self.cost,
        }
    }

    /// A layer over the core's [`KeyedRateLimiter`] for this builder's key,
    /// on the monotonic clock.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    pub fn build_keyed(&self) -> Result<RateLimitLayer<KeyedRateLimiter<X::Key>, X>, ConfigError>
    where
        X::Key: Hash + Eq,
    {
        Ok(self.build_with_backend(self.core.for_keys::<AnyKeys<X::Key>>().build()?))
    }

    /// As [`Builder::build_keyed`], reading time from `clock`.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    pub fn build_keyed_with_clock<C: Clock + 'static>(
        &self,
        clock: C,
    ) -> Result<RateLimitLayer<KeyedRateLimiter<X::Key, C>, X>, ConfigError>
    where
        X::Key: Hash + Eq,
    {
        Ok(self
            .build_with_backend(self.core.for_keys::<AnyKeys<X::Key>>().build_with_clock(clock)?))
    }

    /// A layer over a backend of your own (one shared through a network
    /// store, say). Its capacity and rate are the backend's; the core's
    /// knobs set on this builder do not apply to it.
    pub fn build_with_backend<B: Backend<Key = X::Key>>(&self, backend: B) -> RateLimitLayer<B, X> {
        let headers =
            QuotaHeaders::new(self.headers, &self.name, backend.capacity(), backend.rate());
        RateLimitLayer::from_shared(Shared {
            headers,
            refusals: Refusals::new(self.status, self.format, &self.name),
            extractor: self.extractor.clone(),
            missing: self.missing.clone(),
            name: self.name.clone(),
            exempt: self.exempt.clone(),
            allowlist: self.allowlist.clone(),
            proxies: self.proxies.clone(),
            proxy_header: self.proxy_header,
            dry_run: self.dry_run,
            cost: self.cost.clone(),
            backend,
        })
    }

    /// What to do with a request whose key cannot be found ([`MissingKey::Reject`]
    /// by default).
    pub fn missing_key(mut self, missing: MissingKey<X::Key>) -> Builder<X> {
        self.missing = missing;
        self
    }

    /// The policy's name in the quota headers and problem documents
    /// (`default` by default). Stacked layers need distinct names.
    pub fn name(mut self, name: impl Into<String>) -> Builder<X> {
        self.name = name.into();
        self
    }

    /// Which quota headers to send ([`HeaderMode::Draft`] by default).
    pub fn headers(mut self, mode: HeaderMode) -> Builder<X> {
        self.headers = mode;
        self
    }

    /// The status of a refusal (`429 Too Many Requests` by default).
    pub fn status(mut self, status: StatusCode) -> Builder<X> {
        self.status = status;
        self
    }

    /// The body of a refusal ([`BodyFormat::Text`] by default).
    pub fn body(mut self, format: BodyFormat) -> Builder<X> {
        self.format = format;
        self
    }

    /// Requests with these methods pass unlimited and uncounted (`OPTIONS`
    /// by default, so that CORS preflights do not spend a client's quota).
    pub fn exempt_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Builder<X> {
        self.exempt = methods.into_iter().collect();
        self
    }

    /// Clients whose address (after the trusted proxies) is in `range`
    /// pass unlimited and uncounted.
    pub fn allow(mut self, range: Cidr) -> Builder<X> {
        self.allowlist.push(range);
        self
    }

    /// Trusts proxies in `range` to name their client in the
    /// [`ProxyHeader`]; see [`ClientIp`](crate::ClientIp).
    pub fn trusted_proxy(mut self, range: Cidr) -> Builder<X> {
        self.proxies.push(range);
        self
    }

    /// The header trusted proxies write ([`ProxyHeader::XForwardedFor`] by default).
    pub fn proxy_header(mut self, header: ProxyHeader) -> Builder<X> {
        self.proxy_header = header;
        self
    }

    /// Shadow mode: decide and count every request, put the decision in its
    /// extensions, send the quota headers and log refusals, but refuse none.
    pub fn dry_run(mut self, dry_run: bool) -> Builder<X> {
        self.dry_run = dry_run;
        self
    }

    /// Each request costs what `cost` says (1 by default): for example its
    /// `Content-Length` in kilobytes. A cost of 0 always passes.
    pub fn cost(
        mut self,
        cost: impl Fn(&RequestHead<'_>) -> u64 + Send + Sync + 'static,
    ) -> Builder<X> {
        self.cost = Some(Arc::new(cost));
        self
    }

    /// The core's key cap ([`DEFAULT_MAX_KEYS`] by default).
    pub fn max_keys(mut self, max_keys: usize) -> Builder<X> {
        self.core.max_keys(max_keys);
        self
    }

    /// The core's policy when the key cap is reached.
    pub fn when_full(mut self, policy: WhenFull) -> Builder<X> {
        self.core.when_full(policy);
        self
    }

    /// The core's eviction of idle buckets.
    pub fn eviction(mut self, eviction: Eviction) -> Builder<X> {
        self.core.eviction(eviction);
        self
    }

    /// IPv4 clients sharing their first `len` bits share a bucket (32 by default).
    pub fn ipv4_prefix(mut self, len: u8) -> Builder<X> {
        self.core.ipv4_prefix(len);
        self
    }

    /// IPv6 clients sharing their first `len` bits share a bucket (128 by
    /// default; 64 is right for most public servers, see the core's
    /// `Builder::ipv6_prefix`).
    pub fn ipv6_prefix(mut self, len: u8) -> Builder<X> {
        self.core.ipv6_prefix(len);
        self
    }
}

impl<X: KeyExtractor + fmt::Debug> fmt::Debug for Builder<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("core", &self.core)
            .field("extractor", &self.extractor)
            .field("missing", &self.missing)
            .field("name", &self.name)
            .field("headers", &self.headers)
            .field("status", &self.status)
            .field("exempt", &self.exempt)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}
