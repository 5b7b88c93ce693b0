//! The OpenAPI document, generated from the handlers' annotations, and its browsable UI.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::HttpMethod;
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

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

/// The document: its description here, and one operation for each declared route.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for route in crate::api::all() {
        let method = match route.method.as_str() {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "PATCH" => HttpMethod::Patch,
            _ => HttpMethod::Delete,
        };
        doc.paths
            .add_path_operation(&route.path, vec![method], route.operation.clone());
    }
    doc
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")),
    extensions(("x-access" = json!("public"))))]
pub async fn openapi_json() -> HttpResponse {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = DOCUMENT.get_or_init(|| document().to_json().unwrap_or_default());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.clone())
}

pub fn routes() -> Vec<crate::api::Route> {
    vec![crate::route!(openapi_json)]
}

pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}")
        .external_urls_from_iter_unchecked([("/api/v1/openapi.json", serde_json::Value::Null)])
}
