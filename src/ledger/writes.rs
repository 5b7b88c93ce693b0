//! The writes of a posting: the balance, the movement and its register entry. On PostgreSQL
//! they travel as one statement, each write taking its input from the one before, so a dose
//! costs one round trip here however many tables it touches; SQLite runs in process and takes
//! them one by one.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};

use super::model::EntryRow;
use crate::db::{prepared, AnyBackend, AnyConnection};
use crate::error::AppError;

type Sql<'a> = BoxedSqlQuery<'a, AnyBackend, SqlQuery>;

/// One movement, with the balance it was read at (the guard that nothing moved it since).
pub struct Movement<'a> {
    pub occurred_at: NaiveDateTime,
    pub recorded_at: NaiveDateTime,
    pub site_id: i64,
    pub location_id: i64,
    pub batch_id: i64,
    pub product_id: i64,
    pub reason: &'a str,
    pub reason_code: Option<&'a str>,
    pub quantity: i64,
    pub balance_before: i64,
    pub balance_after: i64,
    pub actor_id: i64,
    pub request_id: &'a str,
    pub reference_type: Option<&'a str>,
    pub reference_id: Option<i64>,
    pub note: Option<&'a str>,
}

const MOVEMENT_COLUMNS: &str = "occurred_at, recorded_at, site_id, location_id, batch_id, \
    product_id, reason, reason_code, quantity, balance_after, actor_id, request_id, \
    reference_type, reference_id, note";
const MOVEMENT_VALUES: usize = 15;

const ENTRY_COLUMNS: &str = "page_id, seq, site_id, product_id, entry_type, movement_id, \
    occurred_at, recorded_at, quantity, balance_after, location_id, batch_id, counterparty, \
    counterparty_address, patient_identifier, prescriber, collected_by, identity_checked, \
    author_id, witness_id, corrects_entry_id, reason, prev_hash, hash";
const ENTRY_VALUES: usize = 24;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// `n` placeholders numbered from `from`: `$from, ...` on PostgreSQL, `?, ...` on SQLite.
fn params(conn: &AnyConnection, from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| crate::db::placeholder(conn, i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Moves the balance, writes the movement and, when `entry` gives one for the movement's id, its
/// register entry. `next_id` is the movement's id drawn beforehand (PostgreSQL), so all three
/// are one statement. Returns (movement id, entry id).
pub fn movement(
    conn: &mut AnyConnection,
    m: &Movement,
    next_id: Option<i64>,
    entry: impl FnOnce(i64) -> Result<Option<EntryRow>, AppError>,
) -> Result<(i64, Option<i64>), AppError> {
    let p = |i| crate::db::placeholder(conn, i);
    let balance = format!(
        "UPDATE stock_balances SET quantity = {}, updated_at = {} \
         WHERE location_id = {} AND batch_id = {} AND quantity = {}",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5)
    );
    match next_id {
        Some(id) => {
            let entry = entry(id)?;
            let mut sql = format!(
                "WITH moved AS ({balance} RETURNING location_id), \
                 movement AS (INSERT INTO stock_movements (id, {MOVEMENT_COLUMNS}) \
                 SELECT {} FROM moved RETURNING id) ",
                params(conn, 6, 1 + MOVEMENT_VALUES)
            );
            let from = 7 + MOVEMENT_VALUES;
            match &entry {
                Some(_) => sql.push_str(&format!(
                    "INSERT INTO cd_register_entries ({ENTRY_COLUMNS}) SELECT {} FROM movement \
                     RETURNING id",
                    params(conn, from, ENTRY_VALUES)
                )),
                None => sql.push_str("SELECT id FROM movement"),
            }
            let q = bind_balance(diesel::sql_query(sql).into_boxed(), m).bind::<BigInt, _>(id);
            let q = bind_movement(q, m);
            let q = match &entry {
                Some(e) => bind_entry(q, e),
                None => q,
            };
            let written: Option<Id> = prepared(q).get_result(conn).optional()?;
            let written = written.ok_or_else(balance_moved)?;
            Ok((id, entry.map(|_| written.id)))
        }
        None => {
            let moved =
                prepared(bind_balance(diesel::sql_query(balance).into_boxed(), m)).execute(conn)?;
            if moved != 1 {
                return Err(balance_moved());
            }
            let sql = format!(
                "INSERT INTO stock_movements ({MOVEMENT_COLUMNS}) VALUES ({}) RETURNING id",
                params(conn, 1, MOVEMENT_VALUES)
            );
            let movement_id = prepared(bind_movement(diesel::sql_query(sql).into_boxed(), m))
                .get_result::<Id>(conn)?
                .id;
            let entry_id = match entry(movement_id)? {
                Some(e) => Some(insert_entry(conn, &e)?),
                None => None,
            };
            Ok((movement_id, entry_id))
        }
    }
}

/// Appends a register entry; the database moves its page's head with it.
pub fn insert_entry(conn: &mut AnyConnection, e: &EntryRow) -> QueryResult<i64> {
    let sql = format!(
        "INSERT INTO cd_register_entries ({ENTRY_COLUMNS}) VALUES ({}) RETURNING id",
        params(conn, 1, ENTRY_VALUES)
    );
    Ok(prepared(bind_entry(diesel::sql_query(sql).into_boxed(), e))
        .get_result::<Id>(conn)?
        .id)
}

/// The balance row changed between reading and writing it, which its lock (PostgreSQL) or the
/// single writer (SQLite) rules out; answered as a lost race, so the transaction is retried.
fn balance_moved() -> AppError {
    AppError::Database(DieselError::DatabaseError(
        DatabaseErrorKind::SerializationFailure,
        Box::new("the stock balance changed while it was being moved".to_string()),
    ))
}

fn bind_balance<'a>(q: Sql<'a>, m: &Movement) -> Sql<'a> {
    q.bind::<BigInt, _>(m.balance_after)
        .bind::<Timestamp, _>(m.recorded_at)
        .bind::<BigInt, _>(m.location_id)
        .bind::<BigInt, _>(m.batch_id)
        .bind::<BigInt, _>(m.balance_before)
}

