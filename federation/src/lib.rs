//! The protocol between Parley homeservers.
//!
//! This crate holds what two homeservers must agree on: canonical JSON, server names, server
//! signing keys and key documents, RFC 9421 request signatures with RFC 9530 content digests,
//! server discovery, and an HTTP client that signs its requests and refuses forbidden address
//! ranges. It must never depend on the homeserver or touch a database; a compatible server could
//! be built on it alone. The wire format is written down in `docs/federation.md`.

pub mod canonical;
pub mod client;
pub mod discovery;
pub mod keys;
pub mod net;
pub mod server_name;
pub mod signature;
pub mod signing_key;

pub use server_name::{Host, ServerName, ServerNameError};
pub use signing_key::{KeyError, ServerSigningKey};
