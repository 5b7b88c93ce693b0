//! argon2id password hashes and the password policy for created accounts.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distributions::{Alphanumeric, DistString};

use crate::error::AppError;

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 128;

pub fn hash(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(format!("password hash: {e}")))
}

pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the same work as a real check, so an unknown username takes as long as a wrong password.
pub fn verify_against_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("not-a-real-password-for-timing").unwrap_or_default());
    let _ = verify(password, stored);
}

/// Length over complexity (NCSC guidance): 12 to 128 characters, not containing the username,
/// and not one character repeated.
pub fn check_policy(username: &str, password: &str) -> Result<(), AppError> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(AppError::invalid(
            "password",
            "length",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(AppError::invalid(
            "password",
            "length",
            format!("must be at most {MAX_PASSWORD_LEN} characters"),
        ));
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err(AppError::invalid(
            "password",
            "contains_username",
            "must not contain the username",
        ));
    }
    let first = password.chars().next();
    if password.chars().all(|c| Some(c) == first) {
        return Err(AppError::invalid(
            "password",
            "repetitive",
            "must not be one character repeated",
        ));
    }
    Ok(())
}

pub fn generate() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn policy_rules() {
        assert!(check_policy("nurse", "short").is_err());
        assert!(check_policy("nurse", "my-nurse-password-1").is_err());
        assert!(check_policy("nurse", "aaaaaaaaaaaaaaaa").is_err());
        assert!(check_policy("nurse", &"x".repeat(129)).is_err());
        assert!(check_policy("nurse", "winter lantern ferry").is_ok());
    }
}
