//! Typed configuration: a TOML file with `PARLEY_`-prefixed environment overrides, validated
//! once at start. Nested keys use `__` in the environment: `PARLEY_DATABASE__URL` sets
//! `database.url`. An unknown key is an error, so a typo never silently falls back to a default.

use std::{
    collections::BTreeMap,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use figment::{
    Figment,
    error::Kind,
    providers::{Format as _, Serialized, Toml},
};
use ipnet::IpNet;
use parley_federation::{AddressPolicy, Pins, ServerName};
use serde::Deserialize;
use url::Url;

/// Why the configuration cannot be used. Every message names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing or unreadable.
    #[error("cannot read config file {path}")]
    Read {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file or the environment does not parse into the typed config (unknown key, wrong
    /// type, missing key). figment's message names the key.
    #[error("{0}")]
    Parse(String),
    /// A value parses but is not acceptable.
    #[error("config key `{key}`: {reason}")]
    Invalid {
        /// The dotted key, as written in the TOML file.
        key: &'static str,
        /// What is wrong with it and what would be right.
        reason: String,
    },
}

/// The whole configuration of one homeserver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The DNS name in every identifier on this server (`@user:server_name`). Never changes.
    pub server_name: String,
    /// The URL users reach the web app and the client API at.
    pub public_base_url: Url,
    /// Where the server keeps its keys and local files.
    pub data_dir: PathBuf,
    /// The built web app (`web/dist`), served at `/`.
    #[serde(default = "default_web_root")]
    pub web_root: PathBuf,
    /// The client listener.
    pub client: ClientConfig,
    /// The federation listener; absent means this server does not federate.
    #[serde(default)]
    pub federation: Option<FederationConfig>,
    /// The PostgreSQL database.
    pub database: DatabaseConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Shutdown behaviour.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Accounts, passwords and tokens.
    #[serde(default)]
    pub accounts: AccountsConfig,
    /// Outgoing mail.
    #[serde(default)]
    pub mail: MailConfig,
}

/// `[accounts]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsConfig {
    /// bcrypt cost factor (10 to 16); each step doubles the work.
    #[serde(default = "default_bcrypt_cost")]
    pub bcrypt_cost: u32,
    /// How many password hashes may run at once (default: the number of CPUs).
    #[serde(default)]
    pub hashing_threads: Option<usize>,
    /// Lifetime of an access token, in seconds.
    #[serde(default = "default_access_token_secs")]
    pub access_token_secs: u64,
    /// Absolute lifetime of a session's refresh tokens, in days, however often they rotate.
    #[serde(default = "default_refresh_token_days")]
    pub refresh_token_days: u64,
    /// How long an already-rotated refresh token is still answered with the same new token
    /// (concurrent refreshes from one client), in seconds. Reuse after that ends the session.
    #[serde(default = "default_refresh_reuse_grace_secs")]
    pub refresh_reuse_grace_secs: u64,
    /// Lifetime of an email verification link, in hours.
    #[serde(default = "default_email_token_hours")]
    pub email_token_hours: u64,
    /// Sign-up, sign-in, resend and reset requests allowed per client IP and minute, sustained.
    #[serde(default = "default_rate_per_minute")]
    pub rate_limit_per_minute: u32,
    /// How many of those requests one IP may make at once before the rate applies.
    #[serde(default = "default_rate_burst")]
    pub rate_limit_burst: u32,
}

/// `[mail]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The sender of every mail, e.g. `Parley <parley@example.org>`.
    #[serde(default = "default_mail_from")]
    pub from: String,
    /// The SMTP relay; absent means mail is written to `<data_dir>/mailbox` and its links are
    /// logged (for local use).
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
}

