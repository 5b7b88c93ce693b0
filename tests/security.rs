//! Security properties proven over HTTP: every route against every role at its own and at
//! another prison, forged tokens, malformed and oversized input, crossing transfers, headers.

mod common;

use std::collections::HashMap;

use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use common::spawn;
use diesel::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use prison_pharmacy::audit::Actor;
use prison_pharmacy::auth::access::{self, Access};
use prison_pharmacy::auth::permissions::allowed;
use prison_pharmacy::db::AnyConnection;
use prison_pharmacy::domain::Role;

fn req<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn user_id(conn: &mut AnyConnection, name: &str) -> i64 {
    use prison_pharmacy::db::schema::users;
    users::table
        .filter(users::username.eq(name))
        .select(users::id)
        .first(conn)
        .unwrap()
}

/// The ids that fill each path parameter: (this prison's record, another prison's record).
type Ids = HashMap<&'static str, (i64, i64)>;

/// The demo data plus, at HMP Lincoln, one record of every kind a route can name.
fn build_world(conn: &mut AnyConnection) -> Ids {
    prison_pharmacy::fixtures::load(conn, Some(common::DEMO_PASSWORD)).unwrap();
    // The services expect their caller's transaction, as a request gives them.
    prison_pharmacy::db::transaction(conn, |c| Ok(build_records(c))).unwrap()
}

