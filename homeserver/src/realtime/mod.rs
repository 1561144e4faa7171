//! Live delivery to the WebSocket connections of this process.
//!
//! Every process LISTENs on PostgreSQL channels: committed events are announced on
//! [`EVENT_CHANNEL`], one notice per transaction (a batch of sends is one range of stream
//! positions); typing and receipts on [`EPHEMERAL_CHANNEL`]. Each process then reads the
//! announced events and their recipients once (one query per burst of notices, never one per
//! recipient) and hands the
//! serialised frame to each local connection of a recipient through a bounded queue. A
//! connection whose queue is full is told to close (it resumes later with `since`), so a slow
//! client never holds up others or grows memory. If the LISTEN connection drops, notifications
//! may have been lost: every local connection is closed so that clients resume from their last
//! position.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use parley_client_api::ws::ServerFrame;
use serde::Deserialize;
use sqlx::{
    PgPool,
    postgres::{PgListener, PgNotification},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    accounts::live::{LiveSessions, SESSION_CHANNEL},
    e2ee::sync::{self, DeviceListDelta, DeviceRef, KEYS_CHANNEL, KeyNotice},
    rooms::{EPHEMERAL_CHANNEL, EVENT_CHANNEL, Rooms},
};

pub mod presence;

/// Notifications handled together, at most.
const MAX_BURST: usize = 1024;

/// Frames waiting for one connection, at most.
pub const QUEUE_FRAMES: usize = 512;

/// A frame ready to write, serialised once for all its recipients.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// The JSON text.
    pub text: Arc<str>,
    /// For events: the stream position (to drop what catch-up already sent).
    pub stream_pos: Option<i64>,
}

/// What the hub hands a connection.
#[derive(Clone, Debug)]
pub enum Delivery {
    /// A frame to write.
    Frame(Outgoing),
    /// To-device messages wait for the connection's device: read and send them.
    ToDeviceWaiting,
    /// The device's key stock changed: send its counts.
    KeyCountsChanged,
}

/// Why the hub closes a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Its queue overflowed.
    TooSlow,
    /// Notifications may have been lost (the LISTEN connection dropped).
    Resync,
}

struct Connection {
    device_id: String,
    queue: mpsc::Sender<Delivery>,
    close: Arc<Mutex<Option<CloseReason>>>,
    closed: CancellationToken,
}

/// One connection's end of the hub.
pub struct Registration {
    /// What to send on this connection.
    pub frames: mpsc::Receiver<Delivery>,
    /// Cancelled when the hub wants the connection closed; see [`Registration::reason`].
    pub closed: CancellationToken,
    reason: Arc<Mutex<Option<CloseReason>>>,
    id: u64,
    user_id: String,
    hub: Hub,
}

impl Registration {
    /// Why the hub closed the connection.
    pub fn reason(&self) -> Option<CloseReason> {
        self.reason.lock().ok().and_then(|r| *r)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(&self.user_id, self.id);
    }
}

/// The connections of this process, by user.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    connections: Mutex<HashMap<String, HashMap<u64, Connection>>>,
    next_id: AtomicU64,
    /// (room, user) -> when the typing notice lapses.
    typing: Mutex<HashMap<(String, String), Instant>>,
    typing_ttl: Duration,
}

