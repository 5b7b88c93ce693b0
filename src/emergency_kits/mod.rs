//! Emergency kits on the wings: wing emergency bags, naloxone and anaphylaxis kits. Each is a
//! location with a contents list, sealed and checked on a schedule; opening one and restocking
//! it move stock through the ledger.

pub mod model;
pub mod routes;
pub mod service;
