//! Test harness: the real app over a fresh database per test. SQLite in a temporary directory
//! by default; PostgreSQL (one database per test, copied from a migrated template) when
//! TEST_DATABASE_URL names a PostgreSQL server. The same test bodies run on both.
#![allow(dead_code)]

use std::sync::{Mutex, OnceLock};

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::{test, web};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::Value;

use prison_pharmacy::config::Config;
use prison_pharmacy::db::{self, Db};
use prison_pharmacy::{build_app, AppState};

pub const PASSWORD: &str = "correct horse battery staple";
/// The demo users' password when a test loads the demo data.
pub const DEMO_PASSWORD: &str = "demo-password-2026";

fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| prison_pharmacy::auth::password::hash(PASSWORD).unwrap())
}

/// Drops the per-test PostgreSQL database once everything using it has gone.
pub struct DbGuard {
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.pg {
            if let Ok(mut c) = diesel::PgConnection::establish(admin_url) {
                let _ =
                    c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
    }
}

fn pg_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}{query}")
}

fn migration_fingerprint() -> String {
    use sha2::{Digest, Sha256};
    let mut dirs: Vec<_> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    dirs.sort();
    let mut h = Sha256::new();
    for d in dirs {
        h.update(std::fs::read(d.join("up.sql")).unwrap_or_default());
    }
    hex::encode(&h.finalize()[..8])
}

/// The migrated template database, built once per fingerprint of the migrations.
fn pg_template(admin_url: &str) -> String {
    static LOCK: Mutex<Option<String>> = Mutex::new(None);
    let mut guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(name) = guard.as_ref() {
        return name.clone();
    }
    let name = format!("pp_template_{}", migration_fingerprint());
    let mut admin =
        diesel::PgConnection::establish(admin_url).expect("connect to TEST_DATABASE_URL");
    let exists: i64 = diesel::sql_query(format!(
        "SELECT 1::bigint AS n FROM pg_database WHERE datname = '{name}'"
    ))
    .load::<One>(&mut admin)
    .unwrap()
    .len() as i64;
    if exists == 0 {
        // Build under a temporary name and rename, so a half-built template is never used.
        let building = format!("{name}_{}", std::process::id());
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{building}\""))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE \"{building}\""))
            .unwrap();
        {
            let mut c = db::establish(&with_database(admin_url, &building)).unwrap();
            prison_pharmacy::migrate(&mut c).unwrap();
        }
        if admin
            .batch_execute(&format!(
                "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
            ))
            .is_err()
        {
            // Another test process won the race; its template is as good.
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
            ));
        }
    }
    *guard = Some(name.clone());
    name
}

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    #[allow(dead_code)]
    n: i64,
}

