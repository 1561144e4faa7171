//! The federation endpoints: their paths and the request and response bodies.
//!
//! Every endpoint here needs a request signature (see [`crate::signature`]); only the key
//! document and the version endpoint do not. Bodies are JSON; unknown members are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::ServerName;

/// `GET`: the server's name and software version, unauthenticated.
pub const VERSION_PATH: &str = "/_parley/federation/v1/version";

/// `POST`: device and cross-signing keys of the receiver's users ([`QueryKeysRequest`]).
pub const QUERY_KEYS_PATH: &str = "/_parley/federation/v1/user/keys/query";

/// `POST`: one one-time key per device of the receiver's users ([`ClaimKeysRequest`]).
pub const CLAIM_KEYS_PATH: &str = "/_parley/federation/v1/user/keys/claim";

/// The prefix of `PUT /_parley/federation/v1/send/{txn_id}` ([`Transaction`]).
pub const SEND_PATH_PREFIX: &str = "/_parley/federation/v1/send/";

/// The path that sends transaction `txn_id`. Transaction ids are `A-Z a-z 0-9 . _ -` only
/// (see [`is_txn_id`]), so they need no escaping.
pub fn send_path(txn_id: &str) -> String {
    format!("{SEND_PATH_PREFIX}{txn_id}")
}

/// Whether `text` is a valid transaction id: 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
pub fn is_txn_id(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The most EDUs in one transaction.
pub const MAX_EDUS_PER_TRANSACTION: usize = 100;

/// The EDU type of a to-device message.
pub const EDU_DIRECT_TO_DEVICE: &str = "m.direct_to_device";

/// `POST`: which of the listed users exist on the receiver ([`QueryUsersRequest`]).
pub const QUERY_USERS_PATH: &str = "/_parley/federation/v1/users/query";

/// `POST`: a membership, role, name or topic change in a room the receiver owns, asked by a
/// member of the sender ([`RoomOpRequest`]). Answered `200 {}` once applied, or with an error.
pub const ROOM_OP_PATH: &str = "/_parley/federation/v1/rooms/op";

/// The EDU type of an event of a room, sent by the room's owner to every server with members
/// ([`RoomEvent`]).
pub const EDU_ROOM_EVENT: &str = "parley.room.event";

/// The EDU type of a member's send, from the member's server to the room's owner
/// ([`RoomSend`]).
pub const EDU_ROOM_SEND: &str = "parley.room.send";

/// The EDU type of a typing notice ([`Typing`]).
pub const EDU_TYPING: &str = "parley.typing";

/// The EDU type of a member's delivery and read positions ([`Receipt`]).
pub const EDU_RECEIPT: &str = "parley.receipt";

/// The EDU type of a user's presence ([`Presence`]).
pub const EDU_PRESENCE: &str = "parley.presence";

/// The EDU type that says a user's devices or cross-signing keys changed
/// ([`DeviceListUpdate`]).
pub const EDU_DEVICE_LIST_UPDATE: &str = "parley.device_list_update";

/// `POST /_parley/federation/v1/users/query`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueryUsersRequest {
    /// User ids of the receiver's (others are ignored), at most 1000.
    pub user_ids: Vec<String>,
}

/// The answer to [`QueryUsersRequest`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueryUsersResponse {
    /// The ones that exist and can be added to rooms.
    pub users: Vec<String>,
}

/// A role in a room, as in the client API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomRole {
    /// Reads and sends.
    Member,
    /// Also manages members, name and topic.
    Admin,
    /// Also makes owners.
    Owner,
}

/// `POST /_parley/federation/v1/rooms/op`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomOpRequest {
    /// A room of the receiver's.
    pub room_id: String,
    /// Who asks: a user of the sending server and a member of the room.
    pub sender: String,
    /// What they ask for.
    pub op: RoomOp,
}

