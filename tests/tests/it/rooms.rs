//! Rooms on one homeserver through the real API: idempotent sends, history, direct and group
//! rooms, roles and every authorisation rule.

use parley_tests::users::{TestUser, seg};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{group, send, server_with};

async fn timeline(user: &TestUser, room: &str) -> Vec<Value> {
    let (status, body) = user
        .get(&format!("/rooms/{}/events?limit=200", seg(room)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_retried_send_stores_one_event() {
    let (server, users, _s) = server_with("send.parley.test", &["ann", "ben"]).await;
    let [ann, ben] = [&users[0], &users[1]];
    let room = group(ann, "Team", &[ben]).await;

    let (status, first) = send(ann, &room, "txn-1", "hello").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, again) = send(ann, &room, "txn-1", "hello").await;
    assert_eq!(first, again, "a retry answers with the first event");

    // Retries racing each other still store one event.
    let racing = futures_join(ann, &room, "txn-2").await;
    assert!(racing.windows(2).all(|w| w[0] == w[1]), "{racing:?}");

    let events = timeline(ben, &room).await;
    let messages: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "parley.message")
        .collect();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["content"], json!({"body": "hello"}));
    assert_eq!(messages[0]["sender"], ann.user_id);
    // The same transaction id from another user is another event.
    let (_, bens) = send(ben, &room, "txn-1", "mine").await;
    assert_ne!(bens["event_id"], first["event_id"]);
    let count: i64 = sqlx::query_scalar("select count(*) from event where txn_id = 'txn-1'")
        .fetch_one(&server.state.db)
        .await
        .unwrap();
    assert_eq!(count, 2);
}

