//! `/health` follows PostgreSQL down and back up, without a restart of the homeserver.

use std::time::Duration;

use parley_tests::{
    pg::PgCluster,
    server::{TestConfig, TestServer, WebFixture},
    wait_until,
};

async fn health_status(
    client: &reqwest::Client,
    url: &url::Url,
) -> Option<(u16, serde_json::Value)> {
    let response = client.get(url.clone()).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

#[tokio::test]
async fn health_reports_the_database_down_and_recovers() {
    let cluster = PgCluster::start_private().unwrap();
    let db = cluster.create_database().await.unwrap();
    let web = WebFixture::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&TestConfig::new(
        "health.parley.test",
        dir.path(),
        web.path(),
        &db,
    ))
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let url = server.url("/health");

    let (status, body) = health_status(&http, &url).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["database"], "ok");

    cluster.stop().unwrap();
    let body = wait_until(
        "health to report the database down",
        Duration::from_secs(30),
        || async {
            match health_status(&http, &url).await {
                Some((503, body)) => Some(body),
                _ => None,
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(body["database"], "down");
    assert_eq!(body["status"], "unavailable");

    cluster.restart().unwrap();
    wait_until("health to recover", Duration::from_secs(30), || async {
        matches!(health_status(&http, &url).await, Some((200, _))).then_some(())
    })
    .await
    .unwrap();

    server.stop().await.unwrap();
    drop(db);
}
