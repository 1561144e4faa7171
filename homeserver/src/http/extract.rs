//! Extractors shared by the handlers: JSON bodies with our error shape, the authenticated user,
//! and where a request came from.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request, rejection::JsonRejection},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use crate::{
    accounts::{AuthUser, ClientInfo},
    error::AppError,
    state::AppState,
};

/// A JSON body; a malformed one is answered with `M_BAD_JSON` and what was wrong.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(AppError::BadJson(describe(&rejection))),
        }
    }
}

fn describe(rejection: &JsonRejection) -> String {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "Expected a JSON body with `Content-Type: application/json`.".to_owned()
        }
        other => other.body_text(),
    }
}

/// The user of a valid access token (`Authorization: Bearer ...`) of a live session.
impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AppError::MissingToken)?;
        Ok(state.accounts.authenticate(token.trim()).await?)
    }
}

/// The client's address (through trusted proxies only) and user agent.
impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip =
            peer.map(|peer| client_ip(peer, &parts.headers, &state.config.client.trusted_proxies));
        let user_agent = parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect());
        Ok(ClientInfo {
            ip: ip.map(|ip| ip.to_string()),
            user_agent,
        })
    }
}

/// The client's IP: the peer's, unless the peer is a trusted proxy; then the last address in
/// `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &http::HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.7".parse().unwrap(),
        );
        // From the proxy: the rightmost untrusted address.
        assert_eq!(client_ip(proxy, &headers, &[proxy]), client);
        // From anyone else: the peer, whatever it claims.
        assert_eq!(client_ip(client, &headers, &[proxy]), client);
        let other: IpAddr = "192.0.2.9".parse().unwrap();
        assert_eq!(client_ip(other, &headers, &[proxy]), other);
        // A trusted proxy without the header: the proxy itself.
        assert_eq!(client_ip(proxy, &http::HeaderMap::new(), &[proxy]), proxy);
    }
}
