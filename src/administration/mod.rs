//! Medication rounds, doses, in-possession supplies, compliance checks, alerts and FHIR export.

pub mod fhir;
pub mod model;
pub mod routes;
pub mod service;
