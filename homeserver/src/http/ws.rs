//! `GET /api/v1/ws`: the WebSocket (see `parley_client_api::ws`).

use std::time::Duration;

use axum::{
    extract::{
        Query, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket},
    },
    http::HeaderMap,
    response::Response,
};
use parley_client_api::{
    ErrorCode,
    ws::{
        CLOSE_SESSION_ENDED, CLOSE_TOO_SLOW, ClientFrame, PROTOCOL, ServerFrame,
        TOKEN_PROTOCOL_PREFIX,
    },
};
use serde::Deserialize;

use crate::{
    accounts::AuthUser,
    e2ee::KeyError,
    error::AppError,
    realtime::{self, CloseReason, Delivery, Registration},
    rooms::{RoomError, SendOutcome},
    state::AppState,
};

/// Ping this often; a connection that sends nothing (not even a pong) for [`IDLE_TIMEOUT`] is
/// closed.
const PING_EVERY: Duration = Duration::from_secs(20);
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a live connection re-checks that its session still exists.
const SESSION_CHECK_EVERY: Duration = Duration::from_secs(30);
/// To-device messages per frame.
const TO_DEVICE_PAGE: i64 = 100;
/// Catch-up reads this many events at a time.
const CATCH_UP_PAGE: i64 = 500;
/// The largest frame a client may send (an event's content plus its envelope).
const MAX_CLIENT_FRAME: usize = parley_client_api::rooms::MAX_CONTENT_BYTES + 4096;
const CLOSE_RESYNC: u16 = 4009;
/// A write that does not complete in this time means the client stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends a text frame; false when the client is gone or stopped reading.
async fn send_text(socket: &mut WebSocket, text: &str) -> bool {
    matches!(
        tokio::time::timeout(
            WRITE_TIMEOUT,
            socket.send(Message::Text(Utf8Bytes::from(text)))
        )
        .await,
        Ok(Ok(()))
    )
}

/// Where to resume.
#[derive(Debug, Deserialize)]
pub(super) struct Resume {
    /// The stream position of the last event the client has; absent: only new events.
    since: Option<i64>,
}

/// `GET /api/v1/ws`.
pub(super) async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(resume): Query<Resume>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, AppError> {
    check_origin(&state, &headers)?;
    let offered: Vec<&str> = headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if !offered.contains(&PROTOCOL) {
        return Err(AppError::BadJson(format!(
            "Offer the `{PROTOCOL}` subprotocol."
        )));
    }
    let token = offered
        .iter()
        .find_map(|p| p.strip_prefix(TOKEN_PROTOCOL_PREFIX))
        .ok_or(AppError::MissingToken)?;
    let user = state.accounts.authenticate(token).await?;
    let since = match resume.since {
        Some(since) => since.max(0),
        None => state.rooms.stream_position().await?,
    };
    Ok(upgrade
        .protocols([PROTOCOL])
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        // Small buffers keep an idle connection cheap; the write cap bounds a stalled one.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(256 * 1024)
        .on_upgrade(move |socket| serve(state, user, since, socket)))
}

/// Browsers send `Origin`; it must be this server's own (or configured) origin. Non-browser
/// clients send none.
fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    let own = state.config.public_base_url.origin().ascii_serialization();
    let allowed = origin == own
        || state
            .config
            .client
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/') == origin);
    if allowed {
        Ok(())
    } else {
        Err(AppError::Account(crate::accounts::AccountError::Refused {
            status: 403,
            code: ErrorCode::Forbidden,
            message: "This origin may not open a WebSocket here.".into(),
            retry_after: None,
        }))
    }
}

async fn serve(state: AppState, user: AuthUser, since: i64, mut socket: WebSocket) {
    let mut registration = state.realtime.register(&user.user_id, &user.device_id);
    state.metrics.websockets_open.inc();
    let presence = state.presence.connected(&user.user_id).await;
    let end = run(&state, &user, since, &mut socket, &mut registration).await;
    if let Ok(connection_id) = presence {
        state.presence.disconnected(&user.user_id, connection_id);
    }
    state.metrics.websockets_open.dec();
    let (code, reason) = match end {
        End::ClientGone => return,
        End::Closed(code, reason) => (code, reason),
    };
    let close = socket.send(Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    })));
    let _ = tokio::time::timeout(WRITE_TIMEOUT, close).await;
}

