use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::db::schema::audit_events;

#[derive(Debug, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub occurred_at: NaiveDateTime,
    pub user_id: Option<i64>,
    pub site_id: Option<i64>,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub request_id: String,
    pub detail: Option<String>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only events of this site (must be one of yours).
    pub site_id: Option<i64>,
    pub user_id: Option<i64>,
    /// An action (`auth.sign_in_failed`), or a prefix ending in `*`: `auth.*` for sign-in and
    /// witness events, `access.*` for refused requests.
    #[validate(length(min = 1, max = 64))]
    #[param(min_length = 1, max_length = 64)]
    pub action: Option<String>,
    /// Entity type, e.g. `stock_movement`, `user`.
    #[validate(length(min = 1, max = 64))]
    #[param(min_length = 1, max_length = 64)]
    pub entity: Option<String>,
    #[validate(length(min = 1, max = 64))]
    #[param(min_length = 1, max_length = 64)]
    pub entity_id: Option<String>,
    /// Inclusive lower bound, UTC, e.g. `2026-11-21T00:00:00`.
    #[serde(default, with = "crate::domain::time::utc_opt")]
    pub from: Option<NaiveDateTime>,
    /// Exclusive upper bound, UTC.
    #[serde(default, with = "crate::domain::time::utc_opt")]
    pub to: Option<NaiveDateTime>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventPage {
    pub items: Vec<AuditEvent>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}
