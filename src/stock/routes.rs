use actix_web::{web, HttpResponse};

use super::model::*;
use super::{queries, service};
use crate::auth::permissions::Action;
use crate::auth::AuthUser;
use crate::error::{AppError, Problem};
use crate::http::{PageQuery, Paged};
use crate::http::{ValidJson, ValidQuery};
use crate::AppState;

type Site = web::Path<i64>;

/// Stock on hand at a site, by location, product and batch.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/stock", tag = "stock", params(PageQuery, ("site_id" = i64, Path), StockFilter),
    responses((status = 200, body = Paged<StockLine>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("stock.read"))))]
pub async fn on_hand(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site: Site,
    ValidQuery(f): ValidQuery<StockFilter>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::StockRead, site_id)?;
    let items = state
        .db
        .read(move |c| Ok(queries::on_hand(c, site_id, &f)?))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// Movement history of a product or batch at a site, oldest first, with running balances.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/stock/movements", tag = "stock",
    params(("site_id" = i64, Path), MovementFilter),
    responses((status = 200, body = MovementPage), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("stock.read"))))]
pub async fn movements(
    state: web::Data<AppState>,
    user: AuthUser,
    site: Site,
    ValidQuery(f): ValidQuery<MovementFilter>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::StockRead, site_id)?;
    let page = state
        .db
        .read(move |c| service::movement_history(c, site_id, &f))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Stock at a site expiring within N days (already expired stock included).
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/stock/expiring", tag = "stock",
    params(PageQuery, ("site_id" = i64, Path), ExpiringFilter),
    responses((status = 200, body = Paged<StockLine>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("stock.read"))))]
pub async fn expiring(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site: Site,
    ValidQuery(f): ValidQuery<ExpiringFilter>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::StockRead, site_id)?;
    let by = crate::db::now().date() + chrono::Duration::days(f.days);
    let items = state
        .db
        .read(move |c| Ok(queries::expiring(c, site_id, by)?))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// Which batches to take for a quantity of a product at a location: first expiry first out,
/// never expired, quarantined or recalled.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/stock/allocation", tag = "stock",
    params(("site_id" = i64, Path), AllocationQuery),
    responses((status = 200, body = Allocation), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("stock.read"))))]
pub async fn allocation(
    state: web::Data<AppState>,
    user: AuthUser,
    site: Site,
    ValidQuery(q): ValidQuery<AllocationQuery>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::StockRead, site_id)?;
    let a = state
        .db
        .read(move |c| service::allocation(c, site_id, &q))
        .await?;
    Ok(HttpResponse::Ok().json(a))
}

/// Adjust stock with a reason code and note (adjustment, wastage or expiry write-off).
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/stock/adjustments", tag = "stock", params(("site_id" = i64, Path)),
    request_body = AdjustmentRequest,
    responses((status = 201, body = MovementView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("stock.adjust"))))]
pub async fn adjust(
    state: web::Data<AppState>,
    user: AuthUser,
    site: Site,
    ValidJson(req): ValidJson<AdjustmentRequest>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::StockAdjust, site_id)?;
    let m = state
        .db
        .write(move |c| service::adjust(c, &actor, site_id, &req))
        .await?;
    Ok(HttpResponse::Created().json(m))
}

/// Transfers sent from or to a site, newest first (at most 200).
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/transfers", tag = "stock", params(PageQuery, ("site_id" = i64, Path)),
    responses((status = 200, body = Paged<TransferView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("stock.read"))))]
pub async fn transfers(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site: Site,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::StockRead, site_id)?;
    let page = paging.request();
    let items = state
        .db
        .read(move |c| service::transfers_of_site(c, site_id, page))
        .await?;
    Ok(HttpResponse::Ok().json(items))
}

/// Dispatch stock to another location of this site or to another prison. It leaves the
/// sending location now and is in transit until received.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/transfers", tag = "stock", params(("site_id" = i64, Path)),
    request_body = CreateTransfer,
    responses((status = 201, body = TransferView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("transfer.dispatch"))))]
pub async fn dispatch(
    state: web::Data<AppState>,
    user: AuthUser,
    site: Site,
    ValidJson(mut req): ValidJson<CreateTransfer>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::TransferDispatch, site_id)?;
    let witness_id = crate::auth::witness::optional(
        &state,
        &user,
        site_id,
        crate::auth::witness::WitnessAct::CdTransfer,
        req.witness.take(),
    )
    .await?;
    let t = state
        .db
        .write(move |c| service::dispatch(c, &actor, site_id, &req, witness_id))
        .await?;
    Ok(HttpResponse::Created().json(t))
}

/// One transfer, seen from either end.
#[utoipa::path(get, path = "/api/v1/transfers/{id}", tag = "stock", params(("id" = i64, Path)),
    responses((status = 200, body = TransferView), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("stock.read"))))]
pub async fn transfer(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let t = state.db.read(move |c| service::transfer(c, id)).await?;
    user.require_any_site([t.from_site_id, t.to_site_id], "transfer")?;
    user.require(Action::StockRead)?;
    Ok(HttpResponse::Ok().json(t))
}

/// Receive a transfer at its destination, recording any discrepancy per line.
#[utoipa::path(post, path = "/api/v1/transfers/{id}/receive", tag = "stock", params(("id" = i64, Path)),
    request_body = ReceiveTransfer,
    responses((status = 200, body = TransferView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("transfer.receive"))))]
