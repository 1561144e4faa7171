//! Presence: online while at least one device holds a WebSocket on a live process, with a short
//! grace across reconnects; offline otherwise, with the time last seen. Only people who share a
//! room with the user are told.
//!
//! Connections are rows tied to their process's heartbeat, so a process that dies without
//! cleaning up stops beating and its connections are swept away by the others.

use std::time::Duration;

use parley_client_api::ws::ServerFrame;
use serde_json::json;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use parley_federation::api;

use crate::{federation::outbox, rooms::EPHEMERAL_CHANNEL};

/// How often a process beats.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A process silent this long is gone.
const PROCESS_TIMEOUT_SECS: f64 = 30.0;

/// The presence bookkeeping of this process.
#[derive(Clone)]
pub struct Presence {
    db: PgPool,
    process_id: Uuid,
    grace: Duration,
}

impl Presence {
    /// For this process; someone who drops every connection stays online for `grace`.
    pub fn new(db: PgPool, grace: Duration) -> Self {
        Self {
            db,
            process_id: Uuid::new_v4(),
            grace,
        }
    }

    /// Registers the process and beats until `shutdown`, sweeping dead processes; on shutdown
    /// removes this process's connections.
    pub async fn start(
        &self,
        shutdown: CancellationToken,
    ) -> Result<tokio::task::JoinHandle<()>, sqlx::Error> {
        sqlx::query!(
            "insert into process_heartbeat (process_id) values ($1)",
            self.process_id
        )
        .execute(&self.db)
        .await?;
        let presence = self.clone();
        Ok(tokio::spawn(async move {
            let mut beat = tokio::time::interval(HEARTBEAT);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => {
                        let _ = presence.leave_process(presence.process_id).await;
                        return;
                    }
                    _ = beat.tick() => {
                        if let Err(e) = presence.beat().await {
                            tracing::warn!(error = %e, "presence heartbeat failed");
                        }
                    }
                }
            }
        }))
    }

    async fn beat(&self) -> Result<(), sqlx::Error> {
        // Re-inserted if a sweep by another process removed us while the database was away.
        sqlx::query!(
            "insert into process_heartbeat (process_id) values ($1)
             on conflict (process_id) do update set seen_at = now()",
            self.process_id
        )
        .execute(&self.db)
        .await?;
        let dead = sqlx::query_scalar!(
            "select process_id from process_heartbeat
             where seen_at < now() - make_interval(secs => $1)",
            PROCESS_TIMEOUT_SECS
        )
        .fetch_all(&self.db)
        .await?;
        for process_id in dead {
            self.leave_process(process_id).await?;
        }
        Ok(())
    }

    /// Removes a process and its connections; its users go offline unless connected elsewhere.
    async fn leave_process(&self, process_id: Uuid) -> Result<(), sqlx::Error> {
        let users = sqlx::query_scalar!(
            "select distinct user_id from ws_connection where process_id = $1",
            process_id
        )
        .fetch_all(&self.db)
        .await?;
        sqlx::query!(
            "delete from process_heartbeat where process_id = $1",
            process_id
        )
        .execute(&self.db)
        .await?;
        for user_id in users {
            self.offline_if_gone(&user_id).await?;
        }
        Ok(())
    }

    /// A connection opened; returns its id for [`Presence::disconnected`].
    pub async fn connected(&self, user_id: &str) -> Result<Uuid, sqlx::Error> {
        let connection_id = Uuid::new_v4();
        let mut tx = self.db.begin().await?;
        sqlx::query!(
            "insert into ws_connection (connection_id, user_id, process_id) values ($1, $2, $3)",
            connection_id,
            user_id,
            self.process_id
        )
        .execute(&mut *tx)
        .await?;
        let came_online = sqlx::query_scalar!(
            r#"insert into presence as p (user_id, online) values ($1, true)
               on conflict (user_id) do update set online = true, last_seen_at = now()
               returning (xmax = 0 or not (select online from presence where user_id = $1)) as "changed!""#,
            user_id
        )
        .fetch_one(&mut *tx)
        .await?;
        if came_online {
            notify(&mut tx, user_id, true, OffsetDateTime::now_utc()).await?;
        }
        tx.commit().await?;
        Ok(connection_id)
    }

    /// A connection closed: after the grace period, the user goes offline unless another
    /// connection (on any process) is open by then.
    pub fn disconnected(&self, user_id: &str, connection_id: Uuid) {
        let presence = self.clone();
        let user_id = user_id.to_owned();
        tokio::spawn(async move {
            let removed = sqlx::query!(
                "delete from ws_connection where connection_id = $1",
                connection_id
            )
            .execute(&presence.db)
            .await;
            if removed.is_err() {
                return;
            }
            tokio::time::sleep(presence.grace).await;
            if let Err(e) = presence.offline_if_gone(&user_id).await {
                tracing::warn!(error = %e, "presence update failed");
            }
        });
    }

    async fn offline_if_gone(&self, user_id: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin().await?;
        let went_offline = sqlx::query_scalar!(
            "update presence set online = false, last_seen_at = now()
             where user_id = $1 and online
               and not exists (select 1 from ws_connection c join process_heartbeat h using (process_id)
                               where c.user_id = $1
                                 and h.seen_at > now() - make_interval(secs => $2))
             returning last_seen_at",
            user_id,
            PROCESS_TIMEOUT_SECS,
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(at) = went_offline {
            notify(&mut tx, user_id, false, at).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Tells whoever shares a room with our user `user_id`, here and on other servers.
async fn notify(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    user_id: &str,
    online: bool,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let last_seen_ts = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    notify_local(tx, user_id, online, last_seen_ts).await?;
    let servers = outbox::co_member_servers(tx, user_id).await?;
    let edu = api::Presence {
        user_id: user_id.to_owned(),
        online,
        last_seen_ts,
    };
    let content = serde_json::to_string(&edu).unwrap_or_default();
    outbox::enqueue_to(
        tx,
        &servers,
        api::EDU_PRESENCE,
        &content,
        Some(outbox::EPHEMERAL_TTL),
    )
    .await
}

async fn notify_local(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    user_id: &str,
    online: bool,
    last_seen_at: i64,
) -> Result<(), sqlx::Error> {
    let frame = ServerFrame::Presence {
        user_id: user_id.to_owned(),
        online,
        last_seen_at,
    };
    let payload = json!({"presence_of": user_id, "frame": frame}).to_string();
    sqlx::query!("select pg_notify($1, $2)", EPHEMERAL_CHANNEL, payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Another server's user came online or went offline: kept for the member lists, and told to
/// our users who share a room with them.
pub async fn receive_remote(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    presence: &api::Presence,
) -> Result<(), sqlx::Error> {
    let changed = sqlx::query_scalar!(
        r#"insert into presence as p (user_id, online, last_seen_at)
           values ($1, $2, to_timestamp($3::float8 / 1000))
           on conflict (user_id) do update set online = $2, last_seen_at = excluded.last_seen_at
           where p.online <> $2 or p.last_seen_at < excluded.last_seen_at
           returning true as "changed!""#,
        presence.user_id,
        presence.online,
        presence.last_seen_ts as f64
    )
    .fetch_optional(&mut **tx)
    .await?;
    if changed.is_some() {
        notify_local(
            tx,
            &presence.user_id,
            presence.online,
            presence.last_seen_ts,
        )
        .await?;
    }
    Ok(())
}
