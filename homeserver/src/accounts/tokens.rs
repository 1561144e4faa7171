//! Access tokens (JWT) and opaque tokens (refresh tokens, emailed links).

use std::{path::Path, time::Duration};

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::keys::{self, KeyFileError};

/// The key file of access tokens in the data directory.
pub const ACCESS_TOKEN_KEY_FILE: &str = "access-token.key";
/// The audience of our access tokens: the client API of the issuing server.
pub const AUDIENCE: &str = "parley-client-api";
/// The `typ` claim of an access token. No other token we issue carries it.
pub const ACCESS_TYP: &str = "parley.access";
/// The one algorithm accepted; a token naming any other (or `none`) is refused.
const ALGORITHM: Algorithm = Algorithm::HS256;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The issuing server's name.
    pub iss: String,
    /// [`AUDIENCE`].
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// A unique id of this token.
    pub jti: String,
    /// The session the token belongs to.
    pub sid: Uuid,
    /// [`ACCESS_TYP`].
    pub typ: String,
}

/// Why an access token is refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, wrong algorithm, issuer, audience or type, malformed, or expired.
    #[error("invalid access token: {0}")]
    Invalid(String),
}

/// Issues and checks the access tokens of one server.
#[derive(Clone)]
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    lifetime: Duration,
}

impl AccessTokens {
    /// Loads (or creates on first start) the signing secret in `data_dir`.
    pub fn load(data_dir: &Path, issuer: &str, lifetime: Duration) -> Result<Self, KeyFileError> {
        let encoded = keys::load_or_create_secret(data_dir, ACCESS_TOKEN_KEY_FILE, || {
            let mut secret = Zeroizing::new([0_u8; 32]);
            rand::rngs::OsRng.fill_bytes(secret.as_mut_slice());
            Zeroizing::new(format!("{}\n", STANDARD.encode(secret.as_slice())))
        })?;
        let path = data_dir.join(ACCESS_TOKEN_KEY_FILE);
        let secret =
            Zeroizing::new(
                STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| KeyFileError::Io {
                        path: path.clone(),
                        source: std::io::Error::other("not base64"),
                    })?,
            );
        if secret.len() < 32 {
            return Err(KeyFileError::Io {
                path,
                source: std::io::Error::other("the secret must be at least 32 bytes"),
            });
        }
        Ok(Self::from_secret(&secret, issuer, lifetime))
    }

    /// From a secret in memory.
    pub fn from_secret(secret: &[u8], issuer: &str, lifetime: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: issuer.to_owned(),
            lifetime,
        }
    }

    /// The lifetime of new tokens.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A new access token for `user_id` in `session_id`.
    pub fn issue(&self, user_id: &str, session_id: Uuid) -> Result<String, TokenError> {
        let now = unix_now();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            sub: user_id.to_owned(),
            iat: now,
            exp: now + self.lifetime.as_secs(),
            jti: Uuid::new_v4().simple().to_string(),
            sid: session_id,
            typ: ACCESS_TYP.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// Checks signature, algorithm, issuer, audience, expiry and type.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        if data.claims.typ != ACCESS_TYP {
            return Err(TokenError::Invalid("wrong token type".into()));
        }
        Ok(data.claims)
    }
}

/// A fresh opaque token (256 random bits, URL-safe) and the hash to store for it.
pub fn new_opaque() -> (Zeroizing<String>, Vec<u8>) {
    let mut bytes = Zeroizing::new([0_u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut_slice());
    let token = Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_slice()));
    let hash = hash_opaque(&token);
    (token, hash)
}

/// The stored form of an opaque token.
pub fn hash_opaque(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tokens() -> AccessTokens {
        AccessTokens::from_secret(&[7; 32], "org-a.example", Duration::from_secs(900))
    }

    fn forge(header: &str, claims: &serde_json::Value, signature: &str) -> String {
        format!(
            "{}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    #[test]
    fn a_token_round_trips() {
        let t = tokens();
        let sid = Uuid::new_v4();
        let token = t.issue("@alice:org-a.example", sid).unwrap();
        let claims = t.verify(&token).unwrap();
        assert_eq!(claims.sub, "@alice:org-a.example");
        assert_eq!(claims.sid, sid);
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn foreign_forged_expired_and_mistyped_tokens_are_refused() {
        let t = tokens();
        let sid = Uuid::new_v4();
        // Signed with another key.
        let other = AccessTokens::from_secret(&[8; 32], "org-a.example", Duration::from_secs(900));
        assert!(
            t.verify(&other.issue("@alice:org-a.example", sid).unwrap())
                .is_err()
        );
        // Another issuer (another server with the same secret, say).
        let elsewhere =
            AccessTokens::from_secret(&[7; 32], "org-b.example", Duration::from_secs(900));
        assert!(
            t.verify(&elsewhere.issue("@alice:org-a.example", sid).unwrap())
                .is_err()
        );

        let now = unix_now();
        let claims = serde_json::json!({
            "iss": "org-a.example", "aud": AUDIENCE, "sub": "@alice:org-a.example",
            "iat": now, "exp": now + 600, "jti": "x", "sid": sid, "typ": ACCESS_TYP,
        });
        // alg none, unsigned.
        assert!(
            t.verify(&forge(r#"{"alg":"none","typ":"JWT"}"#, &claims, ""))
                .is_err()
        );
        // Right claims, HS256 header, but a made-up signature.
        assert!(
            t.verify(&forge(r#"{"alg":"HS256","typ":"JWT"}"#, &claims, "AAAA"))
                .is_err()
        );

        let sign = |claims: &serde_json::Value| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                claims,
                &EncodingKey::from_secret(&[7; 32]),
            )
            .unwrap()
        };
        assert!(
            t.verify(&sign(&claims)).is_ok(),
            "the control token must pass"
        );
        // Expired.
        let mut expired = claims.clone();
        expired["iat"] = (now - 7200).into();
        expired["exp"] = (now - 3600).into();
        assert!(t.verify(&sign(&expired)).is_err());
        // Another type of token of ours.
        let mut typed = claims.clone();
        typed["typ"] = "parley.refresh".into();
        assert!(t.verify(&sign(&typed)).is_err());
        // Another audience.
        let mut audience = claims.clone();
        audience["aud"] = "parley-federation".into();
        assert!(t.verify(&sign(&audience)).is_err());
        // HS384 with the right secret: the algorithm is pinned.
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &claims,
            &EncodingKey::from_secret(&[7; 32]),
        )
        .unwrap();
        assert!(t.verify(&hs384).is_err());
    }

    #[test]
    fn opaque_tokens_are_long_and_stored_hashed() {
        let (token, hash) = new_opaque();
        assert!(token.len() >= 43, "256 bits in base64");
        assert_eq!(hash, hash_opaque(&token));
        assert_ne!(hash, token.as_bytes());
        let (other, _) = new_opaque();
        assert_ne!(*token, *other);
    }
}
