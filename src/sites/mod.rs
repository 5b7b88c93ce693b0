//! Prisons and their stock locations.

pub mod model;
pub mod queries;
pub mod routes;
pub mod service;
