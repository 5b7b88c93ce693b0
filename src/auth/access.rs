//! Who may call which route, checked before a request body is even read: one rule per
//! method and route, naming the action of the permission table it needs, then the prison of
//! the route (`{site_id}`) or of its record (`{id}`). A route without a rule is refused, so a
//! new route is closed until someone decides who may use it. Handlers check again, and check
//! the records nested under the route (a register page of the site, an order's line).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

use super::permissions::Action;
use super::AuthUser;
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No sign-in: sign-in itself and the API description.
    Public,
    /// Any signed-in user.
    SignedIn,
    /// A signed-in user whose role may do the action.
    Action(Action),
}

/// (method, route pattern as the router and the OpenAPI document write it, access).
pub const ROUTES: &[(&str, &str, Access)] = &[
    (
        "GET",
        "/api/v1/sites/{site_id}/rounds",
        Access::Action(Action::RoundRead),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/doses",
        Access::Action(Action::DoseRecord),
    ),
    (
        "GET",
        "/api/v1/doses/{id}",
        Access::Action(Action::RoundRead),
    ),
    (
        "POST",
        "/api/v1/doses/{id}/corrections",
        Access::Action(Action::DoseCorrect),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/ip-supplies",
        Access::Action(Action::IpSupply),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/compliance-checks",
        Access::Action(Action::ComplianceRecord),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/alerts",
        Access::Action(Action::AlertRead),
    ),
    (
        "POST",
        "/api/v1/alerts/{id}/acknowledgement",
        Access::Action(Action::AlertAcknowledge),
    ),
    (
        "GET",
        "/api/v1/patients/{id}/fhir",
        Access::Action(Action::FhirRead),
    ),
    ("GET", "/api/v1/audit", Access::Action(Action::AuditRead)),
    (
        "GET",
        "/api/v1/audit/export",
        Access::Action(Action::AuditRead),
    ),
    ("POST", "/api/v1/auth/login", Access::Public),
    ("GET", "/api/v1/me", Access::SignedIn),
    (
        "GET",
        "/api/v1/sites/{site_id}/cd/pages",
        Access::Action(Action::CdRead),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/cd/pages/{page_id}/entries",
        Access::Action(Action::CdRead),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/cd/pages/{page_id}/verify",
        Access::Action(Action::CdRead),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/cd/verify",
        Access::Action(Action::CdRead),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/cd/export",
        Access::Action(Action::CdExportRead),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/cd/verify",
        Access::Action(Action::CdRead),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/cd/checkpoints",
        Access::Action(Action::CdExportRead),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/cd/checkpoints",
        Access::Action(Action::CdCheckpointSign),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/cd/cabinet-transfers",
        Access::Action(Action::CdCabinetTransfer),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/cd/destructions",
        Access::Action(Action::CdDestroy),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/cd/entries/{entry_id}/corrections",
        Access::Action(Action::CdCorrect),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/cd/pages/{page_id}/balance-checks",
        Access::Action(Action::CdBalanceCheck),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/cd/balance-checks",
        Access::Action(Action::CdRead),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/cd/balance-checks/{check_id}/resolution",
        Access::Action(Action::CdInvestigationResolve),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/cd/patient-returns",
        Access::Action(Action::CdRead),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/cd/patient-returns",
        Access::Action(Action::CdPatientReturn),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/cd/patient-returns/{return_id}/destruction",
        Access::Action(Action::CdPatientReturn),
    ),
    (
        "GET",
        "/api/v1/formulary/products",
        Access::Action(Action::FormularyRead),
    ),
    (
        "POST",
        "/api/v1/formulary/products",
        Access::Action(Action::FormularyManage),
    ),
    (
        "GET",
        "/api/v1/formulary/products/{id}",
        Access::Action(Action::FormularyRead),
    ),
    (
        "PATCH",
        "/api/v1/formulary/products/{id}",
        Access::Action(Action::FormularyManage),
    ),
    (
        "POST",
        "/api/v1/formulary/products/{id}/retire",
        Access::Action(Action::FormularyManage),
    ),
    (
        "GET",
        "/api/v1/formulary/products/{id}/batches",
        Access::Action(Action::FormularyRead),
    ),
    (
        "POST",
        "/api/v1/formulary/products/{id}/batches",
        Access::Action(Action::BatchCreate),
    ),
    (
        "POST",
        "/api/v1/batches/{id}/status",
        Access::Action(Action::BatchRecall),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/patients",
        Access::Action(Action::PatientRead),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/patients",
        Access::Action(Action::PatientManage),
    ),
    (
        "GET",
        "/api/v1/patients/{id}",
        Access::Action(Action::PatientRead),
    ),
    (
        "PUT",
        "/api/v1/patients/{id}/location",
        Access::Action(Action::PatientManage),
    ),
    (
        "POST",
        "/api/v1/patients/{id}/allergies",
        Access::Action(Action::AllergyRecord),
    ),
    (
        "POST",
        "/api/v1/patients/{id}/allergies/{allergy_id}/retraction",
        Access::Action(Action::AllergyRecord),
    ),
    (
        "GET",
        "/api/v1/patients/{id}/ip-assessments",
        Access::Action(Action::PatientRead),
    ),
    (
        "POST",
        "/api/v1/patients/{id}/ip-assessments",
        Access::Action(Action::IpAssess),
    ),
    (
        "POST",
        "/api/v1/patients/{id}/ip-review-triggers",
        Access::Action(Action::IpAssess),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/ip-reviews-due",
        Access::Action(Action::PatientRead),
    ),
    (
        "POST",
        "/api/v1/patients/{id}/transfer",
        Access::Action(Action::PatientTransfer),
    ),
    (
        "POST",
        "/api/v1/patients/{id}/release",
        Access::Action(Action::PatientTransfer),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/reconciliation-tasks",
        Access::Action(Action::PatientRead),
    ),
    (
        "POST",
        "/api/v1/reconciliation-tasks/{id}/complete",
        Access::Action(Action::ReconciliationComplete),
    ),
    (
        "GET",
        "/api/v1/patients/{id}/prescriptions",
        Access::Action(Action::PrescriptionRead),
    ),
    (
        "POST",
        "/api/v1/patients/{id}/prescriptions",
        Access::Action(Action::PrescriptionCreate),
    ),
    (
        "GET",
        "/api/v1/prescriptions/{id}",
        Access::Action(Action::PrescriptionRead),
    ),
    (
        "POST",
        "/api/v1/prescriptions/{id}/screening",
        Access::Action(Action::ScreeningDecide),
    ),
    (
        "POST",
        "/api/v1/prescriptions/{id}/hold",
        Access::Action(Action::PrescriptionChange),
    ),
    (
        "POST",
        "/api/v1/prescriptions/{id}/resume",
        Access::Action(Action::PrescriptionChange),
    ),
    (
        "POST",
        "/api/v1/prescriptions/{id}/stop",
        Access::Action(Action::PrescriptionChange),
    ),
    (
        "POST",
        "/api/v1/prescriptions/{id}/entered-in-error",
        Access::Action(Action::PrescriptionChange),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/screening-queue",
        Access::Action(Action::ScreeningRead),
    ),
    (
        "GET",
        "/api/v1/suppliers",
        Access::Action(Action::SupplierRead),
    ),
    (
        "POST",
        "/api/v1/suppliers",
        Access::Action(Action::SupplierManage),
    ),
    (
        "GET",
        "/api/v1/suppliers/{id}",
        Access::Action(Action::SupplierRead),
    ),
    (
        "PUT",
        "/api/v1/suppliers/{id}",
        Access::Action(Action::SupplierManage),
    ),
    (
        "PUT",
        "/api/v1/suppliers/{id}/products",
        Access::Action(Action::SupplierManage),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/purchase-orders",
        Access::Action(Action::OrderRead),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/purchase-orders",
        Access::Action(Action::OrderCreate),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/purchase-orders/from-reorder-report",
        Access::Action(Action::OrderCreate),
    ),
    (
        "GET",
        "/api/v1/purchase-orders/{id}",
        Access::Action(Action::OrderRead),
    ),
    (
        "POST",
        "/api/v1/purchase-orders/{id}/approve",
        Access::Action(Action::OrderApprove),
    ),
    (
        "POST",
        "/api/v1/purchase-orders/{id}/send",
        Access::Action(Action::OrderSend),
    ),
    (
        "POST",
        "/api/v1/purchase-orders/{id}/cancel",
        Access::Action(Action::OrderCancel),
    ),
    (
        "PUT",
        "/api/v1/purchase-orders/{id}/lines/{line_id}/requisition",
        Access::Action(Action::OrderCreate),
    ),
    (
        "GET",
        "/api/v1/purchase-orders/{id}/receipts",
        Access::Action(Action::OrderRead),
    ),
    (
        "POST",
        "/api/v1/purchase-orders/{id}/receipts",
        Access::Action(Action::GoodsReceive),
    ),
    (
        "GET",
        "/api/v1/goods-receipts/{id}",
        Access::Action(Action::OrderRead),
    ),
    (
        "POST",
        "/api/v1/goods-receipts/{id}/invoice",
        Access::Action(Action::InvoiceRecord),
    ),
    (
        "GET",
        "/api/v1/reports/spend",
        Access::Action(Action::SpendRead),
    ),
    ("GET", "/api/v1/sites", Access::Action(Action::SiteRead)),
    ("POST", "/api/v1/sites", Access::Action(Action::SiteManage)),
    (
        "GET",
        "/api/v1/sites/{site_id}",
        Access::Action(Action::SiteRead),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/locations",
        Access::Action(Action::SiteRead),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/locations",
        Access::Action(Action::LocationManage),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/stock",
        Access::Action(Action::StockRead),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/stock/movements",
        Access::Action(Action::StockRead),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/stock/expiring",
        Access::Action(Action::StockRead),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/stock/allocation",
        Access::Action(Action::StockRead),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/stock/adjustments",
        Access::Action(Action::StockAdjust),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/transfers",
        Access::Action(Action::StockRead),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/transfers",
        Access::Action(Action::TransferDispatch),
    ),
    (
        "GET",
        "/api/v1/transfers/{id}",
        Access::Action(Action::StockRead),
    ),
    (
        "POST",
        "/api/v1/transfers/{id}/receive",
        Access::Action(Action::TransferReceive),
    ),
    (
        "POST",
        "/api/v1/sites/{site_id}/stocktakes",
        Access::Action(Action::StocktakeCount),
    ),
    (
        "GET",
        "/api/v1/stocktakes/{id}",
        Access::Action(Action::StockRead),
    ),
    (
        "POST",
        "/api/v1/stocktakes/{id}/counts",
        Access::Action(Action::StocktakeCount),
    ),
    (
        "POST",
        "/api/v1/stocktakes/{id}/approve",
        Access::Action(Action::StocktakeApprove),
    ),
    (
        "POST",
        "/api/v1/stocktakes/{id}/cancel",
        Access::Action(Action::StocktakeCount),
    ),
    (
        "PUT",
        "/api/v1/sites/{site_id}/reorder-levels",
        Access::Action(Action::ReorderManage),
    ),
    (
        "GET",
        "/api/v1/sites/{site_id}/reorder-report",
        Access::Action(Action::StockRead),
    ),
    ("GET", "/api/v1/users", Access::Action(Action::UserRead)),
    ("POST", "/api/v1/users", Access::Action(Action::UserManage)),
    (
        "GET",
        "/api/v1/users/{id}",
        Access::Action(Action::UserRead),
    ),
    (
        "PATCH",
        "/api/v1/users/{id}",
        Access::Action(Action::UserManage),
    ),
    ("GET", "/api/v1/openapi.json", Access::Public),
];