/// A change asked of a room's owner, checked there as if the sender were local.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RoomOp {
    /// Add `user_id` to a group with `role`.
    Add {
        /// Whom.
        user_id: String,
        /// With which role.
        role: RoomRole,
    },
    /// Remove `user_id` (oneself: leave).
    Remove {
        /// Whom.
        user_id: String,
    },
    /// Change `user_id`'s role.
    SetRole {
        /// Whom.
        user_id: String,
        /// The new role.
        role: RoomRole,
    },
    /// Rename a group or change its topic (an empty topic clears it).
    Update {
        /// The new name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The new topic.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
    },
    /// Join a direct room one is a party of again.
    RejoinDirect,
}

/// An event of a room as its owner stored it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomEventData {
    /// `$opaque`.
    pub event_id: String,
    /// The room's sequence number of the event.
    pub seq: i64,
    /// Who sent it.
    pub sender: String,
    /// The sending device, for client events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The sender's transaction id: sent to the sender's server only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn_id: Option<String>,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The content (ciphertext for messages), as stored.
    pub content: Box<RawValue>,
    /// When the owner stored it, in milliseconds since the Unix epoch.
    pub origin_server_ts: i64,
}

/// A member in a [`RoomSnapshot`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomMemberState {
    /// The member.
    pub user_id: String,
    /// Their role.
    pub role: RoomRole,
}

/// A room's state as of an event: sent with the first event a server receives of a room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomSnapshot {
    /// `direct` or `group`.
    pub kind: String,
    /// Who created it.
    pub creator: String,
    /// The group's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The group's topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Every member after the event.
    pub members: Vec<RoomMemberState>,
    /// A direct room's two parties (whether or not both are members now).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub direct_pair: Vec<String>,
}

/// The content of an [`EDU_ROOM_EVENT`] EDU. Only the room's owner sends it; a receiver keeps a
/// replica of the room's timeline for its users and applies each seq once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomEvent {
    /// The room (its server is the sender).
    pub room_id: String,
    /// The room's state, when this is the first event the receiver gets of the room (it has
    /// just gained a member there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<RoomSnapshot>,
    /// The event.
    pub event: RoomEventData,
}

/// The content of an [`EDU_ROOM_SEND`] EDU: a member's event for the owner to order and store.
/// The owner answers a retry (same sender, device and transaction id) with the first event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomSend {
    /// A room of the receiver's.
    pub room_id: String,
    /// A user of the sending server.
    pub sender: String,
    /// Their device.
    pub device_id: String,
    /// Their transaction id.
    pub txn_id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The content.
    pub content: Box<RawValue>,
}

/// The content of an [`EDU_TYPING`] EDU.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Typing {
    /// The room.
    pub room_id: String,
    /// A user of the sending server.
    pub user_id: String,
    /// Started or stopped.
    pub typing: bool,
}

/// The content of an [`EDU_RECEIPT`] EDU.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Receipt {
    /// The room.
    pub room_id: String,
    /// A user of the sending server.
    pub user_id: String,
    /// The newest event one of their devices received.
    pub delivered_seq: i64,
    /// The newest event they read.
    pub read_seq: i64,
}

/// The content of an [`EDU_PRESENCE`] EDU.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Presence {
    /// A user of the sending server.
    pub user_id: String,
    /// Online now.
    pub online: bool,
    /// When they were last seen online, in milliseconds since the Unix epoch.
    pub last_seen_ts: i64,
}

/// The content of an [`EDU_DEVICE_LIST_UPDATE`] EDU: query this user's keys again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceListUpdate {
    /// A user of the sending server.
    pub user_id: String,
}

/// `POST /_parley/federation/v1/user/keys/query`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueryKeysRequest {
    /// `{user_id: [device_id, ...]}`; an empty list means every device. Users of other servers
    /// than the receiver are ignored.
    pub device_keys: BTreeMap<String, Vec<String>>,
}