async fn futures_join(user: &TestUser, room: &str, txn: &str) -> Vec<Value> {
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let user = user.clone();
        let room = room.to_owned();
        let txn = txn.to_owned();
        tasks.push(tokio::spawn(async move {
            send(&user, &room, &txn, "race").await.1
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

#[tokio::test]
async fn history_pages_backwards_without_gaps() {
    let (_server, users, _s) = server_with("hist.parley.test", &["cat"]).await;
    let cat = &users[0];
    let room = group(cat, "Notes", &[]).await;
    for i in 0..120 {
        assert_eq!(
            send(cat, &room, &format!("t{i}"), &format!("m{i}")).await.0,
            StatusCode::OK
        );
    }
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let path = match before {
            Some(b) => format!("/rooms/{}/events?limit=50&before={b}", seg(&room)),
            None => format!("/rooms/{}/events?limit=50", seg(&room)),
        };
        let (status, page) = cat.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        let events = page["events"].as_array().unwrap();
        let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "oldest first, no gaps: {seqs:?}"
        );
        seen.splice(0..0, seqs);
        match page["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    let total = seen.len() as i64;
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
    assert!(total >= 121, "create, membership and 120 messages: {total}");
}

#[tokio::test]
async fn direct_rooms_are_one_per_pair() {
    let (_server, users, _s) = server_with("direct.parley.test", &["dan", "eve", "fay"]).await;
    let [dan, eve, fay] = [&users[0], &users[1], &users[2]];
    let (status, first) = dan
        .post("/rooms", json!({"kind": "direct", "with": eve.user_id}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = eve
        .post("/rooms", json!({"kind": "direct", "with": dan.user_id}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["room_id"], again["room_id"]);
    assert_eq!(first["members"].as_array().unwrap().len(), 2);
    let room = first["room_id"].as_str().unwrap();

    // Exactly two: nobody can be added or removed; the third person cannot read it.
    let (status, _) = dan
        .post(
            &format!("/rooms/{}/members", seg(room)),
            json!({"user_id": fay.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = fay.get(&format!("/rooms/{}/events", seg(room))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Bad input: yourself, a missing user.
    let (status, _) = dan
        .post("/rooms", json!({"kind": "direct", "with": dan.user_id}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = dan
        .post(
            "/rooms",
            json!({"kind": "direct", "with": "@ghost:direct.parley.test"}),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].clone()),
        (StatusCode::NOT_FOUND, json!("M_NOT_FOUND"))
    );
}

#[tokio::test]
async fn non_members_and_members_without_the_role_are_refused() {
    let (_server, users, _s) =
        server_with("authz.parley.test", &["olga", "adam", "mia", "nick", "zed"]).await;
    let [owner, admin, member, newcomer, outsider] =
        [&users[0], &users[1], &users[2], &users[3], &users[4]];
    let room = group(owner, "Project", &[admin, member]).await;
    let r = seg(&room);
    let (status, _) = owner
        .put(
            &format!("/rooms/{r}/members/{}/role", seg(&admin.user_id)),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // An outsider: everything is refused, and the room's existence is not revealed.
    let checks: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/rooms/{r}"), None),
        (Method::GET, format!("/rooms/{r}/events"), None),
        (
            Method::PUT,
            format!("/rooms/{r}/send/parley.message/x1"),
            Some(json!({"body": "hi"})),
        ),
        (
            Method::POST,
            format!("/rooms/{r}/members"),
            Some(json!({"user_id": outsider.user_id})),
        ),
        (
            Method::DELETE,
            format!("/rooms/{r}/members/{}", seg(&member.user_id)),
            None,
        ),
        (
            Method::PUT,
            format!("/rooms/{r}/members/{}/role", seg(&member.user_id)),
            Some(json!({"role": "admin"})),
        ),
        (
            Method::PATCH,
            format!("/rooms/{r}"),
            Some(json!({"name": "Mine"})),
        ),
        (
            Method::POST,
            format!("/rooms/{r}/read"),
            Some(json!({"seq": 1})),
        ),
    ];
    for (method, path, body) in &checks {
        let (status, answer) = outsider.call(method.clone(), path, body.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
    }
    let (_, list) = outsider.get("/rooms").await;
    assert_eq!(list["rooms"], json!([]));

    // A plain member reads and sends, but changes nothing about the room.
    assert_eq!(send(member, &room, "m1", "hi").await.0, StatusCode::OK);
    for (method, path, body) in [
        (
            Method::POST,
            format!("/rooms/{r}/members"),
            Some(json!({"user_id": newcomer.user_id})),
        ),
        (
            Method::DELETE,
            format!("/rooms/{r}/members/{}", seg(&admin.user_id)),
            None,
        ),
        (
            Method::PUT,
            format!("/rooms/{r}/members/{}/role", seg(&member.user_id)),
            Some(json!({"role": "admin"})),
        ),
        (
            Method::PATCH,
            format!("/rooms/{r}"),
            Some(json!({"topic": "mine"})),
        ),
    ] {
        let (status, answer) = member.call(method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        assert_eq!(answer["errcode"], "M_FORBIDDEN");
    }
    // Nobody sends the server's own event types.
    let (status, _) = member
        .put(
            &format!("/rooms/{r}/send/parley.room.member/m2"),
            json!({"user_id": member.user_id, "role": "owner"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // An admin adds, removes, renames and promotes, but cannot touch the owner or make owners.
    let (status, _) = admin
        .post(
            &format!("/rooms/{r}/members"),
            json!({"user_id": newcomer.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin
        .call(
            Method::PATCH,
            &format!("/rooms/{r}"),
            Some(json!({"name": "Renamed", "topic": "Q4"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin
        .call(
            Method::DELETE,
            &format!("/rooms/{r}/members/{}", seg(&owner.user_id)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = admin
        .put(
            &format!("/rooms/{r}/members/{}/role", seg(&member.user_id)),
            json!({"role": "owner"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = admin
        .put(
            &format!("/rooms/{r}/members/{}/role", seg(&owner.user_id)),
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = admin
        .call(
            Method::DELETE,
            &format!("/rooms/{r}/members/{}", seg(&newcomer.user_id)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The removed member is out at once.
    let (status, _) = newcomer.get(&format!("/rooms/{r}/events")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The last owner cannot demote themselves; leaving passes ownership to the admin.
    let (status, _) = owner
        .put(
            &format!("/rooms/{r}/members/{}/role", seg(&owner.user_id)),
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = owner
        .call(
            Method::DELETE,
            &format!("/rooms/{r}/members/{}", seg(&owner.user_id)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, summary) = admin.get(&format!("/rooms/{r}")).await;
    assert_eq!(summary["my_role"], "owner", "{summary}");
    assert_eq!(summary["name"], "Renamed");
    assert_eq!(summary["topic"], "Q4");

    // Every change is in the timeline.
    let events = timeline(member, &room).await;
    let members: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| e["type"] == "parley.room.member")
        .map(|e| {
            let c = &e["content"];
            (
                c["user_id"].as_str().unwrap().to_owned(),
                c["membership"].as_str().unwrap().to_owned(),
                c["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(members.contains(&(admin.user_id.clone(), "join".into(), "admin".into())));
    assert!(members.contains(&(newcomer.user_id.clone(), "leave".into(), "member".into())));
    assert!(members.contains(&(owner.user_id.clone(), "leave".into(), "owner".into())));
    assert!(members.contains(&(admin.user_id.clone(), "join".into(), "owner".into())));
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "parley.room.name" && e["content"]["name"] == "Renamed")
    );
    assert_eq!(events[0]["type"], "parley.room.create");
}

#[tokio::test]
async fn unread_counts_read_markers_and_bad_events() {
    let (_server, users, _s) = server_with("unread.parley.test", &["gus", "hal"]).await;
    let [gus, hal] = [&users[0], &users[1]];
    let room = group(gus, "Chat", &[hal]).await;
    for i in 0..3 {
        send(gus, &room, &format!("u{i}"), "ping").await;
    }
    let (_, list) = hal.get("/rooms").await;
    let summary = &list["rooms"][0];
    assert_eq!(summary["room_id"], room);
    // Three messages; the room's creation and membership events do not count.
    assert_eq!(summary["unread_count"], 3, "{summary}");
    assert_eq!(summary["last_event"]["content"]["body"], "ping");
    let newest = summary["last_event"]["seq"].as_i64().unwrap();
    let (status, marker) = hal
        .post(
            &format!("/rooms/{}/read", seg(&room)),
            json!({"seq": newest + 100}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(marker["seq"], newest, "never past the newest event");
    let (_, list) = hal.get("/rooms").await;
    assert_eq!(list["rooms"][0]["unread_count"], 0);
    // The sender's own messages never count as unread for them.
    let (_, list) = gus.get("/rooms").await;
    assert_eq!(list["rooms"][0]["unread_count"], 0);

    let r = seg(&room);
    let (status, body) = gus
        .put(
            &format!("/rooms/{r}/send/parley.message/big"),
            json!({"body": "x".repeat(70_000)}),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].clone()),
        (StatusCode::PAYLOAD_TOO_LARGE, json!("M_TOO_LARGE"))
    );
    let (status, _) = gus
        .put(&format!("/rooms/{r}/send/bad%20type/t"), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = gus
        .put(
            &format!("/rooms/{r}/send/parley.message/arr"),
            json!([1, 2]),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].clone()),
        (StatusCode::BAD_REQUEST, json!("M_INVALID_PARAM"))
    );
}
