//! Room endpoints: create, list, details, history, send, members and roles, read markers.

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
    routing::{delete, get, post, put},
};
use http::StatusCode;
use parley_client_api::{
    ErrorBody,
    rooms::{
        self as api, AddMemberRequest, CreateRoomRequest, History, PendingSendResponse,
        ReadMarkerRequest, RoomKind, RoomList, RoomSummary, SendResponse, SetRoleRequest,
        UpdateRoomRequest,
    },
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::ApiJson;
use crate::{
    accounts::AuthUser,
    error::AppError,
    rooms::{RoomError, SendOutcome},
    state::AppState,
};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(api::ROOMS, get(list_rooms).post(create_room))
        .route(api::ROOM, get(room).patch(update_room))
        .route(api::EVENTS, get(history))
        .route(api::SEND, put(send))
        .route(api::MEMBERS, post(add_member))
        .route(api::MEMBER, delete(remove_member))
        .route(api::MEMBER_ROLE, put(set_role))
        .route(api::READ_MARKER, post(mark_read))
}

/// Create a group, or open the direct room with someone (made on first use).
#[utoipa::path(post, path = "/api/v1/rooms", tag = "rooms", request_body = CreateRoomRequest,
    security(("bearer" = [])),
    responses((status = 201, body = RoomSummary, description = "created"),
        (status = 200, body = RoomSummary, description = "the existing direct room"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such user")))]
pub(super) async fn create_room(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<CreateRoomRequest>,
) -> Result<(StatusCode, Json<RoomSummary>), AppError> {
    let (room_id, created) = match request.kind {
        RoomKind::Direct => {
            let with = request.with.as_deref().ok_or_else(|| {
                AppError::BadJson("A direct room needs `with`: the other person's user id.".into())
            })?;
            state.rooms.direct(&user, with).await?
        }
        RoomKind::Group => {
            let name = request
                .name
                .as_deref()
                .ok_or_else(|| AppError::BadJson("A group needs a `name`.".into()))?;
            let id = state
                .rooms
                .create_group(&user, name, request.topic.as_deref(), &request.members)
                .await?;
            (id, true)
        }
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(state.rooms.summary(&user, &room_id).await?)))
}

/// The caller's rooms, most recently active first, with last event and unread count.
#[utoipa::path(get, path = "/api/v1/rooms", tag = "rooms", security(("bearer" = [])),
    responses((status = 200, body = RoomList)))]
pub(super) async fn list_rooms(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<RoomList>, AppError> {
    Ok(Json(state.rooms.list(&user).await?))
}

/// One of the caller's rooms.
#[utoipa::path(get, path = "/api/v1/rooms/{room_id}", tag = "rooms", security(("bearer" = [])),
    params(("room_id" = String, Path)),
    responses((status = 200, body = RoomSummary), (status = 404, body = ErrorBody)))]
pub(super) async fn room(
    State(state): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
) -> Result<Json<RoomSummary>, AppError> {
    Ok(Json(state.rooms.summary(&user, &room_id).await?))
}

/// Rename a group or change its topic (admins and owners).
#[utoipa::path(patch, path = "/api/v1/rooms/{room_id}", tag = "rooms", security(("bearer" = [])),
    params(("room_id" = String, Path)), request_body = UpdateRoomRequest,
    responses((status = 200, body = RoomSummary), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn update_room(
    State(state): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(request): ApiJson<UpdateRoomRequest>,
) -> Result<Json<RoomSummary>, AppError> {
    state
        .rooms
        .update(
            &user,
            &room_id,
            request.name.as_deref(),
            request.topic.as_deref(),
        )
        .await?;
    Ok(Json(state.rooms.summary(&user, &room_id).await?))
}

/// Paging through history.
#[derive(Debug, Deserialize, IntoParams)]
pub(super) struct HistoryQuery {
    /// Only events with a smaller seq (the page before it); absent for the newest.
    before: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<i64>,
}

/// History, paginated backwards by seq (members only).
#[utoipa::path(get, path = "/api/v1/rooms/{room_id}/events", tag = "rooms", security(("bearer" = [])),
    params(("room_id" = String, Path), HistoryQuery),
    responses((status = 200, body = History), (status = 404, body = ErrorBody)))]
