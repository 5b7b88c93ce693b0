//! Routes of custody movements: transfer and release.

use actix_web::{web, HttpResponse};

use super::service;
use crate::administration::service::{supply_on_release, Handover};
use crate::auth::access::on_patient;
use crate::auth::permissions::Action;
use crate::auth::AuthUser;
use crate::error::{AppError, Problem};
use crate::http::{ValidJson, ValidQuery};
use crate::patients::model::{
    NaloxoneReport, NaloxoneReportQuery, PatientView, ReleaseRequest, TransferRequest,
};
use crate::AppState;

/// Transfers the patient to another prison (prescriptions and possession state go with them;
/// the receiving pharmacy gets a reconciliation task due in 7 days), or out of this service.
#[utoipa::path(post, path = "/api/v1/patients/{id}/transfer", tag = "patients", params(("id" = i64, Path)),
    request_body = TransferRequest,
    responses((status = 200, body = PatientView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("patient.transfer"))))]
pub async fn transfer(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<TransferRequest>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = on_patient(&state, &user, id, Action::PatientTransfer).await?;
    let view = state
        .db
        .write(move |c| service::transfer(c, &actor, id, &body))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Releases the patient: the supplies to take out leave stock through the ledger (a witness for
/// register-tracked medicines), then the release is recorded and every prescription ends.
#[utoipa::path(post, path = "/api/v1/patients/{id}/release", tag = "patients", params(("id" = i64, Path)),
    request_body = ReleaseRequest,
    responses((status = 200, body = PatientView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("patient.transfer"))))]
pub async fn release(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(mut body): ValidJson<ReleaseRequest>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = on_patient(&state, &user, id, Action::PatientTransfer).await?;
    let site_id = state
        .db
        .read(move |c| crate::patients::service::patient_site(c, id))
        .await?;
    let witness_id = crate::auth::witness::optional(
        &state,
        &user,
        site_id,
        crate::auth::witness::WitnessAct::CdSupply,
        body.witness.take(),
    )
    .await?;
    let handover = Handover {
        collected_by: body.collected_by.clone(),
        identity_checked: body.identity_checked,
        witness_id,
    };
    let view = state
        .db
        .write(move |c| {
            for (i, item) in body.supplies.iter().enumerate() {
                supply_on_release(c, &actor, id, i, item, &handover)?;
            }
            service::release(c, &actor, id, &body)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Take-home naloxone offered at releases, month by month through a year: eligible releases
/// (patients with an opioid history), offers and their outcomes, and the offer rate.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/naloxone-report", tag = "patients",
    params(("site_id" = i64, Path), NaloxoneReportQuery),
    responses((status = 200, body = NaloxoneReport), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("patient.read"))))]
pub async fn naloxone_report(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
    ValidQuery(q): ValidQuery<NaloxoneReportQuery>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::PatientRead, site_id)?;
    let report = state
        .db
        .for_reports()
        .read(move |c| service::naloxone_report(c, site_id, q.year))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![
        crate::route!(transfer),
        crate::route!(release),
        crate::route!(naloxone_report),
    ]
}
