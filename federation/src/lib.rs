//! The protocol between Parley homeservers.
//!
//! This crate holds what two homeservers must agree on: canonical JSON, server names, server
//! signing keys and key documents, RFC 9421 request signatures with RFC 9530 content digests,
//! server discovery, and an HTTP client that signs its requests and refuses forbidden address
//! ranges. It must never depend on the homeserver or touch a database; a compatible server could
//! be built on it alone. The wire format is written down in `docs/federation.md`.
//!
//! Modules, one per area:
//!
//! - [`server_name`]: the server-name grammar and its normal form;
//! - [`canonical`]: canonical JSON, what signatures over JSON cover;
//! - [`signing_key`]: our ed25519 key and its file encoding;
//! - [`keys`]: the signed key document, and the cache of peers' keys;
//! - [`signature`]: RFC 9421 request signatures with RFC 9530 digests, and the replay guard;
//! - [`discovery`]: `.well-known` delegation, default port, operator pins;
//! - [`net`]: the address classes and the outbound address policy;
//! - [`client`]: the outbound client that puts these together;
//! - [`api`]: the endpoints' paths and bodies, and the transaction format.
//!
//! Nothing here keeps global state: caches and guards are values owned by one server, so that
//! several servers can run in one process.

pub mod api;
pub mod canonical;
pub mod client;
pub mod discovery;
pub mod keys;
pub mod net;
pub mod server_name;
pub mod signature;
pub mod signing_key;

pub use client::{ClientConfig, ClientError, FederationClient, FederationResponse};
pub use discovery::Pins;
pub use keys::{KeyCache, KeyCacheConfig, KeyLookup};
pub use net::AddressPolicy;
pub use server_name::{Host, ServerName, ServerNameError};
pub use signature::{IncomingRequest, ReplayGuard, VerifiedRequest, VerifyConfig, VerifyError};
pub use signing_key::{KeyError, ServerSigningKey};
