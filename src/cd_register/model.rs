use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::witness::WitnessCredentials;
use crate::domain::Quantity;
use crate::text_enum;

pub use crate::ledger::model::{EntryDraft, EntryRow, Page, RegisterDetail, CABINET_CHAIN};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PageView {
    pub id: i64,
    pub site_id: i64,
    pub product_id: i64,
    /// The CD cabinet this page records; absent on a site page kept from before cabinets.
    pub location_id: Option<i64>,
    pub cabinet: Option<String>,
    /// The heading as at the page's opening, whatever the product is called now.
    pub drug: String,
    pub strength: String,
    pub form: String,
    pub unit: String,
    pub cd_schedule: String,
    pub entry_count: i64,
    pub balance: Quantity,
    pub head_hash: String,
    #[serde(default, with = "crate::domain::time::utc_opt")]
    pub last_entry_at: Option<NaiveDateTime>,
    /// Set when a site page was carried forward to cabinet pages; nothing more is entered.
    #[serde(default, with = "crate::domain::time::utc_opt")]
    pub closed_at: Option<NaiveDateTime>,
    /// Balance checks with a discrepancy that no pharmacist has resolved yet.
    pub open_investigations: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PageList {
    /// One page per CD cabinet and product, and any closed site page.
    pub items: Vec<PageView>,
    pub page: i64,
    pub per_page: i64,
    /// Register pages in the whole list.
    pub total: i64,
    /// The site's view: each product's balance summed over its cabinets' open pages.
    pub totals: Vec<ProductTotal>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProductTotal {
    pub product_id: i64,
    pub drug: String,
    pub strength: String,
    pub form: String,
    pub balance: Quantity,
    pub cabinets: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntryView {
    pub id: i64,
    pub page_id: i64,
    pub seq: i64,
    pub entry_type: String,
    pub movement_id: Option<i64>,
    /// When the transaction happened.
    #[serde(with = "crate::domain::time::utc")]
    pub occurred_at: NaiveDateTime,
    /// When it was entered.
    #[serde(with = "crate::domain::time::utc")]
    pub recorded_at: NaiveDateTime,
    /// Entered on a later day than the transaction.
    pub late_entry: bool,
    /// Signed: positive received, negative supplied or removed.
    pub quantity: Quantity,
    pub balance_after: Quantity,
    pub location_id: Option<i64>,
    pub batch_id: Option<i64>,
    pub counterparty: Option<String>,
    pub counterparty_address: Option<String>,
    #[schema(pattern = "^[A-Z][0-9]{4}[A-Z]{2}$")]
    pub patient_identifier: Option<String>,
    pub prescriber: Option<String>,
    pub collected_by: Option<String>,
    pub identity_checked: Option<bool>,
    pub author_id: i64,
    pub witness_id: Option<i64>,
    pub corrects_entry_id: Option<i64>,
    pub reason: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<EntryRow> for EntryView {
    fn from(r: EntryRow) -> Self {
        EntryView {
            late_entry: r.late(),
            id: r.id,
            page_id: r.page_id,
            seq: r.seq,
            entry_type: r.entry_type,
            movement_id: r.movement_id,
            occurred_at: r.occurred_at,
            recorded_at: r.recorded_at,
            quantity: Quantity::from_scaled(r.quantity),
            balance_after: Quantity::from_scaled(r.balance_after),
            location_id: r.location_id,
            batch_id: r.batch_id,
            counterparty: r.counterparty,
            counterparty_address: r.counterparty_address,
            patient_identifier: r.patient_identifier,
            prescriber: r.prescriber,
            collected_by: r.collected_by,
            identity_checked: r.identity_checked,
            author_id: r.author_id,
            witness_id: r.witness_id,
            corrects_entry_id: r.corrects_entry_id,
            reason: r.reason,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EntryPage {
    pub items: Vec<EntryView>,
    /// Pass as `after_seq` for the next page; absent on the last page.
    pub next_after_seq: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EntryFilter {
    /// Entries after this sequence number.
    #[validate(range(min = 0))]
    #[param(minimum = 0)]
    pub after_seq: Option<i64>,
    #[validate(range(min = 1, max = 500))]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

text_enum!(VerificationStatus {
    Intact => "intact",
    Broken => "broken",
});

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct BrokenEntry {
    /// The entry found wrong; absent when entries are missing after the last one present.
    pub entry_id: Option<i64>,
    pub seq: i64,
    pub problem: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PageVerification {
    pub page_id: i64,
    pub product_id: i64,
    pub location_id: Option<i64>,
    /// Broken when the chain, the ledger or a checkpoint disagrees.
    pub status: VerificationStatus,
    /// Entries checked.
    pub entries: i64,
    pub head_hash: String,
    pub balance: Quantity,
    pub first_broken: Option<BrokenEntry>,
    /// The cabinet page against the stock ledger; absent for a site page kept from before cabinets.
    pub ledger: Option<LedgerComparison>,
    /// Signed checkpoints of this page compared with its chain.
    pub checkpoints_checked: i64,
    pub checkpoint_failures: Vec<CheckpointFailure>,
}

/// A cabinet page against the stock ledger: the balance must equal the stock held in the
/// cabinet, and every movement of the product there since the page opened must have its entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct LedgerComparison {
    pub agrees: bool,
    /// The balance the page's entries add up to.
    pub register_balance: Quantity,
    /// Stock of the product held in the cabinet, by the ledger.
    pub stock_on_hand: Quantity,
    /// Movements with no entry, or whose entry differs in quantity or batch.
    pub unmatched_movements: i64,
    /// Entries naming a movement of another cabinet, product or quantity, or none at all.
    pub unmatched_entries: i64,
}

/// A signed checkpoint the page's chain no longer contains.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct CheckpointFailure {
    pub entry_count: i64,
    pub head_hash: String,
    #[serde(with = "crate::domain::time::utc")]
    pub signed_at: NaiveDateTime,
    pub problem: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SiteVerification {
    pub site_id: i64,
    pub status: VerificationStatus,
    pub entries: i64,
    pub pages: Vec<PageVerification>,
    /// Pages a signed checkpoint names that the register no longer has.
    pub missing_pages: Vec<i64>,
    /// Register-tracked stock held where no page records it.
    pub unrecorded_stock: Vec<UnrecordedStock>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct UnrecordedStock {
    pub location_id: i64,
    pub product_id: i64,
    pub stock_on_hand: Quantity,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestructionRequest {
    pub location_id: i64,
    pub batch_id: i64,
    /// How much is destroyed (positive).
    pub quantity: Quantity,
    /// How it was destroyed, e.g. "denaturing kit".
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub method: String,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
    pub witness: Option<WitnessCredentials>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CabinetTransferRequest {
    pub from_location_id: i64,
    pub to_location_id: i64,
    pub batch_id: i64,
    /// How much moves (positive), in the product's unit.
    pub quantity: Quantity,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
    /// The second person, who authenticates: the sending cabinet's stock goes down.
    pub witness: Option<WitnessCredentials>,
}

/// The two entries of a move between cabinets.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CabinetTransferView {
    /// On the sending cabinet's page.
    pub supply: EntryView,
    /// On the receiving cabinet's page.
    pub receipt: EntryView,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    /// Why the entry was wrong.
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
    /// Stock difference the correction makes (signed); omit for a correction of details only.
    pub quantity: Option<Quantity>,
    /// Where the stock difference is posted; required with a quantity.
    pub location_id: Option<i64>,
    pub batch_id: Option<i64>,
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub counterparty: Option<String>,
    #[validate(length(max = 500))]
    #[schema(max_length = 500)]
    pub counterparty_address: Option<String>,
    #[validate(length(max = 7))]
    #[schema(max_length = 7)]
    #[schema(pattern = "^[A-Z][0-9]{4}[A-Z]{2}$")]
    pub patient_identifier: Option<String>,
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub prescriber: Option<String>,
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub collected_by: Option<String>,
    /// The second person, who authenticates; required when the correction reduces stock.
    pub witness: Option<WitnessCredentials>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceCheckRequest {
    /// The physical count, in the product's unit.
    pub counted_quantity: Quantity,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
    /// The second person counting.
    pub witness: Option<WitnessCredentials>,
}

text_enum!(CheckOutcome {
    Match => "match",
    Discrepancy => "discrepancy",
});

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BalanceCheckView {
    pub id: i64,
    pub page_id: i64,
    pub site_id: i64,
    pub expected_quantity: Quantity,
    pub counted_quantity: Quantity,
    /// counted minus expected.
    pub difference: Quantity,
    pub outcome: CheckOutcome,
    pub counted_by: i64,
    pub witness_id: i64,
    pub note: Option<String>,
    #[serde(with = "crate::domain::time::utc")]
    pub checked_at: NaiveDateTime,
    /// A discrepancy stays open until a pharmacist resolves it.
    pub investigation_open: bool,
    pub resolution: Option<ResolutionView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResolutionView {
    pub resolved_by: i64,
    pub explanation: String,
    pub adjustment_entry_id: Option<i64>,
    #[serde(with = "crate::domain::time::utc")]
    pub resolved_at: NaiveDateTime,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceCheckList {
    pub items: Vec<BalanceCheckView>,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InvestigationFilter {
    /// Only discrepancies still open (default true).
    pub open: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    pub location_id: i64,
    pub batch_id: i64,
    /// Signed change to stock.
    pub quantity: Quantity,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    #[validate(length(min = 1, max = 4000))]
    #[schema(min_length = 1, max_length = 4000)]
    pub explanation: String,
    /// The stock change the investigation found necessary, if any; posted as a linked register entry.
    pub adjustment: Option<Adjustment>,
    /// The second person, who authenticates; required when the adjustment reduces stock.
    pub witness: Option<WitnessCredentials>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientReturnRequest {
    /// The patient's prison number.
    #[schema(pattern = "^[A-Z][0-9]{4}[A-Z]{2}$")]
    pub patient_identifier: String,
    /// The formulary product, where the returned medicine is one.
    pub product_id: Option<i64>,
    /// What was handed in, as labelled.
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub description: String,
    pub quantity: Quantity,
    #[validate(length(min = 1, max = 30))]
    #[schema(min_length = 1, max_length = 30)]
    pub unit: String,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnDestructionRequest {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub method: String,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
    /// The second member of staff present.
    pub witness: Option<WitnessCredentials>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReturnDestructionView {
    pub destroyed_by: i64,
    pub witness_id: i64,
    pub method: String,
    pub note: Option<String>,
    #[serde(with = "crate::domain::time::utc")]
    pub destroyed_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PatientReturnView {
    pub id: i64,
    pub site_id: i64,
    #[schema(pattern = "^[A-Z][0-9]{4}[A-Z]{2}$")]
    pub patient_identifier: String,
    pub product_id: Option<i64>,
    pub description: String,
    pub quantity: Quantity,
    pub unit: String,
    pub received_by: i64,
    #[serde(with = "crate::domain::time::utc")]
    pub received_at: NaiveDateTime,
    pub note: Option<String>,
    pub destruction: Option<ReturnDestructionView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PatientReturnList {
    pub items: Vec<PatientReturnView>,
}

text_enum!(ExportFormat {
    Csv => "csv",
    Json => "json",
    Pdf => "pdf",
});

#[derive(Debug, Clone, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// csv (default), json or pdf.
    #[param(inline)]
    pub format: Option<ExportFormat>,
    /// One register page's product; all pages of the site when absent.
    pub product_id: Option<i64>,
    /// First day of transactions included (UTC).
    pub from: Option<NaiveDate>,
    /// Last day of transactions included (UTC).
    pub to: Option<NaiveDate>,
}
