//! The federation listener's endpoints. The version and the key document need no
//! authentication; every other endpoint is behind [`authenticate`], which checks the request
//! signature and hands the handler the authenticated [`Origin`].

use std::time::SystemTime;

use axum::{
    Extension, Json, Router,
    body::Body,
    extract::{DefaultBodyLimit, Path, Request, State},
    middleware::{self, Next},
    response::Response,
    routing::{get, post, put},
};
use http::{StatusCode, header};
use parley_client_api::ErrorCode;
use parley_federation::{
    ServerName,
    api::{
        CLAIM_KEYS_PATH, ClaimKeysRequest, ClaimKeysResponse, QUERY_KEYS_PATH, QUERY_USERS_PATH,
        QueryKeysRequest, QueryKeysResponse, QueryUsersRequest, QueryUsersResponse, ROOM_OP_PATH,
        RoomOpRequest, Transaction, TransactionResponse, VERSION_PATH,
    },
    keys::KEY_DOCUMENT_PATH,
};
use serde::Serialize;
use serde_json::Value;

use super::extract::ApiJson;
use crate::{
    error::AppError,
    federation::{Federation, inbound, refused, remote_keys},
    state::AppState,
};

/// The authenticated origin server of a request.
#[derive(Debug, Clone)]
pub struct Origin(pub ServerName);

#[derive(Serialize)]
struct Version {
    server_name: String,
    version: &'static str,
}

pub(super) fn router(state: &AppState) -> Router<AppState> {
    let authenticated = Router::new()
        .route(QUERY_KEYS_PATH, post(query_keys))
        .route(CLAIM_KEYS_PATH, post(claim_keys))
        .route("/_parley/federation/v1/send/{txn_id}", put(send))
        .route(QUERY_USERS_PATH, post(query_users))
        .route(ROOM_OP_PATH, post(room_op))
        // `authenticate` has read the body under its own cap already.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route(VERSION_PATH, get(version))
        .route(KEY_DOCUMENT_PATH, get(key_document))
        .merge(authenticated)
}

fn federation(state: &AppState) -> Result<&Federation, AppError> {
    state.federation.as_ref().ok_or(AppError::Unrecognized)
}

/// Reads the body (at most `federation.max_request_bytes`, else `413`), verifies the request
/// signature (`401`), the allow and deny lists (`403`) and the origin's rate (`429`), and puts
/// the [`Origin`] into the request's extensions.
async fn authenticate(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let federation = federation(&state)?;
    let limit = federation.config().max_request_bytes;
    let too_large = || {
        refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            "The request body is too large.",
        )
    };
    let (mut parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    // HTTP/2 carries the authority in the URI, HTTP/1.1 in `Host`.
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let origin = federation
        .authenticate(
            &state.db,
            &parts.method,
            &authority,
            &path_and_query,
            &parts.headers,
            &bytes,
        )
        .await?;
    parts.extensions.insert(Origin(origin));
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

/// `GET /_parley/federation/v1/version`.
async fn version(State(state): State<AppState>) -> Json<Version> {
    Json(Version {
        server_name: state.config.server_name.clone(),
        version: crate::VERSION,
    })
}

/// `GET /_parley/key/v1/server`: our signed key document.
async fn key_document(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    Ok(Json(federation(&state)?.key_document(SystemTime::now())?))
}

/// `POST /_parley/federation/v1/user/keys/query`.
async fn query_keys(
    State(state): State<AppState>,
    Extension(_origin): Extension<Origin>,
    ApiJson(request): ApiJson<QueryKeysRequest>,
) -> Result<Json<QueryKeysResponse>, AppError> {
    Ok(Json(remote_keys::answer_query(&state, request).await?))
}

/// `POST /_parley/federation/v1/user/keys/claim`.
async fn claim_keys(
    State(state): State<AppState>,
    Extension(_origin): Extension<Origin>,
    ApiJson(request): ApiJson<ClaimKeysRequest>,
) -> Result<Json<ClaimKeysResponse>, AppError> {
    Ok(Json(remote_keys::answer_claim(&state, request).await?))
}

/// `PUT /_parley/federation/v1/send/{txn_id}`.
async fn send(
    State(state): State<AppState>,
    Extension(Origin(origin)): Extension<Origin>,
    Path(txn_id): Path<String>,
    ApiJson(transaction): ApiJson<Transaction>,
) -> Result<Json<TransactionResponse>, AppError> {
    Ok(Json(
        inbound::receive(&state, &origin, &txn_id, &transaction).await?,
    ))
}

/// `POST /_parley/federation/v1/users/query`: which of these users of ours exist.
async fn query_users(
    State(state): State<AppState>,
    Extension(_origin): Extension<Origin>,
    ApiJson(request): ApiJson<QueryUsersRequest>,
) -> Result<Json<QueryUsersResponse>, AppError> {
    if request.user_ids.len() > 1000 {
        return Err(AppError::BadJson("Ask for at most 1000 users.".into()));
    }
    let users = sqlx::query_scalar!(
        "select user_id from account where user_id = any($1)
         and email_verified_at is not null and disabled_at is null",
        &request.user_ids
    )
    .fetch_all(&state.db)
    .await?;
    Ok(Json(QueryUsersResponse { users }))
}

/// `POST /_parley/federation/v1/rooms/op`: a change in one of our rooms asked by a member of
/// the origin server, checked as if they were ours.
async fn room_op(
    State(state): State<AppState>,
    Extension(Origin(origin)): Extension<Origin>,
    ApiJson(request): ApiJson<RoomOpRequest>,
) -> Result<Json<serde_json::Map<String, Value>>, AppError> {
    state.rooms.apply_remote_op(&origin, request).await?;
    Ok(Json(serde_json::Map::new()))
}
