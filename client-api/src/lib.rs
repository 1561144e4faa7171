//! The protocol between a Parley client and its homeserver.
//!
//! This crate holds the request and response bodies of the client API, its stable error codes
//! and (behind the `client` feature) a typed Rust client. It must never depend on the homeserver,
//! touch a database or contain HTTP handlers: the homeserver and every client share these types.

pub mod account;
pub mod auth;
pub mod error;
pub mod keys;
pub mod rooms;
pub mod server;
pub mod ws;

#[cfg(feature = "client")]
pub mod client;

pub use error::{ErrorBody, ErrorCode};

/// The path prefix of every versioned client API endpoint.
pub const API_PREFIX: &str = "/api/v1";
