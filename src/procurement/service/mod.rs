//! Suppliers, purchase orders, goods receipt and invoices. Every receipt posts its stock
//! through the ledger (and so into the CD register for register-tracked products) in the same
//! transaction as the receipt itself: all of it or none of it.

mod budgets;
mod invoice_matching;
mod orders;
mod receipts;
mod spend;
mod supplier_listings;

pub use budgets::*;
pub use invoice_matching::*;
pub use orders::*;
pub use receipts::*;
pub use spend::*;
pub use supplier_listings::*;

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use diesel::prelude::*;

use super::model::*;
use crate::audit::{self, Actor};
use crate::db::schema::{
    batches, cd_register_entries, goods_receipt_lines, goods_receipts, invoice_lines, invoices,
    products, purchase_order_lines, purchase_orders, sites, supplier_products, suppliers,
};
use crate::db::{conflict_on_duplicate, now, AnyConnection};
use crate::domain::procurement::{line_net, line_vat, received_value, OrderStatus};
use crate::domain::stock::{CdSchedule, MovementReason};
use crate::domain::{Money, Percent, Quantity};
use crate::error::AppError;
use crate::formulary::{queries as formulary_queries, service as formulary};
use crate::ledger::{self, Posting};
use crate::stock::service::location_at;

fn overflow(field: &str) -> AppError {
    AppError::invalid(field, "range", "the amount is too large")
}

fn sum_money(values: impl IntoIterator<Item = Money>) -> Result<Money, AppError> {
    values
        .into_iter()
        .try_fold(Money::ZERO, |a, b| a.checked_add(b))
        .ok_or_else(|| overflow("total"))
}
