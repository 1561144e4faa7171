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
    /// No access token.
    #[error("missing access token")]
    MissingToken,
    /// The body or a parameter does not parse; the message says where.
    #[error("{0}")]
    BadJson(String),
    /// Refused with a fixed status, code and message (federation requests: the message never
    /// says more than a short reason).
    #[error("{message}")]
    Refused {
        /// The status.
        status: StatusCode,
        /// The stable code.
        code: ErrorCode,
        /// A short reason.
        message: &'static str,
    },
    /// From the account service.
    #[error(transparent)]
    Account(#[from] crate::accounts::AccountError),
}

impl AppError {
    fn status_and_body(&self) -> (StatusCode, ErrorBody) {
        use crate::accounts::AccountError;
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
            Self::MissingToken => (
                StatusCode::UNAUTHORIZED,
                body(
                    ErrorCode::MissingToken,
                    "Sign in first: this needs an access token.",
                ),
            ),
            Self::BadJson(message) => (StatusCode::BAD_REQUEST, body(ErrorCode::BadJson, message)),
            Self::Refused {
                status,
                code,
                message,
            } => (*status, body(*code, message)),
            Self::Account(AccountError::Refused {
                status,
                code,
                message,
                retry_after,
            }) => (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
                ErrorBody {
                    errcode: *code,
                    error: message.clone(),
                    retry_after_ms: retry_after
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                },
            ),
            Self::Database(_)
            | Self::Internal(_)
            | Self::Account(
                AccountError::Database(_) | AccountError::Mail(_) | AccountError::Internal(_),
            ) => (
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
        let retry_after = body.retry_after_ms.map(|ms| ms.div_ceil(1000).max(1));
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after
            && let Ok(value) = http::HeaderValue::from_str(&secs.to_string())
        {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, value);
        }
        response
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
