use super::model::{CreateLocation, CreateSite, Location, LocationRow, Site};
use super::queries;
use crate::audit::{self, Actor};
use crate::db::{conflict_on_duplicate, AnyConnection};
use crate::error::AppError;
use crate::users::queries as users;

/// Creates a prison and grants it to the admin who created it, so they can set it up.
pub fn create_site(
    conn: &mut AnyConnection,
    actor: &Actor,
    req: &CreateSite,
) -> Result<Site, AppError> {
    let id = queries::insert(conn, &req.code, &req.name, &req.category, &req.address).map_err(
        conflict_on_duplicate("site_code_taken", "a site with this code already exists"),
    )?;
    let mut granted: Vec<i64> = users::sites_of(conn, actor.user_id)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    granted.push(id);
    users::replace_sites(conn, actor.user_id, &granted)?;
    audit::record(
        conn,
        actor,
        Some(id),
        "site.create",
        "site",
        id,
        Some(serde_json::json!({"code": req.code})),
    )?;
    queries::by_id(conn, id)?.ok_or_else(|| AppError::internal("site vanished after insert"))
}

pub fn create_location(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &CreateLocation,
) -> Result<Location, AppError> {
    let cd_cabinet = req
        .cd_cabinet
        .unwrap_or(req.kind == crate::domain::stock::LocationKind::CdCabinet);
    let id = queries::insert_location(
        conn,
        site_id,
        &req.code,
        &req.name,
        req.kind.as_str(),
        cd_cabinet,
    )
    .map_err(conflict_on_duplicate(
        "location_code_taken",
        "this site already has a location with this code",
    ))?;
    audit::record(
        conn,
        actor,
        Some(site_id),
        "location.create",
        "location",
        id,
        Some(serde_json::json!({"code": req.code, "kind": req.kind, "cd_cabinet": cd_cabinet})),
    )?;
    let row = queries::location(conn, id)?
        .ok_or_else(|| AppError::internal("location vanished after insert"))?;
    Ok(row.into())
}

/// A location that must exist; the caller checks its site against the user's.
pub fn location(conn: &mut AnyConnection, id: i64) -> Result<LocationRow, AppError> {
    queries::location(conn, id)?.ok_or_else(|| AppError::not_found("location"))
}

/// A location becomes a CD cabinet unless it is an emergency kit, or stops being one while no
/// register page there holds entries or stock: its record would otherwise lose its cabinet.
pub fn set_cd_cabinet(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    location_id: i64,
    cd_cabinet: bool,
) -> Result<Location, AppError> {
    queries::lock_location(conn, location_id)?;
    let current = location(conn, location_id)?;
    if current.site_id != site_id {
        return Err(AppError::not_found("location"));
    }
    if !cd_cabinet
        && current.cd_cabinet
        && crate::ledger::queries::pages_in_use(conn, None, Some(location_id))? > 0
    {
        return Err(AppError::conflict(
            "cd_register_in_use",
            "register pages of this cabinet hold entries or stock; it stays a CD cabinet",
        ));
    }
    if cd_cabinet && !current.cd_cabinet && queries::is_emergency_kit(conn, location_id)? {
        return Err(AppError::conflict(
            "emergency_kit",
            "this location is an emergency kit, opened and restocked outside the register; a CD cabinet is a location of its own",
        ));
    }
    queries::set_cd_cabinet(conn, location_id, cd_cabinet)?;
    audit::record(
        conn,
        actor,
        Some(site_id),
        "location.cd_cabinet",
        "location",
        location_id,
        Some(serde_json::json!({"cd_cabinet": cd_cabinet})),
    )?;
    Ok(location(conn, location_id)?.into())
}
