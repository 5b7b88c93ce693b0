//! Checking a username and password: for signing in (throttled by client address and, far
//! later, by account) and for the passwords a witness types (throttled by the person
//! submitting them, in `witness`). Every refusal is a security event in the audit log.

use actix_web::{web, HttpRequest};

use super::accounts::{self, UserRow};
use super::password;
use super::throttle::{self, Key};
use crate::audit::{self, SecurityEvent};
use crate::error::AppError;
use crate::AppState;

/// The longest username, counted after trimming, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// Usernames are compared trimmed and case-folded, so `NURSE `, `Nurse` and `nurse` are one
/// account, and one count.
pub fn normalise(username: &str) -> String {
    username.trim().to_lowercase()
}

/// 422 unless a normalised username has a length an account could have; checked before
/// anything is looked up or counted.
pub fn check_length(field: &str, username: &str) -> Result<(), AppError> {
    let n = username.chars().count();
    if n == 0 || n > MAX_USERNAME_CHARS {
        return Err(AppError::invalid(
            field,
            "length",
            format!("between 1 and {MAX_USERNAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Where a request came from, for throttling and the security log.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub request_id: String,
    pub client: String,
    /// The route pattern, e.g. `/api/v1/auth/login`.
    pub route: String,
}

impl Caller {
    pub fn of(req: &HttpRequest) -> Caller {
        let proxies = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.config.trusted_proxies.clone())
            .unwrap_or_default();
        Caller {
            request_id: super::request_id(req),
            client: super::client::address(req, &proxies),
            route: req.match_pattern().unwrap_or_else(|| req.path().into()),
        }
    }

    /// A security event of this request.
    pub fn event<'a>(&'a self, action: &'a str) -> SecurityEvent<'a> {
        SecurityEvent {
            action,
            request_id: &self.request_id,
            user_id: None,
            site_id: None,
            account_id: None,
            client: &self.client,
            route: &self.route,
            detail: serde_json::Value::Null,
        }
    }
}

/// The account a normalised username names, and whether the password is its own and the
/// account enabled. Nothing is counted. An unknown user costs the same time as a wrong password.
pub async fn verify(
    state: &web::Data<AppState>,
    username: &str,
    password: &str,
) -> Result<(Option<UserRow>, bool), AppError> {
    let (name, given) = (username.to_string(), password.to_string());
    state
        .db
        .read(move |c| {
            Ok(match accounts::by_username(c, &name)? {
                Some(u) => {
                    let ok = password::verify(&given, &u.password_hash) && u.enabled;
                    (Some(u), ok)
                }
                None => {
                    password::verify_against_dummy(&given);
                    (None, false)
                }
            })
        })
        .await
}

/// Signs in: the enabled account the username and password name. A client address that has
/// failed too often waits (429 with Retry-After) whoever it names; an account is locked only
/// after far more failures from anywhere, which is recorded for its prisons' admins and
/// auditors. The right password from another address still signs in until then.
pub async fn sign_in(
    state: &web::Data<AppState>,
    caller: &Caller,
    username: &str,
    password: &str,
) -> Result<UserRow, AppError> {
    let name = normalise(username);
    check_length("username", &name)?;
    let rules = state.throttle;
    let client = Key::Client(caller.client.clone());
    let held = {
        let client = client.clone();
        state
            .db
            .read(move |c| Ok(throttle::held_for(c, &client)?))
            .await?
    };
    if let Some(retry_after_secs) = held {
        record(state, caller, "auth.sign_in_throttled", None, &name).await?;
        return Err(AppError::TooManyRequests { retry_after_secs });
    }
    let (account, ok) = verify(state, &name, password).await?;
    let account_id = account.as_ref().map(|a| a.id);
    if let Some(id) = account_id {
        let locked = state
            .db
            .read(move |c| Ok(throttle::held_for(c, &Key::Account(id))?))
            .await?;
        if let Some(retry_after_secs) = locked {
            record(state, caller, "auth.sign_in_locked", account_id, &name).await?;
            return Err(AppError::TooManyRequests { retry_after_secs });
        }
    }
    if let (Some(user), true) = (account, ok) {
        let id = user.id;
        state
            .db
            .write(move |c| {
                throttle::clear(c, &client)?;
                throttle::clear(c, &Key::Account(id))?;
                Ok(())
            })
            .await?;
        return Ok(user);
    }
    let (event, who) = (caller.clone(), name.clone());
    let newly_locked = state
        .db
        .write(move |c| {
            throttle::fail(c, &client, rules.client)?;
            throttle::prune(c, &rules)?;
            let mut newly_locked = false;
            if let Some(id) = account_id {
                let f = throttle::fail(c, &Key::Account(id), rules.account)?;
                newly_locked = f.failures == rules.account.hold_from;
            }
            let mut e = event.event("auth.sign_in_failed");
            e.account_id = account_id;
            e.detail = username_detail(account_id, &who);
            audit::record_security(c, &e)?;
            if newly_locked {
                let mut e = event.event("auth.account_locked");
                e.account_id = account_id;
                e.detail =
                    serde_json::json!({"username": who, "failures": rules.account.hold_from});
                audit::record_security(c, &e)?;
            }
            Ok(newly_locked)
        })
        .await?;
    if newly_locked {
        tracing::warn!(
            username = %name,
            client = %caller.client,
            "account locked after repeated failed sign-ins"
        );
    } else {
        tracing::info!(client = %caller.client, "sign-in refused");
    }
    Err(AppError::Unauthorized(
        "invalid username or password".into(),
    ))
}

/// The name typed is kept only when it names an account: an unknown "username" is often a
/// password typed in the wrong box.
fn username_detail(account_id: Option<i64>, name: &str) -> serde_json::Value {
    match account_id {
        Some(_) => serde_json::json!({"username": name}),
        None => serde_json::json!({}),
    }
}

async fn record(
    state: &web::Data<AppState>,
    caller: &Caller,
    action: &'static str,
    account_id: Option<i64>,
    name: &str,
) -> Result<(), AppError> {
    let (caller, detail) = (caller.clone(), username_detail(account_id, name));
    state
        .db
        .write(move |c| {
            let mut e = caller.event(action);
            e.account_id = account_id;
            e.detail = detail.clone();
            audit::record_security(c, &e)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_case_folded() {
        for typed in ["NURSE ", "nurse", "Nurse", "nurse\t", " nurse"] {
            assert_eq!(normalise(typed), "nurse");
        }
    }

    #[test]
    fn lengths_are_counted_in_characters_after_trimming() {
        assert!(check_length("username", &"é".repeat(64)).is_ok());
        assert!(check_length("username", &"a".repeat(65)).is_err());
        assert!(check_length("username", &normalise("   ")).is_err());
    }
}
