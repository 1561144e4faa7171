//! Server key documents, and the cache of other servers' keys.
//!
//! Each homeserver publishes its verify keys at [`KEY_DOCUMENT_PATH`] as a JSON document signed
//! with its current key (see `docs/federation.md`):
//!
//! ```json
//! {
//!   "server_name": "org-a.example",
//!   "verify_keys": { "ed25519:abc": { "key": "<unpadded base64>" } },
//!   "old_verify_keys": { "ed25519:old": { "key": "<unpadded base64>", "expired_ts": 1700000000000 } },
//!   "valid_until_ts": 1700086400000,
//!   "signatures": { "org-a.example": { "ed25519:abc": "<unpadded base64>" } }
//! }
//! ```
//!
//! Timestamps are milliseconds since the Unix epoch. The signature covers the canonical JSON of
//! the document without `signatures` and `unsigned`. A peer keeps keys no longer than
//! `valid_until_ts` and at most [`MAX_KEY_CACHE`] after fetching; an old key verifies only
//! what was signed before its `expired_ts`.

use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::STANDARD_NO_PAD};
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    canonical::{CanonicalError, try_signable},
    server_name::ServerName,
    signing_key::{ServerSigningKey, ed25519_key_version},
};

/// The path a homeserver serves its key document at (GET, no authentication).
pub const KEY_DOCUMENT_PATH: &str = "/_parley/key/v1/server";

/// The longest a peer's keys are kept after fetching, whatever the document says: 7 days.
pub const MAX_KEY_CACHE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The largest key document accepted, in bytes.
pub const MAX_KEY_DOCUMENT_BYTES: usize = 64 * 1024;

/// The most keys (current and old together) a key document may list.
pub const MAX_KEYS_PER_DOCUMENT: usize = 64;

/// A current verify key in a key document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyKeyEntry {
    /// The ed25519 public key, unpadded standard base64.
    pub key: String,
}

/// A retired verify key in a key document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OldVerifyKeyEntry {
    /// The ed25519 public key, unpadded standard base64.
    pub key: String,
    /// When the key stopped being used, in milliseconds since the Unix epoch. Signatures made
    /// at or after this time with this key are refused.
    pub expired_ts: u64,
}

/// A server key document, as sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDocument {
    /// The server whose keys these are.
    pub server_name: String,
    /// The keys in use, by key id (`ed25519:<version>`).
    pub verify_keys: BTreeMap<String, VerifyKeyEntry>,
    /// Retired keys, by key id.
    #[serde(default)]
    pub old_verify_keys: BTreeMap<String, OldVerifyKeyEntry>,
    /// Until when peers may use this document, in milliseconds since the Unix epoch.
    pub valid_until_ts: u64,
    /// Signatures: server name, then key id, then unpadded base64 ed25519 signature.
    #[serde(default)]
    pub signatures: BTreeMap<String, BTreeMap<String, String>>,
}

/// A retired key of our own, as the homeserver stores it to list in its key document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredKey {
    /// The key id, `ed25519:<version>`.
    pub key_id: String,
    /// The public key, unpadded standard base64.
    pub key: String,
    /// When it was retired, in milliseconds since the Unix epoch.
    pub expired_ts: u64,
}

impl RetiredKey {
    /// Retires `key` at `at`: what `parley keys rotate` records before it writes a new key.
    pub fn retire(key: &ServerSigningKey, at: SystemTime) -> Self {
        Self {
            key_id: key.key_id(),
            key: key.public_key_base64(),
            expired_ts: unix_millis(at),
        }
    }
}