/// `[mail.smtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name of the relay.
    pub host: String,
    /// Port (465 for `tls`, 587 for `starttls`).
    pub port: u16,
    /// `tls` (implicit TLS), `starttls`, or `plain` (only to a relay on loopback).
    pub security: SmtpSecurity,
    /// User name, if the relay wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password; never printed.
    #[serde(default)]
    pub password: Option<Secret>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// TLS from the first byte.
    Tls,
    /// Plain, upgraded with STARTTLS (required).
    Starttls,
    /// No TLS: allowed only for a relay on the same machine.
    Plain,
}

/// A secret string that never appears in `Debug` output.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            bcrypt_cost: default_bcrypt_cost(),
            hashing_threads: None,
            access_token_secs: default_access_token_secs(),
            refresh_token_days: default_refresh_token_days(),
            refresh_reuse_grace_secs: default_refresh_reuse_grace_secs(),
            email_token_hours: default_email_token_hours(),
            rate_limit_per_minute: default_rate_per_minute(),
            rate_limit_burst: default_rate_burst(),
        }
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            from: default_mail_from(),
            smtp: None,
        }
    }
}

fn default_bcrypt_cost() -> u32 {
    12
}
fn default_access_token_secs() -> u64 {
    15 * 60
}
fn default_refresh_token_days() -> u64 {
    30
}
fn default_refresh_reuse_grace_secs() -> u64 {
    30
}
fn default_email_token_hours() -> u64 {
    24
}
fn default_presence_grace_secs() -> u64 {
    5
}
fn default_typing_timeout_secs() -> u64 {
    30
}
fn default_send_batch_max() -> usize {
    256
}
fn default_rate_per_minute() -> u32 {
    10
}
fn default_rate_burst() -> u32 {
    10
}
fn default_mail_from() -> String {
    "Parley <parley@localhost>".to_owned()
}

/// `[client]`: the listener for browsers and client apps (HTTP and WebSocket, and the web app).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Address and port; port 0 picks a free one (the chosen URL is printed).
    pub listen: SocketAddr,
    /// Reverse proxies whose `X-Forwarded-For` is believed. A request from any other peer is
    /// attributed to the peer's own address, whatever headers it sends.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Further origins (besides `public_base_url`'s) whose pages may open the WebSocket, such
    /// as a development server: `["http://localhost:5173"]`.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// A typing notice lapses this many seconds after its last refresh.
    #[serde(default = "default_typing_timeout_secs")]
    pub typing_timeout_secs: u64,
    /// Someone whose last connection closed stays online this many seconds (a reconnect in
    /// between is not reported).
    #[serde(default = "default_presence_grace_secs")]
    pub presence_grace_secs: u64,
    /// The most client sends committed in one transaction (group commit under load; a lone
    /// send is committed at once). 1 commits every send on its own.
    #[serde(default = "default_send_batch_max")]
    pub send_batch_max: usize,
}

/// `[federation]`: the HTTPS listener for other homeservers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    /// Address and port (8448 by convention).
    pub listen: SocketAddr,
    /// PEM certificate chain for `server_name`.
    pub tls_cert: PathBuf,
    /// PEM private key of that certificate.
    pub tls_key: PathBuf,
    /// Allow outbound connections to loopback, private, link-local and other special address
    /// ranges (a local demo or a private network). Pinned addresses are never judged.
    #[serde(default)]
    pub allow_private_addresses: bool,
    /// Networks (CIDR) outbound connections may reach whatever their class, e.g. `10.0.0.0/8`.
    #[serde(default)]
    pub allowed_networks: Vec<String>,
    /// Server names (without port) pinned to socket addresses (sharing one port): discovery is
    /// skipped for them. `{ "org-b.example" = ["127.0.0.1:8449"] }`.
    #[serde(default)]
    pub pins: BTreeMap<String, Vec<SocketAddr>>,
    /// PEM files of further CAs trusted for peers' certificates (a deployment's own CA), read at
    /// start. The web PKI roots stay trusted.
    #[serde(default)]
    pub extra_ca_files: Vec<PathBuf>,
    /// If set, only these servers may federate with us (both directions).
    #[serde(default)]
    pub allow_servers: Option<Vec<String>>,
    /// Servers that may not federate with us (both directions).
    #[serde(default)]
    pub deny_servers: Vec<String>,
    /// Further authorities this server answers as, besides `server_name`: the `host:port` its
    /// `.well-known` delegation points to, or `server_name:port` when peers pin it to a port
    /// other than 443.
    #[serde(default)]
    pub also_known_as: Vec<String>,
    /// The largest request body accepted from a peer, in bytes.
    #[serde(default = "default_federation_max_request_bytes")]
    pub max_request_bytes: usize,
    /// Authenticated requests one peer server may make per minute (sustained; the same number
    /// may come at once).
    #[serde(default = "default_federation_requests_per_minute")]
    pub requests_per_minute: u32,
}

