use actix_web::{web, HttpResponse};

use super::model::*;
use super::service;
use crate::auth::permissions::Action;
use crate::auth::AuthUser;
use crate::error::{AppError, Problem};
use crate::http::{PageQuery, Paged, ValidJson, ValidQuery};
use crate::AppState;

/// The emergency kits of a prison, with their state and when each check falls due.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/emergency-kits", tag = "emergency_kits",
    params(PageQuery, ("site_id" = i64, Path)),
    responses((status = 200, body = Paged<KitView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("emergency_kit.read"))))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site_id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    user.authorize(Action::EmergencyKitRead, site_id)?;
    let items = state.db.read(move |c| service::kits(c, site_id)).await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// Makes a location an emergency kit (wing emergency bag, naloxone kit, anaphylaxis kit) with
/// its contents list. Register-tracked controlled drugs are refused: they stay in CD cabinets.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/emergency-kits", tag = "emergency_kits",
    params(("site_id" = i64, Path)), request_body = CreateKit,
    responses((status = 201, body = KitView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("emergency_kit.manage"))))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    site_id: web::Path<i64>,
    ValidJson(req): ValidJson<CreateKit>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    let actor = user.authorize(Action::EmergencyKitManage, site_id)?;
    let kit = state
        .db
        .write(move |c| service::create_kit(c, &actor, site_id, &req))
        .await?;
    Ok(HttpResponse::Created().json(kit))
}

/// Kits whose check is overdue now, the longest overdue first.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/emergency-kits/overdue-checks", tag = "emergency_kits",
    params(PageQuery, ("site_id" = i64, Path)),
    responses((status = 200, body = Paged<KitView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("emergency_kit.read"))))]
pub async fn overdue(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site_id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    user.authorize(Action::EmergencyKitRead, site_id)?;
    let items = state
        .db
        .read(move |c| service::overdue_checks(c, site_id))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// Stock in any kit of the prison expiring within `days` (30 when absent), soonest first;
/// stock already expired is listed with negative `days_left`.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/emergency-kits/expiring", tag = "emergency_kits",
    params(ExpiringQuery, PageQuery, ("site_id" = i64, Path)),
    responses((status = 200, body = Paged<ExpiringKitItem>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("emergency_kit.read"))))]
pub async fn expiring(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site_id: web::Path<i64>,
    ValidQuery(q): ValidQuery<ExpiringQuery>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    user.authorize(Action::EmergencyKitRead, site_id)?;
    let days = q.days.unwrap_or(30);
    let items = state
        .db
        .read(move |c| service::expiring(c, site_id, days))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// One kit.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/emergency-kits/{kit_id}", tag = "emergency_kits",
    params(("site_id" = i64, Path), ("kit_id" = i64, Path)),
    responses((status = 200, body = KitView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("emergency_kit.read"))))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (site_id, kit_id) = path.into_inner();
    user.authorize(Action::EmergencyKitRead, site_id)?;
    let kit = state
        .db
        .read(move |c| service::kit(c, site_id, kit_id))
        .await?;
    Ok(HttpResponse::Ok().json(kit))
}

/// Replaces a kit's contents list, and its check interval when given.
#[utoipa::path(put, path = "/api/v1/sites/{site_id}/emergency-kits/{kit_id}/contents", tag = "emergency_kits",
    params(("site_id" = i64, Path), ("kit_id" = i64, Path)), request_body = SetContents,
    responses((status = 200, body = KitView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("emergency_kit.manage"))))]
pub async fn set_contents(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidJson(req): ValidJson<SetContents>,
) -> Result<HttpResponse, AppError> {
    let (site_id, kit_id) = path.into_inner();
    let actor = user.authorize(Action::EmergencyKitManage, site_id)?;
    let kit = state
        .db
        .write(move |c| service::set_contents(c, &actor, site_id, kit_id, &req))
        .await?;
    Ok(HttpResponse::Ok().json(kit))
}

