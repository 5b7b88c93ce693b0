//! Prescriptions and clinical screening.

pub mod model;
pub mod routes;
pub mod service;
mod stored_schedule;
