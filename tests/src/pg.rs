//! Throwaway PostgreSQL for tests, through `scripts/pg-cluster` (the same script the README's
//! run command uses).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
};

use anyhow::{Context as _, bail};
use sqlx::{Connection as _, PgConnection};
use url::Url;

fn script() -> PathBuf {
    crate::repo_root().join("scripts/pg-cluster")
}

fn run_script(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(script())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run scripts/pg-cluster")?;
    if !output.status.success() {
        bail!(
            "pg-cluster {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// A folder for a cluster: short (a Unix socket path is limited to about 100 bytes) and unique.
fn cluster_dir() -> PathBuf {
    let id = uuid::Uuid::new_v4().simple().to_string();
    std::env::temp_dir().join(format!("parley-pg-{}", &id[..12]))
}

/// A PostgreSQL cluster of this test run.
#[derive(Debug)]
pub struct PgCluster {
    admin_url: Url,
    /// The folder of a cluster this value started and stops; `None` for one started elsewhere.
    dir: Option<PathBuf>,
}

impl PgCluster {
    /// The cluster shared by the tests of this run: the one named by `PARLEYTEST_PG_URL` (the
    /// test command starts one for the whole run), else one started for this process and
    /// destroyed when the process ends, however it ends.
    pub fn shared() -> anyhow::Result<&'static PgCluster> {
        static SHARED: OnceLock<Result<PgCluster, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Self::start_shared().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    fn start_shared() -> anyhow::Result<Self> {
        if let Ok(url) = std::env::var("PARLEYTEST_PG_URL") {
            return Ok(Self {
                admin_url: url.parse().context("PARLEYTEST_PG_URL")?,
                dir: None,
            });
        }
        let dir = cluster_dir();
        let url = run_script(&["start", path_str(&dir)?, "--fast"])?;
        // Statics are never dropped, so a watchdog outside this process removes the cluster
        // once the process has gone (setsid: a Ctrl-C to the test run must not kill it first).
        Command::new("setsid")
            .args([
                "sh",
                "-c",
                "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; \"$2\" destroy \"$3\"",
            ])
            .arg("watchdog")
            .arg(std::process::id().to_string())
            .arg(script())
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the cluster watchdog")?;
        // Owned by the watchdog, not by this value.
        Ok(Self {
            admin_url: url.parse()?,
            dir: None,
        })
    }

    /// A cluster of its own, for a test that stops and starts PostgreSQL. Destroyed on drop.
    pub fn start_private() -> anyhow::Result<Self> {
        let dir = cluster_dir();
        let url = run_script(&["start", path_str(&dir)?, "--fast"])?;
        Ok(Self {
            admin_url: url.parse()?,
            dir: Some(dir),
        })
    }

    /// Stops a private cluster (its data stays).
    pub fn stop(&self) -> anyhow::Result<()> {
        let dir = self
            .dir
            .as_deref()
            .context("only a private cluster can be stopped")?;
        run_script(&["stop", path_str(dir)?]).map(drop)
    }

    /// Starts a stopped private cluster again.
    pub fn restart(&self) -> anyhow::Result<()> {
        let dir = self
            .dir
            .as_deref()
            .context("only a private cluster can be started")?;
        run_script(&["start", path_str(dir)?, "--fast"]).map(drop)
    }

    /// A fresh, empty database, dropped when the value is dropped.
    pub async fn create_database(&self) -> anyhow::Result<TestDatabase> {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(self.admin_url.as_str())
            .await
            .context("cannot connect to the test cluster")?;
        // The name is ours (hex), so formatting it into the statement is safe.
        sqlx::raw_sql(&format!("create database {name}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let mut url = self.admin_url.clone();
        url.set_path(&format!("/{name}"));
        Ok(TestDatabase {
            name,
            url,
            admin_url: self.admin_url.clone(),
        })
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir
            && let Ok(dir) = path_str(dir)
        {
            let _ = run_script(&["destroy", dir]);
        }
    }
}

/// A database of one test.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: Url,
    admin_url: Url,
}

impl TestDatabase {
    /// Its connection URL.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs outside any async context we could rely on: use psql, synchronously.
        let _ = Command::new("psql")
            .arg(self.admin_url.as_str())
            .args([
                "-qc",
                &format!("drop database if exists {} with (force)", self.name),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str().context("temporary folder path is not UTF-8")
}
