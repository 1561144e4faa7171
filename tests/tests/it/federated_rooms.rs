//! Rooms across servers: two and three homeservers, each with its own database, federating
//! over loopback TLS. The room's server orders and authorises; the others keep replicas.

use std::time::Duration;

use parley_tests::{
    e2ee::E2eeClient,
    server::TestServer,
    users::{TestUser, seg},
    wait_until,
    ws::TestSocket,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    direct,
    federation::{A, B, federated, peer_http, signed_put, status_and_code, two_orgs},
    group, send,
};

const C: &str = "org-c.parley.test";
const WAIT: Duration = Duration::from_secs(30);
/// Long enough for hundreds of messages through a backed-off outbox on a busy machine.
const LONG_WAIT: Duration = Duration::from_secs(120);

/// A new group of `owner`'s with `member` of another server, once the member's server has its
/// replica.
async fn shared_group(owner: &TestUser, name: &str, member: &TestUser) -> String {
    let room = group(owner, name, &[member]).await;
    room_when(member, &room, "the replica", |r| r["my_role"] == "member").await;
    room
}

/// Every event of a room `reader` can read, oldest first.
async fn timeline(reader: &TestUser, room: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let query = before.map_or(String::new(), |b| format!("&before={b}"));
        let (status, body) = reader
            .get(&format!("/rooms/{}/events?limit=200{query}", seg(room)))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut page = body["events"].as_array().unwrap().clone();
        page.append(&mut events);
        events = page;
        match body["next_before"].as_i64() {
            Some(next) if !body["events"].as_array().unwrap().is_empty() => before = Some(next),
            _ => return events,
        }
    }
}

/// The room as `reader`'s server shows it, once `ready` holds.
async fn room_when(reader: &TestUser, room: &str, what: &str, ready: impl Fn(&Value) -> bool) {
    wait_until(what, WAIT, || async {
        let (status, body) = reader.get(&format!("/rooms/{}", seg(room))).await;
        (status == StatusCode::OK && ready(&body)).then_some(())
    })
    .await
    .unwrap();
}

/// Waits until `reader`'s replica of the room holds exactly the owner's events from its first
/// one on (same events, seqs and order).
async fn replica_matches(owner: &[Value], reader: &TestUser, room: &str, deadline: Duration) {
    wait_until(
        "the replica to match the owner's timeline",
        deadline,
        || async {
            let replica = timeline(reader, room).await;
            let first = replica[0]["seq"].as_i64().unwrap();
            let expected: Vec<&Value> = owner
                .iter()
                .filter(|e| e["seq"].as_i64().unwrap() >= first)
                .collect();
            (replica.iter().collect::<Vec<_>>() == expected).then_some(())
        },
    )
    .await
    .unwrap();
}

fn role_of(room: &Value, user: &str) -> Option<String> {
    room["members"]
        .as_array()?
        .iter()
        .find(|m| m["user_id"] == user)
        .and_then(|m| m["role"].as_str().map(str::to_owned))
}

