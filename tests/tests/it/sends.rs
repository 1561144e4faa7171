//! Group commit of sends: many concurrent senders and retries, a refused send inside a batch,
//! and a batch whose database connection dies. Batches are made deterministic where a test
//! depends on them by holding the stream row's lock while the sends queue up.

use std::{collections::HashMap, time::Duration};

use parley_tests::{
    server::TestServer,
    users::{TestUser, seg},
    wait_until,
};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::{Connection as _, PgConnection};

use crate::{group, send, server_with};

/// Seqs of every room are 1..=last_seq and stream positions 1..=last, without gaps or
/// duplicates.
async fn assert_gap_free(server: &TestServer) {
    let rooms: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "select r.room_id, r.last_seq, count(e.*), coalesce(min(e.seq), 0),
                coalesce(max(e.seq), 0)
         from room r left join event e using (room_id) group by r.room_id, r.last_seq",
    )
    .fetch_all(&server.state.db)
    .await
    .unwrap();
    for (room, last_seq, count, min, max) in rooms {
        assert_eq!((count, min, max), (last_seq, 1, last_seq), "seqs of {room}");
    }
    // Device-list changes take positions from the same counter as events.
    let (last, count, min, max): (i64, i64, i64, i64) = sqlx::query_as(
        "select (select last from stream_position), count(*), min(pos), max(pos)
         from (select stream_pos as pos from event
               union all
               select distinct stream_pos from device_list_change) positions",
    )
    .fetch_one(&server.state.db)
    .await
    .unwrap();
    assert_eq!((count, min, max), (last, 1, last), "stream positions");
}

/// Takes the lock of the stream row on a connection of its own (the server's small pool is
/// left to the server), so that the committer's next batch waits for it until `begin` ends.
async fn hold_stream_lock(s: &crate::Setup) -> PgConnection {
    let mut lock = PgConnection::connect(s.db.url()).await.unwrap();
    sqlx::query("begin").execute(&mut lock).await.unwrap();
    sqlx::query("select last from stream_position for update")
        .execute(&mut lock)
        .await
        .unwrap();
    lock
}

/// The backend of the committer once it waits for the stream lock. Asked on a connection
/// outside any transaction: inside one, PostgreSQL keeps showing the first snapshot of
/// `pg_stat_activity`.
async fn committer_waiting(s: &crate::Setup, except: Option<i32>) -> i32 {
    let mut watch = PgConnection::connect(s.db.url()).await.unwrap();
    let mut found = None;
    let started = tokio::time::Instant::now();
    while found.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the committer never waited for the lock"
        );
        found = sqlx::query_scalar::<_, i32>(
            "select pid from pg_stat_activity where datname = current_database()
             and wait_event_type = 'Lock' and query like '%from send_events%'
             and pid is distinct from $1",
        )
        .bind(except)
        .fetch_optional(&mut watch)
        .await
        .unwrap();
        if found.is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    found.unwrap_or_default()
}

/// A stalled batch: the stream lock held on a connection of the test's own, and `user`'s send
/// of `txn` into `room` in a batch waiting for it (whose backend's pid is returned). Sends made
/// meanwhile queue behind it until the test commits (or rolls back) on the lock.
async fn stall_committer(
    s: &crate::Setup,
    user: &TestUser,
    room: &str,
    txn: &'static str,
) -> (
    PgConnection,
    tokio::task::JoinHandle<(StatusCode, Value)>,
    i32,
) {
    let lock = hold_stream_lock(s).await;
    let stalled = tokio::spawn({
        let (user, room) = (user.clone(), room.to_owned());
        async move { send(&user, &room, txn, txn).await }
    });
    let pid = committer_waiting(s, None).await;
    (lock, stalled, pid)
}

