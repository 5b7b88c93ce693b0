use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::model::EntryRow;
use crate::db::schema::{
    cd_balance_checks, cd_check_resolutions, cd_patient_return_destructions, cd_patient_returns,
    cd_register_entries, cd_register_pages, products, stock_balances,
};
use crate::db::{placeholder, AnyConnection};
use crate::domain::register::GENESIS_HASH;

/// (id, site_id, product_id, entry_count, balance, head_hash, last_entry_at)
pub type PageRow = (i64, i64, i64, i64, i64, String, Option<NaiveDateTime>);

const PAGE_COLUMNS: (
    cd_register_pages::id,
    cd_register_pages::site_id,
    cd_register_pages::product_id,
    cd_register_pages::entry_count,
    cd_register_pages::balance,
    cd_register_pages::head_hash,
    cd_register_pages::last_entry_at,
) = (
    cd_register_pages::id,
    cd_register_pages::site_id,
    cd_register_pages::product_id,
    cd_register_pages::entry_count,
    cd_register_pages::balance,
    cd_register_pages::head_hash,
    cd_register_pages::last_entry_at,
);

/// Creates the page if it does not exist; true when this call created it.
pub fn open_page(
    conn: &mut AnyConnection,
    site_id: i64,
    product_id: i64,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let sql = format!(
        "INSERT INTO cd_register_pages (site_id, product_id, entry_count, balance, head_hash, opened_at) \
         VALUES ({}, {}, 0, 0, '{GENESIS_HASH}', {}) ON CONFLICT (site_id, product_id) DO NOTHING",
        placeholder(conn, 1),
        placeholder(conn, 2),
        placeholder(conn, 3),
    );
    let inserted = diesel::sql_query(sql)
        .bind::<BigInt, _>(site_id)
        .bind::<BigInt, _>(product_id)
        .bind::<Timestamp, _>(at)
        .execute(conn)?;
    Ok(inserted == 1)
}

/// Claims the next sequence number and moves the page balance in one guarded statement, which
/// also locks the page row until the transaction ends. Returns (page id, seq, balance after,
/// previous head hash), or None when the balance would go below zero.
pub fn claim_next(
    conn: &mut AnyConnection,
    site_id: i64,
    product_id: i64,
    quantity: i64,
) -> QueryResult<Option<(i64, i64, i64, String)>> {
    diesel::update(
        cd_register_pages::table
            .filter(cd_register_pages::site_id.eq(site_id))
            .filter(cd_register_pages::product_id.eq(product_id))
            .filter(cd_register_pages::balance.ge(-quantity)),
    )
    .set((
        cd_register_pages::entry_count.eq(cd_register_pages::entry_count + 1),
        cd_register_pages::balance.eq(cd_register_pages::balance + quantity),
    ))
    .returning((
        cd_register_pages::id,
        cd_register_pages::entry_count,
        cd_register_pages::balance,
        cd_register_pages::head_hash,
    ))
    .get_result(conn)
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

/// Stock of a product across every location of a site.
pub fn site_stock(conn: &mut AnyConnection, site_id: i64, product_id: i64) -> QueryResult<i64> {
    stock_balances::table
        .filter(stock_balances::site_id.eq(site_id))
        .filter(stock_balances::product_id.eq(product_id))
        .select(diesel::dsl::sql::<BigInt>(
            "CAST(COALESCE(SUM(quantity), 0) AS BIGINT)",
        ))
        .first(conn)
}

pub fn page(conn: &mut AnyConnection, page_id: i64) -> QueryResult<Option<PageRow>> {
    cd_register_pages::table
        .find(page_id)
        .select(PAGE_COLUMNS)
        .first(conn)
        .optional()
}

pub fn page_of(
    conn: &mut AnyConnection,
    site_id: i64,
    product_id: i64,
) -> QueryResult<Option<PageRow>> {
    cd_register_pages::table
        .filter(cd_register_pages::site_id.eq(site_id))
        .filter(cd_register_pages::product_id.eq(product_id))
        .select(PAGE_COLUMNS)
        .first(conn)
        .optional()
}

pub fn pages_of_site(conn: &mut AnyConnection, site_id: i64) -> QueryResult<Vec<PageRow>> {
    cd_register_pages::table
        .filter(cd_register_pages::site_id.eq(site_id))
        .order(cd_register_pages::id.asc())
        .select(PAGE_COLUMNS)
        .load(conn)
}

/// (name, strength, form, unit, cd_schedule) of a product.
pub fn product_label(
    conn: &mut AnyConnection,
    product_id: i64,
) -> QueryResult<(String, String, String, String, String)> {
    products::table
        .find(product_id)
        .select((
            products::name,
            products::strength,
            products::form,
            products::unit,
            products::cd_schedule,
        ))
        .first(conn)
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
