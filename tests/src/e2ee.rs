//! An end-to-end-encrypting client for tests (and the load generator): `matrix-sdk-crypto`'s
//! `OlmMachine` (in memory) over the client API and its WebSocket. It uploads its keys, feeds
//! the socket's key-state frames to the machine, shares Megolm keys with a room's members
//! before each send, encrypts every message, and decrypts what arrives, retrying messages it
//! could not decrypt when new keys come in.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use anyhow::{Context as _, anyhow, bail};
use matrix_sdk_common::{
    deserialized_responses::ProcessedToDeviceEvent,
    ruma::{
        OneTimeKeyAlgorithm, OwnedRoomId, OwnedUserId, RoomId, TransactionId, UInt, UserId,
        api::{
            IncomingResponse,
            client::{
                keys::{claim_keys, get_keys, upload_keys, upload_signatures},
                sync::sync_events::DeviceLists,
                to_device::send_event_to_device,
            },
        },
        events::AnyToDeviceEvent,
        serde::Raw,
    },
};
use matrix_sdk_crypto::{
    DecryptionSettings, EncryptionSettings, EncryptionSyncChanges, OlmMachine, TrustRequirement,
    types::{
        events::room::encrypted::EncryptedEvent,
        requests::{AnyIncomingResponse, AnyOutgoingRequest, ToDeviceRequest},
    },
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    users::{TestUser, seg},
    ws::{TestSocket, WsEnd},
};

/// The event type of a message's plaintext inside the Megolm envelope.
pub const MESSAGE_TYPE: &str = "parley.message";
/// The event type of what the server stores.
pub const ENCRYPTED_TYPE: &str = "m.room.encrypted";

/// A message as this client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The room.
    pub room_id: String,
    /// The event id.
    pub event_id: String,
    /// The sender.
    pub sender: String,
    /// The decrypted text; `None` while it cannot be decrypted.
    pub text: Option<String>,
}

/// One signed-in device with its own Olm account and WebSocket.
pub struct E2eeClient {
    /// The signed-in user and device.
    pub user: TestUser,
    machine: OlmMachine,
    socket: TestSocket,
    /// Every encrypted message received, in arrival order.
    pub received: Vec<Received>,
    /// The raw events not decrypted yet, by event id.
    undecrypted: BTreeMap<String, Value>,
    /// Why to-device messages could not be used, for failure reports.
    to_device_failures: Vec<String>,
}

fn parse_user(id: &str) -> anyhow::Result<OwnedUserId> {
    UserId::parse(id).map_err(|e| anyhow!("bad user id {id}: {e}"))
}

/// Turns a JSON answer into the ruma response type the machine wants.
fn response<R: IncomingResponse>(body: &Value) -> anyhow::Result<R> {
    let http = http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body)?)?;
    R::try_from_http_response(http).map_err(|e| anyhow!("unexpected response shape: {e}"))
}

impl E2eeClient {
    /// Starts a device for `user` (a fresh sign-in): uploads its keys and opens its socket.
    pub async fn start(user: TestUser) -> anyhow::Result<Self> {
        let user_id = parse_user(&user.user_id)?;
        let device_id = matrix_sdk_common::ruma::OwnedDeviceId::from(user.device_id.as_str());
        let machine = OlmMachine::new(&user_id, &device_id).await;
        let socket = TestSocket::connect(&user, None, None)
            .await
            .map_err(|e| anyhow!("websocket: {e:?}"))?;
        let mut client = Self {
            user,
            machine,
            socket,
            received: Vec::new(),
            undecrypted: BTreeMap::new(),
            to_device_failures: Vec::new(),
        };
        client.settle().await?;
        client.process_requests().await?;
        Ok(client)
    }