/// Message texts from `socket` until `n` of the room's messages arrived, in arrival order.
async fn messages(
    socket: &mut TestSocket,
    room: &str,
    n: usize,
    deadline: Duration,
) -> Vec<String> {
    let mut texts = Vec::new();
    while texts.len() < n {
        let frame = socket
            .wait_for("a message", deadline, |f| {
                f["type"] == "event"
                    && f["event"]["room_id"] == room
                    && f["event"]["type"] == "parley.message"
            })
            .await;
        texts.push(
            frame["event"]["content"]["body"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    texts
}

#[tokio::test]
async fn people_of_three_organisations_chat_encrypted_in_groups_and_direct_rooms() {
    let (setups, _ca, _ports) = federated(&[A, B, C]).await;
    let mut servers = Vec::new();
    for s in &setups {
        servers.push(TestServer::start(&s.config).await.unwrap());
    }
    let mut ann = E2eeClient::start(TestUser::register(&servers[0], "ann").await.unwrap())
        .await
        .unwrap();
    let mut bob = E2eeClient::start(TestUser::register(&servers[1], "bob").await.unwrap())
        .await
        .unwrap();
    let mut cat = E2eeClient::start(TestUser::register(&servers[2], "cat").await.unwrap())
        .await
        .unwrap();

    // A group of org-a with members on org-b and org-c: everyone decrypts everyone.
    let room = group(&ann.user, "Across", &[&bob.user, &cat.user]).await;
    assert!(room.ends_with(&format!(":{A}")));
    for reader in [&bob.user, &cat.user] {
        room_when(reader, &room, "the replica", |r| {
            r["members"].as_array().is_some_and(|m| m.len() == 3) && r["name"] == "Across"
        })
        .await;
    }
    let from_a = ann.send_text(&room, "hello from org-a").await.unwrap();
    for device in [&mut bob, &mut cat] {
        assert_eq!(
            device.wait_for_text(&from_a, WAIT).await.unwrap(),
            "hello from org-a"
        );
    }
    let from_b = bob.send_text(&room, "hello from org-b").await.unwrap();
    for device in [&mut ann, &mut cat] {
        assert_eq!(
            device.wait_for_text(&from_b, WAIT).await.unwrap(),
            "hello from org-b"
        );
    }
    let from_c = cat.send_text(&room, "hello from org-c").await.unwrap();
    for device in [&mut ann, &mut bob] {
        assert_eq!(
            device.wait_for_text(&from_c, WAIT).await.unwrap(),
            "hello from org-c"
        );
    }

    // A direct room made on org-b: org-b owns it, org-a keeps the replica.
    let dm = direct(&bob.user, &ann.user.user_id).await;
    assert!(dm.ends_with(&format!(":{B}")));
    // Asking again from the other side finds the same room.
    room_when(&ann.user, &dm, "the direct room on org-a", |r| {
        r["members"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    assert_eq!(direct(&ann.user, &bob.user.user_id).await, dm);
    let secret = bob.send_text(&dm, "just us two").await.unwrap();
    assert_eq!(
        ann.wait_for_text(&secret, WAIT).await.unwrap(),
        "just us two"
    );
    let back = ann.send_text(&dm, "and back").await.unwrap();
    assert_eq!(bob.wait_for_text(&back, WAIT).await.unwrap(), "and back");
    assert!(!cat.has(&secret), "cat is not in the direct room");

    // Every server holds the same timeline of the group from the point its users joined:
    // same events, same seqs, same order.
    let owner: Vec<(i64, String)> = timeline(&ann.user, &room)
        .await
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                e["event_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for reader in [&bob.user, &cat.user] {
        let replica: Vec<(i64, String)> = timeline(reader, &room)
            .await
            .iter()
            .map(|e| {
                (
                    e["seq"].as_i64().unwrap(),
                    e["event_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(replica.len() >= 4, "{replica:?}");
        let first = replica[0].0;
        let expected: Vec<_> = owner.iter().filter(|(s, _)| *s >= first).cloned().collect();
        assert_eq!(replica, expected);
    }
    for server in servers {
        server.stop().await.unwrap();
    }
}

#[tokio::test]
async fn members_of_another_server_manage_a_room_through_its_owner() {
    let (_p, server_a, server_b, ann, bob) = two_orgs().await;
    let bea = TestUser::register(&server_b, "bea").await.unwrap();
    // bob is online before the servers share a room: org-a learns it when they start to.
    let bob_socket = TestSocket::connect(&bob, None, None).await.unwrap();
    let room = shared_group(&ann, "Ops", &bob).await;
    room_when(&ann, &room, "bob online on org-a", |r| {
        r["members"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["user_id"] == bob.user_id))
            .is_some_and(|m| m["online"] == true)
    })
    .await;
    bob_socket.close().await;
    // The replica starts at bob's join: nothing older to page back to.
    let (status, page) = bob.get(&format!("/rooms/{}/events", seg(&room))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page["events"].as_array().is_some_and(|e| !e.is_empty()));
    assert_eq!(page["next_before"], Value::Null, "{page}");
    let members = format!("/rooms/{}/members", seg(&room));
    let member = |u: &TestUser| format!("/rooms/{}/members/{}", seg(&room), seg(&u.user_id));

    // A member may not add people, wherever they are.
    let (status, body) = bob.post(&members, json!({"user_id": bea.user_id})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Nobody adds a user that does not exist on its server.
    let (status, body) = ann
        .post(&members, json!({"user_id": format!("@nobody:{B}")}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Made admin by the owner's member, bob adds bea, renames the group, and they all see it.
    let (status, body) = ann
        .put(&format!("{}/role", member(&bob)), json!({"role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    room_when(&bob, &room, "bob's new role", |r| r["my_role"] == "admin").await;
    let (status, body) = bob.post(&members, json!({"user_id": bea.user_id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = bob
        .call(
            Method::PATCH,
            &format!("/rooms/{}", seg(&room)),
            Some(json!({"name": "Ops and more", "topic": "everything"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    room_when(&ann, &room, "bea on org-a", |r| {
        role_of(r, &bea.user_id).as_deref() == Some("member") && r["name"] == "Ops and more"
    })
    .await;
    room_when(&bea, &room, "the group on bea's server", |r| {
        r["topic"] == "everything" && r["my_role"] == "member"
    })
    .await;

    // bea may not remove bob (an admin), and may not touch the owner.
    let (status, body) = bea.call(Method::DELETE, &member(&bob), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = bob.call(Method::DELETE, &member(&ann), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // bob removes bea; she learns it, and can no longer read the room on her own server.
    let (status, body) = bob.call(Method::DELETE, &member(&bea), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    wait_until("bea to be out", WAIT, || async {
        let (status, _) = bea.get(&format!("/rooms/{}", seg(&room))).await;
        (status == StatusCode::NOT_FOUND).then_some(())
    })
    .await
    .unwrap();
    let (status, _) = send(&bea, &room, "t1", "let me in").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The replica's timeline is the owner's, event for event, from bob's first event on.
    let owner = timeline(&ann, &room).await;
    replica_matches(&owner, &bob, &room, WAIT).await;
    // bob leaves himself.
    let (status, body) = bob.call(Method::DELETE, &member(&bob), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    room_when(&ann, &room, "bob gone on org-a", |r| {
        r["members"].as_array().is_some_and(|m| m.len() == 1)
    })
    .await;
    server_a.stop().await.unwrap();
    server_b.stop().await.unwrap();
}

#[tokio::test]
async fn a_server_may_only_speak_for_its_own_users_and_rooms() {
    let (p, server_a, server_b, ann, bob) = two_orgs().await;
    let room = shared_group(&ann, "Guarded", &bob).await;

    // Signed by org-b, sent to org-a: a send in ann's name, an event of org-a's own room, and
    // a send by one of org-b's users who is no member.
    let key = &server_b.state.signing_key;
    let http = peer_http(&p);
    let url = format!(
        "https://{A}:{}/_parley/federation/v1/send/forged-1",
        p.port_a
    );
    let body = serde_json::to_vec(&json!({
        "origin": B, "origin_server_ts": 1, "edus": [
            {"edu_type": "parley.room.send", "content": {
                "room_id": room, "sender": ann.user_id, "device_id": "D", "txn_id": "x1",
                "type": "parley.message", "content": {"body": "not ann"}}},
            {"edu_type": "parley.room.event", "content": {
                "room_id": room, "event": {
                    "event_id": "$forged", "seq": 999, "sender": bob.user_id,
                    "type": "parley.message", "content": {"body": "forged order"},
                    "origin_server_ts": 1}}},
            {"edu_type": "parley.room.send", "content": {
                "room_id": room, "sender": format!("@mallory:{B}"), "device_id": "D",
                "txn_id": "x2", "type": "parley.message", "content": {"body": "outsider"}}},
            {"edu_type": "parley.room.send", "content": {
                "room_id": room, "sender": bob.user_id, "device_id": "D", "txn_id": "x3",
                "type": "parley.room.name", "content": {"name": "taken over"}}},
            {"edu_type": "parley.room.event", "content": {
                "room_id": format!("!unasked:{B}"),
                "snapshot": {"kind": "group", "creator": bob.user_id,
                             "members": [{"user_id": bob.user_id, "role": "owner"}]},
                "event": {
                    "event_id": "$unasked", "seq": 1, "sender": bob.user_id,
                    "type": "parley.message", "content": {"body": "store this for me"},
                    "origin_server_ts": 1}}},
        ]
    }))
    .unwrap();
    let (status, answer) =
        status_and_code(signed_put(&http, key, B, &url, &url, &body, &body).await).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let refused = answer["refused"].as_object().unwrap();
    // (4: a room of org-b's own in which org-a has nobody: org-a keeps no replica of it.)
    assert_eq!(
        refused.keys().collect::<Vec<_>>(),
        ["0", "1", "2", "3", "4"],
        "{answer}"
    );
    // Nothing of it reached the room.
    let texts: Vec<Value> = timeline(&ann, &room)
        .await
        .into_iter()
        .filter(|e| e["type"] == "parley.message")
        .collect();
    assert!(texts.is_empty(), "{texts:?}");
    let kept: i64 = sqlx::query_scalar("select count(*) from room where room_id = $1")
        .bind(format!("!unasked:{B}"))
        .fetch_one(&server_a.state.db)
        .await
        .unwrap();
    assert_eq!(kept, 0, "no replica of a room without our users");
    server_a.stop().await.unwrap();
    server_b.stop().await.unwrap();
}

#[tokio::test]
async fn with_the_member_server_stopped_500_messages_arrive_once_and_in_order_after_it_returns() {
    let (p, server_a, server_b, ann, bob) = two_orgs().await;
    let room = shared_group(&ann, "Backlog", &bob).await;
    let mut socket = TestSocket::connect(&bob, None, None).await.unwrap();
    let (status, _) = send(&ann, &room, "first", "first").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(messages(&mut socket, &room, 1, WAIT).await, ["first"]);
    let since = socket.last_pos;
    socket.close().await;

    server_b.stop().await.unwrap();
    for n in 0..500 {
        let (status, body) = send(&ann, &room, &format!("m{n}"), &format!("m{n}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let server_b = TestServer::start(&p.b.config).await.unwrap();
    let bob = bob.same_session_at(&server_b);
    let mut socket = TestSocket::connect(&bob, Some(since), None).await.unwrap();
    // bob's server asks org-a for something, which wakes org-a's queue for it at once.
    let (status, _) = bob
        .post("/keys/query", json!({"device_keys": {&ann.user_id: []}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let expected: Vec<String> = (0..500).map(|n| format!("m{n}")).collect();
    assert_eq!(messages(&mut socket, &room, 500, LONG_WAIT).await, expected);
    // Exactly once: the next message is the one sent after, nothing repeated in between.
    let (status, _) = send(&ann, &room, "last", "last").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(messages(&mut socket, &room, 1, WAIT).await, ["last"]);
    let seqs: Vec<i64> = timeline(&bob, &room)
        .await
        .iter()
        .filter(|e| e["type"] == "parley.message")
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 502);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gap-free seqs");
    socket.close().await;
    server_a.stop().await.unwrap();
    server_b.stop().await.unwrap();
}

#[tokio::test]
async fn with_the_owner_stopped_history_stays_readable_and_sends_wait_then_go_through_in_order() {
    let (p, server_a, server_b, ann, bob) = two_orgs().await;
    let room = shared_group(&ann, "Owner away", &bob).await;
    let (status, _) = send(&ann, &room, "before", "before the outage").await;
    assert_eq!(status, StatusCode::OK);
    wait_until("the message on org-b", WAIT, || async {
        let events = timeline(&bob, &room).await;
        events
            .iter()
            .any(|e| e["content"]["body"] == "before the outage")
            .then_some(())
    })
    .await
    .unwrap();

    server_a.stop().await.unwrap();
    // History is readable on org-b.
    let history = timeline(&bob, &room).await;
    assert!(
        history
            .iter()
            .any(|e| e["content"]["body"] == "before the outage")
    );
    // bob's sends wait as pending; a retry of one stays one.
    let mut socket = TestSocket::connect(&bob, None, None).await.unwrap();
    for n in 0..5 {
        let (status, body) = send(&bob, &room, &format!("p{n}"), &format!("p{n}")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["pending"], true);
    }
    let (status, _) = send(&bob, &room, "p4", "p4").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // The sending device finds them as pending in the room's history (e.g. after a reload).
    let (status, page) = bob.get(&format!("/rooms/{}/events", seg(&room))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let pending: Vec<&str> = page["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["txn_id"].as_str().unwrap())
        .collect();
    assert_eq!(pending, ["p0", "p1", "p2", "p3", "p4"]);
    assert_eq!(page["pending"][2]["content"]["body"], "p2");

    // The owner returns; ann comes online, which tells org-b (and wakes its queue for org-a).
    let server_a = TestServer::start(&p.a.config).await.unwrap();
    let ann = ann.same_session_at(&server_a);
    let mut ann_socket = TestSocket::connect(&ann, None, None).await.unwrap();
    let expected: Vec<String> = (0..5).map(|n| format!("p{n}")).collect();
    assert_eq!(
        messages(&mut ann_socket, &room, 5, LONG_WAIT).await,
        expected
    );
    // bob's device learns each send went through, and gets the events in the same order.
    let (mut confirmed, mut arrived) = (Vec::new(), Vec::new());
    while confirmed.len() < 5 || arrived.len() < 5 {
        let frame = socket
            .wait_for("sent frames and events", WAIT, |f| {
                f["type"] == "sent" || (f["type"] == "event" && f["event"]["room_id"] == room)
            })
            .await;
        if frame["type"] == "sent" {
            confirmed.push(frame["txn_id"].as_str().unwrap().to_owned());
        } else if frame["event"]["type"] == "parley.message" {
            arrived.push(
                frame["event"]["content"]["body"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    assert_eq!(arrived, expected);
    confirmed.sort();
    assert_eq!(confirmed, expected);
    let (_, page) = bob.get(&format!("/rooms/{}/events", seg(&room))).await;
    assert_eq!(page.get("pending"), None, "nothing waits any more: {page}");
    // A retry after the fact answers with the stored event.
    let (status, body) = send(&bob, &room, "p4", "p4").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["event_id"].is_string());
    let stored: Vec<Value> = timeline(&ann, &room)
        .await
        .into_iter()
        .filter(|e| e["sender"] == bob.user_id)
        .collect();
    assert_eq!(stored.len(), 5, "once each");
    socket.close().await;
    ann_socket.close().await;
    server_a.stop().await.unwrap();
    server_b.stop().await.unwrap();
}

#[tokio::test]
async fn both_servers_restarted_mid_delivery_lose_nothing() {
    let (p, server_a, server_b, ann, bob) = two_orgs().await;
    let room = shared_group(&ann, "Restarts", &bob).await;

    // Sends from both sides, then both servers stop while the outboxes are still busy.
    let mut sends = Vec::new();
    for n in 0..150 {
        let (status, body) = send(&ann, &room, &format!("a{n}"), &format!("a{n}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if n % 30 == 0 {
            let bob = bob.clone();
            let room = room.clone();
            sends.push(tokio::spawn(async move {
                send(&bob, &room, &format!("b{n}"), &format!("b{n}"))
                    .await
                    .0
            }));
        }
    }
    for s in sends {
        let status = s.await.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::ACCEPTED,
            "{status}"
        );
    }
    server_b.stop().await.unwrap();
    server_a.stop().await.unwrap();

    let server_b = TestServer::start(&p.b.config).await.unwrap();
    let server_a = TestServer::start(&p.a.config).await.unwrap();
    let ann = ann.same_session_at(&server_a);
    let bob = bob.same_session_at(&server_b);
    // Each side talks to the other, which wakes any queue in backoff.
    for (user, other) in [(&ann, &bob), (&bob, &ann)] {
        let (status, _) = user
            .post("/keys/query", json!({"device_keys": {&other.user_id: []}}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let bodies = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["type"] == "parley.message")
            .map(|e| e["content"]["body"].as_str().unwrap().to_owned())
            .collect()
    };
    let owner = wait_until("every send at the owner", LONG_WAIT, || async {
        let events = timeline(&ann, &room).await;
        (bodies(&events).len() == 155).then_some(events)
    })
    .await
    .unwrap();
    let mut expected_a: Vec<String> = (0..150).map(|n| format!("a{n}")).collect();
    let got = bodies(&owner);
    let got_a: Vec<String> = got.iter().filter(|b| b.starts_with('a')).cloned().collect();
    expected_a.sort_by_key(|b| b[1..].parse::<u32>().unwrap());
    assert_eq!(got_a, expected_a, "org-a's sends once each, in order");
    replica_matches(&owner, &bob, &room, LONG_WAIT).await;
    server_a.stop().await.unwrap();
    server_b.stop().await.unwrap();
}

#[tokio::test]
async fn a_party_who_left_a_direct_room_of_another_server_gets_it_back() {
    let (_p, server_a, server_b, ann, bob) = two_orgs().await;
    let dm = direct(&ann, &bob.user_id).await;
    room_when(&bob, &dm, "the direct room on org-b", |r| {
        r["kind"] == "direct"
    })
    .await;
    let (status, body) = bob
        .call(
            Method::DELETE,
            &format!("/rooms/{}/members/{}", seg(&dm), seg(&bob.user_id)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    wait_until("bob to be out", WAIT, || async {
        let (status, _) = bob.get(&format!("/rooms/{}", seg(&dm))).await;
        (status == StatusCode::NOT_FOUND).then_some(())
    })
    .await
    .unwrap();
    // ann leaves too: nobody is in the room now.
    let (status, body) = ann
        .call(
            Method::DELETE,
            &format!("/rooms/{}/members/{}", seg(&dm), seg(&ann.user_id)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // Asking for a direct chat with ann again: the same room, open at once, both back in.
    let (status, body) = bob
        .post("/rooms", json!({"kind": "direct", "with": ann.user_id}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room_id"], dm.as_str());
    let (status, body) = send(&bob, &dm, "back", "I'm back").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    room_when(&ann, &dm, "ann back in", |r| {
        r["members"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    server_a.stop().await.unwrap();
    server_b.stop().await.unwrap();
}

#[tokio::test]
async fn a_new_device_of_a_member_on_another_server_is_announced_and_decrypts_what_follows() {
    let (_p, server_a, server_b, ann, bob) = two_orgs().await;
    let mut ann = E2eeClient::start(ann).await.unwrap();
    let mut bob = E2eeClient::start(bob).await.unwrap();
    let room = group(&ann.user, "Devices", &[&bob.user]).await;
    room_when(&bob.user, &room, "the replica", |r| {
        r["my_role"] == "member"
    })
    .await;
    let before = ann.send_text(&room, "before").await.unwrap();
    assert_eq!(bob.wait_for_text(&before, WAIT).await.unwrap(), "before");

    // ann's devices are told, through her own server, when bob signs in somewhere new.
    let mut watch = TestSocket::connect(&ann.user, None, None).await.unwrap();
    let mut bob_laptop = E2eeClient::start(TestUser::login(&server_b, "bob").await.unwrap())
        .await
        .unwrap();
    watch
        .wait_for("bob's device list change on org-a", WAIT, |f| {
            f["type"] == "device_lists"
                && f["changed"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|u| u == bob.user.user_id.as_str()))
        })
        .await;
    watch.close().await;
    let after = ann.send_text(&room, "after").await.unwrap();
    for device in [&mut bob, &mut bob_laptop] {
        assert_eq!(device.wait_for_text(&after, WAIT).await.unwrap(), "after");
    }
    server_a.stop().await.unwrap();
    server_b.stop().await.unwrap();
}
