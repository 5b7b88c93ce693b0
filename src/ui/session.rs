//! The page session: the same signed access token as the API's, kept in an HttpOnly,
//! SameSite=Strict cookie scoped to `/ui`, with the same lifetime and the same sign-in
//! throttle. Every form carries a CSRF token that must match a second cookie, and a request
//! from another origin is refused.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use maud::html;
use rand::RngCore;
use serde::Deserialize;

use super::layout::{self, see_other};
use crate::auth::sign_in::{sign_in as check_sign_in, Caller};
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::AppState;

const SESSION: &str = "pp_session";
const CSRF: &str = "pp_csrf";

/// A signed-in person at the pages, and the token their forms must carry.
pub struct Session {
    pub user: AuthUser,
    pub csrf: String,
}

/// `Secure` whenever the page was reached over HTTPS (directly or, as `Forwarded` says, through
/// the TLS proxy in front); a browser would not send it back over plain HTTP.
fn cookie<'a>(req: &HttpRequest, name: &'a str, value: String, max_age_secs: i64) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/ui")
        .http_only(true)
        .secure(req.connection_info().scheme() == "https")
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_secs))
        .finish()
}

fn new_csrf() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The session of a request, or the answer to give instead: to the sign-in page.
pub async fn session(req: &HttpRequest) -> Result<Session, HttpResponse> {
    let to_sign_in = || see_other("/ui/sign-in");
    let (Some(token), Some(csrf)) = (req.cookie(SESSION), req.cookie(CSRF)) else {
        return Err(to_sign_in());
    };
    match AuthUser::with_token(req, token.value()).await {
        Ok(user) => {
            req.extensions_mut().insert(user.clone());
            Ok(Session {
                user,
                csrf: csrf.value().to_string(),
            })
        }
        Err(AppError::Unauthorized(_)) => Err(to_sign_in()),
        Err(e) => Err(layout::failure(&e)),
    }
}

/// The session behind a posted form whose token matches it, or the answer to give instead: to
/// sign in, or a refusal. A form that is not this session's is refused outright, never
/// re-rendered.
pub async fn form_session(req: &HttpRequest, token: &str) -> Result<Session, HttpResponse> {
    let s = session(req).await?;
    check_form(req, &s.csrf, token).map_err(|e| layout::failure(&e))?;
    Ok(s)
}

/// 403 unless a form's token matches the session's and the request comes from this origin.
pub fn check_form(req: &HttpRequest, expected: &str, given: &str) -> Result<(), AppError> {
    use subtle::ConstantTimeEq;
    let same_token = !given.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()));
    let host = req.connection_info().host().to_string();
    let same_origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_none_or(|o| o.split_once("://").is_some_and(|(_, h)| h == host));
    if same_token && same_origin {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "the form has expired or came from elsewhere; reload the page".into(),
        ))
    }
}

pub async fn sign_in_page(req: HttpRequest) -> HttpResponse {
    let csrf = req
        .cookie(CSRF)
        .map(|c| c.value().to_string())
        .unwrap_or_else(new_csrf);
    sign_in_form(&req, &csrf, None, actix_web::http::StatusCode::OK)
}

fn sign_in_form(
    req: &HttpRequest,
    csrf: &str,
    error: Option<&str>,
    status: actix_web::http::StatusCode,
) -> HttpResponse {
    let body = html! {
        main class="narrow" {
            h1 { "Sign in" }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            form method="post" action="/ui/sign-in" {
                input type="hidden" name="csrf" value=(csrf);
                label for="username" { "Username" }
                input id="username" name="username" autocomplete="username" required maxlength="64";
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256";
                button type="submit" { "Sign in" }
            }
        }
    };
    let mut response = layout::page_with_status(status, "Sign in", None, body);
    let _ = response.add_cookie(&cookie(req, CSRF, csrf.to_string(), 8 * 3600));
    response
}

#[derive(Deserialize)]
pub struct SignInForm {
    csrf: String,
    username: String,
    password: String,
}

pub async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SignInForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let expected = req
        .cookie(CSRF)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if check_form(&req, &expected, &form.csrf).is_err() {
        return sign_in_form(
            &req,
            &new_csrf(),
            Some("The sign-in form had expired. Please try again."),
            actix_web::http::StatusCode::FORBIDDEN,
        );
    }
    let caller = Caller::of(&req);
    let user = match check_sign_in(&state, &caller, &form.username, &form.password).await {
        Ok(user) => user,
        Err(e) => {
            let message = match &e {
                AppError::TooManyRequests { retry_after_secs } => format!(
                    "Too many attempts from this device. Try again in {retry_after_secs} seconds."
                ),
                AppError::Unauthorized(_) | AppError::Validation(_) => {
                    "Wrong username or password.".to_string()
                }
                other => layout::plain_words(other),
            };
            return sign_in_form(
                &req,
                &expected,
                Some(&message),
                actix_web::ResponseError::status_code(&e),
            );
        }
    };
    let user_id = user.id;
    let actor = crate::audit::Actor {
        user_id,
        request_id: caller.request_id.clone(),
    };
    let detail = serde_json::json!({"client": caller.client, "via": "ui"});
    if let Err(e) = state
        .db
        .write(move |c| {
            crate::audit::record(
                c,
                &actor,
                None,
                "auth.login",
                "user",
                user_id,
                Some(detail.clone()),
            )
        })
        .await
    {
        return sign_in_form(
            &req,
            &expected,
            Some(&layout::plain_words(&e)),
            actix_web::ResponseError::status_code(&e),
        );
    }
    let token = match state.jwt.issue(user_id) {
        Ok(t) => t,
        Err(e) => return layout::failure(&e),
    };
    let ttl = state.jwt.ttl_secs as i64;
    let mut response = see_other("/ui/round");
    let _ = response.add_cookie(&cookie(&req, SESSION, token, ttl));
    // A fresh CSRF token with each session.
    let _ = response.add_cookie(&cookie(&req, CSRF, new_csrf(), ttl));
    response
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn sign_out(req: HttpRequest, form: web::Form<CsrfForm>) -> HttpResponse {
    let expected = req
        .cookie(CSRF)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if let Err(e) = check_form(&req, &expected, &form.csrf) {
        return layout::failure(&e);
    }
    let mut response = see_other("/ui/sign-in");
    let _ = response.add_cookie(&cookie(&req, SESSION, String::new(), 0));
    let _ = response.add_cookie(&cookie(&req, CSRF, String::new(), 0));
    response
}
