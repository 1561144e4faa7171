//! Group commit of client sends.
//!
//! Every event takes the server-wide stream position under the lock of one row, so sends
//! serialise there whatever we do; what we choose is how many commits (each a WAL flush) they
//! pay for. Sends are queued to one committer task per [`super::Rooms`], which takes whatever is
//! waiting (up to `max` sends) and writes it with one call of a database function (migration
//! 12) on a connection of its own: rooms locked in a stable order, the stream row locked, one
//! membership check, one duplicate check, one seq range per room, one stream-position range,
//! one multi-row insert, one notification, one commit, and one round trip for all of it. A
//! lone send is written at once; sends arriving while a commit is in flight wait for the next
//! one, so batches grow only under load.
//!
//! The usual batch (distinct transaction ids, every sender a member, no retry of an earlier
//! send) takes `send_events_fast`, whose seqs and positions are worked out here; a batch with a
//! retry or a refusal in it is written by `send_events`, which decides each send in SQL.
//! A refused send (not a member, no such room) or a retried one (answered with the event stored
//! the first time) never fails the others. A lost connection gets the batch written once more
//! on a new one; any other database failure fails that batch's sends, whose clients retry with
//! the same transaction ids, and the committer carries on with the next batch (on a new
//! connection).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use parley_client_api::rooms::SendResponse;
use sqlx::{Connection, PgConnection, PgPool, postgres::PgConnectOptions};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::{
    RoomError,
    federated::{Written, fan_out},
};

/// Sends waiting for the committer, at most; further senders wait for room in the queue.
const QUEUE: usize = 4096;

/// A send, checked and ready to write.
pub(super) struct Queued {
    pub room_id: String,
    pub sender: String,
    pub device_id: String,
    pub txn_id: String,
    pub event_type: String,
    /// The content as JSON text (already checked to be an object of allowed size).
    pub content: String,
}

/// A send waiting to be committed.
struct Pending {
    send: Queued,
    answer: oneshot::Sender<Result<SendResponse, RoomError>>,
}

/// A client send, checked and ready to queue.
pub(super) struct NewSend<'a> {
    pub room_id: &'a str,
    pub sender: &'a str,
    pub device_id: &'a str,
    pub txn_id: &'a str,
    pub event_type: &'a str,
    pub content: String,
}

/// The queue in front of the committer task.
#[derive(Clone)]
pub(super) struct Batcher {
    queue: mpsc::Sender<Pending>,
}

impl Batcher {
    /// Starts the committer's lanes on the current Tokio runtime. They end when the last
    /// `Batcher` clone is dropped, after answering everything queued.
    pub fn start(db: &PgPool, max: usize, fan_out_as: Option<String>) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let committer = Committer {
            options: db.connect_options(),
            conn: None,
            fan_out_as,
        };
        tokio::spawn(committer.run(waiting, max.max(1)));
        Self { queue }
    }

    /// Sends queued and not yet taken by the committer.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Queues a send and waits until it is committed (or refused).
    pub async fn send(&self, send: NewSend<'_>) -> Result<SendResponse, RoomError> {
        let (answer, answered) = oneshot::channel();
        let pending = Pending {
            send: Queued {
                room_id: send.room_id.to_owned(),
                sender: send.sender.to_owned(),
                device_id: send.device_id.to_owned(),
                txn_id: send.txn_id.to_owned(),
                event_type: send.event_type.to_owned(),
                content: send.content,
            },
            answer,
        };
        self.queue
            .send(pending)
            .await
            .map_err(|_| RoomError::Batch("the committer has stopped".into()))?;
        answered
            .await
            .map_err(|_| RoomError::Batch("the committer has stopped".into()))?
    }
}

/// The writer of batches, with a connection of its own outside the pool (opened when first
/// needed, and again after a database failure): no wait for a pooled connection and no check
/// of it before each batch.
struct Committer {
    options: Arc<PgConnectOptions>,
    conn: Option<PgConnection>,
    fan_out_as: Option<String>,
}

impl Committer {
    async fn run(mut self, mut waiting: mpsc::Receiver<Pending>, max: usize) {
        let mut batch = Vec::with_capacity(max);
        // Waits for one send, then takes what else is queued, without waiting for more.
        while waiting.recv_many(&mut batch, max).await > 0 {
            let (sends, answers): (Vec<Queued>, Vec<_>) =
                batch.drain(..).map(|p| (p.send, p.answer)).unzip();
            match self.write_retrying(&sends).await {
                Ok(results) => {
                    for (answer, result) in answers.into_iter().zip(results) {
                        let _ = answer.send(result);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, sends = sends.len(), "batched send failed");
                    // The connection may be broken: the next batch opens another.
                    self.conn = None;
                    let reason = e.to_string();
                    for answer in answers {
                        let _ = answer.send(Err(RoomError::Batch(reason.clone())));
                    }
                }
            }
        }
    }

