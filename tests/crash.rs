//! Crash safety: the real server binary takes concurrent writes (doses, goods receipts,
//! transfers, CD movements) and is killed with SIGKILL at random moments, several times.
//! After each restart every acknowledged write is there, every register chain verifies, and
//! every balance equals the sum of its movements. The server's log never holds a password, a
//! token or a prison number.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use prison_pharmacy::db::{self, AnyConnection};

const PASSWORD: &str = "crash-test-password-1";
const SECRET: &str = "crash-test-secret-crash-test-secret-0001";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(url: &str, port: u16, log: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_prison-pharmacy"))
        .args(["serve", "--demo"])
        .env("DATABASE_URL", url)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", SECRET)
        .env("DEMO_PASSWORD", PASSWORD)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if ureq::get(&format!("http://127.0.0.1:{port}/ready"))
            .timeout(Duration::from_millis(500))
            .call()
            .is_ok()
        {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "server did not become ready: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

struct Client {
    base: String,
}

impl Client {
    fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: &Value,
    ) -> Result<(u16, Value), ()> {
        let req = ureq::request(method, &format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {token}"))
            .timeout(Duration::from_secs(10));
        let resp = if method == "GET" {
            req.call()
        } else {
            req.send_json(body.clone())
        };
        match resp {
            Ok(r) => Ok((r.status(), r.into_json().unwrap_or(Value::Null))),
            Err(ureq::Error::Status(code, r)) => Ok((code, r.into_json().unwrap_or(Value::Null))),
            // The server died under us: whatever was in flight was not acknowledged.
            Err(ureq::Error::Transport(_)) => Err(()),
        }
    }

    fn login(&self, username: &str) -> String {
        let r: Value = ureq::post(&format!("{}/api/v1/auth/login", self.base))
            .send_json(json!({"username": username, "password": PASSWORD}))
            .unwrap()
            .into_json()
            .unwrap();
        r["access_token"].as_str().unwrap().to_string()
    }
}

/// What the server acknowledged, by kind.
#[derive(Default)]
struct Acknowledged {
    doses: Vec<i64>,
    receipts: Vec<i64>,
    transfers: Vec<i64>,
    received_transfers: Vec<i64>,
}

struct Setup {
    site: i64,
    store: i64,
    cabinet: i64,
    hb2: i64,
    due: Vec<(i64, String, String, i64, bool)>,
    order: i64,
    order_line: i64,
    sertraline_batch: i64,
    methadone_batch: i64,
    nurse: String,
    nurse2: String,
    technician: String,
}

fn setup(client: &Client) -> Setup {
    let technician = client.login("technician");
    let pharmacist = client.login("pharmacist");
    let nurse = client.login("nurse");
    let nurse2 = client.login("nurse2");
    let me = client
        .send("GET", "/api/v1/me", &nurse, &Value::Null)
        .unwrap()
        .1;
    let site = me["sites"][0]["id"].as_i64().unwrap();
    let locations = client
        .send(
            "GET",
            &format!("/api/v1/sites/{site}/locations"),
            &nurse,
            &Value::Null,
        )
        .unwrap()
        .1;
    let loc = |code: &str| {
        locations["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["code"] == code)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (store, cabinet, hb1, hb2) = (
        loc("PHARM"),
        loc("CDCAB"),
        loc("HB1-HATCH"),
        loc("HB2-HATCH"),
    );
    let stock = client
        .send(
            "GET",
            &format!("/api/v1/sites/{site}/stock?location_id={store}"),
            &technician,
            &Value::Null,
        )
        .unwrap()
        .1;
    let batch_of = |name: &str| {
        stock["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["product_name"].as_str().unwrap().starts_with(name))
            .unwrap()["batch_id"]
            .as_i64()
            .unwrap()
    };
    let sertraline_batch = batch_of("Sertraline");
    // Register stock is held in the pharmacy's CD cabinet.
    let methadone_batch = client
        .send(
            "GET",
            &format!("/api/v1/sites/{site}/stock?location_id={cabinet}"),
            &technician,
            &Value::Null,
        )
        .unwrap()
        .1["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["product_name"].as_str().unwrap().starts_with("Methadone"))
        .unwrap()["batch_id"]
        .as_i64()
        .unwrap();

    // Every supervised dose due over the last week: (prescription, date, slot, location, witnessed).
    let mut due = Vec::new();
    let today = chrono::Utc::now().date_naive();
    for (wing, hatch) in [("HB1", hb1), ("HB2", hb2)] {
        for days_ago in 0..7 {
            let date = today - chrono::Duration::days(days_ago);
            for slot in ["morning", "lunchtime", "teatime", "night"] {
                let round = client
                    .send(
                        "GET",
                        &format!("/api/v1/sites/{site}/rounds?date={date}&slot={slot}&wing={wing}"),
                        &nurse,
                        &Value::Null,
                    )
                    .unwrap()
                    .1;
                for item in round["items"].as_array().unwrap() {
                    due.push((
                        item["prescription_id"].as_i64().unwrap(),
                        date.to_string(),
                        slot.to_string(),
                        hatch,
                        item["witness_required"].as_bool().unwrap(),
                    ));
                }
            }
        }
    }
    assert!(due.len() > 30, "{}", due.len());

    // An order for plenty of paracetamol, received a tablet at a time.
    let suppliers = client
        .send("GET", "/api/v1/suppliers", &technician, &Value::Null)
        .unwrap()
        .1;
    let supplier = suppliers["items"][0]["id"].as_i64().unwrap();
    let paracetamol = suppliers["items"][0]["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product_name"] == "Paracetamol 500mg tablets")
        .unwrap()["product_id"]
        .clone();
    let order = client
        .send("POST", &format!("/api/v1/sites/{site}/purchase-orders"), &technician,
              &json!({"supplier_id": supplier, "lines": [{"product_id": paracetamol, "packs": 1000}]}))
        .unwrap()
        .1;
    let order_id = order["id"].as_i64().unwrap();
    assert_eq!(
        client
            .send(
                "POST",
                &format!("/api/v1/purchase-orders/{order_id}/approve"),
                &pharmacist,
                &json!({})
            )
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        client
            .send(
                "POST",
                &format!("/api/v1/purchase-orders/{order_id}/send"),
                &technician,
                &json!({})
            )
            .unwrap()
            .0,
        200
    );
    Setup {
        site,
        store,
        cabinet,
        hb2,
        due,
        order: order_id,
        order_line: order["lines"][0]["id"].as_i64().unwrap(),
        sertraline_batch,
        methadone_batch,
        nurse,
        nurse2,
        technician,
    }
}

/// Writers that run until the server dies, recording what was acknowledged.
fn drive(
    client: Arc<Client>,
    s: Arc<Setup>,
    next_dose: Arc<Mutex<usize>>,
    acked: Arc<Mutex<Acknowledged>>,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut threads = Vec::new();
    {
        let (client, s, acked, next) =
            (client.clone(), s.clone(), acked.clone(), next_dose.clone());
        threads.push(std::thread::spawn(move || loop {
            let i = {
                let mut n = next.lock().unwrap();
                *n += 1;
                *n - 1
            };
            // Paced, so the finite set of due doses spans the kills.
            std::thread::sleep(Duration::from_millis(20));
            let Some((rx, date, slot, hatch, witnessed)) = s.due.get(i).cloned() else { return };
            let mut body = json!({"prescription_id": rx, "date": date, "slot": slot, "outcome": "given", "location_id": hatch});
            if witnessed {
                body["witness"] = json!({"username": "nurse2", "password": PASSWORD});
            }
            match client.send("POST", &format!("/api/v1/sites/{}/doses", s.site), &s.nurse, &body) {
                Ok((201, r)) => acked.lock().unwrap().doses.push(r["id"].as_i64().unwrap()),
                Ok((409, _)) => {}
                Ok((status, r)) => panic!("dose: {status} {r}"),
                Err(()) => return,
            }
        }));
    }
    {
        let (client, s, acked) = (client.clone(), s.clone(), acked.clone());
        threads.push(std::thread::spawn(move || loop {
            let body = json!({"location_id": s.store, "lines": [{"order_line_id": s.order_line,
                              "batch_number": "PCM-CRASH", "expiry_date": "2030-06-30", "quantity": "1"}]});
            match client.send("POST", &format!("/api/v1/purchase-orders/{}/receipts", s.order), &s.technician, &body) {
                Ok((201, r)) => acked.lock().unwrap().receipts.push(r["id"].as_i64().unwrap()),
                Ok((status, r)) => panic!("receipt: {status} {r}"),
                Err(()) => return,
            }
        }));
    }
    // Register stock leaving a cabinet needs a second person.
    let witness = json!({"username": "pharmacist", "password": PASSWORD});
    for (from, to, batch, witness) in [
        (s.store, s.hb2, s.sertraline_batch, Value::Null),
        (s.cabinet, s.hb2, s.methadone_batch, witness),
    ] {
        let (client, s, acked) = (client.clone(), s.clone(), acked.clone());
        threads.push(std::thread::spawn(move || loop {
            let mut body = json!({"from_location_id": from, "to_location_id": to, "lines": [{"batch_id": batch, "quantity": "1"}]});
            if !witness.is_null() {
                body["witness"] = witness.clone();
            }
            let id = match client.send("POST", &format!("/api/v1/sites/{}/transfers", s.site), &s.technician, &body) {
                Ok((201, r)) => r["id"].as_i64().unwrap(),
                Ok((status, r)) => panic!("transfer: {status} {r}"),
                Err(()) => return,
            };
            acked.lock().unwrap().transfers.push(id);
            match client.send("POST", &format!("/api/v1/transfers/{id}/receive"), &s.technician, &json!({})) {
                Ok((200, _)) => acked.lock().unwrap().received_transfers.push(id),
                Ok((status, r)) => panic!("receive: {status} {r}"),
                Err(()) => return,
            }
        }));
    }
    threads
}

fn count_in(conn: &mut AnyConnection, table: &str, ids: &[i64]) -> usize {
    if ids.is_empty() {
        return 0;
    }
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    diesel::sql_query(format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table} WHERE id IN ({list})"
    ))
    .get_result::<N>(conn)
    .unwrap()
    .n as usize
}

fn check_invariants(url: &str, acked: &Acknowledged) {
    let mut c = db::establish(url).unwrap();
    assert_eq!(
        count_in(&mut c, "dose_records", &acked.doses),
        acked.doses.len(),
        "acknowledged doses lost"
    );
    assert_eq!(
        count_in(&mut c, "goods_receipts", &acked.receipts),
        acked.receipts.len(),
        "acknowledged receipts lost"
    );
    assert_eq!(
        count_in(&mut c, "transfers", &acked.transfers),
        acked.transfers.len(),
        "acknowledged transfers lost"
    );
    if !acked.received_transfers.is_empty() {
        let list = acked
            .received_transfers
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let n = diesel::sql_query(format!(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM transfers WHERE status = 'received' AND id IN ({list})"
        ))
        .get_result::<N>(&mut c)
        .unwrap()
        .n;
        assert_eq!(
            n as usize,
            acked.received_transfers.len(),
            "acknowledged receipts of transfers lost"
        );
    }
    // Every balance is the sum of its movements.
    #[derive(QueryableByName)]
    struct Off {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let off = diesel::sql_query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM stock_balances b WHERE b.quantity <> \
         (SELECT COALESCE(SUM(m.quantity), 0) FROM stock_movements m WHERE m.location_id = b.location_id AND m.batch_id = b.batch_id)",
    )
    .get_result::<Off>(&mut c)
    .unwrap()
    .n;
    assert_eq!(off, 0, "a balance differs from the sum of its movements");
    // Every register page is the stock of its product in its cabinet, and its chain verifies.
    let off = diesel::sql_query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM cd_register_pages p WHERE p.balance <> \
         (SELECT COALESCE(SUM(b.quantity), 0) FROM stock_balances b WHERE b.location_id = p.location_id AND b.product_id = p.product_id)",
    )
    .get_result::<Off>(&mut c)
    .unwrap()
    .n;
    assert_eq!(off, 0, "a register page differs from the stock");
    let pool = prison_pharmacy::db::Db::connect(url, 2).unwrap();
    for site in prison_pharmacy::sites::queries::all(&mut c).unwrap() {
        let v = prison_pharmacy::cd_register::verify::verify_site_parallel(&pool, site.id, None)
            .unwrap();
        assert_eq!(v.status.as_str(), "intact", "{} {:?}", site.code, v.pages);
    }
}

fn log_is_clean(log: &Path, tokens: &[&str]) {
    let text = std::fs::read_to_string(log).unwrap();
    assert!(!text.is_empty());
    assert!(
        !text.contains(PASSWORD),
        "the demo password reached the log"
    );
    assert!(!text.contains(SECRET), "the signing key reached the log");
    for t in tokens {
        assert!(!text.contains(t), "a bearer token reached the log");
    }
    for number in ["A1234BC", "B2345CD", "C3456DE"] {
        assert!(!text.contains(number), "a prison number reached the log");
    }
}

#[test]
fn acknowledged_writes_survive_sigkill_and_invariants_hold() {
    let (url, _guard) = common::fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let log: PathBuf = dir.path().join("server.log");
    let seed: u64 = rand::random();
    println!("crash test seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let next_dose = Arc::new(Mutex::new(0));
    let mut shared: Option<(Arc<Client>, Arc<Setup>)> = None;
    for _cycle in 0..3 {
        let port = free_port();
        let mut child = start(&url, port, &log);
        let client = Arc::new(Client {
            base: format!("http://127.0.0.1:{port}"),
        });
        let s = match &shared {
            Some((_, s)) => s.clone(),
            None => Arc::new(setup(&client)),
        };
        shared = Some((client.clone(), s.clone()));
        let threads = drive(client, s, next_dose.clone(), acked.clone());
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..900)));
        child.kill().unwrap();
        child.wait().unwrap();
        for t in threads {
            t.join().unwrap();
        }
        check_invariants(&url, &acked.lock().unwrap());
    }
    let a = acked.lock().unwrap();
    println!(
        "acknowledged before the kills: {} doses, {} receipts, {} transfers",
        a.doses.len(),
        a.receipts.len(),
        a.transfers.len()
    );
    assert!(
        !a.doses.is_empty() && !a.receipts.is_empty() && !a.transfers.is_empty(),
        "the writers made no progress: {} doses, {} receipts, {} transfers",
        a.doses.len(),
        a.receipts.len(),
        a.transfers.len()
    );
    // The server comes back on the same data and answers.
    let port = free_port();
    let mut child = start(&url, port, &log);
    let client = Client {
        base: format!("http://127.0.0.1:{port}"),
    };
    let token = client.login("auditor");
    let site = shared.as_ref().unwrap().1.site;
    let (status, v) = client
        .send(
            "GET",
            &format!("/api/v1/sites/{site}/cd/verify"),
            &token,
            &Value::Null,
        )
        .unwrap();
    assert_eq!((status, v["status"].as_str()), (200, Some("intact")), "{v}");
    child.kill().unwrap();
    child.wait().unwrap();
    let s = &shared.as_ref().unwrap().1;
    log_is_clean(&log, &[&s.nurse, &s.nurse2, &s.technician, &token]);
}

