use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::witness::WitnessCredentials;
use crate::domain::administration::{AlertKind, AwayReason, DoseOutcome, InjectionSite};
use crate::domain::Quantity;
use crate::prescribing::model::{Route, ScheduleKind, Slot};

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RoundQuery {
    pub date: NaiveDate,
    #[param(inline)]
    pub slot: Slot,
    /// An administration point: its wing is the part of its code before "-HATCH".
    pub location_id: Option<i64>,
    /// A wing, e.g. HB1; the whole prison when neither this nor location_id is given.
    #[validate(length(min = 1, max = 20))]
    #[param(min_length = 1, max_length = 20)]
    pub wing: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecentOutcome {
    pub date: NaiveDate,
    pub slot: Slot,
    pub outcome: DoseOutcome,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoundItem {
    pub prescription_id: i64,
    /// The day the dose fell due: today, or an earlier day for a dose a week or more apart
    /// that is still due. Record the outcome with this date.
    pub scheduled_date: NaiveDate,
    /// Fell due on an earlier day and is not yet given or recorded as not given.
    pub overdue: bool,
    pub schedule: ScheduleKind,
    pub patient_id: i64,
    #[schema(pattern = "^[A-Z][0-9]{4}[A-Z]{2}$")]
    pub prison_number: String,
    pub patient_name: String,
    pub wing: Option<String>,
    pub cell: Option<String>,
    pub product_id: i64,
    pub product_name: String,
    pub route: Route,
    pub dose: Quantity,
    pub dose_unit: String,
    /// Schedule 2 or register-tracked: a second person must witness the dose.
    pub witness_required: bool,
    /// Harmful when late: not recorded soon after the round, it raises an alert.
    pub time_critical: bool,
    pub recent_outcomes: Vec<RecentOutcome>,
    pub open_alerts: i64,
    /// The patient's reasonable adjustments: how to give and explain this dose.
    pub adjustments: Vec<crate::patients::model::AdjustmentView>,
    /// The outcome already recorded for this dose, if any.
    pub recorded: Option<DoseView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoundList {
    pub site_id: i64,
    pub date: NaiveDate,
    pub slot: Slot,
    pub wing: Option<String>,
    pub items: Vec<RoundItem>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordDose {
    pub prescription_id: i64,
    /// The round's date and time slot.
    pub date: NaiveDate,
    pub slot: Slot,
    pub outcome: DoseOutcome,
    /// Where the dose was given from (the round's administration point); required when given.
    pub location_id: Option<i64>,
    /// A batch to take; first expiry first out when absent.
    pub batch_id: Option<i64>,
    /// The dose given, in the prescription's dose unit; defaults to the prescribed dose.
    pub quantity: Option<Quantity>,
    /// Units drawn from stock, where the strength does not convert the dose (e.g. inhalers).
    pub stock_quantity: Option<Quantity>,
    /// For withheld (the clinical reason) and other (what happened).
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: Option<String>,
    /// For away: court, hospital, visit or segregation.
    pub away_reason: Option<AwayReason>,
    /// When it happened, if not now; a late entry keeps both times.
    #[serde(default, with = "crate::domain::time::utc_opt")]
    pub occurred_at: Option<NaiveDateTime>,
    /// The second person, for schedule 2 and register-tracked doses.
    pub witness: Option<WitnessCredentials>,
    /// Where an injection was given; required for a given subcutaneous or intramuscular dose.
    pub injection_site: Option<InjectionSite>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DrawnStock {
    pub batch_id: i64,
    pub quantity: Quantity,
    pub movement_id: i64,
    pub register_entry_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CorrectionView {
    pub reason: String,
    pub corrected_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub corrected_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DoseView {
    pub id: i64,
    pub prescription_id: i64,
    pub patient_id: i64,
    pub site_id: i64,
    pub date: NaiveDate,
    pub slot: Slot,
    pub attempt: i64,
    pub outcome: DoseOutcome,
    pub reason: Option<String>,
    pub quantity: Option<Quantity>,
    pub stock_quantity: Option<Quantity>,
    pub location_id: Option<i64>,
    pub witness_id: Option<i64>,
    pub nurse_id: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub occurred_at: NaiveDateTime,
    #[serde(with = "crate::domain::time::utc")]
    pub recorded_at: NaiveDateTime,
    pub late_entry: bool,
    pub injection_site: Option<InjectionSite>,
    pub stock: Vec<DrawnStock>,
    /// Set when the record was corrected (entered in error); the record itself stays.
    pub correction: Option<CorrectionView>,
    pub alert_ids: Vec<i64>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectDose {
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplyRequest {
    pub prescription_id: i64,
    /// Where the supply is taken from.
    pub location_id: i64,
    /// Days supplied; defaults to the prescription's supply period.
    #[validate(range(min = 1, max = 28))]
    #[schema(minimum = 1, maximum = 28)]
    pub days: Option<i64>,
    pub batch_id: Option<i64>,
    /// Whether the patient's identity was checked at hand-over (a register entry records it).
    pub identity_checked: Option<bool>,
    /// The second person, who authenticates: required for register-tracked medicines.
    pub witness: Option<WitnessCredentials>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SupplyView {
    pub id: i64,
    pub prescription_id: i64,
    pub patient_id: i64,
    pub site_id: i64,
    pub location_id: i64,
    pub days: i64,
    pub quantity: Quantity,
    /// Units a day (dose x doses a day).
    pub per_day: Quantity,
    pub label_text: String,
    pub handed_over_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub supplied_at: NaiveDateTime,
    pub stock: Vec<DrawnStock>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceRequest {
    pub prescription_id: i64,
    /// What the nurse found in the cell.
    pub counted_quantity: Quantity,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComplianceView {
    pub id: i64,
    pub prescription_id: i64,
    pub patient_id: i64,
    pub supply_id: i64,
    pub counted_quantity: Quantity,
    pub expected_quantity: Quantity,
    pub difference: Quantity,
    pub discrepancy: bool,
    pub note: Option<String>,
    pub nurse_id: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub checked_at: NaiveDateTime,
    pub alert_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    pub id: i64,
    pub site_id: i64,
    pub patient_id: i64,
    #[schema(pattern = "^[A-Z][0-9]{4}[A-Z]{2}$")]
    pub prison_number: String,
    pub prescription_id: Option<i64>,
    pub kind: AlertKind,
    pub message: String,
    pub dose_record_id: Option<i64>,
    pub compliance_check_id: Option<i64>,
    #[serde(with = "crate::domain::time::utc")]
    pub raised_at: NaiveDateTime,
    pub acknowledged_by: Option<i64>,
    pub acknowledgement_note: Option<String>,
    #[serde(default, with = "crate::domain::time::utc_opt")]
    pub acknowledged_at: Option<NaiveDateTime>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertList {
    pub items: Vec<AlertView>,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertFilter {
    /// Only unacknowledged alerts (default true).
    pub open: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeAlert {
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FhirQuery {
    /// First day included (UTC).
    pub from: Option<NaiveDate>,
    /// Last day included (UTC).
    pub to: Option<NaiveDate>,
}

/// An in-possession prescription as the round screen lists it.
#[derive(Debug, Clone, Serialize)]
pub struct PossessionItem {
    pub prescription_id: i64,
    pub prison_number: String,
    pub patient_name: String,
    pub cell: Option<String>,
    pub product_name: String,
    pub dose: Quantity,
    pub dose_unit: String,
    /// A register-tracked medicine: its supply is witnessed.
    pub witness_required: bool,
    /// What a cell count counts (tablets, ml).
    pub unit: String,
}