/// What is wrong with a key document.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyDocumentError {
    /// Larger than [`MAX_KEY_DOCUMENT_BYTES`].
    #[error("the key document is too large")]
    TooLarge,
    /// Not JSON, or not shaped as a key document.
    #[error("the key document is not valid JSON of the expected shape")]
    Malformed,
    /// Holds a number canonical JSON does not allow.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    /// `server_name` is not the server it was fetched from.
    #[error("the key document names another server")]
    WrongServer,
    /// An ed25519 key id or key is malformed, or too many keys are listed.
    #[error("the key document holds a malformed key or key id")]
    BadKey,
    /// A key id is listed both as current and as old.
    #[error("a key is listed both as current and as old")]
    DuplicateKey,
    /// No current ed25519 key.
    #[error("the key document has no current ed25519 key")]
    NoKey,
    /// No valid signature by the server with one of its current keys.
    #[error("the key document is not signed by one of its current keys")]
    BadSignature,
    /// `valid_until_ts` is not in the future.
    #[error("the key document has expired")]
    Expired,
}

/// Builds and signs our own key document.
///
/// `current` is listed under `verify_keys` and signs the document; `retired` keys go under
/// `old_verify_keys` (a retired key with the same id as `current` is skipped).
pub fn sign_key_document(
    server_name: &ServerName,
    current: &ServerSigningKey,
    retired: &[RetiredKey],
    valid_until: SystemTime,
) -> Result<Value, KeyDocumentError> {
    let current_id = current.key_id();
    let document = KeyDocument {
        server_name: server_name.as_str().to_owned(),
        verify_keys: BTreeMap::from([(
            current_id.clone(),
            VerifyKeyEntry {
                key: current.public_key_base64(),
            },
        )]),
        old_verify_keys: retired
            .iter()
            .filter(|old| old.key_id != current_id)
            .map(|old| {
                (
                    old.key_id.clone(),
                    OldVerifyKeyEntry {
                        key: old.key.clone(),
                        expired_ts: old.expired_ts,
                    },
                )
            })
            .collect(),
        valid_until_ts: unix_millis(valid_until),
        signatures: BTreeMap::new(),
    };
    let mut value = serde_json::to_value(&document).map_err(|_| KeyDocumentError::Malformed)?;
    let signature = current.sign_base64(try_signable(&value)?.as_bytes());
    if let Value::Object(map) = &mut value {
        map.insert(
            "signatures".to_owned(),
            serde_json::json!({ server_name.as_str(): { current_id: signature } }),
        );
    }
    Ok(value)
}

/// A peer's key, checked and ready to verify with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerKey {
    /// The public key.
    pub key: VerifyingKey,
    /// For a retired key, when it stopped being valid: it verifies only signatures made before.
    pub expired: Option<SystemTime>,
}

impl PeerKey {
    /// Whether this key may verify a signature made at `signed_at`.
    pub fn valid_at(&self, signed_at: SystemTime) -> bool {
        self.expired.is_none_or(|expired| signed_at < expired)
    }
}

/// A key document whose signature, server name and validity have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKeys {
    /// The server.
    pub server_name: ServerName,
    /// Current and old ed25519 keys by key id.
    pub keys: HashMap<String, PeerKey>,
    /// Until when the document may be used.
    pub valid_until: SystemTime,
}

