//! Formulary, batches and the stock ledger over HTTP: adjustments, transfers, recalls,
//! stocktakes, reorder levels, and many parallel requests draining one batch.

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
    lincoln_tech: User,
    nurse: User,
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
        lincoln_tech: app.user("tech.lincoln", "pharmacy_technician", &[lincoln.id]),
        nurse: app.user("nurse", "nurse", &[fosse.id]),
        fosse,
        lincoln,
    }
}

fn methadone() -> Value {
    json!({"dmd_type": "vmp", "name": "Methadone 1mg/ml oral solution sugar free", "form": "oral solution",
           "strength": "1 mg/ml", "unit": "ml", "pack_size": "500", "ingredient": "methadone", "cd_schedule": "2",
           "max_daily_dose": "120", "dose_unit": "mg", "therapeutic_class": "opioid substitution",
           "critical": true, "opioid_substitution": true})
}

fn sertraline() -> Value {
    json!({"dmd_type": "vmp", "name": "Sertraline 50mg tablets", "form": "tablet", "strength": "50 mg",
           "unit": "tablet", "pack_size": "28", "ingredient": "sertraline", "cd_schedule": "none",
           "dose_unit": "mg", "therapeutic_class": "antidepressant (SSRI)"})
}

async fn product<S, B>(app: &TestApp<S>, w: &World, body: Value) -> i64
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .post("/api/v1/formulary/products", &w.pharmacist.token, body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_i64().unwrap()
}

async fn batch<S, B>(app: &TestApp<S>, w: &World, product: i64, number: &str, expiry: &str) -> i64
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .post(
            &format!("/api/v1/formulary/products/{product}/batches"),
            &w.technician.token,
            json!({"batch_number": number, "expiry_date": expiry}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_i64().unwrap()
}

async fn adjust<S, B>(
    app: &TestApp<S>,
    w: &World,
    location: i64,
    batch: i64,
    qty: &str,
    reason: &str,
) -> common::Response
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let code = if reason == "wastage" {
        "spilt"
    } else {
        "opening_balance"
    };
    app.post(
        &format!("/api/v1/sites/{}/stock/adjustments", w.fosse.id),
        &w.technician.token,
        json!({"location_id": location, "batch_id": batch, "quantity": qty, "reason": reason,
               "reason_code": code, "note": "test"}),
    )
    .await
}

