//! Storage: one connection type over PostgreSQL and SQLite, chosen at run time from the URL.

mod prepared;
pub mod schema;
pub mod watch;
pub use prepared::{prepared, Prepared};
mod stored_time;

pub use stored_time::{parse_stored_time, StoredTime};

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::AppError;

pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// The backend type diesel generates for `AnyConnection`, for boxed queries.
pub type AnyBackend = <AnyConnection as diesel::Connection>::Backend;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgresql",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// The SQLite file path for a URL that is not PostgreSQL (`sqlite://path` or a plain path).
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}

pub struct ConnectionManager {
    url: String,
}

impl ConnectionManager {
    pub fn new(url: &str) -> Self {
        ConnectionManager {
            url: url.to_string(),
        }
    }
}

/// Opens one connection of the backend the URL names, with its per-connection settings.
pub fn establish(url: &str) -> Result<AnyConnection, ConnectionError> {
    match Backend::of_url(url) {
        Backend::Postgres => Ok(AnyConnection::Postgresql(diesel::PgConnection::establish(
            &with_connect_timeout(url),
        )?)),
        Backend::Sqlite => {
            let path = sqlite_path(url);
            if let Some(dir) = Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        ConnectionError::BadConnection(format!(
                            "cannot create {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
            }
            let mut conn = diesel::SqliteConnection::establish(path)?;
            // synchronous=FULL: an acknowledged clinical record must survive power loss, not only a crash.
            // busy_timeout: a write waits at most a second for the lock, then answers 503, so a
            // stuck writer never leaves a nurse's screen hanging.
            conn.batch_execute(
                "PRAGMA busy_timeout = 1000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;",
            )
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(AnyConnection::Sqlite(conn))
        }
    }
}

/// A pooled connection, with when it was last known to reach its server.
pub struct PooledConn {
    conn: AnyConnection,
    /// `watch::server_lost_count()` when this connection was made or last pinged.
    known_good_at: u64,
}

impl std::ops::Deref for PooledConn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = PooledConn;
    type Error = ConnectionError;

    fn connect(&self) -> Result<PooledConn, ConnectionError> {
        let known_good_at = watch::server_lost_count();
        Ok(PooledConn {
            conn: establish(&self.url)?,
            known_good_at,
        })
    }

    /// Pings only a connection that may have gone stale: one last known good before some
    /// connection found the server gone.
    fn is_valid(&self, conn: &mut PooledConn) -> Result<(), ConnectionError> {
        let lost = watch::server_lost_count();
        if watch::watching() && conn.known_good_at == lost {
            return Ok(());
        }
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
        conn.known_good_at = lost;
        Ok(())
    }

    fn has_broken(&self, _conn: &mut PooledConn) -> bool {
        false
    }
}

/// libpq waits for an unreachable server as long as TCP does unless told otherwise.
pub(crate) fn with_connect_timeout(url: &str) -> String {
    if url.contains("connect_timeout=") {
        return url.to_string();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}connect_timeout={}",
        CONNECT_TIMEOUT.as_secs()
    )
}

pub type Pool = r2d2::Pool<ConnectionManager>;

/// How long a request waits for a connection before answering 503: the database is down,
/// unreachable, or too busy to serve it in time. r2d2 retries connecting meanwhile, with a
/// backoff of at most half this, so a database that comes back is used within a second.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_millis(1000);

/// How long a read run again after a lost connection waits for a fresh one.
const RETRY_CHECKOUT_TIMEOUT: Duration = Duration::from_millis(250);

/// How long opening one PostgreSQL connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long `/ready` waits for a connection.
pub const READY_TIMEOUT: Duration = Duration::from_millis(700);

/// When a write transaction's commit reaches the disk.
#[derive(Debug, Clone, Copy)]
enum Flush {
    /// Before the commit returns.
    Now,
    /// With the next commit that waits (`transaction_flushed_with_next`).
    WithNext,
}

