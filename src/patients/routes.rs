use actix_web::{web, HttpResponse};

use super::model::*;
use super::service;
use crate::auth::permissions::Action;
use crate::auth::AuthUser;
use crate::error::{AppError, Problem};
use crate::http::{PageQuery, Paged, ValidJson, ValidQuery};
use crate::AppState;

pub use crate::auth::access::on_patient;

/// Patients at a prison (in custody unless `status` says otherwise).
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/patients", tag = "patients",
    params(PageQuery, ("site_id" = i64, Path), PatientFilter),
    responses((status = 200, body = Paged<PatientView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("patient.read"))))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site: web::Path<i64>,
    ValidQuery(f): ValidQuery<PatientFilter>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::PatientRead, site_id)?;
    let page = paging.request();
    let list = state
        .db
        .read(move |c| service::patients(c, site_id, &f, page))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Admits a patient, identified by prison (NOMIS) number.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/patients", tag = "patients",
    params(("site_id" = i64, Path)), request_body = AdmitPatient,
    responses((status = 201, body = PatientView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("patient.manage"))))]
pub async fn admit(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
    ValidJson(body): ValidJson<AdmitPatient>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::PatientManage, site_id)?;
    let view = state
        .db
        .write(move |c| service::admit(c, &actor, site_id, &body))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// A patient with active allergies and current in-possession assessment.
#[utoipa::path(get, path = "/api/v1/patients/{id}", tag = "patients", params(("id" = i64, Path)),
    responses((status = 200, body = PatientView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("patient.read"))))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    on_patient(&state, &user, id, Action::PatientRead).await?;
    let view = state.db.read(move |c| service::patient(c, id)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Moves a patient within the prison (wing, landing, cell).
#[utoipa::path(put, path = "/api/v1/patients/{id}/location", tag = "patients", params(("id" = i64, Path)),
    request_body = SetLocation,
    responses((status = 200, body = PatientView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("patient.manage"))))]
pub async fn set_location(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<SetLocation>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = on_patient(&state, &user, id, Action::PatientManage).await?;
    let view = state
        .db
        .write(move |c| service::set_location(c, &actor, id, &body))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Records an allergy or intolerance.
#[utoipa::path(post, path = "/api/v1/patients/{id}/allergies", tag = "patients", params(("id" = i64, Path)),
    request_body = AllergyRequest,
    responses((status = 201, body = PatientView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("allergy.record"))))]
pub async fn add_allergy(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<AllergyRequest>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = on_patient(&state, &user, id, Action::AllergyRecord).await?;
    let view = state
        .db
        .write(move |c| service::add_allergy(c, &actor, id, &body))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Retracts an allergy entered in error, with a new linked record; the original stays.
#[utoipa::path(post, path = "/api/v1/patients/{id}/allergies/{allergy_id}/retraction", tag = "patients",
    params(("id" = i64, Path), ("allergy_id" = i64, Path)), request_body = RetractAllergy,
    responses((status = 201, body = PatientView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("allergy.record"))))]
pub async fn retract_allergy(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidJson(body): ValidJson<RetractAllergy>,
) -> Result<HttpResponse, AppError> {
    let (id, allergy_id) = path.into_inner();
    let actor = on_patient(&state, &user, id, Action::AllergyRecord).await?;
    let view = state
        .db
        .write(move |c| service::retract_allergy(c, &actor, id, allergy_id, &body.reason))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Records a reasonable adjustment (easy-read labels, reminders, hearing impairment, ADHD ...),
/// shown on round lists, the round screen, in-possession labels and the FHIR record.
#[utoipa::path(post, path = "/api/v1/patients/{id}/adjustments", tag = "patients", params(("id" = i64, Path)),
    request_body = AdjustmentRequest,
    responses((status = 201, body = PatientView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("adjustment.record"))))]
pub async fn add_adjustment(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<AdjustmentRequest>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = on_patient(&state, &user, id, Action::AdjustmentRecord).await?;
    let view = state
        .db
        .write(move |c| super::adjustments::add(c, &actor, id, &body))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Retracts a reasonable adjustment with a new linked record; the original stays.
#[utoipa::path(post, path = "/api/v1/patients/{id}/adjustments/{adjustment_id}/retraction", tag = "patients",
    params(("id" = i64, Path), ("adjustment_id" = i64, Path)), request_body = RetractAdjustment,
    responses((status = 201, body = PatientView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("adjustment.record"))))]
