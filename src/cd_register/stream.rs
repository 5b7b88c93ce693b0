//! Reading a page's entries in bulk, for verification and export: millions of rows, each
//! checked and written once. The query layer would build an owned row with a dozen strings
//! for every one, so these readers go round it. PostgreSQL sends the rows by
//! `COPY (SELECT …) TO STDOUT (FORMAT binary)`; SQLite's are stepped through on a connection
//! of the reader's own. Either way each entry is handed on borrowing its text from where the
//! database left it; an export keeps its runs for the writer in PostgreSQL's binary tuple form.

use std::ffi::{c_char, c_int, CStr, CString};

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::db::{Backend, Db};
use crate::error::AppError;
use crate::ledger::model::EntryRef;

/// The columns read, in the order `decode`, `encode` and the SQLite row reader take them.
const COLUMNS: &str = "id, page_id, seq, site_id, product_id, entry_type, movement_id, \
    occurred_at, recorded_at, quantity, balance_after, location_id, batch_id, counterparty, \
    counterparty_address, patient_identifier, prescriber, collected_by, identity_checked, \
    author_id, witness_id, corrects_entry_id, reason, prev_hash, hash";

/// How many columns `COLUMNS` names.
const COLUMN_COUNT: i16 = 25;

/// PostgreSQL counts timestamps in microseconds from the start of 2000.
const MICROS_TO_2000: i64 = 946_684_800_000_000;

/// Which of a page's entries to read: those after one sequence number, up to another, and
/// optionally only those whose transaction fell within some days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRange {
    pub page_id: i64,
    pub after_seq: i64,
    pub through_seq: Option<i64>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl EntryRange {
    pub fn page(page_id: i64) -> Self {
        EntryRange {
            page_id,
            after_seq: 0,
            through_seq: None,
            from: None,
            to: None,
        }
    }

    /// The start of the first day and of the day after the last, as the times are stored.
    fn times(&self) -> (Option<String>, Option<String>) {
        let midnight = |d: NaiveDate| format!("{d} 00:00:00");
        (
            self.from.map(midnight),
            self.to.and_then(|d| d.succ_opt()).map(midnight),
        )
    }

    /// The filter as PostgreSQL text: every value is a number or a date written here, so
    /// nothing from a request reaches the statement as text.
    fn postgres_filter(&self) -> String {
        let mut sql = format!("page_id = {} AND seq > {}", self.page_id, self.after_seq);
        if let Some(through) = self.through_seq {
            sql.push_str(&format!(" AND seq <= {through}"));
        }
        let (from, to) = self.times();
        if let Some(from) = from {
            sql.push_str(&format!(" AND occurred_at >= '{from}'"));
        }
        if let Some(to) = to {
            sql.push_str(&format!(" AND occurred_at < '{to}'"));
        }
        sql
    }
}

/// Entries in the shared encoding, owned, to be handed to another thread.
#[derive(Debug, Default)]
pub struct EntryChunk {
    bytes: Vec<u8>,
}

impl EntryChunk {
    pub fn entries(&self) -> Entries<'_> {
        Entries { rest: &self.bytes }
    }

    /// Keeps a copy of an entry read.
    pub fn push(&mut self, e: &EntryRef<'_>) {
        encode(e, &mut self.bytes);
    }

    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }
}

/// The entries of a chunk, in order.
pub struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<EntryRef<'a>, AppError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let mut fields = Fields { rest: self.rest };
        let entry = decode(&mut fields);
        // After a malformed tuple nothing further can be trusted to line up.
        self.rest = if entry.is_ok() { fields.rest } else { &[] };
        Some(entry)
    }
}

fn stream_error(what: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("reading register entries: {what}"))
}

struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AppError> {
        if self.rest.len() < n {
            return Err(stream_error("a row ends early"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn value(&mut self) -> Result<Option<&'a [u8]>, AppError> {
        let len = i32::from_be_bytes(self.array()?);
        if len < 0 {
            Ok(None)
        } else {
            self.take(len as usize).map(Some)
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], AppError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn opt_int(&mut self) -> Result<Option<i64>, AppError> {
        self.value()?
            .map(|v| {
                <[u8; 8]>::try_from(v)
                    .map(i64::from_be_bytes)
                    .map_err(|_| stream_error("an integer is not 8 bytes"))
            })
            .transpose()
    }

    fn int(&mut self) -> Result<i64, AppError> {
        self.opt_int()?
            .ok_or_else(|| stream_error("a required number is empty"))
    }

    fn opt_text(&mut self) -> Result<Option<&'a str>, AppError> {
        self.value()?
            .map(|v| std::str::from_utf8(v).map_err(stream_error))
            .transpose()
    }

    fn text(&mut self) -> Result<&'a str, AppError> {
        self.opt_text()?
            .ok_or_else(|| stream_error("a required text is empty"))
    }

    fn time(&mut self) -> Result<NaiveDateTime, AppError> {
        let micros = self.int()?;
        DateTime::from_timestamp_micros(micros.saturating_add(MICROS_TO_2000))
            .map(|t| t.naive_utc())
            .ok_or_else(|| stream_error("a time is out of range"))
    }

    fn opt_bool(&mut self) -> Result<Option<bool>, AppError> {
        Ok(self.value()?.map(|v| v.first().is_some_and(|b| *b != 0)))
    }
}

/// One tuple; struct fields are evaluated in the order written, which is the columns' order.
fn decode<'a>(f: &mut Fields<'a>) -> Result<EntryRef<'a>, AppError> {
    let count = i16::from_be_bytes(f.array()?);
    if count != COLUMN_COUNT {
        return Err(stream_error(format!("a row has {count} columns")));
    }
    Ok(EntryRef {
        id: f.int()?,
        page_id: f.int()?,
        seq: f.int()?,
        site_id: f.int()?,
        product_id: f.int()?,
        entry_type: f.text()?,
        movement_id: f.opt_int()?,
        occurred_at: f.time()?,
        recorded_at: f.time()?,
        quantity: f.int()?,
        balance_after: f.int()?,
        location_id: f.opt_int()?,
        batch_id: f.opt_int()?,
        counterparty: f.opt_text()?,
        counterparty_address: f.opt_text()?,
        patient_identifier: f.opt_text()?,
        prescriber: f.opt_text()?,
        collected_by: f.opt_text()?,
        identity_checked: f.opt_bool()?,
        author_id: f.int()?,
        witness_id: f.opt_int()?,
        corrects_entry_id: f.opt_int()?,
        reason: f.opt_text()?,
        prev_hash: f.text()?,
        hash: f.text()?,
    })
}

/// An entry as `decode` reads it back.
fn encode(e: &EntryRef<'_>, out: &mut Vec<u8>) {
    fn value(out: &mut Vec<u8>, v: Option<&[u8]>) {
        match v {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(v) => {
                out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                out.extend_from_slice(v);
            }
        }
    }
    let int = |out: &mut Vec<u8>, v: Option<i64>| {
        value(out, v.map(i64::to_be_bytes).as_ref().map(|b| &b[..]))
    };
    let text = |out: &mut Vec<u8>, v: Option<&str>| value(out, v.map(str::as_bytes));
    let time = |out: &mut Vec<u8>, t: NaiveDateTime| {
        int(out, Some(t.and_utc().timestamp_micros() - MICROS_TO_2000))
    };
    out.extend_from_slice(&COLUMN_COUNT.to_be_bytes());
    int(out, Some(e.id));
    int(out, Some(e.page_id));
    int(out, Some(e.seq));
    int(out, Some(e.site_id));
    int(out, Some(e.product_id));
    text(out, Some(e.entry_type));
    int(out, e.movement_id);
    time(out, e.occurred_at);
    time(out, e.recorded_at);
    int(out, Some(e.quantity));
    int(out, Some(e.balance_after));
    int(out, e.location_id);
    int(out, e.batch_id);
    text(out, e.counterparty);
    text(out, e.counterparty_address);
    text(out, e.patient_identifier);
    text(out, e.prescriber);
    text(out, e.collected_by);
    value(
        out,
        e.identity_checked
            .map(|b| [u8::from(b)])
            .as_ref()
            .map(|b| &b[..]),
    );
    int(out, Some(e.author_id));
    int(out, e.witness_id);
    int(out, e.corrects_entry_id);
    text(out, e.reason);
    text(out, Some(e.prev_hash));
    text(out, Some(e.hash));
}

