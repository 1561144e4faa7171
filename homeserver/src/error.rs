//! The one error type of the HTTP handlers. It becomes the stable `{errcode, error}` JSON shape;
//! server-side failures are logged (with the request id of the surrounding span) and never
//! described to the client.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use parley_client_api::{ErrorBody, ErrorCode};

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No endpoint at this path.
    #[error("no such endpoint")]
    Unrecognized,
    /// A dependency is down; the message is safe to show.
    #[error("{0}")]
    Unavailable(&'static str),
    /// A database failure.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Any other server-side failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    fn status_and_body(&self) -> (StatusCode, ErrorBody) {
        let body = |errcode, error: &str| ErrorBody {
            errcode,
            error: error.to_owned(),
            retry_after_ms: None,
        };
        match self {
            Self::Unrecognized => (
                StatusCode::NOT_FOUND,
                body(ErrorCode::Unrecognized, "No such endpoint."),
            ),
            Self::Unavailable(message) => (
                StatusCode::SERVICE_UNAVAILABLE,
                body(ErrorCode::Unavailable, message),
            ),
            Self::Database(_) | Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                body(ErrorCode::Unknown, "Internal server error."),
            ),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, body) = self.status_and_body();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn internal_details_never_reach_the_client() {
        let response =
            AppError::Internal("password=hunter2 at db.internal:5432".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert_eq!(
            text,
            r#"{"errcode":"M_UNKNOWN","error":"Internal server error."}"#
        );
    }
}