enum End {
    ClientGone,
    Closed(u16, &'static str),
}

async fn run(
    state: &AppState,
    user: &AuthUser,
    since: i64,
    socket: &mut WebSocket,
    registration: &mut Registration,
) -> End {
    // Catch up first; live frames queue meanwhile and are filtered by position below.
    let start = since;
    let mut last_sent = since;
    loop {
        // Everything up to the committed position is visible (positions are taken under a row
        // lock held until commit), so reading up to it misses nothing that arrives live later.
        let page = match state.rooms.stream_position().await {
            Ok(up_to) => state
                .rooms
                .events_since(&user.user_id, last_sent, up_to, CATCH_UP_PAGE)
                .await
                .map(|page| (up_to, page)),
            Err(e) => Err(e),
        };
        let (up_to, page) = match page {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "catch-up failed");
                return End::Closed(1011, "try again");
            }
        };
        let full = page.len() as i64 == CATCH_UP_PAGE;
        for (stream_pos, event) in page {
            let Some(out) =
                realtime::serialise(&ServerFrame::Event { stream_pos, event }, Some(stream_pos))
            else {
                continue;
            };
            if !send_text(socket, &out.text).await {
                return End::ClientGone;
            }
            last_sent = stream_pos;
        }
        if !full {
            last_sent = last_sent.max(up_to);
            break;
        }
    }
    let mut to_device = ToDeviceCursor::default();
    if let Err(end) = catch_up_keys(state, user, start, last_sent, socket, &mut to_device).await {
        return end;
    }
    if let Some(out) = realtime::serialise(
        &ServerFrame::Live {
            stream_pos: last_sent,
        },
        None,
    ) && !send_text(socket, &out.text).await
    {
        return End::ClientGone;
    }

    let mut ping = tokio::time::interval(PING_EVERY);
    let mut session_check = tokio::time::interval(SESSION_CHECK_EVERY);
    let mut last_heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = registration.closed.cancelled() => {
                return match registration.reason() {
                    Some(CloseReason::Resync) => End::Closed(CLOSE_RESYNC, "resume"),
                    _ => End::Closed(CLOSE_TOO_SLOW, "too slow: resume"),
                };
            }
            delivery = registration.frames.recv() => {
                let frame = match delivery {
                    None => return End::Closed(1011, "resume"),
                    Some(Delivery::Frame(frame)) => frame,
                    Some(Delivery::ToDeviceWaiting) => {
                        if let Err(end) = to_device.send_next(state, user, socket).await {
                            return end;
                        }
                        continue;
                    }
                    Some(Delivery::KeyCountsChanged) => {
                        if let Err(end) = send_key_counts(state, user, socket).await {
                            return end;
                        }
                        continue;
                    }
                };
                if frame.stream_pos.is_some_and(|pos| pos <= last_sent) {
                    continue;
                }
                if let Some(pos) = frame.stream_pos {
                    last_sent = pos;
                }
                if !send_text(socket, &frame.text).await {
                    return End::ClientGone;
                }
            }
            message = socket.recv() => {
                last_heard = tokio::time::Instant::now();
                match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Ok(ClientFrame::ToDeviceAck { up_to_id }) =
                            serde_json::from_str::<ClientFrame>(text.as_str())
                        {
                            if let Err(end) = to_device.ack(state, user, up_to_id, socket).await {
                                return end;
                            }
                            continue;
                        }
                        let reply = handle(state, user, text.as_str()).await;
                        if let Some(out) = reply.and_then(|r| realtime::serialise(&r, None))
                            && !send_text(socket, &out.text).await
                        {
                            return End::ClientGone;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => return End::Closed(1003, "text frames only"),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return End::ClientGone,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > IDLE_TIMEOUT {
                    return End::Closed(1001, "idle");
                }
                let ping = tokio::time::timeout(WRITE_TIMEOUT, socket.send(Message::Ping(Default::default())));
                if !matches!(ping.await, Ok(Ok(()))) {
                    return End::ClientGone;
                }
            }
            _ = session_check.tick() => {
                if !state.accounts.session_live(user.session_id).await.unwrap_or(true) {
                    return End::Closed(CLOSE_SESSION_ENDED, "session ended");
                }
            }
        }
    }
}

/// Sends the key state after catch-up: the device-list changes in `(start, up_to]` summed up,
/// the device's waiting to-device messages, and its key counts.
async fn catch_up_keys(
    state: &AppState,
    user: &AuthUser,
    start: i64,
    up_to: i64,
    socket: &mut WebSocket,
    to_device: &mut ToDeviceCursor,
) -> Result<(), End> {
    if up_to > start {
        let delta = state
            .e2ee
            .device_lists_between(&user.user_id, start, up_to)
            .await
            .map_err(key_failure)?;
        if !delta.is_empty() {
            let frame = ServerFrame::DeviceLists {
                stream_pos: up_to,
                changed: delta.changed.into_iter().collect(),
                left: delta.left.into_iter().collect(),
            };
            send_frame(socket, &frame).await?;
        }
    }
    to_device.send_next(state, user, socket).await?;
    send_key_counts(state, user, socket).await
}

