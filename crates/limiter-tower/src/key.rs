//! Which bucket a request is counted in.

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::{Extensions, HeaderMap, Method, Request, Uri};

/// What a key extractor or a cost function sees of a request: its head and
/// the client's address, found as the layer's trusted proxies say.
#[derive(Debug)]
pub struct RequestHead<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
    client_ip: Option<IpAddr>,
}

impl<'a> RequestHead<'a> {
    pub(crate) fn new<B>(req: &'a Request<B>, client_ip: Option<IpAddr>) -> RequestHead<'a> {
        RequestHead {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            extensions: req.extensions(),
            client_ip,
        }
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request target.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request extensions (a user id set by an authentication layer, ...).
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }

    /// The client's address: the connection's peer, or the address a trusted
    /// proxy forwarded; `None` when the request carries no peer address.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }
}

/// The connection's peer address: axum's `ConnectInfo<SocketAddr>` or a
/// plain `SocketAddr` extension (hyper services insert one themselves),
/// whichever is there.
#[inline]
pub(crate) fn peer_ip(extensions: &Extensions) -> Option<IpAddr> {
    if let Some(ConnectInfo(addr)) = extensions.get::<ConnectInfo<SocketAddr>>() {
        return Some(addr.ip());
    }
    extensions.get::<SocketAddr>().map(SocketAddr::ip)
}

/// Finds the key of a request's bucket.
///
/// Implemented by [`ClientIp`] (the default), [`Global`] and [`KeyFn`] for
/// closures; implement it for keys of your own.
pub trait KeyExtractor: Send + Sync + 'static {
    /// The key type.
    type Key: Clone + fmt::Debug + Send + Sync + 'static;

    /// The request's key, or `None` if it has none (see [`MissingKey`]).
    fn extract(&self, head: &RequestHead<'_>) -> Option<Self::Key>;
}

/// The client's address as the key (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientIp;

impl KeyExtractor for ClientIp {
    type Key = IpAddr;

    #[inline]
    fn extract(&self, head: &RequestHead<'_>) -> Option<IpAddr> {
        head.client_ip
    }
}

/// One key for every request: a limit on the whole service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Global;

impl KeyExtractor for Global {
    type Key = ();

    #[inline]
    fn extract(&self, _: &RequestHead<'_>) -> Option<()> {
        Some(())
    }
}

/// A closure as a key extractor; see [`key_fn`].
pub struct KeyFn<F, K> {
    f: F,
    key: PhantomData<fn() -> K>,
}

/// A key extractor from a closure: an API-key header, a user id from an
/// extension, a route.
///
/// # Example
///
/// ```
/// use limiter_tower::{RequestHead, key_fn};
///
/// let api_key = key_fn(|head: &RequestHead<'_>| {
///     head.headers().get("x-api-key").map(|value| value.as_bytes().to_vec())
/// });
/// # let _ = api_key;
/// ```
pub fn key_fn<F, K>(f: F) -> KeyFn<F, K>
where
    F: Fn(&RequestHead<'_>) -> Option<K> + Send + Sync + 'static,
{
    KeyFn { f, key: PhantomData }
}

impl<F, K> KeyExtractor for KeyFn<F, K>
where
    F: Fn(&RequestHead<'_>) -> Option<K> + Send + Sync + 'static,
    K: Clone + fmt::Debug + Send + Sync + 'static,
{
    type Key = K;

    #[inline]
    fn extract(&self, head: &RequestHead<'_>) -> Option<K> {
        (self.f)(head)
    }
}

impl<F, K> fmt::Debug for KeyFn<F, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyFn")
    }
}

impl<F: Clone, K> Clone for KeyFn<F, K> {
    fn clone(&self) -> Self {
        KeyFn { f: self.f.clone(), key: PhantomData }
    }
}

/// What to do with a request whose key cannot be found: one without a peer
/// address (no `ConnectInfo<SocketAddr>` or `SocketAddr` extension), or one
/// a custom extractor finds nothing in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MissingKey<K> {
    /// Refuse it with `500 Internal Server Error` and a body naming what is
    /// missing: a server set up so is misconfigured (the default).
    #[default]
    Reject,
    /// Pass it through, neither limited nor counted.
    Allow,
    /// Count it in the bucket of this key, shared by all such requests.
    /// For address keys, choose one no client has, such as `0.0.0.0`.
    Shared(K),
}
