//! The controlled drug register (Misuse of Drugs Regulations 2001, regs 19-20).

pub mod checkpoints;
pub mod export;
pub mod model;
pub mod pdf;
pub mod queries;
pub mod routes;
pub mod service;
pub mod stream;
pub mod verify;
