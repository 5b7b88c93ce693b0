//! Medication rounds over HTTP: due doses, outcomes with witnesses, one record per dose,
//! idempotent retries, corrections, in-possession supplies, compliance checks, alerts, FHIR.

mod common;

use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use common::{first_issue, spawn, Site, TestApp, User};
use serde_json::{json, Value};

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use prison_pharmacy::audit::Actor;
use prison_pharmacy::db::Db;
use prison_pharmacy::domain::stock::MovementReason;
use prison_pharmacy::ledger::{self, Posting};

struct World {
    fosse: Site,
    pharmacist: User,
    technician: User,
    nurse: User,
    nurse2: User,
    auditor: User,
    patient: i64,
    methadone_batch: i64,
    sertraline_batch: i64,
    methadone_rx: i64,
    levetiracetam_rx: i64,
    sertraline_rx: i64,
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// Stock received straight into a location, as goods receipt does.
fn receive(db: &Db, site: i64, location: i64, batch: i64, qty: &str, user: i64) {
    let mut c = db.get().unwrap();
    let actor = Actor {
        user_id: user,
        request_id: "test".into(),
    };
    let mut p = Posting::new(
        site,
        location,
        batch,
        qty.parse().unwrap(),
        MovementReason::Receipt,
    );
    p.register.counterparty = Some("Alliance Healthcare".into());
    p.register.counterparty_address = Some("Nottingham".into());
    ledger::post(&mut c, &actor, &p).unwrap();
}

async fn setup<S, B>(app: &TestApp<S>) -> World
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let fosse = app.site("FWI");
    let pharmacist = app.user("pharmacist", "pharmacist", &[fosse.id]);
    let technician = app.user("technician", "pharmacy_technician", &[fosse.id]);
    let nurse = app.user("nurse", "nurse", &[fosse.id]);
    let formulary: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/formulary.json")).unwrap();
    let product = |name: &str| {
        let body = formulary
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone();
        body
    };
    let mut ids = Vec::new();
    let mut batches = Vec::new();
    for name in [
        "Methadone 1mg/ml oral solution sugar free",
        "Levetiracetam 500mg tablets",
        "Sertraline 50mg tablets",
    ] {
        let r = app
            .post(
                "/api/v1/formulary/products",
                &pharmacist.token,
                product(name),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["id"].as_i64().unwrap();
        let r = app
            .post(
                &format!("/api/v1/formulary/products/{id}/batches"),
                &technician.token,
                json!({"batch_number": format!("B{id}"), "expiry_date": "2030-01-31"}),
            )
            .await;
        ids.push(id);
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        batches.push(r.body["id"].as_i64().unwrap());
    }
    receive(
        &app.state.db,
        fosse.id,
        fosse.hatch,
        batches[0],
        "500",
        technician.id,
    );
    receive(
        &app.state.db,
        fosse.id,
        fosse.hatch,
        batches[1],
        "56",
        technician.id,
    );
    receive(
        &app.state.db,
        fosse.id,
        fosse.store,
        batches[2],
        "56",
        technician.id,
    );

    let mut patients = Vec::new();
    for number in ["A1234BC", "B2345CD"] {
        let r = app
            .post(
                &format!("/api/v1/sites/{}/patients", fosse.id),
                &nurse.token,
                json!({"prison_number": number, "given_name": "Test", "family_name": number,
                       "date_of_birth": "1990-01-01", "wing": "HB1-HATCH".trim_end_matches("-HATCH"), "cell": "101"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        patients.push(r.body["id"].as_i64().unwrap());
    }
    let r = app
        .post(
            &format!("/api/v1/patients/{}/ip-assessments", patients[0]),
            &nurse.token,
            json!({"outcome": "in_possession", "reasons": "stable", "review_date": "2030-01-01"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let start = (chrono::Utc::now().date_naive() - chrono::Duration::days(7)).to_string();
    let rx = |patient: i64, product: i64, dose: &str, slots: Value, possession: &str| {
        json!({"patient": patient, "body": {"product_id": product, "dose": dose, "dose_unit": "mg", "route": "oral",
               "slots": slots, "start_date": start, "possession": possession, "prescriber": "Dr A Khan GMC 7012345"}})
    };
    let mut rx_ids = Vec::new();
    for spec in [
        rx(patients[0], ids[0], "60", json!(["morning"]), "supervised"),
        rx(
            patients[1],
            ids[1],
            "500",
            json!(["morning", "night"]),
            "supervised",
        ),
        rx(
            patients[0],
            ids[2],
            "50",
            json!(["morning"]),
            "in_possession",
        ),
    ] {
        let r = app
            .post(
                &format!("/api/v1/patients/{}/prescriptions", spec["patient"]),
                &technician.token,
                spec["body"].clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["id"].as_i64().unwrap();
        let r = app
            .post(
                &format!("/api/v1/prescriptions/{id}/screening"),
                &pharmacist.token,
                json!({"decision": "approve"}),
            )
            .await;
        assert_eq!(r.body["status"], "active", "{}", r.body);
        rx_ids.push(id);
    }
    World {
        nurse2: app.user("nurse2", "nurse", &[fosse.id]),
        auditor: app.user("auditor", "auditor", &[fosse.id]),
        fosse,
        pharmacist,
        technician,
        nurse,
        patient: patients[0],
        methadone_batch: batches[0],
        sertraline_batch: batches[2],
        methadone_rx: rx_ids[0],
        levetiracetam_rx: rx_ids[1],
        sertraline_rx: rx_ids[2],
    }
}

fn dose(w: &World, rx: i64, outcome: &str) -> Value {
    json!({"prescription_id": rx, "date": today(), "slot": "morning", "outcome": outcome,
           "location_id": w.fosse.hatch})
}

/// Signs in for a witness assertion with the common password; the answer as given.
async fn request_assertion<S, B>(
    app: &TestApp<S>,
    username: &str,
    site: i64,
    act: &str,
) -> common::Response
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    app.call(
        Method::POST,
        "/api/v1/auth/witness-assertions",
        None,
        Some(json!({"username": username, "password": common::PASSWORD,
                    "site_id": site, "act": act})),
    )
    .await
}

async fn stock_at<S, B>(app: &TestApp<S>, w: &World, location: i64, batch: i64) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .get(
            &format!(
                "/api/v1/sites/{}/stock?location_id={location}&batch_id={batch}&include_zero=true",
                w.fosse.id
            ),
            &w.pharmacist.token,
        )
        .await;
    r.body["items"][0]["quantity"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn round_lists_due_doses_and_records_each_outcome_once() {
    let app = spawn().await;
    let w = setup(&app).await;
    let round = format!(
        "/api/v1/sites/{}/rounds?date={}&slot=morning&location_id={}",
        w.fosse.id,
        today(),
        w.fosse.hatch
    );
    let r = app.get(&round, &w.nurse.token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["wing"], "HB1");
    let items = r.body["items"].as_array().unwrap();
    // The in-possession sertraline is supplied, not given at the round.
    let due: Vec<(i64, bool)> = items
        .iter()
        .map(|i| {
            (
                i["prescription_id"].as_i64().unwrap(),
                i["witness_required"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(due, [(w.methadone_rx, true), (w.levetiracetam_rx, false)]);
    assert_eq!(items[0]["dose"], "60");
    assert_eq!(items[0]["recorded"], Value::Null);

    let doses = format!("/api/v1/sites/{}/doses", w.fosse.id);
    let entries_before = app.count("cd_register_entries");
    // Methadone without a witness, or witnessed by the giver, is refused and changes nothing.
    let r = app
        .post(&doses, &w.nurse.token, dose(&w, w.methadone_rx, "given"))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(first_issue(&r.body), ("witness".into(), "required".into()));
    let mut self_witnessed = dose(&w, w.methadone_rx, "given");
    self_witnessed["witness"] = w.nurse.as_witness();
    let r = app.post(&doses, &w.nurse.token, self_witnessed).await;
    assert_eq!(
        first_issue(&r.body),
        ("witness".into(), "different_person".into())
    );
    assert_eq!(app.count("dose_records"), 0);
    assert_eq!(app.count("cd_register_entries"), entries_before);

    let mut witnessed = dose(&w, w.methadone_rx, "given");
    witnessed["witness"] = w.nurse2.as_witness();
    let r = app.post(&doses, &w.nurse.token, witnessed.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let given = r.body.clone();
    assert_eq!(given["outcome"], "given");
    assert_eq!(given["quantity"], "60");
    assert_eq!(given["stock_quantity"], "60");
    assert_eq!(given["witness_id"], w.nurse2.id);
    assert_eq!(given["late_entry"], false);
    assert_eq!(given["stock"][0]["batch_id"], w.methadone_batch);
    assert_eq!(
        stock_at(&app, &w, w.fosse.hatch, w.methadone_batch).await,
        "440"
    );

    // The register's supply entry names the patient, prescriber and witness.
    let entry_id = given["stock"][0]["register_entry_id"].as_i64().unwrap();
    let pages = app
        .get(
            &format!("/api/v1/sites/{}/cd/pages", w.fosse.id),
            &w.pharmacist.token,
        )
        .await;
    let page = pages.body["items"][0]["id"].as_i64().unwrap();
    assert_eq!(pages.body["items"][0]["balance"], "440");
    let entries = app
        .get(
            &format!("/api/v1/sites/{}/cd/pages/{page}/entries", w.fosse.id),
            &w.pharmacist.token,
        )
        .await;
    let e = entries.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == entry_id)
        .unwrap()
        .clone();
    assert_eq!(e["entry_type"], "dose_given");
    assert_eq!(e["patient_identifier"], "A1234BC");
    assert_eq!(e["prescriber"], "Dr A Khan GMC 7012345");
    assert_eq!(e["witness_id"], w.nurse2.id);
    assert_eq!(e["author_id"], w.nurse.id);
    assert_eq!(e["quantity"], "-60");

    // A second outcome for the same dose is refused with the existing record.
    let r = app
        .post(&doses, &w.nurse2.token, dose(&w, w.methadone_rx, "refused"))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "dose_already_recorded");
    assert_eq!(r.body["existing"]["id"], given["id"]);

    // Away needs where; withheld needs why.
    let r = app
        .post(&doses, &w.nurse.token, dose(&w, w.levetiracetam_rx, "away"))
        .await;
    assert_eq!(
        first_issue(&r.body),
        ("away_reason".into(), "required".into())
    );
    let r = app
        .post(
            &doses,
            &w.nurse.token,
            dose(&w, w.levetiracetam_rx, "withheld"),
        )
        .await;
    assert_eq!(first_issue(&r.body), ("reason".into(), "required".into()));
    let mut away = dose(&w, w.levetiracetam_rx, "away");
    away["away_reason"] = json!("court");
    let r = app.post(&doses, &w.nurse.token, away).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["reason"], "court");
    assert_eq!(r.body["stock"], json!([]));

    // Bad input: a slot not prescribed, a future day, a late entry is flagged.
    let mut wrong_slot = dose(&w, w.levetiracetam_rx, "refused");
    wrong_slot["slot"] = json!("lunchtime");
    let r = app.post(&doses, &w.nurse.token, wrong_slot).await;
    assert_eq!(first_issue(&r.body), ("slot".into(), "prescribed".into()));
    let mut future = dose(&w, w.levetiracetam_rx, "refused");
    future["date"] =
        json!((chrono::Utc::now().date_naive() + chrono::Duration::days(1)).to_string());
    let r = app.post(&doses, &w.nurse.token, future).await;
    assert_eq!(first_issue(&r.body), ("date".into(), "not_future".into()));
    let mut late = dose(&w, w.levetiracetam_rx, "refused");
    late["slot"] = json!("night");
    late["date"] = json!((chrono::Utc::now().date_naive() - chrono::Duration::days(1)).to_string());
    late["occurred_at"] = json!(
        (chrono::Utc::now().naive_utc() - chrono::Duration::hours(12))
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    );
    let r = app.post(&doses, &w.nurse.token, late).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["late_entry"], true);

    let r = app.get(&round, &w.nurse.token).await;
    let recorded: Vec<String> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["recorded"]["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(recorded, ["given", "away"]);
    assert_eq!(
        r.body["items"][1]["recent_outcomes"][1]["outcome"],
        "refused"
    );

    // Nurses of another prison see nothing; auditors write nothing.
    let lincoln = app.site("LCI");
    let lincoln_nurse = app.user("nurse.lincoln", "nurse", &[lincoln.id]);
    let r = app
        .post(
            &doses,
            &lincoln_nurse.token,
            dose(&w, w.levetiracetam_rx, "refused"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post(
            &doses,
            &w.auditor.token,
            dose(&w, w.levetiracetam_rx, "refused"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &doses,
            &w.technician.token,
            dose(&w, w.levetiracetam_rx, "refused"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn two_nurses_recording_the_same_dose_at_once_make_one_record() {
    let app = spawn().await;
    let w = setup(&app).await;
    let doses = format!("/api/v1/sites/{}/doses", w.fosse.id);
    let a = app.post(
        &doses,
        &w.nurse.token,
        dose(&w, w.levetiracetam_rx, "given"),
    );
    let b = app.post(
        &doses,
        &w.nurse2.token,
        dose(&w, w.levetiracetam_rx, "given"),
    );
    let (a, b) = futures_util::join!(a, b);
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::CONFLICT],
        "{} / {}",
        a.body,
        b.body
    );
    let (won, lost) = if a.status == StatusCode::CREATED {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(lost.body["existing"]["id"], won.body["id"]);
    assert_eq!(app.count("dose_records"), 1);
    assert_eq!(app.count("dose_movements"), 1);
}

#[actix_web::test]
async fn a_retried_request_with_the_same_idempotency_key_records_once_and_answers_the_same() {
    let app = spawn().await;
    let w = setup(&app).await;
    let doses = format!("/api/v1/sites/{}/doses", w.fosse.id);
    let send = |key: &str, body: Value| {
        TestRequest::post()
            .uri(&doses)
            .insert_header(("Authorization", format!("Bearer {}", w.nurse.token)))
            .insert_header(("Idempotency-Key", key.to_string()))
            .set_json(body)
    };
    let first = app
        .send(send("round-7f3a", dose(&w, w.levetiracetam_rx, "given")))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = app
        .send(send("round-7f3a", dose(&w, w.levetiracetam_rx, "given")))
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers.get("Idempotent-Replayed").unwrap(), "true");
    assert_eq!(app.count("dose_records"), 1);
    assert_eq!(
        stock_at(&app, &w, w.fosse.hatch, w.methadone_batch + 1).await,
        "55"
    );

    // The same key for a different request is refused.
    let r = app
        .send(send("round-7f3a", dose(&w, w.levetiracetam_rx, "refused")))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        first_issue(&r.body),
        ("Idempotency-Key".into(), "same_request".into())
    );

    // Two copies racing: one record, the same answer to both.
    let mut supervised = dose(&w, w.levetiracetam_rx, "refused");
    supervised["slot"] = json!("night");
    let (a, b) = futures_util::join!(
        app.send(send("night-1", supervised.clone())),
        app.send(send("night-1", supervised))
    );
    assert_eq!(
        (a.status, b.status),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{} / {}",
        a.body,
        b.body
    );
    assert_eq!(a.body, b.body);
    assert_eq!(app.count("dose_records"), 2);
    let r = app
        .send(send(
            "bad key with spaces",
            dose(&w, w.methadone_rx, "refused"),
        ))
        .await;
    assert_eq!(
        first_issue(&r.body),
        ("Idempotency-Key".into(), "format".into())
    );
}

#[actix_web::test]
async fn a_correction_keeps_the_record_and_reverses_stock_and_register() {
    let app = spawn().await;
    let w = setup(&app).await;
    let doses = format!("/api/v1/sites/{}/doses", w.fosse.id);
    let mut body = dose(&w, w.methadone_rx, "given");
    body["witness"] = w.nurse2.as_witness();
    let given = app.post(&doses, &w.nurse.token, body).await.body;
    assert_eq!(
        stock_at(&app, &w, w.fosse.hatch, w.methadone_batch).await,
        "440"
    );
    let id = given["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/doses/{id}/corrections"),
            &w.nurse.token,
            json!({"reason": "given to the wrong patient's record"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["outcome"], "given");
    assert_eq!(
        r.body["correction"]["reason"],
        "given to the wrong patient's record"
    );
    assert_eq!(
        stock_at(&app, &w, w.fosse.hatch, w.methadone_batch).await,
        "500"
    );
    let pages = app
        .get(
            &format!("/api/v1/sites/{}/cd/pages", w.fosse.id),
            &w.pharmacist.token,
        )
        .await;
    let page = pages.body["items"][0]["id"].as_i64().unwrap();
    assert_eq!(pages.body["items"][0]["balance"], "500");
    let entries = app
        .get(
            &format!("/api/v1/sites/{}/cd/pages/{page}/entries", w.fosse.id),
            &w.pharmacist.token,
        )
        .await;
    let last = entries.body["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["entry_type"], "correction");
    assert_eq!(last["quantity"], "60");
    assert_eq!(
        last["corrects_entry_id"],
        given["stock"][0]["register_entry_id"]
    );
    let r = app
        .post(
            &format!("/api/v1/doses/{id}/corrections"),
            &w.nurse.token,
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // The dose can now be recorded again, as the next attempt.
    let r = app
        .post(&doses, &w.nurse.token, dose(&w, w.methadone_rx, "refused"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["attempt"], 2);
    let v = app
        .get(
            &format!("/api/v1/sites/{}/cd/verify", w.fosse.id),
            &w.auditor.token,
        )
        .await;
    assert_eq!(v.body["status"], "intact");
}

#[actix_web::test]
async fn in_possession_supply_and_a_compliance_check_that_flags_a_review() {
    let app = spawn().await;
    let w = setup(&app).await;
    let supplies = format!("/api/v1/sites/{}/ip-supplies", w.fosse.id);
    let r = app
        .post(
            &supplies,
            &w.nurse.token,
            json!({"prescription_id": w.methadone_rx, "location_id": w.fosse.hatch}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "possession");
    let r = app
        .post(
            &supplies,
            &w.nurse.token,
            json!({"prescription_id": w.sertraline_rx, "location_id": w.fosse.store}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["days"], 7);
    assert_eq!(r.body["quantity"], "7");
    assert_eq!(r.body["per_day"], "1");
    assert_eq!(r.body["handed_over_by"], w.nurse.id);
    assert!(
        r.body["label_text"]
            .as_str()
            .unwrap()
            .starts_with("Sertraline 50mg tablets. Take 50 mg once a day (morning)."),
        "{}",
        r.body["label_text"]
    );
    assert_eq!(
        stock_at(&app, &w, w.fosse.store, w.sertraline_batch).await,
        "49"
    );
    let r = app
        .post(
            &supplies,
            &w.nurse.token,
            json!({"prescription_id": w.sertraline_rx, "location_id": w.fosse.store, "days": 28}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["quantity"], "28");

    let checks = format!("/api/v1/sites/{}/compliance-checks", w.fosse.id);
    let r = app
        .post(
            &checks,
            &w.nurse.token,
            json!({"prescription_id": w.sertraline_rx, "counted_quantity": "28"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["expected_quantity"], "28");
    assert_eq!(r.body["discrepancy"], false);
    assert_eq!(r.body["alert_id"], Value::Null);
    let r = app
        .post(&checks, &w.nurse.token, json!({"prescription_id": w.sertraline_rx, "counted_quantity": "12", "note": "strip missing"}))
        .await;
    assert_eq!(r.body["discrepancy"], true);
    assert_eq!(r.body["difference"], "-16");
    let alert = r.body["alert_id"].as_i64().unwrap();
    let due = app
        .get(
            &format!("/api/v1/sites/{}/ip-reviews-due", w.fosse.id),
            &w.nurse.token,
        )
        .await;
    let reasons: Vec<(i64, String)> = due.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["patient_id"].as_i64().unwrap(),
                i["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        reasons.contains(&(w.patient, "failed_compliance_check".to_string())),
        "{reasons:?}"
    );
    let alerts = app
        .get(
            &format!("/api/v1/sites/{}/alerts", w.fosse.id),
            &w.pharmacist.token,
        )
        .await;
    assert_eq!(alerts.body["items"][0]["id"], alert);
    assert_eq!(alerts.body["items"][0]["kind"], "compliance_discrepancy");
    let r = app
        .post(
            &checks,
            &w.nurse.token,
            json!({"prescription_id": w.levetiracetam_rx, "counted_quantity": "1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[actix_web::test]
async fn a_missed_methadone_dose_raises_an_alert_a_clinician_acknowledges() {
    let app = spawn().await;
    let w = setup(&app).await;
    let doses = format!("/api/v1/sites/{}/doses", w.fosse.id);
    let r = app
        .post(
            &doses,
            &w.nurse.token,
            dose(&w, w.methadone_rx, "did_not_attend"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["alert_ids"].as_array().unwrap().len(), 1);
    let alerts = format!("/api/v1/sites/{}/alerts", w.fosse.id);
    let r = app.get(&alerts, &w.auditor.token).await;
    assert_eq!(r.status, StatusCode::OK);
    let alert = &r.body["items"][0];
    assert_eq!(alert["kind"], "missed_ost");
    assert_eq!(alert["prison_number"], "A1234BC");
    let id = alert["id"].as_i64().unwrap();
    let round = app
        .get(
            &format!(
                "/api/v1/sites/{}/rounds?date={}&slot=morning&wing=HB1",
                w.fosse.id,
                today()
            ),
            &w.nurse.token,
        )
        .await;
    assert_eq!(round.body["items"][0]["open_alerts"], 1);

    let ack = format!("/api/v1/alerts/{id}/acknowledgement");
    let r = app
        .post(&ack, &w.auditor.token, json!({"note": "seen"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.post(&ack, &w.nurse.token, json!({"note": ""})).await;
    assert_eq!(first_issue(&r.body).0, "note");
    let r = app
        .post(
            &ack,
            &w.nurse.token,
            json!({"note": "Patient seen on the wing; prescriber informed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["acknowledged_by"], w.nurse.id);
    let r = app
        .post(&ack, &w.nurse2.token, json!({"note": "again"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app.get(&alerts, &w.nurse.token).await;
    assert_eq!(r.body["items"], json!([]));

    // Three missed levetiracetam doses in a row (a critical medicine) raise one alert.
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Duration::days(1)).to_string();
    for (date, slot) in [
        (yesterday.as_str(), "morning"),
        (yesterday.as_str(), "night"),
    ] {
        let mut b = dose(&w, w.levetiracetam_rx, "refused");
        b["date"] = json!(date);
        b["slot"] = json!(slot);
        let r = app.post(&doses, &w.nurse.token, b).await;
        assert_eq!(r.body["alert_ids"], json!([]), "{}", r.body);
    }
    let r = app
        .post(
            &doses,
            &w.nurse.token,
            dose(&w, w.levetiracetam_rx, "refused"),
        )
        .await;
    assert_eq!(
        r.body["alert_ids"].as_array().unwrap().len(),
        1,
        "{}",
        r.body
    );
    let r = app.get(&alerts, &w.nurse.token).await;
    assert_eq!(r.body["items"][0]["kind"], "missed_critical");
}

#[actix_web::test]
async fn fhir_export_is_a_bundle_of_administrations_and_dispenses() {
    let app = spawn().await;
    let w = setup(&app).await;
    let doses = format!("/api/v1/sites/{}/doses", w.fosse.id);
    let mut body = dose(&w, w.methadone_rx, "given");
    body["witness"] = w.nurse2.as_witness();
    app.post(&doses, &w.nurse.token, body).await;
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Duration::days(1)).to_string();
    let mut refused = dose(&w, w.methadone_rx, "refused");
    refused["date"] = json!(yesterday);
    app.post(&doses, &w.nurse.token, refused).await;
    let r = app
        .post(
            &format!("/api/v1/sites/{}/ip-supplies", w.fosse.id),
            &w.nurse.token,
            json!({"prescription_id": w.sertraline_rx, "location_id": w.fosse.store}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let (status, content_type, bytes) = app
        .download(
            &format!(
                "/api/v1/patients/{}/fhir?from={yesterday}&to={}",
                w.patient,
                today()
            ),
            &w.auditor.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/fhir+json");
    let b: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(b["resourceType"], "Bundle");
    assert_eq!(b["type"], "collection");
    let resources: Vec<&Value> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    let kinds: Vec<&str> = resources
        .iter()
        .map(|r| r["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Patient",
            "MedicationRequest",
            "MedicationRequest",
            "MedicationAdministration",
            "MedicationAdministration",
            "MedicationDispense",
            "Practitioner",
            "Practitioner",
            "Practitioner"
        ]
    );
    // The whole Bundle is valid FHIR R4 by the specification's own JSON schema.
    let schema: Value = serde_json::from_str(include_str!("schemas/fhir-r4.schema.json")).unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft6)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&b)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(5)
        .collect();
    assert_eq!(errors, Vec::<String>::new());
    // (And it does reject what FHIR does not allow: a quantity's value as text.)
    let mut broken = b.clone();
    broken["entry"][5]["resource"]["quantity"]["value"] = json!("seven");
    assert!(!validator.is_valid(&broken));
    // Every entry has its full URL; every reference names an entry of the Bundle.
    let urls: Vec<&str> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    assert!(urls
        .iter()
        .all(|u| u.starts_with("https://prison-pharmacy.example/fhir/")));
    fn references(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("reference") {
                    out.push(r.clone());
                }
                o.values().for_each(|x| references(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| references(x, out)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    references(&b, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        assert!(
            urls.iter().any(|u| u.ends_with(&format!("/{r}"))),
            "{r} is not in the Bundle"
        );
    }
    // Prescriber, nurse and witness are Practitioners; the GMC number identifies the prescriber.
    let prescriber = resources.iter().find(|r| r["id"] == "gmc-7012345").unwrap();
    assert_eq!(prescriber["identifier"][0]["value"], "7012345");
    assert_eq!(resources[0]["identifier"][0]["value"], "A1234BC");
    let given = resources
        .iter()
        .find(|r| r["resourceType"] == "MedicationAdministration" && r["status"] == "completed")
        .unwrap();
    assert_eq!(
        given["subject"]["reference"],
        "Patient/p".to_string() + &w.patient.to_string()
    );
    assert_eq!(
        given["dosage"]["dose"],
        json!({"value": 60, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"})
    );
    assert!(given.get("statusReason").is_none());
    assert_eq!(
        given["performer"][1],
        json!({"function": {"text": "witness"}, "actor": {"reference": format!("Practitioner/u{}", w.nurse2.id)}})
    );
    // The methadone order's schedule is FHIR Timing: once a day, in the morning, from its start.
    let request = resources
        .iter()
        .find(|r| r["id"] == format!("rx-{}", w.methadone_rx).as_str())
        .unwrap();
    let repeat = &request["dosageInstruction"][0]["timing"]["repeat"];
    assert_eq!(repeat["when"], json!(["MORN"]));
    assert_eq!(
        (
            repeat["frequency"].clone(),
            repeat["period"].clone(),
            repeat["periodUnit"].clone()
        ),
        (json!(1), json!(1), json!("d"))
    );
    assert!(repeat["boundsPeriod"]["start"].is_string());
    let not_done = resources
        .iter()
        .find(|r| r["status"] == "not-done")
        .unwrap();
    assert_eq!(not_done["statusReason"][0]["text"], "refused");
    assert_eq!(not_done["statusReason"][0]["coding"][0]["code"], "refused");
    let dispense = resources[5];
    assert_eq!(dispense["status"], "completed");
    assert_eq!(dispense["quantity"]["value"], 7);
    assert_eq!(dispense["quantity"]["code"], "{tablet}");
    assert_eq!(dispense["daysSupply"]["value"], 7);
    assert_eq!(
        dispense["authorizingPrescription"][0]["reference"],
        format!("MedicationRequest/rx-{}", w.sertraline_rx)
    );
    for r in &resources {
        assert!(r["id"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    }
    // A range that holds nothing has only the patient.
    let (_, _, bytes) = app
        .download(
            &format!(
                "/api/v1/patients/{}/fhir?from=2020-01-01&to=2020-01-02",
                w.patient
            ),
            &w.nurse.token,
        )
        .await;
    let b: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(b["entry"].as_array().unwrap().len(), 1);
    let r = app
        .get(
            &format!("/api/v1/patients/{}/fhir", w.patient),
            &w.technician.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn demo_morning_round_at_fosse_way() {
    let app = spawn().await;
    app.load_demo();
    let token = |name: &str| app.token_of(name);
    let (nurse, auditor) = (token("nurse"), token("auditor"));
    let (site, locations) = app.home_site(&nurse).await;
    let (hatch, store) = (locations["HB1-HATCH"], locations["PHARM"]);
    let round = app
        .get(
            &format!(
                "/api/v1/sites/{site}/rounds?date={}&slot=morning&location_id={hatch}",
                today()
            ),
            &nurse,
        )
        .await;
    assert_eq!(round.status, StatusCode::OK, "{}", round.body);
    let items = round.body["items"].as_array().unwrap().clone();
    let item = |number: &str, product: &str| {
        items
            .iter()
            .find(|i| {
                i["prison_number"] == number
                    && i["product_name"].as_str().unwrap().starts_with(product)
            })
            .unwrap()
            .clone()
    };
    let methadone = item("A1234BC", "Methadone");
    let levetiracetam = item("B2345CD", "Levetiracetam");
    let buprenorphine = item("C3456DE", "Buprenorphine");
    assert_eq!(methadone["witness_required"], true);

    let doses = format!("/api/v1/sites/{site}/doses");
    let record = |item: &Value, outcome: &str| {
        json!({"prescription_id": item["prescription_id"], "date": today(), "slot": "morning",
               "outcome": outcome, "location_id": hatch})
    };
    let mut given = record(&methadone, "given");
    given["witness"] = json!({"username": "nurse2", "password": common::DEMO_PASSWORD});
    let r = app.post(&doses, &nurse, given).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(&doses, &nurse, record(&levetiracetam, "refused"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let mut away = record(&buprenorphine, "away");
    away["away_reason"] = json!("court");
    away["witness"] = json!({"username": "nurse2", "password": common::DEMO_PASSWORD});
    let r = app.post(&doses, &nurse, away).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // A 7-day in-possession supply of sertraline, then a cell count that does not add up.
    let patient = methadone["patient_id"].as_i64().unwrap();
    let rxs = app
        .get(&format!("/api/v1/patients/{patient}/prescriptions"), &nurse)
        .await;
    let sertraline = rxs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["possession"] == "in_possession")
        .unwrap()["id"]
        .clone();
    let r = app
        .post(
            &format!("/api/v1/sites/{site}/ip-supplies"),
            &nurse,
            json!({"prescription_id": sertraline, "location_id": store}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["quantity"], "7");
    let r = app
        .post(
            &format!("/api/v1/sites/{site}/compliance-checks"),
            &nurse,
            json!({"prescription_id": sertraline, "counted_quantity": "2"}),
        )
        .await;
    assert_eq!(r.body["discrepancy"], true, "{}", r.body);

    // Yesterday's methadone was missed: entered late, it raises an alert.
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Duration::days(1)).to_string();
    let mut missed = record(&methadone, "did_not_attend");
    missed["date"] = json!(yesterday);
    missed["occurred_at"] = json!(format!("{yesterday}T08:30:00"));
    let r = app.post(&doses, &nurse, missed).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["late_entry"], true);
    let alerts = app
        .get(&format!("/api/v1/sites/{site}/alerts"), &nurse)
        .await;
    let kinds: Vec<&str> = alerts.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"missed_ost"), "{kinds:?}");
    assert!(kinds.contains(&"compliance_discrepancy"), "{kinds:?}");

    // Stock, register and FHIR agree: 500 ml at the hatch less the 60 mg (60 ml) dose.
    let stock = app
        .get(
            &format!("/api/v1/sites/{site}/stock?location_id={hatch}"),
            &nurse,
        )
        .await;
    let at_hatch = stock.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["product_name"].as_str().unwrap().starts_with("Methadone"))
        .unwrap()["quantity"]
        .clone();
    assert_eq!(at_hatch, "440");
    let pages = app
        .get(&format!("/api/v1/sites/{site}/cd/pages"), &auditor)
        .await;
    // Each cabinet's page holds its own stock; the site view sums them.
    let methadone_pages: Vec<(Value, Value)> = pages.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["drug"].as_str().unwrap().starts_with("Methadone"))
        .map(|p| (p["location_id"].clone(), p["balance"].clone()))
        .collect();
    assert!(
        methadone_pages.contains(&(json!(hatch), json!("440"))),
        "{methadone_pages:?}"
    );
    assert_eq!(methadone_pages.len(), 2, "{methadone_pages:?}");
    let total = pages.body["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["drug"].as_str().unwrap().starts_with("Methadone"))
        .unwrap()
        .clone();
    assert_eq!(
        (total["balance"].clone(), total["cabinets"].clone()),
        (json!("2440"), json!(2))
    );
    let verify = app
        .get(&format!("/api/v1/sites/{site}/cd/verify"), &auditor)
        .await;
    assert_eq!(verify.body["status"], "intact");
    let (_, _, bytes) = app
        .download(&format!("/api/v1/patients/{patient}/fhir"), &auditor)
        .await;
    let b: Value = serde_json::from_slice(&bytes).unwrap();
    let statuses: Vec<&str> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "MedicationAdministration")
        .map(|e| e["resource"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["completed", "not-done"]);
    let dispenses = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "MedicationDispense")
        .count();
    assert_eq!(dispenses, 1);
}

#[actix_web::test]
async fn a_take_out_supply_on_release_is_a_witnessed_register_supply() {
    let app = spawn().await;
    let w = setup(&app).await;
    let release = format!("/api/v1/patients/{}/release", w.patient);
    let mut body = json!({"supplies": [{"prescription_id": w.methadone_rx, "days": 3, "location_id": w.fosse.hatch}],
                          "collected_by": "J Smith, probation officer", "identity_checked": true});
    let r = app.post(&release, &w.pharmacist.token, body.clone()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(first_issue(&r.body), ("witness".into(), "required".into()));
    assert_eq!(app.count("release_supplies"), 0);
    assert_eq!(
        stock_at(&app, &w, w.fosse.hatch, w.methadone_batch).await,
        "500"
    );

    // On methadone, the patient must be offered take-home naloxone; nothing is done until then.
    body["witness"] = json!({"username": "nurse2", "password": common::PASSWORD});
    let r = app.post(&release, &w.pharmacist.token, body.clone()).await;
    assert_eq!(first_issue(&r.body), ("naloxone".into(), "required".into()));
    assert_eq!(app.count("release_supplies"), 0);
    let (_, naloxone_batch) = stocked_batch(
        &app,
        &w,
        "Naloxone 1.26mg/3.1ml (Prenoxad) solution for injection pre-filled syringes",
        "5",
    )
    .await;
    body["naloxone"] =
        json!({"outcome": "accepted", "location_id": w.fosse.hatch, "batch_id": w.methadone_batch});
    let r = app.post(&release, &w.pharmacist.token, body.clone()).await;
    assert_eq!(
        first_issue(&r.body),
        ("naloxone.batch_id".into(), "naloxone".into())
    );
    body["naloxone"]["batch_id"] = json!(naloxone_batch);
    let r = app.post(&release, &w.pharmacist.token, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "released");
    assert_eq!(app.count("audit_events WHERE action = 'naloxone.offer'"), 1);
    // The kit left the hatch through the ledger, and the offer is in the month's report.
    assert_eq!(stock_at(&app, &w, w.fosse.hatch, naloxone_batch).await, "4");
    let year = chrono::Utc::now().format("%Y").to_string();
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let report = app
        .get(
            &format!("/api/v1/sites/{}/naloxone-report?year={year}", w.fosse.id),
            &w.pharmacist.token,
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let this_month = report.body["months"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["month"] == month.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        this_month,
        json!({"month": month, "eligible_releases": 1, "offered": 1, "accepted": 1, "declined": 0,
               "already_has_kit": 0, "offer_rate_percent": "100"})
    );
    // Three days of 60 mg of 1 mg/ml left the hatch's cabinet.
    assert_eq!(
        stock_at(&app, &w, w.fosse.hatch, w.methadone_batch).await,
        "320"
    );
    let pages = app
        .get(
            &format!("/api/v1/sites/{}/cd/pages", w.fosse.id),
            &w.auditor.token,
        )
        .await;
    let page = pages.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["location_id"] == w.fosse.hatch)
        .unwrap()["id"]
        .clone();
    let entries = app
        .get(
            &format!("/api/v1/sites/{}/cd/pages/{page}/entries", w.fosse.id),
            &w.auditor.token,
        )
        .await;
    let last = entries.body["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        [
            &last["entry_type"],
            &last["quantity"],
            &last["balance_after"],
            &last["patient_identifier"],
            &last["prescriber"],
            &last["collected_by"],
            &last["identity_checked"],
            &last["witness_id"],
        ],
        [
            &json!("ip_supply"),
            &json!("-180"),
            &json!("320"),
            &json!("A1234BC"),
            &json!("Dr A Khan GMC 7012345"),
            &json!("J Smith, probation officer"),
            &json!(true),
            &json!(w.nurse2.id),
        ]
    );
}

/// A witness assertion: obtained by the witness signing in for one act at one prison, good for
/// five minutes, spent once. Never an access token, and a full access token is never a witness.
#[actix_web::test]
async fn a_witness_assertion_witnesses_one_act_once() {
    let app = spawn().await;
    let w = setup(&app).await;
    let doses = format!("/api/v1/sites/{}/doses", w.fosse.id);
    let assertion = |site: i64, act: &str| {
        let app = &app;
        let act = act.to_string();
        async move {
            let r = request_assertion(app, "NURSE2 ", site, &act).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            assert_eq!(r.body["expires_in"], 300);
            r.body["assertion"].as_str().unwrap().to_string()
        }
    };
    // The witness's full access token is not a witness.
    let mut body = dose(&w, w.methadone_rx, "given");
    body["witness"] = json!({"token": w.nurse2.token});
    let r = app.post(&doses, &w.nurse.token, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // An assertion for another act, or another prison, is refused and not spent.
    let for_destruction = assertion(w.fosse.id, "destruction").await;
    let mut body = dose(&w, w.methadone_rx, "given");
    body["witness"] = json!({"assertion": for_destruction});
    let r = app.post(&doses, &w.nurse.token, body).await;
    assert_eq!(
        first_issue(&r.body),
        ("witness".into(), "assertion_scope".into())
    );
    // An assertion opens no route.
    let for_dose = assertion(w.fosse.id, "cd_dose").await;
    let r = app.get("/api/v1/me", &for_dose).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Given once, it witnesses the dose.
    let mut body = dose(&w, w.methadone_rx, "given");
    body["witness"] = json!({"assertion": for_dose});
    let r = app.post(&doses, &w.nurse.token, body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["witness_id"], w.nurse2.id);
    assert_eq!(app.count("witness_redemptions"), 1);
    // A second time it is spent, whatever it is offered for.
    let mut again = dose(&w, w.levetiracetam_rx, "given");
    again["witness"] = json!({"assertion": for_dose});
    let r = app.post(&doses, &w.nurse.token, again).await;
    assert_eq!(
        first_issue(&r.body),
        ("witness".into(), "assertion_used".into())
    );
    assert_eq!(app.count("witness_redemptions"), 1);
    // Only staff of the prison may obtain one.
    let r = request_assertion(&app, "nurse2", w.fosse.id + 1000, "cd_dose").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body), ("site_id".into(), "eligible".into()));
}

/// Wrong witness passwords hold back the nurse typing them, never the witness's own sign-in;
/// each refusal is on record without the password.
#[actix_web::test]
async fn failed_witness_attempts_count_against_the_submitter() {
    let app = spawn().await;
    let w = setup(&app).await;
    let doses = format!("/api/v1/sites/{}/doses", w.fosse.id);
    let attempt = |password: &str| {
        let mut body = dose(&w, w.methadone_rx, "given");
        body["witness"] = json!({"username": "nurse2", "password": password});
        body
    };
    for _ in 0..4 {
        let r = app
            .post(&doses, &w.nurse.token, attempt("not-her-password"))
            .await;
        assert_eq!(
            first_issue(&r.body),
            ("witness".into(), "authenticated".into())
        );
    }
    // The fifth failure holds the nurse back, even with the right password.
    let r = app
        .post(&doses, &w.nurse.token, attempt("not-her-password"))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.get("retry-after").is_some());
    let r = app
        .post(&doses, &w.nurse.token, attempt(common::PASSWORD))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(app.count("dose_records"), 0);
    // So is a valid assertion from the witness, and it stays unspent for when the hold ends.
    let r = request_assertion(&app, "nurse2", w.fosse.id, "cd_dose").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut body = dose(&w, w.methadone_rx, "given");
    body["witness"] = json!({"assertion": r.body["assertion"]});
    let r = app.post(&doses, &w.nurse.token, body).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.get("retry-after").is_some());
    assert_eq!(app.count("witness_redemptions"), 0);
    assert_eq!(app.count("dose_records"), 0);
    // The witness signs in as ever.
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nurse2", "password": common::PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A witness name longer than any account is refused before it is looked up.
    let mut long = dose(&w, w.levetiracetam_rx, "given");
    long["witness"] = json!({"username": "n".repeat(250_000), "password": "x"});
    let r = app.post(&doses, &w.nurse.token, long).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(
        first_issue(&r.body),
        ("witness.username".into(), "length".into())
    );
    // So are a password and an assertion longer than the document allows.
    for (field, witness) in [
        (
            "witness.password",
            json!({"username": "nurse2", "password": "p".repeat(257)}),
        ),
        ("witness.assertion", json!({"assertion": "a".repeat(2049)})),
    ] {
        let mut body = dose(&w, w.levetiracetam_rx, "given");
        body["witness"] = witness;
        let r = app.post(&doses, &w.nurse.token, body).await;
        assert_eq!(
            first_issue(&r.body),
            (field.into(), "length".into()),
            "{}",
            r.body
        );
    }
    // Seven refusals on record (four wrong, the one that held, and the two held attempts), none
    // with a password.
    use diesel::prelude::*;
    use prison_pharmacy::db::schema::audit_events;
    let details: Vec<Option<String>> = audit_events::table
        .filter(audit_events::action.eq("auth.witness_refused"))
        .select(audit_events::detail)
        .load(&mut **app.conn())
        .unwrap();
    assert_eq!(details.len(), 7);
    let text = details.into_iter().flatten().collect::<String>();
    assert!(!text.contains("not-her-password") && !text.contains(common::PASSWORD));
    assert_eq!(text.matches("\"rule\":\"throttled\"").count(), 2, "{text}");
}

/// Missed-dose alerts follow the order of the due doses, not the order they are entered: a
/// missed methadone dose entered after a later dose was given still alerts, and a late entry
/// that joins two short runs of missed doses of a critical medicine alerts once. A blank note
/// acknowledges nothing.
#[actix_web::test]
async fn late_entries_count_in_their_own_place() {
    let app = spawn().await;
    let w = setup(&app).await;
    let doses = format!("/api/v1/sites/{}/doses", w.fosse.id);
    let day = |n: i64| (chrono::Utc::now().date_naive() - chrono::Duration::days(n)).to_string();
    let record = |rx: i64, outcome: &str, date: String| {
        let mut b = dose(&w, rx, outcome);
        b["date"] = json!(date);
        b["occurred_at"] = json!(format!("{date}T08:30:00"));
        b
    };
    // Today's methadone given; yesterday's, entered afterwards, was missed.
    let mut given = dose(&w, w.methadone_rx, "given");
    given["witness"] = w.nurse2.as_witness();
    let r = app.post(&doses, &w.nurse.token, given).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(
            &doses,
            &w.nurse.token,
            record(w.methadone_rx, "did_not_attend", day(1)),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["alert_ids"].as_array().unwrap().len(),
        1,
        "{}",
        r.body
    );

    // Levetiracetam refused five and three days ago, given two days ago... then four days
    // ago entered late: the run of three (5, 4, 3 days ago) reaches the threshold once.
    for (n, outcome, alerts) in [
        (5, "refused", 0),
        (3, "refused", 0),
        (2, "given", 0),
        (4, "refused", 1),
    ] {
        let r = app
            .post(
                &doses,
                &w.nurse.token,
                record(w.levetiracetam_rx, outcome, day(n)),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(
            r.body["alert_ids"].as_array().unwrap().len(),
            alerts,
            "day -{n}: {}",
            r.body
        );
    }
    let alerts = app
        .get(
            &format!("/api/v1/sites/{}/alerts", w.fosse.id),
            &w.nurse.token,
        )
        .await;
    let kinds: Vec<&str> = alerts.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["missed_ost", "missed_critical"]);

    // Spaces are not a note, nor a reason.
    let id = alerts.body["items"][0]["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/alerts/{id}/acknowledgement"),
            &w.nurse.token,
            json!({"note": "   \t "}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body), ("note".into(), "not_blank".into()));
    let mut withheld = dose(&w, w.levetiracetam_rx, "withheld");
    withheld["reason"] = json!("  ");
    let r = app.post(&doses, &w.nurse.token, withheld).await;
    assert_eq!(first_issue(&r.body), ("reason".into(), "not_blank".into()));
    let open = app
        .get(
            &format!("/api/v1/sites/{}/alerts", w.fosse.id),
            &w.nurse.token,
        )
        .await;
    assert_eq!(open.body["items"].as_array().unwrap().len(), 2);
}

/// A medicine product of the demo formulary, added with a batch at the hatch: (product, batch).
async fn stocked_batch<S, B>(app: &TestApp<S>, w: &World, name: &str, quantity: &str) -> (i64, i64)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let formulary: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/formulary.json")).unwrap();
    let body = formulary
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()
        .clone();
    let r = app
        .post("/api/v1/formulary/products", &w.pharmacist.token, body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/formulary/products/{id}/batches"),
            &w.technician.token,
            json!({"batch_number": format!("S{id}"), "expiry_date": "2030-01-31"}),
        )
        .await;
    let batch = r.body["id"].as_i64().unwrap();
    receive(
        &app.state.db,
        w.fosse.id,
        w.fosse.hatch,
        batch,
        quantity,
        w.technician.id,
    );
    (id, batch)
}

/// A medicine product of the demo formulary, added with a batch at the hatch.
async fn stocked<S, B>(app: &TestApp<S>, w: &World, name: &str, quantity: &str) -> i64
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    stocked_batch(app, w, name, quantity).await.0
}

/// Schedules beyond daily rounds: methotrexate only weekly; a weekly dose due on its day,
/// overdue until recorded, and never twice in a week; a stepped plan's dose by date; a
/// when-required dose given at any time within its interval and daily maximum.
#[actix_web::test]
async fn doses_fall_due_as_their_schedule_says() {
    let app = spawn().await;
    let w = setup(&app).await;
    let methotrexate = stocked(&app, &w, "Methotrexate 2.5mg tablets", "56").await;
    let today = chrono::Utc::now().date_naive();
    let day = |n: i64| today - chrono::Duration::days(n);
    let prescribe = |product: i64, dose: &str, extra: Value| {
        let mut body = json!({"product_id": product, "dose": dose, "dose_unit": "mg", "route": "oral",
            "slots": ["morning"], "start_date": day(20), "possession": "supervised",
            "prescriber": "Dr A Khan GMC 7012345"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let create = |body: Value| {
        let app = &app;
        let w = &w;
        async move {
            let r = app
                .post(
                    &format!("/api/v1/patients/{}/prescriptions", w.patient),
                    &w.technician.token,
                    body,
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body
        }
    };
    // Daily methotrexate is blocked at screening; weekly on a named day is not.
    let daily = create(prescribe(methotrexate, "10", json!({}))).await;
    let blocks: Vec<&str> = daily["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "block")
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert_eq!(blocks, vec!["frequency"]);
    // The weekly day is the one six days ago: due then, overdue since, today.
    let weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [chrono::Datelike::weekday(&day(6)).num_days_from_monday() as usize];
    let weekly = create(prescribe(
        methotrexate,
        "10",
        json!({"schedule": {"kind": "weekly", "days": [weekday]}, "start_date": day(10)}),
    ))
    .await;
    // (The daily draft beside it is only a duplicate to note.)
    assert!(
        weekly["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] != "block"),
        "{weekly}"
    );
    assert_eq!(weekly["schedule"]["kind"], "weekly");
    let weekly_id = weekly["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/prescriptions/{weekly_id}/screening"),
            &w.pharmacist.token,
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(r.body["status"], "active", "{}", r.body);
    // Other schedules are refused when they do not say what they need.
    let r = app
        .post(
            &format!("/api/v1/patients/{}/prescriptions", w.patient),
            &w.technician.token,
            prescribe(
                methotrexate,
                "10",
                json!({"schedule": {"kind": "weekly", "days": ["mon", "thu"]}}),
            ),
        )
        .await;
    assert_eq!(
        first_issue(&r.body),
        ("schedule.days".into(), "one_day".into())
    );
    let r = app
        .post(
            &format!("/api/v1/patients/{}/prescriptions", w.patient),
            &w.technician.token,
            prescribe(
                methotrexate,
                "10",
                json!({"schedule": {"kind": "every_n_days"}}),
            ),
        )
        .await;
    assert_eq!(
        first_issue(&r.body),
        ("schedule.every_days".into(), "required".into())
    );

    let round = |date: chrono::NaiveDate| {
        let app = &app;
        let w = &w;
        async move {
            let r = app
                .get(
                    &format!(
                        "/api/v1/sites/{}/rounds?date={date}&slot=morning&location_id={}",
                        w.fosse.id, w.fosse.hatch
                    ),
                    &w.nurse.token,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["prescription_id"] == weekly_id)
                .map(|i| {
                    (
                        i["scheduled_date"].as_str().unwrap().to_string(),
                        i["overdue"].as_bool().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    // Not due the day before its day; due on it; still due, overdue, until recorded.
    assert_eq!(round(day(7)).await, vec![]);
    assert_eq!(round(day(6)).await, vec![(day(6).to_string(), false)]);
    assert_eq!(round(today).await, vec![(day(6).to_string(), true)]);
    // A day it is not due is refused.
    let doses = format!("/api/v1/sites/{}/doses", w.fosse.id);
    let record = |date: chrono::NaiveDate, outcome: &str| {
        json!({"prescription_id": weekly_id, "date": date, "slot": "morning", "outcome": outcome,
               "location_id": w.fosse.hatch})
    };
    let r = app
        .post(&doses, &w.nurse.token, record(day(5), "given"))
        .await;
    assert_eq!(first_issue(&r.body), ("date".into(), "scheduled".into()));
    // Given on its day (late): no longer due.
    let r = app
        .post(&doses, &w.nurse.token, record(day(6), "given"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(round(today).await, vec![]);
    // A second weekly methotrexate prescription on another day: its dose in the same week is
    // refused, whichever prescription it comes under.
    let other_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [chrono::Datelike::weekday(&day(4)).num_days_from_monday() as usize];
    let second = create(prescribe(
        methotrexate,
        "10",
        json!({"schedule": {"kind": "weekly", "days": [other_day]}, "start_date": day(10)}),
    ))
    .await;
    let second_id = second["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/prescriptions/{second_id}/screening"),
            &w.pharmacist.token,
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(r.body["status"], "active", "{}", r.body);
    let mut again = record(day(4), "given");
    again["prescription_id"] = json!(second_id);
    let r = app.post(&doses, &w.nurse.token, again).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["code"], "weekly_dose_given");

    // A reducing diazepam course: 10 mg for two days, then 5 mg.
    let diazepam = stocked(&app, &w, "Diazepam 5mg tablets", "100").await;
    let course = create(prescribe(
        diazepam,
        "10",
        json!({"start_date": day(2), "end_date": day(-3), "schedule": {"kind": "stepped", "steps": [
            {"from": day(2), "to": day(1), "dose": "10"}, {"from": today, "to": day(-3), "dose": "5"}]}}),
    ))
    .await;
    let course_id = course["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/prescriptions/{course_id}/screening"),
        &w.pharmacist.token,
        json!({"decision": "approve"}),
    )
    .await;
    let dose_on = |date: chrono::NaiveDate| {
        let app = &app;
        let w = &w;
        async move {
            let r = app
                .get(
                    &format!(
                        "/api/v1/sites/{}/rounds?date={date}&slot=morning&location_id={}",
                        w.fosse.id, w.fosse.hatch
                    ),
                    &w.nurse.token,
                )
                .await;
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["prescription_id"] == course_id)
                .map(|i| i["dose"].as_str().unwrap().to_string())
        }
    };
    assert_eq!(dose_on(day(1)).await.as_deref(), Some("10"));
    assert_eq!(dose_on(today).await.as_deref(), Some("5"));
    assert_eq!(dose_on(day(3)).await, None);
    // Steps must run on from the start without a gap.
    let r = app
        .post(
            &format!("/api/v1/patients/{}/prescriptions", w.patient),
            &w.technician.token,
            prescribe(diazepam, "10", json!({"start_date": day(2), "schedule": {"kind": "stepped", "steps": [
                {"from": day(2), "to": day(2), "dose": "10"}, {"from": today, "to": today, "dose": "5"}]}})),
        )
        .await;
    assert_eq!(
        first_issue(&r.body),
        ("schedule.steps[1].from".into(), "contiguous".into())
    );

    // Paracetamol when required: at least an hour apart, at most two in 24 hours.
    let paracetamol = stocked(&app, &w, "Paracetamol 500mg tablets", "100").await;
    let prn = create(prescribe(
        paracetamol,
        "1000",
        json!({"slots": [], "as_needed": true, "max_doses_per_day": 2,
               "schedule": {"kind": "as_needed", "min_interval_minutes": 60}}),
    ))
    .await;
    let prn_id = prn["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/prescriptions/{prn_id}/screening"),
        &w.pharmacist.token,
        json!({"decision": "approve"}),
    )
    .await;
    let now = chrono::Utc::now();
    let at = |minutes_ago: i64| {
        let t = now - chrono::Duration::minutes(minutes_ago);
        json!({"prescription_id": prn_id, "date": t.date_naive(), "slot": "morning",
               "outcome": "given", "location_id": w.fosse.hatch,
               "occurred_at": t.format("%Y-%m-%dT%H:%M:%SZ").to_string()})
    };
    let r = app.post(&doses, &w.nurse.token, at(420)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app.post(&doses, &w.nurse.token, at(390)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["code"], "prn_too_soon");
    let r = app.post(&doses, &w.nurse.token, at(300)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app.post(&doses, &w.nurse.token, at(60)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["code"], "prn_daily_maximum");
    let next = (now - chrono::Duration::minutes(420) + chrono::Duration::hours(24))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    assert!(
        r.body["detail"].as_str().unwrap().contains(&next),
        "{}",
        r.body
    );
}

/// Long-acting buprenorphine injections (Buvidal weekly and monthly) are given at a round like
/// any supervised dose: witnessed, entered in the register, and with where they were injected.
#[actix_web::test]
async fn buvidal_is_witnessed_registered_and_its_site_recorded() {
    use chrono::Datelike;
    let app = spawn().await;
    let w = setup(&app).await;
    let today = chrono::Utc::now().date_naive();
    let weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [today.weekday().num_days_from_monday() as usize];
    let mut ids = Vec::new();
    for (name, schedule) in [
        (
            "Buvidal 64mg/0.18ml weekly prolonged-release solution for injection pre-filled syringes",
            json!({"kind": "weekly", "days": [weekday]}),
        ),
        (
            "Buvidal 96mg/0.27ml monthly prolonged-release solution for injection pre-filled syringes",
            json!({"kind": "monthly", "day_of_month": today.day().min(28)}),
        ),
    ] {
        let product = stocked(&app, &w, name, "4").await;
        let r = app
            .post(
                &format!("/api/v1/patients/{}/prescriptions", w.patient),
                &w.technician.token,
                json!({"product_id": product, "dose": "1", "dose_unit": "syringe", "route": "subcutaneous",
                       "slots": ["morning"], "start_date": today, "possession": "supervised",
                       "schedule": schedule, "prescriber": "Dr A Khan GMC 7012345"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["id"].as_i64().unwrap();
        let r = app
            .post(
                &format!("/api/v1/prescriptions/{id}/screening"),
                &w.pharmacist.token,
                json!({"decision": "approve", "override_reason": "both Buvidal strengths for the test"}),
            )
            .await;
        assert_eq!(r.body["status"], "active", "{}", r.body);
        ids.push(id);
    }
    let doses = format!("/api/v1/sites/{}/doses", w.fosse.id);
    let give = |rx: i64| {
        json!({"prescription_id": rx, "date": today, "slot": "morning", "outcome": "given",
               "location_id": w.fosse.hatch, "witness": w.nurse2.as_witness()})
    };
    // Without its site the injection is not recorded.
    let r = app.post(&doses, &w.nurse.token, give(ids[0])).await;
    assert_eq!(
        first_issue(&r.body),
        ("injection_site".into(), "required".into())
    );
    let mut weekly = give(ids[0]);
    weekly["injection_site"] = json!("left_thigh");
    let r = app.post(&doses, &w.nurse.token, weekly).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["injection_site"], "left_thigh");
    assert_eq!(r.body["witness_id"], w.nurse2.id);
    assert!(
        r.body["stock"][0]["register_entry_id"].is_i64(),
        "{}",
        r.body
    );
    if today.day() <= 28 {
        let mut monthly = give(ids[1]);
        monthly["injection_site"] = json!("abdomen");
        let r = app.post(&doses, &w.nurse.token, monthly).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert!(
            r.body["stock"][0]["register_entry_id"].is_i64(),
            "{}",
            r.body
        );
    }
    // A tablet has no injection site.
    let mut tablet = dose(&w, w.levetiracetam_rx, "given");
    tablet["injection_site"] = json!("abdomen");
    let r = app.post(&doses, &w.nurse.token, tablet).await;
    assert_eq!(
        first_issue(&r.body),
        ("injection_site".into(), "only_for_injections".into())
    );
}

/// A time-critical medicine (levetiracetam, an anti-epileptic) not recorded 30 minutes after
/// its round raises an alert, once; a dose recorded in time does not.
#[actix_web::test]
async fn a_late_time_critical_dose_raises_one_alert() {
    use prison_pharmacy::administration::service::{alert_late_time_critical, parse_round_times};
    let app = spawn().await;
    let w = setup(&app).await;
    let round = app
        .get(
            &format!(
                "/api/v1/sites/{}/rounds?date={}&slot=night&location_id={}",
                w.fosse.id,
                today(),
                w.fosse.hatch
            ),
            &w.nurse.token,
        )
        .await;
    assert_eq!(
        round.body["items"][0]["time_critical"], true,
        "{}",
        round.body
    );
    // The morning dose is given in time; the night one is not recorded.
    let r = app
        .post(
            &format!("/api/v1/sites/{}/doses", w.fosse.id),
            &w.nurse.token,
            dose(&w, w.levetiracetam_rx, "given"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let times = parse_round_times("morning=08:00,night=08:30").unwrap();
    let at = |time: &str| {
        chrono::NaiveDateTime::parse_from_str(&format!("{} {time}", today()), "%Y-%m-%d %H:%M")
            .unwrap()
    };
    let mut conn = app.conn();
    // As the service runs it: in a write transaction of its own.
    let check = |c: &mut prison_pharmacy::db::AnyConnection, now: chrono::NaiveDateTime| {
        prison_pharmacy::db::transaction(c, |c| alert_late_time_critical(c, now, &times, 30))
            .unwrap()
    };
    // Within the half hour nothing is late.
    assert_eq!(check(&mut conn, at("08:45")), 0);
    assert_eq!(check(&mut conn, at("09:01")), 1);
    assert_eq!(check(&mut conn, at("09:30")), 0);
    drop(conn);
    let alerts = app
        .get(
            &format!("/api/v1/sites/{}/alerts", w.fosse.id),
            &w.nurse.token,
        )
        .await;
    let messages: Vec<&str> = alerts.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains("time-critical dose of Levetiracetam"),
        "{}",
        messages[0]
    );
    assert!(
        messages[0].contains("night round (08:30)"),
        "{}",
        messages[0]
    );
    assert!(parse_round_times("brunch=10:00").is_err());
}
