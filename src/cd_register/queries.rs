use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::model::{EntryRow, Page};
use crate::db::schema::{
    cd_balance_checks, cd_check_resolutions, cd_patient_return_destructions, cd_patient_returns,
    cd_register_entries, cd_register_pages, locations, products,
};
use crate::db::{placeholder, AnyConnection};
pub use crate::ledger::queries::{
    cabinet_page, close_page, holdings, insert_entry, legacy_open_pages, location_stock, open_page,
    page, page_for_append, pages_in_use, PageKey, MAX_BALANCE,
};

/// Movements of a page's product at its cabinet since the page opened that have no matching
/// entry on the page, and entries of the page that match no such movement.
pub fn unmatched(conn: &mut AnyConnection, page: &Page) -> QueryResult<(i64, i64)> {
    let Some(location_id) = page.location_id else {
        return Ok((0, 0));
    };
    let sql = format!(
        "SELECT \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM stock_movements m \
          WHERE m.location_id = {l1} AND m.product_id = {p1} AND m.id > {a1} \
          AND NOT EXISTS (SELECT 1 FROM cd_register_entries e WHERE e.movement_id = m.id \
              AND e.page_id = {g1} AND e.quantity = m.quantity AND e.batch_id = m.batch_id)) AS movements, \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM cd_register_entries e \
          WHERE e.page_id = {g2} AND e.movement_id IS NOT NULL \
          AND NOT EXISTS (SELECT 1 FROM stock_movements m WHERE m.id = e.movement_id \
              AND m.location_id = {l2} AND m.product_id = {p2} AND m.quantity = e.quantity \
              AND m.batch_id = e.batch_id)) AS entries",
        l1 = placeholder(conn, 1),
        p1 = placeholder(conn, 2),
        a1 = placeholder(conn, 3),
        g1 = placeholder(conn, 4),
        g2 = placeholder(conn, 5),
        l2 = placeholder(conn, 6),
        p2 = placeholder(conn, 7),
    );
    let row: Unmatched = diesel::sql_query(sql)
        .bind::<BigInt, _>(location_id)
        .bind::<BigInt, _>(page.product_id)
        .bind::<BigInt, _>(page.opened_after_movement_id)
        .bind::<BigInt, _>(page.id)
        .bind::<BigInt, _>(page.id)
        .bind::<BigInt, _>(location_id)
        .bind::<BigInt, _>(page.product_id)
        .get_result(conn)?;
    Ok((row.movements, row.entries))
}

#[derive(QueryableByName)]
struct Unmatched {
    #[diesel(sql_type = BigInt)]
    movements: i64,
    #[diesel(sql_type = BigInt)]
    entries: i64,
}

/// Every page of a product at a site (one per cabinet, and any closed site page).
pub fn pages_of_product(
    conn: &mut AnyConnection,
    site_id: i64,
    product_id: i64,
) -> QueryResult<Vec<Page>> {
    cd_register_pages::table
        .filter(cd_register_pages::site_id.eq(site_id))
        .filter(cd_register_pages::product_id.eq(product_id))
        .order(cd_register_pages::id.asc())
        .select(Page::as_select())
        .load(conn)
}

pub fn pages_of_site(conn: &mut AnyConnection, site_id: i64) -> QueryResult<Vec<Page>> {
    cd_register_pages::table
        .filter(cd_register_pages::site_id.eq(site_id))
        .order(cd_register_pages::id.asc())
        .select(Page::as_select())
        .load(conn)
}

/// (cd_schedule, the cabinet's name) shown beside a page's own heading.
pub fn page_labels(conn: &mut AnyConnection, page: &Page) -> QueryResult<(String, Option<String>)> {
    let schedule = products::table
        .find(page.product_id)
        .select(products::cd_schedule)
        .first(conn)?;
    let cabinet = match page.location_id {
        Some(id) => Some(
            locations::table
                .find(id)
                .select(locations::name)
                .first(conn)?,
        ),
        None => None,
    };
    Ok((schedule, cabinet))
}

/// Unresolved discrepancies per page of a site.
pub fn open_investigations(conn: &mut AnyConnection, site_id: i64) -> QueryResult<Vec<(i64, i64)>> {
    cd_balance_checks::table
        .left_join(
            cd_check_resolutions::table
                .on(cd_check_resolutions::check_id.eq(cd_balance_checks::id)),
        )
        .filter(cd_balance_checks::site_id.eq(site_id))
        .filter(cd_balance_checks::outcome.eq("discrepancy"))
        .filter(cd_check_resolutions::id.is_null())
        .group_by(cd_balance_checks::page_id)
        .select((cd_balance_checks::page_id, diesel::dsl::count_star()))
        .load(conn)
}

