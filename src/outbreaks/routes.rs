use actix_web::{web, HttpResponse};

use super::model::*;
use super::service;
use crate::auth::permissions::Action;
use crate::auth::AuthUser;
use crate::error::{AppError, Problem};
use crate::http::{PageQuery, Paged, ValidJson, ValidQuery};
use crate::AppState;

/// The outbreaks of a prison, the latest declared first.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/outbreaks", tag = "outbreaks",
    params(PageQuery, ("site_id" = i64, Path)),
    responses((status = 200, body = Paged<OutbreakView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("outbreak.read"))))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site_id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    user.authorize(Action::OutbreakRead, site_id)?;
    let items = state.db.read(move |c| service::list(c, site_id)).await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// Declares an outbreak at the prison: the condition, the date and the wings affected.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/outbreaks", tag = "outbreaks",
    params(("site_id" = i64, Path)), request_body = DeclareOutbreak,
    responses((status = 201, body = OutbreakView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("outbreak.manage"))))]
pub async fn declare(
    state: web::Data<AppState>,
    user: AuthUser,
    site_id: web::Path<i64>,
    ValidJson(req): ValidJson<DeclareOutbreak>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    let actor = user.authorize(Action::OutbreakManage, site_id)?;
    let view = state
        .db
        .write(move |c| service::declare(c, &actor, site_id, &req))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// One outbreak.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/outbreaks/{outbreak_id}", tag = "outbreaks",
    params(("site_id" = i64, Path), ("outbreak_id" = i64, Path)),
    responses((status = 200, body = OutbreakView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("outbreak.read"))))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (site_id, id) = path.into_inner();
    user.authorize(Action::OutbreakRead, site_id)?;
    let view = state
        .db
        .read(move |c| service::outbreak(c, site_id, id))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Closes an outbreak; it takes no more courses or vaccinations (409 `outbreak_closed` when
/// closed already).
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/outbreaks/{outbreak_id}/closure", tag = "outbreaks",
    params(("site_id" = i64, Path), ("outbreak_id" = i64, Path)), request_body = CloseOutbreak,
    responses((status = 201, body = OutbreakView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("outbreak.manage"))))]
pub async fn close(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidJson(req): ValidJson<CloseOutbreak>,
) -> Result<HttpResponse, AppError> {
    let (site_id, id) = path.into_inner();
    let actor = user.authorize(Action::OutbreakManage, site_id)?;
    let view = state
        .db
        .write(move |c| service::close(c, &actor, site_id, id, &req))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// How many patients were treated, given prophylaxis or vaccinated, per wing.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/outbreaks/{outbreak_id}/summary", tag = "outbreaks",
    params(("site_id" = i64, Path), ("outbreak_id" = i64, Path)),
    responses((status = 200, body = OutbreakSummary), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("outbreak.read"))))]
pub async fn summary(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (site_id, id) = path.into_inner();
    user.authorize(Action::OutbreakRead, site_id)?;
    let view = state
        .db
        .for_reports()
        .read(move |c| service::summary(c, site_id, id))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Vaccinations given at the prison, newest first, by outbreak, patient or batch.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/vaccinations", tag = "outbreaks",
    params(VaccinationFilter, PageQuery, ("site_id" = i64, Path)),
    responses((status = 200, body = Paged<VaccinationView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("outbreak.read"))))]
pub async fn vaccinations(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site_id: web::Path<i64>,
    ValidQuery(f): ValidQuery<VaccinationFilter>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    user.authorize(Action::OutbreakRead, site_id)?;
    let items = state
        .db
        .read(move |c| service::vaccinations(c, site_id, &f))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// Records a vaccination: product, batch, site of injection, who gave it (the caller) and
/// when. The dose leaves the named location's stock through the ledger.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/vaccinations", tag = "outbreaks",
    params(("site_id" = i64, Path)), request_body = VaccinationRequest,
    responses((status = 201, body = VaccinationView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("vaccination.record"))))]
pub async fn vaccinate(
    state: web::Data<AppState>,
    user: AuthUser,
    site_id: web::Path<i64>,
    ValidJson(req): ValidJson<VaccinationRequest>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    let actor = user.authorize(Action::VaccinationRecord, site_id)?;
    let view = state
        .db
        .write(move |c| service::vaccinate(c, &actor, site_id, &req))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Who at this prison received a batch (vaccinated with it, dosed from it at a round, or
/// supplied it in possession), earliest first: the list a recall works through.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/batch-recipients", tag = "outbreaks",
    params(RecipientsQuery, PageQuery, ("site_id" = i64, Path)),
    responses((status = 200, body = Paged<BatchRecipient>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("batch_recipients.read"))))]
pub async fn batch_recipients(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site_id: web::Path<i64>,
    ValidQuery(q): ValidQuery<RecipientsQuery>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    user.authorize(Action::BatchRecipientsRead, site_id)?;
    let items = state
        .db
        .read(move |c| service::batch_recipients(c, site_id, q.batch_id))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![
        crate::route!(list),
        crate::route!(declare),
        crate::route!(get),
        crate::route!(close),
        crate::route!(summary),
        crate::route!(vaccinations),
        crate::route!(vaccinate),
        crate::route!(batch_recipients),
    ]
}
