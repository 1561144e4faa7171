//! Rooms and their timelines on the owning server: creation, membership and roles, events with
//! per-room sequence numbers, idempotent sends, history, the room list and read markers.
//!
//! Every check is made here, on the server: only members read or send; only admins and owners
//! change membership, roles, name and topic; nobody but an owner removes or demotes an owner.
//! Each change is an event in the room's timeline, written in the same transaction as the change.

use std::collections::HashMap;

use parley_client_api::{
    ErrorCode,
    rooms::{
        Event, History, MAX_CONTENT_BYTES, Member, Role, RoomKind, RoomList, RoomSummary,
        event_type,
    },
    ws::ServerFrame,
};
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;

use crate::accounts::AuthUser;

mod batch;
pub mod federated;

pub use federated::SendOutcome;

/// Largest page of history.
const MAX_PAGE: i64 = 200;

/// A failure a client can act on, or an internal one.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// Refused with a status, a code and a message for the user.
    #[error("{message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The stable code.
        code: ErrorCode,
        /// What to tell the user.
        message: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A batched send failed (the database, for every send of the batch) or could not be
    /// queued; the client retries with the same transaction id.
    #[error("batched send: {0}")]
    Batch(String),
}

impl RoomError {
    fn refused(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Refused {
            status,
            code,
            message: message.into(),
        }
    }
    fn invalid(message: impl Into<String>) -> Self {
        Self::refused(400, ErrorCode::InvalidParam, message)
    }
    fn forbidden(message: impl Into<String>) -> Self {
        Self::refused(403, ErrorCode::Forbidden, message)
    }
    /// Also for rooms the caller is not in: their existence is not revealed.
    fn no_room() -> Self {
        Self::refused(
            404,
            ErrorCode::NotFound,
            "No such room, or you are not in it.",
        )
    }
}

/// The room service of one server.
#[derive(Clone)]
pub struct Rooms {
    db: PgPool,
    server_name: String,
    sends: batch::Batcher,
    /// Rooms of other servers need it; without it, rooms are local only.
    federation: Option<crate::federation::Federation>,
    /// Woken when events of other servers' rooms arrive (pending sends wait for theirs).
    arrivals: std::sync::Arc<tokio::sync::Notify>,
}

/// An event about to be written.
struct NewEvent<'a> {
    room_id: &'a str,
    sender: &'a str,
    device_id: Option<&'a str>,
    txn_id: Option<&'a str>,
    event_type: &'a str,
    content: Value,
}

impl<'a> NewEvent<'a> {
    /// An event the server writes on `sender`'s behalf (a room change, not a client send).
    fn change(room_id: &'a str, sender: &'a str, event_type: &'a str, content: Value) -> Self {
        Self {
            room_id,
            sender,
            device_id: None,
            txn_id: None,
            event_type,
            content,
        }
    }
}

impl Rooms {
    /// The service for `server_name`, committing client sends in batches of up to
    /// `send_batch_max`; with `federation`, rooms may have members on other servers. Starts its
    /// committer task, so call it inside a Tokio runtime.
    pub fn new(
        db: PgPool,
        server_name: &str,
        send_batch_max: usize,
        federation: Option<crate::federation::Federation>,
    ) -> Self {
        // Without federation no room has remote members: the committer skips the fan-out.
        let fan_out_as = federation.is_some().then(|| server_name.to_owned());
        Self {
            sends: batch::Batcher::start(&db, send_batch_max, fan_out_as),
            db,
            server_name: server_name.to_owned(),
            federation,
            arrivals: std::sync::Arc::default(),
        }
    }

    /// The database pool.
    pub fn db(&self) -> &PgPool {
        &self.db
    }

    // ---- creation --------------------------------------------------------------------------