pub fn entry(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<EntryRow>> {
    cd_register_entries::table
        .find(id)
        .select(EntryRow::as_select())
        .first(conn)
        .optional()
}

pub fn entry_at_seq(
    conn: &mut AnyConnection,
    page_id: i64,
    seq: i64,
) -> QueryResult<Option<EntryRow>> {
    cd_register_entries::table
        .filter(cd_register_entries::page_id.eq(page_id))
        .filter(cd_register_entries::seq.eq(seq))
        .select(EntryRow::as_select())
        .first(conn)
        .optional()
}

/// Entries of a page after a sequence number, in order, optionally only those whose
/// transaction falls within [from, to] (days, inclusive).
pub fn entries_after(
    conn: &mut AnyConnection,
    page_id: i64,
    after_seq: i64,
    limit: i64,
) -> QueryResult<Vec<EntryRow>> {
    cd_register_entries::table
        .filter(cd_register_entries::page_id.eq(page_id))
        .filter(cd_register_entries::seq.gt(after_seq))
        .order(cd_register_entries::seq.asc())
        .limit(limit)
        .select(EntryRow::as_select())
        .load(conn)
}

/// (id, page_id, site_id, expected, counted, outcome, counted_by, witness_id, note, checked_at)
pub type CheckRow = (
    i64,
    i64,
    i64,
    i64,
    i64,
    String,
    i64,
    i64,
    Option<String>,
    NaiveDateTime,
);
/// (resolved_by, explanation, adjustment_entry_id, resolved_at)
pub type ResolutionRow = (i64, String, Option<i64>, NaiveDateTime);

pub fn checks(
    conn: &mut AnyConnection,
    site_id: i64,
    check_id: Option<i64>,
) -> QueryResult<Vec<(CheckRow, Option<ResolutionRow>)>> {
    let mut q = cd_balance_checks::table
        .left_join(
            cd_check_resolutions::table
                .on(cd_check_resolutions::check_id.eq(cd_balance_checks::id)),
        )
        .filter(cd_balance_checks::site_id.eq(site_id))
        .into_boxed();
    if let Some(id) = check_id {
        q = q.filter(cd_balance_checks::id.eq(id));
    }
    q.order(cd_balance_checks::id.asc())
        .select((
            (
                cd_balance_checks::id,
                cd_balance_checks::page_id,
                cd_balance_checks::site_id,
                cd_balance_checks::expected_quantity,
                cd_balance_checks::counted_quantity,
                cd_balance_checks::outcome,
                cd_balance_checks::counted_by,
                cd_balance_checks::witness_id,
                cd_balance_checks::note,
                cd_balance_checks::checked_at,
            ),
            (
                cd_check_resolutions::resolved_by,
                cd_check_resolutions::explanation,
                cd_check_resolutions::adjustment_entry_id,
                cd_check_resolutions::resolved_at,
            )
                .nullable(),
        ))
        .load(conn)
}

pub fn check_site(conn: &mut AnyConnection, check_id: i64) -> QueryResult<Option<i64>> {
    cd_balance_checks::table
        .find(check_id)
        .select(cd_balance_checks::site_id)
        .first(conn)
        .optional()
}

/// (id, site, patient, product, description, quantity, unit, received_by, received_at, note)
pub type ReturnRow = (
    i64,
    i64,
    String,
    Option<i64>,
    String,
    i64,
    String,
    i64,
    NaiveDateTime,
    Option<String>,
);
/// (destroyed_by, witness_id, method, note, destroyed_at)
pub type ReturnDestructionRow = (i64, i64, String, Option<String>, NaiveDateTime);

pub fn patient_returns(
    conn: &mut AnyConnection,
    site_id: i64,
    return_id: Option<i64>,
) -> QueryResult<Vec<(ReturnRow, Option<ReturnDestructionRow>)>> {
    let mut q = cd_patient_returns::table
        .left_join(cd_patient_return_destructions::table)
        .filter(cd_patient_returns::site_id.eq(site_id))
        .into_boxed();
    if let Some(id) = return_id {
        q = q.filter(cd_patient_returns::id.eq(id));
    }
    q.order(cd_patient_returns::id.asc())
        .select((
            (
                cd_patient_returns::id,
                cd_patient_returns::site_id,
                cd_patient_returns::patient_identifier,
                cd_patient_returns::product_id,
                cd_patient_returns::description,
                cd_patient_returns::quantity,
                cd_patient_returns::unit,
                cd_patient_returns::received_by,
                cd_patient_returns::received_at,
                cd_patient_returns::note,
            ),
            (
                cd_patient_return_destructions::destroyed_by,
                cd_patient_return_destructions::witness_id,
                cd_patient_return_destructions::method,
                cd_patient_return_destructions::note,
                cd_patient_return_destructions::destroyed_at,
            )
                .nullable(),
        ))
        .load(conn)
}

pub fn patient_return_site(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<i64>> {
    cd_patient_returns::table
        .find(id)
        .select(cd_patient_returns::site_id)
        .first(conn)
        .optional()
}

pub fn product_exists(conn: &mut AnyConnection, product_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(products::table.find(product_id))).get_result(conn)
}

/// (location, product, stock) of register-tracked stock at a site that no page records.
pub fn unrecorded_stock(
    conn: &mut AnyConnection,
    site_id: i64,
) -> QueryResult<Vec<(i64, i64, i64)>> {
    let sql = format!(
        "SELECT b.location_id AS location_id, b.product_id AS product_id, \
         CAST(SUM(b.quantity) AS BIGINT) AS held \
         FROM stock_balances b JOIN products p ON p.id = b.product_id \
         WHERE b.site_id = {} AND p.cd_register \
         AND NOT EXISTS (SELECT 1 FROM cd_register_pages g \
             WHERE g.location_id = b.location_id AND g.product_id = b.product_id) \
         GROUP BY b.location_id, b.product_id HAVING SUM(b.quantity) > 0 \
         ORDER BY b.location_id, b.product_id",
        placeholder(conn, 1)
    );
    let rows: Vec<Unrecorded> = diesel::sql_query(sql)
        .bind::<BigInt, _>(site_id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.location_id, r.product_id, r.held))
        .collect())
}

#[derive(QueryableByName)]
struct Unrecorded {
    #[diesel(sql_type = BigInt)]
    location_id: i64,
    #[diesel(sql_type = BigInt)]
    product_id: i64,
    #[diesel(sql_type = BigInt)]
    held: i64,
}
