//! Sign-in, token refresh, sign-out and sessions. Browsers get the refresh token in an
//! HttpOnly, SameSite=Strict cookie (Secure and `__Host-` prefixed over HTTPS), never in script.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::{
    Json, Router,
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use parley_client_api::{
    ErrorBody,
    auth::{
        self as api, EndedSessions, LoginRequest, REFRESH_COOKIE, RefreshRequest, SessionList,
        TokenResponse, TokenTransport,
    },
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::extract::ApiJson;
use crate::{
    accounts::{AuthUser, ClientInfo, IssuedTokens},
    error::AppError,
    state::AppState,
};

/// Sign-in: rate limited per IP.
pub(super) fn limited_router() -> Router<AppState> {
    Router::new().route(api::LOGIN, post(login))
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(api::REFRESH, post(refresh))
        .route(api::LOGOUT, post(logout))
        .route(api::SESSIONS, get(sessions))
        .route(api::SESSION, delete(end_session))
        .route(api::END_OTHER_SESSIONS, post(end_other_sessions))
}

/// Sign in with username, user id or email, and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 403, body = ErrorBody, description = "wrong credentials, unverified or disabled"),
        (status = 429, body = ErrorBody, description = "locked out for a while")))]
pub(super) async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, AppError> {
    let issued = state
        .accounts
        .login(
            &request.identifier,
            &request.password,
            request.device_id.as_deref(),
            request.device_name.as_deref(),
            &client,
        )
        .await?;
    Ok(token_response(
        &state,
        issued,
        request.refresh_token_transport,
    ))
}

/// Exchange a refresh token (body or cookie) for new tokens. A token reused after rotation
/// ends its session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody, description = "session ended")))]
pub(super) async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Response, AppError> {
    let (token, transport) = match request.refresh_token {
        Some(token) => (token, TokenTransport::Body),
        None => match cookie_value(&headers, &cookie_name(&state)) {
            Some(token) => (token, TokenTransport::Cookie),
            None => {
                return Err(AppError::Account(crate::accounts::AccountError::Refused {
                    status: 401,
                    code: parley_client_api::ErrorCode::MissingToken,
                    message: "No refresh token: sign in.".into(),
                    retry_after: None,
                }));
            }
        },
    };
    match state.accounts.refresh(&token, &client).await {
        Ok(issued) => Ok(token_response(&state, issued, transport)),
        Err(e) if transport == TokenTransport::Cookie => {
            // A dead cookie is removed, so the browser stops sending it.
            let mut response = AppError::from(e).into_response();
            append_cookie(&mut response, &clear_cookie(&state));
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

/// Sign out: ends the current session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = EndedSessions), (status = 401, body = ErrorBody)))]
pub(super) async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, AppError> {
    let ended = state
        .accounts
        .end_session(&user, user.session_id, "signed_out")
        .await?;
    let mut response = Json(EndedSessions {
        ended: u64::from(ended),
    })
    .into_response();
    append_cookie(&mut response, &clear_cookie(&state));
    Ok(response)
}

/// The signed-in user's live sessions.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SessionList), (status = 401, body = ErrorBody)))]
pub(super) async fn sessions(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<SessionList>, AppError> {
    Ok(Json(SessionList {
        sessions: state.accounts.sessions(&user).await?,
    }))
}

/// End one of the signed-in user's sessions.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{session_id}", tag = "auth", security(("bearer" = [])),
    params(("session_id" = String, Path)),
    responses((status = 200, body = EndedSessions), (status = 404, body = ErrorBody)))]
pub(super) async fn end_session(
    State(state): State<AppState>,
    user: AuthUser,
    Path(session_id): Path<String>,
) -> Result<Json<EndedSessions>, AppError> {
    let not_found = || {
        AppError::Account(crate::accounts::AccountError::Refused {
            status: 404,
            code: parley_client_api::ErrorCode::NotFound,
            message: "No such session.".into(),
            retry_after: None,
        })
    };
    let session_id: Uuid = session_id.parse().map_err(|_| not_found())?;
    if !state
        .accounts
        .end_session(&user, session_id, "ended_by_user")
        .await?
    {
        return Err(not_found());
    }
    Ok(Json(EndedSessions { ended: 1 }))
}

/// End every session of the signed-in user but this one.
#[utoipa::path(post, path = "/api/v1/auth/sessions/end-others", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = EndedSessions)))]
pub(super) async fn end_other_sessions(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<EndedSessions>, AppError> {
    Ok(Json(EndedSessions {
        ended: state.accounts.end_other_sessions(&user).await?,
    }))
}

fn secure(state: &AppState) -> bool {
    state.config.public_base_url.scheme() == "https"
}

/// `__Host-` cookies must be Secure with `Path=/`: used whenever the server is on HTTPS.
fn cookie_name(state: &AppState) -> String {
    if secure(state) {
        format!("__Host-{REFRESH_COOKIE}")
    } else {
        REFRESH_COOKIE.to_owned()
    }
}

fn cookie(state: &AppState, value: &str, expires: Option<OffsetDateTime>) -> String {
    let mut cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict",
        cookie_name(state)
    );
    if secure(state) {
        cookie.push_str("; Secure");
    }
    match expires {
        Some(at) => {
            let secs = (at - OffsetDateTime::now_utc()).whole_seconds().max(0);
            cookie.push_str(&format!("; Max-Age={secs}"));
        }
        None => cookie.push_str("; Max-Age=0"),
    }
    cookie
}

fn clear_cookie(state: &AppState) -> String {
    cookie(state, "", None)
}

fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn token_response(state: &AppState, issued: IssuedTokens, transport: TokenTransport) -> Response {
    let IssuedTokens {
        mut response,
        refresh_token,
        session_expires_at,
    } = issued;
    match transport {
        TokenTransport::Body => {
            response.refresh_token = Some(refresh_token.to_string());
            let mut http = Json(response).into_response();
            http.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            http
        }
        TokenTransport::Cookie => {
            let mut http = Json(response).into_response();
            http.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            append_cookie(
                &mut http,
                &cookie(state, &refresh_token, Some(session_expires_at)),
            );
            http
        }
    }
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}