fn key_failure(e: KeyError) -> End {
    tracing::warn!(error = %e, "key state for the websocket failed");
    End::Closed(1011, "try again")
}

async fn send_frame(socket: &mut WebSocket, frame: &ServerFrame) -> Result<(), End> {
    match realtime::serialise(frame, None) {
        Some(out) if !send_text(socket, &out.text).await => Err(End::ClientGone),
        _ => Ok(()),
    }
}

async fn send_key_counts(
    state: &AppState,
    user: &AuthUser,
    socket: &mut WebSocket,
) -> Result<(), End> {
    let counts = state.e2ee.counts(user).await.map_err(key_failure)?;
    send_frame(
        socket,
        &ServerFrame::KeyCounts {
            one_time_key_counts: counts.one_time_key_counts,
            unused_fallback_key_types: counts.unused_fallback_key_types,
        },
    )
    .await
}

/// The to-device messages sent on this connection so far; each id goes out once per
/// connection, and again on the next connection until acknowledged.
#[derive(Default)]
struct ToDeviceCursor {
    sent_up_to: i64,
}

impl ToDeviceCursor {
    /// Sends the next page of waiting messages, if any.
    async fn send_next(
        &mut self,
        state: &AppState,
        user: &AuthUser,
        socket: &mut WebSocket,
    ) -> Result<(), End> {
        let pending = state
            .e2ee
            .pending_to_device(user, self.sent_up_to, Some(TO_DEVICE_PAGE))
            .await
            .map_err(key_failure)?;
        let Some(last) = pending.events.last().map(|e| e.id) else {
            return Ok(());
        };
        send_frame(
            socket,
            &ServerFrame::ToDevice {
                events: pending.events,
            },
        )
        .await?;
        self.sent_up_to = last;
        Ok(())
    }

    /// Deletes what the device handled, then sends what else waits.
    async fn ack(
        &mut self,
        state: &AppState,
        user: &AuthUser,
        up_to_id: i64,
        socket: &mut WebSocket,
    ) -> Result<(), End> {
        state
            .e2ee
            .ack_to_device(user, up_to_id)
            .await
            .map_err(key_failure)?;
        self.send_next(state, user, socket).await
    }
}

/// Handles one client frame; returns the reply, if any.
async fn handle(state: &AppState, user: &AuthUser, text: &str) -> Option<ServerFrame> {
    let frame: ClientFrame = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(e) => {
            return Some(ServerFrame::Error {
                txn_id: None,
                errcode: ErrorCode::BadJson,
                error: format!("Not a client frame: {e}"),
            });
        }
    };
    let refused = |txn_id: Option<String>, e: RoomError| {
        let (errcode, error) = match e {
            RoomError::Refused { code, message, .. } => (code, message),
            RoomError::Database(e) => {
                tracing::error!(error = %e, "websocket frame failed");
                (ErrorCode::Unknown, "Internal server error.".to_owned())
            }
            RoomError::Batch(e) => {
                tracing::error!(error = %e, "websocket send failed");
                (ErrorCode::Unknown, "Internal server error.".to_owned())
            }
        };
        Some(ServerFrame::Error {
            txn_id,
            errcode,
            error,
        })
    };
    match frame {
        ClientFrame::Send {
            room_id,
            event_type,
            txn_id,
            content,
        } => {
            match state
                .rooms
                .send(user, &room_id, &event_type, &txn_id, content)
                .await
            {
                Ok(SendOutcome::Stored(sent)) => Some(ServerFrame::Sent {
                    txn_id,
                    event_id: sent.event_id,
                    seq: sent.seq,
                }),
                // The `sent` frame follows when the room's server has stored it.
                Ok(SendOutcome::Pending) => None,
                Err(e) => refused(Some(txn_id), e),
            }
        }
        ClientFrame::Typing { room_id, typing } => state
            .rooms
            .typing(user, &room_id, typing)
            .await
            .err()
            .and_then(|e| refused(None, e)),
        ClientFrame::Delivered { room_id, seq } => state
            .rooms
            .mark(user, &room_id, seq, false)
            .await
            .err()
            .and_then(|e| refused(None, e)),
        ClientFrame::Read { room_id, seq } => state
            .rooms
            .mark(user, &room_id, seq, true)
            .await
            .err()
            .and_then(|e| refused(None, e)),
        // Handled by the connection, which keeps the to-device cursor.
        ClientFrame::ToDeviceAck { .. } => None,
    }
}