/// The answer to [`QueryKeysRequest`]. The user-signing key is never sent over federation.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct QueryKeysResponse {
    /// `{user_id: {device_id: device keys}}`, as the device uploaded them plus signatures by
    /// their owner.
    #[serde(default)]
    pub device_keys: BTreeMap<String, BTreeMap<String, Box<RawValue>>>,
    /// `{user_id: master key}`.
    #[serde(default)]
    pub master_keys: BTreeMap<String, Box<RawValue>>,
    /// `{user_id: self-signing key}`.
    #[serde(default)]
    pub self_signing_keys: BTreeMap<String, Box<RawValue>>,
}

/// `POST /_parley/federation/v1/user/keys/claim`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClaimKeysRequest {
    /// `{user_id: {device_id: algorithm}}`.
    pub one_time_keys: BTreeMap<String, BTreeMap<String, String>>,
}

/// The answer to [`ClaimKeysRequest`].
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ClaimKeysResponse {
    /// `{user_id: {device_id: {"<algorithm>:<key id>": key}}}`.
    #[serde(default)]
    pub one_time_keys: BTreeMap<String, BTreeMap<String, BTreeMap<String, Box<RawValue>>>>,
}

/// `PUT /_parley/federation/v1/send/{txn_id}`: a batch of EDUs from one origin.
///
/// The sender numbers its transactions per destination and sends them one at a time; a retry
/// carries the same id and the same EDUs. The receiver applies a transaction at most once per
/// `(origin, txn_id)` and answers a repeat with its first answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transaction {
    /// The sending server; must be the server that signed the request.
    pub origin: ServerName,
    /// When the sender made the transaction, in milliseconds since the Unix epoch.
    pub origin_server_ts: u64,
    /// The EDUs, at most [`MAX_EDUS_PER_TRANSACTION`], applied in order.
    pub edus: Vec<Edu>,
}

/// An ephemeral data unit: something that is delivered, not stored in a room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Edu {
    /// The kind, e.g. [`EDU_DIRECT_TO_DEVICE`]. Unknown kinds are ignored (and reported).
    pub edu_type: String,
    /// The content, whose shape depends on the kind.
    pub content: Box<RawValue>,
}

/// The content of an [`EDU_DIRECT_TO_DEVICE`] EDU: one message to some devices of the
/// receiver's users.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectToDevice {
    /// The sending user; must be a user of the origin server.
    pub sender: String,
    /// The event type of the message.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unique per sender; lets a receiver drop duplicates.
    pub message_id: String,
    /// `{user_id: {device_id or "*": content}}`.
    pub messages: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

/// The receiver's answer to a [`Transaction`] (`200`): what happened to each EDU, by its index.
/// An EDU missing from `refused` was applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionResponse {
    /// `{index: reason}` for EDUs that were not applied (and will not be on a retry).
    #[serde(default)]
    pub refused: BTreeMap<usize, String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn transaction_ids() {
        assert!(is_txn_id("org-a.example_17"));
        for bad in ["", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(!is_txn_id(bad), "{bad}");
        }
        assert_eq!(send_path("t1"), "/_parley/federation/v1/send/t1");
    }

    #[test]
    fn a_transaction_round_trips() {
        let text = r#"{"origin":"Org-A.example","origin_server_ts":5,"edus":[{"edu_type":"m.direct_to_device","content":{"sender":"@a:org-a.example","type":"m.x","message_id":"m1","messages":{"@b:org-b.example":{"*":{"k":1}}}}}]}"#;
        let txn: Transaction = serde_json::from_str(text).unwrap();
        assert_eq!(txn.origin.as_str(), "org-a.example");
        let edu: DirectToDevice = serde_json::from_str(txn.edus[0].content.get()).unwrap();
        assert_eq!(
            edu.messages["@b:org-b.example"]["*"],
            serde_json::json!({"k": 1})
        );
        let answer: TransactionResponse = serde_json::from_str(r#"{"refused":{"0":"x"}}"#).unwrap();
        assert_eq!(answer.refused[&0], "x");
    }
}
