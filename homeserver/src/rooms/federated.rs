//! Rooms across servers.
//!
//! The server in a room's id owns the room: it alone checks membership and roles and gives
//! events their seqs. After each event it queues a [`RoomEvent`] EDU, in the event's database
//! transaction, for every other server with members (and for the server of a member who just
//! left). Those servers keep a replica in the same tables, applying each seq once, so their
//! users read history and get live events while the owner is away.
//!
//! A member of another server sends through its own server, which queues a [`RoomSend`] EDU
//! for the owner and remembers the send in `room_pending_send`; the owner stores it (a retry
//! gets the first event) and fans it out like any other event. When the event comes back, the
//! pending send is done and the sending device is told (`sent` frame); if the owner refuses it,
//! the device gets an `error` frame. Membership, role, name and topic changes asked by members
//! of other servers go to the owner directly ([`ROOM_OP_PATH`]) and are checked there as if
//! the member were local; their events come back through the outbox.

use std::{collections::HashMap, time::Duration};

use http::Method;
use parley_client_api::{
    ErrorCode,
    rooms::{MAX_CONTENT_BYTES, PendingEvent, Role, SendResponse, event_type},
    ws::ServerFrame,
};
use parley_federation::{
    ClientError, ServerName,
    api::{
        self, EDU_ROOM_EVENT, EDU_ROOM_SEND, EDU_TYPING, Edu, QUERY_USERS_PATH, QueryUsersRequest,
        QueryUsersResponse, ROOM_OP_PATH, RoomEvent, RoomEventData, RoomMemberState, RoomOp,
        RoomOpRequest, RoomRole, RoomSend, RoomSnapshot,
    },
};
use serde_json::{Value, value::RawValue};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::{
    EPHEMERAL_CHANNEL, RoomError, Rooms, has_nul, notify_ephemeral, role_from, role_str,
    upsert_member,
};
use crate::{
    accounts::AuthUser,
    e2ee::sync::{DeviceRef, record_membership},
    federation::outbox::{self, EPHEMERAL_TTL, TYPING_TTL},
};

/// How long a remote room operation or user look-up may take.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a send to another server's room waits for the owner before it is answered as
/// pending (it goes through later, in order, either way).
pub const SEND_WAIT: Duration = Duration::from_secs(5);

/// The server part of a user or room id (`@name:server`, `!opaque:server`).
pub fn server_of(id: &str) -> Option<&str> {
    id.split_once(':')
        .map(|(_, server)| server)
        .filter(|s| !s.is_empty())
}

/// An event as written by the owner, for the fan-out.
pub(super) struct Written<'a> {
    pub room_id: &'a str,
    pub event_id: &'a str,
    pub seq: i64,
    pub sender: &'a str,
    pub device_id: Option<&'a str>,
    pub txn_id: Option<&'a str>,
    pub event_type: &'a str,
    /// The content as JSON text.
    pub content: &'a str,
    pub origin_server_ts: i64,
}

/// The answer to a send in another server's room.
pub enum SendOutcome {
    /// The owner stored it.
    Stored(SendResponse),
    /// Queued for the owner, which has not answered yet.
    Pending,
}

/// A local user standing for a member of another server, for the checks the owner makes.
fn remote_actor(user_id: &str) -> AuthUser {
    AuthUser {
        account_id: uuid::Uuid::nil(),
        user_id: user_id.to_owned(),
        device_id: String::new(),
        session_id: uuid::Uuid::nil(),
    }
}

fn role_of(role: RoomRole) -> Role {
    match role {
        RoomRole::Member => Role::Member,
        RoomRole::Admin => Role::Admin,
        RoomRole::Owner => Role::Owner,
    }
}

pub(super) fn room_role(role: Role) -> RoomRole {
    match role {
        Role::Member => RoomRole::Member,
        Role::Admin => RoomRole::Admin,
        Role::Owner => RoomRole::Owner,
    }
}