pub fn rule(method: &str, pattern: &str) -> Option<Access> {
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && *p == pattern)
        .map(|(_, _, a)| *a)
}

/// The prisons a record route belongs to, from its `{id}`: None when the route is not
/// scoped to a prison (products, suppliers, users).
fn record_sites(
    conn: &mut AnyConnection,
    pattern: &str,
    id: i64,
) -> Result<Option<Vec<i64>>, AppError> {
    let entity = pattern
        .trim_start_matches("/api/v1/")
        .split('/')
        .next()
        .unwrap_or_default();
    let one = |site: Result<i64, AppError>| site.map(|s| Some(vec![s]));
    match entity {
        "patients" => one(crate::patients::service::patient_site(conn, id)),
        "prescriptions" => one(crate::prescribing::service::prescription_site(conn, id)),
        "reconciliation-tasks" => one(crate::patients::service::task_site(conn, id)),
        "doses" => one(crate::administration::service::dose_site(conn, id)),
        "alerts" => one(crate::administration::service::alert_site(conn, id)),
        "purchase-orders" => one(crate::procurement::service::order_site(conn, id)),
        "goods-receipts" => one(crate::procurement::service::receipt_site(conn, id)),
        "stocktakes" => one(crate::stock::service::stocktake(conn, id).map(|s| s.site_id)),
        "transfers" => crate::stock::service::transfer(conn, id)
            .map(|t| Some(vec![t.from_site_id, t.to_site_id])),
        _ => Ok(None),
    }
}