/// A connection of its own for reading entries in bulk, from the database `Db` reads from.
pub struct EntryReader {
    source: Source,
}

enum Source {
    Postgres(PgCopy),
    Sqlite(SqliteSteps),
}

impl EntryReader {
    pub fn open(db: &Db) -> Result<Self, AppError> {
        let url = db.url();
        let source = match db.backend() {
            Backend::Postgres => Source::Postgres(PgCopy::open(url)?),
            Backend::Sqlite => Source::Sqlite(SqliteSteps::open(crate::db::sqlite_path(url))?),
        };
        Ok(EntryReader { source })
    }

    /// Reads the range in order of sequence, as one consistent snapshot, handing each entry to
    /// `sink`; stops early when `sink` returns false. After an early stop or an error the
    /// reader is spent.
    pub fn read(
        &mut self,
        range: &EntryRange,
        mut sink: impl FnMut(&EntryRef<'_>) -> Result<bool, AppError>,
    ) -> Result<(), AppError> {
        match &mut self.source {
            Source::Postgres(pg) => pg.read(range, &mut sink),
            Source::Sqlite(sqlite) => sqlite.read(range, &mut sink),
        }
    }
}

/// A libpq connection used for `COPY … TO STDOUT` alone.
struct PgCopy {
    conn: *mut pq_sys::PGconn,
}

// A libpq connection may move between threads as long as one uses it at a time, which
// `&mut self` on every use ensures.
unsafe impl Send for PgCopy {}

impl Drop for PgCopy {
    fn drop(&mut self) {
        self.close();
    }
}

/// A message libpq or SQLite keeps until the next call on the connection.
unsafe fn c_message(text: *const c_char) -> String {
    if text.is_null() {
        return "no message".into();
    }
    // SAFETY: the caller passes a NUL-terminated string that libpq or SQLite keeps alive.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .trim()
        .to_string()
}

/// Clears a libpq result, an error unless its status is `expect`.
fn take_result(res: *mut pq_sys::PGresult, expect: pq_sys::ExecStatusType) -> Result<(), AppError> {
    // SAFETY: `res` came from libpq (a null result reads as a fatal error) and is cleared
    // here, once, after its message is copied.
    let (status, why) = unsafe {
        let status = pq_sys::PQresultStatus(res);
        let why = c_message(pq_sys::PQresultErrorMessage(res));
        pq_sys::PQclear(res);
        (status, why)
    };
    if status == expect {
        Ok(())
    } else {
        Err(stream_error(why))
    }
}

impl PgCopy {
    fn close(&mut self) {
        if !self.conn.is_null() {
            // SAFETY: the connection was opened by PQconnectdb and is finished only here,
            // after which it is never used again.
            unsafe { pq_sys::PQfinish(self.conn) };
            self.conn = std::ptr::null_mut();
        }
    }

    fn open(url: &str) -> Result<Self, AppError> {
        let info = CString::new(crate::db::with_connect_timeout(url))
            .map_err(|_| AppError::internal("the database URL contains a NUL byte"))?;
        // SAFETY: `info` is a valid C string for the duration of the call.
        let conn = unsafe { pq_sys::PQconnectdb(info.as_ptr()) };
        if conn.is_null() {
            return Err(AppError::DatabaseUnavailable(
                "database: libpq could not allocate a connection".into(),
            ));
        }
        let copy = PgCopy { conn };
        // SAFETY: `conn` is a live connection object until `copy` drops.
        if unsafe { pq_sys::PQstatus(conn) } != pq_sys::ConnStatusType::CONNECTION_OK {
            let why = unsafe { c_message(pq_sys::PQerrorMessage(conn)) };
            return Err(AppError::DatabaseUnavailable(format!("database: {why}")));
        }
        // Entries are wanted in page order, which the (page_id, seq) index gives as it is read.
        // Before statistics catch up with a register that grew quickly, the planner would
        // rather sort a whole page on disk; this connection reads nothing else.
        copy.execute(
            "SET enable_sort = off; SET enable_bitmapscan = off",
            pq_sys::ExecStatusType::PGRES_COMMAND_OK,
        )?;
        Ok(copy)
    }