    /// The direct room of the caller and `with`, made on first use; returns it and whether it
    /// was new. Someone who had left it joins again.
    pub async fn direct(&self, user: &AuthUser, with: &str) -> Result<(String, bool), RoomError> {
        let with = self.existing_user(with).await?;
        if with == user.user_id {
            return Err(RoomError::invalid("A direct room needs someone else."));
        }
        let mut pair = [user.user_id.as_str(), with.as_str()];
        pair.sort_unstable();
        let key = pair.join(" ");
        let mut tx = self.db.begin().await?;
        let room_id = self.new_room_id();
        let created = sqlx::query_scalar!(
            "insert into room (room_id, kind, direct_key, creator) values ($1, 'direct', $2, $3)
             on conflict (direct_key) do nothing returning room_id",
            room_id,
            key,
            user.user_id,
        )
        .fetch_optional(&mut *tx)
        .await?;
        if created.is_some() {
            self.append(
                &mut tx,
                NewEvent::change(
                    &room_id,
                    &user.user_id,
                    event_type::CREATE,
                    json!({"kind": "direct", "creator": user.user_id}),
                ),
            )
            .await?;
            for member in [&user.user_id, &with] {
                self.set_member(
                    &mut tx,
                    &room_id,
                    member,
                    Role::Member,
                    "join",
                    &user.user_id,
                )
                .await?;
            }
            tx.commit().await?;
            return Ok((room_id, true));
        }
        let existing = sqlx::query_scalar!("select room_id from room where direct_key = $1", key)
            .fetch_one(&mut *tx)
            .await?;
        if !self.owns(&existing) {
            // Another server's room: only its owner lets a party back in.
            let mut everyone_in = true;
            for member in [&user.user_id, &with] {
                everyone_in &= self.membership(&mut tx, &existing, member).await?.is_some();
            }
            drop(tx);
            if !everyone_in {
                self.forward_rejoin(user, &existing).await?;
            }
            return Ok((existing, false));
        }
        for member in [&user.user_id, &with] {
            let joined = self.membership(&mut tx, &existing, member).await?.is_some();
            if !joined {
                self.set_member(
                    &mut tx,
                    &existing,
                    member,
                    Role::Member,
                    "join",
                    &user.user_id,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok((existing, false))
    }

    /// A new group with the caller as owner.
    pub async fn create_group(
        &self,
        user: &AuthUser,
        name: &str,
        topic: Option<&str>,
        members: &[String],
    ) -> Result<String, RoomError> {
        let name = check_text(name, "name", 1, 128)?;
        let topic = topic.map(|t| check_text(t, "topic", 0, 1024)).transpose()?;
        if members.len() > 1000 {
            return Err(RoomError::invalid(
                "A group starts with at most 1000 members.",
            ));
        }
        let others = self.existing_users(members, &user.user_id).await?;
        let room_id = self.new_room_id();
        let mut tx = self.db.begin().await?;
        sqlx::query!(
            "insert into room (room_id, kind, name, topic, creator) values ($1, 'group', $2, $3, $4)",
            room_id,
            name,
            topic,
            user.user_id,
        )
        .execute(&mut *tx)
        .await?;
        self.append(
            &mut tx,
            NewEvent::change(
                &room_id,
                &user.user_id,
                event_type::CREATE,
                json!({"kind": "group", "creator": user.user_id, "name": name, "topic": topic}),
            ),
        )
        .await?;
        self.set_member(
            &mut tx,
            &room_id,
            &user.user_id,
            Role::Owner,
            "join",
            &user.user_id,
        )
        .await?;
        for member in &others {
            self.set_member(
                &mut tx,
                &room_id,
                member,
                Role::Member,
                "join",
                &user.user_id,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(room_id)
    }

    // ---- sending and reading -------------------------------------------------------------

    /// Sends a client event. A retry with the same transaction id from the same device returns
    /// the event stored the first time and stores nothing.
    pub async fn send(
        &self,
        user: &AuthUser,
        room_id: &str,
        event_type: &str,
        txn_id: &str,
        content: Value,
    ) -> Result<SendOutcome, RoomError> {
        check_client_event_type(event_type)?;
        if txn_id.is_empty() || txn_id.len() > 128 {
            return Err(RoomError::invalid(
                "A transaction id has 1 to 128 characters.",
            ));
        }
        if !content.is_object() {
            return Err(RoomError::invalid("Event content must be a JSON object."));
        }
        // PostgreSQL refuses NUL in text and jsonb, and one refused value would fail every
        // send batched with it: refuse it here, alone.
        if txn_id.contains('\0') {
            return Err(RoomError::invalid(
                "A transaction id cannot contain NUL characters.",
            ));
        }
        if room_id.contains('\0') {
            return Err(RoomError::no_room());
        }
        if has_nul(&content) {
            return Err(RoomError::invalid(
                "Event content cannot contain NUL characters.",
            ));
        }
        let content = serde_json::to_string(&content)
            .map_err(|_| RoomError::invalid("Event content must be a JSON object."))?;
        if content.len() > MAX_CONTENT_BYTES {
            return Err(RoomError::refused(
                413,
                ErrorCode::TooLarge,
                format!(
                    "Event content is limited to {} KiB.",
                    MAX_CONTENT_BYTES / 1024
                ),
            ));
        }
        if !self.owns(room_id) {
            return self
                .send_remote(user, room_id, event_type, txn_id, content)
                .await;
        }
        // Committed together with whatever other sends are waiting (see `batch`); a retry is
        // answered there, under the stream lock, with the event stored the first time.
        self.sends
            .send(batch::NewSend {
                room_id,
                sender: &user.user_id,
                device_id: &user.device_id,
                txn_id,
                event_type,
                content,
            })
            .await
            .map(SendOutcome::Stored)
    }

    /// Sends waiting for the committer (not yet in a batch being written).
    pub fn queued_sends(&self) -> usize {
        self.sends.queued()
    }

    /// Events before `before` (or the newest), oldest first.
    pub async fn history(
        &self,
        user: &AuthUser,
        room_id: &str,
        before: Option<i64>,
        limit: Option<i64>,
    ) -> Result<History, RoomError> {
        let mut conn = self.db.acquire().await?;
        self.require_member(&mut conn, room_id, &user.user_id)
            .await?;
        let limit = limit.unwrap_or(50).clamp(1, MAX_PAGE);
        // One more than asked: whether there is anything older (a replica of another server's
        // room starts where its first user joined, not at seq 1).
        let rows = sqlx::query_as!(
            EventRow,
            r#"select stream_pos, event_id, room_id, seq, sender, device_id, origin_server_ts,
                      type as event_type, content as "content: Value"
               from event where room_id = $1 and seq < $2
               order by seq desc limit $3"#,
            room_id,
            before.unwrap_or(i64::MAX),
            limit + 1,
        )
        .fetch_all(&mut *conn)
        .await?;
        let more = rows.len() as i64 > limit;
        let mut events: Vec<Event> = rows
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(Event::from)
            .collect();
        events.reverse();
        let next_before = events.first().map(|e| e.seq).filter(|_| more);
        let pending = if before.is_none() && !self.owns(room_id) {
            self.pending_sends(&mut conn, user, room_id).await?
        } else {
            Vec::new()
        };
        Ok(History {
            events,
            next_before,
            pending,
        })
    }

    /// The caller's rooms, most recently active first.
    pub async fn list(&self, user: &AuthUser) -> Result<RoomList, RoomError> {
        Ok(RoomList {
            rooms: self.summaries(user, None).await?,
        })
    }

    /// One room of the caller's.
    pub async fn summary(&self, user: &AuthUser, room_id: &str) -> Result<RoomSummary, RoomError> {
        self.summaries(user, Some(room_id))
            .await?
            .pop()
            .ok_or_else(RoomError::no_room)
    }

    /// The caller's rooms (or the one asked for), most recently active first, in three
    /// queries whatever their number: rooms, their members, their newest events.
    async fn summaries(
        &self,
        user: &AuthUser,
        only: Option<&str>,
    ) -> Result<Vec<RoomSummary>, RoomError> {
        let rows = sqlx::query!(
            r#"select r.room_id, r.kind, r.name, r.topic, m.role, m.read_seq,
                      (select count(*) from event e where e.room_id = r.room_id
                         and e.seq > m.read_seq and e.sender <> $1
                         and e.type not like 'parley.room.%') as "unread!"
               from room_member m join room r using (room_id)
               where m.user_id = $1 and m.membership = 'join'
                 and ($2::text is null or r.room_id = $2)
               order by r.last_event_at desc"#,
            user.user_id,
            only
        )
        .fetch_all(&self.db)
        .await?;
        let ids: Vec<String> = rows.iter().map(|r| r.room_id.clone()).collect();
        let mut members = self.members_of(&ids).await?;
        let mut last_events: HashMap<String, Event> = sqlx::query_as!(
            EventRow,
            r#"select distinct on (room_id) stream_pos, event_id, room_id, seq, sender, device_id,
                      origin_server_ts, type as event_type, content as "content: Value"
               from event where room_id = any($1)
               order by room_id, seq desc"#,
            &ids
        )
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| (row.room_id.clone(), Event::from(row)))
        .collect();
        Ok(rows
            .into_iter()
            .map(|row| RoomSummary {
                kind: kind_from(&row.kind),
                my_role: role_from(&row.role),
                members: members.remove(&row.room_id).unwrap_or_default(),
                last_event: last_events.remove(&row.room_id),
                room_id: row.room_id,
                name: row.name,
                topic: row.topic,
                unread_count: row.unread,
                read_seq: row.read_seq,
            })
            .collect())
    }

    /// Moves the caller's delivery marker (and, when `read`, read marker) forward: never back,
    /// never past the newest event. Reading implies delivery. Members are told live.
    pub async fn mark(
        &self,
        user: &AuthUser,
        room_id: &str,
        seq: i64,
        read: bool,
    ) -> Result<(i64, i64), RoomError> {
        let mut tx = self.db.begin().await?;
        self.require_member(&mut tx, room_id, &user.user_id).await?;
        let row = sqlx::query!(
            "update room_member m set
                 delivered_seq = greatest(m.delivered_seq, least($3, r.last_seq)),
                 read_seq = case when $4 then greatest(m.read_seq, least($3, r.last_seq))
                                 else m.read_seq end
             from room r where r.room_id = m.room_id and m.room_id = $1 and m.user_id = $2
             returning m.delivered_seq, m.read_seq",
            room_id,
            user.user_id,
            seq,
            read,
        )
        .fetch_one(&mut *tx)
        .await?;
        notify_ephemeral(
            &mut tx,
            room_id,
            None,
            &ServerFrame::Receipt {
                room_id: room_id.to_owned(),
                user_id: user.user_id.clone(),
                delivered_seq: row.delivered_seq,
                read_seq: row.read_seq,
            },
        )
        .await?;
        let edu = federated::receipt_edu(room_id, &user.user_id, row.delivered_seq, row.read_seq);
        self.federate_ephemeral(&mut tx, room_id, parley_federation::api::EDU_RECEIPT, &edu)
            .await?;
        tx.commit().await?;
        Ok((row.delivered_seq, row.read_seq))
    }

    /// Tells the room's members that the caller started or stopped typing.
    pub async fn typing(
        &self,
        user: &AuthUser,
        room_id: &str,
        typing: bool,
    ) -> Result<(), RoomError> {
        let mut tx = self.db.begin().await?;
        self.require_member(&mut tx, room_id, &user.user_id).await?;
        notify_ephemeral(
            &mut tx,
            room_id,
            Some(&user.user_id),
            &ServerFrame::Typing {
                room_id: room_id.to_owned(),
                user_id: user.user_id.clone(),
                typing,
            },
        )
        .await?;
        let edu = federated::typing_edu(room_id, &user.user_id, typing);
        self.federate_ephemeral(&mut tx, room_id, parley_federation::api::EDU_TYPING, &edu)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest stream position.
    pub async fn stream_position(&self) -> Result<i64, RoomError> {
        Ok(sqlx::query_scalar!("select last from stream_position")
            .fetch_one(&self.db)
            .await?)
    }

    /// Up to `limit` events in `(since, up_to]` that `user_id` may see, in stream order: the
    /// events of rooms they are in, and the event that removed them from a room.
    pub async fn events_since(
        &self,
        user_id: &str,
        since: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Event)>, RoomError> {
        let rows = sqlx::query_as!(
            EventRow,
            r#"select e.stream_pos, e.event_id, e.room_id, e.seq, e.sender, e.device_id,
                      e.origin_server_ts, e.type as event_type, e.content as "content: Value"
               from event e
               where e.stream_pos > $2 and e.stream_pos <= $4
                 and (e.room_id in (select room_id from room_member
                                    where user_id = $1 and membership = 'join')
                      or (e.type = 'parley.room.member' and e.content->>'user_id' = $1))
               order by e.stream_pos
               limit $3"#,
            user_id,
            since,
            limit,
            up_to,
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.stream_pos, Event::from(row)))
            .collect())
    }

    /// The events at `stream_positions` (in stream order) and who receives each live: the
    /// room's members, and the subject of a membership event (so a removed member learns of
    /// it). One query for a whole burst of announced events.
    pub async fn events_and_recipients(
        &self,
        stream_positions: &[i64],
    ) -> Result<Vec<(i64, Event, Vec<String>)>, RoomError> {
        let rows = sqlx::query!(
            r#"select e.stream_pos as "stream_pos!", e.event_id as "event_id!",
                      e.room_id as "room_id!", e.seq as "seq!", e.sender as "sender!", e.device_id,
                      e.origin_server_ts as "origin_server_ts!", e.type as "type!",
                      e.content as "content!: Value", e.members as "members!"
               from events_at($1) e
               order by e.stream_pos"#,
            stream_positions
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut recipients = r.members;
                if r.r#type == event_type::MEMBER
                    && let Some(subject) = r.content.get("user_id").and_then(Value::as_str)
                    && !recipients.iter().any(|m| m == subject)
                {
                    recipients.push(subject.to_owned());
                }
                let event = Event {
                    event_id: r.event_id,
                    room_id: r.room_id,
                    seq: r.seq,
                    sender: r.sender,
                    device_id: r.device_id,
                    origin_server_ts: millis(r.origin_server_ts),
                    event_type: r.r#type,
                    content: r.content,
                };
                (r.stream_pos, event, recipients)
            })
            .collect())
    }

    /// Everyone who shares a room with `user_id` (for presence).
    pub async fn co_members(&self, user_id: &str) -> Result<Vec<String>, RoomError> {
        Ok(sqlx::query_scalar!(
            r#"select distinct other.user_id as "user_id!" from room_member me
               join room_member other using (room_id)
               where me.user_id = $1 and me.membership = 'join' and other.membership = 'join'
                 and other.user_id <> $1"#,
            user_id
        )
        .fetch_all(&self.db)
        .await?)
    }

    /// The current members of a room.
    pub async fn member_ids(&self, room_id: &str) -> Result<Vec<String>, RoomError> {
        Ok(sqlx::query_scalar!(
            "select user_id from room_member where room_id = $1 and membership = 'join'",
            room_id
        )
        .fetch_all(&self.db)
        .await?)
    }

    // ---- membership, roles, name and topic ------------------------------------------------

    /// Adds someone to a group (admins and owners; only an owner adds an owner).
    pub async fn add_member(
        &self,
        user: &AuthUser,
        room_id: &str,
        target: &str,
        role: Role,
    ) -> Result<(), RoomError> {
        if !self.owns(room_id) {
            let op = parley_federation::api::RoomOp::Add {
                user_id: target.trim().to_owned(),
                role: federated::room_role(role),
            };
            return self.forward_op(user, room_id, op).await;
        }
        let target = self.existing_user(target).await?;
        let mut tx = self.db.begin().await?;
        let my_role = self
            .require_group_admin(&mut tx, room_id, &user.user_id)
            .await?;
        if role == Role::Owner && my_role != Role::Owner {
            return Err(RoomError::forbidden(
                "Only an owner can make someone an owner.",
            ));
        }
        if self.membership(&mut tx, room_id, &target).await?.is_some() {
            return Err(RoomError::refused(
                409,
                ErrorCode::InvalidParam,
                "Already a member.",
            ));
        }
        self.set_member(&mut tx, room_id, &target, role, "join", &user.user_id)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes `target` from a room, or leaves it when `target` is the caller. When the last
    /// owner leaves, the longest-standing admin (or else member) becomes owner.
    pub async fn remove_member(
        &self,
        user: &AuthUser,
        room_id: &str,
        target: &str,
    ) -> Result<(), RoomError> {
        if !self.owns(room_id) {
            let op = parley_federation::api::RoomOp::Remove {
                user_id: target.to_owned(),
            };
            return self.forward_op(user, room_id, op).await;
        }
        let mut tx = self.db.begin().await?;
        let my_role = self.require_member(&mut tx, room_id, &user.user_id).await?;
        if target != user.user_id {
            let kind = self.kind(&mut tx, room_id).await?;
            if kind == RoomKind::Direct {
                return Err(RoomError::forbidden(
                    "Nobody can be removed from a direct room.",
                ));
            }
            if my_role < Role::Admin {
                return Err(RoomError::forbidden(
                    "Only admins and owners remove members.",
                ));
            }
            let target_role = self
                .membership(&mut tx, room_id, target)
                .await?
                .ok_or_else(|| RoomError::refused(404, ErrorCode::NotFound, "Not a member."))?;
            if target_role == Role::Owner {
                return Err(RoomError::forbidden(
                    "Nobody but an owner removes themselves.",
                ));
            }
            if target_role == Role::Admin && my_role != Role::Owner {
                return Err(RoomError::forbidden("Only an owner removes an admin."));
            }
        }
        let target_role = self
            .membership(&mut tx, room_id, target)
            .await?
            .unwrap_or(Role::Member);
        self.set_member(
            &mut tx,
            room_id,
            target,
            target_role,
            "leave",
            &user.user_id,
        )
        .await?;
        if target_role == Role::Owner {
            self.pass_ownership(&mut tx, room_id, &user.user_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn pass_ownership(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        room_id: &str,
        by: &str,
    ) -> Result<(), RoomError> {
        let owners = sqlx::query_scalar!(
            r#"select count(*) as "n!" from room_member
               where room_id = $1 and membership = 'join' and role = 'owner'"#,
            room_id
        )
        .fetch_one(&mut **tx)
        .await?;
        if owners > 0 {
            return Ok(());
        }
        let heir = sqlx::query_scalar!(
            "select user_id from room_member where room_id = $1 and membership = 'join'
             order by (role = 'admin') desc, joined_at, user_id limit 1",
            room_id
        )
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(heir) = heir {
            self.set_member(tx, room_id, &heir, Role::Owner, "join", by)
                .await?;
        }
        Ok(())
    }

    /// Changes a member's role: admins promote members to admin and demote admins; only an
    /// owner makes owners; an owner is demoted only by themselves (and never the last owner).
    pub async fn set_role(
        &self,
        user: &AuthUser,
        room_id: &str,
        target: &str,
        role: Role,
    ) -> Result<(), RoomError> {
        if !self.owns(room_id) {
            let op = parley_federation::api::RoomOp::SetRole {
                user_id: target.to_owned(),
                role: federated::room_role(role),
            };
            return self.forward_op(user, room_id, op).await;
        }
        let mut tx = self.db.begin().await?;
        let my_role = self
            .require_group_admin(&mut tx, room_id, &user.user_id)
            .await?;
        let current = self
            .membership(&mut tx, room_id, target)
            .await?
            .ok_or_else(|| RoomError::refused(404, ErrorCode::NotFound, "Not a member."))?;
        if (role == Role::Owner || current == Role::Owner) && my_role != Role::Owner {
            return Err(RoomError::forbidden(
                "Only an owner can make or unmake owners.",
            ));
        }
        if current == Role::Owner && target != user.user_id {
            return Err(RoomError::forbidden(
                "Nobody but an owner demotes themselves.",
            ));
        }
        if current == role {
            return Ok(());
        }
        self.set_member(&mut tx, room_id, target, role, "join", &user.user_id)
            .await?;
        if current == Role::Owner {
            let owners = sqlx::query_scalar!(
                r#"select count(*) as "n!" from room_member
                   where room_id = $1 and membership = 'join' and role = 'owner'"#,
                room_id
            )
            .fetch_one(&mut *tx)
            .await?;
            if owners == 0 {
                return Err(RoomError::forbidden(
                    "A group needs an owner: make someone else owner first.",
                ));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Renames a group or changes its topic (admins and owners).
    pub async fn update(
        &self,
        user: &AuthUser,
        room_id: &str,
        name: Option<&str>,
        topic: Option<&str>,
    ) -> Result<(), RoomError> {
        let name = name.map(|n| check_text(n, "name", 1, 128)).transpose()?;
        let topic = topic.map(|t| check_text(t, "topic", 0, 1024)).transpose()?;
        if !self.owns(room_id) {
            let op = parley_federation::api::RoomOp::Update { name, topic };
            return self.forward_op(user, room_id, op).await;
        }
        let mut tx = self.db.begin().await?;
        self.require_group_admin(&mut tx, room_id, &user.user_id)
            .await?;
        if let Some(name) = name {
            sqlx::query!(
                "update room set name = $2 where room_id = $1",
                room_id,
                name
            )
            .execute(&mut *tx)
            .await?;
            let change = NewEvent::change(
                room_id,
                &user.user_id,
                event_type::NAME,
                json!({"name": name}),
            );
            self.append(&mut tx, change).await?;
        }
        if let Some(topic) = topic {
            let topic = (!topic.is_empty()).then_some(topic);
            sqlx::query!(
                "update room set topic = $2 where room_id = $1",
                room_id,
                topic
            )
            .execute(&mut *tx)
            .await?;
            let change = NewEvent::change(
                room_id,
                &user.user_id,
                event_type::TOPIC,
                json!({"topic": topic}),
            );
            self.append(&mut tx, change).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- internals ---------------------------------------------------------------------------

    fn new_room_id(&self) -> String {
        format!("!{}:{}", uuid::Uuid::new_v4().simple(), self.server_name)
    }

    /// A user id of an existing, verified account of this server, or of a user another server
    /// says exists.
    async fn existing_user(&self, user_id: &str) -> Result<String, RoomError> {
        let user_id = user_id.trim();
        if !self.is_local_user(user_id) && self.federation.is_some() {
            self.check_remote_users(&[user_id.to_owned()]).await?;
            return Ok(user_id.to_owned());
        }
        self.local_user(user_id).await
    }

    /// `user_ids` (trimmed, without duplicates and without `me`): our users checked in one
    /// query, other servers' users asked of their servers.
    async fn existing_users(
        &self,
        user_ids: &[String],
        me: &str,
    ) -> Result<Vec<String>, RoomError> {
        if self.federation.is_none() {
            return self.local_users(user_ids, me).await;
        }
        let (remote, local): (Vec<String>, Vec<String>) = user_ids
            .iter()
            .map(|id| id.trim().to_owned())
            .partition(|id| !self.is_local_user(id));
        let mut found = self.local_users(&local, me).await?;
        let mut remote_wanted: Vec<String> = Vec::new();
        for id in remote {
            if !remote_wanted.contains(&id) {
                remote_wanted.push(id);
            }
        }
        self.check_remote_users(&remote_wanted).await?;
        found.extend(remote_wanted);
        Ok(found)
    }

    /// A user id of an existing, verified account of this server.
    async fn local_user(&self, user_id: &str) -> Result<String, RoomError> {
        let found = sqlx::query_scalar!(
            "select user_id from account where user_id = $1
             and email_verified_at is not null and disabled_at is null",
            user_id.trim()
        )
        .fetch_optional(&self.db)
        .await?;
        found.ok_or_else(|| {
            RoomError::refused(404, ErrorCode::NotFound, format!("No user {user_id} here."))
        })
    }

    /// `user_ids` (trimmed, without duplicates and without `me`), checked in one query: each
    /// must be an existing, verified account of this server.
    async fn local_users(&self, user_ids: &[String], me: &str) -> Result<Vec<String>, RoomError> {
        let mut wanted: Vec<String> = Vec::with_capacity(user_ids.len());
        for id in user_ids.iter().map(|id| id.trim()) {
            if id != me && !wanted.iter().any(|w| w == id) {
                wanted.push(id.to_owned());
            }
        }
        let found = sqlx::query_scalar!(
            "select user_id from account where user_id = any($1)
             and email_verified_at is not null and disabled_at is null",
            &wanted
        )
        .fetch_all(&self.db)
        .await?;
        match wanted.iter().find(|id| !found.contains(id)) {
            Some(missing) => Err(RoomError::refused(
                404,
                ErrorCode::NotFound,
                format!("No user {missing} here."),
            )),
            None => Ok(wanted),
        }
    }

    async fn membership(
        &self,
        conn: &mut sqlx::PgConnection,
        room_id: &str,
        user_id: &str,
    ) -> Result<Option<Role>, RoomError> {
        let role = sqlx::query_scalar!(
            "select role from room_member where room_id = $1 and user_id = $2 and membership = 'join'",
            room_id,
            user_id
        )
        .fetch_optional(conn)
        .await?;
        Ok(role.as_deref().map(role_from))
    }

    async fn require_member(
        &self,
        conn: &mut sqlx::PgConnection,
        room_id: &str,
        user_id: &str,
    ) -> Result<Role, RoomError> {
        self.membership(conn, room_id, user_id)
            .await?
            .ok_or_else(RoomError::no_room)
    }

    async fn kind(
        &self,
        conn: &mut sqlx::PgConnection,
        room_id: &str,
    ) -> Result<RoomKind, RoomError> {
        let kind = sqlx::query_scalar!("select kind from room where room_id = $1", room_id)
            .fetch_optional(conn)
            .await?
            .ok_or_else(RoomError::no_room)?;
        Ok(kind_from(&kind))
    }

    async fn require_group_admin(
        &self,
        conn: &mut sqlx::PgConnection,
        room_id: &str,
        user_id: &str,
    ) -> Result<Role, RoomError> {
        let role = self.require_member(conn, room_id, user_id).await?;
        if self.kind(conn, room_id).await? == RoomKind::Direct {
            return Err(RoomError::forbidden("Direct rooms have no admins."));
        }
        if role < Role::Admin {
            return Err(RoomError::forbidden("Only admins and owners can do this."));
        }
        Ok(role)
    }

    /// The current members of several rooms, by room.
    async fn members_of(
        &self,
        room_ids: &[String],
    ) -> Result<HashMap<String, Vec<Member>>, RoomError> {
        let rows = sqlx::query!(
            r#"select m.room_id, m.user_id, m.role, m.delivered_seq, m.read_seq,
                      coalesce(p.online, false) as "online!", p.last_seen_at as "last_seen_at?"
               from room_member m left join presence p using (user_id)
               where m.room_id = any($1) and m.membership = 'join'
               order by m.room_id, m.joined_at, m.user_id"#,
            room_ids
        )
        .fetch_all(&self.db)
        .await?;
        let mut by_room: HashMap<String, Vec<Member>> = HashMap::new();
        for r in rows {
            by_room.entry(r.room_id).or_default().push(Member {
                user_id: r.user_id,
                role: role_from(&r.role),
                delivered_seq: r.delivered_seq,
                read_seq: r.read_seq,
                online: r.online,
                last_seen_at: r.last_seen_at.map(millis),
            });
        }
        Ok(by_room)
    }

    /// Writes a membership row and its event.
    async fn set_member(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        room_id: &str,
        user_id: &str,
        role: Role,
        membership: &str,
        by: &str,
    ) -> Result<(), RoomError> {
        let before = upsert_member(tx, room_id, user_id, role, membership).await?;
        let content = json!({"user_id": user_id, "membership": membership, "role": role, "by": by});
        self.append(
            tx,
            NewEvent::change(room_id, by, event_type::MEMBER, content),
        )
        .await?;
        // After the event: the room row is locked before the stream row, as in every send.
        if before.as_deref() != Some(membership) {
            crate::e2ee::sync::record_membership(tx, room_id, user_id, membership == "join")
                .await?;
        }
        Ok(())
    }

    /// Gives the event the room's next seq and the server's next stream position, and stores
    /// it. The room row lock orders the room's events; the stream row lock orders positions.
    async fn append(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        event: NewEvent<'_>,
    ) -> Result<Event, RoomError> {
        let seq = sqlx::query_scalar!(
            "update room set last_seq = last_seq + 1, last_event_at = now() where room_id = $1
             returning last_seq",
            event.room_id
        )
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(RoomError::no_room)?;
        let stream_pos =
            sqlx::query_scalar!("update stream_position set last = last + 1 returning last")
                .fetch_one(&mut **tx)
                .await?;
        let event_id = format!("${}", uuid::Uuid::new_v4().simple());
        // Every process fans the event out to its own connections once this commits.
        notify_events(tx, stream_pos, stream_pos).await?;
        let ts = sqlx::query_scalar!(
            "insert into event (event_id, room_id, seq, stream_pos, sender, device_id, txn_id, type, content)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning origin_server_ts",
            event_id,
            event.room_id,
            seq,
            stream_pos,
            event.sender,
            event.device_id,
            event.txn_id,
            event.event_type,
            event.content,
        )
        .fetch_one(&mut **tx)
        .await?;
        if self.federation.is_some() {
            let content = event.content.to_string();
            federated::fan_out(
                tx,
                &self.server_name,
                &[federated::Written {
                    room_id: event.room_id,
                    event_id: &event_id,
                    seq,
                    sender: event.sender,
                    device_id: event.device_id,
                    txn_id: event.txn_id,
                    event_type: event.event_type,
                    content: &content,
                    origin_server_ts: millis(ts),
                }],
            )
            .await?;
        }
        Ok(Event {
            event_id,
            room_id: event.room_id.to_owned(),
            seq,
            sender: event.sender.to_owned(),
            device_id: event.device_id.map(str::to_owned),
            origin_server_ts: millis(ts),
            event_type: event.event_type.to_owned(),
            content: event.content,
        })
    }
}

/// Writes a member's role and membership (a join after a leave counts from now); returns the
/// membership before.
async fn upsert_member(
    tx: &mut Transaction<'_, Postgres>,
    room_id: &str,
    user_id: &str,
    role: Role,
    membership: &str,
) -> Result<Option<String>, sqlx::Error> {
    let before = sqlx::query_scalar!(
        "select membership from room_member where room_id = $1 and user_id = $2 for update",
        room_id,
        user_id
    )
    .fetch_optional(&mut **tx)
    .await?;
    sqlx::query!(
        "insert into room_member (room_id, user_id, role, membership) values ($1, $2, $3, $4)
         on conflict (room_id, user_id) do update set role = $3, membership = $4,
             joined_at = case when room_member.membership = 'leave' and $4 = 'join'
                              then now() else room_member.joined_at end",
        room_id,
        user_id,
        role_str(role),
        membership,
    )
    .execute(&mut **tx)
    .await?;
    Ok(before)
}

/// The channel on which committed events are announced: payload `{"stream_pos": n}` for one
/// event, `{"from": a, "to": b}` for the events at positions `a..=b` (a batch; its positions
/// are contiguous), made by the database function `notify_events` (migration 12). See
/// [`notify_events`] and `realtime::announced`.
pub const EVENT_CHANNEL: &str = "parley_event";

/// Announces, once `tx` commits, the events it wrote at stream positions `from..=to` (which
/// must all be events): one notification, whatever the number of events. A single event keeps
/// the original payload `{"stream_pos": n}`, which every version of the server understands.
pub(crate) async fn notify_events(
    tx: &mut Transaction<'_, Postgres>,
    from: i64,
    to: i64,
) -> Result<(), sqlx::Error> {
    // The payload is made by the database function, which batches of sends call themselves.
    sqlx::query!("select notify_events($1, $2)", from, to)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The channel of typing and receipts (payload `{"room_id", "except", "frame"}`).
pub const EPHEMERAL_CHANNEL: &str = "parley_ephemeral";

async fn notify_ephemeral(
    tx: &mut Transaction<'_, Postgres>,
    room_id: &str,
    except: Option<&str>,
    frame: &ServerFrame,
) -> Result<(), RoomError> {
    let payload = json!({"room_id": room_id, "except": except, "frame": frame}).to_string();
    sqlx::query!("select pg_notify($1, $2)", EPHEMERAL_CHANNEL, payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// An event as stored.
struct EventRow {
    stream_pos: i64,
    event_id: String,
    room_id: String,
    seq: i64,
    sender: String,
    device_id: Option<String>,
    origin_server_ts: OffsetDateTime,
    event_type: String,
    content: Value,
}

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Self {
        Self {
            event_id: row.event_id,
            room_id: row.room_id,
            seq: row.seq,
            sender: row.sender,
            device_id: row.device_id,
            origin_server_ts: millis(row.origin_server_ts),
            event_type: row.event_type,
            content: row.content,
        }
    }
}

fn check_client_event_type(event_type: &str) -> Result<(), RoomError> {
    let well_formed = !event_type.is_empty()
        && event_type.len() <= 100
        && event_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
    if !well_formed {
        return Err(RoomError::invalid(
            "An event type has 1 to 100 of A-Z a-z 0-9 . _",
        ));
    }
    if event_type.starts_with("parley.room.") {
        return Err(RoomError::forbidden(
            "Room events are written by the server.",
        ));
    }
    Ok(())
}

/// Whether any string or key in `value` holds a NUL character.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn check_text(raw: &str, field: &str, min: usize, max: usize) -> Result<String, RoomError> {
    let text = raw.trim();
    let chars = text.chars().count();
    if chars < min || chars > max || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(RoomError::invalid(format!(
            "`{field}` must have {min} to {max} characters."
        )));
    }
    Ok(text.to_owned())
}

fn role_from(role: &str) -> Role {
    match role {
        "owner" => Role::Owner,
        "admin" => Role::Admin,
        _ => Role::Member,
    }
}

fn role_str(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "member",
    }
}

fn kind_from(kind: &str) -> RoomKind {
    if kind == "direct" {
        RoomKind::Direct
    } else {
        RoomKind::Group
    }
}

fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