/// 404 unless the user holds the prison of the route: `{site_id}` in the path, or the
/// prison of the record named by `{id}`. Checked before the body is read, so another
/// prison's records look the same whatever is sent.
async fn check_site(req: &ServiceRequest, user: &AuthUser, pattern: &str) -> Result<(), AppError> {
    // The router has not matched the resource yet, so read the parameters off the path.
    let path = req.path().to_string();
    let param = |name: &str| path_param(pattern, &path, name).and_then(|v| v.parse::<i64>().ok());
    if pattern.contains("{site_id}") {
        return match param("site_id") {
            Some(site) => user.require_site(site),
            None => Err(AppError::not_found("site")),
        };
    }
    if !pattern.contains("{id}") {
        return Ok(());
    }
    let Some(id) = param("id") else {
        return Err(AppError::not_found("resource"));
    };
    let state = req
        .app_data::<actix_web::web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::internal("application state missing"))?;
    let owned = pattern.to_string();
    match state.db.read(move |c| record_sites(c, &owned, id)).await? {
        Some(sites) => user.require_any_site(sites, "resource"),
        None => Ok(()),
    }
}

/// The value of `{name}` in a path matched by the pattern.
fn path_param<'a>(pattern: &str, path: &'a str, name: &str) -> Option<&'a str> {
    let wanted = format!("{{{name}}}");
    pattern
        .split('/')
        .zip(path.split('/'))
        .find(|(p, _)| *p == wanted)
        .map(|(_, v)| v)
}