impl FederationConfig {
    /// The outbound address policy.
    pub fn address_policy(&self) -> AddressPolicy {
        AddressPolicy {
            allow_private: self.allow_private_addresses,
            // Checked by `validate`.
            allowed_networks: self
                .allowed_networks
                .iter()
                .filter_map(|n| n.parse::<IpNet>().ok())
                .collect(),
        }
    }

    /// The pins, as the federation client takes them.
    pub fn pins(&self) -> Pins {
        let mut pins = Pins::new();
        for (name, addresses) in &self.pins {
            // Checked by `validate`.
            if let Ok(name) = ServerName::parse(name) {
                let _ = pins.insert(&name, addresses.clone());
            }
        }
        pins
    }

    /// The authorities requests to this server may be addressed to.
    pub fn own_authorities(&self, server_name: &str) -> Vec<ServerName> {
        std::iter::once(server_name)
            .chain(self.also_known_as.iter().map(String::as_str))
            .filter_map(|name| ServerName::parse(name).ok())
            .collect()
    }

    /// Whether this server federates with `server`: not denied, and allowed if there is an
    /// allow-list. Names are compared in normal form.
    pub fn peer_allowed(&self, server: &ServerName) -> bool {
        let listed = |list: &[String]| {
            list.iter()
                .any(|entry| ServerName::parse(entry).is_ok_and(|entry| &entry == server))
        };
        !listed(&self.deny_servers) && self.allow_servers.as_deref().is_none_or(listed)
    }

    fn validate(&self, client_listen: SocketAddr) -> Result<(), ConfigError> {
        let invalid = |key, reason: String| Err(ConfigError::Invalid { key, reason });
        if self.listen == client_listen && self.listen.port() != 0 {
            return invalid("federation.listen", "must differ from client.listen".into());
        }
        for (key, path) in [
            ("federation.tls_cert", &self.tls_cert),
            ("federation.tls_key", &self.tls_key),
        ] {
            if !path.is_file() {
                return invalid(key, format!("{} is not a readable file", path.display()));
            }
        }
        for path in &self.extra_ca_files {
            if !path.is_file() {
                return invalid(
                    "federation.extra_ca_files",
                    format!("{} is not a readable file", path.display()),
                );
            }
        }
        for net in &self.allowed_networks {
            if net.parse::<IpNet>().is_err() {
                return invalid(
                    "federation.allowed_networks",
                    format!("`{net}` is not a network like 10.0.0.0/8"),
                );
            }
        }
        let mut pins = Pins::new();
        for (name, addresses) in &self.pins {
            let ok = ServerName::parse(name).is_ok_and(|name| {
                name.port().is_none() && pins.insert(&name, addresses.clone()).is_ok()
            });
            if !ok {
                return invalid(
                    "federation.pins",
                    format!(
                        "`{name}` must be a server name without port, pinned to at least one \
                         address, all with the same port, and pinned once"
                    ),
                );
            }
        }
        let lists: [(&'static str, &[String]); 3] = [
            (
                "federation.allow_servers",
                self.allow_servers.as_deref().unwrap_or_default(),
            ),
            ("federation.deny_servers", &self.deny_servers),
            ("federation.also_known_as", &self.also_known_as),
        ];
        for (key, names) in lists {
            for name in names {
                if ServerName::parse(name).is_err() {
                    return invalid(key, format!("`{name}` is not a server name"));
                }
            }
        }
        if !(1024..=(256 << 20)).contains(&self.max_request_bytes) {
            return invalid(
                "federation.max_request_bytes",
                "must be between 1024 and 268435456".into(),
            );
        }
        if !(1..=1_000_000).contains(&self.requests_per_minute) {
            return invalid(
                "federation.requests_per_minute",
                "must be between 1 and 1000000".into(),
            );
        }
        Ok(())
    }
}

fn default_federation_max_request_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_federation_requests_per_minute() -> u32 {
    600
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// A `postgres://` URL. May hold a password, so it never appears in `Debug` or logs.
    pub url: SecretUrl,
    /// The most connections this process opens.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing.
    #[serde(default = "default_acquire_timeout_secs")]
    pub acquire_timeout_secs: u64,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,parley_homeserver=debug`.
    #[serde(default = "default_log_filter")]
    pub filter: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object a line, for log collectors.
    Json,
}

/// `[shutdown]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// After SIGTERM or SIGINT, how long in-flight requests may take before the process exits
    /// anyway.
    #[serde(default = "default_grace_secs")]
    pub grace_period_secs: u64,
}

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `GET /metrics` on the client listener (block it at the reverse proxy).
    #[serde(default = "default_true")]
    pub enabled: bool,
}

