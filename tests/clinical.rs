//! Patients, in-possession risk assessments, prescriptions and the pharmacist's screen over HTTP.

mod common;

use actix_web::http::{Method, StatusCode};
use common::{first_issue, spawn, Site, TestApp, User};
use serde_json::{json, Value};

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};

struct World {
    fosse: Site,
    lincoln: Site,
    pharmacist: User,
    technician: User,
    nurse: User,
    lincoln_nurse: User,
    auditor: User,
}

async fn setup<S, B>(app: &TestApp<S>) -> World
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let fosse = app.site("FWI");
    let lincoln = app.site("LCI");
    World {
        pharmacist: app.user("pharmacist", "pharmacist", &[fosse.id]),
        technician: app.user("technician", "pharmacy_technician", &[fosse.id]),
        nurse: app.user("nurse", "nurse", &[fosse.id]),
        lincoln_nurse: app.user("nurse.lincoln", "nurse", &[lincoln.id]),
        auditor: app.user("auditor", "auditor", &[fosse.id]),
        fosse,
        lincoln,
    }
}

/// Adds a product from the shipped formulary, by name.
async fn product<S, B>(app: &TestApp<S>, w: &World, name: &str) -> i64
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let all: Vec<Value> = serde_json::from_str(include_str!("../fixtures/formulary.json")).unwrap();
    let body = all.into_iter().find(|p| p["name"] == name).unwrap();
    let r = app
        .post("/api/v1/formulary/products", &w.pharmacist.token, body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_i64().unwrap()
}