/// The pool and how to run work on it without blocking the async workers.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// SQLite's writers go one at a time. Queueing them here hands the lock straight on; left
    /// to SQLite, each waiter polls with growing sleeps and a busy prison's writes can starve
    /// past the busy timeout. Shared by every `Db` of the same file.
    sqlite_writer: Option<Arc<std::sync::Mutex<()>>>,
    /// A replica's pool for long reads (exports, reports, verification), when one is set.
    replica: Option<(Pool, Arc<str>)>,
    /// What the pool connects to, for readers that open a connection of their own.
    url: Arc<str>,
    backend: Backend,
    /// Set when a write failed for lack of storage, cleared when one succeeds: `/ready` reports
    /// it until then.
    storage_full: Arc<AtomicBool>,
}

impl Db {
    pub fn connect(url: &str, max_size: u32) -> Result<Db, AppError> {
        watch::watch_from_now();
        let backend = Backend::of_url(url);
        if backend == Backend::Sqlite {
            // Switching a new file to WAL needs the file to itself; do it once before the
            // pool opens its connections side by side.
            establish(url).map_err(|e| AppError::internal(format!("database: {e}")))?;
        }
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .connection_timeout(CHECKOUT_TIMEOUT)
            .build(ConnectionManager::new(url))
            .map_err(|e| AppError::internal(format!("database pool: {e}")))?;
        Ok(Db {
            pool,
            sqlite_writer: (backend == Backend::Sqlite).then(|| writer_gate(sqlite_path(url))),
            replica: None,
            url: url.into(),
            backend,
            storage_full: Arc::new(AtomicBool::new(false)),
        })
    }

    /// One write transaction on a connection of this database, in turn with the others.
    pub fn transaction<T, F>(&self, conn: &mut AnyConnection, f: F) -> Result<T, AppError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, AppError>,
    {
        let _turn = self.writers_turn();
        transaction(conn, f)
    }

    /// Held while writing: SQLite's writers queue here; PostgreSQL's need no turn.
    fn writers_turn(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        self.sqlite_writer
            .as_ref()
            .map(|gate| gate.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Adds a read replica for exports, reports and verification. Its pool opens connections
    /// as they are needed, so the service starts while the replica is still catching up.
    pub fn with_replica(mut self, url: &str, max_size: u32) -> Result<Db, AppError> {
        if Backend::of_url(url) != self.backend {
            return Err(AppError::internal(
                "DATABASE_READ_URL must name the same kind of database as DATABASE_URL",
            ));
        }
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .min_idle(Some(0))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .build_unchecked(ConnectionManager::new(url));
        self.replica = Some((pool, url.into()));
        Ok(self)
    }

    /// Where long reads go: the replica when one is set, otherwise this database. Only reads
    /// may be run on it (a replica refuses writes).
    pub fn for_reports(&self) -> Db {
        match &self.replica {
            Some((replica, url)) => Db {
                pool: replica.clone(),
                url: url.clone(),
                sqlite_writer: self.sqlite_writer.clone(),
                replica: None,
                backend: self.backend,
                storage_full: Arc::new(AtomicBool::new(false)),
            },
            None => self.clone(),
        }
    }

    /// Whether the last write failed for lack of storage.
    pub fn storage_full(&self) -> bool {
        self.storage_full.load(Ordering::Relaxed)
    }

    /// A connection within `timeout`, for checks that must answer sooner than requests.
    pub fn get_within(
        &self,
        timeout: Duration,
    ) -> Result<r2d2::PooledConnection<ConnectionManager>, AppError> {
        Ok(self.pool.get_timeout(timeout)?)
    }

    /// Whether a write can be committed now: writes and removes a marker row, in one
    /// transaction that reaches the disk.
    pub async fn probe_write(&self) -> Result<(), AppError> {
        self.write(|c| {
            use schema::sign_in_throttle as t;
            let at = now();
            diesel::delete(t::table.find("probe:storage")).execute(c)?;
            diesel::insert_into(t::table)
                .values((
                    t::key.eq("probe:storage"),
                    t::failures.eq(0),
                    t::window_started_at.eq(at),
                    t::updated_at.eq(at),
                ))
                .execute(c)?;
            diesel::delete(t::table.find("probe:storage")).execute(c)?;
            Ok(())
        })
        .await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL connections are opened with, for readers that keep a connection of their own.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn get(&self) -> Result<r2d2::PooledConnection<ConnectionManager>, AppError> {
        Ok(self.pool.get()?)
    }

    /// Runs a read that is safe to run twice, once more if its connection was the one to find
    /// the server gone: after a restart that no request noticed, the first read is handed a
    /// stale connection, and every connection is pinged at checkout from then on. Every
    /// request's authentication reads this way, so a restart costs no request a 503.
    pub async fn read_again_if_lost<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, AppError> + Send + Sync + 'static,
        T: Send + 'static,
    {
        let f = Arc::new(f);
        let lost_before = watch::server_lost_count();
        let first = f.clone();
        match self.read(move |c| first(c)).await {
            Err(AppError::DatabaseUnavailable(_)) if watch::server_lost_count() != lost_before => {
                // A server that is back answers a new connection at once; one that is still
                // down must not double the time the client waits for its 503.
                self.read_within(RETRY_CHECKOUT_TIMEOUT, move |c| f(c))
                    .await
            }
            other => other,
        }
    }

    /// Runs a read on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        self.read_within(CHECKOUT_TIMEOUT, f).await
    }

    async fn read_within<T, F>(&self, checkout: Duration, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || {
            let mut conn = db.get_within(checkout)?;
            f(&mut conn)
        })
        .await
        .map_err(|e| AppError::internal(format!("blocking task: {e}")))?
    }

    /// Runs one write transaction on a blocking thread: all of it commits or none of it does.
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        self.write_as(Flush::Now, f).await
    }

