//! Accounts and sessions: sign-up, email verification, sign-in with access and refresh tokens,
//! sessions, password change and reset, profile, lockout.
//!
//! Rules that keep accounts from being enumerated: sign-up with an address in use, resend and
//! forgot-password all answer the same whatever exists; sign-in spends the same bcrypt time for
//! a missing account as for an existing one and counts failures per identifier as typed, so a
//! missing account locks out like a real one. Facts about an account (unverified, disabled) are
//! told only to someone who has just given its correct password.

pub mod live;
pub mod password;
pub mod throttle;
pub mod tokens;

use std::time::Duration;

use parley_client_api::{
    ErrorCode,
    account::{MyProfile, PublicProfile, UpdateProfileRequest},
    auth::{SessionInfo, TokenResponse},
};
use sqlx::{PgPool, Postgres, Transaction};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;
use zeroize::Zeroizing;

use self::{
    password::{PasswordHasher, WeakPassword},
    tokens::{AccessTokens, hash_opaque, new_opaque},
};
use crate::{
    config::Config,
    mail::{self, OutgoingMail},
};

/// How long a password-reset link stays valid.
const RESET_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// The least time between two verification mails to one account.
const RESEND_INTERVAL_SECS: i64 = 60;

/// A failure a client can act on, or an internal one.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Refused with a code and a message for the user.
    #[error("{message}")]
    Refused {
        /// The status to answer with.
        status: u16,
        /// The stable code.
        code: ErrorCode,
        /// What to tell the user.
        message: String,
        /// For [`ErrorCode::LimitExceeded`].
        retry_after: Option<Duration>,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Mail could not be queued.
    #[error("mail: {0}")]
    Mail(#[from] mail::MailError),
    /// Hashing or token signing failed.
    #[error("internal: {0}")]
    Internal(String),
}

impl AccountError {
    fn refused(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Refused {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::refused(400, ErrorCode::InvalidParam, message)
    }

    fn bad_credentials() -> Self {
        Self::refused(403, ErrorCode::Forbidden, "Wrong username or password.")
    }

    fn unknown_token(message: &str) -> Self {
        Self::refused(401, ErrorCode::UnknownToken, message)
    }
}

impl From<WeakPassword> for AccountError {
    fn from(weak: WeakPassword) -> Self {
        Self::refused(400, ErrorCode::WeakPassword, weak.to_string())
    }
}

impl From<password::HashError> for AccountError {
    fn from(e: password::HashError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<tokens::TokenError> for AccountError {
    fn from(e: tokens::TokenError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// Who is making a request: the holder of a valid access token of a live session.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The account.
    pub account_id: Uuid,
    /// `@localpart:server`.
    pub user_id: String,
    /// The device of the session.
    pub device_id: String,
    /// The session of the token.
    pub session_id: Uuid,
}

/// Where a request came from, recorded on sessions.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's IP address.
    pub ip: Option<String>,
    /// Its user agent, truncated.
    pub user_agent: Option<String>,
}

/// New tokens of a session; the refresh token is secret.
pub struct IssuedTokens {
    /// The response body, without the refresh token.
    pub response: TokenResponse,
    /// The refresh token, for the body or the cookie.
    pub refresh_token: Zeroizing<String>,
    /// When the refresh token's session ends at the latest.
    pub session_expires_at: OffsetDateTime,
}

/// The account service of one server.
#[derive(Clone)]
pub struct Accounts {
    db: PgPool,
    hasher: PasswordHasher,
    tokens: AccessTokens,
    server_name: String,
    public_base_url: url::Url,
    refresh_lifetime: Duration,
    reuse_grace: Duration,
    email_token_lifetime: Duration,
    /// Sessions recently read as live (used only while this process LISTENs for ends).
    live: live::LiveSessions,
}

/// A sign-up that passed validation.
pub struct NewAccount<'a> {
    /// As typed.
    pub username: &'a str,
    /// As typed.
    pub email: &'a str,
    /// As typed.
    pub full_name: &'a str,
    /// As typed.
    pub password: &'a str,
}

impl Accounts {
    /// Sets up hashing and the access-token key for `config`.
    pub async fn new(config: &Config, db: PgPool) -> Result<Self, AccountError> {
        let a = &config.accounts;
        let threads = a
            .hashing_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
        let tokens = AccessTokens::load(
            &config.data_dir,
            &config.server_name,
            Duration::from_secs(a.access_token_secs),
        )
        .map_err(|e| AccountError::Internal(format!("{e}: {:?}", std::error::Error::source(&e))))?;
        Ok(Self {
            db,
            hasher: PasswordHasher::new(a.bcrypt_cost, threads).await?,
            tokens,
            server_name: config.server_name.clone(),
            public_base_url: config.public_base_url.clone(),
            refresh_lifetime: Duration::from_secs(a.refresh_token_days * 24 * 3600),
            reuse_grace: Duration::from_secs(a.refresh_reuse_grace_secs),
            email_token_lifetime: Duration::from_secs(a.email_token_hours * 3600),
            live: live::LiveSessions::default(),
        })
    }

    /// The user id of `localpart` on this server.
    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name)
    }

    fn link(&self, route: &str, token: &str) -> String {
        let mut url = self.public_base_url.clone();
        url.set_path(route);
        url.set_query(Some(&format!("token={token}")));
        url.to_string()
    }

    // ---- sign-up and verification -------------------------------------------------------

    /// Creates an unverified account and mails its verification link. When the address or the
    /// username is already in use, the address gets a message saying so instead; the caller sees
    /// the same answer either way, so sign-up reveals no account (ASVS: registration must not
    /// enumerate users).
    pub async fn register(&self, new: NewAccount<'_>) -> Result<(), AccountError> {
        let localpart = validate_username(new.username)?;
        let email = validate_email(new.email)?;
        let full_name = validate_name(new.full_name, "full_name", 128)?;
        password::check_new(new.password, &localpart)?;
        // Hash first: every path below pays for it, so timing does not tell them apart.
        let hash = self.hasher.hash(new.password).await?;

        let mut tx = self.db.begin().await?;
        let account_id = Uuid::new_v4();
        let user_id = self.user_id(&localpart);
        let inserted = sqlx::query!(
            "insert into account (account_id, user_id, localpart, email, full_name, password_hash)
             values ($1, $2, $3, $4, $5, $6)
             on conflict do nothing",
            account_id,
            user_id,
            localpart,
            email as _,
            full_name,
            hash,
        )
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            self.send_verification(&mut tx, account_id, &email, &full_name, "verify_email")
                .await?;
            tx.commit().await?;
            tracing::info!(%user_id, "account created");
            return Ok(());
        }
        let owner = sqlx::query_scalar!("select user_id from account where email = $1", email as _)
            .fetch_optional(&mut *tx)
            .await?;
        let base = &self.public_base_url;
        let server = &self.server_name;
        let text = match owner {
            Some(owner) => format!(
                "Someone tried to create an account on {server} with this address, which already \
                 belongs to {owner}.\n\nIf it was you, sign in instead; if you forgot your \
                 password, reset it at {base}forgot-password\n\nIf it was not you, you can \
                 ignore this mail.\n"
            ),
            None => format!(
                "Hello {full_name},\n\nyou tried to create the account {user_id}, but that \
                 username is already taken. Choose another one at {base}sign-up\n\nIf it was \
                 not you, you can ignore this mail.\n"
            ),
        };
        mail::enqueue(
            &mut *tx,
            &OutgoingMail {
                to: email.clone(),
                subject: format!("Your sign-up on {server}"),
                text,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn send_verification(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        account_id: Uuid,
        email: &str,
        full_name: &str,
        purpose: &str,
    ) -> Result<(), AccountError> {
        let (token, hash) = new_opaque();
        let expires = OffsetDateTime::now_utc() + self.email_token_lifetime;
        sqlx::query!(
            "insert into email_token (token_hash, account_id, purpose, email, expires_at)
             values ($1, $2, $3, $4, $5)",
            hash,
            account_id,
            purpose,
            email as _,
            expires,
        )
        .execute(&mut **tx)
        .await?;
        let link = self.link("/verify-email", &token);
        let hours = self.email_token_lifetime.as_secs() / 3600;
        mail::enqueue(
            &mut **tx,
            &OutgoingMail {
                to: email.to_owned(),
                subject: format!("Confirm your email address for {}", self.server_name),
                text: format!(
                    "Hello {full_name},\n\nplease confirm this address for your Parley account on \
                 {server} by opening this link:\n\n{link}\n\nThe link works once and expires in \
                 {hours} hours. If you did not ask for this, ignore this mail.\n",
                    server = self.server_name,
                ),
            },
        )
        .await?;
        Ok(())
    }

    /// Uses a verification link: confirms the address of a new account, or completes a change
    /// of address.
    pub async fn verify_email(&self, token: &str) -> Result<(String, String), AccountError> {
        let invalid =
            || AccountError::unknown_token("This link is invalid, already used or expired.");
        if token.len() > 128 {
            return Err(invalid());
        }
        let mut tx = self.db.begin().await?;
        let row = sqlx::query!(
            r#"update email_token set used_at = now()
               where token_hash = $1 and used_at is null and expires_at > now()
                 and purpose in ('verify_email', 'change_email')
               returning account_id, purpose, email as "email!: String""#,
            hash_opaque(token),
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(invalid)?;
        let result = if row.purpose == "change_email" {
            let old = sqlx::query!(
                r#"select email as "email!: String", full_name from account where account_id = $1"#,
                row.account_id
            )
            .fetch_one(&mut *tx)
            .await?;
            let changed = sqlx::query_scalar!(
                "update account set email = $2, email_verified_at = now() where account_id = $1
                 and not exists (select 1 from account where email = $2 and account_id <> $1)
                 returning user_id",
                row.account_id,
                row.email.clone() as _,
            )
            .fetch_optional(&mut *tx)
            .await?;
            let Some(user_id) = changed else {
                return Err(AccountError::refused(
                    409,
                    ErrorCode::InvalidParam,
                    "This address now belongs to another account.",
                ));
            };
            mail::enqueue(&mut *tx, &OutgoingMail {
                to: old.email,
                subject: format!("Your email address on {} was changed", self.server_name),
                text: format!(
                    "Hello {},\n\nthe email address of your Parley account {user_id} was changed \
                     to {}. If you did not do this, reset your password and contact your \
                     administrator.\n",
                    old.full_name, row.email
                ),
            })
            .await?;
            user_id
        } else {
            sqlx::query_scalar!(
                "update account set email_verified_at = coalesce(email_verified_at, now())
                 where account_id = $1 and email = $2 returning user_id",
                row.account_id,
                row.email.clone() as _,
            )
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(invalid)?
        };
        tx.commit().await?;
        Ok((result, row.email))
    }

    /// Mails a new verification link if `email` belongs to an unverified account and none was
    /// sent in the last minute. Says nothing about what it found.
    pub async fn resend_verification(&self, email: &str) -> Result<(), AccountError> {
        let Ok(email) = validate_email(email) else {
            return Ok(());
        };
        let mut tx = self.db.begin().await?;
        let account = sqlx::query!(
            r#"select account_id, full_name from account
               where email = $1 and email_verified_at is null
               and not exists (select 1 from email_token t where t.account_id = account.account_id
                   and t.purpose = 'verify_email'
                   and t.created_at > now() - make_interval(secs => $2))
               for update"#,
            email.clone() as _,
            RESEND_INTERVAL_SECS as f64,
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(account) = account {
            self.send_verification(
                &mut tx,
                account.account_id,
                &email,
                &account.full_name,
                "verify_email",
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- sign-in, tokens, sessions -------------------------------------------------------

    /// Signs in; on success starts a session and returns its tokens.
    pub async fn login(
        &self,
        identifier: &str,
        password: &str,
        device_id: Option<&str>,
        device_name: Option<&str>,
        client: &ClientInfo,
    ) -> Result<IssuedTokens, AccountError> {
        let identifier = identifier.trim().to_lowercase();
        if identifier.is_empty()
            || identifier.len() > 320
            || password.len() > 4 * password::MAX_CHARS
        {
            return Err(AccountError::bad_credentials());
        }
        let keys = throttle::keys(&identifier, client.ip.as_deref());
        if let Some(wait) = throttle::locked_for(&self.db, &keys).await? {
            return Err(AccountError::Refused {
                status: 429,
                code: ErrorCode::LimitExceeded,
                message: "Too many failed sign-ins. Try again later, or reset your password."
                    .into(),
                retry_after: Some(wait),
            });
        }
        let account = sqlx::query!(
            r#"select account_id, user_id, password_hash,
                      email_verified_at is not null as "verified!",
                      disabled_at is not null as "disabled!"
               from account
               where localpart = $1 or user_id = $1 or email = $1::text::citext"#,
            identifier,
        )
        .fetch_optional(&self.db)
        .await?;
        let Some(account) = account else {
            self.hasher.verify_dummy(password).await;
            throttle::record_failure(&self.db, &keys).await?;
            return Err(AccountError::bad_credentials());
        };
        if !self.hasher.verify(password, &account.password_hash).await? {
            throttle::record_failure(&self.db, &keys).await?;
            return Err(AccountError::bad_credentials());
        }
        throttle::clear(&self.db, &keys[..1]).await?;
        if account.disabled {
            return Err(AccountError::refused(
                403,
                ErrorCode::UserDeactivated,
                "This account is disabled.",
            ));
        }
        if !account.verified {
            return Err(AccountError::refused(
                403,
                ErrorCode::EmailNotVerified,
                "Confirm your email address first: open the link we mailed you.",
            ));
        }
        let device_id = match device_id {
            Some(id) => validate_device_id(id)?,
            None => new_device_id(),
        };
        let device_name = device_name.map(|n| n.trim().chars().take(64).collect::<String>());
        let session_id = Uuid::new_v4();
        let expires = OffsetDateTime::now_utc() + self.refresh_lifetime;
        let (refresh, hash) = new_opaque();
        let mut tx = self.db.begin().await?;
        sqlx::query!(
            "insert into session (session_id, account_id, device_id, device_name, ip, user_agent, expires_at)
             values ($1, $2, $3, $4, $5, $6, $7)",
            session_id,
            account.account_id,
            device_id,
            device_name,
            client.ip,
            client.user_agent,
            expires,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "insert into refresh_token (token_hash, session_id) values ($1, $2)",
            hash,
            session_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(user_id = %account.user_id, %session_id, "signed in");
        self.issued(account.user_id, device_id, session_id, refresh, expires)
    }

    fn issued(
        &self,
        user_id: String,
        device_id: String,
        session_id: Uuid,
        refresh_token: Zeroizing<String>,
        session_expires_at: OffsetDateTime,
    ) -> Result<IssuedTokens, AccountError> {
        let access_token = self.tokens.issue(&user_id, session_id)?;
        Ok(IssuedTokens {
            response: TokenResponse {
                access_token,
                expires_in: self.tokens.lifetime().as_secs(),
                refresh_token: None,
                user_id,
                device_id,
                session_id: session_id.to_string(),
            },
            refresh_token,
            session_expires_at,
        })
    }

    /// Rotates a refresh token. A token used again after the grace window ends its session.
    pub async fn refresh(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<IssuedTokens, AccountError> {
        let gone = || AccountError::unknown_token("Your session has ended. Sign in again.");
        if token.is_empty() || token.len() > 128 {
            return Err(gone());
        }
        let mut tx = self.db.begin().await?;
        let row = sqlx::query!(
            r#"select r.session_id, r.rotated_at, s.device_id, s.expires_at, a.user_id,
                      (s.ended_at is null and s.expires_at > now() and a.disabled_at is null) as "live!",
                      (r.rotated_at is not null and r.rotated_at < now() - make_interval(secs => $2)) as "reused!"
               from refresh_token r
               join session s using (session_id)
               join account a using (account_id)
               where r.token_hash = $1
               for update of r, s"#,
            hash_opaque(token),
            self.reuse_grace.as_secs_f64(),
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(gone)?;
        if !row.live {
            return Err(gone());
        }
        if row.reused {
            // The token was already exchanged: someone holds a copy. End the whole session.
            sqlx::query!(
                "update session set ended_at = now(), end_reason = 'refresh_token_reuse'
                 where session_id = $1",
                row.session_id
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            self.live.forget_session(row.session_id);
            tracing::warn!(user_id = %row.user_id, session_id = %row.session_id,
                "refresh token reused: session ended");
            return Err(gone());
        }
        sqlx::query!(
            "update refresh_token set rotated_at = coalesce(rotated_at, now()) where token_hash = $1",
            hash_opaque(token)
        )
        .execute(&mut *tx)
        .await?;
        let (refresh, hash) = new_opaque();
        sqlx::query!(
            "insert into refresh_token (token_hash, session_id) values ($1, $2)",
            hash,
            row.session_id
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "update session set last_seen_at = now(), ip = coalesce($2, ip),
                 user_agent = coalesce($3, user_agent)
             where session_id = $1",
            row.session_id,
            client.ip,
            client.user_agent,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.issued(
            row.user_id,
            row.device_id,
            row.session_id,
            refresh,
            row.expires_at,
        )
    }

    /// The cache of live sessions of this process (in use once the live-delivery listener,
    /// `realtime::Hub::start_listener`, listens for session ends).
    pub fn live_sessions(&self) -> &live::LiveSessions {
        &self.live
    }

    /// Checks an access token and that its session is still live: from the cache of live
    /// sessions when it holds the session (read less than [`live::TTL`] ago, and no end
    /// announced since), from the database otherwise.
    pub async fn authenticate(&self, access_token: &str) -> Result<AuthUser, AccountError> {
        let claims = self
            .tokens
            .verify(access_token)
            .map_err(|_| AccountError::unknown_token("Invalid or expired access token."))?;
        if let Some(cached) = self.live.get(claims.sid, &claims.sub) {
            return Ok(AuthUser {
                account_id: cached.account_id,
                user_id: cached.user_id,
                device_id: cached.device_id,
                session_id: claims.sid,
            });
        }
        // Taken before the read: if an end is announced meanwhile, the result is not cached.
        let ticket = self.live.ticket();
        // One round trip: check the session is live and, at most once a minute, note that it
        // was seen (so that busy clients do not write a row version per request). With the
        // cache, that note is made when the session is read again (at least every TTL while
        // the client is active), so `last_seen_at` stays within about a minute and a half.
        let row = sqlx::query!(
            r#"with live as (
                   select s.account_id, s.device_id, a.user_id, s.expires_at
                   from session s join account a using (account_id)
                   where s.session_id = $1 and s.ended_at is null and s.expires_at > now()
                     and a.disabled_at is null and a.user_id = $2
               ), touched as (
                   update session set last_seen_at = now()
                   where session_id = $1 and last_seen_at < now() - interval '1 minute'
                     and exists (select 1 from live)
               )
               select account_id as "account_id!", device_id as "device_id!",
                      user_id as "user_id!", expires_at as "expires_at!" from live"#,
            claims.sid,
            claims.sub,
        )
        .fetch_optional(&self.db)
        .await?
        .ok_or_else(|| AccountError::unknown_token("Your session has ended. Sign in again."))?;
        if let Some(ticket) = ticket {
            self.live.insert(
                ticket,
                claims.sid,
                live::LiveSession {
                    account_id: row.account_id,
                    user_id: row.user_id.clone(),
                    device_id: row.device_id.clone(),
                    expires_at: row.expires_at,
                },
            );
        }
        Ok(AuthUser {
            account_id: row.account_id,
            user_id: row.user_id,
            device_id: row.device_id,
            session_id: claims.sid,
        })
    }

    /// Whether a session is still live (for long-lived connections).
    pub async fn session_live(&self, session_id: Uuid) -> Result<bool, AccountError> {
        let live = sqlx::query_scalar!(
            r#"select exists (select 1 from session s join account a using (account_id)
                   where s.session_id = $1 and s.ended_at is null and s.expires_at > now()
                     and a.disabled_at is null) as "live!""#,
            session_id
        )
        .fetch_one(&self.db)
        .await?;
        Ok(live)
    }

    /// Ends one session of the user (`reason` is recorded).
    pub async fn end_session(
        &self,
        user: &AuthUser,
        session_id: Uuid,
        reason: &str,
    ) -> Result<bool, AccountError> {
        let ended = sqlx::query!(
            "update session set ended_at = now(), end_reason = $3
             where session_id = $1 and account_id = $2 and ended_at is null",
            session_id,
            user.account_id,
            reason,
        )
        .execute(&self.db)
        .await?;
        self.live.forget_session(session_id);
        Ok(ended.rows_affected() == 1)
    }

    /// Ends every session of the user but the current one.
    pub async fn end_other_sessions(&self, user: &AuthUser) -> Result<u64, AccountError> {
        let ended = sqlx::query!(
            "update session set ended_at = now(), end_reason = 'ended_by_user'
             where account_id = $1 and session_id <> $2 and ended_at is null",
            user.account_id,
            user.session_id,
        )
        .execute(&self.db)
        .await?;
        self.live.forget_account(user.account_id);
        Ok(ended.rows_affected())
    }

    /// The user's live sessions, newest first.
    pub async fn sessions(&self, user: &AuthUser) -> Result<Vec<SessionInfo>, AccountError> {
        let rows = sqlx::query!(
            "select session_id, device_id, device_name, created_at, last_seen_at, ip, user_agent
             from session where account_id = $1 and ended_at is null and expires_at > now()
             order by created_at desc",
            user.account_id
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| SessionInfo {
                current: r.session_id == user.session_id,
                session_id: r.session_id.to_string(),
                device_id: r.device_id,
                device_name: r.device_name,
                created_at: rfc3339(r.created_at),
                last_seen_at: rfc3339(r.last_seen_at),
                ip: r.ip,
                user_agent: r.user_agent,
            })
            .collect())
    }

    /// Re-authentication before a sensitive change (deleting a device, replacing
    /// cross-signing keys): refuses with `M_FORBIDDEN` unless `password` is the account's.
    /// Failures lock the account's re-authentication for a while (like sign-in), so a stolen
    /// access token cannot be used to guess the password.
    pub async fn check_password(
        &self,
        user: &AuthUser,
        password: &str,
    ) -> Result<(), AccountError> {
        let keys = [format!("reauth:{}", user.account_id)];
        if let Some(wait) = throttle::locked_for(&self.db, &keys).await? {
            return Err(AccountError::Refused {
                status: 429,
                code: ErrorCode::LimitExceeded,
                message: "Too many wrong passwords. Try again later.".into(),
                retry_after: Some(wait),
            });
        }
        let hash = sqlx::query_scalar!(
            "select password_hash from account where account_id = $1",
            user.account_id
        )
        .fetch_one(&self.db)
        .await?;
        if password.len() <= 4 * password::MAX_CHARS && self.hasher.verify(password, &hash).await? {
            throttle::clear(&self.db, &keys).await?;
            Ok(())
        } else {
            throttle::record_failure(&self.db, &keys).await?;
            Err(AccountError::refused(
                403,
                ErrorCode::Forbidden,
                "The password is wrong.",
            ))
        }
    }

    // ---- passwords ---------------------------------------------------------------------

    /// Changes the password after checking the current one; ends every other session.
    pub async fn change_password(
        &self,
        user: &AuthUser,
        current: &str,
        new: &str,
    ) -> Result<(), AccountError> {
        let account = sqlx::query!(
            "select localpart, password_hash from account where account_id = $1",
            user.account_id
        )
        .fetch_one(&self.db)
        .await?;
        if !self.hasher.verify(current, &account.password_hash).await? {
            return Err(AccountError::refused(
                403,
                ErrorCode::Forbidden,
                "The current password is wrong.",
            ));
        }
        password::check_new(new, &account.localpart)?;
        let hash = self.hasher.hash(new).await?;
        let mut tx = self.db.begin().await?;
        sqlx::query!(
            "update account set password_hash = $2 where account_id = $1",
            user.account_id,
            hash
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "update session set ended_at = now(), end_reason = 'password_changed'
             where account_id = $1 and session_id <> $2 and ended_at is null",
            user.account_id,
            user.session_id,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.live.forget_account(user.account_id);
        Ok(())
    }

    /// Mails a reset link if `email` belongs to an account. Says nothing about what it found.
    pub async fn forgot_password(&self, email: &str) -> Result<(), AccountError> {
        let Ok(email) = validate_email(email) else {
            return Ok(());
        };
        let mut tx = self.db.begin().await?;
        let account = sqlx::query!(
            r#"select account_id, full_name, user_id from account
               where email = $1 and disabled_at is null
               and not exists (select 1 from email_token t where t.account_id = account.account_id
                   and t.purpose = 'reset_password'
                   and t.created_at > now() - make_interval(secs => $2))
               for update"#,
            email.clone() as _,
            RESEND_INTERVAL_SECS as f64,
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(account) = account {
            let (token, hash) = new_opaque();
            let expires = OffsetDateTime::now_utc() + RESET_TOKEN_LIFETIME;
            sqlx::query!(
                "insert into email_token (token_hash, account_id, purpose, email, expires_at)
                 values ($1, $2, 'reset_password', $3, $4)",
                hash,
                account.account_id,
                email.clone() as _,
                expires,
            )
            .execute(&mut *tx)
            .await?;
            mail::enqueue(&mut *tx, &OutgoingMail {
                to: email.clone(),
                subject: format!("Reset your password on {}", self.server_name),
                text: format!(
                    "Hello {},\n\nsomeone asked to reset the password of your Parley account {}. \
                     To choose a new password, open this link:\n\n{}\n\nThe link works once and \
                     expires in one hour. If you did not ask for this, ignore this mail: your \
                     password stays as it is.\n",
                    account.full_name,
                    account.user_id,
                    self.link("/reset-password", &token),
                ),
            })
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets a new password with a reset link's token: ends every session and lifts lockouts.
    pub async fn reset_password(&self, token: &str, new: &str) -> Result<(), AccountError> {
        let invalid =
            || AccountError::unknown_token("This link is invalid, already used or expired.");
        if token.len() > 128 {
            return Err(invalid());
        }
        // Check the token before spending bcrypt time, but consume it only with the change.
        let account = sqlx::query!(
            r#"select a.account_id, a.localpart, a.user_id, a.email as "email!: String"
               from email_token t join account a using (account_id)
               where t.token_hash = $1 and t.used_at is null and t.expires_at > now()
                 and t.purpose = 'reset_password'"#,
            hash_opaque(token),
        )
        .fetch_optional(&self.db)
        .await?
        .ok_or_else(invalid)?;
        password::check_new(new, &account.localpart)?;
        let hash = self.hasher.hash(new).await?;
        let mut tx = self.db.begin().await?;
        let used = sqlx::query!(
            "update email_token set used_at = now()
             where token_hash = $1 and used_at is null and expires_at > now()",
            hash_opaque(token),
        )
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Err(invalid());
        }
        // Opening the link proved control of the address.
        sqlx::query!(
            "update account set password_hash = $2,
                 email_verified_at = coalesce(email_verified_at, now())
             where account_id = $1",
            account.account_id,
            hash,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "update session set ended_at = now(), end_reason = 'password_reset'
             where account_id = $1 and ended_at is null",
            account.account_id,
        )
        .execute(&mut *tx)
        .await?;
        let identifiers = [
            account.localpart,
            account.user_id,
            account.email.to_lowercase(),
        ];
        let keys: Vec<String> = identifiers
            .iter()
            .map(|i| throttle::identifier_key(i))
            .collect();
        throttle::clear(&mut *tx, &keys).await?;
        tx.commit().await?;
        self.live.forget_account(account.account_id);
        Ok(())
    }

    /// Disables an account and ends all its sessions at once (operators: `parley user disable`).
    pub async fn set_disabled(&self, user_id: &str, disabled: bool) -> Result<bool, AccountError> {
        let mut tx = self.db.begin().await?;
        let account = sqlx::query_scalar!(
            "update account set disabled_at = case when $2 then coalesce(disabled_at, now()) end
             where user_id = $1 returning account_id",
            user_id,
            disabled,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(account_id) = account else {
            return Ok(false);
        };
        if disabled {
            sqlx::query!(
                "update session set ended_at = now(), end_reason = 'account_disabled'
                 where account_id = $1 and ended_at is null",
                account_id
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.live.forget_account(account_id);
        Ok(true)
    }

    // ---- profile -----------------------------------------------------------------------

    /// The user's own profile.
    pub async fn my_profile(&self, user: &AuthUser) -> Result<MyProfile, AccountError> {
        let row = sqlx::query!(
            r#"select user_id, email as "email!: String", full_name, display_name, created_at
               from account where account_id = $1"#,
            user.account_id
        )
        .fetch_one(&self.db)
        .await?;
        Ok(MyProfile {
            user_id: row.user_id,
            email: row.email,
            full_name: row.full_name,
            display_name: row.display_name,
            created_at: rfc3339(row.created_at),
        })
    }

    /// Updates names in the user's profile.
    pub async fn update_profile(
        &self,
        user: &AuthUser,
        update: &UpdateProfileRequest,
    ) -> Result<MyProfile, AccountError> {
        let full_name = update
            .full_name
            .as_deref()
            .map(|n| validate_name(n, "full_name", 128))
            .transpose()?;
        let display_name = match update.display_name.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(name) => Some(Some(validate_name(name, "display_name", 64)?)),
        };
        sqlx::query!(
            "update account set full_name = coalesce($2, full_name),
                 display_name = case when $3 then $4 else display_name end
             where account_id = $1",
            user.account_id,
            full_name,
            display_name.is_some(),
            display_name.flatten(),
        )
        .execute(&self.db)
        .await?;
        self.my_profile(user).await
    }

    /// Another user's public profile (users of this server).
    pub async fn public_profile(&self, user_id: &str) -> Result<PublicProfile, AccountError> {
        let row = sqlx::query!(
            "select user_id, full_name, display_name from account
             where user_id = $1 and disabled_at is null and email_verified_at is not null",
            user_id
        )
        .fetch_optional(&self.db)
        .await?
        .ok_or_else(|| AccountError::refused(404, ErrorCode::NotFound, "No such user."))?;
        Ok(PublicProfile {
            user_id: row.user_id,
            full_name: row.full_name,
            display_name: row.display_name,
        })
    }

    /// Starts a change of address: checks the password, mails a link to the new address.
    pub async fn change_email(
        &self,
        user: &AuthUser,
        new_email: &str,
        password: &str,
    ) -> Result<(), AccountError> {
        let new_email = validate_email(new_email)?;
        let account = sqlx::query!(
            "select password_hash, full_name from account where account_id = $1",
            user.account_id
        )
        .fetch_one(&self.db)
        .await?;
        if !self.hasher.verify(password, &account.password_hash).await? {
            return Err(AccountError::refused(
                403,
                ErrorCode::Forbidden,
                "The password is wrong.",
            ));
        }
        let mut tx = self.db.begin().await?;
        self.send_verification(
            &mut tx,
            user.account_id,
            &new_email,
            &account.full_name,
            "change_email",
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A username as typed becomes a localpart: lower case, `a-z 0-9 . _ = -`, 1 to 64 characters.
pub fn validate_username(raw: &str) -> Result<String, AccountError> {
    let localpart = raw.trim().to_lowercase();
    let ok = !localpart.is_empty()
        && localpart.len() <= 64
        && localpart
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=-".contains(&b));
    if ok {
        Ok(localpart)
    } else {
        Err(AccountError::refused(
            400,
            ErrorCode::InvalidUsername,
            "A username has 1 to 64 characters: letters a-z, digits and . _ = -",
        ))
    }
}

fn validate_email(raw: &str) -> Result<String, AccountError> {
    let email = raw.trim();
    if email.len() > 254 || email.parse::<lettre::Address>().is_err() {
        return Err(AccountError::invalid("This is not a valid email address."));
    }
    Ok(email.to_owned())
}

fn validate_name(raw: &str, field: &str, max: usize) -> Result<String, AccountError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > max || name.chars().any(char::is_control) {
        return Err(AccountError::invalid(format!(
            "`{field}` must have 1 to {max} characters and no control characters."
        )));
    }
    Ok(name.to_owned())
}

fn validate_device_id(raw: &str) -> Result<String, AccountError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(AccountError::invalid(
            "`device_id` must be 1 to 64 of A-Z a-z 0-9 _ -",
        ))
    }
}

fn new_device_id() -> String {
    use rand::Rng as _;
    let mut rng = rand::thread_rng();
    (0..10)
        .map(|_| char::from(rng.gen_range(b'A'..=b'Z')))
        .collect()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn usernames_are_folded_and_checked() {
        assert_eq!(validate_username(" Alice.B ").unwrap(), "alice.b");
        assert_eq!(validate_username("a_b=c-d.9").unwrap(), "a_b=c-d.9");
        assert!(validate_username(&"a".repeat(64)).is_ok());
        for bad in ["", "a b", "alice@x", "ålice", &"a".repeat(65), "a:b"] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }
}
