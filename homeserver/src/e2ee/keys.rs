//! Device keys, one-time keys and fallback keys: upload, query, claim, counts.

use std::collections::BTreeMap;

use parley_client_api::{
    ErrorCode,
    keys::{
        ClaimKeysRequest, ClaimKeysResponse, KeyCounts, QueryKeysRequest, QueryKeysResponse,
        SIGNED_CURVE25519, UploadKeysRequest, UploadKeysResponse,
    },
};
use serde_json::{Value, value::RawValue};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey};

use super::{
    E2ee, ExtraSignatures, KeyError, failure, parse_object, str_field,
    sync::{self, DeviceRef, KeyNotice},
    verify_signature, with_signatures,
};
use crate::accounts::AuthUser;

/// The most one-time keys (and fallback keys) accepted in one upload.
const MAX_KEYS_PER_UPLOAD: usize = 200;
/// The most unclaimed one-time keys a device may hold.
const MAX_STORED_ONE_TIME_KEYS: i64 = 1000;

impl E2ee {
    /// Stores the caller's device keys, one-time keys and fallback keys after checking them.
    pub async fn upload(
        &self,
        user: &AuthUser,
        request: &UploadKeysRequest,
    ) -> Result<UploadKeysResponse, KeyError> {
        let one_time = request.one_time_keys.as_ref();
        let fallback = request.fallback_keys.as_ref();
        if one_time.map_or(0, BTreeMap::len) + fallback.map_or(0, BTreeMap::len)
            > MAX_KEYS_PER_UPLOAD
        {
            return Err(KeyError::invalid(format!(
                "Upload at most {MAX_KEYS_PER_UPLOAD} one-time and fallback keys at a time."
            )));
        }
        let mut tx = self.db.begin().await?;
        sqlx::query!(
            "insert into device (account_id, device_id) values ($1, $2)
             on conflict (account_id, device_id) do nothing",
            user.account_id,
            user.device_id
        )
        .execute(&mut *tx)
        .await?;
        let signing_key = match &request.device_keys {
            Some(raw) => Some(self.store_device_keys(&mut tx, user, raw).await?),
            None => {
                sqlx::query_scalar!(
                    "select ed25519 from device_key where account_id = $1 and device_id = $2",
                    user.account_id,
                    user.device_id
                )
                .fetch_optional(&mut *tx)
                .await?
            }
        };
        let key_id = format!("ed25519:{}", user.device_id);
        if let Some(keys) = one_time {
            for (id, raw) in keys {
                let algorithm =
                    check_curve_key(user, &key_id, signing_key.as_deref(), id, raw, false)?;
                let inserted = sqlx::query!(
                    "insert into one_time_key (account_id, device_id, key_id, algorithm, key_json)
                     values ($1, $2, $3, $4, $5)
                     on conflict (account_id, device_id, key_id) do nothing",
                    user.account_id,
                    user.device_id,
                    id,
                    algorithm,
                    raw.get()
                )
                .execute(&mut *tx)
                .await?;
                // The same key again (a retried upload) is fine; another key under a stored
                // id is a client bug that would hand out a key the device no longer has.
                if inserted.rows_affected() == 0 {
                    let stored = sqlx::query_scalar!(
                        "select key_json from one_time_key
                         where account_id = $1 and device_id = $2 and key_id = $3",
                        user.account_id,
                        user.device_id,
                        id
                    )
                    .fetch_optional(&mut *tx)
                    .await?;
                    let same = stored.is_none_or(|stored| {
                        serde_json::from_str::<Value>(&stored).ok()
                            == serde_json::from_str::<Value>(raw.get()).ok()
                    });
                    if !same {
                        return Err(KeyError::invalid(format!(
                            "One-time key `{id}` is already stored with another value."
                        )));
                    }
                }
            }
            let stored = sqlx::query_scalar!(
                r#"select count(*) as "n!" from one_time_key
                   where account_id = $1 and device_id = $2"#,
                user.account_id,
                user.device_id
            )
            .fetch_one(&mut *tx)
            .await?;
            if stored > MAX_STORED_ONE_TIME_KEYS {
                return Err(KeyError::invalid(format!(
                    "A device holds at most {MAX_STORED_ONE_TIME_KEYS} unclaimed one-time keys."
                )));
            }
        }
        if let Some(keys) = fallback {
            for (id, raw) in keys {
                let algorithm =
                    check_curve_key(user, &key_id, signing_key.as_deref(), id, raw, true)?;
                sqlx::query!(
                    "insert into fallback_key (account_id, device_id, algorithm, key_id, key_json)
                     values ($1, $2, $3, $4, $5)
                     on conflict (account_id, device_id, algorithm) do update
                     set key_id = excluded.key_id, key_json = excluded.key_json, used = false,
                         created_at = now()",
                    user.account_id,
                    user.device_id,
                    algorithm,
                    id,
                    raw.get()
                )
                .execute(&mut *tx)
                .await?;
            }
        }
        if one_time.is_some() || fallback.is_some() {
            sync::announce(&mut *tx, &KeyNotice::KeyCounts(DeviceRef::of(user))).await?;
        }
        tx.commit().await?;
        Ok(UploadKeysResponse {
            one_time_key_counts: self.counts(user).await?.one_time_key_counts,
        })
    }

