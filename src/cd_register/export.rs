//! Auditor exports of the register: CSV, JSON and PDF, produced a chunk at a time so memory
//! stays constant however long the register is. The chain is verified while the rows stream:
//! each row says whether it verified, and each page ends with its verdict.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::Serialize;

use super::model::Page;
use super::model::{BrokenEntry, ExportFormat, ExportQuery};
use super::pdf::PdfWriter;
use super::queries;
use super::stream::{EntryChunk, EntryRange, EntryReader};
use crate::db::schema::{batches, locations, users};
use crate::db::{now, AnyConnection};
use crate::domain::register::{format_time, ChainWalker};
use crate::domain::time::rfc3339;
use crate::domain::Quantity;
use crate::error::AppError;
use crate::http::ChunkSource;
use crate::ledger::model::EntryRef;
use crate::sites::model::Site;

const CSV_HEADINGS: [&str; 30] = [
    "site_code",
    "page_id",
    "drug",
    "strength",
    "form",
    "entry_id",
    "seq",
    "entry_type",
    "date_of_transaction",
    "date_entered",
    "late_entry",
    "received_from_or_supplied_to",
    "address",
    "patient_prison_number",
    "prescriber_or_authority",
    "collected_by",
    "identity_checked",
    "quantity_received",
    "quantity_supplied",
    "balance",
    "batch_number",
    "location_code",
    "author",
    "witness",
    "corrects_entry_id",
    "reason",
    "movement_id",
    "prev_hash",
    "hash",
    "chain_verified",
];

/// The PDF's columns: (heading, width in points). Every field is printed in full, wrapped
/// within its column; they fill the 786 points between the margins of landscape A4.
const PDF_COLUMNS: [(&str, f32); 17] = [
    ("Date of transaction", 40.0),
    ("Date entered", 40.0),
    ("Entry", 44.0),
    ("Received from / supplied to", 70.0),
    ("Address", 70.0),
    ("Patient", 32.0),
    ("Prescriber or authority", 52.0),
    ("Collected by", 48.0),
    ("Identity checked", 30.0),
    ("Received", 30.0),
    ("Supplied", 30.0),
    ("Balance", 32.0),
    ("Batch, place", 38.0),
    ("Entered by", 42.0),
    ("Witness", 42.0),
    ("Reason", 48.0),
    ("Hash", 64.0),
];

