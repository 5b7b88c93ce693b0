//! Patients: identity, location, allergies, reasonable adjustments, in-possession risk
//! assessments.

pub mod adjustments;
pub mod model;
pub mod routes;
pub mod service;
