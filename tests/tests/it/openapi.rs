//! The OpenAPI document is generated from the code, served, and committed up to date.

use parley_tests::server::TestServer;

use crate::setup;

#[tokio::test]
async fn the_committed_openapi_document_is_current_and_served() {
    let generated = serde_json::to_value(parley_homeserver::http::openapi::document()).unwrap();
    let committed_path = parley_tests::repo_root().join("docs/openapi.json");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&committed_path).unwrap()).unwrap();
    assert!(
        generated == committed,
        "docs/openapi.json is stale: run `cargo run -q -p parley-homeserver --bin parley -- openapi \
         > docs/openapi.json`, then `npm run gen:api` in web/"
    );
    assert_eq!(generated["openapi"], "3.1.0");
    for path in [
        "/api/v1/server",
        "/api/v1/account/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
    ] {
        assert!(
            generated["paths"].get(path).is_some(),
            "{path} is documented"
        );
    }

    let s = setup("openapi.parley.test").await;
    let server = TestServer::start(&s.config).await.unwrap();
    let served: serde_json::Value = reqwest::get(server.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, generated);
    server.stop().await.unwrap();
}
