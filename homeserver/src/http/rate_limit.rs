//! Per-IP rate limits (tower-governor) on the endpoints that guess passwords or send mail:
//! sign-up, sign-in, resend, forgot and reset. The client IP comes from `X-Forwarded-For` only
//! when the peer is a configured trusted proxy. Over the limit: `429` with `Retry-After` and
//! `M_LIMIT_EXCEEDED`.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, Weak},
    time::Duration,
};

use axum::{body::Body, extract::ConnectInfo, response::IntoResponse};
use governor::middleware::NoOpMiddleware;
use parley_client_api::ErrorCode;
use tower_governor::{
    GovernorError, GovernorLayer,
    governor::{GovernorConfig, GovernorConfigBuilder},
    key_extractor::KeyExtractor,
};

use super::extract::client_ip;
use crate::{accounts::AccountError, error::AppError, state::AppState};

/// The rate-limit key: the client's IP.
#[derive(Clone)]
pub struct ClientIpKey {
    trusted: Arc<Vec<IpAddr>>,
}

impl KeyExtractor for ClientIpKey {
    type Key = IpAddr;

    fn extract<T>(&self, request: &http::Request<T>) -> Result<IpAddr, GovernorError> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
            .ok_or(GovernorError::UnableToExtractKey)?;
        Ok(client_ip(peer, request.headers(), &self.trusted))
    }
}

type Config = GovernorConfig<ClientIpKey, NoOpMiddleware<governor::clock::QuantaInstant>>;

/// The layer for the limited routes of `state`'s server.
pub fn layer(
    state: &AppState,
) -> GovernorLayer<ClientIpKey, NoOpMiddleware<governor::clock::QuantaInstant>, Body> {
    let accounts = &state.config.accounts;
    let period = Duration::from_millis(60_000 / u64::from(accounts.rate_limit_per_minute.max(1)));
    let config: Arc<Config> = Arc::new(
        GovernorConfigBuilder::default()
            .period(period)
            .burst_size(accounts.rate_limit_burst.max(1))
            .key_extractor(ClientIpKey {
                trusted: Arc::new(state.config.client.trusted_proxies.clone()),
            })
            .finish()
            .unwrap_or_else(|| {
                // Unreachable with the validated config (period and burst are non-zero); a
                // lenient limiter beats refusing to start.
                #[allow(clippy::unwrap_used)]
                GovernorConfigBuilder::default()
                    .key_extractor(ClientIpKey {
                        trusted: Arc::default(),
                    })
                    .finish()
                    .unwrap()
            }),
    );
    forget_idle_clients(Arc::downgrade(&config));
    GovernorLayer::new(config).error_handler(|error| match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            AppError::Account(AccountError::Refused {
                status: 429,
                code: ErrorCode::LimitExceeded,
                message: "Too many requests from your address. Try again later.".into(),
                retry_after: Some(Duration::from_secs(wait_time.max(1))),
            })
            .into_response()
        }
        other => AppError::Internal(format!("rate limiter: {other}")).into_response(),
    })
}

/// The limiter remembers every IP it has seen; forget the idle ones now and then. Stops when
/// the server (the last holder of the config) is gone.
fn forget_idle_clients(config: Weak<Config>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(config) = config.upgrade() else {
                return;
            };
            config.limiter().retain_recent();
        }
    });
}
