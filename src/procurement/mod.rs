//! Procurement: suppliers, purchase orders, goods receipt, invoices and spend.

pub mod model;
pub mod routes;
pub mod service;
