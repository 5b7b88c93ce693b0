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
        (name = "emergency_kits", description = "Wing emergency bags, naloxone and anaphylaxis kits: contents, seal checks, openings, restocks, expiry"),
        (name = "outbreaks", description = "Outbreaks, vaccinations, and who received a batch"),
        (name = "operations", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// The document: its description here, and one operation for each declared route, each with
/// a unique id and every problem it can answer.
pub fn document() -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
    for route in crate::api::all() {
        let method = match route.method.as_str() {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "PATCH" => HttpMethod::Patch,
            _ => HttpMethod::Delete,
        };
        let mut operation = route.operation.clone();
        operation.operation_id = operation
            .operation_id
            .map(|id| format!("{}_{id}", route.area));
        doc.paths
            .add_path_operation(&route.path, vec![method], operation);
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, schema) in &route.schemas {
            components
                .schemas
                .entry(name.clone())
                .or_insert_with(|| schema.clone());
        }
    }
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    // Bodies that carry a witness's password meet the sign-in throttle.
    let witnessed: Vec<String> = doc["components"]["schemas"]
        .as_object()
        .map(|schemas| {
            schemas
                .iter()
                .filter(|(_, s)| s["properties"].get("witness").is_some())
                .map(|(name, _)| format!("#/components/schemas/{name}"))
                .collect()
        })
        .unwrap_or_default();
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            let database = match path.as_str() {
                "/health" | "/api/v1/openapi.json" => Database::Unused,
                "/ready" => Database::Checked,
                _ => Database::Used,
            };
            for operation in item.values_mut() {
                let body =
                    &operation["requestBody"]["content"]["application/json"]["schema"]["$ref"];
                let throttled = body
                    .as_str()
                    .is_some_and(|r| witnessed.iter().any(|w| w == r));
                document_problems(operation, throttled, database);
            }
        }
    }
    doc
}

/// Every problem an operation can answer, as `application/problem+json`: those its handler
/// names, and those the edge answers for it (a body that is not JSON or too large, parameters
/// that fail their rules, no or another prison's sign-in, an unknown record).
/// How an operation depends on the database, for the faults it can answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Database {
    Unused,
    /// Readiness: it reports the database's faults rather than suffering them.
    Checked,
    Used,
}

fn document_problems(
    operation: &mut serde_json::Value,
    witness_throttled: bool,
    database: Database,
) {
    use serde_json::json;
    let has_body = operation.get("requestBody").is_some();
    let params = |place: &str| {
        operation["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == place))
    };
    let (query, path) = (params("query"), params("path"));
    let signed_in = operation.get("security").is_some();
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    if has_body {
        wanted.extend([
            ("400", "The body is not well-formed JSON"),
            ("413", "The body is larger than the service accepts"),
            ("415", "The body is not sent as application/json"),
        ]);
    }
    if has_body || query {
        wanted.push((
            "422",
            "A field breaks a rule; the problem names the field and the rule",
        ));
    }
    if signed_in {
        wanted.extend([
            ("401", "No valid access token"),
            ("403", "The role may not do this"),
        ]);
    }
    if path || signed_in {
        wanted.push(("404", "No such record at a prison of yours"));
    }
    if witness_throttled {
        wanted.push((
            "429",
            "Too many failed sign-ins from the witness's credentials; retry after the time given",
        ));
    }
    match database {
        Database::Used => wanted.extend([
            (
                "503",
                "The database cannot be reached; retry after the Retry-After seconds",
            ),
            (
                "507",
                "The database's storage is full: nothing was written; reads still work",
            ),
        ]),
        Database::Checked => wanted.push((
            "503",
            "Not ready: the database is unreachable, migrations are pending, or storage is full",
        )),
        Database::Unused => {}
    }
    let problem = json!({"schema": {"$ref": "#/components/schemas/Problem"}});
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(|r| r.as_object_mut())
    else {
        return;
    };
    for response in responses.values_mut() {
        let Some(content) = response.get_mut("content").and_then(|c| c.as_object_mut()) else {
            continue;
        };
        let is_problem = content
            .get("application/json")
            .is_some_and(|c| c["schema"]["$ref"] == "#/components/schemas/Problem");
        if is_problem {
            content.remove("application/json");
            content.insert("application/problem+json".into(), problem.clone());
        }
    }
    for (status, description) in wanted {
        let entry = responses
            .entry(status)
            .or_insert_with(|| json!({"description": description}));
        if entry["description"] == "" {
            entry["description"] = json!(description);
        }
        entry["content"] = json!({"application/problem+json": problem});
        if matches!(status, "429" | "503") && database != Database::Checked {
            entry["headers"] = json!({"Retry-After": {
                "description": "Seconds to wait before trying again",
                "schema": {"type": "integer", "minimum": 1}
            }});
        }
    }
    for (status, response) in responses.iter_mut() {
        if response["description"] == "" {
            response["description"] = json!(match status.as_str() {
                "200" | "201" => "Done",
                "409" => "In conflict with the current state; the problem's code says which",
                "429" => "Too many attempts; retry after the time given",
                _ => "See the problem document",
            });
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")),
    extensions(("x-access" = json!("public"))))]
pub async fn openapi_json() -> HttpResponse {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = DOCUMENT.get_or_init(|| document().to_string());
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
