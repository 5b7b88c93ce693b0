//! Medication rounds: due doses, recording outcomes (given doses draw stock through the
//! ledger and so into the CD register), corrections, in-possession supplies, compliance
//! checks and missed-dose alerts.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::model::*;
use crate::audit::{self, Actor};
use crate::config::Config;
use crate::db::schema::{
    alert_acknowledgements, alerts, compliance_checks, dose_corrections, dose_movements,
    dose_records, ip_supplies, ip_supply_movements, patients, prescriptions, products, sites,
};
use crate::db::{now, AnyConnection};
use crate::domain::administration::{
    compliance_discrepancy, expected_remaining, units_per_dose, AlertKind, DoseOutcome,
    MissedDoseRule,
};
use crate::domain::stock::{CdSchedule, MovementReason, Possession};
use crate::domain::Quantity;
use crate::error::AppError;
use crate::formulary::queries as formulary;
use crate::ledger::{self, Posting};
use crate::patients::model::{PatientStatus, ReviewTrigger};
use crate::patients::service as patients_service;
use crate::prescribing::model::{RequestStatus, ScreeningState, Slot};
use crate::stock::model::AllocationQuery;
use crate::stock::service::{allocation, location_at};

/// The configurable rules of rounds and compliance.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub missed: MissedDoseRule,
    pub tolerance_percent: i64,
    pub late_minutes: i64,
    /// How many days back a dose may be entered (CD_BACKDATE_WINDOW_DAYS).
    pub backdate_days: i64,
}

impl Rules {
    pub fn from_config(c: &Config) -> Rules {
        Rules {
            missed: MissedDoseRule {
                any_missed_ost: c.missed_ost_alert,
                consecutive_critical: c.missed_dose_alert_consecutive,
            },
            tolerance_percent: c.compliance_tolerance_percent,
            late_minutes: c.late_entry_minutes,
            backdate_days: c.cd_backdate_window_days,
        }
    }
}

/// A prescription with its patient and product, as rounds and supplies need it.
struct RxFacts {
    id: i64,
    patient_id: i64,
    site_id: i64,
    patient_status: String,
    prison_number: String,
    patient_name: String,
    product_id: i64,
    product_name: String,
    strength: String,
    unit: String,
    dose_unit: String,
    dose: i64,
    slots: Vec<Slot>,
    as_needed: bool,
    max_doses_per_day: Option<i64>,
    possession: Possession,
    supply_days: Option<i64>,
    status: String,
    screening: String,
    start_date: NaiveDate,
    end_date: Option<NaiveDate>,
    prescriber: String,
    opioid_substitution: bool,
    critical: bool,
}

type RxRow = (
    (i64, i64, i64, String, String, String, String),
    (i64, String, String, String, String),
    (
        i64,
        String,
        bool,
        Option<i64>,
        String,
        Option<i64>,
        String,
        String,
    ),
    (NaiveDate, Option<NaiveDate>, String, bool, bool),
);

