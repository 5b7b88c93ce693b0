//! The stock ledger: the one function through which every change of stock passes, and the CD
//! register's chain that it appends to. Capability folders use it; it uses none of them.

pub mod facts;
pub mod model;
pub mod queries;
pub mod register;
mod writes;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::audit::{self, Actor};
use crate::db::schema::{batches, cd_register_entries, locations};
use crate::db::{now, placeholder, AnyConnection};
use crate::domain::register::bounded_occurred_at;
use crate::domain::stock::{issue_blocked, BatchStatus, CdSchedule, MovementReason};
use crate::domain::Quantity;
use crate::error::AppError;
pub use facts::StockFacts;
use model::{EntryDraft, EntryRow, RegisterDetail};
use queries::MAX_BALANCE;

/// One change of one batch at one location.
#[derive(Debug, Clone)]
pub struct Posting {
    pub site_id: i64,
    pub location_id: i64,
    pub batch_id: i64,
    /// Signed change, in scaled units: positive into the location, negative out.
    pub quantity: Quantity,
    pub reason: MovementReason,
    pub reason_code: Option<String>,
    pub note: Option<String>,
    /// The record that caused this movement, e.g. ("transfer", 12).
    pub reference: Option<(&'static str, i64)>,
    /// When it happened, if not now (a late entry keeps both times).
    pub occurred_at: Option<NaiveDateTime>,
    /// Lets recalled, quarantined or expired stock be moved, e.g. into quarantine.
    pub allow_unusable: bool,
    /// What the CD register records beyond the movement, for register-tracked products.
    pub register: RegisterDetail,
}

impl Posting {
    pub fn new(
        site_id: i64,
        location_id: i64,
        batch_id: i64,
        quantity: Quantity,
        reason: MovementReason,
    ) -> Self {
        Posting {
            site_id,
            location_id,
            batch_id,
            quantity,
            reason,
            reason_code: None,
            note: None,
            reference: None,
            occurred_at: None,
            allow_unusable: false,
            register: RegisterDetail::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posted {
    pub movement_id: i64,
    pub product_id: i64,
    pub balance_after: Quantity,
    /// The CD register entry written with the movement, for register-tracked products.
    pub register_entry_id: Option<i64>,
}

/// Writes the movement, moves the balance of (location, batch), appends the CD register entry
/// for register-tracked products, and writes the audit event, all in the caller's transaction.
/// Because these writes happen together, a balance always equals the sum of its movements and a
/// register page's balance equals the stock of its product at the site.
pub fn post(conn: &mut AnyConnection, actor: &Actor, p: &Posting) -> Result<Posted, AppError> {
    let mut events = Vec::with_capacity(1);
    let posted = post_with_events(conn, actor, p, &mut events)?;
    audit::record_all(conn, actor, &events)?;
    Ok(posted)
}

/// As `post`, but its audit event is added to `events`, for the caller to record in the same
/// transaction together with its own: one statement for all of a request's events.
pub fn post_with_events(
    conn: &mut AnyConnection,
    actor: &Actor,
    p: &Posting,
    events: &mut Vec<audit::Event>,
) -> Result<Posted, AppError> {
    let facts = match StockFacts::of_batch(conn, p.location_id, p.batch_id)? {
        Some(facts) => facts,
        None => {
            // The location has never held the batch: a receipt opens its balance at zero.
            let (location_site, product_id) = location_and_batch(conn, p)?;
            if p.quantity.is_positive() {
                ensure_balance_row(conn, location_site, p.location_id, p.batch_id, product_id)?;
            }
            StockFacts::of_batch(conn, p.location_id, p.batch_id)?.ok_or_else(|| {
                AppError::conflict(
                    "insufficient_stock",
                    format!(
                        "none of this batch is held at this location; {} requested",
                        -p.quantity
                    ),
                )
            })?
        }
    };
    post_from(conn, actor, p, &facts, events)
}

/// 404 naming whichever of the location (at the posting's site) and the batch does not exist;
/// otherwise the location's site and the batch's product.
fn location_and_batch(conn: &mut AnyConnection, p: &Posting) -> Result<(i64, i64), AppError> {
    let site = locations::table
        .find(p.location_id)
        .select(locations::site_id)
        .first::<i64>(conn)
        .optional()?
        .filter(|site| *site == p.site_id)
        .ok_or_else(|| AppError::not_found("location"))?;
    let product = batches::table
        .find(p.batch_id)
        .select(batches::product_id)
        .first::<i64>(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("batch"))?;
    Ok((site, product))
}

/// Posts with the facts already read (`StockFacts::of_batch` or `StockFacts::held`): checks the
/// rules, then writes the balance, the movement and any register entry. On PostgreSQL these are
/// one statement; on SQLite, in process, three.
pub fn post_from(
    conn: &mut AnyConnection,
    actor: &Actor,
    p: &Posting,
    facts: &StockFacts,
    events: &mut Vec<audit::Event>,
) -> Result<Posted, AppError> {
    let delta = p.quantity.scaled();
    if delta == 0 {
        return Err(AppError::invalid(
            "quantity",
            "non_zero",
            "must not be zero",
        ));
    }
    match p.reason.direction() {
        Some(true) if delta < 0 => {
            return Err(AppError::invalid(
                "quantity",
                "positive",
                format!("a {} adds stock", p.reason),
            ));
        }
        Some(false) if delta > 0 => {
            return Err(AppError::invalid(
                "quantity",
                "negative",
                format!("a {} removes stock", p.reason),
            ));
        }
        _ => {}
    }
    let occurred_at = match p.occurred_at {
        // Any backdating window is the caller's to set; no time past the clock or a leap second.
        Some(t) => Some(
            bounded_occurred_at(t, now(), 366 * 100)
                .map_err(|(rule, msg)| AppError::invalid("occurred_at", rule, msg))?,
        ),
        None => None,
    };
    if facts.batch_id != p.batch_id || facts.location_id != p.location_id {
        return Err(AppError::internal(
            "stock facts of another batch or location",
        ));
    }
    if facts.location_site != p.site_id {
        return Err(AppError::not_found("location"));
    }
    let tracked = facts.tracked;
    controlled_drug_rules(actor, p, CdSchedule::from_db(&facts.schedule), tracked)?;
    if tracked {
        register_custody_rules(conn, p, facts.product_id, facts.cabinet)?;
    }
    let batch_number = &facts.batch_number;
    if delta < 0 && p.reason.is_issue() && !p.allow_unusable {
        let today = now().date();
        let status = BatchStatus::from_db(&facts.status);
        if let Some(code) = issue_blocked(status, facts.expiry, today) {
            return Err(AppError::conflict(
                code,
                format!(
                    "batch {batch_number} cannot be issued: {}",
                    code.trim_start_matches("batch_")
                ),
            ));
        }
    }
    let balance_after = facts.held + delta;
    if balance_after < 0 {
        return Err(AppError::conflict(
            "insufficient_stock",
            format!(
                "{} of batch {batch_number} held at this location; {} requested",
                Quantity::from_scaled(facts.held),
                Quantity::from_scaled(-delta)
            ),
        ));
    }
    if balance_after > MAX_BALANCE {
        return Err(AppError::conflict(
            "quantity_range",
            format!(
                "{} of batch {batch_number} held here already; the largest balance kept is {}",
                Quantity::from_scaled(facts.held),
                Quantity::from_scaled(MAX_BALANCE)
            ),
        ));
    }
    let ts = now();
    let occurred_at = occurred_at.unwrap_or(ts);
    // The page the entry goes on; opening it is the rare first entry of a cabinet and product.
    let page = match (tracked, facts.page()) {
        (false, _) => None,
        (true, Some(page)) => Some(page),
        (true, None) => Some(register::open_for_movement(
            conn,
            p.site_id,
            p.location_id,
            facts.product_id,
        )?),
    };
    let movement = writes::Movement {
        occurred_at,
        recorded_at: ts,
        site_id: p.site_id,
        location_id: p.location_id,
        batch_id: p.batch_id,
        product_id: facts.product_id,
        reason: p.reason.as_str(),
        reason_code: p.reason_code.as_deref(),
        quantity: delta,
        balance_before: facts.held,
        balance_after,
        actor_id: actor.user_id,
        request_id: &actor.request_id,
        reference_type: p.reference.map(|r| r.0),
        reference_id: p.reference.map(|r| r.1),
        note: p.note.as_deref(),
    };
    let entry = |movement_id: i64| -> Result<Option<EntryRow>, AppError> {
        let Some(page) = &page else { return Ok(None) };
        let draft = EntryDraft {
            site_id: p.site_id,
            product_id: facts.product_id,
            entry_type: p.reason.as_str().to_string(),
            movement_id: Some(movement_id),
            occurred_at,
            quantity: delta,
            location_id: p.location_id,
            batch_id: Some(p.batch_id),
            reason: p.note.clone(),
            detail: p.register.clone(),
        };
        register::next_entry(actor, page, &draft, ts).map(Some)
    };
    let (movement_id, register_entry_id) =
        writes::movement(conn, &movement, facts.next_movement_id, entry)?;
    events.push(audit::Event {
        site_id: Some(p.site_id),
        action: format!("stock.{}", p.reason),
        entity: "stock_movement",
        entity_id: movement_id,
        detail: Some(serde_json::json!({
            "location_id": p.location_id,
            "batch_id": p.batch_id,
            "product_id": facts.product_id,
            "quantity": p.quantity,
            "balance_after": Quantity::from_scaled(balance_after),
            "register_entry_id": register_entry_id,
        })),
    });
    Ok(Posted {
        movement_id,
        product_id: facts.product_id,
        balance_after: Quantity::from_scaled(balance_after),
        register_entry_id,
    })
}

/// What the law and local policy require before a controlled drug's stock may move: a witness
/// for every schedule 2 or register-tracked dose and every register-tracked destruction, and no
/// unexplained adjustment of a register page.
fn controlled_drug_rules(
    actor: &Actor,
    p: &Posting,
    schedule: CdSchedule,
    tracked: bool,
) -> Result<(), AppError> {
    let witnessed = match p.reason {
        MovementReason::DoseGiven => tracked || schedule == CdSchedule::S2,
        MovementReason::Destruction => tracked,
        _ => false,
    };
    if witnessed && p.register.witness_id.is_none() {
        return Err(AppError::invalid(
            "witness",
            "required",
            format!(
                "a register-tracked controlled drug needs a witness for this {}",
                p.reason.as_str().replace('_', " ")
            ),
        ));
    }
    if p.register.witness_id == Some(actor.user_id) {
        return Err(AppError::invalid(
            "witness",
            "different_person",
            "the witness must be a different person from the author",
        ));
    }
    if !tracked {
        return Ok(());
    }
    let silent_adjustment = matches!(
        p.reason,
        MovementReason::Adjustment | MovementReason::Wastage | MovementReason::ExpiryWriteOff
    ) && !matches!(p.reference, Some(("cd_balance_check", _)));
    if silent_adjustment {
        return Err(AppError::conflict(
            "cd_register_adjustment",
            "stock of a register-tracked controlled drug changes only by receipt, supply, transfer, \
             witnessed destruction, correction of an entry, or the resolution of a balance check",
        ));
    }
    if p.reason == MovementReason::Correction && p.register.corrects_entry_id.is_none() {
        return Err(AppError::invalid(
            "corrects_entry_id",
            "required",
            "a correction of a register-tracked product names the entry it corrects",
        ));
    }
    if p.quantity.is_negative() && p.register.witness_id.is_none() {
        return Err(AppError::invalid(
            "witness",
            "required",
            format!(
                "this {} reduces register stock: a second person must authenticate as witness",
                p.reason
            ),
        ));
    }
    Ok(())
}

/// Where register stock may be and how a correction may change it: only in a CD cabinet, whose
/// page records it; a correction reverses all or part of the entry it names, at the same
/// cabinet and batch, and never more than is left of it.
fn register_custody_rules(
    conn: &mut AnyConnection,
    p: &Posting,
    product_id: i64,
    cabinet: bool,
) -> Result<(), AppError> {
    if !cabinet {
        return Err(AppError::conflict(
            "cd_cabinet_required",
            "register-tracked stock is held only in a location marked as a CD cabinet",
        ));
    }
    let Some(original_id) = p
        .register
        .corrects_entry_id
        .filter(|_| p.reason == MovementReason::Correction)
    else {
        return Ok(());
    };
    let original: Option<(i64, i64, Option<i64>, Option<i64>)> = cd_register_entries::table
        .find(original_id)
        .select((
            cd_register_entries::product_id,
            cd_register_entries::quantity,
            cd_register_entries::location_id,
            cd_register_entries::batch_id,
        ))
        .first(conn)
        .optional()?;
    let Some((original_product, original_quantity, original_location, original_batch)) = original
    else {
        return Err(AppError::not_found("register entry"));
    };
    if original_product != product_id
        || original_location != Some(p.location_id)
        || original_batch.is_some_and(|b| b != p.batch_id)
    {
        return Err(AppError::invalid(
            "batch_id",
            "same_entry",
            "a correction is posted at the cabinet and batch of the entry it corrects",
        ));
    }
    let corrected: i64 = cd_register_entries::table
        .filter(cd_register_entries::corrects_entry_id.eq(original_id))
        .select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "CAST(COALESCE(SUM(quantity), 0) AS BIGINT)",
        ))
        .first(conn)?;
    let left = original_quantity + corrected;
    let delta = p.quantity.scaled();
    if left == 0 || delta.signum() == left.signum() || delta.abs() > left.abs() {
        return Err(AppError::invalid(
            "quantity",
            "reverses_original",
            format!(
                "a correction may only reverse all or part of the entry it corrects: between 0 and {} here",
                Quantity::from_scaled(-left)
            ),
        ));
    }
    Ok(())
}

/// The balance row exists before it is moved, even when two first receipts race.
fn ensure_balance_row(
    conn: &mut AnyConnection,
    site_id: i64,
    location_id: i64,
    batch_id: i64,
    product_id: i64,
) -> Result<(), AppError> {
    let sql = format!(
        "INSERT INTO stock_balances (site_id, location_id, batch_id, product_id, quantity, updated_at) \
         VALUES ({}, {}, {}, {}, 0, {}) ON CONFLICT (location_id, batch_id) DO NOTHING",
        placeholder(conn, 1),
        placeholder(conn, 2),
        placeholder(conn, 3),
        placeholder(conn, 4),
        placeholder(conn, 5),
    );
    crate::db::prepared(
        diesel::sql_query(sql)
            .bind::<diesel::sql_types::BigInt, _>(site_id)
            .bind::<diesel::sql_types::BigInt, _>(location_id)
            .bind::<diesel::sql_types::BigInt, _>(batch_id)
            .bind::<diesel::sql_types::BigInt, _>(product_id)
            .bind::<diesel::sql_types::Timestamp, _>(now()),
    )
    .execute(conn)?;
    Ok(())
}
