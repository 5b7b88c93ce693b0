use chrono::NaiveDate;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::model::{MovementFilter, StockFilter, StockLine};
use crate::db::schema::{
    batches, locations, products, reorder_levels, stock_balances, stock_movements, stocktake_lines,
    stocktakes, transfer_lines, transfers,
};
use crate::db::AnyConnection;
use crate::domain::stock::BatchStatus;
use crate::domain::Quantity;

type StockTuple = (
    i64,
    String,
    i64,
    String,
    String,
    i64,
    String,
    NaiveDate,
    String,
    i64,
);

fn to_line(t: StockTuple) -> StockLine {
    StockLine {
        location_id: t.0,
        location_code: t.1,
        product_id: t.2,
        product_name: t.3,
        unit: t.4,
        batch_id: t.5,
        batch_number: t.6,
        expiry_date: t.7,
        batch_status: BatchStatus::from_db(&t.8),
        quantity: Quantity::from_scaled(t.9),
    }
}

/// Balances joined to their location, batch and product.
macro_rules! stock_query {
    () => {
        stock_balances::table
            .inner_join(locations::table)
            .inner_join(batches::table)
            .inner_join(products::table)
            .into_boxed()
    };
}

const STOCK_COLUMNS: (
    stock_balances::location_id,
    locations::code,
    stock_balances::product_id,
    products::name,
    products::unit,
    stock_balances::batch_id,
    batches::batch_number,
    batches::expiry_date,
    batches::status,
    stock_balances::quantity,
) = (
    stock_balances::location_id,
    locations::code,
    stock_balances::product_id,
    products::name,
    products::unit,
    stock_balances::batch_id,
    batches::batch_number,
    batches::expiry_date,
    batches::status,
    stock_balances::quantity,
);

pub fn on_hand(
    conn: &mut AnyConnection,
    site_id: i64,
    f: &StockFilter,
) -> QueryResult<Vec<StockLine>> {
    let mut q = stock_query!().filter(stock_balances::site_id.eq(site_id));
    if let Some(l) = f.location_id {
        q = q.filter(stock_balances::location_id.eq(l));
    }
    if let Some(p) = f.product_id {
        q = q.filter(stock_balances::product_id.eq(p));
    }
    if let Some(b) = f.batch_id {
        q = q.filter(stock_balances::batch_id.eq(b));
    }
    if !f.include_zero.unwrap_or(false) {
        q = q.filter(stock_balances::quantity.gt(0));
    }
    q.order((
        products::name.asc(),
        locations::code.asc(),
        batches::expiry_date.asc(),
        batches::id.asc(),
    ))
    .select(STOCK_COLUMNS)
    .load::<StockTuple>(conn)
    .map(|rows| rows.into_iter().map(to_line).collect())
}

pub fn expiring(
    conn: &mut AnyConnection,
    site_id: i64,
    by: NaiveDate,
) -> QueryResult<Vec<StockLine>> {
    stock_query!()
        .filter(stock_balances::site_id.eq(site_id))
        .filter(stock_balances::quantity.gt(0))
        .filter(batches::expiry_date.le(by))
        .order((
            batches::expiry_date.asc(),
            products::name.asc(),
            batches::id.asc(),
        ))
        .select(STOCK_COLUMNS)
        .load::<StockTuple>(conn)
        .map(|rows| rows.into_iter().map(to_line).collect())
}

/// (batch id, batch number, expiry, status, quantity held).
pub type HeldBatch = (i64, String, NaiveDate, String, i64);

/// Batches of a product held at a location, for first-expiry-first-out allocation.
pub fn held_at(
    conn: &mut AnyConnection,
    location_id: i64,
    product_id: i64,
) -> QueryResult<Vec<HeldBatch>> {
    stock_balances::table
        .inner_join(batches::table)
        .filter(stock_balances::location_id.eq(location_id))
        .filter(stock_balances::product_id.eq(product_id))
        .filter(stock_balances::quantity.gt(0))
        .select((
            batches::id,
            batches::batch_number,
            batches::expiry_date,
            batches::status,
            stock_balances::quantity,
        ))
        .load(conn)
}

