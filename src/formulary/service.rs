use diesel::prelude::*;

use super::model::{Batch, CreateBatch, CreateProduct, Product, SetBatchStatus, UpdateProduct};
use super::queries;
use crate::audit::{self, Actor};
use crate::db::schema::products;
use crate::db::{conflict_on_duplicate, now, AnyConnection};
use crate::domain::procurement::ServiceLine;
use crate::domain::stock::{BatchStatus, CdSchedule, Possession};
use crate::error::AppError;

/// Schedule 2 CDs are register-tracked by law; buprenorphine by near-universal prison practice.
pub fn default_cd_register(schedule: CdSchedule, ingredient: &str) -> bool {
    schedule == CdSchedule::S2 || ingredient.to_lowercase().contains("buprenorphine")
}

/// Schedule 2 CDs, opioid substitution and medicines of concern are supervised unless a
/// pharmacist decides otherwise for a patient.
pub fn default_possession(
    schedule: CdSchedule,
    medicine_of_concern: bool,
    opioid_substitution: bool,
) -> Possession {
    if schedule == CdSchedule::S2 || medicine_of_concern || opioid_substitution {
        Possession::Supervised
    } else {
        Possession::InPossession
    }
}

/// The product a request names in a field, or 422 naming the field.
pub fn named_product(
    conn: &mut AnyConnection,
    field: &str,
    id: i64,
) -> Result<super::model::ProductRow, AppError> {
    queries::product(conn, id)?.ok_or_else(|| AppError::invalid(field, "exists", "no such product"))
}

pub fn product(conn: &mut AnyConnection, id: i64) -> Result<Product, AppError> {
    Ok(queries::product(conn, id)?
        .ok_or_else(|| AppError::not_found("product"))?
        .into())
}

pub fn create_product(
    conn: &mut AnyConnection,
    actor: &Actor,
    req: &CreateProduct,
) -> Result<Product, AppError> {
    if !req.pack_size.is_positive() {
        return Err(AppError::invalid(
            "pack_size",
            "positive",
            "must be greater than zero",
        ));
    }
    if req.max_daily_dose.is_some_and(|d| !d.is_positive()) {
        return Err(AppError::invalid(
            "max_daily_dose",
            "positive",
            "must be greater than zero",
        ));
    }
    let cd_register = req
        .cd_register
        .unwrap_or_else(|| default_cd_register(req.cd_schedule, &req.ingredient));
    let possession = req.default_possession.unwrap_or_else(|| {
        default_possession(
            req.cd_schedule,
            req.medicine_of_concern,
            req.opioid_substitution,
        )
    });
    let ts = now();
    let id: i64 = diesel::insert_into(products::table)
        .values((
            products::dmd_code.eq(&req.dmd_code),
            products::dmd_type.eq(req.dmd_type.as_str()),
            products::name.eq(&req.name),
            products::form.eq(&req.form),
            products::strength.eq(&req.strength),
            products::unit.eq(&req.unit),
            products::pack_size.eq(req.pack_size.scaled()),
            products::ingredient.eq(&req.ingredient),
            products::cd_schedule.eq(req.cd_schedule.as_str()),
            products::cd_register.eq(cd_register),
            products::medicine_of_concern.eq(req.medicine_of_concern),
            products::default_possession.eq(possession.as_str()),
            products::max_daily_dose.eq(req.max_daily_dose.map(|d| d.scaled())),
            products::dose_unit.eq(&req.dose_unit),
            products::therapeutic_class.eq(&req.therapeutic_class),
            products::critical.eq(req.critical),
            products::weekly_only.eq(req.weekly_only),
            products::time_critical.eq(req.time_critical),
            products::service_line.eq(req
                .service_line
                .unwrap_or(
                    if req.opioid_substitution || req.ingredient.eq_ignore_ascii_case("naloxone") {
                        ServiceLine::SubstanceMisuse
                    } else {
                        ServiceLine::GeneralPharmacy
                    },
                )
                .as_str()),
            products::opioid_substitution.eq(req.opioid_substitution),
            products::status.eq("active"),
            products::created_at.eq(ts),
            products::updated_at.eq(ts),
        ))
        .returning(products::id)
        .get_result(conn)
        .map_err(conflict_on_duplicate(
            "dmd_code_taken",
            "a product with this dm+d code already exists",
        ))?;
    audit::record(
        conn,
        actor,
        None,
        "product.create",
        "product",
        id,
        Some(serde_json::json!({"name": req.name})),
    )?;
    product(conn, id)
}