    /// Runs a write transaction whose commit does not wait for the disk: see
    /// `transaction_flushed_with_next` for the only records it is for.
    pub async fn write_flushed_with_next<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        self.write_as(Flush::WithNext, f).await
    }

    async fn write_as<T, F>(&self, flush: Flush, f: F) -> Result<T, AppError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        let result = actix_web::web::block(move || {
            let mut conn = db.get()?;
            let _turn = db.writers_turn();
            match flush {
                Flush::Now => transaction(&mut conn, &f),
                Flush::WithNext => transaction_flushed_with_next(&mut conn, &f),
            }
        })
        .await
        .map_err(|e| AppError::internal(format!("blocking task: {e}")))?;
        match &result {
            Ok(_) => self.storage_full.store(false, Ordering::Relaxed),
            Err(AppError::StorageFull(_)) => self.storage_full.store(true, Ordering::Relaxed),
            Err(_) => {}
        }
        result
    }
}

/// The writers' queue of one SQLite file, the same for every pool opened on it.
fn writer_gate(path: &str) -> Arc<std::sync::Mutex<()>> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static GATES: OnceLock<Mutex<HashMap<String, Arc<Mutex<()>>>>> = OnceLock::new();
    let key = std::fs::canonicalize(path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_string());
    GATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(key)
        .or_default()
        .clone()
}

/// One write transaction. SQLite takes the write lock at the start (BEGIN IMMEDIATE) so two
/// writers never deadlock upgrading a read lock; PostgreSQL retries a transaction that lost a
/// serialization or deadlock race, which is safe because the closure reruns from the start.
pub fn transaction<T, F>(conn: &mut AnyConnection, f: F) -> Result<T, AppError>
where
    F: Fn(&mut AnyConnection) -> Result<T, AppError>,
{
    match conn {
        AnyConnection::Sqlite(_) => begun_with(conn, "BEGIN IMMEDIATE", f),
        AnyConnection::Postgresql(_) => {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let result = conn.transaction::<T, AppError, _>(|c| f(c));
                match result {
                    Err(AppError::Database(ref e)) if attempt < 5 && is_retryable(e) => continue,
                    other => return other,
                }
            }
        }
    }
}