pub async fn retract_adjustment(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidJson(body): ValidJson<RetractAdjustment>,
) -> Result<HttpResponse, AppError> {
    let (id, adjustment_id) = path.into_inner();
    let actor = on_patient(&state, &user, id, Action::AdjustmentRecord).await?;
    let view = state
        .db
        .write(move |c| super::adjustments::retract(c, &actor, id, adjustment_id, &body.reason))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// The patient's in-possession risk assessments, newest first.
#[utoipa::path(get, path = "/api/v1/patients/{id}/ip-assessments", tag = "patients", params(PageQuery, ("id" = i64, Path)),
    responses((status = 200, body = Paged<AssessmentView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("patient.read"))))]
pub async fn assessments(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    on_patient(&state, &user, id, Action::PatientRead).await?;
    let list = state.db.read(move |c| service::assessments(c, id)).await?;
    Ok(HttpResponse::Ok().json(Paged::of(list.items, paging.request())))
}

/// Records an in-possession risk assessment: outcome, reasons, review date.
#[utoipa::path(post, path = "/api/v1/patients/{id}/ip-assessments", tag = "patients", params(("id" = i64, Path)),
    request_body = AssessmentRequest,
    responses((status = 201, body = AssessmentView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("ip_assessment.record"))))]
pub async fn assess(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<AssessmentRequest>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = on_patient(&state, &user, id, Action::IpAssess).await?;
    let view = state
        .db
        .write(move |c| service::assess(c, &actor, id, &body))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Makes an in-possession review due now (e.g. self-harm concern, found trading).
#[utoipa::path(post, path = "/api/v1/patients/{id}/ip-review-triggers", tag = "patients", params(("id" = i64, Path)),
    request_body = TriggerRequest,
    responses((status = 201, body = PatientView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("ip_assessment.record"))))]
pub async fn trigger_review(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<TriggerRequest>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = on_patient(&state, &user, id, Action::IpAssess).await?;
    let view = state
        .db
        .write(move |c| {
            service::raise_review_trigger(c, &actor, id, body.reason, body.note.as_deref())?;
            service::patient(c, id)
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Patients whose in-possession assessment needs review.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/ip-reviews-due", tag = "patients",
    params(PageQuery, ("site_id" = i64, Path)),
    responses((status = 200, body = Paged<ReviewDue>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("patient.read"))))]
pub async fn reviews_due(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::PatientRead, site_id)?;
    let list = state
        .db
        .read(move |c| service::reviews_due(c, site_id))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(list.items, paging.request())))
}

/// Medicines reconciliation tasks of a prison (open ones unless `open=false`).
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/reconciliation-tasks", tag = "patients",
    params(PageQuery, ("site_id" = i64, Path), TaskFilter),
    responses((status = 200, body = Paged<TaskView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("patient.read"))))]
pub async fn tasks(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site: web::Path<i64>,
    ValidQuery(f): ValidQuery<TaskFilter>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::PatientRead, site_id)?;
    let open = f.open.unwrap_or(true);
    let list = state
        .db
        .read(move |c| service::tasks(c, site_id, open))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(list.items, paging.request())))
}

#[utoipa::path(post, path = "/api/v1/reconciliation-tasks/{id}/complete", tag = "patients",
    params(("id" = i64, Path)), request_body = CompleteTask,
    responses((status = 200, body = TaskView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("reconciliation.complete"))))]
pub async fn complete_task(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<CompleteTask>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let site = state.db.read(move |c| service::task_site(c, id)).await?;
    user.require_record_site(site, "reconciliation task")?;
    let actor = user.authorize(Action::ReconciliationComplete, site)?;
    let view = state
        .db
        .write(move |c| service::complete_task(c, &actor, id, &body.note))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![
        crate::route!(list),
        crate::route!(admit),
        crate::route!(get),
        crate::route!(set_location),
        crate::route!(add_allergy),
        crate::route!(retract_allergy),
        crate::route!(add_adjustment),
        crate::route!(retract_adjustment),
        crate::route!(assessments),
        crate::route!(assess),
        crate::route!(trigger_review),
        crate::route!(reviews_due),
        crate::route!(tasks),
        crate::route!(complete_task),
    ]
}
