//! A Rust end-to-end-encrypting client driven over stdin/stdout, so that tests in other
//! languages (the Node test with the wasm OlmMachine) can talk to it through a homeserver.
//!
//! `parley-e2ee-peer <base url> <username> <password>` signs in as a new device, uploads its
//! keys, opens its WebSocket and prints `{"ready": true, "user_id", "device_id"}`. Then each
//! line on stdin is a command and gets one line of answer:
//! - `{"cmd": "send", "room_id", "text"}` → `{"sent": "<event id>"}`
//! - `{"cmd": "wait", "event_id"}` → `{"text": "<decrypted text>"}` (within 30 s)
//!
//! Failures answer `{"error": "..."}`; end of input ends the program.

use std::time::Duration;

use anyhow::Context as _;
use parley_tests::{e2ee::E2eeClient, users::TestUser};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, username, password] = args.as_slice() else {
        anyhow::bail!("usage: parley-e2ee-peer <base url> <username> <password>");
    };
    let base = url::Url::parse(base).context("base url")?;
    let user = TestUser::login_at(&base, username, password).await?;
    let mut client = E2eeClient::start(user).await?;
    let mut out = tokio::io::stdout();
    let say = |value: Value| format!("{value}\n");
    out.write_all(
        say(json!({"ready": true, "user_id": client.user.user_id, "device_id": client.user.device_id}))
            .as_bytes(),
    )
    .await?;
    out.flush().await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let answer = match run(&mut client, &line).await {
            Ok(answer) => answer,
            Err(e) => json!({"error": format!("{e:#}")}),
        };
        out.write_all(say(answer).as_bytes()).await?;
        out.flush().await?;
    }
    Ok(())
}

async fn run(client: &mut E2eeClient, line: &str) -> anyhow::Result<Value> {
    let command: Value = serde_json::from_str(line).context("a JSON command")?;
    let field = |name: &str| {
        command[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("`{name}` is missing"))
    };
    match command["cmd"].as_str() {
        Some("send") => {
            let event_id = client
                .send_text(&field("room_id")?, &field("text")?)
                .await?;
            Ok(json!({"sent": event_id}))
        }
        Some("wait") => {
            let text = client
                .wait_for_text(&field("event_id")?, Duration::from_secs(30))
                .await?;
            Ok(json!({"text": text}))
        }
        _ => anyhow::bail!("unknown command: {line}"),
    }
}