pub fn update_product(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    req: &UpdateProduct,
    witness_id: Option<i64>,
) -> Result<Product, AppError> {
    let current = product(conn, id)?;
    match (current.cd_register, req.cd_register) {
        (true, Some(false)) => register_tracking_off(conn, id)?,
        (false, Some(true)) => register_tracking_on(conn, actor, id, witness_id)?,
        _ => {}
    }
    if req.max_daily_dose.is_some_and(|d| !d.is_positive()) {
        return Err(AppError::invalid(
            "max_daily_dose",
            "positive",
            "must be greater than zero",
        ));
    }
    diesel::update(products::table.find(id))
        .set((
            products::name.eq(req.name.clone().unwrap_or(current.name)),
            products::cd_register.eq(req.cd_register.unwrap_or(current.cd_register)),
            products::medicine_of_concern.eq(req
                .medicine_of_concern
                .unwrap_or(current.medicine_of_concern)),
            products::default_possession.eq(req
                .default_possession
                .unwrap_or(current.default_possession)
                .as_str()),
            products::max_daily_dose.eq(req
                .max_daily_dose
                .or(current.max_daily_dose)
                .map(|d| d.scaled())),
            products::therapeutic_class.eq(req
                .therapeutic_class
                .clone()
                .unwrap_or(current.therapeutic_class)),
            products::critical.eq(req.critical.unwrap_or(current.critical)),
            products::weekly_only.eq(req.weekly_only.unwrap_or(current.weekly_only)),
            products::time_critical.eq(req.time_critical.unwrap_or(current.time_critical)),
            products::service_line.eq(req.service_line.unwrap_or(current.service_line).as_str()),
            products::updated_at.eq(now()),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        actor,
        None,
        "product.update",
        "product",
        id,
        serde_json::to_value(req).ok(),
    )?;
    product(conn, id)
}

/// Register tracking cannot be switched off once a page records the product: stock moved while
/// it was off would leave the pages' balances short of the stock.
fn register_tracking_off(conn: &mut AnyConnection, product_id: i64) -> Result<(), AppError> {
    if crate::ledger::queries::pages_in_use(conn, Some(product_id), None)? > 0 {
        return Err(AppError::conflict(
            "cd_register_in_use",
            "register pages of this product hold entries or stock; tracking stays on",
        ));
    }
    Ok(())
}

/// Switching register tracking on opens a page in every cabinet holding the product, with its
/// stock brought forward as counted by the author and a witness; stock outside a CD cabinet
/// must be moved into one first.
fn register_tracking_on(
    conn: &mut AnyConnection,
    actor: &Actor,
    product_id: i64,
    witness_id: Option<i64>,
) -> Result<(), AppError> {
    use crate::ledger::model::RegisterDetail;
    use crate::ledger::register::{open_with_balance, OpeningBalance};
    let holdings = crate::ledger::queries::holdings(conn, product_id)?;
    if holdings.is_empty() {
        return Ok(());
    }
    let witness_id = witness_id.ok_or_else(|| {
        AppError::invalid(
            "witness",
            "required",
            "the stock brought forward onto the new pages needs a second person who authenticates",
        )
    })?;
    let witness_sites: Vec<i64> = crate::users::queries::sites_of(conn, witness_id)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    for (site_id, location_id, held) in holdings {
        let place = crate::sites::queries::location(conn, location_id)?
            .ok_or_else(|| AppError::not_found("location"))?;
        if !place.cd_cabinet {
            return Err(AppError::conflict(
                "cd_cabinet_required",
                format!(
                    "{} ({}) holds this product but is not a CD cabinet: move the stock into a cabinet first",
                    place.name, place.code
                ),
            ));
        }
        if !witness_sites.contains(&site_id) {
            return Err(AppError::invalid(
                "witness",
                "eligible",
                "the witness must be staff of every prison holding the stock",
            ));
        }
        open_with_balance(
            conn,
            actor,
            OpeningBalance {
                site_id,
                location_id,
                product_id,
                held,
                detail: RegisterDetail {
                    witness_id: Some(witness_id),
                    ..RegisterDetail::default()
                },
                reason: "stock held when register tracking was switched on, counted by two people"
                    .into(),
            },
        )?;
    }
    Ok(())
}

/// Products are never deleted: a retired product keeps its history and stock records.
pub fn retire_product(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
) -> Result<Product, AppError> {
    product(conn, id)?;
    diesel::update(products::table.find(id))
        .set((
            products::status.eq("retired"),
            products::updated_at.eq(now()),
        ))
        .execute(conn)?;
    audit::record(conn, actor, None, "product.retire", "product", id, None)?;
    product(conn, id)
}

pub fn create_batch(
    conn: &mut AnyConnection,
    actor: &Actor,
    product_id: i64,
    req: &CreateBatch,
) -> Result<Batch, AppError> {
    product(conn, product_id)?;
    if let Some(existing) = queries::batch_by_number(conn, product_id, &req.batch_number)? {
        return Err(AppError::Conflict {
            code: "batch_exists".into(),
            detail: "this product already has a batch with this number".into(),
            existing: serde_json::to_value(Batch::from(existing)).ok(),
        });
    }
    let id = queries::insert_batch(conn, product_id, &req.batch_number, req.expiry_date)?;
    audit::record(
        conn,
        actor,
        None,
        "batch.create",
        "batch",
        id,
        Some(
            serde_json::json!({"product_id": product_id, "batch_number": req.batch_number, "expiry_date": req.expiry_date}),
        ),
    )?;
    batch(conn, id)
}

pub fn batch(conn: &mut AnyConnection, id: i64) -> Result<Batch, AppError> {
    Ok(queries::batch(conn, id)?
        .ok_or_else(|| AppError::not_found("batch"))?
        .into())
}

/// Quarantine or recall a batch everywhere at once (an MHRA drug alert names a batch, not a site).
pub fn set_batch_status(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    req: &SetBatchStatus,
) -> Result<Batch, AppError> {
    let current = batch(conn, id)?;
    if current.status == BatchStatus::Recalled && req.status != BatchStatus::Recalled {
        return Err(AppError::conflict(
            "batch_recalled",
            "a recalled batch cannot be released",
        ));
    }
    queries::set_batch_status(conn, id, req.status.as_str())?;
    audit::record(
        conn,
        actor,
        None,
        "batch.status",
        "batch",
        id,
        Some(serde_json::json!({"from": current.status, "to": req.status, "reason": req.reason})),
    )?;
    batch(conn, id)
}