pub(super) async fn history(
    State(state): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<History>, AppError> {
    Ok(Json(
        state
            .rooms
            .history(&user, &room_id, query.before, query.limit)
            .await?,
    ))
}

/// Send an event. A retry with the same `txn_id` from the same device returns the first event.
#[utoipa::path(put, path = "/api/v1/rooms/{room_id}/send/{event_type}/{txn_id}", tag = "rooms",
    security(("bearer" = [])),
    params(("room_id" = String, Path), ("event_type" = String, Path), ("txn_id" = String, Path)),
    request_body(content = Object, description = "the event content (at most 64 KiB of JSON)"),
    responses((status = 200, body = SendResponse),
        (status = 202, body = PendingSendResponse, description = "queued for the room's server"),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub(super) async fn send(
    State(state): State<AppState>,
    user: AuthUser,
    Path((room_id, event_type, txn_id)): Path<(String, String, String)>,
    ApiJson(content): ApiJson<serde_json::Value>,
) -> Result<Response, AppError> {
    let outcome = state
        .rooms
        .send(&user, &room_id, &event_type, &txn_id, content)
        .await?;
    Ok(match outcome {
        SendOutcome::Stored(sent) => Json(sent).into_response(),
        SendOutcome::Pending => (
            StatusCode::ACCEPTED,
            Json(PendingSendResponse {
                pending: true,
                txn_id,
            }),
        )
            .into_response(),
    })
}

/// Add someone to a group (admins and owners).
#[utoipa::path(post, path = "/api/v1/rooms/{room_id}/members", tag = "rooms", security(("bearer" = [])),
    params(("room_id" = String, Path)), request_body = AddMemberRequest,
    responses((status = 200, body = RoomSummary), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn add_member(
    State(state): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(request): ApiJson<AddMemberRequest>,
) -> Result<Json<RoomSummary>, AppError> {
    let role = request.role.unwrap_or(api::Role::Member);
    state
        .rooms
        .add_member(&user, &room_id, &request.user_id, role)
        .await?;
    Ok(Json(state.rooms.summary(&user, &room_id).await?))
}

/// Remove a member (admins and owners), or leave (oneself).
#[utoipa::path(delete, path = "/api/v1/rooms/{room_id}/members/{user_id}", tag = "rooms",
    security(("bearer" = [])), params(("room_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn remove_member(
    State(state): State<AppState>,
    user: AuthUser,
    Path((room_id, target)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    state.rooms.remove_member(&user, &room_id, &target).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change a member's role.
#[utoipa::path(put, path = "/api/v1/rooms/{room_id}/members/{user_id}/role", tag = "rooms",
    security(("bearer" = [])), params(("room_id" = String, Path), ("user_id" = String, Path)),
    request_body = SetRoleRequest,
    responses((status = 200, body = RoomSummary), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn set_role(
    State(state): State<AppState>,
    user: AuthUser,
    Path((room_id, target)): Path<(String, String)>,
    ApiJson(request): ApiJson<SetRoleRequest>,
) -> Result<Json<RoomSummary>, AppError> {
    state
        .rooms
        .set_role(&user, &room_id, &target, request.role)
        .await?;
    Ok(Json(state.rooms.summary(&user, &room_id).await?))
}

/// Move the caller's read marker forward.
#[utoipa::path(post, path = "/api/v1/rooms/{room_id}/read", tag = "rooms", security(("bearer" = [])),
    params(("room_id" = String, Path)), request_body = ReadMarkerRequest,
    responses((status = 200, body = ReadMarkerRequest), (status = 404, body = ErrorBody)))]
pub(super) async fn mark_read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(request): ApiJson<ReadMarkerRequest>,
) -> Result<Json<ReadMarkerRequest>, AppError> {
    let (_, seq) = state.rooms.mark(&user, &room_id, request.seq, true).await?;
    Ok(Json(ReadMarkerRequest { seq }))
}

impl From<RoomError> for AppError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::Refused {
                status,
                code,
                message,
            } => AppError::Account(crate::accounts::AccountError::Refused {
                status,
                code,
                message,
                retry_after: None,
            }),
            RoomError::Database(e) => AppError::Database(e),
            RoomError::Batch(e) => AppError::Internal(e),
        }
    }
}