pub async fn receive(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(req): ValidJson<ReceiveTransfer>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let current = state.db.read(move |c| service::transfer(c, id)).await?;
    user.require_any_site([current.from_site_id, current.to_site_id], "transfer")?;
    let actor = user.authorize(Action::TransferReceive, current.to_site_id)?;
    let t = state
        .db
        .write(move |c| service::receive(c, &actor, id, &req))
        .await?;
    Ok(HttpResponse::Ok().json(t))
}

/// Open a stocktake of a location: snapshots every batch it holds.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/stocktakes", tag = "stock", params(("site_id" = i64, Path)),
    request_body = OpenStocktake,
    responses((status = 201, body = StocktakeView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("stocktake.count"))))]
pub async fn open_stocktake(
    state: web::Data<AppState>,
    user: AuthUser,
    site: Site,
    ValidJson(req): ValidJson<OpenStocktake>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::StocktakeCount, site_id)?;
    let s = state
        .db
        .write(move |c| service::open_stocktake(c, &actor, site_id, &req))
        .await?;
    Ok(HttpResponse::Created().json(s))
}

async fn stocktake_site(state: &AppState, user: &AuthUser, id: i64) -> Result<i64, AppError> {
    let s = state.db.read(move |c| service::stocktake(c, id)).await?;
    user.require_record_site(s.site_id, "stocktake")?;
    Ok(s.site_id)
}

/// A stocktake with its snapshot, counts and variances. Variance is counted minus the balance
/// at the moment the count was entered (not the opening snapshot), so stock moved during the
/// count is not mistaken for a loss or a gain.
#[utoipa::path(get, path = "/api/v1/stocktakes/{id}", tag = "stock", params(("id" = i64, Path)),
    responses((status = 200, body = StocktakeView), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("stock.read"))))]
pub async fn get_stocktake(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let s = state.db.read(move |c| service::stocktake(c, id)).await?;
    user.require_record_site(s.site_id, "stocktake")?;
    user.require(Action::StockRead)?;
    Ok(HttpResponse::Ok().json(s))
}

/// Enter counts (a batch not in the snapshot gets a line of its own). Recounting replaces a count.
#[utoipa::path(post, path = "/api/v1/stocktakes/{id}/counts", tag = "stock", params(("id" = i64, Path)),
    request_body = StocktakeCounts,
    responses((status = 200, body = StocktakeView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("stocktake.count"))))]
pub async fn count(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(req): ValidJson<StocktakeCounts>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let site_id = stocktake_site(&state, &user, id).await?;
    let actor = user.authorize(Action::StocktakeCount, site_id)?;
    let s = state
        .db
        .write(move |c| service::record_counts(c, &actor, id, &req))
        .await?;
    Ok(HttpResponse::Ok().json(s))
}

/// A pharmacist approves the stocktake: every variance is posted to the ledger.
#[utoipa::path(post, path = "/api/v1/stocktakes/{id}/approve", tag = "stock", params(("id" = i64, Path)),
    responses((status = 200, body = StocktakeView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("stocktake.approve"))))]
pub async fn approve(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let site_id = stocktake_site(&state, &user, id).await?;
    let actor = user.authorize(Action::StocktakeApprove, site_id)?;
    let s = state
        .db
        .write(move |c| service::approve_stocktake(c, &actor, id))
        .await?;
    Ok(HttpResponse::Ok().json(s))
}

/// Abandon an open stocktake; nothing is posted.
#[utoipa::path(post, path = "/api/v1/stocktakes/{id}/cancel", tag = "stock", params(("id" = i64, Path)),
    responses((status = 200, body = StocktakeView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("stocktake.count"))))]
pub async fn cancel(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let site_id = stocktake_site(&state, &user, id).await?;
    let actor = user.authorize(Action::StocktakeCount, site_id)?;
    let s = state
        .db
        .write(move |c| service::cancel_stocktake(c, &actor, id))
        .await?;
    Ok(HttpResponse::Ok().json(s))
}

/// Set the reorder level of a product at a site.
#[utoipa::path(put, path = "/api/v1/sites/{site_id}/reorder-levels", tag = "stock", params(("site_id" = i64, Path)),
    request_body = SetReorderLevel,
    responses((status = 200, body = ReorderLevelView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("reorder.manage"))))]
pub async fn set_reorder_level(
    state: web::Data<AppState>,
    user: AuthUser,
    site: Site,
    ValidJson(req): ValidJson<SetReorderLevel>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::ReorderManage, site_id)?;
    let v = state
        .db
        .write(move |c| service::set_reorder_level(c, &actor, site_id, &req))
        .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Products below their reorder level at a site, with a suggested order in whole packs.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/reorder-report", tag = "stock", params(("site_id" = i64, Path)),
    responses((status = 200, body = ReorderReport), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("stock.read"))))]
pub async fn reorder_report(
    state: web::Data<AppState>,
    user: AuthUser,
    site: Site,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::StockRead, site_id)?;
    let r = state
        .db
        .for_reports()
        .read(move |c| service::reorder_report(c, site_id))
        .await?;
    Ok(HttpResponse::Ok().json(r))
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![
        crate::route!(on_hand),
        crate::route!(movements),
        crate::route!(expiring),
        crate::route!(allocation),
        crate::route!(adjust),
        crate::route!(transfers),
        crate::route!(dispatch),
        crate::route!(transfer),
        crate::route!(receive),
        crate::route!(open_stocktake),
        crate::route!(get_stocktake),
        crate::route!(count),
        crate::route!(approve),
        crate::route!(cancel),
        crate::route!(set_reorder_level),
        crate::route!(reorder_report),
    ]
}
