//! The WebSocket at `/api/v1/ws`: live events, typing and receipts, and sends.
//!
//! Authentication happens at the upgrade: the client offers the subprotocols
//! [`PROTOCOL`] and `parley.token.<access token>`; the server answers with [`PROTOCOL`]. (No
//! token ever goes in the URL.) The client passes `?since=<stream_pos>`, the position of the
//! last event it has; the server first sends every event after it, then live ones, each with
//! its `stream_pos`, so a client resumes without gaps and can drop anything it already has.
//! Frames are JSON text, one object each, tagged by `type`.
//!
//! Key state rides on the same socket: after catch-up the server sends the device's waiting
//! to-device messages and its key counts, and a `device_lists` frame summing up the changes
//! since `since`; later ones arrive live. `stream_pos` of `event` and `device_lists` frames
//! share one sequence.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use std::collections::BTreeMap;

use crate::{keys::ToDeviceEvent, rooms::Event};

/// The WebSocket endpoint.
pub const PATH: &str = "/ws";
/// The subprotocol both sides speak.
pub const PROTOCOL: &str = "parley.v1";
/// The prefix of the subprotocol that carries the access token.
pub const TOKEN_PROTOCOL_PREFIX: &str = "parley.token.";
/// Close code: the client did not keep up and should reconnect with `since`.
pub const CLOSE_TOO_SLOW: u16 = 4008;
/// Close code: the session ended; sign in again.
pub const CLOSE_SESSION_ENDED: u16 = 4001;

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Catch-up is done: from here on, events arrive as they happen.
    Live {
        /// The newest stream position at the end of catch-up.
        stream_pos: i64,
    },
    /// An event of one of the user's rooms.
    Event {
        /// Its server-wide position (resume with `since` = the last one seen).
        stream_pos: i64,
        /// The event.
        event: Event,
    },
    /// Someone started or stopped typing.
    Typing {
        /// The room.
        room_id: String,
        /// Who.
        user_id: String,
        /// Started (true) or stopped (false); a start expires after 30 s without a refresh.
        typing: bool,
    },
    /// A member's delivery and read positions changed.
    Receipt {
        /// The room.
        room_id: String,
        /// Whose.
        user_id: String,
        /// The newest event one of their devices received.
        delivered_seq: i64,
        /// The newest event they read.
        read_seq: i64,
    },
    /// Someone who shares a room with the user came online or went offline.
    Presence {
        /// Who.
        user_id: String,
        /// Online now.
        online: bool,
        /// When they were last online, in milliseconds since the epoch.
        last_seen_at: i64,
    },
    /// The answer to a [`ClientFrame::Send`].
    Sent {
        /// The client's transaction id.
        txn_id: String,
        /// The stored event.
        event_id: String,
        /// Its seq in the room.
        seq: i64,
    },
    /// To-device messages waiting for this device, oldest first (at most 100 per frame). They
    /// are sent again on every connect until acknowledged with [`ClientFrame::ToDeviceAck`].
    ToDevice {
        /// The messages; `sender` is set by the server.
        events: Vec<ToDeviceEvent>,
    },
    /// Users whose device list or keys changed, or with whom the user no longer shares a
    /// room. In catch-up, one frame sums up everything since `since`.
    DeviceLists {
        /// Its server-wide position (resume with `since` = the last one seen).
        stream_pos: i64,
        /// Query these users' keys again.
        changed: Vec<String>,
        /// Stop tracking these users: no room is shared with them any more.
        left: Vec<String>,
    },
    /// This device's key stock: sent on connect and whenever it changes.
    KeyCounts {
        /// `{algorithm: count}` of unclaimed one-time keys (a missing algorithm means 0).
        one_time_key_counts: BTreeMap<String, i64>,
        /// Algorithms of fallback keys not handed out yet.
        unused_fallback_key_types: Vec<String>,
    },
    /// A client frame was refused.
    Error {
        /// The transaction id, for a refused send.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        txn_id: Option<String>,
        /// The stable code.
        errcode: crate::ErrorCode,
        /// A message for the user.
        error: String,
    },
}

/// What the client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Send an event (idempotent per `txn_id` and device, like the REST send).
    Send {
        /// The room.
        room_id: String,
        /// The event type.
        event_type: String,
        /// The transaction id.
        txn_id: String,
        /// The content.
        #[schema(value_type = Object)]
        content: serde_json::Value,
    },
    /// Typing started or stopped.
    Typing {
        /// The room.
        room_id: String,
        /// Started or stopped.
        typing: bool,
    },
    /// This device received the room's events up to `seq`.
    Delivered {
        /// The room.
        room_id: String,
        /// The newest event received.
        seq: i64,
    },
    /// The user read the room up to `seq`.
    Read {
        /// The room.
        room_id: String,
        /// The newest event read.
        seq: i64,
    },
    /// This device handled its to-device messages up to and including `up_to_id`: the server
    /// deletes them and sends the next ones.
    ToDeviceAck {
        /// The id of the last message handled.
        up_to_id: i64,
    },
}
