use actix_web::{web, HttpResponse};

use super::checkpoints::{self, CheckpointDocument, Occasion};
use super::export::RegisterExport;
use super::model::*;
use super::service::{self, Recorded};
use super::verify;
use crate::auth::permissions::Action;
use crate::auth::witness::{self, WitnessAct, WitnessNeed};
use crate::auth::AuthUser;
use crate::error::{AppError, Problem};
use crate::http::{download, PageQuery, Paged, ValidJson, ValidQuery};
use crate::sites::queries as sites;
use crate::AppState;

/// Runs work that takes its own connections off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    web::block(f)
        .await
        .map_err(|e| AppError::internal(format!("blocking task: {e}")))?
}

/// The register pages of a site: one per drug, strength and form, with balance and chain head.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/cd/pages", tag = "cd register",
    params(("site_id" = i64, Path), PageQuery),
    responses((status = 200, body = PageList), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.read"))))]
pub async fn pages(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::CdRead, site_id)?;
    let page = paging.request();
    let list = state
        .db
        .read(move |c| service::pages(c, site_id, page))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Entries of one register page in order, with running balances and hashes.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/cd/pages/{page_id}/entries", tag = "cd register",
    params(("site_id" = i64, Path), ("page_id" = i64, Path), EntryFilter),
    responses((status = 200, body = EntryPage), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.read"))))]
pub async fn entries(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidQuery(f): ValidQuery<EntryFilter>,
) -> Result<HttpResponse, AppError> {
    let (site_id, page_id) = path.into_inner();
    user.authorize(Action::CdRead, site_id)?;
    let page = state
        .db
        .read(move |c| service::entries(c, site_id, page_id, &f))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Recomputes one page's hash chain from its first entry, compares it with the stock ledger
/// (balance against stock in the cabinet, entries against movements) and with the signed
/// checkpoints: "intact", or what disagrees.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/cd/pages/{page_id}/verify", tag = "cd register",
    params(("site_id" = i64, Path), ("page_id" = i64, Path)),
    responses((status = 200, body = PageVerification), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.read"))))]
pub async fn verify_page(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (site_id, page_id) = path.into_inner();
    user.authorize(Action::CdRead, site_id)?;
    // The page and its entries are read from the same database, the replica when one is set.
    let db = state.db.for_reports();
    let page = db
        .read(move |c| service::page_at(c, site_id, page_id))
        .await?;
    let result = blocking(move || verify::verify_one_page(&db, &page)).await?;
    Ok(HttpResponse::Ok().json(result))
}

/// Verifies every register page of a site: chains, the ledger, and the stored checkpoints.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/cd/verify", tag = "cd register",
    params(("site_id" = i64, Path)),
    responses((status = 200, body = SiteVerification), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.read"))))]
pub async fn verify_site(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::CdRead, site_id)?;
    let db = state.db.for_reports();
    let result = blocking(move || verify::verify_site_parallel(&db, site_id, None)).await?;
    Ok(HttpResponse::Ok().json(result))
}

/// Verifies every register page of a site against an auditor's own checkpoint file (as
/// downloaded from `GET .../cd/checkpoints`): a page whose chain no longer holds a checkpoint's
/// head at its count was rewritten or truncated, even if every hash was recomputed.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/cd/verify", tag = "cd register",
    params(("site_id" = i64, Path)), request_body = CheckpointDocument,
    responses((status = 200, body = SiteVerification), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.read"))))]
pub async fn verify_with_checkpoints(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
    ValidJson(doc): ValidJson<CheckpointDocument>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::CdRead, site_id)?;
    if doc.site_id != site_id {
        return Err(AppError::invalid(
            "site_id",
            "same_site",
            "the checkpoint file is of another prison",
        ));
    }
    let db = state.db.for_reports();
    let result =
        blocking(move || verify::verify_site_parallel(&db, site_id, Some(&doc.checkpoints)))
            .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// Every checkpoint the service has signed for the site's pages, with its public key, for
/// auditors to keep outside the service and verify against later.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/cd/checkpoints", tag = "cd register",
    params(("site_id" = i64, Path)),
    responses((status = 200, body = CheckpointDocument), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.export.read"))))]
pub async fn checkpoint_document(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::CdExportRead, site_id)?;
    let st = state.clone();
    let doc = state
        .db
        .read(move |c| checkpoints::document(c, &st.signer, site_id))
        .await?;
    Ok(HttpResponse::Ok().json(doc))
}

/// Signs a checkpoint of every page of the site that changed since its last one, now.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/cd/checkpoints", tag = "cd register",
    params(("site_id" = i64, Path)),
    responses((status = 201, body = CheckpointDocument), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.checkpoint.sign"))))]
pub async fn sign_checkpoints(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::CdCheckpointSign, site_id)?;
    let st = state.clone();
    let doc = state
        .db
        .write(move |c| {
            checkpoints::sign_site(c, &st.signer, site_id, Occasion::Request, Some(&actor))?;
            checkpoints::document(c, &st.signer, site_id)
        })
        .await?;
    Ok(HttpResponse::Created().json(doc))
}

/// Signs every page's checkpoint on a schedule (CD_CHECKPOINT_INTERVAL_SECS, default daily).
pub fn schedule_checkpoints(state: web::Data<AppState>) {
    let every = state.config.cd_checkpoint_interval_secs;
    if every == 0 {
        return;
    }
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(every));
        loop {
            tick.tick().await;
            let st = state.clone();
            let signed = blocking(move || {
                let mut conn = st.db.get()?;
                checkpoints::sign_all(&mut conn, &st.signer, Occasion::Schedule)
            })
            .await;
            match signed {
                Ok(n) => tracing::info!(pages = n, "signed scheduled CD register checkpoints"),
                Err(e) => tracing::error!(error = %e, "scheduled CD register checkpoints failed"),
            }
        }
    });
}

/// Moves register stock between two CD cabinets of the prison, witnessed: a supply on one
/// cabinet's page and a receipt on the other's, each naming the other, in one transaction.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/cd/cabinet-transfers", tag = "cd register",
    params(("site_id" = i64, Path)), request_body = CabinetTransferRequest,
    responses((status = 201, body = CabinetTransferView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.cabinet_transfer"))))]
pub async fn cabinet_transfer(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
    ValidJson(mut body): ValidJson<CabinetTransferRequest>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::CdCabinetTransfer, site_id)?;
    let witness_id = witness::optional(
        &state,
        &user,
        site_id,
        WitnessAct::CdTransfer,
        body.witness.take(),
    )
    .await?;
    let view = state
        .db
        .write(move |c| service::move_between_cabinets(c, &actor, site_id, &body, witness_id))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// The register for auditors: CSV (one row per entry with every regulation 19 heading, the
/// balance, author, witness and hashes), JSON, or a printable PDF with a section per page.
/// Each export first signs a checkpoint of every page that changed since its last one.
/// The chain is checked as the rows stream: each row carries `chain_verified` and each page
/// ends with its verdict. Streams with constant memory.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/cd/export", tag = "cd register",
    params(("site_id" = i64, Path), ExportQuery),
    responses((status = 200, description = "The register as CSV (default), JSON or PDF", content((String = "text/csv"), (serde_json::Value = "application/json"), (String = "application/pdf"))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.export.read"))))]
pub async fn export(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
    ValidQuery(q): ValidQuery<ExportQuery>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::CdExportRead, site_id)?;
    // Every export leaves a signed checkpoint of what it showed.
    let st = state.clone();
    state
        .db
        .write(move |c| checkpoints::sign_site(c, &st.signer, site_id, Occasion::Export, None))
        .await?;
    // The export reads the replica, when one is set: it may lag the checkpoint just signed,
    // never run ahead of it.
    let db = state.db.for_reports();
    let reader_db = db.clone();
    let source = db
        .read(move |c| {
            let site = sites::by_id(c, site_id)?.ok_or_else(|| AppError::not_found("site"))?;
            if let Some(product_id) = q.product_id {
                if !super::queries::product_exists(c, product_id)? {
                    return Err(AppError::not_found("product"));
                }
            }
            RegisterExport::new(c, &reader_db, site, &q)
        })
        .await?;
    let (content_type, name) = (source.content_type(), source.file_name());
    Ok(download(db, source, content_type, &name))
}

/// Destroys controlled drug stock in the presence of an authorised witness, who authenticates
/// with their own credentials. The register entry names the witness.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/cd/destructions", tag = "cd register",
    params(("site_id" = i64, Path)), request_body = DestructionRequest,
    responses((status = 201, body = Recorded), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.destroy"))))]
pub async fn destroy(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
    ValidJson(mut body): ValidJson<DestructionRequest>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::CdDestroy, site_id)?;
    let credentials = body.witness.take();
    let witness_id = witness::authenticate(
        &state,
        &user,
        site_id,
        WitnessAct::Destruction,
        credentials,
        WitnessNeed::AuthorisedWitness,
    )
    .await?;
    let result = state
        .db
        .write(move |c| service::destroy(c, &actor, site_id, &body, witness_id))
        .await?;
    Ok(HttpResponse::Created().json(result))
}

/// Corrects a register entry with a new entry that references it and gives the reason; the
/// original stays as it was. A quantity posts the difference through the stock ledger.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/cd/entries/{entry_id}/corrections", tag = "cd register",
    params(("site_id" = i64, Path), ("entry_id" = i64, Path)), request_body = CorrectionRequest,
    responses((status = 201, body = Recorded), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.correct"))))]
pub async fn correct(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidJson(mut body): ValidJson<CorrectionRequest>,
) -> Result<HttpResponse, AppError> {
    let (site_id, entry_id) = path.into_inner();
    let actor = user.authorize(Action::CdCorrect, site_id)?;
    let witness_id = witness::optional(
        &state,
        &user,
        site_id,
        WitnessAct::Correction,
        body.witness.take(),
    )
    .await?;
    let result = state
        .db
        .write(move |c| service::correct(c, &actor, site_id, entry_id, &body, witness_id))
        .await?;
    Ok(HttpResponse::Created().json(result))
}

/// Two people record the physical count of a page. A match is logged; a discrepancy opens an
/// investigation. Stock is not changed.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/cd/pages/{page_id}/balance-checks", tag = "cd register",
    params(("site_id" = i64, Path), ("page_id" = i64, Path)), request_body = BalanceCheckRequest,
    responses((status = 201, body = BalanceCheckView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.balance_check"))))]
pub async fn balance_check(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidJson(mut body): ValidJson<BalanceCheckRequest>,
) -> Result<HttpResponse, AppError> {
    let (site_id, page_id) = path.into_inner();
    let actor = user.authorize(Action::CdBalanceCheck, site_id)?;
    let credentials = body.witness.take();
    let witness_id = witness::authenticate(
        &state,
        &user,
        site_id,
        WitnessAct::BalanceCheck,
        credentials,
        WitnessNeed::Staff,
    )
    .await?;
    let result = state
        .db
        .write(move |c| service::balance_check(c, &actor, site_id, page_id, &body, witness_id))
        .await?;
    Ok(HttpResponse::Created().json(result))
}

/// Balance checks of a site; `open=true` (the default) lists only unresolved discrepancies.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/cd/balance-checks", tag = "cd register",
    params(PageQuery, ("site_id" = i64, Path), InvestigationFilter),
    responses((status = 200, body = Paged<BalanceCheckView>), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.read"))))]
pub async fn balance_checks(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site: web::Path<i64>,
    ValidQuery(f): ValidQuery<InvestigationFilter>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::CdRead, site_id)?;
    let only_open = f.open.unwrap_or(true);
    let list = state
        .db
        .read(move |c| service::checks(c, site_id, only_open))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(list.items, paging.request())))
}

/// A pharmacist resolves a discrepancy with an explanation; a stock change it needs is posted
/// through the ledger as a register entry linked to the check.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/cd/balance-checks/{check_id}/resolution", tag = "cd register",
    params(("site_id" = i64, Path), ("check_id" = i64, Path)), request_body = ResolveRequest,
    responses((status = 201, body = BalanceCheckView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.investigation.resolve"))))]
pub async fn resolve(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidJson(mut body): ValidJson<ResolveRequest>,
) -> Result<HttpResponse, AppError> {
    let (site_id, check_id) = path.into_inner();
    let actor = user.authorize(Action::CdInvestigationResolve, site_id)?;
    let witness_id = witness::optional(
        &state,
        &user,
        site_id,
        WitnessAct::BalanceCheck,
        body.witness.take(),
    )
    .await?;
    let result = state
        .db
        .write(move |c| service::resolve(c, &actor, site_id, check_id, &body, witness_id))
        .await?;
    Ok(HttpResponse::Created().json(result))
}

/// Patients' own controlled drugs handed in at the site (a separate record from stock).
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/cd/patient-returns", tag = "cd register",
    params(PageQuery, ("site_id" = i64, Path)),
    responses((status = 200, body = Paged<PatientReturnView>), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.read"))))]
pub async fn patient_returns(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::CdRead, site_id)?;
    let list = state
        .db
        .read(move |c| service::patient_returns(c, site_id))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(list.items, paging.request())))
}

/// Records a patient's own controlled drugs handed in.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/cd/patient-returns", tag = "cd register",
    params(("site_id" = i64, Path)), request_body = PatientReturnRequest,
    responses((status = 201, body = PatientReturnView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.patient_return"))))]
pub async fn receive_patient_return(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
    ValidJson(body): ValidJson<PatientReturnRequest>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::CdPatientReturn, site_id)?;
    let view = state
        .db
        .write(move |c| service::receive_patient_return(c, &actor, site_id, &body))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Destroys a patient's returned controlled drugs with a second member of staff present.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/cd/patient-returns/{return_id}/destruction", tag = "cd register",
    params(("site_id" = i64, Path), ("return_id" = i64, Path)), request_body = ReturnDestructionRequest,
    responses((status = 201, body = PatientReturnView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("cd.patient_return"))))]
pub async fn destroy_patient_return(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidJson(mut body): ValidJson<ReturnDestructionRequest>,
) -> Result<HttpResponse, AppError> {
    let (site_id, return_id) = path.into_inner();
    let actor = user.authorize(Action::CdPatientReturn, site_id)?;
    let credentials = body.witness.take();
    let witness_id = witness::authenticate(
        &state,
        &user,
        site_id,
        WitnessAct::Destruction,
        credentials,
        WitnessNeed::Staff,
    )
    .await?;
    let view = state
        .db
        .write(move |c| {
            service::destroy_patient_return(c, &actor, site_id, return_id, &body, witness_id)
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![
        crate::route!(pages),
        crate::route!(entries),
        crate::route!(verify_page),
        crate::route!(balance_check),
        crate::route!(verify_site),
        crate::route!(verify_with_checkpoints),
        crate::route!(checkpoint_document),
        crate::route!(sign_checkpoints),
        crate::route!(cabinet_transfer),
        crate::route!(export),
        crate::route!(destroy),
        crate::route!(correct),
        crate::route!(balance_checks),
        crate::route!(resolve),
        crate::route!(patient_returns),
        crate::route!(receive_patient_return),
        crate::route!(destroy_patient_return),
    ]
}
