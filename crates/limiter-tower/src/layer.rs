//! The layer, its service and the service's future.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use limiter_core::{Decision, Rate, RateLimiter};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::backend::{Backend, Verdict};
use crate::builder::{Builder, CostFn};
use crate::cidr::CidrList;
use crate::grpc;
use crate::headers::{HeaderMode, Quota, QuotaHeaders, ceil_secs};
use crate::key::{ClientIp, KeyExtractor, MissingKey, RequestHead, peer_ip};
use crate::proxy::{ProxyHeader, client_ip};
use crate::response::{Refusals, ResponseBody, text_response};

/// What the layer decided for a request, in the request's extensions for the
/// handler to read: on every request the layer passes on (allowed, or any
/// in a dry run). Under stacked layers, the innermost layer's is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimitInfo {
    /// The backend's decision (allowed, in a dry run, even when this says
    /// denied).
    pub decision: Decision,
    /// How long until the bucket holds one more whole token, when the layer
    /// sends quota headers; `None` if the bucket is full or headers are off.
    pub next_token: Option<Duration>,
    /// The bucket's capacity.
    pub capacity: u64,
}

/// A tower [`Layer`] limiting each client to its own token bucket.
///
/// Clone it freely: clones share one limiter. See the crate docs for an
/// example, and [`Builder`] for every setting.
pub struct RateLimitLayer<B: Backend = RateLimiter, X: KeyExtractor = ClientIp> {
    shared: Arc<Shared<B, X>>,
}

impl RateLimitLayer {
    /// A builder for a layer with buckets of `capacity` tokens refilled at
    /// `rate`, keyed by client address.
    pub fn builder(capacity: u64, rate: Rate) -> Builder {
        Builder::new(capacity, rate)
    }
}

impl<B: Backend, X: KeyExtractor<Key = B::Key>> RateLimitLayer<B, X> {
    pub(crate) fn from_shared(shared: Shared<B, X>) -> RateLimitLayer<B, X> {
        RateLimitLayer { shared: Arc::new(shared) }
    }

    /// The backend: for the in-process ones, the core limiter with its
    /// `len()` and `counters()`.
    pub fn backend(&self) -> &B {
        &self.shared.backend
    }
}

impl<B: Backend, X: KeyExtractor> Clone for RateLimitLayer<B, X> {
    fn clone(&self) -> Self {
        RateLimitLayer { shared: Arc::clone(&self.shared) }
    }
}

impl<B: Backend + fmt::Debug, X: KeyExtractor + fmt::Debug> fmt::Debug for RateLimitLayer<B, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("name", &self.shared.name)
            .field("backend", &self.shared.backend)
            .field("extractor", &self.shared.extractor)
            .finish_non_exhaustive()
    }
}

impl<S, B: Backend, X: KeyExtractor> Layer<S> for RateLimitLayer<B, X> {
    type Service = RateLimit<S, B, X>;

    fn layer(&self, inner: S) -> RateLimit<S, B, X> {
        RateLimit { inner, shared: Arc::clone(&self.shared) }
    }
}

/// Everything a layer's services share.
pub(crate) struct Shared<B: Backend, X: KeyExtractor> {
    pub(crate) backend: B,
    pub(crate) extractor: X,
    pub(crate) missing: MissingKey<B::Key>,
    pub(crate) name: String,
    pub(crate) headers: QuotaHeaders,
    pub(crate) refusals: Refusals,
    pub(crate) exempt: Vec<Method>,
    pub(crate) allowlist: CidrList,
    pub(crate) proxies: CidrList,
    pub(crate) proxy_header: ProxyHeader,
    pub(crate) dry_run: bool,
    pub(crate) cost: Option<Arc<CostFn>>,
}

/// The service a [`RateLimitLayer`] wraps around `S`.
pub struct RateLimit<S, B: Backend = RateLimiter, X: KeyExtractor = ClientIp> {
    inner: S,
    shared: Arc<Shared<B, X>>,
}

impl<S: Clone, B: Backend, X: KeyExtractor> Clone for RateLimit<S, B, X> {
    fn clone(&self) -> Self {
        RateLimit { inner: self.inner.clone(), shared: Arc::clone(&self.shared) }
    }
}

impl<S: fmt::Debug, B: Backend, X: KeyExtractor> fmt::Debug for RateLimit<S, B, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

