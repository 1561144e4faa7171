//! The homeserver side of federation: our identity (the key document), the authentication of
//! peers' requests, remote key queries and claims, and the durable outbox of EDUs.
//!
//! The protocol itself (signatures, key documents, transaction format) is the
//! `parley-federation` crate's; this module holds what needs our database and config. The
//! handlers in `http/federation.rs` stay thin and call in here.

pub mod inbound;
pub mod outbox;
pub mod remote_keys;

use std::{
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, SystemTime},
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::StatusCode;
use parley_client_api::ErrorCode;
use parley_federation::{
    ClientConfig, FederationClient, KeyCache, KeyCacheConfig, ReplayGuard, ServerName,
    ServerSigningKey, VerifyConfig, VerifyError,
    keys::{RetiredKey, sign_key_document},
    signature::{IncomingRequest, parse_keyid, parse_signature_inputs, verify_request},
};
use serde_json::Value;

use crate::{config::FederationConfig, error::AppError};

/// How long our key document says peers may cache our keys (the protocol caps it at 7 days).
pub const KEY_DOCUMENT_VALIDITY: Duration = Duration::from_secs(24 * 60 * 60);

/// Why federation could not be set up at start.
#[derive(Debug, thiserror::Error)]
pub enum FederationSetupError {
    /// `server_name` is not a federation server name (cannot happen after config validation).
    #[error("server_name is not a valid federation server name")]
    ServerName,
    /// An extra CA file could not be read.
    #[error("config key `federation.extra_ca_files`: cannot read {path}")]
    CaFile {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The outbound client could not be built (e.g. a CA file is not PEM).
    #[error("federation client: {0}")]
    Client(#[from] parley_federation::ClientError),
}

/// One server's federation: cheap to clone, no globals (several servers run in one process).
#[derive(Clone)]
pub struct Federation {
    inner: Arc<Inner>,
}

struct Inner {
    server_name: ServerName,
    config: FederationConfig,
    signing_key: Arc<ServerSigningKey>,
    retired: Vec<RetiredKey>,
    client: FederationClient,
    keys: KeyCache<FederationClient>,
    replay: ReplayGuard,
    verify: VerifyConfig,
    limiter: DefaultKeyedRateLimiter<ServerName>,
    outbox: outbox::Wakers,
}

impl Federation {
    /// Builds the outbound client (reading the extra CA files), the key cache and the inbound
    /// checks for `server_name`.
    pub fn new(
        server_name: &str,
        config: &FederationConfig,
        signing_key: Arc<ServerSigningKey>,
        retired: Vec<RetiredKey>,
    ) -> Result<Self, FederationSetupError> {
        let name = ServerName::parse(server_name).map_err(|_| FederationSetupError::ServerName)?;
        let mut extra_root_certificates_pem = Vec::new();
        for path in &config.extra_ca_files {
            let pem = std::fs::read(path).map_err(|source| FederationSetupError::CaFile {
                path: path.clone(),
                source,
            })?;
            extra_root_certificates_pem.push(pem);
        }
        let client = FederationClient::new(
            name.clone(),
            Arc::clone(&signing_key),
            ClientConfig {
                address_policy: config.address_policy(),
                pins: config.pins(),
                extra_root_certificates_pem,
                ..ClientConfig::default()
            },
        )?;
        let verify = VerifyConfig::new(&config.own_authorities(server_name));
        let per_minute = NonZeroU32::new(config.requests_per_minute).unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            inner: Arc::new(Inner {
                keys: KeyCache::new(client.clone(), KeyCacheConfig::default()),
                client,
                server_name: name,
                config: config.clone(),
                signing_key,
                retired,
                replay: ReplayGuard::default(),
                verify,
                limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
                outbox: outbox::Wakers::default(),
            }),
        })
    }

    /// Our server name.
    pub fn server_name(&self) -> &ServerName {
        &self.inner.server_name
    }

    /// The signing outbound client.
    pub fn client(&self) -> &FederationClient {
        &self.inner.client
    }

    /// The `[federation]` config.
    pub fn config(&self) -> &FederationConfig {
        &self.inner.config
    }

    /// Whether we federate with `server` at all (allow and deny lists).
    pub fn peer_allowed(&self, server: &ServerName) -> bool {
        self.inner.config.peer_allowed(server)
    }

    /// Our signed key document, valid for [`KEY_DOCUMENT_VALIDITY`] from `now`.
    pub fn key_document(&self, now: SystemTime) -> Result<Value, AppError> {
        sign_key_document(
            &self.inner.server_name,
            &self.inner.signing_key,
            &self.inner.retired,
            now + KEY_DOCUMENT_VALIDITY,
        )
        .map_err(|e| AppError::Internal(format!("key document: {e}")))
    }

    /// Authenticates a peer's request: the origin must be allowed, the signature valid for one
    /// of our authorities and not replayed, the origin within its rate. Returns the origin.
    ///
    /// `authority` is the `Host` (HTTP/1.1) or `:authority` (HTTP/2) the request came with.
    pub async fn authenticate(
        &self,
        db: &sqlx::PgPool,
        method: &http::Method,
        authority: &str,
        path_and_query: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<ServerName, AppError> {
        // The claimed origin is checked against the lists before the signature, so that a
        // denied server's request never makes us fetch its keys.
        if let Some(claimed) = claimed_origin(headers)
            && !self.peer_allowed(&claimed)
        {
            return Err(refused(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "This server does not federate with yours.",
            ));
        }
        let request = IncomingRequest {
            method,
            authority,
            path_and_query,
            headers,
            body,
        };
        let verified = verify_request(
            &request,
            &self.inner.verify,
            &self.inner.keys,
            &self.inner.replay,
            None,
            SystemTime::now(),
        )
        .await
        .map_err(|e| {
            tracing::info!(error = %e, "refused a federation request");
            match e {
                VerifyError::ReplayStoreFull => refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "Too many requests; try again later.",
                ),
                _ => refused(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthorized,
                    "The request signature is missing or not acceptable.",
                ),
            }
        })?;
        // Other processes of this server share the database, not the in-memory guard.
        let first_time = sqlx::query!(
            "insert into federation_seen_signature (signature, expires_at)
             values ($1, to_timestamp($2::float8)) on conflict do nothing",
            &verified.signature[..],
            verified
                .expires
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        )
        .execute(db)
        .await?
        .rows_affected()
            == 1;
        if !first_time {
            tracing::info!(origin = %verified.origin, "refused a replayed federation request");
            return Err(refused(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "The request signature is missing or not acceptable.",
            ));
        }
        let origin = verified.origin;
        if !self.peer_allowed(&origin) {
            return Err(refused(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "This server does not federate with yours.",
            ));
        }
        if self.inner.limiter.check_key(&origin).is_err() {
            return Err(refused(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::LimitExceeded,
                "Too many requests from your server.",
            ));
        }
        // A peer that talks to us is up: whatever waits for it need not wait out its backoff.
        self.inner.outbox.wake(&origin);
        Ok(origin)
    }
}

/// The origin a request's Parley signature claims, before any check.
fn claimed_origin(headers: &http::HeaderMap) -> Option<ServerName> {
    let inputs = parse_signature_inputs(headers).ok()?;
    let ours = inputs
        .iter()
        .find(|input| input.tag().and_then(Result::ok) == Some("parley"))?;
    let keyid = ours.keyid()?.ok()?;
    parse_keyid(keyid).ok().map(|(origin, _)| origin)
}

/// A refusal with a short, fixed reason.
pub fn refused(status: StatusCode, code: ErrorCode, message: &'static str) -> AppError {
    AppError::Refused {
        status,
        code,
        message,
    }
}
