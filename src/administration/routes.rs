use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::model::*;
use super::service::{self, Rules};
use crate::auth::access::on_patient;
use crate::auth::permissions::Action;
use crate::auth::witness::{self, WitnessAct};
use crate::auth::AuthUser;
use crate::error::{AppError, Problem};
use crate::http::{PageQuery, Paged, ValidJson, ValidQuery};
use crate::idempotency::{self, IdempotencyKey};
use crate::AppState;

/// The doses due at a round: a prison, an administration point (or wing), a date and a slot.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/rounds", tag = "administration",
    params(("site_id" = i64, Path), RoundQuery),
    responses((status = 200, body = RoundList), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("round.read"))))]
pub async fn round(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
    ValidQuery(q): ValidQuery<RoundQuery>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::RoundRead, site_id)?;
    let list = state
        .db
        .read(move |c| service::round(c, site_id, &q))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Records the outcome of a due dose. Given doses draw stock (first expiry first out) through
/// the ledger and, for register-tracked products, the CD register; schedule 2 and
/// register-tracked doses need a witness who authenticates. One final outcome per dose: a
/// second answers 409 with the existing record. Send `Idempotency-Key` to make retries safe.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/doses", tag = "administration",
    params(("site_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = RecordDose,
    responses((status = 201, body = DoseView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("dose.record"))))]
pub async fn record(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
    key: IdempotencyKey,
    ValidJson(mut body): ValidJson<RecordDose>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::DoseRecord, site_id)?;
    let credentials = body.witness.take();
    let print = idempotency::fingerprint(&format!("dose {site_id}"), &body);
    let witness_id =
        witness::optional(&state, &user, site_id, WitnessAct::CdDose, credentials).await?;
    let rules = Rules::from_config(&state.config);
    idempotency::run(&state, user.id, key, print, StatusCode::CREATED, move |c| {
        service::record_dose(c, &actor, site_id, &body, witness_id, rules)
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/doses/{id}", tag = "administration", params(("id" = i64, Path)),
    responses((status = 200, body = DoseView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("round.read"))))]
pub async fn get_dose(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let site = state.db.read(move |c| service::dose_site(c, id)).await?;
    user.require_record_site(site, "dose record")?;
    user.authorize(Action::RoundRead, site)?;
    let view = state.db.read(move |c| service::dose(c, id)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Marks a dose record entered in error with a linked correction; a given dose's stock and
/// register entry are reversed through the ledger. The dose may then be recorded again.
#[utoipa::path(post, path = "/api/v1/doses/{id}/corrections", tag = "administration", params(("id" = i64, Path)),
    request_body = CorrectDose,
    responses((status = 201, body = DoseView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("dose.correct"))))]
pub async fn correct(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<CorrectDose>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let site = state.db.read(move |c| service::dose_site(c, id)).await?;
    user.require_record_site(site, "dose record")?;
    let actor = user.authorize(Action::DoseCorrect, site)?;
    let view = state
        .db
        .write(move |c| service::correct_dose(c, &actor, id, &body.reason))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Hands over an in-possession supply of an approved in-possession prescription: quantity is
/// dose x doses a day x days, exactly, drawn first expiry first out. Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/ip-supplies", tag = "administration",
    params(("site_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = SupplyRequest,
    responses((status = 201, body = SupplyView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("ip_supply.record"))))]
pub async fn supply(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
    key: IdempotencyKey,
    ValidJson(mut body): ValidJson<SupplyRequest>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::IpSupply, site_id)?;
    let credentials = body.witness.take();
    let print = idempotency::fingerprint(&format!("supply {site_id}"), &body);
    let witness_id =
        witness::optional(&state, &user, site_id, WitnessAct::CdSupply, credentials).await?;
    idempotency::run(&state, user.id, key, print, StatusCode::CREATED, move |c| {
        service::supply(c, &actor, site_id, &body, witness_id)
    })
    .await
}

/// Records a cell count of an in-possession medicine; a discrepancy beyond the tolerance
/// makes an in-possession review due and raises an alert.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/compliance-checks", tag = "administration",
    params(("site_id" = i64, Path)), request_body = ComplianceRequest,
    responses((status = 201, body = ComplianceView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("compliance.record"))))]
pub async fn compliance(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
    ValidJson(body): ValidJson<ComplianceRequest>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::ComplianceRecord, site_id)?;
    let rules = Rules::from_config(&state.config);
    let view = state
        .db
        .write(move |c| service::compliance_check(c, &actor, site_id, &body, rules))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Missed-dose and compliance alerts of a prison (open ones unless `open=false`).
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/alerts", tag = "administration",
    params(PageQuery, ("site_id" = i64, Path), AlertFilter),
    responses((status = 200, body = Paged<AlertView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("alert.read"))))]
pub async fn alerts(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site: web::Path<i64>,
    ValidQuery(f): ValidQuery<AlertFilter>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::AlertRead, site_id)?;
    let open = f.open.unwrap_or(true);
    let list = state
        .db
        .read(move |c| service::alerts_of_site(c, site_id, open))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(list.items, paging.request())))
}

/// A clinician acknowledges an alert with a note.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledgement", tag = "administration",
    params(("id" = i64, Path)), request_body = AcknowledgeAlert,
    responses((status = 201, body = AlertView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("alert.acknowledge"))))]
pub async fn acknowledge(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<AcknowledgeAlert>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let site = state.db.read(move |c| service::alert_site(c, id)).await?;
    user.require_record_site(site, "alert")?;
    let actor = user.authorize(Action::AlertAcknowledge, site)?;
    let view = state
        .db
        .write(move |c| service::acknowledge(c, &actor, id, &body.note))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// A patient's administrations and in-possession supplies as a FHIR R4 collection Bundle.
#[utoipa::path(get, path = "/api/v1/patients/{id}/fhir", tag = "administration",
    params(("id" = i64, Path), FhirQuery),
    responses((status = 200, description = "A FHIR R4 Bundle", content((serde_json::Value = "application/fhir+json"))), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("fhir.read"))))]
pub async fn fhir(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidQuery(q): ValidQuery<FhirQuery>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    on_patient(&state, &user, id, Action::FhirRead).await?;
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if to < from {
            return Err(AppError::invalid(
                "to",
                "after_from",
                "must not be before from",
            ));
        }
    }
    let bundle = state
        .db
        .read(move |c| super::fhir::bundle(c, id, q.from, q.to))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/fhir+json")
        .body(bundle.to_string()))
}

/// Checks every minute for doses of time-critical medicines not recorded in time after their
/// round, and alerts on each once.
pub fn schedule_time_critical_checks(state: web::Data<AppState>) -> Result<(), AppError> {
    let times = service::parse_round_times(&state.config.round_times)?;
    let grace = state.config.time_critical_minutes;
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            let times = times.clone();
            let now_local = chrono::Local::now().naive_local();
            let checked = state
                .db
                .write(move |c| service::alert_late_time_critical(c, now_local, &times, grace))
                .await;
            match checked {
                Ok(0) => {}
                Ok(n) => tracing::warn!(alerts = n, "time-critical doses not recorded in time"),
                Err(e) => tracing::error!(error = %e, "time-critical check failed"),
            }
        }
    });
    Ok(())
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![
        crate::route!(round),
        crate::route!(record),
        crate::route!(get_dose),
        crate::route!(correct),
        crate::route!(supply),
        crate::route!(compliance),
        crate::route!(alerts),
        crate::route!(acknowledge),
        crate::route!(fhir),
    ]
}
