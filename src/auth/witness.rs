//! A second person authenticating for one act (a controlled drug dose, a destruction, a balance
//! check). The witness proves who they are with their own password or their own access token;
//! a typed name is never enough.

use actix_web::web;
use serde::Deserialize;
use utoipa::ToSchema;

use super::permissions::{self, Action};
use super::{password, AuthUser};
use crate::domain::Role;
use crate::error::AppError;
use crate::users::queries;
use crate::AppState;

/// The witness's own credentials: either `username` and `password`, or `token` (the witness's
/// access token from `POST /api/v1/auth/login`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WitnessCredentials {
    pub username: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WitnessNeed {
    /// Any member of staff at the site whose role may witness.
    Staff,
    /// Someone an admin has marked as an authorised witness (destruction of stock).
    AuthorisedWitness,
}

fn refused(rule: &'static str, message: impl Into<String>) -> AppError {
    AppError::invalid("witness", rule, message)
}

/// Checks the witness and returns their user id. The witness must be enabled, hold the site,
/// have a role that may witness, and be a different person from the author.
pub async fn authenticate(
    state: &web::Data<AppState>,
    author: &AuthUser,
    site_id: i64,
    credentials: Option<WitnessCredentials>,
    need: WitnessNeed,
) -> Result<i64, AppError> {
    let credentials = credentials.ok_or_else(|| {
        refused(
            "required",
            "this act needs a second person to authenticate as witness",
        )
    })?;
    let by_token =
        match (
            &credentials.token,
            &credentials.username,
            &credentials.password,
        ) {
            (Some(token), None, None) => Some(state.jwt.verify(token).map_err(|_| {
                refused("authenticated", "the witness token is invalid or expired")
            })?),
            (None, Some(_), Some(_)) => None,
            _ => {
                return Err(refused(
                    "one_of",
                    "give either token, or username and password",
                ))
            }
        };
    if let Some(username) = &credentials.username {
        if let Some(retry_after_secs) = state.throttle.locked_for(username) {
            return Err(AppError::TooManyRequests { retry_after_secs });
        }
    }
    let creds = credentials.clone();
    let found = state
        .db
        .read(move |c| {
            let row = match (by_token, &creds.username) {
                (Some(id), _) => queries::by_id(c, id)?,
                (None, Some(username)) => {
                    let row = queries::by_username(c, username)?;
                    let password = creds.password.as_deref().unwrap_or_default();
                    match row {
                        Some(u) if password::verify(password, &u.password_hash) => Some(u),
                        Some(_) => None,
                        None => {
                            password::verify_against_dummy(password);
                            None
                        }
                    }
                }
                (None, None) => None,
            };
            let Some(row) = row.filter(|u| u.enabled) else {
                return Ok(None);
            };
            let sites = queries::sites_of(c, row.id)?;
            Ok(Some((row, sites)))
        })
        .await?;
    let Some((row, sites)) = found else {
        if let Some(username) = &credentials.username {
            state.throttle.record_failure(username);
        }
        return Err(refused(
            "authenticated",
            "the witness's credentials were not accepted",
        ));
    };
    if let Some(username) = &credentials.username {
        state.throttle.record_success(username);
    }
    if row.id == author.id {
        return Err(refused(
            "different_person",
            "the witness must be a different person from the author",
        ));
    }
    let role = Role::from_db(&row.role);
    if !permissions::allowed(role, Action::CdWitness) || !sites.iter().any(|s| s.id == site_id) {
        return Err(refused(
            "eligible",
            "the witness must be clinical or pharmacy staff of this site",
        ));
    }
    if need == WitnessNeed::AuthorisedWitness && !row.authorised_witness {
        return Err(refused(
            "authorised_witness",
            "destruction must be witnessed by an authorised witness",
        ));
    }
    Ok(row.id)
}
