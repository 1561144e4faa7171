//! The protocol between Parley homeservers.
//!
//! This crate holds what two homeservers must agree on: server signing keys and, as federation
//! grows, transaction types, canonical JSON, RFC 9421 request signatures and discovery. It must
//! never depend on the homeserver or touch a database; a compatible server could be built on it
//! alone.

pub mod signing_key;

pub use signing_key::{KeyError, ServerSigningKey};
