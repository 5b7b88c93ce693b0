//! A second person authenticating for one act (a controlled drug dose, a destruction, a balance
//! check). The witness proves who they are with their own password or their own access token;
//! a typed name is never enough.

use actix_web::web;
use serde::Deserialize;
use utoipa::ToSchema;

use super::accounts as queries;
use super::permissions::{self, Action};
use super::AuthUser;
use crate::domain::Role;
use crate::error::AppError;
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

/// Written (into an audit record, say) as the witness's name alone: a password or token never
/// leaves the request it came in.
impl serde::Serialize for WitnessCredentials {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("WitnessCredentials", 1)?;
        out.serialize_field("username", &self.username)?;
        out.end()
    }
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
    let witness_id = match (
        &credentials.token,
        &credentials.username,
        &credentials.password,
    ) {
        (Some(token), None, None) => state.jwt.verify(token).ok(),
        (None, Some(username), Some(password)) => super::check_password(state, username, password)
            .await?
            .map(|u| u.id),
        _ => {
            return Err(refused(
                "one_of",
                "give either token, or username and password",
            ))
        }
    };
    let found = match witness_id {
        Some(id) => {
            state
                .db
                .read(move |c| {
                    let Some(row) = queries::by_id(c, id)?.filter(|u| u.enabled) else {
                        return Ok(None);
                    };
                    let sites = queries::sites_of(c, row.id)?;
                    Ok(Some((row, sites)))
                })
                .await?
        }
        None => None,
    };
    let Some((row, sites)) = found else {
        return Err(refused(
            "authenticated",
            "the witness's credentials were not accepted",
        ));
    };
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

/// Authenticates a witness when credentials were given; whether one was needed is the rule of
/// the act itself (the ledger refuses a reduction of register stock without one).
pub async fn optional(
    state: &web::Data<AppState>,
    author: &AuthUser,
    site_id: i64,
    credentials: Option<WitnessCredentials>,
) -> Result<Option<i64>, AppError> {
    match credentials {
        Some(c) => Ok(Some(
            authenticate(state, author, site_id, Some(c), WitnessNeed::Staff).await?,
        )),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_written_as_the_name_alone() {
        let c = WitnessCredentials {
            username: Some("nurse".into()),
            password: Some("correct horse".into()),
            token: Some("eyJ...".into()),
        };
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"username": "nurse"})
        );
    }
}
