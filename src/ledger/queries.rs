//! The register's own queries that appending needs: pages, their heads and the stock they
//! answer for.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::model::{EntryRow, Page, CABINET_CHAIN};
use crate::db::schema::{cd_register_entries, cd_register_pages, stock_balances};
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

/// Pages of a product, or of a cabinet, that hold entries or stock.
pub fn pages_in_use(
    conn: &mut AnyConnection,
    product_id: Option<i64>,
    location_id: Option<i64>,
) -> QueryResult<i64> {
    let mut q = cd_register_pages::table.into_boxed();
    if let Some(p) = product_id {
        q = q.filter(cd_register_pages::product_id.eq(p));
    }
    if let Some(l) = location_id {
        q = q.filter(cd_register_pages::location_id.eq(l));
    }
    q.filter(
        cd_register_pages::entry_count
            .gt(0)
            .or(cd_register_pages::balance.gt(0)),
    )
    .count()
    .get_result(conn)
}

pub fn page(conn: &mut AnyConnection, page_id: i64) -> QueryResult<Option<Page>> {
    cd_register_pages::table
        .find(page_id)
        .select(Page::as_select())
        .first(conn)
        .optional()
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
