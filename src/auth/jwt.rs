//! Signed tokens: HS256 JWTs with issuer, audience, expiry and not-before all required.
//! Access tokens and witness assertions have different audiences, so neither passes for the
//! other. Each token names its key (`kid`); the previous secrets of a rotation still verify.

use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::AppError;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

/// A witness's assertion: who witnesses, at which prison, which act; redeemed once.
#[derive(Debug, Serialize, Deserialize)]
pub struct WitnessClaims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub site: i64,
    pub act: String,
}

/// How long a witness assertion lasts: long enough to hand over at a hatch, no longer.
pub const WITNESS_ASSERTION_SECS: i64 = 300;

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SigningKey {
    fn new(secret: &[u8]) -> SigningKey {
        // The id names the key without revealing it: the start of its digest.
        let kid = hex::encode(&Sha256::digest(secret)[..8]);
        SigningKey {
            kid,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }
}

pub struct JwtKeys {
    current: SigningKey,
    previous: Vec<SigningKey>,
    access: Validation,
    witness: Validation,
    issuer: String,
    audience: String,
    witness_audience: String,
    pub ttl_secs: u64,
}

pub const MIN_SECRET_BYTES: usize = 32;

fn checked_secret(name: &str, secret: &str) -> Result<Vec<u8>, AppError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(AppError::internal(format!(
            "{name} must be at least {MIN_SECRET_BYTES} bytes"
        )));
    }
    Ok(secret.as_bytes().to_vec())
}

fn validation(issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    v.leeway = 5;
    v
}

impl JwtKeys {
    /// The keys of the configuration. Without `JWT_SECRET` a random key is made, which only
    /// the demo may use (`main` refuses to serve otherwise).
    pub fn from_config(config: &Config) -> Result<JwtKeys, AppError> {
        let secret = match &config.jwt_secret {
            Some(s) => checked_secret("JWT_SECRET", s)?,
            None => {
                tracing::warn!("JWT_SECRET is not set: using a random signing key; tokens will not survive a restart");
                let mut bytes = vec![0u8; 48];
                rand::thread_rng().fill_bytes(&mut bytes);
                bytes
            }
        };
        let previous = config
            .jwt_previous_secrets
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| checked_secret("JWT_PREVIOUS_SECRETS", s).map(|b| SigningKey::new(&b)))
            .collect::<Result<_, _>>()?;
        let witness_audience = format!("{}/witness", config.jwt_audience);
        Ok(JwtKeys {
            current: SigningKey::new(&secret),
            previous,
            access: validation(&config.jwt_issuer, &config.jwt_audience),
            witness: validation(&config.jwt_issuer, &witness_audience),
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            witness_audience,
            ttl_secs: config.jwt_ttl_secs,
        })
    }

    /// The id of the key new tokens are signed with.
    pub fn key_id(&self) -> &str {
        &self.current.kid
    }

    fn sign<T: Serialize>(&self, claims: &T) -> Result<String, AppError> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current.kid.clone());
        encode(&header, claims, &self.current.encoding)
            .map_err(|e| AppError::internal(format!("token signing: {e}")))
    }

    /// Decodes with the key the token names (or, for a token naming none, any key).
    fn open<T: DeserializeOwned>(&self, token: &str, validation: &Validation) -> Option<T> {
        let kid = decode_header(token).ok()?.kid;
        std::iter::once(&self.current)
            .chain(&self.previous)
            .filter(|k| kid.as_ref().is_none_or(|kid| *kid == k.kid))
            .find_map(|k| match decode::<T>(token, &k.decoding, validation) {
                Ok(data) => Some(data.claims),
                Err(e) => {
                    tracing::debug!(reason = %e, "token rejected");
                    None
                }
            })
    }

    pub fn issue(&self, user_id: i64) -> Result<String, AppError> {
        let now = chrono::Utc::now().timestamp();
        self.sign(&Claims {
            sub: user_id.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_secs as i64,
            jti: uuid::Uuid::new_v4().to_string(),
        })
    }

    /// The user id a valid access token names. Every failure is the same 401 to the caller.
    pub fn verify(&self, token: &str) -> Result<i64, AppError> {
        self.open::<Claims>(token, &self.access)
            .and_then(|c| c.sub.parse().ok())
            .ok_or_else(|| AppError::Unauthorized("invalid or expired token".into()))
    }

    /// A witness assertion for one act at one prison, valid for five minutes.
    pub fn issue_witness(&self, user_id: i64, site_id: i64, act: &str) -> Result<String, AppError> {
        let now = chrono::Utc::now().timestamp();
        self.sign(&WitnessClaims {
            sub: user_id.to_string(),
            iss: self.issuer.clone(),
            aud: self.witness_audience.clone(),
            iat: now,
            nbf: now,
            exp: now + WITNESS_ASSERTION_SECS,
            jti: uuid::Uuid::new_v4().to_string(),
            site: site_id,
            act: act.to_string(),
        })
    }

    /// The claims of a valid, unexpired witness assertion; whether it was already redeemed is
    /// the database's to say.
    pub fn verify_witness(&self, token: &str) -> Option<WitnessClaims> {
        self.open::<WitnessClaims>(token, &self.witness)
            // An assertion lives five minutes whatever a key holder writes into it.
            .filter(|c| c.exp - c.iat <= WITNESS_ASSERTION_SECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str, previous: &[&str]) -> JwtKeys {
        let mut config = Config::for_database("x.db");
        config.jwt_secret = Some(secret.into());
        config.jwt_previous_secrets = previous.iter().map(|s| s.to_string()).collect();
        JwtKeys::from_config(&config).unwrap()
    }

    const OLD: &str = "old-secret-old-secret-old-secret-0123456";
    const NEW: &str = "new-secret-new-secret-new-secret-0123456";

    #[test]
    fn tokens_name_their_key_and_previous_keys_still_verify() {
        let old = keys(OLD, &[]);
        let token = old.issue(7).unwrap();
        assert_eq!(
            decode_header(&token).unwrap().kid.as_deref(),
            Some(old.key_id())
        );
        let rotated = keys(NEW, &[OLD]);
        assert_ne!(rotated.key_id(), old.key_id());
        assert_eq!(rotated.verify(&token).unwrap(), 7);
        // Dropped from the list, the old key signs nothing any more.
        assert!(keys(NEW, &[]).verify(&token).is_err());
    }

    #[test]
    fn an_assertion_is_no_access_token_and_the_reverse() {
        let k = keys(NEW, &[]);
        let assertion = k.issue_witness(3, 9, "cd_dose").unwrap();
        assert!(k.verify(&assertion).is_err());
        let claims = k.verify_witness(&assertion).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.site, claims.act.as_str()),
            ("3", 9, "cd_dose")
        );
        assert_eq!(claims.exp - claims.iat, WITNESS_ASSERTION_SECS);
        assert!(k.verify_witness(&k.issue(3).unwrap()).is_none());
    }

    #[test]
    fn a_short_secret_is_refused() {
        let mut config = Config::for_database("x.db");
        config.jwt_previous_secrets = vec!["short".into()];
        assert!(JwtKeys::from_config(&config).is_err());
    }
}
