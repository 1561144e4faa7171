//! The mail worker: one per `parley serve` process, any number per database.
//!
//! It wakes when mail is queued (`LISTEN parley_mail`; the listener reconnects by itself after
//! a PostgreSQL restart) and polls every few seconds as a safety net, which also picks up mail
//! whose backoff has run out. Each pass claims due mail in batches and delivers it.
//!
//! Claiming: one statement selects due rows `for update skip locked` (rows another process is
//! claiming at that moment are skipped, never waited for) and moves their `next_attempt_at`
//! forward by [`CLAIM_LEASE`]. The rows then stay unlocked while the mail is sent, so no
//! transaction stays open across SMTP, yet no other process takes them: they are not due.
//! The outcome is written per mail right after its attempt.
//!
//! Crash window, and why delivery is at least once: if the process dies (or the database
//! becomes unreachable) after the relay accepted a mail but before `sent_at` is recorded, the
//! lease runs out and the mail is sent again. Its `Message-ID` is the same both times. On a
//! graceful shutdown the worker finishes the mail it is sending, gives its remaining claims
//! back, and exits.

use std::time::Duration;

use sqlx::{PgPool, postgres::PgListener};
use tokio::{task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    CHANNEL, MailError, OutgoingMail, describe,
    transport::{Mailer, QueuedMail, SEND_TIMEOUT},
};
use crate::metrics::Metrics;

/// How often the worker looks for due mail without being woken.
const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// How many mails one claim takes.
const BATCH: usize = 10;

/// How long a claim keeps other workers off a mail: longer than sending a whole batch can take,
/// so that a mail is never sent by two processes at once.
pub const CLAIM_LEASE: Duration = Duration::from_secs(BATCH as u64 * SEND_TIMEOUT.as_secs() + 300);

/// The first retry comes after this long; each further one waits twice as long ...
const BACKOFF_BASE: Duration = Duration::from_secs(5);

/// ... up to this, and then keeps retrying at this interval for ever.
const BACKOFF_CAP: Duration = Duration::from_secs(60 * 60);

/// Sent mail (its body already erased) is deleted after this long.
const KEEP_SENT: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How often sent mail older than [`KEEP_SENT`] is deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// The longest `last_error` kept, in characters.
const MAX_ERROR_CHARS: usize = 1000;

/// The wait before retrying a mail that has failed `failures` times: 5 s doubling to at most
/// 1 h, shortened by up to a quarter by `jitter` (in `0.0..=1.0`; 1.0 gives the full wait) so
/// that mail that failed together during an outage does not retry in lockstep.
pub fn retry_delay(failures: i32, jitter: f64) -> Duration {
    crate::backoff::delay(failures, BACKOFF_BASE, BACKOFF_CAP, 0.25, jitter)
}

/// Starts the mail worker. It runs until `shutdown` is cancelled, then finishes the mail it is
/// sending, gives back the rest of its claim and ends.
pub fn spawn_worker(
    mailer: Mailer,
    db: PgPool,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tracing::info!(transport = ?mailer.transport(), "mail worker started");
    let worker = Worker {
        mailer,
        db,
        metrics,
    };
    tokio::spawn(worker.run(shutdown))
}

struct Worker {
    mailer: Mailer,
    db: PgPool,
    metrics: Metrics,
}