    /// Writes one batch; if the connection was lost (PostgreSQL restarted, or the backend was
    /// ended), writes it again once on a new connection. That is safe whether or not the first
    /// attempt committed: a send already stored is answered with its event.
    async fn write_retrying(
        &mut self,
        batch: &[Queued],
    ) -> Result<Vec<Result<SendResponse, RoomError>>, BatchFailure> {
        match self.write(batch).await {
            Err(BatchFailure::Database(e)) if connection_lost(&e) => {
                tracing::warn!(error = %e, "committer: connection lost, writing the batch again");
                self.conn = None;
                self.write(batch).await
            }
            outcome => outcome,
        }
    }

    /// Writes one batch; returns an answer per send, in order.
    async fn write(
        &mut self,
        batch: &[Queued],
    ) -> Result<Vec<Result<SendResponse, RoomError>>, BatchFailure> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self
                .conn
                .insert(PgConnection::connect_with(&self.options).await?),
        };
        match self.fan_out_as.as_deref() {
            // One statement outside a transaction block is a transaction of its own: the
            // batch costs one round trip and one commit.
            None => write_in(conn, batch, None).await,
            // The outbox rows for other servers commit with the events.
            Some(own) => {
                let mut tx = conn.begin().await?;
                let answers = write_in(&mut tx, batch, Some(own)).await?;
                tx.commit().await?;
                Ok(answers)
            }
        }
    }
}

/// Whether `e` means the connection is gone rather than that the batch was refused: an I/O
/// error, a connection exception (SQLSTATE class 08), or the server shutting the session down
/// (57P01 administrator command, 57P02 crash, 57P03 cannot connect now).
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// Why a batch was not written.
#[derive(Debug, thiserror::Error)]
pub(super) enum BatchFailure {
    /// The database failed (the batch's transaction is rolled back).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A batch function answered something other than what it promises (one row per room,
    /// or one known outcome per send).
    #[error("unexpected answer from the batch function")]
    Unexpected,
}

/// What became of one send of a batch.
struct Outcome {
    answer: Result<SendResponse, RoomError>,
    /// When this send wrote its event (a retry answered with an earlier event wrote nothing).
    wrote_at: Option<OffsetDateTime>,
}

/// Writes sends on `conn` (a batch of local sends, or inside the transaction of remote
/// members' sends received by the owner); returns an answer per send, in order. With
/// `fan_out_as` (our server name, when federation is on), events of rooms with members on
/// other servers are queued for them too, so `conn` must then be inside a transaction.
pub(super) async fn write_in(
    conn: &mut PgConnection,
    batch: &[Queued],
    fan_out_as: Option<&str>,
) -> Result<Vec<Result<SendResponse, RoomError>>, BatchFailure> {
    let event_ids: Vec<String> = batch
        .iter()
        .map(|_| format!("${}", uuid::Uuid::new_v4().simple()))
        .collect();
    let outcomes = match write_fast(conn, batch, &event_ids).await? {
        Some(outcomes) => outcomes,
        None => write_checked(conn, batch, &event_ids).await?,
    };
    if let Some(own) = fan_out_as {
        let written: Vec<Written<'_>> = outcomes
            .iter()
            .zip(batch.iter().zip(&event_ids))
            .filter_map(|(outcome, (send, event_id))| {
                let (Ok(sent), Some(at)) = (&outcome.answer, outcome.wrote_at) else {
                    return None;
                };
                Some(Written {
                    room_id: &send.room_id,
                    event_id,
                    seq: sent.seq,
                    sender: &send.sender,
                    device_id: Some(&send.device_id),
                    txn_id: Some(&send.txn_id),
                    event_type: &send.event_type,
                    content: &send.content,
                    origin_server_ts: super::millis(at),
                })
            })
            .collect();
        fan_out(conn, own, &written).await?;
    }
    Ok(outcomes.into_iter().map(|o| o.answer).collect())
}

/// Sends as the arrays the batch functions take, one element per send.
#[derive(Default)]
struct Columns {
    room_ids: Vec<String>,
    senders: Vec<String>,
    device_ids: Vec<String>,
    txn_ids: Vec<String>,
    types: Vec<String>,
    contents: Vec<String>,
    /// The id each send's event gets if it is new.
    event_ids: Vec<String>,
}

impl Columns {
    fn of<'a>(sends: impl Iterator<Item = (&'a Queued, &'a String)>) -> Self {
        let mut columns = Self::default();
        for (send, event_id) in sends {
            columns.room_ids.push(send.room_id.clone());
            columns.senders.push(send.sender.clone());
            columns.device_ids.push(send.device_id.clone());
            columns.txn_ids.push(send.txn_id.clone());
            columns.types.push(send.event_type.clone());
            columns.contents.push(send.content.clone());
            columns.event_ids.push(event_id.clone());
        }
        columns
    }
}

