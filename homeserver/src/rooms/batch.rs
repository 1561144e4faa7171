//! Group commit of client sends.
//!
//! Every event takes the server-wide stream position under the lock of one row, so sends
//! serialise there whatever we do; what we choose is how many commits (each a WAL flush) they
//! pay for. Sends are queued to one committer task per [`super::Rooms`], which takes whatever is
//! waiting (up to `max` sends) and writes it in one transaction: rooms locked in a stable order,
//! one duplicate check, one membership check, one seq range per room, one stream-position range,
//! one multi-row insert, one notification, one commit. A lone send is written at once; sends arriving while a
//! commit is in flight wait for the next one, so batches grow only under load.
//!
//! A refused send (not a member, no such room) or a retried one (answered with the event stored
//! the first time) never fails the others. A database failure fails that batch's sends, whose
//! clients retry with the same transaction ids; the committer carries on with the next batch.

use std::collections::{BTreeMap, HashMap, HashSet};

use parley_client_api::rooms::SendResponse;
use sqlx::PgPool;
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
    /// Starts the committer on the current Tokio runtime. It ends when the last `Batcher` clone
    /// is dropped, after answering everything queued.
    pub fn start(db: PgPool, max: usize, fan_out_as: Option<String>) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, waiting, max.max(1), fan_out_as));
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

async fn run(
    db: PgPool,
    mut waiting: mpsc::Receiver<Pending>,
    max: usize,
    fan_out_as: Option<String>,
) {
    let mut batch = Vec::with_capacity(max);
    // Waits for one send, then takes what else is queued, without waiting for more.
    while waiting.recv_many(&mut batch, max).await > 0 {
        let (sends, answers): (Vec<Queued>, Vec<_>) =
            batch.drain(..).map(|p| (p.send, p.answer)).unzip();
        let outcome = write(&db, &sends, fan_out_as.as_deref()).await;
        match outcome {
            Ok(results) => {
                for (answer, result) in answers.into_iter().zip(results) {
                    let _ = answer.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, sends = sends.len(), "batched send failed");
                let reason = e.to_string();
                for answer in answers {
                    let _ = answer.send(Err(RoomError::Batch(reason.clone())));
                }
            }
        }
    }
}

/// Why a batch was not written.
#[derive(Debug, thiserror::Error)]
pub(super) enum BatchFailure {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Fewer rows were inserted than positions taken: the transaction is rolled back rather
    /// than leave gaps. Cannot happen while every event writer holds the stream lock.
    #[error("inserted {inserted} of {expected} events")]
    Lost {
        /// Rows inserted.
        inserted: u64,
        /// Rows expected.
        expected: u64,
    },
}

/// What becomes of one send of the batch.
enum Plan {
    /// Answered as it is (refused, or a retry of an event stored earlier).
    Done(Result<SendResponse, RoomError>),
    /// Written by this batch, as its `n`th new event.
    New(usize),
    /// A retry of a send earlier in this batch: the answer of that send.
    SameAs(usize),
}

/// Writes one batch in a transaction of its own; returns an answer per send, in order.
async fn write(
    db: &PgPool,
    batch: &[Queued],
    fan_out_as: Option<&str>,
) -> Result<Vec<Result<SendResponse, RoomError>>, BatchFailure> {
    let mut tx = db.begin().await?;
    let answers = write_in(&mut tx, batch, fan_out_as).await?;
    // With nothing written, committing releases the locks just as a rollback would.
    tx.commit().await?;
    Ok(answers)
}

