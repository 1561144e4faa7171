//! Homeservers for tests: in this process, or as a real `parley` process.

use std::{
    fmt::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail};
use parley_client_api::client::Client;
use parley_homeserver::{AppState, Config, RunningServer};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::pg::TestDatabase;

/// `[federation]` keys beyond the listener.
#[derive(Debug, Clone, Default)]
pub struct FederationOptions {
    /// `allow_private_addresses`.
    pub allow_private_addresses: bool,
    /// `pins`: server name to one address.
    pub pins: Vec<(String, SocketAddr)>,
    /// `extra_ca_files`.
    pub extra_ca_files: Vec<PathBuf>,
    /// `also_known_as`.
    pub also_known_as: Vec<String>,
    /// `deny_servers`.
    pub deny_servers: Vec<String>,
    /// `requests_per_minute` (the server's default if `None`).
    pub requests_per_minute: Option<u32>,
}

/// The settings a test chooses; everything else gets test defaults.
#[derive(Debug, Clone)]
pub struct TestConfig {
    /// `server_name`.
    pub server_name: String,
    /// `public_base_url`.
    pub public_base_url: String,
    /// `data_dir`.
    pub data_dir: PathBuf,
    /// `web_root`.
    pub web_root: PathBuf,
    /// `database.url`.
    pub database_url: String,
    /// `shutdown.grace_period_secs`.
    pub grace_period_secs: u64,
    /// `[federation]`: listen address, certificate and key files.
    pub federation: Option<(String, PathBuf, PathBuf)>,
    /// The other `[federation]` keys (written only with `federation`).
    pub federation_options: FederationOptions,
    /// `[mail.smtp]`: a relay on loopback, spoken to without TLS (`security = "plain"`). Without
    /// it, mail goes to the mailbox folder in `data_dir`.
    pub mail_relay: Option<SocketAddr>,
    /// `accounts.bcrypt_cost` (the lowest allowed, to keep tests fast).
    pub bcrypt_cost: u32,
    /// `accounts.refresh_reuse_grace_secs`.
    pub refresh_reuse_grace_secs: u64,
    /// `accounts.rate_limit_per_minute` (high by default: tests sign in often from one IP).
    pub rate_limit_per_minute: u32,
    /// `accounts.rate_limit_burst`.
    pub rate_limit_burst: u32,
    /// `client.typing_timeout_secs`.
    pub typing_timeout_secs: u64,
    /// `client.presence_grace_secs`.
    pub presence_grace_secs: u64,
}

impl TestConfig {
    /// Defaults for a server named `server_name` with its files below `dir`.
    pub fn new(server_name: &str, dir: &Path, web_root: &Path, database: &TestDatabase) -> Self {
        Self {
            server_name: server_name.to_owned(),
            public_base_url: format!("http://{server_name}"),
            data_dir: dir.join("data"),
            web_root: web_root.to_owned(),
            database_url: database.url().to_owned(),
            grace_period_secs: 10,
            federation: None,
            federation_options: FederationOptions::default(),
            mail_relay: None,
            bcrypt_cost: 10,
            refresh_reuse_grace_secs: 30,
            rate_limit_per_minute: 60_000,
            rate_limit_burst: 100_000,
            typing_timeout_secs: 30,
            presence_grace_secs: 5,
        }
    }