impl Worker {
    async fn run(self, shutdown: CancellationToken) {
        let mut listener = None;
        let mut last_purge: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            if listener.is_none() {
                listener = self.listen().await;
            }
            // Wake-ups that arrived while we worked are all covered by the pass below.
            if let Some(listener) = listener.as_mut() {
                while listener.next_buffered().is_some() {}
            }
            if let Err(e) = self.send_due(&shutdown).await {
                tracing::warn!(
                    error = %describe(&e),
                    "mail outbox unavailable; trying again in {}s",
                    POLL_INTERVAL.as_secs()
                );
            }
            if last_purge.is_none_or(|at| at.elapsed() >= PURGE_INTERVAL) {
                last_purge = Some(Instant::now());
                self.purge_sent().await;
            }
            if !wait_for_work(&mut listener, &shutdown).await {
                break;
            }
        }
        tracing::info!("mail worker stopped");
    }

    async fn listen(&self) -> Option<PgListener> {
        let listening = async {
            let mut listener = PgListener::connect_with(&self.db).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(listener) => Some(listener),
            Err(e) => {
                tracing::warn!(
                    error = %describe(&e),
                    "cannot listen for queued mail; polling every {}s until it works",
                    POLL_INTERVAL.as_secs()
                );
                None
            }
        }
    }

    /// Claims and delivers due mail until none is left or shutdown begins.
    async fn send_due(&self, shutdown: &CancellationToken) -> Result<(), sqlx::Error> {
        let due = sqlx::query_scalar!(
            r#"select count(*) as "due!" from mail_outbox
               where sent_at is null and next_attempt_at <= now()"#
        )
        .fetch_one(&self.db)
        .await?;
        self.metrics.mail_queue_due.set(due);
        while !shutdown.is_cancelled() {
            let batch = self.claim().await?;
            if batch.is_empty() {
                return Ok(());
            }
            let mut batch = batch.into_iter();
            while let Some(queued) = batch.next() {
                if shutdown.is_cancelled() {
                    let unsent: Vec<Uuid> = std::iter::once(queued.id)
                        .chain(batch.map(|q| q.id))
                        .collect();
                    self.release(&unsent).await;
                    return Ok(());
                }
                self.deliver(&queued).await;
            }
        }
        Ok(())
    }

    /// Takes up to [`BATCH`] due mails that no other worker is claiming, and leases them.
    async fn claim(&self) -> Result<Vec<QueuedMail>, sqlx::Error> {
        // A locking CTE is never inlined, so the limit applies to locked rows only.
        let rows = sqlx::query!(
            r#"
            with due as (
                select mail_outbox_id
                from mail_outbox
                where sent_at is null and next_attempt_at <= now()
                order by next_attempt_at
                limit $1
                for update skip locked
            )
            update mail_outbox m
            set next_attempt_at = now() + make_interval(secs => $2)
            from due
            where m.mail_outbox_id = due.mail_outbox_id
            returning m.mail_outbox_id, m.recipient, m.subject, m.body_text, m.created_at,
                m.attempts
            "#,
            BATCH as i64,
            CLAIM_LEASE.as_secs_f64(),
        )
        .fetch_all(&self.db)
        .await?;
        let mut batch: Vec<QueuedMail> = rows
            .into_iter()
            .map(|row| QueuedMail {
                id: row.mail_outbox_id,
                created_at: row.created_at,
                attempts: row.attempts,
                mail: OutgoingMail {
                    to: row.recipient,
                    subject: row.subject,
                    text: row.body_text,
                },
            })
            .collect();
        batch.sort_by_key(|q| q.created_at);
        Ok(batch)
    }

    /// One attempt, and its outcome written down.
    async fn deliver(&self, queued: &QueuedMail) {
        let id = queued.id;
        let attempts = queued.attempts.saturating_add(1);
        match self.mailer.send(queued).await {
            Ok(()) => {
                self.metrics.mail_sent.inc();
                // The body's links are no longer needed: do not keep them.
                let recorded = sqlx::query!(
                    "update mail_outbox
                     set sent_at = now(), attempts = attempts + 1, last_error = null,
                         body_text = ''
                     where mail_outbox_id = $1",
                    id
                )
                .execute(&self.db)
                .await;
                match recorded {
                    Ok(_) => tracing::info!(mail_outbox_id = %id, attempts, "mail sent"),
                    Err(e) => tracing::warn!(
                        mail_outbox_id = %id,
                        error = %describe(&e),
                        "mail sent, but not recorded: it will be sent again when its claim \
                         expires"
                    ),
                }
            }
            Err(error) => {
                self.metrics.mail_failed_attempts.inc();
                let delay = retry_delay(attempts, rand::random::<f64>());
                let text: String = describe(&error).chars().take(MAX_ERROR_CHARS).collect();
                let recorded = sqlx::query!(
                    "update mail_outbox
                     set attempts = attempts + 1, last_error = $2,
                         next_attempt_at = now() + make_interval(secs => $3)
                     where mail_outbox_id = $1 and sent_at is null",
                    id,
                    text,
                    delay.as_secs_f64(),
                )
                .execute(&self.db)
                .await;
                log_failure(id, attempts, delay, &error, recorded.err());
            }
        }
    }

    /// Gives claimed but unsent mail back, due at once, for another process or the next start.
    async fn release(&self, ids: &[Uuid]) {
        let released = sqlx::query!(
            "update mail_outbox set next_attempt_at = now()
             where mail_outbox_id = any($1) and sent_at is null",
            ids
        )
        .execute(&self.db)
        .await;
        if let Err(e) = released {
            tracing::warn!(
                count = ids.len(),
                error = %describe(&e),
                "cannot give back claimed mail; it is sent when the claim expires"
            );
        }
    }

    async fn purge_sent(&self) {
        let purged = sqlx::query!(
            "delete from mail_outbox where sent_at < now() - make_interval(secs => $1)",
            KEEP_SENT.as_secs_f64()
        )
        .execute(&self.db)
        .await;
        match purged {
            Ok(done) if done.rows_affected() > 0 => {
                tracing::info!(deleted = done.rows_affected(), "deleted old sent mail");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %describe(&e), "cannot delete old sent mail"),
        }
    }
}

