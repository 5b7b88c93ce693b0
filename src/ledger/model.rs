//! What the register records, as the ledger writes it and the register reads it back.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{cd_register_entries, cd_register_pages};
use crate::domain::register::{EntryContent, PageHeading};

/// What the register says beyond the movement itself: who the stock came from or went to.
#[derive(Debug, Clone, Default)]
pub struct RegisterDetail {
    /// Supplier, patient's name, or the other location or prison.
    pub counterparty: Option<String>,
    pub counterparty_address: Option<String>,
    pub patient_identifier: Option<String>,
    pub prescriber: Option<String>,
    pub collected_by: Option<String>,
    pub identity_checked: Option<bool>,
    pub witness_id: Option<i64>,
    pub corrects_entry_id: Option<i64>,
}

/// An entry about to be appended to the page of its cabinet and product; the register fills in
/// sequence, balance and hashes.
#[derive(Debug, Clone)]
pub struct EntryDraft {
    pub site_id: i64,
    pub product_id: i64,
    pub entry_type: String,
    pub movement_id: Option<i64>,
    pub occurred_at: NaiveDateTime,
    pub quantity: i64,
    /// The CD cabinet whose page records the entry.
    pub location_id: i64,
    pub batch_id: Option<i64>,
    pub reason: Option<String>,
    pub detail: RegisterDetail,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cd_register_entries)]
pub struct EntryRow {
    pub id: i64,
    pub page_id: i64,
    pub seq: i64,
    pub site_id: i64,
    pub product_id: i64,
    pub entry_type: String,
    pub movement_id: Option<i64>,
    #[diesel(deserialize_as = crate::db::StoredTime)]
    pub occurred_at: NaiveDateTime,
    #[diesel(deserialize_as = crate::db::StoredTime)]
    pub recorded_at: NaiveDateTime,
    pub quantity: i64,
    pub balance_after: i64,
    pub location_id: Option<i64>,
    pub batch_id: Option<i64>,
    pub counterparty: Option<String>,
    pub counterparty_address: Option<String>,
    pub patient_identifier: Option<String>,
    pub prescriber: Option<String>,
    pub collected_by: Option<String>,
    pub identity_checked: Option<bool>,
    pub author_id: i64,
    pub witness_id: Option<i64>,
    pub corrects_entry_id: Option<i64>,
    pub reason: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}
/// A register page: one CD cabinet's record of one drug, strength and form. Pages without a
/// cabinet are site pages kept from before cabinets, closed when carried forward.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = cd_register_pages)]
pub struct Page {
    pub id: i64,
    pub site_id: i64,
    pub product_id: i64,
    pub location_id: Option<i64>,
    pub drug: String,
    pub strength: String,
    pub form: String,
    pub unit: String,
    pub chain_version: i64,
    pub entry_count: i64,
    pub balance: i64,
    pub head_hash: String,
    pub opened_at: NaiveDateTime,
    pub last_entry_at: Option<NaiveDateTime>,
    pub opened_after_movement_id: i64,
    pub closed_at: Option<NaiveDateTime>,
}

/// Chain format of pages kept per cabinet, whose entries carry the page heading.
pub const CABINET_CHAIN: i64 = 2;

impl Page {
    pub fn heading(&self) -> Option<PageHeading<'_>> {
        match (self.chain_version, self.location_id) {
            (CABINET_CHAIN, Some(location_id)) => Some(PageHeading {
                location_id,
                drug: &self.drug,
                strength: &self.strength,
                form: &self.form,
                unit: &self.unit,
            }),
            _ => None,
        }
    }
}

/// An entry as read in bulk, its text borrowed from the reader's buffer: verification and
/// export read millions and need no owned copy of each.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    pub id: i64,
    pub page_id: i64,
    pub seq: i64,
    pub site_id: i64,
    pub product_id: i64,
    pub entry_type: &'a str,
    pub movement_id: Option<i64>,
    pub occurred_at: NaiveDateTime,
    pub recorded_at: NaiveDateTime,
    pub quantity: i64,
    pub balance_after: i64,
    pub location_id: Option<i64>,
    pub batch_id: Option<i64>,
    pub counterparty: Option<&'a str>,
    pub counterparty_address: Option<&'a str>,
    pub patient_identifier: Option<&'a str>,
    pub prescriber: Option<&'a str>,
    pub collected_by: Option<&'a str>,
    pub identity_checked: Option<bool>,
    pub author_id: i64,
    pub witness_id: Option<i64>,
    pub corrects_entry_id: Option<i64>,
    pub reason: Option<&'a str>,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

impl EntryRow {
    pub fn borrowed(&self) -> EntryRef<'_> {
        EntryRef {
            id: self.id,
            page_id: self.page_id,
            seq: self.seq,
            site_id: self.site_id,
            product_id: self.product_id,
            entry_type: &self.entry_type,
            movement_id: self.movement_id,
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
            quantity: self.quantity,
            balance_after: self.balance_after,
            location_id: self.location_id,
            batch_id: self.batch_id,
            counterparty: self.counterparty.as_deref(),
            counterparty_address: self.counterparty_address.as_deref(),
            patient_identifier: self.patient_identifier.as_deref(),
            prescriber: self.prescriber.as_deref(),
            collected_by: self.collected_by.as_deref(),
            identity_checked: self.identity_checked,
            author_id: self.author_id,
            witness_id: self.witness_id,
            corrects_entry_id: self.corrects_entry_id,
            reason: self.reason.as_deref(),
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
    }

    /// What was hashed for this entry, given its page's heading.
    pub fn content<'a>(&'a self, page: Option<PageHeading<'a>>) -> EntryContent<'a> {
        self.borrowed().content(page)
    }

    /// Made on a later day than the transaction (regulation 19 allows the next day; both times are kept).
    pub fn late(&self) -> bool {
        self.borrowed().late()
    }
}

impl<'a> EntryRef<'a> {
    /// What was hashed for this entry, given its page's heading.
    pub fn content(&self, page: Option<PageHeading<'a>>) -> EntryContent<'a> {
        EntryContent {
            site_id: self.site_id,
            product_id: self.product_id,
            page,
            seq: self.seq,
            entry_type: self.entry_type,
            movement_id: self.movement_id,
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
            quantity: self.quantity,
            balance_after: self.balance_after,
            location_id: self.location_id,
            batch_id: self.batch_id,
            counterparty: self.counterparty,
            counterparty_address: self.counterparty_address,
            patient_identifier: self.patient_identifier,
            prescriber: self.prescriber,
            collected_by: self.collected_by,
            identity_checked: self.identity_checked,
            author_id: self.author_id,
            witness_id: self.witness_id,
            corrects_entry_id: self.corrects_entry_id,
            reason: self.reason,
        }
    }

    /// Made on a later day than the transaction (regulation 19 allows the next day; both times are kept).
    pub fn late(&self) -> bool {
        self.recorded_at.date() > self.occurred_at.date()
    }
}
