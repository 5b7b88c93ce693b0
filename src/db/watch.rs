//! What every connection reports as it goes.
//!
//! - How many statements the service has sent: each one is a round trip to a PostgreSQL
//!   server, so the count per request is what the benchmark holds down.
//! - Whether a connection has found the server gone. Pooled connections are not pinged on
//!   every checkout (two wasted round trips per request); instead, once any connection finds
//!   the server gone, every connection made or checked before then is pinged once at its next
//!   checkout, so none that went stale in an outage is handed to a request afterwards.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::result::{DatabaseErrorKind, Error};

static STATEMENTS: AtomicU64 = AtomicU64::new(0);
static SERVER_LOST: AtomicU64 = AtomicU64::new(0);
static WATCHING: AtomicBool = AtomicBool::new(false);

struct Watch;

impl Instrumentation for Watch {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => {
                STATEMENTS.fetch_add(1, Ordering::Relaxed);
            }
            InstrumentationEvent::FinishQuery {
                error: Some(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)),
                ..
            } => {
                SERVER_LOST.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }
}

/// Watches every connection opened from now on (transaction control included: BEGIN and
/// COMMIT are round trips too).
pub fn watch_from_now() {
    // Only fails if the lock was poisoned by a panic elsewhere; then nothing is watched, and
    // every checkout pings its connection.
    let set = diesel::connection::set_default_instrumentation(|| Some(Box::new(Watch)));
    WATCHING.store(set.is_ok(), Ordering::SeqCst);
}

/// Whether connections report a lost server; if not, each must be pinged at every checkout.
pub fn watching() -> bool {
    WATCHING.load(Ordering::SeqCst)
}

/// Statements sent since the process started counting.
pub fn statements_sent() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
}

/// How many times a connection has found the server gone; a connection last known good at an
/// earlier count must be pinged before it is used again.
pub fn server_lost_count() -> u64 {
    SERVER_LOST.load(Ordering::SeqCst)
}
