//! The durable outbox: EDUs for other servers, delivered in order, in transactions, one
//! transaction in flight per destination, with backoff.
//!
//! An EDU is queued (`federation_outbox`) in the same database transaction as the local change
//! that causes it, so it exists exactly when that change does. The sender worker takes a
//! destination's oldest rows (at most [`BATCH`]), pins them as the transaction in flight
//! (`federation_destination.in_flight_up_to`), and sends them as `PUT /send/{first}-{last}`.
//! A retry sends the same rows under the same id, so the receiver, which records
//! `(origin, txn_id)`, applies them once. On a 2xx the rows are deleted; on any failure the
//! destination backs off (exponential, with jitter, capped) until it is due again or the peer
//! sends us an authenticated request, which wakes its queue at once.
//!
//! Several processes may share a database: a process sends to a destination only while it holds
//! that destination's lease (`leased_until`, renewed per transaction), so there is one
//! transaction in flight per destination; a crashed process's lease runs out after [`LEASE`].

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::{Duration, SystemTime},
};

use http::Method;
use parley_federation::{
    ServerName,
    api::{Edu, Transaction, TransactionResponse, send_path},
    keys::unix_millis,
};
use serde_json::value::RawValue;
use sqlx::{PgConnection, PgPool, postgres::PgListener};
use tokio::{sync::Notify, task::JoinSet};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Federation;

/// The `LISTEN` channel that announces queued EDUs.
pub const CHANNEL: &str = "parley_federation";

/// The most EDUs in one transaction.
pub const BATCH: i64 = 50;

/// The most EDU bytes in one transaction (a single larger EDU goes alone), well below the
/// receivers' default body limit of 4 MiB.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// The last outbox id of the next batch, given the oldest rows' ids and content sizes: as
/// many rows as fit in `max_bytes`, but at least one.
pub fn batch_end(rows: &[(i64, usize)], max_bytes: usize) -> Option<i64> {
    let mut total = 0_usize;
    let mut end = None;
    for &(id, bytes) in rows {
        total = total.saturating_add(bytes);
        if end.is_some() && total > max_bytes {
            break;
        }
        end = Some(id);
    }
    end
}

/// How long a process may send to a destination before another may take over: longer than
/// one transaction can take (the client gives up after 30 s).
const LEASE: Duration = Duration::from_secs(120);

/// How often the worker looks for due work without being woken.
const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The first retry after this long; each further one waits twice as long ...
const BACKOFF_BASE: Duration = Duration::from_secs(2);

/// ... up to this.
const BACKOFF_CAP: Duration = Duration::from_secs(30 * 60);

/// The wait after `failures` failures in a row: [`BACKOFF_BASE`] doubling to at most
/// [`BACKOFF_CAP`], shortened by up to half by `jitter` (`0.0..=1.0`, 1.0 gives the full wait)
/// so that destinations that failed together do not retry in lockstep.
pub fn retry_delay(failures: i32, jitter: f64) -> Duration {
    crate::backoff::delay(failures, BACKOFF_BASE, BACKOFF_CAP, 0.5, jitter)
}

/// How long a best-effort EDU (typing, receipts, presence) may wait for its destination
/// before it is dropped unsent.
pub const EPHEMERAL_TTL: Duration = Duration::from_secs(10 * 60);

/// How long a typing notice may wait: it lapses after 30 s anyway.
pub const TYPING_TTL: Duration = Duration::from_secs(30);

/// Queues an EDU for `destination` inside the caller's transaction, and tells the worker once
/// that transaction commits.
pub async fn enqueue(
    conn: &mut PgConnection,
    destination: &ServerName,
    edu_type: &str,
    content: &str,
) -> Result<(), sqlx::Error> {
    enqueue_to(
        conn,
        &[destination.as_str().to_owned()],
        edu_type,
        content,
        None,
    )
    .await
}