    /// Sends every request the machine has, feeding back the answers, until it has none.
    pub async fn process_requests(&mut self) -> anyhow::Result<()> {
        for _ in 0..20 {
            let requests = self.machine.outgoing_requests().await?;
            if requests.is_empty() {
                return Ok(());
            }
            for request in requests {
                let id = request.request_id().to_owned();
                match request.request() {
                    AnyOutgoingRequest::KeysUpload(r) => {
                        let body = json!({
                            "device_keys": r.device_keys,
                            "one_time_keys": r.one_time_keys,
                            "fallback_keys": r.fallback_keys,
                        });
                        self.post_and_mark::<upload_keys::v3::Response>(&id, "/keys/upload", body)
                            .await?;
                    }
                    AnyOutgoingRequest::KeysQuery(r) => {
                        let body = json!({"device_keys": r.device_keys});
                        self.post_and_mark::<get_keys::v3::Response>(&id, "/keys/query", body)
                            .await?;
                    }
                    AnyOutgoingRequest::KeysClaim(r) => {
                        let body = json!({"one_time_keys": r.one_time_keys});
                        self.post_and_mark::<claim_keys::v3::Response>(&id, "/keys/claim", body)
                            .await?;
                    }
                    AnyOutgoingRequest::ToDeviceRequest(r) => {
                        self.send_to_device(r).await?;
                        let answer: send_event_to_device::v3::Response = response(&json!({}))?;
                        self.machine.mark_request_as_sent(&id, &answer).await?;
                    }
                    AnyOutgoingRequest::SignatureUpload(r) => {
                        let body = json!(r.signed_keys);
                        self.post_and_mark::<upload_signatures::v3::Response>(
                            &id,
                            "/keys/signatures/upload",
                            body,
                        )
                        .await?;
                    }
                    AnyOutgoingRequest::RoomMessage(_) => {
                        bail!("in-room verification is not used by Parley")
                    }
                }
            }
        }
        bail!("the machine keeps asking for requests")
    }

    /// Posts a request of the machine's and hands it the answer.
    async fn post_and_mark<R>(
        &self,
        id: &TransactionId,
        path: &str,
        body: Value,
    ) -> anyhow::Result<()>
    where
        R: IncomingResponse,
        for<'a> &'a R: Into<AnyIncomingResponse<'a>>,
    {
        let answer: R = response(&self.call(path, body).await?)?;
        self.machine.mark_request_as_sent(id, &answer).await?;
        Ok(())
    }

    async fn call(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let (status, answer) = self.user.post(path, body).await;
        if status != StatusCode::OK {
            bail!("POST {path}: {status} {answer}");
        }
        Ok(answer)
    }

    async fn send_to_device(&self, request: &ToDeviceRequest) -> anyhow::Result<()> {
        let path = format!(
            "/sendToDevice/{}/{}",
            seg(&request.event_type.to_string()),
            seg(request.txn_id.as_str())
        );
        let (status, answer) = self
            .user
            .put(&path, json!({"messages": request.messages}))
            .await;
        if status != StatusCode::OK {
            bail!("PUT {path}: {status} {answer}");
        }
        Ok(())
    }

    /// The current members of a room.
    pub async fn members(&self, room_id: &str) -> anyhow::Result<Vec<String>> {
        let (status, body) = self.user.get(&format!("/rooms/{}", seg(room_id))).await;
        if status != StatusCode::OK {
            bail!("room {room_id}: {status} {body}");
        }
        Ok(body["members"]
            .as_array()
            .context("members")?
            .iter()
            .filter_map(|m| m["user_id"].as_str().map(str::to_owned))
            .collect())
    }

