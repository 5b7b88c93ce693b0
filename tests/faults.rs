//! When the database or its storage fails: answers come at once and say what is wrong (503
//! with Retry-After, 507), nothing is half-written, reads go on where they can, `/ready` tells
//! the load balancer, and the service recovers by itself.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use common::{spawn, spawn_through, Response, TestApp, PASSWORD};
use diesel::connection::SimpleConnection;
use serde_json::json;

fn is_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

async fn admit<S, B>(app: &TestApp<S>, site: i64, token: &str, number: &str) -> Response
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    app.post(
        &format!("/api/v1/sites/{site}/patients"),
        token,
        json!({"prison_number": number, "given_name": "Test", "family_name": "Patient",
               "date_of_birth": "1980-01-01"}),
    )
    .await
}

async fn get_path<S, B>(app: &TestApp<S>, path: &str) -> Response
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    app.send(TestRequest::get().uri(path)).await
}

/// Makes the database's storage full, or gives the space back, by injecting the error each
/// server raises when its disk is full on the tables every write touches (SQLite: "database or
/// disk is full"; PostgreSQL: disk_full, "No space left on device").
fn storage_full<S>(app: &TestApp<S>, full: bool) {
    let sql = match (is_postgres(), full) {
        (true, true) => {
            "CREATE OR REPLACE FUNCTION fail_disk_full() RETURNS trigger AS $$ BEGIN \
             RAISE EXCEPTION 'could not extend file \"base/16384/16390\": No space left on device' \
             USING ERRCODE = 'disk_full'; END; $$ LANGUAGE plpgsql; \
             CREATE TRIGGER disk_full_audit BEFORE INSERT ON audit_events \
             FOR EACH STATEMENT EXECUTE FUNCTION fail_disk_full(); \
             CREATE TRIGGER disk_full_throttle BEFORE INSERT ON sign_in_throttle \
             FOR EACH STATEMENT EXECUTE FUNCTION fail_disk_full();"
        }
        (true, false) => {
            "DROP TRIGGER disk_full_audit ON audit_events; \
             DROP TRIGGER disk_full_throttle ON sign_in_throttle;"
        }
        (false, true) => {
            "CREATE TRIGGER disk_full_audit BEFORE INSERT ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END; \
             CREATE TRIGGER disk_full_throttle BEFORE INSERT ON sign_in_throttle \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
        }
        (false, false) => "DROP TRIGGER disk_full_audit; DROP TRIGGER disk_full_throttle;",
    };
    app.state.db.get().unwrap().batch_execute(sql).unwrap();
}

#[actix_web::test]
async fn storage_full_refuses_writes_with_507_and_keeps_reads() {
    let app = spawn().await;
    let site = app.site("FWI");
    let nurse = app.user("nurse", "nurse", &[site.id]);
    let r = admit(&app, site.id, &nurse.token, "A1111AA").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (patients, audits) = (app.count("patients"), app.count("audit_events"));

    storage_full(&app, true);
    let r = admit(&app, site.id, &nurse.token, "B2222BB").await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.body);
    assert_eq!(r.body["code"], "storage_full");
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    // Nothing half-written.
    assert_eq!(app.count("patients"), patients);
    assert_eq!(app.count("audit_events"), audits);
    // Reads go on with the token the nurse holds.
    let r = app
        .get(&format!("/api/v1/sites/{}/patients", site.id), &nurse.token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total"], 1);
    // Sign-in needs its audit event, which cannot be lost: it answers 507 too, never 500.
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nurse", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.body);
    assert_eq!(r.body["code"], "storage_full");
    assert!(r.body.get("access_token").is_none());
    // The load balancer hears of it; the process itself is up.
    let r = get_path(&app, "/ready").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        r.body["detail"].as_str().unwrap().contains("storage full"),
        "{}",
        r.body
    );
    assert_eq!(get_path(&app, "/health").await.status, StatusCode::OK);

    // Space returns: ready again, and writes resume without a restart.
    storage_full(&app, false);
    let r = get_path(&app, "/ready").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = admit(&app, site.id, &nurse.token, "B2222BB").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nurse", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// A TCP relay in front of PostgreSQL that can be cut (every connection dropped, new ones
