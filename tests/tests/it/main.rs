//! Integration tests of the homeserver through its real parts: PostgreSQL, HTTP, processes.
//! One test binary, so the whole run shares one PostgreSQL cluster.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod accounts;
mod config_errors;
mod e2ee;
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
mod shutdown;
mod signing_key;
mod web;

use parley_tests::{
    pg::{PgCluster, TestDatabase},
    server::{TestConfig, WebFixture},
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