/// A fresh, migrated database and its URL.
pub fn fresh_database() -> (String, DbGuard) {
    match pg_admin_url() {
        Some(admin_url) => {
            let template = pg_template(&admin_url);
            let name = format!("pp_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = diesel::PgConnection::establish(&admin_url).unwrap();
            let mut attempts = 0;
            loop {
                match admin.batch_execute(&format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                )) {
                    Ok(()) => break,
                    // Copying a template needs it idle for a moment; parallel tests may collide.
                    Err(e) if attempts < 50 => {
                        attempts += 1;
                        let _ = e;
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    Err(e) => panic!("create test database: {e}"),
                }
            }
            pg_database(admin_url, name)
        }
        None => sqlite_database(true),
    }
}

/// A new database with no migration applied, for tests of the migrations themselves.
pub fn empty_database() -> (String, DbGuard) {
    match pg_admin_url() {
        Some(admin_url) => {
            let name = format!("pp_empty_{}", uuid::Uuid::new_v4().simple());
            let mut admin = diesel::PgConnection::establish(&admin_url).unwrap();
            admin
                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .unwrap();
            pg_database(admin_url, name)
        }
        None => sqlite_database(false),
    }
}

fn pg_database(admin_url: String, name: String) -> (String, DbGuard) {
    (
        with_database(&admin_url, &name),
        DbGuard {
            _dir: None,
            pg: Some((admin_url, name)),
        },
    )
}

/// A SQLite file in a directory of its own, migrated or not.
fn sqlite_database(migrated: bool) -> (String, DbGuard) {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("test.db").to_string_lossy().to_string();
    if migrated {
        let mut c = db::establish(&url).unwrap();
        prison_pharmacy::migrate(&mut c).unwrap();
    }
    (
        url,
        DbGuard {
            _dir: Some(dir),
            pg: None,
        },
    )
}

pub struct TestApp<S> {
    pub svc: S,
    pub state: web::Data<AppState>,
    pub url: String,
    pub guard: DbGuard,
}

pub async fn spawn() -> TestApp<
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
> {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(
    adjust: impl FnOnce(&mut Config),
) -> TestApp<
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
> {
    let (url, guard) = fresh_database();
    spawn_on(url, guard, adjust).await
}

/// The service on a fresh database reached through the URL `route` makes of its URL (a proxy
/// in front of it, say).
pub async fn spawn_through(
    route: impl FnOnce(&str) -> String,
    adjust: impl FnOnce(&mut Config),
) -> TestApp<
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
> {
    let (url, guard) = fresh_database();
    spawn_on(route(&url), guard, adjust).await
}

/// The service on a fresh database with the demo data, reading its exports, reports and
/// verification from a second database (`DATABASE_READ_URL`) that holds the same demo data as
/// loaded: nothing written through the service reaches it, so what a read shows tells which
/// database it came from. The guard keeps the second database until the test ends.
pub async fn spawn_with_replica() -> (
    TestApp<
        impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
    >,
    String,
    DbGuard,
) {
    let (replica, replica_guard) = fresh_database();
    {
        let mut c = db::establish(&replica).unwrap();
        prison_pharmacy::fixtures::load(&mut c, Some(DEMO_PASSWORD)).unwrap();
    }
    let (url, guard) = fresh_database();
    let read_url = replica.clone();
    let app = spawn_on(url, guard, move |c| c.database_read_url = Some(read_url)).await;
    app.load_demo();
    (app, replica, replica_guard)
}

/// Another instance of the service on the database of `app`, as behind a load balancer.
pub async fn another_instance<S>(
    app: &TestApp<S>,
    adjust: impl FnOnce(&mut Config),
) -> TestApp<
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
> {
    let guard = DbGuard {
        _dir: None,
        pg: None,
    };
    spawn_on(app.url.clone(), guard, adjust).await
}

async fn spawn_on(
    url: String,
    guard: DbGuard,
    adjust: impl FnOnce(&mut Config),
) -> TestApp<
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
> {
    let mut config = Config::for_database(&url);
    config.db_pool_size = 4;
    adjust(&mut config);
    let db = Db::connect(&url, config.db_pool_size).unwrap();
    let state = web::Data::new(AppState::new(config, db).unwrap());
    let svc = test::init_service(build_app(state.clone())).await;
    TestApp {
        svc,
        state,
        url,
        guard,
    }
}

/// Every response the suite receives is checked against the served document: its status must
/// be documented for the operation, its media type listed, and its body valid against the
/// schema given for that status.
pub mod contract {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    use serde_json::{json, Value};

    fn document() -> &'static Value {
        static DOC: OnceLock<Value> = OnceLock::new();
        DOC.get_or_init(prison_pharmacy::openapi::document)
    }

    /// The path template of the document a request path matches, most literal segments first.
    fn template(path: &str) -> Option<&'static str> {
        let segments: Vec<&str> = path.split('/').collect();
        document()["paths"]
            .as_object()?
            .keys()
            .filter(|t| {
                let ts: Vec<&str> = t.split('/').collect();
                ts.len() == segments.len()
                    && ts
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t.starts_with('{') || t == s)
            })
            .max_by_key(|t| t.split('/').filter(|s| !s.starts_with('{')).count())
            .map(String::as_str)
    }

    type Validators = HashMap<String, jsonschema::Validator>;

    pub fn check(method: &str, path: &str, status: u16, content_type: &str, body: &Value) {
        let Some(template) = template(path) else {
            return;
        };
        let method = method.to_ascii_lowercase();
        let Some(operation) = document()["paths"][template].get(&method) else {
            // Another method on a known path: the router's 405, not an operation.
            assert_eq!(
                status, 405,
                "{method} {path} answered {status} without an operation"
            );
            return;
        };
        let responses = &operation["responses"];
        let Some(spec) = responses.get(status.to_string()) else {
            panic!(
                "{method} {template} answered {status}, which its document does not list: {body}"
            );
        };
        let media = content_type.split(';').next().unwrap_or_default().trim();
        let Some(content) = spec.get("content").and_then(Value::as_object) else {
            return;
        };
        let Some(schema) = content.get(media).map(|c| &c["schema"]) else {
            panic!(
                "{method} {template} {status} was sent as {media:?}, the document says {:?}",
                content.keys().collect::<Vec<_>>()
            );
        };
        if !media.ends_with("json") || schema.is_null() {
            return;
        }
        static CACHE: OnceLock<Mutex<Validators>> = OnceLock::new();
        let key = format!("{method} {template} {status} {media}");
        let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
        let validator = cache.entry(key.clone()).or_insert_with(|| {
            let root = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "components": document()["components"],
                "allOf": [schema],
            });
            jsonschema::options()
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("{key}: schema does not compile: {e}"))
        });
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .take(5)
            .collect();
        assert!(
            errors.is_empty(),
            "{key}: the body breaks its schema: {errors:#?}\n{body}"
        );
    }
}

pub struct Response {
    pub status: StatusCode,
    pub body: Value,
    pub headers: actix_web::http::header::HeaderMap,
}

