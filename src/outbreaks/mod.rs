//! Outbreaks at a prison (seasonal flu, norovirus): declared for some wings and closed;
//! treatment and prophylaxis courses tagged to them; vaccinations with their batches; and who
//! received a batch, for a recall.

pub mod model;
pub mod routes;
pub mod service;
