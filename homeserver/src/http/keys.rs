//! End-to-end encryption endpoints: devices, keys, cross-signing, signatures, to-device.

use std::collections::BTreeMap;

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    routing::{get, post, put},
};
use parley_client_api::{
    ErrorBody,
    keys::{
        self as api, AckToDeviceRequest, ClaimKeysRequest, ClaimKeysResponse, DeleteDeviceRequest,
        DeviceList, DeviceSigningUploadRequest, KeyCounts, PendingToDevice, QueryKeysRequest,
        QueryKeysResponse, RenameDeviceRequest, SendToDeviceRequest, SignaturesUploadResponse,
        UploadKeysRequest, UploadKeysResponse,
    },
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use super::extract::ApiJson;
use crate::{
    accounts::{AccountError, AuthUser},
    e2ee::KeyError,
    error::AppError,
    state::AppState,
};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(api::DEVICES, get(devices))
        .route(api::DEVICE, put(rename_device).delete(delete_device))
        .route(api::UPLOAD, post(upload))
        .route(api::QUERY, post(query))
        .route(api::CLAIM, post(claim))
        .route(api::COUNTS, get(counts))
        .route(api::DEVICE_SIGNING_UPLOAD, post(device_signing_upload))
        .route(api::SIGNATURES_UPLOAD, post(signatures_upload))
        // The literal paths first in meaning; axum prefers static segments anyway.
        .route(api::TO_DEVICE_PENDING, get(pending))
        .route(api::TO_DEVICE_ACK, post(ack))
        .route(api::SEND_TO_DEVICE, put(send_to_device))
}

/// The caller's devices.
#[utoipa::path(get, path = "/api/v1/devices", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = DeviceList)))]
pub(super) async fn devices(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<DeviceList>, AppError> {
    Ok(Json(state.e2ee.devices(&user).await?))
}

/// Rename one of the caller's devices.
#[utoipa::path(put, path = "/api/v1/devices/{device_id}", tag = "keys", security(("bearer" = [])),
    params(("device_id" = String, Path)), request_body = RenameDeviceRequest,
    responses((status = 200, body = Object, description = "`{}`"), (status = 404, body = ErrorBody)))]
pub(super) async fn rename_device(
    State(state): State<AppState>,
    user: AuthUser,
    Path(device_id): Path<String>,
    ApiJson(request): ApiJson<RenameDeviceRequest>,
) -> Result<Json<Value>, AppError> {
    state
        .e2ee
        .rename_device(&user, &device_id, request.display_name.as_deref())
        .await?;
    Ok(Json(json!({})))
}

/// Delete one of the caller's devices (password needed): its sessions end, its keys go.
#[utoipa::path(delete, path = "/api/v1/devices/{device_id}", tag = "keys", security(("bearer" = [])),
    params(("device_id" = String, Path)), request_body = DeleteDeviceRequest,
    responses((status = 200, body = Object, description = "`{}`"), (status = 403, body = ErrorBody, description = "wrong password"),
        (status = 404, body = ErrorBody)))]
pub(super) async fn delete_device(
    State(state): State<AppState>,
    user: AuthUser,
    Path(device_id): Path<String>,
    ApiJson(request): ApiJson<DeleteDeviceRequest>,
) -> Result<Json<Value>, AppError> {
    state
        .accounts
        .check_password(&user, &request.password)
        .await?;
    state.e2ee.delete_device(&user, &device_id).await?;
    // Its sessions ended: refuse them here at once (other processes drop them on the notice).
    state
        .accounts
        .live_sessions()
        .forget_account(user.account_id);
    Ok(Json(json!({})))
}

/// Upload the device's identity keys, one-time keys and fallback keys (each signed by the
/// device's ed25519 key).
#[utoipa::path(post, path = "/api/v1/keys/upload", tag = "keys", security(("bearer" = [])),
    request_body = UploadKeysRequest,
    responses((status = 200, body = UploadKeysResponse),
        (status = 400, body = ErrorBody, description = "`M_INVALID_SIGNATURE` or `M_INVALID_PARAM`"),
        (status = 403, body = ErrorBody, description = "keys of another user or device")))]
pub(super) async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<UploadKeysRequest>,
) -> Result<Json<UploadKeysResponse>, AppError> {
    Ok(Json(state.e2ee.upload(&user, &request).await?))
}

/// The device and cross-signing keys of users, asking other servers for theirs.
#[utoipa::path(post, path = "/api/v1/keys/query", tag = "keys", security(("bearer" = [])),
    request_body = QueryKeysRequest, responses((status = 200, body = QueryKeysResponse)))]
pub(super) async fn query(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<QueryKeysRequest>,
) -> Result<Json<QueryKeysResponse>, AppError> {
    Ok(Json(
        crate::federation::remote_keys::query(&state, &user, request).await?,
    ))
}

/// Claim one one-time key per device (the fallback key once they run out).
#[utoipa::path(post, path = "/api/v1/keys/claim", tag = "keys", security(("bearer" = [])),
    request_body = ClaimKeysRequest, responses((status = 200, body = ClaimKeysResponse)))]
