//! Custody movements: a patient transferred to another prison or out of the service, or
//! released. Leaving ends every live prescription, so this sits above patients and prescribing.

use diesel::prelude::*;

use crate::audit::Actor;
use crate::db::schema::{
    batches, naloxone_offers, patient_events, patients, prescriptions, products,
    reconciliation_tasks, release_supplies,
};
use crate::db::{now, AnyConnection};
use crate::domain::stock::MovementReason;
use crate::domain::{Percent, Quantity};
use crate::error::AppError;
use crate::ledger::{self, Posting};
use crate::patients::model::{
    NaloxoneMonth, NaloxoneOffer, NaloxoneOutcome, NaloxoneReport, PatientStatus, PatientView,
    ReleaseRequest, ReviewTrigger, TransferRequest,
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
    offer_naloxone(conn, actor, patient_id, site_id, req.naloxone.as_ref())?;
    prescribing::end_all(conn, actor, patient_id, "patient released")?;
    patients_service::patient(conn, patient_id)
}

/// Whether the patient has an opioid history on record: an opioid substitution or other
/// opioid prescription, ever.
fn opioid_history(conn: &mut AnyConnection, patient_id: i64) -> Result<bool, AppError> {
    let n: i64 = prescriptions::table
        .inner_join(products::table)
        .filter(prescriptions::patient_id.eq(patient_id))
        .filter(
            products::opioid_substitution
                .eq(true)
                .or(products::therapeutic_class.like("%opioid%")),
        )
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Take-home naloxone at release: offered to everyone with an opioid history (422 naming
/// `naloxone` otherwise), the outcome recorded, and an accepted kit handed over through the
/// ledger.
fn offer_naloxone(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    site_id: i64,
    offer: Option<&NaloxoneOffer>,
) -> Result<(), AppError> {
    let Some(offer) = offer else {
        if opioid_history(conn, patient_id)? {
            return Err(AppError::invalid(
                "naloxone",
                "required",
                "offer take-home naloxone: record accepted, declined or already_has_kit",
            ));
        }
        return Ok(());
    };
    let movement_id = match offer.outcome {
        NaloxoneOutcome::Accepted => {
            let location_id = AppError::required(
                "naloxone.location_id",
                offer.location_id,
                "where the kit is handed over from",
            )?;
            let batch_id =
                AppError::required("naloxone.batch_id", offer.batch_id, "the kit's batch")?;
            let ingredient: Option<String> = batches::table
                .inner_join(products::table)
                .filter(batches::id.eq(batch_id))
                .select(products::ingredient)
                .first(conn)
                .optional()?;
            if !ingredient.is_some_and(|i| i.eq_ignore_ascii_case("naloxone")) {
                return Err(AppError::invalid(
                    "naloxone.batch_id",
                    "naloxone",
                    "not a batch of naloxone",
                ));
            }
            let mut posting = Posting::new(
                site_id,
                location_id,
                batch_id,
                "-1".parse::<Quantity>()
                    .map_err(|_| AppError::internal("one kit"))?,
                MovementReason::IpSupply,
            );
            posting.reference = Some(("naloxone_offer", patient_id));
            posting.note = Some("take-home naloxone on release".into());
            Some(ledger::post(conn, actor, &posting)?.movement_id)
        }
        _ if offer.location_id.is_some() || offer.batch_id.is_some() => {
            return Err(AppError::invalid(
                "naloxone.batch_id",
                "only_when_accepted",
                "a kit is handed over only when accepted",
            ))
        }
        _ => None,
    };
    let id: i64 = diesel::insert_into(naloxone_offers::table)
        .values((
            naloxone_offers::patient_id.eq(patient_id),
            naloxone_offers::site_id.eq(site_id),
            naloxone_offers::outcome.eq(offer.outcome.as_str()),
            naloxone_offers::movement_id.eq(movement_id),
            naloxone_offers::offered_by.eq(actor.user_id),
            naloxone_offers::offered_at.eq(now()),
        ))
        .returning(naloxone_offers::id)
        .get_result(conn)?;
    crate::audit::record(
        conn,
        actor,
        Some(site_id),
        "naloxone.offer",
        "naloxone_offer",
        id,
        Some(
            serde_json::json!({"patient_id": patient_id, "outcome": offer.outcome, "movement_id": movement_id}),
        ),
    )
}

/// Naloxone offers at releases of a prison, month by month through a year.
pub fn naloxone_report(
    conn: &mut AnyConnection,
    site_id: i64,
    year: i32,
) -> Result<NaloxoneReport, AppError> {
    use chrono::Datelike;
    let in_year = |d: chrono::NaiveDateTime| d.year() == year;
    let releases: Vec<(i64, chrono::NaiveDateTime)> = patient_events::table
        .filter(patient_events::kind.eq("released"))
        .filter(patient_events::from_site_id.eq(site_id))
        .select((patient_events::patient_id, patient_events::occurred_at))
        .load(conn)?;
    let offers: Vec<(String, chrono::NaiveDateTime)> = naloxone_offers::table
        .filter(naloxone_offers::site_id.eq(site_id))
        .select((naloxone_offers::outcome, naloxone_offers::offered_at))
        .load(conn)?;
    let mut months: Vec<NaloxoneMonth> = (1..=12)
        .map(|m| NaloxoneMonth {
            month: format!("{year}-{m:02}"),
            eligible_releases: 0,
            offered: 0,
            accepted: 0,
            declined: 0,
            already_has_kit: 0,
            offer_rate_percent: None,
        })
        .collect();
    for (patient, at) in releases.into_iter().filter(|(_, at)| in_year(*at)) {
        if opioid_history(conn, patient)? {
            months[at.month0() as usize].eligible_releases += 1;
        }
    }
    for (outcome, at) in offers.into_iter().filter(|(_, at)| in_year(*at)) {
        let m = &mut months[at.month0() as usize];
        m.offered += 1;
        match NaloxoneOutcome::from_db(&outcome) {
            NaloxoneOutcome::Accepted => m.accepted += 1,
            NaloxoneOutcome::Declined => m.declined += 1,
            NaloxoneOutcome::AlreadyHasKit => m.already_has_kit += 1,
        }
    }
    for m in &mut months {
        if m.eligible_releases > 0 {
            let rate = rust_decimal::Decimal::from(m.offered * 100)
                / rust_decimal::Decimal::from(m.eligible_releases);
            m.offer_rate_percent = Percent::from_decimal(rate.round_dp(2)).ok();
        }
    }
    Ok(NaloxoneReport {
        site_id,
        year,
        months,
    })
}