/// Ends the backend `pid` (from the test's own connection `on`).
async fn terminate(on: &mut PgConnection, pid: i32) {
    let terminated: bool = sqlx::query_scalar("select pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(on)
        .await
        .unwrap();
    assert!(terminated);
}

async fn queued(server: &TestServer, n: usize) {
    wait_until("sends to queue", Duration::from_secs(15), || async {
        (server.state.rooms.queued_sends() == n).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn concurrent_senders_and_retries_get_one_event_each_without_gaps() {
    let names = ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"];
    let (server, users, _s) = server_with("many.parley.test", &names).await;
    let everyone: Vec<&TestUser> = users.iter().skip(1).collect();
    let rooms = [
        group(&users[0], "All", &everyone).await,
        group(&users[0], "Also all", &everyone).await,
        group(&users[0], "Third", &everyone).await,
    ];

    const SENDS: usize = 50;
    let mut tasks = Vec::new();
    for (u, user) in users.iter().enumerate() {
        let user = user.clone();
        let rooms = rooms.clone();
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for i in 0..SENDS {
                let room = &rooms[(u + i) % rooms.len()];
                let txn = format!("t{i}");
                let text = format!("{u}/{i}");
                // The send and its retry race each other (often into the same batch).
                let (first, retry) = tokio::join!(
                    send(&user, room, &txn, &text),
                    send(&user, room, &txn, &text)
                );
                assert_eq!(first.0, StatusCode::OK, "{}", first.1);
                assert_eq!(first, retry, "a retry answers with the first event");
                answers.push((room.clone(), first.1));
            }
            // A later retry of the first send, too.
            let (status, again) = send(&user, &rooms[u % rooms.len()], "t0", "ignored").await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(again, answers[0].1);
            answers
        }));
    }
    let mut sent: Vec<Vec<(String, Value)>> = Vec::new();
    for task in tasks {
        sent.push(task.await.unwrap());
    }

    let per_txn: i64 = sqlx::query_scalar(
        "select count(*) from (select 1 from event where txn_id is not null
         group by sender, device_id, txn_id having count(*) > 1) d",
    )
    .fetch_one(&server.state.db)
    .await
    .unwrap();
    assert_eq!(per_txn, 0, "one event per transaction id");
    let messages: i64 =
        sqlx::query_scalar("select count(*) from event where type = 'parley.message'")
            .fetch_one(&server.state.db)
            .await
            .unwrap();
    assert_eq!(messages, (names.len() * SENDS) as i64);
    assert_gap_free(&server).await;

    // Every room's history, read by a member, holds every message once, in seq order, and
    // each sender's messages in the order they were sent.
    for room in &rooms {
        let mut events = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let path = match before {
                Some(b) => format!("/rooms/{}/events?limit=50&before={b}", seg(room)),
                None => format!("/rooms/{}/events?limit=50", seg(room)),
            };
            let (status, page) = users[7].get(&path).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let mut page_events = page["events"].as_array().unwrap().clone();
            page_events.extend(events);
            events = page_events;
            match page["next_before"].as_i64() {
                Some(b) => before = Some(b),
                None => break,
            }
        }
        let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
        let by_id: HashMap<&str, &Value> = events
            .iter()
            .map(|e| (e["event_id"].as_str().unwrap(), e))
            .collect();
        for (u, answers) in sent.iter().enumerate() {
            let mut last_seq = 0;
            for (i, (sent_room, answer)) in answers.iter().enumerate() {
                if sent_room != room {
                    continue;
                }
                let event = by_id[answer["event_id"].as_str().unwrap()];
                assert_eq!(event["seq"], answer["seq"]);
                assert_eq!(event["content"]["body"], format!("{u}/{i}"));
                assert_eq!(event["sender"], users[u].user_id);
                let seq = event["seq"].as_i64().unwrap();
                assert!(seq > last_seq, "{u}'s messages in order");
                last_seq = seq;
            }
        }
    }
}

