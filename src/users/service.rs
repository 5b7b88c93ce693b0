use std::collections::BTreeSet;

use diesel::prelude::*;

use super::model::{CreateUser, UpdateUser, UserView};
use super::queries;
use crate::audit::{self, Actor};
use crate::auth::password;
use crate::db::schema::sites;
use crate::db::{conflict_on_duplicate, AnyConnection};
use crate::error::AppError;

pub fn view(conn: &mut AnyConnection, user_id: i64) -> Result<UserView, AppError> {
    let row = queries::by_id(conn, user_id)?.ok_or_else(|| AppError::not_found("user"))?;
    let sites = queries::sites_of(conn, user_id)?;
    Ok(UserView::new(row, sites))
}

fn check_sites_exist(conn: &mut AnyConnection, site_ids: &[i64]) -> Result<Vec<i64>, AppError> {
    let unique: BTreeSet<i64> = site_ids.iter().copied().collect();
    let found: i64 = sites::table
        .filter(sites::id.eq_any(unique.iter().copied().collect::<Vec<_>>()))
        .count()
        .get_result(conn)?;
    if found != unique.len() as i64 {
        return Err(AppError::invalid(
            "site_ids",
            "exists",
            "every site must exist",
        ));
    }
    Ok(unique.into_iter().collect())
}

/// Creates an account; the password hash is computed by the caller outside the transaction.
pub fn create(
    conn: &mut AnyConnection,
    actor: &Actor,
    req: &CreateUser,
    password_hash: &str,
) -> Result<UserView, AppError> {
    let sites = check_sites_exist(conn, &req.site_ids)?;
    let id = queries::insert(
        conn,
        &req.username,
        &req.display_name,
        req.role.as_str(),
        password_hash,
        req.authorised_witness,
    )
    .map_err(conflict_on_duplicate(
        "username_taken",
        "a user with this username already exists",
    ))?;
    queries::replace_sites(conn, id, &sites)?;
    audit::record(
        conn,
        actor,
        None,
        "user.create",
        "user",
        id,
        Some(
            serde_json::json!({"role": req.role, "site_ids": sites, "authorised_witness": req.authorised_witness}),
        ),
    )?;
    view(conn, id)
}

pub fn update(
    conn: &mut AnyConnection,
    actor: &Actor,
    user_id: i64,
    req: &UpdateUser,
) -> Result<UserView, AppError> {
    queries::by_id(conn, user_id)?.ok_or_else(|| AppError::not_found("user"))?;
    if user_id == actor.user_id && req.enabled == Some(false) {
        return Err(AppError::invalid(
            "enabled",
            "self",
            "you cannot disable your own account",
        ));
    }
    queries::set_flags(conn, user_id, req.enabled, req.authorised_witness)?;
    if let Some(site_ids) = &req.site_ids {
        let sites = check_sites_exist(conn, site_ids)?;
        queries::replace_sites(conn, user_id, &sites)?;
    }
    audit::record(
        conn,
        actor,
        None,
        "user.update",
        "user",
        user_id,
        Some(
            serde_json::json!({"enabled": req.enabled, "authorised_witness": req.authorised_witness, "site_ids": req.site_ids}),
        ),
    )?;
    view(conn, user_id)
}

pub fn hash_new_password(username: &str, pw: &str) -> Result<String, AppError> {
    password::check_policy(username, pw)?;
    password::hash(pw)
}