/// A database URL whose password must not be printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// The URL, for the connection pool only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Url::parse(&self.0) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("redacted"));
                }
                // Query parameters may carry a password too.
                if url.query().is_some_and(|q| q.contains("password")) {
                    url.set_query(Some("redacted"));
                }
                write!(f, "{url}")
            }
            Err(_) => f.write_str("<unparsable URL>"),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::default(),
            filter: default_log_filter(),
        }
    }
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            grace_period_secs: default_grace_secs(),
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

fn default_web_root() -> PathBuf {
    PathBuf::from("web/dist")
}
fn default_max_connections() -> u32 {
    10
}
fn default_acquire_timeout_secs() -> u64 {
    5
}
fn default_log_filter() -> String {
    "info".to_owned()
}
fn default_grace_secs() -> u64 {
    30
}
fn default_true() -> bool {
    true
}

impl Config {
    /// Reads `path`, applies `PARLEY_*` variables from `env`, and validates the result.
    pub fn load(path: &Path, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_sources(&text, env)
    }

    /// Like [`Config::load`] from the process environment.
    pub fn load_from_process_env(path: &Path) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load(path, &env)
    }

    /// Parses TOML text with environment overrides and validates the result.
    pub fn from_sources(toml: &str, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut figment = Figment::new().merge(Toml::string(toml));
        // figment's own Env provider reads the process environment; feeding it pairs keeps
        // config loading free of globals, so tests can load many configs side by side.
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("PARLEY_") else {
                continue;
            };
            let key = rest.to_ascii_lowercase().replace("__", ".");
            figment = figment.merge(Serialized::global(&key, parse_env_value(value)));
        }
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Parse(describe(&e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        validate_server_name(&self.server_name).map_err(|reason| ConfigError::Invalid {
            key: "server_name",
            reason,
        })?;
        if !matches!(self.public_base_url.scheme(), "http" | "https")
            || self.public_base_url.host_str().is_none()
        {
            return Err(ConfigError::Invalid {
                key: "public_base_url",
                reason: "must be an http:// or https:// URL with a host".into(),
            });
        }
        if self.public_base_url.query().is_some() || self.public_base_url.fragment().is_some() {
            return Err(ConfigError::Invalid {
                key: "public_base_url",
                reason: "must not carry a query or a fragment".into(),
            });
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                key: "data_dir",
                reason: "must not be empty".into(),
            });
        }
        if !self.web_root.join("index.html").is_file() {
            return Err(ConfigError::Invalid {
                key: "web_root",
                reason: format!(
                    "{} holds no index.html; build the web app (`npm run build` in web/) or point \
                     this at its dist folder",
                    self.web_root.display()
                ),
            });
        }
        let url = self.database.url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::Invalid {
                key: "database.url",
                reason: "must be a postgres:// or postgresql:// URL".into(),
            });
        }
        if !(1..=1000).contains(&self.database.max_connections) {
            return Err(ConfigError::Invalid {
                key: "database.max_connections",
                reason: "must be between 1 and 1000".into(),
            });
        }
        if !(1..=300).contains(&self.database.acquire_timeout_secs) {
            return Err(ConfigError::Invalid {
                key: "database.acquire_timeout_secs",
                reason: "must be between 1 and 300".into(),
            });
        }
        if !(1..=3600).contains(&self.shutdown.grace_period_secs) {
            return Err(ConfigError::Invalid {
                key: "shutdown.grace_period_secs",
                reason: "must be between 1 and 3600".into(),
            });
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.filter).is_err() {
            return Err(ConfigError::Invalid {
                key: "log.filter",
                reason: "is not a valid tracing filter (for example `info` or `info,sqlx=warn`)"
                    .into(),
            });
        }
        if !(1..=300).contains(&self.client.typing_timeout_secs) {
            return Err(ConfigError::Invalid {
                key: "client.typing_timeout_secs",
                reason: "must be between 1 and 300".into(),
            });
        }
        if self.client.presence_grace_secs > 300 {
            return Err(ConfigError::Invalid {
                key: "client.presence_grace_secs",
                reason: "must be at most 300".into(),
            });
        }
        if !(1..=1000).contains(&self.client.send_batch_max) {
            return Err(ConfigError::Invalid {
                key: "client.send_batch_max",
                reason: "must be between 1 and 1000".into(),
            });
        }
        for origin in &self.client.allowed_origins {
            let ok = Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.path() == "/" && u.query().is_none()
            });
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "client.allowed_origins",
                    reason: format!("`{origin}` is not an origin like https://chat.example.org"),
                });
            }
        }
        self.validate_accounts()?;
        self.validate_mail()?;
        if let Some(federation) = &self.federation {
            federation.validate(self.client.listen)?;
        }
        Ok(())
    }

    fn validate_accounts(&self) -> Result<(), ConfigError> {
        let a = &self.accounts;
        let checks: [(&'static str, bool, &str); 8] = [
            (
                "accounts.rate_limit_per_minute",
                (1..=60_000).contains(&a.rate_limit_per_minute),
                "must be between 1 and 60000",
            ),
            (
                "accounts.rate_limit_burst",
                (1..=100_000).contains(&a.rate_limit_burst),
                "must be between 1 and 100000",
            ),
            (
                "accounts.bcrypt_cost",
                (10..=16).contains(&a.bcrypt_cost),
                "must be between 10 and 16",
            ),
            (
                "accounts.hashing_threads",
                a.hashing_threads.is_none_or(|n| (1..=256).contains(&n)),
                "must be between 1 and 256",
            ),
            (
                "accounts.access_token_secs",
                (60..=3600).contains(&a.access_token_secs),
                "must be between 60 and 3600",
            ),
            (
                "accounts.refresh_token_days",
                (1..=365).contains(&a.refresh_token_days),
                "must be between 1 and 365",
            ),
            (
                "accounts.refresh_reuse_grace_secs",
                a.refresh_reuse_grace_secs <= 300,
                "must be at most 300",
            ),
            (
                "accounts.email_token_hours",
                (1..=168).contains(&a.email_token_hours),
                "must be between 1 and 168",
            ),
        ];
        for (key, ok, reason) in checks {
            if !ok {
                return Err(ConfigError::Invalid {
                    key,
                    reason: reason.to_owned(),
                });
            }
        }
        Ok(())
    }

    fn validate_mail(&self) -> Result<(), ConfigError> {
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::Invalid {
                key: "mail.from",
                reason:
                    "must be a mail address, optionally with a name: `Parley <parley@example.org>`"
                        .into(),
            });
        }
        if let Some(smtp) = &self.mail.smtp {
            if smtp.host.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "mail.smtp.host",
                    reason: "must not be empty".into(),
                });
            }
            let loopback = smtp.host == "localhost"
                || smtp
                    .host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if smtp.security == SmtpSecurity::Plain && !loopback {
                return Err(ConfigError::Invalid {
                    key: "mail.smtp.security",
                    reason: "`plain` is allowed only for a relay on this machine; use `tls` or `starttls`"
                        .into(),
                });
            }
            if smtp.username.is_some() != smtp.password.is_some() {
                return Err(ConfigError::Invalid {
                    key: "mail.smtp.password",
                    reason: "username and password go together".into(),
                });
            }
        }
        Ok(())
    }

    /// How long shutdown waits for in-flight requests.
    pub fn grace_period(&self) -> Duration {
        Duration::from_secs(self.shutdown.grace_period_secs)
    }
}

