//! Integration tests of the homeserver through its real parts: PostgreSQL, HTTP, processes.
//! One test binary, so the whole run shares one PostgreSQL cluster.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod accounts;
mod config_errors;
mod e2ee;
mod federated_rooms;
mod federation;
mod federation_tls;
mod health;
mod keys;
mod mail;
mod metrics;
mod openapi;
mod rate_limit;
mod realtime;
mod rooms;
mod sends;
mod shutdown;
mod signing_key;
mod web;

use parley_tests::{
    pg::{PgCluster, TestDatabase},
    server::{TestConfig, WebFixture},
    users::TestUser,
};

/// The `parley` command line built for these tests.
pub const PARLEY: &str = env!("CARGO_BIN_EXE_parley-test-server");

/// A fresh database, a web fixture and a temporary folder, and a config that uses them.
pub struct Setup {
    pub db: TestDatabase,
    pub web: WebFixture,
    pub dir: tempfile::TempDir,
    pub config: TestConfig,
}

pub async fn setup(server_name: &str) -> Setup {
    let db = PgCluster::shared()
        .unwrap()
        .create_database()
        .await
        .unwrap();
    let web = WebFixture::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = TestConfig::new(server_name, dir.path(), web.path(), &db);
    Setup {
        db,
        web,
        dir,
        config,
    }
}

/// A server with these users signed up and signed in.
pub async fn server_with(
    name: &str,
    users: &[&str],
) -> (parley_tests::server::TestServer, Vec<TestUser>, Setup) {
    let s = setup(name).await;
    let server = parley_tests::server::TestServer::start(&s.config)
        .await
        .unwrap();
    let mut signed_in = Vec::new();
    for user in users {
        signed_in.push(TestUser::register(&server, user).await.unwrap());
    }
    (server, signed_in, s)
}

/// A new group of `owner` with `members`; its room id.
pub async fn group(owner: &TestUser, name: &str, members: &[&TestUser]) -> String {
    let ids: Vec<&str> = members.iter().map(|m| m.user_id.as_str()).collect();
    let (status, body) = owner
        .post(
            "/rooms",
            serde_json::json!({"kind": "group", "name": name, "members": ids}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    body["room_id"].as_str().unwrap().to_owned()
}

/// The direct room of `user` and `with` (made on first use).
pub async fn direct(user: &TestUser, with: &str) -> String {
    let (status, body) = user
        .post(
            "/rooms",
            serde_json::json!({"kind": "direct", "with": with}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    body["room_id"].as_str().unwrap().to_owned()
}

/// Sends a plain `parley.message` (the server does not look inside content).
pub async fn send(
    user: &TestUser,
    room: &str,
    txn: &str,
    text: &str,
) -> (reqwest::StatusCode, serde_json::Value) {
    user.put(
        &format!(
            "/rooms/{}/send/parley.message/{txn}",
            parley_tests::users::seg(room)
        ),
        serde_json::json!({"body": text}),
    )
    .await
}
