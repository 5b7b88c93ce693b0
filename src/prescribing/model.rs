use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

pub use crate::domain::outbreak::OutbreakPurpose;

pub use crate::domain::schedule::{Day, ScheduleKind};
use crate::domain::screening::{CheckKind, Severity};
use crate::domain::stock::Possession;
use crate::domain::Quantity;
use crate::text_enum;

text_enum!(
    /// FHIR R4 MedicationRequest.status.
    RequestStatus {
        Draft => "draft",
        Active => "active",
        OnHold => "on-hold",
        Stopped => "stopped",
        Completed => "completed",
        Cancelled => "cancelled",
        EnteredInError => "entered-in-error",
    }
);

text_enum!(ScreeningState {
    Pending => "pending",
    Approved => "approved",
    Rejected => "rejected",
    Queried => "queried",
});

text_enum!(Decision {
    Approve => "approve",
    ApproveWithNote => "approve_with_note",
    Reject => "reject",
    Query => "query",
});

text_enum!(
    /// Medication round times.
    Slot {
        Morning => "morning",
        Lunchtime => "lunchtime",
        Teatime => "teatime",
        Night => "night",
    }
);

text_enum!(Route {
    Oral => "oral",
    Sublingual => "sublingual",
    Buccal => "buccal",
    Inhaled => "inhaled",
    Topical => "topical",
    Transdermal => "transdermal",
    Subcutaneous => "subcutaneous",
    Intramuscular => "intramuscular",
    Intravenous => "intravenous",
    Rectal => "rectal",
    Nasal => "nasal",
    Eye => "eye",
    Ear => "ear",
});

/// One step of a stepped (reducing or titrating) plan: its dose from one date to another.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The dose at each round time of the step, in the prescription's dose unit.
    pub dose: Quantity,
}

/// When doses fall due (close to FHIR Timing). Round times (`slots`) apply on each due day;
/// `as_needed` has none.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    pub kind: ScheduleKind,
    /// every_n_days: the interval.
    #[validate(range(min = 2, max = 90))]
    #[schema(minimum = 2, maximum = 90)]
    pub every_days: Option<i64>,
    /// weekdays: the days; weekly: exactly one.
    #[validate(length(min = 1, max = 7))]
    #[schema(min_items = 1, max_items = 7)]
    pub days: Option<Vec<Day>>,
    /// monthly: the day of the month (1 to 28, so every month has it).
    #[validate(range(min = 1, max = 28))]
    #[schema(minimum = 1, maximum = 28)]
    pub day_of_month: Option<i64>,
    /// stepped: the steps, in date order, without gaps or overlaps.
    #[validate(length(min = 1, max = 60), nested)]
    #[schema(min_items = 1, max_items = 60)]
    pub steps: Option<Vec<StepSpec>>,
    /// as_needed: the least time between two doses.
    #[validate(range(min = 15, max = 2880))]
    #[schema(minimum = 15, maximum = 2880)]
    pub min_interval_minutes: Option<i64>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrescription {
    pub product_id: i64,
    /// One dose, exact, in `dose_unit`.
    pub dose: Quantity,
    /// Must be the product's dose unit (e.g. "mg").
    #[validate(length(min = 1, max = 20))]
    #[schema(min_length = 1, max_length = 20)]
    pub dose_unit: String,
    pub route: Route,
    /// Round times for regular doses.
    #[serde(default)]
    pub slots: Vec<Slot>,
    /// When required, up to `max_doses_per_day`.
    #[serde(default)]
    pub as_needed: bool,
    #[validate(range(min = 1, max = 24))]
    #[schema(minimum = 1, maximum = 24)]
    pub max_doses_per_day: Option<i64>,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    /// When doses fall due; round times every day when absent (when required with
    /// `as_needed`).
    #[validate(nested)]
    pub schedule: Option<ScheduleSpec>,
    /// Defaults to the product's default possession.
    pub possession: Option<Possession>,
    /// Days per in-possession supply (default 7).
    #[validate(range(min = 1, max = 28))]
    #[schema(minimum = 1, maximum = 28)]
    pub supply_days: Option<i64>,
    /// Prescriber's name and registration, e.g. "Dr A Khan GMC 7012345".
    #[validate(length(min = 3, max = 200))]
    #[schema(min_length = 3, max_length = 200)]
    pub prescriber: String,
    #[validate(length(max = 500))]
    #[schema(max_length = 500)]
    pub indication: Option<String>,
    /// An open outbreak at the patient's prison this course treats or prevents; with
    /// `outbreak_purpose`.
    pub outbreak_id: Option<i64>,
    pub outbreak_purpose: Option<OutbreakPurpose>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FindingView {
    pub check: CheckKind,
    pub severity: Severity,
    pub message: String,
    pub source: Option<String>,
    pub related_prescription_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecisionView {
    pub decision: Decision,
    pub note: Option<String>,
    pub override_reason: Option<String>,
    pub pharmacist_id: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub decided_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusEventView {
    pub status: RequestStatus,
    pub reason: Option<String>,
    pub actor_id: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub occurred_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PrescriptionView {
    pub id: i64,
    pub patient_id: i64,
    #[schema(pattern = "^[A-Z][0-9]{4}[A-Z]{2}$")]
    pub prison_number: String,
    pub product_id: i64,
    pub product_name: String,
    pub dose: Quantity,
    pub dose_unit: String,
    pub route: Route,
    pub slots: Vec<Slot>,
    pub as_needed: bool,
    pub max_doses_per_day: Option<i64>,
    pub schedule: ScheduleSpec,
    /// Dose x doses a day (regular) or x the maximum (as needed).
    pub daily_dose: Quantity,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub possession: Possession,
    pub supply_days: Option<i64>,
    pub prescriber: String,
    pub indication: Option<String>,
    pub status: RequestStatus,
    pub screening: ScreeningState,
    pub findings: Vec<FindingView>,
    pub decisions: Vec<DecisionView>,
    pub history: Vec<StatusEventView>,
    pub created_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub created_at: NaiveDateTime,
    /// The outbreak the course belongs to, and whether it treats or prevents.
    pub outbreak_id: Option<i64>,
    pub outbreak_purpose: Option<OutbreakPurpose>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PrescriptionList {
    pub items: Vec<PrescriptionView>,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PrescriptionFilter {
    #[param(inline)]
    pub status: Option<RequestStatus>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub decision: Decision,
    /// Required for approve_with_note, reject and query.
    #[validate(length(min = 1, max = 4000))]
    #[schema(min_length = 1, max_length = 4000)]
    pub note: Option<String>,
    /// Required to approve over a blocking finding.
    #[validate(length(min = 1, max = 4000))]
    #[schema(min_length = 1, max_length = 4000)]
    pub override_reason: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusReason {
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}
