//! What a posting must know before it moves stock, read in one statement: the location, the
//! batch and its product, the balance held, the open register page of the cabinet and product,
//! and (on PostgreSQL) the id the movement will take, so that its register entry can be hashed
//! before anything is written.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Nullable, Text, Timestamp};

use super::model::Page;
use crate::db::{placeholder, AnyConnection};

#[derive(Debug, Clone, QueryableByName)]
pub struct StockFacts {
    #[diesel(sql_type = BigInt)]
    pub location_site: i64,
    #[diesel(sql_type = Bool)]
    pub cabinet: bool,
    #[diesel(sql_type = BigInt)]
    pub batch_id: i64,
    #[diesel(sql_type = BigInt)]
    pub product_id: i64,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Date)]
    pub expiry: NaiveDate,
    #[diesel(sql_type = Text)]
    pub batch_number: String,
    #[diesel(sql_type = Text)]
    pub schedule: String,
    #[diesel(sql_type = Bool)]
    pub tracked: bool,
    #[diesel(sql_type = BigInt)]
    pub held: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub next_movement_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    page_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    page_site_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    page_location_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    page_drug: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    page_strength: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    page_form: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    page_unit: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    page_chain_version: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    page_entry_count: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    page_balance: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    page_head_hash: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    page_opened_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    page_last_entry_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<BigInt>)]
    page_opened_after_movement_id: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    page_closed_at: Option<NaiveDateTime>,
}

impl StockFacts {
    /// The facts of one batch at one location; None when the location has never held it.
    pub fn of_batch(
        conn: &mut AnyConnection,
        location_id: i64,
        batch_id: i64,
    ) -> QueryResult<Option<StockFacts>> {
        let sql = select(
            conn,
            &format!(
                "s.location_id = {} AND s.batch_id = {}",
                placeholder(conn, 1),
                placeholder(conn, 2)
            ),
        );
        diesel::sql_query(sql)
            .bind::<BigInt, _>(location_id)
            .bind::<BigInt, _>(batch_id)
            .get_result(conn)
            .optional()
    }

    /// The facts of every batch of a product a location holds some of, for first expiry first
    /// out; on PostgreSQL their balances stay locked until the transaction ends.
    pub fn held(
        conn: &mut AnyConnection,
        location_id: i64,
        product_id: i64,
    ) -> QueryResult<Vec<StockFacts>> {
        let sql = select(
            conn,
            &format!(
                "s.location_id = {} AND s.product_id = {} AND s.quantity > 0",
                placeholder(conn, 1),
                placeholder(conn, 2)
            ),
        );
        diesel::sql_query(sql)
            .bind::<BigInt, _>(location_id)
            .bind::<BigInt, _>(product_id)
            .load(conn)
    }

    /// The open register page of the cabinet and product, as it stands.
    pub fn page(&self) -> Option<Page> {
        Some(Page {
            id: self.page_id?,
            site_id: self.page_site_id?,
            product_id: self.product_id,
            location_id: self.page_location_id,
            drug: self.page_drug.clone()?,
            strength: self.page_strength.clone()?,
            form: self.page_form.clone()?,
            unit: self.page_unit.clone()?,
            chain_version: self.page_chain_version?,
            entry_count: self.page_entry_count?,
            balance: self.page_balance?,
            head_hash: self.page_head_hash.clone()?,
            opened_at: self.page_opened_at?,
            last_entry_at: self.page_last_entry_at,
            opened_after_movement_id: self.page_opened_after_movement_id?,
            closed_at: self.page_closed_at,
        })
    }
}

/// The one statement both readings share. On PostgreSQL the balance rows are locked (an
/// append to the page by another transaction that moves a different batch is caught by the
/// page's unique sequence and retried) and the movement's id is drawn from its sequence.
fn select(conn: &AnyConnection, filter: &str) -> String {
    let (next_id, lock) = match conn {
        AnyConnection::Postgresql(_) => (
            "nextval(pg_get_serial_sequence('stock_movements', 'id'))",
            " FOR UPDATE OF s",
        ),
        AnyConnection::Sqlite(_) => ("NULL", ""),
    };
    format!(
        "SELECT l.site_id AS location_site, l.cd_cabinet AS cabinet, b.id AS batch_id, \
         b.product_id, b.status, b.expiry_date AS expiry, b.batch_number, \
         p.cd_schedule AS schedule, p.cd_register AS tracked, s.quantity AS held, \
         {next_id} AS next_movement_id, \
         g.id AS page_id, g.site_id AS page_site_id, g.location_id AS page_location_id, \
         g.drug AS page_drug, g.strength AS page_strength, g.form AS page_form, \
         g.unit AS page_unit, g.chain_version AS page_chain_version, \
         g.entry_count AS page_entry_count, g.balance AS page_balance, \
         g.head_hash AS page_head_hash, g.opened_at AS page_opened_at, \
         g.last_entry_at AS page_last_entry_at, \
         g.opened_after_movement_id AS page_opened_after_movement_id, \
         g.closed_at AS page_closed_at \
         FROM stock_balances s \
         JOIN locations l ON l.id = s.location_id \
         JOIN batches b ON b.id = s.batch_id \
         JOIN products p ON p.id = b.product_id \
         LEFT JOIN cd_register_pages g ON g.location_id = s.location_id AND g.product_id = s.product_id \
         WHERE {filter} ORDER BY b.expiry_date, b.id{lock}"
    )
}