    /// Checks the device keys of an upload and stores them; returns the device's ed25519 key.
    async fn store_device_keys(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        user: &AuthUser,
        raw: &RawValue,
    ) -> Result<String, KeyError> {
        let value = parse_object(raw.get(), "`device_keys`")?;
        let what = "`device_keys`";
        if str_field(&value, "user_id", what)? != user.user_id {
            return Err(KeyError::forbidden(
                "`device_keys.user_id` must be your own user id.",
            ));
        }
        if str_field(&value, "device_id", what)? != user.device_id {
            return Err(KeyError::forbidden(
                "`device_keys.device_id` must be the device of your access token.",
            ));
        }
        let algorithms_ok = value
            .get("algorithms")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
        if !algorithms_ok {
            return Err(KeyError::invalid(
                "`device_keys.algorithms` must be a list of algorithm names.",
            ));
        }
        let keys = value
            .get("keys")
            .filter(|k| k.is_object())
            .ok_or_else(|| KeyError::invalid("`device_keys.keys` must be an object."))?;
        let key_id = format!("ed25519:{}", user.device_id);
        let ed25519 = str_field(keys, &key_id, "`device_keys.keys`")?;
        let curve25519 = str_field(
            keys,
            &format!("curve25519:{}", user.device_id),
            "`device_keys.keys`",
        )?;
        if Ed25519PublicKey::from_base64(ed25519).is_err()
            || Curve25519PublicKey::from_base64(curve25519).is_err()
        {
            return Err(KeyError::invalid(
                "The device's ed25519 and curve25519 keys must be unpadded base64 public keys.",
            ));
        }
        verify_signature(&value, &user.user_id, &key_id, ed25519, "`device_keys`")?;
        let existing = sqlx::query!(
            "select ed25519, curve25519, key_json from device_key
             where account_id = $1 and device_id = $2 for update",
            user.account_id,
            user.device_id
        )
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(existing) = &existing
            && (existing.ed25519 != ed25519 || existing.curve25519 != curve25519)
        {
            return Err(KeyError::invalid(
                "This device already has other identity keys, and they never change. \
                 Sign in as a new device instead.",
            ));
        }
        sqlx::query!(
            "insert into device_key (account_id, device_id, ed25519, curve25519, key_json)
             values ($1, $2, $3, $4, $5)
             on conflict (account_id, device_id) do update
             set key_json = excluded.key_json, updated_at = now()",
            user.account_id,
            user.device_id,
            ed25519,
            curve25519,
            raw.get()
        )
        .execute(&mut **tx)
        .await?;
        if existing.is_none_or(|e| e.key_json != raw.get()) {
            sync::record_keys_changed(tx, &user.user_id).await?;
        }
        Ok(ed25519.to_owned())
    }

