//! Refusals as gRPC clients read them.
//!
//! A gRPC client reads a response's body as gRPC frames and its status from
//! `grpc-status`; an HTTP 429 with a text body reaches it as a protocol error
//! (`Internal`). So a refusal of a gRPC request (`content-type:
//! application/grpc…`) is sent as a trailers-only response instead: HTTP 200,
//! no body, `grpc-status` and `grpc-message` in the headers, and the same
//! `Retry-After` and quota headers, which a client reads as the status's
//! metadata.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Response, StatusCode};

/// gRPC's status codes that refusals map to.
const RESOURCE_EXHAUSTED: u16 = 8;
const INTERNAL: u16 = 13;
const UNAVAILABLE: u16 = 14;
const UNKNOWN: u16 = 2;

/// Whether a request with these headers is a gRPC call.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

/// `refusal` as the request's client reads it: as it is for HTTP clients, or
/// as a trailers-only gRPC status for gRPC calls.
pub(crate) fn answer(request: &HeaderMap, refusal: Response<Bytes>) -> Response<Bytes> {
    if !is_grpc(request) {
        return refusal;
    }
    let (mut parts, body) = refusal.into_parts();
    let code = code(parts.status);
    let text = String::from_utf8_lossy(&body);
    parts.status = StatusCode::OK;
    let headers = &mut parts.headers;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(code));
    let message = percent_encode(text.trim_end());
    headers.insert("grpc-message", HeaderValue::try_from(message).expect("percent-encoded ASCII"));
    Response::from_parts(parts, Bytes::new())
}

/// The gRPC status for a refusal's HTTP status: a rate limit's 429 (or the
/// status configured for it) is `RESOURCE_EXHAUSTED`, a missing key's 500
/// `INTERNAL` and a failed backend's 503 `UNAVAILABLE`.
fn code(status: StatusCode) -> u16 {
    match status {
        StatusCode::INTERNAL_SERVER_ERROR => INTERNAL,
        StatusCode::SERVICE_UNAVAILABLE => UNAVAILABLE,
        status if status.is_client_error() => RESOURCE_EXHAUSTED,
        _ => UNKNOWN,
    }
}

/// `text` percent-encoded as `grpc-message` wants: every byte outside
/// printable ASCII, and `%`, as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (b' '..=b'~').contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use http::header::RETRY_AFTER;

    use super::*;

    fn grpc_request() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc+proto"));
        headers
    }

    fn refusal(status: StatusCode, text: &str) -> Response<Bytes> {
        let mut response = Response::new(Bytes::from(format!("{text}\n")));
        *response.status_mut() = status;
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(2));
        response
    }

    #[test]
    fn http_requests_keep_the_http_refusal() {
        let response = answer(&HeaderMap::new(), refusal(StatusCode::TOO_MANY_REQUESTS, "slow"));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.body(), "slow\n");
    }

    #[test]
    fn grpc_calls_get_a_trailers_only_status() {
        let cases = [
            (StatusCode::TOO_MANY_REQUESTS, "8"),
            (StatusCode::FORBIDDEN, "8"),
            (StatusCode::INTERNAL_SERVER_ERROR, "13"),
            (StatusCode::SERVICE_UNAVAILABLE, "14"),
            (StatusCode::OK, "2"),
        ];
        for (status, code) in cases {
            let response = answer(&grpc_request(), refusal(status, "100% over: ünïcode"));
            assert_eq!(response.status(), StatusCode::OK, "{status}");
            assert!(response.body().is_empty(), "{status}");
            let headers = response.headers();
            assert_eq!(headers["grpc-status"], code, "{status}");
            assert_eq!(headers["grpc-message"], "100%25 over: %C3%BCn%C3%AFcode");
            assert_eq!(headers[CONTENT_TYPE], "application/grpc");
            assert_eq!(headers[RETRY_AFTER], "2", "the refusal's headers stay");
        }
    }
}
