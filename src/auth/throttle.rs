//! Slows password guessing without letting anyone lock others out. Failures are counted in the
//! database, so every instance of the service shares one count, under three kinds of key:
//! - a client address: after a few failures each further attempt waits, the wait doubling;
//! - an account, from anywhere: only a far higher count locks the account itself;
//! - the person submitting a witness's credentials: their failures slow them, never the witness.
//!
//! A row is kept only for an address, an existing account or a signed-in user, and is forgotten
//! once quiet for its window, so what is stored stays bounded whatever is sent.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use crate::config::Config;
use crate::db::schema::sign_in_throttle;
use crate::db::{now, placeholder, AnyConnection};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Client(String),
    Account(i64),
    WitnessBy(i64),
}

impl Key {
    fn as_text(&self) -> String {
        match self {
            Key::Client(address) => format!("client:{address}"),
            Key::Account(id) => format!("account:{id}"),
            Key::WitnessBy(id) => format!("witness-by:{id}"),
        }
    }
}

/// How failures under one kind of key are answered.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The failure that first holds the key back (a count within the window).
    pub hold_from: i64,
    /// The first hold, in seconds; each further failure doubles it.
    pub first_hold_secs: i64,
    pub max_hold_secs: i64,
    /// Failures are forgotten after this long without one.
    pub window_secs: i64,
}

impl Rule {
    /// How long a key is held back after this many failures in its window.
    pub fn hold_after(&self, failures: i64) -> Option<i64> {
        let beyond = failures.saturating_sub(self.hold_from);
        (beyond >= 0).then(|| {
            let doubling = 1i64 << beyond.min(30);
            self.first_hold_secs
                .saturating_mul(doubling)
                .min(self.max_hold_secs)
        })
    }
}

/// The rules of each kind of key, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub client: Rule,
    pub account: Rule,
    pub witness_by: Rule,
}

impl Rules {
    pub fn from_config(config: &Config) -> Rules {
        let lockout = config.login_lockout_secs.clamp(1, 86_400) as i64;
        let client = Rule {
            hold_from: i64::from(config.login_max_failures.max(1)),
            first_hold_secs: 1,
            max_hold_secs: lockout,
            window_secs: lockout,
        };
        Rules {
            client,
            account: Rule {
                hold_from: i64::from(config.login_account_lock_failures.max(1)),
                first_hold_secs: lockout,
                max_hold_secs: lockout,
                window_secs: lockout,
            },
            witness_by: client,
        }
    }

    fn longest_window(&self) -> i64 {
        self.client
            .window_secs
            .max(self.account.window_secs)
            .max(self.witness_by.window_secs)
    }
}

/// Until when the key is held back, if it is held at all.
fn blocked_until(conn: &mut AnyConnection, key: &Key) -> QueryResult<Option<NaiveDateTime>> {
    let until: Option<Option<NaiveDateTime>> = sign_in_throttle::table
        .find(key.as_text())
        .select(sign_in_throttle::blocked_until)
        .first(conn)
        .optional()?;
    Ok(until.flatten())
}

/// Seconds until the key may try again, if it is held back.
pub fn held_for(conn: &mut AnyConnection, key: &Key) -> QueryResult<Option<u64>> {
    Ok(remaining(blocked_until(conn, key)?, now()))
}

fn remaining(until: Option<NaiveDateTime>, at: NaiveDateTime) -> Option<u64> {
    let until = until?;
    (until > at).then(|| {
        ((until - at).num_milliseconds() as u64)
            .div_ceil(1000)
            .max(1)
    })
}

/// What one more failure did to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub failures: i64,
    /// Seconds the key is now held back, if it is.
    pub held_for: Option<u64>,
}