pub(super) async fn claim(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiJson(request): ApiJson<ClaimKeysRequest>,
) -> Result<Json<ClaimKeysResponse>, AppError> {
    Ok(Json(
        crate::federation::remote_keys::claim(&state, request).await?,
    ))
}

/// The calling device's unclaimed one-time keys and unused fallback keys.
#[utoipa::path(get, path = "/api/v1/keys/counts", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = KeyCounts)))]
pub(super) async fn counts(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<KeyCounts>, AppError> {
    Ok(Json(state.e2ee.counts(&user).await?))
}

/// Upload cross-signing keys. Needs the password in `auth` unless the user has none yet and
/// the session is less than ten minutes old.
#[utoipa::path(post, path = "/api/v1/keys/device_signing/upload", tag = "keys",
    security(("bearer" = [])), request_body = DeviceSigningUploadRequest,
    responses((status = 200, body = Object, description = "`{}`"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "`M_FORBIDDEN`: the password is needed"),
        (status = 403, body = ErrorBody, description = "wrong password")))]
pub(super) async fn device_signing_upload(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<DeviceSigningUploadRequest>,
) -> Result<Json<Value>, AppError> {
    let password = request.auth.as_ref().and_then(|a| a.password.as_deref());
    match password {
        Some(password) => state.accounts.check_password(&user, password).await?,
        None if state.e2ee.cross_signing_needs_password(&user).await? => {
            return Err(AppError::Account(AccountError::Refused {
                status: 401,
                code: parley_client_api::ErrorCode::Forbidden,
                message: "Confirm with your password: send it as `auth.password`.".into(),
                retry_after: None,
            }));
        }
        None => {}
    }
    state.e2ee.upload_cross_signing(&user, &request).await?;
    Ok(Json(json!({})))
}

/// Add signatures to keys: `{user_id: {device_id or master key: signed object}}`.
#[utoipa::path(post, path = "/api/v1/keys/signatures/upload", tag = "keys",
    security(("bearer" = [])), request_body(content = Object, description = "`{user_id: {key_id: signed object}}`"),
    responses((status = 200, body = SignaturesUploadResponse)))]
pub(super) async fn signatures_upload(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<BTreeMap<String, BTreeMap<String, Value>>>,
) -> Result<Json<SignaturesUploadResponse>, AppError> {
    Ok(Json(state.e2ee.upload_signatures(&user, &request).await?))
}

/// Send to-device messages. The sender is the caller; a retry with the same `txn_id` is
/// stored once.
#[utoipa::path(put, path = "/api/v1/sendToDevice/{event_type}/{txn_id}", tag = "keys",
    security(("bearer" = [])), params(("event_type" = String, Path), ("txn_id" = String, Path)),
    request_body = SendToDeviceRequest,
    responses((status = 200, body = Object, description = "`{}`"), (status = 400, body = ErrorBody)))]
pub(super) async fn send_to_device(
    State(state): State<AppState>,
    user: AuthUser,
    Path((event_type, txn_id)): Path<(String, String)>,
    ApiJson(request): ApiJson<SendToDeviceRequest>,
) -> Result<Json<Value>, AppError> {
    state
        .e2ee
        .send_to_device(&user, &event_type, &txn_id, &request)
        .await?;
    Ok(Json(json!({})))
}

/// How many waiting messages to return.
#[derive(Debug, Deserialize, IntoParams)]
pub(super) struct PendingQuery {
    /// 1 to 1000 (default 100).
    limit: Option<i64>,
}

/// To-device messages waiting for the calling device, oldest first.
#[utoipa::path(get, path = "/api/v1/sendToDevice/pending", tag = "keys", security(("bearer" = [])),
    params(PendingQuery), responses((status = 200, body = PendingToDevice)))]
pub(super) async fn pending(
    State(state): State<AppState>,
    user: AuthUser,
    Query(query): Query<PendingQuery>,
) -> Result<Json<PendingToDevice>, AppError> {
    Ok(Json(
        state.e2ee.pending_to_device(&user, 0, query.limit).await?,
    ))
}

/// Delete the calling device's messages up to and including `up_to_id`.
#[utoipa::path(post, path = "/api/v1/sendToDevice/ack", tag = "keys", security(("bearer" = [])),
    request_body = AckToDeviceRequest, responses((status = 200, body = Object, description = "`{}`")))]
pub(super) async fn ack(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<AckToDeviceRequest>,
) -> Result<Json<Value>, AppError> {
    state.e2ee.ack_to_device(&user, request.up_to_id).await?;
    Ok(Json(json!({})))
}

impl From<KeyError> for AppError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Refused {
                status,
                code,
                message,
            } => AppError::Account(AccountError::Refused {
                status,
                code,
                message,
                retry_after: None,
            }),
            KeyError::Database(e) => AppError::Database(e),
        }
    }
}
