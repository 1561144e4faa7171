//! `GET /api/v1/server`: public facts about this server.

use axum::{Json, Router, extract::State, routing::get};
use parley_client_api::server::{PATH, ServerInfo};

use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route(PATH, get(server_info))
}

/// Public facts about this server.
#[utoipa::path(get, path = "/api/v1/server", tag = "server", responses((status = 200, body = ServerInfo)))]
pub(super) async fn server_info(State(state): State<AppState>) -> Json<ServerInfo> {
    Json(ServerInfo {
        server_name: state.config.server_name.clone(),
        version: crate::VERSION.to_owned(),
    })
}