/// Outside the demo the service will not start without a signing key: tokens signed by a key
/// made up at start would be refused by every other instance, and by this one after a restart.
#[test]
fn the_service_refuses_to_start_without_a_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_prison-pharmacy"))
        .arg("serve")
        .env("DATABASE_URL", dir.path().join("p.db"))
        .env("BIND_ADDR", format!("127.0.0.1:{}", free_port()))
        .env_remove("JWT_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JWT_SECRET is not set"), "{stderr}");
    assert!(!dir.path().join("p.db").exists(), "nothing is created");
}

/// A failure is one log line, at ERROR for the service's own faults and not at all above INFO
/// for a client's mistake, and it carries the request id the client was given.
#[test]
fn a_failure_is_logged_once_with_its_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("log.db").to_string_lossy().to_string();
    let log = dir.path().join("server.log");
    let port = free_port();
    let mut child = start(&url, port, &log);
    let base = format!("http://127.0.0.1:{port}");
    let token = Client { base: base.clone() }.login("nurse");
    // A client's mistake: a record that is not there.
    let missing = ureq::get(&format!("{base}/api/v1/patients/999999"))
        .set("Authorization", &format!("Bearer {token}"))
        .call();
    let Err(ureq::Error::Status(404, missing)) = missing else {
        panic!("expected 404")
    };
    let missing_id = missing.header("x-request-id").unwrap().to_string();
    // The disk fills: the database refuses every new audit row.
    let mut other = prison_pharmacy::db::establish(&url).unwrap();
    diesel::connection::SimpleConnection::batch_execute(
        &mut other,
        "CREATE TRIGGER disk_full BEFORE INSERT ON audit_events \
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    )
    .unwrap();
    let site = ureq::get(&format!("{base}/api/v1/me"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .into_json::<Value>()
        .unwrap()["sites"][0]["id"]
        .as_i64()
        .unwrap();
    let failed = ureq::post(&format!("{base}/api/v1/sites/{site}/patients"))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(
            json!({"prison_number": "L1234OG", "given_name": "A", "family_name": "B",
                          "date_of_birth": "1980-01-01"}),
        );
    let Err(ureq::Error::Status(507, failed)) = failed else {
        panic!("expected 507: {failed:?}")
    };
    let failed_id = failed.header("x-request-id").unwrap().to_string();
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines_of = |id: &str, level: &str| {
        text.lines()
            .filter(|l| l.contains(id) && l.contains(&format!("\"level\":\"{level}\"")))
            .count()
    };
    assert_eq!(lines_of(&failed_id, "ERROR"), 1, "{text}");
    assert_eq!(lines_of(&failed_id, "WARN"), 0, "{text}");
    assert_eq!(lines_of(&missing_id, "ERROR"), 0, "{text}");
    assert_eq!(lines_of(&missing_id, "WARN"), 0, "{text}");
    assert!(text.contains("storage full"), "{text}");
}
