//! Request ids: accepted from a proxy's `x-request-id` when well-formed, otherwise generated.

use axum::extract::Request;
use http::HeaderName;
use tower_http::{
    request_id::{MakeRequestId, RequestId},
    trace::MakeSpan,
};
use tracing::Span;

/// The header that carries the id in both directions.
pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Makes a random id for a request that has none (or a malformed one).
#[derive(Clone, Copy, Default)]
pub struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &http::Request<B>) -> Option<RequestId> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        http::HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Opens the span of a request, with its id.
#[derive(Clone, Copy, Default)]
pub struct MakeSpanWithId;

impl<B> MakeSpan<B> for MakeSpanWithId {
    fn make_span(&mut self, request: &http::Request<B>) -> Span {
        let id = request
            .headers()
            .get(&HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!(
            "request",
            request_id = %id,
            method = %request.method(),
            path = %request.uri().path(),
        )
    }
}

/// An incoming id is logged only when it is short and plain, so a client cannot forge log lines.
fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Drops an incoming id that is not short and plain, so that a fresh one replaces it.
pub async fn drop_unsafe_id(mut request: Request) -> Request {
    let unsafe_id = request
        .headers()
        .get(&HEADER)
        .is_some_and(|v| v.to_str().map_or(true, |v| !is_safe_id(v)));
    if unsafe_id {
        request.headers_mut().remove(&HEADER);
    }
    request
}
