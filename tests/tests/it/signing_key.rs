//! The federation signing key is created once, owner-only, and survives restarts unchanged.

use std::os::unix::fs::PermissionsExt as _;

use parley_tests::server::TestServer;

use crate::setup;

#[tokio::test]
async fn signing_key_is_created_once_with_mode_0600() {
    let s = setup("keys.parley.test").await;
    let key_file = s.config.data_dir.join("signing.key");
    assert!(!key_file.exists());

    let server = TestServer::start(&s.config).await.unwrap();
    let first = std::fs::read(&key_file).unwrap();
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(&s.config.data_dir)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    let key_id = server_key_id(&first);
    server.stop().await.unwrap();

    let server = TestServer::start(&s.config).await.unwrap();
    let second = std::fs::read(&key_file).unwrap();
    assert_eq!(first, second, "the key must not change across restarts");
    assert_eq!(server_key_id(&second), key_id);
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    server.stop().await.unwrap();
}

fn server_key_id(file: &[u8]) -> String {
    let text = std::str::from_utf8(file).unwrap();
    parley_federation::ServerSigningKey::decode(text)
        .unwrap()
        .key_id()
}