fn has_pattern(pattern: &str) -> bool {
    ROUTES.iter().any(|(_, p, _)| *p == pattern)
}

/// The access check, as middleware on the API scope. Refusals are answered here, as problem
/// documents that pass back through the other middleware (security headers, request id).
pub async fn enforce<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let pass = |res: ServiceResponse<B>| res.map_into_left_body();
    let Some(pattern) = req.match_pattern() else {
        // Not a route: the router answers 404.
        return next.call(req).await.map(pass);
    };
    let needed = match rule(req.method().as_str(), &pattern) {
        Some(Access::Public) => return next.call(req).await.map(pass),
        Some(access) => access,
        // A known route with another method: the router answers 405.
        None if has_pattern(&pattern) => return next.call(req).await.map(pass),
        None => {
            return Ok(refuse(
                req,
                AppError::Forbidden("no access rule covers this route".into()),
            ))
        }
    };
    let user = match AuthUser::authenticate(req.request()).await {
        Ok(user) => user,
        Err(e) => return Ok(refuse(req, e)),
    };
    if let Access::Action(action) = needed {
        if let Err(e) = user.require(action) {
            return Ok(refuse(req, e));
        }
    }
    if let Err(e) = check_site(&req, &user, &pattern).await {
        return Ok(refuse(req, e));
    }
    req.extensions_mut().insert(user);
    next.call(req).await.map(pass)
}

fn refuse<B>(req: ServiceRequest, e: AppError) -> ServiceResponse<EitherBody<B>> {
    let response = actix_web::ResponseError::error_response(&e);
    req.into_response(response).map_into_right_body()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_read_off_the_path() {
        let p = "/api/v1/sites/{site_id}/cd/pages/{page_id}/entries";
        assert_eq!(
            path_param(p, "/api/v1/sites/7/cd/pages/12/entries", "site_id"),
            Some("7")
        );
        assert_eq!(
            path_param(p, "/api/v1/sites/7/cd/pages/12/entries", "page_id"),
            Some("12")
        );
        assert_eq!(
            path_param(p, "/api/v1/sites/7/cd/pages/12/entries", "id"),
            None
        );
    }

    #[test]
    fn every_rule_is_unique() {
        for (i, (m, p, _)) in ROUTES.iter().enumerate() {
            assert!(
                !ROUTES[i + 1..].iter().any(|(m2, p2, _)| m2 == m && p2 == p),
                "{m} {p} twice"
            );
        }
    }
}