    /// Runs `sql`, expecting the last statement to end in `expect`.
    fn execute(&self, sql: &str, expect: pq_sys::ExecStatusType) -> Result<(), AppError> {
        let sql = CString::new(sql).map_err(stream_error)?;
        // SAFETY: a live connection and a valid C string.
        let res = unsafe { pq_sys::PQexec(self.conn, sql.as_ptr()) };
        take_result(res, expect)
    }

    fn read<F>(&mut self, range: &EntryRange, sink: &mut F) -> Result<(), AppError>
    where
        F: FnMut(&EntryRef<'_>) -> Result<bool, AppError>,
    {
        if self.conn.is_null() {
            return Err(stream_error("this reader stopped part-way and is spent"));
        }
        self.execute(
            &format!(
                "COPY (SELECT {COLUMNS} FROM cd_register_entries WHERE {} ORDER BY seq) TO STDOUT (FORMAT binary)",
                range.postgres_filter()
            ),
            pq_sys::ExecStatusType::PGRES_COPY_OUT,
        )?;
        let mut at_start = true;
        loop {
            let mut buf: *mut c_char = std::ptr::null_mut();
            // SAFETY: blocking read of one CopyData message into a buffer libpq allocates.
            let n: c_int = unsafe { pq_sys::PQgetCopyData(self.conn, &mut buf, 0) };
            if n == -1 {
                break;
            }
            if n < 0 || buf.is_null() {
                let why = unsafe { c_message(pq_sys::PQerrorMessage(self.conn)) };
                self.close();
                return Err(stream_error(why));
            }
            // SAFETY: libpq returned `n` bytes at `buf`, ours until PQfreemem.
            let data = unsafe { std::slice::from_raw_parts(buf as *const u8, n as usize) };
            // Each message after the header is one whole row, read where libpq left it.
            let more = match copy_tuple(data, &mut at_start) {
                Ok(Some(tuple)) => decode(&mut Fields { rest: tuple }).and_then(|e| sink(&e)),
                Ok(None) => Ok(true),
                Err(e) => Err(e),
            };
            unsafe { pq_sys::PQfreemem(buf.cast()) };
            if !matches!(more, Ok(true)) {
                // Leaving a COPY part-read leaves the connection unusable: close it.
                self.close();
                return more.map(|_| ());
            }
        }
        // After the copy ends, the statement's results are collected until none remain.
        loop {
            // SAFETY: a live connection, after PQgetCopyData reported the end of the copy.
            let res = unsafe { pq_sys::PQgetResult(self.conn) };
            if res.is_null() {
                return Ok(());
            }
            take_result(res, pq_sys::ExecStatusType::PGRES_COMMAND_OK)?;
        }
    }
}

/// The tuple in one CopyData message, after the stream's header in the first; none for the
/// trailer.
fn copy_tuple<'a>(data: &'a [u8], at_start: &mut bool) -> Result<Option<&'a [u8]>, AppError> {
    const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
    let mut data = data;
    if *at_start {
        *at_start = false;
        let header = data
            .strip_prefix(SIGNATURE)
            .filter(|rest| rest.len() >= 8)
            .ok_or_else(|| stream_error("the copy stream has no binary header"))?;
        let extension = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        data = header
            .get(8 + extension..)
            .ok_or_else(|| stream_error("the copy header ends early"))?;
    }
    if data.is_empty() || data == [0xff, 0xff] {
        return Ok(None);
    }
    Ok(Some(data))
}

/// A SQLite connection of the reader's own, opened without SQLite's per-call locking: only
/// this reader uses it.
struct SqliteSteps {
    db: *mut libsqlite3_sys::sqlite3,
}

// One thread at a time uses the connection (`&mut self`), and it is opened without
// SQLite's mutex, which allows that.
unsafe impl Send for SqliteSteps {}

impl Drop for SqliteSteps {
    fn drop(&mut self) {
        // SAFETY: every statement is finalized before `read` returns; closing once here.
        unsafe { libsqlite3_sys::sqlite3_close(self.db) };
    }
}

