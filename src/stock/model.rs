use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::domain::stock::{BatchStatus, MovementReason};
use crate::domain::Quantity;
use crate::text_enum;

#[derive(Debug, Serialize, ToSchema)]
pub struct StockLine {
    pub location_id: i64,
    pub location_code: String,
    pub product_id: i64,
    pub product_name: String,
    pub unit: String,
    pub batch_id: i64,
    pub batch_number: String,
    pub expiry_date: NaiveDate,
    pub batch_status: BatchStatus,
    pub quantity: Quantity,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StockFilter {
    pub location_id: Option<i64>,
    pub product_id: Option<i64>,
    pub batch_id: Option<i64>,
    /// Include (location, batch) pairs that once held stock and now hold none.
    pub include_zero: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MovementFilter {
    /// One of product_id or batch_id is required.
    pub product_id: Option<i64>,
    pub batch_id: Option<i64>,
    pub location_id: Option<i64>,
    /// Return movements after this id (from `next_after_id` of the previous page).
    #[validate(range(min = 0))]
    #[param(minimum = 0)]
    pub after_id: Option<i64>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MovementView {
    pub id: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub occurred_at: NaiveDateTime,
    #[serde(with = "crate::domain::time::utc")]
    pub recorded_at: NaiveDateTime,
    pub location_id: i64,
    pub batch_id: i64,
    pub product_id: i64,
    pub reason: MovementReason,
    pub reason_code: Option<String>,
    pub quantity: Quantity,
    /// Balance of this batch at this location after the movement.
    pub balance_after: Quantity,
    /// Running balance over everything the filter selects (the product or batch at the site,
    /// or at the one location asked for).
    pub running_balance: Quantity,
    pub actor_id: i64,
    pub reference_type: Option<String>,
    pub reference_id: Option<i64>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MovementPage {
    pub items: Vec<MovementView>,
    /// Pass as `after_id` for the next page; absent on the last page.
    pub next_after_id: Option<i64>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExpiringFilter {
    /// Days ahead of today.
    #[validate(range(min = 0, max = 3650))]
    #[param(minimum = 0, maximum = 3650)]
    pub days: i64,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AllocationQuery {
    pub location_id: i64,
    pub product_id: i64,
    #[param(value_type = String)]
    pub quantity: Quantity,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllocationPick {
    pub batch_id: i64,
    pub batch_number: String,
    pub expiry_date: NaiveDate,
    pub quantity: Quantity,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Allocation {
    pub picks: Vec<AllocationPick>,
    /// What could not be covered from usable stock; zero when the quantity is available.
    pub shortfall: Quantity,
}

text_enum!(AdjustmentReason {
    Adjustment => "adjustment",
    Wastage => "wastage",
    ExpiryWriteOff => "expiry_write_off",
});

text_enum!(AdjustmentCode {
    OpeningBalance => "opening_balance",
    Found => "found",
    CountCorrection => "count_correction",
    Damaged => "damaged",
    Spilt => "spilt",
    Dropped => "dropped",
    Contaminated => "contaminated",
    Expired => "expired",
    Other => "other",
});

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    pub location_id: i64,
    pub batch_id: i64,
    /// Signed: positive adds stock, negative removes it. Wastage and expiry write-offs are negative.
    pub quantity: Quantity,
    pub reason: AdjustmentReason,
    pub reason_code: AdjustmentCode,
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferLineRequest {
    pub batch_id: i64,
    pub quantity: Quantity,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTransfer {
    pub from_location_id: i64,
    /// A location of this site or of another prison.
    pub to_location_id: i64,
    #[validate(length(min = 1, max = 100), nested)]
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<TransferLineRequest>,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
    /// The second person, who authenticates: required when register-tracked stock leaves.
    pub witness: Option<crate::auth::witness::WitnessCredentials>,
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivedLine {
    pub line_id: i64,
    pub quantity_received: Quantity,
    /// Required when the quantity received differs from the quantity sent.
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub discrepancy_note: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveTransfer {
    /// Lines not listed are received in full.
    #[serde(default)]
    #[validate(nested)]
    pub lines: Vec<ReceivedLine>,
}

text_enum!(TransferStatus {
    InTransit => "in_transit",
    Received => "received",
});

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferLineView {
    pub id: i64,
    pub batch_id: i64,
    pub product_id: i64,
    pub quantity_sent: Quantity,
    pub quantity_received: Option<Quantity>,
    /// Sent minus received, once received.
    pub discrepancy: Option<Quantity>,
    pub discrepancy_note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferView {
    pub id: i64,
    pub from_site_id: i64,
    pub from_location_id: i64,
    pub to_site_id: i64,
    pub to_location_id: i64,
    pub status: TransferStatus,
    pub note: Option<String>,
    pub dispatched_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub dispatched_at: NaiveDateTime,
    pub received_by: Option<i64>,
    #[serde(default, with = "crate::domain::time::utc_opt")]
    pub received_at: Option<NaiveDateTime>,
    pub lines: Vec<TransferLineView>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenStocktake {
    pub location_id: i64,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountLine {
    pub batch_id: i64,
    pub counted_quantity: Quantity,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StocktakeCounts {
    #[validate(length(min = 1, max = 500), nested)]
    #[schema(min_items = 1, max_items = 500)]
    pub counts: Vec<CountLine>,
}

text_enum!(StocktakeStatus {
    Open => "open",
    Approved => "approved",
    Cancelled => "cancelled",
});

#[derive(Debug, Serialize, ToSchema)]
pub struct StocktakeLineView {
    pub id: i64,
    pub batch_id: i64,
    pub product_id: i64,
    /// Balance when the stocktake was opened.
    pub snapshot_quantity: Quantity,
    pub counted_quantity: Option<Quantity>,
    /// Balance at the moment the count was entered: the snapshot plus any movements made
    /// during the count up to then. Variance is measured against this.
    pub expected_at_count: Option<Quantity>,
    /// Counted minus expected at count.
    pub variance: Option<Quantity>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StocktakeView {
    pub id: i64,
    pub site_id: i64,
    pub location_id: i64,
    pub status: StocktakeStatus,
    pub note: Option<String>,
    pub opened_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub opened_at: NaiveDateTime,
    pub closed_by: Option<i64>,
    #[serde(default, with = "crate::domain::time::utc_opt")]
    pub closed_at: Option<NaiveDateTime>,
    pub lines: Vec<StocktakeLineView>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetReorderLevel {
    pub product_id: i64,
    /// Order when usable stock at the site falls below this.
    pub reorder_level: Quantity,
    /// Usual order quantity; the suggestion is at least this.
    pub reorder_quantity: Quantity,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReorderLevelView {
    pub site_id: i64,
    pub product_id: i64,
    pub reorder_level: Quantity,
    pub reorder_quantity: Quantity,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReorderLine {
    pub product_id: i64,
    pub product_name: String,
    pub unit: String,
    /// Usable stock at the site: available batches, not expired.
    pub on_hand: Quantity,
    pub reorder_level: Quantity,
    pub suggested_quantity: Quantity,
    pub pack_size: Quantity,
    pub suggested_packs: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReorderReport {
    pub site_id: i64,
    pub items: Vec<ReorderLine>,
}
