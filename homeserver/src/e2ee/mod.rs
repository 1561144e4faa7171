//! The server side of end-to-end encryption: devices, device keys, one-time and fallback keys,
//! cross-signing keys and their signatures, and to-device messages.
//!
//! The server never sees a private key or a plaintext. What it must get right: it returns key
//! objects exactly as uploaded (clients check signatures over them), it accepts only objects
//! signed by the key they claim (ed25519 over canonical JSON, checked with vodozemac), it never
//! lets a device's identity keys change, it hands out each one-time key at most once, and it sets
//! the sender of every to-device message from the access token.

pub mod canonical;
mod cross_signing;
mod devices;
mod keys;
pub mod sync;
mod to_device;

use std::collections::BTreeMap;

use parley_client_api::ErrorCode;
use serde_json::{Value, value::RawValue};
use sqlx::PgPool;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;
use vodozemac::{Ed25519PublicKey, Ed25519Signature};

pub use self::canonical::{canonical_json, signable};

/// A failure a client can act on, or an internal one.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Refused with a code and a message for the user.
    #[error("{message}")]
    Refused {
        /// The status to answer with.
        status: u16,
        /// The stable code.
        code: ErrorCode,
        /// What to tell the user.
        message: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl KeyError {
    fn refused(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Refused {
            status,
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::refused(400, ErrorCode::InvalidParam, message)
    }

    fn bad_signature(message: impl Into<String>) -> Self {
        Self::refused(400, ErrorCode::InvalidSignature, message)
    }

    fn forbidden(message: impl Into<String>) -> Self {
        Self::refused(403, ErrorCode::Forbidden, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::refused(404, ErrorCode::NotFound, message)
    }
}

/// The key service of one server.
#[derive(Clone)]
pub struct E2ee {
    db: PgPool,
    server_name: String,
    /// The `[federation]` config when this server federates: to-device messages for allowed
    /// peers' users are queued for them.
    federation: Option<std::sync::Arc<crate::config::FederationConfig>>,
}

impl E2ee {
    /// The service over `db`, for users `@...:server_name`.
    pub fn new(db: PgPool, server_name: &str) -> Self {
        Self {
            db,
            server_name: server_name.to_owned(),
            federation: None,
        }
    }

    /// The same service, queueing to-device messages for the peers `config` allows.
    pub fn with_federation(mut self, config: &crate::config::FederationConfig) -> Self {
        self.federation = Some(std::sync::Arc::new(config.clone()));
        self
    }

    /// The server part of a user id when it is another server's, `None` for this server.
    fn remote_server<'a>(&self, user_id: &'a str) -> Option<&'a str> {
        match user_id.split_once(':') {
            Some((_, server)) if server == self.server_name => None,
            Some((_, server)) => Some(server),
            None => Some(""),
        }
    }

    /// Whether `user_id` is one of this server's (whether or not the account exists).
    pub fn is_local(&self, user_id: &str) -> bool {
        self.remote_server(user_id).is_none()
    }

    /// The account of a local user id, if any.
    async fn account_of(&self, user_id: &str) -> Result<Option<Uuid>, KeyError> {
        Ok(sqlx::query_scalar!(
            "select account_id from account where user_id = $1 and disabled_at is null",
            user_id
        )
        .fetch_optional(&self.db)
        .await?)
    }
}

/// Parses a client's key object, which must be a JSON object.
fn parse_object(raw: &str, what: &str) -> Result<Value, KeyError> {
    match serde_json::from_str::<Value>(raw) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(KeyError::invalid(format!("{what} must be a JSON object."))),
    }
}

/// A string field of an object.
fn str_field<'a>(value: &'a Value, field: &str, what: &str) -> Result<&'a str, KeyError> {
    value
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| KeyError::invalid(format!("{what} needs a string `{field}`.")))
}

/// Checks `signatures[signer_user][signer_key_id]` of `value` with the ed25519 `public_key`.
fn verify_signature(
    value: &Value,
    signer_user: &str,
    signer_key_id: &str,
    public_key: &str,
    what: &str,
) -> Result<(), KeyError> {
    let signature = value
        .get("signatures")
        .and_then(|s| s.get(signer_user))
        .and_then(|s| s.get(signer_key_id))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            KeyError::bad_signature(format!("{what} is not signed by {signer_key_id}."))
        })?;
    verify_raw(&signable(value), signature, public_key)
        .map_err(|()| KeyError::bad_signature(format!("The signature of {what} is not valid.")))
}

/// Checks one base64 ed25519 signature of `message` by a base64 public key.
fn verify_raw(message: &str, signature: &str, public_key: &str) -> Result<(), ()> {
    let key = Ed25519PublicKey::from_base64(public_key).map_err(|_| ())?;
    let signature = Ed25519Signature::from_base64(signature).map_err(|_| ())?;
    key.verify(message.as_bytes(), &signature).map_err(|_| ())
}

/// A stored object with the signatures added later merged into its `signatures`; the stored
/// text itself when there are none.
fn with_signatures(
    stored: &str,
    extra: &[(String, String, String)],
) -> Result<Box<RawValue>, KeyError> {
    let text = if extra.is_empty() {
        stored.to_owned()
    } else {
        let mut value = parse_object(stored, "A stored key")?;
        if let Value::Object(map) = &mut value {
            let signatures = map
                .entry("signatures")
                .or_insert_with(|| Value::Object(Default::default()));
            if !signatures.is_object() {
                *signatures = Value::Object(Default::default());
            }
            for (signer, key_id, signature) in extra {
                if let Some(by_user) = signatures.as_object_mut().map(|s| {
                    s.entry(signer.clone())
                        .or_insert_with(|| Value::Object(Default::default()))
                }) && let Some(by_user) = by_user.as_object_mut()
                {
                    by_user.insert(key_id.clone(), Value::String(signature.clone()));
                }
            }
        }
        value.to_string()
    };
    RawValue::from_string(text).map_err(|_| KeyError::invalid("A stored key is not valid JSON."))
}

/// `{errcode, error}` for the `failures` maps.
fn failure(code: ErrorCode, message: &str) -> Value {
    serde_json::json!({"errcode": code.as_str(), "error": message})
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Extra signatures per target key id: `(signer user, signer key id, signature)`.
type ExtraSignatures = BTreeMap<String, Vec<(String, String, String)>>;
