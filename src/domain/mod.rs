//! Pure types and rules: no IO.

pub mod administration;
pub mod decimal;
pub mod input;
pub mod outbreak;
pub mod patient;
pub mod procurement;
pub mod register;
pub mod role;
pub mod schedule;
pub mod screening;
pub mod stock;
pub mod text_enum;
pub mod time;

pub use decimal::{Money, Percent, Quantity};
pub use role::Role;
