//! The controlled drug register over HTTP: entries written by the ledger, the hash chain and
//! its verification, witnesses, balance checks, patient returns and auditor exports.

mod common;

use actix_web::http::{Method, StatusCode};
use common::{first_issue, spawn, Site, TestApp, User, PASSWORD};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::{json, Value};

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use prison_pharmacy::audit::Actor;
use prison_pharmacy::db::{Backend, Db};
use prison_pharmacy::domain::stock::MovementReason;
use prison_pharmacy::ledger::{self, Posting};

struct World {
    fosse: Site,
    lincoln: Site,
    pharmacist: User,
    witness: User,
    technician: User,
    nurse: User,
    auditor: User,
    lincoln_auditor: User,
    methadone: i64,
    batch: i64,
}

async fn setup<S, B>(app: &TestApp<S>) -> World
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let fosse = app.site("FWI");
    let lincoln = app.site("LCI");
    let pharmacist = app.user("pharmacist", "pharmacist", &[fosse.id]);
    let r = app
        .post(
            "/api/v1/formulary/products",
            &pharmacist.token,
            json!({"dmd_type": "vmp", "name": "Methadone 1mg/ml oral solution sugar free", "form": "oral solution",
                   "strength": "1 mg/ml", "unit": "ml", "pack_size": "500", "ingredient": "methadone",
                   "cd_schedule": "2", "max_daily_dose": "120", "dose_unit": "mg",
                   "therapeutic_class": "opioid substitution", "critical": true, "opioid_substitution": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["cd_register"], true);
    let methadone = r.body["id"].as_i64().unwrap();
    let technician = app.user("technician", "pharmacy_technician", &[fosse.id]);
    let r = app
        .post(
            &format!("/api/v1/formulary/products/{methadone}/batches"),
            &technician.token,
            json!({"batch_number": "MTH1", "expiry_date": "2030-01-31"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    World {
        witness: app.witness("pharmacist.witness", "pharmacist", &[fosse.id]),
        nurse: app.user("nurse", "nurse", &[fosse.id]),
        auditor: app.user("auditor", "auditor", &[fosse.id]),
        lincoln_auditor: app.user("auditor.lincoln", "auditor", &[lincoln.id]),
        batch: r.body["id"].as_i64().unwrap(),
        fosse,
        lincoln,
        pharmacist,
        technician,
        methadone,
    }
}

/// Goods in from a wholesaler, posted through the ledger as a receipt does.
fn receive(db: &Db, w: &World, qty: &str) -> i64 {
    let mut c = db.get().unwrap();
    let (actor, p) = receipt(w, qty);
    ledger::post(&mut c, &actor, &p)
        .unwrap()
        .register_entry_id
        .unwrap()
}

/// A receipt of methadone into Fosse Way's CD cabinet, by the technician.
fn receipt(w: &World, qty: &str) -> (Actor, Posting) {
    let actor = Actor {
        user_id: w.technician.id,
        request_id: "test-receipt".into(),
    };
    let mut p = Posting::new(
        w.fosse.id,
        w.fosse.cd_cabinet,
        w.batch,
        qty.parse().unwrap(),
        MovementReason::Receipt,
    );
    p.register.counterparty = Some("Alliance Healthcare".into());
    p.register.counterparty_address = Some("Nottingham NG2 3AA".into());
    (actor, p)
}

async fn page<S, B>(app: &TestApp<S>, w: &World, site: i64, token: &str) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .get(&format!("/api/v1/sites/{site}/cd/pages"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product_id"] == w.methadone)
        .cloned()
        .unwrap_or(Value::Null)
}

/// The verdict on every register page of Fosse Way.
async fn verify<S, B>(app: &TestApp<S>, w: &World, token: &str) -> common::Response
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .get(&format!("/api/v1/sites/{}/cd/verify", w.fosse.id), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r
}

async fn entries<S, B>(app: &TestApp<S>, site: i64, page_id: i64, token: &str) -> Vec<Value>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .get(
            &format!("/api/v1/sites/{site}/cd/pages/{page_id}/entries"),
            token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

async fn stock_of<S, B>(app: &TestApp<S>, w: &World, site: i64, token: &str) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .get(
            &format!("/api/v1/sites/{site}/stock?product_id={}", w.methadone),
            token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    common::total_quantity(&r.body["items"])
}

#[actix_web::test]
async fn every_movement_of_a_register_product_is_an_entry_with_a_running_balance() {
    let app = spawn().await;
    let w = setup(&app).await;
    receive(&app.state.db, &w, "1000");

    // A transfer to another prison: out at Fosse Way now, in at Lincoln on receipt. Register
    // stock leaving needs a second person.
    let transfer_body = json!({"from_location_id": w.fosse.cd_cabinet, "to_location_id": w.lincoln.cd_cabinet,
                   "lines": [{"batch_id": w.batch, "quantity": "200"}]});
    let transfers = format!("/api/v1/sites/{}/transfers", w.fosse.id);
    let r = app
        .post(&transfers, &w.technician.token, transfer_body.clone())
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(first_issue(&r.body), ("witness".into(), "required".into()));
    let mut witnessed = transfer_body.clone();
    witnessed["witness"] = w.witness.as_witness();
    let r = app.post(&transfers, &w.technician.token, witnessed).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let transfer = r.body["id"].as_i64().unwrap();
    let lincoln_tech = app.user("tech.lincoln", "pharmacy_technician", &[w.lincoln.id]);
    let r = app
        .post(
            &format!("/api/v1/transfers/{transfer}/receive"),
            &lincoln_tech.token,
            json!({"lines": []}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Destruction of expired stock in front of an authorised witness.
    let r = app
        .post(
            &format!("/api/v1/sites/{}/cd/destructions", w.fosse.id),
            &w.technician.token,
            json!({"location_id": w.fosse.cd_cabinet, "batch_id": w.batch, "quantity": "12.5",
                   "method": "denaturing kit", "witness": w.witness.as_witness()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["entry"]["entry_type"], "destruction");
    assert_eq!(r.body["entry"]["witness_id"], w.witness.id);
    assert_eq!(r.body["entry"]["author_id"], w.technician.id);
    assert_eq!(r.body["entry"]["quantity"], "-12.5");
    assert_eq!(r.body["entry"]["balance_after"], "787.5");
    assert_eq!(r.body["stock_balance_after"], "787.5");

    let p = page(&app, &w, w.fosse.id, &w.pharmacist.token).await;
    assert_eq!(p["entry_count"], 3);
    assert_eq!(p["balance"], "787.5");
    assert_eq!(p["drug"], "Methadone 1mg/ml oral solution sugar free");
    let page_id = p["id"].as_i64().unwrap();
    let list = entries(&app, w.fosse.id, page_id, &w.pharmacist.token).await;
    let summary: Vec<(String, String, String)> = list
        .iter()
        .map(|e| {
            (
                e["entry_type"].as_str().unwrap().into(),
                e["quantity"].as_str().unwrap().into(),
                e["balance_after"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("receipt".into(), "1000".into(), "1000".into()),
            ("transfer_out".into(), "-200".into(), "800".into()),
            ("destruction".into(), "-12.5".into(), "787.5".into()),
        ]
    );
    assert_eq!(list[0]["counterparty"], "Alliance Healthcare");
    assert_eq!(list[0]["counterparty_address"], "Nottingham NG2 3AA");
    assert_eq!(list[1]["counterparty"], "HMP LCI, CDCAB");
    assert_eq!(list[0]["prev_hash"], "0".repeat(64));
    assert_eq!(list[1]["prev_hash"], list[0]["hash"]);
    assert_eq!(list[2]["prev_hash"], list[1]["hash"]);
    assert_eq!(list[0]["late_entry"], false);
    // The register balance equals the stock on hand.
    assert_eq!(
        stock_of(&app, &w, w.fosse.id, &w.pharmacist.token).await,
        "787.5"
    );

    // Lincoln's own page starts with the transfer in.
    let lincoln_pharm = app.user("pharm.lincoln", "pharmacist", &[w.lincoln.id]);
    let lp = page(&app, &w, w.lincoln.id, &lincoln_pharm.token).await;
    let lincoln_entries = entries(
        &app,
        w.lincoln.id,
        lp["id"].as_i64().unwrap(),
        &lincoln_pharm.token,
    )
    .await;
    assert_eq!(lincoln_entries.len(), 1);
    assert_eq!(lincoln_entries[0]["entry_type"], "transfer_in");
    assert_eq!(lincoln_entries[0]["counterparty"], "HMP FWI, CDCAB");
    assert_eq!(lincoln_entries[0]["balance_after"], "200");

    // A correction is a new entry pointing at the one it corrects; the original is unchanged.
    let wrong = list[0]["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/sites/{}/cd/entries/{wrong}/corrections", w.fosse.id),
            &w.pharmacist.token,
            json!({"reason": "supplier address entered wrongly", "counterparty": "Alliance Healthcare",
                   "counterparty_address": "Nottingham NG2 3AB"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["entry"]["corrects_entry_id"], wrong);
    assert_eq!(r.body["entry"]["quantity"], "0");
    assert_eq!(r.body["entry"]["balance_after"], "787.5");
    assert_eq!(r.body["movement_id"], Value::Null);
    let after = entries(&app, w.fosse.id, page_id, &w.pharmacist.token).await;
    assert_eq!(after.len(), 4);
    assert_eq!(after[0], list[0]);

    // A correction of a quantity goes through the ledger; it may only undo part or all of the
    // entry it corrects, and taking stock down needs a second person.
    let correction = format!(
        "/api/v1/sites/{}/cd/entries/{wrong}/corrections",
        w.fosse.id
    );
    let body = json!({"reason": "receipt was 999.5 ml, not 1000", "quantity": "-0.5",
                      "location_id": w.fosse.cd_cabinet, "batch_id": w.batch});
    let r = app
        .post(&correction, &w.pharmacist.token, body.clone())
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(first_issue(&r.body), ("witness".into(), "required".into()));
    let mut body = body;
    body["witness"] = w.nurse.as_witness();
    for too_much in ["-1000.5", "0.5"] {
        let mut over = body.clone();
        over["quantity"] = json!(too_much);
        let r = app.post(&correction, &w.pharmacist.token, over).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(
            first_issue(&r.body),
            ("quantity".into(), "reverses_original".into())
        );
    }
    let r = app.post(&correction, &w.pharmacist.token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["entry"]["entry_type"], "correction");
    assert_eq!(r.body["entry"]["balance_after"], "787");
    assert!(r.body["movement_id"].is_i64());
    assert_eq!(
        stock_of(&app, &w, w.fosse.id, &w.pharmacist.token).await,
        "787"
    );

    let r = app
        .get(
            &format!("/api/v1/sites/{}/cd/pages/{page_id}/verify", w.fosse.id),
            &w.auditor.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "intact");
    assert_eq!(r.body["entries"], 5);
    assert_eq!(r.body["balance"], "787");
    let last = entries(&app, w.fosse.id, page_id, &w.pharmacist.token).await;
    assert_eq!(r.body["head_hash"], last[4]["hash"]);
    let r = verify(&app, &w, &w.auditor.token).await;
    assert_eq!(r.body["status"], "intact");
    assert_eq!(r.body["entries"], 5);
}

#[actix_web::test]
async fn destruction_needs_an_authorised_witness_who_authenticates() {
    let app = spawn().await;
    let w = setup(&app).await;
    receive(&app.state.db, &w, "100");
    let before = app.count("cd_register_entries");
    let other_site_witness = app.witness("witness.lincoln", "pharmacist", &[w.lincoln.id]);
    let path = format!("/api/v1/sites/{}/cd/destructions", w.fosse.id);
    let body = |witness: Value| {
        json!({"location_id": w.fosse.cd_cabinet, "batch_id": w.batch, "quantity": "10",
               "method": "denaturing kit", "witness": witness})
    };
    let cases = [
        (Value::Null, "required"),
        (w.technician.as_witness(), "different_person"),
        (w.nurse.as_witness(), "authorised_witness"),
        (other_site_witness.as_witness(), "eligible"),
        (json!({"assertion": "not-an-assertion"}), "authenticated"),
        (
            json!({"username": "pharmacist.witness", "password": "wrong password here"}),
            "authenticated",
        ),
        (json!({"username": "pharmacist.witness"}), "one_of"),
    ];
    for (witness, rule) in cases {
        let r = app
            .post(&path, &w.technician.token, body(witness.clone()))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{witness}: {}",
            r.body
        );
        assert_eq!(
            first_issue(&r.body),
            ("witness".into(), rule.into()),
            "{witness}"
        );
    }
    assert_eq!(app.count("cd_register_entries"), before);

    // The witness's own password is as good as their token.
    let r = app
        .post(
            &path,
            &w.technician.token,
            body(json!({"username": "pharmacist.witness", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["entry"]["witness_id"], w.witness.id);

    // Nurses do not destroy stock, and nobody destroys another prison's.
    let r = app
        .post(&path, &w.nurse.token, body(w.witness.as_witness()))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &format!("/api/v1/sites/{}/cd/destructions", w.lincoln.id),
            &w.technician.token,
            body(w.witness.as_witness()),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Register stock is never adjusted silently.
    let r = app
        .post(
            &format!("/api/v1/sites/{}/stock/adjustments", w.fosse.id),
            &w.technician.token,
            json!({"location_id": w.fosse.cd_cabinet, "batch_id": w.batch, "quantity": "-5",
                   "reason": "wastage", "reason_code": "spilt", "note": "dropped"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["code"], "cd_register_adjustment");
    assert_eq!(
        stock_of(&app, &w, w.fosse.id, &w.technician.token).await,
        "90"
    );
}

/// Runs SQL with the append-only triggers of a table out of the way, as someone with direct
/// database access could.
fn tamper(db: &Db, table: &str, sql: &str) {
    let mut c = db.get().unwrap();
    match db.backend() {
        Backend::Postgres => {
            diesel::sql_query(format!("ALTER TABLE {table} DISABLE TRIGGER USER"))
                .execute(&mut **c)
                .unwrap();
            c.batch_execute(sql).unwrap();
            diesel::sql_query(format!("ALTER TABLE {table} ENABLE TRIGGER USER"))
                .execute(&mut **c)
                .unwrap();
        }
        Backend::Sqlite => {
            diesel::sql_query(format!("DROP TRIGGER {table}_no_update"))
                .execute(&mut **c)
                .unwrap();
            c.batch_execute(sql).unwrap();
        }
    }
}

#[actix_web::test]
async fn the_database_refuses_changes_and_verify_names_a_tampered_entry() {
    let app = spawn().await;
    let w = setup(&app).await;
    receive(&app.state.db, &w, "500");
    let second = receive(&app.state.db, &w, "300");
    receive(&app.state.db, &w, "100");

    let mut c = app.conn();
    for sql in [
        format!("UPDATE cd_register_entries SET quantity = 1 WHERE id = {second}"),
        format!("DELETE FROM cd_register_entries WHERE id = {second}"),
        "UPDATE audit_events SET action = 'x'".to_string(),
        "DELETE FROM audit_events".to_string(),
        "UPDATE stock_movements SET quantity = 1".to_string(),
    ] {
        let err = diesel::sql_query(&sql).execute(&mut **c).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    drop(c);
    let r = verify(&app, &w, &w.auditor.token).await;
    assert_eq!(r.body["status"], "intact", "{}", r.body);

    // Someone with the database's keys edits the second entry's quantity.
    tamper(
        &app.state.db,
        "cd_register_entries",
        &format!("UPDATE cd_register_entries SET quantity = 30000, balance_after = 530000 WHERE id = {second}"),
    );
    let r = verify(&app, &w, &w.auditor.token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "broken");
    let broken = &r.body["pages"][0]["first_broken"];
    assert_eq!(broken["entry_id"], second);
    assert_eq!(broken["seq"], 2);
    assert_eq!(broken["problem"], "content does not match its hash");

    // The command-line check agrees, and fails.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prison-pharmacy"))
        .args(["cd", "verify", "--site", "FWI"])
        .env("DATABASE_URL", &app.url)
        .env("LOG_FORMAT", "json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "BROKEN at entry {second} (seq 2): content does not match its hash"
        )),
        "{stdout}"
    );

    // The export marks the row and the page.
    let (status, _, body) = app
        .download(
            &format!("/api/v1/sites/{}/cd/export?format=json", w.fosse.id),
            &w.auditor.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["verified"], false);
    let rows = doc["pages"][0]["entries"].as_array().unwrap();
    let flags: Vec<bool> = rows
        .iter()
        .map(|e| e["chain_verified"].as_bool().unwrap())
        .collect();
    // The tampered entry fails its hash; the next one's balance no longer follows from it.
    assert_eq!(flags, [true, false, false]);
    assert_eq!(
        doc["pages"][0]["verification"]["first_broken"]["entry_id"],
        second
    );
}

#[actix_web::test]
async fn verify_reports_a_deleted_entry() {
    let app = spawn().await;
    let w = setup(&app).await;
    receive(&app.state.db, &w, "500");
    let second = receive(&app.state.db, &w, "300");
    let third = receive(&app.state.db, &w, "100");
    let sql = format!("DELETE FROM cd_register_entries WHERE id = {second}");
    match app.state.db.backend() {
        Backend::Postgres => tamper(&app.state.db, "cd_register_entries", &sql),
        Backend::Sqlite => {
            let mut c = app.conn();
            diesel::sql_query("DROP TRIGGER cd_register_entries_no_delete")
                .execute(&mut **c)
                .unwrap();
            diesel::sql_query(&sql).execute(&mut **c).unwrap();
        }
    }
    let r = verify(&app, &w, &w.auditor.token).await;
    let broken = &r.body["pages"][0]["first_broken"];
    assert_eq!(broken["entry_id"], third, "{}", r.body);
    assert_eq!(
        broken["problem"],
        "entry missing or out of sequence before this one"
    );
}

#[actix_web::test]
async fn balance_checks_log_matches_and_open_investigations_for_discrepancies() {
    let app = spawn().await;
    let w = setup(&app).await;
    receive(&app.state.db, &w, "500");
    let page_id = page(&app, &w, w.fosse.id, &w.nurse.token).await["id"]
        .as_i64()
        .unwrap();
    let path = format!(
        "/api/v1/sites/{}/cd/pages/{page_id}/balance-checks",
        w.fosse.id
    );

    // One person alone cannot record a check.
    let r = app
        .post(&path, &w.nurse.token, json!({"counted_quantity": "500"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body), ("witness".into(), "required".into()));

    let r = app
        .post(
            &path,
            &w.nurse.token,
            json!({"counted_quantity": "500", "witness": w.technician.as_witness()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["outcome"], "match");
    assert_eq!(r.body["investigation_open"], false);
    assert_eq!(r.body["witness_id"], w.technician.id);

    let r = app
        .post(
            &path,
            &w.nurse.token,
            json!({"counted_quantity": "497.5", "witness": w.technician.as_witness(),
                                            "note": "bottle 3 low"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["outcome"], "discrepancy");
    assert_eq!(r.body["difference"], "-2.5");
    assert_eq!(r.body["investigation_open"], true);
    let check = r.body["id"].as_i64().unwrap();
    // Nothing was adjusted.
    assert_eq!(stock_of(&app, &w, w.fosse.id, &w.nurse.token).await, "500");
    assert_eq!(
        page(&app, &w, w.fosse.id, &w.nurse.token).await["open_investigations"],
        1
    );

    let r = app
        .get(
            &format!("/api/v1/sites/{}/cd/balance-checks", w.fosse.id),
            &w.auditor.token,
        )
        .await;
    let open: Vec<i64> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(open, [check]);

    let resolve = format!(
        "/api/v1/sites/{}/cd/balance-checks/{check}/resolution",
        w.fosse.id
    );
    let body = json!({"explanation": "measuring loss over 40 doses confirmed on recount",
                      "adjustment": {"location_id": w.fosse.cd_cabinet, "batch_id": w.batch, "quantity": "-2.5"}});
    let r = app.post(&resolve, &w.technician.token, body.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(&resolve, &w.pharmacist.token, json!({"explanation": ""}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body).0, "explanation");

    // Taking register stock down needs a second person, even for a pharmacist resolving a check.
    let r = app.post(&resolve, &w.pharmacist.token, body.clone()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(first_issue(&r.body), ("witness".into(), "required".into()));
    let mut body = body;
    body["witness"] = w.nurse.as_witness();
    let r = app.post(&resolve, &w.pharmacist.token, body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["investigation_open"], false);
    assert_eq!(r.body["resolution"]["resolved_by"], w.pharmacist.id);
    let entry_id = r.body["resolution"]["adjustment_entry_id"]
        .as_i64()
        .unwrap();
    let list = entries(&app, w.fosse.id, page_id, &w.pharmacist.token).await;
    let adj = list.iter().find(|e| e["id"] == entry_id).unwrap();
    assert_eq!(adj["entry_type"], "adjustment");
    assert_eq!(adj["quantity"], "-2.5");
    assert_eq!(adj["balance_after"], "497.5");
    assert_eq!(
        adj["reason"],
        "measuring loss over 40 doses confirmed on recount"
    );
    assert_eq!(
        stock_of(&app, &w, w.fosse.id, &w.nurse.token).await,
        "497.5"
    );

    let r = app.post(&resolve, &w.pharmacist.token, body).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "already_resolved");
    let r = app
        .get(
            &format!("/api/v1/sites/{}/cd/balance-checks", w.fosse.id),
            &w.auditor.token,
        )
        .await;
    assert_eq!(r.body["items"], json!([]));
}

#[actix_web::test]
async fn patient_returns_are_kept_apart_and_destroyed_with_a_second_person() {
    let app = spawn().await;
    let w = setup(&app).await;
    let path = format!("/api/v1/sites/{}/cd/patient-returns", w.fosse.id);
    let r = app
        .post(
            &path,
            &w.nurse.token,
            json!({"patient_identifier": "A123BC", "description": "Oramorph 10mg/5ml",
                                            "quantity": "40", "unit": "ml"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        first_issue(&r.body),
        ("patient_identifier".into(), "nomis_number".into())
    );
    assert_eq!(app.count("cd_patient_returns"), 0);

    let r = app
        .post(&path, &w.nurse.token, json!({"patient_identifier": "A1234BC", "description": "Oramorph 10mg/5ml",
                                            "quantity": "40", "unit": "ml", "note": "brought in on reception"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["destruction"], Value::Null);
    // Not stock, so not in the register.
    assert_eq!(app.count("cd_register_entries"), 0);

    let destroy = format!("{path}/{id}/destruction");
    let r = app
        .post(
            &destroy,
            &w.nurse.token,
            json!({"method": "denaturing kit"}),
        )
        .await;
    assert_eq!(first_issue(&r.body), ("witness".into(), "required".into()));
    let r = app
        .post(
            &destroy,
            &w.nurse.token,
            json!({"method": "denaturing kit", "witness": w.technician.as_witness()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["destruction"]["witness_id"], w.technician.id);
    assert_eq!(r.body["destruction"]["destroyed_by"], w.nurse.id);
    let r = app
        .post(
            &destroy,
            &w.nurse.token,
            json!({"method": "denaturing kit", "witness": w.technician.as_witness()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "already_destroyed");
    let r = app.get(&path, &w.auditor.token).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn auditors_export_the_register_and_the_audit_log_and_write_nothing() {
    let app = spawn().await;
    let w = setup(&app).await;
    receive(&app.state.db, &w, "1000");
    let r = app
        .post(
            &format!("/api/v1/sites/{}/cd/destructions", w.fosse.id),
            &w.technician.token,
            json!({"location_id": w.fosse.cd_cabinet, "batch_id": w.batch, "quantity": "25",
                   "method": "denaturing kit", "witness": w.witness.as_witness()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let export = format!("/api/v1/sites/{}/cd/export", w.fosse.id);

    let (status, content_type, body) = app.download(&export, &w.auditor.token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/csv"));
    let mut csv = csv::Reader::from_reader(body.as_slice());
    let headers = csv.headers().unwrap().clone();
    for heading in [
        "date_of_transaction",
        "received_from_or_supplied_to",
        "address",
        "patient_prison_number",
        "prescriber_or_authority",
        "collected_by",
        "identity_checked",
        "quantity_received",
        "quantity_supplied",
        "balance",
        "author",
        "witness",
        "prev_hash",
        "hash",
        "chain_verified",
    ] {
        assert!(headers.iter().any(|h| h == heading), "{heading}");
    }
    let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    let col = |row: &csv::StringRecord, name: &str| {
        row[headers.iter().position(|h| h == name).unwrap()].to_string()
    };
    assert_eq!(
        col(&rows[0], "received_from_or_supplied_to"),
        "Alliance Healthcare"
    );
    assert_eq!(col(&rows[0], "quantity_received"), "1000");
    assert_eq!(col(&rows[1], "quantity_supplied"), "25");
    assert_eq!(col(&rows[1], "balance"), "975");
    assert_eq!(col(&rows[1], "author"), "technician");
    assert_eq!(col(&rows[1], "witness"), "pharmacist.witness");
    assert_eq!(col(&rows[1], "chain_verified"), "true");

    let (status, content_type, body) = app
        .download(&format!("{export}?format=json"), &w.auditor.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["verified"], true);
    assert_eq!(doc["entries"], 2);
    assert_eq!(doc["pages"][0]["verification"]["status"], "intact");

    let (status, content_type, body) = app
        .download(&format!("{export}?format=pdf"), &w.auditor.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/pdf");
    assert_pdf_opens(&body);
    let text = pdf_extract::extract_text_from_mem(&body).unwrap();
    assert!(text.contains("Methadone 1mg/ml oral solution sugar free"));
    assert!(text.contains("Chain verified intact: 2 entries shown"));

    // A range of days reads only the entries within it, on either backend's reader.
    let today = chrono::Utc::now().date_naive();
    let (_, _, body) = app
        .download(
            &format!("{export}?from={today}&to={today}"),
            &w.auditor.token,
        )
        .await;
    let ranged: Vec<_> = csv::Reader::from_reader(body.as_slice())
        .records()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(ranged.len(), 2);
    assert!(ranged.iter().all(|r| col(r, "chain_verified") == "true"));
    let (_, _, body) = app
        .download(
            &format!("{export}?from={}", today.succ_opt().unwrap()),
            &w.auditor.token,
        )
        .await;
    assert_eq!(
        csv::Reader::from_reader(body.as_slice()).records().count(),
        0
    );

    // A date range with nothing in it still exports, with no rows.
    let (_, _, body) = app
        .download(
            &format!("{export}?from=2020-01-01&to=2020-01-31"),
            &w.auditor.token,
        )
        .await;
    assert_eq!(
        csv::Reader::from_reader(body.as_slice()).records().count(),
        0
    );
    let r = app
        .get(
            &format!("{export}?from=2026-02-01&to=2026-01-01"),
            &w.auditor.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body).0, "to");
    let r = app
        .get(&format!("{export}?format=xml"), &w.auditor.token)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body).0, "format");

    // Another prison's auditor sees nothing; a technician may not export; auditors write nothing.
    let (status, _, _) = app.download(&export, &w.lincoln_auditor.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = app.download(&export, &w.technician.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let before = app.count("cd_register_entries");
    let r = app
        .post(
            &format!("/api/v1/sites/{}/cd/destructions", w.fosse.id),
            &w.auditor.token,
            json!({"location_id": w.fosse.cd_cabinet, "batch_id": w.batch, "quantity": "1",
                   "method": "x", "witness": w.witness.as_witness()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let page_id = page(&app, &w, w.fosse.id, &w.auditor.token).await["id"]
        .as_i64()
        .unwrap();
    let writes = [
        (
            format!(
                "/api/v1/sites/{}/cd/pages/{page_id}/balance-checks",
                w.fosse.id
            ),
            json!({"counted_quantity": "975", "witness": w.witness.as_witness()}),
        ),
        (
            format!("/api/v1/sites/{}/cd/patient-returns", w.fosse.id),
            json!({"patient_identifier": "A1234BC", "description": "Oramorph", "quantity": "10", "unit": "ml"}),
        ),
        (
            format!("/api/v1/sites/{}/cd/entries/1/corrections", w.fosse.id),
            json!({"reason": "auditor tries to correct"}),
        ),
    ];
    for (path, body) in writes {
        let r = app.post(&path, &w.auditor.token, body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(app.count("cd_register_entries"), before);

    // The audit log as CSV.
    let auditor_admin = app.user("auditor2", "auditor", &[w.fosse.id]);
    let (status, content_type, body) = app
        .download(
            &format!("/api/v1/audit/export?site_id={}", w.fosse.id),
            &auditor_admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/csv"));
    let mut csv = csv::Reader::from_reader(body.as_slice());
    assert_eq!(
        csv.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "occurred_at",
            "user_id",
            "site_id",
            "action",
            "entity",
            "entity_id",
            "request_id",
            "detail"
        ]
    );
    let actions: Vec<String> = csv.records().map(|r| r.unwrap()[4].to_string()).collect();
    // The auditor wrote nothing; the service's own checkpoint at the first export is recorded
    // as the service's, with no user.
    assert_eq!(
        actions,
        ["stock.receipt", "stock.destruction", "cd.checkpoint.export"]
    );
    let system = csv::Reader::from_reader(body.as_slice())
        .records()
        .map(|r| r.unwrap())
        .find(|r| &r[4] == "cd.checkpoint.export")
        .unwrap();
    assert_eq!(&system[2], "");
}

/// A PDF opens when its cross-reference table points at every object it lists.
fn assert_pdf_opens(bytes: &[u8]) {
    let text: String = bytes
        .iter()
        .map(|&b| if b.is_ascii() { b as char } else { '?' })
        .collect();
    assert!(text.starts_with("%PDF-1.7"));
    assert!(text.ends_with("%%EOF\n"));
    let start: usize = text
        .rsplit("startxref\n")
        .next()
        .and_then(|t| t.lines().next())
        .and_then(|n| n.parse().ok())
        .expect("startxref");
    assert!(text[start..].starts_with("xref\n0 "));
    let offsets: Vec<usize> = text[start..]
        .lines()
        .skip(3)
        .take_while(|l| !l.starts_with("trailer"))
        .map(|l| l[..10].parse().unwrap())
        .collect();
    assert!(!offsets.is_empty());
    for (i, offset) in offsets.iter().enumerate() {
        assert!(
            text[*offset..].starts_with(&format!("{} 0 obj", i + 1)),
            "object {} is not where the table says",
            i + 1
        );
    }
    assert!(text.contains("/Type /Catalog"));
}

#[actix_web::test]
async fn demo_methadone_received_given_transferred_and_destroyed() {
    let app = spawn().await;
    app.load_demo();
    let token = |name: &str| app.token_of(name);
    let (technician, pharmacist, nurse, auditor) = (
        token("technician"),
        token("pharmacist"),
        token("nurse"),
        token("auditor"),
    );
    let (site, locations) = app.home_site(&technician).await;
    let (store, cabinet, hatch) = (
        locations["PHARM"],
        locations["CDCAB"],
        locations["HB1-HATCH"],
    );

    // Received: an order from the reorder report, approved, sent with its FP10CDF, received into the CD cabinet.
    let raised = app
        .post(
            &format!("/api/v1/sites/{site}/purchase-orders/from-reorder-report"),
            &technician,
            json!({}),
        )
        .await;
    let order = raised.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["lines"][0]["product_name"] == "Methadone 1mg/ml oral solution sugar free")
        .unwrap()
        .clone();
    let (order_id, line) = (
        order["id"].as_i64().unwrap(),
        order["lines"][0]["id"].as_i64().unwrap(),
    );
    let methadone = order["lines"][0]["product_id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/purchase-orders/{order_id}/approve"),
        &pharmacist,
        json!({}),
    )
    .await;
    app.call(
        Method::PUT,
        &format!("/api/v1/purchase-orders/{order_id}/lines/{line}/requisition"),
        Some(&technician),
        Some(json!({"fp10cdf_reference": "FP10CDF-77"})),
    )
    .await;
    app.post(
        &format!("/api/v1/purchase-orders/{order_id}/send"),
        &technician,
        json!({}),
    )
    .await;
    let r = app
        .post(
            &format!("/api/v1/purchase-orders/{order_id}/receipts"),
            &technician,
            json!({"location_id": cabinet, "lines": [{"order_line_id": line, "batch_number": "MTH9001",
                                                       "expiry_date": "2028-03-31", "quantity": "5000"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let batch = r.body["lines"][0]["batch_id"].as_i64().unwrap();

    // Administered at the morning round, with a witness.
    let round = app
        .get(
            &format!(
                "/api/v1/sites/{site}/rounds?date={}&slot=morning&location_id={hatch}",
                chrono::Utc::now().date_naive()
            ),
            &nurse,
        )
        .await;
    let dose = round.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["product_id"] == methadone)
        .unwrap()
        .clone();
    let r = app
        .post(
            &format!("/api/v1/sites/{site}/doses"),
            &nurse,
            json!({"prescription_id": dose["prescription_id"], "date": chrono::Utc::now().date_naive(),
                   "slot": "morning", "outcome": "given", "location_id": hatch, "witness": {"username": "nurse2", "password": common::DEMO_PASSWORD}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Transferred to Lincoln.
    let lincoln = {
        let mut c = app.conn();
        prison_pharmacy::sites::queries::by_code(&mut c, "LCI")
            .unwrap()
            .unwrap()
    };
    let lincoln_cabinet = {
        let mut c = app.conn();
        prison_pharmacy::sites::queries::location_by_code(&mut c, lincoln.id, "CDCAB")
            .unwrap()
            .unwrap()
            .id
    };
    let r = app
        .post(
            &format!("/api/v1/sites/{site}/transfers"),
            &technician,
            json!({"from_location_id": cabinet, "to_location_id": lincoln_cabinet,
                   "lines": [{"batch_id": batch, "quantity": "1000"}],
                   "witness": {"username": "pharmacist", "password": common::DEMO_PASSWORD}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Destroyed in front of the authorised witness, who signs in for it.
    let r = app
        .post(
            &format!("/api/v1/sites/{site}/cd/destructions"),
            &pharmacist,
            json!({"location_id": store, "batch_id": batch, "quantity": "0.001", "method": "x",
                   "witness": {"username": "nurse2", "password": common::DEMO_PASSWORD}}),
        )
        .await;
    assert_eq!(
        first_issue(&r.body),
        ("witness".into(), "authorised_witness".into())
    );
    let old_batch = {
        let mut c = app.conn();
        prison_pharmacy::formulary::queries::batches_of(&mut c, methadone).unwrap()[0].id
    };
    let r = app
        .post(
            &format!("/api/v1/sites/{site}/cd/destructions"),
            &pharmacist,
            json!({"location_id": cabinet, "batch_id": old_batch, "quantity": "100", "method": "denaturing kit",
                   "witness": {"username": "pharmacist.witness", "password": common::DEMO_PASSWORD}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // The page's running balance is the stock on hand: 2500 opening + 5000 - 60 - 1000 - 100.
    let stock = app
        .get(
            &format!("/api/v1/sites/{site}/stock?product_id={methadone}"),
            &pharmacist,
        )
        .await;
    assert_eq!(common::total_quantity(&stock.body["items"]), "6340");
    let pages = app
        .get(&format!("/api/v1/sites/{site}/cd/pages"), &auditor)
        .await;
    // The site view sums the cabinets: the pharmacy's CD cabinet and the hatch the round drew from.
    let total = pages.body["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["product_id"] == methadone)
        .unwrap()
        .clone();
    assert_eq!(
        (total["balance"].clone(), total["cabinets"].clone()),
        (json!("6340"), json!(2))
    );
    let page = pages.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product_id"] == methadone && p["location_id"] == cabinet)
        .unwrap()
        .clone();
    assert_eq!(page["balance"], "5900");
    let page_id = page["id"].as_i64().unwrap();
    let entries = app
        .get(
            &format!("/api/v1/sites/{site}/cd/pages/{page_id}/entries"),
            &auditor,
        )
        .await;
    let types: Vec<&str> = entries.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "receipt",
            "transfer_out",
            "receipt",
            "transfer_out",
            "destruction"
        ]
    );
    assert_eq!(entries.body["items"][4]["balance_after"], "5900");
    let v = app
        .get(
            &format!("/api/v1/sites/{site}/cd/pages/{page_id}/verify"),
            &auditor,
        )
        .await;
    assert_eq!(v.body["status"], "intact");
    assert_eq!(v.body["entries"], 5);
    assert_eq!(
        v.body["ledger"],
        json!({"agrees": true, "register_balance": "5900", "stock_on_hand": "5900",
               "unmatched_movements": 0, "unmatched_entries": 0})
    );

    let (status, _, csv_bytes) = app
        .download(
            &format!("/api/v1/sites/{site}/cd/export?product_id={methadone}"),
            &auditor,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(csv_bytes.as_slice())
        .records()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(rows.len(), 7);
    assert!(rows.iter().all(|r| &r[29] == "true"));
    let (status, content_type, pdf) = app
        .download(
            &format!("/api/v1/sites/{site}/cd/export?format=pdf"),
            &auditor,
        )
        .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/pdf")
    );
    assert_pdf_opens(&pdf);
    // The whole site's register as JSON: one object per page, every chain verified.
    let (status, _, json_bytes) = app
        .download(
            &format!("/api/v1/sites/{site}/cd/export?format=json"),
            &auditor,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&json_bytes).unwrap();
    let pages = doc["pages"].as_array().unwrap();
    assert!(pages.len() >= 2, "{}", pages.len());
    assert!(pages
        .iter()
        .all(|p| p["verification"]["status"] == "intact"));
    assert_eq!(doc["verified"], true);

    let mut c = app.conn();
    let err = diesel::sql_query("UPDATE cd_register_entries SET quantity = 0")
        .execute(&mut **c)
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[actix_web::test]
async fn verifying_in_parallel_parts_finds_what_a_single_walk_finds() {
    use prison_pharmacy::cd_register::{queries, verify};
    let app = spawn().await;
    let w = setup(&app).await;
    let ids: Vec<i64> = (0..30)
        .map(|i| receive(&app.state.db, &w, &format!("{}", i + 1)))
        .collect();
    let db = app.state.db.clone();
    let compare = |db: &Db| {
        let mut c = db.get().unwrap();
        let page = queries::cabinet_page(&mut c, w.fosse.cd_cabinet, w.methadone)
            .unwrap()
            .unwrap();
        let single = verify::verify_page(db, &page).unwrap();
        for parts in [2, 3, 4, 7] {
            let parallel = verify::verify_page_in_parts(db, &page, parts).unwrap();
            assert_eq!(parallel.status, single.status, "{parts} parts");
            assert_eq!(parallel.first_broken, single.first_broken, "{parts} parts");
            if single.first_broken.is_none() {
                assert_eq!(parallel.entries, single.entries);
                assert_eq!(parallel.head_hash, single.head_hash);
                assert_eq!(parallel.balance, single.balance);
            }
        }
        single
    };
    let intact = compare(&db);
    assert_eq!((intact.status.as_str(), intact.entries), ("intact", 30));
    tamper(
        &db,
        "cd_register_entries",
        &format!(
            "UPDATE cd_register_entries SET counterparty = 'Someone else' WHERE id = {}",
            ids[19]
        ),
    );
    let broken = compare(&db);
    assert_eq!(broken.first_broken.unwrap().entry_id, Some(ids[19]));
}

#[actix_web::test]
async fn an_entry_added_behind_the_page_head_is_found() {
    use prison_pharmacy::cd_register::{queries, verify};
    let app = spawn().await;
    let w = setup(&app).await;
    let last = receive(&app.state.db, &w, "100");
    let mut c = app.conn();
    // Someone with the database switches off the trigger that moves the page head (the test
    // connects as the owner), then adds a forged entry chained correctly to the last one.
    {
        use diesel::connection::SimpleConnection;
        let off = match &**c {
            prison_pharmacy::db::AnyConnection::Postgresql(_) => {
                "ALTER TABLE cd_register_entries DISABLE TRIGGER cd_register_entries_advance_page"
            }
            prison_pharmacy::db::AnyConnection::Sqlite(_) => {
                "DROP TRIGGER cd_register_entries_advance_page"
            }
        };
        c.batch_execute(off).unwrap();
    }
    let mut forged = queries::entry(&mut c, last).unwrap().unwrap();
    forged.prev_hash = forged.hash.clone();
    forged.seq += 1;
    forged.quantity = -100_000;
    forged.balance_after = 0;
    let page = queries::cabinet_page(&mut c, w.fosse.cd_cabinet, w.methadone)
        .unwrap()
        .unwrap();
    forged.hash = forged.content(page.heading()).hash(&forged.prev_hash);
    queries::insert_entry(&mut c, &forged).unwrap();
    // The page row still says one entry.
    let page = queries::page(&mut c, page.id).unwrap().unwrap();
    assert_eq!(page.entry_count, 1);
    for result in [
        verify::verify_page(&app.state.db, &page).unwrap(),
        verify::verify_page_in_parts(&app.state.db, &page, 2).unwrap(),
    ] {
        assert_eq!(result.status.as_str(), "broken");
        let broken = result.first_broken.unwrap();
        assert_eq!((broken.entry_id, broken.seq), (None, 2));
        assert!(
            broken.problem.starts_with("the page records 1 entries"),
            "{}",
            broken.problem
        );
    }
}

#[actix_web::test]
async fn the_database_takes_an_entry_only_as_the_next_link_of_its_page() {
    use prison_pharmacy::cd_register::queries;
    let app = spawn().await;
    let w = setup(&app).await;
    let last = receive(&app.state.db, &w, "100");
    let mut c = app.conn();
    let page = queries::cabinet_page(&mut c, w.fosse.cd_cabinet, w.methadone)
        .unwrap()
        .unwrap();
    let next = |seq: i64, prev: &str| {
        let mut e = queries::entry(&mut app.conn(), last).unwrap().unwrap();
        e.seq = seq;
        e.prev_hash = prev.to_string();
        e.hash = e.content(page.heading()).hash(&e.prev_hash);
        e
    };
    let head = page.head_hash.clone();
    // A gap in the sequence, a link to anything but the head, and a second copy of the head.
    for forged in [
        next(page.entry_count + 2, &head),
        next(
            page.entry_count + 1,
            prison_pharmacy::domain::register::GENESIS_HASH,
        ),
        next(page.entry_count, &head),
    ] {
        assert!(queries::insert_entry(&mut c, &forged).is_err());
    }
    let after = queries::page(&mut c, page.id).unwrap().unwrap();
    assert_eq!(
        (after.entry_count, after.balance, after.head_hash),
        (page.entry_count, page.balance, head.clone())
    );
    // The next link is taken, and the page head moves with it in the same statement.
    let link = next(page.entry_count + 1, &head);
    queries::insert_entry(&mut c, &link).unwrap();
    let after = queries::page(&mut c, page.id).unwrap().unwrap();
    assert_eq!(
        (after.entry_count, after.balance, after.head_hash),
        (page.entry_count + 1, link.balance_after, link.hash)
    );
}

/// Rewrites the second entry of a page and recomputes every later hash and the page head, as
/// someone with the database and the source code could.
fn rewrite_and_rehash(db: &Db, page_id: i64, seq: i64, quantity: i64) {
    use prison_pharmacy::cd_register::queries;
    let mut c = db.get().unwrap();
    let page = queries::page(&mut c, page_id).unwrap().unwrap();
    let mut rows = queries::entries_after(&mut c, page_id, 0, 1000).unwrap();
    let (mut prev, mut balance) = (
        prison_pharmacy::domain::register::GENESIS_HASH.to_string(),
        0,
    );
    let mut sql = Vec::new();
    for r in rows.iter_mut() {
        if r.seq == seq {
            r.quantity = quantity;
        }
        balance += r.quantity;
        r.balance_after = balance;
        r.prev_hash = prev.clone();
        r.hash = r.content(page.heading()).hash(&r.prev_hash);
        prev = r.hash.clone();
        sql.push(format!(
            "UPDATE cd_register_entries SET quantity = {}, balance_after = {}, prev_hash = '{}', hash = '{}' WHERE id = {}",
            r.quantity, r.balance_after, r.prev_hash, r.hash, r.id
        ));
    }
    sql.push(format!(
        "UPDATE cd_register_pages SET balance = {balance}, head_hash = '{prev}' WHERE id = {page_id}"
    ));
    drop(c);
    tamper(db, "cd_register_entries", &sql.join(";\n"));
}

#[actix_web::test]
async fn a_page_rewritten_and_rehashed_is_caught_by_the_ledger_and_signed_checkpoints() {
    let app = spawn().await;
    let w = setup(&app).await;
    receive(&app.state.db, &w, "100");
    receive(&app.state.db, &w, "50");
    let site = w.fosse.id;
    // A pharmacist has checkpoints signed; the auditor keeps the file outside the service.
    let r = app
        .post(
            &format!("/api/v1/sites/{site}/cd/checkpoints"),
            &w.auditor.token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &format!("/api/v1/sites/{site}/cd/checkpoints"),
            &w.pharmacist.token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let requested: i64 = {
        use prison_pharmacy::db::schema::audit_events as a;
        a::table
            .filter(a::action.eq("cd.checkpoint.request"))
            .filter(a::user_id.eq(w.pharmacist.id))
            .count()
            .get_result(&mut **app.conn())
            .unwrap()
    };
    assert_eq!(
        requested, 1,
        "signing on request is audited to the pharmacist"
    );
    let kept = app
        .get(
            &format!("/api/v1/sites/{site}/cd/checkpoints"),
            &w.auditor.token,
        )
        .await
        .body;
    assert_eq!(kept["algorithm"], "Ed25519");
    assert_eq!(kept["checkpoints"].as_array().unwrap().len(), 1);
    assert_eq!(kept["checkpoints"][0]["entry_count"], 2);
    assert_eq!(kept["checkpoints"][0]["balance"], "150");
    let page_id = kept["checkpoints"][0]["page_id"].as_i64().unwrap();
    let verify = format!("/api/v1/sites/{site}/cd/verify");
    let r = app.get(&verify, &w.auditor.token).await;
    assert_eq!(r.body["status"], "intact", "{}", r.body);
    assert_eq!(r.body["pages"][0]["checkpoints_checked"], 1);

    // The receipt of 50 becomes 40: every hash after it and the page head recomputed.
    rewrite_and_rehash(&app.state.db, page_id, 2, 40_000);
    let r = app.get(&verify, &w.auditor.token).await;
    assert_eq!(r.body["status"], "broken", "{}", r.body);
    let page = &r.body["pages"][0];
    assert_eq!(
        page["first_broken"],
        Value::Null,
        "the chain itself is consistent"
    );
    assert_eq!(
        page["ledger"],
        json!({"agrees": false, "register_balance": "140", "stock_on_hand": "150",
               "unmatched_movements": 1, "unmatched_entries": 1})
    );
    assert_eq!(page["checkpoint_failures"][0]["entry_count"], 2);
    // The auditor's own file finds the rewrite even if the stored checkpoints were removed.
    let r = app.post(&verify, &w.auditor.token, kept.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "broken");
    let failure = r.body["pages"][0]["checkpoint_failures"][0]["problem"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(failure.contains("rewritten"), "{failure}");
    // A forged checkpoint does not verify.
    let mut forged = kept.clone();
    forged["checkpoints"][0]["balance"] = json!("140");
    let r = app.post(&verify, &w.auditor.token, forged).await;
    assert!(r.body["pages"][0]["checkpoint_failures"][0]["problem"]
        .as_str()
        .unwrap()
        .contains("signature"));
}

#[actix_web::test]
async fn the_database_refuses_insert_or_replace_and_the_service_role_cannot_disable_triggers() {
    let app = spawn().await;
    let w = setup(&app).await;
    let entry = receive(&app.state.db, &w, "100");
    let mut c = app.conn();
    match app.state.db.backend() {
        Backend::Sqlite => {
            for sql in [
                format!("INSERT OR REPLACE INTO cd_register_entries SELECT * FROM cd_register_entries WHERE id = {entry}"),
                format!("REPLACE INTO stock_movements SELECT * FROM stock_movements WHERE id = (SELECT movement_id FROM cd_register_entries WHERE id = {entry})"),
                format!("INSERT INTO cd_register_entries SELECT * FROM cd_register_entries WHERE id = {entry} \
                         ON CONFLICT(id) DO UPDATE SET quantity = 0"),
            ] {
                let err = diesel::sql_query(&sql).execute(&mut **c).unwrap_err();
                assert!(err.to_string().contains("append-only"), "{sql}: {err}");
            }
        }
        Backend::Postgres => {
            // The service's own role: a member of pharmacy_app, owner of nothing.
            let role = format!("pp_service_{}", std::process::id());
            let _ = diesel::sql_query(format!("CREATE ROLE {role} LOGIN IN ROLE pharmacy_app"))
                .execute(&mut **c);
            let url = std::env::var("TEST_DATABASE_URL").unwrap();
            let db_name: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
                "current_database()",
            ))
            .get_result(&mut **c)
            .unwrap();
            let (server, _) = url.rsplit_once('/').unwrap();
            let service_url = format!("{}/{db_name}", server.replace("postgres@", &format!("{role}@")));
            let mut svc = prison_pharmacy::db::establish(&service_url).unwrap();
            for sql in [
                "ALTER TABLE cd_register_entries DISABLE TRIGGER USER".to_string(),
                "TRUNCATE cd_register_entries CASCADE".to_string(),
                format!("UPDATE cd_register_entries SET quantity = 0 WHERE id = {entry}"),
                "DELETE FROM stock_movements WHERE id > 0".to_string(),
            ] {
                let err = diesel::sql_query(&sql).execute(&mut svc).unwrap_err();
                let text = err.to_string();
                assert!(
                    text.contains("must be owner") || text.contains("permission denied"),
                    "{sql}: {text}"
                );
            }
            // It may still read and append.
            let n: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "(SELECT COUNT(*) FROM cd_register_entries)",
            ))
            .get_result(&mut svc)
            .unwrap();
            assert_eq!(n, 1);
        }
    }
}

#[actix_web::test]
async fn tracking_stays_on_and_a_page_keeps_its_heading_after_a_rename() {
    let app = spawn().await;
    let w = setup(&app).await;
    receive(&app.state.db, &w, "100");
    let product = format!("/api/v1/formulary/products/{}", w.methadone);
    let r = app
        .call(
            Method::PATCH,
            &product,
            Some(&w.pharmacist.token),
            Some(json!({"cd_register": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["code"], "cd_register_in_use");
    let r = app
        .call(
            Method::PATCH,
            &product,
            Some(&w.pharmacist.token),
            Some(json!({"name": "Methadone (renamed)"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = page(&app, &w, w.fosse.id, &w.auditor.token).await;
    assert_eq!(p["drug"], "Methadone 1mg/ml oral solution sugar free");
    let r = verify(&app, &w, &w.auditor.token).await;
    assert_eq!(r.body["status"], "intact", "{}", r.body);
    // Editing the heading in the database breaks the chain.
    tamper(
        &app.state.db,
        "cd_register_entries",
        "UPDATE cd_register_pages SET drug = 'Something else'",
    );
    let r = verify(&app, &w, &w.auditor.token).await;
    assert_eq!(r.body["pages"][0]["first_broken"]["seq"], 1, "{}", r.body);
}

#[actix_web::test]
async fn times_are_bounded_and_every_stored_entry_rehashes_to_its_hash() {
    use prison_pharmacy::cd_register::queries;
    let app = spawn().await;
    let w = setup(&app).await;
    let actor = Actor {
        user_id: w.technician.id,
        request_id: "t".into(),
    };
    let mut c = app.conn();
    let now = chrono::Utc::now().naive_utc();
    let post = |c: &mut prison_pharmacy::db::AnyConnection, at: chrono::NaiveDateTime| {
        let mut p = Posting::new(
            w.fosse.id,
            w.fosse.cd_cabinet,
            w.batch,
            "10".parse().unwrap(),
            MovementReason::Receipt,
        );
        p.occurred_at = Some(at);
        ledger::post(c, &actor, &p)
    };
    let leap = (now - chrono::Duration::hours(1))
        .date()
        .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
        .unwrap();
    let rule = |e: prison_pharmacy::error::AppError| match e {
        prison_pharmacy::error::AppError::Validation(issues) => {
            (issues[0].field.clone(), issues[0].rule.clone())
        }
        other => panic!("{other}"),
    };
    assert_eq!(
        rule(post(&mut c, leap).unwrap_err()),
        ("occurred_at".into(), "leap_second".into())
    );
    assert_eq!(
        rule(post(&mut c, now + chrono::Duration::minutes(10)).unwrap_err()),
        ("occurred_at".into(), "not_future".into())
    );
    // Sub-microsecond digits are dropped before storing and hashing, on both backends.
    let odd = (now - chrono::Duration::days(1))
        .date()
        .and_hms_nano_opt(7, 8, 9, 123_456_789)
        .unwrap();
    post(&mut c, odd).unwrap();
    post(&mut c, now - chrono::Duration::days(3)).unwrap();
    let page = queries::cabinet_page(&mut c, w.fosse.cd_cabinet, w.methadone)
        .unwrap()
        .unwrap();
    let rows = queries::entries_after(&mut c, page.id, 0, 100).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].occurred_at.and_utc().timestamp_subsec_nanos(),
        123_456_000
    );
    for r in &rows {
        assert_eq!(r.content(page.heading()).hash(&r.prev_hash), r.hash);
    }
}

#[actix_web::test]
async fn cabinets_keep_their_own_pages_and_balances_stay_in_range() {
    let app = spawn().await;
    let w = setup(&app).await;
    receive(&app.state.db, &w, "100");
    let moves = format!("/api/v1/sites/{}/cd/cabinet-transfers", w.fosse.id);
    let body = json!({"from_location_id": w.fosse.cd_cabinet, "to_location_id": w.fosse.hatch,
                      "batch_id": w.batch, "quantity": "30"});
    let r = app.post(&moves, &w.technician.token, body.clone()).await;
    assert_eq!(first_issue(&r.body), ("witness".into(), "required".into()));
    let mut witnessed = body.clone();
    witnessed["witness"] = w.nurse.as_witness();
    let r = app.post(&moves, &w.technician.token, witnessed).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (
            r.body["supply"]["quantity"].clone(),
            r.body["supply"]["counterparty"].clone()
        ),
        (json!("-30"), json!("HB1-HATCH (HB1-HATCH)"))
    );
    assert_eq!(
        (
            r.body["receipt"]["quantity"].clone(),
            r.body["receipt"]["counterparty"].clone()
        ),
        (json!("30"), json!("CDCAB (CDCAB)"))
    );
    let pages = app
        .get(
            &format!("/api/v1/sites/{}/cd/pages", w.fosse.id),
            &w.auditor.token,
        )
        .await;
    let balances: Vec<(Value, Value)> = pages.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["location_id"].clone(), p["balance"].clone()))
        .collect();
    assert_eq!(
        balances,
        [
            (json!(w.fosse.cd_cabinet), json!("70")),
            (json!(w.fosse.hatch), json!("30"))
        ]
    );
    assert_eq!(pages.body["totals"][0]["balance"], "100");
    // Register stock never sits outside a cabinet.
    let mut p = Posting::new(
        w.fosse.id,
        w.fosse.store,
        w.batch,
        "1".parse().unwrap(),
        MovementReason::Receipt,
    );
    let actor = Actor {
        user_id: w.technician.id,
        request_id: "t".into(),
    };
    let err = ledger::post(&mut app.conn(), &actor, &p).unwrap_err();
    assert!(err.to_string().contains("cd_cabinet_required"), "{err}");
    // No number of receipts pushes a balance past what both backends hold.
    p.location_id = w.fosse.cd_cabinet;
    p.quantity = "1000000000000".parse().unwrap();
    let mut refused = None;
    for _ in 0..3 {
        if let Err(e) = ledger::post(&mut app.conn(), &actor, &p) {
            refused = Some(e.to_string());
            break;
        }
    }
    assert!(refused.unwrap().contains("quantity_range"));
    let r = verify(&app, &w, &w.auditor.token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "intact", "{}", r.body);
}

#[actix_web::test]
async fn exported_cells_cannot_run_as_spreadsheet_formulas() {
    let app = spawn().await;
    let w = setup(&app).await;
    let mut c = app.conn();
    let actor = Actor {
        user_id: w.technician.id,
        request_id: "t".into(),
    };
    let mut p = Posting::new(
        w.fosse.id,
        w.fosse.cd_cabinet,
        w.batch,
        "5".parse().unwrap(),
        MovementReason::Receipt,
    );
    p.register.counterparty = Some("=HYPERLINK(\"http://x\",\"y\")".into());
    p.register.counterparty_address = Some("@SUM(A1:A2)".into());
    ledger::post(&mut c, &actor, &p).unwrap();
    drop(c);
    let (status, _, bytes) = app
        .download(
            &format!("/api/v1/sites/{}/cd/export", w.fosse.id),
            &w.auditor.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(bytes.as_slice())
        .records()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(&rows[0][11], "'=HYPERLINK(\"http://x\",\"y\")");
    assert_eq!(&rows[0][12], "'@SUM(A1:A2)");
}

#[actix_web::test]
async fn a_stocktake_of_register_stock_is_not_approved_by_its_counter() {
    let app = spawn().await;
    let w = setup(&app).await;
    receive(&app.state.db, &w, "100");
    let other = app.user("pharmacist.two", "pharmacist", &[w.fosse.id]);
    let r = app
        .post(
            &format!("/api/v1/sites/{}/stocktakes", w.fosse.id),
            &w.pharmacist.token,
            json!({"location_id": w.fosse.cd_cabinet}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/stocktakes/{id}/counts"),
            &w.pharmacist.token,
            json!({"counts": [{"batch_id": w.batch, "counted_quantity": "97"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let approve = format!("/api/v1/stocktakes/{id}/approve");
    let r = app.post(&approve, &w.pharmacist.token, json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(
        first_issue(&r.body),
        ("witness".into(), "approver_not_counter".into())
    );
    assert_eq!(
        stock_of(&app, &w, w.fosse.id, &w.auditor.token).await,
        "100"
    );
    let r = app.post(&approve, &other.token, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = page(&app, &w, w.fosse.id, &w.auditor.token).await;
    let list = entries(
        &app,
        w.fosse.id,
        p["id"].as_i64().unwrap(),
        &w.auditor.token,
    )
    .await;
    let last = list.last().unwrap();
    assert_eq!(
        (
            &last["entry_type"],
            &last["quantity"],
            &last["author_id"],
            &last["witness_id"]
        ),
        (
            &json!("stocktake_variance"),
            &json!("-3"),
            &json!(other.id),
            &json!(w.pharmacist.id)
        )
    );
}

#[actix_web::test]
async fn switching_register_tracking_on_brings_cabinet_stock_forward_with_a_witness() {
    let app = spawn().await;
    let w = setup(&app).await;
    let r = app
        .post(
            "/api/v1/formulary/products",
            &w.pharmacist.token,
            json!({"dmd_type": "vmp", "name": "Tramadol 50mg capsules", "form": "capsule",
                   "strength": "50 mg", "unit": "capsule", "pack_size": "100", "ingredient": "tramadol",
                   "cd_schedule": "3", "dose_unit": "mg", "therapeutic_class": "opioid analgesic"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["cd_register"], false);
    let tramadol = r.body["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/formulary/products/{tramadol}/batches"),
            &w.technician.token,
            json!({"batch_number": "TR1", "expiry_date": "2030-01-31"}),
        )
        .await;
    let batch = r.body["id"].as_i64().unwrap();
    let actor = Actor {
        user_id: w.technician.id,
        request_id: "t".into(),
    };
    for (location, qty) in [(w.fosse.cd_cabinet, "40"), (w.fosse.store, "10")] {
        let p = Posting::new(
            w.fosse.id,
            location,
            batch,
            qty.parse().unwrap(),
            MovementReason::Receipt,
        );
        ledger::post(&mut app.conn(), &actor, &p).unwrap();
    }
    let product = format!("/api/v1/formulary/products/{tramadol}");
    let on = |witness: Value| {
        let mut b = json!({"cd_register": true});
        if !witness.is_null() {
            b["witness"] = witness;
        }
        b
    };
    let r = app
        .call(
            Method::PATCH,
            &product,
            Some(&w.pharmacist.token),
            Some(on(Value::Null)),
        )
        .await;
    assert_eq!(first_issue(&r.body), ("witness".into(), "required".into()));
    let r = app
        .call(
            Method::PATCH,
            &product,
            Some(&w.pharmacist.token),
            Some(on(w.nurse.as_witness())),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["code"], "cd_cabinet_required");
    // Moved into the cabinet while still untracked, the stock can be brought forward.
    for (location, qty, reason) in [
        (w.fosse.store, "-10", MovementReason::TransferOut),
        (w.fosse.cd_cabinet, "10", MovementReason::TransferIn),
    ] {
        let p = Posting::new(w.fosse.id, location, batch, qty.parse().unwrap(), reason);
        ledger::post(&mut app.conn(), &actor, &p).unwrap();
    }
    let r = app
        .call(
            Method::PATCH,
            &product,
            Some(&w.pharmacist.token),
            Some(on(w.nurse.as_witness())),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["cd_register"], true);
    let r = app
        .get(
            &format!("/api/v1/sites/{}/cd/pages", w.fosse.id),
            &w.auditor.token,
        )
        .await;
    let p = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product_id"] == tramadol)
        .unwrap()
        .clone();
    assert_eq!(
        (&p["location_id"], &p["balance"]),
        (&json!(w.fosse.cd_cabinet), &json!("50"))
    );
    let list = entries(
        &app,
        w.fosse.id,
        p["id"].as_i64().unwrap(),
        &w.auditor.token,
    )
    .await;
    assert_eq!(
        (
            &list[0]["entry_type"],
            &list[0]["quantity"],
            &list[0]["witness_id"]
        ),
        (&json!("opening_balance"), &json!("50"), &json!(w.nurse.id))
    );
    let r = verify(&app, &w, &w.auditor.token).await;
    assert_eq!(r.body["status"], "intact", "{}", r.body);
}

#[actix_web::test]
async fn the_pdf_prints_every_field_in_full_in_any_script() {
    let app = spawn().await;
    let w = setup(&app).await;
    let actor = Actor {
        user_id: w.technician.id,
        request_id: "t".into(),
    };
    let supplier = "Midlands Pharmaceutical Wholesale Limited (controlled drugs division)";
    let address = "Unit 4, Trent Valley Trading Estate, Beeston, Nottingham NG9 1TN";
    let mut p = Posting::new(
        w.fosse.id,
        w.fosse.cd_cabinet,
        w.batch,
        "500".parse().unwrap(),
        MovementReason::Receipt,
    );
    p.register.counterparty = Some(supplier.into());
    p.register.counterparty_address = Some(address.into());
    ledger::post(&mut app.conn(), &actor, &p).unwrap();
    let mut p = Posting::new(
        w.fosse.id,
        w.fosse.cd_cabinet,
        w.batch,
        "-60".parse().unwrap(),
        MovementReason::IpSupply,
    );
    p.register.patient_identifier = Some("A1234BC".into());
    p.register.prescriber = Some("Dr Zoë Łukasiewicz GMC 7012345".into());
    p.register.collected_by = Some("Søren Ångström (brother), photo ID seen".into());
    p.register.identity_checked = Some(true);
    p.register.witness_id = Some(w.nurse.id);
    ledger::post(&mut app.conn(), &actor, &p).unwrap();
    let (status, content_type, pdf) = app
        .download(
            &format!("/api/v1/sites/{}/cd/export?format=pdf", w.fosse.id),
            &w.auditor.token,
        )
        .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/pdf")
    );
    assert_pdf_opens(&pdf);
    let text = pdf_extract::extract_text_from_mem(&pdf).unwrap();
    // The table is read line by line across its columns, so each word of each field is looked
    // for (wrapping breaks lines between words; pdf.rs tests that it never drops text).
    let words: Vec<&str> = text.split_whitespace().collect();
    for field in [
        supplier,
        address,
        "Dr Zoë Łukasiewicz GMC 7012345",
        "Søren Ångström (brother), photo ID seen",
        "A1234BC",
    ] {
        for word in field.split_whitespace() {
            assert!(
                words.contains(&word),
                "{word} missing from the PDF text: {text}"
            );
        }
    }
    assert!(words.contains(&"yes"), "identity checked is printed");
    assert!(!text.contains('?'), "a character printed as ?: {text}");
    if let Some(dir) = std::env::var_os("PDF_SAMPLE_DIR") {
        std::fs::write(std::path::Path::new(&dir).join("register.pdf"), &pdf).unwrap();
    }
}

#[actix_web::test]
async fn a_location_is_marked_a_cd_cabinet_and_keeps_that_while_its_pages_hold_entries() {
    let app = spawn().await;
    let w = setup(&app).await;
    receive(&app.state.db, &w, "100");
    let admin = app.user("admin", "admin", &[w.fosse.id]);
    let mark = |location: i64| {
        format!(
            "/api/v1/sites/{}/locations/{location}/cd-cabinet",
            w.fosse.id
        )
    };
    let r = app
        .call(
            Method::PUT,
            &mark(w.fosse.cd_cabinet),
            Some(&admin.token),
            Some(json!({"cd_cabinet": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["code"], "cd_register_in_use");
    let r = app
        .call(
            Method::PUT,
            &mark(w.fosse.store),
            Some(&admin.token),
            Some(json!({"cd_cabinet": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["cd_cabinet"], true);
    // The store now keeps a page of its own for what it receives.
    let actor = Actor {
        user_id: w.technician.id,
        request_id: "t".into(),
    };
    let p = Posting::new(
        w.fosse.id,
        w.fosse.store,
        w.batch,
        "5".parse().unwrap(),
        MovementReason::Receipt,
    );
    ledger::post(&mut app.conn(), &actor, &p).unwrap();
    let r = app
        .get(
            &format!("/api/v1/sites/{}/cd/pages", w.fosse.id),
            &w.auditor.token,
        )
        .await;
    assert_eq!(r.body["total"], 2);
    assert_eq!(r.body["totals"][0]["balance"], "105");
    assert_eq!(
        verify(&app, &w, &w.auditor.token).await.body["status"],
        "intact"
    );
}

#[actix_web::test]
async fn a_page_removed_whole_or_marked_closed_is_found() {
    let app = spawn().await;
    let w = setup(&app).await;
    receive(&app.state.db, &w, "100");
    // Marking the cabinet's page closed does not take it out of the comparison with the ledger.
    tamper(
        &app.state.db,
        "cd_register_entries",
        "UPDATE cd_register_pages SET closed_at = last_entry_at",
    );
    let r = verify(&app, &w, &w.auditor.token).await;
    assert_eq!(r.body["status"], "broken", "{}", r.body);
    assert!(r.body["pages"][0]["first_broken"]["problem"]
        .as_str()
        .unwrap()
        .contains("marked closed"));
    assert_eq!(r.body["pages"][0]["ledger"]["agrees"], true);
}

#[actix_web::test]
async fn register_stock_that_no_page_records_is_found() {
    let app = spawn().await;
    let w = setup(&app).await;
    receive(&app.state.db, &w, "100");
    // Someone with the database removes the whole page and its entries.
    let mut c = app.conn();
    let drop_page = match app.state.db.backend() {
        Backend::Postgres => {
            "ALTER TABLE cd_register_entries DISABLE TRIGGER USER; \
             DELETE FROM cd_register_entries; DELETE FROM cd_register_pages"
        }
        Backend::Sqlite => {
            "DROP TRIGGER cd_register_entries_no_delete; \
             DELETE FROM cd_register_entries; DELETE FROM cd_register_pages"
        }
    };
    c.batch_execute(drop_page).unwrap();
    drop(c);
    let r = verify(&app, &w, &w.auditor.token).await;
    assert_eq!(r.body["status"], "broken", "{}", r.body);
    assert_eq!(r.body["pages"], json!([]));
    assert_eq!(
        r.body["unrecorded_stock"],
        json!([{"location_id": w.fosse.cd_cabinet, "product_id": w.methadone, "stock_on_hand": "100"}])
    );
}

/// Two postings to one page at once: the second waits for the first and appends after it on
/// its first attempt, not after the head it read before waiting (which the page's sequence
/// would refuse, leaving the transaction to be run again).
#[actix_web::test]
async fn a_posting_that_waited_for_another_on_its_page_appends_after_it_first_time() {
    let app = spawn().await;
    if app.state.db.backend() != Backend::Postgres {
        // SQLite has one writer at a time: a second posting cannot start before the first ends.
        return;
    }
    let w = setup(&app).await;
    receive(&app.state.db, &w, "100");

    let mut first = app.conn();
    first.batch_execute("BEGIN").unwrap();
    let (actor, p) = receipt(&w, "10");
    ledger::post(&mut first, &actor, &p).unwrap();

    let db = app.state.db.clone();
    let (actor, p) = receipt(&w, "5");
    let second = std::thread::spawn(move || {
        let mut c = db.get().unwrap();
        c.batch_execute("BEGIN").unwrap();
        let posted = ledger::post(&mut c, &actor, &p);
        c.batch_execute(if posted.is_ok() { "COMMIT" } else { "ROLLBACK" })
            .unwrap();
        posted
    });
    // The second posting is waiting for the first's locks when the first commits.
    let waiting = std::time::Instant::now();
    while !second.is_finished() && waiting.elapsed() < std::time::Duration::from_millis(500) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!second.is_finished(), "the second posting did not wait");
    first.batch_execute("COMMIT").unwrap();
    let posted = second.join().unwrap().expect("posted on its first attempt");
    assert_eq!(posted.balance_after.to_string(), "115");

    let page = page(&app, &w, w.fosse.id, &w.auditor.token).await;
    assert_eq!(page["entry_count"], 3, "{page}");
    assert_eq!(page["balance"], "115", "{page}");
    let r = verify(&app, &w, &w.auditor.token).await;
    assert_eq!(r.body["status"], "intact", "{}", r.body);
}
