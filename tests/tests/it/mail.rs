//! Outgoing mail through the real worker: a real SMTP server (aiosmtpd) that is down and then
//! up, the local mailbox folder, and two servers sharing one database.

use std::{
    collections::BTreeMap, net::SocketAddr, os::unix::fs::PermissionsExt as _, path::Path,
    time::Duration,
};

use parley_homeserver::mail::{self, OutgoingMail};
use parley_tests::{
    pg::PgCluster,
    server::{TestConfig, TestServer, WebFixture},
    smtp::{SmtpSink, free_port},
    wait_until,
};
use sqlx::PgPool;

use crate::setup;

const DEADLINE: Duration = Duration::from_secs(30);

fn welcome(to: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.to_owned(),
        subject: "Confirm your address".to_owned(),
        text: format!(
            "Hello,\n\nconfirm {to} by opening https://mail.parley.test/verify?token=t0k3n.\n\n\
             Parley\n"
        ),
    }
}

#[derive(Debug)]
struct Row {
    attempts: i32,
    last_error: Option<String>,
    sent: bool,
    body_text: String,
}

async fn outbox_row(db: &PgPool, to: &str) -> Option<Row> {
    let (attempts, last_error, sent, body_text) =
        sqlx::query_as::<_, (i32, Option<String>, bool, String)>(
            "select attempts, last_error, sent_at is not null, body_text from mail_outbox
             where recipient = $1",
        )
        .bind(to)
        .fetch_optional(db)
        .await
        .unwrap()?;
    Some(Row {
        attempts,
        last_error,
        sent,
        body_text,
    })
}

