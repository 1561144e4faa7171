//! Per-IP rate limits on sign-up and sign-in.

use parley_tests::server::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::setup;

#[tokio::test]
async fn sign_in_is_rate_limited_per_ip_with_retry_after() {
    let mut s = setup("rate.parley.test").await;
    s.config.rate_limit_per_minute = 1;
    s.config.rate_limit_burst = 3;
    let server = TestServer::start(&s.config).await.unwrap();
    let http = reqwest::Client::new();
    let login = |forwarded: &'static str| {
        http.post(server.url("/api/v1/auth/login"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"identifier": "nobody", "password": "whatever it is"}))
            .send()
    };
    for i in 0..3 {
        let response = login("198.51.100.1").await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "attempt {i} is within the burst"
        );
    }
    // A forged X-Forwarded-For from an untrusted peer does not buy a fresh allowance.
    let response = login("198.51.100.2").await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
    assert!(body["retry_after_ms"].as_u64().unwrap() >= 1000);

    // Sign-up shares the limit; other endpoints do not.
    let response = http
        .post(server.url("/api/v1/account/register"))
        .json(&json!({"username": "x", "email": "x@example.org", "full_name": "X", "password": "a fine passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        http.get(server.url("/api/v1/server"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    server.stop().await.unwrap();
}