/// Writes sends inside `tx` (a batch of local sends, or a transaction of remote members' sends
/// received by the owner); returns an answer per send, in order. With `fan_out_as` (our server
/// name, when federation is on), events of rooms with members on other servers are queued for
/// them in the same transaction.
pub(super) async fn write_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    batch: &[Queued],
    fan_out_as: Option<&str>,
) -> Result<Vec<Result<SendResponse, RoomError>>, BatchFailure> {
    // Rooms first, then the stream row: the order every event writer takes them in (a single
    // `append` locks its room, then the stream), so writers never deadlock.
    let mut room_ids: Vec<String> = batch.iter().map(|p| p.room_id.clone()).collect();
    room_ids.sort_unstable();
    room_ids.dedup();
    let rooms: HashSet<String> = sqlx::query_scalar!(
        "select room_id from room where room_id = any($1) order by room_id for update",
        &room_ids
    )
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    // With the stream row locked, every event written before us is committed and visible, so
    // the duplicate check below is exact and the insert cannot skip a row (leaving a gap).
    sqlx::query_scalar!("select last from stream_position for update")
        .fetch_one(&mut **tx)
        .await?;

    let senders: Vec<String> = batch.iter().map(|p| p.sender.clone()).collect();
    let devices: Vec<String> = batch.iter().map(|p| p.device_id.clone()).collect();
    let txn_ids: Vec<String> = batch.iter().map(|p| p.txn_id.clone()).collect();
    let stored: HashMap<(String, String, String), SendResponse> = sqlx::query!(
        r#"select sender, device_id as "device_id!", txn_id as "txn_id!", event_id, seq
           from event where (sender, device_id, txn_id) in
               (select * from unnest($1::text[], $2::text[], $3::text[]))"#,
        &senders,
        &devices,
        &txn_ids,
    )
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|r| {
        let sent = SendResponse {
            event_id: r.event_id,
            seq: r.seq,
        };
        ((r.sender, r.device_id, r.txn_id), sent)
    })
    .collect();
    let batch_rooms: Vec<String> = batch.iter().map(|p| p.room_id.clone()).collect();
    let members: HashSet<(String, String)> = sqlx::query!(
        "select room_id, user_id from room_member where membership = 'join'
         and (room_id, user_id) in (select * from unnest($1::text[], $2::text[]))",
        &batch_rooms,
        &senders,
    )
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|r| (r.room_id, r.user_id))
    .collect();

    // Decide each send in queue order; the new ones take seqs and positions in that order.
    let mut plans = Vec::with_capacity(batch.len());
    let mut new_in_batch: HashMap<(&str, &str, &str), usize> = HashMap::new();
    let mut new: Vec<&Queued> = Vec::new();
    let mut per_room: BTreeMap<&str, i64> = BTreeMap::new();
    for pending in batch {
        let key = (
            pending.sender.clone(),
            pending.device_id.clone(),
            pending.txn_id.clone(),
        );
        let batch_key = (
            pending.sender.as_str(),
            pending.device_id.as_str(),
            pending.txn_id.as_str(),
        );
        let plan = if let Some(sent) = stored.get(&key) {
            Plan::Done(Ok(sent.clone()))
        } else if let Some(&n) = new_in_batch.get(&batch_key) {
            Plan::SameAs(n)
        } else if !rooms.contains(&pending.room_id)
            || !members.contains(&(pending.room_id.clone(), pending.sender.clone()))
        {
            Plan::Done(Err(RoomError::no_room()))
        } else {
            new_in_batch.insert(batch_key, new.len());
            *per_room.entry(pending.room_id.as_str()).or_default() += 1;
            new.push(pending);
            Plan::New(new.len() - 1)
        };
        plans.push(plan);
    }

    let mut written: Vec<SendResponse> = Vec::with_capacity(new.len());
    if !new.is_empty() {
        written = insert(tx, &new, &per_room, fan_out_as).await?;
    }

    Ok(plans
        .into_iter()
        .map(|plan| match plan {
            Plan::Done(answer) => answer,
            Plan::New(n) | Plan::SameAs(n) => written
                .get(n)
                .cloned()
                .ok_or_else(|| RoomError::Batch("an event went missing".into())),
        })
        .collect())
}

