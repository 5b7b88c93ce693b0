//! The audit log: who did what, where, to which record, under which request.

pub mod model;
pub mod queries;

use diesel::prelude::*;

use crate::db::schema::audit_events;
use crate::db::{now, AnyConnection};
use crate::error::AppError;

/// The person and request behind a write, threaded through every service call.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: i64,
    pub request_id: String,
}

/// Appends one audit event in the caller's transaction, so the write and its record
/// commit or roll back together.
pub fn record(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: Option<i64>,
    action: &str,
    entity: &str,
    entity_id: impl ToString,
    detail: Option<serde_json::Value>,
) -> Result<(), AppError> {
    insert(
        conn,
        Some(actor.user_id),
        &actor.request_id,
        site_id,
        action,
        entity,
        &entity_id.to_string(),
        detail,
    )
}

/// An event to be recorded with others of the same request in one statement.
#[derive(Debug, Clone)]
pub struct Event {
    pub site_id: Option<i64>,
    pub action: String,
    pub entity: &'static str,
    pub entity_id: i64,
    pub detail: Option<serde_json::Value>,
}

/// Appends several events of one actor in the caller's transaction, in one statement.
pub fn record_all(
    conn: &mut AnyConnection,
    actor: &Actor,
    events: &[Event],
) -> Result<(), AppError> {
    if events.is_empty() {
        return Ok(());
    }
    let at = now();
    let rows: Vec<_> = events
        .iter()
        .map(|e| {
            (
                audit_events::occurred_at.eq(at),
                audit_events::user_id.eq(Some(actor.user_id)),
                audit_events::site_id.eq(e.site_id),
                audit_events::action.eq(&e.action),
                audit_events::entity.eq(e.entity),
                audit_events::entity_id.eq(e.entity_id.to_string()),
                audit_events::request_id.eq(&actor.request_id),
                audit_events::detail.eq(e.detail.as_ref().map(|d| d.to_string())),
            )
        })
        .collect();
    match conn {
        AnyConnection::Postgresql(c) => {
            diesel::insert_into(audit_events::table)
                .values(&rows)
                .execute(c)?;
        }
        // SQLite runs in process: a statement per row costs no round trip.
        AnyConnection::Sqlite(c) => {
            for row in rows {
                diesel::insert_into(audit_events::table)
                    .values(row)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// An event done by the service itself (loading demo data, migrations), with no user behind it.
pub fn record_system(
    conn: &mut AnyConnection,
    request_id: &str,
    site_id: Option<i64>,
    action: &str,
    entity: &str,
    entity_id: impl ToString,
) -> Result<(), AppError> {
    insert(
        conn,
        None,
        request_id,
        site_id,
        action,
        entity,
        &entity_id.to_string(),
        None,
    )
}

/// A refusal worth an auditor's eye: a failed or throttled sign-in, a locked account, a refused
/// witness, a refused request. It names who (if anyone signed in), the account concerned, the
/// client address and the route pattern; never a password or a token.
#[derive(Debug, Clone)]
pub struct SecurityEvent<'a> {
    pub action: &'a str,
    pub request_id: &'a str,
    /// The signed-in user whose request was refused.
    pub user_id: Option<i64>,
    pub site_id: Option<i64>,
    /// The account the event concerns (the one signing in, the witness named).
    pub account_id: Option<i64>,
    pub client: &'a str,
    pub route: &'a str,
    pub detail: serde_json::Value,
}

pub fn record_security(conn: &mut AnyConnection, e: &SecurityEvent) -> Result<(), AppError> {
    let mut detail = serde_json::json!({"client": e.client, "route": e.route});
    if let (Some(out), serde_json::Value::Object(extra)) = (detail.as_object_mut(), &e.detail) {
        out.extend(extra.clone());
    }
    // An event about an account is filed under it, so its prisons' auditors see it; one that
    // names no account (an unknown username, a missing token) under the client address.
    let (entity, entity_id) = match (e.account_id, e.user_id) {
        (Some(id), _) | (None, Some(id)) => ("user", id.to_string()),
        (None, None) => ("client", e.client.to_string()),
    };
    insert(
        conn,
        e.user_id,
        e.request_id,
        e.site_id,
        e.action,
        entity,
        &entity_id,
        Some(detail),
    )
}

#[allow(clippy::too_many_arguments)]
fn insert(
    conn: &mut AnyConnection,
    user_id: Option<i64>,
    request_id: &str,
    site_id: Option<i64>,
    action: &str,
    entity: &str,
    entity_id: &str,
    detail: Option<serde_json::Value>,
) -> Result<(), AppError> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::occurred_at.eq(now()),
            audit_events::user_id.eq(user_id),
            audit_events::site_id.eq(site_id),
            audit_events::action.eq(action),
            audit_events::entity.eq(entity),
            audit_events::entity_id.eq(entity_id),
            audit_events::request_id.eq(request_id),
            audit_events::detail.eq(detail.map(|d| d.to_string())),
        ))
        .execute(conn)?;
    Ok(())
}