/// Counts a failure against the key, in one statement so that instances failing the same key
/// at once each count, and holds the key back once past its rule's free failures.
pub fn fail(conn: &mut AnyConnection, key: &Key, rule: Rule) -> QueryResult<Failure> {
    let at = now();
    let forgotten_before = at - Duration::seconds(rule.window_secs);
    let sql = format!(
        "INSERT INTO sign_in_throttle (key, failures, window_started_at, blocked_until, updated_at) \
         VALUES ({}, 1, {}, NULL, {}) \
         ON CONFLICT (key) DO UPDATE SET \
         failures = CASE WHEN sign_in_throttle.updated_at < {} THEN 1 ELSE sign_in_throttle.failures + 1 END, \
         window_started_at = CASE WHEN sign_in_throttle.updated_at < {} THEN excluded.window_started_at \
         ELSE sign_in_throttle.window_started_at END, \
         updated_at = excluded.updated_at \
         RETURNING failures",
        placeholder(conn, 1),
        placeholder(conn, 2),
        placeholder(conn, 3),
        placeholder(conn, 4),
        placeholder(conn, 5),
    );
    #[derive(QueryableByName)]
    struct Counted {
        #[diesel(sql_type = BigInt)]
        failures: i64,
    }
    let counted: Counted = diesel::sql_query(sql)
        .bind::<Text, _>(key.as_text())
        .bind::<Timestamp, _>(at)
        .bind::<Timestamp, _>(at)
        .bind::<Timestamp, _>(forgotten_before)
        .bind::<Timestamp, _>(forgotten_before)
        .get_result(conn)?;
    let hold = rule.hold_after(counted.failures);
    if let Some(secs) = hold {
        diesel::update(sign_in_throttle::table.find(key.as_text()))
            .set(sign_in_throttle::blocked_until.eq(at + Duration::seconds(secs)))
            .execute(conn)?;
    }
    Ok(Failure {
        failures: counted.failures,
        held_for: hold.map(|s| s as u64),
    })
}

/// A success clears the key.
pub fn clear(conn: &mut AnyConnection, key: &Key) -> QueryResult<()> {
    diesel::delete(sign_in_throttle::table.find(key.as_text())).execute(conn)?;
    Ok(())
}

/// Forgets keys quiet for longer than any window and no longer held back.
pub fn prune(conn: &mut AnyConnection, rules: &Rules) -> QueryResult<usize> {
    let at = now();
    diesel::delete(
        sign_in_throttle::table
            .filter(sign_in_throttle::updated_at.lt(at - Duration::seconds(rules.longest_window())))
            .filter(
                sign_in_throttle::blocked_until
                    .is_null()
                    .or(sign_in_throttle::blocked_until.lt(at)),
            ),
    )
    .execute(conn)
}

/// Until when an account is locked, for admins looking at it.
pub fn account_locked_until(
    conn: &mut AnyConnection,
    user_id: i64,
) -> QueryResult<Option<NaiveDateTime>> {
    Ok(blocked_until(conn, &Key::Account(user_id))?.filter(|u| *u > now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_double_from_the_failure_that_first_holds() {
        let rule = Rule {
            hold_from: 5,
            first_hold_secs: 1,
            max_hold_secs: 900,
            window_secs: 900,
        };
        let holds: Vec<Option<i64>> = (3..=8).map(|n| rule.hold_after(n)).collect();
        assert_eq!(holds, vec![None, None, Some(1), Some(2), Some(4), Some(8)]);
        assert_eq!(rule.hold_after(20), Some(900));
        assert_eq!(rule.hold_after(i64::MAX), Some(900));
    }

    #[test]
    fn an_account_locks_for_the_lockout_at_its_threshold() {
        let mut config = Config::for_database("x.db");
        config.login_account_lock_failures = 50;
        let rules = Rules::from_config(&config);
        assert_eq!(rules.account.hold_after(49), None);
        assert_eq!(rules.account.hold_after(50), Some(900));
        assert_eq!(rules.account.hold_after(51), Some(900));
    }

    #[test]
    fn remaining_rounds_up_to_whole_seconds() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        assert_eq!(remaining(None, at), None);
        assert_eq!(remaining(Some(at), at), None);
        assert_eq!(
            remaining(Some(at + Duration::milliseconds(1500)), at),
            Some(2)
        );
    }
}
