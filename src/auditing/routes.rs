use actix_web::{web, HttpResponse};

use crate::audit::model::{AuditEventPage, AuditFilter};
use crate::audit::queries;
use crate::auth::permissions::Action;
use crate::auth::AuthUser;
use crate::db::AnyConnection;
use crate::error::{AppError, Problem};
use crate::http::{download, ChunkSource, PageQuery, ValidQuery};
use crate::AppState;

fn check_filter(user: &AuthUser, filter: &AuditFilter) -> Result<(), AppError> {
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
    Ok(())
}

/// List audit events of your sites, oldest first, filtered and paginated.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditFilter, PageQuery),
    responses((status = 200, body = AuditEventPage), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("audit.read"))))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    paging: PageQuery,
    ValidQuery(filter): ValidQuery<AuditFilter>,
) -> Result<HttpResponse, AppError> {
    check_filter(&user, &filter)?;
    let page = paging.request();
    let sites = user.site_ids.clone();
    let (items, total) = state
        .db
        .read(move |c| {
            let visible = queries::Visible::of(c, &sites)?;
            Ok(queries::list(c, &filter, &visible, page)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(AuditEventPage {
        items,
        page: page.page,
        per_page: page.per_page,
        total,
    }))
}

/// The audit log as CSV (RFC 4180, header row), with the same filters as the list; streamed
/// with constant memory: every matching event is exported.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(AuditFilter),
    responses((status = 200, description = "The audit log as CSV", content((String = "text/csv"))), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])),
    extensions(("x-access" = json!("audit.read"))))]
pub async fn export(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidQuery(filter): ValidQuery<AuditFilter>,
) -> Result<HttpResponse, AppError> {
    check_filter(&user, &filter)?;
    let name = format!("audit-log-{}.csv", crate::db::now().date());
    let source = AuditExport {
        filter,
        sites: user.site_ids.clone(),
        after_id: 0,
        header_written: false,
        done: false,
    };
    Ok(download(
        state.db.for_reports(),
        source,
        "text/csv; charset=utf-8",
        &name,
    ))
}

struct AuditExport {
    filter: AuditFilter,
    sites: Vec<i64>,
    after_id: i64,
    header_written: bool,
    done: bool,
}

const AUDIT_ROWS_PER_CHUNK: i64 = 2_000;

impl ChunkSource for AuditExport {
    fn next_chunk(&mut self, conn: &mut AnyConnection) -> Result<Option<Vec<u8>>, AppError> {
        if self.done {
            return Ok(None);
        }
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::with_capacity(64 * 1024));
        let csv_error = |e: csv::Error| AppError::internal(format!("csv: {e}"));
        if !self.header_written {
            w.write_record([
                "id",
                "occurred_at",
                "user_id",
                "site_id",
                "action",
                "entity",
                "entity_id",
                "request_id",
                "detail",
            ])
            .map_err(csv_error)?;
            self.header_written = true;
        }
        let visible = queries::Visible::of(conn, &self.sites)?;
        let rows = queries::after(
            conn,
            &self.filter,
            &visible,
            self.after_id,
            AUDIT_ROWS_PER_CHUNK,
        )?;
        self.done = (rows.len() as i64) < AUDIT_ROWS_PER_CHUNK;
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        for e in rows {
            self.after_id = e.id;
            w.write_record([
                e.id.to_string(),
                crate::domain::time::rfc3339(e.occurred_at),
                opt(e.user_id),
                opt(e.site_id),
                e.action,
                e.entity,
                e.entity_id,
                e.request_id,
                e.detail.unwrap_or_default(),
            ])
            .map_err(csv_error)?;
        }
        w.into_inner()
            .map(Some)
            .map_err(|e| AppError::internal(e.to_string()))
    }
}

/// The routes of this module, in the order the router tries them.
pub fn routes() -> Vec<crate::api::Route> {
    vec![crate::route!(list), crate::route!(export)]
}