    /// Encrypts `text` for the room's current members and sends it; returns the event id.
    pub async fn send_text(&mut self, room_id: &str, text: &str) -> anyhow::Result<String> {
        let members: Vec<OwnedUserId> = self
            .members(room_id)
            .await?
            .iter()
            .map(|m| parse_user(m))
            .collect::<anyhow::Result<_>>()?;
        let room = RoomId::parse(room_id).map_err(|e| anyhow!("room id: {e}"))?;
        self.machine
            .update_tracked_users(members.iter().map(|u| u.as_ref()))
            .await?;
        self.process_requests().await?;
        // A device-list change may still be on its way over the socket; a test must not
        // depend on that race, so ask for the members' devices now.
        let (id, query) = self
            .machine
            .query_keys_for_users(members.iter().map(|u| u.as_ref()));
        let body = json!({"device_keys": query.device_keys});
        self.post_and_mark::<get_keys::v3::Response>(&id, "/keys/query", body)
            .await?;
        if let Some((id, claim)) = self
            .machine
            .get_missing_sessions(members.iter().map(|u| u.as_ref()))
            .await?
        {
            let body = json!({"one_time_keys": claim.one_time_keys});
            self.post_and_mark::<claim_keys::v3::Response>(&id, "/keys/claim", body)
                .await?;
        }
        let shares = self
            .machine
            .share_room_key(
                &room,
                members.iter().map(|u| u.as_ref()),
                EncryptionSettings::default(),
            )
            .await?;
        for share in shares {
            self.send_to_device(&share).await?;
            let answer: send_event_to_device::v3::Response = response(&json!({}))?;
            self.machine
                .mark_request_as_sent(&share.txn_id, &answer)
                .await?;
        }
        let content = Raw::new(&json!({"body": text}))?.cast_unchecked();
        let encrypted = self
            .machine
            .encrypt_room_event_raw(&room, MESSAGE_TYPE, &content)
            .await?;
        let txn = uuid::Uuid::new_v4().simple().to_string();
        let (status, body) = self
            .user
            .put(
                &format!("/rooms/{}/send/{ENCRYPTED_TYPE}/{txn}", seg(room_id)),
                serde_json::from_str(encrypted.content.json().get())?,
            )
            .await;
        if status != StatusCode::OK {
            bail!("send: {status} {body}");
        }
        Ok(body["event_id"].as_str().unwrap_or_default().to_owned())
    }

