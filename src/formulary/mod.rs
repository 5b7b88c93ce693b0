//! The formulary: products with their dm+d codes, CD schedule and flags, and their batches.

pub mod model;
pub mod queries;
pub mod routes;
pub mod service;