/// The balance of (location, batch) as the API reports it, and a check that it equals the sum of movements.
async fn balance<S, B>(
    app: &TestApp<S>,
    site: i64,
    token: &str,
    location: i64,
    batch: i64,
) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .get(&format!("/api/v1/sites/{site}/stock?location_id={location}&batch_id={batch}&include_zero=true"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let q = r.body["items"]
        .get(0)
        .map(|l| l["quantity"].as_str().unwrap().to_string())
        .unwrap_or("0".into());
    let mut c = app.conn();
    let sum = prison_pharmacy::stock::queries::movement_sum(&mut c, location, batch).unwrap();
    assert_eq!(
        prison_pharmacy::domain::Quantity::from_scaled(sum).to_string(),
        q,
        "balance equals the sum of movements"
    );
    q
}

#[actix_web::test]
async fn formulary_defaults_follow_schedule_and_flags() {
    let app = spawn().await;
    let w = setup(&app).await;
    let r = app
        .post(
            "/api/v1/formulary/products",
            &w.pharmacist.token,
            methadone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["cd_register"], true);
    assert_eq!(r.body["default_possession"], "supervised");
    assert_eq!(r.body["pack_size"], "500");
    let r = app
        .post(
            "/api/v1/formulary/products",
            &w.pharmacist.token,
            sertraline(),
        )
        .await;
    assert_eq!(r.body["cd_register"], false);
    assert_eq!(r.body["default_possession"], "in_possession");
    let id = r.body["id"].as_i64().unwrap();
    let mut bup = sertraline();
    bup["name"] = json!("Buprenorphine 8mg sublingual tablets");
    bup["ingredient"] = json!("buprenorphine");
    bup["cd_schedule"] = json!("3");
    bup["opioid_substitution"] = json!(true);
    let r = app
        .post("/api/v1/formulary/products", &w.pharmacist.token, bup)
        .await;
    assert_eq!(r.body["cd_register"], true);
    assert_eq!(r.body["default_possession"], "supervised");

    // Technicians and nurses do not manage the formulary; bad input is named.
    assert_eq!(
        app.post(
            "/api/v1/formulary/products",
            &w.technician.token,
            methadone()
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let mut bad = sertraline();
    bad["cd_schedule"] = json!("6");
    let r = app
        .post("/api/v1/formulary/products", &w.pharmacist.token, bad)
        .await;
    assert_eq!(first_issue(&r.body), ("cd_schedule".into(), "enum".into()));
    let mut bad = sertraline();
    bad["pack_size"] = json!("28.0001");
    let r = app
        .post("/api/v1/formulary/products", &w.pharmacist.token, bad)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        first_issue(&r.body),
        ("pack_size".into(), "decimal_places".into())
    );

    let r = app
        .post(
            &format!("/api/v1/formulary/products/{id}/retire"),
            &w.pharmacist.token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "retired");
    let r = app
        .get(
            "/api/v1/formulary/products?q=SERTRA&status=retired",
            &w.nurse.token,
        )
        .await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(app.count("products"), 3);
}

#[actix_web::test]
async fn adjustments_move_stock_exactly_and_bad_input_changes_nothing() {
    let app = spawn().await;
    let w = setup(&app).await;
    let p = product(&app, &w, sertraline()).await;
    let b = batch(&app, &w, p, "SRT1", "2030-01-31").await;
    let store = w.fosse.store;

    let r = adjust(&app, &w, store, b, "100", "adjustment").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["balance_after"], "100");
    assert_eq!(r.body["reason_code"], "opening_balance");
    let r = adjust(&app, &w, store, b, "-2.5", "wastage").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["balance_after"], "97.5");
    assert_eq!(
        balance(&app, w.fosse.id, &w.technician.token, store, b).await,
        "97.5"
    );

    let movements = app.count("stock_movements");
    // Refusals are recorded as security events; nothing else may be written.
    let writes = "audit_events WHERE action NOT LIKE 'access.%'";
    let audits = app.count(writes);
    for (qty, reason, field, rule) in [
        ("1.0005", "adjustment", "quantity", "decimal_places"),
        ("0", "adjustment", "quantity", "non_zero"),
        ("5", "wastage", "quantity", "negative"),
    ] {
        let r = adjust(&app, &w, store, b, qty, reason).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{qty}");
        assert_eq!(first_issue(&r.body), (field.to_string(), rule.to_string()));
    }
    let r = adjust(&app, &w, store, b, "-200", "wastage").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "insufficient_stock");
    assert_eq!(
        adjust(&app, &w, store, 999_999, "1", "adjustment")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        adjust(&app, &w, 999_999, b, "1", "adjustment").await.status,
        StatusCode::NOT_FOUND
    );
    // Another prison's location is unknown here.
    assert_eq!(
        adjust(&app, &w, w.lincoln.store, b, "1", "adjustment")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Nurses change stock only by recording doses.
    let r = app
        .post(
            &format!("/api/v1/sites/{}/stock/adjustments", w.fosse.id),
            &w.nurse.token,
            json!({"location_id": store, "batch_id": b, "quantity": "1", "reason": "adjustment", "reason_code": "found", "note": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("stock_movements"), movements);
    assert_eq!(app.count(writes), audits);
    assert_eq!(
        balance(&app, w.fosse.id, &w.technician.token, store, b).await,
        "97.5"
    );

    let r = app
        .get(
            &format!(
                "/api/v1/sites/{}/stock/movements?product_id={p}",
                w.fosse.id
            ),
            &w.technician.token,
        )
        .await;
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["running_balance"], "100");
    assert_eq!(items[1]["running_balance"], "97.5");
    assert_eq!(items[1]["quantity"], "-2.5");

    // The ledger is append-only in the database itself.
    use diesel::connection::SimpleConnection;
    assert!(app
        .conn()
        .batch_execute("UPDATE stock_movements SET quantity = 1")
        .is_err());
    assert!(app
        .conn()
        .batch_execute("DELETE FROM stock_movements")
        .is_err());
}

#[actix_web::test]
async fn transfer_between_prisons_with_a_discrepancy() {
    let app = spawn().await;
    let w = setup(&app).await;
    let p = product(&app, &w, sertraline()).await;
    let b = batch(&app, &w, p, "SRT1", "2030-01-31").await;
    adjust(&app, &w, w.fosse.store, b, "100", "adjustment").await;

    let path = format!("/api/v1/sites/{}/transfers", w.fosse.id);
    let body = json!({"from_location_id": w.fosse.store, "to_location_id": w.lincoln.store,
                      "lines": [{"batch_id": b, "quantity": "30"}], "note": "stock loan"});
    let r = app.post(&path, &w.technician.token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "in_transit");
    let id = r.body["id"].as_i64().unwrap();
    let line = r.body["lines"][0]["id"].as_i64().unwrap();
    assert_eq!(
        balance(&app, w.fosse.id, &w.technician.token, w.fosse.store, b).await,
        "70"
    );

    // The sender cannot receive at a prison they do not hold; a short receipt needs a note.
    let receive = format!("/api/v1/transfers/{id}/receive");
    assert_eq!(
        app.post(&receive, &w.technician.token, json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .post(
            &receive,
            &w.lincoln_tech.token,
            json!({"lines": [{"line_id": line, "quantity_received": "28"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        first_issue(&r.body),
        ("lines[0].discrepancy_note".into(), "required".into())
    );
    let r = app
        .post(
            &receive,
            &w.lincoln_tech.token,
            json!({"lines": [{"line_id": line, "quantity_received": "28", "discrepancy_note": "2 tablets damaged"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "received");
    assert_eq!(r.body["lines"][0]["discrepancy"], "2");
    assert_eq!(
        balance(
            &app,
            w.lincoln.id,
            &w.lincoln_tech.token,
            w.lincoln.store,
            b
        )
        .await,
        "28"
    );
    let again = app.post(&receive, &w.lincoln_tech.token, json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        balance(
            &app,
            w.lincoln.id,
            &w.lincoln_tech.token,
            w.lincoln.store,
            b
        )
        .await,
        "28"
    );
}

#[actix_web::test]
async fn recalled_expired_and_quarantined_stock_cannot_be_issued() {
    let app = spawn().await;
    let w = setup(&app).await;
    let p = product(&app, &w, sertraline()).await;
    let good = batch(&app, &w, p, "GOOD", "2031-01-31").await;
    let soon = batch(&app, &w, p, "SOON", "2030-01-31").await;
    let expired = batch(&app, &w, p, "OLD", "2020-01-31").await;
    for b in [good, soon, expired] {
        adjust(&app, &w, w.fosse.store, b, "10", "adjustment").await;
    }
    let alloc = format!(
        "/api/v1/sites/{}/stock/allocation?location_id={}&product_id={p}&quantity=15",
        w.fosse.id, w.fosse.store
    );
    let r = app.get(&alloc, &w.nurse.token).await;
    assert_eq!(
        r.body["picks"],
        json!([
            {"batch_id": soon, "batch_number": "SOON", "expiry_date": "2030-01-31", "quantity": "10"},
            {"batch_id": good, "batch_number": "GOOD", "expiry_date": "2031-01-31", "quantity": "5"}
        ])
    );
    assert_eq!(r.body["shortfall"], "0");

    let recall = json!({"status": "recalled", "reason": "MHRA class 2 drug alert"});
    assert_eq!(
        app.post(
            &format!("/api/v1/batches/{soon}/status"),
            &w.technician.token,
            recall.clone()
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .post(
            &format!("/api/v1/batches/{soon}/status"),
            &w.pharmacist.token,
            recall,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "recalled");

    let r = app.get(&alloc, &w.nurse.token).await;
    assert_eq!(
        r.body["picks"],
        json!([{"batch_id": good, "batch_number": "GOOD", "expiry_date": "2031-01-31", "quantity": "10"}])
    );
    assert_eq!(r.body["shortfall"], "5");

    let send = |b: i64, to: i64| json!({"from_location_id": w.fosse.store, "to_location_id": to, "lines": [{"batch_id": b, "quantity": "1"}]});
    let path = format!("/api/v1/sites/{}/transfers", w.fosse.id);
    let r = app
        .post(&path, &w.technician.token, send(soon, w.fosse.hatch))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "batch_recalled");
    let r = app
        .post(&path, &w.technician.token, send(expired, w.fosse.hatch))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "batch_expired");
    assert_eq!(
        app.count("transfers"),
        0,
        "a refused transfer leaves nothing behind"
    );
    // Taking recalled stock out of use, into quarantine, is allowed; so is writing off expired stock.
    assert_eq!(
        app.post(&path, &w.technician.token, send(soon, w.fosse.quarantine))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        adjust(&app, &w, w.fosse.store, expired, "-10", "wastage")
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        balance(&app, w.fosse.id, &w.technician.token, w.fosse.store, soon).await,
        "9"
    );
}

#[actix_web::test]
async fn stocktake_posts_variances_against_the_balance_at_count_time() {
    let app = spawn().await;
    let w = setup(&app).await;
    let p = product(&app, &w, sertraline()).await;
    let b = batch(&app, &w, p, "SRT1", "2030-01-31").await;
    adjust(&app, &w, w.fosse.store, b, "100", "adjustment").await;

    let r = app
        .post(
            &format!("/api/v1/sites/{}/stocktakes", w.fosse.id),
            &w.technician.token,
            json!({"location_id": w.fosse.store}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["lines"][0]["snapshot_quantity"], "100");
    // Stock moves during the count: 10 go out.
    adjust(&app, &w, w.fosse.store, b, "-10", "wastage").await;
    let r = app
        .post(
            &format!("/api/v1/stocktakes/{id}/counts"),
            &w.technician.token,
            json!({"counts": [{"batch_id": b, "counted_quantity": "87"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["lines"][0]["expected_at_count"], "90");
    assert_eq!(r.body["lines"][0]["variance"], "-3");

    assert_eq!(
        app.post(
            &format!("/api/v1/stocktakes/{id}/approve"),
            &w.technician.token,
            json!({})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .post(
            &format!("/api/v1/stocktakes/{id}/approve"),
            &w.pharmacist.token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "approved");
    assert_eq!(
        balance(&app, w.fosse.id, &w.technician.token, w.fosse.store, b).await,
        "87"
    );
    let again = app
        .post(
            &format!("/api/v1/stocktakes/{id}/approve"),
            &w.pharmacist.token,
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        balance(&app, w.fosse.id, &w.technician.token, w.fosse.store, b).await,
        "87"
    );
}

#[actix_web::test]
async fn reorder_report_suggests_whole_packs() {
    let app = spawn().await;
    let w = setup(&app).await;
    let p = product(&app, &w, sertraline()).await;
    let b = batch(&app, &w, p, "SRT1", "2030-01-31").await;
    adjust(&app, &w, w.fosse.store, b, "50", "adjustment").await;
    let r = app
        .call(
            Method::PUT,
            &format!("/api/v1/sites/{}/reorder-levels", w.fosse.id),
            Some(&w.technician.token),
            Some(json!({"product_id": p, "reorder_level": "100", "reorder_quantity": "56"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .get(
            &format!("/api/v1/sites/{}/reorder-report", w.fosse.id),
            &w.technician.token,
        )
        .await;
    let item = &r.body["items"][0];
    assert_eq!(item["on_hand"], "50");
    // 56 wanted (more than the 50 short), in packs of 28: 2 packs.
    assert_eq!(item["suggested_packs"], 2);
    assert_eq!(item["suggested_quantity"], "56");
    assert_eq!(
        app.get(
            &format!("/api/v1/sites/{}/reorder-report", w.lincoln.id),
            &w.technician.token
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn parallel_requests_drain_exactly_the_available_quantity() {
    let app = spawn().await;
    let w = setup(&app).await;
    let p = product(&app, &w, sertraline()).await;
    let b = batch(&app, &w, p, "SRT1", "2030-01-31").await;
    adjust(&app, &w, w.fosse.store, b, "50", "adjustment").await;

    let requests = (0..40).map(|_| adjust(&app, &w, w.fosse.store, b, "-3", "wastage"));
    let results = futures_util::future::join_all(requests).await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let refused = results
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!(ok, 16, "16 x 3 = 48 of the 50 can be issued");
    assert_eq!(refused, 24);
    assert_eq!(
        balance(&app, w.fosse.id, &w.technician.token, w.fosse.store, b).await,
        "2"
    );
    assert_eq!(app.count("stock_movements"), 17);
}
