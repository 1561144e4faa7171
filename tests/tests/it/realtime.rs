//! The WebSocket: live events, resume without gaps, typing, receipts, slow clients, origin and
//! authentication checks, and two processes on one database.

use std::time::Duration;

use parley_tests::{
    server::{TestConfig, TestServer},
    users::{TestUser, seg},
    ws::{TestSocket, WsEnd},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::setup;

const WAIT: Duration = Duration::from_secs(15);

async fn group(owner: &TestUser, members: &[&TestUser]) -> String {
    let ids: Vec<&str> = members.iter().map(|m| m.user_id.as_str()).collect();
    let (status, body) = owner
        .post(
            "/rooms",
            json!({"kind": "group", "name": "Live", "members": ids}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["room_id"].as_str().unwrap().to_owned()
}

async fn live(user: &TestUser, since: Option<i64>) -> TestSocket {
    let mut socket = TestSocket::connect(user, since, None).await.unwrap();
    socket.wait_for("live", WAIT, |f| f["type"] == "live").await;
    socket
}

fn is_message(frame: &Value, body: &str) -> bool {
    frame["type"] == "event" && frame["event"]["content"]["body"] == body
}

#[tokio::test]
async fn messages_typing_and_receipts_arrive_live() {
    let mut s = setup("live.parley.test").await;
    s.config.typing_timeout_secs = 2;
    let server = TestServer::start(&s.config).await.unwrap();
    let ann = TestUser::register(&server, "ann").await.unwrap();
    let ben = TestUser::register(&server, "ben").await.unwrap();
    let room = group(&ann, &[&ben]).await;
    let mut a = live(&ann, None).await;
    let mut b = live(&ben, None).await;

    // Typing reaches the other member (not the typist).
    a.send(json!({"type": "typing", "room_id": room, "typing": true}))
        .await
        .unwrap();
    let typing = b.wait_for("typing", WAIT, |f| f["type"] == "typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "room_id": room, "user_id": ann.user_id, "typing": true})
    );

    // A send over the socket: the sender gets `sent`, the other member the event, and the
    // message ends the typing notice.
    a.send(json!({"type": "send", "room_id": room, "event_type": "parley.message", "txn_id": "w1", "content": {"body": "hello"}}))
        .await
        .unwrap();
    let sent = a.wait_for("sent", WAIT, |f| f["type"] == "sent").await;
    assert_eq!(sent["txn_id"], "w1");
    let event = b
        .wait_for("the message", WAIT, |f| is_message(f, "hello"))
        .await;
    assert_eq!(event["event"]["event_id"], sent["event_id"]);
    assert_eq!(event["event"]["sender"], ann.user_id);
    b.wait_for("typing stopped", WAIT, |f| {
        f["type"] == "typing" && f["typing"] == false
    })
    .await;

    // Delivered, then read, reach the sender.
    let seq = sent["seq"].as_i64().unwrap();
    b.send(json!({"type": "delivered", "room_id": room, "seq": seq}))
        .await
        .unwrap();
    let receipt = a
        .wait_for("delivered", WAIT, |f| {
            f["type"] == "receipt" && f["user_id"] == ben.user_id
        })
        .await;
    assert_eq!(
        (
            receipt["delivered_seq"].as_i64(),
            receipt["read_seq"].as_i64()
        ),
        (Some(seq), Some(0))
    );
    b.send(json!({"type": "read", "room_id": room, "seq": seq}))
        .await
        .unwrap();
    let receipt = a
        .wait_for("read", WAIT, |f| {
            f["type"] == "receipt" && f["user_id"] == ben.user_id && f["read_seq"] == seq
        })
        .await;
    assert_eq!(receipt["delivered_seq"], seq);
    let (_, summary) = ann.get(&format!("/rooms/{}", seg(&room))).await;
    let ben_member = summary["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == ben.user_id)
        .unwrap()
        .clone();
    assert_eq!(
        (
            ben_member["delivered_seq"].as_i64(),
            ben_member["read_seq"].as_i64()
        ),
        (Some(seq), Some(seq))
    );

    // A typing notice that is not refreshed expires by itself.
    b.send(json!({"type": "typing", "room_id": room, "typing": true}))
        .await
        .unwrap();
    a.wait_for("typing", WAIT, |f| {
        f["type"] == "typing" && f["typing"] == true
    })
    .await;
    a.wait_for("typing to expire", WAIT, |f| {
        f["type"] == "typing" && f["typing"] == false && f["user_id"] == ben.user_id
    })
    .await;

    // Refused frames get an error naming the transaction.
    a.send(json!({"type": "send", "room_id": "!nope:live.parley.test", "event_type": "parley.message", "txn_id": "w2", "content": {}}))
        .await
        .unwrap();
    let error = a.wait_for("error", WAIT, |f| f["type"] == "error").await;
    assert_eq!(
        (error["txn_id"].clone(), error["errcode"].clone()),
        (json!("w2"), json!("M_NOT_FOUND"))
    );
    a.send(json!({"type": "shout"})).await.unwrap();
    let error = a.wait_for("error", WAIT, |f| f["type"] == "error").await;
    assert_eq!(error["errcode"], "M_BAD_JSON");
}

#[tokio::test]
async fn a_client_resumes_and_gets_every_event_once_in_order() {
    let s = setup("resume.parley.test").await;
    let server = TestServer::start(&s.config).await.unwrap();
    let ann = TestUser::register(&server, "ann").await.unwrap();
    let ben = TestUser::register(&server, "ben").await.unwrap();
    let room = group(&ann, &[&ben]).await;
    let mut b = live(&ben, Some(0)).await;
    let r = seg(&room);
    for i in 0..5 {
        ann.put(
            &format!("/rooms/{r}/send/parley.message/a{i}"),
            json!({"body": format!("m{i}")}),
        )
        .await;
    }
    b.wait_for("m4", WAIT, |f| is_message(f, "m4")).await;
    let resume_from = b.last_pos;
    b.close().await;

    // While ben is away: more messages, also in a room created meanwhile.
    for i in 5..40 {
        ann.put(
            &format!("/rooms/{r}/send/parley.message/a{i}"),
            json!({"body": format!("m{i}")}),
        )
        .await;
    }
    let other = group(&ann, &[&ben]).await;
    ann.put(
        &format!("/rooms/{}/send/parley.message/o1", seg(&other)),
        json!({"body": "other"}),
    )
    .await;

    let expected: Vec<String> = (5..40)
        .map(|i| format!("m{i}"))
        .chain(["other".to_owned()])
        .collect();
    let expected_len = || expected.len();
    let mut b = TestSocket::connect(&ben, Some(resume_from), None)
        .await
        .unwrap();
    let mut bodies = Vec::new();
    let mut positions = Vec::new();
    loop {
        let frame = b.next(WAIT).await.unwrap();
        if frame["type"] == "live" {
            break;
        }
        // The device's key state comes after the events, before `live`.
        if ["device_lists", "key_counts", "to_device"].contains(&frame["type"].as_str().unwrap()) {
            assert!(
                bodies.len() == expected_len(),
                "key state after all events: {frame}"
            );
            continue;
        }
        assert_eq!(frame["type"], "event");
        positions.push(frame["stream_pos"].as_i64().unwrap());
        if let Some(body) = frame["event"]["content"]["body"].as_str() {
            bodies.push(body.to_owned());
        }
    }
    assert_eq!(bodies, expected, "every message once, in order");
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(positions[0] > resume_from);

    // And live again afterwards, without duplicates.
    ann.put(
        &format!("/rooms/{r}/send/parley.message/a40"),
        json!({"body": "m40"}),
    )
    .await;
    let frame = b.next(WAIT).await.unwrap();
    assert!(is_message(&frame, "m40"), "{frame}");
}

#[tokio::test]
async fn a_stalled_client_is_cut_off_without_hurting_others() {
    let s = setup("stall.parley.test").await;
    let server = TestServer::start(&s.config).await.unwrap();
    let ann = TestUser::register(&server, "ann").await.unwrap();
    let ben = TestUser::register(&server, "ben").await.unwrap();
    let room = group(&ann, &[&ben]).await;
    // Ben's first connection never reads again; his second one does.
    let stalled = live(&ben, None).await;
    let mut healthy = live(&ben, None).await;
    let r = seg(&room);
    let big = "x".repeat(60_000);
    let sends = 700;
    let sender = {
        let ann = ann.clone();
        let r = r.clone();
        let big = big.clone();
        tokio::spawn(async move {
            for i in 0..sends {
                let (status, _) = ann
                    .put(
                        &format!("/rooms/{r}/send/parley.message/s{i}"),
                        json!({"body": big, "i": i}),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK);
            }
        })
    };
    let mut received = 0;
    while received < sends {
        let frame = healthy.next(Duration::from_secs(60)).await.unwrap();
        if frame["type"] == "event" && frame["event"]["type"] == "parley.message" {
            assert_eq!(frame["event"]["content"]["i"], received, "in order");
            received += 1;
        }
    }
    sender.await.unwrap();
    // The stalled connection is closed by the server; only the healthy one is left.
    parley_tests::wait_until(
        "the stalled connection to be dropped",
        Duration::from_secs(60),
        || async { (server.state.realtime.open_connections() == 1).then_some(()) },
    )
    .await
    .unwrap();
    drop(stalled);
}

#[tokio::test]
async fn upgrades_are_authenticated_and_origin_checked() {
    let s = setup("wsauth.parley.test").await;
    let server = TestServer::start(&s.config).await.unwrap();
    let ann = TestUser::register(&server, "ann").await.unwrap();
    assert!(matches!(
        TestSocket::connect(&ann, None, Some("https://evil.example")).await,
        Err(WsEnd::Refused(403))
    ));
    assert!(
        TestSocket::connect(&ann, None, Some("http://wsauth.parley.test"))
            .await
            .is_ok()
    );
    let mut forged = ann.clone();
    forged.access_token = "not-a-token".into();
    assert!(matches!(
        TestSocket::connect(&forged, None, None).await,
        Err(WsEnd::Refused(401))
    ));
    // A socket of a session that ends is closed.
    let mut socket = live(&ann, None).await;
    let (status, _) = ann.post("/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    match socket.wait_for_close(Duration::from_secs(60)).await {
        WsEnd::Closed(code) => assert_eq!(code, 4001),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn two_processes_on_one_database_deliver_to_each_other() {
    let s = setup("pair.parley.test").await;
    let first = TestServer::start(&s.config).await.unwrap();
    // Both sign up before the second process starts, so their mail is written by the first.
    let ann = TestUser::register(&first, "ann").await.unwrap();
    TestUser::register(&first, "ben").await.unwrap();
    let second_dir = tempfile::tempdir().unwrap();
    let mut second_config: TestConfig = s.config.clone();
    second_config.data_dir = second_dir.path().join("data");
    let second = TestServer::start(&second_config).await.unwrap();
    // Ben signs in on the second process.
    let ben = TestUser::login(&second, "ben").await.unwrap();
    let room = group(&ann, &[&ben]).await;

    let mut a = live(&ann, None).await;
    let mut b = live(&ben, None).await;
    // Presence crosses processes too.
    a.wait_for("ben online, seen from the other process", WAIT, |f| {
        f["type"] == "presence" && f["user_id"] == ben.user_id && f["online"] == true
    })
    .await;
    a.send(json!({"type": "send", "room_id": room, "event_type": "parley.message", "txn_id": "x1", "content": {"body": "across"}}))
        .await
        .unwrap();
    b.wait_for("the message from the other process", WAIT, |f| {
        is_message(f, "across")
    })
    .await;
    b.send(json!({"type": "typing", "room_id": room, "typing": true}))
        .await
        .unwrap();
    a.wait_for("typing from the other process", WAIT, |f| {
        f["type"] == "typing" && f["user_id"] == ben.user_id
    })
    .await;
    b.send(json!({"type": "read", "room_id": room, "seq": 1000}))
        .await
        .unwrap();
    a.wait_for("a receipt from the other process", WAIT, |f| {
        f["type"] == "receipt" && f["user_id"] == ben.user_id
    })
    .await;
}

#[tokio::test]
async fn presence_follows_connections_and_is_shown_only_to_room_mates() {
    let mut s = setup("presence.parley.test").await;
    s.config.presence_grace_secs = 1;
    let server = TestServer::start(&s.config).await.unwrap();
    let ann = TestUser::register(&server, "ann").await.unwrap();
    let ben = TestUser::register(&server, "ben").await.unwrap();
    let zoe = TestUser::register(&server, "zoe").await.unwrap();
    let room = group(&ann, &[&ben]).await;
    let mut a = live(&ann, None).await;
    let mut z = live(&zoe, None).await;

    let b = live(&ben, None).await;
    let online = a
        .wait_for("ben online", WAIT, |f| {
            f["type"] == "presence" && f["user_id"] == ben.user_id
        })
        .await;
    assert_eq!(online["online"], true);
    let (_, summary) = ann.get(&format!("/rooms/{}", seg(&room))).await;
    let member = |summary: &Value| {
        summary["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user_id"] == ben.user_id)
            .unwrap()
            .clone()
    };
    assert_eq!(member(&summary)["online"], true);

    b.close().await;
    let offline = a
        .wait_for("ben offline", WAIT, |f| {
            f["type"] == "presence" && f["user_id"] == ben.user_id && f["online"] == false
        })
        .await;
    assert!(offline["last_seen_at"].as_i64().unwrap() > 0);
    let (_, summary) = ann.get(&format!("/rooms/{}", seg(&room))).await;
    assert_eq!(member(&summary)["online"], false);
    assert!(member(&summary)["last_seen_at"].as_i64().is_some());

    // Zoe shares no room with Ben: nothing about him reached her. (Her own error reply marks
    // the point by which anything sent to her earlier would have arrived.)
    z.send(json!({"type": "shout"})).await.unwrap();
    loop {
        let frame = z.next(WAIT).await.unwrap();
        assert_ne!(frame["type"], "presence", "{frame}");
        if frame["type"] == "error" {
            break;
        }
    }
}
