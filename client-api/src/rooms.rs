//! Rooms and their timelines: direct and group rooms, members and roles, events, history,
//! read markers.
//!
//! Every change to a room (creation, membership, roles, name, topic) is an event in its timeline,
//! so clients can show it and check it. Event types starting with `parley.room.` are made by the
//! server only; clients send messages (`parley.message`, and `m.room.encrypted` once end-to-end
//! encryption is on).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET` (list) and `POST` (create) `/api/v1/rooms`.
pub const ROOMS: &str = "/rooms";
/// `GET` and `PATCH /api/v1/rooms/{room_id}`.
pub const ROOM: &str = "/rooms/{room_id}";
/// `GET /api/v1/rooms/{room_id}/events`.
pub const EVENTS: &str = "/rooms/{room_id}/events";
/// `PUT /api/v1/rooms/{room_id}/send/{event_type}/{txn_id}`.
pub const SEND: &str = "/rooms/{room_id}/send/{event_type}/{txn_id}";
/// `POST /api/v1/rooms/{room_id}/members`.
pub const MEMBERS: &str = "/rooms/{room_id}/members";
/// `DELETE /api/v1/rooms/{room_id}/members/{user_id}` (remove, or leave when it is oneself).
pub const MEMBER: &str = "/rooms/{room_id}/members/{user_id}";
/// `PUT /api/v1/rooms/{room_id}/members/{user_id}/role`.
pub const MEMBER_ROLE: &str = "/rooms/{room_id}/members/{user_id}/role";
/// `POST /api/v1/rooms/{room_id}/read`.
pub const READ_MARKER: &str = "/rooms/{room_id}/read";

/// Event types the server writes.
pub mod event_type {
    /// The first event of every room: `{kind, creator, name?, topic?}`.
    pub const CREATE: &str = "parley.room.create";
    /// A membership or role change: `{user_id, membership, role, by}`.
    pub const MEMBER: &str = "parley.room.member";
    /// A new name: `{name}`.
    pub const NAME: &str = "parley.room.name";
    /// A new topic: `{topic}`.
    pub const TOPIC: &str = "parley.room.topic";
    /// A message (clients send it).
    pub const MESSAGE: &str = "parley.message";
    /// An end-to-end encrypted event (clients send it).
    pub const ENCRYPTED: &str = "m.room.encrypted";
}

/// The largest event content accepted, in bytes of JSON.
pub const MAX_CONTENT_BYTES: usize = 64 * 1024;

/// Direct (exactly two people, one room per pair) or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    /// Two people.
    Direct,
    /// A named group with roles.
    Group,
}

/// A member's role in a group. In direct rooms both people are members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads and sends.
    Member,
    /// Also adds and removes members, promotes and demotes, renames.
    Admin,
    /// Also promotes to owner; nobody but the owner removes or demotes an owner.
    Owner,
}

/// Creates a room. A direct room with someone who already shares one with the caller returns
/// that room.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoomRequest {
    /// Direct or group.
    pub kind: RoomKind,
    /// Direct: the other person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with: Option<String>,
    /// Group: its name, 1 to 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Group: its topic, up to 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Group: the first members besides the creator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

/// A member of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// `@user:server`.
    pub user_id: String,
    /// Their role.
    pub role: Role,
    /// The newest event one of their devices received (for the sender's "delivered" tick).
    pub delivered_seq: i64,
    /// The newest event they read (for the "read" tick).
    pub read_seq: i64,
    /// Whether they are online now.
    pub online: bool,
    /// When they were last online (milliseconds since the epoch), if ever.
    pub last_seen_at: Option<i64>,
}

/// One event of a room's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// `$opaque`.
    pub event_id: String,
    /// The room.
    pub room_id: String,
    /// Its position in the room's timeline: 1, 2, 3, ... without gaps.
    pub seq: i64,
    /// Who sent it.
    pub sender: String,
    /// The sending device, for events sent by a client.
    pub device_id: Option<String>,
    /// When the owning server accepted it, in milliseconds since the epoch.
    pub origin_server_ts: i64,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The content: for messages, whatever the client sent (ciphertext once encrypted).
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
}

/// A room as the list shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoomSummary {
    /// `!opaque:server`.
    pub room_id: String,
    /// Direct or group.
    pub kind: RoomKind,
    /// Group name.
    pub name: Option<String>,
    /// Group topic.
    pub topic: Option<String>,
    /// Current members.
    pub members: Vec<Member>,
    /// The caller's role.
    pub my_role: Role,
    /// The newest event.
    pub last_event: Option<Event>,
    /// Messages from others after the caller's read marker (room changes do not count).
    pub unread_count: i64,
    /// The caller's read marker.
    pub read_seq: i64,
}

/// The caller's rooms, most recently active first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoomList {
    /// The rooms.
    pub rooms: Vec<RoomSummary>,
}

/// A page of history, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct History {
    /// The events.
    pub events: Vec<Event>,
    /// Pass as `before` for the next older page; absent at the start of the room.
    pub next_before: Option<i64>,
    /// On the newest page (no `before`): this device's sends waiting for the room's server
    /// (another server's room that has not confirmed them yet), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingEvent>,
}

/// A send of this device queued for the room's server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PendingEvent {
    /// The transaction id it was sent with.
    pub txn_id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The content as sent.
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
    /// When it was queued, in milliseconds since the epoch.
    pub queued_at: i64,
}

/// What a send was stored as (the same answer for a retry with the same transaction id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SendResponse {
    /// The event.
    pub event_id: String,
    /// Its position in the room.
    pub seq: i64,
}

/// A send into a room of another server that its server has not confirmed yet (`202`): it is
/// queued on ours and goes through in order when the room's server answers. The device then
/// gets a `sent` frame (or an `error` frame if the room's server refused it); a retry with the
/// same transaction id answers `202` again until then, and `200` after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PendingSendResponse {
    /// Always true.
    pub pending: bool,
    /// The client's transaction id.
    pub txn_id: String,
}

/// Adds someone to a group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// `@user:server`.
    pub user_id: String,
    /// Their role (member unless given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// Changes a member's role.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoleRequest {
    /// The new role.
    pub role: Role,
}

/// Renames a group or changes its topic.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoomRequest {
    /// New name, 1 to 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New topic, up to 1024 characters (empty removes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// Moves the caller's read marker forward.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadMarkerRequest {
    /// The newest event read.
    pub seq: i64,
}
