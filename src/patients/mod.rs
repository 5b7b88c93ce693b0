//! Patients: identity, location, allergies, in-possession risk assessments, transfer and release.

pub mod model;
pub mod routes;
pub mod service;
