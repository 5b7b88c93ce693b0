use diesel::prelude::*;

use super::model::{AuditEvent, AuditFilter};
use crate::db::schema::{audit_events, user_sites};
use crate::db::AnyConnection;
use crate::http::PageRequest;

/// Entities every prison shares, whose events (carrying no site) every auditor may see.
const SHARED_REFERENCE: [&str; 2] = ["product", "supplier"];

/// Who may be seen in the log of some prisons: the users holding any of them.
pub struct Visible {
    sites: Vec<i64>,
    users: Vec<i64>,
}

impl Visible {
    pub fn of(conn: &mut AnyConnection, sites: &[i64]) -> QueryResult<Visible> {
        let users = user_sites::table
            .filter(user_sites::site_id.eq_any(sites.to_vec()))
            .select(user_sites::user_id)
            .distinct()
            .load(conn)?;
        Ok(Visible {
            sites: sites.to_vec(),
            users,
        })
    }
}

/// Events matching the filter that the reader's prisons may see: those of their sites, and of
/// the events with no site (sign-ins, accounts, batches, reference data) those done by or
/// concerning their users, and those of the shared formulary and suppliers.
fn filtered<'a>(
    filter: &AuditFilter,
    visible: &Visible,
) -> audit_events::BoxedQuery<'a, crate::db::AnyBackend> {
    let mut q = audit_events::table.into_boxed();
    let user_ids: Vec<String> = visible.users.iter().map(|u| u.to_string()).collect();
    let siteless = audit_events::site_id.is_null().and(
        audit_events::user_id
            .eq_any(visible.users.clone())
            .or(audit_events::entity
                .eq("user")
                .and(audit_events::entity_id.eq_any(user_ids)))
            .or(audit_events::entity.eq_any(SHARED_REFERENCE)),
    );
    q = match filter.site_id {
        Some(site) => q.filter(audit_events::site_id.eq(site)),
        None => q.filter(
            audit_events::site_id
                .eq_any(visible.sites.clone())
                .or(siteless),
        ),
    };
    if let Some(action) = &filter.action {
        q = match action.strip_suffix('*') {
            Some(prefix) => q.filter(
                audit_events::action
                    .like(format!(
                        "{}%",
                        prefix
                            .replace('\\', "\\\\")
                            .replace('%', "\\%")
                            .replace('_', "\\_")
                    ))
                    .escape('\\'),
            ),
            None => q.filter(audit_events::action.eq(action.clone())),
        };
    }
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
    visible: &Visible,
    after_id: i64,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    filtered(filter, visible)
        .filter(audit_events::id.gt(after_id))
        .order(audit_events::id.asc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)
}

pub fn list(
    conn: &mut AnyConnection,
    filter: &AuditFilter,
    visible: &Visible,
    page: PageRequest,
) -> QueryResult<(Vec<AuditEvent>, i64)> {
    let build = || filtered(filter, visible);
    let total = build().count().get_result(conn)?;
    let items = build()
        .order(audit_events::id.asc())
        .limit(page.per_page)
        .offset(page.offset())
        .select(AuditEvent::as_select())
        .load(conn)?;
    Ok((items, total))
}