/// What becomes of a request once it is decided.
enum Outcome {
    /// Pass it on, adding this quota to the response's headers.
    Pass(Option<Quota>),
    /// Answer this instead.
    Refuse(Response<Bytes>),
}

/// A request before its verdict: decided without the backend, or waiting
/// for the backend's check of its key.
enum Begin<K, F> {
    Done(Outcome),
    Check(K, F),
}

impl<S, B, X, ReqB, ResB> Service<Request<ReqB>> for RateLimit<S, B, X>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    B: Backend,
    X: KeyExtractor<Key = B::Key>,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B, X, ReqB, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let shared = &*self.shared;
        let outcome = match begin(shared, &mut req) {
            Begin::Done(outcome) => outcome,
            Begin::Check(key, mut check) => {
                // The in-process backends are ready at once: finish here,
                // without cloning the inner service.
                match Pin::new(&mut check).poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready(result) => decided(shared, &key, &mut req, result),
                    Poll::Pending => {
                        // The ready inner service goes with the request, as
                        // tower's readiness contract wants; a clone stays.
                        let clone = self.inner.clone();
                        let inner = std::mem::replace(&mut self.inner, clone);
                        let shared = Arc::clone(&self.shared);
                        // Boxed, as the backend's future already is: the
                        // usual future stays small.
                        let checking =
                            Box::new(Checking { check, waiting: Some((req, inner, key)), shared });
                        return ResponseFuture::new(State::Checking { checking });
                    }
                }
            }
        };
        ResponseFuture::new(next_state(&mut self.inner, &self.shared, req, outcome))
    }
}

/// The state after a decision: the inner service's future (with the
/// layer, only if it has headers to add), or the refusal.
#[inline]
fn next_state<S, B, X, ReqB>(
    inner: &mut S,
    shared: &Arc<Shared<B, X>>,
    req: Request<ReqB>,
    outcome: Outcome,
) -> FutureState<S, B, X, ReqB>
where
    S: Service<Request<ReqB>>,
    B: Backend,
    X: KeyExtractor,
{
    match outcome {
        Outcome::Pass(quota) => State::Inner {
            fut: inner.call(req),
            headers: quota.map(|quota| (quota, Arc::clone(shared))),
        },
        Outcome::Refuse(response) => {
            State::Done { response: Some(grpc::answer(req.headers(), response)) }
        }
    }
}

/// Everything the layer does before it needs the backend's verdict: the
/// exemptions, the key and the cost; the check, when there is one.
#[inline]
fn begin<B: Backend, X: KeyExtractor<Key = B::Key>, ReqB>(
    shared: &Shared<B, X>,
    req: &mut Request<ReqB>,
) -> Begin<B::Key, B::Future> {
    if shared.exempt.contains(req.method()) {
        return Begin::Done(Outcome::Pass(None));
    }
    let client = peer_ip(req.extensions())
        .map(|peer| client_ip(peer, req.headers(), &shared.proxies, shared.proxy_header));
    if client.is_some_and(|ip| shared.allowlist.contains(ip)) {
        return Begin::Done(Outcome::Pass(None));
    }
    let head = RequestHead::new(req, client);
    let key = match shared.extractor.extract(&head) {
        Some(key) => key,
        None => match &shared.missing {
            MissingKey::Allow => return Begin::Done(Outcome::Pass(None)),
            MissingKey::Shared(key) => key.clone(),
            MissingKey::Reject => {
                let what = if client.is_none() {
                    "the request has no peer address (no ConnectInfo<SocketAddr> or \
                     SocketAddr extension; serve with into_make_service_with_connect_info)"
                } else {
                    "the key extractor found no key in the request"
                };
                let text = format!("rate limit {:?}: no client key: {what}", shared.name);
                let response = text_response(StatusCode::INTERNAL_SERVER_ERROR, text);
                return Begin::Done(Outcome::Refuse(response));
            }
        },
    };
    let cost = shared.cost.as_ref().map_or(1, |cost| cost(&head));
    let want = shared.headers.mode() != HeaderMode::None;
    let check = shared.backend.check(&key, cost, want);
    Begin::Check(key, check)
}

