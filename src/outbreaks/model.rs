use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::domain::administration::InjectionSite;
use crate::domain::Quantity;
use crate::text_enum;

text_enum!(OutbreakStatus {
    Open => "open",
    Closed => "closed",
});

text_enum!(
    /// How a patient came to hold stock of a batch.
    ReceivedBy {
        Vaccination => "vaccination",
        Dose => "dose",
        InPossessionSupply => "in_possession_supply",
    }
);

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareOutbreak {
    /// E.g. "Influenza A", "Norovirus".
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub condition: String,
    /// Today when absent.
    pub declared_on: Option<NaiveDate>,
    /// The wings affected, as patients' wings are written.
    #[validate(length(min = 1, max = 50))]
    #[schema(min_items = 1, max_items = 50)]
    pub wings: Vec<String>,
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseOutbreak {
    /// Today when absent; not before the outbreak was declared.
    pub closed_on: Option<NaiveDate>,
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutbreakView {
    pub id: i64,
    pub site_id: i64,
    pub condition: String,
    pub declared_on: NaiveDate,
    pub wings: Vec<String>,
    pub note: Option<String>,
    pub declared_by: i64,
    pub status: OutbreakStatus,
    pub closed_on: Option<NaiveDate>,
    pub closed_by: Option<i64>,
    pub closing_note: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VaccinationRequest {
    pub patient_id: i64,
    pub product_id: i64,
    /// A batch of the product, drawn from `location_id` through the ledger.
    pub batch_id: i64,
    pub location_id: i64,
    /// In the product's stock unit: 1 when absent.
    pub quantity: Option<Quantity>,
    pub injection_site: InjectionSite,
    /// When it was given, if not now (at most 7 days back).
    #[serde(default, with = "crate::domain::time::utc_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub given_at: Option<NaiveDateTime>,
    /// An open outbreak at this prison the vaccination belongs to.
    pub outbreak_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VaccinationView {
    pub id: i64,
    pub site_id: i64,
    pub patient_id: i64,
    #[schema(pattern = "^[A-Z][0-9]{4}[A-Z]{2}$")]
    pub prison_number: String,
    pub product_id: i64,
    pub product_name: String,
    pub batch_id: i64,
    pub batch_number: String,
    pub location_id: i64,
    pub quantity: Quantity,
    pub movement_id: i64,
    pub injection_site: InjectionSite,
    pub outbreak_id: Option<i64>,
    pub given_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub given_at: NaiveDateTime,
    #[serde(with = "crate::domain::time::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: NaiveDateTime,
}

#[derive(Debug, Default, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VaccinationFilter {
    pub outbreak_id: Option<i64>,
    pub patient_id: Option<i64>,
    pub batch_id: Option<i64>,
}

/// Patients counted once per measure, by their wing now.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct WingCount {
    /// The wing, or "unassigned".
    pub wing: String,
    /// Patients with a treatment course tagged to the outbreak.
    pub treated: i64,
    /// Patients with a prophylaxis course tagged to the outbreak.
    pub prophylaxis: i64,
    /// Patients vaccinated under the outbreak.
    pub vaccinated: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutbreakSummary {
    pub outbreak: OutbreakView,
    pub wings: Vec<WingCount>,
    /// Every wing together ("all").
    pub total: WingCount,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecipientsQuery {
    pub batch_id: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchRecipient {
    pub patient_id: i64,
    #[schema(pattern = "^[A-Z][0-9]{4}[A-Z]{2}$")]
    pub prison_number: String,
    pub given_name: String,
    pub family_name: String,
    /// Where the patient is now.
    pub site_id: i64,
    pub wing: Option<String>,
    pub received_by: ReceivedBy,
    /// The vaccination, dose record or in-possession supply.
    pub record_id: i64,
    #[serde(with = "crate::domain::time::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: NaiveDateTime,
    pub quantity: Quantity,
}
