use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::domain::screening::{AllergyKind, IpOutcome};
use crate::text_enum;

pub use crate::domain::patient::{AdjustmentCategory, PatientStatus};

text_enum!(AllergySeverity {
    Mild => "mild",
    Moderate => "moderate",
    Severe => "severe",
});

text_enum!(ReviewTrigger {
    Transfer => "transfer",
    FailedComplianceCheck => "failed_compliance_check",
    SelfHarmConcern => "self_harm_concern",
    FoundTrading => "found_trading",
    Other => "other",
});

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmitPatient {
    /// NOMIS number: one letter, four digits, two letters, e.g. A1234BC.
    #[schema(pattern = "^[A-Z][0-9]{4}[A-Z]{2}$")]
    pub prison_number: String,
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub given_name: String,
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    #[validate(length(min = 1, max = 20))]
    #[schema(min_length = 1, max_length = 20)]
    pub wing: Option<String>,
    #[validate(length(min = 1, max = 20))]
    #[schema(min_length = 1, max_length = 20)]
    pub landing: Option<String>,
    #[validate(length(min = 1, max = 20))]
    #[schema(min_length = 1, max_length = 20)]
    pub cell: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLocation {
    #[validate(length(min = 1, max = 20))]
    #[schema(min_length = 1, max_length = 20)]
    pub wing: Option<String>,
    #[validate(length(min = 1, max = 20))]
    #[schema(min_length = 1, max_length = 20)]
    pub landing: Option<String>,
    #[validate(length(min = 1, max = 20))]
    #[schema(min_length = 1, max_length = 20)]
    pub cell: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllergyRequest {
    /// A substance ("penicillin") or class ("penicillins", "NSAID").
    #[validate(length(min = 3, max = 100))]
    #[schema(min_length = 3, max_length = 100)]
    pub substance: String,
    pub kind: AllergyKind,
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub reaction: String,
    pub severity: AllergySeverity,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetractAllergy {
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AllergyView {
    pub id: i64,
    pub substance: String,
    pub kind: AllergyKind,
    pub reaction: String,
    pub severity: AllergySeverity,
    pub recorded_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub recorded_at: NaiveDateTime,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentRequest {
    pub outcome: IpOutcome,
    #[validate(length(min = 1, max = 4000))]
    #[schema(min_length = 1, max_length = 4000)]
    pub reasons: String,
    /// The products allowed in possession when the outcome is `named_products_only`.
    #[serde(default)]
    pub product_ids: Vec<i64>,
    /// Defaults to today.
    pub assessed_on: Option<NaiveDate>,
    pub review_date: NaiveDate,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AssessmentView {
    pub id: i64,
    pub patient_id: i64,
    pub site_id: i64,
    pub outcome: IpOutcome,
    pub reasons: String,
    pub product_ids: Vec<i64>,
    pub assessed_by: i64,
    pub assessed_on: NaiveDate,
    pub review_date: NaiveDate,
    #[serde(with = "crate::domain::time::utc")]
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AssessmentList {
    pub items: Vec<AssessmentView>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    pub reason: ReviewTrigger,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReviewDue {
    pub patient_id: i64,
    #[schema(pattern = "^[A-Z][0-9]{4}[A-Z]{2}$")]
    pub prison_number: String,
    pub wing: Option<String>,
    /// `no_assessment`, `review_date_passed`, or a trigger such as `transfer`.
    pub reason: String,
    pub since: Option<NaiveDate>,
    pub last_assessment_id: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReviewDueList {
    pub items: Vec<ReviewDue>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PatientView {
    pub id: i64,
    #[schema(pattern = "^[A-Z][0-9]{4}[A-Z]{2}$")]
    pub prison_number: String,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub site_id: i64,
    pub wing: Option<String>,
    pub landing: Option<String>,
    pub cell: Option<String>,
    pub status: PatientStatus,
    pub allergies: Vec<AllergyView>,
    pub current_assessment: Option<AssessmentView>,
    /// Reasonable adjustments in force.
    pub adjustments: Vec<AdjustmentView>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    pub category: AdjustmentCategory,
    /// What to do, in words staff act on, e.g. "Read the label aloud and check understanding".
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub text: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetractAdjustment {
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdjustmentView {
    pub id: i64,
    pub category: AdjustmentCategory,
    /// How the category reads, e.g. "Easy-read labels".
    pub label: String,
    pub text: String,
    pub recorded_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: NaiveDateTime,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PatientFilter {
    /// Either case.
    #[param(pattern = "^[A-Za-z][0-9]{4}[A-Za-z]{2}$")]
    pub prison_number: Option<String>,
    pub wing: Option<String>,
    /// Defaults to in_custody.
    #[param(inline)]
    pub status: Option<PatientStatus>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The receiving prison when it is served here; its pharmacy gets a reconciliation task.
    pub to_site_id: Option<i64>,
    /// Where the patient went when the prison is not served here.
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub destination: Option<String>,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSupply {
    pub prescription_id: i64,
    /// Days supplied to take out: up to 28, or 14 for opioid substitution therapy.
    pub days: i64,
    /// Where the supply is taken from: it leaves stock through the ledger.
    pub location_id: i64,
    /// A named batch; first expiry first out when absent.
    pub batch_id: Option<i64>,
}

/// What became of take-home naloxone offered at release.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NaloxoneOffer {
    pub outcome: NaloxoneOutcome,
    /// Accepted: where the kit is handed over from, and its batch.
    pub location_id: Option<i64>,
    pub batch_id: Option<i64>,
}

text_enum!(NaloxoneOutcome {
    Accepted => "accepted",
    Declined => "declined",
    AlreadyHasKit => "already_has_kit",
});

/// Take-home naloxone offered at releases of a month: of the releases of patients with an
/// opioid history, how many were offered, and what became of the offers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NaloxoneMonth {
    /// `2026-11`.
    pub month: String,
    pub eligible_releases: i64,
    pub offered: i64,
    pub accepted: i64,
    pub declined: i64,
    pub already_has_kit: i64,
    /// Offered as a percentage of eligible releases, to two decimal places; absent without any.
    pub offer_rate_percent: Option<crate::domain::Percent>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NaloxoneReport {
    pub site_id: i64,
    pub year: i32,
    pub months: Vec<NaloxoneMonth>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NaloxoneReportQuery {
    #[validate(range(min = 1900, max = 2199))]
    #[param(minimum = 1900, maximum = 2199)]
    pub year: i32,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    #[serde(default)]
    #[validate(nested)]
    pub supplies: Vec<ReleaseSupply>,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
    /// Who took the supplies out; the patient in person when absent.
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub collected_by: Option<String>,
    /// Whether the identity of whoever collected was checked.
    pub identity_checked: Option<bool>,
    /// The second person, who authenticates: required when a register-tracked medicine is supplied.
    pub witness: Option<crate::auth::witness::WitnessCredentials>,
    /// Take-home naloxone: required when the patient has an opioid history (an opioid
    /// substitution or other opioid prescription on record).
    #[validate(nested)]
    pub naloxone: Option<NaloxoneOffer>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    pub id: i64,
    pub patient_id: i64,
    #[schema(pattern = "^[A-Z][0-9]{4}[A-Z]{2}$")]
    pub prison_number: String,
    pub site_id: i64,
    pub due_date: NaiveDate,
    #[serde(with = "crate::domain::time::utc")]
    pub created_at: NaiveDateTime,
    pub completed_by: Option<i64>,
    #[serde(default, with = "crate::domain::time::utc_opt")]
    pub completed_at: Option<NaiveDateTime>,
    pub note: Option<String>,
    pub overdue: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskList {
    pub items: Vec<TaskView>,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// Only open tasks (default true).
    pub open: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteTask {
    #[validate(length(min = 1, max = 4000))]
    #[schema(min_length = 1, max_length = 4000)]
    pub note: String,
}
