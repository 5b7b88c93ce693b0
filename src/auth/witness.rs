//! A second person authenticating for one act (a controlled drug dose, a destruction, a balance
//! check). The witness proves who they are on the spot, with their own password, or with a
//! witness assertion they obtained by signing in (`POST /api/v1/auth/witness-assertions`): a
//! five-minute token naming the prison and the act, redeemed once. An access token is never
//! accepted, and a typed name is never enough.
//!
//! Failed attempts count against the person submitting them, never against the witness's own
//! sign-in, and each refusal is a security event.

use actix_web::web;
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::ToSchema;
use validator::Validate;

use super::accounts::{self as queries, UserRow};
use super::permissions::{self, Action};
use super::sign_in::{self, check_length, normalise};
use super::throttle::{self, Key};
use super::AuthUser;
use crate::audit;
use crate::db::schema::witness_redemptions;
use crate::db::{is_duplicate, now};
use crate::domain::Role;
use crate::error::AppError;
use crate::text_enum;
use crate::AppState;

text_enum!(
    /// The act a witness attests, as named in a witness assertion.
    WitnessAct {
        CdDose => "cd_dose",
        CdSupply => "cd_supply",
        CdTransfer => "cd_transfer",
        Destruction => "destruction",
        Correction => "correction",
        BalanceCheck => "balance_check",
        RegisterSetup => "register_setup",
    }
);

/// The witness's own proof: `username` and `password` typed on the spot, or an `assertion`
/// from `POST /api/v1/auth/witness-assertions`.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WitnessCredentials {
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub username: Option<String>,
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub password: Option<String>,
    #[validate(length(min = 1, max = 2048))]
    #[schema(min_length = 1, max_length = 2048)]
    pub assertion: Option<String>,
}

/// Written (into an audit record, say) as the witness's name alone: a password or assertion
/// never leaves the request it came in.
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

