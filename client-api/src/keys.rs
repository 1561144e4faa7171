//! End-to-end encryption support: devices, device keys, one-time and fallback keys,
//! cross-signing keys, signatures and to-device messages.
//!
//! The key objects are Matrix's (client-server API `keys/*`), so that audited Olm/Megolm
//! implementations (vodozemac, matrix-sdk-crypto) can talk to Parley unchanged. Their inner shape
//! belongs to the client: the server checks the fields and signatures it relies on, stores each
//! object as the JSON text it received and returns that text unchanged (signatures added later
//! through [`SIGNATURES_UPLOAD`] are merged into `signatures`). Such objects appear here as
//! [`serde_json::value::RawValue`] or [`serde_json::Value`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};
use utoipa::ToSchema;

/// `GET /api/v1/devices`.
pub const DEVICES: &str = "/devices";
/// `PUT` (rename) and `DELETE /api/v1/devices/{device_id}`.
pub const DEVICE: &str = "/devices/{device_id}";
/// `POST /api/v1/keys/upload`.
pub const UPLOAD: &str = "/keys/upload";
/// `POST /api/v1/keys/query`.
pub const QUERY: &str = "/keys/query";
/// `POST /api/v1/keys/claim`.
pub const CLAIM: &str = "/keys/claim";
/// `GET /api/v1/keys/counts`.
pub const COUNTS: &str = "/keys/counts";
/// `POST /api/v1/keys/device_signing/upload`.
pub const DEVICE_SIGNING_UPLOAD: &str = "/keys/device_signing/upload";
/// `POST /api/v1/keys/signatures/upload`.
pub const SIGNATURES_UPLOAD: &str = "/keys/signatures/upload";
/// `PUT /api/v1/sendToDevice/{event_type}/{txn_id}`.
pub const SEND_TO_DEVICE: &str = "/sendToDevice/{event_type}/{txn_id}";
/// `GET /api/v1/sendToDevice/pending`.
pub const TO_DEVICE_PENDING: &str = "/sendToDevice/pending";
/// `POST /api/v1/sendToDevice/ack`.
pub const TO_DEVICE_ACK: &str = "/sendToDevice/ack";

/// The only one-time and fallback key algorithm accepted: a Curve25519 key signed by the device.
pub const SIGNED_CURVE25519: &str = "signed_curve25519";

/// One of the caller's devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Device {
    /// The device id (the same across sign-ins when the client keeps it).
    pub device_id: String,
    /// A name chosen by the user, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// When a session of this device was last used (RFC 3339); absent without sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<String>,
    /// When the device was first seen (RFC 3339).
    pub created_at: String,
    /// Whether it is the device of the calling session.
    pub current: bool,
}

/// The caller's devices, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceList {
    /// The devices.
    pub devices: Vec<Device>,
}

/// Renames a device.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameDeviceRequest {
    /// The new name, 1 to 128 characters; `null` clears it.
    pub display_name: Option<String>,
}

/// Deletes a device: its sessions end and its keys go. Needs the password again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteDeviceRequest {
    /// The account's password.
    pub password: String,
}

/// Uploads the device's identity keys, one-time keys and fallback keys (each part optional).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadKeysRequest {
    /// Matrix `DeviceKeys`: `{user_id, device_id, algorithms, keys: {"ed25519:<device>",
    /// "curve25519:<device>"}, signatures}`, signed by the device's ed25519 key. Stored as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub device_keys: Option<Box<RawValue>>,
    /// `{"signed_curve25519:<id>": {key, signatures}}`, each signed by the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub one_time_keys: Option<BTreeMap<String, Box<RawValue>>>,
    /// `{"signed_curve25519:<id>": {key, fallback: true, signatures}}`; replaces the device's
    /// fallback key of that algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub fallback_keys: Option<BTreeMap<String, Box<RawValue>>>,
}

/// How many unclaimed one-time keys the device has, per algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UploadKeysResponse {
    /// `{algorithm: count}`; an algorithm with none is `0`.
    pub one_time_key_counts: BTreeMap<String, i64>,
}

