//! The command line of the `parley` binary: `serve`, `migrate`, `user`, `keys`, `--version`. This is the
//! binary's edge, the one place where errors become `anyhow` and then an exit code.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Parley: a federated, end-to-end-encrypted messenger homeserver.
#[derive(Debug, Parser)]
#[command(name = "parley", version = crate::VERSION, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the homeserver (runs pending migrations first).
    Serve {
        /// The TOML config file; `PARLEY_*` environment variables override its keys.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the OpenAPI document of the client API (JSON) and exit.
    Openapi,
    /// Manage user accounts.
    User {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage this server's federation signing keys.
    Keys {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Run pending database migrations and exit.
    Migrate {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Disable an account: it can no longer sign in and all its sessions end at once.
    Disable {
        /// `@username:server`.
        user_id: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// `@username:server`.
        user_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Retire the current signing key (peers accept it for signatures made until now) and
    /// write a new one. A running server uses the new key after its next restart.
    Rotate,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain on one line: "context: cause: cause".
            let _ = writeln!(std::io::stderr(), "parley: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve { config } => {
            let config = load(&config)?;
            init_logging(&config);
            runtime.block_on(serve(config))
        }
        Command::Openapi => {
            let text = serde_json::to_string_pretty(&crate::http::openapi::document())?;
            writeln!(std::io::stdout(), "{text}")?;
            Ok(())
        }
        Command::User { config, action } => {
            let config = load(&config)?;
            init_logging(&config);
            runtime.block_on(async {
                let pool = crate::db::connect(&config.database).await?;
                crate::db::migrate(&pool).await?;
                let accounts = crate::accounts::Accounts::new(&config, pool.clone()).await?;
                let (user_id, disable) = match &action {
                    UserAction::Disable { user_id } => (user_id, true),
                    UserAction::Enable { user_id } => (user_id, false),
                };
                if !accounts.set_disabled(user_id, disable).await? {
                    anyhow::bail!("no account {user_id} on this server");
                }
                let verb = if disable {
                    "disabled; all its sessions ended"
                } else {
                    "enabled"
                };
                writeln!(std::io::stdout(), "{user_id} {verb}")?;
                pool.close().await;
                anyhow::Ok(())
            })
        }
        Command::Keys {
            config,
            action: KeysAction::Rotate,
        } => {
            let config = load(&config)?;
            let (old, new) = crate::keys::rotate(&config.data_dir, std::time::SystemTime::now())
                .context("cannot rotate the signing key")?;
            writeln!(
                std::io::stdout(),
                "retired {}; new signing key {}; restart the server to use it",
                old.key_id,
                new.key_id()
            )?;
            Ok(())
        }
        Command::Migrate { config } => {
            let config = load(&config)?;
            init_logging(&config);
            runtime.block_on(async {
                let pool = crate::db::connect(&config.database).await?;
                crate::db::migrate(&pool).await?;
                crate::db::claim_for_server(&pool, &config.server_name).await?;
                pool.close().await;
                tracing::info!("migrations applied");
                anyhow::Ok(())
            })
        }
    }
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Config::load_from_process_env(path).with_context(|| format!("config {}", path.display()))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let public_url = config.public_base_url.clone();
    let server = crate::start(config).await?;
    crate::shutdown::cancel_on_signals(server.shutdown_token())
        .context("cannot install signal handlers")?;
    // Scripts and tests read these lines to learn the bound addresses (the port may be 0 in
    // the config); logs go to stderr.
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Parley client API and web app: http://{}/",
        server.client_addr
    )?;
    if let Some(addr) = server.federation_addr {
        writeln!(out, "Parley federation API: https://{addr}/")?;
    }
    writeln!(out, "Public URL: {public_url}")?;
    out.flush()?;
    drop(out);
    server.wait().await.context("listener failed")?;
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_new(&config.log.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (never in the binary) is harmless; ignore it.
    let _ = match config.log.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}
