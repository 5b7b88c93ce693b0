//! What a posting must know before it moves stock, read in one statement: the location, the
//! batch and its product, the balance held, the open register page of the cabinet and product,
//! and (on PostgreSQL) the id the movement will take, so that its register entry can be hashed
//! before anything is written.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Nullable, Text, Timestamp};

use super::model::Page;
use crate::db::{placeholder, prepared, AnyConnection};
use crate::domain::stock::{BatchStatus, FefoCandidate};

#[derive(Debug, Clone, QueryableByName)]
pub struct StockFacts {
    #[diesel(sql_type = BigInt)]
    pub(super) location_id: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) location_site: i64,
    #[diesel(sql_type = Bool)]
    pub(super) cabinet: bool,
    #[diesel(sql_type = BigInt)]
    pub(super) batch_id: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) product_id: i64,
    #[diesel(sql_type = Text)]
    pub(super) status: String,
    #[diesel(sql_type = Date)]
    pub(super) expiry: NaiveDate,
    #[diesel(sql_type = Text)]
    pub(super) batch_number: String,
    #[diesel(sql_type = Text)]
    pub(super) schedule: String,
    #[diesel(sql_type = Bool)]
    pub(super) tracked: bool,
    #[diesel(sql_type = BigInt)]
    pub(super) held: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(super) next_movement_id: Option<i64>,
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

/// Read only outside the ledger: whether stock is register-tracked, and what it holds, is
/// the ledger's to know, so no caller can post with a fact changed.
impl StockFacts {
    /// The facts of one batch at one location; None when the location has never held it.
    pub fn of_batch(
        conn: &mut AnyConnection,
        location_id: i64,
        batch_id: i64,
    ) -> QueryResult<Option<StockFacts>> {
        let product = format!(
            "(SELECT product_id FROM batches WHERE id = {})",
            placeholder(conn, 2)
        );
        Ok(read(conn, "s.batch_id", &product, location_id, batch_id)?.pop())
    }

    /// The facts of every batch of a product a location holds some of, for first expiry first
    /// out; on PostgreSQL their balances stay locked until the transaction ends.
    pub fn held(
        conn: &mut AnyConnection,
        location_id: i64,
        product_id: i64,
    ) -> QueryResult<Vec<StockFacts>> {
        let product = placeholder(conn, 2);
        read(
            conn,
            "s.quantity > 0 AND s.product_id",
            &product,
            location_id,
            product_id,
        )
    }

    pub fn batch_id(&self) -> i64 {
        self.batch_id
    }

    pub fn product_id(&self) -> i64 {
        self.product_id
    }

    /// This batch as first expiry first out weighs it.
    pub fn candidate(&self) -> FefoCandidate {
        FefoCandidate {
            batch_id: self.batch_id,
            expiry: self.expiry,
            status: BatchStatus::from_db(&self.status),
            available: self.held,
        }
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

/// The rows at a location whose `column` equals `value` (a batch, or a product held);
/// `product` is the product's id in SQL, whose page at the location is read.
fn read(
    conn: &mut AnyConnection,
    column: &str,
    product: &str,
    location_id: i64,
    value: i64,
) -> QueryResult<Vec<StockFacts>> {
    let filter = format!(
        "s.location_id = {} AND {column} = {}",
        placeholder(conn, 1),
        placeholder(conn, 2)
    );
    prepared(
        diesel::sql_query(select(conn, &filter, product))
            .bind::<BigInt, _>(location_id)
            .bind::<BigInt, _>(value),
    )
    .load(conn)
}

/// The one statement both readings share. On PostgreSQL the register page is locked first,
/// then the balance rows, and the movement's id is drawn from its sequence. Of the rows a
/// statement waited for, PostgreSQL hands back as they are now only those it locks: with the
/// page joined unlocked, a posting that waited for another on the same page read the head from
/// before that one, failed on the page's sequence and ran again.
fn select(conn: &AnyConnection, filter: &str, product: &str) -> String {
    let (pages, page_source, next_id, lock) = match conn {
        AnyConnection::Postgresql(_) => (
            format!(
                "WITH g AS MATERIALIZED (SELECT * FROM cd_register_pages \
                 WHERE location_id = {} AND product_id = {product} FOR UPDATE) ",
                placeholder(conn, 1)
            ),
            "g",
            "nextval(pg_get_serial_sequence('stock_movements', 'id'))",
            " FOR UPDATE OF s",
        ),
        AnyConnection::Sqlite(_) => (String::new(), "cd_register_pages g", "NULL", ""),
    };
    format!(
        "{pages}SELECT s.location_id, l.site_id AS location_site, l.cd_cabinet AS cabinet, b.id AS batch_id, \
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
         LEFT JOIN {page_source} ON g.location_id = s.location_id AND g.product_id = s.product_id \
         WHERE {filter} ORDER BY b.expiry_date, b.id{lock}"
    )
}
