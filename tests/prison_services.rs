//! Emergency kits, outbreaks, budgets and reasonable adjustments over HTTP, on the demo data:
//! each rule with the case that breaks it, the rows written and the balances after.

mod common;

use std::collections::HashMap;

use actix_web::http::{Method, StatusCode};
use common::{first_issue, spawn, TestApp};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
        .parse()
        .unwrap()
}

struct Demo {
    site: i64,
    locations: HashMap<String, i64>,
    nurse: String,
    technician: String,
    pharmacist: String,
    auditor: String,
    admin: String,
}

async fn demo<S, B>(app: &TestApp<S>) -> Demo
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    app.load_demo();
    let nurse = app.token_of("nurse");
    let (site, locations) = app.home_site(&nurse).await;
    Demo {
        site,
        locations,
        nurse,
        technician: app.token_of("technician"),
        pharmacist: app.token_of("pharmacist"),
        auditor: app.token_of("auditor"),
        admin: app.token_of("admin"),
    }
}

async fn product<S, B>(app: &TestApp<S>, token: &str, starts: &str) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .get("/api/v1/formulary/products?per_page=200", token)
        .await;
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str().unwrap().starts_with(starts))
        .unwrap_or_else(|| panic!("no product {starts}"))
        .clone()
}

async fn patient<S, B>(app: &TestApp<S>, d: &Demo, number: &str) -> i64
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .get(
            &format!("/api/v1/sites/{}/patients?prison_number={number}", d.site),
            &d.nurse,
        )
        .await;
    r.body["items"][0]["id"].as_i64().unwrap()
}

/// The quantity of a product held at a location, from the stock list.
async fn held<S, B>(app: &TestApp<S>, location: i64, product: i64) -> Decimal
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut c = app.conn();
    use prison_pharmacy::db::schema::stock_balances as b;
    let rows: Vec<i64> = b::table
        .filter(b::location_id.eq(location))
        .filter(b::product_id.eq(product))
        .select(b::quantity)
        .load(&mut **c)
        .unwrap();
    Decimal::new(rows.iter().sum::<i64>(), 3).normalize()
}

fn kit_by_code<'a>(kits: &'a Value, code: &str) -> &'a Value {
    kits["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["location_code"] == code)
        .unwrap_or_else(|| panic!("no kit at {code}"))
}

