use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::model::{EntryRow, Page, CABINET_CHAIN};
use crate::db::schema::{
    cd_balance_checks, cd_check_resolutions, cd_patient_return_destructions, cd_patient_returns,
    cd_register_entries, cd_register_pages, locations, products, stock_balances,
};
use crate::db::{placeholder, AnyConnection};
use crate::domain::register::GENESIS_HASH;

/// The most a page or a batch's balance may hold, in thousandths: far beyond any real stock,
/// and small enough that sums of many balances stay inside `i64` on both backends.
pub const MAX_BALANCE: i64 = crate::domain::decimal::MAX_WHOLE_UNITS * 1000;

/// Opens the page of a cabinet and product if it is not open yet, with the product's heading as
/// it is now; true when this call opened it.
pub fn open_page(
    conn: &mut AnyConnection,
    site_id: i64,
    location_id: i64,
    product_id: i64,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let sql = format!(
        "INSERT INTO cd_register_pages (site_id, product_id, location_id, drug, strength, form, unit, \
         chain_version, entry_count, balance, head_hash, opened_at, opened_after_movement_id) \
         SELECT {}, p.id, {}, p.name, p.strength, p.form, p.unit, {CABINET_CHAIN}, 0, 0, '{GENESIS_HASH}', {}, \
         COALESCE((SELECT MAX(id) FROM stock_movements), 0) FROM products p WHERE p.id = {} \
         ON CONFLICT (location_id, product_id) DO NOTHING",
        placeholder(conn, 1),
        placeholder(conn, 2),
        placeholder(conn, 3),
        placeholder(conn, 4),
    );
    let inserted = diesel::sql_query(sql)
        .bind::<BigInt, _>(site_id)
        .bind::<BigInt, _>(location_id)
        .bind::<Timestamp, _>(at)
        .bind::<BigInt, _>(product_id)
        .execute(conn)?;
    Ok(inserted == 1)
}

/// What claiming the next entry of a page returns: (page id, seq, balance after, previous head
/// hash, the page's heading).
pub type Claimed = (i64, i64, i64, String, Page);

/// Claims the next sequence number of an open page and moves its balance in one guarded
/// statement, which also locks the page row until the transaction ends. None when the balance
/// would leave [0, MAX_BALANCE] or the page is closed.
pub fn claim_next(
    conn: &mut AnyConnection,
    page_id: i64,
    quantity: i64,
) -> QueryResult<Option<Claimed>> {
    let claimed: Option<(i64, i64, String)> = diesel::update(
        cd_register_pages::table
            .filter(cd_register_pages::id.eq(page_id))
            .filter(cd_register_pages::closed_at.is_null())
            .filter(cd_register_pages::balance.ge(-quantity.min(0)))
            .filter(cd_register_pages::balance.le(MAX_BALANCE - quantity.max(0))),
    )
    .set((
        cd_register_pages::entry_count.eq(cd_register_pages::entry_count + 1),
        cd_register_pages::balance.eq(cd_register_pages::balance + quantity),
    ))
    .returning((
        cd_register_pages::entry_count,
        cd_register_pages::balance,
        cd_register_pages::head_hash,
    ))
    .get_result(conn)
    .optional()?;
    let Some((seq, balance, head)) = claimed else {
        return Ok(None);
    };
    let page = cd_register_pages::table
        .find(page_id)
        .select(Page::as_select())
        .first(conn)?;
    Ok(Some((page_id, seq, balance, head, page)))
}

/// The page of a cabinet and product, if open.
pub fn cabinet_page(
    conn: &mut AnyConnection,
    location_id: i64,
    product_id: i64,
) -> QueryResult<Option<Page>> {
    cd_register_pages::table
        .filter(cd_register_pages::location_id.eq(location_id))
        .filter(cd_register_pages::product_id.eq(product_id))
        .select(Page::as_select())
        .first(conn)
        .optional()
}