    /// The config file's text.
    pub fn to_toml(&self) -> String {
        let quote = |s: &str| serde_json::Value::from(s).to_string();
        let path = |p: &Path| quote(&p.to_string_lossy());
        let mut text = String::new();
        let _ = writeln!(text, "server_name = {}", quote(&self.server_name));
        let _ = writeln!(text, "public_base_url = {}", quote(&self.public_base_url));
        let _ = writeln!(text, "data_dir = {}", path(&self.data_dir));
        let _ = writeln!(text, "web_root = {}", path(&self.web_root));
        let _ = writeln!(
            text,
            "[client]\nlisten = \"127.0.0.1:0\"\ntyping_timeout_secs = {}\npresence_grace_secs = {}",
            self.typing_timeout_secs, self.presence_grace_secs
        );
        let _ = writeln!(
            text,
            "[database]\nurl = {}\nmax_connections = 4\nacquire_timeout_secs = 2",
            quote(&self.database_url)
        );
        let _ = writeln!(
            text,
            "[shutdown]\ngrace_period_secs = {}",
            self.grace_period_secs
        );
        let _ = writeln!(text, "[log]\nformat = \"json\"\nfilter = \"info\"");
        let _ = writeln!(
            text,
            "[accounts]\nbcrypt_cost = {}\nrefresh_reuse_grace_secs = {}\n\
             rate_limit_per_minute = {}\nrate_limit_burst = {}",
            self.bcrypt_cost,
            self.refresh_reuse_grace_secs,
            self.rate_limit_per_minute,
            self.rate_limit_burst
        );
        if let Some((listen, cert, key)) = &self.federation {
            let _ = writeln!(
                text,
                "[federation]\nlisten = {}\ntls_cert = {}\ntls_key = {}",
                quote(listen),
                path(cert),
                path(key)
            );
            let o = &self.federation_options;
            let list = |items: Vec<String>| format!("[{}]", items.join(", "));
            let _ = writeln!(
                text,
                "allow_private_addresses = {}\nextra_ca_files = {}\nalso_known_as = {}\n\
                 deny_servers = {}\npins = {{ {} }}",
                o.allow_private_addresses,
                list(o.extra_ca_files.iter().map(|p| path(p)).collect()),
                list(o.also_known_as.iter().map(|n| quote(n)).collect()),
                list(o.deny_servers.iter().map(|n| quote(n)).collect()),
                o.pins
                    .iter()
                    .map(|(name, addr)| format!("{} = [{}]", quote(name), quote(&addr.to_string())))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(rate) = o.requests_per_minute {
                let _ = writeln!(text, "requests_per_minute = {rate}");
            }
        }
        if let Some(relay) = &self.mail_relay {
            let _ = writeln!(
                text,
                "[mail.smtp]\nhost = {}\nport = {}\nsecurity = \"plain\"",
                quote(&relay.ip().to_string()),
                relay.port()
            );
        }
        text
    }
}

/// A minimal built web app: `index.html`, a hashed asset and its precompressed siblings.
#[derive(Debug)]
pub struct WebFixture {
    dir: tempfile::TempDir,
}

/// The marker text inside the fixture's `index.html`.
pub const FIXTURE_INDEX_MARKER: &str = "parley-fixture-index";
/// The path of the fixture's hashed asset.
pub const FIXTURE_ASSET: &str = "/assets/app-4f2a9c1d.js";

impl WebFixture {
    /// Writes the fixture to a temporary folder.
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("assets"))?;
        std::fs::write(
            dir.path().join("index.html"),
            format!("<!doctype html><title>{FIXTURE_INDEX_MARKER}</title>"),
        )?;
        let asset = dir.path().join(FIXTURE_ASSET.trim_start_matches('/'));
        std::fs::write(&asset, "console.log('parley');\n")?;
        // Stand-ins for what web/scripts/precompress.mjs writes; the server sends them as they are.
        std::fs::write(asset.with_extension("js.br"), b"brotli bytes")?;
        std::fs::write(asset.with_extension("js.gz"), b"gzip bytes")?;
        Ok(Self { dir })
    }

    /// The folder, for `web_root`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds a file of `size` bytes at `relative`.
    pub fn add_file(&self, relative: &str, size: usize) -> anyhow::Result<PathBuf> {
        let path = self.dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, bytes)?;
        Ok(path)
    }
}

