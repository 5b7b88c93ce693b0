use actix_web::{web, HttpResponse};

use super::model::{
    Batch, CreateBatch, CreateProduct, Product, ProductFilter, ProductPage, SetBatchStatus,
    UpdateProduct,
};
use super::{queries, service};
use crate::auth::permissions::Action;
use crate::auth::AuthUser;
use crate::error::{AppError, Problem};
use crate::http::{PageQuery, Paged};
use crate::http::{ValidJson, ValidQuery};
use crate::AppState;

/// Search the formulary.
#[utoipa::path(get, path = "/api/v1/formulary/products", tag = "formulary", params(ProductFilter, PageQuery),
    responses((status = 200, body = ProductPage), (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("formulary.read"))))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    ValidQuery(f): ValidQuery<ProductFilter>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::FormularyRead)?;
    let page = paging.request();
    let (rows, total) = state
        .db
        .read(move |c| {
            Ok(queries::list_products(
                c,
                f.q.as_deref(),
                f.status.map(|s| s.as_str()),
                page,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(ProductPage {
        items: rows.into_iter().map(Product::from).collect(),
        page: page.page,
        per_page: page.per_page,
        total,
    }))
}

/// Add a product. CD register and possession defaults follow the schedule and flags.
#[utoipa::path(post, path = "/api/v1/formulary/products", tag = "formulary", request_body = CreateProduct,
    responses((status = 201, body = Product), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("formulary.manage"))))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(req): ValidJson<CreateProduct>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::FormularyManage)?;
    let actor = user.actor();
    let p = state
        .db
        .write(move |c| service::create_product(c, &actor, &req))
        .await?;
    Ok(HttpResponse::Created().json(p))
}

/// One product.
#[utoipa::path(get, path = "/api/v1/formulary/products/{id}", tag = "formulary", params(("id" = i64, Path)),
    responses((status = 200, body = Product), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("formulary.read"))))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::FormularyRead)?;
    let id = id.into_inner();
    let p = state.db.read(move |c| service::product(c, id)).await?;
    Ok(HttpResponse::Ok().json(p))
}

/// Change a product's flags, maximum daily dose or class. Register tracking stays on once a page
/// records the product (409 `cd_register_in_use`); switching it on while the product is in stock
/// needs a witness and stock held only in CD cabinets (409 `cd_cabinet_required`).
#[utoipa::path(patch, path = "/api/v1/formulary/products/{id}", tag = "formulary", params(("id" = i64, Path)),
    request_body = UpdateProduct,
    responses((status = 200, body = Product), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("formulary.manage"))))]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(mut req): ValidJson<UpdateProduct>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::FormularyManage)?;
    let (actor, id) = (user.actor(), id.into_inner());
    // A witness to the balances brought forward is checked at a prison holding the stock; the
    // service then requires them to hold every such prison.
    let witness_id = match req.witness.take() {
        Some(credentials) => {
            let site = state
                .db
                .read(move |c| Ok(crate::ledger::queries::holdings(c, id)?))
                .await?
                .first()
                .map(|h| h.0);
            let site = site.ok_or_else(|| {
                AppError::invalid(
                    "witness",
                    "not_needed",
                    "no prison holds this product's stock",
                )
            })?;
            Some(
                crate::auth::witness::authenticate(
                    &state,
                    &user,
                    site,
                    crate::auth::witness::WitnessAct::RegisterSetup,
                    Some(credentials),
                    crate::auth::witness::WitnessNeed::Staff,
                )
                .await?,
            )
        }
        None => None,
    };
    let p = state
        .db
        .write(move |c| service::update_product(c, &actor, id, &req, witness_id))
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

/// Retire a product. Products are never deleted.
#[utoipa::path(post, path = "/api/v1/formulary/products/{id}/retire", tag = "formulary", params(("id" = i64, Path)),
    responses((status = 200, body = Product), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("formulary.manage"))))]
pub async fn retire(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::FormularyManage)?;
    let (actor, id) = (user.actor(), id.into_inner());
    let p = state
        .db
        .write(move |c| service::retire_product(c, &actor, id))
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

/// Batches of a product, earliest expiry first.
#[utoipa::path(get, path = "/api/v1/formulary/products/{id}/batches", tag = "formulary", params(PageQuery, ("id" = i64, Path)),
    responses((status = 200, body = Paged<Batch>), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("formulary.read"))))]
pub async fn batches(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::FormularyRead)?;
    let id = id.into_inner();
    let items = state
        .db
        .read(move |c| {
            service::product(c, id)?;
            Ok(queries::batches_of(c, id)?
                .into_iter()
                .map(Batch::from)
                .collect())
        })
        .await?;
    Ok(HttpResponse::Ok().json(Paged::of(items, paging.request())))
}

/// Register a batch of a product (batch number and expiry), before stock of it is received.
#[utoipa::path(post, path = "/api/v1/formulary/products/{id}/batches", tag = "formulary", params(("id" = i64, Path)),
    request_body = CreateBatch,
    responses((status = 201, body = Batch), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("batch.create"))))]
pub async fn create_batch(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(req): ValidJson<CreateBatch>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::BatchCreate)?;
    let (actor, id) = (user.actor(), id.into_inner());
    let b = state
        .db
        .write(move |c| service::create_batch(c, &actor, id, &req))
        .await?;
    Ok(HttpResponse::Created().json(b))
}

/// Quarantine or recall a batch at every site in one call (or release a quarantined one).
#[utoipa::path(post, path = "/api/v1/batches/{id}/status", tag = "formulary", params(("id" = i64, Path)),
    request_body = SetBatchStatus,
    responses((status = 200, body = Batch), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("batch.recall"))))]
pub async fn set_status(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    ValidJson(req): ValidJson<SetBatchStatus>,
) -> Result<HttpResponse, AppError> {
    user.require(Action::BatchRecall)?;
    let (actor, id) = (user.actor(), id.into_inner());
    let b = state
        .db
        .write(move |c| service::set_batch_status(c, &actor, id, &req))
        .await?;
    Ok(HttpResponse::Ok().json(b))
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![
        crate::route!(list),
        crate::route!(create),
        crate::route!(get),
        crate::route!(update),
        crate::route!(retire),
        crate::route!(batches),
        crate::route!(create_batch),
        crate::route!(set_status),
    ]
}
