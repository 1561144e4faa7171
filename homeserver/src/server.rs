//! Starting and stopping one homeserver: storage, keys, listeners, graceful shutdown.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, serve::ListenerExt as _};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    accounts::Accounts,
    config::{Config, FederationConfig},
    db, http, keys, mail,
    metrics::Metrics,
    state::{AppState, Shared},
};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory or the signing key.
    #[error("signing key")]
    Key(#[from] keys::KeyFileError),
    /// The database.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// The metrics registry.
    #[error("metrics registry")]
    Metrics(#[from] prometheus::Error),
    /// A listener could not bind.
    #[error("cannot listen on {addr} (config key `{key}`)")]
    Bind {
        /// The config key of the address.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The account service (password hashing, access-token key).
    #[error("accounts")]
    Accounts(#[from] crate::accounts::AccountError),
    /// The federation TLS certificate or key.
    #[error("federation TLS: {0}")]
    Tls(String),
    /// The federation setup (`[federation]`: extra CA files, the outbound client).
    #[error(transparent)]
    Federation(#[from] crate::federation::FederationSetupError),
    /// The mail transport (`[mail]`).
    #[error(transparent)]
    Mail(#[from] mail::MailError),
}

/// A started server. Dropping it does not stop it: cancel [`RunningServer::shutdown_token`] and
/// await [`RunningServer::wait`].
pub struct RunningServer {
    /// The bound address of the client listener.
    pub client_addr: SocketAddr,
    /// The bound address of the federation listener, if federation is configured.
    pub federation_addr: Option<SocketAddr>,
    /// The state the handlers share.
    pub state: AppState,
    shutdown: CancellationToken,
    listeners: JoinSet<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
    grace: Duration,
}

/// Opens the database (running migrations), loads or creates the signing key, and starts the
/// listeners. Returns once they accept connections.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    let signing_key = keys::load_or_create(&config.data_dir)?;
    let pool = db::connect(&config.database).await?;
    db::migrate(&pool).await?;
    db::claim_for_server(&pool, &config.server_name).await?;
    let mailer = mail::Mailer::from_config(&config)?;
    tracing::info!(
        server_name = %config.server_name,
        key_id = %signing_key.key_id(),
        "database ready"
    );

    let accounts = Accounts::new(&config, pool.clone()).await?;
    let signing_key = Arc::new(signing_key);
    let mut e2ee = crate::e2ee::E2ee::new(pool.clone(), &config.server_name);
    let federation = match &config.federation {
        Some(federation_config) => {
            e2ee = e2ee.with_federation(federation_config);
            Some(crate::federation::Federation::new(
                &config.server_name,
                federation_config,
                Arc::clone(&signing_key),
                keys::load_retired(&config.data_dir)?,
            )?)
        }
        None => None,
    };
    let state = AppState::new(Shared {
        accounts,
        federation: federation.clone(),
        e2ee,
        rooms: crate::rooms::Rooms::new(
            pool.clone(),
            &config.server_name,
            config.client.send_batch_max,
            federation.clone(),
        ),
        realtime: crate::realtime::Hub::new(std::time::Duration::from_secs(
            config.client.typing_timeout_secs,
        )),
        presence: crate::realtime::presence::Presence::new(
            pool.clone(),
            std::time::Duration::from_secs(config.client.presence_grace_secs),
        ),
        config: Arc::new(config),
        db: pool,
        metrics: Metrics::new()?,
        signing_key,
    });
    let shutdown = CancellationToken::new();
    let grace = state.config.grace_period();
    let mut listeners = JoinSet::new();

    // LISTEN before the listener opens: a connection's catch-up reads what is committed, and
    // everything committed afterwards must reach it live.
    // The same LISTEN connection carries the ends of sessions, which empty the cache of live
    // sessions (used only while that connection is up).
    let realtime_worker = state
        .realtime
        .start_listener(
            state.db.clone(),
            state.rooms.clone(),
            state.accounts.live_sessions().clone(),
            shutdown.clone(),
        )
        .await
        .map_err(db::DbError::Query)?;
    // Registered before the listener opens, so every connection has its process row.
    let presence_worker = state
        .presence
        .start(shutdown.clone())
        .await
        .map_err(db::DbError::Query)?;

    let client_listen = state.config.client.listen;
    let client = tokio::net::TcpListener::bind(client_listen)
        .await
        .map_err(|source| StartError::Bind {
            key: "client.listen",
            addr: client_listen,
            source,
        })?;
    let client_addr = client.local_addr().map_err(|source| StartError::Bind {
        key: "client.listen",
        addr: client_listen,
        source,
    })?;
    // No Nagle delay: a WebSocket writes several small frames in a row (events, then `sent`),
    // and a frame held back until the client's delayed ACK (40 ms on Linux) would stall it.
    let client = client.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let app = http::client_router(state.clone());
    let token = shutdown.clone();
    listeners.spawn(async move {
        axum::serve(
            client,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(token.cancelled_owned())
        .await
    });

    let federation_addr = match state.config.federation.clone() {
        Some(federation) => Some(
            start_federation(
                &federation,
                http::federation_router(state.clone()),
                &shutdown,
                grace,
                &mut listeners,
            )
            .await?,
        ),
        None => None,
    };

    let mut workers = vec![
        mail::spawn_worker(
            mailer,
            state.db.clone(),
            state.metrics.clone(),
            shutdown.clone(),
        ),
        realtime_worker,
        presence_worker,
    ];
    if let Some(federation) = &state.federation {
        workers.push(crate::federation::outbox::spawn_worker(
            federation.clone(),
            state.db.clone(),
            shutdown.clone(),
        ));
    }

    tracing::info!(%client_addr, ?federation_addr, "listening");
    Ok(RunningServer {
        client_addr,
        federation_addr,
        state,
        shutdown,
        listeners,
        workers,
        grace,
    })
}

async fn start_federation(
    config: &FederationConfig,
    app: Router,
    shutdown: &CancellationToken,
    grace: Duration,
    listeners: &mut JoinSet<std::io::Result<()>>,
) -> Result<SocketAddr, StartError> {
    let tls = rustls_config(config)?;
    let bind_err = |source| StartError::Bind {
        key: "federation.listen",
        addr: config.listen,
        source,
    };
    let listener = std::net::TcpListener::bind(config.listen).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp_rustls(listener, tls).handle(handle.clone());
    let token = shutdown.clone();
    tokio::spawn(async move {
        token.cancelled().await;
        handle.graceful_shutdown(Some(grace));
    });
    listeners.spawn(async move { server.serve(app.into_make_service()).await });
    Ok(addr)
}

fn rustls_config(
    config: &FederationConfig,
) -> Result<axum_server::tls_rustls::RustlsConfig, StartError> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};
    let certs = CertificateDer::pem_file_iter(&config.tls_cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            StartError::Tls(format!(
                "config key `federation.tls_cert`: {}: {e}",
                config.tls_cert.display()
            ))
        })?;
    let key = PrivateKeyDer::from_pem_file(&config.tls_key).map_err(|e| {
        StartError::Tls(format!(
            "config key `federation.tls_key`: {}: {e}",
            config.tls_key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartError::Tls(format!("certificate and key do not fit: {e}")))?;
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(axum_server::tls_rustls::RustlsConfig::from_config(
        Arc::new(server_config),
    ))
}

impl RunningServer {
    /// Cancelling this token starts a graceful shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the listeners and the background workers have stopped. After shutdown
    /// starts, requests in flight and the mail being sent get the configured grace period; then
    /// the server stops regardless.
    pub async fn wait(mut self) -> std::io::Result<()> {
        let shutdown = self.shutdown.clone();
        let grace = self.grace;
        let deadline = async move {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        let workers = std::mem::take(&mut self.workers);
        let aborts: Vec<_> = workers.iter().map(JoinHandle::abort_handle).collect();
        let drained = async {
            let mut result = Ok(());
            while let Some(joined) = self.listeners.join_next().await {
                match joined {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => result = Err(e),
                    Err(e) => result = Err(std::io::Error::other(e)),
                }
                // One listener failing stops the others.
                self.shutdown.cancel();
            }
            for worker in workers {
                let _ = worker.await;
            }
            result
        };
        let result = tokio::select! {
            result = drained => result,
            () = deadline => {
                tracing::warn!(?grace, "grace period over; dropping unfinished requests");
                Ok(())
            }
        };
        // Workers still busy after the grace period are stopped where they are (a mail being
        // sent is sent again later: delivery is at least once). They hold pool connections,
        // which `close` would otherwise wait for.
        for abort in aborts {
            abort.abort();
        }
        self.state.db.close().await;
        result
    }
}