/// Queues one EDU for each of `destinations`; with a `ttl`, it is dropped if not sent by then.
pub async fn enqueue_to(
    conn: &mut PgConnection,
    destinations: &[String],
    edu_type: &str,
    content: &str,
    ttl: Option<Duration>,
) -> Result<(), sqlx::Error> {
    if destinations.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "insert into federation_outbox (destination, edu_type, content, expires_at)
         select d, $2, $3, now() + make_interval(secs => $4)
         from unnest($1::text[]) as d",
        destinations,
        edu_type,
        content,
        ttl.map(|t| t.as_secs_f64()),
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("select pg_notify($1, '')", CHANNEL)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The servers, other than `user_id`'s own, of everyone who shares a room with `user_id`.
pub async fn co_member_servers(
    conn: &mut PgConnection,
    user_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let own = user_id.split_once(':').map_or("", |(_, server)| server);
    sqlx::query_scalar!(
        r#"select distinct substr(other.user_id, strpos(other.user_id, ':') + 1) as "server!"
           from room_member me join room_member other using (room_id)
           where me.user_id = $1 and me.membership = 'join' and other.membership = 'join'
             and substr(other.user_id, strpos(other.user_id, ':') + 1) <> $2"#,
        user_id,
        own
    )
    .fetch_all(&mut *conn)
    .await
}

/// The servers, other than `except`, of a room's members.
pub async fn room_servers(
    conn: &mut PgConnection,
    room_id: &str,
    except: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select distinct substr(user_id, strpos(user_id, ':') + 1) as "server!"
           from room_member where room_id = $1 and membership = 'join'
             and substr(user_id, strpos(user_id, ':') + 1) <> $2"#,
        room_id,
        except
    )
    .fetch_all(&mut *conn)
    .await
}

/// Destinations in backoff, and those a request from them has woken.
#[derive(Default)]
pub struct Wakers {
    backing_off: Mutex<HashSet<String>>,
    woken: Mutex<HashSet<String>>,
    notify: Notify,
}

impl Wakers {
    /// `origin` has just sent us an authenticated request: if we are backing off from it,
    /// retry now.
    pub fn wake(&self, origin: &ServerName) {
        let backing_off = lock(&self.backing_off).remove(origin.as_str());
        if backing_off {
            lock(&self.woken).insert(origin.as_str().to_owned());
            self.notify.notify_one();
        }
    }

    fn take_woken(&self) -> Vec<String> {
        lock(&self.woken).drain().collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts the sender worker; it stops when `shutdown` is cancelled. A transaction cut off by
/// shutdown is sent again, under the same id, after the next start.
pub fn spawn_worker(
    federation: Federation,
    db: PgPool,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let process = Uuid::new_v4();
        let worker = Worker {
            federation,
            db: db.clone(),
            process,
        };
        tokio::select! {
            () = worker.run() => {}
            () = shutdown.cancelled() => {}
        }
        // The sends cut off here are retried under the same ids; give their destinations back
        // now rather than when the leases run out.
        let released = sqlx::query!(
            "update federation_destination set leased_until = null, leased_by = null
             where leased_by = $1",
            process
        )
        .execute(&db)
        .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "cannot release the federation leases");
        }
        tracing::info!("federation sender stopped");
    })
}

struct Worker {
    federation: Federation,
    db: PgPool,
    process: Uuid,
}