impl SqliteSteps {
    fn open(path: &str) -> Result<Self, AppError> {
        use libsqlite3_sys as ffi;
        let name = CString::new(path)
            .map_err(|_| AppError::internal("the database path contains a NUL byte"))?;
        let mut db = std::ptr::null_mut();
        // Read-write without create, so a WAL file's shared memory can be opened, but queries
        // only: the file must already be the service's database.
        let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_NOMUTEX;
        // SAFETY: `name` is a valid C string; `db` receives a handle even on failure.
        let rc = unsafe { ffi::sqlite3_open_v2(name.as_ptr(), &mut db, flags, std::ptr::null()) };
        let steps = SqliteSteps { db };
        if rc != ffi::SQLITE_OK {
            return Err(AppError::DatabaseUnavailable(format!(
                "database: {}",
                steps.message()
            )));
        }
        steps.execute("PRAGMA query_only = ON; PRAGMA busy_timeout = 1000;")?;
        Ok(steps)
    }

    fn message(&self) -> String {
        // SAFETY: sqlite3_errmsg returns a NUL-terminated string owned by the connection.
        unsafe { c_message(libsqlite3_sys::sqlite3_errmsg(self.db)) }
    }

    fn execute(&self, sql: &str) -> Result<(), AppError> {
        let sql = CString::new(sql).map_err(stream_error)?;
        // SAFETY: a live connection and a valid C string; no callback.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_exec(
                self.db,
                sql.as_ptr(),
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK {
            return Err(stream_error(self.message()));
        }
        Ok(())
    }

    fn read<F>(&mut self, range: &EntryRange, sink: &mut F) -> Result<(), AppError>
    where
        F: FnMut(&EntryRef<'_>) -> Result<bool, AppError>,
    {
        use libsqlite3_sys as ffi;
        let sql = CString::new(format!(
            "SELECT {COLUMNS} FROM cd_register_entries WHERE page_id = ?1 AND seq > ?2 AND seq <= ?3 \
             AND (?4 IS NULL OR occurred_at >= ?4) AND (?5 IS NULL OR occurred_at < ?5) ORDER BY seq"
        ))
        .map_err(stream_error)?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: a live connection and a valid C string; the statement is finalized below.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(self.db, sql.as_ptr(), -1, &mut stmt, std::ptr::null_mut())
        };
        if rc != ffi::SQLITE_OK {
            return Err(stream_error(self.message()));
        }
        let result = self.step_through(stmt, range, sink);
        // SAFETY: the statement was prepared above and is not used after this.
        unsafe { ffi::sqlite3_finalize(stmt) };
        result
    }

    fn step_through<F>(
        &self,
        stmt: *mut libsqlite3_sys::sqlite3_stmt,
        range: &EntryRange,
        sink: &mut F,
    ) -> Result<(), AppError>
    where
        F: FnMut(&EntryRef<'_>) -> Result<bool, AppError>,
    {
        use libsqlite3_sys as ffi;
        let (from, to) = range.times();
        // SAFETY: binding to a prepared statement; SQLITE_TRANSIENT makes SQLite copy the text.
        unsafe {
            ffi::sqlite3_bind_int64(stmt, 1, range.page_id);
            ffi::sqlite3_bind_int64(stmt, 2, range.after_seq);
            ffi::sqlite3_bind_int64(stmt, 3, range.through_seq.unwrap_or(i64::MAX));
            for (index, value) in [(4, &from), (5, &to)] {
                if let Some(v) = value {
                    ffi::sqlite3_bind_text(
                        stmt,
                        index,
                        v.as_ptr().cast(),
                        v.len() as c_int,
                        ffi::SQLITE_TRANSIENT(),
                    );
                }
            }
        }
        let row = SqliteRow { stmt };
        loop {
            // SAFETY: stepping a prepared statement on this connection alone; no entry read
            // from the row before outlives this loop's iteration.
            let rc = unsafe { ffi::sqlite3_step(stmt) };
            if rc == ffi::SQLITE_DONE {
                return Ok(());
            }
            if rc != ffi::SQLITE_ROW {
                return Err(stream_error(self.message()));
            }
            if !sink(&row.entry()?)? {
                return Ok(());
            }
        }
    }
}

/// The row a statement is on. An entry read from it borrows it, and the row changes only when
/// the statement steps, after that entry is gone.
struct SqliteRow {
    stmt: *mut libsqlite3_sys::sqlite3_stmt,
}

impl SqliteRow {
    fn is_null(&self, i: c_int) -> bool {
        // SAFETY: the statement is on a row and `i` is one of its columns.
        unsafe { libsqlite3_sys::sqlite3_column_type(self.stmt, i) == libsqlite3_sys::SQLITE_NULL }
    }

