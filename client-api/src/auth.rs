//! Signing in and out, tokens and sessions.
//!
//! A session starts at login and holds a refresh token that rotates on every use, within an
//! absolute lifetime. Access tokens are short-lived JWTs sent as `Authorization: Bearer`.
//! Browsers keep the refresh token in an HttpOnly cookie ([`REFRESH_COOKIE`]), never in script.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/auth/login`.
pub const LOGIN: &str = "/auth/login";
/// `POST /api/v1/auth/refresh`.
pub const REFRESH: &str = "/auth/refresh";
/// `POST /api/v1/auth/logout`.
pub const LOGOUT: &str = "/auth/logout";
/// `GET /api/v1/auth/sessions`.
pub const SESSIONS: &str = "/auth/sessions";
/// `DELETE /api/v1/auth/sessions/{session_id}`.
pub const SESSION: &str = "/auth/sessions/{session_id}";
/// `POST /api/v1/auth/sessions/end-others`.
pub const END_OTHER_SESSIONS: &str = "/auth/sessions/end-others";

/// The cookie that carries the refresh token for browsers (with the `__Host-` prefix when the
/// server is reached over HTTPS).
pub const REFRESH_COOKIE: &str = "parley_refresh";

/// Where the client wants its refresh token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenTransport {
    /// In the response body (apps, bots, tests).
    #[default]
    Body,
    /// In an HttpOnly, Secure, SameSite=Strict cookie (browsers).
    Cookie,
}

/// Sign-in with a username (or full user id) or email address, and a password.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username, `@username:server`, or email address.
    pub identifier: String,
    /// The password.
    pub password: String,
    /// A device id this client had before, to keep it across sign-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// A name for the device, shown in the session list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// Where to put the refresh token.
    #[serde(default)]
    pub refresh_token_transport: TokenTransport,
}

/// Exchanges a refresh token for new tokens. Browsers send an empty body and the cookie.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token, unless it travels in the cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Tokens of a session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token, when it travels in the body; absent when it was set as a cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// `@username:server`.
    pub user_id: String,
    /// The device of this session.
    pub device_id: String,
    /// The session.
    pub session_id: String,
}

/// One session of the signed-in user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// The session.
    pub session_id: String,
    /// Its device.
    pub device_id: String,
    /// The device's name, if the client gave one.
    pub device_name: Option<String>,
    /// When it started (RFC 3339).
    pub created_at: String,
    /// When it was last used (RFC 3339).
    pub last_seen_at: String,
    /// The IP address it was last used from.
    pub ip: Option<String>,
    /// The user agent it was last used with.
    pub user_agent: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// The signed-in user's sessions, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    /// The sessions.
    pub sessions: Vec<SessionInfo>,
}

/// How many sessions a request ended.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EndedSessions {
    /// The count.
    pub ended: u64,
}