async fn admit<S, B>(app: &TestApp<S>, w: &World, number: &str) -> i64
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .post(
            &format!("/api/v1/sites/{}/patients", w.fosse.id),
            &w.nurse.token,
            json!({"prison_number": number, "given_name": "Test", "family_name": "Patient",
                   "date_of_birth": "1990-01-01", "wing": "HB1", "landing": "1", "cell": "101"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_i64().unwrap()
}

fn rx(product: i64, dose: &str, slots: &[&str], possession: &str) -> Value {
    json!({"product_id": product, "dose": dose, "dose_unit": "mg", "route": "oral", "slots": slots,
           "start_date": "2026-11-21", "possession": possession, "prescriber": "Dr A Khan GMC 7012345"})
}

async fn prescribe<S, B>(app: &TestApp<S>, w: &World, patient: i64, body: Value) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .post(
            &format!("/api/v1/patients/{patient}/prescriptions"),
            &w.technician.token,
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

async fn approve<S, B>(app: &TestApp<S>, w: &World, id: i64)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .post(
            &format!("/api/v1/prescriptions/{id}/screening"),
            &w.pharmacist.token,
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "active");
}

fn findings(rx: &Value) -> Vec<(String, String)> {
    rx["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(check: &str, severity: &str) -> (String, String) {
    (check.to_string(), severity.to_string())
}

#[actix_web::test]
async fn bad_prison_numbers_and_prescriptions_are_refused_and_change_nothing() {
    let app = spawn().await;
    let w = setup(&app).await;
    let path = format!("/api/v1/sites/{}/patients", w.fosse.id);
    for number in ["A123BC", "a1234bc", "A1234B", "11234BC", "A1234BCD"] {
        let r = app
            .post(
                &path,
                &w.nurse.token,
                json!({"prison_number": number, "given_name": "X", "family_name": "Y",
                                                "date_of_birth": "1990-01-01"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{number}");
        assert_eq!(
            first_issue(&r.body),
            ("prison_number".into(), "nomis_number".into())
        );
    }
    assert_eq!(app.count("patients"), 0);
    let patient = admit(&app, &w, "A1234BC").await;
    let r = app
        .post(
            &path,
            &w.nurse.token,
            json!({"prison_number": "A1234BC", "given_name": "X", "family_name": "Y",
                                            "date_of_birth": "1990-01-01"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    let sertraline = product(&app, &w, "Sertraline 50mg tablets").await;
    let rx_path = format!("/api/v1/patients/{patient}/prescriptions");
    let mut end_before_start = rx(sertraline, "50", &["morning"], "supervised");
    end_before_start["end_date"] = json!("2026-11-01");
    let mut wrong_unit = rx(sertraline, "50", &["morning"], "supervised");
    wrong_unit["dose_unit"] = json!("ml");
    let mut no_slots = rx(sertraline, "50", &[], "supervised");
    no_slots["slots"] = json!([]);
    let cases = [
        (
            rx(999_999, "50", &["morning"], "supervised"),
            "product_id",
            "exists",
        ),
        (
            rx(sertraline, "50.0001", &["morning"], "supervised"),
            "dose",
            "decimal_places",
        ),
        (end_before_start, "end_date", "after_start"),
        (wrong_unit, "dose_unit", "matches_product"),
        (no_slots, "slots", "required"),
        (
            rx(sertraline, "50", &["morning", "morning"], "supervised"),
            "slots[1]",
            "unique",
        ),
        (
            rx(sertraline, "0", &["morning"], "supervised"),
            "dose",
            "positive",
        ),
    ];
    for (body, field, rule) in cases {
        let r = app.post(&rx_path, &w.technician.token, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
        assert_eq!(first_issue(&r.body), (field.into(), rule.into()), "{body}");
    }
    assert_eq!(app.count("prescriptions"), 0);
    assert_eq!(app.count("screening_findings"), 0);
    // Nurses do not enter prescriptions; auditors write nothing.
    let r = app
        .post(
            &rx_path,
            &w.nurse.token,
            rx(sertraline, "50", &["morning"], "supervised"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &rx_path,
            &w.auditor.token,
            rx(sertraline, "50", &["morning"], "supervised"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn each_screening_check_fires_on_a_case_and_stays_quiet_on_a_near_miss() {
    let app = spawn().await;
    let w = setup(&app).await;
    let patient = admit(&app, &w, "A1234BC").await;
    let r = app
        .post(
            &format!("/api/v1/patients/{patient}/allergies"),
            &w.nurse.token,
            json!({"substance": "penicillin", "kind": "allergy", "reaction": "anaphylaxis", "severity": "severe"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Allergy: amoxicillin is a penicillin; clarithromycin is not.
    let amoxicillin = product(&app, &w, "Amoxicillin 500mg capsules").await;
    let clarithromycin = product(&app, &w, "Clarithromycin 500mg tablets").await;
    let f = prescribe(
        &app,
        &w,
        patient,
        rx(
            amoxicillin,
            "500",
            &["morning", "lunchtime", "night"],
            "supervised",
        ),
    )
    .await;
    assert_eq!(findings(&f), [pair("allergy", "block")]);
    assert!(f["findings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("penicillin"));
    let f = prescribe(
        &app,
        &w,
        patient,
        rx(clarithromycin, "500", &["morning", "night"], "supervised"),
    )
    .await;
    assert_eq!(findings(&f), []);

    // Interaction: pregabalin with methadone; sertraline is quiet.
    let other = admit(&app, &w, "B2345CD").await;
    let methadone = product(&app, &w, "Methadone 1mg/ml oral solution sugar free").await;
    let m = prescribe(
        &app,
        &w,
        other,
        rx(methadone, "60", &["morning"], "supervised"),
    )
    .await;
    assert_eq!(findings(&m), []);
    approve(&app, &w, m["id"].as_i64().unwrap()).await;
    let pregabalin = product(&app, &w, "Pregabalin 75mg capsules").await;
    let f = prescribe(
        &app,
        &w,
        other,
        rx(pregabalin, "75", &["morning", "night"], "supervised"),
    )
    .await;
    assert_eq!(findings(&f), [pair("interaction", "caution")]);
    assert!(f["findings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Respiratory depression"));
    assert!(f["findings"][0]["source"]
        .as_str()
        .unwrap()
        .starts_with("MHRA Drug Safety Update"));
    assert_eq!(f["findings"][0]["related_prescription_id"], m["id"]);
    let sertraline = product(&app, &w, "Sertraline 50mg tablets").await;
    let f = prescribe(
        &app,
        &w,
        other,
        rx(sertraline, "50", &["morning"], "supervised"),
    )
    .await;
    assert_eq!(findings(&f), []);

    // Maximum daily dose: 4 x 1 g paracetamol is the limit; 4 x 1.5 g is over it.
    let third = admit(&app, &w, "C3456DE").await;
    let paracetamol = product(&app, &w, "Paracetamol 500mg tablets").await;
    let four = ["morning", "lunchtime", "teatime", "night"];
    let f = prescribe(
        &app,
        &w,
        third,
        rx(paracetamol, "1000", &four, "supervised"),
    )
    .await;
    assert_eq!(findings(&f), []);
    assert_eq!(f["daily_dose"], "4000");
    let f = prescribe(
        &app,
        &w,
        third,
        rx(paracetamol, "1500", &four, "supervised"),
    )
    .await;
    assert!(
        findings(&f).contains(&pair("max_dose", "block")),
        "{}",
        f["findings"]
    );

    // Duplicate therapy: two proton pump inhibitors; a statin is a different class.
    let fourth = admit(&app, &w, "D4567EF").await;
    let omeprazole = product(&app, &w, "Omeprazole 20mg gastro-resistant capsules").await;
    let lansoprazole = product(&app, &w, "Lansoprazole 30mg gastro-resistant capsules").await;
    let atorvastatin = product(&app, &w, "Atorvastatin 20mg tablets").await;
    prescribe(
        &app,
        &w,
        fourth,
        rx(omeprazole, "20", &["morning"], "supervised"),
    )
    .await;
    let f = prescribe(
        &app,
        &w,
        fourth,
        rx(lansoprazole, "30", &["morning"], "supervised"),
    )
    .await;
    assert_eq!(findings(&f), [pair("duplicate_therapy", "caution")]);
    let f = prescribe(
        &app,
        &w,
        fourth,
        rx(atorvastatin, "20", &["night"], "supervised"),
    )
    .await;
    assert_eq!(findings(&f), []);

    // Possession: methadone in possession is blocked; supervised it is not. Sertraline in
    // possession needs an assessment that allows it.
    let fifth = admit(&app, &w, "E5678FG").await;
    let f = prescribe(
        &app,
        &w,
        fifth,
        rx(methadone, "30", &["morning"], "in_possession"),
    )
    .await;
    assert!(findings(&f).contains(&pair("possession", "block")));
    let sixth = admit(&app, &w, "F6789GH").await;
    let f = prescribe(
        &app,
        &w,
        sixth,
        rx(methadone, "30", &["morning"], "supervised"),
    )
    .await;
    assert_eq!(findings(&f), []);
    let f = prescribe(
        &app,
        &w,
        sixth,
        rx(sertraline, "50", &["morning"], "in_possession"),
    )
    .await;
    assert_eq!(findings(&f), [pair("possession", "block")]);
    let r = app
        .post(
            &format!("/api/v1/patients/{sixth}/ip-assessments"),
            &w.nurse.token,
            json!({"outcome": "in_possession", "reasons": "stable", "review_date": "2030-01-01"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let seventh_rx = prescribe(
        &app,
        &w,
        sixth,
        rx(atorvastatin, "20", &["night"], "in_possession"),
    )
    .await;
    assert_eq!(findings(&seventh_rx), []);
    assert_eq!(seventh_rx["supply_days"], 7);
}

#[actix_web::test]
async fn the_pharmacist_decides_and_overriding_a_block_needs_a_reason() {
    let app = spawn().await;
    let w = setup(&app).await;
    let patient = admit(&app, &w, "A1234BC").await;
    let methadone = product(&app, &w, "Methadone 1mg/ml oral solution sugar free").await;
    let sertraline = product(&app, &w, "Sertraline 50mg tablets").await;
    let blocked = prescribe(
        &app,
        &w,
        patient,
        rx(methadone, "30", &["morning"], "in_possession"),
    )
    .await;
    let plain = prescribe(
        &app,
        &w,
        patient,
        rx(sertraline, "50", &["morning"], "supervised"),
    )
    .await;
    let (blocked, plain) = (
        blocked["id"].as_i64().unwrap(),
        plain["id"].as_i64().unwrap(),
    );

    let queue = format!("/api/v1/sites/{}/screening-queue", w.fosse.id);
    let r = app.get(&queue, &w.technician.token).await;
    assert_eq!(r.status, StatusCode::OK);
    let ids: Vec<i64> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [blocked, plain]);
    let r = app.get(&queue, &w.nurse.token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let decide = |id: i64| format!("/api/v1/prescriptions/{id}/screening");
    let r = app
        .post(
            &decide(blocked),
            &w.technician.token,
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &decide(blocked),
            &w.pharmacist.token,
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        first_issue(&r.body),
        ("override_reason".into(), "required".into())
    );
    let r = app
        .post(&decide(blocked), &w.pharmacist.token,
              json!({"decision": "approve", "override_reason": "Stable on 30 mg for 2 years; IP agreed at MDT with weekly checks"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["screening"], "approved");
    assert_eq!(
        r.body["decisions"][0]["override_reason"],
        "Stable on 30 mg for 2 years; IP agreed at MDT with weekly checks"
    );
    let r = app
        .post(
            &decide(blocked),
            &w.pharmacist.token,
            json!({"decision": "reject", "note": "late"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "already_screened");

    let r = app
        .post(
            &decide(plain),
            &w.pharmacist.token,
            json!({"decision": "query"}),
        )
        .await;
    assert_eq!(first_issue(&r.body), ("note".into(), "required".into()));
    let r = app
        .post(
            &decide(plain),
            &w.pharmacist.token,
            json!({"decision": "query", "note": "Confirm dose with GP records"}),
        )
        .await;
    assert_eq!(r.body["screening"], "queried");
    assert_eq!(r.body["status"], "draft");
    let r = app.get(&queue, &w.pharmacist.token).await;
    assert_eq!(r.body["items"][0]["id"], plain);
    let r = app
        .post(
            &decide(plain),
            &w.pharmacist.token,
            json!({"decision": "reject", "note": "Duplicate of community supply"}),
        )
        .await;
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(r.body["screening"], "rejected");
    let r = app.get(&queue, &w.pharmacist.token).await;
    assert_eq!(r.body["items"], json!([]));

    // Hold and stop carry reasons; the history keeps every step; the record itself never changes.
    let hold = format!("/api/v1/prescriptions/{blocked}/hold");
    let r = app.post(&hold, &w.pharmacist.token, json!({})).await;
    assert_eq!(first_issue(&r.body).0, "reason");
    let r = app
        .post(&hold, &w.pharmacist.token, json!({"reason": "in hospital"}))
        .await;
    assert_eq!(r.body["status"], "on-hold");
    let r = app
        .post(
            &format!("/api/v1/prescriptions/{blocked}/resume"),
            &w.pharmacist.token,
            json!({}),
        )
        .await;
    assert_eq!(r.body["status"], "active");
    let r = app
        .post(
            &format!("/api/v1/prescriptions/{blocked}/stop"),
            &w.pharmacist.token,
            json!({"reason": "detox complete"}),
        )
        .await;
    assert_eq!(r.body["status"], "stopped");
    let statuses: Vec<&str> = r.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["draft", "active", "on-hold", "active", "stopped"]
    );
    assert_eq!(r.body["history"][4]["reason"], "detox complete");
    let r = app
        .post(
            &format!("/api/v1/prescriptions/{blocked}/hold"),
            &w.pharmacist.token,
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    use diesel::RunQueryDsl;
    let mut c = app.conn();
    let err = diesel::sql_query(format!(
        "UPDATE prescriptions SET dose = 1 WHERE id = {blocked}"
    ))
    .execute(&mut **c)
    .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    // Its schedule is content too.
    let err = diesel::sql_query(format!(
        "UPDATE prescriptions SET schedule = 'weekly', weekdays = 'mon' WHERE id = {blocked}"
    ))
    .execute(&mut **c)
    .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[actix_web::test]
async fn transfer_takes_prescriptions_to_the_new_prison_only() {
    let app = spawn().await;
    let w = setup(&app).await;
    let patient = admit(&app, &w, "A1234BC").await;
    let sertraline = product(&app, &w, "Sertraline 50mg tablets").await;
    let s = prescribe(
        &app,
        &w,
        patient,
        rx(sertraline, "50", &["morning"], "supervised"),
    )
    .await;
    approve(&app, &w, s["id"].as_i64().unwrap()).await;

    let r = app
        .post(
            &format!("/api/v1/patients/{patient}/transfer"),
            &w.nurse.token,
            json!({"to_site_id": w.lincoln.id, "note": "court move"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["site_id"], w.lincoln.id);
    assert_eq!(r.body["wing"], Value::Null);

    // Fosse Way no longer sees the patient or the prescription.
    let r = app
        .get(&format!("/api/v1/patients/{patient}"), &w.pharmacist.token)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .get(
            &format!("/api/v1/prescriptions/{}", s["id"]),
            &w.pharmacist.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .get(
            &format!("/api/v1/sites/{}/patients", w.fosse.id),
            &w.pharmacist.token,
        )
        .await;
    assert_eq!(r.body["items"], json!([]));

    // Lincoln does, with the prescription still active, a reconciliation due in 7 days and an IP review due.
    let r = app
        .get(
            &format!("/api/v1/patients/{patient}/prescriptions"),
            &w.lincoln_nurse.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["items"][0]["id"], s["id"]);
    assert_eq!(r.body["items"][0]["status"], "active");
    let r = app
        .get(
            &format!("/api/v1/sites/{}/reconciliation-tasks", w.lincoln.id),
            &w.lincoln_nurse.token,
        )
        .await;
    let task = r.body["items"][0].clone();
    assert_eq!(task["patient_id"], patient);
    assert_eq!(task["completed_at"], Value::Null);
    let due = (chrono::Utc::now().date_naive() + chrono::Duration::days(7)).to_string();
    assert_eq!(task["due_date"], due.as_str());
    let r = app
        .get(
            &format!("/api/v1/sites/{}/ip-reviews-due", w.lincoln.id),
            &w.lincoln_nurse.token,
        )
        .await;
    assert_eq!(r.body["items"][0]["reason"], "transfer");
    let r = app
        .get(
            &format!("/api/v1/sites/{}/reconciliation-tasks", w.fosse.id),
            &w.pharmacist.token,
        )
        .await;
    assert_eq!(r.body["items"], json!([]));

    // Release at Lincoln: the supply to take out leaves stock through the ledger and the
    // prescriptions end; OST is capped at 14 days.
    let lincoln_pharm = app.user("pharm.lincoln", "pharmacist", &[w.lincoln.id]);
    let batch = {
        use prison_pharmacy::ledger::{self, Posting};
        let mut c = app.conn();
        let actor = prison_pharmacy::audit::Actor {
            user_id: lincoln_pharm.id,
            request_id: "test".into(),
        };
        let request =
            serde_json::from_value(json!({"batch_number": "S1", "expiry_date": "2030-01-31"}))
                .unwrap();
        let batch =
            prison_pharmacy::formulary::service::create_batch(&mut c, &actor, sertraline, &request)
                .unwrap()
                .id;
        let p = Posting::new(
            w.lincoln.id,
            w.lincoln.store,
            batch,
            "100".parse().unwrap(),
            prison_pharmacy::domain::stock::MovementReason::Receipt,
        );
        ledger::post(&mut c, &actor, &p).unwrap();
        batch
    };
    let r = app
        .post(
            &format!("/api/v1/patients/{patient}/release"),
            &lincoln_pharm.token,
            json!({"supplies": [{"prescription_id": s["id"], "days": 29, "location_id": w.lincoln.store}]}),
        )
        .await;
    assert_eq!(
        first_issue(&r.body),
        ("supplies[0].days".into(), "range".into())
    );
    let r = app
        .post(
            &format!("/api/v1/patients/{patient}/release"),
            &lincoln_pharm.token,
            json!({"supplies": [{"prescription_id": s["id"], "days": 28, "location_id": w.lincoln.store}],
                   "identity_checked": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "released");
    assert_eq!(app.count("release_supplies"), 1);
    // 28 days of one tablet a day left the store.
    let r = app
        .get(
            &format!("/api/v1/sites/{}/stock?batch_id={batch}", w.lincoln.id),
            &lincoln_pharm.token,
        )
        .await;
    assert_eq!(common::total_quantity(&r.body["items"]), "72", "{}", r.body);
    let r = app
        .get(
            &format!("/api/v1/prescriptions/{}", s["id"]),
            &lincoln_pharm.token,
        )
        .await;
    assert_eq!(r.body["status"], "completed");
    let lincoln_auditor = app.user("auditor.lincoln", "auditor", &[w.lincoln.id]);
    let r = app
        .get(
            &format!("/api/v1/audit?entity=prescription&entity_id={}", s["id"]),
            &lincoln_auditor.token,
        )
        .await;
    let actions: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // Lincoln's auditor sees what happened at Lincoln: the release ended the prescription.
    assert_eq!(actions, ["prescription.completed"]);

    // The reconciliation is completed once, by a linked record.
    let complete = format!("/api/v1/reconciliation-tasks/{}/complete", task["id"]);
    let r = app
        .post(
            &complete,
            &w.lincoln_nurse.token,
            json!({"note": "checked"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &complete,
            &lincoln_pharm.token,
            json!({"note": "reconciled against the PER and GP record"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["completed_by"], lincoln_pharm.id);
    assert_eq!(r.body["note"], "reconciled against the PER and GP record");
    assert_eq!(r.body["overdue"], false);
    let r = app
        .post(&complete, &lincoln_pharm.token, json!({"note": "again"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "already_completed");
    let r = app
        .get(
            &format!("/api/v1/sites/{}/reconciliation-tasks", w.lincoln.id),
            &lincoln_pharm.token,
        )
        .await;
    assert_eq!(r.body["items"], json!([]));
    assert_eq!(app.count("reconciliation_completions"), 1);
}

#[actix_web::test]
async fn in_possession_reviews_fall_due_by_date_and_by_trigger() {
    let app = spawn().await;
    let w = setup(&app).await;
    let none = admit(&app, &w, "A1234BC").await;
    let assessed = admit(&app, &w, "B2345CD").await;
    let r = app
        .post(&format!("/api/v1/patients/{assessed}/ip-assessments"), &w.nurse.token,
              json!({"outcome": "named_products_only", "reasons": "trading history", "review_date": "2030-01-01"}))
        .await;
    assert_eq!(
        first_issue(&r.body),
        ("product_ids".into(), "required".into())
    );
    let r = app
        .post(
            &format!("/api/v1/patients/{assessed}/ip-assessments"),
            &w.nurse.token,
            json!({"outcome": "in_possession", "reasons": "stable", "review_date": "2020-01-01"}),
        )
        .await;
    assert_eq!(
        first_issue(&r.body),
        ("review_date".into(), "after_assessment".into())
    );
    let r = app
        .post(
            &format!("/api/v1/patients/{assessed}/ip-assessments"),
            &w.nurse.token,
            json!({"outcome": "in_possession", "reasons": "stable", "review_date": "2030-01-01"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["assessed_by"], w.nurse.id);
    let due = format!("/api/v1/sites/{}/ip-reviews-due", w.fosse.id);
    let r = app.get(&due, &w.nurse.token).await;
    let listed: Vec<(i64, String)> = r.body["items"]
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
    assert_eq!(listed, [(none, "no_assessment".to_string())]);

    let r = app
        .post(
            &format!("/api/v1/patients/{assessed}/ip-review-triggers"),
            &w.nurse.token,
            json!({"reason": "found_trading", "note": "found with another patient's tablets"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app.get(&due, &w.nurse.token).await;
    let reasons: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["no_assessment", "found_trading"]);
    // A new assessment clears the trigger.
    let r = app
        .post(&format!("/api/v1/patients/{assessed}/ip-assessments"), &w.nurse.token,
              json!({"outcome": "supervised_only", "reasons": "trading", "review_date": "2027-01-01"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app.get(&due, &w.nurse.token).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let r = app
        .get(
            &format!("/api/v1/patients/{assessed}/ip-assessments"),
            &w.auditor.token,
        )
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["items"][0]["outcome"], "supervised_only");
}

#[actix_web::test]
async fn demo_pregabalin_on_methadone_possession_block_and_transfer() {
    let app = spawn().await;
    app.load_demo();
    let token = |name: &str| app.token_of(name);
    let (technician, pharmacist, nurse, lincoln_nurse) = (
        token("technician"),
        token("pharmacist"),
        token("nurse"),
        token("nurse.lincoln"),
    );
    let fosse = app.get("/api/v1/me", &nurse).await.body["sites"][0]["id"]
        .as_i64()
        .unwrap();
    let patients = app
        .get(
            &format!("/api/v1/sites/{fosse}/patients?prison_number=A1234BC"),
            &nurse,
        )
        .await;
    let archer = patients.body["items"][0]["id"].as_i64().unwrap();
    let products = app
        .get("/api/v1/formulary/products?per_page=200", &technician)
        .await;
    let id_of = |name: &str| {
        products.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };

    let r = app
        .post(
            &format!("/api/v1/patients/{archer}/prescriptions"),
            &technician,
            rx(
                id_of("Pregabalin 75mg capsules"),
                "75",
                &["morning", "night"],
                "supervised",
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let interaction = r.body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "interaction")
        .unwrap();
    assert!(
        interaction["message"]
            .as_str()
            .unwrap()
            .contains("Respiratory depression"),
        "{interaction}"
    );

    let r = app
        .post(
            &format!("/api/v1/patients/{archer}/prescriptions"),
            &technician,
            rx(
                id_of("Methadone 1mg/ml oral solution sugar free"),
                "60",
                &["morning"],
                "in_possession",
            ),
        )
        .await;
    let blocked = r.body["id"].as_i64().unwrap();
    assert!(
        findings(&r.body).contains(&pair("possession", "block")),
        "{}",
        r.body["findings"]
    );
    let r = app
        .post(
            &format!("/api/v1/prescriptions/{blocked}/screening"),
            &pharmacist,
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(&format!("/api/v1/prescriptions/{blocked}/screening"), &pharmacist,
              json!({"decision": "approve", "override_reason": "Consultant-led take-home dose before release, documented at MDT"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "active");

    // Transfer to Lincoln: the prescriptions are seen there, and no longer at Fosse Way.
    let booth = app
        .get(
            &format!("/api/v1/sites/{fosse}/patients?prison_number=B2345CD"),
            &nurse,
        )
        .await
        .body["items"][0]["id"]
        .as_i64()
        .unwrap();
    let before = app
        .get(&format!("/api/v1/patients/{booth}/prescriptions"), &nurse)
        .await;
    let lincoln = app.get("/api/v1/me", &lincoln_nurse).await.body["sites"][0]["id"]
        .as_i64()
        .unwrap();
    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/patients/{booth}/transfer"),
            Some(&nurse),
            Some(json!({"to_site_id": lincoln})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let after = app
        .get(
            &format!("/api/v1/patients/{booth}/prescriptions"),
            &lincoln_nurse,
        )
        .await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.body["items"], before.body["items"]);
    assert_eq!(
        app.get(&format!("/api/v1/patients/{booth}/prescriptions"), &nurse)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