impl Hub {
    /// An empty hub; typing notices lapse after `typing_ttl` without a refresh.
    pub fn new(typing_ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                connections: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                typing: Mutex::new(HashMap::new()),
                typing_ttl,
            }),
        }
    }

    /// Adds a connection of `user_id`'s device `device_id`.
    pub fn register(&self, user_id: &str, device_id: &str) -> Registration {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (queue, frames) = mpsc::channel(QUEUE_FRAMES);
        let closed = CancellationToken::new();
        let reason = Arc::new(Mutex::new(None));
        if let Ok(mut all) = self.inner.connections.lock() {
            all.entry(user_id.to_owned()).or_default().insert(
                id,
                Connection {
                    device_id: device_id.to_owned(),
                    queue,
                    close: Arc::clone(&reason),
                    closed: closed.clone(),
                },
            );
        }
        Registration {
            frames,
            closed,
            reason,
            id,
            user_id: user_id.to_owned(),
            hub: self.clone(),
        }
    }

    fn unregister(&self, user_id: &str, id: u64) {
        if let Ok(mut all) = self.inner.connections.lock()
            && let Some(mine) = all.get_mut(user_id)
        {
            mine.remove(&id);
            if mine.is_empty() {
                all.remove(user_id);
            }
        }
    }

    /// How many connections are open in this process.
    pub fn open_connections(&self) -> usize {
        self.inner
            .connections
            .lock()
            .map_or(0, |all| all.values().map(HashMap::len).sum())
    }

    /// Queues `frame` for every local connection of `users` (but `except`).
    fn deliver(&self, users: &[String], except: Option<&str>, frame: &Outgoing) {
        let Ok(all) = self.inner.connections.lock() else {
            return;
        };
        for user in users {
            if Some(user.as_str()) == except {
                continue;
            }
            for connection in all.get(user).into_iter().flat_map(HashMap::values) {
                if connection
                    .queue
                    .try_send(Delivery::Frame(frame.clone()))
                    .is_err()
                {
                    close(connection, CloseReason::TooSlow);
                }
            }
        }
    }

    /// Wakes the local connections of one device.
    fn poke(&self, device: &DeviceRef, delivery: Delivery) {
        let Ok(all) = self.inner.connections.lock() else {
            return;
        };
        for connection in all
            .get(&device.user_id)
            .into_iter()
            .flat_map(HashMap::values)
            .filter(|c| c.device_id == device.device_id)
        {
            // Like a frame: a connection that cannot take it resumes, and reads what waits then.
            if connection.queue.try_send(delivery.clone()).is_err() {
                close(connection, CloseReason::TooSlow);
            }
        }
    }

    fn close_all(&self, reason: CloseReason) {
        if let Ok(all) = self.inner.connections.lock() {
            for connection in all.values().flat_map(HashMap::values) {
                close(connection, reason);
            }
        }
    }

    /// Starts listening for events and ephemeral notices, delivering them here until
    /// `shutdown`. Returns once LISTEN is in place, so that nothing committed after the server
    /// accepts its first connection can be missed. The same connection carries the ends of
    /// sessions, applied to `sessions` as soon as they are read (before any event is fanned
    /// out); `sessions` is used only while the connection is up.
    pub async fn start_listener(
        &self,
        db: PgPool,
        rooms: Rooms,
        sessions: LiveSessions,
        shutdown: CancellationToken,
    ) -> Result<tokio::task::JoinHandle<()>, sqlx::Error> {
        let hub = self.clone();
        let mut listener = connect_listener(&db).await?;
        sessions.listening();
        Ok(tokio::spawn(async move {
            let mut sweep = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => {
                        // Clients reconnect (to another process, or after the restart) and
                        // resume where they were.
                        hub.close_all(CloseReason::Resync);
                        return;
                    }
                    _ = sweep.tick() => hub.expire_typing(&rooms).await,
                    notification = listener.try_recv() => match notification {
                        Ok(Some(first)) => {
                            // A notice on a connection that was lost: it listens again (sqlx
                            // re-LISTENs every channel when it reconnects).
                            sessions.listening();
                            // Take what else has already arrived, without waiting, so a burst
                            // of events (a batch of sends) is read with one query. A zero
                            // timeout polls once: `try_recv` returns at once when a message
                            // is buffered, and is cancel-safe otherwise (as in the select).
                            let mut burst = Vec::new();
                            if !session_end(&sessions, &first) {
                                burst.push(first);
                            }
                            let mut lost = false;
                            while burst.len() < MAX_BURST {
                                match tokio::time::timeout(Duration::ZERO, listener.try_recv()).await {
                                    Ok(Ok(Some(more))) => {
                                        if !session_end(&sessions, &more) {
                                            burst.push(more);
                                        }
                                    }
                                    Ok(Ok(None) | Err(_)) => {
                                        lost = true;
                                        break;
                                    }
                                    // Nothing more has arrived.
                                    Err(_) => break,
                                }
                            }
                            if lost {
                                sessions.listening_lost();
                            }
                            hub.on_notifications(&rooms, &burst).await;
                            if lost {
                                tracing::warn!("realtime: LISTEN connection lost; clients will resume");
                                hub.close_all(CloseReason::Resync);
                            }
                        }
                        // The connection dropped (and will reconnect): anything announced
                        // meanwhile is lost to us, so clients must resume, and the cache of
                        // live sessions forgets everything until notices arrive again.
                        Ok(None) => {
                            sessions.listening_lost();
                            tracing::warn!("realtime: LISTEN connection lost; clients will resume");
                            hub.close_all(CloseReason::Resync);
                        }
                        Err(e) => {
                            sessions.listening_lost();
                            tracing::warn!(error = %e, "realtime: LISTEN failed; clients will resume");
                            hub.close_all(CloseReason::Resync);
                            tokio::select! {
                                () = shutdown.cancelled() => return,
                                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                            }
                        }
                    },
                }
            }
        }))
    }

    /// Handles notifications in the order they were committed: runs of events are read
    /// together; an ephemeral notice is handled after the events announced before it.
    async fn on_notifications(&self, rooms: &Rooms, burst: &[PgNotification]) {
        let mut events = Vec::new();
        for n in burst {
            if n.channel() == EVENT_CHANNEL {
                match announced(n.payload()) {
                    Some(positions) => events.extend(positions),
                    None => tracing::warn!(payload = n.payload(), "realtime: unknown event notice"),
                }
            } else if n.channel() == EPHEMERAL_CHANNEL {
                self.on_events(rooms, &std::mem::take(&mut events)).await;
                self.on_ephemeral(rooms, n.payload()).await;
            } else if n.channel() == KEYS_CHANNEL {
                // Device-list frames carry stream positions too: keep them in commit order.
                self.on_events(rooms, &std::mem::take(&mut events)).await;
                self.on_keys(rooms, n.payload()).await;
            }
        }
        self.on_events(rooms, &events).await;
    }

    async fn on_events(&self, rooms: &Rooms, stream_positions: &[i64]) {
        if stream_positions.is_empty() {
            return;
        }
        match rooms.events_and_recipients(stream_positions).await {
            Ok(events) => {
                for (stream_pos, event, recipients) in events {
                    let (room_id, sender) = (event.room_id.clone(), event.sender.clone());
                    let frame = ServerFrame::Event { stream_pos, event };
                    if let Some(outgoing) = serialise(&frame, Some(stream_pos)) {
                        self.deliver(&recipients, None, &outgoing);
                    }
                    // A message ends its sender's typing notice.
                    self.stop_typing(&room_id, &sender, &recipients);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, ?stream_positions, "realtime: cannot read announced events");
                self.close_all(CloseReason::Resync);
            }
        }
    }

    async fn on_keys(&self, rooms: &Rooms, payload: &str) {
        let Ok(notice) = serde_json::from_str::<KeyNotice>(payload) else {
            return;
        };
        match notice {
            KeyNotice::ToDevice(device) => self.poke(&device, Delivery::ToDeviceWaiting),
            KeyNotice::KeyCounts(device) => self.poke(&device, Delivery::KeyCountsChanged),
            KeyNotice::DeviceLists(stream_pos) => {
                match sync::device_lists_at(rooms.db(), stream_pos).await {
                    Ok(by_recipient) => self.deliver_device_lists(stream_pos, by_recipient),
                    Err(e) => {
                        tracing::warn!(error = %e, stream_pos, "realtime: cannot read device lists");
                        self.close_all(CloseReason::Resync);
                    }
                }
            }
        }
    }

    async fn on_ephemeral(&self, rooms: &Rooms, payload: &str) {
        #[derive(Deserialize)]
        struct Ephemeral {
            /// A room's notice goes to its members...
            room_id: Option<String>,
            /// ...a user's presence to everyone who shares a room with them...
            presence_of: Option<String>,
            /// ...and the outcome of a send that waited for another server to one device.
            device: Option<DeviceRef>,
            except: Option<String>,
            frame: ServerFrame,
        }
        let Ok(notice) = serde_json::from_str::<Ephemeral>(payload) else {
            return;
        };
        if let Some(device) = &notice.device {
            if let Some(outgoing) = serialise(&notice.frame, None) {
                self.poke(device, Delivery::Frame(outgoing));
            }
            return;
        }
        if let ServerFrame::Typing {
            room_id,
            user_id,
            typing,
        } = &notice.frame
            && let Ok(mut all) = self.inner.typing.lock()
        {
            let key = (room_id.clone(), user_id.clone());
            if *typing {
                all.insert(key, Instant::now() + self.inner.typing_ttl);
            } else {
                all.remove(&key);
            }
        }
        let recipients = match (&notice.room_id, &notice.presence_of) {
            (Some(room_id), _) => rooms.member_ids(room_id).await,
            (None, Some(user_id)) => rooms.co_members(user_id).await,
            (None, None) => return,
        };
        let Ok(recipients) = recipients else {
            return;
        };
        if let Some(outgoing) = serialise(&notice.frame, None) {
            self.deliver(&recipients, notice.except.as_deref(), &outgoing);
        }
    }

    /// Sends each recipient its part of the change at `stream_pos`, serialising each distinct
    /// part once.
    fn deliver_device_lists(
        &self,
        stream_pos: i64,
        by_recipient: std::collections::BTreeMap<String, DeviceListDelta>,
    ) {
        let mut groups: Vec<(DeviceListDelta, Vec<String>)> = Vec::new();
        for (recipient, delta) in by_recipient {
            match groups.iter_mut().find(|(d, _)| *d == delta) {
                Some((_, users)) => users.push(recipient),
                None => groups.push((delta, vec![recipient])),
            }
        }
        for (delta, users) in groups {
            let frame = ServerFrame::DeviceLists {
                stream_pos,
                changed: delta.changed.into_iter().collect(),
                left: delta.left.into_iter().collect(),
            };
            if let Some(outgoing) = serialise(&frame, Some(stream_pos)) {
                self.deliver(&users, None, &outgoing);
            }
        }
    }

    fn stop_typing(&self, room_id: &str, user_id: &str, recipients: &[String]) {
        let was_typing = self.inner.typing.lock().is_ok_and(|mut all| {
            all.remove(&(room_id.to_owned(), user_id.to_owned()))
                .is_some()
        });
        if was_typing {
            let frame = ServerFrame::Typing {
                room_id: room_id.to_owned(),
                user_id: user_id.to_owned(),
                typing: false,
            };
            if let Some(outgoing) = serialise(&frame, None) {
                self.deliver(recipients, Some(user_id), &outgoing);
            }
        }
    }

    async fn expire_typing(&self, rooms: &Rooms) {
        let now = Instant::now();
        let lapsed: Vec<(String, String)> = match self.inner.typing.lock() {
            Ok(mut all) => {
                let lapsed: Vec<_> = all
                    .iter()
                    .filter(|(_, until)| **until <= now)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in &lapsed {
                    all.remove(key);
                }
                lapsed
            }
            Err(_) => return,
        };
        for (room_id, user_id) in lapsed {
            let Ok(members) = rooms.member_ids(&room_id).await else {
                continue;
            };
            let frame = ServerFrame::Typing {
                room_id,
                user_id: user_id.clone(),
                typing: false,
            };
            if let Some(outgoing) = serialise(&frame, None) {
                self.deliver(&members, Some(&user_id), &outgoing);
            }
        }
    }
}

