//! `GET /health`: is the process alive and is its database reachable?

use std::time::Duration;

use axum::{Json, Router, extract::State, routing::get};
use http::StatusCode;
use serde::Serialize;

use crate::{db, state::AppState};

/// How long the database may take to answer before it counts as down; a load balancer's
/// health probe must get an answer quickly even while PostgreSQL hangs.
const DB_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize)]
struct Health {
    status: &'static str,
    database: &'static str,
}

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// `GET /health`: 200 while PostgreSQL answers, 503 while it does not. No restart is needed
/// after an outage: the pool replaces broken connections on their next use.
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    if db::is_reachable(&state.db, DB_PROBE_TIMEOUT).await {
        (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                database: "ok",
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable",
                database: "down",
            }),
        )
    }
}