/// (x, width) of each column, with a small gap between them.
fn pdf_columns() -> Vec<(f32, f32)> {
    let mut x = 0.0;
    PDF_COLUMNS
        .iter()
        .map(|(_, w)| {
            let at = (x, *w);
            x += w + 2.0;
            at
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    Rows,
    Done,
}

/// One register page's progress through the export.
struct PageState {
    page: Page,
    label: (String, String, String, String, String),
    walker: Option<ChainWalker>,
    first_broken: Option<BrokenEntry>,
    rows: i64,
}

pub struct RegisterExport {
    site: Site,
    format: ExportFormat,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    pages: std::vec::IntoIter<Page>,
    current: Option<PageState>,
    phase: Phase,
    pages_done: usize,
    all_verified: bool,
    total_rows: i64,
    names: HashMap<i64, String>,
    batches: HashMap<i64, String>,
    locations: HashMap<i64, String>,
    pdf: Option<PdfWriter>,
    /// One writer for the whole CSV export; each chunk takes what it has written.
    csv: csv::Writer<Vec<u8>>,
    /// Entries read ahead by a thread with a connection of its own, a few runs at most, so
    /// reading the next rows overlaps with checking and writing these.
    feed: std::sync::mpsc::Receiver<Result<Batch, AppError>>,
}

/// Entries gathered before the reader hands them to the writer: large runs keep the two
/// threads from waking each other for every few rows.
const HANDOVER_BYTES: usize = 1 << 20;

/// A run of one page's entries; `last` marks the end of the page.
struct Batch {
    page_id: i64,
    chunk: EntryChunk,
    last: bool,
}

/// Reads every page's entries in order and hands them over; stops when the reader goes away.
fn read_ahead(
    db: crate::db::Db,
    pages: Vec<i64>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    tx: std::sync::mpsc::SyncSender<Result<Batch, AppError>>,
) {
    let mut reader = match EntryReader::open(&db) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
    };
    for page_id in pages {
        let range = EntryRange {
            from,
            to,
            ..EntryRange::page(page_id)
        };
        let mut gone = false;
        let mut chunk = EntryChunk::default();
        let read = reader.read(&range, |entry| {
            chunk.push(entry);
            if chunk.byte_len() < HANDOVER_BYTES {
                return Ok(true);
            }
            let run = Batch {
                page_id,
                chunk: std::mem::take(&mut chunk),
                last: false,
            };
            gone = tx.send(Ok(run)).is_err();
            Ok(!gone)
        });
        if let Err(e) = read {
            let _ = tx.send(Err(e));
            return;
        }
        let end = Batch {
            page_id,
            chunk,
            last: true,
        };
        if gone || tx.send(Ok(end)).is_err() {
            return;
        }
    }
}

#[derive(Serialize)]
struct JsonEntry<'a> {
    id: i64,
    seq: i64,
    entry_type: &'a str,
    date_of_transaction: String,
    date_entered: String,
    late_entry: bool,
    counterparty: Option<&'a str>,
    counterparty_address: Option<&'a str>,
    patient_identifier: Option<&'a str>,
    prescriber: Option<&'a str>,
    collected_by: Option<&'a str>,
    identity_checked: Option<bool>,
    quantity: Quantity,
    balance_after: Quantity,
    batch_number: Option<&'a str>,
    location_code: Option<&'a str>,
    author_id: i64,
    author: &'a str,
    witness_id: Option<i64>,
    witness: Option<&'a str>,
    corrects_entry_id: Option<i64>,
    reason: Option<&'a str>,
    movement_id: Option<i64>,
    prev_hash: &'a str,
    hash: &'a str,
    chain_verified: bool,
}

impl RegisterExport {
    /// An export of the pages in scope, its entries read ahead from `db` on a connection of
    /// their own. The site and product checks are the caller's.
    pub fn new(
        conn: &mut AnyConnection,
        db: &crate::db::Db,
        site: Site,
        q: &ExportQuery,
    ) -> Result<Self, AppError> {
        if let (Some(from), Some(to)) = (q.from, q.to) {
            if to < from {
                return Err(AppError::invalid(
                    "to",
                    "after_from",
                    "must not be before from",
                ));
            }
        }
        let pages: Vec<Page> = queries::pages_of_site(conn, site.id)?
            .into_iter()
            .filter(|p| q.product_id.is_none_or(|id| p.product_id == id))
            .collect();
        let (tx, feed) = std::sync::mpsc::sync_channel(2);
        let page_ids: Vec<i64> = pages.iter().map(|p| p.id).collect();
        let (db, from, to) = (db.clone(), q.from, q.to);
        std::thread::spawn(move || read_ahead(db, page_ids, from, to, tx));
        Ok(RegisterExport {
            site,
            format: q.format.unwrap_or(ExportFormat::Csv),
            from: q.from,
            to: q.to,
            pages: pages.into_iter(),
            current: None,
            phase: Phase::Start,
            pages_done: 0,
            all_verified: true,
            total_rows: 0,
            names: HashMap::new(),
            batches: HashMap::new(),
            locations: HashMap::new(),
            pdf: None,
            csv: csv_writer(),
            feed,
        })
    }

