//! Sign-in, tokens, and the checks every request passes: who you are, what your role may do,
//! and which sites you may see.

pub mod access;
pub mod accounts;
pub mod client;
pub mod jwt;
pub mod password;
pub mod permissions;
pub mod routes;
pub mod sign_in;
pub mod throttle;
pub mod witness;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use tracing_actix_web::{RequestId, RootSpan};

use crate::audit::Actor;
use crate::domain::Role;
use crate::error::AppError;
use crate::AppState;
use accounts as queries;
use permissions::Action;

/// The signed-in user of this request, freshly read from the database (so a disabled account
/// or a changed role takes effect at once, whatever tokens are still about).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub site_ids: Vec<i64>,
    pub authorised_witness: bool,
    /// The request's id, where it came from and its route, for the audit and security logs.
    pub caller: sign_in::Caller,
    span: Option<tracing::Span>,
}

impl AuthUser {
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.id,
            request_id: self.caller.request_id.clone(),
        }
    }

    pub fn may(&self, action: Action) -> bool {
        permissions::allowed(self.role, action)
    }

    /// 403 unless the permission table lets this role do the action.
    pub fn require(&self, action: Action) -> Result<(), AppError> {
        if self.may(action) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "role {} may not {}",
                self.role, action
            )))
        }
    }

    /// 404 unless the user holds the site: a record of another prison must not even be seen to exist.
    pub fn require_site(&self, site_id: i64) -> Result<(), AppError> {
        if self.site_ids.contains(&site_id) {
            if let Some(span) = &self.span {
                span.record("site_id", site_id);
            }
            Ok(())
        } else {
            Err(AppError::not_found("site"))
        }
    }

    /// 404 unless the user holds the site of the record, naming the record's kind.
    pub fn require_record_site(&self, site_id: i64, entity: &str) -> Result<(), AppError> {
        self.require_site(site_id)
            .map_err(|_| AppError::not_found(entity))
    }

    /// 404 unless the user holds at least one of the sites.
    pub fn require_any_site(
        &self,
        sites: impl IntoIterator<Item = i64>,
        entity: &str,
    ) -> Result<(), AppError> {
        if sites.into_iter().any(|s| self.site_ids.contains(&s)) {
            Ok(())
        } else {
            Err(AppError::not_found(entity))
        }
    }

    /// Site check then role check, the order that keeps other sites' records invisible.
    pub fn authorize(&self, action: Action, site_id: i64) -> Result<Actor, AppError> {
        self.require_site(site_id)?;
        self.require(action)?;
        Ok(self.actor())
    }
}

pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.to_string())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

impl AuthUser {
    /// The request's user: the one the access check already found, or read afresh from the
    /// bearer token and the database.
    pub async fn authenticate(req: &HttpRequest) -> Result<AuthUser, AppError> {
        if let Some(user) = req.extensions().get::<AuthUser>() {
            return Ok(user.clone());
        }
        let token = bearer_token(req)
            .ok_or_else(|| AppError::Unauthorized("a bearer token is required".into()))?;
        Self::with_token(req, &token).await
    }

    /// The user an access token names, read afresh from the database (the bearer token of an
    /// API request, or the session cookie of the round screen).
    pub async fn with_token(req: &HttpRequest, token: &str) -> Result<AuthUser, AppError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| AppError::internal("application state missing"))?;
        let caller = sign_in::Caller::of(req);
        let span = req
            .extensions()
            .get::<RootSpan>()
            .map(|s| tracing::Span::clone(s));
        let user_id = state.jwt.verify(token)?;
        let (row, sites) = state
            .db
            .read_again_if_lost(move |c| Ok(queries::with_sites(c, user_id)?))
            .await?
            .filter(|(u, _)| u.enabled)
            .ok_or_else(|| AppError::Unauthorized("invalid or expired token".into()))?;
        if let Some(span) = &span {
            span.record("user_id", row.id);
        }
        Ok(AuthUser {
            id: row.id,
            role: Role::from_db(&row.role),
            username: row.username,
            site_ids: sites.into_iter().map(|s| s.id).collect(),
            authorised_witness: row.authorised_witness,
            caller,
            span,
        })
    }
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { AuthUser::authenticate(&req).await })
    }
}
