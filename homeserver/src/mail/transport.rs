//! Where mail goes: an SMTP relay (`[mail.smtp]`), or the local mailbox folder
//! `<data_dir>/mailbox` when no relay is configured.

use std::{
    fmt,
    fs::{self, OpenOptions},
    io::Write as _,
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
    time::Duration,
};

use lettre::{
    AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::authentication::Credentials,
};
use sqlx::types::time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use super::{MailError, OutgoingMail};
use crate::config::{Config, SmtpConfig, SmtpSecurity};

/// The folder below `data_dir` that receives mail when no SMTP relay is configured.
pub const MAILBOX_DIR: &str = "mailbox";

/// How long one SMTP command (connect, greeting, each reply) may take.
const SMTP_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long handing one mail to the relay may take in all. The worker's claim on a mail
/// must outlast this many times its batch size (see `worker::CLAIM_LEASE`).
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// A mail taken from the outbox.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    /// `mail_outbox_id`.
    pub id: Uuid,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// Delivery attempts finished before this one.
    pub attempts: i32,
    /// What to send.
    pub mail: OutgoingMail,
}

/// The sender, this server's name (for `Message-ID`) and the transport: everything the worker
/// needs to turn a queued mail into a delivered one.
pub struct Mailer {
    from: Mailbox,
    server_name: String,
    transport: Transport,
}

/// Where mail is delivered.
pub enum Transport {
    /// An SMTP relay. The TLS certificate is always verified (webpki roots); `plain` is
    /// allowed by the config validation only for a relay on loopback.
    Smtp {
        /// lettre's pooled client.
        client: AsyncSmtpTransport<Tokio1Executor>,
        /// The relay's host, for logs.
        host: String,
        /// The relay's port, for logs.
        port: u16,
    },
    /// `.eml` files in a folder, their links logged: for trying Parley locally.
    Mailbox {
        /// The folder.
        dir: PathBuf,
    },
}

// By hand: lettre's client holds the SMTP credentials, which must never be printed.
impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Smtp { host, port, .. } => f
                .debug_struct("Smtp")
                .field("host", host)
                .field("port", port)
                .finish_non_exhaustive(),
            Self::Mailbox { dir } => f.debug_struct("Mailbox").field("dir", dir).finish(),
        }
    }
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// The transport `[mail]` asks for. The mailbox folder is created (owner-only) here, so a
    /// data directory we cannot write to stops the server at start.
    pub fn from_config(config: &Config) -> Result<Self, MailError> {
        match &config.mail.smtp {
            Some(smtp) => smtp_transport(smtp),
            None => {
                let dir = config.data_dir.join(MAILBOX_DIR);
                create_private_dir(&dir)?;
                Ok(Self::Mailbox { dir })
            }
        }
    }
}

fn smtp_transport(smtp: &SmtpConfig) -> Result<Transport, MailError> {
    type Smtp = AsyncSmtpTransport<Tokio1Executor>;
    let builder = match smtp.security {
        SmtpSecurity::Tls => Smtp::relay(&smtp.host).map_err(MailError::SmtpSetup)?,
        SmtpSecurity::Starttls => Smtp::starttls_relay(&smtp.host).map_err(MailError::SmtpSetup)?,
        SmtpSecurity::Plain => Smtp::builder_dangerous(&smtp.host),
    };
    let mut builder = builder.port(smtp.port).timeout(Some(SMTP_COMMAND_TIMEOUT));
    if let (Some(username), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(
            username.clone(),
            password.expose().to_owned(),
        ));
    }
    Ok(Transport::Smtp {
        client: builder.build(),
        host: smtp.host.clone(),
        port: smtp.port,
    })
}

impl Mailer {
    /// The mailer `config` describes.
    pub fn from_config(config: &Config) -> Result<Self, MailError> {
        Ok(Self {
            from: config.mail.from.parse().map_err(MailError::InvalidSender)?,
            server_name: config.server_name.clone(),
            transport: Transport::from_config(config)?,
        })
    }

    /// The transport in use.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Builds the message for `queued` and delivers it.
    pub async fn send(&self, queued: &QueuedMail) -> Result<(), MailError> {
        let message = self.build(queued)?;
        match &self.transport {
            Transport::Smtp { client, .. } => {
                match tokio::time::timeout(SEND_TIMEOUT, client.send(message)).await {
                    Ok(Ok(_response)) => Ok(()),
                    Ok(Err(e)) => Err(MailError::Smtp(e)),
                    Err(_elapsed) => Err(MailError::SmtpTimeout(SEND_TIMEOUT.as_secs())),
                }
            }
            Transport::Mailbox { dir } => {
                let path = dir.join(file_name(queued));
                let bytes = message.formatted();
                let written = path.clone();
                tokio::task::spawn_blocking(move || write_file(&written, &bytes))
                    .await
                    .map_err(|e| MailError::Mailbox {
                        path: path.clone(),
                        source: std::io::Error::other(e),
                    })??;
                tracing::info!(
                    mail_outbox_id = %queued.id,
                    to = %queued.mail.to,
                    subject = %queued.mail.subject,
                    links = %links(&queued.mail.text).join(" "),
                    file = %path.display(),
                    "mail written to the mailbox folder (no [mail.smtp] relay configured)"
                );
                Ok(())
            }
        }
    }