    /// The caller's device's unclaimed one-time keys per algorithm, and its unused fallback
    /// key algorithms.
    pub async fn counts(&self, user: &AuthUser) -> Result<KeyCounts, KeyError> {
        let rows = sqlx::query!(
            r#"select algorithm, count(*) as "n!" from one_time_key
               where account_id = $1 and device_id = $2 group by algorithm"#,
            user.account_id,
            user.device_id
        )
        .fetch_all(&self.db)
        .await?;
        let mut one_time_key_counts: BTreeMap<String, i64> =
            rows.into_iter().map(|r| (r.algorithm, r.n)).collect();
        one_time_key_counts
            .entry(SIGNED_CURVE25519.to_owned())
            .or_insert(0);
        let unused_fallback_key_types = sqlx::query_scalar!(
            "select algorithm from fallback_key
             where account_id = $1 and device_id = $2 and not used order by algorithm",
            user.account_id,
            user.device_id
        )
        .fetch_all(&self.db)
        .await?;
        Ok(KeyCounts {
            one_time_key_counts,
            unused_fallback_key_types,
        })
    }

    /// Device keys and cross-signing keys of local users (the user-signing key only of the
    /// caller). Other servers' users are listed under `failures` by server.
    pub async fn query(
        &self,
        user: &AuthUser,
        request: &QueryKeysRequest,
    ) -> Result<QueryKeysResponse, KeyError> {
        self.query_as(Some(&user.user_id), request).await
    }

    /// [`E2ee::query`] for `viewer`, a local user, or `None` for another server: then no
    /// user-signing key is returned and only the owners' own signatures.
    pub async fn query_as(
        &self,
        viewer: Option<&str>,
        request: &QueryKeysRequest,
    ) -> Result<QueryKeysResponse, KeyError> {
        let mut response = QueryKeysResponse {
            device_keys: BTreeMap::new(),
            master_keys: BTreeMap::new(),
            self_signing_keys: BTreeMap::new(),
            user_signing_keys: BTreeMap::new(),
            failures: BTreeMap::new(),
        };
        for (user_id, devices) in &request.device_keys {
            if let Some(server) = self.remote_server(user_id) {
                response.failures.insert(
                    server.to_owned(),
                    failure(
                        ErrorCode::Unavailable,
                        "Keys of other servers' users are not available yet.",
                    ),
                );
                continue;
            }
            let Some(account_id) = self.account_of(user_id).await? else {
                continue;
            };
            let extra = self
                .extra_signatures(account_id, user_id, viewer.unwrap_or(user_id))
                .await?;
            let rows = sqlx::query!(
                "select device_id, key_json from device_key
                 where account_id = $1 and (cardinality($2::text[]) = 0 or device_id = any($2))
                 order by device_id",
                account_id,
                devices
            )
            .fetch_all(&self.db)
            .await?;
            let mut by_device = BTreeMap::new();
            for row in rows {
                let sigs = extra.get(&row.device_id).map_or(&[][..], Vec::as_slice);
                by_device.insert(row.device_id, with_signatures(&row.key_json, sigs)?);
            }
            response.device_keys.insert(user_id.clone(), by_device);
            let cross = sqlx::query!(
                "select usage, public_key, key_json from cross_signing_key where account_id = $1",
                account_id
            )
            .fetch_all(&self.db)
            .await?;
            for key in cross {
                let sigs = extra.get(&key.public_key).map_or(&[][..], Vec::as_slice);
                let json = with_signatures(&key.key_json, sigs)?;
                let target = match key.usage.as_str() {
                    "master" => &mut response.master_keys,
                    "self_signing" => &mut response.self_signing_keys,
                    _ if Some(user_id.as_str()) == viewer => &mut response.user_signing_keys,
                    _ => continue,
                };
                target.insert(user_id.clone(), json);
            }
        }
        Ok(response)
    }

    /// Signatures added to `account_id`'s keys by their owner or by `viewer`, by target key:
    /// one user's signature on another's key (with the user-signing key) is the signer's
    /// business only.
    pub(super) async fn extra_signatures(
        &self,
        account_id: Uuid,
        owner: &str,
        viewer: &str,
    ) -> Result<ExtraSignatures, KeyError> {
        let rows = sqlx::query!(
            "select target_key_id, signer_user_id, signer_key_id, signature from key_signature
             where target_account_id = $1 and signer_user_id in ($2, $3)
             order by signer_user_id, signer_key_id",
            account_id,
            owner,
            viewer
        )
        .fetch_all(&self.db)
        .await?;
        let mut extra = ExtraSignatures::new();
        for r in rows {
            extra.entry(r.target_key_id).or_default().push((
                r.signer_user_id,
                r.signer_key_id,
                r.signature,
            ));
        }
        Ok(extra)
    }

