use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::request_id;
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

const BAD_CREDENTIALS: &str = "invalid username or password";

/// Sign in. Wrong username and wrong password get the same answer; repeated failures lock the
/// account for a while (429 with Retry-After).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem)),
    extensions(("x-access" = json!("public"))))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    ValidJson(body): ValidJson<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    let request_id = request_id(&req);
    let Some(user) = super::check_password(&state, &body.username, &body.password).await? else {
        tracing::info!("sign-in refused");
        return Err(AppError::Unauthorized(BAD_CREDENTIALS.into()));
    };
    let user_id = user.id;
    let actor = Actor {
        user_id,
        request_id,
    };
    state
        .db
        .write(move |c| audit::record(c, &actor, None, "auth.login", "user", actor.user_id, None))
        .await?;
    let token = state.jwt.issue(user_id)?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token: token,
        token_type: "Bearer".into(),
        expires_in: state.jwt.ttl_secs,
    }))
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![crate::route!(login)]
}