fn bind_movement<'a>(q: Sql<'a>, m: &Movement<'a>) -> Sql<'a> {
    q.bind::<Timestamp, _>(m.occurred_at)
        .bind::<Timestamp, _>(m.recorded_at)
        .bind::<BigInt, _>(m.site_id)
        .bind::<BigInt, _>(m.location_id)
        .bind::<BigInt, _>(m.batch_id)
        .bind::<BigInt, _>(m.product_id)
        .bind::<Text, _>(m.reason)
        .bind::<Nullable<Text>, _>(m.reason_code)
        .bind::<BigInt, _>(m.quantity)
        .bind::<BigInt, _>(m.balance_after)
        .bind::<BigInt, _>(m.actor_id)
        .bind::<Text, _>(m.request_id)
        .bind::<Nullable<Text>, _>(m.reference_type)
        .bind::<Nullable<BigInt>, _>(m.reference_id)
        .bind::<Nullable<Text>, _>(m.note)
}

fn bind_entry<'a>(q: Sql<'a>, e: &EntryRow) -> Sql<'a> {
    q.bind::<BigInt, _>(e.page_id)
        .bind::<BigInt, _>(e.seq)
        .bind::<BigInt, _>(e.site_id)
        .bind::<BigInt, _>(e.product_id)
        .bind::<Text, _>(e.entry_type.clone())
        .bind::<Nullable<BigInt>, _>(e.movement_id)
        .bind::<Timestamp, _>(e.occurred_at)
        .bind::<Timestamp, _>(e.recorded_at)
        .bind::<BigInt, _>(e.quantity)
        .bind::<BigInt, _>(e.balance_after)
        .bind::<Nullable<BigInt>, _>(e.location_id)
        .bind::<Nullable<BigInt>, _>(e.batch_id)
        .bind::<Nullable<Text>, _>(e.counterparty.clone())
        .bind::<Nullable<Text>, _>(e.counterparty_address.clone())
        .bind::<Nullable<Text>, _>(e.patient_identifier.clone())
        .bind::<Nullable<Text>, _>(e.prescriber.clone())
        .bind::<Nullable<Text>, _>(e.collected_by.clone())
        .bind::<Nullable<Bool>, _>(e.identity_checked)
        .bind::<BigInt, _>(e.author_id)
        .bind::<Nullable<BigInt>, _>(e.witness_id)
        .bind::<Nullable<BigInt>, _>(e.corrects_entry_id)
        .bind::<Nullable<Text>, _>(e.reason.clone())
        .bind::<Text, _>(e.prev_hash.clone())
        .bind::<Text, _>(e.hash.clone())
}
