//! Cross-signing keys (master, self-signing, user-signing) and signatures added to keys after
//! their upload.

use std::collections::BTreeMap;

use parley_client_api::{
    ErrorCode,
    keys::{DeviceSigningUploadRequest, SignaturesUploadResponse},
};
use serde_json::{Value, value::RawValue};
use vodozemac::Ed25519PublicKey;

use super::{E2ee, KeyError, failure, parse_object, signable, verify_raw, verify_signature};
use crate::accounts::AuthUser;

/// A checked cross-signing key of an upload.
struct CrossKey<'a> {
    usage: &'static str,
    public_key: String,
    value: Value,
    raw: &'a RawValue,
}

impl E2ee {
    /// Whether replacing cross-signing keys needs the password: always, unless the user has
    /// none yet and the session is less than ten minutes old.
    pub async fn cross_signing_needs_password(&self, user: &AuthUser) -> Result<bool, KeyError> {
        let row = sqlx::query!(
            r#"select exists (select 1 from cross_signing_key where account_id = $1) as "has_keys!",
                      exists (select 1 from session where session_id = $2
                              and created_at > now() - interval '10 minutes') as "fresh!""#,
            user.account_id,
            user.session_id
        )
        .fetch_one(&self.db)
        .await?;
        Ok(row.has_keys || !row.fresh)
    }