/// Parses and checks a fetched key document: it must be at most [`MAX_KEY_DOCUMENT_BYTES`],
/// name `expected` as its server, list only well-formed ed25519 keys (keys of other algorithms
/// are ignored), be signed by `expected` with one of its current keys, and be valid after `now`.
pub fn verify_key_document(
    body: &[u8],
    expected: &ServerName,
    now: SystemTime,
) -> Result<VerifiedKeys, KeyDocumentError> {
    if body.len() > MAX_KEY_DOCUMENT_BYTES {
        return Err(KeyDocumentError::TooLarge);
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| KeyDocumentError::Malformed)?;
    if !value.is_object() {
        return Err(KeyDocumentError::Malformed);
    }
    let signed = try_signable(&value)?;
    let document: KeyDocument =
        serde_json::from_value(value).map_err(|_| KeyDocumentError::Malformed)?;
    let named =
        ServerName::parse(&document.server_name).map_err(|_| KeyDocumentError::WrongServer)?;
    if &named != expected {
        return Err(KeyDocumentError::WrongServer);
    }
    if document.verify_keys.len() + document.old_verify_keys.len() > MAX_KEYS_PER_DOCUMENT {
        return Err(KeyDocumentError::BadKey);
    }

    let mut keys = HashMap::new();
    for (key_id, entry) in &document.verify_keys {
        if let Some(key) = ed25519_entry(key_id, &entry.key)? {
            keys.insert(key_id.clone(), PeerKey { key, expired: None });
        }
    }
    if keys.is_empty() {
        return Err(KeyDocumentError::NoKey);
    }
    let current = keys.clone();
    for (key_id, entry) in &document.old_verify_keys {
        if let Some(key) = ed25519_entry(key_id, &entry.key)? {
            if keys.contains_key(key_id) {
                return Err(KeyDocumentError::DuplicateKey);
            }
            let expired = UNIX_EPOCH + Duration::from_millis(entry.expired_ts);
            keys.insert(
                key_id.clone(),
                PeerKey {
                    key,
                    expired: Some(expired),
                },
            );
        }
    }

    // The signatures are listed under the server's name as it wrote it; accept the entry whose
    // name normalises to the expected server.
    let signatures = document
        .signatures
        .iter()
        .filter(|(name, _)| ServerName::parse(name).is_ok_and(|name| &name == expected))
        .flat_map(|(_, by_key)| by_key.iter());
    let mut signed_ok = false;
    for (key_id, signature) in signatures {
        let Some(peer) = current.get(key_id) else {
            continue;
        };
        let Some(signature) = decode_signature(signature) else {
            return Err(KeyDocumentError::BadSignature);
        };
        if peer.key.verify(signed.as_bytes(), &signature).is_err() {
            return Err(KeyDocumentError::BadSignature);
        }
        signed_ok = true;
    }
    if !signed_ok {
        return Err(KeyDocumentError::BadSignature);
    }

    let valid_until = UNIX_EPOCH + Duration::from_millis(document.valid_until_ts);
    if valid_until <= now {
        return Err(KeyDocumentError::Expired);
    }
    Ok(VerifiedKeys {
        server_name: named,
        keys,
        valid_until,
    })
}

/// The key of an `ed25519:` entry; `None` for other algorithms.
fn ed25519_entry(key_id: &str, key: &str) -> Result<Option<VerifyingKey>, KeyDocumentError> {
    if !key_id.starts_with("ed25519:") {
        return Ok(None);
    }
    if ed25519_key_version(key_id).is_none() {
        return Err(KeyDocumentError::BadKey);
    }
    decode_public_key(key)
        .map(Some)
        .ok_or(KeyDocumentError::BadKey)
}

