//! Two homeservers in one process, federating over loopback TLS with certificates from one
//! test CA: the key document, key queries and claims across servers, to-device messages through
//! the durable outbox (also across a restart of the receiver), and what the receiver refuses.

use std::{
    net::{SocketAddr, TcpListener},
    path::Path,
    time::{Duration, SystemTime},
};

use parley_federation::{
    ServerName, ServerSigningKey, keys::verify_key_document, signature::sign_request,
};
use parley_tests::{
    server::{FederationOptions, TestServer},
    users::{TestUser, seg},
    wait_until,
    ws::TestSocket,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vodozemac::olm::Account;

use crate::{PARLEY, Setup, setup};

pub const A: &str = "org-a.parley.test";
pub const B: &str = "org-b.parley.test";
const WAIT: Duration = Duration::from_secs(30);

/// A CA and certificates it issued.
pub struct TestCa {
    pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Parley test CA");
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            cert,
            key,
        }
    }

    /// Writes a certificate for `name` and its key into `dir`; returns their paths.
    fn issue(&self, name: &str, dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&key, &self.cert, &self.key)
            .unwrap();
        let (cert_file, key_file) = (dir.join("fed.crt"), dir.join("fed.key"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert_file, key_file)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Two servers' setups, each pinning the other's name to its federation port and trusting the
/// test CA. The ports are fixed up front so that a restarted server keeps its address.
pub struct Pair {
    pub a: Setup,
    pub b: Setup,
    ca: TestCa,
    pub port_a: u16,
    pub port_b: u16,
}

pub async fn pair() -> Pair {
    let (mut setups, ca, ports) = federated(&[A, B]).await;
    let b = setups.pop().unwrap();
    let a = setups.pop().unwrap();
    Pair {
        a,
        b,
        ca,
        port_a: ports[0],
        port_b: ports[1],
    }
}

/// Setups of servers named `names`, each pinning every other's name to its federation port
/// and trusting one test CA; the CA and the ports, in the order of `names`.
pub async fn federated(names: &[&str]) -> (Vec<Setup>, TestCa, Vec<u16>) {
    let ca = TestCa::new();
    let ports: Vec<u16> = names.iter().map(|_| free_port()).collect();
    let mut setups = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut s = setup(name).await;
        let (cert, key) = ca.issue(name, s.dir.path());
        let ca_file = s.dir.path().join("ca.pem");
        std::fs::write(&ca_file, &ca.pem).unwrap();
        let port = ports[i];
        s.config.federation = Some((format!("127.0.0.1:{port}"), cert, key));
        s.config.federation_options = FederationOptions {
            allow_private_addresses: true,
            pins: names
                .iter()
                .zip(&ports)
                .filter(|(peer, _)| *peer != name)
                .map(|(peer, p)| ((*peer).to_owned(), SocketAddr::from(([127, 0, 0, 1], *p))))
                .collect(),
            extra_ca_files: vec![ca_file],
            // Peers reach us at the pinned port, so that is an authority of ours.
            also_known_as: vec![format!("{name}:{port}")],
            deny_servers: vec!["denied.parley.test".to_owned()],
            requests_per_minute: None,
        };
        setups.push(s);
    }
    (setups, ca, ports)
}

/// org-a and org-b running, with ann signed up on org-a and bob on org-b.
pub async fn two_orgs() -> (Pair, TestServer, TestServer, TestUser, TestUser) {
    let p = pair().await;
    let server_a = TestServer::start(&p.a.config).await.unwrap();
    let server_b = TestServer::start(&p.b.config).await.unwrap();
    let ann = TestUser::register(&server_a, "ann").await.unwrap();
    let bob = TestUser::register(&server_b, "bob").await.unwrap();
    (p, server_a, server_b, ann, bob)
}

/// An HTTPS client that trusts the test CA and reaches both servers by name.
pub fn peer_http(pair: &Pair) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pair.ca.pem.as_bytes()).unwrap())
        .resolve(A, SocketAddr::from(([127, 0, 0, 1], pair.port_a)))
        .resolve(B, SocketAddr::from(([127, 0, 0, 1], pair.port_b)))
        .build()
        .unwrap()
}

