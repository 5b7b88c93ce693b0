//! Pure types and rules: no IO.

pub mod decimal;
pub mod patient;
pub mod register;
pub mod role;
pub mod stock;
pub mod text_enum;

pub use decimal::{Money, Quantity};
pub use role::Role;
