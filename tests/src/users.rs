//! Signed-in users for tests: sign up through the API, open the mailed link, sign in.

use std::{path::Path, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use url::Url;

use crate::{mail::mails_to, server::TestServer, wait_until};

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in user of a test server.
#[derive(Clone)]
pub struct TestUser {
    /// `@name:server`.
    pub user_id: String,
    /// The access token.
    pub access_token: String,
    /// The device of the session.
    pub device_id: String,
    http: reqwest::Client,
    base: Url,
}

impl TestUser {
    /// Signs up `username` on `server`, verifies the address from the mailbox, signs in.
    pub async fn register(server: &TestServer, username: &str) -> anyhow::Result<Self> {
        let mailbox = server.state.config.data_dir.join("mailbox");
        Self::register_at(&server.base_url, &mailbox, username).await
    }

    /// Signs up `username` on the server at `base` (in this process or not) whose mailbox
    /// folder is `mailbox`, verifies the address, signs in.
    pub async fn register_at(base: &Url, mailbox: &Path, username: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let email = format!("{username}@example.org");
        let url = |path: &str| {
            base.join(&format!("api/v1{path}"))
                .unwrap_or_else(|_| base.clone())
        };
        let response = http
            .post(url("/account/register"))
            .json(&json!({"username": username, "email": email, "full_name": username, "password": PASSWORD}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::ACCEPTED,
            "sign-up: {}",
            response.status()
        );
        let mail = wait_until("the verification mail", Duration::from_secs(15), || async {
            mails_to(mailbox, &email)
                .pop()
                .filter(|m| m.contains("/verify-email?token="))
        })
        .await?;
        let token = mail
            .split("/verify-email?token=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_default()
            .to_owned();
        let response = http
            .post(url("/account/verify-email"))
            .json(&json!({"token": token}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "verify: {}",
            response.status()
        );
        Self::login_at(base, username, PASSWORD).await
    }

    /// Signs in an existing (verified) `username` on `server`.
    pub async fn login(server: &TestServer, username: &str) -> anyhow::Result<Self> {
        Self::login_at(&server.base_url, username, PASSWORD).await
    }

    /// Signs in `username` with `password` on the server at `base` (which ends with `/`).
    pub async fn login_at(base: &Url, username: &str, password: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let response = http
            .post(base.join("api/v1/auth/login")?)
            .json(&json!({"identifier": username, "password": password}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "login: {}",
            response.status()
        );
        let body: Value = response.json().await?;
        Ok(Self {
            user_id: body["user_id"].as_str().unwrap_or_default().to_owned(),
            access_token: body["access_token"].as_str().unwrap_or_default().to_owned(),
            device_id: body["device_id"].as_str().unwrap_or_default().to_owned(),
            http,
            base: base.clone(),
        })
    }

    /// Calls `/api/v1{path}` with this user's token; returns the status and the JSON body
    /// (`null` when there is none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = self
            .base
            .join(&format!("api/v1{path}"))
            .unwrap_or_else(|_| self.base.clone());
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&self.access_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                (status, response.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (
                StatusCode::IM_A_TEAPOT,
                json!({"transport_error": e.to_string()}),
            ),
        }
    }

    /// The same session, at `server` (a restart of its server, at a new client port).
    pub fn same_session_at(&self, server: &TestServer) -> Self {
        Self {
            user_id: self.user_id.clone(),
            access_token: self.access_token.clone(),
            device_id: self.device_id.clone(),
            http: self.http.clone(),
            base: server.base_url.clone(),
        }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET`.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `PUT` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }
}

/// Percent-encodes an identifier for a URL path segment (`!`, `@`, `:` and `$` stay readable but
/// safe).
pub fn seg(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}