/// Takes seqs and stream positions for `new` (in order) and inserts the events.
async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    new: &[&Queued],
    per_room: &BTreeMap<&str, i64>,
    fan_out_as: Option<&str>,
) -> Result<Vec<SendResponse>, BatchFailure> {
    let counted_rooms: Vec<String> = per_room.keys().map(|r| (*r).to_owned()).collect();
    let counts: Vec<i64> = per_room.values().copied().collect();
    let lasts = sqlx::query!(
        "update room r set last_seq = r.last_seq + c.k, last_event_at = now()
         from unnest($1::text[], $2::int8[]) as c(room_id, k)
         where r.room_id = c.room_id
         returning r.room_id, r.last_seq",
        &counted_rooms,
        &counts,
    )
    .fetch_all(&mut **tx)
    .await?;
    // The next seq of each room: its first new event gets last_seq - k + 1.
    let mut next_seq: HashMap<String, i64> = HashMap::with_capacity(lasts.len());
    for row in lasts {
        let k = per_room.get(row.room_id.as_str()).copied().unwrap_or(0);
        next_seq.insert(row.room_id, row.last_seq - k + 1);
    }
    let n = i64::try_from(new.len()).unwrap_or(i64::MAX);
    let last_pos = sqlx::query_scalar!(
        "update stream_position set last = last + $1 returning last",
        n
    )
    .fetch_one(&mut **tx)
    .await?;

    let mut event_ids = Vec::with_capacity(new.len());
    let mut room_ids = Vec::with_capacity(new.len());
    let mut seqs = Vec::with_capacity(new.len());
    let mut positions = Vec::with_capacity(new.len());
    let mut senders = Vec::with_capacity(new.len());
    let mut devices = Vec::with_capacity(new.len());
    let mut txn_ids = Vec::with_capacity(new.len());
    let mut types = Vec::with_capacity(new.len());
    let mut contents = Vec::with_capacity(new.len());
    for (pos, pending) in (last_pos - n + 1..).zip(new) {
        let Some(seq) = next_seq.get_mut(&pending.room_id) else {
            return Err(BatchFailure::Lost {
                inserted: 0,
                expected: new.len() as u64,
            });
        };
        seqs.push(*seq);
        *seq += 1;
        event_ids.push(format!("${}", uuid::Uuid::new_v4().simple()));
        room_ids.push(pending.room_id.clone());
        positions.push(pos);
        senders.push(pending.sender.clone());
        devices.push(pending.device_id.clone());
        txn_ids.push(pending.txn_id.clone());
        types.push(pending.event_type.clone());
        contents.push(pending.content.clone());
    }
    // The unique key on (sender, device_id, txn_id) stays the guarantee of idempotency; with
    // the duplicates filtered out above under the stream lock it never fires, and if it did the
    // count check below rolls the batch back rather than leave a gap.
    let inserted = sqlx::query_scalar!(
        "insert into event (event_id, room_id, seq, stream_pos, sender, device_id, txn_id, type,
                            content)
         select e.event_id, e.room_id, e.seq, e.stream_pos, e.sender, e.device_id, e.txn_id,
                e.type, e.content::jsonb
         from unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[])
              as e(event_id, room_id, seq, stream_pos, sender, device_id, txn_id, type, content)
         on conflict (sender, device_id, txn_id) do nothing
         returning origin_server_ts",
        &event_ids,
        &room_ids,
        &seqs,
        &positions,
        &senders,
        &devices,
        &txn_ids,
        &types,
        &contents,
    )
    .fetch_all(&mut **tx)
    .await?;
    if inserted.len() != new.len() {
        return Err(BatchFailure::Lost {
            inserted: inserted.len() as u64,
            expected: new.len() as u64,
        });
    }
    // One statement inserts them all: they share the transaction's timestamp.
    let ts = inserted.first().map_or(0, |t| super::millis(*t));
    let written: Vec<Written<'_>> = new
        .iter()
        .zip(event_ids.iter().zip(&seqs))
        .map(|(send, (event_id, seq))| Written {
            room_id: &send.room_id,
            event_id,
            seq: *seq,
            sender: &send.sender,
            device_id: Some(&send.device_id),
            txn_id: Some(&send.txn_id),
            event_type: &send.event_type,
            content: &send.content,
            origin_server_ts: ts,
        })
        .collect();
    if let Some(own) = fan_out_as {
        fan_out(tx, own, &written).await?;
    }
    // Every process fans the events out once this commits: one notification for the batch,
    // whose positions are contiguous (taken above under the stream lock).
    super::notify_events(tx, last_pos - n + 1, last_pos).await?;
    Ok(event_ids
        .into_iter()
        .zip(seqs)
        .map(|(event_id, seq)| SendResponse { event_id, seq })
        .collect())
}