/// A homeserver running inside the test process.
pub struct TestServer {
    /// The client listener's base URL (ends with `/`).
    pub base_url: Url,
    /// The federation listener's address, if configured.
    pub federation_addr: Option<std::net::SocketAddr>,
    /// A typed client of it.
    pub client: Client,
    /// The server's state: its database pool, config and metrics, for tests that look
    /// behind the API (the pool closes when the server stops).
    pub state: AppState,
    shutdown: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts a server from `config`, exactly as `parley serve` would.
    pub async fn start(config: &TestConfig) -> anyhow::Result<Self> {
        let config = Config::from_sources(&config.to_toml(), &[])?;
        let server: RunningServer = parley_homeserver::start(config).await?;
        let base_url: Url = format!("http://{}/", server.client_addr).parse()?;
        let federation_addr = server.federation_addr;
        let shutdown = server.shutdown_token();
        let state = server.state.clone();
        let task = tokio::spawn(server.wait());
        Ok(Self {
            client: Client::new(base_url.clone()),
            state,
            base_url,
            federation_addr,
            shutdown,
            task: Some(task),
        })
    }

    /// `base_url` joined with `path`.
    pub fn url(&self, path: &str) -> Url {
        self.base_url
            .join(path.trim_start_matches('/'))
            .unwrap_or_else(|_| self.base_url.clone())
    }

    /// Makes every unsent mail in the outbox due now and wakes the mail workers: a test of
    /// delivery after an outage need not wait out the backoff (the backoff schedule itself is
    /// unit-tested).
    pub async fn retry_mail_now(&self) -> anyhow::Result<()> {
        sqlx::query("update mail_outbox set next_attempt_at = now() where sent_at is null")
            .execute(&self.state.db)
            .await?;
        sqlx::query("select pg_notify('parley_mail', '')")
            .execute(&self.state.db)
            .await?;
        Ok(())
    }

    /// Shuts down gracefully and waits until it has stopped.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A homeserver running as its own process.
pub struct ServerProcess {
    child: Child,
    /// The client listener's base URL (ends with `/`).
    pub base_url: Url,
    stderr: JoinHandle<String>,
}

impl ServerProcess {
    /// Runs `binary serve --config config_file` with `env` added, and waits (up to 60 s) until
    /// it prints its client URL.
    pub async fn spawn(
        binary: &Path,
        config_file: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        // Only what the test gives counts: no stray PARLEY_* from the developer's shell.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PARLEY_") {
                command.env_remove(name);
            }
        }
        command
            .arg("serve")
            .arg("--config")
            .arg(config_file)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().context("cannot start the server process")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let find_url = async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("Parley client API and web app: ") {
                    return Ok::<_, anyhow::Error>(Some(url.trim().parse::<Url>()?));
                }
            }
            Ok(None)
        };
        let found = tokio::time::timeout(Duration::from_secs(60), find_url).await;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        match found {
            Ok(Ok(Some(base_url))) => Ok(Self {
                child,
                base_url,
                stderr,
            }),
            other => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                let log = stderr.await.unwrap_or_default();
                bail!("server did not start ({other:?}); its stderr:\n{log}")
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the process has exited")
    }

    /// Sends a signal by name (`TERM`, `INT`).
    pub async fn signal(&self, name: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid()?.to_string())
            .status()
            .await?;
        anyhow::ensure!(status.success(), "kill -{name} failed");
        Ok(())
    }

    /// Waits up to `deadline` for the process to exit; returns its status and its stderr.
    pub async fn wait_exit(mut self, deadline: Duration) -> anyhow::Result<(ExitStatus, String)> {
        let status = tokio::time::timeout(deadline, self.child.wait())
            .await
            .context("the server did not exit in time")??;
        let log = self.stderr.await.unwrap_or_default();
        Ok((status, log))
    }
}

/// Runs `binary args...` to completion (up to 60 s); returns its status, stdout and stderr.
pub async fn run_command(
    binary: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<(ExitStatus, String, String)> {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(binary)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("the command did not finish in time")??;
    Ok((
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}