/// 422 unless the account may witness at the site: enabled, holding the site, in a role that
/// may witness, and (for destruction) marked as an authorised witness.
pub fn check_eligible(
    row: &UserRow,
    sites: &[queries::SiteRef],
    site_id: i64,
    need: WitnessNeed,
) -> Result<(), AppError> {
    let role = Role::from_db(&row.role);
    if !row.enabled
        || !permissions::allowed(role, Action::CdWitness)
        || !sites.iter().any(|s| s.id == site_id)
    {
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
    Ok(())
}

/// Who a proof names: (witness id, the assertion's id to redeem).
type Proved = (i64, Option<String>);

/// Who an assertion proves, if anyone: its signature is all that is checked here, without the
/// database.
fn prove_assertion(
    state: &web::Data<AppState>,
    site_id: i64,
    act: WitnessAct,
    assertion: &str,
) -> Result<Option<Proved>, AppError> {
    let Some(claims) = state.jwt.verify_witness(assertion) else {
        return Ok(None);
    };
    if claims.site != site_id || claims.act != act.as_str() {
        return Err(refused(
            "assertion_scope",
            format!(
                "the assertion witnesses {} at another prison or another act; this is {}",
                claims.act,
                act.as_str()
            ),
        ));
    }
    Ok(claims.sub.parse().ok().map(|id| (id, Some(claims.jti))))
}

/// Who credentials other than an assertion alone prove, if anyone: a username and password,
/// or else a refusal for a mixture.
async fn prove_password(
    state: &web::Data<AppState>,
    credentials: &WitnessCredentials,
) -> Result<Option<Proved>, AppError> {
    match (
        &credentials.assertion,
        &credentials.username,
        &credentials.password,
    ) {
        (None, Some(username), Some(password)) => {
            let (account, ok) = sign_in::verify(state, &normalise(username), password).await?;
            Ok(account.filter(|_| ok).map(|u| (u.id, None)))
        }
        _ => Err(refused(
            "one_of",
            "give either username and password, or assertion",
        )),
    }
}

/// Checks the witness and returns their user id. The witness must be enabled, hold the site,
/// have a role that may witness, and be a different person from the author. An assertion must
/// name this site and act and is spent here, once.
pub async fn authenticate(
    state: &web::Data<AppState>,
    author: &AuthUser,
    site_id: i64,
    act: WitnessAct,
    credentials: Option<WitnessCredentials>,
    need: WitnessNeed,
) -> Result<i64, AppError> {
    let credentials = credentials.ok_or_else(|| {
        refused(
            "required",
            "this act needs a second person to authenticate as witness",
        )
    })?;
    // Checked before anything is counted or looked up, like a sign-in's: the lengths the
    // document gives, named as the fields of `witness`.
    if let Err(AppError::Validation(mut issues)) = credentials.validate().map_err(AppError::from) {
        for issue in &mut issues {
            issue.field = format!("witness.{}", issue.field);
        }
        return Err(AppError::Validation(issues));
    }
    if let Some(username) = &credentials.username {
        check_length("witness.username", &normalise(username))?;
    }
    let submitter = Key::WitnessBy(author.id);
    let assertion = match (
        &credentials.assertion,
        &credentials.username,
        &credentials.password,
    ) {
        (Some(assertion), None, None) => Some(prove_assertion(state, site_id, act, assertion)),
        _ => None,
    };
    let outcome = match assertion {
        // A signed assertion needs no database to prove, so whether the submitter is held
        // back is read in the same transaction that checks the witness and spends it.
        Some(Ok(Some(proved))) => {
            check(
                state,
                author,
                site_id,
                act,
                need,
                proved,
                Some(submitter.clone()),
            )
            .await
        }
        assertion => {
            // Anything else is settled only once the submitter is known not to be held back,
            // so that a password is never tried while they are.
            let key = submitter.clone();
            let held = state
                .db
                .read(move |c| Ok(throttle::held_for(c, &key)?))
                .await?;
            match held {
                Some(retry_after_secs) => Err(AppError::TooManyRequests { retry_after_secs }),
                None => {
                    let proof = match assertion {
                        Some(proof) => proof,
                        None => prove_password(state, &credentials).await,
                    };
                    match proof {
                        Ok(Some(proved)) => {
                            check(state, author, site_id, act, need, proved, None).await
                        }
                        Ok(None) => Err(refused(
                            "authenticated",
                            "the witness's credentials were not accepted",
                        )),
                        Err(e) => Err(e),
                    }
                }
            }
        }
    };
    match outcome {
        Ok(id) => Ok(id),
        Err(AppError::TooManyRequests { retry_after_secs }) => {
            refusal(state, author, site_id, "throttled", &credentials).await?;
            Err(AppError::TooManyRequests { retry_after_secs })
        }
        Err(e) => {
            let rule = e.first_rule().unwrap_or("refused").to_string();
            // Only a failed proof counts towards holding the submitter back; a right password
            // of someone ineligible is a mistake, not a guess.
            let failure = if rule == "authenticated" {
                let rules = state.throttle;
                let key = submitter.clone();
                Some(
                    state
                        .db
                        .write(move |c| Ok(throttle::fail(c, &key, rules.witness_by)?))
                        .await?,
                )
            } else {
                None
            };
            refusal(state, author, site_id, &rule, &credentials).await?;
            tracing::info!(rule, "witness refused");
            match failure.and_then(|f| f.held_for) {
                Some(retry_after_secs) => Err(AppError::TooManyRequests { retry_after_secs }),
                None => Err(e),
            }
        }
    }
}

/// The proved witness may witness this act, and the assertion (if one) is spent; first, when
/// given the submitter's key, 429 if they are held back. The act commits after this and waits
/// for the disk, taking the redemption with it, so this commit need not wait.
async fn check(
    state: &web::Data<AppState>,
    author: &AuthUser,
    site_id: i64,
    act: WitnessAct,
    need: WitnessNeed,
    (witness_id, assertion_id): Proved,
    held_back: Option<Key>,
) -> Result<i64, AppError> {
    let author_id = author.id;
    state
        .db
        .write_flushed_with_next(move |c| {
            if let Some(key) = &held_back {
                if let Some(retry_after_secs) = throttle::held_for(c, key)? {
                    return Err(AppError::TooManyRequests { retry_after_secs });
                }
            }
            if witness_id == author_id {
                return Err(refused(
                    "different_person",
                    "the witness must be a different person from the author",
                ));
            }
            let Some((row, sites)) = queries::with_sites(c, witness_id)? else {
                return Err(refused(
                    "authenticated",
                    "the witness's credentials were not accepted",
                ));
            };
            check_eligible(&row, &sites, site_id, need)?;
            if let Some(jti) = &assertion_id {
                diesel::insert_into(witness_redemptions::table)
                    .values((
                        witness_redemptions::assertion_id.eq(jti),
                        witness_redemptions::witness_id.eq(witness_id),
                        witness_redemptions::site_id.eq(site_id),
                        witness_redemptions::act.eq(act.as_str()),
                        witness_redemptions::redeemed_by.eq(author_id),
                        witness_redemptions::redeemed_at.eq(now()),
                    ))
                    .execute(c)
                    .map_err(|e| {
                        if is_duplicate(&e) {
                            refused("assertion_used", "this witness assertion was already used")
                        } else {
                            e.into()
                        }
                    })?;
            }
            Ok(witness_id)
        })
        .await
}

async fn refusal(
    state: &web::Data<AppState>,
    author: &AuthUser,
    site_id: i64,
    rule: &str,
    credentials: &WitnessCredentials,
) -> Result<(), AppError> {
    let (author_id, credentials, event) = (author.id, credentials.clone(), author.caller.clone());
    let rule = rule.to_string();
    state
        .db
        .write(move |c| {
            let mut ev = event.event("auth.witness_refused");
            ev.user_id = Some(author_id);
            ev.site_id = Some(site_id);
            ev.detail = serde_json::json!({"rule": rule, "witness": credentials});
            audit::record_security(c, &ev)
        })
        .await
}

/// Authenticates a witness when credentials were given; whether one was needed is the rule of
/// the act itself (the ledger refuses a reduction of register stock without one).
pub async fn optional(
    state: &web::Data<AppState>,
    author: &AuthUser,
    site_id: i64,
    act: WitnessAct,
    credentials: Option<WitnessCredentials>,
) -> Result<Option<i64>, AppError> {
    match credentials {
        Some(c) => Ok(Some(
            authenticate(state, author, site_id, act, Some(c), WitnessNeed::Staff).await?,
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
            assertion: Some("eyJ...".into()),
        };
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"username": "nurse"})
        );
    }

    #[test]
    fn a_full_access_token_is_not_a_field() {
        let err = serde_json::from_value::<WitnessCredentials>(serde_json::json!({"token": "x"}));
        assert!(err.is_err());
    }
}