fn build_records(conn: &mut AnyConnection) -> Ids {
    use prison_pharmacy::administration::service as administration;
    use prison_pharmacy::cd_register::service as register;
    use prison_pharmacy::patients::service as patients;
    use prison_pharmacy::prescribing::service as prescribing;
    use prison_pharmacy::procurement::service as procurement;
    use prison_pharmacy::sites::queries as sites;
    use prison_pharmacy::stock::service as stock;
    let actor = |conn: &mut AnyConnection, name: &str| Actor {
        user_id: user_id(conn, name),
        request_id: "matrix".into(),
    };
    let (pharmacist, nurse, nurse2, lincoln_nurse) = (
        actor(conn, "pharmacist"),
        actor(conn, "nurse"),
        actor(conn, "nurse2"),
        actor(conn, "nurse.lincoln"),
    );
    let fosse = sites::by_code(conn, "FWI").unwrap().unwrap().id;
    let lincoln = sites::by_code(conn, "LCI").unwrap().unwrap().id;
    let loc = |conn: &mut AnyConnection, site: i64, code: &str| {
        sites::location_by_code(conn, site, code)
            .unwrap()
            .unwrap()
            .id
    };
    let methadone = prison_pharmacy::formulary::queries::product_by_name(
        conn,
        "Methadone 1mg/ml oral solution sugar free",
    )
    .unwrap()
    .unwrap()
    .id;
    let supplier: i64 = {
        use prison_pharmacy::db::schema::suppliers;
        suppliers::table.select(suppliers::id).first(conn).unwrap()
    };
    let rules =
        administration::Rules::from_config(&prison_pharmacy::config::Config::for_database(""));

    let mut per_site = Vec::new();
    let mut extra = Vec::new();
    for (site, number, carer) in [
        (fosse, "G1111AA", &nurse),
        (lincoln, "H2222BB", &lincoln_nurse),
    ] {
        let cabinet = loc(conn, site, "CDCAB");
        let store = loc(conn, site, "PHARM");
        // An order for methadone, received into the CD cabinet: order, line, receipt, batch, register page.
        let order = procurement::create_order(
            conn,
            &pharmacist,
            site,
            &req(
                json!({"supplier_id": supplier, "lines": [{"product_id": methadone, "packs": 2,
                        "fp10cdf_reference": "FP10CDF-1"}]}),
            ),
        )
        .unwrap();
        procurement::approve(conn, &pharmacist, order.id).unwrap();
        procurement::send(conn, &pharmacist, order.id).unwrap();
        let receipt = procurement::receive(
            conn,
            &pharmacist,
            order.id,
            &req(json!({"location_id": cabinet, "lines": [{"order_line_id": order.lines[0].id,
                        "batch_number": format!("M{site}"), "expiry_date": "2030-01-31", "quantity": "1000"}]})),
            true,
            180,
        )
        .unwrap();
        let batch = receipt.lines[0].batch_id;
        let transfer = stock::dispatch(
            conn,
            &pharmacist,
            site,
            &req(json!({"from_location_id": cabinet, "to_location_id": store,
                        "lines": [{"batch_id": batch, "quantity": "10"}]})),
            Some(carer.user_id),
        )
        .unwrap();
        let stocktake = stock::open_stocktake(
            conn,
            &pharmacist,
            site,
            &req(json!({"location_id": cabinet})),
        )
        .unwrap();
        let page = prison_pharmacy::cd_register::queries::cabinet_page(conn, cabinet, methadone)
            .unwrap()
            .unwrap();
        let entry = register::entries(conn, site, page.id, &req(json!({})))
            .unwrap()
            .items[0]
            .id;
        let check = register::balance_check(
            conn,
            &pharmacist,
            site,
            page.id,
            &req(json!({"counted_quantity": "1"})),
            nurse2.user_id,
        )
        .unwrap()
        .id;
        let returned = register::receive_patient_return(
            conn,
            carer,
            site,
            &req(json!({"patient_identifier": "A1234BC", "description": "x", "quantity": "1", "unit": "ml"})),
        )
        .unwrap()
        .id;
        // A patient with an allergy, an approved methadone prescription and a missed dose (an alert).
        let patient = patients::admit(
            conn,
            carer,
            site,
            &req(
                json!({"prison_number": number, "given_name": "M", "family_name": "Atrix",
                        "date_of_birth": "1980-01-01", "wing": "A"}),
            ),
        )
        .unwrap()
        .id;
        let allergy = patients::add_allergy(
            conn,
            carer,
            patient,
            &req(json!({"substance": "penicillin", "kind": "allergy", "reaction": "rash", "severity": "mild"})),
        )
        .unwrap()
        .allergies[0]
            .id;
        let rx = prescribing::create(
            conn,
            &pharmacist,
            patient,
            &req(json!({"product_id": methadone, "dose": "30", "dose_unit": "mg", "route": "oral",
                        "slots": ["morning"], "start_date": "2020-01-01", "possession": "supervised",
                        "prescriber": "Dr Matrix"})),
        )
        .unwrap()
        .id;
        prescribing::decide(conn, &pharmacist, rx, &req(json!({"decision": "approve"}))).unwrap();
        let dose = administration::record_dose(
            conn,
            carer,
            site,
            &req(json!({"prescription_id": rx, "slot": "morning", "outcome": "refused",
                        "date": (chrono::Utc::now().date_naive() - chrono::Duration::days(1)).to_string()})),
            None,
            rules,
        )
        .unwrap();
        per_site.push((
            site,
            order.id,
            order.lines[0].id,
            receipt.id,
            batch,
            transfer.id,
            stocktake.id,
            page.id,
            entry,
            check,
            returned,
            patient,
            allergy,
            rx,
            dose.id,
            dose.alert_ids[0],
        ));
        // An emergency kit, an outbreak and a reasonable adjustment.
        let kit_location =
            sites::insert_location(conn, site, "MATRIX-KIT", "Kit", "treatment_room", false)
                .unwrap();
        let naloxone = prison_pharmacy::formulary::queries::product_by_name(
            conn,
            "Naloxone 1.26mg/3.1ml (Prenoxad) solution for injection pre-filled syringes",
        )
        .unwrap()
        .unwrap()
        .id;
        let kit = prison_pharmacy::emergency_kits::service::create_kit(
            conn,
            &pharmacist,
            site,
            &req(json!({"location_id": kit_location, "kind": "naloxone_kit",
                        "contents": [{"product_id": naloxone, "quantity": "2"}]})),
        )
        .unwrap()
        .id;
        let outbreak = prison_pharmacy::outbreaks::service::declare(
            conn,
            carer,
            site,
            &req(json!({"condition": "Norovirus", "wings": ["A"]})),
        )
        .unwrap()
        .id;
        let adjustment = prison_pharmacy::patients::adjustments::add(
            conn,
            carer,
            patient,
            &req(json!({"category": "easy_read", "text": "Easy-read labels"})),
        )
        .unwrap()
        .adjustments[0]
            .id;
        extra.push((kit, outbreak, adjustment));
    }
    // A reconciliation task at each prison: a patient moves each way.
    let to_lincoln = patients::admit(
        conn,
        &nurse,
        fosse,
        &req(json!({"prison_number": "J3333CC", "given_name": "T",
        "family_name": "L", "date_of_birth": "1980-01-01"})),
    )
    .unwrap()
    .id;
    prison_pharmacy::custody::service::transfer(
        conn,
        &nurse,
        to_lincoln,
        &req(json!({"to_site_id": lincoln})),
    )
    .unwrap();
    let to_fosse = patients::admit(
        conn,
        &lincoln_nurse,
        lincoln,
        &req(json!({"prison_number": "K4444DD",
        "given_name": "T", "family_name": "F", "date_of_birth": "1980-01-01"})),
    )
    .unwrap()
    .id;
    prison_pharmacy::custody::service::transfer(
        conn,
        &lincoln_nurse,
        to_fosse,
        &req(json!({"to_site_id": fosse})),
    )
    .unwrap();
    let task = |conn: &mut AnyConnection, site: i64| {
        patients::tasks(conn, site, true).unwrap().items[0].id
    };
    let tasks = (task(conn, fosse), task(conn, lincoln));

    let (a, b) = (&per_site[0], &per_site[1]);
    let mut ids: Ids = HashMap::new();
    ids.insert("site_id", (a.0, b.0));
    ids.insert("purchase-orders", (a.1, b.1));
    ids.insert("line_id", (a.2, b.2));
    ids.insert("goods-receipts", (a.3, b.3));
    ids.insert("batches", (a.4, b.4));
    ids.insert("transfers", (a.5, b.5));
    ids.insert("stocktakes", (a.6, b.6));
    ids.insert("page_id", (a.7, b.7));
    ids.insert("entry_id", (a.8, b.8));
    // The quarantine shelf: marking it a cabinet or not moves no register stock.
    let shelf = |conn: &mut AnyConnection, site: i64| {
        sites::location_by_code(conn, site, "QUAR")
            .unwrap()
            .unwrap()
            .id
    };
    let shelves = (shelf(conn, a.0), shelf(conn, b.0));
    ids.insert("location_id", shelves);
    ids.insert("check_id", (a.9, b.9));
    ids.insert("return_id", (a.10, b.10));
    ids.insert("patients", (a.11, b.11));
    ids.insert("kit_id", (extra[0].0, extra[1].0));
    ids.insert("outbreak_id", (extra[0].1, extra[1].1));
    ids.insert("adjustment_id", (extra[0].2, extra[1].2));
    ids.insert("allergy_id", (a.12, b.12));
    ids.insert("prescriptions", (a.13, b.13));
    ids.insert("doses", (a.14, b.14));
    ids.insert("alerts", (a.15, b.15));
    ids.insert("reconciliation-tasks", tasks);
    ids.insert("products", (methadone, methadone));
    ids.insert("suppliers", (supplier, supplier));
    let user = user_id(conn, "nurse");
    ids.insert("users", (user, user));
    ids
}