#[actix_web::test]
async fn emergency_kits_are_checked_opened_and_restocked_through_the_ledger() {
    let app = spawn().await;
    let d = demo(&app).await;
    let kits_path = format!("/api/v1/sites/{}/emergency-kits", d.site);
    let naloxone = product(&app, &d.nurse, "Naloxone").await["id"]
        .as_i64()
        .unwrap();
    let methadone = product(&app, &d.nurse, "Methadone").await["id"]
        .as_i64()
        .unwrap();

    // The demo's three kits, restocked, sealed and checked.
    let kits = app.get(&kits_path, &d.auditor).await;
    assert_eq!(kits.status, StatusCode::OK, "{}", kits.body);
    assert_eq!(kits.body["total"], 3);
    let bag = kit_by_code(&kits.body, "HB1-EBAG").clone();
    assert_eq!(bag["kind"], "wing_emergency_bag");
    assert_eq!(bag["state"], "sealed");
    assert_eq!(bag["seal_number"], "FW-004411");
    assert_eq!(bag["overdue"], false);
    assert_eq!(bag["last_check_complete"], true);
    let bag_id = bag["id"].as_i64().unwrap();
    let bag_location = d.locations["HB1-EBAG"];
    assert_eq!(held(&app, bag_location, naloxone).await, Decimal::from(2));

    // A new kit on another wing: a location of its own, never a CD cabinet, never register stock.
    let r = app
        .post(
            &format!("/api/v1/sites/{}/locations", d.site),
            &d.admin,
            json!({"code": "HB2-EBAG", "name": "Houseblock 2 wing emergency bag", "kind": "treatment_room"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let hb2 = r.body["id"].as_i64().unwrap();
    let kits_before = app.count("emergency_kits");
    let bad = [
        (
            json!({"location_id": hb2, "kind": "wing_emergency_bag",
                   "contents": [{"product_id": methadone, "quantity": "10"}]}),
            ("contents[0].product_id", "not_cd_register"),
        ),
        (
            json!({"location_id": d.locations["CDCAB"], "kind": "naloxone_kit",
                   "contents": [{"product_id": naloxone, "quantity": "2"}]}),
            ("location_id", "not_cd_cabinet"),
        ),
        (
            json!({"location_id": hb2, "kind": "naloxone_kit",
                   "contents": [{"product_id": naloxone, "quantity": "2"}, {"product_id": naloxone, "quantity": "1"}]}),
            ("contents[1].product_id", "unique"),
        ),
        (
            json!({"location_id": hb2, "kind": "naloxone_kit",
                   "contents": [{"product_id": naloxone, "quantity": "0"}]}),
            ("contents[0].quantity", "positive"),
        ),
    ];
    for (body, (field, rule)) in bad {
        let r = app.post(&kits_path, &d.technician, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
        assert_eq!(first_issue(&r.body), (field.to_string(), rule.to_string()));
    }
    let nurse_try = app
        .post(
            &kits_path,
            &d.nurse,
            json!({"location_id": hb2, "kind": "naloxone_kit", "contents": [{"product_id": naloxone, "quantity": "1"}]}),
        )
        .await;
    assert_eq!(nurse_try.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("emergency_kits"), kits_before);
    let r = app
        .post(
            &kits_path,
            &d.technician,
            json!({"location_id": hb2, "kind": "naloxone_kit", "check_interval_days": 1,
                   "contents": [{"product_id": naloxone, "quantity": "1"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["state"], "unchecked");
    assert_eq!(r.body["check_interval_days"], 1);
    let new_kit = r.body["id"].as_i64().unwrap();
    let again = app
        .post(
            &kits_path,
            &d.technician,
            json!({"location_id": hb2, "kind": "naloxone_kit", "contents": [{"product_id": naloxone, "quantity": "1"}]}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["code"], "already_a_kit");
    // Nor does the kit's location become a CD cabinet afterwards: the register would then count
    // a kit that is opened and restocked outside it.
    let cabinet = app
        .call(
            Method::PUT,
            &format!("/api/v1/sites/{}/locations/{hb2}/cd-cabinet", d.site),
            Some(&d.admin),
            Some(json!({"cd_cabinet": true})),
        )
        .await;
    assert_eq!(cabinet.status, StatusCode::CONFLICT, "{}", cabinet.body);
    assert_eq!(cabinet.body["code"], "emergency_kit");
    {
        use prison_pharmacy::db::schema::locations as l;
        let marked: bool = l::table
            .find(hb2)
            .select(l::cd_cabinet)
            .first(&mut **app.conn())
            .unwrap();
        assert!(!marked);
    }

    // A check must cover the whole contents list; a check two days ago on a daily kit is overdue.
    let checks = format!("{kits_path}/{bag_id}/checks");
    let checks_before = app.count("emergency_kit_checks");
    let r = app
        .post(
            &checks,
            &d.nurse,
            json!({"seal_number": "FW-004411", "seal_intact": true,
                   "items": [{"product_id": naloxone, "present": true, "in_date": true}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(first_issue(&r.body).1, "covers_contents");
    assert_eq!(app.count("emergency_kit_checks"), checks_before);
    let two_days_ago = chrono::Utc::now() - chrono::Duration::days(2);
    let r = app
        .post(
            &format!("{kits_path}/{new_kit}/checks"),
            &d.nurse,
            json!({"seal_number": "FW-009001", "seal_intact": false, "checked_at": two_days_ago.to_rfc3339(),
                   "items": [{"product_id": naloxone, "present": false, "in_date": true}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["complete"], false);
    let overdue = app
        .get(&format!("{kits_path}/overdue-checks"), &d.nurse)
        .await;
    assert_eq!(overdue.status, StatusCode::OK);
    let overdue_ids: Vec<i64> = overdue.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_i64().unwrap())
        .collect();
    assert_eq!(overdue_ids, vec![new_kit]);

    // Opened on the wing for a patient: the seal is broken and the naloxone leaves as a given dose.
    let archer = patient(&app, &d, "A1234BC").await;
    let r = app
        .post(
            &format!("{kits_path}/{bag_id}/openings"),
            &d.nurse,
            json!({"seal_number": "FW-004411", "patient_id": archer,
                   "items_used": [{"product_id": naloxone, "quantity": "1"}],
                   "note": "Found unresponsive in cell, 2 doses not needed; ambulance called"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["kind"], "opened");
    assert_eq!(r.body["movements"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["movements"][0]["quantity"], "-1");
    assert_eq!(held(&app, bag_location, naloxone).await, Decimal::from(1));
    assert_eq!(
        app.count("stock_movements WHERE reason = 'dose_given' AND reason_code = 'emergency_kit'"),
        1
    );
    let bag = app.get(&format!("{kits_path}/{bag_id}"), &d.nurse).await;
    assert_eq!(bag.body["state"], "open");
    assert_eq!(bag.body["seal_number"], Value::Null);
    // Nothing that is not on the list leaves a kit.
    let r = app
        .post(
            &format!("{kits_path}/{bag_id}/openings"),
            &d.nurse,
            json!({"seal_number": "FW-004411", "items_used": [{"product_id": methadone, "quantity": "1"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Restocked from the pharmacy store and resealed: a transfer through the ledger.
    let store = d.locations["PHARM"];
    let store_before = held(&app, store, naloxone).await;
    let r = app
        .post(
            &format!("{kits_path}/{bag_id}/restocks"),
            &d.nurse,
            json!({"from_location_id": store, "seal_number": "FW-005000", "items": [{"product_id": naloxone, "quantity": "1"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "nurses do not move stock");
    let r = app
        .post(
            &format!("{kits_path}/{bag_id}/restocks"),
            &d.technician,
            json!({"from_location_id": store, "seal_number": "FW-005000", "items": [{"product_id": naloxone, "quantity": "1"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let moved: Vec<String> = r.body["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["quantity"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(moved, vec!["-1", "1"]);
    assert_eq!(held(&app, bag_location, naloxone).await, Decimal::from(2));
    assert_eq!(
        held(&app, store, naloxone).await,
        store_before - Decimal::ONE
    );
    let bag = app.get(&format!("{kits_path}/{bag_id}"), &d.nurse).await;
    assert_eq!(bag.body["state"], "sealed");
    assert_eq!(bag.body["seal_number"], "FW-005000");
    let events = app
        .get(&format!("{kits_path}/{bag_id}/events"), &d.auditor)
        .await;
    assert_eq!(
        events.body["total"], 3,
        "the demo restock, the opening and this restock"
    );
    assert_eq!(events.body["items"][0]["kind"], "restocked");
    assert_eq!(
        app.count("audit_events WHERE action = 'emergency_kit.open'"),
        1
    );

    // Expiry: a short-dated batch restocked into the kit shows within its days, not a day before.
    let short = (chrono::Utc::now().date_naive() + chrono::Duration::days(20)).to_string();
    let r = app
        .post(
            &format!("/api/v1/formulary/products/{naloxone}/batches"),
            &d.technician,
            json!({"batch_number": "NLXSHORT1", "expiry_date": short}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let batch = r.body["id"].as_i64().unwrap();
    {
        use prison_pharmacy::audit::Actor;
        use prison_pharmacy::domain::stock::MovementReason;
        use prison_pharmacy::ledger::{self, Posting};
        let mut c = app.conn();
        let actor = Actor {
            user_id: 1,
            request_id: "test".into(),
        };
        let p = Posting::new(
            d.site,
            store,
            batch,
            "1".parse().unwrap(),
            MovementReason::Receipt,
        );
        ledger::post(&mut c, &actor, &p).unwrap();
    }
    let r = app
        .post(
            &format!("{kits_path}/{bag_id}/restocks"),
            &d.technician,
            json!({"from_location_id": store, "seal_number": "FW-005001", "items": [{"product_id": naloxone, "quantity": "1"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["movements"][0]["batch_id"], batch,
        "first expiry first out"
    );
    let expiring = |days: i64| format!("{kits_path}/expiring?days={days}");
    let r = app.get(&expiring(20), &d.pharmacist).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let hits: Vec<&Value> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["batch_id"] == batch)
        .collect();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["location_code"], "HB1-EBAG");
    assert_eq!(hits[0]["days_left"], 20);
    assert_eq!(hits[0]["quantity"], "1");
    let r = app.get(&expiring(19), &d.pharmacist).await;
    assert!(r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["batch_id"] != batch));
    let r = app.get(&expiring(9999), &d.pharmacist).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Checks and openings are evidence: the database refuses to change them.
    let mut c = app.conn();
    assert!(
        diesel::sql_query("UPDATE emergency_kit_checks SET complete = TRUE")
            .execute(&mut **c)
            .is_err()
    );
    assert!(diesel::sql_query("DELETE FROM emergency_kit_events")
        .execute(&mut **c)
        .is_err());
}

#[actix_web::test]
async fn outbreaks_tag_courses_and_vaccinations_and_a_batch_finds_its_recipients() {
    let app = spawn().await;
    let d = demo(&app).await;
    let outbreaks = format!("/api/v1/sites/{}/outbreaks", d.site);
    let list = app.get(&outbreaks, &d.auditor).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["total"], 1);
    let flu = &list.body["items"][0];
    assert_eq!(flu["condition"], "Influenza A");
    assert_eq!(flu["status"], "open");
    assert_eq!(flu["wings"], json!(["HB1", "HB2"]));
    let flu = flu["id"].as_i64().unwrap();

    // The demo: one treated on HB2, one vaccinated on each wing.
    let summary = app
        .get(&format!("{outbreaks}/{flu}/summary"), &d.nurse)
        .await;
    assert_eq!(summary.status, StatusCode::OK, "{}", summary.body);
    assert_eq!(
        summary.body["wings"],
        json!([
            {"wing": "HB1", "treated": 0, "prophylaxis": 0, "vaccinated": 1},
            {"wing": "HB2", "treated": 1, "prophylaxis": 0, "vaccinated": 1}
        ])
    );

    // A prophylaxis course is prescribed as usual, tagged to the outbreak.
    let oseltamivir = product(&app, &d.nurse, "Oseltamivir").await["id"]
        .as_i64()
        .unwrap();
    let cole = patient(&app, &d, "C3456DE").await;
    let course = |extra: Value| {
        let mut body = json!({"product_id": oseltamivir, "dose": "75", "dose_unit": "mg", "route": "oral",
            "slots": ["morning"], "start_date": chrono::Utc::now().date_naive().to_string(),
            "possession": "supervised", "prescriber": "Dr R Patel GMC 0000000"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let rx_path = format!("/api/v1/patients/{cole}/prescriptions");
    let rx_before = app.count("prescriptions");
    let r = app
        .post(&rx_path, &d.technician, course(json!({"outbreak_id": flu})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        first_issue(&r.body),
        ("outbreak_purpose".into(), "required".into())
    );
    let r = app
        .post(
            &rx_path,
            &d.technician,
            course(json!({"outbreak_id": 999_999, "outbreak_purpose": "prophylaxis"})),
        )
        .await;
    assert_eq!(
        first_issue(&r.body),
        ("outbreak_id".into(), "exists".into())
    );
    assert_eq!(app.count("prescriptions"), rx_before);
    let r = app
        .post(
            &rx_path,
            &d.technician,
            course(json!({"outbreak_id": flu, "outbreak_purpose": "prophylaxis"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["outbreak_id"], flu);
    assert_eq!(r.body["outbreak_purpose"], "prophylaxis");

    // A vaccination draws its dose from the batch named, and is counted under the outbreak.
    let vaccine = product(&app, &d.nurse, "Influenza vaccine").await;
    let vaccine_id = vaccine["id"].as_i64().unwrap();
    let batches = app
        .get(
            &format!("/api/v1/formulary/products/{vaccine_id}/batches"),
            &d.nurse,
        )
        .await;
    let batch = batches.body["items"][0]["id"].as_i64().unwrap();
    let store = d.locations["PHARM"];
    let stock_before = held(&app, store, vaccine_id).await;
    let booth = patient(&app, &d, "B2345CD").await;
    let vaccinations = format!("/api/v1/sites/{}/vaccinations", d.site);
    let vaccination = json!({"patient_id": booth, "product_id": vaccine_id, "batch_id": batch,
        "location_id": store, "injection_site": "right_upper_arm", "outbreak_id": flu});
    let r = app
        .post(&vaccinations, &d.technician, vaccination.clone())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.post(&vaccinations, &d.nurse, vaccination.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["batch_number"], "FLU2609V");
    assert_eq!(r.body["injection_site"], "right_upper_arm");
    assert_eq!(r.body["quantity"], "1");
    assert_eq!(
        held(&app, store, vaccine_id).await,
        stock_before - Decimal::ONE
    );
    let mut wrong = vaccination.clone();
    wrong["product_id"] = json!(oseltamivir);
    let r = app.post(&vaccinations, &d.nurse, wrong).await;
    assert_eq!(
        first_issue(&r.body),
        ("batch_id".into(), "same_product".into())
    );

    // Who received the batch, for a recall: everyone vaccinated with it.
    let recipients = format!("/api/v1/sites/{}/batch-recipients?batch_id={batch}", d.site);
    assert_eq!(
        app.get(&recipients, &d.nurse).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app.get(&recipients, &d.auditor).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut numbers: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!(i["received_by"], "vaccination");
            i["prison_number"].as_str().unwrap()
        })
        .collect();
    numbers.sort();
    assert_eq!(numbers, vec!["A1234BC", "B2345CD", "E5678FG"]);

    let summary = app
        .get(&format!("{outbreaks}/{flu}/summary"), &d.nurse)
        .await;
    assert_eq!(
        summary.body["total"],
        json!({"wing": "all", "treated": 1, "prophylaxis": 1, "vaccinated": 3})
    );
    assert_eq!(summary.body["wings"][0]["prophylaxis"], 1);
    assert_eq!(summary.body["wings"][0]["vaccinated"], 2);

    // Closed, it takes nothing more; closing twice is refused.
    let close = format!("{outbreaks}/{flu}/closure");
    let r = app.post(&close, &d.nurse, json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "closed");
    let r = app.post(&close, &d.nurse, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app.post(&vaccinations, &d.nurse, vaccination).await;
    assert_eq!(first_issue(&r.body), ("outbreak_id".into(), "open".into()));

    // The tag is part of the prescription, fixed like the rest of it.
    let mut c = app.conn();
    assert!(diesel::sql_query(
        "UPDATE prescriptions SET outbreak_id = NULL WHERE outbreak_id IS NOT NULL"
    )
    .execute(&mut **c)
    .is_err());
    assert!(diesel::sql_query("DELETE FROM vaccinations")
        .execute(&mut **c)
        .is_err());
}

#[actix_web::test]
async fn budgets_report_spend_commitments_and_a_straight_line_forecast() {
    let app = spawn().await;
    let d = demo(&app).await;
    let today = chrono::Utc::now().date_naive();
    use chrono::Datelike;
    let year = if today.month() >= 4 {
        today.year()
    } else {
        today.year() - 1
    };
    let budgets = format!("/api/v1/sites/{}/budgets", d.site);

    // Revised: the earlier figure is kept, superseded.
    let set =
        json!({"financial_year": year, "service_line": "general_pharmacy", "amount": "1000.00"});
    assert_eq!(
        app.post(&budgets, &d.technician, set.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .post(
            &budgets,
            &d.pharmacist,
            json!({"financial_year": year, "service_line": "general_pharmacy", "amount": "-1"}),
        )
        .await;
    assert_eq!(
        first_issue(&r.body),
        ("amount".into(), "non_negative".into())
    );
    let r = app.post(&budgets, &d.pharmacist, set).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let list = app.get(&format!("{budgets}?year={year}"), &d.auditor).await;
    assert_eq!(list.body["total"], 3);
    assert_eq!(list.body["items"][0]["superseded"], false);
    assert_eq!(
        list.body["items"][0]["amount"]
            .as_str()
            .map(|a| a.parse::<Decimal>().unwrap()),
        Some(Decimal::from(1000))
    );
    let superseded: Vec<bool> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["service_line"] == "general_pharmacy")
        .map(|b| b["superseded"].as_bool().unwrap())
        .collect();
    assert_eq!(superseded, vec![false, true]);

    // An order: paracetamol (general pharmacy) received whole, naloxone (substance misuse) in part.
    let paracetamol = product(&app, &d.nurse, "Paracetamol").await["id"]
        .as_i64()
        .unwrap();
    let naloxone = product(&app, &d.nurse, "Naloxone").await["id"]
        .as_i64()
        .unwrap();
    let supplier = app.get("/api/v1/suppliers", &d.technician).await.body["items"][0]["id"]
        .as_i64()
        .unwrap();
    let r = app
        .post(
            &format!("/api/v1/sites/{}/purchase-orders", d.site),
            &d.technician,
            json!({"supplier_id": supplier, "lines": [
                {"product_id": paracetamol, "packs": 10, "pack_price": "1.50", "vat_rate": "0"},
                {"product_id": naloxone, "packs": 4, "pack_price": "18.00", "vat_rate": "0"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let order = r.body["id"].as_i64().unwrap();
    let lines: Vec<i64> = r.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect();
    for (step, token) in [("approve", &d.pharmacist), ("send", &d.technician)] {
        let r = app
            .call(
                Method::POST,
                &format!("/api/v1/purchase-orders/{order}/{step}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{step}: {}", r.body);
    }
    let expiry = (today + chrono::Duration::days(700)).to_string();
    let r = app
        .post(
            &format!("/api/v1/purchase-orders/{order}/receipts"),
            &d.technician,
            json!({"location_id": d.locations["PHARM"], "lines": [
                {"order_line_id": lines[0], "batch_number": "PCMB1", "expiry_date": expiry, "quantity": "320"},
                {"order_line_id": lines[1], "batch_number": "NLXB1", "expiry_date": expiry, "quantity": "1"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let report = app
        .get(
            &format!("/api/v1/sites/{}/budget-report?year={year}", d.site),
            &d.auditor,
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let line = |name: &str| {
        report.body["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["service_line"] == name)
            .unwrap()
            .clone()
    };
    let start = chrono::NaiveDate::from_ymd_opt(year, 4, 1).unwrap();
    let days_in_year = Decimal::from((start.with_year(year + 1).unwrap() - start).num_days());
    let elapsed = Decimal::from((today - start).num_days() + 1);
    let forecast = |spent: Decimal| (spent * days_in_year / elapsed).round_dp(4);
    let general = line("general_pharmacy");
    assert_eq!(dec(&general["budget"]), Decimal::from(1000));
    assert_eq!(dec(&general["spent"]), Decimal::new(1500, 2));
    assert_eq!(dec(&general["committed"]), Decimal::ZERO);
    assert_eq!(dec(&general["remaining"]), Decimal::new(98500, 2));
    assert_eq!(dec(&general["forecast"]), forecast(Decimal::new(1500, 2)));
    assert_eq!(
        dec(&general["forecast_variance"]),
        Decimal::from(1000) - forecast(Decimal::new(1500, 2))
    );
    let misuse = line("substance_misuse");
    assert_eq!(dec(&misuse["budget"]), Decimal::from(210_000));
    assert_eq!(dec(&misuse["spent"]), Decimal::from(18));
    assert_eq!(dec(&misuse["committed"]), Decimal::from(54));
    assert_eq!(dec(&misuse["remaining"]), Decimal::from(210_000 - 72));
    let month = format!("{:04}-{:02}", today.year(), today.month());
    let this_month = report.body["months"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["service_line"] == "substance_misuse" && m["month"] == month)
        .unwrap();
    assert_eq!(dec(&this_month["spent"]), Decimal::from(18));
    assert_eq!(dec(&this_month["committed"]), Decimal::from(54));
    assert_eq!(report.body["months"].as_array().unwrap().len(), 24);

    let (status, content_type, bytes) = app
        .download(
            &format!(
                "/api/v1/sites/{}/budget-report?year={year}&format=csv",
                d.site
            ),
            &d.auditor,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let csv = String::from_utf8(bytes).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 25);
    assert_eq!(
        rows[0],
        "financial_year,service_line,month,budget,spent,committed,remaining,forecast"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with(&format!("{year},substance_misuse,{month},"))),
        "{csv}"
    );
    let r = app
        .get(
            &format!("/api/v1/sites/{}/budget-report?year=1999", d.site),
            &d.auditor,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body).0, "year");
}

#[actix_web::test]
async fn reasonable_adjustments_reach_rounds_labels_and_the_fhir_record() {
    let app = spawn().await;
    let d = demo(&app).await;
    let archer = patient(&app, &d, "A1234BC").await;
    let view = app
        .get(&format!("/api/v1/patients/{archer}"), &d.nurse)
        .await;
    let categories: Vec<&str> = view.body["adjustments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["category"].as_str().unwrap())
        .collect();
    assert_eq!(categories, vec!["easy_read", "needs_reminders"]);

    // On the round list, beside the dose.
    let today = chrono::Utc::now().date_naive();
    let round = app
        .get(
            &format!(
                "/api/v1/sites/{}/rounds?date={today}&slot=morning&location_id={}",
                d.site, d.locations["HB1-HATCH"]
            ),
            &d.nurse,
        )
        .await;
    assert_eq!(round.status, StatusCode::OK, "{}", round.body);
    let item = round.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["patient_id"] == archer)
        .unwrap();
    assert_eq!(item["adjustments"][0]["label"], "Easy-read labels");
    let booth = round.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["prison_number"] == "B2345CD")
        .unwrap();
    assert_eq!(booth["adjustments"], json!([]));

    // Recorded by nurses and pharmacists only, never blank, audited.
    let add = format!("/api/v1/patients/{archer}/adjustments");
    let body = json!({"category": "hearing_impairment", "text": "Face him and speak clearly; he lip-reads"});
    assert_eq!(
        app.post(&add, &d.technician, body.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .post(&add, &d.nurse, json!({"category": "adhd", "text": "   "}))
        .await;
    assert_eq!(first_issue(&r.body), ("text".into(), "not_blank".into()));
    let r = app.post(&add, &d.pharmacist, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["adjustments"].as_array().unwrap().len(), 3);
    let hearing = r.body["adjustments"][2]["id"].as_i64().unwrap();
    assert_eq!(
        app.count("audit_events WHERE action = 'adjustment.record'"),
        4
    );

    // On the in-possession label.
    let rx = app
        .get(
            &format!("/api/v1/patients/{archer}/prescriptions"),
            &d.nurse,
        )
        .await;
    let sertraline = rx.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product_name"] == "Sertraline 50mg tablets")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = app
        .post(
            &format!("/api/v1/sites/{}/ip-supplies", d.site),
            &d.nurse,
            json!({"prescription_id": sertraline, "location_id": d.locations["PHARM"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let label = r.body["label_text"].as_str().unwrap();
    assert!(
        label.contains("Adjustment - Easy-read labels: Picture labels; read the label aloud"),
        "{label}"
    );
    assert!(
        label.contains("Adjustment - Hearing impairment: Face him"),
        "{label}"
    );

    // In the FHIR record, as Flags on the patient.
    let fhir = app
        .get(&format!("/api/v1/patients/{archer}/fhir"), &d.auditor)
        .await;
    assert_eq!(fhir.status, StatusCode::OK);
    let flags: Vec<&Value> = fhir.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Flag")
        .collect();
    assert_eq!(flags.len(), 3);
    assert_eq!(flags[0]["category"][0]["coding"][0]["code"], "easy_read");
    assert_eq!(
        flags[0]["subject"]["reference"],
        format!("Patient/p{archer}")
    );

    // Retracted by a linked record: gone from view, the original kept.
    let retract = format!("/api/v1/patients/{archer}/adjustments/{hearing}/retraction");
    let r = app
        .post(
            &retract,
            &d.nurse,
            json!({"reason": "entered on the wrong patient"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["adjustments"].as_array().unwrap().len(), 2);
    let r = app
        .post(&retract, &d.nurse, json!({"reason": "again"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(app.count("reasonable_adjustments"), 5);
    let mut c = app.conn();
    assert!(
        diesel::sql_query("UPDATE reasonable_adjustments SET text = 'changed'")
            .execute(&mut **c)
            .is_err()
    );
}