/// What to do once the backend has answered.
fn decided<B: Backend, X: KeyExtractor, ReqB>(
    shared: &Shared<B, X>,
    key: &B::Key,
    req: &mut Request<ReqB>,
    result: Result<Verdict, B::Error>,
) -> Outcome {
    let verdict = match result {
        Ok(verdict) => verdict,
        Err(err) => {
            tracing::warn!(policy = %shared.name, ?key, error = %err, "rate limit backend failed");
            let text = format!("rate limit {:?}: backend failed: {err}", shared.name);
            return Outcome::Refuse(text_response(StatusCode::SERVICE_UNAVAILABLE, text));
        }
    };
    let Verdict { decision, next_token } = verdict;
    // Only for a request that goes on to the handler: a refused one is
    // dropped here, and its box in the extensions would be wasted.
    let mut pass = |quota| {
        let capacity = shared.backend.capacity();
        req.extensions_mut().insert(RateLimitInfo { decision, next_token, capacity });
        Outcome::Pass(quota)
    };
    let quota = (shared.headers.mode() != HeaderMode::None).then(|| Quota {
        remaining: match decision {
            Decision::Allowed { remaining } | Decision::Denied { remaining, .. } => Some(remaining),
            Decision::OverCapacity { .. } => None,
        },
        reset: next_token.map_or(0, ceil_secs),
    });
    if decision.is_allowed() {
        return pass(quota);
    }
    tracing::info!(
        policy = %shared.name,
        ?key,
        ?decision,
        dry_run = shared.dry_run,
        "rate limit refused a request"
    );
    if shared.dry_run {
        return pass(quota);
    }
    match shared.refusals.refusal(decision) {
        Some(mut response) => {
            if let Some(quota) = quota {
                shared.headers.write(response.headers_mut(), quota);
            }
            Outcome::Refuse(response)
        }
        None => pass(quota),
    }
}

pin_project! {
    /// The future of a [`RateLimit`] service's response.
    pub struct ResponseFuture<S, B, X, ReqB, ResB>
    where
        S: Service<Request<ReqB>>,
        B: Backend,
        X: KeyExtractor,
    {
        #[pin]
        state: FutureState<S, B, X, ReqB>,
        _body: PhantomData<fn() -> ResB>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, K, L> {
        // Waiting for an asynchronous backend.
        Checking { checking: Box<K> },
        // The inner service's response, to which the layer (`Shared`) adds
        // the quota headers, if it has any.
        Inner { #[pin] fut: F, headers: Option<(Quota, Arc<L>)> },
        Done { response: Option<Response<Bytes>> },
    }
}

/// The state of a [`ResponseFuture`].
type FutureState<S, B, X, ReqB> = State<
    <S as Service<Request<ReqB>>>::Future,
    Checking<<B as Backend>::Future, S, Request<ReqB>, <B as Backend>::Key, Shared<B, X>>,
    Shared<B, X>,
>;

/// A request waiting for an asynchronous backend's check: the check, and
/// the request with the inner service and key until it is decided.
struct Checking<C, S, R, K, L> {
    check: C,
    waiting: Option<(R, S, K)>,
    shared: Arc<L>,
}

impl<S, B, X, ReqB, ResB> ResponseFuture<S, B, X, ReqB, ResB>
where
    S: Service<Request<ReqB>>,
    B: Backend,
    X: KeyExtractor,
{
    fn new(state: FutureState<S, B, X, ReqB>) -> Self {
        ResponseFuture { state, _body: PhantomData }
    }
}

impl<S, B, X, ReqB, ResB> Future for ResponseFuture<S, B, X, ReqB, ResB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    B: Backend,
    X: KeyExtractor<Key = B::Key>,
{
    type Output = Result<Response<ResponseBody<ResB>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Checking { checking } => {
                    let Checking { check, waiting, shared } = &mut **checking;
                    let result = ready!(Pin::new(check).poll(cx));
                    let (mut req, mut inner, key) =
                        waiting.take().expect("ResponseFuture polled after completion");
                    let outcome = decided(shared, &key, &mut req, result);
                    let next = next_state(&mut inner, shared, req, outcome);
                    this.state.set(next);
                }
                StateProj::Inner { fut, headers } => {
                    let mut response = ready!(fut.poll(cx))?;
                    if let Some((quota, shared)) = headers.take() {
                        shared.headers.write(response.headers_mut(), quota);
                    }
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Done { response } => {
                    let response = response.take().expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::refusal)));
                }
            }
        }
    }
}
