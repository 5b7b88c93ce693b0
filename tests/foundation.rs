//! Sign-in, tokens, role and site checks, problem documents and the audit log, over HTTP.

mod common;

use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use base64::Engine;
use common::{first_issue, spawn, spawn_with, PASSWORD};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "test-secret-test-secret-test-secret-0123";

fn claims(sub: i64, offset_iat: i64, ttl: i64, iss: &str, aud: &str) -> Value {
    let now = chrono::Utc::now().timestamp() + offset_iat;
    json!({"sub": sub.to_string(), "iss": iss, "aud": aud, "iat": now, "nbf": now, "exp": now + ttl, "jti": "t"})
}

fn sign(claims: &Value, secret: &str) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[actix_web::test]
async fn login_returns_a_bearer_token_and_me_describes_the_user() {
    let app = spawn().await;
    let site = app.site("FWI");
    let nurse = app.user("nurse", "nurse", &[site.id]);
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nurse", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    let token = r.body["access_token"].as_str().unwrap().to_string();

    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], nurse.id);
    assert_eq!(me.body["username"], "nurse");
    assert_eq!(me.body["role"], "nurse");
    assert_eq!(
        me.body["sites"],
        json!([{"id": site.id, "code": "FWI", "name": "HMP FWI"}])
    );
    assert!(me.body.get("password_hash").is_none());
}

#[actix_web::test]
async fn wrong_username_and_wrong_password_get_the_same_answer() {
    let app = spawn().await;
    let site = app.site("FWI");
    app.user("nurse", "nurse", &[site.id]);
    let wrong_pw = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nurse", "password": "nope"})),
        )
        .await;
    let no_user = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "ghost", "password": "nope"})),
        )
        .await;
    assert_eq!(wrong_pw.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_user.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_pw.body, no_user.body);
    assert_eq!(
        wrong_pw.headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    assert_eq!(wrong_pw.body["detail"], "invalid username or password");
}

