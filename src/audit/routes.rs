use actix_web::{web, HttpResponse};

use super::model::{AuditEventPage, AuditFilter};
use super::queries;
use crate::auth::permissions::Action;
use crate::auth::AuthUser;
use crate::error::{AppError, Problem};
use crate::http::{PageRequest, ValidQuery};
use crate::AppState;

/// List audit events of your sites, oldest first, filtered and paginated.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditFilter),
    responses((status = 200, body = AuditEventPage), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidQuery(filter): ValidQuery<AuditFilter>,
) -> Result<HttpResponse, AppError> {
    if let Some(site) = filter.site_id {
        user.require_site(site)?;
    }
    user.require(Action::AuditRead)?;
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if to <= from {
            return Err(AppError::invalid(
                "to",
                "after_from",
                "must be later than from",
            ));
        }
    }
    let page = PageRequest::new(filter.page, filter.per_page);
    let sites = user.site_ids.clone();
    let (items, total) = state
        .db
        .read(move |c| Ok(queries::list(c, &filter, &sites, page)?))
        .await?;
    Ok(HttpResponse::Ok().json(AuditEventPage {
        items,
        page: page.page,
        per_page: page.per_page,
        total,
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::http::resource("/audit").route(web::get().to(list)));
}