    fn int(&self, i: c_int) -> i64 {
        // SAFETY: as above.
        unsafe { libsqlite3_sys::sqlite3_column_int64(self.stmt, i) }
    }

    fn opt_int(&self, i: c_int) -> Option<i64> {
        (!self.is_null(i)).then(|| self.int(i))
    }

    /// A text column; none when it is NULL, for which SQLite gives no pointer.
    fn opt_text(&self, i: c_int) -> Result<Option<&str>, AppError> {
        // SAFETY: the text is read before its length, as SQLite requires, and stays valid
        // until the statement steps, which cannot happen while `&self` is borrowed.
        let bytes = unsafe {
            let text = libsqlite3_sys::sqlite3_column_text(self.stmt, i);
            if text.is_null() {
                return Ok(None);
            }
            let len = libsqlite3_sys::sqlite3_column_bytes(self.stmt, i);
            std::slice::from_raw_parts(text, len.max(0) as usize)
        };
        std::str::from_utf8(bytes).map(Some).map_err(stream_error)
    }

    /// A `NOT NULL` text column: should one be emptied anyway, the entry no longer matches its
    /// hash and verification says so.
    fn text(&self, i: c_int) -> Result<&str, AppError> {
        Ok(self.opt_text(i)?.unwrap_or(""))
    }

    fn time(&self, i: c_int) -> Result<NaiveDateTime, AppError> {
        crate::db::parse_stored_time(self.text(i)?)
            .ok_or_else(|| stream_error("a stored time cannot be read"))
    }

