use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::domain::Quantity;
use crate::text_enum;

text_enum!(KitKind {
    WingEmergencyBag => "wing_emergency_bag",
    NaloxoneKit => "naloxone_kit",
    AnaphylaxisKit => "anaphylaxis_kit",
});

text_enum!(
    /// Sealed after its last restock or check; open once its seal is broken; unchecked when
    /// never checked nor sealed.
    KitState {
        Sealed => "sealed",
        Open => "open",
        Unchecked => "unchecked",
    }
);

text_enum!(KitEventKind {
    Opened => "opened",
    Restocked => "restocked",
});

/// One line of a kit's contents list, or of what was used from it or put back.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KitItem {
    pub product_id: i64,
    /// In the product's stock unit.
    pub quantity: Quantity,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKit {
    /// The location that is the kit: not a CD cabinet, and not already a kit.
    pub location_id: i64,
    pub kind: KitKind,
    /// Days between checks: 7 (weekly) when absent.
    #[validate(range(min = 1, max = 366))]
    #[schema(minimum = 1, maximum = 366)]
    pub check_interval_days: Option<i64>,
    #[validate(length(min = 1, max = 50))]
    #[schema(min_items = 1, max_items = 50)]
    pub contents: Vec<KitItem>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetContents {
    #[validate(length(min = 1, max = 50))]
    #[schema(min_items = 1, max_items = 50)]
    pub contents: Vec<KitItem>,
    #[validate(range(min = 1, max = 366))]
    #[schema(minimum = 1, maximum = 366)]
    pub check_interval_days: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KitContentView {
    pub product_id: i64,
    pub product_name: String,
    pub unit: String,
    /// What the contents list says the kit holds.
    pub quantity: Quantity,
    /// What the ledger says is at the kit now.
    pub held: Quantity,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KitView {
    pub id: i64,
    pub site_id: i64,
    pub location_id: i64,
    pub location_code: String,
    pub location_name: String,
    pub kind: KitKind,
    pub check_interval_days: i64,
    pub contents: Vec<KitContentView>,
    pub state: KitState,
    /// The seal on the kit, as last recorded by a check or a restock.
    pub seal_number: Option<String>,
    pub last_check_id: Option<i64>,
    #[serde(with = "crate::domain::time::utc_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_checked_at: Option<NaiveDateTime>,
    /// The last check found the seal intact and every item present and in date.
    pub last_check_complete: Option<bool>,
    /// When the next check falls due: the last check plus the interval, or the kit's creation.
    #[serde(with = "crate::domain::time::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub next_check_due: NaiveDateTime,
    pub overdue: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckedItem {
    pub product_id: i64,
    pub present: bool,
    pub in_date: bool,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KitCheckRequest {
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub seal_number: String,
    pub seal_intact: bool,
    /// One line for every product on the contents list.
    #[validate(length(min = 1, max = 50))]
    #[schema(min_items = 1, max_items = 50)]
    pub items: Vec<CheckedItem>,
    /// When it was checked, if not now (at most 7 days back).
    #[serde(default, with = "crate::domain::time::utc_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub checked_at: Option<NaiveDateTime>,
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckedItemView {
    pub product_id: i64,
    pub present: bool,
    pub in_date: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KitCheckView {
    pub id: i64,
    pub kit_id: i64,
    pub seal_number: String,
    pub seal_intact: bool,
    /// Seal intact, and every item present and in date.
    pub complete: bool,
    pub items: Vec<CheckedItemView>,
    pub note: Option<String>,
    pub checked_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub checked_at: NaiveDateTime,
    #[serde(with = "crate::domain::time::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: NaiveDateTime,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenKit {
    /// The seal that was broken.
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub seal_number: String,
    /// What was used, drawn first expiry first out; may be empty when nothing was used.
    #[validate(length(max = 50))]
    #[schema(max_items = 50)]
    pub items_used: Vec<KitItem>,
    /// For whom, if known: a patient at this prison.
    pub patient_id: Option<i64>,
    #[serde(default, with = "crate::domain::time::utc_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<NaiveDateTime>,
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestockKit {
    /// Where the stock comes from, usually the pharmacy store.
    pub from_location_id: i64,
    /// The new seal put on the kit.
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub seal_number: String,
    #[validate(length(max = 50))]
    #[schema(max_items = 50)]
    pub items: Vec<KitItem>,
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KitMovementView {
    pub movement_id: i64,
    pub location_id: i64,
    pub product_id: i64,
    pub batch_id: i64,
    /// Signed: negative out of a location, positive into it.
    pub quantity: Quantity,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KitEventView {
    pub id: i64,
    pub kit_id: i64,
    pub kind: KitEventKind,
    pub seal_number: String,
    pub patient_id: Option<i64>,
    pub note: Option<String>,
    pub recorded_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: NaiveDateTime,
    pub movements: Vec<KitMovementView>,
}

#[derive(Debug, Clone, Copy, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExpiringQuery {
    /// Items expiring within this many days (already expired included): 30 when absent.
    #[validate(range(min = 0, max = 730))]
    #[param(minimum = 0, maximum = 730)]
    pub days: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExpiringKitItem {
    pub kit_id: i64,
    pub kit_kind: KitKind,
    pub location_code: String,
    pub product_id: i64,
    pub product_name: String,
    pub batch_id: i64,
    pub batch_number: String,
    pub expiry_date: NaiveDate,
    pub quantity: Quantity,
    /// Negative once expired.
    pub days_left: i64,
}
