//! Who may call which route, checked before a request body is even read: the rule each route
//! declares with its handler (`x-access`, see `crate::api`), naming the action of the
//! permission table it needs, then the prison of the route (`{site_id}`) or of its record
//! (`{id}`). A request no declared route covers is refused. Handlers check again, and check
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

/// The rule of a method on a route pattern, from the route's own declaration.
pub fn rule(method: &str, pattern: &str) -> Option<Access> {
    crate::api::access(method, pattern)
}

/// Where each kind of record names its prison, by the route's first segment: the record's own
/// `site_id`, a patient's (for prescriptions), or both ends (for transfers). Read straight from
/// the tables, so the access check depends on no capability's code.
const RECORD_SITES: &[(&str, &str)] = &[
    ("patients", "SELECT site_id FROM patients WHERE id = {id}"),
    (
        "prescriptions",
        "SELECT p.site_id FROM prescriptions r JOIN patients p ON p.id = r.patient_id WHERE r.id = {id}",
    ),
    ("reconciliation-tasks", "SELECT site_id FROM reconciliation_tasks WHERE id = {id}"),
    ("doses", "SELECT site_id FROM dose_records WHERE id = {id}"),
    ("alerts", "SELECT site_id FROM alerts WHERE id = {id}"),
    ("purchase-orders", "SELECT site_id FROM purchase_orders WHERE id = {id}"),
    ("goods-receipts", "SELECT site_id FROM goods_receipts WHERE id = {id}"),
    ("stocktakes", "SELECT site_id FROM stocktakes WHERE id = {id}"),
    (
        "transfers",
        "SELECT from_site_id AS site_id FROM transfers WHERE id = {id} \
         UNION ALL SELECT to_site_id AS site_id FROM transfers WHERE id = {id}",
    ),
];

#[derive(diesel::QueryableByName)]
struct SiteOf {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    site_id: i64,
}

/// The prisons a record route belongs to, from its `{id}`: None when the route is not
/// scoped to a prison (products, suppliers, users); a record that does not exist belongs to
/// none, and answers 404.
fn record_sites(
    conn: &mut AnyConnection,
    pattern: &str,
    id: i64,
) -> Result<Option<Vec<i64>>, AppError> {
    use diesel::RunQueryDsl;
    let entity = pattern
        .trim_start_matches("/api/v1/")
        .split('/')
        .next()
        .unwrap_or_default();
    let Some((_, sql)) = RECORD_SITES.iter().find(|(e, _)| *e == entity) else {
        return Ok(None);
    };
    // The id is an i64 parsed from the path, so writing it into the statement is safe.
    let rows: Vec<SiteOf> = diesel::sql_query(sql.replace("{id}", &id.to_string())).load(conn)?;
    if rows.is_empty() {
        return Err(AppError::not_found("resource"));
    }
    Ok(Some(rows.into_iter().map(|r| r.site_id).collect()))
}

/// Authorises an action on a patient through the prison they are at now; another prison's
/// patient answers 404.
pub async fn on_patient(
    state: &actix_web::web::Data<AppState>,
    user: &AuthUser,
    patient_id: i64,
    action: Action,
) -> Result<crate::audit::Actor, AppError> {
    let sites = state
        .db
        .read(move |c| record_sites(c, "/api/v1/patients/{id}", patient_id))
        .await
        .map_err(|_| AppError::not_found("patient"))?
        .unwrap_or_default();
    let site = sites
        .first()
        .copied()
        .ok_or_else(|| AppError::not_found("patient"))?;
    user.require_record_site(site, "patient")?;
    user.authorize(action, site)
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
    crate::api::has_pattern(pattern)
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
                None,
            )
            .await)
        }
    };
    let user = match AuthUser::authenticate(req.request()).await {
        Ok(user) => user,
        Err(e) => return Ok(refuse(req, e, None).await),
    };
    if let Access::Action(action) = needed {
        if let Err(e) = user.require(action) {
            return Ok(refuse(req, e, Some(&user)).await);
        }
    }
    if let Err(e) = check_site(&req, &user, &pattern).await {
        return Ok(refuse(req, e, Some(&user)).await);
    }
    req.extensions_mut().insert(user);
    next.call(req).await.map(pass)
}

/// Answers a refusal, and records it as a security event: who (if signed in), from where, which
/// route, which answer. A failure to record is logged, never turned into another answer.
async fn refuse<B>(
    req: ServiceRequest,
    e: AppError,
    user: Option<&AuthUser>,
) -> ServiceResponse<EitherBody<B>> {
    let response = actix_web::ResponseError::error_response(&e);
    // Refused access is a security event; a database that cannot answer is not, and waiting
    // on it a second time would only delay the answer.
    let refused_access = matches!(response.status().as_u16(), 401 | 403 | 404);
    let state = req.app_data::<actix_web::web::Data<AppState>>().cloned();
    if let Some(state) = state.filter(|_| refused_access) {
        let caller = user
            .map(|u| u.caller.clone())
            .unwrap_or_else(|| super::sign_in::Caller::of(req.request()));
        let (user_id, status) = (user.map(|u| u.id), response.status().as_u16());
        let method = req.method().to_string();
        let recorded = state
            .db
            .write(move |c| {
                let mut event = caller.event("access.refused");
                event.user_id = user_id;
                event.detail = serde_json::json!({"status": status, "method": method});
                crate::audit::record_security(c, &event)
            })
            .await;
        if let Err(err) = recorded {
            tracing::error!(error = %err, "a refused request could not be recorded");
        }
    }
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
}