fn rx_facts(conn: &mut AnyConnection, id: i64) -> Result<RxFacts, AppError> {
    let (p, d, r, e): RxRow = prescriptions::table
        .inner_join(patients::table)
        .inner_join(products::table)
        .filter(prescriptions::id.eq(id))
        .select((
            (
                prescriptions::id,
                prescriptions::patient_id,
                patients::site_id,
                patients::status,
                patients::prison_number,
                patients::given_name,
                patients::family_name,
            ),
            (
                prescriptions::product_id,
                products::name,
                products::strength,
                products::unit,
                prescriptions::dose_unit,
            ),
            (
                prescriptions::dose,
                prescriptions::slots,
                prescriptions::as_needed,
                prescriptions::max_doses_per_day,
                prescriptions::possession,
                prescriptions::supply_days,
                prescriptions::status,
                prescriptions::screening,
            ),
            (
                prescriptions::start_date,
                prescriptions::end_date,
                prescriptions::prescriber,
                products::opioid_substitution,
                products::critical,
            ),
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("prescription"))?;
    Ok(RxFacts {
        id: p.0,
        patient_id: p.1,
        site_id: p.2,
        patient_status: p.3,
        prison_number: p.4,
        patient_name: format!("{} {}", p.5, p.6),
        product_id: d.0,
        product_name: d.1,
        strength: d.2,
        unit: d.3,
        dose_unit: d.4,
        dose: r.0,
        slots: r
            .1
            .split(',')
            .filter(|s| !s.is_empty())
            .map(Slot::from_db)
            .collect(),
        as_needed: r.2,
        max_doses_per_day: r.3,
        possession: Possession::from_db(&r.4),
        supply_days: r.5,
        status: r.6,
        screening: r.7,
        start_date: e.0,
        end_date: e.1,
        prescriber: e.2,
        opioid_substitution: e.3,
        critical: e.4,
    })
}

impl RxFacts {
    /// Only an approved, active prescription of a patient in custody here may be acted on.
    fn require_in_force(&self, site_id: i64, possession: Possession) -> Result<(), AppError> {
        if self.site_id != site_id {
            return Err(AppError::not_found("prescription"));
        }
        if self.patient_status != PatientStatus::InCustody.as_str() {
            return Err(AppError::conflict(
                "patient_not_in_custody",
                format!("the patient is {}", self.patient_status),
            ));
        }
        if self.status != RequestStatus::Active.as_str()
            || self.screening != ScreeningState::Approved.as_str()
        {
            return Err(AppError::conflict(
                "prescription_not_approved",
                format!(
                    "the prescription is {} (screening {}): only an approved, active prescription is given or supplied",
                    self.status, self.screening
                ),
            ));
        }
        if self.possession != possession {
            return Err(AppError::conflict(
                "possession",
                match possession {
                    Possession::Supervised => {
                        "this prescription is in possession: it is supplied, not given at rounds"
                    }
                    Possession::InPossession => {
                        "this prescription is supervised: it is given at rounds, not supplied"
                    }
                },
            ));
        }
        Ok(())
    }

    fn doses_per_day(&self) -> i64 {
        if self.as_needed {
            self.max_doses_per_day.unwrap_or(1)
        } else {
            self.slots.len() as i64
        }
    }

    fn units_per_dose(&self, dose: Quantity) -> Option<Quantity> {
        units_per_dose(&self.strength, &self.unit, dose, &self.dose_unit)
    }

    fn register_detail(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<crate::cd_register::model::RegisterDetail, AppError> {
        let site: String = sites::table
            .find(self.site_id)
            .select(sites::name)
            .first(conn)?;
        Ok(crate::cd_register::model::RegisterDetail {
            counterparty: Some(self.patient_name.clone()),
            counterparty_address: Some(site),
            patient_identifier: Some(self.prison_number.clone()),
            prescriber: Some(self.prescriber.clone()),
            ..Default::default()
        })
    }
}

/// Stock to draw for a dose or a supply.
struct Draw {
    location_id: i64,
    batch_id: Option<i64>,
    units: Quantity,
    reason: MovementReason,
    reference: (&'static str, i64),
    detail: crate::cd_register::model::RegisterDetail,
    occurred_at: Option<NaiveDateTime>,
}

/// Draws a quantity of the product from a location, first expiry first out unless a batch is
/// named, through the ledger. Returns what each batch gave.
fn draw(
    conn: &mut AnyConnection,
    actor: &Actor,
    rx: &RxFacts,
    d: Draw,
) -> Result<Vec<DrawnStock>, AppError> {
    let picks: Vec<(i64, Quantity)> = match d.batch_id {
        Some(b) => {
            let batch = formulary::batch(conn, b)?
                .filter(|row| row.product_id == rx.product_id)
                .ok_or_else(|| {
                    AppError::invalid(
                        "batch_id",
                        "same_product",
                        "not a batch of the prescribed product",
                    )
                })?;
            vec![(batch.id, d.units)]
        }
        None => {
            let q = AllocationQuery {
                location_id: d.location_id,
                product_id: rx.product_id,
                quantity: d.units,
            };
            let a = allocation(conn, rx.site_id, &q)?;
            if a.shortfall.is_positive() {
                return Err(AppError::conflict(
                    "insufficient_stock",
                    format!(
                        "{} short of {} {} at this location: record the dose as not available",
                        a.shortfall, rx.product_name, rx.unit
                    ),
                ));
            }
            a.picks
                .into_iter()
                .map(|p| (p.batch_id, p.quantity))
                .collect()
        }
    };
    let mut drawn = Vec::with_capacity(picks.len());
    for (batch, quantity) in picks {
        let mut posting = Posting::new(rx.site_id, d.location_id, batch, -quantity, d.reason);
        posting.reference = Some(d.reference);
        posting.occurred_at = d.occurred_at;
        posting.register = d.detail.clone();
        let posted = ledger::post(conn, actor, &posting)?;
        drawn.push(DrawnStock {
            batch_id: batch,
            quantity,
            movement_id: posted.movement_id,
            register_entry_id: posted.register_entry_id,
        });
    }
    Ok(drawn)
}

type DoseRow = (
    (
        i64,
        i64,
        i64,
        i64,
        NaiveDate,
        String,
        i64,
        String,
        Option<String>,
    ),
    (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        i64,
        NaiveDateTime,
        NaiveDateTime,
        bool,
    ),
);

fn dose_rows(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<DoseRow>, AppError> {
    Ok(dose_records::table
        .filter(dose_records::id.eq_any(ids))
        .order(dose_records::id.asc())
        .select((
            (
                dose_records::id,
                dose_records::prescription_id,
                dose_records::patient_id,
                dose_records::site_id,
                dose_records::scheduled_date,
                dose_records::slot,
                dose_records::attempt,
                dose_records::outcome,
                dose_records::reason,
            ),
            (
                dose_records::quantity,
                dose_records::stock_quantity,
                dose_records::location_id,
                dose_records::witness_id,
                dose_records::nurse_id,
                dose_records::occurred_at,
                dose_records::recorded_at,
                dose_records::late,
            ),
        ))
        .load(conn)?)
}

/// Full views of dose records, with their stock, correction and alerts, in id order.
fn dose_views(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<DoseView>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = dose_rows(conn, ids)?;
    let mut stock: HashMap<i64, Vec<DrawnStock>> = HashMap::new();
    for (dose, batch_id, quantity, movement_id, register_entry_id) in dose_movements::table
        .filter(dose_movements::dose_record_id.eq_any(ids))
        .order(dose_movements::id.asc())
        .select((
            dose_movements::dose_record_id,
            dose_movements::batch_id,
            dose_movements::quantity,
            dose_movements::movement_id,
            dose_movements::register_entry_id,
        ))
        .load::<(i64, i64, i64, i64, Option<i64>)>(conn)?
    {
        stock.entry(dose).or_default().push(DrawnStock {
            batch_id,
            quantity: Quantity::from_scaled(quantity),
            movement_id,
            register_entry_id,
        });
    }
    let corrections: HashMap<i64, CorrectionView> = dose_corrections::table
        .filter(dose_corrections::dose_record_id.eq_any(ids))
        .select((
            dose_corrections::dose_record_id,
            dose_corrections::reason,
            dose_corrections::corrected_by,
            dose_corrections::corrected_at,
        ))
        .load::<(i64, String, i64, NaiveDateTime)>(conn)?
        .into_iter()
        .map(|(id, reason, by, at)| {
            (
                id,
                CorrectionView {
                    reason,
                    corrected_by: by,
                    corrected_at: at,
                },
            )
        })
        .collect();
    let mut alert_ids: HashMap<i64, Vec<i64>> = HashMap::new();
    for (alert, dose) in alerts::table
        .filter(alerts::dose_record_id.eq_any(ids))
        .select((alerts::id, alerts::dose_record_id))
        .load::<(i64, Option<i64>)>(conn)?
    {
        if let Some(dose) = dose {
            alert_ids.entry(dose).or_default().push(alert);
        }
    }
    Ok(rows
        .into_iter()
        .map(|(a, b)| DoseView {
            stock: stock.remove(&a.0).unwrap_or_default(),
            correction: corrections.get(&a.0).cloned(),
            alert_ids: alert_ids.remove(&a.0).unwrap_or_default(),
            id: a.0,
            prescription_id: a.1,
            patient_id: a.2,
            site_id: a.3,
            date: a.4,
            slot: Slot::from_db(&a.5),
            attempt: a.6,
            outcome: DoseOutcome::from_db(&a.7),
            reason: a.8,
            quantity: b.0.map(Quantity::from_scaled),
            stock_quantity: b.1.map(Quantity::from_scaled),
            location_id: b.2,
            witness_id: b.3,
            nurse_id: b.4,
            occurred_at: b.5,
            recorded_at: b.6,
            late_entry: b.7,
        })
        .collect())
}

pub fn dose(conn: &mut AnyConnection, id: i64) -> Result<DoseView, AppError> {
    dose_views(conn, &[id])?
        .pop()
        .ok_or_else(|| AppError::not_found("dose record"))
}

pub fn dose_site(conn: &mut AnyConnection, id: i64) -> Result<i64, AppError> {
    dose_records::table
        .find(id)
        .select(dose_records::site_id)
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("dose record"))
}

/// The latest record of a due dose: (id, attempt, corrected).
fn latest_attempt(
    conn: &mut AnyConnection,
    prescription_id: i64,
    date: NaiveDate,
    slot: Slot,
) -> Result<Option<(i64, i64, bool)>, AppError> {
    let row: Option<(i64, i64, Option<i64>)> = dose_records::table
        .left_join(dose_corrections::table)
        .filter(dose_records::prescription_id.eq(prescription_id))
        .filter(dose_records::scheduled_date.eq(date))
        .filter(dose_records::slot.eq(slot.as_str()))
        .order(dose_records::attempt.desc())
        .select((
            dose_records::id,
            dose_records::attempt,
            dose_corrections::id.nullable(),
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(id, attempt, correction)| (id, attempt, correction.is_some())))
}

fn already_recorded(conn: &mut AnyConnection, id: i64) -> AppError {
    match dose(conn, id) {
        Ok(existing) => AppError::Conflict {
            code: "dose_already_recorded".into(),
            detail: format!(
                "this dose was already recorded as {} at {}",
                existing.outcome, existing.recorded_at
            ),
            existing: serde_json::to_value(existing).ok(),
        },
        Err(e) => e,
    }
}

/// Final outcomes of a prescription, newest first, not counting corrected records.
fn recent_outcomes(
    conn: &mut AnyConnection,
    prescription_id: i64,
    limit: i64,
) -> Result<Vec<DoseOutcome>, AppError> {
    Ok(dose_records::table
        .left_join(dose_corrections::table)
        .filter(dose_records::prescription_id.eq(prescription_id))
        .filter(dose_corrections::id.is_null())
        .order((dose_records::occurred_at.desc(), dose_records::id.desc()))
        .limit(limit)
        .select(dose_records::outcome)
        .load::<String>(conn)?
        .iter()
        .map(|o| DoseOutcome::from_db(o))
        .collect())
}

fn raise_alert(
    conn: &mut AnyConnection,
    actor: &Actor,
    rx: &RxFacts,
    kind: AlertKind,
    message: String,
    dose_record_id: Option<i64>,
    compliance_check_id: Option<i64>,
) -> Result<i64, AppError> {
    let id: i64 = diesel::insert_into(alerts::table)
        .values((
            alerts::site_id.eq(rx.site_id),
            alerts::patient_id.eq(rx.patient_id),
            alerts::prescription_id.eq(rx.id),
            alerts::kind.eq(kind.as_str()),
            alerts::message.eq(&message),
            alerts::dose_record_id.eq(dose_record_id),
            alerts::compliance_check_id.eq(compliance_check_id),
            alerts::raised_at.eq(now()),
        ))
        .returning(alerts::id)
        .get_result(conn)?;
    audit::record(
        conn,
        actor,
        Some(rx.site_id),
        &format!("alert.{kind}"),
        "alert",
        id,
        None,
    )?;
    Ok(id)
}

/// Records the outcome of a due dose. A given dose draws its stock through the ledger; a
/// missed one may raise an alert.
pub fn record_dose(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &RecordDose,
    witness_id: Option<i64>,
    rules: Rules,
) -> Result<DoseView, AppError> {
    let rx = rx_facts(conn, req.prescription_id)?;
    rx.require_in_force(site_id, Possession::Supervised)?;
    if req.date < rx.start_date || rx.end_date.is_some_and(|end| req.date > end) {
        return Err(AppError::invalid(
            "date",
            "within_prescription",
            "the prescription does not run on this date",
        ));
    }
    if req.date > now().date() {
        return Err(AppError::invalid(
            "date",
            "not_future",
            "a dose is recorded on or after its day",
        ));
    }
    if !rx.as_needed && !rx.slots.contains(&req.slot) {
        return Err(AppError::invalid(
            "slot",
            "prescribed",
            "no dose is prescribed at this time",
        ));
    }
    let reason = match req.outcome {
        DoseOutcome::Withheld => Some(AppError::required(
            "reason",
            req.reason.clone(),
            "give the clinical reason for withholding",
        )?),
        DoseOutcome::Other => Some(AppError::required(
            "reason",
            req.reason.clone(),
            "say what happened",
        )?),
        DoseOutcome::Away => Some(
            AppError::required(
                "away_reason",
                req.away_reason,
                "court, hospital, visit or segregation",
            )?
            .as_str()
            .to_string(),
        ),
        _ => req.reason.clone(),
    };
    let ts = now();
    let occurred_at = crate::domain::register::bounded_occurred_at(
        req.occurred_at.unwrap_or(ts),
        ts,
        rules.backdate_days,
    )
    .map_err(|(rule, message)| AppError::invalid("occurred_at", rule, message))?;
    let late = ts - occurred_at > chrono::Duration::minutes(rules.late_minutes);

    let given = req.outcome == DoseOutcome::Given;
    let (quantity, units, location_id) = if given {
        let quantity = req.quantity.unwrap_or(Quantity::from_scaled(rx.dose));
        if !quantity.is_positive() {
            return Err(AppError::invalid(
                "quantity",
                "positive",
                "must be greater than zero",
            ));
        }
        let location_id = AppError::required(
            "location_id",
            req.location_id,
            "a given dose is drawn from the round's location",
        )?;
        location_at(conn, site_id, location_id)?;
        let units = match req.stock_quantity {
            Some(u) if u.is_positive() => u,
            Some(_) => {
                return Err(AppError::invalid(
                    "stock_quantity",
                    "positive",
                    "must be greater than zero",
                ))
            }
            None => rx.units_per_dose(quantity).ok_or_else(|| {
                AppError::invalid(
                    "stock_quantity",
                    "required",
                    format!(
                        "{} {} does not convert exactly to {}: give stock_quantity",
                        quantity, rx.dose_unit, rx.unit
                    ),
                )
            })?,
        };
        (Some(quantity), Some(units), Some(location_id))
    } else {
        (None, None, None)
    };

    let attempt = match latest_attempt(conn, rx.id, req.date, req.slot)? {
        Some((id, _, false)) => return Err(already_recorded(conn, id)),
        Some((_, attempt, true)) => attempt + 1,
        None => 1,
    };
    let inserted = crate::db::savepoint(conn, |conn| {
        diesel::insert_into(dose_records::table)
            .values((
                dose_records::prescription_id.eq(rx.id),
                dose_records::patient_id.eq(rx.patient_id),
                dose_records::site_id.eq(site_id),
                dose_records::scheduled_date.eq(req.date),
                dose_records::slot.eq(req.slot.as_str()),
                dose_records::attempt.eq(attempt),
                dose_records::outcome.eq(req.outcome.as_str()),
                dose_records::reason.eq(&reason),
                dose_records::quantity.eq(quantity.map(|q| q.scaled())),
                dose_records::stock_quantity.eq(units.map(|q| q.scaled())),
                dose_records::location_id.eq(location_id),
                dose_records::witness_id.eq(witness_id.filter(|_| given)),
                dose_records::nurse_id.eq(actor.user_id),
                dose_records::occurred_at.eq(occurred_at),
                dose_records::recorded_at.eq(ts),
                dose_records::late.eq(late),
            ))
            .returning(dose_records::id)
            .get_result::<i64>(conn)
    });
    let id = match inserted {
        Ok(id) => id,
        // Two nurses at once: the other record won.
        Err(e) if crate::db::is_duplicate(&e) => {
            return Err(match latest_attempt(conn, rx.id, req.date, req.slot)? {
                Some((existing, _, _)) => already_recorded(conn, existing),
                None => {
                    AppError::conflict("dose_already_recorded", "this dose was already recorded")
                }
            })
        }
        Err(e) => return Err(e.into()),
    };

    if let (Some(units), Some(location_id)) = (units, location_id) {
        let mut detail = rx.register_detail(conn)?;
        detail.witness_id = witness_id;
        let drawn = draw(
            conn,
            actor,
            &rx,
            Draw {
                location_id,
                batch_id: req.batch_id,
                units,
                reason: MovementReason::DoseGiven,
                reference: ("dose_record", id),
                detail,
                occurred_at: Some(occurred_at),
            },
        )?;
        for d in &drawn {
            diesel::insert_into(dose_movements::table)
                .values((
                    dose_movements::dose_record_id.eq(id),
                    dose_movements::batch_id.eq(d.batch_id),
                    dose_movements::quantity.eq(d.quantity.scaled()),
                    dose_movements::movement_id.eq(d.movement_id),
                    dose_movements::register_entry_id.eq(d.register_entry_id),
                ))
                .execute(conn)?;
        }
    }

    let window = rules.missed.consecutive_critical.max(1) as i64 + 1;
    let recent = recent_outcomes(conn, rx.id, window)?;
    if let Some(kind) = rules
        .missed
        .evaluate(&recent, rx.opioid_substitution, rx.critical)
    {
        let message = match kind {
            AlertKind::MissedOst => format!(
                "missed opioid substitution dose ({}) of {}: {} on {} {}; prescriber review is needed after 3 missed days",
                req.outcome, rx.product_name, rx.prison_number, req.date, req.slot
            ),
            _ => format!(
                "{} consecutive missed doses of {}, a critical medicine, for {}",
                rules.missed.consecutive_critical, rx.product_name, rx.prison_number
            ),
        };
        raise_alert(conn, actor, &rx, kind, message, Some(id), None)?;
    }
    audit::record(
        conn,
        actor,
        Some(site_id),
        &format!("dose.{}", req.outcome),
        "dose_record",
        id,
        Some(
            serde_json::json!({"prescription_id": rx.id, "date": req.date, "slot": req.slot, "late": late}),
        ),
    )?;
    dose(conn, id)
}

/// Marks a dose record entered in error with a linked record. A given dose's stock (and its
/// CD register entry) is put back through the ledger; the original record stays as it was.
pub fn correct_dose(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    reason: &str,
) -> Result<DoseView, AppError> {
    let original = dose(conn, id)?;
    if original.correction.is_some() {
        return Err(AppError::conflict(
            "already_corrected",
            "this dose record has already been corrected",
        ));
    }
    diesel::insert_into(dose_corrections::table)
        .values((
            dose_corrections::dose_record_id.eq(id),
            dose_corrections::reason.eq(reason),
            dose_corrections::corrected_by.eq(actor.user_id),
            dose_corrections::corrected_at.eq(now()),
        ))
        .execute(conn)
        .map_err(crate::db::conflict_on_duplicate(
            "already_corrected",
            "this dose record has already been corrected",
        ))?;
    if let Some(location_id) = original.location_id {
        for d in &original.stock {
            let mut posting = Posting::new(
                original.site_id,
                location_id,
                d.batch_id,
                d.quantity,
                MovementReason::Correction,
            );
            posting.reference = Some(("dose_record", id));
            posting.note = Some(format!("dose entered in error: {reason}"));
            posting.allow_unusable = true;
            posting.register.corrects_entry_id = d.register_entry_id;
            ledger::post(conn, actor, &posting)?;
        }
    }
    audit::record(
        conn,
        actor,
        Some(original.site_id),
        "dose.entered_in_error",
        "dose_record",
        id,
        Some(serde_json::json!({"reason": reason})),
    )?;
    dose(conn, id)
}

/// The wing an administration point serves: its code before "-HATCH" (HB1-HATCH serves HB1).
fn wing_of(conn: &mut AnyConnection, site_id: i64, location_id: i64) -> Result<String, AppError> {
    location_at(conn, site_id, location_id)?;
    let loc = crate::sites::service::location(conn, location_id)?;
    Ok(loc
        .code
        .strip_suffix("-HATCH")
        .unwrap_or(&loc.code)
        .to_string())
}

/// (dose id, prescription, date, slot, outcome, attempt, correction)
type HistoryRow = (i64, i64, NaiveDate, String, String, i64, Option<i64>);

type RoundRow = (
    (
        i64,
        i64,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
    ),
    (i64, String, i64, String, String, String, bool),
    (Option<NaiveDate>, bool, bool),
);

/// Every dose due at a round: approved, active, supervised, regular prescriptions of the
/// patients at the wing (or the whole prison), with recent outcomes, open alerts, and what is
/// already recorded. A fixed number of queries whatever the size of the round.
pub fn round(
    conn: &mut AnyConnection,
    site_id: i64,
    q: &RoundQuery,
) -> Result<RoundList, AppError> {
    let wing = match (q.location_id, &q.wing) {
        (Some(l), _) => Some(wing_of(conn, site_id, l)?),
        (None, Some(w)) => Some(w.clone()),
        (None, None) => None,
    };
    let mut query = prescriptions::table
        .inner_join(patients::table)
        .inner_join(products::table)
        .filter(patients::site_id.eq(site_id))
        .filter(patients::status.eq(PatientStatus::InCustody.as_str()))
        .filter(prescriptions::status.eq(RequestStatus::Active.as_str()))
        .filter(prescriptions::screening.eq(ScreeningState::Approved.as_str()))
        .filter(prescriptions::possession.eq(Possession::Supervised.as_str()))
        .filter(prescriptions::as_needed.eq(false))
        .filter(prescriptions::start_date.le(q.date))
        .filter(prescriptions::slots.like(format!("%{}%", q.slot.as_str())))
        .into_boxed();
    if let Some(w) = &wing {
        query = query.filter(patients::wing.eq(w.clone()));
    }
    let rows: Vec<RoundRow> = query
        .order((
            patients::wing.asc(),
            patients::cell.asc(),
            patients::prison_number.asc(),
            prescriptions::id.asc(),
        ))
        .select((
            (
                prescriptions::id,
                patients::id,
                patients::prison_number,
                patients::given_name,
                patients::family_name,
                patients::wing,
                patients::cell,
            ),
            (
                products::id,
                products::name,
                prescriptions::dose,
                prescriptions::dose_unit,
                prescriptions::slots,
                products::cd_schedule,
                products::cd_register,
            ),
            (
                prescriptions::end_date,
                prescriptions::as_needed,
                products::critical,
            ),
        ))
        .load(conn)?;
    let rows: Vec<RoundRow> = rows
        .into_iter()
        .filter(|r| r.2 .0.is_none_or(|end| end >= q.date))
        .filter(|r| r.1 .4.split(',').any(|s| s == q.slot.as_str()))
        .collect();
    let rx_ids: Vec<i64> = rows.iter().map(|r| r.0 .0).collect();
    let patient_ids: Vec<i64> = rows.iter().map(|r| r.0 .1).collect();

    // Outcomes of the last week, newest first per prescription.
    let since = q.date - chrono::Duration::days(7);
    let history: Vec<HistoryRow> = dose_records::table
        .left_join(dose_corrections::table)
        .filter(dose_records::prescription_id.eq_any(&rx_ids))
        .filter(dose_records::scheduled_date.ge(since))
        .filter(dose_records::scheduled_date.le(q.date))
        .order((dose_records::occurred_at.desc(), dose_records::id.desc()))
        .select((
            dose_records::id,
            dose_records::prescription_id,
            dose_records::scheduled_date,
            dose_records::slot,
            dose_records::outcome,
            dose_records::attempt,
            dose_corrections::id.nullable(),
        ))
        .load(conn)?;
    let mut recent: HashMap<i64, Vec<RecentOutcome>> = HashMap::new();
    let mut recorded_ids: HashMap<i64, (i64, i64)> = HashMap::new();
    for (id, rx, date, slot, outcome, attempt, correction) in history {
        if date == q.date && slot == q.slot.as_str() {
            let best = recorded_ids.entry(rx).or_insert((id, attempt));
            if attempt > best.1 {
                *best = (id, attempt);
            }
        }
        if correction.is_none() {
            let list = recent.entry(rx).or_default();
            if list.len() < 5 {
                list.push(RecentOutcome {
                    date,
                    slot: Slot::from_db(&slot),
                    outcome: DoseOutcome::from_db(&outcome),
                });
            }
        }
    }
    let ids: Vec<i64> = recorded_ids.values().map(|(id, _)| *id).collect();
    let mut recorded: HashMap<i64, DoseView> = dose_views(conn, &ids)?
        .into_iter()
        .map(|d| (d.prescription_id, d))
        .collect();
    let open_alerts: HashMap<i64, i64> = alerts::table
        .left_join(alert_acknowledgements::table)
        .filter(alerts::patient_id.eq_any(&patient_ids))
        .filter(alert_acknowledgements::id.is_null())
        .group_by(alerts::patient_id)
        .select((alerts::patient_id, diesel::dsl::count_star()))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    let items = rows
        .into_iter()
        .map(|(p, d, _)| {
            let schedule = CdSchedule::from_db(&d.5);
            RoundItem {
                prescription_id: p.0,
                patient_id: p.1,
                prison_number: p.2,
                patient_name: format!("{} {}", p.3, p.4),
                wing: p.5,
                cell: p.6,
                product_id: d.0,
                product_name: d.1,
                dose: Quantity::from_scaled(d.2),
                dose_unit: d.3,
                witness_required: schedule == CdSchedule::S2 || d.6,
                recent_outcomes: recent.remove(&p.0).unwrap_or_default(),
                open_alerts: open_alerts.get(&p.1).copied().unwrap_or(0),
                recorded: recorded.remove(&p.0),
            }
        })
        .collect();
    Ok(RoundList {
        site_id,
        date: q.date,
        slot: q.slot,
        wing,
        items,
    })
}

fn supply_view(conn: &mut AnyConnection, id: i64) -> Result<SupplyView, AppError> {
    let r: (
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        String,
        i64,
        NaiveDateTime,
    ) = ip_supplies::table
        .find(id)
        .select((
            ip_supplies::id,
            ip_supplies::prescription_id,
            ip_supplies::patient_id,
            ip_supplies::site_id,
            ip_supplies::location_id,
            ip_supplies::days,
            ip_supplies::quantity,
            ip_supplies::per_day,
            ip_supplies::label_text,
            ip_supplies::handed_over_by,
            ip_supplies::supplied_at,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("supply"))?;
    let stock = ip_supply_movements::table
        .filter(ip_supply_movements::supply_id.eq(id))
        .order(ip_supply_movements::id.asc())
        .select((
            ip_supply_movements::batch_id,
            ip_supply_movements::quantity,
            ip_supply_movements::movement_id,
            ip_supply_movements::register_entry_id,
        ))
        .load::<(i64, i64, i64, Option<i64>)>(conn)?
        .into_iter()
        .map(|(batch_id, q, movement_id, register_entry_id)| DrawnStock {
            batch_id,
            quantity: Quantity::from_scaled(q),
            movement_id,
            register_entry_id,
        })
        .collect();
    Ok(SupplyView {
        id: r.0,
        prescription_id: r.1,
        patient_id: r.2,
        site_id: r.3,
        location_id: r.4,
        days: r.5,
        quantity: Quantity::from_scaled(r.6),
        per_day: Quantity::from_scaled(r.7),
        label_text: r.8,
        handed_over_by: r.9,
        supplied_at: r.10,
        stock,
    })
}

fn frequency(rx: &RxFacts) -> String {
    if rx.as_needed {
        format!("when required, up to {} times a day", rx.doses_per_day())
    } else {
        let slots: Vec<&str> = rx.slots.iter().map(|s| s.as_str()).collect();
        format!(
            "{} ({})",
            match slots.len() {
                1 => "once a day".to_string(),
                2 => "twice a day".to_string(),
                n => format!("{n} times a day"),
            },
            slots.join(", ")
        )
    }
}

/// (per day, total) for a supply of a prescription for some days, exactly in stock units.
fn supply_quantity(rx: &RxFacts, days: i64) -> Result<(Quantity, Quantity), AppError> {
    let per_dose = rx
        .units_per_dose(Quantity::from_scaled(rx.dose))
        .ok_or_else(|| {
            AppError::conflict(
                "dose_not_convertible",
                format!(
                    "{} {} does not convert exactly to {} of {}",
                    Quantity::from_scaled(rx.dose),
                    rx.dose_unit,
                    rx.unit,
                    rx.product_name
                ),
            )
        })?;
    let per_day = per_dose
        .scaled()
        .checked_mul(rx.doses_per_day())
        .map(Quantity::from_scaled);
    let total = per_day.and_then(|d| d.scaled().checked_mul(days).map(Quantity::from_scaled));
    match (per_day, total) {
        (Some(per_day), Some(total)) => Ok((per_day, total)),
        _ => Err(AppError::invalid(
            "days",
            "range",
            "the supply would exceed the largest quantity kept",
        )),
    }
}

/// Hands over an in-possession supply: dose x doses a day x days, exactly, first expiry first
/// out. A register-tracked medicine's supply is entered in the register with the patient, the
/// prescriber, who collected, whether identity was checked, and the witness.
pub fn supply(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &SupplyRequest,
    witness_id: Option<i64>,
) -> Result<SupplyView, AppError> {
    let rx = rx_facts(conn, req.prescription_id)?;
    rx.require_in_force(site_id, Possession::InPossession)?;
    location_at(conn, site_id, req.location_id)?;
    let days = req.days.or(rx.supply_days).unwrap_or(7);
    let (per_day, quantity) = supply_quantity(&rx, days)?;
    let ts = now();
    let product =
        formulary::product(conn, rx.product_id)?.ok_or_else(|| AppError::not_found("product"))?;
    let label = format!(
        "{}. Take {} {} {}. {} {}. {} {} for {} days. Supplied {} by {}.",
        rx.product_name,
        Quantity::from_scaled(rx.dose),
        rx.dose_unit,
        frequency(&rx),
        rx.patient_name,
        rx.prison_number,
        quantity,
        product.unit,
        days,
        ts.date(),
        rx.register_detail(conn)?
            .counterparty_address
            .unwrap_or_default(),
    );
    let id: i64 = diesel::insert_into(ip_supplies::table)
        .values((
            ip_supplies::prescription_id.eq(rx.id),
            ip_supplies::patient_id.eq(rx.patient_id),
            ip_supplies::site_id.eq(site_id),
            ip_supplies::location_id.eq(req.location_id),
            ip_supplies::days.eq(days),
            ip_supplies::quantity.eq(quantity.scaled()),
            ip_supplies::per_day.eq(per_day.scaled()),
            ip_supplies::label_text.eq(&label),
            ip_supplies::handed_over_by.eq(actor.user_id),
            ip_supplies::supplied_at.eq(ts),
        ))
        .returning(ip_supplies::id)
        .get_result(conn)?;
    let mut detail = rx.register_detail(conn)?;
    detail.collected_by = Some(format!("{} (in person)", rx.patient_name));
    detail.identity_checked = req.identity_checked;
    detail.witness_id = witness_id;
    let drawn = draw(
        conn,
        actor,
        &rx,
        Draw {
            location_id: req.location_id,
            batch_id: req.batch_id,
            units: quantity,
            reason: MovementReason::IpSupply,
            reference: ("ip_supply", id),
            detail,
            occurred_at: None,
        },
    )?;
    for d in &drawn {
        diesel::insert_into(ip_supply_movements::table)
            .values((
                ip_supply_movements::supply_id.eq(id),
                ip_supply_movements::batch_id.eq(d.batch_id),
                ip_supply_movements::quantity.eq(d.quantity.scaled()),
                ip_supply_movements::movement_id.eq(d.movement_id),
                ip_supply_movements::register_entry_id.eq(d.register_entry_id),
            ))
            .execute(conn)?;
    }
    audit::record(
        conn,
        actor,
        Some(site_id),
        "ip_supply.hand_over",
        "ip_supply",
        id,
        Some(serde_json::json!({"prescription_id": rx.id, "quantity": quantity, "days": days})),
    )?;
    supply_view(conn, id)
}

/// Who took a supply out on release and how it was checked.
#[derive(Debug, Clone, Default)]
pub struct Handover {
    pub collected_by: Option<String>,
    pub identity_checked: Option<bool>,
    pub witness_id: Option<i64>,
}

/// The supply a patient takes out on release, drawn from stock through the ledger like any
/// other supply (and entered in the register for register-tracked medicines). The release
/// itself (its limits, its record, ending the prescriptions) follows in the same transaction.
pub fn supply_on_release(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    index: usize,
    item: &crate::patients::model::ReleaseSupply,
    handover: &Handover,
) -> Result<(), AppError> {
    let rx = rx_facts(conn, item.prescription_id)?;
    if rx.patient_id != patient_id {
        return Err(AppError::invalid(
            format!("supplies[{index}].prescription_id"),
            "active",
            "not an active prescription of this patient",
        ));
    }
    location_at(conn, rx.site_id, item.location_id).map_err(|_| {
        AppError::invalid(
            format!("supplies[{index}].location_id"),
            "exists",
            "no such location at the patient's prison",
        )
    })?;
    let (_, quantity) = supply_quantity(&rx, item.days.max(1))?;
    let mut detail = rx.register_detail(conn)?;
    detail.collected_by = Some(
        handover
            .collected_by
            .clone()
            .unwrap_or_else(|| format!("{} (in person, on release)", rx.patient_name)),
    );
    detail.identity_checked = handover.identity_checked;
    detail.witness_id = handover.witness_id;
    draw(
        conn,
        actor,
        &rx,
        Draw {
            location_id: item.location_id,
            batch_id: item.batch_id,
            units: quantity,
            reason: MovementReason::IpSupply,
            reference: ("patient_release", patient_id),
            detail,
            occurred_at: None,
        },
    )?;
    Ok(())
}

/// A cell count of an in-possession medicine against what the last supply and the dose
/// schedule leave. A discrepancy beyond the tolerance makes an IP review due and raises an alert.
pub fn compliance_check(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &ComplianceRequest,
    rules: Rules,
) -> Result<ComplianceView, AppError> {
    if req.counted_quantity.is_negative() {
        return Err(AppError::invalid(
            "counted_quantity",
            "non_negative",
            "must not be negative",
        ));
    }
    let rx = rx_facts(conn, req.prescription_id)?;
    if rx.site_id != site_id {
        return Err(AppError::not_found("prescription"));
    }
    if rx.possession != Possession::InPossession {
        return Err(AppError::conflict(
            "possession",
            "only in-possession medicines are counted in the cell",
        ));
    }
    let last: (i64, i64, i64, NaiveDateTime) = ip_supplies::table
        .filter(ip_supplies::prescription_id.eq(rx.id))
        .order(ip_supplies::id.desc())
        .select((
            ip_supplies::id,
            ip_supplies::quantity,
            ip_supplies::per_day,
            ip_supplies::supplied_at,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            AppError::conflict(
                "no_supply",
                "nothing has been supplied for this prescription",
            )
        })?;
    let ts = now();
    let days = (ts.date() - last.3.date()).num_days();
    let (supplied, per_day) = (Quantity::from_scaled(last.1), Quantity::from_scaled(last.2));
    let expected = expected_remaining(supplied, per_day, days);
    let discrepancy = compliance_discrepancy(
        req.counted_quantity,
        expected,
        supplied,
        per_day,
        rules.tolerance_percent,
    );
    let id: i64 = diesel::insert_into(compliance_checks::table)
        .values((
            compliance_checks::prescription_id.eq(rx.id),
            compliance_checks::patient_id.eq(rx.patient_id),
            compliance_checks::site_id.eq(site_id),
            compliance_checks::supply_id.eq(last.0),
            compliance_checks::counted_quantity.eq(req.counted_quantity.scaled()),
            compliance_checks::expected_quantity.eq(expected.scaled()),
            compliance_checks::discrepancy.eq(discrepancy),
            compliance_checks::note.eq(&req.note),
            compliance_checks::nurse_id.eq(actor.user_id),
            compliance_checks::checked_at.eq(ts),
        ))
        .returning(compliance_checks::id)
        .get_result(conn)?;
    let alert_id = if discrepancy {
        patients_service::raise_review_trigger(
            conn,
            actor,
            rx.patient_id,
            ReviewTrigger::FailedComplianceCheck,
            Some(&format!(
                "counted {}, expected {}",
                req.counted_quantity, expected
            )),
        )?;
        let message = format!(
            "compliance check of {} for {}: counted {}, expected {} {}; in-possession review due",
            rx.product_name, rx.prison_number, req.counted_quantity, expected, rx.unit
        );
        Some(raise_alert(
            conn,
            actor,
            &rx,
            AlertKind::ComplianceDiscrepancy,
            message,
            None,
            Some(id),
        )?)
    } else {
        None
    };
    audit::record(
        conn,
        actor,
        Some(site_id),
        "compliance.check",
        "compliance_check",
        id,
        Some(serde_json::json!({"discrepancy": discrepancy})),
    )?;
    Ok(ComplianceView {
        id,
        prescription_id: rx.id,
        patient_id: rx.patient_id,
        supply_id: last.0,
        counted_quantity: req.counted_quantity,
        expected_quantity: expected,
        difference: Quantity::from_scaled(req.counted_quantity.scaled() - expected.scaled()),
        discrepancy,
        note: req.note.clone(),
        nurse_id: actor.user_id,
        checked_at: ts,
        alert_id,
    })
}

type AlertRow = (
    (i64, i64, i64, String, Option<i64>, String, String),
    (Option<i64>, Option<i64>, NaiveDateTime),
    (Option<i64>, Option<String>, Option<NaiveDateTime>),
);

fn alert_views(
    conn: &mut AnyConnection,
    site_id: i64,
    alert_id: Option<i64>,
    only_open: bool,
) -> Result<Vec<AlertView>, AppError> {
    let mut q = alerts::table
        .inner_join(patients::table)
        .left_join(alert_acknowledgements::table)
        .filter(alerts::site_id.eq(site_id))
        .into_boxed();
    if let Some(id) = alert_id {
        q = q.filter(alerts::id.eq(id));
    }
    if only_open {
        q = q.filter(alert_acknowledgements::id.is_null());
    }
    let rows: Vec<AlertRow> = q
        .order(alerts::id.asc())
        .select((
            (
                alerts::id,
                alerts::site_id,
                alerts::patient_id,
                patients::prison_number,
                alerts::prescription_id,
                alerts::kind,
                alerts::message,
            ),
            (
                alerts::dose_record_id,
                alerts::compliance_check_id,
                alerts::raised_at,
            ),
            (
                alert_acknowledgements::acknowledged_by.nullable(),
                alert_acknowledgements::note.nullable(),
                alert_acknowledgements::acknowledged_at.nullable(),
            ),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(a, b, c)| AlertView {
            id: a.0,
            site_id: a.1,
            patient_id: a.2,
            prison_number: a.3,
            prescription_id: a.4,
            kind: AlertKind::from_db(&a.5),
            message: a.6,
            dose_record_id: b.0,
            compliance_check_id: b.1,
            raised_at: b.2,
            acknowledged_by: c.0,
            acknowledgement_note: c.1,
            acknowledged_at: c.2,
        })
        .collect())
}

pub fn alerts_of_site(
    conn: &mut AnyConnection,
    site_id: i64,
    only_open: bool,
) -> Result<AlertList, AppError> {
    Ok(AlertList {
        items: alert_views(conn, site_id, None, only_open)?,
    })
}

pub fn alert_site(conn: &mut AnyConnection, id: i64) -> Result<i64, AppError> {
    alerts::table
        .find(id)
        .select(alerts::site_id)
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("alert"))
}

pub fn acknowledge(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    note: &str,
) -> Result<AlertView, AppError> {
    let site = alert_site(conn, id)?;
    diesel::insert_into(alert_acknowledgements::table)
        .values((
            alert_acknowledgements::alert_id.eq(id),
            alert_acknowledgements::acknowledged_by.eq(actor.user_id),
            alert_acknowledgements::note.eq(note),
            alert_acknowledgements::acknowledged_at.eq(now()),
        ))
        .execute(conn)
        .map_err(crate::db::conflict_on_duplicate(
            "already_acknowledged",
            "this alert has already been acknowledged",
        ))?;
    audit::record(
        conn,
        actor,
        Some(site),
        "alert.acknowledge",
        "alert",
        id,
        None,
    )?;
    alert_views(conn, site, Some(id), false)?
        .pop()
        .ok_or_else(|| AppError::internal("alert vanished"))
}

/// Dose records of a patient whose due date is in the range, oldest first.
pub fn doses_of_patient(
    conn: &mut AnyConnection,
    patient_id: i64,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<DoseView>, AppError> {
    let mut q = dose_records::table
        .filter(dose_records::patient_id.eq(patient_id))
        .into_boxed();
    if let Some(f) = from {
        q = q.filter(dose_records::scheduled_date.ge(f));
    }
    if let Some(t) = to {
        q = q.filter(dose_records::scheduled_date.le(t));
    }
    let ids: Vec<i64> = q
        .order(dose_records::id.asc())
        .select(dose_records::id)
        .load(conn)?;
    dose_views(conn, &ids)
}

/// In-possession supplies of a patient handed over in the range, oldest first.
pub fn supplies_of_patient(
    conn: &mut AnyConnection,
    patient_id: i64,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<SupplyView>, AppError> {
    let mut q = ip_supplies::table
        .filter(ip_supplies::patient_id.eq(patient_id))
        .into_boxed();
    if let Some(f) = from {
        q = q.filter(ip_supplies::supplied_at.ge(f.and_hms_opt(0, 0, 0).unwrap_or_default()));
    }
    if let Some(t) = to.and_then(|d| d.succ_opt()) {
        q = q.filter(ip_supplies::supplied_at.lt(t.and_hms_opt(0, 0, 0).unwrap_or_default()));
    }
    let ids: Vec<i64> = q
        .order(ip_supplies::id.asc())
        .select(ip_supplies::id)
        .load(conn)?;
    ids.into_iter().map(|id| supply_view(conn, id)).collect()
}
