//! The OpenAPI document, generated from the handlers' annotations, and its browsable UI.

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    administration, audit, auth, cd_register, formulary, patients, prescribing, procurement, sites,
    stock, users,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Prison pharmacy medicines management",
        description = "Formulary, stock, controlled drug register and administration records for prison pharmacies. \
            Quantities and money are exact decimal strings. Errors are RFC 9457 problem documents.",
    ),
    paths(
        crate::health,
        crate::ready,
        auth::routes::login,
        auth::routes::me,
        sites::routes::list,
        sites::routes::create,
        sites::routes::get,
        sites::routes::locations,
        sites::routes::create_location,
        users::routes::list,
        users::routes::create,
        users::routes::get,
        users::routes::update,
        audit::routes::list,
        audit::routes::export,
        formulary::routes::list,
        formulary::routes::create,
        formulary::routes::get,
        formulary::routes::update,
        formulary::routes::retire,
        formulary::routes::batches,
        formulary::routes::create_batch,
        formulary::routes::set_status,
        stock::routes::on_hand,
        stock::routes::movements,
        stock::routes::expiring,
        stock::routes::allocation,
        stock::routes::adjust,
        stock::routes::transfers,
        stock::routes::dispatch,
        stock::routes::transfer,
        stock::routes::receive,
        stock::routes::open_stocktake,
        stock::routes::get_stocktake,
        stock::routes::count,
        stock::routes::approve,
        stock::routes::cancel,
        stock::routes::set_reorder_level,
        stock::routes::reorder_report,
        cd_register::routes::pages,
        cd_register::routes::entries,
        cd_register::routes::verify_page,
        cd_register::routes::verify_site,
        cd_register::routes::verify_with_checkpoints,
        cd_register::routes::checkpoint_document,
        cd_register::routes::sign_checkpoints,
        cd_register::routes::cabinet_transfer,
        cd_register::routes::export,
        cd_register::routes::destroy,
        cd_register::routes::correct,
        cd_register::routes::balance_check,
        cd_register::routes::balance_checks,
        cd_register::routes::resolve,
        cd_register::routes::patient_returns,
        cd_register::routes::receive_patient_return,
        cd_register::routes::destroy_patient_return,
        procurement::routes::suppliers,
        procurement::routes::create_supplier,
        procurement::routes::supplier,
        procurement::routes::update_supplier,
        procurement::routes::set_supplier_product,
        procurement::routes::orders,
        procurement::routes::create_order,
        procurement::routes::raise_from_reorder_report,
        procurement::routes::order,
        procurement::routes::approve,
        procurement::routes::send,
        procurement::routes::cancel,
        procurement::routes::set_requisition,
        procurement::routes::receipts,
        procurement::routes::receive,
        procurement::routes::receipt,
        procurement::routes::record_invoice,
        procurement::routes::spend,
        patients::routes::list,
        patients::routes::admit,
        patients::routes::get,
        patients::routes::set_location,
        patients::routes::add_allergy,
        patients::routes::retract_allergy,
        patients::routes::assessments,
        patients::routes::assess,
        patients::routes::trigger_review,
        patients::routes::reviews_due,
        patients::routes::transfer,
        patients::routes::release,
        patients::routes::tasks,
        patients::routes::complete_task,
        prescribing::routes::of_patient,
        prescribing::routes::create,
        prescribing::routes::get,
        prescribing::routes::decide,
        prescribing::routes::hold,
        prescribing::routes::resume,
        prescribing::routes::stop,
        prescribing::routes::entered_in_error,
        prescribing::routes::queue,
        administration::routes::round,
        administration::routes::record,
        administration::routes::get_dose,
        administration::routes::correct,
        administration::routes::supply,
        administration::routes::compliance,
        administration::routes::alerts,
        administration::routes::acknowledge,
        administration::routes::fhir,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldIssue)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-in and the current user"),
        (name = "sites", description = "Prisons and their stock locations"),
        (name = "users", description = "Accounts, roles and site grants"),
        (name = "audit", description = "The audit log"),
        (name = "formulary", description = "Products, batches, recalls"),
        (name = "stock", description = "The stock ledger, transfers, stocktakes and reorder levels"),
        (name = "cd register", description = "The controlled drug register: hash-chained pages, witnessed destruction, balance checks, patient returns, auditor exports"),
        (name = "procurement", description = "Suppliers, purchase orders, goods receipt, invoices and spend"),
        (name = "patients", description = "Patients, allergies, in-possession risk assessments, transfer and release"),
        (name = "prescribing", description = "Prescriptions and the pharmacist's clinical screen"),
        (name = "administration", description = "Medication rounds, doses, in-possession supplies, compliance checks, alerts, FHIR export"),
        (name = "operations", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::http::resource("/openapi.json").route(web::get().to(openapi_json)));
}

pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}")
        .external_urls_from_iter_unchecked([("/api/v1/openapi.json", serde_json::Value::Null)])
}
