use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::jwt::WITNESS_ASSERTION_SECS;
use super::sign_in::{sign_in, Caller};
use super::witness::{check_eligible, WitnessAct, WitnessNeed};
use crate::audit::{self, Actor};
use crate::error::{AppError, Problem};
use crate::http::ValidJson;
use crate::AppState;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Sign in. Wrong username and wrong password get the same answer. Usernames are trimmed and
/// case-folded. Repeated failures from one client address make it wait, longer each time (429
/// with Retry-After); only far more failures of one account, from anywhere, lock the account.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem)),
    extensions(("x-access" = json!("public"))))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    ValidJson(body): ValidJson<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    let caller = Caller::of(&req);
    let user = sign_in(&state, &caller, &body.username, &body.password).await?;
    let user_id = user.id;
    let detail = serde_json::json!({"client": caller.client});
    let actor = Actor {
        user_id,
        request_id: caller.request_id,
    };
    state
        .db
        .write(move |c| {
            let detail = Some(detail.clone());
            audit::record(c, &actor, None, "auth.login", "user", actor.user_id, detail)
        })
        .await?;
    let token = state.jwt.issue(user_id)?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token: token,
        token_type: "Bearer".into(),
        expires_in: state.jwt.ttl_secs,
    }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WitnessAssertionRequest {
    /// The witness's own username and password.
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub password: String,
    /// The prison where the act is witnessed.
    pub site_id: i64,
    pub act: WitnessAct,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WitnessAssertion {
    /// Give it as `witness: {"assertion": ...}` with the act; it is spent when redeemed.
    pub assertion: String,
    pub site_id: i64,
    pub act: WitnessAct,
    /// Seconds until it expires (at most 300).
    pub expires_in: i64,
}

/// A witness signs in for one act: a single-use assertion naming the prison and the act, valid
/// for five minutes, which the person doing the act submits as the witness. It is no access
/// token: it opens no route. Throttled like sign-in.
#[utoipa::path(post, path = "/api/v1/auth/witness-assertions", tag = "auth",
    request_body = WitnessAssertionRequest,
    responses((status = 200, body = WitnessAssertion), (status = 401, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem)),
    extensions(("x-access" = json!("public"))))]
pub async fn witness_assertion(
    state: web::Data<AppState>,
    req: HttpRequest,
    ValidJson(body): ValidJson<WitnessAssertionRequest>,
) -> Result<HttpResponse, AppError> {
    let caller = Caller::of(&req);
    let user = sign_in(&state, &caller, &body.username, &body.password).await?;
    let (site_id, act, user_id) = (body.site_id, body.act, user.id);
    let actor = Actor {
        user_id,
        request_id: caller.request_id,
    };
    state
        .db
        .write(move |c| {
            let sites = super::accounts::sites_of(c, user.id)?;
            check_eligible(&user, &sites, site_id, WitnessNeed::Staff).map_err(|_| {
                AppError::invalid(
                    "site_id",
                    "eligible",
                    "you may witness only as clinical or pharmacy staff of this prison",
                )
            })?;
            audit::record(
                c,
                &actor,
                Some(site_id),
                "auth.witness_assertion",
                "user",
                actor.user_id,
                Some(serde_json::json!({"act": act})),
            )
        })
        .await?;
    let assertion = state.jwt.issue_witness(user_id, site_id, act.as_str())?;
    Ok(HttpResponse::Ok().json(WitnessAssertion {
        assertion,
        site_id,
        act,
        expires_in: WITNESS_ASSERTION_SECS,
    }))
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![crate::route!(login), crate::route!(witness_assertion)]
}
