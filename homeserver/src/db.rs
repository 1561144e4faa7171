//! The PostgreSQL pool, migrations, and the check that a database belongs to this server.

use std::time::Duration;

use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::DatabaseConfig;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Why the database cannot be used at start.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL does not parse.
    #[error("config key `database.url`")]
    Url(#[source] sqlx::Error),
    /// PostgreSQL is unreachable or refused us.
    #[error("cannot connect to PostgreSQL")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed")]
    Query(#[from] sqlx::Error),
    /// The database was created by a server of another name.
    #[error(
        "this database belongs to server `{found}`, not `{configured}`; a server's name can never \
         change (identifiers contain it): point database.url at this server's own database"
    )]
    WrongServer {
        /// The name stored in the database.
        found: String,
        /// The name in the config.
        configured: String,
    },
}

/// Opens a pool and checks that PostgreSQL answers.
pub async fn connect(config: &DatabaseConfig) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = config.url.expose().parse().map_err(DbError::Url)?;
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(config.acquire_timeout_secs))
        // A connection broken by a database restart is found and replaced before use.
        .test_before_acquire(true)
        .connect_with(options)
        .await
        .map_err(DbError::Connect)
}

/// Runs the pending migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Records `server_name` in a new database, or checks that an existing one was made for it.
pub async fn claim_for_server(pool: &PgPool, server_name: &str) -> Result<(), DbError> {
    sqlx::query!(
        "insert into server_identity (server_name) values ($1) on conflict do nothing",
        server_name
    )
    .execute(pool)
    .await?;
    let found = sqlx::query_scalar!("select server_name from server_identity")
        .fetch_one(pool)
        .await?;
    if found != server_name {
        return Err(DbError::WrongServer {
            found,
            configured: server_name.to_owned(),
        });
    }
    Ok(())
}

/// Whether PostgreSQL answers a trivial query within `timeout`.
pub async fn is_reachable(pool: &PgPool, timeout: Duration) -> bool {
    let ping = sqlx::query_scalar!(r#"select 1 as "one!""#).fetch_one(pool);
    matches!(tokio::time::timeout(timeout, ping).await, Ok(Ok(1)))
}
