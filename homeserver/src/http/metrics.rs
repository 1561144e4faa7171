//! `GET /metrics`: Prometheus text format.

use axum::{Router, extract::State, response::IntoResponse, routing::get};
use http::header;

use crate::{error::AppError, state::AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// `GET /metrics`.
async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let text = state
        .metrics
        .render(&state.db)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text))
}
