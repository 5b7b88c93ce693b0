use diesel::prelude::*;

use super::model::UserRow;
use crate::db::schema::{user_sites, users};
use crate::db::AnyConnection;

pub use crate::auth::accounts::{by_id, by_username, sites_of};

/// Users who hold at least one of the given sites.
pub fn at_sites(conn: &mut AnyConnection, site_ids: &[i64]) -> QueryResult<Vec<UserRow>> {
    let ids = user_sites::table
        .filter(user_sites::site_id.eq_any(site_ids.to_vec()))
        .select(user_sites::user_id);
    users::table
        .filter(users::id.eq_any(ids))
        .order(users::username.asc())
        .select(UserRow::as_select())
        .load(conn)
}

pub fn insert(
    conn: &mut AnyConnection,
    username: &str,
    display_name: &str,
    role: &str,
    password_hash: &str,
    authorised_witness: bool,
) -> QueryResult<i64> {
    let now = crate::db::now();
    diesel::insert_into(users::table)
        .values((
            users::username.eq(username),
            users::display_name.eq(display_name),
            users::role.eq(role),
            users::password_hash.eq(password_hash),
            users::enabled.eq(true),
            users::authorised_witness.eq(authorised_witness),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .returning(users::id)
        .get_result(conn)
}

pub fn replace_sites(conn: &mut AnyConnection, user_id: i64, site_ids: &[i64]) -> QueryResult<()> {
    diesel::delete(user_sites::table.filter(user_sites::user_id.eq(user_id))).execute(conn)?;
    for site in site_ids {
        diesel::insert_into(user_sites::table)
            .values((
                user_sites::user_id.eq(user_id),
                user_sites::site_id.eq(site),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn set_flags(
    conn: &mut AnyConnection,
    user_id: i64,
    enabled: Option<bool>,
    witness: Option<bool>,
) -> QueryResult<()> {
    let now = crate::db::now();
    if let Some(enabled) = enabled {
        diesel::update(users::table.find(user_id))
            .set((users::enabled.eq(enabled), users::updated_at.eq(now)))
            .execute(conn)?;
    }
    if let Some(witness) = witness {
        diesel::update(users::table.find(user_id))
            .set((
                users::authorised_witness.eq(witness),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}
