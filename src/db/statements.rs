//! How many statements the service has sent to its database: each one is a round trip to a
//! PostgreSQL server, so the count per request is what the benchmark holds down.

use std::sync::atomic::{AtomicU64, Ordering};

use diesel::connection::{Instrumentation, InstrumentationEvent};

static STATEMENTS: AtomicU64 = AtomicU64::new(0);

struct Counter;

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            STATEMENTS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Counts every statement of every connection opened from now on (transaction control
/// included: BEGIN and COMMIT are round trips too).
pub fn count_from_now() {
    // Only fails if the lock was poisoned by a panic elsewhere; counting is then skipped.
    let _ = diesel::connection::set_default_instrumentation(|| Some(Box::new(Counter)));
}

/// Statements sent since the process started counting.
pub fn sent() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
}
