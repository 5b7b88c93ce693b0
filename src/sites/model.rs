use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::schema::{locations, sites};
use crate::domain::stock::LocationKind;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = sites)]
pub struct Site {
    pub id: i64,
    /// Short establishment code, e.g. `FWY` for HMP Fosse Way.
    pub code: String,
    pub name: String,
    pub category: String,
    pub address: String,
    #[serde(with = "crate::domain::time::utc")]
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = locations)]
pub struct LocationRow {
    pub id: i64,
    pub site_id: i64,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub cd_cabinet: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Location {
    pub id: i64,
    pub site_id: i64,
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    pub active: bool,
    #[serde(with = "crate::domain::time::utc")]
    pub created_at: NaiveDateTime,
    /// A locked CD cabinet with its own register pages; register-tracked stock is held only here.
    pub cd_cabinet: bool,
}

impl From<LocationRow> for Location {
    fn from(r: LocationRow) -> Self {
        Location {
            id: r.id,
            site_id: r.site_id,
            kind: LocationKind::from_db(&r.kind),
            code: r.code,
            name: r.name,
            active: r.active,
            created_at: r.created_at,
            cd_cabinet: r.cd_cabinet,
        }
    }
}

fn code_chars(s: &str) -> Result<(), validator::ValidationError> {
    if s.chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(validator::ValidationError::new("charset")
            .with_message("upper-case letters, digits, '-' and '_' only".into()))
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSite {
    #[validate(length(min = 2, max = 16), custom(function = "code_chars"))]
    #[schema(min_length = 2, max_length = 16)]
    pub code: String,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub category: String,
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub address: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLocation {
    #[validate(length(min = 1, max = 32), custom(function = "code_chars"))]
    #[schema(min_length = 1, max_length = 32)]
    pub code: String,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub kind: LocationKind,
    /// Keeps its own CD register pages; defaults to true for kind `cd_cabinet`.
    pub cd_cabinet: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCdCabinet {
    pub cd_cabinet: bool,
}