    pub fn content_type(&self) -> &'static str {
        match self.format {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
            ExportFormat::Pdf => "application/pdf",
        }
    }

    pub fn file_name(&self) -> String {
        let ext = self.format.as_str();
        format!("cd-register-{}-{}.{ext}", self.site.code, now().date())
    }

    fn ranged(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    fn start(&mut self, out: &mut Vec<u8>) -> Result<(), AppError> {
        let generated = rfc3339(now());
        match self.format {
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record(CSV_HEADINGS).map_err(csv_error)?;
                out.extend(
                    w.into_inner()
                        .map_err(|e| AppError::internal(e.to_string()))?,
                );
            }
            ExportFormat::Json => {
                let head = serde_json::json!({
                    "site": {"id": self.site.id, "code": self.site.code, "name": self.site.name, "address": self.site.address},
                    "generated_at": generated,
                    "from": self.from,
                    "to": self.to,
                });
                let head = head.to_string();
                out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
                out.extend_from_slice(b",\"pages\":[");
            }
            ExportFormat::Pdf => {
                let (mut pdf, header) = PdfWriter::start();
                out.extend(header);
                pdf.running_head = format!(
                    "Controlled drugs register - {} ({}) - {}",
                    self.site.name, self.site.code, self.site.address
                );
                pdf.line(out, &format!("Exported {generated}"), false);
                let range = match (self.from, self.to) {
                    (None, None) => "all entries".to_string(),
                    (f, t) => format!(
                        "transactions from {} to {}",
                        f.map(|d| d.to_string()).unwrap_or("the first entry".into()),
                        t.map(|d| d.to_string()).unwrap_or("the last entry".into())
                    ),
                };
                pdf.line(out, &format!("Scope: {range}"), false);
                pdf.line(out, "Each entry's hash covers its content and the previous entry's hash; each section ends with the result of checking its chain.", false);
                self.pdf = Some(pdf);
            }
        }
        Ok(())
    }

    fn open_page(
        &mut self,
        conn: &mut AnyConnection,
        page: Page,
        out: &mut Vec<u8>,
    ) -> Result<(), AppError> {
        let (schedule, cabinet) = queries::page_labels(conn, &page)?;
        let cabinet = cabinet.unwrap_or_else(|| "whole prison (before cabinets)".into());
        let label = (
            page.drug.clone(),
            page.strength.clone(),
            page.form.clone(),
            page.unit.clone(),
            schedule,
        );
        let title = format!(
            "{} | {} | strength {} | form {} | unit {} | schedule {}",
            cabinet, label.0, label.1, label.2, label.3, label.4
        );
        match self.format {
            ExportFormat::Csv => {}
            ExportFormat::Json => {
                if self.pages_done > 0 {
                    out.push(b',');
                }
                let head = serde_json::json!({
                    "page_id": page.id, "product_id": page.product_id, "location_id": page.location_id,
                    "cabinet": cabinet, "drug": label.0, "strength": label.1,
                    "form": label.2, "unit": label.3, "cd_schedule": label.4,
                })
                .to_string();
                out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
                out.extend_from_slice(b",\"entries\":[");
            }
            ExportFormat::Pdf => {
                if let Some(pdf) = self.pdf.as_mut() {
                    pdf.section(out, &title);
                    let headings: Vec<String> =
                        PDF_COLUMNS.iter().map(|(h, _)| h.to_string()).collect();
                    pdf.row(out, &pdf_columns(), &headings, true);
                }
            }
        }
        self.current = Some(PageState {
            page,
            label,
            walker: None,
            first_broken: None,
            rows: 0,
        });
        Ok(())
    }

    /// Checks one row against the chain, seeding the walk from the entry before where the
    /// export starts mid-page.
    fn verify_row(
        conn: &mut AnyConnection,
        state: &mut PageState,
        row: &EntryRef<'_>,
    ) -> Result<bool, AppError> {
        let follows = state
            .walker
            .as_ref()
            .is_some_and(|w| w.last_seq() + 1 == row.seq);
        if !follows {
            state.walker = Some(if row.seq == 1 {
                ChainWalker::default()
            } else {
                match queries::entry_at_seq(conn, row.page_id, row.seq - 1)? {
                    Some(prev) => ChainWalker::after(prev.seq, prev.hash, prev.balance_after),
                    // Nothing to chain to: the step below reports the gap.
                    None => ChainWalker::after(
                        row.seq - 2,
                        row.prev_hash.to_string(),
                        row.balance_after - row.quantity,
                    ),
                }
            });
        }
        let walker = state.walker.get_or_insert_with(ChainWalker::default);
        match walker.step(
            row.id,
            &row.content(state.page.heading()),
            row.prev_hash,
            row.hash,
        ) {
            Ok(()) => Ok(true),
            Err(b) => {
                if state.first_broken.is_none() {
                    state.first_broken = Some(BrokenEntry {
                        entry_id: Some(b.entry_id),
                        seq: b.seq,
                        problem: b.problem.to_string(),
                    });
                }
                // Carry on from this row so later rows are judged on their own.
                *walker = ChainWalker::after(row.seq, row.hash.to_string(), row.balance_after);
                Ok(false)
            }
        }
    }

    fn name(&mut self, conn: &mut AnyConnection, id: i64) -> Result<String, AppError> {
        if let Some(n) = self.names.get(&id) {
            return Ok(n.clone());
        }
        let n: String = users::table
            .find(id)
            .select(users::display_name)
            .first(conn)
            .optional()?
            .unwrap_or_else(|| format!("user {id}"));
        self.names.insert(id, n.clone());
        Ok(n)
    }

    fn batch(
        &mut self,
        conn: &mut AnyConnection,
        id: Option<i64>,
    ) -> Result<Option<String>, AppError> {
        let Some(id) = id else { return Ok(None) };
        if let Some(n) = self.batches.get(&id) {
            return Ok(Some(n.clone()));
        }
        let n: String = batches::table
            .find(id)
            .select(batches::batch_number)
            .first(conn)?;
        self.batches.insert(id, n.clone());
        Ok(Some(n))
    }

    fn location(
        &mut self,
        conn: &mut AnyConnection,
        id: Option<i64>,
    ) -> Result<Option<String>, AppError> {
        let Some(id) = id else { return Ok(None) };
        if let Some(n) = self.locations.get(&id) {
            return Ok(Some(n.clone()));
        }
        let n: String = locations::table
            .find(id)
            .select(locations::code)
            .first(conn)?;
        self.locations.insert(id, n.clone());
        Ok(Some(n))
    }

    fn write_row(
        &mut self,
        conn: &mut AnyConnection,
        row: &EntryRef<'_>,
        verified: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), AppError> {
        if self.format == ExportFormat::Csv {
            return self.write_csv_row(conn, row, verified);
        }
        let author = self.name(conn, row.author_id)?;
        let witness = match row.witness_id {
            Some(id) => Some(self.name(conn, id)?),
            None => None,
        };
        let batch = self.batch(conn, row.batch_id)?;
        let location = self.location(conn, row.location_id)?;
        let state = self
            .current
            .as_ref()
            .ok_or_else(|| AppError::internal("no page open"))?;
        let (received, supplied) = if row.quantity >= 0 {
            (
                Quantity::from_scaled(row.quantity).to_string(),
                String::new(),
            )
        } else {
            (
                String::new(),
                Quantity::from_scaled(-row.quantity).to_string(),
            )
        };
        let balance = Quantity::from_scaled(row.balance_after).to_string();
        let opt = |v: Option<&str>| v.unwrap_or_default().to_string();
        match self.format {
            // Written field by field in write_csv_row.
            ExportFormat::Csv => {}
            ExportFormat::Json => {
                if state.rows > 0 {
                    out.push(b',');
                }
                let entry = JsonEntry {
                    id: row.id,
                    seq: row.seq,
                    entry_type: row.entry_type,
                    date_of_transaction: rfc3339(row.occurred_at),
                    date_entered: rfc3339(row.recorded_at),
                    late_entry: row.late(),
                    counterparty: row.counterparty,
                    counterparty_address: row.counterparty_address,
                    patient_identifier: row.patient_identifier,
                    prescriber: row.prescriber,
                    collected_by: row.collected_by,
                    identity_checked: row.identity_checked,
                    quantity: Quantity::from_scaled(row.quantity),
                    balance_after: Quantity::from_scaled(row.balance_after),
                    batch_number: batch.as_deref(),
                    location_code: location.as_deref(),
                    author_id: row.author_id,
                    author: &author,
                    witness_id: row.witness_id,
                    witness: witness.as_deref(),
                    corrects_entry_id: row.corrects_entry_id,
                    reason: row.reason,
                    movement_id: row.movement_id,
                    prev_hash: row.prev_hash,
                    hash: row.hash,
                    chain_verified: verified,
                };
                serde_json::to_writer(&mut *out, &entry)
                    .map_err(|e| AppError::internal(e.to_string()))?;
            }
            ExportFormat::Pdf => {
                let mut entry = row.entry_type.replace('_', " ");
                if row.late() {
                    entry.push_str(" (late)");
                }
                if let Some(id) = row.corrects_entry_id {
                    entry.push_str(&format!(", corrects entry {id}"));
                }
                let place = match (batch, location) {
                    (Some(b), Some(l)) => format!("{b}, {l}"),
                    (b, l) => b.or(l).unwrap_or_default(),
                };
                let identity = match row.identity_checked {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "",
                };
                let cells = [
                    format_time(row.occurred_at)[..19].replace('T', " "),
                    format_time(row.recorded_at)[..19].replace('T', " "),
                    entry,
                    opt(row.counterparty),
                    opt(row.counterparty_address),
                    opt(row.patient_identifier),
                    opt(row.prescriber),
                    opt(row.collected_by),
                    identity.to_string(),
                    received,
                    supplied,
                    balance,
                    place,
                    author,
                    witness.unwrap_or_default(),
                    opt(row.reason),
                    format!("{}{}", row.hash, if verified { "" } else { " BROKEN" }),
                ];
                if let Some(pdf) = self.pdf.as_mut() {
                    pdf.row(out, &pdf_columns(), &cells, false);
                }
            }
        }
        Ok(())
    }

    /// The CSV row, written field by field without building strings: exports run to millions
    /// of rows.
    fn write_csv_row(
        &mut self,
        conn: &mut AnyConnection,
        row: &EntryRef<'_>,
        verified: bool,
    ) -> Result<(), AppError> {
        self.name(conn, row.author_id)?;
        if let Some(w) = row.witness_id {
            self.name(conn, w)?;
        }
        self.batch(conn, row.batch_id)?;
        self.location(conn, row.location_id)?;
        let RegisterExport {
            csv,
            names,
            batches,
            locations,
            site,
            current,
            ..
        } = self;
        let state = current
            .as_ref()
            .ok_or_else(|| AppError::internal("no page open"))?;
        let mut ints = [
            itoa::Buffer::new(),
            itoa::Buffer::new(),
            itoa::Buffer::new(),
        ];
        let [page_id, id, seq] = &mut ints;
        let (mut received, mut supplied, mut balance) =
            (String::new(), String::new(), String::new());
        if row.quantity >= 0 {
            write_scaled(row.quantity, &mut received);
        } else {
            write_scaled(-row.quantity, &mut supplied);
        }
        write_scaled(row.balance_after, &mut balance);
        let occurred = time_z(row.occurred_at);
        let recorded = time_z(row.recorded_at);
        let mut corrects = itoa::Buffer::new();
        let mut movement = itoa::Buffer::new();
        let fields: [&[u8]; 30] = [
            &cell(site.code.as_bytes()),
            page_id.format(row.page_id).as_bytes(),
            &cell(state.label.0.as_bytes()),
            &cell(state.label.1.as_bytes()),
            &cell(state.label.2.as_bytes()),
            id.format(row.id).as_bytes(),
            seq.format(row.seq).as_bytes(),
            &cell(row.entry_type.as_bytes()),
            &occurred,
            &recorded,
            if row.late() { b"true" } else { b"false" },
            &cell(text(row.counterparty)),
            &cell(text(row.counterparty_address)),
            &cell(text(row.patient_identifier)),
            &cell(text(row.prescriber)),
            &cell(text(row.collected_by)),
            match row.identity_checked {
                Some(true) => b"yes",
                Some(false) => b"no",
                None => b"",
            },
            received.as_bytes(),
            supplied.as_bytes(),
            balance.as_bytes(),
            &cell(lookup(batches, row.batch_id).as_bytes()),
            &cell(lookup(locations, row.location_id).as_bytes()),
            &cell(lookup(names, Some(row.author_id)).as_bytes()),
            &cell(lookup(names, row.witness_id).as_bytes()),
            row.corrects_entry_id
                .map(|v| corrects.format(v).as_bytes())
                .unwrap_or(b""),
            &cell(text(row.reason)),
            row.movement_id
                .map(|v| movement.format(v).as_bytes())
                .unwrap_or(b""),
            row.prev_hash.as_bytes(),
            row.hash.as_bytes(),
            if verified { b"true" } else { b"false" },
        ];
        csv.write_record(fields).map_err(csv_error)
    }

    fn close_page(&mut self, out: &mut Vec<u8>) {
        let Some(mut state) = self.current.take() else {
            return;
        };
        let walker = state.walker.take().unwrap_or_default();
        // A whole-page export can also check that no entry is missing after the last one.
        if state.first_broken.is_none()
            && !self.ranged()
            && (walker.last_seq() != state.page.entry_count
                || walker.head_hash() != state.page.head_hash)
        {
            state.first_broken = Some(BrokenEntry {
                entry_id: None,
                seq: walker.last_seq() + 1,
                problem: format!(
                    "the page records {} entries, but the entries end at {}",
                    state.page.entry_count,
                    walker.last_seq()
                ),
            });
        }
        let intact = state.first_broken.is_none();
        self.all_verified &= intact;
        match self.format {
            ExportFormat::Csv => {}
            ExportFormat::Json => {
                let v = serde_json::json!({
                    "status": if intact { "intact" } else { "broken" },
                    "entries": state.rows,
                    "head_hash": walker.head_hash(),
                    "first_broken": state.first_broken,
                });
                out.extend_from_slice(format!("],\"verification\":{v}}}").as_bytes());
            }
            ExportFormat::Pdf => {
                let verdict = match &state.first_broken {
                    None => format!(
                        "Chain verified intact: {} entries shown, head hash {}",
                        state.rows,
                        walker.head_hash()
                    ),
                    Some(b) => format!(
                        "CHAIN BROKEN at entry {} (seq {}): {}",
                        b.entry_id.map(|i| i.to_string()).unwrap_or("-".into()),
                        b.seq,
                        b.problem
                    ),
                };
                if let Some(pdf) = self.pdf.as_mut() {
                    if state.rows == 0 {
                        pdf.line(out, "No entries in this range.", false);
                    }
                    pdf.line(out, &verdict, true);
                }
            }
        }
        self.pages_done += 1;
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        match self.format {
            ExportFormat::Csv => {}
            ExportFormat::Json => {
                out.extend_from_slice(
                    format!(
                        "],\"entries\":{},\"verified\":{}}}",
                        self.total_rows, self.all_verified
                    )
                    .as_bytes(),
                );
            }
            ExportFormat::Pdf => {
                if let Some(mut pdf) = self.pdf.take() {
                    let verdict = if self.all_verified {
                        format!(
                            "End of register export: {} entries on {} register pages; every chain verified.",
                            self.total_rows, self.pages_done
                        )
                    } else {
                        format!("End of register export: {} entries on {} register pages; A CHAIN DID NOT VERIFY.", self.total_rows, self.pages_done)
                    };
                    pdf.line(out, &verdict, true);
                    pdf.finish(out);
                }
            }
        }
    }
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(1 << 20))
}

