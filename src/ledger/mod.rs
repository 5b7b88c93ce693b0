//! The stock ledger: the one function through which every change of stock passes, and the CD
//! register's chain that it appends to. Capability folders use it; it uses none of them.

pub mod model;
pub mod queries;
pub mod register;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::audit::{self, Actor};
use crate::db::schema::{
    batches, cd_register_entries, locations, products, stock_balances, stock_movements,
};
use crate::db::{now, placeholder, AnyConnection};
use crate::domain::register::bounded_occurred_at;
use crate::domain::stock::{issue_blocked, BatchStatus, CdSchedule, MovementReason};
use crate::domain::Quantity;
use crate::error::AppError;
use model::{EntryDraft, RegisterDetail};
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

/// Writes the movement, moves the balance of (location, batch) with a guarded update that can
/// never take it below zero, appends the CD register entry for register-tracked products, and
/// writes the audit event, all in the caller's transaction. Because these writes happen
/// together, a balance always equals the sum of its movements and a register page's balance
/// equals the stock of its product at the site.
pub fn post(conn: &mut AnyConnection, actor: &Actor, p: &Posting) -> Result<Posted, AppError> {
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
    let (location_site, cabinet): (i64, bool) = locations::table
        .find(p.location_id)
        .select((locations::site_id, locations::cd_cabinet))
        .first(conn)
        .optional()?
        .filter(|(site, _)| *site == p.site_id)
        .ok_or_else(|| AppError::not_found("location"))?;
    let (product_id, status, expiry, batch_number, schedule, tracked): (
        i64,
        String,
        chrono::NaiveDate,
        String,
        String,
        bool,
    ) = batches::table
        .inner_join(products::table)
        .filter(batches::id.eq(p.batch_id))
        .select((
            batches::product_id,
            batches::status,
            batches::expiry_date,
            batches::batch_number,
            products::cd_schedule,
            products::cd_register,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("batch"))?;
    controlled_drug_rules(actor, p, CdSchedule::from_db(&schedule), tracked)?;
    if tracked {
        register_custody_rules(conn, p, product_id, cabinet)?;
    }
    if delta < 0 && p.reason.is_issue() && !p.allow_unusable {
        let today = now().date();
        if let Some(code) = issue_blocked(BatchStatus::from_db(&status), expiry, today) {
            return Err(AppError::conflict(
                code,
                format!(
                    "batch {batch_number} cannot be issued: {}",
                    code.trim_start_matches("batch_")
                ),
            ));
        }
    }

    ensure_balance_row(conn, location_site, p.location_id, p.batch_id, product_id)?;
    let ts = now();
    let balance_after: Option<i64> = diesel::update(
        stock_balances::table
            .filter(stock_balances::location_id.eq(p.location_id))
            .filter(stock_balances::batch_id.eq(p.batch_id))
            .filter(stock_balances::quantity.ge(-delta))
            .filter(stock_balances::quantity.le(MAX_BALANCE - delta.max(0))),
    )
    .set((
        stock_balances::quantity.eq(stock_balances::quantity + delta),
        stock_balances::updated_at.eq(ts),
    ))
    .returning(stock_balances::quantity)
    .get_result(conn)
    .optional()?;
    let Some(balance_after) = balance_after else {
        let held: i64 = stock_balances::table
            .filter(stock_balances::location_id.eq(p.location_id))
            .filter(stock_balances::batch_id.eq(p.batch_id))
            .select(stock_balances::quantity)
            .first(conn)?;
        if delta > 0 {
            return Err(AppError::conflict(
                "quantity_range",
                format!(
                    "{} of batch {batch_number} held here already; the largest balance kept is {}",
                    Quantity::from_scaled(held),
                    Quantity::from_scaled(MAX_BALANCE)
                ),
            ));
        }
        return Err(AppError::conflict(
            "insufficient_stock",
            format!(
                "{} of batch {batch_number} held at this location; {} requested",
                Quantity::from_scaled(held),
                Quantity::from_scaled(-delta)
            ),
        ));
    };

    let movement_id: i64 = diesel::insert_into(stock_movements::table)
        .values((
            stock_movements::occurred_at.eq(occurred_at.unwrap_or(ts)),
            stock_movements::recorded_at.eq(ts),
            stock_movements::site_id.eq(p.site_id),
            stock_movements::location_id.eq(p.location_id),
            stock_movements::batch_id.eq(p.batch_id),
            stock_movements::product_id.eq(product_id),
            stock_movements::reason.eq(p.reason.as_str()),
            stock_movements::reason_code.eq(&p.reason_code),
            stock_movements::quantity.eq(delta),
            stock_movements::balance_after.eq(balance_after),
            stock_movements::actor_id.eq(actor.user_id),
            stock_movements::request_id.eq(&actor.request_id),
            stock_movements::reference_type.eq(p.reference.map(|r| r.0)),
            stock_movements::reference_id.eq(p.reference.map(|r| r.1)),
            stock_movements::note.eq(&p.note),
        ))
        .returning(stock_movements::id)
        .get_result(conn)?;

    let register_entry_id = if tracked {
        let draft = EntryDraft {
            site_id: p.site_id,
            product_id,
            entry_type: p.reason.as_str().to_string(),
            movement_id: Some(movement_id),
            occurred_at: occurred_at.unwrap_or(ts),
            quantity: delta,
            location_id: p.location_id,
            batch_id: Some(p.batch_id),
            reason: p.note.clone(),
            detail: p.register.clone(),
        };
        Some(register::append(conn, actor, &draft)?)
    } else {
        None
    };

    audit::record(
        conn,
        actor,
        Some(p.site_id),
        &format!("stock.{}", p.reason),
        "stock_movement",
        movement_id,
        Some(serde_json::json!({
            "location_id": p.location_id,
            "batch_id": p.batch_id,
            "product_id": product_id,
            "quantity": p.quantity,
            "balance_after": Quantity::from_scaled(balance_after),
            "register_entry_id": register_entry_id,
        })),
    )?;
    Ok(Posted {
        movement_id,
        product_id,
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
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::BigInt, _>(site_id)
        .bind::<diesel::sql_types::BigInt, _>(location_id)
        .bind::<diesel::sql_types::BigInt, _>(batch_id)
        .bind::<diesel::sql_types::BigInt, _>(product_id)
        .bind::<diesel::sql_types::Timestamp, _>(now())
        .execute(conn)?;
    Ok(())
}