/// The device's key stock, so it knows when to upload more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyCounts {
    /// `{algorithm: count}` of unclaimed one-time keys.
    pub one_time_key_counts: BTreeMap<String, i64>,
    /// Algorithms of fallback keys not handed out yet.
    pub unused_fallback_key_types: Vec<String>,
}

/// Asks for the device and cross-signing keys of users.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueryKeysRequest {
    /// `{user_id: [device_id, ...]}`; an empty list means every device.
    pub device_keys: BTreeMap<String, Vec<String>>,
}

/// Keys of the users asked for. Users of other servers are not served yet: their server is
/// listed in `failures`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueryKeysResponse {
    /// `{user_id: {device_id: DeviceKeys}}`, as uploaded plus later signatures.
    #[schema(value_type = Object)]
    pub device_keys: BTreeMap<String, BTreeMap<String, Box<RawValue>>>,
    /// `{user_id: CrossSigningKey}`.
    #[schema(value_type = Object)]
    pub master_keys: BTreeMap<String, Box<RawValue>>,
    /// `{user_id: CrossSigningKey}`.
    #[schema(value_type = Object)]
    pub self_signing_keys: BTreeMap<String, Box<RawValue>>,
    /// The caller's own user-signing key only.
    #[schema(value_type = Object)]
    pub user_signing_keys: BTreeMap<String, Box<RawValue>>,
    /// `{server_name: {errcode, error}}` for servers that could not be asked.
    #[schema(value_type = Object)]
    pub failures: BTreeMap<String, Value>,
}

/// Claims one one-time key per device.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimKeysRequest {
    /// `{user_id: {device_id: algorithm}}`.
    pub one_time_keys: BTreeMap<String, BTreeMap<String, String>>,
}

/// The claimed keys: a one-time key, or the device's fallback key once those are gone.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClaimKeysResponse {
    /// `{user_id: {device_id: {"signed_curve25519:<id>": key}}}`.
    #[schema(value_type = Object)]
    pub one_time_keys: BTreeMap<String, BTreeMap<String, BTreeMap<String, Box<RawValue>>>>,
    /// `{server_name: {errcode, error}}` for servers that could not be asked.
    #[schema(value_type = Object)]
    pub failures: BTreeMap<String, Value>,
}

/// Re-authentication for sensitive changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PasswordAuth {
    /// The account's password. Other fields (Matrix's `type`, `identifier`, `session`) are
    /// accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Uploads the user's cross-signing keys (Matrix `CrossSigningKey` objects:
/// `{user_id, usage: [..], keys: {"ed25519:<pub>": "<pub>"}, signatures}`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceSigningUploadRequest {
    /// The master key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub master_key: Option<Box<RawValue>>,
    /// The self-signing key, signed by the master key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub self_signing_key: Option<Box<RawValue>>,
    /// The user-signing key, signed by the master key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub user_signing_key: Option<Box<RawValue>>,
    /// The password; needed unless the user has no cross-signing keys yet and the session is
    /// less than ten minutes old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<PasswordAuth>,
}

/// What `keys/signatures/upload` could not accept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SignaturesUploadResponse {
    /// `{user_id: {key_id: {errcode, error}}}`.
    #[schema(value_type = Object)]
    pub failures: BTreeMap<String, BTreeMap<String, Value>>,
}

/// Sends to-device messages: `{user_id: {device_id or "*": content}}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SendToDeviceRequest {
    /// The content per target device; `*` means every device of the user.
    #[schema(value_type = Object)]
    pub messages: BTreeMap<String, BTreeMap<String, Value>>,
}

/// A to-device message waiting for the caller's device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToDeviceEvent {
    /// Its position in the device's queue; acknowledge up to it.
    pub id: i64,
    /// The event type, such as `m.room.encrypted`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The sending user, set by the server.
    pub sender: String,
    /// The content as sent.
    #[schema(value_type = Object)]
    pub content: Value,
}

/// Waiting to-device messages, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PendingToDevice {
    /// The messages.
    pub events: Vec<ToDeviceEvent>,
}

/// Deletes the caller's device's messages up to and including an id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckToDeviceRequest {
    /// The last id handled.
    pub up_to_id: i64,
}
