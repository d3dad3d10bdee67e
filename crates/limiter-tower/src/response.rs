//! What a refused request gets back: status, `Retry-After` and a short body.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use limiter_core::Decision;
use pin_project_lite::pin_project;

use crate::headers::ceil_secs;

/// The body of a refusal: short text, or a problem document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyFormat {
    /// One line of `text/plain` (the default).
    #[default]
    Text,
    /// `application/problem+json` (RFC 9457) of the draft's `quota-exceeded`
    /// type, naming the policy in `violated-policies`.
    ProblemJson,
}

/// The problem type the draft registers for a refusal.
pub const QUOTA_EXCEEDED: &str = "https://iana.org/assignments/http-problem-types#quota-exceeded";

pin_project! {
    /// The response body of a limited service: the inner service's, or a
    /// refusal's text.
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Refusal { text: Option<Bytes> },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> ResponseBody<B> {
        ResponseBody { kind: Kind::Inner { body } }
    }

    pub(crate) fn refusal(text: Bytes) -> ResponseBody<B> {
        ResponseBody { kind: Kind::Refusal { text: Some(text) } }
    }
}

impl<B: Body<Data = Bytes>> Body for ResponseBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Refusal { text } => Poll::Ready(text.take().map(|t| Ok(Frame::data(t)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Refusal { text } => text.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Refusal { text } => {
                SizeHint::with_exact(text.as_ref().map_or(0, |t| t.len() as u64))
            }
        }
    }
}

/// Denials with a wait of up to this many seconds get a body and a
/// `Retry-After` made once, when the layer is built.
const MADE_SECS: u64 = 16;

/// How a refusal is told.
#[derive(Debug, Clone)]
pub(crate) struct Refusals {
    status: StatusCode,
    format: BodyFormat,
    /// The policy name as a JSON string, quotes included.
    json_name: String,
    /// The body and `Retry-After` of a denial of `1 + i` seconds, at `i`.
    denials: Vec<(Bytes, HeaderValue)>,
}

impl Refusals {
    pub(crate) fn new(status: StatusCode, format: BodyFormat, name: &str) -> Refusals {
        let mut refusals =
            Refusals { status, format, json_name: json_string(name), denials: Vec::new() };
        refusals.denials = (1..=MADE_SECS)
            .map(|secs| (refusals.body(&denied_text(secs)), HeaderValue::from(secs)))
            .collect();
        refusals
    }

    /// The response to a request the limiter did not allow; `None` if it was.
    ///
    /// A denial carries `Retry-After`: the exact wait rounded up to whole
    /// seconds, and at least 1. A request above the capacity carries none.
    pub(crate) fn refusal(&self, decision: Decision) -> Option<Response<Bytes>> {
        let (body, retry) = match decision {
            Decision::Allowed { .. } => return None,
            Decision::Denied { retry_after, .. } => {
                let secs = ceil_secs(retry_after).max(1);
                match usize::try_from(secs - 1).ok().and_then(|i| self.denials.get(i)) {
                    // Clones of shared bytes: no allocation, no formatting.
                    Some((body, retry)) => (body.clone(), Some(retry.clone())),
                    None => (self.body(&denied_text(secs)), Some(HeaderValue::from(secs))),
                }
            }
            Decision::OverCapacity { cost, capacity } => {
                let text = format!(
                    "request costs {cost} tokens, more than the limit's capacity of {capacity}: \
                     it can never be allowed, however long you wait"
                );
                (self.body(&text), None)
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        let content_type = match self.format {
            BodyFormat::Text => TEXT_PLAIN,
            BodyFormat::ProblemJson => "application/problem+json",
        };
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(retry) = retry {
            headers.insert(RETRY_AFTER, retry);
        }
        Some(response)
    }

    /// The body telling `text`, in this layer's format.
    fn body(&self, text: &str) -> Bytes {
        Bytes::from(match self.format {
            BodyFormat::Text => format!("{text}\n"),
            BodyFormat::ProblemJson => format!(
                "{{\"type\":\"{QUOTA_EXCEEDED}\",\"title\":\"Request cannot be satisfied as \
                 assigned quota has been exceeded\",\"status\":{},\"detail\":\"{text}\",\
                 \"violated-policies\":[{}]}}",
                self.status.as_u16(),
                self.json_name,
            ),
        })
    }
}

/// The text of a denial of `secs` seconds.
fn denied_text(secs: u64) -> String {
    format!("too many requests: retry after {secs} s")
}

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// A `text/plain` response of one line.
pub(crate) fn text_response(status: StatusCode, mut text: String) -> Response<Bytes> {
    text.push('\n');
    let mut response = Response::new(Bytes::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
    response
}

/// `name` as a JSON string: policy names are printable ASCII (see
/// `headers::sf_string`), so only `"` and `\` need escaping.
pub(crate) fn json_string(name: &str) -> String {
    crate::headers::sf_string(name)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn refusals(format: BodyFormat) -> Refusals {
        Refusals::new(StatusCode::TOO_MANY_REQUESTS, format, "per-ip")
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let cases = [(1, 1), (999_999_999, 1), (1_000_000_000, 1), (1_000_000_001, 2), (0, 1)];
        // Around the waits whose answers are made in advance, and far beyond.
        let made = MADE_SECS * 1_000_000_000;
        let more = [(made, MADE_SECS), (made + 1, MADE_SECS + 1), (u64::MAX, 18_446_744_074)];
        for (nanos, secs) in cases.into_iter().chain(more) {
            let decision =
                Decision::Denied { remaining: 0, retry_after: Duration::from_nanos(nanos) };
            let response = refusals(BodyFormat::Text).refusal(decision).unwrap();
            assert_eq!(response.headers()[RETRY_AFTER], secs.to_string(), "{nanos} ns");
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            let body = std::str::from_utf8(response.body()).unwrap();
            assert_eq!(body, format!("too many requests: retry after {secs} s\n"));
            assert_eq!(response.headers()[CONTENT_TYPE], TEXT_PLAIN);
        }
    }

    #[test]
    fn over_capacity_has_no_retry_after() {
        let decision = Decision::OverCapacity { cost: 11, capacity: 10 };
        let response = refusals(BodyFormat::Text).refusal(decision).unwrap();
        assert!(response.headers().get(RETRY_AFTER).is_none());
        assert!(std::str::from_utf8(response.body()).unwrap().contains("can never be allowed"));
        assert!(refusals(BodyFormat::Text).refusal(Decision::Allowed { remaining: 1 }).is_none());
    }

    #[test]
    fn problem_json() {
        let decision = Decision::Denied { remaining: 0, retry_after: Duration::from_millis(1500) };
        let response = refusals(BodyFormat::ProblemJson).refusal(decision).unwrap();
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
        let body = std::str::from_utf8(response.body()).unwrap();
        assert!(body.starts_with(&format!("{{\"type\":\"{QUOTA_EXCEEDED}\"")), "{body}");
        assert!(body.contains("\"status\":429"), "{body}");
        assert!(body.ends_with("\"violated-policies\":[\"per-ip\"]}"), "{body}");
        assert_eq!(response.headers()[RETRY_AFTER], "2");
    }
}