fn log_failure(
    id: Uuid,
    attempts: i32,
    delay: Duration,
    error: &MailError,
    not_recorded: Option<sqlx::Error>,
) {
    // Never the body or the recipient: the id leads to both in the outbox.
    match not_recorded {
        None => tracing::warn!(
            mail_outbox_id = %id,
            attempts,
            retry_in_secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0),
            error = %describe(error),
            "mail not sent; will retry"
        ),
        Some(e) => tracing::warn!(
            mail_outbox_id = %id,
            attempts,
            error = %describe(error),
            record_error = %describe(&e),
            "mail not sent, and the failure not recorded; it is retried when its claim expires"
        ),
    }
}

/// Waits for a notification, the poll interval or shutdown. Returns `false` on shutdown.
async fn wait_for_work(listener: &mut Option<PgListener>, shutdown: &CancellationToken) -> bool {
    let poll = tokio::time::sleep(POLL_INTERVAL);
    tokio::pin!(poll);
    let notified = async {
        match listener.as_mut() {
            Some(listener) => listener.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = shutdown.cancelled() => return false,
        () = &mut poll => return true,
        woke = notified => match woke {
            Ok(_) => return true,
            // The listener reconnects on its next call; until then, the poll is the safety net.
            Err(e) => tracing::debug!(error = %describe(&e), "mail listener interrupted"),
        },
    }
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = poll => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_5_seconds_to_an_hour() {
        let full = |n| retry_delay(n, 1.0).as_secs();
        assert_eq!(
            (1..=12).map(full).collect::<Vec<_>>(),
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        // It never gives up and never overflows.
        assert_eq!(full(1000), 3600);
        assert_eq!(full(i32::MAX), 3600);
        // Nonsense counts are treated as a first failure.
        assert_eq!(full(0), 5);
        assert_eq!(full(-3), 5);
    }

    #[test]
    fn jitter_shortens_by_at_most_a_quarter() {
        assert_eq!(retry_delay(1, 0.0), Duration::from_millis(3750));
        assert_eq!(retry_delay(3, 0.5), Duration::from_millis(17_500));
        assert_eq!(retry_delay(40, 0.0), Duration::from_secs(2700));
        // Out-of-range jitter is clamped: the cap holds.
        assert_eq!(retry_delay(40, 7.0), Duration::from_secs(3600));
        assert_eq!(retry_delay(40, f64::NAN), Duration::from_secs(2700));
        for i in 0..=100 {
            let d = retry_delay(2, f64::from(i) / 100.0);
            assert!(d >= Duration::from_millis(7500) && d <= Duration::from_secs(10));
        }
    }
}