impl<S, B> TestApp<S>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    pub async fn send(&self, req: test::TestRequest) -> Response {
        let req = req.to_request();
        let (method, path) = (req.method().to_string(), req.path().to_string());
        let resp = test::call_service(&self.svc, req).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = test::read_body(resp).await;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        contract::check(&method, &path, status.as_u16(), &content_type, &body);
        Response {
            status,
            body,
            headers,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = test::TestRequest::default().method(method).uri(path);
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        if let Some(b) = body {
            req = req.set_json(b);
        }
        self.send(req).await
    }

    /// A GET whose body is returned as bytes (downloads).
    pub async fn download(&self, path: &str, token: &str) -> (StatusCode, String, Vec<u8>) {
        let req = test::TestRequest::get()
            .uri(path)
            .insert_header(("Authorization", format!("Bearer {token}")));
        let resp = test::call_service(&self.svc, req.to_request()).await;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, content_type, test::read_body(resp).await.to_vec())
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub fn conn(&self) -> r2d2::PooledConnection<prison_pharmacy::db::ConnectionManager> {
        self.state.db.get().unwrap()
    }

    /// A site with a pharmacy store, CD cabinet, quarantine shelf and one administration point.
    pub fn site(&self, code: &str) -> Site {
        use prison_pharmacy::sites::queries as q;
        let mut c = self.conn();
        let id = q::insert(
            &mut c,
            code,
            &format!("HMP {code}"),
            "Category C",
            "1 Test Road",
        )
        .unwrap();
        let loc = |c: &mut _, code: &str, kind: &str| {
            // As in the demo data, each hatch keeps a CD cabinet of its own.
            let cabinet = matches!(kind, "cd_cabinet" | "administration_point");
            q::insert_location(c, id, code, code, kind, cabinet).unwrap()
        };
        Site {
            id,
            store: loc(&mut c, "PHARM", "pharmacy_store"),
            cd_cabinet: loc(&mut c, "CDCAB", "cd_cabinet"),
            quarantine: loc(&mut c, "QUAR", "quarantine"),
            hatch: loc(&mut c, "HB1-HATCH", "administration_point"),
        }
    }

    /// A user of the role at the sites, and a token for them.
    pub fn user(&self, username: &str, role: &str, sites: &[i64]) -> User {
        self.user_with(username, role, sites, false)
    }

    /// A user an admin has marked as an authorised witness of destruction.
    pub fn witness(&self, username: &str, role: &str, sites: &[i64]) -> User {
        self.user_with(username, role, sites, true)
    }

    fn user_with(&self, username: &str, role: &str, sites: &[i64], witness: bool) -> User {
        use prison_pharmacy::users::queries as q;
        let mut c = self.conn();
        let id = q::insert(&mut c, username, username, role, password_hash(), witness).unwrap();
        q::replace_sites(&mut c, id, sites).unwrap();
        User {
            id,
            username: username.to_string(),
            token: self.state.jwt.issue(id).unwrap(),
        }
    }

    /// Loads the demo data set (the ten prisons, demo users, formulary, stock, patients).
    pub fn load_demo(&self) {
        let mut c = self.conn();
        prison_pharmacy::fixtures::load(&mut c, Some(DEMO_PASSWORD)).unwrap();
    }

    /// An access token for a user, by username.
    pub fn token_of(&self, username: &str) -> String {
        use prison_pharmacy::db::schema::users;
        let mut c = self.conn();
        let id = users::table
            .filter(users::username.eq(username))
            .select(users::id)
            .first::<i64>(&mut **c)
            .unwrap();
        self.state.jwt.issue(id).unwrap()
    }

    /// The first prison of the signed-in user and its locations' ids by code.
    pub async fn home_site(&self, token: &str) -> (i64, std::collections::HashMap<String, i64>) {
        let site = self.get("/api/v1/me", token).await.body["sites"][0]["id"]
            .as_i64()
            .unwrap();
        let locations = self
            .get(&format!("/api/v1/sites/{site}/locations"), token)
            .await;
        let ids = locations.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["code"].as_str().unwrap().to_string(),
                    l["id"].as_i64().unwrap(),
                )
            })
            .collect();
        (site, ids)
    }

    pub fn count(&self, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut c = self.conn();
        diesel::sql_query(format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table}"))
            .get_result::<Count>(&mut **c)
            .unwrap()
            .n
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Site {
    pub id: i64,
    pub store: i64,
    pub cd_cabinet: i64,
    pub quarantine: i64,
    pub hatch: i64,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub token: String,
}

impl User {
    /// This user as a witness, typing their password on the spot.
    pub fn as_witness(&self) -> Value {
        serde_json::json!({"username": self.username, "password": PASSWORD})
    }
}

/// The problem document's first field issue as (field, rule).
pub fn first_issue(body: &Value) -> (String, String) {
    let e = &body["errors"][0];
    (
        e["field"].as_str().unwrap_or_default().to_string(),
        e["rule"].as_str().unwrap_or_default().to_string(),
    )
}

/// The total of the `quantity` strings of a stock list's items.
pub fn total_quantity(items: &Value) -> String {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l["quantity"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum::<rust_decimal::Decimal>()
        .normalize()
        .to_string()
}
