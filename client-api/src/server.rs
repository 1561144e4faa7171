//! `GET /api/v1/server`: public facts about the homeserver.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The path of the endpoint, below [`crate::API_PREFIX`].
pub const PATH: &str = "/server";

/// What any visitor may learn about a homeserver before signing in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServerInfo {
    /// The server's DNS name, the `server` part of every `@user:server` on it.
    pub server_name: String,
    /// The homeserver software's version.
    pub version: String,
}
