//! Custody movements: a patient transferred to another prison or out of the service, or
//! released. Leaving ends every live prescription, so this sits above patients and prescribing.

use diesel::prelude::*;

use crate::audit::Actor;
use crate::db::schema::{patients, reconciliation_tasks, release_supplies};
use crate::db::{now, AnyConnection};
use crate::error::AppError;
use crate::patients::model::{
    PatientStatus, PatientView, ReleaseRequest, ReviewTrigger, TransferRequest,
};
use crate::patients::service::{self as patients_service, RECONCILIATION_DAYS};
use crate::prescribing::service as prescribing;

/// Release supplies: up to 28 days, opioid substitution therapy up to 14.
pub const RELEASE_MAX_DAYS: i64 = 28;
pub const RELEASE_MAX_DAYS_OST: i64 = 14;

/// The patient leaves for another prison. Prescriptions and possession state go with them
/// (they belong to the patient, not the prison); the sending prison loses sight of the
/// patient; the receiving prison gets a reconciliation task and a due IP review.
pub fn transfer(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    req: &TransferRequest,
) -> Result<PatientView, AppError> {
    let from = patients_service::site_in_custody(conn, patient_id)?;
    match (req.to_site_id, &req.destination) {
        (Some(to), None) => {
            if to == from {
                return Err(AppError::invalid(
                    "to_site_id",
                    "different",
                    "the patient is already at this prison",
                ));
            }
            if crate::sites::queries::by_id(conn, to)?.is_none() {
                return Err(AppError::invalid("to_site_id", "exists", "no such prison"));
            }
            diesel::update(patients::table.find(patient_id))
                .set((
                    patients::site_id.eq(to),
                    patients::wing.eq(None::<String>),
                    patients::landing.eq(None::<String>),
                    patients::cell.eq(None::<String>),
                    patients::updated_at.eq(now()),
                ))
                .execute(conn)?;
            patients_service::event(
                conn,
                actor,
                patient_id,
                "transferred",
                Some(from),
                Some(to),
                req.note.clone(),
            )?;
            diesel::insert_into(reconciliation_tasks::table)
                .values((
                    reconciliation_tasks::patient_id.eq(patient_id),
                    reconciliation_tasks::site_id.eq(to),
                    reconciliation_tasks::due_date
                        .eq(now().date() + chrono::Duration::days(RECONCILIATION_DAYS)),
                    reconciliation_tasks::created_at.eq(now()),
                ))
                .execute(conn)?;
            patients_service::raise_review_trigger(
                conn,
                actor,
                patient_id,
                ReviewTrigger::Transfer,
                None,
            )?;
        }
        (None, Some(destination)) => {
            diesel::update(patients::table.find(patient_id))
                .set((
                    patients::status.eq(PatientStatus::Transferred.as_str()),
                    patients::updated_at.eq(now()),
                ))
                .execute(conn)?;
            patients_service::event(
                conn,
                actor,
                patient_id,
                "transferred_out",
                Some(from),
                None,
                Some(destination.clone()),
            )?;
            prescribing::end_all(conn, actor, patient_id, "transferred out of this service")?;
        }
        _ => {
            return Err(AppError::invalid(
                "to_site_id",
                "one_of",
                "give either to_site_id or destination",
            ))
        }
    }
    patients_service::patient(conn, patient_id)
}

/// Release: what the patient takes out is recorded, then every prescription ends.
pub fn release(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    req: &ReleaseRequest,
) -> Result<PatientView, AppError> {
    let site_id = patients_service::site_in_custody(conn, patient_id)?;
    let current = prescribing::active_of_patient(conn, patient_id)?;
    let mut seen = std::collections::HashSet::new();
    for (i, s) in req.supplies.iter().enumerate() {
        let Some((_, ost)) = current.iter().find(|(id, _)| *id == s.prescription_id) else {
            return Err(AppError::invalid(
                format!("supplies[{i}].prescription_id"),
                "active",
                "not an active prescription of this patient",
            ));
        };
        if !seen.insert(s.prescription_id) {
            return Err(AppError::invalid(
                format!("supplies[{i}].prescription_id"),
                "unique",
                "each prescription once",
            ));
        }
        let max = if *ost {
            RELEASE_MAX_DAYS_OST
        } else {
            RELEASE_MAX_DAYS
        };
        if s.days < 1 || s.days > max {
            return Err(AppError::invalid(
                format!("supplies[{i}].days"),
                "range",
                format!("between 1 and {max} days"),
            ));
        }
        diesel::insert_into(release_supplies::table)
            .values((
                release_supplies::patient_id.eq(patient_id),
                release_supplies::prescription_id.eq(s.prescription_id),
                release_supplies::days.eq(s.days),
                release_supplies::recorded_by.eq(actor.user_id),
                release_supplies::recorded_at.eq(now()),
            ))
            .execute(conn)?;
    }
    diesel::update(patients::table.find(patient_id))
        .set((
            patients::status.eq(PatientStatus::Released.as_str()),
            patients::updated_at.eq(now()),
        ))
        .execute(conn)?;
    patients_service::event(
        conn,
        actor,
        patient_id,
        "released",
        Some(site_id),
        None,
        req.note.clone(),
    )?;
    prescribing::end_all(conn, actor, patient_id, "patient released")?;
    patients_service::patient(conn, patient_id)
}