    /// The message: plain text, from `mail.from`, with a `Message-ID` fixed by the outbox id,
    /// so that a mail sent twice (at-least-once delivery) is recognisably the same mail.
    fn build(&self, queued: &QueuedMail) -> Result<Message, MailError> {
        let to = queued.mail.validate()?;
        Ok(Message::builder()
            .message_id(Some(format!("<{}@{}>", queued.id, self.server_name)))
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(queued.mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(queued.mail.text.clone())?)
    }
}

/// `<queued at, UTC>-<outbox id>.eml`: sorts by time, unique, and the same for a mail written
/// twice (the second write replaces the first).
fn file_name(queued: &QueuedMail) -> String {
    let t = queued.created_at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:06}Z-{}.eml",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond(),
        queued.id
    )
}

fn create_private_dir(dir: &Path) -> Result<(), MailError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| MailError::Mailbox {
            path: dir.to_owned(),
            source,
        })
}

/// Writes beside the target and renames, so a reader never sees half a mail.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), MailError> {
    if let Some(dir) = path.parent() {
        // Someone may have removed the folder while the server runs.
        create_private_dir(dir)?;
    }
    let temp = path.with_extension("eml.tmp");
    let io_err = |source| MailError::Mailbox {
        path: temp.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io_err)?;
    file.write_all(bytes).map_err(io_err)?;
    drop(file);
    fs::rename(&temp, path).map_err(|source| MailError::Mailbox {
        path: path.to_owned(),
        source,
    })
}

/// Every `http://` and `https://` link in `text`, in order. A link ends at white space or a
/// character that cannot end a URL in prose (`<>"'` and a backtick); trailing punctuation of
/// the sentence (`.,;:!?` and closing brackets) is not part of it.
pub fn links(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    loop {
        let start = match (rest.find("http://"), rest.find("https://")) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
            .unwrap_or(candidate.len());
        let link = candidate[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '}']);
        if !matches!(link, "http://" | "https://") {
            found.push(link);
        }
        rest = &candidate[end.max(1)..];
    }
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn links_are_found_without_sentence_punctuation() {
        let text = "Welcome!\r\n\r\nConfirm your address: https://chat.example.org/verify?token=a1b2.\r\n\
                    Or paste (http://localhost:8008/reset#t=x_y), or <https://c.example/p?q=1&r=2>.\n\
                    \"https://d.example/\" and https://e.example/a:b, then nothing: https:// ftp://f.example";
        assert_eq!(
            links(text),
            [
                "https://chat.example.org/verify?token=a1b2",
                "http://localhost:8008/reset#t=x_y",
                "https://c.example/p?q=1&r=2",
                "https://d.example/",
                "https://e.example/a:b",
            ]
        );
        assert!(links("no links here, not even httpx://x").is_empty());
        assert_eq!(links("https://a.example"), ["https://a.example"]);
    }

    #[test]
    fn file_names_sort_by_queue_time() {
        let queued = |created_at| QueuedMail {
            id: Uuid::nil(),
            created_at,
            attempts: 0,
            mail: OutgoingMail {
                to: "a@example.org".into(),
                subject: "s".into(),
                text: "t".into(),
            },
        };
        let early = OffsetDateTime::from_unix_timestamp_nanos(1_790_000_000_123_456_789).unwrap();
        let late = early + Duration::from_millis(1);
        let a = file_name(&queued(early));
        let b = file_name(&queued(late));
        assert_eq!(
            a,
            "20260921T141320.123456Z-00000000-0000-0000-0000-000000000000.eml"
        );
        assert!(a < b);
    }

    // lettre's connection pool needs a runtime to be built and dropped in.
    #[tokio::test]
    async fn the_smtp_password_never_prints() {
        let smtp = SmtpConfig {
            host: "smtp.example.org".into(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: Some("parley".into()),
            password: Some(serde_json::from_str("\"hunter2-secret\"").unwrap()),
        };
        let transport = smtp_transport(&smtp).unwrap();
        let debug = format!("{transport:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("smtp.example.org"), "{debug}");
    }
}