    /// Hands out one one-time key per device asked for, each at most once even under
    /// concurrent claims; once a device has none left, its fallback key (again and again until
    /// the device replaces it).
    pub async fn claim(&self, request: &ClaimKeysRequest) -> Result<ClaimKeysResponse, KeyError> {
        let mut response = ClaimKeysResponse {
            one_time_keys: BTreeMap::new(),
            failures: BTreeMap::new(),
        };
        for (user_id, devices) in &request.one_time_keys {
            if let Some(server) = self.remote_server(user_id) {
                response.failures.insert(
                    server.to_owned(),
                    failure(
                        ErrorCode::Unavailable,
                        "Keys of other servers' users are not available yet.",
                    ),
                );
                continue;
            }
            let Some(account_id) = self.account_of(user_id).await? else {
                continue;
            };
            let mut claimed = BTreeMap::new();
            for (device_id, algorithm) in devices {
                // Rows another claim has locked are skipped, so two claims never wait for
                // each other and never get the same key.
                let one_time = sqlx::query!(
                    "delete from one_time_key
                     where account_id = $1 and device_id = $2 and key_id = (
                         select key_id from one_time_key
                         where account_id = $1 and device_id = $2 and algorithm = $3
                         order by created_at, key_id limit 1
                         for update skip locked)
                     returning key_id, key_json",
                    account_id,
                    device_id,
                    algorithm
                )
                .fetch_optional(&self.db)
                .await?
                .map(|r| (r.key_id, r.key_json));
                let key = match one_time {
                    Some(key) => Some(key),
                    None => sqlx::query!(
                        "update fallback_key set used = true
                         where account_id = $1 and device_id = $2 and algorithm = $3
                         returning key_id, key_json",
                        account_id,
                        device_id,
                        algorithm
                    )
                    .fetch_optional(&self.db)
                    .await?
                    .map(|r| (r.key_id, r.key_json)),
                };
                if let Some((key_id, json)) = key {
                    let owner = DeviceRef {
                        user_id: user_id.clone(),
                        device_id: device_id.clone(),
                    };
                    sync::announce(&self.db, &KeyNotice::KeyCounts(owner)).await?;
                    claimed.insert(
                        device_id.clone(),
                        BTreeMap::from([(key_id, with_signatures(&json, &[])?)]),
                    );
                }
            }
            if !claimed.is_empty() {
                response.one_time_keys.insert(user_id.clone(), claimed);
            }
        }
        Ok(response)
    }
}

/// Checks a one-time or fallback key `{key, signatures}` (with `fallback: true` for a fallback
/// key) named `signed_curve25519:<id>` and signed by the device; returns its algorithm.
fn check_curve_key(
    user: &AuthUser,
    device_key_id: &str,
    signing_key: Option<&str>,
    id: &str,
    raw: &RawValue,
    is_fallback: bool,
) -> Result<&'static str, KeyError> {
    let kind = if is_fallback { "fallback" } else { "one-time" };
    match id.split_once(':') {
        Some((SIGNED_CURVE25519, key_name)) if !key_name.is_empty() && key_name.len() <= 64 => {}
        _ => {
            return Err(KeyError::invalid(format!(
                "A {kind} key id must be `{SIGNED_CURVE25519}:<id>` (got `{id}`)."
            )));
        }
    }
    let signing_key = signing_key.ok_or_else(|| {
        KeyError::invalid("Upload this device's keys before its one-time and fallback keys.")
    })?;
    let what = format!("{kind} key `{id}`");
    let value = parse_object(raw.get(), &what)?;
    let key = str_field(&value, "key", &what)?;
    if Curve25519PublicKey::from_base64(key).is_err() {
        return Err(KeyError::invalid(format!(
            "The {what} is not an unpadded base64 curve25519 key."
        )));
    }
    if is_fallback && value.get("fallback") != Some(&Value::Bool(true)) {
        return Err(KeyError::invalid(format!(
            "The {what} must say `\"fallback\": true`."
        )));
    }
    verify_signature(&value, &user.user_id, device_key_id, signing_key, &what)?;
    Ok(SIGNED_CURVE25519)
}
