use actix_web::{web, HttpResponse};

use super::model::{CreateUser, UpdateUser, UserView};
use super::{queries, service};
use crate::auth::permissions::Action;
use crate::auth::AuthUser;
use crate::error::{AppError, Problem};
use crate::http::ValidJson;
use crate::http::{PageQuery, Paged};
use crate::AppState;

/// Users who hold any of your sites.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    params(PageQuery),
    responses((status = 200, body = Paged<UserView>), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("user.read"))))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
) -> Result<HttpResponse, AppError> {
    user.require(Action::UserRead)?;
    let sites = user.site_ids.clone();
    let items = state
        .db
        .read(move |c| {
            let rows = queries::at_sites(c, &sites)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(service::view_of(c, row)?);
            }
            Ok(out)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// Create a user with one role and the sites they may act at. Users are never deleted.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("user.manage"))))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(req): ValidJson<CreateUser>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::UserManage)?;
    for site in &req.site_ids {
        user.require_site(*site)?;
    }
    let actor = user.actor();
    let pw = req.password.clone();
    let username = req.username.clone();
    let hash = web::block(move || service::hash_new_password(&username, &pw))
        .await
        .map_err(|e| AppError::internal(e.to_string()))??;
    let view = state
        .db
        .write(move |c| service::create(c, &actor, &req, &hash))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// One user who holds one of your sites.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("user.read"))))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let view = state.db.read(move |c| service::view(c, id)).await?;
    user.require_any_site(view.sites.iter().map(|s| s.id), "user")?;
    user.require(Action::UserRead)?;
    Ok(HttpResponse::Ok().json(view))
}

/// Enable or disable a user, mark them an authorised CD witness, or change their sites.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)), request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("user.manage"))))]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(req): ValidJson<UpdateUser>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let current = state.db.read(move |c| service::view(c, id)).await?;
    user.require_any_site(current.sites.iter().map(|s| s.id), "user")?;
    user.require(Action::UserManage)?;
    for site in req.site_ids.iter().flatten() {
        user.require_site(*site)?;
    }
    let actor = user.actor();
    let admin_sites = user.site_ids.clone();
    let view = state
        .db
        .write(move |c| service::update(c, &actor, &admin_sites, id, &req))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The signed-in user, their role and their sites.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = UserView), (status = 401, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("signed_in"))))]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, AppError> {
    let id = user.id;
    let view = state.db.read(move |c| service::view(c, id)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![
        crate::route!(me),
        crate::route!(list),
        crate::route!(create),
        crate::route!(get),
        crate::route!(update),
    ]
}