impl Worker {
    async fn run(self) {
        let mut listener: Option<PgListener> = None;
        let mut active: JoinSet<String> = JoinSet::new();
        let mut sending: HashSet<String> = HashSet::new();
        let mut tasks: HashMap<tokio::task::Id, String> = HashMap::new();
        let wakers = &self.federation.inner.outbox;
        let mut next_prune = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_prune {
                next_prune += PRUNE_INTERVAL;
                if let Err(e) = prune(&self.db).await {
                    tracing::warn!(error = %e, "cannot prune federation records");
                }
            }
            if listener.is_none() {
                listener = self.listen().await;
            }
            if let Some(listener) = listener.as_mut() {
                while listener.next_buffered().is_some() {}
            }
            let next_retry = match self.due(&wakers.take_woken()).await {
                Ok((due, next_retry)) => {
                    for destination in due {
                        if sending.insert(destination.clone()) {
                            let sender = Sender {
                                federation: self.federation.clone(),
                                db: self.db.clone(),
                                process: self.process,
                            };
                            let name = destination.clone();
                            let handle = active.spawn(async move {
                                sender.drain(&destination).await;
                                destination
                            });
                            tasks.insert(handle.id(), name);
                        }
                    }
                    next_retry
                }
                Err(e) => {
                    tracing::warn!(error = %e, "federation outbox unavailable");
                    None
                }
            };
            let pause = next_retry.map_or(POLL_INTERVAL, |d| d.min(POLL_INTERVAL));
            tokio::select! {
                Some(done) = active.join_next_with_id(), if !active.is_empty() => {
                    match done {
                        Ok((id, destination)) => {
                            tasks.remove(&id);
                            sending.remove(&destination);
                        }
                        Err(e) => {
                            if let Some(destination) = tasks.remove(&e.id()) {
                                sending.remove(&destination);
                            }
                        }
                    }
                }
                () = wakers.notify.notified() => {}
                received = async {
                    match listener.as_mut() {
                        Some(listener) => listener.recv().await.map(|_| ()),
                        None => std::future::pending().await,
                    }
                } => {
                    // A lost connection is made again on the next pass (polling meanwhile).
                    if received.is_err() {
                        listener = None;
                    }
                }
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let listening = async {
            let mut listener = PgListener::connect_with(&self.db).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        listening
            .await
            .map_err(|e| tracing::warn!(error = %e, "cannot listen for queued EDUs; polling"))
            .ok()
    }

    /// Clears the backoff of `woken` destinations; returns the destinations with EDUs that are
    /// due, and how long until the next backoff ends.
    async fn due(&self, woken: &[String]) -> Result<(Vec<String>, Option<Duration>), sqlx::Error> {
        if !woken.is_empty() {
            sqlx::query!(
                "update federation_destination set retry_at = null, updated_at = now()
                 where destination = any($1) and retry_at is not null",
                woken
            )
            .execute(&self.db)
            .await?;
        }
        let due = sqlx::query_scalar!(
            r#"select distinct o.destination as "destination!" from federation_outbox o
               where not exists (select 1 from federation_destination d
                                 where d.destination = o.destination
                                   and (d.retry_at > now() or d.leased_until > now()))"#
        )
        .fetch_all(&self.db)
        .await?;
        // What is in backoff, for `Wakers::wake` (also what an earlier run of this process, or
        // another process, put there).
        let backing_off = sqlx::query_scalar!(
            "select destination from federation_destination
             where retry_at > now() and exists
                 (select 1 from federation_outbox o
                  where o.destination = federation_destination.destination)"
        )
        .fetch_all(&self.db)
        .await?;
        *lock(&self.federation.inner.outbox.backing_off) = backing_off.into_iter().collect();
        let next = sqlx::query_scalar!(
            r#"select extract(epoch from min(retry_at) - now())::float8 as "secs"
               from federation_destination where retry_at > now()"#
        )
        .fetch_one(&self.db)
        .await?;
        Ok((
            due,
            next.map(|secs| Duration::from_secs_f64(secs.clamp(0.0, 3600.0))),
        ))
    }
}

/// How often expired replay records and old transaction records are deleted.
const PRUNE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// How long a received transaction's record is kept. A sender retries a transaction only until
/// it gets an answer, and its backoff is capped at 30 minutes, so a retry after this long means
/// it was down for weeks. Its room events and sends would still apply once (by seq and by
/// transaction id); only its to-device messages could arrive a second time.
const INBOUND_TXN_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

async fn prune(db: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from federation_seen_signature where expires_at < now()")
        .execute(db)
        .await?;
    sqlx::query!(
        "delete from federation_inbound_txn where received_at < now() - make_interval(secs => $1)",
        INBOUND_TXN_RETENTION.as_secs_f64()
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Sends one destination's queue.
struct Sender {
    federation: Federation,
    db: PgPool,
    /// This worker, as the holder of destination leases.
    process: Uuid,
}

/// A batch pinned as the transaction in flight.
struct Batch {
    txn_id: String,
    up_to: i64,
    edus: Vec<Edu>,
}

impl Sender {
    /// Sends transactions to `destination` until its queue is empty or a send fails, then
    /// gives up the lease.
    async fn drain(&self, destination: &str) {
        self.drain_leased(destination).await;
        let released = sqlx::query!(
            "update federation_destination set leased_until = null, leased_by = null
             where destination = $1 and leased_by = $2",
            destination,
            self.process
        )
        .execute(&self.db)
        .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, destination, "cannot release the destination's lease");
        }
    }

    async fn drain_leased(&self, destination: &str) {
        loop {
            let batch = match self.next_batch(destination).await {
                Ok(Some(batch)) => batch,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, destination, "federation outbox unavailable");
                    return;
                }
            };
            let outcome = self.send(destination, &batch).await;
            let recorded = match outcome {
                Ok(answer) => {
                    // What the receiver refused is final: tell whoever waits for it.
                    for (&index, reason) in &answer.refused {
                        if let Some(edu) = batch.edus.get(index) {
                            tracing::info!(destination, edu_type = %edu.edu_type, %reason, "EDU refused");
                            crate::rooms::federated::refused(&self.db, edu).await;
                        }
                    }
                    self.acknowledged(destination, batch.up_to).await
                }
                Err(reason) => {
                    tracing::info!(destination, txn_id = %batch.txn_id, %reason, "transaction failed; backing off");
                    let failed = self.failed(destination).await;
                    lock(&self.federation.inner.outbox.backing_off).insert(destination.to_owned());
                    return failed.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, destination, "cannot record the failure");
                    });
                }
            };
            if let Err(e) = recorded {
                tracing::warn!(error = %e, destination, "cannot record the delivery");
                return;
            }
        }
    }

    /// The transaction in flight for `destination`, pinning a new one if there is none.
    async fn next_batch(&self, destination: &str) -> Result<Option<Batch>, sqlx::Error> {
        sqlx::query!(
            "insert into federation_destination (destination) values ($1)
             on conflict (destination) do nothing",
            destination
        )
        .execute(&self.db)
        .await?;
        // The lease: no other process sends to this destination meanwhile.
        let Some(pinned) = sqlx::query_scalar!(
            "update federation_destination
             set leased_until = now() + make_interval(secs => $2), leased_by = $3,
                 updated_at = now()
             where destination = $1
               and (leased_until is null or leased_until < now() or leased_by = $3)
             returning in_flight_up_to",
            destination,
            LEASE.as_secs_f64(),
            self.process
        )
        .fetch_optional(&self.db)
        .await?
        else {
            return Ok(None);
        };
        let up_to = match pinned {
            Some(up_to) => up_to,
            None => {
                // Late typing, receipts and presence are worth less than the ones behind them.
                sqlx::query!(
                    "delete from federation_outbox where destination = $1 and expires_at < now()",
                    destination
                )
                .execute(&self.db)
                .await?;
                let candidates = sqlx::query!(
                    r#"select federation_outbox_id, octet_length(content) as "bytes!"
                       from federation_outbox
                       where destination = $1 order by federation_outbox_id limit $2"#,
                    destination,
                    BATCH
                )
                .fetch_all(&self.db)
                .await?;
                let sizes: Vec<(i64, usize)> = candidates
                    .iter()
                    .map(|r| {
                        let bytes = usize::try_from(r.bytes).unwrap_or(usize::MAX);
                        (r.federation_outbox_id, bytes)
                    })
                    .collect();
                let Some(last) = batch_end(&sizes, MAX_BATCH_BYTES) else {
                    return Ok(None);
                };
                sqlx::query!(
                    "update federation_destination set in_flight_up_to = $2, updated_at = now()
                     where destination = $1",
                    destination,
                    last
                )
                .execute(&self.db)
                .await?;
                last
            }
        };
        let rows = sqlx::query!(
            "select federation_outbox_id, edu_type, content from federation_outbox
             where destination = $1 and federation_outbox_id <= $2
             order by federation_outbox_id",
            destination,
            up_to
        )
        .fetch_all(&self.db)
        .await?;
        let Some(first) = rows.first().map(|r| r.federation_outbox_id) else {
            // Nothing left under the pin (cannot happen unless rows were deleted by hand).
            self.acknowledged(destination, up_to).await?;
            return Box::pin(self.next_batch(destination)).await;
        };
        let mut edus = Vec::with_capacity(rows.len());
        for row in rows {
            match RawValue::from_string(row.content) {
                Ok(content) => edus.push(Edu {
                    edu_type: row.edu_type,
                    content,
                }),
                Err(_) => tracing::error!(
                    id = row.federation_outbox_id,
                    "dropping an outbox row that is not JSON"
                ),
            }
        }
        Ok(Some(Batch {
            txn_id: format!("{first}-{up_to}"),
            up_to,
            edus,
        }))
    }

    async fn send(&self, destination: &str, batch: &Batch) -> Result<TransactionResponse, String> {
        let server = ServerName::parse(destination).map_err(|_| "bad destination".to_owned())?;
        if !self.federation.peer_allowed(&server) {
            return Err("destination not allowed by config".to_owned());
        }
        let transaction = Transaction {
            origin: self.federation.server_name().clone(),
            origin_server_ts: unix_millis(SystemTime::now()),
            edus: batch.edus.clone(),
        };
        let body = serde_json::to_vec(&transaction).map_err(|e| e.to_string())?;
        self.federation
            .client()
            .send(&server, Method::PUT, &send_path(&batch.txn_id), Some(body))
            .await
            .map_err(|e| e.to_string())
            .map(|answer| serde_json::from_slice(&answer.body).unwrap_or_default())
    }

    async fn acknowledged(&self, destination: &str, up_to: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin().await?;
        sqlx::query!(
            "delete from federation_outbox where destination = $1 and federation_outbox_id <= $2",
            destination,
            up_to
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "update federation_destination
             set in_flight_up_to = null, failure_count = 0, retry_at = null, updated_at = now()
             where destination = $1",
            destination
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    async fn failed(&self, destination: &str) -> Result<(), sqlx::Error> {
        let failures = sqlx::query_scalar!(
            "update federation_destination set failure_count = failure_count + 1
             where destination = $1 returning failure_count",
            destination
        )
        .fetch_one(&self.db)
        .await?;
        let delay = retry_delay(failures, rand::random::<f64>());
        sqlx::query!(
            "update federation_destination
             set retry_at = now() + make_interval(secs => $2), updated_at = now()
             where destination = $1",
            destination,
            delay.as_secs_f64()
        )
        .execute(&self.db)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stop_at_the_byte_cap_but_take_at_least_one_edu() {
        assert_eq!(batch_end(&[], 10), None);
        assert_eq!(batch_end(&[(1, 50)], 10), Some(1));
        assert_eq!(batch_end(&[(1, 4), (2, 4), (5, 4)], 10), Some(2));
        assert_eq!(batch_end(&[(1, 4), (2, 6), (5, 4)], 10), Some(2));
        assert_eq!(batch_end(&[(1, 1), (2, 1), (3, 1)], 10), Some(3));
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        assert_eq!(retry_delay(1, 1.0), Duration::from_secs(2));
        assert_eq!(retry_delay(1, 0.0), Duration::from_secs(1));
        assert_eq!(retry_delay(3, 1.0), Duration::from_secs(8));
        assert_eq!(retry_delay(40, 1.0), BACKOFF_CAP);
        assert_eq!(retry_delay(40, 0.0), BACKOFF_CAP / 2);
        assert_eq!(retry_delay(0, f64::NAN), Duration::from_secs(1));
    }
}
