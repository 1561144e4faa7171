//! The Parley homeserver.
//!
//! Everything stateful lives here: configuration, storage, domain logic, the HTTP handlers of
//! the client and federation APIs, and background workers. The protocol types come from
//! `parley-client-api` and `parley-federation`; those crates never depend on this one.
//! No process-wide state: every server is a value, so a test can run several in one process.

pub mod accounts;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod db;
pub mod e2ee;
pub mod error;
pub mod federation;
pub mod http;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod realtime;
pub mod rooms;
pub mod server;
pub mod shutdown;
pub mod state;

pub use config::Config;
pub use server::{RunningServer, start};
pub use state::AppState;

/// The version of this build, as `parley --version` and `GET /api/v1/server` report it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
