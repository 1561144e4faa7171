//! The federation listener's own endpoints. Server keys, transactions and queries arrive with
//! the federation issue; for now peers and operators can check what answers.

use axum::{Json, Router, extract::State, routing::get};
use serde::Serialize;

use crate::state::AppState;

#[derive(Serialize)]
struct Version {
    server_name: String,
    version: &'static str,
}

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/_parley/federation/v1/version", get(version))
}

/// `GET /_parley/federation/v1/version`.
async fn version(State(state): State<AppState>) -> Json<Version> {
    Json(Version {
        server_name: state.config.server_name.clone(),
        version: crate::VERSION,
    })
}
