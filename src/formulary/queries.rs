use diesel::prelude::*;

use super::model::{BatchRow, ProductRow};
use crate::db::schema::{batches, products};
use crate::db::AnyConnection;
use crate::http::PageRequest;

pub fn product(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<ProductRow>> {
    products::table
        .find(id)
        .select(ProductRow::as_select())
        .first(conn)
        .optional()
}

pub fn product_by_name(conn: &mut AnyConnection, name: &str) -> QueryResult<Option<ProductRow>> {
    products::table
        .filter(products::name.eq(name))
        .select(ProductRow::as_select())
        .first(conn)
        .optional()
}

pub fn list_products(
    conn: &mut AnyConnection,
    q: Option<&str>,
    status: Option<&str>,
    page: PageRequest,
) -> QueryResult<(Vec<ProductRow>, i64)> {
    let pattern = q.map(|q| format!("%{}%", q.to_lowercase().replace(['%', '_'], "")));
    let build = || {
        let mut query = products::table.into_boxed();
        if let Some(p) = &pattern {
            query = query.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("LOWER(name) LIKE ")
                    .bind::<diesel::sql_types::Text, _>(p.clone()),
            );
        }
        if let Some(s) = status {
            query = query.filter(products::status.eq(s.to_string()));
        }
        query
    };
    let total = build().count().get_result(conn)?;
    let rows = build()
        .order((products::name.asc(), products::id.asc()))
        .limit(page.per_page)
        .offset(page.offset())
        .select(ProductRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

pub fn batch(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<BatchRow>> {
    batches::table
        .find(id)
        .select(BatchRow::as_select())
        .first(conn)
        .optional()
}

pub fn batch_by_number(
    conn: &mut AnyConnection,
    product_id: i64,
    number: &str,
) -> QueryResult<Option<BatchRow>> {
    batches::table
        .filter(batches::product_id.eq(product_id))
        .filter(batches::batch_number.eq(number))
        .select(BatchRow::as_select())
        .first(conn)
        .optional()
}

pub fn batches_of(conn: &mut AnyConnection, product_id: i64) -> QueryResult<Vec<BatchRow>> {
    batches::table
        .filter(batches::product_id.eq(product_id))
        .order((batches::expiry_date.asc(), batches::id.asc()))
        .select(BatchRow::as_select())
        .load(conn)
}

pub fn insert_batch(
    conn: &mut AnyConnection,
    product_id: i64,
    number: &str,
    expiry: chrono::NaiveDate,
) -> QueryResult<i64> {
    diesel::insert_into(batches::table)
        .values((
            batches::product_id.eq(product_id),
            batches::batch_number.eq(number),
            batches::expiry_date.eq(expiry),
            batches::status.eq("available"),
            batches::created_at.eq(crate::db::now()),
        ))
        .returning(batches::id)
        .get_result(conn)
}

pub fn set_batch_status(conn: &mut AnyConnection, id: i64, status: &str) -> QueryResult<usize> {
    diesel::update(batches::table.find(id))
        .set(batches::status.eq(status))
        .execute(conn)
}
