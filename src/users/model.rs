use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::domain::Role;

pub use crate::auth::accounts::{SiteRef, UserRow};

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub enabled: bool,
    /// Appointed by the CD Accountable Officer to witness destruction of controlled drugs.
    pub authorised_witness: bool,
    pub sites: Vec<SiteRef>,
    #[serde(with = "crate::domain::time::utc")]
    pub created_at: NaiveDateTime,
    /// Set while the account is locked after repeated failed sign-ins from anywhere: a sign
    /// that someone is guessing its password. Unlocks by itself at this time.
    #[serde(with = "crate::domain::time::utc_opt")]
    pub sign_in_locked_until: Option<NaiveDateTime>,
}

impl UserView {
    pub fn new(
        row: UserRow,
        sites: Vec<SiteRef>,
        sign_in_locked_until: Option<NaiveDateTime>,
    ) -> Self {
        UserView {
            id: row.id,
            role: Role::from_db(&row.role),
            username: row.username,
            display_name: row.display_name,
            enabled: row.enabled,
            authorised_witness: row.authorised_witness,
            sites,
            created_at: row.created_at,
            sign_in_locked_until,
        }
    }
}

fn username_chars(s: &str) -> Result<(), validator::ValidationError> {
    if s.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_' || c == '-')
    {
        Ok(())
    } else {
        Err(validator::ValidationError::new("charset")
            .with_message("lower-case letters, digits, '.', '_' and '-' only".into()))
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[validate(length(min = 3, max = 64), custom(function = "username_chars"))]
    #[schema(min_length = 3, max_length = 64)]
    pub username: String,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: String,
    pub role: Role,
    /// 12 to 128 characters, not containing the username.
    pub password: String,
    /// Sites the user may act at; each must be one of yours.
    #[validate(length(min = 1, max = 50))]
    #[schema(min_items = 1, max_items = 50)]
    pub site_ids: Vec<i64>,
    #[serde(default)]
    pub authorised_witness: bool,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub enabled: Option<bool>,
    pub authorised_witness: Option<bool>,
    /// The user's prisons among yours; their other prisons are kept. Empty takes them off
    /// all of yours, as long as they keep another.
    #[validate(length(max = 50))]
    #[schema(max_items = 50)]
    pub site_ids: Option<Vec<i64>>,
}