/// Queues the fan-out of events of rooms we own to the other servers with members, inside the
/// transaction that wrote them. One query finds the servers of all the events' rooms.
pub(super) async fn fan_out(
    conn: &mut PgConnection,
    own: &str,
    events: &[Written<'_>],
) -> Result<(), sqlx::Error> {
    let mut rooms: Vec<String> = events
        .iter()
        .filter(|e| server_of(e.room_id) == Some(own))
        .map(|e| e.room_id.to_owned())
        .collect();
    rooms.sort_unstable();
    rooms.dedup();
    if rooms.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query!(
        r#"select distinct room_id, substr(user_id, strpos(user_id, ':') + 1) as "server!"
           from room_member where room_id = any($1) and membership = 'join'
             and substr(user_id, strpos(user_id, ':') + 1) <> $2"#,
        &rooms,
        own
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut servers: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        servers.entry(row.room_id).or_default().push(row.server);
    }
    for event in events {
        if server_of(event.room_id) != Some(own) {
            continue;
        }
        let mut destinations = servers.get(event.room_id).cloned().unwrap_or_default();
        let mut snapshot_for = None;
        let mut local_joined = None;
        if event.event_type == event_type::MEMBER
            && let Ok(content) = serde_json::from_str::<Value>(event.content)
            && let Some(subject) = content.get("user_id").and_then(Value::as_str)
            && server_of(subject) == Some(own)
            && content.get("membership").and_then(Value::as_str) == Some("join")
        {
            local_joined = Some(subject.to_owned());
        }
        if event.event_type == event_type::MEMBER
            && let Ok(content) = serde_json::from_str::<Value>(event.content)
            && let Some(subject) = content.get("user_id").and_then(Value::as_str)
            && let Some(server) = server_of(subject).filter(|s| *s != own)
        {
            // A member who left still learns of it; a server whose first member just joined
            // gets the room's state with the event.
            if !destinations.iter().any(|d| d == server) {
                destinations.push(server.to_owned());
            } else if content.get("membership").and_then(Value::as_str) == Some("join")
                && joined_on(&mut *conn, event.room_id, server).await? == 1
            {
                snapshot_for = Some(server.to_owned());
            }
        }
        if destinations.is_empty() {
            continue;
        }
        let snapshot = match &snapshot_for {
            Some(_) => Some(snapshot(&mut *conn, event.room_id).await?),
            None => None,
        };
        for destination in &destinations {
            let content = match RawValue::from_string(event.content.to_owned()) {
                Ok(content) => content,
                Err(_) => continue,
            };
            let edu = RoomEvent {
                room_id: event.room_id.to_owned(),
                snapshot: snapshot
                    .clone()
                    .filter(|_| snapshot_for.as_deref() == Some(destination.as_str())),
                event: RoomEventData {
                    event_id: event.event_id.to_owned(),
                    seq: event.seq,
                    sender: event.sender.to_owned(),
                    device_id: event.device_id.map(str::to_owned),
                    // Only the sender's own server needs it, to finish the pending send.
                    txn_id: event
                        .txn_id
                        .filter(|_| server_of(event.sender) == Some(destination.as_str()))
                        .map(str::to_owned),
                    event_type: event.event_type.to_owned(),
                    content,
                    origin_server_ts: event.origin_server_ts,
                },
            };
            let text = serde_json::to_string(&edu).unwrap_or_default();
            outbox::enqueue_to(
                &mut *conn,
                std::slice::from_ref(destination),
                EDU_ROOM_EVENT,
                &text,
                None,
            )
            .await?;
        }
        // Presence is sent when it changes; servers that start sharing a room with our users
        // need it now (after the room's state, so that they know the room).
        if let Some(server) = &snapshot_for {
            share_presence(
                &mut *conn,
                event.room_id,
                own,
                std::slice::from_ref(server),
                None,
            )
            .await?;
        }
        if let Some(user) = &local_joined {
            share_presence(&mut *conn, event.room_id, own, &destinations, Some(user)).await?;
        }
    }
    Ok(())
}

/// Sends the current presence of our members of a room (or of one of them) to `destinations`.
pub(super) async fn share_presence(
    conn: &mut PgConnection,
    room_id: &str,
    own: &str,
    destinations: &[String],
    only: Option<&str>,
) -> Result<(), sqlx::Error> {
    if destinations.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query!(
        r#"select p.user_id, p.online, extract(epoch from p.last_seen_at)::float8 as "seen!"
           from presence p join room_member m using (user_id)
           where m.room_id = $1 and m.membership = 'join'
             and substr(p.user_id, strpos(p.user_id, ':') + 1) = $2
             and ($3::text is null or p.user_id = $3)"#,
        room_id,
        own,
        only
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let edu = api::Presence {
            user_id: row.user_id,
            online: row.online,
            last_seen_ts: (row.seen * 1000.0) as i64,
        };
        let content = serde_json::to_string(&edu).unwrap_or_default();
        outbox::enqueue_to(
            &mut *conn,
            destinations,
            api::EDU_PRESENCE,
            &content,
            Some(EPHEMERAL_TTL),
        )
        .await?;
    }
    Ok(())
}

/// How many members of `server` are in the room.
async fn joined_on(
    conn: &mut PgConnection,
    room_id: &str,
    server: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from room_member where room_id = $1 and membership = 'join'
           and substr(user_id, strpos(user_id, ':') + 1) = $2"#,
        room_id,
        server
    )
    .fetch_one(conn)
    .await
}