/// One write transaction whose commit does not wait for the disk, for a record that guards a
/// later write which does wait (a witness assertion spent before the act it witnesses).
/// PostgreSQL writes its log in order, so that later commit takes this one to disk with it; if
/// the server stops first, the act it guards was never acknowledged either. Nothing in it is
/// retried. SQLite's commits are the same either way.
fn transaction_flushed_with_next<T, F>(conn: &mut AnyConnection, f: F) -> Result<T, AppError>
where
    F: Fn(&mut AnyConnection) -> Result<T, AppError>,
{
    match conn {
        // One round trip: both statements go in one message.
        AnyConnection::Postgresql(_) => {
            begun_with(conn, "BEGIN; SET LOCAL synchronous_commit TO OFF", f)
        }
        AnyConnection::Sqlite(_) => transaction(conn, f),
    }
}

/// A transaction opened by the given statements, committed if `f` succeeds.
fn begun_with<T, F>(conn: &mut AnyConnection, begin: &str, f: F) -> Result<T, AppError>
where
    F: Fn(&mut AnyConnection) -> Result<T, AppError>,
{
    conn.batch_execute(begin)?;
    match f(conn) {
        Ok(value) => match conn.batch_execute("COMMIT") {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = conn.batch_execute("ROLLBACK");
                Err(e.into())
            }
        },
        Err(e) => {
            conn.batch_execute("ROLLBACK")?;
            Err(e)
        }
    }
}

/// Runs one statement group inside a savepoint of the current transaction, so that an
/// expected failure (a unique key another writer won) can be handled without aborting the
/// whole transaction, which PostgreSQL would otherwise insist on.
pub fn savepoint<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    conn.batch_execute("SAVEPOINT expected_conflict")?;
    match f(conn) {
        Ok(value) => {
            conn.batch_execute("RELEASE SAVEPOINT expected_conflict")?;
            Ok(value)
        }
        Err(e) => {
            conn.batch_execute("ROLLBACK TO SAVEPOINT expected_conflict")?;
            conn.batch_execute("RELEASE SAVEPOINT expected_conflict")?;
            Err(e)
        }
    }
}

fn is_retryable(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        // Two transactions appended the same next entry of a register page (each locked only
        // the balance it moves): the later one starts again from the new head.
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("cd_register_entries_page_id_seq_key") =>
        {
            true
        }
        DieselError::DatabaseError(_, info) => info.message().contains("deadlock detected"),
        _ => false,
    }
}

pub fn run_migrations(conn: &mut AnyConnection) -> Result<usize, AppError> {
    let applied = match conn {
        AnyConnection::Postgresql(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    applied.map_err(|e| AppError::internal(format!("migrations: {e}")))
}

pub fn pending_migrations(conn: &mut AnyConnection) -> Result<usize, AppError> {
    let pending = match conn {
        AnyConnection::Postgresql(c) => c.pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
        AnyConnection::Sqlite(c) => c.pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    pending.map_err(|e| AppError::internal(format!("migrations: {e}")))
}

/// Positional placeholder for hand-written SQL: `$n` on PostgreSQL, `?` on SQLite.
pub fn placeholder(conn: &AnyConnection, n: usize) -> String {
    match conn {
        AnyConnection::Postgresql(_) => format!("${n}"),
        AnyConnection::Sqlite(_) => "?".to_string(),
    }
}

/// The current UTC time at the precision both backends store (microseconds), so that a value
/// read back equals the value written, which the register's hashes depend on.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
}

/// A duplicate natural key: the database's own unique violation, or the same refusal raised by
/// the SQLite triggers that keep INSERT OR REPLACE from overwriting append-only rows (they check
/// a row's keys before the insert, so the unique index never sees it).
pub fn is_duplicate(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => true,
        DieselError::DatabaseError(_, info) => {
            info.message().starts_with("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// Maps a duplicate natural key to a 409 with the given code; other errors pass through.
pub fn conflict_on_duplicate(
    code: &'static str,
    detail: &'static str,
) -> impl Fn(DieselError) -> AppError {
    move |e| {
        if is_duplicate(&e) {
            AppError::conflict(code, detail)
        } else {
            e.into()
        }
    }
}
