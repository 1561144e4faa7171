//! `parley serve` fails fast, naming the key, when the config is wrong.

use std::path::Path;

use parley_tests::server::run_command;

use crate::{PARLEY, setup};

async fn serve_fails_naming(config_file: &Path, env: &[(&str, &str)], expected: &[&str]) {
    let file = config_file.to_str().unwrap();
    let (status, _, stderr) = run_command(Path::new(PARLEY), &["serve", "--config", file], env)
        .await
        .unwrap();
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    for part in expected {
        assert!(stderr.contains(part), "expected {part:?} in: {stderr}");
    }
}

#[tokio::test]
async fn unknown_and_invalid_keys_are_named() {
    let s = setup("config.parley.test").await;
    let file = s.dir.path().join("parley.toml");
    let good = s.config.to_toml();

    // A typo in a nested key.
    std::fs::write(
        &file,
        good.replace("max_connections = 4", "max_conections = 4"),
    )
    .unwrap();
    serve_fails_naming(
        &file,
        &[],
        &["config key `database.max_conections`", "unknown field"],
    )
    .await;

    // An unknown top-level key.
    std::fs::write(&file, format!("colour = \"blue\"\n{good}")).unwrap();
    serve_fails_naming(&file, &[], &["config key `colour`"]).await;

    // A value of the wrong type.
    std::fs::write(
        &file,
        good.replace("listen = \"127.0.0.1:0\"", "listen = 8008"),
    )
    .unwrap();
    serve_fails_naming(&file, &[], &["config key `client.listen`"]).await;

    // A value that parses but is not acceptable.
    std::fs::write(&file, good.replace("config.parley.test", "Config_Server")).unwrap();
    serve_fails_naming(&file, &[], &["config key `server_name`"]).await;

    // A missing required key.
    let without_db_url: String = good
        .lines()
        .filter(|l| !l.starts_with("url ="))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&file, without_db_url).unwrap();
    serve_fails_naming(&file, &[], &["database.url", "missing"]).await;

    // Environment overrides are checked like the file.
    std::fs::write(&file, &good).unwrap();
    serve_fails_naming(
        &file,
        &[("PARLEY_DATABASE__MAX_CONNECTIONS", "0")],
        &["config key `database.max_connections`"],
    )
    .await;
    serve_fails_naming(
        &file,
        &[("PARLEY_CLIENT__BOGUS", "1")],
        &["config key `client.bogus`"],
    )
    .await;

    // A missing file.
    serve_fails_naming(
        &s.dir.path().join("absent.toml"),
        &[],
        &["cannot read config file"],
    )
    .await;
}

#[tokio::test]
async fn environment_overrides_the_file() {
    let s = setup("env.parley.test").await;
    let file = s.dir.path().join("parley.toml");
    std::fs::write(&file, s.config.to_toml()).unwrap();
    let process = parley_tests::server::ServerProcess::spawn(
        Path::new(PARLEY),
        &file,
        &[("PARLEY_SERVER_NAME", "override.parley.test")],
    )
    .await
    .unwrap();
    let info = parley_client_api::client::Client::new(process.base_url.clone())
        .server_info()
        .await
        .unwrap();
    assert_eq!(info.server_name, "override.parley.test");
    process.signal("TERM").await.unwrap();
    let (status, _) = process
        .wait_exit(std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn version_flag_prints_the_version() {
    let (status, stdout, _) = run_command(Path::new(PARLEY), &["--version"], &[])
        .await
        .unwrap();
    assert!(status.success());
    assert_eq!(
        stdout.trim(),
        format!("parley {}", parley_homeserver::VERSION)
    );
}

#[tokio::test]
async fn migrate_applies_migrations_and_refuses_another_servers_database() {
    let s = setup("first.parley.test").await;
    let file = s.dir.path().join("parley.toml");
    std::fs::write(&file, s.config.to_toml()).unwrap();
    let file = file.to_str().unwrap();
    let (status, _, stderr) = run_command(Path::new(PARLEY), &["migrate", "--config", file], &[])
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");

    // The same database under another server name: refused, never silently reused.
    let (status, _, stderr) = run_command(
        Path::new(PARLEY),
        &["serve", "--config", file],
        &[("PARLEY_SERVER_NAME", "second.parley.test")],
    )
    .await
    .unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("belongs to server `first.parley.test`"),
        "{stderr}"
    );
}