/// A server name is a lower-case DNS name: labels of `a-z 0-9 -`, not starting or ending with
/// `-`, at most 63 characters each and 253 in all. No port, no IP literal, no trailing dot, so
/// that one server has exactly one spelling in identifiers and signatures.
pub fn validate_server_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 253 {
        return Err("must be a DNS name of 1 to 253 characters".into());
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(format!(
                "`{name}` is not a lower-case DNS name (labels of a-z, 0-9 and -, no port)"
            ));
        }
    }
    if name
        .split('.')
        .all(|label| label.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("must be a DNS name, not an IP address".into());
    }
    Ok(())
}

/// Environment values are strings; numbers and booleans are read as such so that
/// `PARLEY_DATABASE__MAX_CONNECTIONS=4` fills a number.
fn parse_env_value(value: &str) -> figment::value::Value {
    value
        .parse::<figment::value::Value>()
        .unwrap_or_else(|_| value.into())
}

fn describe(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| {
            let mut path = e.path.clone();
            // For a missing key figment names its parent; name the key itself.
            if let Kind::MissingField(field) = &e.kind {
                path.push(field.to_string());
            }
            let key = path.join(".");
            if key.is_empty() {
                e.kind.to_string()
            } else {
                format!("config key `{key}`: {}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("index.html"), "<!doctype html>").unwrap();
            Self { dir }
        }

        fn toml(&self) -> String {
            format!(
                "server_name = \"org-a.example\"\npublic_base_url = \"https://org-a.example\"\n\
                 data_dir = \"/var/lib/parley\"\nweb_root = {:?}\n[client]\nlisten = \
                 \"127.0.0.1:8008\"\n[database]\nurl = \"postgres://parley:s3cret@db/parley\"\n",
                self.dir.path()
            )
        }
    }

    fn error(toml: &str, env: &[(&str, &str)]) -> String {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_sources(toml, &env).unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_config_gets_defaults() {
        let f = Fixture::new();
        let config = Config::from_sources(&f.toml(), &[]).unwrap();
        assert_eq!(config.server_name, "org-a.example");
        assert_eq!(config.database.max_connections, 10);
        assert_eq!(config.log.format, LogFormat::Human);
        assert_eq!(config.grace_period(), Duration::from_secs(30));
        assert!(config.metrics.enabled);
        assert!(config.federation.is_none());
    }

    #[test]
    fn environment_overrides_nested_keys_with_types() {
        let f = Fixture::new();
        let env = [
            (
                "PARLEY_DATABASE__MAX_CONNECTIONS".to_owned(),
                "3".to_owned(),
            ),
            ("PARLEY_LOG__FORMAT".to_owned(), "json".to_owned()),
            ("PARLEY_METRICS__ENABLED".to_owned(), "false".to_owned()),
            ("OTHER_VARIABLE".to_owned(), "ignored".to_owned()),
        ];
        let config = Config::from_sources(&f.toml(), &env).unwrap();
        assert_eq!(config.database.max_connections, 3);
        assert_eq!(config.log.format, LogFormat::Json);
        assert!(!config.metrics.enabled);
    }

    #[test]
    fn errors_name_the_key() {
        let f = Fixture::new();
        let toml = f.toml();
        assert!(error(&format!("{toml}[log]\nformat = \"xml\"\n"), &[]).contains("`log.format`"));
        assert!(
            error(
                &toml.replace("org-a.example\"\npublic", "org-a.example:8448\"\npublic"),
                &[]
            )
            .contains("`server_name`")
        );
        assert!(
            error(&toml, &[("PARLEY_SHUTDOWN__GRACE_PERIOD_SECS", "0")])
                .contains("`shutdown.grace_period_secs`")
        );
        assert!(
            error(&toml.replace("https://org-a", "ftp://org-a"), &[]).contains("`public_base_url`")
        );
        assert!(error(&toml.replace("postgres://", "mysql://"), &[]).contains("`database.url`"));
        let missing_web = toml.replace(&format!("{:?}", f.dir.path()), "\"/nonexistent\"");
        assert!(error(&missing_web, &[]).contains("`web_root`"));
        let federation = format!(
            "{toml}[federation]\nlisten = \"0.0.0.0:8448\"\ntls_cert = \"/nope.pem\"\ntls_key = \
             \"/nope.key\"\n"
        );
        assert!(error(&federation, &[]).contains("`federation.tls_cert`"));
        assert!(error(&toml, &[("PARLEY_LOG__FILTER", "info,[")]).contains("`log.filter`"));
        for bad in ["0", "1001"] {
            assert!(
                error(&toml, &[("PARLEY_CLIENT__SEND_BATCH_MAX", bad)])
                    .contains("`client.send_batch_max`")
            );
        }
    }

    #[test]
    fn the_send_batch_size_defaults_and_overrides() {
        let f = Fixture::new();
        let config = Config::from_sources(&f.toml(), &[]).unwrap();
        assert_eq!(config.client.send_batch_max, 256);
        let env = [("PARLEY_CLIENT__SEND_BATCH_MAX".to_owned(), "1".to_owned())];
        let config = Config::from_sources(&f.toml(), &env).unwrap();
        assert_eq!(config.client.send_batch_max, 1);
    }

    fn federation_toml(f: &Fixture, extra: &str) -> String {
        let cert = f.dir.path().join("index.html");
        format!(
            "{}[federation]\nlisten = \"127.0.0.1:8448\"\ntls_cert = {cert:?}\ntls_key = \
             {cert:?}\n{extra}",
            f.toml()
        )
    }

    #[test]
    fn the_federation_section_parses_with_defaults_and_overrides() {
        let f = Fixture::new();
        let ca = f.dir.path().join("index.html");
        let extra = format!(
            "allow_private_addresses = true\nallowed_networks = [\"10.0.0.0/8\"]\n\
             extra_ca_files = [{ca:?}]\nallow_servers = [\"Org-B.example\"]\n\
             deny_servers = [\"evil.example\"]\nalso_known_as = [\"fed.org-a.example:443\"]\n\
             [federation.pins]\n\"org-b.example\" = [\"127.0.0.1:8449\"]\n"
        );
        let config = Config::from_sources(&federation_toml(&f, &extra), &[]).unwrap();
        let fed = config.federation.unwrap();
        assert_eq!(fed.max_request_bytes, 4 * 1024 * 1024);
        assert_eq!(fed.requests_per_minute, 600);
        assert!(fed.address_policy().allow_private);
        assert!(fed.address_policy().allows("10.1.2.3".parse().unwrap()));
        assert_eq!(
            fed.pins().get_str("org-b.example").unwrap(),
            ["127.0.0.1:8449".parse().unwrap()]
        );
        let name = |n: &str| ServerName::parse(n).unwrap();
        assert!(fed.peer_allowed(&name("org-b.example")));
        assert!(!fed.peer_allowed(&name("org-c.example")));
        assert_eq!(
            fed.own_authorities("org-a.example"),
            [name("org-a.example"), name("fed.org-a.example:443")]
        );

        let env = [(
            "PARLEY_FEDERATION__REQUESTS_PER_MINUTE".to_owned(),
            "5".to_owned(),
        )];
        let config = Config::from_sources(&federation_toml(&f, ""), &env).unwrap();
        let fed = config.federation.unwrap();
        assert_eq!(fed.requests_per_minute, 5);
        assert!(!fed.address_policy().allows("10.1.2.3".parse().unwrap()));
        assert!(fed.peer_allowed(&name("anyone.example")));
    }

    #[test]
    fn federation_errors_name_the_key() {
        let f = Fixture::new();
        for (extra, key) in [
            (
                "allowed_networks = [\"10.0.0.0\"]\n",
                "`federation.allowed_networks`",
            ),
            (
                "extra_ca_files = [\"/nope.pem\"]\n",
                "`federation.extra_ca_files`",
            ),
            (
                "deny_servers = [\"bad name\"]\n",
                "`federation.deny_servers`",
            ),
            ("allow_servers = [\"a..b\"]\n", "`federation.allow_servers`"),
            (
                "also_known_as = [\"x:99999\"]\n",
                "`federation.also_known_as`",
            ),
            ("max_request_bytes = 10\n", "`federation.max_request_bytes`"),
            (
                "requests_per_minute = 0\n",
                "`federation.requests_per_minute`",
            ),
            ("allow_privat_addresses = true\n", "allow_privat_addresses"),
            (
                "[federation.pins]\n\"org-b.example:1\" = [\"127.0.0.1:1\"]\n",
                "`federation.pins`",
            ),
            (
                "[federation.pins]\n\"org-b.example\" = [\"127.0.0.1:1\", \"127.0.0.2:2\"]\n",
                "`federation.pins`",
            ),
            (
                "[federation.pins]\n\"org-b.example\" = []\n",
                "`federation.pins`",
            ),
        ] {
            let message = error(&federation_toml(&f, extra), &[]);
            assert!(message.contains(key), "{extra}: {message}");
        }
    }

    #[test]
    fn server_names_are_lower_case_dns_names() {
        for good in ["localhost", "org-a.example", "chat.example.org", "a1.b2"] {
            assert!(validate_server_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Org.example",
            "org_a.example",
            "-a.example",
            "a..b",
            "a.",
            "a:8448",
            "10.0.0.1",
        ] {
            assert!(validate_server_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_database_password_never_prints() {
        let f = Fixture::new();
        let config = Config::from_sources(&f.toml(), &[]).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(
            debug.contains("postgres://parley:redacted@db/parley"),
            "{debug}"
        );
    }

    #[test]
    fn the_example_config_is_valid() {
        let f = Fixture::new();
        let example = include_str!("../../parley.example.toml");
        // Point the paths of the example at files that exist here.
        let cert = f.dir.path().join("cert.pem");
        std::fs::write(&cert, "").unwrap();
        let example = example
            .replace("\"web/dist\"", &format!("{:?}", f.dir.path()))
            .replace("\"/etc/parley/tls/fullchain.pem\"", &format!("{cert:?}"))
            .replace("\"/etc/parley/tls/privkey.pem\"", &format!("{cert:?}"));
        let config = Config::from_sources(&example, &[]).unwrap();
        assert_eq!(config.server_name, "chat.example.org");
        assert!(config.federation.is_some());
    }
}