/// The usual batch: `send_events_fast` writes every send as a new event, with the seqs and
/// positions worked out here (a repeated transaction id is answered with its first send's
/// event), unless a sender is not a member or a send repeats an earlier one: then it writes
/// nothing and answers `None`.
async fn write_fast(
    conn: &mut PgConnection,
    batch: &[Queued],
    event_ids: &[String],
) -> Result<Option<Vec<Outcome>>, BatchFailure> {
    // The first send of each transaction id, and what each send is answered with.
    let mut first_of: HashMap<(&str, &str, &str), usize> = HashMap::new();
    let mut answered_by = Vec::with_capacity(batch.len());
    let mut firsts: Vec<usize> = Vec::new();
    for (i, send) in batch.iter().enumerate() {
        let key = (
            send.sender.as_str(),
            send.device_id.as_str(),
            send.txn_id.as_str(),
        );
        answered_by.push(*first_of.entry(key).or_insert_with(|| {
            firsts.push(i);
            i
        }));
    }
    // Each new event's place among its room's new events, in queue order (1-based).
    let mut per_room: BTreeMap<&str, i64> = BTreeMap::new();
    let mut room_k = Vec::with_capacity(firsts.len());
    let mut pairs: BTreeSet<(&str, &str)> = BTreeSet::new();
    for &i in &firsts {
        let send = &batch[i];
        let k = per_room.entry(send.room_id.as_str()).or_default();
        *k += 1;
        room_k.push(*k);
        pairs.insert((send.room_id.as_str(), send.sender.as_str()));
    }
    let new = Columns::of(firsts.iter().map(|&i| (&batch[i], &event_ids[i])));
    let rows = sqlx::query!(
        r#"select room_id as "room_id!", before_seq as "before_seq!",
                  first_pos as "first_pos!", origin_server_ts as "origin_server_ts!"
           from send_events_fast($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"#,
        &new.room_ids,
        &new.senders,
        &new.device_ids,
        &new.txn_ids,
        &new.types,
        &new.contents,
        &new.event_ids,
        &room_k,
        &per_room.keys().map(|r| (*r).to_owned()).collect::<Vec<_>>(),
        &per_room.values().copied().collect::<Vec<_>>(),
        &pairs.iter().map(|p| p.0.to_owned()).collect::<Vec<_>>(),
        &pairs.iter().map(|p| p.1.to_owned()).collect::<Vec<_>>(),
    )
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    if rows.len() != per_room.len() {
        return Err(BatchFailure::Unexpected);
    }
    let at = rows[0].origin_server_ts;
    let before: HashMap<&str, i64> = rows
        .iter()
        .map(|r| (r.room_id.as_str(), r.before_seq))
        .collect();
    let mut sent: HashMap<usize, SendResponse> = HashMap::with_capacity(firsts.len());
    for (&i, k) in firsts.iter().zip(room_k) {
        let base = before
            .get(batch[i].room_id.as_str())
            .ok_or(BatchFailure::Unexpected)?;
        sent.insert(
            i,
            SendResponse {
                event_id: event_ids[i].clone(),
                seq: base + k,
            },
        );
    }
    answered_by
        .into_iter()
        .enumerate()
        .map(|(i, first)| {
            let answer = sent.get(&first).cloned().ok_or(BatchFailure::Unexpected)?;
            Ok(Outcome {
                answer: Ok(answer),
                wrote_at: (i == first).then_some(at),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Any batch: `send_events` decides each send (new, a retry of a stored event, or refused).
async fn write_checked(
    conn: &mut PgConnection,
    batch: &[Queued],
    event_ids: &[String],
) -> Result<Vec<Outcome>, BatchFailure> {
    let all = Columns::of(batch.iter().zip(event_ids));
    let rows = sqlx::query!(
        r#"select n as "n!", outcome as "outcome!", event_id, seq, origin_server_ts
           from send_events($1, $2, $3, $4, $5, $6, $7)"#,
        &all.room_ids,
        &all.senders,
        &all.device_ids,
        &all.txn_ids,
        &all.types,
        &all.contents,
        &all.event_ids,
    )
    .fetch_all(&mut *conn)
    .await?;
    if rows.len() != batch.len() {
        return Err(BatchFailure::Unexpected);
    }
    rows.into_iter()
        .zip(event_ids)
        .enumerate()
        .map(|(i, (row, own_id))| {
            if usize::try_from(row.n).ok() != Some(i + 1) {
                return Err(BatchFailure::Unexpected);
            }
            match (
                row.outcome.as_str(),
                row.event_id,
                row.seq,
                row.origin_server_ts,
            ) {
                ("refused", ..) => Ok(Outcome {
                    answer: Err(RoomError::no_room()),
                    wrote_at: None,
                }),
                (outcome @ ("new" | "stored"), Some(event_id), Some(seq), Some(at)) => {
                    // Only the send that wrote the event has its id (later ones repeat it).
                    let wrote = outcome == "new" && event_id == *own_id;
                    Ok(Outcome {
                        answer: Ok(SendResponse { event_id, seq }),
                        wrote_at: wrote.then_some(at),
                    })
                }
                _ => Err(BatchFailure::Unexpected),
            }
        })
        .collect()
}
