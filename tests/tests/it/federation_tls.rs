//! The federation listener speaks HTTPS with the configured certificate.

use parley_tests::server::TestServer;

use crate::setup;

#[tokio::test]
async fn federation_listener_serves_https_with_its_certificate() {
    let mut s = setup("org-a.parley.test").await;
    let cert = rcgen::generate_simple_self_signed(vec!["org-a.parley.test".to_owned()]).unwrap();
    let cert_file = s.dir.path().join("fed.crt");
    let key_file = s.dir.path().join("fed.key");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    s.config.federation = Some(("127.0.0.1:0".into(), cert_file, key_file));
    let server = TestServer::start(&s.config).await.unwrap();
    let addr = server.federation_addr.unwrap();
    let url = format!(
        "https://org-a.parley.test:{}/_parley/federation/v1/version",
        addr.port()
    );

    // A peer that trusts this certificate reaches the server by its name.
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("org-a.parley.test", addr)
        .build()
        .unwrap();
    let body: serde_json::Value = trusting
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["server_name"], "org-a.parley.test");

    // One that does not trust it refuses the connection: the certificate is really verified.
    let strict = reqwest::Client::builder()
        .resolve("org-a.parley.test", addr)
        .build()
        .unwrap();
    assert!(strict.get(&url).send().await.is_err());

    server.stop().await.unwrap();
}