#[tokio::test]
async fn a_refused_send_does_not_fail_the_others_in_its_batch() {
    let (server, users, s) = server_with("refused.parley.test", &["ann", "ben", "cal"]).await;
    let [ann, ben, cal] = [&users[0], &users[1], &users[2]];
    let room = group(ann, "Team", &[ben]).await;
    let elsewhere = group(cal, "Elsewhere", &[]).await;

    let (mut lock, first, _) = stall_committer(&s, ann, &room, "first").await;
    // These queue behind the stalled batch and are then committed together.
    let spawn_send = |user: &TestUser, txn: &'static str| {
        let (user, room) = (user.clone(), room.clone());
        tokio::spawn(async move { send(&user, &room, txn, txn).await })
    };
    let a = spawn_send(ann, "a");
    let b = spawn_send(cal, "b");
    let c = spawn_send(ben, "c");
    let a_again = spawn_send(ann, "a");
    queued(&server, 4).await;
    // A transaction id first used for a room the sender is not in, then for one they are in:
    // the first send is refused, the second stores the event (queued in this order).
    let d_refused = tokio::spawn({
        let (ben, elsewhere) = (ben.clone(), elsewhere.clone());
        async move { send(&ben, &elsewhere, "d", "d").await }
    });
    queued(&server, 5).await;
    let d = spawn_send(ben, "d");
    queued(&server, 6).await;
    sqlx::query("commit").execute(&mut lock).await.unwrap();

    let first = first.await.unwrap();
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    let (a, b, c, a_again) = (
        a.await.unwrap(),
        b.await.unwrap(),
        c.await.unwrap(),
        a_again.await.unwrap(),
    );
    assert_eq!(a.0, StatusCode::OK, "{}", a.1);
    assert_eq!(c.0, StatusCode::OK, "{}", c.1);
    assert_eq!(a_again, a, "a retry in the same batch gets the same event");
    assert_eq!(b.0, StatusCode::NOT_FOUND, "{}", b.1);
    assert_eq!(b.1["errcode"], "M_NOT_FOUND");
    let (d_refused, d) = (d_refused.await.unwrap(), d.await.unwrap());
    assert_eq!(d_refused.0, StatusCode::NOT_FOUND, "{}", d_refused.1);
    assert_eq!(d.0, StatusCode::OK, "{}", d.1);
    let mut seqs = [
        a.1["seq"].as_i64().unwrap(),
        c.1["seq"].as_i64().unwrap(),
        d.1["seq"].as_i64().unwrap(),
    ];
    seqs.sort_unstable();
    assert_eq!([seqs[1], seqs[2]], [seqs[0] + 1, seqs[0] + 2]);
    assert_eq!(first.1["seq"].as_i64().unwrap() + 1, seqs[0]);

    // One batch is one transaction: its events share now().
    let times: i64 = sqlx::query_scalar(
        "select count(distinct origin_server_ts) from event where txn_id in ('a', 'c', 'd')",
    )
    .fetch_one(&server.state.db)
    .await
    .unwrap();
    assert_eq!(times, 1);
    let stored: i64 = sqlx::query_scalar("select count(*) from event where txn_id = 'b'")
        .fetch_one(&server.state.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    assert_gap_free(&server).await;
}

#[tokio::test]
async fn a_failed_batch_fails_its_sends_only_and_the_next_batch_commits() {
    let (server, users, s) = server_with("failed.parley.test", &["dan"]).await;
    let dan = &users[0];
    let room = group(dan, "Notes", &[]).await;

    let (mut lock, lost, committer) = stall_committer(&s, dan, &room, "x").await;
    // The database connection of the batch dies mid-transaction; the committer writes the
    // batch again on a new connection, which waits for the lock in turn and dies too.
    terminate(&mut lock, committer).await;
    let again = committer_waiting(&s, Some(committer)).await;
    terminate(&mut lock, again).await;
    let (status, body) = lost.await.unwrap();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["errcode"], "M_UNKNOWN");
    sqlx::query("rollback").execute(&mut lock).await.unwrap();

    // The committer carries on; the client's retry stores the event once.
    let (status, x) = send(dan, &room, "x", "x").await;
    assert_eq!(status, StatusCode::OK, "{x}");
    let (status, y) = send(dan, &room, "y", "y").await;
    assert_eq!(status, StatusCode::OK, "{y}");
    assert_eq!(y["seq"].as_i64().unwrap(), x["seq"].as_i64().unwrap() + 1);
    assert_eq!(send(dan, &room, "x", "x").await.1, x);
    assert_gap_free(&server).await;
}

