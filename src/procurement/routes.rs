use actix_web::{web, HttpResponse};

use super::model::*;
use super::service;
use crate::audit::Actor;
use crate::auth::permissions::Action;
use crate::auth::AuthUser;
use crate::error::{AppError, Problem};
use crate::http::{PageQuery, Paged};
use crate::http::{ValidJson, ValidQuery};
use crate::AppState;

/// Authorises an action on a purchase order through the order's site.
async fn on_order(
    state: &web::Data<AppState>,
    user: &AuthUser,
    order_id: i64,
    action: Action,
) -> Result<Actor, AppError> {
    let site = state
        .db
        .read(move |c| service::order_site(c, order_id))
        .await?;
    user.require_record_site(site, "purchase order")?;
    user.authorize(action, site)
}

/// Suppliers (wholesalers) and what each lists.
#[utoipa::path(get, path = "/api/v1/suppliers", tag = "procurement",
    params(PageQuery),
    responses((status = 200, body = Paged<SupplierView>), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("supplier.read"))))]
pub async fn suppliers(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
) -> Result<HttpResponse, AppError> {
    user.require(Action::SupplierRead)?;
    let list = state.db.read(service::suppliers).await?;
    Ok(HttpResponse::Ok().json(Paged::of(list.items, paging.request())))
}

#[utoipa::path(post, path = "/api/v1/suppliers", tag = "procurement", request_body = SupplierRequest,
    responses((status = 201, body = SupplierView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("supplier.manage"))))]
pub async fn create_supplier(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<SupplierRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::SupplierManage)?;
    let actor = user.actor();
    let view = state
        .db
        .write(move |c| service::create_supplier(c, &actor, &body))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(get, path = "/api/v1/suppliers/{id}", tag = "procurement", params(("id" = i64, Path)),
    responses((status = 200, body = SupplierView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("supplier.read"))))]
pub async fn supplier(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::SupplierRead)?;
    let id = id.into_inner();
    let view = state.db.read(move |c| service::supplier(c, id)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Replaces a supplier's details.
#[utoipa::path(put, path = "/api/v1/suppliers/{id}", tag = "procurement", params(("id" = i64, Path)),
    request_body = SupplierRequest,
    responses((status = 200, body = SupplierView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("supplier.manage"))))]
pub async fn update_supplier(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<SupplierRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::SupplierManage)?;
    let (actor, id) = (user.actor(), id.into_inner());
    let view = state
        .db
        .write(move |c| service::update_supplier(c, &actor, id, &body))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Lists a product with a supplier: pack price and lead time.
#[utoipa::path(put, path = "/api/v1/suppliers/{id}/products", tag = "procurement", params(("id" = i64, Path)),
    request_body = SupplierProductRequest,
    responses((status = 200, body = SupplierView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("supplier.manage"))))]
pub async fn set_supplier_product(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<SupplierProductRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::SupplierManage)?;
    let (actor, id) = (user.actor(), id.into_inner());
    let view = state
        .db
        .write(move |c| service::set_supplier_product(c, &actor, id, &body))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Purchase orders of a site, newest first.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/purchase-orders", tag = "procurement",
    params(PageQuery, ("site_id" = i64, Path), OrderFilter),
    responses((status = 200, body = Paged<OrderView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("purchase_order.read"))))]
pub async fn orders(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site: web::Path<i64>,
    ValidQuery(f): ValidQuery<OrderFilter>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    user.authorize(Action::OrderRead, site_id)?;
    let page = paging.request();
    let list = state
        .db
        .read(move |c| service::orders(c, site_id, &f, page))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Raises a draft order. Line totals are packs x pack price; VAT is rounded to the penny per line.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/purchase-orders", tag = "procurement",
    params(("site_id" = i64, Path)), request_body = CreateOrder,
    responses((status = 201, body = OrderView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("purchase_order.create"))))]
pub async fn create_order(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
    ValidJson(body): ValidJson<CreateOrder>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::OrderCreate, site_id)?;
    let view = state
        .db
        .write(move |c| service::create_order(c, &actor, site_id, &body))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// One draft order per supplier for everything below its reorder level.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/purchase-orders/from-reorder-report", tag = "procurement",
    params(("site_id" = i64, Path)),
    responses((status = 201, body = RaisedOrders), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("purchase_order.create"))))]