/// A kit's checks, newest first.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/emergency-kits/{kit_id}/checks", tag = "emergency_kits",
    params(PageQuery, ("site_id" = i64, Path), ("kit_id" = i64, Path)),
    responses((status = 200, body = Paged<KitCheckView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("emergency_kit.read"))))]
pub async fn checks(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (site_id, kit_id) = path.into_inner();
    user.authorize(Action::EmergencyKitRead, site_id)?;
    let items = state
        .db
        .read(move |c| service::checks(c, site_id, kit_id))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// Records a check: the seal number, whether it was intact, and each item on the contents list
/// present and in date. The next check falls due one interval later.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/emergency-kits/{kit_id}/checks", tag = "emergency_kits",
    params(("site_id" = i64, Path), ("kit_id" = i64, Path)), request_body = KitCheckRequest,
    responses((status = 201, body = KitCheckView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("emergency_kit.check"))))]
pub async fn record_check(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidJson(req): ValidJson<KitCheckRequest>,
) -> Result<HttpResponse, AppError> {
    let (site_id, kit_id) = path.into_inner();
    let actor = user.authorize(Action::EmergencyKitCheck, site_id)?;
    let check = state
        .db
        .write(move |c| service::record_check(c, &actor, site_id, kit_id, &req))
        .await?;
    Ok(HttpResponse::Created().json(check))
}

/// A kit's openings and restocks, newest first, with the stock movements of each.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/emergency-kits/{kit_id}/events", tag = "emergency_kits",
    params(PageQuery, ("site_id" = i64, Path), ("kit_id" = i64, Path)),
    responses((status = 200, body = Paged<KitEventView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("emergency_kit.read"))))]
pub async fn events(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (site_id, kit_id) = path.into_inner();
    user.authorize(Action::EmergencyKitRead, site_id)?;
    let items = state
        .db
        .read(move |c| service::events(c, site_id, kit_id))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// Records a kit opened in an emergency: the seal broken, what was used (leaving the kit's
/// stock through the ledger as given doses, first expiry first out) and for whom if known.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/emergency-kits/{kit_id}/openings", tag = "emergency_kits",
    params(("site_id" = i64, Path), ("kit_id" = i64, Path)), request_body = OpenKit,
    responses((status = 201, body = KitEventView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("emergency_kit.open"))))]
pub async fn open(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidJson(req): ValidJson<OpenKit>,
) -> Result<HttpResponse, AppError> {
    let (site_id, kit_id) = path.into_inner();
    let actor = user.authorize(Action::EmergencyKitOpen, site_id)?;
    let event = state
        .db
        .write(move |c| service::open_kit(c, &actor, site_id, kit_id, &req))
        .await?;
    Ok(HttpResponse::Created().json(event))
}

/// Restocks a kit from another location of the prison (a transfer through the ledger) and
/// records its new seal.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/emergency-kits/{kit_id}/restocks", tag = "emergency_kits",
    params(("site_id" = i64, Path), ("kit_id" = i64, Path)), request_body = RestockKit,
    responses((status = 201, body = KitEventView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("emergency_kit.restock"))))]
pub async fn restock(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidJson(req): ValidJson<RestockKit>,
) -> Result<HttpResponse, AppError> {
    let (site_id, kit_id) = path.into_inner();
    let actor = user.authorize(Action::EmergencyKitRestock, site_id)?;
    let event = state
        .db
        .write(move |c| service::restock_kit(c, &actor, site_id, kit_id, &req))
        .await?;
    Ok(HttpResponse::Created().json(event))
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![
        crate::route!(list),
        crate::route!(create),
        crate::route!(overdue),
        crate::route!(expiring),
        crate::route!(get),
        crate::route!(set_contents),
        crate::route!(checks),
        crate::route!(record_check),
        crate::route!(events),
        crate::route!(open),
        crate::route!(restock),
    ]
}