/// A time as RFC 3339 UTC with `Z`, without allocating: exports run to millions of rows.
fn time_z(t: chrono::NaiveDateTime) -> [u8; 27] {
    let mut out = [b'Z'; 27];
    out[..26].copy_from_slice(&crate::domain::register::time_bytes(t));
    out
}

/// A text cell as a spreadsheet will not run it: one that starts with `=`, `+`, `-`, `@`, a tab
/// or a carriage return is a formula to Excel and its kin, so it is prefixed with `'`.
pub fn cell(v: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match v.first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => {
            let mut safe = Vec::with_capacity(v.len() + 1);
            safe.push(b'\'');
            safe.extend_from_slice(v);
            std::borrow::Cow::Owned(safe)
        }
        _ => std::borrow::Cow::Borrowed(v),
    }
}

fn text(v: Option<&str>) -> &[u8] {
    v.unwrap_or("").as_bytes()
}

fn lookup(map: &HashMap<i64, String>, id: Option<i64>) -> &str {
    id.and_then(|i| map.get(&i))
        .map(String::as_str)
        .unwrap_or("")
}

/// A quantity in thousandths as a decimal without trailing zeros ("60", "12.5").
fn write_scaled(v: i64, out: &mut String) {
    let a = v.unsigned_abs();
    if v < 0 {
        out.push('-');
    }
    out.push_str(itoa::Buffer::new().format(a / 1000));
    let frac = a % 1000;
    if frac != 0 {
        let digits = format!("{frac:03}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

fn csv_error(e: csv::Error) -> AppError {
    AppError::internal(format!("csv: {e}"))
}

impl ChunkSource for RegisterExport {
    fn next_chunk(&mut self, conn: &mut AnyConnection) -> Result<Option<Vec<u8>>, AppError> {
        let mut out = Vec::with_capacity(64 * 1024);
        match self.phase {
            Phase::Done => return Ok(None),
            Phase::Start => {
                self.start(&mut out)?;
                self.phase = Phase::Rows;
                return Ok(Some(out));
            }
            Phase::Rows => {}
        }
        if self.current.is_none() {
            match self.pages.next() {
                Some(page) => self.open_page(conn, page, &mut out)?,
                None => {
                    self.finish(&mut out);
                    self.phase = Phase::Done;
                    return Ok(Some(out));
                }
            }
        }
        let page_id = self
            .current
            .as_ref()
            .ok_or_else(|| AppError::internal("no page open"))?
            .page
            .id;
        let batch = self
            .feed
            .recv()
            .map_err(|_| AppError::internal("export reader stopped"))??;
        if batch.page_id != page_id {
            return Err(AppError::internal("export reader out of step"));
        }
        for entry in batch.chunk.entries() {
            let row = entry?;
            let state = self
                .current
                .as_mut()
                .ok_or_else(|| AppError::internal("no page open"))?;
            let verified = Self::verify_row(conn, state, &row)?;
            self.write_row(conn, &row, verified, &mut out)?;
            if let Some(state) = self.current.as_mut() {
                state.rows += 1;
            }
            self.total_rows += 1;
        }
        if self.format == ExportFormat::Csv {
            let written = std::mem::replace(&mut self.csv, csv_writer());
            out.extend(
                written
                    .into_inner()
                    .map_err(|e| AppError::internal(format!("csv: {e}")))?,
            );
        }
        if batch.last {
            self.close_page(&mut out);
        }
        Ok(Some(out))
    }
}