pub async fn raise_from_reorder_report(
    state: web::Data<AppState>,
    user: AuthUser,
    site: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let site_id = site.into_inner();
    let actor = user.authorize(Action::OrderCreate, site_id)?;
    let raised = state
        .db
        .write(move |c| service::raise_from_reorder_report(c, &actor, site_id))
        .await?;
    Ok(HttpResponse::Created().json(raised))
}

#[utoipa::path(get, path = "/api/v1/purchase-orders/{id}", tag = "procurement", params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("purchase_order.read"))))]
pub async fn order(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    on_order(&state, &user, id, Action::OrderRead).await?;
    let view = state.db.read(move |c| service::order(c, id)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Approves a draft order (pharmacists; see the permission table).
#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/approve", tag = "procurement", params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("purchase_order.approve"))))]
pub async fn approve(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = on_order(&state, &user, id, Action::OrderApprove).await?;
    let view = state
        .db
        .write(move |c| service::approve(c, &actor, id))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Marks an approved order sent. Lines for schedule 1-3 controlled drugs need their FP10CDF reference.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/send", tag = "procurement", params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("purchase_order.send"))))]
pub async fn send(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = on_order(&state, &user, id, Action::OrderSend).await?;
    let view = state
        .db
        .write(move |c| service::send(c, &actor, id))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Cancels an order nothing has been received against.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/cancel", tag = "procurement", params(("id" = i64, Path)),
    request_body = CancelOrder,
    responses((status = 200, body = OrderView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("purchase_order.cancel"))))]
pub async fn cancel(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<CancelOrder>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = on_order(&state, &user, id, Action::OrderCancel).await?;
    let view = state
        .db
        .write(move |c| service::cancel(c, &actor, id, &body.reason))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Records the FP10CDF requisition reference of a controlled drug line before the order is sent.
#[utoipa::path(put, path = "/api/v1/purchase-orders/{id}/lines/{line_id}/requisition", tag = "procurement",
    params(("id" = i64, Path), ("line_id" = i64, Path)), request_body = SetRequisition,
    responses((status = 200, body = OrderView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("purchase_order.create"))))]
pub async fn set_requisition(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    ValidJson(body): ValidJson<SetRequisition>,
) -> Result<HttpResponse, AppError> {
    let (id, line_id) = path.into_inner();
    let actor = on_order(&state, &user, id, Action::OrderCreate).await?;
    let view = state
        .db
        .write(move |c| service::set_requisition(c, &actor, id, line_id, &body.fp10cdf_reference))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Receipts against an order.
#[utoipa::path(get, path = "/api/v1/purchase-orders/{id}/receipts", tag = "procurement", params(PageQuery, ("id" = i64, Path)),
    responses((status = 200, body = Paged<ReceiptView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("purchase_order.read"))))]
pub async fn receipts(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    on_order(&state, &user, id, Action::OrderRead).await?;
    let list = state
        .db
        .read(move |c| service::receipts_of_order(c, id))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(list.items, paging.request())))
}

/// Receives goods against a sent order, all lines or none: batch, expiry and quantity per
/// line, into one location. Expired stock is refused; short expiry is warned; more than
/// ordered needs a pharmacist's `over_receipt_reason`. Register-tracked products get their
/// CD register receipt entry in the same transaction.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/receipts", tag = "procurement", params(("id" = i64, Path)),
    request_body = ReceiveGoods,
    responses((status = 201, body = ReceiptView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("goods.receive"))))]
pub async fn receive(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<ReceiveGoods>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = on_order(&state, &user, id, Action::GoodsReceive).await?;
    let may_accept = user.may(Action::OverReceiptAccept);
    let window = state.config.short_expiry_warning_days;
    let view = state
        .db
        .write(move |c| service::receive(c, &actor, id, &body, may_accept, window))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(get, path = "/api/v1/goods-receipts/{id}", tag = "procurement", params(("id" = i64, Path)),
    responses((status = 200, body = ReceiptView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("purchase_order.read"))))]
pub async fn receipt(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let site = state.db.read(move |c| service::receipt_site(c, id)).await?;
    user.require_record_site(site, "goods receipt")?;
    user.authorize(Action::OrderRead, site)?;
    let view = state.db.read(move |c| service::receipt(c, id)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Records the supplier's invoice for a receipt and reports its differences from the ordered prices.
#[utoipa::path(post, path = "/api/v1/goods-receipts/{id}/invoice", tag = "procurement", params(("id" = i64, Path)),
    request_body = RecordInvoice,
    responses((status = 201, body = InvoiceView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("invoice.record"))))]
