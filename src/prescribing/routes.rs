use actix_web::{web, HttpResponse};

use super::model::*;
use super::service;
use crate::audit::Actor;
use crate::auth::access::on_patient;
use crate::auth::permissions::Action;
use crate::auth::AuthUser;
use crate::error::{AppError, Problem};
use crate::http::{PageQuery, Paged, ValidJson, ValidQuery};
use crate::AppState;

/// Authorises an action on a prescription through its patient's prison.
async fn on_prescription(
    state: &web::Data<AppState>,
    user: &AuthUser,
    id: i64,
    action: Action,
) -> Result<Actor, AppError> {
    let site = state
        .db
        .read(move |c| service::prescription_site(c, id))
        .await?;
    user.require_record_site(site, "prescription")?;
    user.authorize(action, site)
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/prescriptions", tag = "prescribing",
    params(PageQuery, ("id" = i64, Path), PrescriptionFilter),
    responses((status = 200, body = Paged<PrescriptionView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("prescription.read"))))]
pub async fn of_patient(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    id: web::Path<i64>,
    ValidQuery(f): ValidQuery<PrescriptionFilter>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    on_patient(&state, &user, id, Action::PrescriptionRead).await?;
    let list = state
        .db
        .read(move |c| service::of_patient(c, id, &f))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(list.items, paging.request())))
}

/// Records a prescription. It is screened at once (allergies, interactions, maximum daily
/// dose, duplicate therapy, possession) and waits as a draft for a pharmacist's decision.
#[utoipa::path(post, path = "/api/v1/patients/{id}/prescriptions", tag = "prescribing",
    params(("id" = i64, Path)), request_body = CreatePrescription,
    responses((status = 201, body = PrescriptionView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("prescription.create"))))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<CreatePrescription>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = on_patient(&state, &user, id, Action::PrescriptionCreate).await?;
    let view = state
        .db
        .write(move |c| service::create(c, &actor, id, &body))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(get, path = "/api/v1/prescriptions/{id}", tag = "prescribing", params(("id" = i64, Path)),
    responses((status = 200, body = PrescriptionView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("prescription.read"))))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    on_prescription(&state, &user, id, Action::PrescriptionRead).await?;
    let view = state.db.read(move |c| service::prescription(c, id)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The pharmacist's decision: approve, approve with note, reject, or query to the prescriber.
/// Approving over a blocking finding needs `override_reason`.
#[utoipa::path(post, path = "/api/v1/prescriptions/{id}/screening", tag = "prescribing",
    params(("id" = i64, Path)), request_body = DecisionRequest,
    responses((status = 200, body = PrescriptionView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("screening.decide"))))]
pub async fn decide(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<DecisionRequest>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = on_prescription(&state, &user, id, Action::ScreeningDecide).await?;
    let view = state
        .db
        .write(move |c| service::decide(c, &actor, id, &body))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn change(
    state: web::Data<AppState>,
    user: AuthUser,
    id: i64,
    to: RequestStatus,
    reason: Option<String>,
) -> Result<HttpResponse, AppError> {
    let actor = on_prescription(&state, &user, id, Action::PrescriptionChange).await?;
    let view = state
        .db
        .write(move |c| service::change_status(c, &actor, id, to, reason.as_deref()))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Puts an active prescription on hold, with the reason.
#[utoipa::path(post, path = "/api/v1/prescriptions/{id}/hold", tag = "prescribing",
    params(("id" = i64, Path)), request_body = StatusReason,
    responses((status = 200, body = PrescriptionView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("prescription.change"))))]
pub async fn hold(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<StatusReason>,
) -> Result<HttpResponse, AppError> {
    change(
        state,
        user,
        id.into_inner(),
        RequestStatus::OnHold,
        Some(body.reason),
    )
    .await
}

/// Resumes a prescription on hold.
#[utoipa::path(post, path = "/api/v1/prescriptions/{id}/resume", tag = "prescribing",
    params(("id" = i64, Path)),
    responses((status = 200, body = PrescriptionView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("prescription.change"))))]
pub async fn resume(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    change(state, user, id.into_inner(), RequestStatus::Active, None).await
}

/// Stops a prescription, with the reason.
#[utoipa::path(post, path = "/api/v1/prescriptions/{id}/stop", tag = "prescribing",
    params(("id" = i64, Path)), request_body = StatusReason,
    responses((status = 200, body = PrescriptionView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("prescription.change"))))]
pub async fn stop(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<StatusReason>,
) -> Result<HttpResponse, AppError> {
    change(
        state,
        user,
        id.into_inner(),
        RequestStatus::Stopped,
        Some(body.reason),
    )
    .await
}

/// Marks a prescription entered in error; it stays on record.
#[utoipa::path(post, path = "/api/v1/prescriptions/{id}/entered-in-error", tag = "prescribing",
    params(("id" = i64, Path)), request_body = StatusReason,
    responses((status = 200, body = PrescriptionView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("prescription.change"))))]
pub async fn entered_in_error(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<StatusReason>,
) -> Result<HttpResponse, AppError> {
    change(
        state,
        user,
        id.into_inner(),
        RequestStatus::EnteredInError,
        Some(body.reason),
    )
    .await
}

/// Prescriptions waiting for a pharmacist at a prison, oldest first, with their findings.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/screening-queue", tag = "prescribing",
    params(PageQuery, ("site_id" = i64, Path)),
    responses((status = 200, body = Paged<PrescriptionView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("screening.read"))))]
pub async fn queue(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::ScreeningRead, site_id)?;
    let page = paging.request();
    let list = state
        .db
        .read(move |c| service::queue(c, site_id, page))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![
        crate::route!(of_patient),
        crate::route!(create),
        crate::route!(get),
        crate::route!(decide),
        crate::route!(hold),
        crate::route!(resume),
        crate::route!(stop),
        crate::route!(entered_in_error),
        crate::route!(queue),
    ]
}
