//! The one error shape of the client API.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A stable, machine-readable error code. Clients branch on this, never on the message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request was malformed: bad JSON, a missing field, a value of the wrong type.
    #[serde(rename = "M_BAD_JSON")]
    BadJson,
    /// A value is well-formed but not acceptable (too long, bad characters); the message says which.
    #[serde(rename = "M_INVALID_PARAM")]
    InvalidParam,
    /// A signature on an uploaded key does not verify, or the signing key is unknown.
    #[serde(rename = "M_INVALID_SIGNATURE")]
    InvalidSignature,
    /// The username is not `a-z 0-9 . _ = -`, 1 to 64 characters.
    #[serde(rename = "M_INVALID_USERNAME")]
    InvalidUsername,
    /// The username is taken.
    #[serde(rename = "M_USER_IN_USE")]
    UserInUse,
    /// The password is too short, too long or too common.
    #[serde(rename = "M_WEAK_PASSWORD")]
    WeakPassword,
    /// Wrong credentials, or not allowed.
    #[serde(rename = "M_FORBIDDEN")]
    Forbidden,
    /// The account's email address is not verified yet (said only after a correct password).
    #[serde(rename = "M_EMAIL_NOT_VERIFIED")]
    EmailNotVerified,
    /// The account is disabled (said only after a correct password).
    #[serde(rename = "M_USER_DEACTIVATED")]
    UserDeactivated,
    /// A server-to-server request is not signed, or its signature is not acceptable.
    #[serde(rename = "M_UNAUTHORIZED")]
    Unauthorized,
    /// No access token was sent.
    #[serde(rename = "M_MISSING_TOKEN")]
    MissingToken,
    /// The token is invalid, expired, or its session has ended.
    #[serde(rename = "M_UNKNOWN_TOKEN")]
    UnknownToken,
    /// No endpoint exists at this path, or not for this method.
    #[serde(rename = "M_UNRECOGNIZED")]
    Unrecognized,
    /// The resource does not exist, or the caller may not know that it does.
    #[serde(rename = "M_NOT_FOUND")]
    NotFound,
    /// The request body is larger than the endpoint accepts.
    #[serde(rename = "M_TOO_LARGE")]
    TooLarge,
    /// Too many requests; `retry_after_ms` says when to try again.
    #[serde(rename = "M_LIMIT_EXCEEDED")]
    LimitExceeded,
    /// A dependency of the server (such as its database) is unavailable; try again later.
    #[serde(rename = "M_UNAVAILABLE")]
    Unavailable,
    /// Something went wrong inside the server. The details are in its log, never in the reply.
    #[serde(rename = "M_UNKNOWN")]
    Unknown,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: &'static [ErrorCode] = &[
        Self::BadJson,
        Self::InvalidParam,
        Self::InvalidSignature,
        Self::InvalidUsername,
        Self::UserInUse,
        Self::WeakPassword,
        Self::Forbidden,
        Self::EmailNotVerified,
        Self::UserDeactivated,
        Self::Unauthorized,
        Self::MissingToken,
        Self::UnknownToken,
        Self::Unrecognized,
        Self::NotFound,
        Self::TooLarge,
        Self::LimitExceeded,
        Self::Unavailable,
        Self::Unknown,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadJson => "M_BAD_JSON",
            Self::InvalidParam => "M_INVALID_PARAM",
            Self::InvalidSignature => "M_INVALID_SIGNATURE",
            Self::InvalidUsername => "M_INVALID_USERNAME",
            Self::UserInUse => "M_USER_IN_USE",
            Self::WeakPassword => "M_WEAK_PASSWORD",
            Self::Forbidden => "M_FORBIDDEN",
            Self::EmailNotVerified => "M_EMAIL_NOT_VERIFIED",
            Self::UserDeactivated => "M_USER_DEACTIVATED",
            Self::Unauthorized => "M_UNAUTHORIZED",
            Self::MissingToken => "M_MISSING_TOKEN",
            Self::UnknownToken => "M_UNKNOWN_TOKEN",
            Self::Unrecognized => "M_UNRECOGNIZED",
            Self::NotFound => "M_NOT_FOUND",
            Self::TooLarge => "M_TOO_LARGE",
            Self::LimitExceeded => "M_LIMIT_EXCEEDED",
            Self::Unavailable => "M_UNAVAILABLE",
            Self::Unknown => "M_UNKNOWN",
        }
    }
}

/// The JSON body of every error response: `{errcode, error}` plus `retry_after_ms` where it
/// applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The stable code.
    pub errcode: ErrorCode,
    /// A human-readable explanation, safe to show to the user.
    pub error: String,
    /// For [`ErrorCode::LimitExceeded`]: how long to wait before retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_wire_names_match_as_str() {
        for &code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap_or_default();
            assert_eq!(json, serde_json::Value::from(code.as_str()));
        }
    }

    #[test]
    fn retry_after_is_omitted_when_absent() {
        let body = ErrorBody {
            errcode: ErrorCode::NotFound,
            error: "no such room".into(),
            retry_after_ms: None,
        };
        let json = serde_json::to_string(&body).unwrap_or_default();
        assert_eq!(json, r#"{"errcode":"M_NOT_FOUND","error":"no such room"}"#);
    }
}