pub fn set_head(
    conn: &mut AnyConnection,
    page_id: i64,
    hash: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(cd_register_pages::table.find(page_id))
        .set((
            cd_register_pages::head_hash.eq(hash),
            cd_register_pages::last_entry_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Stock of a product held at one location, by the ledger.
pub fn location_stock(
    conn: &mut AnyConnection,
    location_id: i64,
    product_id: i64,
) -> QueryResult<i64> {
    stock_balances::table
        .filter(stock_balances::location_id.eq(location_id))
        .filter(stock_balances::product_id.eq(product_id))
        .select(diesel::dsl::sql::<BigInt>(
            "CAST(COALESCE(SUM(quantity), 0) AS BIGINT)",
        ))
        .first(conn)
}

/// (location id, stock) of every location holding a product, across all sites or one.
pub fn holdings(conn: &mut AnyConnection, product_id: i64) -> QueryResult<Vec<(i64, i64, i64)>> {
    stock_balances::table
        .filter(stock_balances::product_id.eq(product_id))
        .group_by((stock_balances::site_id, stock_balances::location_id))
        .select((
            stock_balances::site_id,
            stock_balances::location_id,
            diesel::dsl::sql::<BigInt>("CAST(SUM(quantity) AS BIGINT)"),
        ))
        .having(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "SUM(quantity) > 0",
        ))
        .load(conn)
}

/// Pages of a product that hold entries or stock.
pub fn pages_in_use(conn: &mut AnyConnection, product_id: i64) -> QueryResult<i64> {
    cd_register_pages::table
        .filter(cd_register_pages::product_id.eq(product_id))
        .filter(
            cd_register_pages::entry_count
                .gt(0)
                .or(cd_register_pages::balance.gt(0)),
        )
        .count()
        .get_result(conn)
}

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

pub fn page(conn: &mut AnyConnection, page_id: i64) -> QueryResult<Option<Page>> {
    cd_register_pages::table
        .find(page_id)
        .select(Page::as_select())
        .first(conn)
        .optional()
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

/// Site pages kept from before cabinets that have not been carried forward yet.
pub fn legacy_open_pages(conn: &mut AnyConnection) -> QueryResult<Vec<Page>> {
    cd_register_pages::table
        .filter(cd_register_pages::location_id.is_null())
        .filter(cd_register_pages::closed_at.is_null())
        .order(cd_register_pages::id.asc())
        .select(Page::as_select())
        .load(conn)
}

pub fn close_page(conn: &mut AnyConnection, page_id: i64, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(cd_register_pages::table.find(page_id))
        .set(cd_register_pages::closed_at.eq(at))
        .execute(conn)?;
    Ok(())
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

pub fn insert_entry(conn: &mut AnyConnection, e: &EntryRow) -> QueryResult<i64> {
    diesel::insert_into(cd_register_entries::table)
        .values((
            cd_register_entries::page_id.eq(e.page_id),
            cd_register_entries::seq.eq(e.seq),
            cd_register_entries::site_id.eq(e.site_id),
            cd_register_entries::product_id.eq(e.product_id),
            cd_register_entries::entry_type.eq(&e.entry_type),
            cd_register_entries::movement_id.eq(e.movement_id),
            cd_register_entries::occurred_at.eq(e.occurred_at),
            cd_register_entries::recorded_at.eq(e.recorded_at),
            cd_register_entries::quantity.eq(e.quantity),
            cd_register_entries::balance_after.eq(e.balance_after),
            cd_register_entries::location_id.eq(e.location_id),
            cd_register_entries::batch_id.eq(e.batch_id),
            cd_register_entries::counterparty.eq(&e.counterparty),
            cd_register_entries::counterparty_address.eq(&e.counterparty_address),
            cd_register_entries::patient_identifier.eq(&e.patient_identifier),
            cd_register_entries::prescriber.eq(&e.prescriber),
            cd_register_entries::collected_by.eq(&e.collected_by),
            cd_register_entries::identity_checked.eq(e.identity_checked),
            cd_register_entries::author_id.eq(e.author_id),
            cd_register_entries::witness_id.eq(e.witness_id),
            cd_register_entries::corrects_entry_id.eq(e.corrects_entry_id),
            cd_register_entries::reason.eq(&e.reason),
            cd_register_entries::prev_hash.eq(&e.prev_hash),
            cd_register_entries::hash.eq(&e.hash),
        ))
        .returning(cd_register_entries::id)
        .get_result(conn)
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
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> QueryResult<Vec<EntryRow>> {
    let mut q = cd_register_entries::table
        .filter(cd_register_entries::page_id.eq(page_id))
        .filter(cd_register_entries::seq.gt(after_seq))
        .into_boxed();
    if let Some(from) = from {
        q = q.filter(
            cd_register_entries::occurred_at.ge(from.and_hms_opt(0, 0, 0).unwrap_or_default()),
        );
    }
    if let Some(to) = to.and_then(|d| d.succ_opt()) {
        q = q.filter(
            cd_register_entries::occurred_at.lt(to.and_hms_opt(0, 0, 0).unwrap_or_default()),
        );
    }
    q.order(cd_register_entries::seq.asc())
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
