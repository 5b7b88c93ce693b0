//! Reasonable adjustments: notes on a patient (easy-read labels, reminders, hearing
//! impairment, ADHD ...) that rounds, labels and records carry. Never edited: one entered in
//! error is retracted by a linked record.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{AdjustmentCategory, AdjustmentRequest, AdjustmentView, PatientView};
use super::service::{patient, patient_site};
use crate::audit::{self, Actor};
use crate::db::schema::reasonable_adjustments as ra;
use crate::db::{now, AnyConnection};
use crate::error::AppError;

/// The adjustments in force for each patient, oldest first.
pub fn in_force(
    conn: &mut AnyConnection,
    patient_ids: &[i64],
) -> Result<HashMap<i64, Vec<AdjustmentView>>, AppError> {
    type Row = (i64, i64, String, String, i64, NaiveDateTime, Option<i64>);
    let rows: Vec<Row> = ra::table
        .filter(ra::patient_id.eq_any(patient_ids))
        .order(ra::id.asc())
        .select((
            ra::id,
            ra::patient_id,
            ra::category,
            ra::text,
            ra::recorded_by,
            ra::recorded_at,
            ra::retracts_id,
        ))
        .load(conn)?;
    let retracted: Vec<i64> = rows.iter().filter_map(|r| r.6).collect();
    let mut out: HashMap<i64, Vec<AdjustmentView>> = HashMap::new();
    for r in rows {
        if r.6.is_some() || retracted.contains(&r.0) {
            continue;
        }
        let category = AdjustmentCategory::from_db(&r.2);
        out.entry(r.1).or_default().push(AdjustmentView {
            id: r.0,
            category,
            label: category.label().to_string(),
            text: r.3,
            recorded_by: r.4,
            recorded_at: r.5,
        });
    }
    Ok(out)
}

/// One line per adjustment, as a label or a record prints them.
pub fn summary_lines(adjustments: &[AdjustmentView]) -> Vec<String> {
    adjustments
        .iter()
        .map(|a| format!("{}: {}", a.label, a.text))
        .collect()
}

pub fn add(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    req: &AdjustmentRequest,
) -> Result<PatientView, AppError> {
    let site = patient_site(conn, patient_id)?;
    let id: i64 = diesel::insert_into(ra::table)
        .values((
            ra::patient_id.eq(patient_id),
            ra::category.eq(req.category.as_str()),
            ra::text.eq(req.text.trim()),
            ra::recorded_by.eq(actor.user_id),
            ra::recorded_at.eq(now()),
        ))
        .returning(ra::id)
        .get_result(conn)?;
    audit::record(
        conn,
        actor,
        Some(site),
        "adjustment.record",
        "reasonable_adjustment",
        id,
        Some(serde_json::json!({"patient_id": patient_id, "category": req.category})),
    )?;
    patient(conn, patient_id)
}

/// Retracts an adjustment entered in error, or no longer needed, with a linked record.
pub fn retract(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    adjustment_id: i64,
    reason: &str,
) -> Result<PatientView, AppError> {
    let site = patient_site(conn, patient_id)?;
    let original: (String, String) = ra::table
        .filter(ra::id.eq(adjustment_id))
        .filter(ra::patient_id.eq(patient_id))
        .filter(ra::retracts_id.is_null())
        .select((ra::category, ra::text))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("adjustment"))?;
    let active = in_force(conn, &[patient_id])?;
    if !active
        .get(&patient_id)
        .is_some_and(|list| list.iter().any(|a| a.id == adjustment_id))
    {
        return Err(AppError::conflict(
            "already_retracted",
            "this adjustment has already been retracted",
        ));
    }
    let id: i64 = diesel::insert_into(ra::table)
        .values((
            ra::patient_id.eq(patient_id),
            ra::category.eq(&original.0),
            ra::text.eq(&original.1),
            ra::recorded_by.eq(actor.user_id),
            ra::recorded_at.eq(now()),
            ra::retracts_id.eq(adjustment_id),
            ra::retraction_reason.eq(reason),
        ))
        .returning(ra::id)
        .get_result(conn)?;
    audit::record(
        conn,
        actor,
        Some(site),
        "adjustment.retract",
        "reasonable_adjustment",
        id,
        Some(serde_json::json!({"patient_id": patient_id, "retracts_id": adjustment_id})),
    )?;
    patient(conn, patient_id)
}