pub type MovementTuple = (
    i64,
    chrono::NaiveDateTime,
    chrono::NaiveDateTime,
    i64,
    i64,
    i64,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// A page of movements in the filter's scope and the scope's balance before the page.
pub fn movements(
    conn: &mut AnyConnection,
    site_id: i64,
    f: &MovementFilter,
    limit: i64,
) -> QueryResult<(Vec<MovementTuple>, i64)> {
    let build = || {
        let mut q = stock_movements::table
            .filter(stock_movements::site_id.eq(site_id))
            .into_boxed();
        if let Some(p) = f.product_id {
            q = q.filter(stock_movements::product_id.eq(p));
        }
        if let Some(b) = f.batch_id {
            q = q.filter(stock_movements::batch_id.eq(b));
        }
        if let Some(l) = f.location_id {
            q = q.filter(stock_movements::location_id.eq(l));
        }
        q
    };
    let after = f.after_id.unwrap_or(0);
    let opening: i64 = build()
        .filter(stock_movements::id.le(after))
        .select(sql::<BigInt>("CAST(COALESCE(SUM(quantity), 0) AS BIGINT)"))
        .first(conn)?;
    let rows = build()
        .filter(stock_movements::id.gt(after))
        .order(stock_movements::id.asc())
        .limit(limit)
        .select((
            stock_movements::id,
            stock_movements::occurred_at,
            stock_movements::recorded_at,
            stock_movements::location_id,
            stock_movements::batch_id,
            stock_movements::product_id,
            stock_movements::reason,
            stock_movements::reason_code,
            stock_movements::quantity,
            stock_movements::balance_after,
            stock_movements::actor_id,
            stock_movements::reference_type,
            stock_movements::reference_id,
            stock_movements::note,
        ))
        .load(conn)?;
    Ok((rows, opening))
}

/// Sum of all movements of (location, batch): what the balance must equal.
pub fn movement_sum(conn: &mut AnyConnection, location_id: i64, batch_id: i64) -> QueryResult<i64> {
    stock_movements::table
        .filter(stock_movements::location_id.eq(location_id))
        .filter(stock_movements::batch_id.eq(batch_id))
        .select(sql::<BigInt>("CAST(COALESCE(SUM(quantity), 0) AS BIGINT)"))
        .first(conn)
}

pub fn balance(conn: &mut AnyConnection, location_id: i64, batch_id: i64) -> QueryResult<i64> {
    stock_balances::table
        .filter(stock_balances::location_id.eq(location_id))
        .filter(stock_balances::batch_id.eq(batch_id))
        .select(stock_balances::quantity)
        .first(conn)
        .optional()
        .map(|q| q.unwrap_or(0))
}

pub type TransferTuple = (
    i64,
    i64,
    i64,
    i64,
    i64,
    String,
    Option<String>,
    i64,
    chrono::NaiveDateTime,
    Option<i64>,
    Option<chrono::NaiveDateTime>,
);

pub const TRANSFER_COLUMNS: (
    transfers::id,
    transfers::from_site_id,
    transfers::from_location_id,
    transfers::to_site_id,
    transfers::to_location_id,
    transfers::status,
    transfers::note,
    transfers::dispatched_by,
    transfers::dispatched_at,
    transfers::received_by,
    transfers::received_at,
) = (
    transfers::id,
    transfers::from_site_id,
    transfers::from_location_id,
    transfers::to_site_id,
    transfers::to_location_id,
    transfers::status,
    transfers::note,
    transfers::dispatched_by,
    transfers::dispatched_at,
    transfers::received_by,
    transfers::received_at,
);

pub fn transfer(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<TransferTuple>> {
    transfers::table
        .find(id)
        .select(TRANSFER_COLUMNS)
        .first(conn)
        .optional()
}

pub fn transfers_of_site(
    conn: &mut AnyConnection,
    site_id: i64,
) -> QueryResult<Vec<TransferTuple>> {
    transfers::table
        .filter(
            transfers::from_site_id
                .eq(site_id)
                .or(transfers::to_site_id.eq(site_id)),
        )
        .order(transfers::id.desc())
        .select(TRANSFER_COLUMNS)
        .load(conn)
}

pub type TransferLineTuple = (i64, i64, i64, i64, Option<i64>, Option<String>);

pub fn transfer_lines_of(
    conn: &mut AnyConnection,
    transfer_id: i64,
) -> QueryResult<Vec<TransferLineTuple>> {
    transfer_lines::table
        .filter(transfer_lines::transfer_id.eq(transfer_id))
        .order(transfer_lines::id.asc())
        .select((
            transfer_lines::id,
            transfer_lines::batch_id,
            transfer_lines::product_id,
            transfer_lines::quantity_sent,
            transfer_lines::quantity_received,
            transfer_lines::discrepancy_note,
        ))
        .load(conn)
}

pub type StocktakeTuple = (
    i64,
    i64,
    i64,
    String,
    Option<String>,
    i64,
    chrono::NaiveDateTime,
    Option<i64>,
    Option<chrono::NaiveDateTime>,
);

pub fn stocktake(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<StocktakeTuple>> {
    stocktakes::table
        .find(id)
        .select((
            stocktakes::id,
            stocktakes::site_id,
            stocktakes::location_id,
            stocktakes::status,
            stocktakes::note,
            stocktakes::opened_by,
            stocktakes::opened_at,
            stocktakes::closed_by,
            stocktakes::closed_at,
        ))
        .first(conn)
        .optional()
}

pub fn open_stocktake_at(conn: &mut AnyConnection, location_id: i64) -> QueryResult<Option<i64>> {
    stocktakes::table
        .filter(stocktakes::location_id.eq(location_id))
        .filter(stocktakes::status.eq("open"))
        .select(stocktakes::id)
        .first(conn)
        .optional()
}

/// (id, batch, product, snapshot, counted, expected at count, counted by)
pub type StocktakeLineTuple = (i64, i64, i64, i64, Option<i64>, Option<i64>, Option<i64>);

pub fn stocktake_lines_of(
    conn: &mut AnyConnection,
    stocktake_id: i64,
) -> QueryResult<Vec<StocktakeLineTuple>> {
    stocktake_lines::table
        .filter(stocktake_lines::stocktake_id.eq(stocktake_id))
        .order(stocktake_lines::id.asc())
        .select((
            stocktake_lines::id,
            stocktake_lines::batch_id,
            stocktake_lines::product_id,
            stocktake_lines::snapshot_quantity,
            stocktake_lines::counted_quantity,
            stocktake_lines::expected_at_count,
            stocktake_lines::counted_by,
        ))
        .load(conn)
}

/// (product id, reorder level, reorder quantity, product name, unit, pack size).
pub type ReorderLevelRow = (i64, i64, i64, String, String, i64);

pub fn reorder_levels_of(
    conn: &mut AnyConnection,
    site_id: i64,
) -> QueryResult<Vec<ReorderLevelRow>> {
    reorder_levels::table
        .inner_join(products::table)
        .filter(reorder_levels::site_id.eq(site_id))
        .order(products::name.asc())
        .select((
            reorder_levels::product_id,
            reorder_levels::reorder_level,
            reorder_levels::reorder_quantity,
            products::name,
            products::unit,
            products::pack_size,
        ))
        .load(conn)
}

/// Usable (available, unexpired) stock of each product at a site.
pub fn usable_by_product(
    conn: &mut AnyConnection,
    site_id: i64,
    today: NaiveDate,
) -> QueryResult<Vec<(i64, i64)>> {
    stock_balances::table
        .inner_join(batches::table)
        .filter(stock_balances::site_id.eq(site_id))
        .filter(batches::status.eq("available"))
        .filter(batches::expiry_date.ge(today))
        .select((stock_balances::product_id, stock_balances::quantity))
        .load(conn)
}
