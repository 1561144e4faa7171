//! SIGTERM: stop accepting, finish what is in flight (within the grace period), exit 0.

use std::{path::Path, time::Duration};

use parley_tests::{server::ServerProcess, wait_until};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::{PARLEY, setup};

const BIG: usize = 64 * 1024 * 1024;

/// Sends a GET for `path` and reads up to the end of the headers; returns the stream, the
/// body's length and the body bytes read so far.
async fn start_download(addr: &str, path: &str) -> (TcpStream, usize, usize) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "connection closed in headers"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (stream, length, 0)
}

async fn spawn_with_big_file(grace_secs: u64) -> (ServerProcess, String, crate::Setup) {
    let mut s = setup("shutdown.parley.test").await;
    s.web.add_file("assets/big-5e1f.bin", BIG).unwrap();
    s.config.grace_period_secs = grace_secs;
    let file = s.dir.path().join("parley.toml");
    std::fs::write(&file, s.config.to_toml()).unwrap();
    let process = ServerProcess::spawn(Path::new(PARLEY), &file, &[])
        .await
        .unwrap();
    let addr = process.base_url.host_str().unwrap().to_owned()
        + ":"
        + &process.base_url.port().unwrap().to_string();
    (process, addr, s)
}

#[tokio::test]
async fn sigterm_finishes_requests_in_flight_then_exits_0() {
    let (process, addr, _setup) = spawn_with_big_file(30).await;
    let (mut stream, length, mut read) = start_download(&addr, "/assets/big-5e1f.bin").await;
    assert_eq!(length, BIG);
    // Far more than socket buffers hold: the server is still sending when the signal arrives.
    let mut buffer = vec![0_u8; 64 * 1024];
    read += stream.read(&mut buffer).await.unwrap();

    process.signal("TERM").await.unwrap();
    wait_until(
        "the listener to stop accepting",
        Duration::from_secs(20),
        || async { TcpStream::connect(&addr).await.is_err().then_some(()) },
    )
    .await
    .unwrap();

    loop {
        let n = stream.read(&mut buffer).await.unwrap();
        if n == 0 {
            break;
        }
        read += n;
    }
    assert_eq!(read, BIG, "the in-flight download must complete");

    let (status, log) = process.wait_exit(Duration::from_secs(30)).await.unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("SIGTERM"), "{log}");
}

#[tokio::test]
async fn a_stalled_request_cannot_hold_shutdown_past_the_grace_period() {
    let (process, addr, _setup) = spawn_with_big_file(1).await;
    // This client never reads its response.
    let (_stalled, _, _) = start_download(&addr, "/assets/big-5e1f.bin").await;
    process.signal("INT").await.unwrap();
    let (status, log) = process.wait_exit(Duration::from_secs(20)).await.unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("grace period over"), "{log}");
}