    fn entry(&self) -> Result<EntryRef<'_>, AppError> {
        Ok(EntryRef {
            id: self.int(0),
            page_id: self.int(1),
            seq: self.int(2),
            site_id: self.int(3),
            product_id: self.int(4),
            entry_type: self.text(5)?,
            movement_id: self.opt_int(6),
            occurred_at: self.time(7)?,
            recorded_at: self.time(8)?,
            quantity: self.int(9),
            balance_after: self.int(10),
            location_id: self.opt_int(11),
            batch_id: self.opt_int(12),
            counterparty: self.opt_text(13)?,
            counterparty_address: self.opt_text(14)?,
            patient_identifier: self.opt_text(15)?,
            prescriber: self.opt_text(16)?,
            collected_by: self.opt_text(17)?,
            identity_checked: self.opt_int(18).map(|v| v != 0),
            author_id: self.int(19),
            witness_id: self.opt_int(20),
            corrects_entry_id: self.opt_int(21),
            reason: self.opt_text(22)?,
            prev_hash: self.text(23)?,
            hash: self.text(24)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tuple as PostgreSQL's binary COPY writes one: each value given as its bytes or NULL.
    fn tuple(values: &[Option<Vec<u8>>]) -> Vec<u8> {
        let mut out = (values.len() as i16).to_be_bytes().to_vec();
        for v in values {
            match v {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(b) => {
                    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    out.extend_from_slice(b);
                }
            }
        }
        out
    }

    fn int(v: i64) -> Option<Vec<u8>> {
        Some(v.to_be_bytes().to_vec())
    }

    fn text(v: &str) -> Option<Vec<u8>> {
        Some(v.as_bytes().to_vec())
    }

    fn an_entry() -> Vec<Option<Vec<u8>>> {
        // 2026-11-21 09:00:00.123456 UTC, in microseconds from 2000.
        let micros = 1_795_251_600_123_456 - MICROS_TO_2000;
        vec![
            int(7),
            int(3),
            int(12),
            int(1),
            int(2),
            text("dose_given"),
            None,
            int(micros),
            int(micros + 1_000_000),
            int(-5_000),
            int(55_000),
            int(9),
            None,
            text("Patient"),
            None,
            text("A1234BC"),
            text(""),
            None,
            Some(vec![1]),
            int(4),
            int(5),
            None,
            None,
            text(&"a".repeat(64)),
            text(&"b".repeat(64)),
        ]
    }

    #[test]
    fn a_tuple_decodes_into_the_entry_it_encodes() {
        let chunk = EntryChunk {
            bytes: [tuple(&an_entry()), tuple(&an_entry())].concat(),
        };
        let entries: Vec<_> = chunk.entries().collect::<Result<_, _>>().unwrap();
        assert_eq!(entries.len(), 2);
        let e = entries[0];
        assert_eq!(
            (e.id, e.page_id, e.seq, e.site_id, e.product_id),
            (7, 3, 12, 1, 2)
        );
        assert_eq!(e.entry_type, "dose_given");
        assert_eq!(e.movement_id, None);
        assert_eq!(e.occurred_at.to_string(), "2026-11-21 09:00:00.123456");
        assert_eq!(e.recorded_at.to_string(), "2026-11-21 09:00:01.123456");
        assert_eq!((e.quantity, e.balance_after), (-5_000, 55_000));
        assert_eq!((e.location_id, e.batch_id), (Some(9), None));
        assert_eq!(e.counterparty, Some("Patient"));
        assert_eq!(e.counterparty_address, None);
        // An empty text is kept apart from an absent one: they hash differently.
        assert_eq!(e.prescriber, Some(""));
        assert_eq!(e.identity_checked, Some(true));
        assert_eq!((e.author_id, e.witness_id), (4, Some(5)));
        assert_eq!(e.hash, "b".repeat(64));
    }

    #[test]
    fn an_entry_kept_for_the_writer_encodes_as_postgresql_sent_it() {
        let sent = tuple(&an_entry());
        let chunk = EntryChunk {
            bytes: sent.clone(),
        };
        let mut kept = EntryChunk::default();
        for e in chunk.entries() {
            kept.push(&e.unwrap());
        }
        assert_eq!(kept.bytes, sent);
        assert_eq!(kept.byte_len(), sent.len());
    }

    #[test]
    fn a_malformed_run_is_an_error_not_a_shorter_register() {
        let whole = tuple(&an_entry());
        let cut = EntryChunk {
            bytes: whole[..whole.len() - 3].to_vec(),
        };
        let results: Vec<_> = cut.entries().collect();
        assert_eq!(results.len(), 1);
        assert!(results[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("a row ends early"));

        let first_error = |values: &[Option<Vec<u8>>]| -> String {
            let chunk = EntryChunk {
                bytes: tuple(values),
            };
            let first = chunk.entries().next().unwrap();
            first.unwrap_err().to_string()
        };
        let mut short = an_entry();
        short.pop();
        assert!(first_error(&short).contains("a row has 24 columns"));
        let mut null_seq = an_entry();
        null_seq[2] = None;
        assert!(first_error(&null_seq).contains("a required number is empty"));
    }

    #[test]
    fn the_copy_header_and_trailer_are_not_rows() {
        let row = tuple(&an_entry());
        let mut first = b"PGCOPY\n\xff\r\n\0".to_vec();
        first.extend_from_slice(&0u32.to_be_bytes());
        first.extend_from_slice(&3u32.to_be_bytes());
        first.extend_from_slice(b"ext");
        first.extend_from_slice(&row);
        let mut at_start = true;
        assert_eq!(copy_tuple(&first, &mut at_start).unwrap(), Some(&row[..]));
        assert_eq!(copy_tuple(&row, &mut at_start).unwrap(), Some(&row[..]));
        assert_eq!(copy_tuple(&[0xff, 0xff], &mut at_start).unwrap(), None);

        let mut at_start = true;
        let err = copy_tuple(b"id\tseq\n", &mut at_start).unwrap_err();
        assert!(err.to_string().contains("no binary header"), "{err}");
    }

    #[test]
    fn the_postgres_filter_is_built_from_numbers_and_dates_only() {
        let range = EntryRange {
            page_id: 3,
            after_seq: 10,
            through_seq: Some(20),
            from: NaiveDate::from_ymd_opt(2026, 11, 1),
            to: NaiveDate::from_ymd_opt(2026, 11, 30),
        };
        assert_eq!(
            range.postgres_filter(),
            "page_id = 3 AND seq > 10 AND seq <= 20 AND occurred_at >= '2026-11-01 00:00:00' \
             AND occurred_at < '2026-12-01 00:00:00'"
        );
        assert_eq!(
            EntryRange::page(4).postgres_filter(),
            "page_id = 4 AND seq > 0"
        );
    }
}
