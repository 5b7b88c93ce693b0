//! Register pages kept per site before CD cabinets are carried into the cabinet model by the
//! migration, and both chains stay verifiable.

mod common;

use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use prison_pharmacy::cd_register::{queries, verify};
use prison_pharmacy::db::{self, AnyConnection, Db};
use prison_pharmacy::domain::register::{EntryContent, GENESIS_HASH};

const AT: &str = "2026-11-20 10:00:00";

fn exec(c: &mut AnyConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(c)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// What the service held before cabinets: one site page of methadone with two receipts, 70 ml
/// in the CD cabinet and 30 ml on the pharmacy store's shelf.
fn legacy_register(c: &mut AnyConnection) {
    let t = |b: bool| if b { "TRUE" } else { "FALSE" };
    let sqlite = matches!(c, AnyConnection::Sqlite(_));
    let (yes, no) = if sqlite {
        ("1", "0")
    } else {
        (t(true), t(false))
    };
    for sql in [
        format!("INSERT INTO sites (code, name, category, address, created_at) VALUES ('FWI', 'HMP Fosse Way', 'C', 'Leicester', '{AT}')"),
        format!("INSERT INTO locations (site_id, code, name, kind, active, created_at) VALUES (1, 'PHARM', 'Pharmacy store', 'pharmacy_store', {yes}, '{AT}')"),
        format!("INSERT INTO locations (site_id, code, name, kind, active, created_at) VALUES (1, 'CDCAB', 'Pharmacy CD cabinet', 'cd_cabinet', {yes}, '{AT}')"),
        format!("INSERT INTO users (username, display_name, role, password_hash, enabled, authorised_witness, created_at, updated_at) \
                 VALUES ('technician', 'Technician', 'pharmacy_technician', '!', {yes}, {no}, '{AT}', '{AT}')"),
        format!("INSERT INTO products (dmd_type, name, form, strength, unit, pack_size, ingredient, cd_schedule, cd_register, \
                 medicine_of_concern, default_possession, dose_unit, therapeutic_class, critical, opioid_substitution, status, created_at, updated_at) \
                 VALUES ('vmp', 'Methadone 1mg/ml oral solution', 'oral solution', '1 mg/ml', 'ml', 500000, 'methadone', '2', {yes}, \
                 {yes}, 'supervised', 'mg', 'opioid substitution', {yes}, {yes}, 'active', '{AT}', '{AT}')"),
        format!("INSERT INTO batches (product_id, batch_number, expiry_date, status, created_at) VALUES (1, 'M1', '2030-01-31', 'available', '{AT}')"),
    ] {
        exec(c, &sql);
    }
    let mut prev = GENESIS_HASH.to_string();
    let mut balance = 0;
    for (seq, (location, qty)) in [(2_i64, 70_000_i64), (1, 30_000)].into_iter().enumerate() {
        let seq = seq as i64 + 1;
        balance += qty;
        exec(c, &format!(
            "INSERT INTO stock_movements (occurred_at, recorded_at, site_id, location_id, batch_id, product_id, reason, quantity, balance_after, actor_id, request_id) \
             VALUES ('{AT}', '{AT}', 1, {location}, 1, 1, 'receipt', {qty}, {qty}, 1, 'legacy')"));
        exec(c, &format!(
            "INSERT INTO stock_balances (site_id, location_id, batch_id, product_id, quantity, updated_at) VALUES (1, {location}, 1, 1, {qty}, '{AT}')"));
        let at = chrono::NaiveDateTime::parse_from_str(AT, "%Y-%m-%d %H:%M:%S").unwrap();
        let content = EntryContent {
            site_id: 1,
            product_id: 1,
            page: None,
            seq,
            entry_type: "receipt",
            movement_id: Some(seq),
            occurred_at: at,
            recorded_at: at,
            quantity: qty,
            balance_after: balance,
            location_id: Some(location),
            batch_id: Some(1),
            counterparty: Some("Alliance Healthcare"),
            counterparty_address: Some("Nottingham"),
            patient_identifier: None,
            prescriber: None,
            collected_by: None,
            identity_checked: None,
            author_id: 1,
            witness_id: None,
            corrects_entry_id: None,
            reason: None,
        };
        let hash = content.hash(&prev);
        if seq == 1 {
            exec(c, &format!(
                "INSERT INTO cd_register_pages (site_id, product_id, entry_count, balance, head_hash, opened_at) VALUES (1, 1, 0, 0, '{GENESIS_HASH}', '{AT}')"));
        }
        exec(c, &format!(
            "INSERT INTO cd_register_entries (page_id, seq, site_id, product_id, entry_type, movement_id, occurred_at, recorded_at, quantity, \
             balance_after, location_id, batch_id, counterparty, counterparty_address, author_id, prev_hash, hash) \
             VALUES (1, {seq}, 1, 1, 'receipt', {seq}, '{AT}', '{AT}', {qty}, {balance}, {location}, 1, 'Alliance Healthcare', 'Nottingham', 1, '{prev}', '{hash}')"));
        exec(c, &format!(
            "UPDATE cd_register_pages SET entry_count = {seq}, balance = {balance}, head_hash = '{hash}', last_entry_at = '{AT}' WHERE id = 1"));
        prev = hash;
    }
}

#[test]
fn site_pages_are_carried_forward_to_cabinet_pages_and_both_chains_verify() {
    let (url, _guard) = common::empty_database();
    let mut c = db::establish(&url).unwrap();
    // The six migrations before cabinets.
    for _ in 0..6 {
        match &mut c {
            AnyConnection::Sqlite(s) => {
                s.run_next_migration(db::SQLITE_MIGRATIONS).unwrap();
            }
            AnyConnection::Postgresql(p) => {
                p.run_next_migration(db::POSTGRES_MIGRATIONS).unwrap();
            }
        }
    }
    legacy_register(&mut c);
    prison_pharmacy::migrate(&mut c).unwrap();
    // Running it again changes nothing.
    prison_pharmacy::migrate(&mut c).unwrap();

    let pages = queries::pages_of_site(&mut c, 1).unwrap();
    let summary: Vec<(Option<i64>, i64, i64, bool)> = pages
        .iter()
        .map(|p| {
            (
                p.location_id,
                p.entry_count,
                p.balance,
                p.closed_at.is_some(),
            )
        })
        .collect();
    // The site page closed at zero; the store's shelf became a cabinet with its 30 ml, and the
    // cabinet's page holds its 70 ml.
    let mut cabinets = summary[1..].to_vec();
    cabinets.sort();
    assert_eq!(summary[0], (None, 3, 0, true));
    assert_eq!(
        cabinets,
        [(Some(1), 1, 30_000, false), (Some(2), 1, 70_000, false)]
    );
    let opening = queries::entries_after(&mut c, pages[1].id, 0, 10).unwrap();
    assert_eq!(opening[0].entry_type, "opening_balance");
    let reason = opening[0].reason.clone().unwrap();
    assert!(
        reason.starts_with("brought forward from site page 1 at entry 2 ("),
        "{reason}"
    );
    let closing = queries::entries_after(&mut c, pages[0].id, 2, 10).unwrap();
    assert_eq!(
        (closing[0].entry_type.as_str(), closing[0].quantity),
        ("carried_forward", -100_000)
    );
    drop(c);

    let pool = Db::connect(&url, 2).unwrap();
    let v = verify::verify_site_parallel(&pool, 1, None).unwrap();
    assert_eq!(v.status.as_str(), "intact", "{:?}", v.pages);
    assert_eq!(v.entries, 5);
    assert!(v
        .pages
        .iter()
        .filter(|p| p.location_id.is_some())
        .all(|p| p.ledger.as_ref().is_some_and(|l| l.agrees)));
}
