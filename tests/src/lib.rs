//! The Parley test harness.
//!
//! - [`pg`]: a throwaway PostgreSQL cluster per test run (or the one the test command started,
//!   named by `PARLEYTEST_PG_URL`) and a fresh database per test, dropped afterwards; private
//!   clusters for tests that stop PostgreSQL.
//! - [`server`]: homeservers in this process ([`server::TestServer`]) or as real processes
//!   ([`server::ServerProcess`]), with their own data directories and databases.
//! - [`e2ee`]: an end-to-end-encrypting client (matrix-sdk-crypto's `OlmMachine`) over the
//!   client API and its WebSocket.
//! - [`smtp`]: a real SMTP server (Python's aiosmtpd) that keeps what it receives, for mail
//!   tests.
//!
//! Everything waits on conditions with deadlines ([`wait_until`]); nothing sleeps for a fixed
//! time and hopes.

pub mod e2ee;
pub mod mail;
pub mod pg;
pub mod server;
pub mod smtp;
pub mod users;
pub mod ws;

use std::{future::Future, time::Duration};

/// Polls `check` until it returns `Some`, or fails after `deadline` with `what` in the message.
pub async fn wait_until<T, F, Fut>(
    what: &str,
    deadline: Duration,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if started.elapsed() > deadline {
            anyhow::bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// The repository's root folder.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
