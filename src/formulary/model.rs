use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::domain::procurement::ServiceLine;

use crate::db::schema::{batches, products};
use crate::domain::stock::{BatchStatus, CdSchedule, DmdType, Possession, ProductStatus};
use crate::domain::Quantity;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = products)]
pub struct ProductRow {
    pub id: i64,
    pub dmd_code: Option<String>,
    pub dmd_type: String,
    pub name: String,
    pub form: String,
    pub strength: String,
    pub unit: String,
    pub pack_size: i64,
    pub ingredient: String,
    pub cd_schedule: String,
    pub cd_register: bool,
    pub medicine_of_concern: bool,
    pub default_possession: String,
    pub max_daily_dose: Option<i64>,
    pub dose_unit: String,
    pub therapeutic_class: String,
    pub critical: bool,
    pub opioid_substitution: bool,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub weekly_only: bool,
    pub time_critical: bool,
    pub service_line: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Product {
    pub id: i64,
    /// NHS dm+d concept id of the VMP or AMP, where known.
    pub dmd_code: Option<String>,
    pub dmd_type: DmdType,
    pub name: String,
    pub form: String,
    pub strength: String,
    /// Unit stock is counted in: tablet, capsule, ml, patch, ampoule, ...
    pub unit: String,
    pub pack_size: Quantity,
    pub ingredient: String,
    pub cd_schedule: CdSchedule,
    /// Every movement appends to the CD register.
    pub cd_register: bool,
    pub medicine_of_concern: bool,
    pub default_possession: Possession,
    /// Maximum daily dose, in `dose_unit`.
    pub max_daily_dose: Option<Quantity>,
    pub dose_unit: String,
    pub therapeutic_class: String,
    pub critical: bool,
    pub opioid_substitution: bool,
    /// Taken once a week at most.
    pub weekly_only: bool,
    /// Harmful when late: an unrecorded dose soon raises an alert.
    pub time_critical: bool,
    /// The budget its cost falls on.
    pub service_line: ServiceLine,
    pub status: ProductStatus,
    #[serde(with = "crate::domain::time::utc")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::domain::time::utc")]
    pub updated_at: NaiveDateTime,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Self {
        Product {
            id: r.id,
            dmd_code: r.dmd_code,
            dmd_type: DmdType::from_db(&r.dmd_type),
            name: r.name,
            form: r.form,
            strength: r.strength,
            unit: r.unit,
            pack_size: Quantity::from_scaled(r.pack_size),
            ingredient: r.ingredient,
            cd_schedule: CdSchedule::from_db(&r.cd_schedule),
            cd_register: r.cd_register,
            medicine_of_concern: r.medicine_of_concern,
            default_possession: Possession::from_db(&r.default_possession),
            max_daily_dose: r.max_daily_dose.map(Quantity::from_scaled),
            dose_unit: r.dose_unit,
            therapeutic_class: r.therapeutic_class,
            critical: r.critical,
            weekly_only: r.weekly_only,
            time_critical: r.time_critical,
            service_line: ServiceLine::from_db(&r.service_line),
            opioid_substitution: r.opioid_substitution,
            status: ProductStatus::from_db(&r.status),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn dmd_digits(s: &str) -> Result<(), validator::ValidationError> {
    if (6..=18).contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("dmd_code")
            .with_message("a dm+d code is 6 to 18 digits".into()))
    }
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    #[validate(custom(function = "dmd_digits"))]
    pub dmd_code: Option<String>,
    pub dmd_type: DmdType,
    #[validate(length(min = 1, max = 300))]
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub form: String,
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub strength: String,
    #[validate(length(min = 1, max = 30))]
    #[schema(min_length = 1, max_length = 30)]
    pub unit: String,
    pub pack_size: Quantity,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub ingredient: String,
    pub cd_schedule: CdSchedule,
    /// Defaults to on for schedule 2 and for buprenorphine.
    pub cd_register: Option<bool>,
    #[serde(default)]
    pub medicine_of_concern: bool,
    /// Defaults to supervised for schedule 2, opioid substitution and medicines of concern.
    pub default_possession: Option<Possession>,
    pub max_daily_dose: Option<Quantity>,
    #[validate(length(min = 1, max = 30))]
    #[schema(min_length = 1, max_length = 30)]
    pub dose_unit: String,
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub therapeutic_class: String,
    #[serde(default)]
    pub critical: bool,
    #[serde(default)]
    pub opioid_substitution: bool,
    /// Taken once a week at most: prescribing it more often is blocked (methotrexate always is).
    #[serde(default)]
    pub weekly_only: bool,
    /// Harmful when late (Parkinson's, insulin, anti-epileptics): a dose not recorded soon
    /// after its round raises an alert.
    #[serde(default)]
    pub time_critical: bool,
    /// The budget its cost falls on: substance misuse for opioid substitution and naloxone,
    /// general pharmacy otherwise, when absent.
    pub service_line: Option<ServiceLine>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduct {
    #[validate(length(min = 1, max = 300))]
    #[schema(min_length = 1, max_length = 300)]
    pub name: Option<String>,
    pub cd_register: Option<bool>,
    pub medicine_of_concern: Option<bool>,
    pub default_possession: Option<Possession>,
    pub max_daily_dose: Option<Quantity>,
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub therapeutic_class: Option<String>,
    pub critical: Option<bool>,
    pub weekly_only: Option<bool>,
    pub time_critical: Option<bool>,
    pub service_line: Option<ServiceLine>,
    /// Switching `cd_register` on while the product is in stock: the second person, who
    /// authenticates to the balances brought forward onto each cabinet's new page. (The route
    /// takes it out before the change is audited, so no credential reaches the audit log.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<crate::auth::witness::WitnessCredentials>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductFilter {
    /// Case-insensitive part of the name.
    #[validate(length(min = 1, max = 100))]
    #[param(min_length = 1, max_length = 100)]
    pub q: Option<String>,
    #[param(inline)]
    pub status: Option<ProductStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<Product>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = batches)]
pub struct BatchRow {
    pub id: i64,
    pub product_id: i64,
    pub batch_number: String,
    pub expiry_date: NaiveDate,
    pub status: String,
    #[serde(with = "crate::domain::time::utc")]
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Batch {
    pub id: i64,
    pub product_id: i64,
    pub batch_number: String,
    pub expiry_date: NaiveDate,
    pub status: BatchStatus,
    #[serde(with = "crate::domain::time::utc")]
    pub created_at: NaiveDateTime,
}

impl From<BatchRow> for Batch {
    fn from(r: BatchRow) -> Self {
        Batch {
            id: r.id,
            product_id: r.product_id,
            status: BatchStatus::from_db(&r.status),
            batch_number: r.batch_number,
            expiry_date: r.expiry_date,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBatch {
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    #[validate(custom(function = "crate::domain::input::printable"))]
    pub batch_number: String,
    pub expiry_date: NaiveDate,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBatchStatus {
    /// `quarantined` or `recalled` stops the batch being issued at every site; a quarantined
    /// batch may be released back to `available`, a recalled one may not.
    pub status: BatchStatus,
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}