/// The route's path with its parameters filled for this prison (or another).
fn fill(pattern: &str, ids: &Ids, other: bool) -> String {
    let segments: Vec<&str> = pattern.split('/').collect();
    let mut out = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let key = if name == "id" { segments[i - 1] } else { name };
            let (own, theirs) = ids
                .get(key)
                .unwrap_or_else(|| panic!("no id for {key} in {pattern}"));
            out.push(if other { theirs } else { own }.to_string());
        } else {
            out.push(seg.to_string());
        }
    }
    out.join("/")
}

fn scoped_to_a_prison(pattern: &str) -> bool {
    let entity = pattern
        .trim_start_matches("/api/v1/")
        .split('/')
        .next()
        .unwrap_or_default();
    pattern.contains("{site_id}")
        || (pattern.contains("{id}")
            && matches!(
                entity,
                "patients"
                    | "prescriptions"
                    | "reconciliation-tasks"
                    | "doses"
                    | "alerts"
                    | "purchase-orders"
                    | "goods-receipts"
                    | "stocktakes"
                    | "transfers"
            ))
}

#[actix_web::test]
async fn every_route_every_role_at_its_own_and_another_prison() {
    let app = spawn().await;
    let ids = {
        let mut c = app.conn();
        build_world(&mut c)
    };
    let roles = [
        ("pharmacist", Role::Pharmacist),
        ("pharmacy_technician", Role::PharmacyTechnician),
        ("nurse", Role::Nurse),
        ("auditor", Role::Auditor),
        ("admin", Role::Admin),
    ];
    let fosse = ids["site_id"].0;
    let tokens: Vec<(Role, String)> = roles
        .iter()
        .map(|(name, role)| {
            (
                *role,
                app.user(&format!("matrix.{name}"), name, &[fosse]).token,
            )
        })
        .collect();

    // Every documented operation has a rule, and every rule a documented operation.
    let doc = prison_pharmacy::openapi::document();
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() && path.starts_with("/api/v1/") {
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    for (method, path) in &operations {
        assert!(
            access::rule(method, path).is_some(),
            "{method} {path} has no access rule"
        );
    }
    for route in prison_pharmacy::api::all() {
        assert!(
            operations
                .iter()
                .any(|(m, p)| m == route.method.as_str() && *p == route.path)
                || !route.path.starts_with("/api/v1/"),
            "{} {} is not in the OpenAPI document",
            route.method,
            route.path
        );
    }
    assert!(operations.len() >= 100, "{}", operations.len());

    let mut checked = 0;
    for (method, pattern) in &operations {
        let rule = access::rule(method, pattern).unwrap();
        for (role, token) in &tokens {
            let sides: &[bool] = if scoped_to_a_prison(pattern) {
                &[false, true]
            } else {
                &[false]
            };
            for &other in sides {
                let path = fill(pattern, &ids, other);
                let mut r = TestRequest::default()
                    .method(Method::from_bytes(method.as_bytes()).unwrap())
                    .uri(&path)
                    .insert_header(("Authorization", format!("Bearer {token}")));
                if method != "GET" {
                    r = r.set_json(json!({}));
                }
                let status = app.send(r).await.status;
                let may = match rule {
                    Access::Public | Access::SignedIn => true,
                    Access::Action(action) => allowed(*role, action),
                };
                let context = format!("{role} {method} {path} ({pattern})");
                match (may, other) {
                    (false, _) => assert_eq!(status, StatusCode::FORBIDDEN, "{context}"),
                    (true, true) => assert_eq!(status, StatusCode::NOT_FOUND, "{context}"),
                    (true, false) => assert!(
                        ![
                            StatusCode::UNAUTHORIZED,
                            StatusCode::FORBIDDEN,
                            StatusCode::NOT_FOUND
                        ]
                        .contains(&status)
                            && !status.is_server_error(),
                        "{context}: {status}"
                    ),
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 600, "{checked}");
    // Without a token every protected route answers 401.
    for (method, pattern) in &operations {
        if matches!(access::rule(method, pattern), Some(Access::Public)) {
            continue;
        }
        let r = TestRequest::default()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(&fill(pattern, &ids, false));
        assert_eq!(
            app.send(r).await.status,
            StatusCode::UNAUTHORIZED,
            "{method} {pattern}"
        );
    }
}

#[actix_web::test]
async fn a_token_claiming_rs256_is_refused() {
    use base64::Engine;
    use hmac::Mac;
    let app = spawn().await;
    let site = app.site("FWI");
    let nurse = app.user("nurse", "nurse", &[site.id]);
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": nurse.id.to_string(), "iss": "prison-pharmacy", "aud": "prison-pharmacy-api",
                        "iat": now, "nbf": now, "exp": now + 600, "jti": "x"});
    for alg in ["RS256", "ES256", "HS512", "PS256"] {
        let signing_input = format!(
            "{}.{}",
            b64(&json!({"alg": alg, "typ": "JWT"})),
            b64(&claims)
        );
        // Signed with the service's own secret as an HMAC key: the algorithm confusion attack.
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(
            app.state.config.jwt_secret.as_deref().unwrap().as_bytes(),
        )
        .unwrap();
        mac.update(signing_input.as_bytes());
        let sig =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        let token = format!("{signing_input}.{sig}");
        let r = app.get("/api/v1/me", &token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{alg}");
    }
}

/// Tables that any accepted write would change.
const STATE_TABLES: [&str; 5] = [
    "audit_events",
    "stock_movements",
    "dose_records",
    "prescriptions",
    "patients",
];

#[actix_web::test]
async fn oversized_and_deeply_nested_bodies_are_refused_without_change() {
    let app = spawn().await;
    let site = app.site("FWI");
    let nurse = app.user("nurse", "nurse", &[site.id]);
    let before: Vec<i64> = ["audit_events", "patients"]
        .iter()
        .map(|t| app.count(t))
        .collect();
    let path = format!("/api/v1/sites/{}/patients", site.id);
    let send = |body: Vec<u8>| {
        TestRequest::post()
            .uri(&path)
            .insert_header(("Authorization", format!("Bearer {}", nurse.token)))
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body)
    };
    let huge = format!("{{\"prison_number\": \"{}\"}}", "A".repeat(1_000_000));
    let r = app.send(send(huge.into_bytes())).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = app.send(send(deep.into_bytes())).await;
    // The typed reader stops at the first bracket: depth never reaches the parser's limit.
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app.send(send(b"\xff\xfe not json".to_vec())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let after: Vec<i64> = ["audit_events", "patients"]
        .iter()
        .map(|t| app.count(t))
        .collect();
    assert_eq!(before, after);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,40}".prop_map(Value::from),
            Just(json!("A1234BC")),
            Just(json!("99999999999999999999.99999")),
            Just(json!("-0.0001")),
            Just(json!("2026-02-30")),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("prison_number".to_string()),
                        Just("quantity".to_string()),
                        Just("dose".to_string()),
                        Just("outcome".to_string()),
                        Just("lines".to_string()),
                        Just("witness".to_string()),
                        Just("location_id".to_string()),
                        "[a-z_]{1,12}",
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Malformed, boundary and random bodies and queries: never a 5xx, never a change of state.
    #[test]
    fn random_bodies_and_queries_get_4xx_and_change_nothing() {
        let system = actix_web::rt::System::new();
        system.block_on(async {
            let app = spawn().await;
            let site = app.site("FWI");
            let nurse = app.user("nurse", "nurse", &[site.id]);
            let pharmacist = app.user("pharmacist", "pharmacist", &[site.id]);
            let routes: [(String, &String); 7] = [
                (format!("/api/v1/sites/{}/patients", site.id), &nurse.token),
                (format!("/api/v1/sites/{}/doses", site.id), &nurse.token),
                (
                    format!("/api/v1/sites/{}/stock/adjustments", site.id),
                    &pharmacist.token,
                ),
                (
                    format!("/api/v1/sites/{}/transfers", site.id),
                    &pharmacist.token,
                ),
                (
                    format!("/api/v1/sites/{}/purchase-orders", site.id),
                    &pharmacist.token,
                ),
                (
                    format!("/api/v1/sites/{}/cd/destructions", site.id),
                    &pharmacist.token,
                ),
                ("/api/v1/formulary/products".to_string(), &pharmacist.token),
            ];
            let mut runner = TestRunner::new(Config {
                cases: 64,
                failure_persistence: None,
                ..Config::default()
            });
            let counts = || {
                STATE_TABLES
                    .iter()
                    .map(|t| app.count(t))
                    .collect::<Vec<i64>>()
            };
            let before = counts();
            let params = prop::collection::vec(
                (
                    prop_oneof![
                        Just("product_id".to_string()),
                        Just("batch_id".to_string()),
                        Just("location_id".to_string()),
                        Just("after_id".to_string()),
                        Just("limit".to_string()),
                        "\\PC{0,10}",
                    ],
                    prop_oneof![
                        Just("-1".to_string()),
                        Just("0".to_string()),
                        Just("9223372036854775808".to_string()),
                        "\\PC{0,20}",
                    ],
                ),
                0..5,
            )
            .prop_map(|pairs| {
                let mut q = form_urlencoded::Serializer::new(String::new());
                for (k, v) in pairs {
                    q.append_pair(&k, &v);
                }
                q.finish()
            });
            let strategy = (0..routes.len(), any_json(), params);
            let cases: Vec<(usize, Value, String)> = (0..runner.config().cases)
                .map(|_| strategy.new_tree(&mut runner).unwrap().current())
                .collect();
            for (i, body, query) in cases {
                let (path, token) = &routes[i];
                let r = app
                    .send(
                        TestRequest::post()
                            .uri(path)
                            .insert_header(("Authorization", format!("Bearer {token}")))
                            .set_json(&body),
                    )
                    .await;
                assert!(
                    r.status.is_client_error(),
                    "POST {path} {body}: {}",
                    r.status
                );
                let get = format!("/api/v1/sites/{}/stock/movements?{}", site.id, query);
                let req = TestRequest::get()
                    .uri(&get)
                    .insert_header(("Authorization", format!("Bearer {}", nurse.token)));
                let r = app.send(req).await;
                assert!(!r.status.is_server_error(), "GET {get}: {}", r.status);
            }
            assert_eq!(counts(), before);
        });
    }
}

#[actix_web::test]
async fn crossing_transfers_never_lose_stock() {
    let app = spawn().await;
    let fosse = app.site("FWI");
    let lincoln = app.site("LCI");
    let pharmacist = app.user("pharmacist", "pharmacist", &[fosse.id, lincoln.id]);
    let body: Value =
        serde_json::from_str::<Vec<Value>>(include_str!("../fixtures/formulary.json"))
            .unwrap()
            .into_iter()
            .find(|p| p["name"] == "Sertraline 50mg tablets")
            .unwrap();
    let product = app
        .post("/api/v1/formulary/products", &pharmacist.token, body)
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let batch = app
        .post(
            &format!("/api/v1/formulary/products/{product}/batches"),
            &pharmacist.token,
            json!({"batch_number": "S1", "expiry_date": "2030-01-01"}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    for (site, loc) in [(fosse.id, fosse.store), (lincoln.id, lincoln.store)] {
        let r = app
            .post(
                &format!("/api/v1/sites/{site}/stock/adjustments"),
                &pharmacist.token,
                json!({"location_id": loc, "batch_id": batch, "quantity": "100", "reason": "adjustment",
                       "reason_code": "opening_balance", "note": "t"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    // 20 transfers each way at once, each received at once.
    let send = |from: (i64, i64), to: i64| {
        let token = pharmacist.token.clone();
        let app = &app;
        async move {
            let r = app
                .post(
                    &format!("/api/v1/sites/{}/transfers", from.0),
                    &token,
                    json!({"from_location_id": from.1, "to_location_id": to, "lines": [{"batch_id": batch, "quantity": "3"}]}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            let id = r.body["id"].as_i64().unwrap();
            let r = app
                .post(
                    &format!("/api/v1/transfers/{id}/receive"),
                    &token,
                    json!({}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    };
    let mut jobs = Vec::new();
    for _ in 0..20 {
        jobs.push(send((fosse.id, fosse.store), lincoln.store));
        jobs.push(send((lincoln.id, lincoln.store), fosse.store));
    }
    futures_util::future::join_all(jobs).await;
    let mut c = app.conn();
    for (site, loc) in [(fosse.id, fosse.store), (lincoln.id, lincoln.store)] {
        let held = prison_pharmacy::stock::queries::movement_sum(&mut c, loc, batch).unwrap();
        assert_eq!(held, 100_000, "site {site}");
        let r = app
            .get(
                &format!("/api/v1/sites/{site}/stock?location_id={loc}&batch_id={batch}"),
                &pharmacist.token,
            )
            .await;
        assert_eq!(r.body["items"][0]["quantity"], "100");
    }
}

#[actix_web::test]
async fn responses_carry_security_headers_and_weak_passwords_are_refused() {
    let app = spawn().await;
    let site = app.site("FWI");
    let admin = app.user("admin", "admin", &[site.id]);
    for path in ["/health", "/api/v1/me", "/api/v1/no-such-route"] {
        let r = app.get(path, &admin.token).await;
        for header in [
            "x-content-type-options",
            "x-frame-options",
            "referrer-policy",
            "strict-transport-security",
        ] {
            assert!(r.headers.get(header).is_some(), "{path} lacks {header}");
        }
        if path.starts_with("/api") {
            assert_eq!(
                r.headers.get("cache-control").unwrap(),
                "no-store",
                "{path}"
            );
        }
    }
    // Refusals made by the access check carry them too.
    let r = app.call(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(r.headers.get("x-content-type-options").unwrap(), "nosniff");
    let long = "a1".repeat(100);
    for (password, rule) in [
        ("short", "length"),
        (long.as_str(), "length"),
        ("newuser-password", "contains_username"),
    ] {
        let r = app
            .post(
                "/api/v1/users",
                &admin.token,
                json!({"username": "newuser", "display_name": "New User",
                  "role": "nurse", "password": password, "site_ids": [site.id]}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{password}: {}",
            r.body
        );
        assert_eq!(
            common::first_issue(&r.body),
            ("password".into(), rule.into()),
            "{}",
            r.body
        );
    }
}