async fn snapshot(conn: &mut PgConnection, room_id: &str) -> Result<RoomSnapshot, sqlx::Error> {
    let room = sqlx::query!(
        "select kind, creator, name, topic, direct_key from room where room_id = $1",
        room_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let members = sqlx::query!(
        "select user_id, role from room_member where room_id = $1 and membership = 'join'
         order by joined_at, user_id",
        room_id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|m| RoomMemberState {
        user_id: m.user_id,
        role: room_role(role_from(&m.role)),
    })
    .collect();
    Ok(RoomSnapshot {
        kind: room.kind,
        creator: room.creator,
        name: room.name,
        topic: room.topic,
        members,
        direct_pair: room
            .direct_key
            .map(|key| key.split(' ').map(str::to_owned).collect())
            .unwrap_or_default(),
    })
}

/// Why an EDU was not applied (told to the sender, which does not retry it).
type Refusal = &'static str;

impl Rooms {
    /// Whether this server owns the room.
    pub fn owns(&self, room_id: &str) -> bool {
        server_of(room_id) == Some(self.server_name.as_str())
    }

    pub(super) fn is_local_user(&self, user_id: &str) -> bool {
        server_of(user_id) == Some(self.server_name.as_str())
    }

    /// Wakes the sends waiting for their owner's event (after a replica event commits).
    pub fn arrived(&self) {
        self.arrivals.notify_waiters();
    }

    // ---- a member's server ---------------------------------------------------------------

    /// A send into another server's room: queued for the owner (once per transaction id),
    /// then answered with the owner's event if it comes back within [`SEND_WAIT`].
    pub(super) async fn send_remote(
        &self,
        user: &AuthUser,
        room_id: &str,
        event_type: &str,
        txn_id: &str,
        content: String,
    ) -> Result<SendOutcome, RoomError> {
        let Some(owner) = server_of(room_id).and_then(|s| ServerName::parse(s).ok()) else {
            return Err(RoomError::no_room());
        };
        let mut tx = self.db.begin().await?;
        self.require_member(&mut tx, room_id, &user.user_id).await?;
        if let Some(sent) = self.stored_send(&mut tx, user, txn_id).await? {
            return Ok(SendOutcome::Stored(sent));
        }
        let queued = sqlx::query!(
            "insert into room_pending_send (sender, device_id, txn_id, room_id, type, content)
             values ($1, $2, $3, $4, $5, $6::text::jsonb) on conflict do nothing",
            user.user_id,
            user.device_id,
            txn_id,
            room_id,
            event_type,
            content
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if queued {
            let content = RawValue::from_string(content)
                .map_err(|_| RoomError::invalid("Event content must be a JSON object."))?;
            let edu = RoomSend {
                room_id: room_id.to_owned(),
                sender: user.user_id.clone(),
                device_id: user.device_id.clone(),
                txn_id: txn_id.to_owned(),
                event_type: event_type.to_owned(),
                content,
            };
            let text = serde_json::to_string(&edu)
                .map_err(|_| RoomError::invalid("Event content must be a JSON object."))?;
            outbox::enqueue(&mut tx, &owner, EDU_ROOM_SEND, &text).await?;
        }
        tx.commit().await?;
        // An owner we are backing off from will not answer in time: say so at once.
        let failing = sqlx::query_scalar!(
            r#"select exists (select 1 from federation_destination
               where destination = $1 and failure_count > 0) as "failing!""#,
            owner.as_str()
        )
        .fetch_one(&self.db)
        .await?;
        if failing {
            return Ok(SendOutcome::Pending);
        }
        self.wait_for_owner(user, txn_id).await
    }

    /// This device's sends in `room_id` still waiting for the room's server.
    pub(super) async fn pending_sends(
        &self,
        conn: &mut PgConnection,
        user: &AuthUser,
        room_id: &str,
    ) -> Result<Vec<PendingEvent>, sqlx::Error> {
        Ok(sqlx::query!(
            r#"select txn_id, type, content as "content: Value", created_at
               from room_pending_send where sender = $1 and device_id = $2 and room_id = $3
               order by created_at, txn_id"#,
            user.user_id,
            user.device_id,
            room_id
        )
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(|r| PendingEvent {
            txn_id: r.txn_id,
            event_type: r.r#type,
            content: r.content,
            queued_at: super::millis(r.created_at),
        })
        .collect())
    }

    async fn stored_send(
        &self,
        conn: &mut PgConnection,
        user: &AuthUser,
        txn_id: &str,
    ) -> Result<Option<SendResponse>, sqlx::Error> {
        Ok(sqlx::query!(
            "select event_id, seq from event where sender = $1 and device_id = $2 and txn_id = $3",
            user.user_id,
            user.device_id,
            txn_id
        )
        .fetch_optional(conn)
        .await?
        .map(|r| SendResponse {
            event_id: r.event_id,
            seq: r.seq,
        }))
    }

    /// Waits (at most [`SEND_WAIT`]) until the owner's event for the send is here, or the
    /// owner refused it. Woken by replica events of this process; another process's are seen
    /// by a slower look every second.
    async fn wait_for_owner(
        &self,
        user: &AuthUser,
        txn_id: &str,
    ) -> Result<SendOutcome, RoomError> {
        let deadline = tokio::time::Instant::now() + SEND_WAIT;
        loop {
            let arrived = self.arrivals.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let mut conn = self.db.acquire().await?;
            if let Some(sent) = self.stored_send(&mut conn, user, txn_id).await? {
                return Ok(SendOutcome::Stored(sent));
            }
            let pending = sqlx::query_scalar!(
                r#"select exists (select 1 from room_pending_send
                   where sender = $1 and device_id = $2 and txn_id = $3) as "pending!""#,
                user.user_id,
                user.device_id,
                txn_id
            )
            .fetch_one(&mut *conn)
            .await?;
            drop(conn);
            if !pending {
                return Err(refused_send());
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(SendOutcome::Pending);
            }
            let look_again = (now + Duration::from_secs(1)).min(deadline);
            tokio::select! {
                () = arrived => {}
                () = tokio::time::sleep_until(look_again) => {}
            }
        }
    }

    /// Asks the owner of a direct room to let the caller (and the other party) back in, and
    /// waits (at most [`SEND_WAIT`]) until the owner's membership events are here, so that the
    /// caller can open the room at once.
    pub(super) async fn forward_rejoin(
        &self,
        user: &AuthUser,
        room_id: &str,
    ) -> Result<(), RoomError> {
        self.forward_op_as_party(user, room_id, RoomOp::RejoinDirect)
            .await?;
        let deadline = tokio::time::Instant::now() + SEND_WAIT;
        loop {
            let arrived = self.arrivals.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let mut conn = self.db.acquire().await?;
            if self
                .membership(&mut conn, room_id, &user.user_id)
                .await?
                .is_some()
            {
                return Ok(());
            }
            drop(conn);
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(RoomError::refused(
                    503,
                    ErrorCode::Unavailable,
                    "The room's server has not confirmed yet; try again shortly.",
                ));
            }
            tokio::select! {
                () = arrived => {}
                () = tokio::time::sleep_until((now + Duration::from_secs(1)).min(deadline)) => {}
            }
        }
    }

    /// Asks the owner of `room_id` to make a change for `user` (a member of ours). The owner's
    /// own words are never passed on: each refusal gets our fixed message.
    pub(super) async fn forward_op(
        &self,
        user: &AuthUser,
        room_id: &str,
        op: RoomOp,
    ) -> Result<(), RoomError> {
        let mut conn = self.db.acquire().await?;
        self.require_member(&mut conn, room_id, &user.user_id)
            .await?;
        drop(conn);
        self.forward_op_as_party(user, room_id, op).await
    }

    /// [`Rooms::forward_op`] without our membership check (for leaving parties of direct
    /// rooms, which the owner checks).
    async fn forward_op_as_party(
        &self,
        user: &AuthUser,
        room_id: &str,
        op: RoomOp,
    ) -> Result<(), RoomError> {
        let federation = self.federation.as_ref().ok_or_else(RoomError::no_room)?;
        let owner = server_of(room_id)
            .and_then(|s| ServerName::parse(s).ok())
            .ok_or_else(RoomError::no_room)?;
        let request = RoomOpRequest {
            room_id: room_id.to_owned(),
            sender: user.user_id.clone(),
            op,
        };
        let body = serde_json::to_vec(&request).map_err(|e| RoomError::Batch(e.to_string()))?;
        let sent = tokio::time::timeout(
            REMOTE_TIMEOUT,
            federation
                .client()
                .send(&owner, Method::POST, ROOM_OP_PATH, Some(body)),
        )
        .await;
        match sent {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(ClientError::Status(status))) => Err(match status {
                400 => RoomError::invalid("The room's server refused this change as invalid."),
                403 => RoomError::forbidden("You are not allowed to do this in this room."),
                404 => {
                    RoomError::refused(404, ErrorCode::NotFound, "No such room, member or user.")
                }
                409 => RoomError::refused(409, ErrorCode::InvalidParam, "Already a member."),
                _ => room_server_unreachable(),
            }),
            Ok(Err(e)) => {
                tracing::info!(error = %e, %owner, "room operation at its server failed");
                Err(room_server_unreachable())
            }
            Err(_) => Err(room_server_unreachable()),
        }
    }

    /// Users of other servers that exist there, asked of each server at once. `Err` when a
    /// server cannot be asked.
    pub(super) async fn check_remote_users(&self, user_ids: &[String]) -> Result<(), RoomError> {
        if user_ids.is_empty() {
            return Ok(());
        }
        let Some(federation) = &self.federation else {
            return Err(no_such_user(&user_ids[0]));
        };
        let mut by_server: HashMap<ServerName, Vec<String>> = HashMap::new();
        for id in user_ids {
            let server = server_of(id)
                .and_then(|s| ServerName::parse(s).ok())
                .filter(|_| id.starts_with('@'))
                .ok_or_else(|| no_such_user(id))?;
            if !federation.peer_allowed(&server) {
                return Err(RoomError::forbidden(format!(
                    "This server does not federate with {server}."
                )));
            }
            by_server.entry(server).or_default().push(id.clone());
        }
        for (server, users) in by_server {
            let body = serde_json::to_vec(&QueryUsersRequest {
                user_ids: users.clone(),
            })
            .map_err(|e| RoomError::Batch(e.to_string()))?;
            let answer = tokio::time::timeout(
                REMOTE_TIMEOUT,
                federation
                    .client()
                    .send(&server, Method::POST, QUERY_USERS_PATH, Some(body)),
            )
            .await;
            let found: QueryUsersResponse = match answer {
                Ok(Ok(answer)) => serde_json::from_slice(&answer.body).unwrap_or_default(),
                Ok(Err(e)) => {
                    tracing::info!(error = %e, %server, "user look-up failed");
                    return Err(user_server_unreachable(&server));
                }
                Err(_) => return Err(user_server_unreachable(&server)),
            };
            if let Some(missing) = users.iter().find(|u| !found.users.contains(u)) {
                return Err(no_such_user(missing));
            }
        }
        Ok(())
    }

    /// Typing and receipts of our users in a room reach the room's other servers (best
    /// effort).
    pub(super) async fn federate_ephemeral(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        room_id: &str,
        edu_type: &str,
        content: &str,
    ) -> Result<(), sqlx::Error> {
        if self.federation.is_none() {
            return Ok(());
        }
        let servers = outbox::room_servers(tx, room_id, &self.server_name).await?;
        let ttl = if edu_type == EDU_TYPING {
            TYPING_TTL
        } else {
            EPHEMERAL_TTL
        };
        outbox::enqueue_to(tx, &servers, edu_type, content, Some(ttl)).await
    }

    // ---- the owner ---------------------------------------------------------------------------

    /// Another server's users' sends, in order, stored in the receiving transaction `tx`.
    /// Each answer is `Ok` once stored (also for a retry) or the refusal.
    pub async fn receive_sends(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        origin: &ServerName,
        sends: &[RoomSend],
    ) -> Result<Vec<Result<(), Refusal>>, RoomError> {
        let mut answers = vec![Ok(()); sends.len()];
        let mut queued = Vec::with_capacity(sends.len());
        let mut at = Vec::with_capacity(sends.len());
        for (i, send) in sends.iter().enumerate() {
            let checked = if server_of(&send.sender) != Some(origin.as_str()) {
                Err("The sender is not a user of the origin server.")
            } else if !self.owns(&send.room_id) {
                Err("This server does not own the room.")
            } else {
                check_remote_send(send)
            };
            match checked {
                Ok(()) => {
                    queued.push(super::batch::Queued {
                        room_id: send.room_id.clone(),
                        sender: send.sender.clone(),
                        device_id: send.device_id.clone(),
                        txn_id: send.txn_id.clone(),
                        event_type: send.event_type.clone(),
                        content: send.content.get().to_owned(),
                    });
                    at.push(i);
                }
                Err(reason) => answers[i] = Err(reason),
            }
        }
        if queued.is_empty() {
            return Ok(answers);
        }
        let written = super::batch::write_in(tx, &queued, Some(&self.server_name))
            .await
            .map_err(|e| RoomError::Batch(e.to_string()))?;
        for (i, answer) in at.into_iter().zip(written) {
            if answer.is_err() {
                answers[i] = Err("The sender is not a member of the room.");
            }
        }
        Ok(answers)
    }

    /// A change asked by a member of `origin`, checked as if they were ours.
    pub async fn apply_remote_op(
        &self,
        origin: &ServerName,
        request: RoomOpRequest,
    ) -> Result<(), RoomError> {
        if server_of(&request.sender) != Some(origin.as_str()) {
            return Err(RoomError::forbidden(
                "The sender is not a user of the origin server.",
            ));
        }
        if !self.owns(&request.room_id) {
            return Err(RoomError::no_room());
        }
        let actor = remote_actor(&request.sender);
        let room_id = request.room_id.as_str();
        match request.op {
            RoomOp::Add { user_id, role } => {
                self.add_member(&actor, room_id, &user_id, role_of(role))
                    .await
            }
            RoomOp::Remove { user_id } => self.remove_member(&actor, room_id, &user_id).await,
            RoomOp::SetRole { user_id, role } => {
                self.set_role(&actor, room_id, &user_id, role_of(role))
                    .await
            }
            RoomOp::Update { name, topic } => {
                self.update(&actor, room_id, name.as_deref(), topic.as_deref())
                    .await
            }
            RoomOp::RejoinDirect => {
                let other = sqlx::query_scalar!(
                    "select direct_key from room where room_id = $1 and kind = 'direct'",
                    room_id
                )
                .fetch_optional(&self.db)
                .await?
                .flatten()
                .and_then(|key| {
                    let mut pair = key.split(' ');
                    let (a, b) = (pair.next()?, pair.next()?);
                    if a == request.sender {
                        Some(b.to_owned())
                    } else if b == request.sender {
                        Some(a.to_owned())
                    } else {
                        None
                    }
                })
                .ok_or_else(RoomError::no_room)?;
                self.direct(&actor, &other).await.map(|_| ())
            }
        }
    }

    // ---- a replica ---------------------------------------------------------------------------

    /// An event of a room `origin` owns, for our replica: applied once per seq, with its
    /// membership, name and topic effects, announced to our users like our own events.
    pub async fn receive_event(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        origin: &ServerName,
        edu: &RoomEvent,
    ) -> Result<Result<(), Refusal>, RoomError> {
        let room_id = edu.room_id.as_str();
        if server_of(room_id) != Some(origin.as_str()) || self.owns(room_id) {
            return Ok(Err("Only a room's server sends its events."));
        }
        let event = &edu.event;
        if let Err(reason) = check_remote_event(event) {
            return Ok(Err(reason));
        }
        // We keep a replica for our members only: a room's state must name one of ours, and
        // once none is in the room, nothing but a membership event about one of ours is taken
        // (an honest owner stops sending then anyway).
        let about_ours = event.event_type == event_type::MEMBER
            && serde_json::from_str::<Value>(event.content.get())
                .ok()
                .and_then(|c| c.get("user_id").and_then(Value::as_str).map(str::to_owned))
                .is_some_and(|u| self.is_local_user(&u));
        let ours_in = match &edu.snapshot {
            Some(snapshot) => snapshot
                .members
                .iter()
                .any(|m| self.is_local_user(&m.user_id)),
            None => {
                sqlx::query_scalar!(
                    r#"select exists (select 1 from room_member where room_id = $1
                   and membership = 'join'
                   and substr(user_id, strpos(user_id, ':') + 1) = $2) as "ours_in!""#,
                    room_id,
                    self.server_name
                )
                .fetch_one(&mut **tx)
                .await?
            }
        };
        if !about_ours && !ours_in {
            return Ok(Err("None of our users is in the room."));
        }
        if let Some(snapshot) = &edu.snapshot
            && let Err(reason) = self
                .apply_snapshot(tx, room_id, snapshot, event.seq - 1)
                .await?
        {
            return Ok(Err(reason));
        }
        let Some(last_seq) = sqlx::query_scalar!(
            "select last_seq from room where room_id = $1 for update",
            room_id
        )
        .fetch_optional(&mut **tx)
        .await?
        else {
            return Ok(Err("Unknown room."));
        };
        if event.seq <= last_seq {
            // Seen already (a transaction sent again, or state that covered it).
            return Ok(Ok(()));
        }
        let taken = sqlx::query_scalar!(
            r#"select exists (select 1 from event where event_id = $1) as "taken!""#,
            event.event_id
        )
        .fetch_one(&mut **tx)
        .await?;
        if taken {
            return Ok(Err("The event id is taken."));
        }
        // A transaction id is kept for our own users' events only, and only once.
        let mut txn_id = event
            .txn_id
            .as_deref()
            .filter(|_| self.is_local_user(&event.sender));
        if let (Some(txn), Some(device)) = (txn_id, event.device_id.as_deref()) {
            let used = sqlx::query_scalar!(
                r#"select exists (select 1 from event
                   where sender = $1 and device_id = $2 and txn_id = $3) as "used!""#,
                event.sender,
                device,
                txn
            )
            .fetch_one(&mut **tx)
            .await?;
            if used {
                txn_id = None;
            }
        }
        sqlx::query!(
            "update room set last_seq = $2, last_event_at = now() where room_id = $1",
            room_id,
            event.seq
        )
        .execute(&mut **tx)
        .await?;
        let membership_change = self.apply_effects(tx, room_id, event).await?;
        let stream_pos =
            sqlx::query_scalar!("update stream_position set last = last + 1 returning last")
                .fetch_one(&mut **tx)
                .await?;
        sqlx::query!(
            "insert into event (event_id, room_id, seq, stream_pos, sender, device_id, txn_id,
                                type, content, origin_server_ts)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb,
                     to_timestamp($10::float8 / 1000))",
            event.event_id,
            room_id,
            event.seq,
            stream_pos,
            event.sender,
            event.device_id,
            txn_id,
            event.event_type,
            event.content.get(),
            event.origin_server_ts as f64,
        )
        .execute(&mut **tx)
        .await?;
        super::notify_events(tx, stream_pos, stream_pos).await?;
        // After the event: the room row, then the stream row, as every writer locks them.
        if let Some((user_id, joined)) = membership_change {
            record_membership(tx, room_id, &user_id, joined).await?;
            if joined && self.is_local_user(&user_id) {
                let servers = outbox::room_servers(tx, room_id, &self.server_name).await?;
                share_presence(tx, room_id, &self.server_name, &servers, Some(&user_id)).await?;
            }
        }
        if let (Some(txn), Some(device)) = (event.txn_id.as_deref(), event.device_id.as_deref())
            && self.is_local_user(&event.sender)
        {
            let done = sqlx::query!(
                "delete from room_pending_send where sender = $1 and device_id = $2 and txn_id = $3",
                event.sender,
                device,
                txn
            )
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if done > 0 {
                let frame = ServerFrame::Sent {
                    txn_id: txn.to_owned(),
                    event_id: event.event_id.clone(),
                    seq: event.seq,
                };
                notify_device(tx, &event.sender, device, &frame).await?;
            }
        }
        Ok(Ok(()))
    }

    /// Makes our replica's room and members what the owner says they are as of `seq`.
    async fn apply_snapshot(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        room_id: &str,
        snapshot: &RoomSnapshot,
        seq: i64,
    ) -> Result<Result<(), Refusal>, RoomError> {
        let kind = snapshot.kind.as_str();
        if !matches!(kind, "direct" | "group")
            || snapshot.members.len() > 10_000
            || (kind == "direct"
                && (snapshot.direct_pair.len() != 2
                    || snapshot.direct_pair.iter().any(|u| !is_user_id(u))
                    || snapshot
                        .members
                        .iter()
                        .any(|m| !snapshot.direct_pair.contains(&m.user_id))))
            || snapshot
                .members
                .iter()
                .any(|m| !is_user_id(&m.user_id) || m.user_id.contains('\0'))
            || [&snapshot.name, &snapshot.topic].iter().any(|t| {
                t.as_deref()
                    .is_some_and(|t| t.contains('\0') || t.len() > 4096)
            })
            || !is_user_id(&snapshot.creator)
        {
            return Ok(Err("Malformed room state."));
        }
        let direct_key = if kind == "direct" {
            let mut pair: Vec<&str> = snapshot.direct_pair.iter().map(String::as_str).collect();
            pair.sort_unstable();
            let key = pair.join(" ");
            // Both servers made a direct room for the pair at once: keep both, the other
            // under a key of its own.
            let clash = sqlx::query_scalar!(
                r#"select exists (select 1 from room where direct_key = $1 and room_id <> $2) as "clash!""#,
                key,
                room_id
            )
            .fetch_one(&mut **tx)
            .await?;
            Some(if clash {
                format!("{key} {room_id}")
            } else {
                key
            })
        } else {
            None
        };
        sqlx::query!(
            "insert into room (room_id, kind, name, topic, direct_key, creator, last_seq)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (room_id) do update set name = $3, topic = $4,
                 last_seq = greatest(room.last_seq, $7)",
            room_id,
            kind,
            snapshot.name,
            snapshot.topic,
            direct_key,
            snapshot.creator,
            seq
        )
        .execute(&mut **tx)
        .await?;
        let joined: Vec<String> = sqlx::query_scalar!(
            "select user_id from room_member where room_id = $1 and membership = 'join'",
            room_id
        )
        .fetch_all(&mut **tx)
        .await?;
        let mut changes = Vec::new();
        for member in &snapshot.members {
            sqlx::query!(
                "insert into room_member (room_id, user_id, role, membership) values ($1, $2, $3, 'join')
                 on conflict (room_id, user_id) do update set role = $3, membership = 'join'",
                room_id,
                member.user_id,
                role_str(role_of(member.role)),
            )
            .execute(&mut **tx)
            .await?;
            if !joined.contains(&member.user_id) {
                changes.push((member.user_id.clone(), true));
            }
        }
        for gone in joined
            .into_iter()
            .filter(|j| !snapshot.members.iter().any(|m| &m.user_id == j))
        {
            sqlx::query!(
                "update room_member set membership = 'leave' where room_id = $1 and user_id = $2",
                room_id,
                gone
            )
            .execute(&mut **tx)
            .await?;
            changes.push((gone, false));
        }
        // Room row before the stream row (record_membership takes positions).
        sqlx::query!(
            "select 1 as one from room where room_id = $1 for update",
            room_id
        )
        .fetch_one(&mut **tx)
        .await?;
        for (user_id, joined) in changes {
            record_membership(tx, room_id, &user_id, joined).await?;
        }
        let servers = outbox::room_servers(tx, room_id, &self.server_name).await?;
        share_presence(tx, room_id, &self.server_name, &servers, None).await?;
        Ok(Ok(()))
    }

    /// The membership, name or topic change an event makes; returns a membership change to
    /// record for device lists.
    async fn apply_effects(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        room_id: &str,
        event: &RoomEventData,
    ) -> Result<Option<(String, bool)>, RoomError> {
        let content: Value = serde_json::from_str(event.content.get()).unwrap_or(Value::Null);
        match event.event_type.as_str() {
            event_type::MEMBER => {
                let (Some(user_id), Some(membership)) = (
                    content.get("user_id").and_then(Value::as_str),
                    content.get("membership").and_then(Value::as_str),
                ) else {
                    return Ok(None);
                };
                if !is_user_id(user_id) || !matches!(membership, "join" | "leave") {
                    return Ok(None);
                }
                let role = content
                    .get("role")
                    .and_then(Value::as_str)
                    .map_or(Role::Member, role_from);
                let before = upsert_member(tx, room_id, user_id, role, membership).await?;
                Ok((before.as_deref() != Some(membership))
                    .then(|| (user_id.to_owned(), membership == "join")))
            }
            event_type::NAME => {
                if let Some(name) = content.get("name").and_then(Value::as_str) {
                    sqlx::query!(
                        "update room set name = $2 where room_id = $1",
                        room_id,
                        name
                    )
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(None)
            }
            event_type::TOPIC => {
                let topic = content.get("topic").and_then(Value::as_str);
                sqlx::query!(
                    "update room set topic = $2 where room_id = $1",
                    room_id,
                    topic
                )
                .execute(&mut **tx)
                .await?;
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// A remote member's typing notice, for our members of the room.
    pub async fn receive_typing(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        origin: &ServerName,
        typing: &api::Typing,
    ) -> Result<Result<(), Refusal>, RoomError> {
        if server_of(&typing.user_id) != Some(origin.as_str()) {
            return Ok(Err("The user is not of the origin server."));
        }
        if self
            .membership(tx, &typing.room_id, &typing.user_id)
            .await?
            .is_none()
        {
            return Ok(Err("Not a member of the room."));
        }
        let frame = ServerFrame::Typing {
            room_id: typing.room_id.clone(),
            user_id: typing.user_id.clone(),
            typing: typing.typing,
        };
        notify_ephemeral(tx, &typing.room_id, Some(&typing.user_id), &frame).await?;
        Ok(Ok(()))
    }

    /// A remote member's delivery and read positions: moved forward on our copy of their
    /// membership, and shown to our members.
    pub async fn receive_receipt(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        origin: &ServerName,
        receipt: &api::Receipt,
    ) -> Result<Result<(), Refusal>, RoomError> {
        if server_of(&receipt.user_id) != Some(origin.as_str()) {
            return Ok(Err("The user is not of the origin server."));
        }
        let row = sqlx::query!(
            "update room_member set delivered_seq = greatest(delivered_seq, $3, $4),
                                    read_seq = greatest(read_seq, $4)
             where room_id = $1 and user_id = $2 and membership = 'join'
             returning delivered_seq, read_seq",
            receipt.room_id,
            receipt.user_id,
            receipt.delivered_seq,
            receipt.read_seq
        )
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else {
            return Ok(Err("Not a member of the room."));
        };
        let frame = ServerFrame::Receipt {
            room_id: receipt.room_id.clone(),
            user_id: receipt.user_id.clone(),
            delivered_seq: row.delivered_seq,
            read_seq: row.read_seq,
        };
        notify_ephemeral(tx, &receipt.room_id, None, &frame).await?;
        Ok(Ok(()))
    }
}

/// What our server's outbox does with an EDU the receiver refused: a refused send is no
/// longer pending, and its device is told.
pub async fn refused(db: &PgPool, edu: &Edu) {
    if edu.edu_type != EDU_ROOM_SEND {
        return;
    }
    let Ok(send) = serde_json::from_str::<RoomSend>(edu.content.get()) else {
        return;
    };
    let done = async {
        let mut tx = db.begin().await?;
        let removed = sqlx::query!(
            "delete from room_pending_send where sender = $1 and device_id = $2 and txn_id = $3",
            send.sender,
            send.device_id,
            send.txn_id
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if removed > 0 {
            let error = refused_send();
            let frame = ServerFrame::Error {
                txn_id: Some(send.txn_id.clone()),
                errcode: ErrorCode::Forbidden,
                error: error.to_string(),
            };
            notify_device(&mut tx, &send.sender, &send.device_id, &frame).await?;
        }
        tx.commit().await
    };
    if let Err(e) = done.await {
        tracing::warn!(error = %e, "cannot record a refused send");
    }
}

/// A frame for one device of a local user, through the ephemeral channel.
async fn notify_device(
    tx: &mut Transaction<'_, Postgres>,
    user_id: &str,
    device_id: &str,
    frame: &ServerFrame,
) -> Result<(), sqlx::Error> {
    let device = DeviceRef {
        user_id: user_id.to_owned(),
        device_id: device_id.to_owned(),
    };
    let payload = serde_json::json!({"device": device, "frame": frame}).to_string();
    sqlx::query!("select pg_notify($1, $2)", EPHEMERAL_CHANNEL, payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn refused_send() -> RoomError {
    RoomError::forbidden("The room's server refused this message.")
}

fn room_server_unreachable() -> RoomError {
    RoomError::refused(
        503,
        ErrorCode::Unavailable,
        "The room's server cannot be reached; try again later.",
    )
}

fn user_server_unreachable(server: &ServerName) -> RoomError {
    RoomError::refused(
        503,
        ErrorCode::Unavailable,
        format!("{server} cannot be reached; try again later."),
    )
}

fn no_such_user(user_id: &str) -> RoomError {
    RoomError::refused(404, ErrorCode::NotFound, format!("No user {user_id}."))
}

/// `@localpart:server`, with a localpart of `a-z 0-9 . _ = -`.
fn is_user_id(id: &str) -> bool {
    let Some((local, server)) = id.strip_prefix('@').and_then(|r| r.split_once(':')) else {
        return false;
    };
    (1..=64).contains(&local.len())
        && local
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'=' | b'-'))
        && ServerName::parse(server).is_ok_and(|s| s.as_str() == server)
}

fn well_formed_type(event_type: &str) -> bool {
    (1..=100).contains(&event_type.len())
        && event_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
}

fn content_ok(content: &RawValue) -> bool {
    content.get().len() <= MAX_CONTENT_BYTES
        && serde_json::from_str::<Value>(content.get()).is_ok_and(|v| v.is_object() && !has_nul(&v))
}

/// What the owner checks of a remote send before ordering it (the membership check is the
/// batch's).
fn check_remote_send(send: &RoomSend) -> Result<(), Refusal> {
    if !well_formed_type(&send.event_type) || send.event_type.starts_with("parley.room.") {
        return Err("The event type is not allowed.");
    }
    if send.txn_id.is_empty()
        || send.txn_id.len() > 128
        || send.txn_id.contains('\0')
        || send.device_id.is_empty()
        || send.device_id.len() > 255
        || send.device_id.contains('\0')
        || send.room_id.contains('\0')
    {
        return Err("Malformed send.");
    }
    if !content_ok(&send.content) {
        return Err("The content is not an acceptable JSON object.");
    }
    Ok(())
}

/// What a replica checks of an owner's event before storing it: PostgreSQL refuses NUL, and a
/// value it refuses would fail the whole transaction every time it is sent.
fn check_remote_event(event: &RoomEventData) -> Result<(), Refusal> {
    let text_ok = |t: &str, max: usize| !t.is_empty() && t.len() <= max && !t.contains('\0');
    if event.seq < 1
        || !event.event_id.starts_with('$')
        || !text_ok(&event.event_id, 255)
        || !is_user_id(&event.sender)
        || !well_formed_type(&event.event_type)
        || event.device_id.as_deref().is_some_and(|d| !text_ok(d, 255))
        || event.txn_id.as_deref().is_some_and(|t| !text_ok(t, 128))
    {
        return Err("Malformed event.");
    }
    // The owner's own room events are larger than a client's cap allows only by their small
    // wrapper; twice the cap is plenty.
    if event.content.get().len() > 2 * MAX_CONTENT_BYTES
        || !serde_json::from_str::<Value>(event.content.get())
            .is_ok_and(|v| v.is_object() && !has_nul(&v))
    {
        return Err("The content is not an acceptable JSON object.");
    }
    Ok(())
}

/// The EDU of a local member's receipt.
pub(super) fn receipt_edu(room_id: &str, user_id: &str, delivered: i64, read: i64) -> String {
    serde_json::to_string(&api::Receipt {
        room_id: room_id.to_owned(),
        user_id: user_id.to_owned(),
        delivered_seq: delivered,
        read_seq: read,
    })
    .unwrap_or_default()
}

/// The EDU of a local member's typing notice.
pub(super) fn typing_edu(room_id: &str, user_id: &str, typing: bool) -> String {
    serde_json::to_string(&api::Typing {
        room_id: room_id.to_owned(),
        user_id: user_id.to_owned(),
        typing,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_server() {
        assert_eq!(server_of("!abc:org-a.example"), Some("org-a.example"));
        assert_eq!(server_of("@bob:org-b.example"), Some("org-b.example"));
        assert_eq!(server_of("nocolon"), None);
        assert_eq!(server_of("@bob:"), None);
        assert!(is_user_id("@bob:org-b.example"));
        assert!(!is_user_id("@Bob:org-b.example"));
        assert!(!is_user_id("bob:org-b.example"));
    }
}