/// Decodes an unpadded base64 ed25519 public key.
pub fn decode_public_key(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = STANDARD_NO_PAD.decode(text).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

fn decode_signature(text: &str) -> Option<Signature> {
    let bytes: [u8; 64] = STANDARD_NO_PAD.decode(text).ok()?.try_into().ok()?;
    Some(Signature::from_bytes(&bytes))
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Why a peer's key could not be had.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyLookupError {
    /// The server does not list this key id, even after a refetch.
    #[error("unknown key id for this server")]
    UnknownKey,
    /// The key was retired before the signature was made.
    #[error("the key had been retired when the signature was made")]
    KeyExpired,
    /// The key is unknown and the server's document was fetched too recently to fetch again.
    #[error("unknown key id, and the server's keys were fetched too recently to refetch")]
    RefetchLimited,
    /// Too many key fetches are under way already.
    #[error("too many key fetches under way")]
    Busy,
    /// Fetching the server's key document failed.
    #[error("fetching the server's keys failed")]
    Fetch,
    /// The fetched key document was refused.
    #[error("the server's key document was refused: {0}")]
    Document(#[from] KeyDocumentError),
}

/// Gives the key a server signed with; what request verification asks.
pub trait KeyLookup: Sync {
    /// The key `key_id` of `server`, valid for a signature made at `signed_at`.
    fn lookup(
        &self,
        server: &ServerName,
        key_id: &str,
        signed_at: SystemTime,
        now: SystemTime,
    ) -> impl Future<Output = Result<VerifyingKey, KeyLookupError>> + Send;
}

/// A key document could not be fetched; the fetcher keeps (and logs) the details.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("the key document could not be fetched")]
pub struct FetchFailed;

/// Fetches a server's raw key document; [`KeyCache`] checks what comes back.
pub trait KeyFetcher: Send + Sync {
    /// The body of `server`'s key document.
    fn fetch(
        &self,
        server: &ServerName,
    ) -> impl Future<Output = Result<Vec<u8>, FetchFailed>> + Send;
}

impl<T: KeyFetcher> KeyFetcher for Arc<T> {
    fn fetch(
        &self,
        server: &ServerName,
    ) -> impl Future<Output = Result<Vec<u8>, FetchFailed>> + Send {
        T::fetch(self, server)
    }
}

/// Limits of a [`KeyCache`].
#[derive(Debug, Clone)]
pub struct KeyCacheConfig {
    /// The longest keys are kept after a fetch, however long the document allows; at most
    /// [`MAX_KEY_CACHE`] (larger values are lowered to it).
    pub max_age: Duration,
    /// The least time between two fetches of one server's document.
    pub refetch_interval: Duration,
    /// The most servers kept; when full, the entry that expires first is dropped.
    pub max_servers: usize,
    /// The most fetches under way at once, over all servers.
    pub max_concurrent_fetches: usize,
}

impl Default for KeyCacheConfig {
    fn default() -> Self {
        Self {
            max_age: MAX_KEY_CACHE,
            refetch_interval: Duration::from_secs(60),
            max_servers: 10_000,
            max_concurrent_fetches: 16,
        }
    }
}

#[derive(Debug, Default)]
struct Entry {
    keys: HashMap<String, PeerKey>,
    cached_until: Option<SystemTime>,
    last_fetch: Option<SystemTime>,
    /// Held while this server's document is fetched: lookups that arrive meanwhile wait for
    /// that fetch instead of being refused by the rate limit or starting another.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

/// An in-memory cache of other servers' keys, one per homeserver instance.
///
/// It answers "the key `key_id` of `server`" from what it holds while the document is valid;
/// when it holds no valid key by that id, it fetches the server's document again, but no more
/// than once per [`KeyCacheConfig::refetch_interval`] per server and no more than
/// [`KeyCacheConfig::max_concurrent_fetches`] at once, so a peer sending unknown key ids cannot
/// make us hammer anyone.
#[derive(Debug)]
pub struct KeyCache<F> {
    fetcher: F,
    config: KeyCacheConfig,
    entries: Mutex<HashMap<ServerName, Entry>>,
    fetching: Arc<AtomicUsize>,
}

impl<F: KeyFetcher> KeyCache<F> {
    /// An empty cache that fetches with `fetcher`.
    pub fn new(fetcher: F, mut config: KeyCacheConfig) -> Self {
        config.max_age = config.max_age.min(MAX_KEY_CACHE);
        config.max_servers = config.max_servers.max(1);
        Self {
            fetcher,
            config,
            entries: Mutex::new(HashMap::new()),
            fetching: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The key `key_id` of `server` for a signature made at `signed_at`, fetching the server's
    /// document if no valid key by that id is held (within the refetch limits).
    pub async fn key(
        &self,
        server: &ServerName,
        key_id: &str,
        signed_at: SystemTime,
        now: SystemTime,
    ) -> Result<VerifyingKey, KeyLookupError> {
        let fetch_lock = {
            let mut entries = self.lock();
            if let Some(found) = entries
                .get(server)
                .and_then(|entry| cached(entry, key_id, signed_at, now))
            {
                return found;
            }
            self.make_room(&mut entries, server, now);
            Arc::clone(&entries.entry(server.clone()).or_default().fetching)
        };

        let _fetching = fetch_lock.lock().await;
        {
            let mut entries = self.lock();
            let entry = entries.entry(server.clone()).or_default();
            // Another lookup may have fetched the document while this one waited.
            if let Some(found) = cached(entry, key_id, signed_at, now) {
                return found;
            }
            if entry
                .last_fetch
                .is_some_and(|last| before(now, last, self.config.refetch_interval))
            {
                return Err(KeyLookupError::RefetchLimited);
            }
        }
        let _slot = FetchSlot::take(&self.fetching, self.config.max_concurrent_fetches)
            .ok_or(KeyLookupError::Busy)?;
        self.lock().entry(server.clone()).or_default().last_fetch = Some(now);

        let body = self
            .fetcher
            .fetch(server)
            .await
            .map_err(|FetchFailed| KeyLookupError::Fetch)?;
        let verified = verify_key_document(&body, server, now)?;

        let mut entries = self.lock();
        let entry = entries.entry(server.clone()).or_default();
        entry.keys = verified.keys;
        entry.cached_until = Some(
            now.checked_add(self.config.max_age)
                .map_or(verified.valid_until, |limit| {
                    verified.valid_until.min(limit)
                }),
        );
        cached(entry, key_id, signed_at, now).unwrap_or(Err(KeyLookupError::UnknownKey))
    }

    /// Forgets everything held about `server`.
    pub fn forget(&self, server: &ServerName) {
        self.lock().remove(server);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ServerName, Entry>> {
        // A panic while holding the lock leaves only a cache behind; keep using it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps the map under `max_servers` before `server` is added.
    fn make_room(
        &self,
        entries: &mut HashMap<ServerName, Entry>,
        server: &ServerName,
        now: SystemTime,
    ) {
        if entries.contains_key(server) || entries.len() < self.config.max_servers {
            return;
        }
        let interval = self.config.refetch_interval;
        entries.retain(|_, entry| {
            entry.cached_until.is_some_and(|until| now < until)
                || entry
                    .last_fetch
                    .is_some_and(|last| before(now, last, interval))
        });
        if entries.len() >= self.config.max_servers {
            let first = entries
                .iter()
                .min_by_key(|(_, entry)| entry.cached_until.or(entry.last_fetch))
                .map(|(name, _)| name.clone());
            if let Some(first) = first {
                entries.remove(&first);
            }
        }
    }
}

/// Whether `now` is before `start + length` (a length too large to add never ends).
fn before(now: SystemTime, start: SystemTime, length: Duration) -> bool {
    start.checked_add(length).is_none_or(|end| now < end)
}

/// The cached answer for `key_id`, or `None` to refetch.
fn cached(
    entry: &Entry,
    key_id: &str,
    signed_at: SystemTime,
    now: SystemTime,
) -> Option<Result<VerifyingKey, KeyLookupError>> {
    if entry.cached_until.is_none_or(|until| now >= until) {
        return None;
    }
    let peer = entry.keys.get(key_id)?;
    Some(if peer.valid_at(signed_at) {
        Ok(peer.key)
    } else {
        Err(KeyLookupError::KeyExpired)
    })
}

impl<F: KeyFetcher> KeyLookup for KeyCache<F> {
    fn lookup(
        &self,
        server: &ServerName,
        key_id: &str,
        signed_at: SystemTime,
        now: SystemTime,
    ) -> impl Future<Output = Result<VerifyingKey, KeyLookupError>> + Send {
        self.key(server, key_id, signed_at, now)
    }
}

/// One of the limited fetch slots, given back on drop (also when the fetch is cancelled).
struct FetchSlot(Arc<AtomicUsize>);

impl FetchSlot {
    fn take(counter: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(Arc::clone(counter)))
    }
}

impl Drop for FetchSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::sync::atomic::AtomicU32;

    use super::*;

    fn name(text: &str) -> ServerName {
        ServerName::parse(text).unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const NOW: u64 = 1_800_000_000;

    fn document(
        server: &str,
        key: &ServerSigningKey,
        retired: &[RetiredKey],
        until: u64,
    ) -> Vec<u8> {
        serde_json::to_vec(&sign_key_document(&name(server), key, retired, at(until)).unwrap())
            .unwrap()
    }

    #[test]
    fn a_signed_document_verifies_and_lists_old_keys() {
        let old = ServerSigningKey::generate();
        let key = ServerSigningKey::generate();
        let retired = [RetiredKey::retire(&old, at(NOW - 100))];
        let body = document("org-a.example", &key, &retired, NOW + 3600);

        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["server_name"], "org-a.example");
        assert_eq!(
            value["verify_keys"][key.key_id()]["key"],
            key.public_key_base64()
        );
        assert_eq!(
            value["old_verify_keys"][old.key_id()]["expired_ts"],
            (NOW - 100) * 1000
        );
        assert_eq!(value["valid_until_ts"], (NOW + 3600) * 1000);
        assert!(value["signatures"]["org-a.example"][key.key_id()].is_string());

        let verified = verify_key_document(&body, &name("ORG-A.example"), at(NOW)).unwrap();
        assert_eq!(verified.valid_until, at(NOW + 3600));
        assert_eq!(verified.keys[&key.key_id()].key, key.verifying_key());
        let old_key = &verified.keys[&old.key_id()];
        assert!(old_key.valid_at(at(NOW - 101)));
        assert!(!old_key.valid_at(at(NOW - 100)));
    }

    #[test]
    fn bad_documents_are_refused() {
        let key = ServerSigningKey::generate();
        let other = ServerSigningKey::generate();
        let body = document("org-a.example", &key, &[], NOW + 3600);
        let expected = name("org-a.example");

        assert_eq!(
            verify_key_document(&body, &name("org-b.example"), at(NOW)),
            Err(KeyDocumentError::WrongServer)
        );
        assert_eq!(
            verify_key_document(&body, &expected, at(NOW + 3600)),
            Err(KeyDocumentError::Expired)
        );
        assert_eq!(
            verify_key_document(b"{", &expected, at(NOW)),
            Err(KeyDocumentError::Malformed)
        );
        assert_eq!(
            verify_key_document(&vec![b' '; MAX_KEY_DOCUMENT_BYTES + 1], &expected, at(NOW)),
            Err(KeyDocumentError::TooLarge)
        );

        // Any change to a signed field breaks the signature.
        let mut value: Value = serde_json::from_slice(&body).unwrap();
        value["valid_until_ts"] = (NOW * 1000 + 7_200_000).into();
        let tampered = serde_json::to_vec(&value).unwrap();
        assert_eq!(
            verify_key_document(&tampered, &expected, at(NOW)),
            Err(KeyDocumentError::BadSignature)
        );

        // Signed by a key the document does not list as current.
        let mut value: Value = serde_json::from_slice(&body).unwrap();
        value["signatures"] = serde_json::json!({});
        let mut unsigned = value.clone();
        unsigned.as_object_mut().unwrap().remove("signatures");
        let sig = other.sign_base64(try_signable(&unsigned).unwrap().as_bytes());
        value["signatures"] = serde_json::json!({"org-a.example": {other.key_id(): sig}});
        assert_eq!(
            verify_key_document(&serde_json::to_vec(&value).unwrap(), &expected, at(NOW)),
            Err(KeyDocumentError::BadSignature)
        );

        // Signed under another server's name.
        let mut value: Value = serde_json::from_slice(&body).unwrap();
        let sig = value["signatures"]["org-a.example"].clone();
        value["signatures"] = serde_json::json!({"org-b.example": sig});
        assert_eq!(
            verify_key_document(&serde_json::to_vec(&value).unwrap(), &expected, at(NOW)),
            Err(KeyDocumentError::BadSignature)
        );

        // Malformed key ids and keys, fractions.
        for (path, replacement) in [
            (
                "verify_keys",
                serde_json::json!({"ed25519:a-b": {"key": key.public_key_base64()}}),
            ),
            (
                "verify_keys",
                serde_json::json!({"ed25519:a": {"key": "AAAA"}}),
            ),
            ("verify_keys", serde_json::json!({"rsa:a": {"key": "AAAA"}})),
            ("valid_until_ts", serde_json::json!(1.5)),
        ] {
            let mut value: Value = serde_json::from_slice(&body).unwrap();
            value[path] = replacement;
            let result =
                verify_key_document(&serde_json::to_vec(&value).unwrap(), &expected, at(NOW));
            assert!(result.is_err(), "{path}: {result:?}");
        }
    }

    #[derive(Clone)]
    struct Fake {
        body: Arc<Mutex<Vec<u8>>>,
        calls: Arc<AtomicU32>,
    }

    impl KeyFetcher for Fake {
        async fn fetch(&self, _server: &ServerName) -> Result<Vec<u8>, FetchFailed> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(self.body.lock().unwrap().clone())
        }
    }

    fn fake(body: Vec<u8>) -> Fake {
        Fake {
            body: Arc::new(Mutex::new(body)),
            calls: Arc::new(AtomicU32::new(0)),
        }
    }

    #[tokio::test]
    async fn the_cache_keeps_keys_refetches_on_unknown_ids_and_rate_limits() {
        let server = name("org-a.example");
        let key = ServerSigningKey::generate();
        let fetcher = fake(document("org-a.example", &key, &[], NOW + 3600));
        let cache = KeyCache::new(fetcher.clone(), KeyCacheConfig::default());

        let got = cache
            .key(&server, &key.key_id(), at(NOW), at(NOW))
            .await
            .unwrap();
        assert_eq!(got, key.verifying_key());
        cache
            .key(&server, &key.key_id(), at(NOW + 10), at(NOW + 10))
            .await
            .unwrap();
        assert_eq!(
            fetcher.calls.load(Ordering::SeqCst),
            1,
            "served from the cache"
        );

        // An unknown key id refetches once, then is rate limited.
        assert_eq!(
            cache
                .key(&server, "ed25519:nope", at(NOW + 70), at(NOW + 70))
                .await,
            Err(KeyLookupError::UnknownKey)
        );
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 2);
        for _ in 0..5 {
            assert_eq!(
                cache
                    .key(&server, "ed25519:nope", at(NOW + 80), at(NOW + 80))
                    .await,
                Err(KeyLookupError::RefetchLimited)
            );
        }
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 2);

        // After a rotation, the new key id is fetched once the interval has passed.
        let new = ServerSigningKey::generate();
        let retired = [RetiredKey::retire(&key, at(NOW + 200))];
        *fetcher.body.lock().unwrap() = document("org-a.example", &new, &retired, NOW + 3600);
        let got = cache
            .key(&server, &new.key_id(), at(NOW + 300), at(NOW + 300))
            .await
            .unwrap();
        assert_eq!(got, new.verifying_key());
        // The old key still verifies what it signed before its retirement, not after.
        cache
            .key(&server, &key.key_id(), at(NOW + 199), at(NOW + 300))
            .await
            .unwrap();
        assert_eq!(
            cache
                .key(&server, &key.key_id(), at(NOW + 200), at(NOW + 300))
                .await,
            Err(KeyLookupError::KeyExpired)
        );
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 3);
    }

    #[derive(Clone)]
    struct Slow(Fake);

    impl KeyFetcher for Slow {
        async fn fetch(&self, server: &ServerName) -> Result<Vec<u8>, FetchFailed> {
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.0.fetch(server).await
        }
    }

    #[tokio::test]
    async fn concurrent_lookups_share_one_fetch() {
        let server = name("org-a.example");
        let key = ServerSigningKey::generate();
        let fetcher = fake(document("org-a.example", &key, &[], NOW + 3600));
        let cache = KeyCache::new(Slow(fetcher.clone()), KeyCacheConfig::default());
        let id = key.key_id();
        let (a, b, c) = tokio::join!(
            cache.key(&server, &id, at(NOW), at(NOW)),
            cache.key(&server, &id, at(NOW), at(NOW)),
            cache.key(&server, "ed25519:other", at(NOW), at(NOW)),
        );
        assert_eq!(a.unwrap(), key.verifying_key());
        assert_eq!(b.unwrap(), key.verifying_key());
        assert_eq!(c, Err(KeyLookupError::RefetchLimited));
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn fetches_are_limited_over_all_servers() {
        let key = ServerSigningKey::generate();
        let fetcher = fake(document("org-a.example", &key, &[], NOW + 3600));
        let cache = KeyCache::new(
            Slow(fetcher.clone()),
            KeyCacheConfig {
                max_concurrent_fetches: 1,
                ..KeyCacheConfig::default()
            },
        );
        let id = key.key_id();
        let (org_a, org_b) = (name("org-a.example"), name("org-b.example"));
        let (a, b) = tokio::join!(
            cache.key(&org_a, &id, at(NOW), at(NOW)),
            cache.key(&org_b, &id, at(NOW), at(NOW)),
        );
        assert_eq!(a.unwrap(), key.verifying_key());
        assert_eq!(b, Err(KeyLookupError::Busy));
        // Refused for being busy does not count as a fetch: org-b can be fetched right after.
        assert_eq!(
            cache
                .key(&name("org-b.example"), &id, at(NOW), at(NOW))
                .await,
            Err(KeyLookupError::Document(KeyDocumentError::WrongServer))
        );
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_cache_keeps_keys_no_longer_than_allowed() {
        let server = name("org-a.example");
        let key = ServerSigningKey::generate();
        // The document allows 30 days; the cache keeps it 7.
        let fetcher = fake(document("org-a.example", &key, &[], NOW + 30 * 86_400));
        let cache = KeyCache::new(fetcher.clone(), KeyCacheConfig::default());
        cache
            .key(&server, &key.key_id(), at(NOW), at(NOW))
            .await
            .unwrap();
        cache
            .key(&server, &key.key_id(), at(NOW), at(NOW + 7 * 86_400 - 1))
            .await
            .unwrap();
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
        cache
            .key(&server, &key.key_id(), at(NOW), at(NOW + 7 * 86_400))
            .await
            .unwrap();
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 2);

        // A document valid for one hour is kept one hour.
        let fetcher = fake(document("org-a.example", &key, &[], NOW + 3600));
        let cache = KeyCache::new(fetcher.clone(), KeyCacheConfig::default());
        cache
            .key(&server, &key.key_id(), at(NOW), at(NOW))
            .await
            .unwrap();
        // Once it has expired, the refetch brings the same expired document: refused.
        assert_eq!(
            cache
                .key(&server, &key.key_id(), at(NOW), at(NOW + 3600))
                .await,
            Err(KeyLookupError::Document(KeyDocumentError::Expired))
        );
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_document_for_another_server_is_refused_and_the_cache_stays_bounded() {
        let key = ServerSigningKey::generate();
        let fetcher = fake(document("org-b.example", &key, &[], NOW + 3600));
        let cache = KeyCache::new(
            fetcher,
            KeyCacheConfig {
                max_servers: 3,
                ..KeyCacheConfig::default()
            },
        );
        for i in 0..10 {
            let server = name(&format!("s{i}.example"));
            assert_eq!(
                cache.key(&server, &key.key_id(), at(NOW), at(NOW)).await,
                Err(KeyLookupError::Document(KeyDocumentError::WrongServer))
            );
        }
        assert!(cache.lock().len() <= 3);
    }
}
