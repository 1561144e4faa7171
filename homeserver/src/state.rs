//! The state every handler can reach.

use std::sync::Arc;

use parley_federation::ServerSigningKey;
use sqlx::PgPool;

use crate::{accounts::Accounts, config::Config, metrics::Metrics, rooms::Rooms};

/// Shared by all handlers of one server. Cloned for every request (each extractor takes its
/// own copy), so a clone is one reference count, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Shares `parts` with every handler.
    pub fn new(parts: Shared) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of the state.
pub struct Shared {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The database pool.
    pub db: PgPool,
    /// This server's metrics registry.
    pub metrics: Metrics,
    /// The federation signing key.
    pub signing_key: Arc<ServerSigningKey>,
    /// Accounts, sessions and tokens.
    pub accounts: Accounts,
    /// Devices, keys and to-device messages.
    pub e2ee: crate::e2ee::E2ee,
    /// Rooms and their timelines.
    pub rooms: Rooms,
    /// This process's WebSocket connections.
    pub realtime: crate::realtime::Hub,
    /// Who is online.
    pub presence: crate::realtime::presence::Presence,
    /// Federation (identity, peer authentication, outbound client), when configured.
    pub federation: Option<crate::federation::Federation>,
}
