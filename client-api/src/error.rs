//! The one error shape of the client API.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code. Clients branch on this, never on the message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request was malformed: bad JSON, a missing field, a value out of range.
    #[serde(rename = "M_BAD_JSON")]
    BadJson,
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
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadJson => "M_BAD_JSON",
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        for code in [
            ErrorCode::BadJson,
            ErrorCode::Unrecognized,
            ErrorCode::NotFound,
            ErrorCode::TooLarge,
            ErrorCode::LimitExceeded,
            ErrorCode::Unavailable,
            ErrorCode::Unknown,
        ] {
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
