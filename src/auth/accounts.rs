//! The accounts that sign in and witness: looked up here so that signing in depends on no
//! capability's code; user management builds on the same rows.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{sites, user_sites, users};
use crate::db::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
    pub enabled: bool,
    pub authorised_witness: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SiteRef {
    pub id: i64,
    pub code: String,
    pub name: String,
}

pub fn by_username(conn: &mut AnyConnection, username: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn by_id(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<UserRow>> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// An account and the sites it is granted, in one round trip: read on every request.
pub fn with_sites(
    conn: &mut AnyConnection,
    id: i64,
) -> QueryResult<Option<(UserRow, Vec<SiteRef>)>> {
    let rows = users::table
        .left_join(user_sites::table.left_join(sites::table))
        .filter(users::id.eq(id))
        .order(sites::name.asc())
        .select((
            UserRow::as_select(),
            (sites::id, sites::code, sites::name).nullable(),
        ))
        .load::<(UserRow, Option<(i64, String, String)>)>(conn)?;
    let mut rows = rows.into_iter().peekable();
    let Some((row, _)) = rows.peek().cloned() else {
        return Ok(None);
    };
    let sites = rows
        .filter_map(|(_, site)| site)
        .map(|(id, code, name)| SiteRef { id, code, name })
        .collect();
    Ok(Some((row, sites)))
}

pub fn sites_of(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<SiteRef>> {
    user_sites::table
        .inner_join(sites::table)
        .filter(user_sites::user_id.eq(user_id))
        .order(sites::name.asc())
        .select((sites::id, sites::code, sites::name))
        .load::<(i64, String, String)>(conn)
        .map(|rows| {
            rows.into_iter()
                .map(|(id, code, name)| SiteRef { id, code, name })
                .collect()
        })
}