/// closed at once) and restored, as if the server stopped and started.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                open2.lock().unwrap().push(client.try_clone().unwrap());
                open2.lock().unwrap().push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Relay { port, up, open }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// `postgres://user@host:port/db` with the host and port replaced.
fn through(url: &str, port: u16) -> (String, String) {
    let (scheme_user, rest) = url.split_once('@').unwrap();
    let (host_port, db) = rest.split_once('/').unwrap();
    (
        format!("{scheme_user}@127.0.0.1:{port}/{db}"),
        host_port.to_string(),
    )
}

/// The service on PostgreSQL reached through a relay, with a site and a nurse who has already
/// been answered once (so the pool holds connections made before any cut).
async fn behind_relay() -> (
    TestApp<
        impl Service<
            actix_http::Request,
            Response = ServiceResponse<impl MessageBody>,
            Error = actix_web::Error,
        >,
    >,
    Relay,
    common::Site,
    common::User,
) {
    let relay: Arc<Mutex<Option<Relay>>> = Arc::new(Mutex::new(None));
    let slot = relay.clone();
    let app = spawn_through(
        move |url| {
            let (_, target) = through(url, 0);
            let r = Relay::start(target);
            let routed = through(url, r.port).0;
            *slot.lock().unwrap() = Some(r);
            routed
        },
        |_| {},
    )
    .await;
    let site = app.site("FWI");
    let nurse = app.user("nurse", "nurse", &[site.id]);
    assert_eq!(
        app.get("/api/v1/me", &nurse.token).await.status,
        StatusCode::OK
    );
    let relay = relay.lock().unwrap().take().unwrap();
    (app, relay, site, nurse)
}

#[actix_web::test]
async fn postgres_unreachable_answers_503_at_once_and_recovers_by_itself() {
    if !is_postgres() {
        // The SQLite counterpart is the lock held too long, below.
        return;
    }
    let (app, relay, site, nurse) = behind_relay().await;

    relay.cut();
    let started = Instant::now();
    let r = app.get("/api/v1/me", &nurse.token).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.body["code"], "database_unavailable");
    assert_eq!(r.headers.get("retry-after").unwrap(), "2");
    let started = Instant::now();
    let r = admit(&app, site.id, &nurse.token, "C3333CC").await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let started = Instant::now();
    let r = get_path(&app, "/ready").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get_path(&app, "/health").await.status, StatusCode::OK);
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nurse", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);

    // Back: within two seconds requests succeed, and none fails afterwards on a stale
    // connection.
    relay.restore();
    let back = Instant::now();
    loop {
        let r = app.get("/api/v1/me", &nurse.token).await;
        if r.status == StatusCode::OK {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "not back: {}",
            r.body
        );
    }
    for i in 0..20 {
        let r = admit(&app, site.id, &nurse.token, &format!("D{:04}DD", 1000 + i)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    assert_eq!(get_path(&app, "/ready").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn sqlite_held_by_another_writer_answers_503_at_once_and_recovers() {
    if is_postgres() {
        // The PostgreSQL counterpart is the unreachable server, above.
        return;
    }
    let app = spawn().await;
    let site = app.site("FWI");
    let nurse = app.user("nurse", "nurse", &[site.id]);
    // Another process holds the write lock (a stuck backup, an operator's shell).
    let mut other = prison_pharmacy::db::establish(&app.url).unwrap();
    other.batch_execute("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let r = admit(&app, site.id, &nurse.token, "E5555EE").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.body["code"], "database_unavailable");
    assert_eq!(r.headers.get("retry-after").unwrap(), "2");
    assert_eq!(app.count("patients"), 0);
    // Reads are not held up by a writer.
    let r = app
        .get(&format!("/api/v1/sites/{}/patients", site.id), &nurse.token)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    other.batch_execute("ROLLBACK").unwrap();
    let r = admit(&app, site.id, &nurse.token, "E5555EE").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[actix_web::test]
async fn postgres_restarted_while_idle_costs_no_request_a_503() {
    if !is_postgres() {
        return;
    }
    let (app, relay, site, nurse) = behind_relay().await;

    // Every pooled connection goes stale while no request is running, and nothing notices.
    relay.cut();
    relay.restore();

    let r = app.get("/api/v1/me", &nurse.token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["username"], "nurse");
    for i in 0..5 {
        let r = admit(&app, site.id, &nurse.token, &format!("E{:04}EE", 1000 + i)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
}
