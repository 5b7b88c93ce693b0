//! Custody movements: transfer to another prison or out of the service, and release.

pub mod routes;
pub mod service;