/// Uploads real device keys and `n` one-time keys for `user`'s device; returns the account.
async fn upload_keys(user: &TestUser, n: usize) -> Account {
    let mut account = Account::new();
    let device = &user.device_id;
    let sign = |account: &Account, mut value: Value| {
        let signature = account
            .sign(parley_homeserver::e2ee::signable(&value))
            .to_base64();
        value["signatures"] = json!({ &user.user_id: { format!("ed25519:{device}"): signature } });
        value
    };
    let keys = account.identity_keys();
    let device_keys = sign(
        &account,
        json!({
            "user_id": user.user_id, "device_id": device,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
            "keys": {format!("curve25519:{device}"): keys.curve25519.to_base64(),
                     format!("ed25519:{device}"): keys.ed25519.to_base64()},
        }),
    );
    account.generate_one_time_keys(n);
    let mut otks = serde_json::Map::new();
    for (id, key) in account.one_time_keys() {
        otks.insert(
            format!("signed_curve25519:{}", id.to_base64()),
            sign(&account, json!({"key": key.to_base64()})),
        );
    }
    account.mark_keys_as_published();
    let (status, body) = user
        .post(
            "/keys/upload",
            json!({"device_keys": device_keys, "one_time_keys": otks}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    account
}

#[tokio::test]
async fn the_key_document_lists_rotated_keys_and_verifies() {
    let p = pair().await;
    let server = TestServer::start(&p.a.config).await.unwrap();
    let first = server.state.signing_key.key_id();
    let http = peer_http(&p);
    let url = format!("https://{A}:{}/_parley/key/v1/server", p.port_a);
    let body = http.get(&url).send().await.unwrap().bytes().await.unwrap();
    let keys =
        verify_key_document(&body, &ServerName::parse(A).unwrap(), SystemTime::now()).unwrap();
    assert!(keys.keys.contains_key(&first));
    server.stop().await.unwrap();

    // `parley keys rotate`, then a restart.
    let config_file = p.a.dir.path().join("parley.toml");
    std::fs::write(&config_file, p.a.config.to_toml()).unwrap();
    let (status, out, err) = parley_tests::server::run_command(
        Path::new(PARLEY),
        &["keys", "--config", config_file.to_str().unwrap(), "rotate"],
        &[],
    )
    .await
    .unwrap();
    assert!(status.success(), "{out}{err}");
    assert!(out.contains(&first), "{out}");
    let server = TestServer::start(&p.a.config).await.unwrap();
    let second = server.state.signing_key.key_id();
    assert_ne!(first, second);
    let body = http.get(&url).send().await.unwrap().bytes().await.unwrap();
    let document: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        document["verify_keys"][&second]["key"].is_string(),
        "{document}"
    );
    assert!(document["verify_keys"].get(&first).is_none(), "{document}");
    let expired = document["old_verify_keys"][&first]["expired_ts"]
        .as_u64()
        .unwrap();
    let now = parley_federation::keys::unix_millis(SystemTime::now());
    assert!(expired <= now && expired > now - 120_000, "{document}");
    let valid_until = document["valid_until_ts"].as_u64().unwrap();
    assert!(valid_until > now && valid_until <= now + 7 * 24 * 3600 * 1000);
    let keys =
        verify_key_document(&body, &ServerName::parse(A).unwrap(), SystemTime::now()).unwrap();
    assert!(keys.keys[&first].expired.is_some());
    assert!(keys.keys[&second].expired.is_none());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn keys_of_remote_users_are_queried_and_claimed() {
    let (_p, server_a, server_b, ann, bob) = two_orgs().await;
    let account = upload_keys(&bob, 2).await;

    let (status, answer) = ann
        .post(
            "/keys/query",
            json!({"device_keys": {&bob.user_id: [], "@nobody:unreachable.parley.test": []}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let device = &answer["device_keys"][&bob.user_id][&bob.device_id];
    assert_eq!(
        device["keys"][format!("ed25519:{}", bob.device_id)],
        account.identity_keys().ed25519.to_base64(),
        "{answer}"
    );
    // The unreachable server is a failure with our words, not an error.
    assert_eq!(
        answer["failures"]["unreachable.parley.test"]["errcode"], "M_UNAVAILABLE",
        "{answer}"
    );
    assert!(answer["failures"].get(B).is_none(), "{answer}");

    // Each one-time key once, then none.
    let claim = json!({"one_time_keys": {&bob.user_id: {&bob.device_id: "signed_curve25519"}}});
    let mut claimed = Vec::new();
    for _ in 0..3 {
        let (status, answer) = ann.post("/keys/claim", claim.clone()).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        if let Some(keys) = answer["one_time_keys"][&bob.user_id][&bob.device_id].as_object() {
            claimed.extend(keys.keys().cloned());
        }
    }
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), 2, "{claimed:?}");
    let (_, counts) = bob.get("/keys/counts").await;
    assert_eq!(counts["one_time_key_counts"]["signed_curve25519"], 0);
    server_a.stop().await.unwrap();
    server_b.stop().await.unwrap();
}

/// Sends a to-device message from `from` to every device of `to`.
async fn send_to_device(from: &TestUser, to: &str, txn: &str, n: u64) {
    let (status, body) = from
        .put(
            &format!("/sendToDevice/m.test/{}", seg(txn)),
            json!({"messages": {to: {"*": {"n": n}}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

pub async fn outbox_len(server: &TestServer) -> i64 {
    sqlx::query_scalar::<_, i64>("select count(*) from federation_outbox")
        .fetch_one(&server.state.db)
        .await
        .unwrap()
}

/// Collects to-device events from the socket until `n` arrived, acknowledging them.
async fn receive_to_device(user: &TestUser, socket: &mut TestSocket, n: usize) -> Vec<Value> {
    let mut events = Vec::new();
    while events.len() < n {
        let frame = socket
            .wait_for("to-device messages", WAIT, |f| f["type"] == "to_device")
            .await;
        events.extend(frame["events"].as_array().unwrap().iter().cloned());
        let last = events.last().unwrap()["id"].as_i64().unwrap();
        let (status, _) = user
            .post("/sendToDevice/ack", json!({"up_to_id": last}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    events
}

#[tokio::test]
async fn to_device_messages_reach_remote_devices_exactly_once_across_a_restart() {
    let (p, server_a, server_b, ann, bob) = two_orgs().await;
    upload_keys(&bob, 1).await;
    let mut socket = TestSocket::connect(&bob, None, None).await.unwrap();

    send_to_device(&ann, &bob.user_id, "t0", 0).await;
    let events = receive_to_device(&bob, &mut socket, 1).await;
    assert_eq!(events[0]["sender"], ann.user_id);
    assert_eq!(events[0]["content"], json!({"n": 0}));
    wait_until("the outbox to empty", WAIT, || async {
        (outbox_len(&server_a).await == 0).then_some(())
    })
    .await
    .unwrap();
    socket.close().await;

    // B is down: the messages wait in A's outbox.
    server_b.stop().await.unwrap();
    for n in 1..=3 {
        send_to_device(&ann, &bob.user_id, &format!("t{n}"), n).await;
    }
    // A retry of the same client transaction adds nothing.
    send_to_device(&ann, &bob.user_id, "t3", 3).await;
    assert_eq!(outbox_len(&server_a).await, 3);
    wait_until("a failed attempt", WAIT, || async {
        let failures: Option<i32> = sqlx::query_scalar(
            "select failure_count from federation_destination where destination = $1",
        )
        .bind(B)
        .fetch_optional(&server_a.state.db)
        .await
        .unwrap();
        failures.filter(|f| *f > 0)
    })
    .await
    .unwrap();

    // A restarts too (same database): the batch in flight and the backoff survive. Its next
    // retry is pushed far out, so only the wake below can deliver within the deadline.
    server_a.stop().await.unwrap();
    let server_a = TestServer::start(&p.a.config).await.unwrap();
    let ann = ann.same_session_at(&server_a);
    sqlx::query("update federation_destination set retry_at = now() + interval '1 hour'")
        .execute(&server_a.state.db)
        .await
        .unwrap();
    assert_eq!(outbox_len(&server_a).await, 3);

    // B is back (same database, same data dir); its user asks A for keys, which wakes A's
    // queue for B at once.
    let server_b = TestServer::start(&p.b.config).await.unwrap();
    let bob = bob.same_session_at(&server_b);
    let (status, _) = bob
        .post("/keys/query", json!({"device_keys": {&ann.user_id: []}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut socket = TestSocket::connect(&bob, None, None).await.unwrap();
    let events = receive_to_device(&bob, &mut socket, 3).await;
    let numbers: Vec<u64> = events
        .iter()
        .map(|e| e["content"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3], "in order, once each");
    wait_until("the outbox to empty", WAIT, || async {
        (outbox_len(&server_a).await == 0).then_some(())
    })
    .await
    .unwrap();
    // Nothing else arrives: three transactions' worth, no duplicates.
    let stored: i64 = sqlx::query_scalar("select count(*) from federation_inbound_txn")
        .fetch_one(&server_b.state.db)
        .await
        .unwrap();
    assert!(stored >= 2, "{stored}");
    socket.close().await;
    server_a.stop().await.unwrap();
    server_b.stop().await.unwrap();
}

/// A request to B signed by `key` as `origin`, for `sign_url` (normally the URL it is sent to).
pub async fn signed_put(
    http: &reqwest::Client,
    key: &ServerSigningKey,
    origin: &str,
    url: &str,
    sign_url: &str,
    body: &[u8],
    sent_body: &[u8],
) -> reqwest::RequestBuilder {
    signed_put_at(
        http,
        key,
        origin,
        url,
        sign_url,
        body,
        sent_body,
        SystemTime::now(),
    )
}

/// [`signed_put`] with the signature made at `at`.
#[allow(clippy::too_many_arguments)]
pub fn signed_put_at(
    http: &reqwest::Client,
    key: &ServerSigningKey,
    origin: &str,
    url: &str,
    sign_url: &str,
    body: &[u8],
    sent_body: &[u8],
    at: SystemTime,
) -> reqwest::RequestBuilder {
    let headers = sign_request(
        key,
        &ServerName::parse(origin).unwrap(),
        &Method::PUT,
        &sign_url.parse().unwrap(),
        body,
        at,
        Duration::from_secs(60),
    )
    .unwrap();
    let mut map = http::HeaderMap::new();
    headers.apply(&mut map);
    http.put(url)
        .headers(map)
        .header("content-type", "application/json")
        .body(sent_body.to_vec())
}

pub async fn status_and_code(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_receiver_refuses_what_it_must() {
    let p = pair().await;
    let server_a = TestServer::start(&p.a.config).await.unwrap();
    let server_b = TestServer::start(&p.b.config).await.unwrap();
    let bob = TestUser::register(&server_b, "bob").await.unwrap();
    upload_keys(&bob, 1).await;
    let key = &server_a.state.signing_key;
    let http = peer_http(&p);
    let url = |txn: &str| format!("https://{B}:{}/_parley/federation/v1/send/{txn}", p.port_b);
    let txn = |origin: &str, sender: &str| {
        serde_json::to_vec(&json!({
            "origin": origin, "origin_server_ts": 1, "edus": [{
                "edu_type": "m.direct_to_device",
                "content": {"sender": sender, "type": "m.test", "message_id": "m1",
                            "messages": {&bob.user_id: {"*": {"forged": true}}}}}]
        }))
        .unwrap()
    };
    let good = txn(A, "@ann:org-a.parley.test");

    // Unsigned.
    let (status, body) = status_and_code(
        http.put(url("u1"))
            .header("content-type", "application/json")
            .body(good.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["errcode"], "M_UNAUTHORIZED");

    // Signed for another authority than the one it reaches.
    let other = format!("https://{A}:{}/_parley/federation/v1/send/w1", p.port_b);
    let request = signed_put(&http, key, A, &url("w1"), &other, &good, &good).await;
    assert_eq!(status_and_code(request).await.0, StatusCode::UNAUTHORIZED);

    // A body that is not the one signed.
    let request = signed_put(
        &http,
        key,
        A,
        &url("d1"),
        &url("d1"),
        &good,
        &txn(A, "@x:y"),
    )
    .await;
    assert_eq!(status_and_code(request).await.0, StatusCode::UNAUTHORIZED);

    // A key that is not A's, under A's name (B fetches A's key document: no such key id).
    let stranger = ServerSigningKey::generate();
    let request = signed_put(&http, &stranger, A, &url("k0"), &url("k0"), &good, &good).await;
    assert_eq!(status_and_code(request).await.0, StatusCode::UNAUTHORIZED);

    // A's key under B's name: the key id is not B's.
    let request = signed_put(&http, key, B, &url("k2"), &url("k2"), &good, &good).await;
    assert_eq!(status_and_code(request).await.0, StatusCode::UNAUTHORIZED);

    // A key id of another server than the signer's (B cannot find that key at that server).
    let request = signed_put(
        &http,
        key,
        "unreachable.parley.test",
        &url("k1"),
        &url("k1"),
        &good,
        &good,
    )
    .await;
    assert_eq!(status_and_code(request).await.0, StatusCode::UNAUTHORIZED);

    // A denied origin: refused before its keys are even looked up.
    let request = signed_put(
        &http,
        key,
        "denied.parley.test",
        &url("n1"),
        &url("n1"),
        &good,
        &good,
    )
    .await;
    let (status, body) = status_and_code(request).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // A transaction whose origin is not its signer.
    let forged_origin = txn(B, "@ann:org-b.parley.test");
    let request = signed_put(
        &http,
        key,
        A,
        &url("o1"),
        &url("o1"),
        &forged_origin,
        &forged_origin,
    )
    .await;
    assert_eq!(status_and_code(request).await.0, StatusCode::FORBIDDEN);

    // An EDU whose sender is another server's user: answered, reported, not applied.
    let foreign = txn(A, "@mallory:org-b.parley.test");
    let request = signed_put(&http, key, A, &url("s1"), &url("s1"), &foreign, &foreign).await;
    let (status, body) = status_and_code(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["refused"]["0"].is_string(), "{body}");
    let (_, pending) = bob.get("/sendToDevice/pending").await;
    assert_eq!(pending["events"], json!([]), "{pending}");

    // Expired: signed ten minutes ago with a minute's validity; and one from the future.
    for at in [
        SystemTime::now() - Duration::from_secs(600),
        SystemTime::now() + Duration::from_secs(600),
    ] {
        let request = signed_put_at(&http, key, A, &url("e1"), &url("e1"), &good, &good, at);
        let (status, body) = status_and_code(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }

    // A good one is applied; the very same request again is a replay.
    let request = signed_put(&http, key, A, &url("g1"), &url("g1"), &good, &good).await;
    let replay = request.try_clone().unwrap();
    let (status, first) = status_and_code(request).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first, json!({"refused": {}}));
    assert_eq!(status_and_code(replay).await.0, StatusCode::UNAUTHORIZED);
    // A new signature over the same transaction id gets the first answer, applied once.
    let request = signed_put(&http, key, A, &url("g1"), &url("g1"), &good, &good).await;
    let (status, again) = status_and_code(request).await;
    assert_eq!((status, &again), (StatusCode::OK, &first));
    let (_, pending) = bob.get("/sendToDevice/pending").await;
    assert_eq!(pending["events"].as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(pending["events"][0]["sender"], "@ann:org-a.parley.test");

    // Too large a body.
    let big = vec![b' '; 5 * 1024 * 1024];
    let request = signed_put(&http, key, A, &url("b1"), &url("b1"), &big, &big).await;
    assert_eq!(
        status_and_code(request).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    server_a.stop().await.unwrap();
    server_b.stop().await.unwrap();
}

#[tokio::test]
async fn each_origin_has_a_request_rate() {
    let mut p = pair().await;
    p.b.config.federation_options.requests_per_minute = Some(2);
    let server_a = TestServer::start(&p.a.config).await.unwrap();
    let server_b = TestServer::start(&p.b.config).await.unwrap();
    let key = &server_a.state.signing_key;
    let http = peer_http(&p);
    let body =
        serde_json::to_vec(&json!({"origin": A, "origin_server_ts": 1, "edus": []})).unwrap();
    let mut statuses = Vec::new();
    for n in 0..3 {
        let url = format!("https://{B}:{}/_parley/federation/v1/send/r{n}", p.port_b);
        let request = signed_put(&http, key, A, &url, &url, &body, &body).await;
        statuses.push(status_and_code(request).await);
    }
    assert_eq!(statuses[0].0, StatusCode::OK, "{statuses:?}");
    assert_eq!(statuses[1].0, StatusCode::OK, "{statuses:?}");
    assert_eq!(statuses[2].0, StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert_eq!(statuses[2].1["errcode"], "M_LIMIT_EXCEEDED");
    server_a.stop().await.unwrap();
    server_b.stop().await.unwrap();
}

#[tokio::test]
async fn a_replay_is_refused_by_the_next_process_of_the_server_too() {
    let p = pair().await;
    let server_a = TestServer::start(&p.a.config).await.unwrap();
    let server_b = TestServer::start(&p.b.config).await.unwrap();
    let key = &server_a.state.signing_key;
    let http = peer_http(&p);
    let url = format!("https://{B}:{}/_parley/federation/v1/send/r1", p.port_b);
    let body =
        serde_json::to_vec(&json!({"origin": A, "origin_server_ts": 1, "edus": []})).unwrap();
    let request = signed_put(&http, key, A, &url, &url, &body, &body).await;
    let replay = request.try_clone().unwrap();
    assert_eq!(status_and_code(request).await.0, StatusCode::OK);
    // Another process serves B at the same address, with nothing in memory: the database
    // still knows the signature.
    server_b.stop().await.unwrap();
    let server_b = TestServer::start(&p.b.config).await.unwrap();
    let (status, answer) = status_and_code(replay).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    server_a.stop().await.unwrap();
    server_b.stop().await.unwrap();
}
