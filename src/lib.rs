//! Medicines management and dispensing for prison pharmacies in England.

pub mod administration;
pub mod api;
pub mod audit;
pub mod auditing;
pub mod auth;
pub mod cd_register;
pub mod config;
pub mod custody;
pub mod db;
pub mod domain;
pub mod emergency_kits;
pub mod error;
pub mod fixtures;
pub mod formulary;
pub mod http;
pub mod idempotency;
pub mod ledger;
pub mod openapi;
pub mod outbreaks;
pub mod patients;
pub mod prescribing;
pub mod procurement;
pub mod sites;
pub mod stock;
pub mod telemetry;
pub mod ui;
pub mod users;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpResponse};
use tracing_actix_web::TracingLogger;

use auth::jwt::JwtKeys;
use config::Config;
use db::Db;
use error::AppError;

/// Everything a request handler may need, shared by all workers.
pub struct AppState {
    pub db: Db,
    pub config: Config,
    pub jwt: JwtKeys,
    /// How failed sign-ins and witness attempts are held back (counted in the database).
    pub throttle: auth::throttle::Rules,
    /// Signs CD register checkpoints with a key held outside the database.
    pub signer: cd_register::checkpoints::Signer,
}

impl AppState {
    pub fn new(config: Config, db: Db) -> Result<AppState, AppError> {
        let db = match &config.database_read_url {
            Some(url) => db.with_replica(url, config.db_pool_size)?,
            None => db,
        };
        Ok(AppState {
            jwt: JwtKeys::from_config(&config)?,
            throttle: auth::throttle::Rules::from_config(&config),
            signer: cd_register::checkpoints::Signer::from_config(&config)?,
            db,
            config,
        })
    }
}

/// Applies every pending migration, then carries site register pages kept from before CD
/// cabinets forward to cabinet pages (which needs the chain's hashing, so it is not SQL).
pub fn migrate(conn: &mut db::AnyConnection) -> Result<usize, AppError> {
    let applied = db::run_migrations(conn)?;
    ledger::register::carry_forward_site_pages(conn)?;
    Ok(applied)
}

/// The whole HTTP application, the same for the server and for the tests.
pub fn build_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        // A path id that is not a number names no record.
        .app_data(
            web::PathConfig::default().error_handler(|_, _| AppError::not_found("resource").into()),
        )
        .wrap(
            DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("X-Frame-Options", "DENY"))
                .add(("Referrer-Policy", "no-referrer"))
                .add(("Cross-Origin-Resource-Policy", "same-origin"))
                .add(("Strict-Transport-Security", "max-age=31536000")),
        )
        .wrap_fn(telemetry::echo_request_id)
        .wrap(TracingLogger::<telemetry::RequestSpan>::new())
        .configure(api::register_root)
        .service(
            web::scope("/api/v1")
                .wrap(actix_web::middleware::from_fn(auth::access::enforce))
                .wrap(
                    DefaultHeaders::new()
                        .add(("Cache-Control", "no-store"))
                        .add((
                            "Content-Security-Policy",
                            "default-src 'none'; frame-ancestors 'none'",
                        )),
                )
                .configure(api::register_api),
        )
        .service(openapi::swagger_ui())
        .service(ui::scope())
        .default_service(web::to(http::not_found))
}

/// Liveness and readiness, outside the API.
pub fn routes() -> Vec<api::Route> {
    vec![route!(health), route!(ready)]
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "process is up")),
    extensions(("x-access" = json!("public"))))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The database answers within a second, every migration is applied, and writes are being
/// stored (after a write failed for lack of storage, a probe write must succeed again).
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, description = "ready"), (status = 503, description = "")),
    extensions(("x-access" = json!("public"))))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let backend = state.db.backend().name();
    let db = state.db.clone();
    let pending = web::block(move || {
        let mut conn = db.get_within(db::READY_TIMEOUT)?;
        db::pending_migrations(&mut conn)
    })
    .await
    .unwrap_or_else(|e| Err(AppError::internal(format!("blocking task: {e}"))));
    match pending {
        Ok(0) => {}
        Ok(n) => return not_ready(format!("{n} migrations pending")),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            return not_ready("database unreachable".into());
        }
    }
    if state.db.storage_full() {
        if let Err(e) = state.db.probe_write().await {
            tracing::warn!(error = %e, "readiness check: writes still refused");
            return not_ready("storage full: writes are refused; reads still work".into());
        }
    }
    HttpResponse::Ok().json(serde_json::json!({"status": "ready", "database": backend}))
}

fn not_ready(detail: String) -> HttpResponse {
    HttpResponse::ServiceUnavailable().content_type("application/problem+json").json(serde_json::json!({
        "type": "/problems/not-ready", "title": "Service not ready", "status": 503, "detail": detail
    }))
}
