//! Failed sign-ins, counted per identifier as typed and per client IP, with a lockout that grows
//! with repeated failures and always expires by itself. Keyed by what was typed (not by account)
//! so that a missing account locks out exactly like an existing one. Password reset never
//! checks these locks, and a successful reset lifts them.

use std::time::Duration;

use sqlx::{PgExecutor, PgPool};

/// Failures of one identifier before it is locked.
const IDENTIFIER_FREE_FAILURES: i32 = 5;
/// Failures from one IP (all identifiers) before it is locked; higher, for shared addresses.
const IP_FREE_FAILURES: i32 = 50;
/// The first lockout; each further failure doubles it, up to [`MAX_LOCK_SECS`].
const BASE_LOCK_SECS: f64 = 30.0;
/// The longest lockout.
const MAX_LOCK_SECS: f64 = 15.0 * 60.0;
/// Failures older than this are forgotten.
const FORGET_AFTER_SECS: f64 = 24.0 * 3600.0;

/// The throttle key of an identifier.
pub fn identifier_key(identifier: &str) -> String {
    format!("id:{}", identifier.trim().to_lowercase())
}

/// The keys a sign-in attempt counts against: identifier first, then IP.
pub fn keys(identifier: &str, ip: Option<&str>) -> Vec<String> {
    let mut keys = vec![identifier_key(identifier)];
    if let Some(ip) = ip {
        keys.push(format!("ip:{ip}"));
    }
    keys
}

/// How long the longest lock among `keys` still lasts, if any.
pub async fn locked_for(
    db: impl PgExecutor<'_>,
    keys: &[String],
) -> Result<Option<Duration>, sqlx::Error> {
    let secs = sqlx::query_scalar!(
        r#"select max(extract(epoch from locked_until - now()))::float8 as "secs"
           from login_throttle where throttle_key = any($1) and locked_until > now()"#,
        keys
    )
    .fetch_one(db)
    .await?;
    Ok(secs
        .filter(|s| *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.ceil())))
}

/// Counts a failure against every key, locking those over their threshold.
pub async fn record_failure(db: &PgPool, keys: &[String]) -> Result<(), sqlx::Error> {
    for key in keys {
        let failures = sqlx::query_scalar!(
            "insert into login_throttle as t (throttle_key, failures, last_failure_at)
             values ($1, 1, now())
             on conflict (throttle_key) do update set
                 failures = case when t.last_failure_at < now() - make_interval(secs => $2)
                                 then 1 else t.failures + 1 end,
                 last_failure_at = now()
             returning failures",
            key,
            FORGET_AFTER_SECS,
        )
        .fetch_one(db)
        .await?;
        let free = if key.starts_with("ip:") {
            IP_FREE_FAILURES
        } else {
            IDENTIFIER_FREE_FAILURES
        };
        if let Some(secs) = lock_secs(failures, free) {
            sqlx::query!(
                "update login_throttle set locked_until = now() + make_interval(secs => $2)
                 where throttle_key = $1",
                key,
                secs,
            )
            .execute(db)
            .await?;
            tracing::info!(throttle_key = %key, failures, secs, "sign-in locked");
        }
    }
    Ok(())
}

/// The lockout after `failures` failures when `free` are allowed: none up to `free`, then
/// doubling from [`BASE_LOCK_SECS`] up to [`MAX_LOCK_SECS`].
pub fn lock_secs(failures: i32, free: i32) -> Option<f64> {
    let over = failures - free;
    (over > 0).then(|| (BASE_LOCK_SECS * 2_f64.powi((over - 1).min(20))).min(MAX_LOCK_SECS))
}

/// Forgets the failures of `keys` (after a successful sign-in or a password reset).
pub async fn clear(db: impl PgExecutor<'_>, keys: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "delete from login_throttle where throttle_key = any($1)",
        keys
    )
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_grows_and_is_capped() {
        assert_eq!(lock_secs(5, 5), None);
        assert_eq!(lock_secs(6, 5), Some(30.0));
        assert_eq!(lock_secs(7, 5), Some(60.0));
        assert_eq!(lock_secs(8, 5), Some(120.0));
        assert_eq!(lock_secs(100, 5), Some(MAX_LOCK_SECS));
        assert_eq!(lock_secs(i32::MAX, 5), Some(MAX_LOCK_SECS));
    }
}