/// Applies a session's end at once (it is not kept with the burst); whether `n` was one.
fn session_end(sessions: &LiveSessions, n: &PgNotification) -> bool {
    let ended = n.channel() == SESSION_CHANNEL;
    if ended {
        sessions.on_notice(n.payload());
    }
    ended
}

fn close(connection: &Connection, reason: CloseReason) {
    if let Ok(mut slot) = connection.close.lock() {
        slot.get_or_insert(reason);
    }
    connection.closed.cancel();
}

async fn connect_listener(db: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(db).await?;
    listener
        .listen_all([
            EVENT_CHANNEL,
            EPHEMERAL_CHANNEL,
            KEYS_CHANNEL,
            SESSION_CHANNEL,
        ])
        .await?;
    Ok(listener)
}

/// Events announced together, at most (a batch is at most `client.send_batch_max`).
const MAX_ANNOUNCED: i64 = 65_536;

/// The stream positions announced by a notice on [`EVENT_CHANNEL`]: `{"stream_pos": n}` (one
/// event; what every version of the server sends for a single event) or `{"from": a, "to": b}`
/// (the events at `a..=b`, one notice per batch). Both are accepted, so that processes of a
/// deployment can be upgraded one at a time. `None` for anything else.
fn announced(payload: &str) -> Option<std::ops::RangeInclusive<i64>> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Announced {
        One { stream_pos: i64 },
        Range { from: i64, to: i64 },
    }
    match serde_json::from_str(payload).ok()? {
        Announced::One { stream_pos } => Some(stream_pos..=stream_pos),
        Announced::Range { from, to } if from <= to && to - from < MAX_ANNOUNCED => Some(from..=to),
        Announced::Range { .. } => None,
    }
}