async fn sent_count(db: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from mail_outbox where sent_at is not null")
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn mail_survives_an_smtp_outage() {
    let mut s = setup("mail.parley.test").await;
    // Nothing listens here yet: the relay is "down".
    let port = free_port().unwrap();
    s.config.mail_relay = Some(SocketAddr::from(([127, 0, 0, 1], port)));
    let server = TestServer::start(&s.config).await.unwrap();
    let db = &server.state.db;
    let to = "ada@example.org";

    mail::enqueue(db, &welcome(to)).await.unwrap();
    let failed = wait_until("a failed attempt", DEADLINE, || async {
        outbox_row(db, to)
            .await
            .filter(|r| r.attempts >= 1 && r.last_error.is_some())
    })
    .await
    .unwrap();
    assert!(!failed.sent, "{failed:?}");
    assert!(
        failed.last_error.as_deref().unwrap().contains("SMTP relay"),
        "{failed:?}"
    );
    assert_eq!(server.state.metrics.mail_sent.get(), 0);
    assert!(server.state.metrics.mail_failed_attempts.get() >= 1);

    // The relay comes back; skip the rest of the backoff.
    let sink = SmtpSink::start(port).await.unwrap();
    server.retry_mail_now().await.unwrap();
    wait_until("the mail marked sent", DEADLINE, || async {
        outbox_row(db, to).await.filter(|r| r.sent)
    })
    .await
    .unwrap();

    let received = sink.messages().unwrap();
    assert_eq!(received.len(), 1, "delivered exactly once: {received:#?}");
    let mail = &received[0];
    assert_eq!(mail.header("X-RcptTo"), Some(to));
    assert_eq!(mail.header("To"), Some(to));
    assert_eq!(mail.header("Subject"), Some("Confirm your address"));
    assert_eq!(mail.header("From"), Some("Parley <parley@localhost>"));
    assert!(
        mail.header("Message-ID")
            .unwrap()
            .ends_with("@mail.parley.test>"),
        "{mail:#?}"
    );
    // SMTP's end-of-data marker may leave one more line end.
    assert_eq!(mail.body.trim_end(), welcome(to).text.trim_end());

    // Sent: the body's links are not kept.
    let row = outbox_row(db, to).await.unwrap();
    assert_eq!(row.body_text, "");
    assert_eq!(row.last_error, None);
    assert!(row.attempts >= 2, "{row:?}");
    assert_eq!(server.state.metrics.mail_sent.get(), 1);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn without_smtp_mail_lands_in_the_mailbox_folder() {
    let s = setup("mail.parley.test").await;
    let server = TestServer::start(&s.config).await.unwrap();
    let db = &server.state.db;
    let mailbox = s.config.data_dir.join("mailbox");
    assert_eq!(
        std::fs::metadata(&mailbox).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // Queued in a transaction that rolls back: never sent.
    let mut tx = db.begin().await.unwrap();
    mail::enqueue(&mut *tx, &welcome("ghost@example.org"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    let to = "bob@example.org";
    let mut tx = db.begin().await.unwrap();
    mail::enqueue(&mut *tx, &welcome(to)).await.unwrap();
    tx.commit().await.unwrap();

    wait_until("the mail marked sent", DEADLINE, || async {
        outbox_row(db, to).await.filter(|r| r.sent)
    })
    .await
    .unwrap();
    let files = eml_files(&mailbox);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap();
    assert!(name.ends_with(".eml") && name.contains('T'), "{name}");
    assert_eq!(
        std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    let mail = parley_tests::smtp::ReceivedMail::parse(&raw);
    assert_eq!(mail.header("To"), Some(to));
    assert_eq!(mail.header("From"), Some("Parley <parley@localhost>"));
    assert_eq!(mail.header("Subject"), Some("Confirm your address"));
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("text/plain"),
        "{mail:#?}"
    );
    assert_eq!(mail.body, welcome(to).text);
    assert!(outbox_row(db, "ghost@example.org").await.is_none());

    // A bad recipient is refused before anything is queued.
    let refused = mail::enqueue(db, &welcome("not an address")).await;
    assert!(
        matches!(refused, Err(mail::MailError::InvalidRecipient(_))),
        "{refused:?}"
    );
    server.stop().await.unwrap();
}

fn eml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn two_servers_on_one_database_send_each_mail_once() {
    let mut s = setup("mail.parley.test").await;
    let sink = SmtpSink::start(free_port().unwrap()).await.unwrap();
    s.config.mail_relay = Some(sink.addr());
    let a = TestServer::start(&s.config).await.unwrap();
    let mut config_b = s.config.clone();
    config_b.data_dir = s.dir.path().join("data-b");
    let b = TestServer::start(&config_b).await.unwrap();

    // All in one transaction: both workers wake at the same commit and compete for the rows.
    let recipients: Vec<String> = (0..20).map(|i| format!("user{i}@example.org")).collect();
    let mut tx = a.state.db.begin().await.unwrap();
    for to in &recipients {
        mail::enqueue(&mut *tx, &welcome(to)).await.unwrap();
    }
    tx.commit().await.unwrap();

    wait_until("20 mails marked sent", DEADLINE, || async {
        (sent_count(&a.state.db).await == 20).then_some(())
    })
    .await
    .unwrap();
    let received = sink.messages().unwrap();
    let mut per_recipient = BTreeMap::new();
    for mail in &received {
        *per_recipient
            .entry(mail.header("X-RcptTo").unwrap().to_owned())
            .or_insert(0) += 1;
    }
    let expected: BTreeMap<String, i32> = recipients.iter().map(|r| (r.clone(), 1)).collect();
    assert_eq!(per_recipient, expected, "each mail delivered exactly once");
    let sent_by_a = a.state.metrics.mail_sent.get();
    let sent_by_b = b.state.metrics.mail_sent.get();
    assert_eq!(
        sent_by_a + sent_by_b,
        20,
        "a sent {sent_by_a}, b {sent_by_b}"
    );
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test]
async fn mail_claimed_elsewhere_is_skipped_not_waited_for() {
    let mut s = setup("mail.parley.test").await;
    let sink = SmtpSink::start(free_port().unwrap()).await.unwrap();
    s.config.mail_relay = Some(sink.addr());
    let server = TestServer::start(&s.config).await.unwrap();
    let db = &server.state.db;

    // Ten mails that fall due in two seconds, so that the test can lock them first, as a
    // worker of another process holds the rows it is claiming.
    let claimed: Vec<String> = (0..10).map(|i| format!("held{i}@example.org")).collect();
    let mut tx = db.begin().await.unwrap();
    for to in &claimed {
        mail::enqueue(&mut *tx, &welcome(to)).await.unwrap();
    }
    sqlx::query("update mail_outbox set next_attempt_at = now() + interval '2 seconds'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut other_claim = db.begin().await.unwrap();
    let locked: Vec<(bool,)> = sqlx::query_as(
        "select next_attempt_at > now() from mail_outbox where attempts = 0 for update",
    )
    .fetch_all(&mut *other_claim)
    .await
    .unwrap();
    assert_eq!(locked, vec![(true,); 10], "locked before they fell due");
    wait_until("the held mails to fall due", DEADLINE, || async {
        let due: i64 =
            sqlx::query_scalar("select count(*) from mail_outbox where next_attempt_at <= now()")
                .fetch_one(db)
                .await
                .unwrap();
        (due == 10).then_some(())
    })
    .await
    .unwrap();

    // The worker passes over the locked rows (it would hang on them without `skip locked`)
    // and sends a mail queued after them.
    mail::enqueue(db, &welcome("free@example.org"))
        .await
        .unwrap();
    wait_until("the unlocked mail sent", DEADLINE, || async {
        outbox_row(db, "free@example.org").await.filter(|r| r.sent)
    })
    .await
    .unwrap();
    assert_eq!(sent_count(db).await, 1, "the held mails were not touched");

    // The other claim ends without taking them (rolled back): the mails are still due, and
    // are sent, once each.
    other_claim.rollback().await.unwrap();
    server.retry_mail_now().await.unwrap();
    wait_until("all mails sent", DEADLINE, || async {
        (sent_count(db).await == 11).then_some(())
    })
    .await
    .unwrap();
    let mut received: Vec<String> = sink
        .messages()
        .unwrap()
        .iter()
        .map(|m| m.header("X-RcptTo").unwrap().to_owned())
        .collect();
    received.sort();
    let mut expected = claimed.clone();
    expected.push("free@example.org".to_owned());
    expected.sort();
    assert_eq!(received, expected);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_worker_outlives_a_database_restart() {
    let cluster = PgCluster::start_private().unwrap();
    let db = cluster.create_database().await.unwrap();
    let web = WebFixture::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = TestConfig::new("mail.parley.test", dir.path(), web.path(), &db);
    let server = TestServer::start(&config).await.unwrap();
    let pool = &server.state.db;
    let mailbox = config.data_dir.join("mailbox");

    mail::enqueue(pool, &welcome("before@example.org"))
        .await
        .unwrap();
    wait_until("the first mail sent", DEADLINE, || async {
        outbox_row(pool, "before@example.org")
            .await
            .filter(|r| r.sent)
    })
    .await
    .unwrap();

    cluster.stop().unwrap();
    cluster.restart().unwrap();
    // The pool replaces its broken connections; the worker's listener reconnects.
    let queued = wait_until("the database back", DEADLINE, || async {
        mail::enqueue(pool, &welcome("after@example.org"))
            .await
            .ok()
    })
    .await;
    queued.unwrap();
    wait_until("the second mail sent", DEADLINE, || async {
        outbox_row(pool, "after@example.org")
            .await
            .filter(|r| r.sent)
    })
    .await
    .unwrap();
    assert_eq!(eml_files(&mailbox).len(), 2);
    server.stop().await.unwrap();
}
