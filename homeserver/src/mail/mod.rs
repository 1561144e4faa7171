//! Outgoing mail: a transactional outbox in PostgreSQL and a worker that delivers it.
//!
//! Domain code queues a mail with [`enqueue`] inside its own transaction (a sign-up and its
//! verification mail commit together, or neither does). The [`worker`] of every `parley serve`
//! process sharing the database wakes on the commit (`NOTIFY parley_mail`) or on its poll,
//! claims due mail with `for update skip locked`, and hands it to the [`transport`]: an SMTP
//! relay, or, without `[mail.smtp]`, the local mailbox folder `<data_dir>/mailbox`.
//!
//! Delivery is at least once: a mail whose sending was interrupted (the process died between
//! handing it to the relay and recording that) is sent again. Failed attempts are retried for
//! ever, with capped exponential backoff, and each failure is logged with the outbox id.
//! Mail bodies hold single-use links: they are never logged (except by the local mailbox,
//! whose purpose is to show them) and are erased from the outbox once sent.

pub mod transport;
pub mod worker;

use std::{fmt, path::PathBuf};

use lettre::Address;

pub use transport::{Mailer, Transport};
pub use worker::spawn_worker;

/// The `NOTIFY` channel that wakes the workers when mail is queued.
pub const CHANNEL: &str = "parley_mail";

/// A plain-text mail to one recipient. Its `Debug` output leaves out the body, which may hold
/// single-use links.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The recipient's address, bare (`someone@example.org`, no display name).
    pub to: String,
    /// The subject line: one line, no control characters.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
}

/// Why a mail could not be queued, built or delivered.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// `to` is not a mail address.
    #[error("the recipient is not a valid mail address")]
    InvalidRecipient(#[source] lettre::address::AddressError),
    /// The subject holds a line break or another control character (which could forge
    /// headers).
    #[error("the subject must be one line without control characters")]
    InvalidSubject,
    /// `mail.from` does not parse (the config validation prevents this at start).
    #[error("config key `mail.from` is not a mail address")]
    InvalidSender(#[source] lettre::address::AddressError),
    /// The outbox could not be read or written.
    #[error("mail outbox")]
    Database(#[from] sqlx::Error),
    /// The message could not be put together.
    #[error("cannot build the message")]
    Build(#[from] lettre::error::Error),
    /// The SMTP transport could not be set up from `[mail.smtp]`.
    #[error("config key `mail.smtp.host`: cannot set up the SMTP transport")]
    SmtpSetup(#[source] lettre::transport::smtp::Error),
    /// The relay was unreachable, refused the mail, or the TLS handshake failed.
    #[error("SMTP relay")]
    Smtp(#[source] lettre::transport::smtp::Error),
    /// The relay took longer than the send timeout.
    #[error("SMTP relay did not finish within {0} seconds")]
    SmtpTimeout(u64),
    /// The local mailbox folder or a file in it could not be written.
    #[error("mailbox {path}")]
    Mailbox {
        /// The folder or file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("text", &format_args!("<{} bytes>", self.text.len()))
            .finish()
    }
}

impl OutgoingMail {
    /// Checks what the outbox will rely on when sending: the recipient parses as an address
    /// and the subject is one clean line.
    pub fn validate(&self) -> Result<Address, MailError> {
        let to: Address = self.to.parse().map_err(MailError::InvalidRecipient)?;
        if self.subject.chars().any(char::is_control) {
            return Err(MailError::InvalidSubject);
        }
        Ok(to)
    }
}

/// Queues `mail` for delivery and wakes the mail workers.
///
/// Call it with the caller's transaction (`&mut *tx`) so that the mail is queued exactly when
/// the change that causes it commits. PostgreSQL delivers the notification at commit, so no
/// worker looks for the mail before it is visible. With a pool it commits at once.
pub async fn enqueue<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    mail: &OutgoingMail,
) -> Result<(), MailError> {
    mail.validate()?;
    // One statement: an executor is used once, and insert and notify must go together.
    sqlx::query!(
        r#"
        with queued as (
            insert into mail_outbox (recipient, subject, body_text)
            values ($1, $2, $3)
            returning mail_outbox_id
        )
        select pg_notify('parley_mail', '')::text as "notified"
        from queued
        "#,
        mail.to,
        mail.subject,
        mail.text,
    )
    .fetch_one(executor)
    .await?;
    Ok(())
}

/// An error and its sources on one line, without repeating a source that an error already
/// prints as part of its own message.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mail(to: &str, subject: &str) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: subject.to_owned(),
            text: "hello".to_owned(),
        }
    }

    #[test]
    fn recipients_must_be_bare_addresses() {
        assert!(mail("ada@example.org", "Hi").validate().is_ok());
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "Ada <ada@example.org>",
            "ada@example.org, bob@example.org",
            "ada@example.org\r\nBcc: eve@example.org",
        ] {
            assert!(
                matches!(
                    mail(bad, "Hi").validate(),
                    Err(MailError::InvalidRecipient(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn subjects_are_one_line() {
        assert!(mail("ada@example.org", "Grüße, Ada").validate().is_ok());
        for bad in ["Hi\r\nBcc: eve@example.org", "Hi\n", "a\tb", "nul\0"] {
            assert!(
                matches!(
                    mail("ada@example.org", bad).validate(),
                    Err(MailError::InvalidSubject)
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_output_leaves_out_the_body() {
        let mut m = mail("ada@example.org", "Reset your password");
        m.text = "https://chat.example.org/reset?token=s3cr3t".to_owned();
        assert_eq!(
            format!("{m:?}"),
            "OutgoingMail { to: \"ada@example.org\", subject: \"Reset your password\", \
             text: <43 bytes> }"
        );
    }

    #[test]
    fn describe_does_not_repeat_sources() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let error = MailError::Mailbox {
            path: "/x".into(),
            source: io,
        };
        assert_eq!(describe(&error), "mailbox /x: denied");
    }
}
