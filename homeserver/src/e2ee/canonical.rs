//! Canonical JSON, as the federation crate defines it: one implementation for client key
//! signatures and server-to-server signatures alike.

pub use parley_federation::canonical::*;