pub async fn record_invoice(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<RecordInvoice>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let site = state.db.read(move |c| service::receipt_site(c, id)).await?;
    user.require_record_site(site, "goods receipt")?;
    let actor = user.authorize(Action::InvoiceRecord, site)?;
    let view = state
        .db
        .write(move |c| service::record_invoice(c, &actor, id, &body))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Spend on goods received, at the ordered prices, by supplier, site and period; JSON or CSV.
#[utoipa::path(get, path = "/api/v1/reports/spend", tag = "procurement", params(SpendQuery),
    responses((status = 200, description = "The spend report as JSON, or CSV with format=csv", content((SpendReport = "application/json"), (String = "text/csv"))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("spend.read"))))]
pub async fn spend(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidQuery(q): ValidQuery<SpendQuery>,
) -> Result<HttpResponse, AppError> {
    if let Some(site) = q.site_id {
        user.require_site(site)?;
    }
    user.require(Action::SpendRead)?;
    let sites = user.site_ids.clone();
    let format = q.format.unwrap_or(SpendFormat::Json);
    let report = state
        .db
        .for_reports()
        .read(move |c| service::spend(c, &sites, &q))
        .await?;
    Ok(match format {
        SpendFormat::Json => HttpResponse::Ok().json(report),
        SpendFormat::Csv => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(service::spend_csv(&report)?),
    })
}

/// Budgets set for a financial year, newest first; revisions are kept, the latest of each
/// service line in force.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/budgets", tag = "procurement",
    params(BudgetYear, PageQuery, ("site_id" = i64, Path)),
    responses((status = 200, body = Paged<BudgetView>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("budget.read"))))]
pub async fn budgets(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    site_id: web::Path<i64>,
    ValidQuery(q): ValidQuery<BudgetYear>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    user.authorize(Action::BudgetRead, site_id)?;
    let items = state
        .db
        .read(move |c| service::budgets_of(c, site_id, q.year))
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// Sets a service line's budget for a financial year (April to March). Setting it again
/// revises it: the earlier figure is kept, superseded.
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/budgets", tag = "procurement",
    params(("site_id" = i64, Path)), request_body = SetBudget,
    responses((status = 201, body = BudgetView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("budget.manage"))))]
pub async fn set_budget(
    state: web::Data<AppState>,
    user: AuthUser,
    site_id: web::Path<i64>,
    ValidJson(req): ValidJson<SetBudget>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    let actor = user.authorize(Action::BudgetManage, site_id)?;
    let view = state
        .db
        .write(move |c| service::set_budget(c, &actor, site_id, &req))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// The year's spend against budget per service line and month: received (spent, at net
/// prices), still to come on open orders (committed, by the month each was approved), the
/// remaining budget, and a straight-line forecast of the year; JSON or CSV.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/budget-report", tag = "procurement",
    params(BudgetQuery, ("site_id" = i64, Path)),
    responses((status = 200, description = "The budget report as JSON, or CSV with format=csv", content((BudgetReport = "application/json"), (String = "text/csv"))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("budget.read"))))]
pub async fn budget_report(
    state: web::Data<AppState>,
    user: AuthUser,
    site_id: web::Path<i64>,
    ValidQuery(q): ValidQuery<BudgetQuery>,
) -> Result<HttpResponse, AppError> {
    let site_id = site_id.into_inner();
    user.authorize(Action::BudgetRead, site_id)?;
    let format = q.format.unwrap_or(SpendFormat::Json);
    let report = state
        .db
        .for_reports()
        .read(move |c| service::budget_report(c, site_id, q.year))
        .await?;
    Ok(match format {
        SpendFormat::Json => HttpResponse::Ok().json(report),
        SpendFormat::Csv => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(service::budget_report_csv(&report)?),
    })
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![
        crate::route!(suppliers),
        crate::route!(create_supplier),
        crate::route!(supplier),
        crate::route!(update_supplier),
        crate::route!(set_supplier_product),
        crate::route!(orders),
        crate::route!(create_order),
        crate::route!(raise_from_reorder_report),
        crate::route!(order),
        crate::route!(approve),
        crate::route!(send),
        crate::route!(cancel),
        crate::route!(set_requisition),
        crate::route!(receipts),
        crate::route!(receive),
        crate::route!(receipt),
        crate::route!(record_invoice),
        crate::route!(spend),
        crate::route!(budgets),
        crate::route!(set_budget),
        crate::route!(budget_report),
    ]
}