/// Serialises a frame once for all its recipients.
pub fn serialise(frame: &ServerFrame, stream_pos: Option<i64>) -> Option<Outgoing> {
    serde_json::to_string(frame).ok().map(|text| Outgoing {
        text: text.into(),
        stream_pos,
    })
}

#[cfg(test)]
mod tests {
    use super::announced;

    #[test]
    fn single_position_payload() {
        assert_eq!(announced(r#"{"stream_pos": 42}"#), Some(42..=42));
    }

    #[test]
    fn range_payload() {
        assert_eq!(announced(r#"{"from": 7, "to": 9}"#), Some(7..=9));
        assert_eq!(announced(r#"{"from": 7, "to": 7}"#), Some(7..=7));
        let all: Vec<i64> = announced(r#"{"from": 1, "to": 3}"#)
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(all, [1, 2, 3]);
    }

    #[test]
    fn malformed_payloads_are_refused() {
        assert_eq!(announced(r#"{"from": 9, "to": 7}"#), None);
        assert_eq!(announced(r#"{"from": 0, "to": 100000000}"#), None);
        assert_eq!(announced(r#"{"from": 1}"#), None);
        assert_eq!(announced(r#"{"stream_pos": "x"}"#), None);
        assert_eq!(announced(""), None);
        assert_eq!(announced("[]"), None);
    }
}
