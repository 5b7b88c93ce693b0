use diesel::prelude::*;

use super::model::{AuditEvent, AuditFilter};
use crate::db::schema::audit_events;
use crate::db::AnyConnection;
use crate::http::PageRequest;

/// Events matching the filter among the given sites (events with no site, such as formulary
/// and account changes, are included for the auditor and admin roles that may read the log).
fn filtered<'a>(
    filter: &AuditFilter,
    visible_sites: &[i64],
) -> audit_events::BoxedQuery<'a, crate::db::AnyBackend> {
    let mut q = audit_events::table.into_boxed();
    q = match filter.site_id {
        Some(site) => q.filter(audit_events::site_id.eq(site)),
        None => q.filter(
            audit_events::site_id
                .eq_any(visible_sites.to_vec())
                .or(audit_events::site_id.is_null()),
        ),
    };
    if let Some(user) = filter.user_id {
        q = q.filter(audit_events::user_id.eq(user));
    }
    if let Some(entity) = &filter.entity {
        q = q.filter(audit_events::entity.eq(entity.clone()));
    }
    if let Some(entity_id) = &filter.entity_id {
        q = q.filter(audit_events::entity_id.eq(entity_id.clone()));
    }
    if let Some(from) = filter.from {
        q = q.filter(audit_events::occurred_at.ge(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(audit_events::occurred_at.lt(to));
    }
    q
}

/// The next events after an id, for a streamed export.
pub fn after(
    conn: &mut AnyConnection,
    filter: &AuditFilter,
    visible_sites: &[i64],
    after_id: i64,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    filtered(filter, visible_sites)
        .filter(audit_events::id.gt(after_id))
        .order(audit_events::id.asc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)
}

pub fn list(
    conn: &mut AnyConnection,
    filter: &AuditFilter,
    visible_sites: &[i64],
    page: PageRequest,
) -> QueryResult<(Vec<AuditEvent>, i64)> {
    let build = || filtered(filter, visible_sites);
    let total = build().count().get_result(conn)?;
    let items = build()
        .order(audit_events::id.asc())
        .limit(page.per_page)
        .offset(page.offset())
        .select(AuditEvent::as_select())
        .load(conn)?;
    Ok((items, total))
}
