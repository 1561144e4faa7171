//! The web app is served with its security headers, SPA fallback, caching and precompression.

use parley_tests::server::{FIXTURE_ASSET, FIXTURE_INDEX_MARKER, TestServer};

use crate::setup;

const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'";

fn assert_security_headers(response: &reqwest::Response) {
    let h = response.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with(CSP), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("object-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(h.get("x-request-id").is_some());
}

#[tokio::test]
async fn app_shell_and_api_are_served_with_security_headers() {
    let s = setup("web.parley.test").await;
    let server = TestServer::start(&s.config).await.unwrap();
    let http = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap();

    // The app itself, revalidated on every load so a deploy reaches users at once.
    for path in ["/", "/rooms/some/deep/route"] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_security_headers(&response);
        assert_eq!(response.headers()["cache-control"], "no-cache");
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none()
        );
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains(FIXTURE_INDEX_MARKER),
            "{path}"
        );
    }

    // Hashed assets: cached for a year; a missing one is a 404, never the app's HTML.
    let response = http.get(server.url(FIXTURE_ASSET)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(response.text().await.unwrap(), "console.log('parley');\n");
    let response = http
        .get(server.url("/assets/app-00000000.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["cache-control"], "no-store");

    // Precompressed files are sent as they are when the client accepts them.
    for (encoding, body) in [("br", "brotli bytes"), ("gzip", "gzip bytes")] {
        let response = http
            .get(server.url(FIXTURE_ASSET))
            .header("accept-encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-encoding"], encoding);
        assert_eq!(response.text().await.unwrap(), body);
    }

    // The API: the server's name and version; unknown endpoints get the JSON error shape.
    let info = server.client.server_info().await.unwrap();
    assert_eq!(info.server_name, "web.parley.test");
    assert_eq!(info.version, parley_homeserver::VERSION);
    let response = http
        .get(server.url("/api/v1/no-such-endpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_security_headers(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errcode"], "M_UNRECOGNIZED");

    // A request id from a proxy is kept when plain, replaced when not.
    let response = http
        .get(server.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response = http
        .get(server.url("/health"))
        .header("x-request-id", "evil\u{7f}id line")
        .send()
        .await;
    if let Ok(response) = response {
        assert_ne!(response.headers()["x-request-id"], "evil\u{7f}id line");
    }

    server.stop().await.unwrap();
}

#[tokio::test]
async fn hsts_is_sent_when_served_over_https() {
    let mut s = setup("tls.parley.test").await;
    s.config.public_base_url = "https://tls.parley.test".into();
    let server = TestServer::start(&s.config).await.unwrap();
    let response = reqwest::get(server.url("/")).await.unwrap();
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    server.stop().await.unwrap();
}
