//! Access tokens: HS256 JWTs with issuer, audience, expiry and not-before all required.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

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

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub ttl_secs: u64,
}

pub const MIN_SECRET_BYTES: usize = 32;

impl JwtKeys {
    pub fn from_config(config: &Config) -> Result<JwtKeys, AppError> {
        let secret = match &config.jwt_secret {
            Some(s) if s.len() >= MIN_SECRET_BYTES => s.as_bytes().to_vec(),
            Some(_) => {
                return Err(AppError::internal(format!(
                    "JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"
                )));
            }
            None => {
                tracing::warn!("JWT_SECRET is not set: using a random signing key; tokens will not survive a restart");
                let mut bytes = vec![0u8; 48];
                rand::thread_rng().fill_bytes(&mut bytes);
                bytes
            }
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.jwt_issuer]);
        validation.set_audience(&[&config.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        Ok(JwtKeys {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            ttl_secs: config.jwt_ttl_secs,
        })
    }

    pub fn issue(&self, user_id: i64) -> Result<String, AppError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_secs as i64,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::internal(format!("token signing: {e}")))
    }

    /// The user id a valid token names. Every failure is the same 401 to the caller.
    pub fn verify(&self, token: &str) -> Result<i64, AppError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            tracing::debug!(reason = %e, "token rejected");
            AppError::Unauthorized("invalid or expired token".into())
        })?;
        data.claims
            .sub
            .parse()
            .map_err(|_| AppError::Unauthorized("invalid or expired token".into()))
    }
}
