//! A typed async client of the client API (feature `client`).

use serde::de::DeserializeOwned;
use url::Url;

use crate::{API_PREFIX, ErrorBody, server::ServerInfo};

/// What can go wrong when calling a homeserver.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL cannot be joined with an endpoint path.
    #[error("invalid homeserver URL: {0}")]
    Url(#[from] url::ParseError),
    /// The request did not complete (connection refused, timeout, TLS).
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// The server answered with its error shape.
    #[error("server refused the request ({status}): {:?}: {}", .body.errcode, .body.error)]
    Api {
        /// The HTTP status.
        status: u16,
        /// The decoded error.
        body: ErrorBody,
    },
    /// The server answered with something that is not the protocol.
    #[error("unexpected response ({status})")]
    Unexpected {
        /// The HTTP status.
        status: u16,
    },
}

/// A client of one homeserver.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
}

impl Client {
    /// A client of the homeserver whose web app is served at `base` (for example
    /// `http://127.0.0.1:8008/`).
    pub fn new(base: Url) -> Self {
        Self::with_http(reqwest::Client::new(), base)
    }

    /// Like [`Client::new`] with a caller-configured HTTP client.
    pub fn with_http(http: reqwest::Client, base: Url) -> Self {
        Self { http, base }
    }

    /// The homeserver's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `GET /api/v1/server`.
    pub async fn server_info(&self) -> Result<ServerInfo, ClientError> {
        self.get(crate::server::PATH).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self
            .base
            .join(&format!("{}{path}", API_PREFIX.trim_start_matches('/')))?;
        let response = self.http.get(url).send().await?;
        decode(response).await
    }
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    let status = response.status();
    let bytes = response.bytes().await?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|_| ClientError::Unexpected {
            status: status.as_u16(),
        });
    }
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => Err(ClientError::Api {
            status: status.as_u16(),
            body,
        }),
        Err(_) => Err(ClientError::Unexpected {
            status: status.as_u16(),
        }),
    }
}
