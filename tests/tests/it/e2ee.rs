//! End-to-end encryption with real clients: matrix-sdk-crypto's `OlmMachine` on every device,
//! keys and to-device messages through the homeserver, every message Megolm-encrypted.

use std::time::Duration;

use parley_tests::{
    e2ee::{E2eeClient, ENCRYPTED_TYPE},
    server::TestServer,
    users::{TestUser, seg},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row as _;

use crate::{direct, group, setup};

const WAIT: Duration = Duration::from_secs(20);

/// The stored events of a room, oldest first, as `reader` may read them.
async fn stored(reader: &TestUser, room: &str) -> Vec<Value> {
    let (status, body) = reader
        .get(&format!("/rooms/{}/events?limit=200", seg(room)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut events = body["events"].as_array().unwrap().clone();
    events.sort_by_key(|e| e["seq"].as_i64());
    events
}

/// Two signed-in devices of a new user, each with its own Olm account.
async fn two_devices(server: &TestServer, name: &str) -> (E2eeClient, E2eeClient) {
    let first = TestUser::register(server, name).await.unwrap();
    let second = TestUser::login(server, name).await.unwrap();
    assert_ne!(first.device_id, second.device_id);
    (
        E2eeClient::start(first).await.unwrap(),
        E2eeClient::start(second).await.unwrap(),
    )
}

/// Every table and text-like column of the database, searched for `marker`.
async fn tables_containing(db_url: &str, marker: &str) -> Vec<String> {
    let pool = sqlx::PgPool::connect(db_url).await.unwrap();
    let columns = sqlx::query(
        "select table_name::text, column_name::text from information_schema.columns
         where table_schema = 'public'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(columns.len() > 20, "the schema was not found");
    let mut found = Vec::new();
    for column in columns {
        let (table, name): (String, String) = (column.get(0), column.get(1));
        let hits: i64 = sqlx::query_scalar(&format!(
            r#"select count(*) from "{table}" where "{name}"::text like '%' || $1 || '%'"#
        ))
        .bind(marker)
        .fetch_one(&pool)
        .await
        .unwrap();
        if hits > 0 {
            found.push(format!("{table}.{name}"));
        }
    }
    pool.close().await;
    found
}

#[tokio::test]
async fn three_users_with_two_devices_each_talk_encrypted_and_the_server_keeps_only_ciphertext() {
    let s = setup("e2ee.test").await;
    let server = TestServer::start(&s.config).await.unwrap();
    let (mut a1, mut a2) = two_devices(&server, "ann").await;
    let (mut b1, mut b2) = two_devices(&server, "ben").await;
    let (mut c1, mut c2) = two_devices(&server, "cat").await;
    let marker = format!("MARKER-{}", uuid::Uuid::new_v4().simple());

    // A group of three: every device of every member decrypts, the sender's other one too.
    let room = group(&a1.user, "Plans", &[&b1.user, &c1.user]).await;
    let text = format!("group hello {marker}");
    let id = a1.send_text(&room, &text).await.unwrap();
    for device in [&mut a2, &mut b1, &mut b2, &mut c1, &mut c2] {
        assert_eq!(device.wait_for_text(&id, WAIT).await.unwrap(), text);
    }
    // Replies in the other direction use their own sessions.
    let reply = format!("reply from ben {marker}");
    let reply_id = b2.send_text(&room, &reply).await.unwrap();
    for device in [&mut a1, &mut a2, &mut b1, &mut c1, &mut c2] {
        assert_eq!(device.wait_for_text(&reply_id, WAIT).await.unwrap(), reply);
    }

    // A direct room between ben and cat.
    let dm = direct(&b1.user, &c1.user.user_id).await;
    let secret = format!("just us {marker}");
    let dm_id = b1.send_text(&dm, &secret).await.unwrap();
    for device in [&mut b2, &mut c1, &mut c2] {
        assert_eq!(device.wait_for_text(&dm_id, WAIT).await.unwrap(), secret);
    }
    let dm_reply = c2.send_text(&dm, "and back").await.unwrap();
    for device in [&mut b1, &mut b2, &mut c1] {
        assert_eq!(
            device.wait_for_text(&dm_reply, WAIT).await.unwrap(),
            "and back"
        );
    }
    assert!(!a1.has(&dm_id) && !a2.has(&dm_id), "ann is not in the DM");

    // The server stored ciphertext: the events are m.room.encrypted, and no table holds the
    // marker anywhere.
    for event in stored(&a1.user, &room).await.iter().filter(|e| {
        e["type"] != "parley.room.member"
            && e["type"] != "parley.room.create"
            && e["type"] != "parley.room.name"
    }) {
        assert_eq!(event["type"], ENCRYPTED_TYPE, "{event}");
        assert_eq!(event["content"]["algorithm"], "m.megolm.v1.aes-sha2");
    }
    assert_eq!(
        tables_containing(s.db.url(), &marker).await,
        Vec::<String>::new()
    );

    // Cat leaves; what is sent afterwards is encrypted with a new session she never gets.
    let (status, body) = c1
        .user
        .call(
            Method::DELETE,
            &format!("/rooms/{}/members/{}", seg(&room), seg(&c1.user.user_id)),
            None,
        )
        .await;
    assert!(status.is_success(), "{body}");
    let after = "after cat left";
    let after_id = a1.send_text(&room, after).await.unwrap();
    for device in [&mut a2, &mut b1, &mut b2] {
        assert_eq!(device.wait_for_text(&after_id, WAIT).await.unwrap(), after);
    }
    let event = stored(&a1.user, &room)
        .await
        .into_iter()
        .find(|e| e["event_id"] == after_id.as_str())
        .unwrap();
    for device in [&c1, &c2] {
        assert_eq!(device.decrypt(&event).await.unwrap(), None);
    }
    // While the earlier message still decrypts for her.
    let earlier = stored(&a1.user, &room)
        .await
        .into_iter()
        .find(|e| e["event_id"] == id.as_str())
        .unwrap();
    assert_eq!(c1.decrypt(&earlier).await.unwrap(), Some(text));
}

#[tokio::test]
async fn a_device_offline_during_the_key_share_decrypts_after_it_reconnects() {
    let s = setup("e2ee.test").await;
    let server = TestServer::start(&s.config).await.unwrap();
    let mut dan = E2eeClient::start(TestUser::register(&server, "dan").await.unwrap())
        .await
        .unwrap();
    let eve = E2eeClient::start(TestUser::register(&server, "eve").await.unwrap())
        .await
        .unwrap();
    let room = direct(&dan.user, &eve.user.user_id).await;
    let offline = eve.go_offline().await;

    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(
            dan.send_text(&room, &format!("while away {i}"))
                .await
                .unwrap(),
        );
    }
    // Its room key waits on the server as a to-device message until the device takes it.
    let mut eve = offline.reconnect().await.unwrap();
    for (i, id) in sent.iter().enumerate() {
        assert_eq!(
            eve.wait_for_text(id, WAIT).await.unwrap(),
            format!("while away {i}")
        );
    }
    // Acknowledged: nothing is left for the device.
    let (status, pending) = eve.user.get("/sendToDevice/pending").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pending["events"], json!([]), "{pending}");
    assert!(eve.undecryptable().is_empty());
}

#[tokio::test]
async fn key_state_arrives_over_the_websocket() {
    let s = setup("e2ee.test").await;
    let server = TestServer::start(&s.config).await.unwrap();
    let fay = TestUser::register(&server, "fay").await.unwrap();
    let gus = TestUser::register(&server, "gus").await.unwrap();
    let _room = direct(&fay, &gus.user_id).await;
    let mut socket = parley_tests::ws::TestSocket::connect(&gus, Some(0), None)
        .await
        .unwrap();
    // Catch-up ends with the key counts and `live`; the room's join told gus about fay.
    let lists = socket
        .wait_for("device lists", WAIT, |f| f["type"] == "device_lists")
        .await;
    assert!(
        lists["changed"]
            .as_array()
            .unwrap()
            .contains(&json!(fay.user_id)),
        "{lists}"
    );
    socket
        .wait_for("key counts", WAIT, |f| {
            f["type"] == "key_counts" && f["one_time_key_counts"]["signed_curve25519"] == 0
        })
        .await;
    socket.wait_for("live", WAIT, |f| f["type"] == "live").await;

    // A new device of fay reaches gus live, with a position to resume from.
    let fay_client = E2eeClient::start(fay.clone()).await.unwrap();
    let live = socket
        .wait_for("fay's new keys", WAIT, |f| {
            f["type"] == "device_lists" && f["changed"] == json!([fay.user_id])
        })
        .await;
    assert!(live["stream_pos"].as_i64().unwrap() > 0);

    // To-device messages come with the real sender, and stay until acknowledged.
    let (status, _) = fay
        .put(
            &format!("/sendToDevice/m.test/{}", uuid::Uuid::new_v4().simple()),
            json!({"messages": {gus.user_id.clone(): {"*": {"n": 1}}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let frame = socket
        .wait_for("to-device", WAIT, |f| f["type"] == "to_device")
        .await;
    assert_eq!(frame["events"][0]["sender"], fay.user_id.as_str());
    assert_eq!(frame["events"][0]["content"], json!({"n": 1}));
    let first_id = frame["events"][0]["id"].as_i64().unwrap();
    socket.close().await;
    let mut again = parley_tests::ws::TestSocket::connect(&gus, None, None)
        .await
        .unwrap();
    let resent = again
        .wait_for("to-device again", WAIT, |f| f["type"] == "to_device")
        .await;
    assert_eq!(resent["events"][0]["id"].as_i64(), Some(first_id));
    again
        .send(json!({"type": "to_device_ack", "up_to_id": first_id}))
        .await
        .unwrap();
    parley_tests::wait_until("the ack to delete the message", WAIT, || async {
        let (_, pending) = gus.get("/sendToDevice/pending").await;
        (pending["events"] == json!([])).then_some(())
    })
    .await
    .unwrap();

    // Claiming one of fay's one-time keys updates her device's counts live.
    drop(fay_client);
    let mut fay_socket = parley_tests::ws::TestSocket::connect(&fay, None, None)
        .await
        .unwrap();
    let before = fay_socket
        .wait_for("counts", WAIT, |f| f["type"] == "key_counts")
        .await["one_time_key_counts"]["signed_curve25519"]
        .as_i64()
        .unwrap();
    assert!(before > 0);
    let (status, _) = gus
        .post(
            "/keys/claim",
            json!({"one_time_keys": {fay.user_id.clone(): {fay.device_id.clone(): "signed_curve25519"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    fay_socket
        .wait_for("counts after the claim", WAIT, |f| {
            f["type"] == "key_counts"
                && f["one_time_key_counts"]["signed_curve25519"].as_i64() == Some(before - 1)
        })
        .await;

    // Leaving the only shared room: each is told the other left.
    let hal = TestUser::register(&server, "hal").await.unwrap();
    let shared = group(&fay, "Two", &[&hal]).await;
    let (status, body) = hal
        .call(
            Method::DELETE,
            &format!("/rooms/{}/members/{}", seg(&shared), seg(&hal.user_id)),
            None,
        )
        .await;
    assert!(status.is_success(), "{body}");
    fay_socket
        .wait_for("hal left", WAIT, |f| {
            f["type"] == "device_lists" && f["left"] == json!([hal.user_id])
        })
        .await;
}
