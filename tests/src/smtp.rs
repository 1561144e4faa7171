//! A real SMTP server for mail tests: Python's `aiosmtpd` (installed by
//! `scripts/install-deps --test`) with its Maildir handler, on a loopback port. Every message
//! it accepts lands as one file in `<folder>/new`, with the envelope recipients added as
//! `X-RcptTo`.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::Path,
    process::Stdio,
    time::Duration,
};

use anyhow::{Context as _, bail};
use tokio::{
    io::AsyncReadExt as _,
    net::TcpStream,
    process::{Child, Command},
};

/// A loopback port that was free a moment ago (nothing listens on it now).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// A running aiosmtpd that stores what it receives. Killed on drop.
pub struct SmtpSink {
    child: Child,
    addr: SocketAddr,
    maildir: tempfile::TempDir,
}

/// One message as the SMTP server stored it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// Header fields in order, unfolded, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, with `\n` line ends, quoted-printable decoded (other transfer encodings are
    /// left as they are).
    pub body: String,
}

impl ReceivedMail {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses a stored message: header fields up to the first empty line, then the body.
    pub fn parse(raw: &str) -> Self {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let mut mail = Self {
            headers,
            body: body.to_owned(),
        };
        if mail
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"))
        {
            mail.body = decode_quoted_printable(&mail.body);
        }
        mail
    }
}

impl SmtpSink {
    /// Starts aiosmtpd on `127.0.0.1:port` and waits (up to 30 s) until it greets.
    pub async fn start(port: u16) -> anyhow::Result<Self> {
        let maildir = tempfile::tempdir()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &addr.to_string()])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            // Python's Maildir makes its subfolders only when it creates the folder itself.
            .arg(maildir.path().join("maildir"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot run python3 (scripts/install-deps --test installs aiosmtpd)")?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let problem = loop {
            // Gone already (aiosmtpd missing, port taken): no use waiting.
            if let Some(status) = child.try_wait()? {
                break format!("it exited with {status}");
            }
            if greets(addr).await {
                return Ok(Self {
                    child,
                    addr,
                    maildir,
                });
            }
            if tokio::time::Instant::now() > deadline {
                break "no greeting within 30 s".to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let _ = child.start_kill();
        let output = child.wait_with_output().await?;
        bail!(
            "aiosmtpd did not start on {addr}: {problem}; is it installed (scripts/install-deps \
             --test)? Its stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message received so far, in no particular order.
    pub fn messages(&self) -> anyhow::Result<Vec<ReceivedMail>> {
        read_maildir(&self.maildir.path().join("maildir/new"))
    }

    /// Stops the server (what it stored stays readable).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// Whether an SMTP server at `addr` accepts a connection and sends its `220` greeting.
async fn greets(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    let mut greeting = [0_u8; 3];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut greeting)).await,
        Ok(Ok(_)) if &greeting == b"220"
    )
}

/// Undoes quoted-printable (RFC 2045): `=XX` is a byte, `=` at a line's end joins lines.
fn decode_quoted_printable(text: &str) -> String {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'=' {
            bytes.push(b);
        } else if let Some(tail) = rest.strip_prefix(b"\n") {
            rest = tail;
        } else if let Some(byte) = rest
            .get(..2)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            bytes.push(byte);
            rest = &rest[2..];
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn read_maildir(dir: &Path) -> anyhow::Result<Vec<ReceivedMail>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut mails = Vec::new();
    for entry in entries {
        let raw = std::fs::read(entry?.path())?;
        mails.push(ReceivedMail::parse(&String::from_utf8_lossy(&raw)));
    }
    Ok(mails)
}
