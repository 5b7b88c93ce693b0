//! Accounts: one role each, the sites each may act at; disabled, never deleted.

pub mod model;
pub mod queries;
pub mod routes;
pub mod service;
