//! The register's own queries that appending needs: pages, their heads and the stock they
//! answer for.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::model::{Page, CABINET_CHAIN};
use crate::db::schema::{cd_register_pages, stock_balances};
use crate::db::{placeholder, prepared, AnyConnection};
use crate::domain::register::GENESIS_HASH;

pub use super::writes::insert_entry;

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
    let inserted = prepared(
        diesel::sql_query(sql)
            .bind::<BigInt, _>(site_id)
            .bind::<BigInt, _>(location_id)
            .bind::<Timestamp, _>(at)
            .bind::<BigInt, _>(product_id),
    )
    .execute(conn)?;
    Ok(inserted == 1)
}

/// Which page to read for appending.
#[derive(Debug, Clone, Copy)]
pub enum PageKey {
    Id(i64),
    /// The page of a cabinet (location) and product.
    Cabinet(i64, i64),
}

/// A page as it stands before an entry is appended. On PostgreSQL the row stays locked until
/// the transaction ends, so appends to one page queue behind each other; SQLite's writers are
/// already one at a time.
pub fn page_for_append(conn: &mut AnyConnection, key: PageKey) -> QueryResult<Option<Page>> {
    let lock = match conn {
        AnyConnection::Postgresql(_) => " FOR UPDATE",
        AnyConnection::Sqlite(_) => "",
    };
    let columns =
        "id, site_id, product_id, location_id, drug, strength, form, unit, chain_version, \
                   entry_count, balance, head_hash, opened_at, last_entry_at, \
                   opened_after_movement_id, closed_at";
    let query = match key {
        PageKey::Id(id) => diesel::sql_query(format!(
            "SELECT {columns} FROM cd_register_pages WHERE id = {}{lock}",
            placeholder(conn, 1)
        ))
        .into_boxed()
        .bind::<BigInt, _>(id),
        PageKey::Cabinet(location_id, product_id) => diesel::sql_query(format!(
            "SELECT {columns} FROM cd_register_pages WHERE location_id = {} AND product_id = {}{lock}",
            placeholder(conn, 1),
            placeholder(conn, 2)
        ))
        .into_boxed()
        .bind::<BigInt, _>(location_id)
        .bind::<BigInt, _>(product_id),
    };
    prepared(query).get_result(conn).optional()
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
