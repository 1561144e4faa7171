//! Accounts and sessions through the real HTTP API, PostgreSQL and the mail outbox.

use std::time::{Duration, Instant};

use parley_tests::{mail::latest_mail_to, server::TestServer, wait_until};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::setup;

const PASSWORD: &str = "correct horse battery staple";

struct Api {
    http: Client,
    server: TestServer,
}

impl Api {
    async fn start(name: &str) -> (Self, crate::Setup) {
        let mut s = setup(name).await;
        s.config.refresh_reuse_grace_secs = 0;
        let server = TestServer::start(&s.config).await.unwrap();
        (
            Self {
                http: Client::new(),
                server,
            },
            s,
        )
    }

    async fn post(&self, path: &str, body: Value, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(self.server.url(&format!("/api/v1{path}")))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.server.url(&format!("/api/v1{path}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Signs up and opens the verification link from the mail.
    async fn sign_up(&self, username: &str, email: &str, password: &str) {
        let (status, body) = self
            .post(
                "/account/register",
                json!({"username": username, "email": email, "full_name": "Test User", "password": password}),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let token = self.token_from_mail(email, "/verify-email").await;
        let (status, body) = self
            .post("/account/verify-email", json!({"token": token}), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["email"], email);
    }

    async fn token_from_mail(&self, to: &str, route: &str) -> String {
        let text = wait_until("a mail with a link", Duration::from_secs(10), || async {
            latest_mail_to(&self.server, to)
                .await
                .filter(|t| t.contains(route))
        })
        .await
        .unwrap();
        let start = text.find(&format!("{route}?token=")).unwrap() + route.len() + 7;
        text[start..].split_whitespace().next().unwrap().to_owned()
    }

    async fn login(&self, identifier: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/auth/login",
            json!({"identifier": identifier, "password": password}),
            None,
        )
        .await
    }

    async fn login_ok(&self, identifier: &str, password: &str) -> (String, String) {
        let (status, body) = self.login(identifier, password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["access_token"].as_str().unwrap().to_owned(),
            body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }
}

#[tokio::test]
async fn sign_up_verify_sign_in_refresh_and_reuse_detection() {
    let (api, _s) = Api::start("acc.parley.test").await;
    // Before verification: a correct password is told the address is unverified.
    let (status, _) = api
        .post(
            "/account/register",
            json!({"username": "Alice", "email": "alice@example.org", "full_name": "Alice A", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = api.login("alice", PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["errcode"], "M_EMAIL_NOT_VERIFIED");
    let (status, body) = api.login("alice", "wrong password here").await;
    assert_eq!(body["errcode"], "M_FORBIDDEN", "{status}");

    let token = api
        .token_from_mail("alice@example.org", "/verify-email")
        .await;
    let (status, body) = api
        .post("/account/verify-email", json!({"token": token}), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user_id"], "@alice:acc.parley.test");
    // Single use.
    let (status, body) = api
        .post("/account/verify-email", json!({"token": token}), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errcode"], "M_UNKNOWN_TOKEN");

    // Username, user id and email all sign in.
    for identifier in ["alice", "@alice:acc.parley.test", "ALICE@example.org"] {
        api.login_ok(identifier, PASSWORD).await;
    }
    let (access, refresh) = api.login_ok("alice", PASSWORD).await;
    let (status, me) = api.get("/account/profile", &access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user_id"], "@alice:acc.parley.test");
    assert_eq!(me["full_name"], "Alice A");

    // Refresh rotates.
    let (status, body) = api
        .post("/auth/refresh", json!({"refresh_token": refresh}), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh2 = body["refresh_token"].as_str().unwrap().to_owned();
    let access2 = body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh);
    assert_eq!(
        api.get("/account/profile", &access2).await.0,
        StatusCode::OK
    );

    // Reusing the rotated token (no grace in this test) ends the whole session.
    let (status, body) = api
        .post("/auth/refresh", json!({"refresh_token": refresh}), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errcode"], "M_UNKNOWN_TOKEN");
    let (status, _) = api
        .post("/auth/refresh", json!({"refresh_token": refresh2}), None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the successor dies with the session"
    );
    let (status, body) = api.get("/account/profile", &access2).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "access tokens of the session die at once"
    );
    assert_eq!(body["errcode"], "M_UNKNOWN_TOKEN");
}

#[tokio::test]
async fn bad_input_and_bad_tokens_get_clear_errors() {
    let (api, _s) = Api::start("bad.parley.test").await;
    let register = |username: &str, email: &str, password: &str| json!({"username": username, "email": email, "full_name": "X", "password": password});
    for (body, code) in [
        (
            register("bad name", "a@example.org", PASSWORD),
            "M_INVALID_USERNAME",
        ),
        (register("bob", "not-an-email", PASSWORD), "M_INVALID_PARAM"),
        (register("bob", "b@example.org", "short"), "M_WEAK_PASSWORD"),
        (
            register("bob", "b@example.org", "password123"),
            "M_WEAK_PASSWORD",
        ),
        (
            register("bob", "b@example.org", &"x".repeat(257)),
            "M_WEAK_PASSWORD",
        ),
        (json!({"username": "bob"}), "M_BAD_JSON"),
        (
            json!({"username": "bob", "email": "b@example.org", "full_name": "B", "password": PASSWORD, "admin": true}),
            "M_BAD_JSON",
        ),
    ] {
        let (status, answer) = api.post("/account/register", body.clone(), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        assert_eq!(answer["errcode"], code, "{body} -> {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    // A taken username is not said either: the address hears about it by mail.
    api.sign_up("bob", "bob@example.org", PASSWORD).await;
    let (status, body) = api
        .post(
            "/account/register",
            register("BOB", "other@example.org", PASSWORD),
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"accepted": true}))
    );
    let mail = wait_until(
        "the username-taken mail",
        Duration::from_secs(10),
        || async { latest_mail_to(&api.server, "other@example.org").await },
    )
    .await
    .unwrap();
    assert!(
        mail.contains("@bob:bad.parley.test, but that username is already taken"),
        "{mail}"
    );
    assert!(!mail.contains("verify-email"), "{mail}");

    for token in [
        "not.a.jwt",
        // alg none with plausible claims.
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJAYm9iOmJhZC5wYXJsZXkudGVzdCJ9.",
    ] {
        let (status, body) = api.get("/account/profile", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["errcode"], "M_UNKNOWN_TOKEN");
    }
    let response = api
        .http
        .get(api.server.url("/api/v1/account/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errcode"], "M_MISSING_TOKEN");
}

#[tokio::test]
async fn existing_and_missing_accounts_answer_alike() {
    let (api, _s) = Api::start("enum.parley.test").await;
    api.sign_up("carol", "carol@example.org", PASSWORD).await;

    // Sign-up with an address in use, or a username in use: same answer as a fresh sign-up, and
    // the address is told instead.
    let (s0, b0) = api
        .post("/account/register", json!({"username": "carol", "email": "x@example.org", "full_name": "M", "password": PASSWORD}), None)
        .await;
    let (s1, b1) = api
        .post("/account/register", json!({"username": "mallory", "email": "carol@example.org", "full_name": "M", "password": PASSWORD}), None)
        .await;
    let (s2, b2) = api
        .post("/account/register", json!({"username": "mallory2", "email": "new@example.org", "full_name": "M", "password": PASSWORD}), None)
        .await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!((s0, &b0), (s2, &b2));
    wait_until(
        "the notice to the owner",
        Duration::from_secs(10),
        || async {
            latest_mail_to(&api.server, "carol@example.org")
                .await
                .filter(|t| t.contains("already belongs to @carol:enum.parley.test"))
        },
    )
    .await
    .unwrap();

    for path in ["/account/password/forgot", "/account/verify-email/resend"] {
        let (s1, b1) = api
            .post(path, json!({"email": "carol@example.org"}), None)
            .await;
        let (s2, b2) = api
            .post(path, json!({"email": "nobody@example.org"}), None)
            .await;
        assert_eq!((s1, &b1), (s2, &b2), "{path}");
        assert_eq!(s1, StatusCode::ACCEPTED);
    }

    // Wrong password and missing account: same status and body, and comparable time (the
    // missing account still pays for a bcrypt verification).
    let mut existing = Duration::ZERO;
    let mut missing = Duration::ZERO;
    for i in 0..3 {
        let started = Instant::now();
        let (s1, b1) = api.login("carol", &format!("wrong password {i}")).await;
        existing += started.elapsed();
        let started = Instant::now();
        let (s2, b2) = api
            .login(&format!("nobody{i}"), &format!("wrong password {i}"))
            .await;
        missing += started.elapsed();
        assert_eq!((s1, &b1), (s2, &b2));
        assert_eq!(b1["errcode"], "M_FORBIDDEN");
    }
    assert!(
        missing * 2 > existing,
        "missing {missing:?} vs existing {existing:?}"
    );
}

#[tokio::test]
async fn lockout_engages_expires_and_leaves_reset_working() {
    let (api, _s) = Api::start("lock.parley.test").await;
    api.sign_up("dave", "dave@example.org", PASSWORD).await;
    for _ in 0..5 {
        let (status, _) = api.login("dave", "not the password").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // The sixth failure locks; now even the right password waits.
    let (status, _) = api.login("dave", "not the password").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let response = api
        .http
        .post(api.server.url("/api/v1/auth/login"))
        .json(&json!({"identifier": "dave", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
    assert!(body["retry_after_ms"].as_u64().unwrap() > 0);
    // A missing account locks the same way, so lockout says nothing about existence.
    for _ in 0..6 {
        api.login("nobody-here", "not the password").await;
    }
    assert_eq!(
        api.login("nobody-here", PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    // The lock expires by itself: let its time pass (moved forward in the database).
    sqlx::query("update login_throttle set locked_until = now() - interval '1 second'")
        .execute(&api.server.state.db)
        .await
        .unwrap();
    api.login_ok("dave", PASSWORD).await;

    // Lock again, then reset the password: reset is never blocked and lifts the lock.
    for _ in 0..6 {
        api.login("dave", "not the password").await;
    }
    assert_eq!(
        api.login("dave", PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let (status, _) = api
        .post(
            "/account/password/forgot",
            json!({"email": "dave@example.org"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = api
        .token_from_mail("dave@example.org", "/reset-password")
        .await;
    let new_password = "a brand new passphrase";
    let (status, body) = api
        .post(
            "/account/password/reset",
            json!({"token": token, "new_password": new_password}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.login_ok("dave", new_password).await;
    let (status, _) = api.login("dave", PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The reset link was single-use.
    let (status, _) = api
        .post(
            "/account/password/reset",
            json!({"token": token, "new_password": "yet another passphrase"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn long_and_non_ascii_passwords_are_never_truncated() {
    let (api, _s) = Api::start("pw.parley.test").await;
    let long = format!(
        "{}!",
        "correct horse battery staple "
            .repeat(4)
            .chars()
            .take(99)
            .collect::<String>()
    );
    assert_eq!(long.chars().count(), 100);
    api.sign_up("erin", "erin@example.org", &long).await;
    api.login_ok("erin", &long).await;
    let mut cut = long.clone();
    cut.pop();
    cut.push('?');
    assert_eq!(
        api.login("erin", &cut).await.0,
        StatusCode::FORBIDDEN,
        "the 100th character counts"
    );

    let unicode: String = "пароль密码パスワード🔐".chars().cycle().take(64).collect();
    assert_eq!(unicode.chars().count(), 64);
    api.sign_up("frank", "frank@example.org", &unicode).await;
    api.login_ok("frank", &unicode).await;
    let mut almost: String = unicode.chars().take(63).collect();
    almost.push('x');
    assert_eq!(api.login("frank", &almost).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sessions_list_end_and_password_change() {
    let (api, _s) = Api::start("sess.parley.test").await;
    api.sign_up("gina", "gina@example.org", PASSWORD).await;
    let (a1, _) = api.login_ok("gina", PASSWORD).await;
    let (a2, _) = api.login_ok("gina", PASSWORD).await;
    let (a3, _) = api.login_ok("gina", PASSWORD).await;

    let (status, list) = api.get("/auth/sessions", &a1).await;
    assert_eq!(status, StatusCode::OK);
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(sessions.iter().all(|s| s["ip"] == "127.0.0.1"));

    // End the third from the first.
    let third = api.get("/account/profile", &a3).await;
    assert_eq!(third.0, StatusCode::OK);
    let (_, list3) = api.get("/auth/sessions", &a3).await;
    let third_id = list3["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = api
        .http
        .delete(api.server.url(&format!("/api/v1/auth/sessions/{third_id}")))
        .bearer_auth(&a1)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        api.get("/account/profile", &a3).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Password change needs the current password and ends the other sessions.
    let (status, body) = api
        .post(
            "/account/password",
            json!({"current_password": "wrong one!!", "new_password": "another fine passphrase"}),
            Some(&a1),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].clone()),
        (StatusCode::FORBIDDEN, json!("M_FORBIDDEN"))
    );
    let (status, _) = api
        .post(
            "/account/password",
            json!({"current_password": PASSWORD, "new_password": "another fine passphrase"}),
            Some(&a1),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api.get("/account/profile", &a1).await.0, StatusCode::OK);
    assert_eq!(
        api.get("/account/profile", &a2).await.0,
        StatusCode::UNAUTHORIZED
    );

    // End all others, then log out.
    let (a4, _) = api.login_ok("gina", "another fine passphrase").await;
    let (status, body) = api
        .post("/auth/sessions/end-others", json!({}), Some(&a1))
        .await;
    assert_eq!((status, body["ended"].clone()), (StatusCode::OK, json!(1)));
    assert_eq!(
        api.get("/account/profile", &a4).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = api.post("/auth/logout", json!({}), Some(&a1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.get("/account/profile", &a1).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_disabled_account_loses_every_session_at_once() {
    let (api, _s) = Api::start("dis.parley.test").await;
    api.sign_up("hank", "hank@example.org", PASSWORD).await;
    let (a1, r1) = api.login_ok("hank", PASSWORD).await;
    let (a2, _) = api.login_ok("hank", PASSWORD).await;
    assert!(
        api.server
            .state
            .accounts
            .set_disabled("@hank:dis.parley.test", true)
            .await
            .unwrap()
    );
    for token in [&a1, &a2] {
        assert_eq!(
            api.get("/account/profile", token).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        api.post("/auth/refresh", json!({"refresh_token": r1}), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = api.login("hank", PASSWORD).await;
    assert_eq!(
        (status, body["errcode"].clone()),
        (StatusCode::FORBIDDEN, json!("M_USER_DEACTIVATED"))
    );
    // Re-enabled, it signs in again.
    assert!(
        api.server
            .state
            .accounts
            .set_disabled("@hank:dis.parley.test", false)
            .await
            .unwrap()
    );
    api.login_ok("hank", PASSWORD).await;
}

#[tokio::test]
async fn profile_and_change_of_address() {
    let (api, _s) = Api::start("prof.parley.test").await;
    api.sign_up("ivy", "ivy@example.org", PASSWORD).await;
    api.sign_up("jack", "jack@example.org", PASSWORD).await;
    let (access, _) = api.login_ok("ivy", PASSWORD).await;

    let response = api
        .http
        .patch(api.server.url("/api/v1/account/profile"))
        .bearer_auth(&access)
        .json(&json!({"full_name": "Ivy Smith", "display_name": "ivy ✨"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (jack_access, _) = api.login_ok("jack", PASSWORD).await;
    let (status, profile) = api
        .get("/profile/@ivy:prof.parley.test", &jack_access)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        profile,
        json!({"user_id": "@ivy:prof.parley.test", "full_name": "Ivy Smith", "display_name": "ivy ✨"})
    );
    assert_eq!(
        api.get("/profile/@nobody:prof.parley.test", &jack_access)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // Change of address: password required, link to the new address, notice to the old one.
    let (status, _) = api
        .post(
            "/account/email",
            json!({"new_email": "ivy@new.example", "password": "wrong password"}),
            Some(&access),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api
        .post(
            "/account/email",
            json!({"new_email": "ivy@new.example", "password": PASSWORD}),
            Some(&access),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = api
        .token_from_mail("ivy@new.example", "/verify-email")
        .await;
    let (status, body) = api
        .post("/account/verify-email", json!({"token": token}), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, me) = api.get("/account/profile", &access).await;
    assert_eq!(me["email"], "ivy@new.example");
    wait_until(
        "the notice to the old address",
        Duration::from_secs(10),
        || async {
            latest_mail_to(&api.server, "ivy@example.org")
                .await
                .filter(|t| t.contains("was changed to ivy@new.example"))
        },
    )
    .await
    .unwrap();
    api.login_ok("ivy@new.example", PASSWORD).await;
}

#[tokio::test]
async fn browsers_get_the_refresh_token_in_a_strict_http_only_cookie() {
    let (api, _s) = Api::start("cookie.parley.test").await;
    api.sign_up("kim", "kim@example.org", PASSWORD).await;
    let response = api
        .http
        .post(api.server.url("/api/v1/auth/login"))
        .json(&json!({"identifier": "kim", "password": PASSWORD, "refresh_token_transport": "cookie"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("parley_refresh="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "never in the body for browsers"
    );
    let value = cookie.split(';').next().unwrap().to_owned();

    let refresh = |cookie: String| {
        let http = api.http.clone();
        let url = api.server.url("/api/v1/auth/refresh");
        async move {
            http.post(url)
                .header("cookie", cookie)
                .json(&json!({}))
                .send()
                .await
                .unwrap()
        }
    };
    let response = refresh(value.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let rotated = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(rotated.split(';').next().unwrap(), value);
    // The old cookie again: the session ends and the cookie is cleared.
    let response = refresh(value).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );

    // Over HTTPS the cookie is Secure with the __Host- prefix.
    let mut s = setup("cookies.parley.test").await;
    s.config.public_base_url = "https://cookies.parley.test".into();
    let server = TestServer::start(&s.config).await.unwrap();
    let api2 = Api {
        http: Client::new(),
        server,
    };
    api2.sign_up("lee", "lee@example.org", PASSWORD).await;
    let response = api2
        .http
        .post(api2.server.url("/api/v1/auth/login"))
        .json(&json!({"identifier": "lee", "password": PASSWORD, "refresh_token_transport": "cookie"}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with("__Host-parley_refresh=") && cookie.contains("; Secure"),
        "{cookie}"
    );
}

/// Two servers on one database, as a deployment of several processes: each caches live
/// sessions, and a session ended through one is refused by the other as soon as the other has
/// read PostgreSQL's notice. That is not guaranteed to happen before the ending request is
/// answered (see docs/security.md, "Sessions"), so the other server is polled with a deadline
/// well under the cache's TTL: passing proves the notice, not the TTL, ended the entry.
#[tokio::test]
async fn a_session_ended_on_one_process_is_refused_on_another() {
    use parley_tests::users::TestUser;

    let s = setup("twocache.parley.test").await;
    let first = TestServer::start(&s.config).await.unwrap();
    let ann = TestUser::register(&first, "ann").await.unwrap();
    // The second process shares the access-token key, as processes of one deployment do.
    let second_dir = tempfile::tempdir().unwrap();
    let mut second_config = s.config.clone();
    second_config.data_dir = second_dir.path().join("data");
    std::fs::create_dir_all(&second_config.data_dir).unwrap();
    std::fs::copy(
        s.config.data_dir.join("access-token.key"),
        second_config.data_dir.join("access-token.key"),
    )
    .unwrap();
    let second = TestServer::start(&second_config).await.unwrap();
    let deadline = Duration::from_secs(5);
    assert!(deadline < parley_homeserver::accounts::live::TTL);

    // Refused at `server` within the deadline; returns how many requests still passed.
    async fn refused(user: &TestUser, deadline: Duration) -> usize {
        let started = Instant::now();
        let mut passed = 0;
        loop {
            match user.get("/account/profile").await.0 {
                StatusCode::UNAUTHORIZED => return passed,
                StatusCode::OK => passed += 1,
                other => panic!("unexpected {other}"),
            }
            assert!(
                started.elapsed() < deadline,
                "the ended session is still accepted after {deadline:?}"
            );
            tokio::task::yield_now().await;
        }
    }
    async fn cached(user: &TestUser, server: &TestServer) {
        for _ in 0..2 {
            assert_eq!(user.get("/account/profile").await.0, StatusCode::OK);
        }
        assert!(!server.state.accounts.live_sessions().is_empty());
    }

    // Sign-out on the first: refused on the second (where it was cached) and on the first.
    let there = ann.same_session_at(&second);
    cached(&there, &second).await;
    cached(&ann, &first).await;
    let (status, _) = ann.post("/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    // The ending process refuses at once: it drops the session itself before answering.
    assert_eq!(
        ann.get("/account/profile").await.0,
        StatusCode::UNAUTHORIZED
    );
    let late = refused(&there, deadline).await;
    eprintln!("sign-out: {late} request(s) still passed on the other process");

    // A password change on the second ends the other sessions: refused on the first.
    let one = TestUser::login(&first, "ann").await.unwrap();
    let two = TestUser::login(&second, "ann").await.unwrap();
    let one_there = one.same_session_at(&second);
    cached(&one, &first).await;
    cached(&one_there, &second).await;
    let (status, _) = two
        .post(
            "/account/password",
            json!({"current_password": parley_tests::users::PASSWORD,
                   "new_password": "another fine passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        one_there.get("/account/profile").await.0,
        StatusCode::UNAUTHORIZED
    );
    let late = refused(&one, deadline).await;
    eprintln!("password change: {late} request(s) still passed on the other process");

    // Ended by an operator's SQL, outside any server: the trigger announces it to both.
    let two_there = two.same_session_at(&first);
    cached(&two, &second).await;
    cached(&two_there, &first).await;
    sqlx::query(
        "update session set ended_at = now(), end_reason = 'operator' where ended_at is null",
    )
    .execute(&first.state.db)
    .await
    .unwrap();
    refused(&two, deadline).await;
    refused(&two_there, deadline).await;
}
