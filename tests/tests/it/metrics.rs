//! `/metrics` is Prometheus text that a Prometheus parser reads, with the promised series.

use parley_tests::server::TestServer;

use crate::setup;

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let s = setup("metrics.parley.test").await;
    let server = TestServer::start(&s.config).await.unwrap();
    let http = reqwest::Client::new();
    for _ in 0..3 {
        assert!(
            http.get(server.url("/api/v1/server"))
                .send()
                .await
                .unwrap()
                .status()
                .is_success()
        );
    }
    assert_eq!(
        http.get(server.url("/api/v1/missing"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let response = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();

    let count = |route: &str, status: &str| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| {
                s.metric == "parley_http_requests_total"
                    && s.labels.get("route") == Some(route)
                    && s.labels.get("status") == Some(status)
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    assert_eq!(count("/api/v1/server", "200"), 3.0);
    // Unknown paths share one label value, so clients cannot grow the series without bound.
    assert_eq!(count("unmatched", "404"), 1.0);

    let has = |name: &str| scrape.samples.iter().any(|s| s.metric == name);
    assert!(
        has("parley_http_request_duration_seconds"),
        "latency histogram"
    );
    assert!(has("parley_db_pool_connections"));
    assert!(has("parley_db_pool_idle_connections"));
    assert!(has("parley_db_pool_max_connections"));
    assert!(has("parley_websocket_connections"));
    let max = scrape
        .samples
        .iter()
        .find(|s| s.metric == "parley_db_pool_max_connections")
        .unwrap();
    assert!(
        matches!(max.value, prometheus_parse::Value::Gauge(v) if v == 4.0),
        "{:?}",
        max.value
    );

    server.stop().await.unwrap();
}