    /// Handles one frame from the socket.
    async fn handle(&mut self, frame: Value) -> anyhow::Result<()> {
        match frame["type"].as_str() {
            Some("event") if frame["event"]["type"] == ENCRYPTED_TYPE => {
                let event = frame["event"].clone();
                let id = event["event_id"].as_str().unwrap_or_default().to_owned();
                self.received.push(Received {
                    room_id: event["room_id"].as_str().unwrap_or_default().to_owned(),
                    event_id: id.clone(),
                    sender: event["sender"].as_str().unwrap_or_default().to_owned(),
                    text: None,
                });
                self.undecrypted.insert(id, event);
                self.retry_decryption().await?;
            }
            Some("to_device") => {
                let events = frame["events"].as_array().cloned().unwrap_or_default();
                let up_to = events.iter().filter_map(|e| e["id"].as_i64()).max();
                let raw: Vec<Raw<AnyToDeviceEvent>> = events
                    .iter()
                    .map(|e| {
                        Raw::new(&json!({"type": e["type"], "sender": e["sender"], "content": e["content"]}))
                            .map(Raw::cast_unchecked)
                    })
                    .collect::<Result<_, _>>()?;
                self.sync(raw, DeviceLists::default(), None).await?;
                if let Some(up_to) = up_to {
                    self.socket
                        .send(json!({"type": "to_device_ack", "up_to_id": up_to}))
                        .await?;
                }
                self.retry_decryption().await?;
            }
            Some("device_lists") => {
                let users = |field: &str| -> anyhow::Result<Vec<OwnedUserId>> {
                    frame[field]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(parse_user)
                        .collect()
                };
                let mut lists = DeviceLists::default();
                lists.changed = users("changed")?;
                lists.left = users("left")?;
                self.sync(Vec::new(), lists, None).await?;
            }
            Some("key_counts") => {
                let counts: BTreeMap<OneTimeKeyAlgorithm, UInt> = frame["one_time_key_counts"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| {
                        Some((
                            OneTimeKeyAlgorithm::from(k.as_str()),
                            UInt::new(v.as_u64()?)?,
                        ))
                    })
                    .collect();
                let fallback: Vec<OneTimeKeyAlgorithm> = frame["unused_fallback_key_types"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(OneTimeKeyAlgorithm::from)
                    .collect();
                self.sync(Vec::new(), DeviceLists::default(), Some((counts, fallback)))
                    .await?;
            }
            _ => {}
        }
        self.process_requests().await
    }

    async fn sync(
        &mut self,
        to_device: Vec<Raw<AnyToDeviceEvent>>,
        lists: DeviceLists,
        counts: Option<(
            BTreeMap<OneTimeKeyAlgorithm, UInt>,
            Vec<OneTimeKeyAlgorithm>,
        )>,
    ) -> anyhow::Result<()> {
        let (counts, fallback) = match counts {
            Some((counts, fallback)) => (counts, Some(fallback)),
            // Without counts the machine would think it has none left: say "enough".
            None => (
                BTreeMap::from([(OneTimeKeyAlgorithm::SignedCurve25519, UInt::from(50u32))]),
                None,
            ),
        };
        let (processed, _) = self
            .machine
            .receive_sync_changes(
                EncryptionSyncChanges {
                    to_device_events: to_device,
                    changed_devices: &lists,
                    one_time_keys_counts: &counts,
                    unused_fallback_keys: fallback.as_deref(),
                    next_batch_token: None,
                },
                &decryption_settings(),
            )
            .await?;
        for event in processed {
            match event {
                ProcessedToDeviceEvent::UnableToDecrypt { utd_info, .. } => self
                    .to_device_failures
                    .push(format!("{:?}", utd_info.reason)),
                ProcessedToDeviceEvent::Invalid(raw) => self
                    .to_device_failures
                    .push(format!("invalid: {}", raw.json().get())),
                ProcessedToDeviceEvent::Decrypted { .. } | ProcessedToDeviceEvent::PlainText(_) => {
                }
            }
        }
        Ok(())
    }

    /// Tries to decrypt a stored event (as the server returns it); `None` when this device
    /// has no key for it.
    pub async fn decrypt(&self, event: &Value) -> anyhow::Result<Option<String>> {
        let (room, raw) = encrypted_event(event)?;
        let Ok(decrypted) = self
            .machine
            .decrypt_room_event(&raw, &room, &decryption_settings())
            .await
        else {
            return Ok(None);
        };
        let plain: Value = serde_json::from_str(decrypted.event.json().get())?;
        if plain["type"] != MESSAGE_TYPE {
            bail!("decrypted an unexpected event type: {}", plain["type"]);
        }
        Ok(plain["content"]["body"].as_str().map(str::to_owned))
    }

    /// Why an event does not decrypt, for failure reports.
    async fn decrypt_error(&self, event: &Value) -> String {
        let (room, raw) = match encrypted_event(event) {
            Ok(parts) => parts,
            Err(e) => return e.to_string(),
        };
        match self
            .machine
            .decrypt_room_event(&raw, &room, &decryption_settings())
            .await
        {
            Ok(_) => "it decrypts now".into(),
            Err(e) => e.to_string(),
        }
    }

    async fn retry_decryption(&mut self) -> anyhow::Result<()> {
        let waiting: Vec<(String, Value)> = self
            .undecrypted
            .iter()
            .map(|(id, event)| (id.clone(), event.clone()))
            .collect();
        for (id, event) in waiting {
            let Some(text) = self.decrypt(&event).await? else {
                continue;
            };
            self.undecrypted.remove(&id);
            if let Some(entry) = self.received.iter_mut().find(|r| r.event_id == id) {
                entry.text = Some(text);
            }
        }
        Ok(())
    }

    /// Handles the catch-up after connecting, up to the server's `live` frame.
    async fn settle(&mut self) -> anyhow::Result<()> {
        loop {
            match self.socket.next(Duration::from_secs(15)).await {
                Ok(frame) if frame["type"] == "live" => return Ok(()),
                Ok(frame) => self.handle(frame).await?,
                Err(end) => bail!("websocket ended during catch-up: {end:?}"),
            }
        }
    }

    /// Reads and handles frames until `done` holds, within `deadline`.
    pub async fn wait_until(
        &mut self,
        what: &str,
        deadline: Duration,
        done: impl Fn(&Self) -> bool,
    ) -> anyhow::Result<()> {
        let started = tokio::time::Instant::now();
        while !done(self) {
            let left = deadline.saturating_sub(started.elapsed());
            if left.is_zero() {
                bail!("timed out waiting for {what}");
            }
            match self.socket.next(left).await {
                Ok(frame) => self.handle(frame).await?,
                Err(WsEnd::Closed(0)) => bail!("timed out waiting for {what}"),
                Err(end) => bail!("websocket ended while waiting for {what}: {end:?}"),
            }
        }
        Ok(())
    }

    /// Waits until the message `event_id` has arrived and is decrypted; returns its text.
    pub async fn wait_for_text(
        &mut self,
        event_id: &str,
        deadline: Duration,
    ) -> anyhow::Result<String> {
        let waited = self
            .wait_until(&format!("message {event_id}"), deadline, |c| {
                c.text_of(event_id).is_some()
            })
            .await;
        if let Err(e) = waited {
            let why = match self.undecrypted.get(event_id) {
                None => "it never arrived".to_owned(),
                Some(event) => format!(
                    "it arrived but does not decrypt: {:?}",
                    self.decrypt_error(event).await
                ),
            };
            bail!(
                "{} ({}): {e}; {why}; unusable to-device messages: {:?}",
                self.user.user_id,
                self.user.device_id,
                self.to_device_failures
            );
        }
        self.text_of(event_id).context("decrypted text")
    }

    /// The decrypted text of a received message.
    pub fn text_of(&self, event_id: &str) -> Option<String> {
        self.received
            .iter()
            .find(|r| r.event_id == event_id)
            .and_then(|r| r.text.clone())
    }

    /// Whether the message arrived (decrypted or not).
    pub fn has(&self, event_id: &str) -> bool {
        self.received.iter().any(|r| r.event_id == event_id)
    }

    /// The ids of messages received but not decryptable (yet).
    pub fn undecryptable(&self) -> BTreeSet<String> {
        self.undecrypted.keys().cloned().collect()
    }

    /// Closes the socket (the device goes offline; its keys stay).
    pub async fn go_offline(self) -> OfflineDevice {
        let since = self.socket.last_pos;
        self.socket.close().await;
        OfflineDevice {
            user: self.user,
            machine: self.machine,
            since,
            received: self.received,
            undecrypted: self.undecrypted,
        }
    }
}

/// A device whose socket is closed; it keeps its Olm state.
pub struct OfflineDevice {
    user: TestUser,
    machine: OlmMachine,
    since: i64,
    received: Vec<Received>,
    undecrypted: BTreeMap<String, Value>,
}

impl OfflineDevice {
    /// Reconnects, resuming from the last position it saw.
    pub async fn reconnect(self) -> anyhow::Result<E2eeClient> {
        let socket = TestSocket::connect(&self.user, Some(self.since), None)
            .await
            .map_err(|e| anyhow!("websocket: {e:?}"))?;
        let mut client = E2eeClient {
            user: self.user,
            machine: self.machine,
            socket,
            received: self.received,
            undecrypted: self.undecrypted,
            to_device_failures: Vec::new(),
        };
        client.settle().await?;
        Ok(client)
    }
}

/// The parts of a stored `m.room.encrypted` event the machine decrypts.
fn encrypted_event(event: &Value) -> anyhow::Result<(OwnedRoomId, Raw<EncryptedEvent>)> {
    let room = RoomId::parse(event["room_id"].as_str().unwrap_or_default())
        .map_err(|e| anyhow!("room id: {e}"))?;
    let raw = Raw::new(&json!({
        "type": ENCRYPTED_TYPE,
        "event_id": event["event_id"],
        "sender": event["sender"],
        "room_id": event["room_id"],
        "origin_server_ts": event["origin_server_ts"],
        "content": event["content"],
    }))?
    .cast_unchecked();
    Ok((room, raw))
}

fn decryption_settings() -> DecryptionSettings {
    DecryptionSettings {
        sender_device_trust_requirement: TrustRequirement::Untrusted,
    }
}
