use diesel::prelude::*;

use super::model::{LocationRow, Site};
use crate::db::schema::{locations, sites};
use crate::db::AnyConnection;

pub fn list(conn: &mut AnyConnection, ids: &[i64]) -> QueryResult<Vec<Site>> {
    sites::table
        .filter(sites::id.eq_any(ids.to_vec()))
        .order(sites::name.asc())
        .select(Site::as_select())
        .load(conn)
}

pub fn all(conn: &mut AnyConnection) -> QueryResult<Vec<Site>> {
    sites::table
        .order(sites::code.asc())
        .select(Site::as_select())
        .load(conn)
}

pub fn by_id(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<Site>> {
    sites::table
        .find(id)
        .select(Site::as_select())
        .first(conn)
        .optional()
}

pub fn by_code(conn: &mut AnyConnection, code: &str) -> QueryResult<Option<Site>> {
    sites::table
        .filter(sites::code.eq(code))
        .select(Site::as_select())
        .first(conn)
        .optional()
}

pub fn insert(
    conn: &mut AnyConnection,
    code: &str,
    name: &str,
    category: &str,
    address: &str,
) -> QueryResult<i64> {
    diesel::insert_into(sites::table)
        .values((
            sites::code.eq(code),
            sites::name.eq(name),
            sites::category.eq(category),
            sites::address.eq(address),
            sites::created_at.eq(crate::db::now()),
        ))
        .returning(sites::id)
        .get_result(conn)
}

pub fn locations_of(conn: &mut AnyConnection, site_id: i64) -> QueryResult<Vec<LocationRow>> {
    locations::table
        .filter(locations::site_id.eq(site_id))
        .order(locations::code.asc())
        .select(LocationRow::as_select())
        .load(conn)
}

pub fn location(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<LocationRow>> {
    locations::table
        .find(id)
        .select(LocationRow::as_select())
        .first(conn)
        .optional()
}

pub fn location_by_code(
    conn: &mut AnyConnection,
    site_id: i64,
    code: &str,
) -> QueryResult<Option<LocationRow>> {
    locations::table
        .filter(locations::site_id.eq(site_id))
        .filter(locations::code.eq(code))
        .select(LocationRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert_location(
    conn: &mut AnyConnection,
    site_id: i64,
    code: &str,
    name: &str,
    kind: &str,
    cd_cabinet: bool,
) -> QueryResult<i64> {
    diesel::insert_into(locations::table)
        .values((
            locations::site_id.eq(site_id),
            locations::code.eq(code),
            locations::name.eq(name),
            locations::kind.eq(kind),
            locations::active.eq(true),
            locations::cd_cabinet.eq(cd_cabinet),
            locations::created_at.eq(crate::db::now()),
        ))
        .returning(locations::id)
        .get_result(conn)
}

/// Holds a location's row until the transaction ends, so that two changes to what the location
/// is (a CD cabinet, an emergency kit) cannot both pass their checks. SQLite's writers already
/// go one at a time.
pub fn lock_location(conn: &mut AnyConnection, id: i64) -> QueryResult<()> {
    if let AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT id FROM locations WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::BigInt, _>(id)
            .execute(pg)?;
    }
    Ok(())
}

/// Whether a location is an emergency kit.
pub fn is_emergency_kit(conn: &mut AnyConnection, id: i64) -> QueryResult<bool> {
    use crate::db::schema::emergency_kits;
    let kits: i64 = emergency_kits::table
        .filter(emergency_kits::location_id.eq(id))
        .count()
        .get_result(conn)?;
    Ok(kits > 0)
}

pub fn set_cd_cabinet(conn: &mut AnyConnection, id: i64, cd_cabinet: bool) -> QueryResult<()> {
    diesel::update(locations::table.find(id))
        .set(locations::cd_cabinet.eq(cd_cabinet))
        .execute(conn)?;
    Ok(())
}