#[actix_web::test]
async fn repeated_failures_hold_the_client_back() {
    let app = spawn_with(|c| c.login_max_failures = 3).await;
    let site = app.site("FWI");
    app.user("nurse", "nurse", &[site.id]);
    for _ in 0..3 {
        let r = app
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "nurse", "password": "x"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right password waits while the address is held back.
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nurse", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.get("retry-after").is_some());
}

#[actix_web::test]
async fn forged_stale_and_disabled_tokens_are_refused() {
    let app = spawn().await;
    let site = app.site("FWI");
    let nurse = app.user("nurse", "nurse", &[site.id]);
    let admin = app.user("admin", "admin", &[site.id]);
    let iss = "prison-pharmacy";
    let aud = "prison-pharmacy-api";

    let good = sign(&claims(nurse.id, 0, 600, iss, aud), SECRET);
    assert_eq!(app.get("/api/v1/me", &good).await.status, StatusCode::OK);

    let header_none = json!({"alg": "none", "typ": "JWT"});
    let alg_none = format!(
        "{}.{}.",
        b64(&header_none),
        b64(&claims(nurse.id, 0, 600, iss, aud))
    );
    let other_key = sign(
        &claims(nurse.id, 0, 600, iss, aud),
        "another-secret-another-secret-another-secret",
    );
    let expired = sign(&claims(nurse.id, -3600, 600, iss, aud), SECRET);
    let not_yet_valid = sign(&claims(nurse.id, 3600, 600, iss, aud), SECRET);
    let wrong_issuer = sign(&claims(nurse.id, 0, 600, "someone-else", aud), SECRET);
    let wrong_audience = sign(&claims(nurse.id, 0, 600, iss, "another-api"), SECRET);
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&claims(admin.id, 0, 600, iss, aud)),
        parts[2]
    );
    let cases = [
        ("alg none", alg_none),
        ("other key", other_key),
        ("expired", expired),
        ("not yet valid", not_yet_valid),
        ("wrong issuer", wrong_issuer),
        ("wrong audience", wrong_audience),
        ("tampered payload", tampered),
        ("garbage", "not.a.token".to_string()),
    ];
    for (name, token) in cases {
        let r = app.get("/api/v1/me", &token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(r.body["status"], 401, "{name}");
    }
    let none = app.call(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);

    // Disable the nurse: the still-unexpired token stops working at once.
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{}", nurse.id),
            Some(&admin.token),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["enabled"], false);
    assert_eq!(
        app.get("/api/v1/me", &good).await.status,
        StatusCode::UNAUTHORIZED
    );
    let login = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nurse", "password": PASSWORD})),
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn roles_are_denied_by_the_permission_table_and_other_sites_are_invisible() {
    let app = spawn().await;
    let fosse = app.site("FWI");
    let lincoln = app.site("LCI");
    let nurse = app.user("nurse", "nurse", &[fosse.id]);
    let admin = app.user("admin", "admin", &[fosse.id]);
    let body =
        json!({"code": "HB9-HATCH", "name": "Houseblock 9 hatch", "kind": "administration_point"});

    let r = app
        .post(
            &format!("/api/v1/sites/{}/locations", fosse.id),
            &nurse.token,
            body.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["detail"], "role nurse may not location.manage");

    // Another prison's records answer 404 whatever the role, so their existence does not leak.
    let r = app
        .post(
            &format!("/api/v1/sites/{}/locations", lincoln.id),
            &admin.token,
            body.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("/api/v1/sites/{}", lincoln.id), &nurse.token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/sites/999999", &nurse.token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.count("locations"), 8, "nothing was written");

    let r = app.get("/api/v1/sites", &nurse.token).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["items"][0]["id"], fosse.id);

    let r = app
        .post(
            &format!("/api/v1/sites/{}/locations", fosse.id),
            &admin.token,
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["kind"], "administration_point");

    // Auditors read the log but write nothing.
    let auditor = app.user("auditor", "auditor", &[fosse.id]);
    let r = app
        .post(
            "/api/v1/sites",
            &auditor.token,
            json!({"code": "XX", "name": "x", "category": "c", "address": "a"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/audit", &nurse.token).await.status,
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn bad_input_gets_problem_documents_and_changes_nothing() {
    let app = spawn().await;
    let site = app.site("FWI");
    let admin = app.user("admin", "admin", &[site.id]);
    let path = format!("/api/v1/sites/{}/locations", site.id);
    let before = app.count("locations");

    let r = app
        .post(
            &path,
            &admin.token,
            json!({"code": "X1", "name": "x", "kind": "cupboard"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body), ("kind".into(), "enum".into()));

    let r = app
        .post(
            &path,
            &admin.token,
            json!({"code": "X1", "kind": "quarantine"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body), ("name".into(), "required".into()));

    let r = app
        .post(
            &path,
            &admin.token,
            json!({"code": "lower case", "name": "x", "kind": "quarantine"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body), ("code".into(), "charset".into()));

    let malformed = TestRequest::post()
        .uri(&path)
        .insert_header(("Authorization", format!("Bearer {}", admin.token)))
        .insert_header(("Content-Type", "application/json"))
        .set_payload("{\"code\": ");
    let r = app.send(malformed).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/problem+json"
    );

    let wrong_type = TestRequest::post()
        .uri(&path)
        .insert_header(("Authorization", format!("Bearer {}", admin.token)))
        .insert_header(("Content-Type", "text/plain"))
        .set_payload("code=X1");
    assert_eq!(
        app.send(wrong_type).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let huge = json!({"code": "X1", "name": "x".repeat(300_000), "kind": "quarantine"});
    assert_eq!(
        app.post(&path, &admin.token, huge).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    let r = app.get("/api/v1/no-such-thing", &admin.token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["status"], 404);
    let r = app
        .call(Method::DELETE, &path, Some(&admin.token), None)
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.body["status"], 405);

    let r = app.get("/api/v1/audit?per_page=500", &admin.token).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body), ("per_page".into(), "range".into()));
    let r = app.get("/api/v1/audit?site_id=abc", &admin.token).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body).0, "site_id");

    let r = app
        .post(
            "/api/v1/users",
            &admin.token,
            json!({"username": "new.nurse", "display_name": "N", "role": "nurse", "password": "short", "site_ids": [site.id]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body), ("password".into(), "length".into()));

    assert_eq!(app.count("locations"), before);
    assert_eq!(app.count("users"), 1);
    assert_eq!(app.count("audit_events"), 0);
}

#[actix_web::test]
async fn a_write_records_its_audit_event_in_the_same_transaction() {
    let app = spawn().await;
    let site = app.site("FWI");
    let other = app.site("LCI");
    let admin = app.user("admin", "admin", &[site.id]);
    let auditor = app.user("auditor", "auditor", &[site.id]);
    let body =
        json!({"code": "HB7-HATCH", "name": "Houseblock 7 hatch", "kind": "administration_point"});
    let r = app
        .post(
            &format!("/api/v1/sites/{}/locations", site.id),
            &admin.token,
            body.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let location_id = r.body["id"].as_i64().unwrap();
    let request_id = r
        .headers
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();

    // A refused duplicate writes neither the location nor an audit event.
    let dup = app
        .post(
            &format!("/api/v1/sites/{}/locations", site.id),
            &admin.token,
            body,
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.body["code"], "location_code_taken");

    let r = app
        .get(
            &format!("/api/v1/audit?site_id={}&entity=location", site.id),
            &auditor.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["total"], 1);
    let e = &r.body["items"][0];
    assert_eq!(e["user_id"], admin.id);
    assert_eq!(e["site_id"], site.id);
    assert_eq!(e["action"], "location.create");
    assert_eq!(e["entity_id"], location_id.to_string());
    assert_eq!(e["request_id"], request_id);

    let r = app
        .get(
            &format!("/api/v1/audit?user_id={}&per_page=1&page=1", admin.id),
            &auditor.token,
        )
        .await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["per_page"], 1);
    let r = app
        .get(
            "/api/v1/audit?from=2000-01-01T00:00:00&to=2000-01-02T00:00:00",
            &auditor.token,
        )
        .await;
    assert_eq!(r.body["total"], 0);
    // An auditor of one prison cannot read another's log.
    let r = app
        .get(
            &format!("/api/v1/audit?site_id={}", other.id),
            &auditor.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The database itself refuses to alter the log.
    use diesel::connection::SimpleConnection;
    let mut c = app.conn();
    assert!(c
        .batch_execute("UPDATE audit_events SET action = 'x'")
        .is_err());
    assert!(c.batch_execute("DELETE FROM audit_events").is_err());
    assert_eq!(app.count("audit_events"), 1);
}

#[actix_web::test]
async fn admins_create_users_who_can_sign_in() {
    let app = spawn().await;
    let site = app.site("FWI");
    let admin = app.user("admin", "admin", &[site.id]);
    let r = app
        .post(
            "/api/v1/users",
            &admin.token,
            json!({"username": "new.nurse", "display_name": "New Nurse", "role": "nurse",
                   "password": "lantern harbour ferry", "site_ids": [site.id]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["role"], "nurse");
    assert_eq!(r.body["sites"][0]["id"], site.id);
    let login = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "new.nurse", "password": "lantern harbour ferry"})),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    let again = app
        .post(
            "/api/v1/users",
            &admin.token,
            json!({"username": "new.nurse", "display_name": "Dup", "role": "nurse",
                   "password": "lantern harbour ferry", "site_ids": [site.id]}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

#[actix_web::test]
async fn health_ready_and_the_openapi_document() {
    let app = spawn().await;
    let r = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ready");
    let r = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let paths = r.body["paths"].as_object().unwrap();
    for p in [
        "/api/v1/auth/login",
        "/api/v1/me",
        "/api/v1/sites/{site_id}/locations",
        "/api/v1/users/{id}",
        "/api/v1/audit",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    assert!(r.body["components"]["schemas"]["Problem"].is_object());
    // Every operation says who may call it, from the same declaration as its route.
    assert_eq!(
        paths["/api/v1/sites/{site_id}/cd/pages"]["get"]["x-access"],
        "cd.read"
    );
    assert_eq!(paths["/api/v1/auth/login"]["post"]["x-access"], "public");
}

#[actix_web::test]
async fn another_method_answers_405_with_allow_and_a_bad_path_id_answers_a_404_problem() {
    let app = spawn().await;
    let site = app.site("FWI");
    let admin = app.user("admin", "admin", &[site.id]);
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/sites/{}/patient-returns", site.id),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "not a route at all");
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/sites/{}/cd/patient-returns", site.id),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.body);
    assert_eq!(r.headers.get("allow").unwrap(), "GET, POST");
    assert_eq!(r.body["status"], 405);
    for path in [
        "/api/v1/formulary/products/abc",
        "/api/v1/formulary/products/99999999999999999999999",
    ] {
        let r = app.get(path, &admin.token).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            r.headers.get("content-type").unwrap(),
            "application/problem+json",
            "{path}"
        );
    }
}

#[actix_web::test]
async fn demo_fixtures_load_once() {
    let app = spawn().await;
    let mut c = app.conn();
    let first = prison_pharmacy::fixtures::load(&mut c, Some(common::DEMO_PASSWORD)).unwrap();
    assert_eq!((first.sites, first.users, first.products), (10, 8, 63));
    assert!(first.locations >= 40);
    let second = prison_pharmacy::fixtures::load(&mut c, Some(common::DEMO_PASSWORD)).unwrap();
    assert_eq!(second, prison_pharmacy::fixtures::LoadReport::default());
    drop(c);
    // The kits, outbreak, vaccinations and budgets are made once.
    for (table, rows) in [
        ("emergency_kits", 3),
        ("outbreaks", 1),
        ("vaccinations", 2),
        ("budgets", 2),
        ("reasonable_adjustments", 3),
    ] {
        assert_eq!(app.count(table), rows, "{table}");
    }
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nurse.lincoln", "password": common::DEMO_PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[actix_web::test]
async fn edges_of_input_answer_422_naming_the_field_and_change_nothing() {
    let app = spawn().await;
    let site = app.site("FWI");
    let pharmacist = app.user("pharmacist", "pharmacist", &[site.id]);
    let nurse = app.user("nurse", "nurse", &[site.id]);
    let events = app.count("audit_events");
    // A NUL in the unauthenticated sign-in (PostgreSQL would refuse to store it).
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nurse\u{0}", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(
        first_issue(&r.body),
        ("username".into(), "control_character".into())
    );
    // In a query filter, and a date no calendar arithmetic should meet.
    let r = app
        .get("/api/v1/formulary/products?q=a%00b", &pharmacist.token)
        .await;
    assert_eq!(
        first_issue(&r.body),
        ("q".into(), "control_character".into())
    );
    let r = app
        .get(
            &format!(
                "/api/v1/sites/{}/rounds?date=-262143-01-01&slot=morning",
                site.id
            ),
            &nurse.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(first_issue(&r.body), ("date".into(), "date_range".into()));
    // In bodies: a product created with odd input at each edge.
    let product = json!({"dmd_type": "vmp", "name": "Paracetamol 500mg tablets", "form": "tablet",
        "strength": "500 mg", "unit": "tablet", "pack_size": "32", "ingredient": "paracetamol",
        "cd_schedule": "none", "dose_unit": "mg", "therapeutic_class": "analgesic"});
    let products = app.count("products");
    for (field, value, rule) in [
        ("name", json!("Para\u{0}cetamol"), "control_character"),
        ("pack_size", json!(" 32"), "decimal"),
        ("pack_size", json!("32 "), "decimal"),
        ("pack_size", json!("+32"), "decimal"),
        ("pack_size", json!("32."), "decimal"),
        ("pack_size", json!(".5"), "decimal"),
        ("pack_size", json!(32), "decimal"),
    ] {
        let mut body = product.clone();
        body[field] = value.clone();
        let r = app
            .post("/api/v1/formulary/products", &pharmacist.token, body)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field} {value}: {}",
            r.body
        );
        assert_eq!(first_issue(&r.body), (field.into(), rule.into()), "{value}");
    }
    assert_eq!(app.count("products"), products);
    let r = app
        .post("/api/v1/formulary/products", &pharmacist.token, product)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    for (field, value, rule) in [
        ("batch_number", json!("B\t1"), "control_character"),
        ("expiry_date", json!("-5000-01-01"), "date_range"),
        ("expiry_date", json!("2200-01-01"), "date_range"),
    ] {
        let mut body = json!({"batch_number": "B1", "expiry_date": "2030-01-31"});
        body[field] = value;
        let r = app
            .post(
                &format!("/api/v1/formulary/products/{id}/batches"),
                &pharmacist.token,
                body,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(first_issue(&r.body), (field.into(), rule.into()));
    }
    assert_eq!(app.count("batches"), 0);
    // Only the product's creation was written.
    assert_eq!(app.count("audit_events"), events + 1);
}

#[actix_web::test]
async fn every_list_pages_the_same_way_and_reaches_every_row() {
    let app = spawn().await;
    let site = app.site("FWI");
    let admin = app.user("admin", "admin", &[site.id]);
    let locations = format!("/api/v1/sites/{}/locations", site.id);
    let mut seen = Vec::new();
    for page in 1..=2 {
        let r = app
            .get(&format!("{locations}?per_page=3&page={page}"), &admin.token)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            (&r.body["page"], &r.body["per_page"], &r.body["total"]),
            (&json!(page), &json!(3), &json!(4))
        );
        for l in r.body["items"].as_array().unwrap() {
            seen.push(l["code"].as_str().unwrap().to_string());
        }
    }
    seen.sort();
    assert_eq!(seen, ["CDCAB", "HB1-HATCH", "PHARM", "QUAR"]);
    let r = app
        .get(&format!("{locations}?per_page=201"), &admin.token)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_issue(&r.body), ("per_page".into(), "range".into()));
    let r = app.get(&format!("{locations}?page=0"), &admin.token).await;
    assert_eq!(first_issue(&r.body), ("page".into(), "range".into()));
    // Past the last page: no items, and the total still says how many there are.
    let r = app.get(&format!("{locations}?page=9"), &admin.token).await;
    assert_eq!(
        (r.body["items"].clone(), r.body["total"].clone()),
        (json!([]), json!(4))
    );
}