    /// Stores the caller's cross-signing keys (the caller has re-authenticated where needed).
    /// The self-signing and user-signing keys must be signed by the master key (the uploaded
    /// one, or the stored one). A new master key drops the old keys it no longer vouches for.
    pub async fn upload_cross_signing(
        &self,
        user: &AuthUser,
        request: &DeviceSigningUploadRequest,
    ) -> Result<(), KeyError> {
        let mut keys = Vec::new();
        for (usage, raw) in [
            ("master", &request.master_key),
            ("self_signing", &request.self_signing_key),
            ("user_signing", &request.user_signing_key),
        ] {
            if let Some(raw) = raw {
                keys.push(check_cross_key(user, usage, raw)?);
            }
        }
        if keys.is_empty() {
            return Err(KeyError::invalid("Upload at least one cross-signing key."));
        }
        let mut tx = self.db.begin().await?;
        let stored_master = sqlx::query_scalar!(
            "select public_key from cross_signing_key
             where account_id = $1 and usage = 'master' for update",
            user.account_id
        )
        .fetch_optional(&mut *tx)
        .await?;
        let new_master = keys
            .iter()
            .find(|k| k.usage == "master")
            .map(|k| k.public_key.clone());
        let master = new_master
            .clone()
            .or(stored_master.clone())
            .ok_or_else(|| KeyError::invalid("Upload a master key first."))?;
        for key in keys.iter().filter(|k| k.usage != "master") {
            verify_signature(
                &key.value,
                &user.user_id,
                &format!("ed25519:{master}"),
                &master,
                &format!("the {} key", key.usage),
            )?;
        }
        if new_master.is_some() && new_master != stored_master {
            // Everything signed by or vouching for the old identity is stale.
            let old = sqlx::query_scalar!(
                "delete from cross_signing_key where account_id = $1 returning public_key",
                user.account_id
            )
            .fetch_all(&mut *tx)
            .await?;
            let old_ids: Vec<String> = old.iter().map(|k| format!("ed25519:{k}")).collect();
            sqlx::query!(
                "delete from key_signature
                 where (target_account_id = $1 and target_key_id = any($2))
                    or (signer_user_id = $3 and signer_key_id = any($4))",
                user.account_id,
                &old,
                user.user_id,
                &old_ids
            )
            .execute(&mut *tx)
            .await?;
        }
        for key in &keys {
            sqlx::query!(
                "insert into cross_signing_key (account_id, usage, public_key, key_json)
                 values ($1, $2, $3, $4)
                 on conflict (account_id, usage) do update
                 set public_key = excluded.public_key, key_json = excluded.key_json,
                     updated_at = now()",
                user.account_id,
                key.usage,
                key.public_key,
                key.raw.get()
            )
            .execute(&mut *tx)
            .await?;
        }
        super::sync::record_keys_changed(&mut tx, &user.user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds the caller's signatures to stored keys: its self-signing key on its own devices,
    /// its devices on its own master key, its user-signing key on other users' master keys.
    /// Each signature is checked over the stored object; what fails is listed, the rest kept.
    pub async fn upload_signatures(
        &self,
        user: &AuthUser,
        request: &BTreeMap<String, BTreeMap<String, Value>>,
    ) -> Result<SignaturesUploadResponse, KeyError> {
        let mut failures: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
        let own = sqlx::query!(
            "select usage, public_key from cross_signing_key where account_id = $1",
            user.account_id
        )
        .fetch_all(&self.db)
        .await?;
        let own_key = |usage: &str| {
            own.iter()
                .find(|k| k.usage == usage)
                .map(|k| k.public_key.clone())
        };
        let mut signed = std::collections::BTreeSet::new();
        for (target_user, objects) in request {
            for (target_key_id, object) in objects {
                match self
                    .add_signatures(user, target_user, target_key_id, object, &own_key)
                    .await?
                {
                    Ok(()) => {
                        signed.insert(target_user);
                    }
                    Err(message) => {
                        failures.entry(target_user.clone()).or_default().insert(
                            target_key_id.clone(),
                            failure(ErrorCode::InvalidSignature, &message),
                        );
                    }
                }
            }
        }
        if !signed.is_empty() {
            let mut tx = self.db.begin().await?;
            for target_user in signed {
                super::sync::record_keys_changed(&mut tx, target_user).await?;
            }
            tx.commit().await?;
        }
        Ok(SignaturesUploadResponse { failures })
    }

    /// One signed object of a signature upload; `Ok(Err(why))` when refused.
    async fn add_signatures(
        &self,
        user: &AuthUser,
        target_user: &str,
        target_key_id: &str,
        object: &Value,
        own_key: &impl Fn(&str) -> Option<String>,
    ) -> Result<Result<(), String>, KeyError> {
        if self.remote_server(target_user).is_some() {
            return Ok(Err(
                "Keys of other servers' users cannot be signed yet.".into()
            ));
        }
        let Some(account_id) = self.account_of(target_user).await? else {
            return Ok(Err("No such user.".into()));
        };
        let is_self = target_user == user.user_id;
        // The stored object, and which of the caller's keys may sign it.
        let device = if is_self {
            sqlx::query_scalar!(
                "select key_json from device_key where account_id = $1 and device_id = $2",
                account_id,
                target_key_id
            )
            .fetch_optional(&self.db)
            .await?
        } else {
            None
        };
        let (stored, allowed_signer): (String, Option<(String, String)>) =
            if let Some(json) = device {
                let signer = own_key("self_signing").map(|k| (format!("ed25519:{k}"), k));
                (json, signer)
            } else {
                let master = sqlx::query_scalar!(
                    "select key_json from cross_signing_key
                     where account_id = $1 and usage = 'master' and public_key = $2",
                    account_id,
                    target_key_id
                )
                .fetch_optional(&self.db)
                .await?;
                let Some(json) = master else {
                    return Ok(Err("No such device or master key.".into()));
                };
                (json, None)
            };
        let Ok(stored) = serde_json::from_str::<Value>(&stored) else {
            return Ok(Err("The stored key is not valid JSON.".into()));
        };
        let content = signable(&stored);
        if signable(object) != content {
            return Ok(Err("The signed object differs from the stored key.".into()));
        }
        let Some(signatures) = object
            .get("signatures")
            .and_then(|s| s.get(&user.user_id))
            .and_then(Value::as_object)
        else {
            return Ok(Err("No signatures by you.".into()));
        };
        let already = stored.get("signatures").and_then(|s| s.get(&user.user_id));
        let mut accepted = Vec::new();
        for (signer_key_id, signature) in signatures {
            let Some(signature) = signature.as_str() else {
                return Ok(Err("A signature must be a string.".into()));
            };
            if already
                .and_then(|a| a.get(signer_key_id))
                .and_then(Value::as_str)
                == Some(signature)
            {
                continue;
            }
            let public_key = match &allowed_signer {
                Some((id, key)) if id == signer_key_id => Some(key.clone()),
                Some(_) => None,
                None if is_self => {
                    // The caller's own master key, signed by one of the caller's devices.
                    match signer_key_id.strip_prefix("ed25519:") {
                        Some(device_id) => {
                            sqlx::query_scalar!(
                                "select ed25519 from device_key
                                 where account_id = $1 and device_id = $2",
                                user.account_id,
                                device_id
                            )
                            .fetch_optional(&self.db)
                            .await?
                        }
                        None => None,
                    }
                }
                None => {
                    own_key("user_signing").filter(|k| format!("ed25519:{k}") == *signer_key_id)
                }
            };
            let Some(public_key) = public_key else {
                return Ok(Err(format!(
                    "{signer_key_id} is not a key of yours that may sign this key."
                )));
            };
            if verify_raw(&content, signature, &public_key).is_err() {
                return Ok(Err(format!(
                    "The signature by {signer_key_id} is not valid."
                )));
            }
            accepted.push((signer_key_id.clone(), signature.to_owned()));
        }
        for (signer_key_id, signature) in accepted {
            sqlx::query!(
                "insert into key_signature
                     (target_account_id, target_key_id, signer_user_id, signer_key_id, signature)
                 values ($1, $2, $3, $4, $5)
                 on conflict (target_account_id, target_key_id, signer_user_id, signer_key_id)
                 do update set signature = excluded.signature, created_at = now()",
                account_id,
                target_key_id,
                user.user_id,
                signer_key_id,
                signature
            )
            .execute(&self.db)
            .await?;
        }
        Ok(Ok(()))
    }
}

/// Checks one uploaded cross-signing key: the caller's, with the right usage and exactly one
/// ed25519 key named after itself.
fn check_cross_key<'a>(
    user: &AuthUser,
    usage: &'static str,
    raw: &'a RawValue,
) -> Result<CrossKey<'a>, KeyError> {
    let what = format!("The {usage} key");
    let value = parse_object(raw.get(), &what)?;
    if value.get("user_id").and_then(Value::as_str) != Some(user.user_id.as_str()) {
        return Err(KeyError::forbidden(format!(
            "{what} must name your own user id."
        )));
    }
    let usage_ok = value
        .get("usage")
        .and_then(Value::as_array)
        .is_some_and(|u| u.iter().any(|x| x.as_str() == Some(usage)));
    if !usage_ok {
        return Err(KeyError::invalid(format!(
            "{what} must list `{usage}` in `usage`."
        )));
    }
    let keys = value.get("keys").and_then(Value::as_object);
    let public_key = match keys.map(|k| k.iter().collect::<Vec<_>>()).as_deref() {
        Some([(id, Value::String(key))])
            if id.strip_prefix("ed25519:") == Some(key.as_str())
                && Ed25519PublicKey::from_base64(key).is_ok() =>
        {
            key.clone()
        }
        _ => {
            return Err(KeyError::invalid(format!(
                "{what} must hold exactly one key, `\"ed25519:<public key>\": \"<public key>\"`."
            )));
        }
    };
    Ok(CrossKey {
        usage,
        public_key,
        value,
        raw,
    })
}
