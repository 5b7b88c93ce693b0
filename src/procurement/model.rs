use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::domain::procurement::OrderStatus;
use crate::domain::{Money, Percent, Quantity};
use crate::text_enum;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplierRequest {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub address: String,
    /// The MHRA wholesale dealer's licence number, e.g. "WDA(H) 1234".
    #[validate(length(min = 3, max = 50))]
    #[schema(min_length = 3, max_length = 50)]
    pub wholesale_dealer_licence: String,
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub contact_name: Option<String>,
    #[validate(email, length(max = 200))]
    #[schema(max_length = 200)]
    pub contact_email: Option<String>,
    #[validate(length(max = 50))]
    #[schema(max_length = 50)]
    pub contact_phone: Option<String>,
    /// Inactive suppliers cannot be ordered from (default true).
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SupplierView {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub wholesale_dealer_licence: String,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub active: bool,
    pub products: Vec<SupplierProductView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SupplierList {
    pub items: Vec<SupplierView>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplierProductRequest {
    pub product_id: i64,
    /// Price of one pack, GBP, up to 4 decimal places.
    pub pack_price: Money,
    #[validate(range(min = 0, max = 365))]
    #[schema(minimum = 0, maximum = 365)]
    pub lead_time_days: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SupplierProductView {
    pub product_id: i64,
    pub product_name: String,
    pub pack_price: Money,
    pub lead_time_days: i64,
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLineRequest {
    pub product_id: i64,
    /// Whole packs.
    #[validate(range(min = 1, max = 100000))]
    #[schema(minimum = 1, maximum = 100000)]
    pub packs: i64,
    /// Defaults to the supplier's listed pack price.
    pub pack_price: Option<Money>,
    /// VAT percentage, e.g. "20"; defaults to 0 (NHS supplies of medicines are commonly zero-rated).
    pub vat_rate: Option<Percent>,
    /// Required for schedule 1-3 controlled drugs before the order is sent.
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub fp10cdf_reference: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    pub supplier_id: i64,
    #[validate(length(min = 1, max = 100), nested)]
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<OrderLineRequest>,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRequisition {
    /// The FP10CDF requisition's reference.
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub fp10cdf_reference: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelOrder {
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderLineView {
    pub id: i64,
    pub product_id: i64,
    pub product_name: String,
    pub cd_schedule: String,
    pub packs: i64,
    pub pack_size: Quantity,
    pub ordered_quantity: Quantity,
    pub received_quantity: Quantity,
    pub outstanding_quantity: Quantity,
    pub pack_price: Money,
    pub vat_rate: Percent,
    pub line_net: Money,
    pub line_vat: Money,
    pub line_total: Money,
    pub fp10cdf_reference: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub id: i64,
    pub site_id: i64,
    pub supplier_id: i64,
    pub supplier_name: String,
    pub status: OrderStatus,
    pub note: Option<String>,
    pub created_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub created_at: NaiveDateTime,
    pub approved_by: Option<i64>,
    #[serde(default, with = "crate::domain::time::utc_opt")]
    pub approved_at: Option<NaiveDateTime>,
    pub sent_by: Option<i64>,
    #[serde(default, with = "crate::domain::time::utc_opt")]
    pub sent_at: Option<NaiveDateTime>,
    pub cancelled_by: Option<i64>,
    #[serde(default, with = "crate::domain::time::utc_opt")]
    pub cancelled_at: Option<NaiveDateTime>,
    pub cancel_reason: Option<String>,
    pub net_total: Money,
    pub vat_total: Money,
    pub total: Money,
    pub lines: Vec<OrderLineView>,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    #[param(inline)]
    pub status: Option<OrderStatus>,
    pub supplier_id: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RaisedOrders {
    pub orders: Vec<OrderView>,
    /// Products below their reorder level that no supplier lists.
    pub unsourced_product_ids: Vec<i64>,
    /// Products below their reorder level already on an open order.
    pub already_on_order_product_ids: Vec<i64>,
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptLineRequest {
    pub order_line_id: i64,
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    #[validate(custom(function = "crate::domain::input::printable"))]
    pub batch_number: String,
    pub expiry_date: NaiveDate,
    /// Units received (tablets, ml, ...), not packs.
    pub quantity: Quantity,
    /// A pharmacist's reason for accepting more than was ordered.
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub over_receipt_reason: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveGoods {
    pub location_id: i64,
    #[validate(length(min = 1, max = 100), nested)]
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<ReceiptLineRequest>,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Warning {
    pub field: String,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptLineView {
    pub id: i64,
    pub order_line_id: i64,
    pub product_id: i64,
    pub batch_id: i64,
    pub batch_number: String,
    pub expiry_date: NaiveDate,
    pub quantity: Quantity,
    pub value_net: Money,
    pub value_vat: Money,
    pub movement_id: i64,
    pub register_entry_id: Option<i64>,
    pub over_receipt_reason: Option<String>,
    pub over_receipt_accepted_by: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptView {
    pub id: i64,
    pub order_id: i64,
    pub site_id: i64,
    pub location_id: i64,
    pub received_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub received_at: NaiveDateTime,
    pub note: Option<String>,
    pub lines: Vec<ReceiptLineView>,
    pub value_net: Money,
    pub value_vat: Money,
    /// The order's status after this receipt.
    pub order_status: OrderStatus,
    pub warnings: Vec<Warning>,
    pub invoice: Option<InvoiceView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceiptList {
    pub items: Vec<ReceiptView>,
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceLineRequest {
    pub receipt_line_id: i64,
    /// The pack price the invoice charges.
    pub pack_price: Money,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordInvoice {
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub invoice_number: String,
    pub net_amount: Money,
    pub vat_amount: Money,
    #[serde(default)]
    #[validate(nested)]
    pub lines: Vec<InvoiceLineRequest>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PriceDifference {
    pub receipt_line_id: i64,
    pub product_id: i64,
    pub ordered_pack_price: Money,
    pub invoiced_pack_price: Money,
    /// invoiced minus ordered, per pack.
    pub difference_per_pack: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvoiceView {
    pub id: i64,
    pub receipt_id: i64,
    pub invoice_number: String,
    pub net_amount: Money,
    pub vat_amount: Money,
    pub gross_amount: Money,
    /// What the goods received are worth at the ordered prices.
    pub expected_net: Money,
    pub expected_vat: Money,
    /// Invoiced minus expected.
    pub net_difference: Money,
    pub vat_difference: Money,
    pub price_differences: Vec<PriceDifference>,
    pub recorded_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub recorded_at: NaiveDateTime,
}

text_enum!(SpendFormat {
    Json => "json",
    Csv => "csv",
});

text_enum!(SpendPeriod {
    Month => "month",
    Day => "day",
});

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SpendQuery {
    /// One of your sites; all of them when absent.
    pub site_id: Option<i64>,
    pub supplier_id: Option<i64>,
    /// First day included (UTC).
    pub from: Option<NaiveDate>,
    /// Last day included (UTC).
    pub to: Option<NaiveDate>,
    /// Group by calendar month (default) or day.
    #[param(inline)]
    pub period: Option<SpendPeriod>,
    #[param(inline)]
    pub format: Option<SpendFormat>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SpendRow {
    pub supplier_id: i64,
    pub supplier_name: String,
    pub site_id: i64,
    pub site_code: String,
    /// `YYYY-MM` or `YYYY-MM-DD`.
    pub period: String,
    /// Goods received at the ordered prices.
    pub net: Money,
    pub vat: Money,
    pub gross: Money,
    pub receipts: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SpendReport {
    pub rows: Vec<SpendRow>,
    pub net_total: Money,
    pub vat_total: Money,
    pub gross_total: Money,
}

pub use crate::domain::procurement::ServiceLine;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBudget {
    /// The financial year by the year it starts: 2026 runs from 1 April 2026 to 31 March 2027.
    #[validate(range(min = 2000, max = 2198))]
    #[schema(minimum = 2000, maximum = 2198)]
    pub financial_year: i64,
    pub service_line: ServiceLine,
    /// The year's budget in GBP, at net prices.
    pub amount: Money,
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetView {
    pub id: i64,
    pub site_id: i64,
    pub financial_year: i64,
    pub service_line: ServiceLine,
    pub amount: Money,
    pub note: Option<String>,
    pub set_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub set_at: NaiveDateTime,
    /// A later revision replaced this one.
    pub superseded: bool,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BudgetYear {
    /// The financial year by the year it starts.
    #[validate(range(min = 2000, max = 2198))]
    #[param(minimum = 2000, maximum = 2198)]
    pub year: i64,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BudgetQuery {
    /// The financial year by the year it starts.
    #[validate(range(min = 2000, max = 2198))]
    #[param(minimum = 2000, maximum = 2198)]
    pub year: i64,
    #[param(inline)]
    pub format: Option<SpendFormat>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BudgetMonth {
    pub service_line: ServiceLine,
    /// `YYYY-MM`.
    pub month: String,
    /// Goods received in the month, at net prices.
    pub spent: Money,
    /// What is still to be received on open orders approved in the month.
    pub committed: Money,
    /// The budget less everything spent and committed up to the end of the month.
    pub remaining: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BudgetLine {
    pub service_line: ServiceLine,
    /// The latest budget set for the year; zero when none was set.
    pub budget: Money,
    pub spent: Money,
    pub committed: Money,
    /// Budget less spent less committed.
    pub remaining: Money,
    /// The year's spend forecast in a straight line from the spend so far.
    pub forecast: Money,
    /// Budget less forecast: negative when the line is heading for an overspend.
    pub forecast_variance: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BudgetReport {
    pub site_id: i64,
    pub financial_year: i64,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// The day the report was made, from which the forecast runs.
    pub as_of: NaiveDate,
    pub lines: Vec<BudgetLine>,
    /// Twelve months for each service line, April first.
    pub months: Vec<BudgetMonth>,
}
