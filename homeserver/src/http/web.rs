//! The web app: static files from `web_root`, an SPA fallback for client routes, long caching
//! for content-hashed assets, precompressed files, and the security headers of every response.

use std::path::Path;

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use http::{HeaderValue, header};
use tower_http::{
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeaderLayer,
};

use crate::state::AppState;

/// Vite puts content-hashed files under `/assets`: a changed file gets a new name, so clients may
/// keep them for a year.
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
/// Everything else (index.html above all) is revalidated, so a deploy reaches users at once.
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// The policy for everything this listener serves. `wasm-unsafe-eval` lets the browser compile
/// the end-to-end encryption module; nothing else may run but our own scripts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' \
     'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
     connect-src 'self'; font-src 'self'; worker-src 'self' blob:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `/assets/*`: hashed files, cached for good; a missing one is a 404, never the app's HTML.
pub(super) fn assets(web_root: &Path) -> Router {
    Router::new()
        .fallback_service(precompressed(ServeDir::new(web_root.join("assets"))))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            |r: &Response| {
                Some(if r.status().is_success() {
                    IMMUTABLE
                } else {
                    NO_STORE
                })
            },
        ))
}

/// Every other path: a file of the app if one exists, else `index.html` so that the app's own
/// router can show a client route (or its not-found page).
pub(super) fn app(web_root: &Path) -> Router {
    let index = ServeFile::new(web_root.join("index.html"))
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .fallback_service(precompressed(ServeDir::new(web_root)).fallback(index))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            REVALIDATE,
        ))
}

fn precompressed(dir: ServeDir) -> ServeDir {
    dir.precompressed_br().precompressed_gzip()
}

/// Adds the security headers to every response of the client listener.
pub(super) async fn security_headers(
    State(state): State<AppState>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        http::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        http::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if state.config.public_base_url.scheme() == "https" {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}
