//! Stock control: on-hand and history queries, transfers, adjustments,
//! stocktakes and reorder levels.

pub mod model;
pub mod queries;
pub mod routes;
pub mod service;
