//! Slows password guessing: after too many failures an account is locked for a while.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginThrottle {
    max_failures: u32,
    lockout: Duration,
    state: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

/// Bound on remembered accounts, so guessing many usernames cannot exhaust memory.
const MAX_TRACKED: usize = 100_000;

impl LoginThrottle {
    pub fn new(max_failures: u32, lockout_secs: u64) -> Self {
        LoginThrottle {
            max_failures: max_failures.max(1),
            lockout: Duration::from_secs(lockout_secs),
            state: Mutex::new(HashMap::new()),
        }
    }

    fn key(username: &str) -> String {
        username.trim().to_lowercase()
    }

    /// Seconds until the account may try again, if it is locked.
    pub fn locked_for(&self, username: &str) -> Option<u64> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = state.get(&Self::key(username))?.locked_until?;
        let now = Instant::now();
        (until > now).then(|| (until - now).as_secs().max(1))
    }

    pub fn record_failure(&self, username: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if state.len() >= MAX_TRACKED {
            let lockout = self.lockout;
            state.retain(|_, e| now.duration_since(e.last_failure) < lockout);
        }
        let entry = state.entry(Self::key(username)).or_insert(Entry {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        // Failures long ago do not count towards a new lock.
        if now.duration_since(entry.last_failure) > self.lockout {
            entry.failures = 0;
        }
        entry.failures += 1;
        entry.last_failure = now;
        if entry.failures >= self.max_failures {
            entry.locked_until = Some(now + self.lockout);
            entry.failures = 0;
        }
    }

    pub fn record_success(&self, username: &str) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&Self::key(username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_and_success_clears() {
        let t = LoginThrottle::new(3, 60);
        t.record_failure("Nurse");
        t.record_failure("nurse");
        assert_eq!(t.locked_for("nurse"), None);
        t.record_failure("nurse ");
        assert!(t.locked_for("nurse").unwrap() > 0);
        assert_eq!(t.locked_for("pharmacist"), None);
        t.record_success("nurse");
        assert_eq!(t.locked_for("nurse"), None);
    }
}
