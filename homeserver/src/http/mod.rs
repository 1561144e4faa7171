//! The HTTP side: one router per listener, built from one small module per area.

mod account;
mod auth;
pub mod extract;
pub mod federation;
mod health;
mod keys;
mod metrics;
pub mod openapi;
mod rate_limit;
mod request_id;
mod rooms;
mod server_info;
mod web;
mod ws;

use axum::{Router, middleware};
use tower_http::{
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{error::AppError, state::AppState};

/// The router of the client listener: client API, health, metrics and the web app.
pub fn client_router(state: AppState) -> Router {
    let api = Router::new()
        .merge(server_info::router())
        .merge(account::router())
        .merge(auth::router())
        .merge(rooms::router())
        .merge(keys::router())
        .route(parley_client_api::ws::PATH, axum::routing::get(ws::upgrade))
        .merge(
            account::limited_router()
                .merge(auth::limited_router())
                .layer(rate_limit::layer(&state)),
        )
        .fallback(|| async { AppError::Unrecognized });
    let mut router = Router::new()
        .nest("/api/v1", api)
        .merge(openapi::router())
        .merge(health::router());
    if state.config.metrics.enabled {
        router = router.merge(metrics::router());
    }
    let router = router
        .nest_service("/assets", web::assets(&state.config.web_root))
        .fallback_service(web::app(&state.config.web_root))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            web::security_headers,
        ))
        .layer(middleware::from_fn_with_state(
            (state.clone(), "client"),
            crate::metrics::track,
        ));
    with_common_layers(router.with_state(state))
}

/// The router of the federation listener.
pub fn federation_router(state: AppState) -> Router {
    let router = Router::new()
        .merge(federation::router(&state))
        .merge(health::router())
        .fallback(|| async { AppError::Unrecognized })
        .layer(middleware::from_fn_with_state(
            (state.clone(), "federation"),
            crate::metrics::track,
        ));
    with_common_layers(router.with_state(state))
}

/// Request ids (taken from `x-request-id` when well-formed, otherwise made up; echoed back) and
/// a tracing span per request that carries the id, so every log line of a request can be found.
fn with_common_layers(router: Router) -> Router {
    // The last layer added runs first.
    router
        .layer(PropagateRequestIdLayer::new(request_id::HEADER.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(request_id::MakeSpanWithId))
        .layer(SetRequestIdLayer::new(
            request_id::HEADER.clone(),
            request_id::MakeId,
        ))
        .layer(middleware::map_request(request_id::drop_unsafe_id))
}
