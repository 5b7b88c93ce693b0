//! Medication rounds: due doses, recording outcomes (given doses draw stock through the
//! ledger and so into the CD register), corrections, in-possession supplies, compliance
//! checks and missed-dose alerts.

mod alerting;
mod doses;
mod rounds;
mod supplies;

pub use alerting::*;
pub use doses::*;
pub use rounds::*;
pub use supplies::*;

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
use crate::domain::stock::{
    allocate_fefo, BatchStatus, CdSchedule, FefoCandidate, MovementReason, Possession,
};
use crate::domain::Quantity;
use crate::error::AppError;
use crate::formulary::queries as formulary;
use crate::ledger::{self, Posting};
use crate::patients::model::{PatientStatus, ReviewTrigger};
use crate::patients::service as patients_service;
use crate::prescribing::model::{RequestStatus, Route, ScreeningState, Slot};
use crate::stock::service::location_at;

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
    route: Route,
    start_date: NaiveDate,
    end_date: Option<NaiveDate>,
    prescriber: String,
    opioid_substitution: bool,
    critical: bool,
    /// Taken once a week at most (methotrexate, or as the formulary flags).
    weekly_only: bool,
    site_name: String,
    stored_schedule: crate::prescribing::service::StoredSchedule,
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
        String,
    ),
    (
        NaiveDate,
        Option<NaiveDate>,
        String,
        bool,
        bool,
        bool,
        String,
        String,
    ),
    (
        String,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<i64>,
    ),
);

fn rx_facts(conn: &mut AnyConnection, id: i64) -> Result<RxFacts, AppError> {
    let (p, d, r, e, k): RxRow = prescriptions::table
        .inner_join(patients::table.inner_join(sites::table))
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
                prescriptions::route,
            ),
            (
                prescriptions::start_date,
                prescriptions::end_date,
                prescriptions::prescriber,
                products::opioid_substitution,
                products::critical,
                products::weekly_only,
                products::ingredient,
                sites::name,
            ),
            (
                prescriptions::schedule,
                prescriptions::every_days,
                prescriptions::weekdays,
                prescriptions::day_of_month,
                prescriptions::min_interval_minutes,
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
        route: Route::from_db(&r.8),
        start_date: e.0,
        end_date: e.1,
        prescriber: e.2,
        opioid_substitution: e.3,
        critical: e.4,
        weekly_only: e.5 || e.6.eq_ignore_ascii_case("methotrexate"),
        site_name: e.7,
        stored_schedule: (k.0, k.1, k.2, k.3, k.4, e.0, e.1),
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

    fn register_detail(&self) -> crate::cd_register::model::RegisterDetail {
        crate::cd_register::model::RegisterDetail {
            counterparty: Some(self.patient_name.clone()),
            counterparty_address: Some(self.site_name.clone()),
            patient_identifier: Some(self.prison_number.clone()),
            prescriber: Some(self.prescriber.clone()),
            ..Default::default()
        }
    }

    /// When its doses fall due; the steps of a stepped plan are read only for one.
    fn schedule(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<crate::domain::schedule::Schedule, AppError> {
        crate::prescribing::service::schedule_from(conn, self.id, self.stored_schedule.clone())
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
/// named, through the ledger. Returns what each batch gave; the ledger's audit events are added
/// to `events` for the caller to record with its own.
fn draw(
    conn: &mut AnyConnection,
    actor: &Actor,
    rx: &RxFacts,
    d: Draw,
    events: &mut Vec<audit::Event>,
) -> Result<Vec<DrawnStock>, AppError> {
    let held: Vec<ledger::StockFacts> = match d.batch_id {
        Some(b) => {
            let facts = ledger::StockFacts::of_batch(conn, d.location_id, b)?;
            let product = match &facts {
                Some(f) => Some(f.product_id()),
                None => formulary::batch(conn, b)?.map(|row| row.product_id),
            };
            if product != Some(rx.product_id) {
                return Err(AppError::invalid(
                    "batch_id",
                    "same_product",
                    "not a batch of the prescribed product",
                ));
            }
            facts.into_iter().collect()
        }
        None => ledger::StockFacts::held(conn, d.location_id, rx.product_id)?,
    };
    let candidates = held
        .iter()
        .map(|f| match d.batch_id {
            // A named batch is the nurse's choice; the ledger still refuses an unusable one.
            Some(_) => FefoCandidate {
                status: BatchStatus::Available,
                ..f.candidate()
            },
            None => f.candidate(),
        })
        .collect();
    let (picks, shortfall) = allocate_fefo(candidates, d.units.scaled(), now().date());
    if shortfall > 0 {
        // Nothing here may be a location of another prison: that is not found, not short.
        location_at(conn, rx.site_id, d.location_id)?;
        return Err(AppError::conflict(
            "insufficient_stock",
            format!(
                "{} short of {} {} at this location: record the dose as not available",
                Quantity::from_scaled(shortfall),
                rx.product_name,
                rx.unit
            ),
        ));
    }
    let mut drawn = Vec::with_capacity(picks.len());
    for (i, (batch, quantity)) in picks.into_iter().enumerate() {
        let quantity = Quantity::from_scaled(quantity);
        let mut posting = Posting::new(rx.site_id, d.location_id, batch, -quantity, d.reason);
        posting.reference = Some(d.reference);
        posting.occurred_at = d.occurred_at;
        posting.register = d.detail.clone();
        let facts = held.iter().find(|f| f.batch_id() == batch);
        let posted = match facts {
            // The first batch posts from what was read; a second one of the same page reads
            // the page's new head.
            Some(facts) if i == 0 => ledger::post_from(conn, actor, &posting, facts, events)?,
            _ => ledger::post_with_events(conn, actor, &posting, events)?,
        };
        drawn.push(DrawnStock {
            batch_id: batch,
            quantity,
            movement_id: posted.movement_id,
            register_entry_id: posted.register_entry_id,
        });
    }
    Ok(drawn)
}