#[tokio::test]
async fn a_batch_answers_a_repeated_transaction_id_with_its_first_event() {
    let (server, users, s) = server_with("repeat.parley.test", &["eve", "fay"]).await;
    let [eve, fay] = [&users[0], &users[1]];
    let ours = group(eve, "Ours", &[fay]).await;
    let mine = group(eve, "Mine", &[]).await;

    let (mut lock, first, _) = stall_committer(&s, eve, &mine, "first").await;
    // Queued in this order behind the stalled batch, then committed together: every send is
    // new and from a member, with one transaction id twice.
    let mut queued_sends = Vec::new();
    for (n, (user, room, txn)) in [
        (eve, &ours, "x"),
        (fay, &ours, "y"),
        (eve, &ours, "x"),
        (eve, &mine, "z"),
        (eve, &ours, "w"),
    ]
    .into_iter()
    .enumerate()
    {
        let (user, room) = (user.clone(), room.clone());
        queued_sends.push(tokio::spawn(
            async move { send(&user, &room, txn, txn).await },
        ));
        queued(&server, n + 1).await;
    }
    sqlx::query("commit").execute(&mut lock).await.unwrap();
    let first = first.await.unwrap();
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    let mut answers = Vec::new();
    for task in queued_sends {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        answers.push(body);
    }
    let seq = |n: usize| answers[n]["seq"].as_i64().unwrap();
    assert_eq!(
        answers[2], answers[0],
        "the repeat gets the first send's event"
    );
    // Ours: x, y, w in queue order after the room's creation events; Mine: first, then z.
    assert_eq!([seq(1), seq(4)], [seq(0) + 1, seq(0) + 2]);
    assert_eq!(seq(3), first.1["seq"].as_i64().unwrap() + 1);
    // The answers are the stored events.
    for answer in answers.iter().chain([&first.1]) {
        let stored: i64 = sqlx::query_scalar("select seq from event where event_id = $1")
            .bind(answer["event_id"].as_str().unwrap())
            .fetch_one(&server.state.db)
            .await
            .unwrap();
        assert_eq!(stored, answer["seq"].as_i64().unwrap(), "{answer}");
    }

    let (events, times): (i64, i64) = sqlx::query_as(
        "select count(*), count(distinct origin_server_ts) from event
         where txn_id in ('x', 'y', 'z', 'w')",
    )
    .fetch_one(&server.state.db)
    .await
    .unwrap();
    assert_eq!((events, times), (4, 1), "four events, one batch");
    assert_gap_free(&server).await;
}

#[tokio::test]
async fn a_batch_whose_connection_dies_is_written_again_on_a_new_one() {
    let (server, users, s) = server_with("lost.parley.test", &["gus"]).await;
    let gus = &users[0];
    let room = group(gus, "Notes", &[]).await;

    let (mut lock, stalled, committer) = stall_committer(&s, gus, &room, "x").await;
    // As when PostgreSQL restarts: the committer's connection is ended mid-batch.
    terminate(&mut lock, committer).await;
    committer_waiting(&s, Some(committer)).await;
    sqlx::query("commit").execute(&mut lock).await.unwrap();

    let (status, x) = stalled.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{x}");
    let stored: i64 = sqlx::query_scalar("select count(*) from event where txn_id = 'x'")
        .fetch_one(&server.state.db)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    assert_eq!(send(gus, &room, "x", "x").await.1, x);
    assert_gap_free(&server).await;
}
