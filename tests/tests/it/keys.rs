//! End-to-end encryption key service through the real API, with real keys made by vodozemac:
//! uploads checked and returned as sent, one-time keys handed out once, cross-signing behind
//! the password, to-device messages with a server-set sender, devices.

use parley_homeserver::e2ee::signable;
use parley_tests::users::{PASSWORD, TestUser, seg};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vodozemac::{Ed25519SecretKey, olm::Account};

use crate::server_with;

/// The device of a user's access token.
async fn device_id(user: &TestUser) -> String {
    let (status, body) = user.get("/devices").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["current"] == json!(true))
        .unwrap()["device_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Adds `signatures[user][key_id]` made by `sign` over the canonical form.
fn signed(mut value: Value, user: &str, key_id: &str, sign: impl Fn(&str) -> String) -> Value {
    let signature = sign(&signable(&value));
    value["signatures"] = json!({ user: { key_id: signature } });
    value
}

/// Real device keys of a vodozemac account, signed by it.
fn device_keys(account: &Account, user: &str, device: &str) -> Value {
    let keys = account.identity_keys();
    signed(
        json!({
            "user_id": user,
            "device_id": device,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {
                format!("curve25519:{device}"): keys.curve25519.to_base64(),
                format!("ed25519:{device}"): keys.ed25519.to_base64(),
            },
        }),
        user,
        &format!("ed25519:{device}"),
        |m| account.sign(m).to_base64(),
    )
}

/// `n` fresh signed one-time keys.
fn one_time_keys(account: &mut Account, user: &str, device: &str, n: usize) -> Value {
    account.generate_one_time_keys(n);
    let mut out = serde_json::Map::new();
    for (id, key) in account.one_time_keys() {
        let value = signed(
            json!({"key": key.to_base64()}),
            user,
            &format!("ed25519:{device}"),
            |m| account.sign(m).to_base64(),
        );
        out.insert(format!("signed_curve25519:{}", id.to_base64()), value);
    }
    account.mark_keys_as_published();
    Value::Object(out)
}

fn fallback_key(account: &mut Account, user: &str, device: &str) -> Value {
    account.generate_fallback_key();
    let mut out = serde_json::Map::new();
    for (id, key) in account.fallback_key() {
        let value = signed(
            json!({"key": key.to_base64(), "fallback": true}),
            user,
            &format!("ed25519:{device}"),
            |m| account.sign(m).to_base64(),
        );
        out.insert(format!("signed_curve25519:{}", id.to_base64()), value);
    }
    Value::Object(out)
}

/// A POST with a body sent as this exact text; the answer as text.
async fn post_raw(user: &TestUser, path: &str, body: String) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .post(user.base_url().join(&format!("api/v1{path}")).unwrap())
        .bearer_auth(&user.access_token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn uploaded_keys_are_counted_and_returned_as_sent() {
    let (_server, users, _s) = server_with("keys-upload.parley.test", &["ann", "ben"]).await;
    let [ann, ben] = [&users[0], &users[1]];
    let device = device_id(ann).await;
    let mut account = Account::new();

    // Keys in an unusual order with spaces: the server must give back this very text.
    let keys = account.identity_keys();
    let unsigned = json!({
        "user_id": ann.user_id, "device_id": device,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {format!("curve25519:{device}"): keys.curve25519.to_base64(),
                 format!("ed25519:{device}"): keys.ed25519.to_base64()},
    });
    let signature = account.sign(signable(&unsigned)).to_base64();
    let text = format!(
        r#"{{"keys": {{"ed25519:{device}": "{ed}", "curve25519:{device}": "{cu}"}}, "user_id": "{user}", "signatures": {{"{user}": {{"ed25519:{device}": "{signature}"}}}}, "device_id": "{device}", "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"], "unsigned": {{"device_display_name": "Ann's laptop"}}}}"#,
        ed = keys.ed25519.to_base64(),
        cu = keys.curve25519.to_base64(),
        user = ann.user_id,
    );
    let otks = one_time_keys(&mut account, &ann.user_id, &device, 5);
    let fallback = fallback_key(&mut account, &ann.user_id, &device);
    let body = format!(
        r#"{{"device_keys": {text}, "one_time_keys": {otks}, "fallback_keys": {fallback}}}"#
    );
    let (status, answer) = post_raw(ann, "/keys/upload", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["one_time_key_counts"]["signed_curve25519"], 5);

    let (status, counts) = ann.get("/keys/counts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(counts["one_time_key_counts"]["signed_curve25519"], 5);
    assert_eq!(
        counts["unused_fallback_key_types"],
        json!(["signed_curve25519"])
    );

    // Another user sees the device keys byte for byte.
    let query = json!({"device_keys": {ann.user_id.clone(): []}}).to_string();
    let (status, answer) = post_raw(ben, "/keys/query", query).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer.contains(&text), "returned as uploaded: {answer}");
    // Asking for one device, or for a remote user.
    let (_, answer) = ben
        .post(
            "/keys/query",
            json!({"device_keys": {ann.user_id.clone(): ["NOPE"], "@x:elsewhere.test": []}}),
        )
        .await;
    assert_eq!(answer["device_keys"][&ann.user_id], json!({}));
    assert!(answer["failures"]["elsewhere.test"].is_object(), "{answer}");

    // The same identity keys again (with new one-time keys) are fine.
    let again = json!({
        "device_keys": device_keys(&account, &ann.user_id, &device),
        "one_time_keys": one_time_keys(&mut account, &ann.user_id, &device, 3),
    });
    let (status, answer) = ann.post("/keys/upload", again).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["one_time_key_counts"]["signed_curve25519"], 8);
}

#[tokio::test]
async fn forged_or_foreign_keys_are_refused() {
    let (_server, users, _s) = server_with("keys-forged.parley.test", &["ann", "ben"]).await;
    let [ann, ben] = [&users[0], &users[1]];
    let device = device_id(ann).await;
    let account = Account::new();
    let other = Account::new();

    // Signed by another key than the one it names.
    let mut forged = device_keys(&account, &ann.user_id, &device);
    forged["signatures"] = device_keys(&other, &ann.user_id, &device)["signatures"].clone();
    let (status, body) = ann
        .post("/keys/upload", json!({"device_keys": forged}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errcode"], "M_INVALID_SIGNATURE");

    // Changed after signing.
    let mut tampered = device_keys(&account, &ann.user_id, &device);
    tampered["algorithms"] = json!(["m.megolm.v1.aes-sha2"]);
    let (status, body) = ann
        .post("/keys/upload", json!({"device_keys": tampered}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errcode"], "M_INVALID_SIGNATURE");

    // Another user's, or another device's (validly signed all the same).
    let foreign = device_keys(&account, &ben.user_id, &device);
    let (status, body) = ann
        .post("/keys/upload", json!({"device_keys": foreign}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let foreign = device_keys(&account, &ann.user_id, "OTHERDEVICE");
    let (status, body) = ann
        .post("/keys/upload", json!({"device_keys": foreign}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // One-time keys before device keys, or signed by another key.
    let mut acc = Account::new();
    let early = one_time_keys(&mut acc, &ann.user_id, &device, 1);
    let (status, body) = ann
        .post("/keys/upload", json!({"one_time_keys": early}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errcode"], "M_INVALID_PARAM");

    let good = device_keys(&account, &ann.user_id, &device);
    let (status, body) = ann.post("/keys/upload", json!({"device_keys": good})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut other_account = Account::new();
    let wrong = one_time_keys(&mut other_account, &ann.user_id, &device, 1);
    let (status, body) = ann
        .post("/keys/upload", json!({"one_time_keys": wrong}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errcode"], "M_INVALID_SIGNATURE");

    // The same one-time key again is fine; another key under a stored id is refused.
    let one_time = |key: &str| {
        let value = signed(
            json!({"key": key}),
            &ann.user_id,
            &format!("ed25519:{device}"),
            |m| account.sign(m).to_base64(),
        );
        json!({"one_time_keys": {"signed_curve25519:AAAAAQ": value}})
    };
    let key_a = Account::new().identity_keys().curve25519.to_base64();
    let key_b = Account::new().identity_keys().curve25519.to_base64();
    for _ in 0..2 {
        let (status, body) = ann.post("/keys/upload", one_time(&key_a)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["one_time_key_counts"]["signed_curve25519"], 1);
    }
    let (status, body) = ann.post("/keys/upload", one_time(&key_b)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errcode"], "M_INVALID_PARAM");

    // New identity keys for an existing device.
    let replaced = device_keys(&other, &ann.user_id, &device);
    let (status, body) = ann
        .post("/keys/upload", json!({"device_keys": replaced}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errcode"], "M_INVALID_PARAM");
    assert!(
        body["error"].as_str().unwrap().contains("identity keys"),
        "{body}"
    );
    // Nothing changed.
    let (_, answer) = ben
        .post(
            "/keys/query",
            json!({"device_keys": {ann.user_id.clone(): []}}),
        )
        .await;
    assert_eq!(
        answer["device_keys"][&ann.user_id][&device]["keys"][format!("ed25519:{device}")],
        account.identity_keys().ed25519.to_base64()
    );
}

#[tokio::test]
async fn each_one_time_key_is_claimed_once_then_the_fallback_key() {
    let (_server, users, _s) = server_with("keys-claim.parley.test", &["ann", "ben"]).await;
    let [ann, ben] = [&users[0], &users[1]];
    let device = device_id(ann).await;
    let mut account = Account::new();
    let upload = json!({
        "device_keys": device_keys(&account, &ann.user_id, &device),
        "one_time_keys": one_time_keys(&mut account, &ann.user_id, &device, 50),
        "fallback_keys": fallback_key(&mut account, &ann.user_id, &device),
    });
    let (status, body) = ann.post("/keys/upload", upload).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["one_time_key_counts"]["signed_curve25519"], 50);

    let request =
        json!({"one_time_keys": {ann.user_id.clone(): {device.clone(): "signed_curve25519"}}});
    let claims = (0..100).map(|_| {
        let ben = ben.clone();
        let request = request.clone();
        tokio::spawn(async move { ben.post("/keys/claim", request).await })
    });
    let mut one_time = Vec::new();
    let mut fallback = Vec::new();
    for claim in claims {
        let (status, body) = claim.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        let keys = body["one_time_keys"][&ann.user_id][&device]
            .as_object()
            .unwrap();
        assert_eq!(keys.len(), 1, "{body}");
        let (id, key) = keys.iter().next().unwrap();
        if key.get("fallback") == Some(&json!(true)) {
            fallback.push(id.clone());
        } else {
            one_time.push(id.clone());
        }
    }
    let handed_out = one_time.len();
    one_time.sort();
    one_time.dedup();
    assert_eq!(one_time.len(), handed_out, "no one-time key twice");
    assert!(handed_out <= 50);
    assert_eq!(handed_out + fallback.len(), 100);

    // Whatever skipped locks left behind, every key goes once; then only the fallback key.
    loop {
        let (_, body) = ben.post("/keys/claim", request.clone()).await;
        let keys = body["one_time_keys"][&ann.user_id][&device]
            .as_object()
            .unwrap();
        let (id, key) = keys.iter().next().unwrap();
        if key.get("fallback") == Some(&json!(true)) {
            fallback.push(id.clone());
            break;
        }
        assert!(!one_time.contains(id), "no one-time key twice");
        one_time.push(id.clone());
    }
    assert_eq!(one_time.len(), 50, "all 50 handed out");
    fallback.dedup();
    assert_eq!(fallback.len(), 1, "one fallback key, given again and again");
    let (_, counts) = ann.get("/keys/counts").await;
    assert_eq!(counts["one_time_key_counts"]["signed_curve25519"], 0);
    assert_eq!(counts["unused_fallback_key_types"], json!([]));
}

/// A cross-signing key object for `user`.
fn cross_key(
    user: &str,
    usage: &str,
    key: &Ed25519SecretKey,
    master: Option<&Ed25519SecretKey>,
) -> Value {
    let public = key.public_key().to_base64();
    let value =
        json!({"user_id": user, "usage": [usage], "keys": {format!("ed25519:{public}"): public}});
    match master {
        Some(master) => {
            let id = format!("ed25519:{}", master.public_key().to_base64());
            signed(value, user, &id, |m| master.sign(m.as_bytes()).to_base64())
        }
        None => value,
    }
}

#[tokio::test]
async fn cross_signing_needs_the_password_and_hides_the_user_signing_key() {
    let (_server, users, _s) = server_with("keys-cross.parley.test", &["ann", "ben"]).await;
    let [ann, ben] = [&users[0], &users[1]];
    let device = device_id(ann).await;
    let account = Account::new();
    let (status, body) = ann
        .post(
            "/keys/upload",
            json!({"device_keys": device_keys(&account, &ann.user_id, &device)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let master = Ed25519SecretKey::new();
    let self_signing = Ed25519SecretKey::new();
    let user_signing = Ed25519SecretKey::new();
    let upload = |auth: Option<&str>| {
        let mut body = json!({
            "master_key": cross_key(&ann.user_id, "master", &master, None),
            "self_signing_key": cross_key(&ann.user_id, "self_signing", &self_signing, Some(&master)),
            "user_signing_key": cross_key(&ann.user_id, "user_signing", &user_signing, Some(&master)),
        });
        if let Some(password) = auth {
            body["auth"] = json!({"type": "m.login.password", "password": password});
        }
        body
    };
    // A self-signing key not signed by the master key.
    let mut bad = upload(None);
    bad["self_signing_key"] = cross_key(
        &ann.user_id,
        "self_signing",
        &self_signing,
        Some(&self_signing),
    );
    let (status, body) = ann.post("/keys/device_signing/upload", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errcode"], "M_INVALID_SIGNATURE");
    // The wrong password is refused even where none is needed.
    let (status, body) = ann
        .post(
            "/keys/device_signing/upload",
            upload(Some("wrong password")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A fresh session without keys sets them up without the password.
    let (status, body) = ann.post("/keys/device_signing/upload", upload(None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Replacing them needs it.
    let (status, body) = ann.post("/keys/device_signing/upload", upload(None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = ann
        .post("/keys/device_signing/upload", upload(Some("nope nope")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = ann
        .post("/keys/device_signing/upload", upload(Some(PASSWORD)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let query = json!({"device_keys": {ann.user_id.clone(): []}});
    let (_, theirs) = ben.post("/keys/query", query.clone()).await;
    assert!(theirs["master_keys"][&ann.user_id].is_object(), "{theirs}");
    assert!(
        theirs["self_signing_keys"][&ann.user_id].is_object(),
        "{theirs}"
    );
    assert!(
        theirs["user_signing_keys"].get(&ann.user_id).is_none(),
        "{theirs}"
    );
    let (_, own) = ann.post("/keys/query", query.clone()).await;
    assert_eq!(
        own["user_signing_keys"][&ann.user_id]["keys"]
            [format!("ed25519:{}", user_signing.public_key().to_base64())],
        user_signing.public_key().to_base64()
    );

    // The self-signing key signs the device: the signature is merged into the device keys.
    let ssk_id = format!("ed25519:{}", self_signing.public_key().to_base64());
    let mut stored = own["device_keys"][&ann.user_id][&device].clone();
    let signature = self_signing.sign(signable(&stored).as_bytes()).to_base64();
    stored["signatures"][&ann.user_id][&ssk_id] = json!(signature);
    let (status, body) = ann
        .post(
            "/keys/signatures/upload",
            json!({ann.user_id.clone(): {device.clone(): stored.clone()}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["failures"], json!({}));
    let (_, theirs) = ben.post("/keys/query", query.clone()).await;
    assert_eq!(
        theirs["device_keys"][&ann.user_id][&device]["signatures"][&ann.user_id][&ssk_id],
        json!(signature)
    );
    // Ben's user-signing key signs Ann's master key: shown to Ben only.
    let ben_master = Ed25519SecretKey::new();
    let ben_usk = Ed25519SecretKey::new();
    let (status, body) = ben
        .post(
            "/keys/device_signing/upload",
            json!({
                "master_key": cross_key(&ben.user_id, "master", &ben_master, None),
                "user_signing_key": cross_key(&ben.user_id, "user_signing", &ben_usk, Some(&ben_master)),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let master_pub = master.public_key().to_base64();
    let mut ann_master = theirs["master_keys"][&ann.user_id].clone();
    let usk_id = format!("ed25519:{}", ben_usk.public_key().to_base64());
    let ben_signature = ben_usk.sign(signable(&ann_master).as_bytes()).to_base64();
    ann_master["signatures"] = json!({ben.user_id.clone(): {usk_id.clone(): ben_signature}});
    let (status, body) = ben
        .post(
            "/keys/signatures/upload",
            json!({ann.user_id.clone(): {master_pub.clone(): ann_master.clone()}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["failures"], json!({}), "{body}");
    let (_, seen_by_ben) = ben.post("/keys/query", query.clone()).await;
    assert_eq!(
        seen_by_ben["master_keys"][&ann.user_id]["signatures"][&ben.user_id][&usk_id],
        json!(ben_signature)
    );
    let (_, seen_by_ann) = ann.post("/keys/query", query.clone()).await;
    assert!(
        seen_by_ann["master_keys"][&ann.user_id]["signatures"]
            .get(&ben.user_id)
            .is_none(),
        "{seen_by_ann}"
    );
    // Ben's master key may not sign Ann's key through this route.
    let master_id = format!("ed25519:{}", ben_master.public_key().to_base64());
    ann_master["signatures"] = json!({ben.user_id.clone(): {master_id: ben_master.sign(signable(&ann_master).as_bytes()).to_base64()}});
    let (_, body) = ben
        .post(
            "/keys/signatures/upload",
            json!({ann.user_id.clone(): {master_pub: ann_master}}),
        )
        .await;
    assert_eq!(
        body["failures"][&ann.user_id].as_object().unwrap().len(),
        1,
        "{body}"
    );

    // A forged one is listed in failures.
    stored["signatures"][&ann.user_id][&ssk_id] = json!(user_signing.sign(b"x").to_base64());
    let (_, body) = ann
        .post(
            "/keys/signatures/upload",
            json!({ann.user_id.clone(): {device.clone(): stored}}),
        )
        .await;
    assert_eq!(
        body["failures"][&ann.user_id][&device]["errcode"], "M_INVALID_SIGNATURE",
        "{body}"
    );
}

#[tokio::test]
async fn to_device_messages_carry_the_real_sender_and_are_stored_once() {
    let (server, users, _s) = server_with("keys-todevice.parley.test", &["ann", "ben"]).await;
    let [ann, ben] = [&users[0], &users[1]];
    let ann2 = TestUser::login(&server, "ann").await.unwrap();
    let ben_device = device_id(ben).await;

    let body = json!({
        "sender": ann.user_id,
        "messages": {
            ann.user_id.clone(): {"*": {"sender": ann.user_id, "ciphertext": "opaque"}},
            ben.user_id.clone(): {ben_device.clone(): {"hello": 1}},
            "@x:elsewhere.test": {"*": {}},
        }
    });
    for _ in 0..2 {
        let (status, answer) = ben
            .put("/sendToDevice/m.room.encrypted/txn-1", body.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    for device in [ann, &ann2] {
        let (status, pending) = device.get("/sendToDevice/pending").await;
        assert_eq!(status, StatusCode::OK, "{pending}");
        let events = pending["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "stored once per device: {pending}");
        assert_eq!(
            events[0]["sender"],
            json!(ben.user_id),
            "the server sets the sender"
        );
        assert_eq!(events[0]["type"], "m.room.encrypted");
        assert_eq!(events[0]["content"]["ciphertext"], "opaque");
    }
    let (_, pending) = ben.get("/sendToDevice/pending?limit=10").await;
    assert_eq!(pending["events"][0]["content"], json!({"hello": 1}));
    assert_eq!(pending["events"][0]["sender"], json!(ben.user_id));

    // Another transaction is a new message; acknowledging removes what was handled only.
    let (status, _) = ben
        .put("/sendToDevice/m.room.encrypted/txn-2", body.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, pending) = ann.get("/sendToDevice/pending").await;
    let events = pending["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let first = events[0]["id"].as_i64().unwrap();
    assert!(events[1]["id"].as_i64().unwrap() > first);
    let (status, _) = ann
        .post("/sendToDevice/ack", json!({"up_to_id": first}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, pending) = ann.get("/sendToDevice/pending").await;
    assert_eq!(pending["events"].as_array().unwrap().len(), 1);
    // Each device has its own queue: ann's acknowledgement left ann2's alone.
    let (_, pending2) = ann2.get("/sendToDevice/pending").await;
    assert_eq!(pending2["events"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn devices_are_listed_renamed_and_deleted_with_the_password() {
    let (server, users, _s) = server_with("keys-devices.parley.test", &["ann", "ben"]).await;
    let [ann, ben] = [&users[0], &users[1]];
    let phone = TestUser::login(&server, "ann").await.unwrap();
    let phone_device = device_id(&phone).await;
    let account = Account::new();
    let (status, body) = phone
        .post(
            "/keys/upload",
            json!({"device_keys": device_keys(&account, &ann.user_id, &phone_device)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, list) = ann.get("/devices").await;
    assert_eq!(status, StatusCode::OK);
    let devices = list["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2, "{list}");
    assert!(
        devices.iter().all(|d| d["last_seen_at"].is_string()),
        "{list}"
    );

    let path = format!("/devices/{}", seg(&phone_device));
    let (status, _) = ann.put(&path, json!({"display_name": "Phone"})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = ann.get("/devices").await;
    assert!(
        list["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["display_name"] == "Phone")
    );
    let (status, _) = ben.put(&path, json!({"display_name": "Mine"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not ben's device");

    let (status, body) = ann
        .call(
            Method::DELETE,
            &path,
            Some(json!({"password": "wrong password"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = phone.get("/keys/counts").await;
    assert_eq!(status, StatusCode::OK, "still signed in");
    let (status, body) = ann
        .call(Method::DELETE, &path, Some(json!({"password": PASSWORD})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, _) = phone.get("/keys/counts").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the phone's session has ended"
    );
    let (_, answer) = ben
        .post(
            "/keys/query",
            json!({"device_keys": {ann.user_id.clone(): []}}),
        )
        .await;
    assert_eq!(
        answer["device_keys"][&ann.user_id],
        json!({}),
        "its keys are gone"
    );
    let (_, list) = ann.get("/devices").await;
    assert_eq!(list["devices"].as_array().unwrap().len(), 1);

    // A stolen token cannot be used to guess the password: wrong guesses lock re-authentication.
    let own = format!("/devices/{}", seg(&device_id(ann).await));
    let mut locked = false;
    for _ in 0..10 {
        let (status, body) = ann
            .call(
                Method::DELETE,
                &own,
                Some(json!({"password": "guess guess"})),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
            locked = true;
            break;
        }
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    assert!(locked, "locked after repeated wrong passwords");
    let (status, _) = ann
        .call(Method::DELETE, &own, Some(json!({"password": PASSWORD})))
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right one waits"
    );
    let (status, _) = ann.get("/devices").await;
    assert_eq!(status, StatusCode::OK, "the device is still there");
}
