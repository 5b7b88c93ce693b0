use std::collections::BTreeSet;

use diesel::prelude::*;

use super::model::{CreateUser, UpdateUser, UserRow, UserView};
use super::queries;
use crate::audit::{self, Actor};
use crate::auth::{password, throttle};
use crate::db::schema::sites;
use crate::db::{conflict_on_duplicate, AnyConnection};
use crate::error::AppError;

pub fn view(conn: &mut AnyConnection, user_id: i64) -> Result<UserView, AppError> {
    let row = queries::by_id(conn, user_id)?.ok_or_else(|| AppError::not_found("user"))?;
    view_of(conn, row)
}

pub fn view_of(conn: &mut AnyConnection, row: UserRow) -> Result<UserView, AppError> {
    let sites = queries::sites_of(conn, row.id)?;
    let locked = throttle::account_locked_until(conn, row.id)?;
    Ok(UserView::new(row, sites, locked))
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

/// Changes an account. An admin's `site_ids` speak only for the prisons the admin holds: the
/// user's memberships of other prisons are kept as they are.
pub fn update(
    conn: &mut AnyConnection,
    actor: &Actor,
    admin_sites: &[i64],
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
    let mut sites_after = None;
    if let Some(site_ids) = &req.site_ids {
        if let Some(outside) = site_ids.iter().find(|s| !admin_sites.contains(s)) {
            return Err(AppError::invalid(
                "site_ids",
                "your_sites",
                format!("site {outside} is not one of your prisons"),
            ));
        }
        let mut sites = check_sites_exist(conn, site_ids)?;
        let kept = queries::sites_of(conn, user_id)?
            .into_iter()
            .map(|s| s.id)
            .filter(|s| !admin_sites.contains(s));
        sites.extend(kept);
        sites.sort_unstable();
        if sites.is_empty() {
            return Err(AppError::invalid(
                "site_ids",
                "at_least_one",
                "the user would hold no prison; disable the account instead",
            ));
        }
        queries::replace_sites(conn, user_id, &sites)?;
        sites_after = Some(sites);
    }
    audit::record(
        conn,
        actor,
        None,
        "user.update",
        "user",
        user_id,
        Some(
            serde_json::json!({"enabled": req.enabled, "authorised_witness": req.authorised_witness, "site_ids": sites_after}),
        ),
    )?;
    view(conn, user_id)
}

pub fn hash_new_password(username: &str, pw: &str) -> Result<String, AppError> {
    password::check_policy(username, pw)?;
    password::hash(pw)
}
