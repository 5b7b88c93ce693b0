//! What auditors read and export: the audit log of their prisons. The log itself (writing and
//! querying it) lies beneath every capability in `audit`; this is its signed-in face.

pub mod routes;
