//! Prometheus metrics, one registry per server (no global registry, so several servers can run
//! in one process).

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use sqlx::PgPool;

use crate::state::AppState;

/// The metrics of one server.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    db_pool_size: IntGauge,
    db_pool_idle: IntGauge,
    db_pool_max: IntGauge,
    /// Open client WebSocket connections.
    pub websockets_open: IntGauge,
    /// Mails this process handed to the relay or the mailbox folder.
    pub mail_sent: IntCounter,
    /// Delivery attempts of this process that failed (each is retried).
    pub mail_failed_attempts: IntCounter,
    /// Unsent mail whose time has come, as this process last counted it (all processes count
    /// the same shared outbox).
    pub mail_queue_due: IntGauge,
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("parley".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route and status",
            ),
            &["listener", "method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["listener", "method", "route"],
        )?;
        let db_pool_size = IntGauge::new(
            "db_pool_connections",
            "Open database connections of this process",
        )?;
        let db_pool_idle = IntGauge::new(
            "db_pool_idle_connections",
            "Idle database connections of this process",
        )?;
        let db_pool_max = IntGauge::new("db_pool_max_connections", "The pool's connection limit")?;
        let websockets_open =
            IntGauge::new("websocket_connections", "Open client WebSocket connections")?;
        let mail_sent = IntCounter::new(
            "mail_sent_total",
            "Mails handed to the SMTP relay or the mailbox folder",
        )?;
        let mail_failed_attempts = IntCounter::new(
            "mail_failed_attempts_total",
            "Mail delivery attempts that failed and will be retried",
        )?;
        let mail_queue_due = IntGauge::new(
            "mail_queue_due",
            "Unsent mail in the outbox whose next attempt is due",
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(db_pool_size.clone()))?;
        registry.register(Box::new(db_pool_idle.clone()))?;
        registry.register(Box::new(db_pool_max.clone()))?;
        registry.register(Box::new(websockets_open.clone()))?;
        registry.register(Box::new(mail_sent.clone()))?;
        registry.register(Box::new(mail_failed_attempts.clone()))?;
        registry.register(Box::new(mail_queue_due.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            db_pool_size,
            db_pool_idle,
            db_pool_max,
            websockets_open,
            mail_sent,
            mail_failed_attempts,
            mail_queue_due,
        })
    }

    /// Counts one answered request.
    pub fn observe_http(
        &self,
        listener: &str,
        method: &str,
        route: &str,
        status: u16,
        seconds: f64,
    ) {
        self.http_requests
            .with_label_values(&[listener, method, route, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[listener, method, route])
            .observe(seconds);
    }

    /// Everything in Prometheus text format 0.0.4, with the pool read at this moment.
    pub fn render(&self, pool: &PgPool) -> Result<String, prometheus::Error> {
        self.db_pool_size.set(i64::from(pool.size()));
        self.db_pool_idle
            .set(i64::try_from(pool.num_idle()).unwrap_or(i64::MAX));
        self.db_pool_max
            .set(i64::from(pool.options().get_max_connections()));
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Middleware: records method, route template (never the raw path, which would let clients
/// create unbounded label values), status and latency of every request.
pub async fn track(
    State((state, listener)): State<(AppState, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = normalise_method(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| {
            let api = request.uri().path().starts_with("/api/");
            if api { "unmatched" } else { "web_app" }.to_owned()
        });
    let response = next.run(request).await;
    state.metrics.observe_http(
        listener,
        method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

fn normalise_method(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
