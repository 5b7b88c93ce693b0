use actix_web::{web, HttpResponse};

use super::model::{CreateLocation, CreateSite, Location, SetCdCabinet, Site};
use super::{queries, service};
use crate::auth::permissions::Action;
use crate::auth::AuthUser;
use crate::error::{AppError, Problem};
use crate::http::ValidJson;
use crate::http::{PageQuery, Paged};
use crate::AppState;

/// The prisons you may act at.
#[utoipa::path(get, path = "/api/v1/sites", tag = "sites",
    params(PageQuery),
    responses((status = 200, body = Paged<Site>), (status = 401, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("site.read"))))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
) -> Result<HttpResponse, AppError> {
    user.require(Action::SiteRead)?;
    let ids = user.site_ids.clone();
    let items = state.db.read(move |c| Ok(queries::list(c, &ids)?)).await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// Add a prison. The admin who adds it is granted it.
#[utoipa::path(post, path = "/api/v1/sites", tag = "sites", request_body = CreateSite,
    responses((status = 201, body = Site), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("site.manage"))))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(req): ValidJson<CreateSite>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::SiteManage)?;
    let actor = user.actor();
    let site = state
        .db
        .write(move |c| service::create_site(c, &actor, &req))
        .await?;
    Ok(HttpResponse::Created().json(site))
}

/// One of your prisons.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}", tag = "sites", params(("site_id" = i64, Path)),
    responses((status = 200, body = Site), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("site.read"))))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    site_id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    user.require_site(site_id)?;
    user.require(Action::SiteRead)?;
    let site = state
        .db
        .read(move |c| queries::by_id(c, site_id)?.ok_or_else(|| AppError::not_found("site")))
        .await?;
    Ok(HttpResponse::Ok().json(site))
}

/// Locations of a prison: pharmacy store, CD cabinet, treatment rooms, administration points, quarantine.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/locations", tag = "sites", params(PageQuery, ("site_id" = i64, Path)),
    responses((status = 200, body = Paged<Location>), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("site.read"))))]
pub async fn locations(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site_id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    user.require_site(site_id)?;
    user.require(Action::SiteRead)?;
    let rows = state
        .db
        .read(move |c| Ok(queries::locations_of(c, site_id)?))
        .await?;
    let items: Vec<Location> = rows.into_iter().map(Location::from).collect();
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// Add a location to a prison.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/locations", tag = "sites", params(("site_id" = i64, Path)),
    request_body = CreateLocation,
    responses((status = 201, body = Location), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("location.manage"))))]
pub async fn create_location(
    state: web::Data<AppState>,
    user: AuthUser,
    site_id: web::Path<i64>,
    ValidJson(req): ValidJson<CreateLocation>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    let actor = user.authorize(Action::LocationManage, site_id)?;
    let location = state
        .db
        .write(move |c| service::create_location(c, &actor, site_id, &req))
        .await?;
    Ok(HttpResponse::Created().json(location))
}

/// Marks a location as a CD cabinet, which keeps its own register pages, unless it is an
/// emergency kit (409 `emergency_kit`), or unmarks it while no page there holds entries or
/// stock (409 `cd_register_in_use`).
#[utoipa::path(put, path = "/api/v1/sites/{site_id}/locations/{location_id}/cd-cabinet", tag = "sites",
    params(("site_id" = i64, Path), ("location_id" = i64, Path)), request_body = SetCdCabinet,
    responses((status = 200, body = Location), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("location.manage"))))]
pub async fn set_cd_cabinet(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidJson(req): ValidJson<SetCdCabinet>,
) -> Result<HttpResponse, AppError> {
    let (site_id, location_id) = path.into_inner();
    let actor = user.authorize(Action::LocationManage, site_id)?;
    let location = state
        .db
        .write(move |c| service::set_cd_cabinet(c, &actor, site_id, location_id, req.cd_cabinet))
        .await?;
    Ok(HttpResponse::Ok().json(location))
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![
        crate::route!(list),
        crate::route!(create),
        crate::route!(get),
        crate::route!(locations),
        crate::route!(create_location),
        crate::route!(set_cd_cabinet),
    ]
}
