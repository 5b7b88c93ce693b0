//! Procurement over HTTP: suppliers, orders and their totals, the order lifecycle, goods
//! receipt into the ledger and the CD register, invoices and the spend report.

mod common;

use actix_web::http::{Method, StatusCode};
use common::{first_issue, spawn, Site, TestApp, User};
use serde_json::{json, Value};

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};

struct World {
    fosse: Site,
    pharmacist: User,
    technician: User,
    auditor: User,
    supplier: i64,
    paracetamol: i64,
    methadone: i64,
}

async fn setup<S, B>(app: &TestApp<S>) -> World
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let fosse = app.site("FWI");
    let pharmacist = app.user("pharmacist", "pharmacist", &[fosse.id]);
    let technician = app.user("technician", "pharmacy_technician", &[fosse.id]);
    let mut ids = Vec::new();
    for body in [
        json!({"dmd_type": "vmp", "name": "Paracetamol 500mg tablets", "form": "tablet", "strength": "500 mg",
               "unit": "tablet", "pack_size": "32", "ingredient": "paracetamol", "cd_schedule": "none",
               "dose_unit": "mg", "therapeutic_class": "analgesic"}),
        json!({"dmd_type": "vmp", "name": "Methadone 1mg/ml oral solution sugar free", "form": "oral solution",
               "strength": "1 mg/ml", "unit": "ml", "pack_size": "500", "ingredient": "methadone",
               "cd_schedule": "2", "dose_unit": "mg", "therapeutic_class": "opioid substitution",
               "critical": true, "opioid_substitution": true}),
    ] {
        let r = app
            .post("/api/v1/formulary/products", &pharmacist.token, body)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        ids.push(r.body["id"].as_i64().unwrap());
    }
    let r = app
        .post(
            "/api/v1/suppliers",
            &technician.token,
            json!({"name": "Alliance Healthcare", "address": "Nottingham NG2 3AA",
                   "wholesale_dealer_licence": "WDA(H) 1234", "contact_email": "orders@alliance.example"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let supplier = r.body["id"].as_i64().unwrap();
    for (product, price) in [(ids[0], "0.3333"), (ids[1], "4.95")] {
        let r = app
            .call(
                Method::PUT,
                &format!("/api/v1/suppliers/{supplier}/products"),
                Some(&technician.token),
                Some(json!({"product_id": product, "pack_price": price, "lead_time_days": 1})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    World {
        auditor: app.user("auditor", "auditor", &[fosse.id]),
        fosse,
        pharmacist,
        technician,
        supplier,
        paracetamol: ids[0],
        methadone: ids[1],
    }
}

async fn order<S, B>(app: &TestApp<S>, w: &World, lines: Value) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .post(
            &format!("/api/v1/sites/{}/purchase-orders", w.fosse.id),
            &w.technician.token,
            json!({"supplier_id": w.supplier, "lines": lines}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

async fn approve_and_send<S, B>(app: &TestApp<S>, w: &World, id: i64)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = app
        .post(
            &format!("/api/v1/purchase-orders/{id}/approve"),
            &w.pharmacist.token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(
            &format!("/api/v1/purchase-orders/{id}/send"),
            &w.technician.token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "sent");
}

#[actix_web::test]
async fn order_totals_are_exact_with_awkward_prices() {
    let app = spawn().await;
    let w = setup(&app).await;
    let o = order(
        &app,
        &w,
        json!([{"product_id": w.paracetamol, "packs": 3, "vat_rate": "20"},
               {"product_id": w.methadone, "packs": 7, "pack_price": "1.15", "vat_rate": "5"}]),
    )
    .await;
    assert_eq!(o["status"], "draft");
    assert_eq!(o["lines"][0]["pack_price"], "0.3333");
    assert_eq!(o["lines"][0]["line_net"], "0.9999");
    assert_eq!(o["lines"][0]["line_vat"], "0.2");
    assert_eq!(o["lines"][0]["line_total"], "1.1999");
    assert_eq!(o["lines"][0]["ordered_quantity"], "96");
    assert_eq!(o["lines"][1]["line_net"], "8.05");
    assert_eq!(o["lines"][1]["line_vat"], "0.4");
    assert_eq!(o["net_total"], "9.0499");
    assert_eq!(o["vat_total"], "0.6");
    assert_eq!(o["total"], "9.6499");

    // Bad input names the field and writes nothing.
    let before = app.count("purchase_orders");
    for (lines, field) in [
        (
            json!([{"product_id": w.paracetamol, "packs": 3, "pack_price": "0.33333"}]),
            "lines[0].pack_price",
        ),
        (
            json!([{"product_id": w.paracetamol, "packs": 0}]),
            "lines[0].packs",
        ),
        (
            json!([{"product_id": w.paracetamol, "packs": 1, "vat_rate": "120"}]),
            "lines[0].vat_rate",
        ),
        (
            json!([{"product_id": 999999, "packs": 1, "pack_price": "1"}]),
            "lines[0].product_id",
        ),
        (
            json!([{"product_id": w.paracetamol, "packs": 1}, {"product_id": w.paracetamol, "packs": 2}]),
            "lines[1].product_id",
        ),
        (json!([]), "lines"),
    ] {
        let r = app
            .post(
                &format!("/api/v1/sites/{}/purchase-orders", w.fosse.id),
                &w.technician.token,
                json!({"supplier_id": w.supplier, "lines": lines}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{lines}: {}",
            r.body
        );
        assert_eq!(first_issue(&r.body).0, field, "{}", r.body);
    }
    assert_eq!(app.count("purchase_orders"), before);
}

#[actix_web::test]
async fn lifecycle_permissions_and_controlled_drug_requisitions() {
    let app = spawn().await;
    let w = setup(&app).await;
    let o = order(&app, &w, json!([{"product_id": w.methadone, "packs": 2}])).await;
    let id = o["id"].as_i64().unwrap();
    let path = |action: &str| format!("/api/v1/purchase-orders/{id}/{action}");

    let r = app
        .post(&path("send"), &w.technician.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "order_status");
    let r = app
        .post(&path("approve"), &w.technician.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(&path("approve"), &w.auditor.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(&path("approve"), &w.pharmacist.token, json!({}))
        .await;
    assert_eq!(r.body["status"], "approved");
    assert_eq!(r.body["approved_by"], w.pharmacist.id);
    let r = app
        .post(&path("approve"), &w.pharmacist.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Schedule 2: no FP10CDF, no sending.
    let r = app
        .post(&path("send"), &w.technician.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(
        first_issue(&r.body),
        (
            "lines[0].fp10cdf_reference".into(),
            "required_for_controlled_drugs".into()
        )
    );
    let line = o["lines"][0]["id"].as_i64().unwrap();
    let r = app
        .call(
            Method::PUT,
            &format!("/api/v1/purchase-orders/{id}/lines/{line}/requisition"),
            Some(&w.technician.token),
            Some(json!({"fp10cdf_reference": "FP10CDF-0042"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(&path("send"), &w.technician.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "sent");
    assert_eq!(r.body["lines"][0]["fp10cdf_reference"], "FP10CDF-0042");

    let r = app
        .post(
            &path("cancel"),
            &w.technician.token,
            json!({"reason": "duplicate"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(r.body["cancel_reason"], "duplicate");
    let r = app
        .post(
            &path("receipts"),
            &w.technician.token,
            json!({"location_id": w.fosse.cd_cabinet,
                   "lines": [{"order_line_id": line, "batch_number": "M1", "expiry_date": "2030-01-01", "quantity": "1"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Another prison's technician cannot see the order.
    let lincoln = app.site("LCI");
    let other = app.user("tech.lincoln", "pharmacy_technician", &[lincoln.id]);
    let r = app
        .get(&format!("/api/v1/purchase-orders/{id}"), &other.token)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn receipts_are_all_or_nothing_and_guard_expiry_and_over_receipt() {
    let app = spawn().await;
    let w = setup(&app).await;
    let o = order(
        &app,
        &w,
        json!([{"product_id": w.paracetamol, "packs": 3}, {"product_id": w.methadone, "packs": 1,
                "fp10cdf_reference": "FP10CDF-1"}]),
    )
    .await;
    let id = o["id"].as_i64().unwrap();
    let (para_line, meth_line) = (
        o["lines"][0]["id"].as_i64().unwrap(),
        o["lines"][1]["id"].as_i64().unwrap(),
    );
    approve_and_send(&app, &w, id).await;
    let receipts = format!("/api/v1/purchase-orders/{id}/receipts");
    let movements = app.count("stock_movements");
    // A delivery with a controlled drug on it is received into the CD cabinet.
    let receive = |lines: Value| json!({"location_id": w.fosse.cd_cabinet, "lines": lines});

    // Expired, then over-received by a technician: nothing at all is written.
    let r = app
        .post(&receipts, &w.technician.token, receive(json!([
            {"order_line_id": para_line, "batch_number": "P1", "expiry_date": "2020-01-01", "quantity": "32"}])))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        first_issue(&r.body),
        ("lines[0].expiry_date".into(), "not_expired".into())
    );
    let r = app
        .post(&receipts, &w.technician.token, receive(json!([
            {"order_line_id": para_line, "batch_number": "P1", "expiry_date": "2030-01-01", "quantity": "32"},
            {"order_line_id": meth_line, "batch_number": "M1", "expiry_date": "2030-01-01", "quantity": "501"}])))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["code"], "over_receipt");
    let r = app
        .post(&receipts, &w.technician.token, receive(json!([
            {"order_line_id": meth_line, "batch_number": "M1", "expiry_date": "2030-01-01", "quantity": "501",
             "over_receipt_reason": "supplier sent extra"}])))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(app.count("stock_movements"), movements);
    assert_eq!(app.count("goods_receipts"), 0);
    assert_eq!(app.count("batches"), 0);
    assert_eq!(app.count("cd_register_entries"), 0);

    // A short-dated batch is accepted with a warning; a pharmacist accepts an over-receipt.
    let soon = (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).to_string();
    let r = app
        .post(&receipts, &w.pharmacist.token, receive(json!([
            {"order_line_id": para_line, "batch_number": "P1", "expiry_date": soon, "quantity": "96"},
            {"order_line_id": meth_line, "batch_number": "M1", "expiry_date": "2030-01-01", "quantity": "501",
             "over_receipt_reason": "supplier sent a 501 ml bottle; accepted"}])))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["order_status"], "received");
    assert_eq!(r.body["warnings"][0]["field"], "lines[0].expiry_date");
    assert_eq!(r.body["warnings"][0]["code"], "short_expiry");
    assert_eq!(
        r.body["lines"][1]["over_receipt_accepted_by"],
        w.pharmacist.id
    );
    assert_eq!(r.body["lines"][0]["value_net"], "0.9999");
    assert_eq!(r.body["lines"][1]["value_net"], "4.9599");
    assert!(r.body["lines"][0]["register_entry_id"].is_null());
    assert!(r.body["lines"][1]["register_entry_id"].is_i64());
    assert_eq!(app.count("stock_movements"), movements + 2);

    // The register's receipt entry names the supplier.
    let pages = app
        .get(
            &format!("/api/v1/sites/{}/cd/pages", w.fosse.id),
            &w.pharmacist.token,
        )
        .await;
    let page = pages.body["items"][0]["id"].as_i64().unwrap();
    let entries = app
        .get(
            &format!("/api/v1/sites/{}/cd/pages/{page}/entries", w.fosse.id),
            &w.pharmacist.token,
        )
        .await;
    let e = &entries.body["items"][0];
    assert_eq!(e["entry_type"], "receipt");
    assert_eq!(e["counterparty"], "Alliance Healthcare");
    assert_eq!(e["counterparty_address"], "Nottingham NG2 3AA");
    assert_eq!(e["quantity"], "501");

    // The invoice and how it differs from the order.
    let receipt = r.body["id"].as_i64().unwrap();
    let line0 = r.body["lines"][0]["id"].as_i64().unwrap();
    let invoice = format!("/api/v1/goods-receipts/{receipt}/invoice");
    let r = app
        .post(&invoice, &w.technician.token, json!({"invoice_number": "INV-77", "net_amount": "6.10",
                                                     "vat_amount": "0", "lines": [{"receipt_line_id": line0, "pack_price": "0.35"}]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["expected_net"], "5.9598");
    assert_eq!(r.body["net_difference"], "0.1402");
    assert_eq!(
        r.body["price_differences"][0]["ordered_pack_price"],
        "0.3333"
    );
    assert_eq!(
        r.body["price_differences"][0]["difference_per_pack"],
        "0.0167"
    );
    let r = app
        .post(
            &invoice,
            &w.technician.token,
            json!({"invoice_number": "INV-78", "net_amount": "1", "vat_amount": "0"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "invoice_exists");
}

#[actix_web::test]
async fn demo_order_from_the_reorder_report_received_in_two_parts() {
    let app = spawn().await;
    app.load_demo();
    let technician = app.token_of("technician");
    let pharmacist = app.token_of("pharmacist");
    let auditor = app.token_of("auditor");
    let site = {
        let mut c = app.conn();
        prison_pharmacy::sites::queries::by_code(&mut c, "FWI")
            .unwrap()
            .unwrap()
    };
    let store = {
        let mut c = app.conn();
        prison_pharmacy::sites::queries::location_by_code(&mut c, site.id, "CDCAB")
            .unwrap()
            .unwrap()
            .id
    };
    let methadone_stock = || async {
        let r = app
            .get(&format!("/api/v1/sites/{}/stock", site.id), &technician)
            .await;
        let methadone: Value = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| {
                l["product_name"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("Methadone")
            })
            .cloned()
            .collect();
        common::total_quantity(&methadone)
    };
    assert_eq!(methadone_stock().await, "2500");

    let r = app
        .post(
            &format!(
                "/api/v1/sites/{}/purchase-orders/from-reorder-report",
                site.id
            ),
            &technician,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let orders = r.body["orders"].as_array().unwrap().clone();
    let methadone_order = orders
        .iter()
        .find(|o| o["lines"][0]["product_name"] == "Methadone 1mg/ml oral solution sugar free")
        .unwrap()
        .clone();
    assert_eq!(
        methadone_order["supplier_name"],
        "Midlands Pharmaceutical Wholesale Ltd (demo)"
    );
    assert_eq!(methadone_order["lines"].as_array().unwrap().len(), 1);
    assert_eq!(methadone_order["lines"][0]["packs"], 10);
    assert_eq!(methadone_order["total"], "49.5");
    // Raising again orders nothing twice.
    let again = app
        .post(
            &format!(
                "/api/v1/sites/{}/purchase-orders/from-reorder-report",
                site.id
            ),
            &technician,
            json!({}),
        )
        .await;
    assert_eq!(again.body["orders"], json!([]));
    assert_eq!(
        again.body["already_on_order_product_ids"]
            .as_array()
            .unwrap()
            .len(),
        r.body["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["lines"].as_array().unwrap().len())
            .sum::<usize>()
    );

    let id = methadone_order["id"].as_i64().unwrap();
    let line = methadone_order["lines"][0]["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/purchase-orders/{id}/approve"),
            &pharmacist,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .call(
            Method::PUT,
            &format!("/api/v1/purchase-orders/{id}/lines/{line}/requisition"),
            Some(&technician),
            Some(json!({"fp10cdf_reference": "FP10CDF-2026-001"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(
            &format!("/api/v1/purchase-orders/{id}/send"),
            &technician,
            json!({}),
        )
        .await;
    assert_eq!(r.body["status"], "sent", "{}", r.body);

    for (qty, status, batch) in [
        ("2000", "partly_received", "MTH2611Z"),
        ("3000", "received", "MTH2611Z"),
    ] {
        let r = app
            .post(&format!("/api/v1/purchase-orders/{id}/receipts"), &technician,
                  json!({"location_id": store, "lines": [{"order_line_id": line, "batch_number": batch,
                                                          "expiry_date": "2028-06-30", "quantity": qty}]}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["order_status"], status);
    }
    let o = app
        .get(&format!("/api/v1/purchase-orders/{id}"), &technician)
        .await;
    assert_eq!(o.body["status"], "received");
    assert_eq!(o.body["lines"][0]["received_quantity"], "5000");
    assert_eq!(o.body["lines"][0]["outstanding_quantity"], "0");
    assert_eq!(methadone_stock().await, "7500");

    // The register agrees with the stock and its chain verifies.
    let pages = app
        .get(&format!("/api/v1/sites/{}/cd/pages", site.id), &auditor)
        .await;
    let total = pages.body["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["drug"] == "Methadone 1mg/ml oral solution sugar free")
        .unwrap()
        .clone();
    assert_eq!(total["balance"], "7500");
    let page = pages.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["drug"] == "Methadone 1mg/ml oral solution sugar free" && p["location_id"] == store
        })
        .unwrap()
        .clone();
    // The pharmacy cabinet's page: opening receipt, ward stock moved to the hatch, two receipts.
    assert_eq!(page["balance"], "7000");
    assert_eq!(page["entry_count"], 4);
    let v = app
        .get(&format!("/api/v1/sites/{}/cd/verify", site.id), &auditor)
        .await;
    assert_eq!(v.body["status"], "intact");

    // The spend report agrees with the order.
    let r = app
        .get(
            &format!("/api/v1/reports/spend?site_id={}", site.id),
            &auditor,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let rows = r.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0]["supplier_name"],
        "Midlands Pharmaceutical Wholesale Ltd (demo)"
    );
    assert_eq!(rows[0]["site_code"], "FWI");
    assert_eq!(rows[0]["receipts"], 2);
    assert_eq!(rows[0]["net"], "49.5");
    assert_eq!(rows[0]["gross"], "49.5");
    assert_eq!(r.body["gross_total"], methadone_order["total"]);
    let (status, content_type, body) = app
        .download(
            &format!("/api/v1/reports/spend?site_id={}&format=csv", site.id),
            &auditor,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/csv"));
    let text = String::from_utf8(body).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("period,supplier_id,supplier,site_id,site,receipts,net,vat,gross")
    );
    let expected = format!(
        "{},{},Midlands Pharmaceutical Wholesale Ltd (demo),{},FWI,2,49.5,0,49.5",
        rows[0]["period"].as_str().unwrap(),
        rows[0]["supplier_id"],
        site.id
    );
    assert_eq!(lines.next(), Some(expected.as_str()));
    assert_eq!(lines.next(), None);
}
