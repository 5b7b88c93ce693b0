//! Sign-in, witnesses, admins and the audit log against a hostile colleague: nobody can lock
//! others out, a witness's password is never counted against them, an admin touches only their
//! own prisons, refusals are audited, auditors see only their prisons, and all of it holds
//! across instances of the service on one database.

mod common;

use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use common::{another_instance, spawn, spawn_with, Response, TestApp, PASSWORD};
use diesel::prelude::*;
use serde_json::{json, Value};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use prison_pharmacy::db::schema::audit_events;

/// A sign-in from a client address.
async fn login_from<S, B>(
    app: &TestApp<S>,
    client: &str,
    username: &str,
    password: &str,
) -> Response
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    app.send(
        TestRequest::post()
            .uri("/api/v1/auth/login")
            .peer_addr(format!("{client}:40000").parse().unwrap())
            .set_json(json!({"username": username, "password": password})),
    )
    .await
}

/// (action, entity, entity_id, detail) of the audit log's events whose action starts so.
fn events<S>(app: &TestApp<S>, prefix: &str) -> Vec<(String, String, String, Value)> {
    let rows: Vec<(String, String, String, Option<String>)> = audit_events::table
        .filter(audit_events::action.like(format!("{prefix}%")))
        .order(audit_events::id.asc())
        .select((
            audit_events::action,
            audit_events::entity,
            audit_events::entity_id,
            audit_events::detail,
        ))
        .load(&mut **app.state.db.get().unwrap())
        .unwrap();
    rows.into_iter()
        .map(|(a, e, id, d)| {
            let d = d
                .map(|d| serde_json::from_str(&d).unwrap())
                .unwrap_or(Value::Null);
            (a, e, id, d)
        })
        .collect()
}

fn audit_text<S>(app: &TestApp<S>) -> String {
    let rows: Vec<Option<String>> = audit_events::table
        .select(audit_events::detail)
        .load(&mut **app.state.db.get().unwrap())
        .unwrap();
    rows.into_iter().flatten().collect::<Vec<_>>().join("\n")
}

#[actix_web::test]
async fn guessing_slows_the_guesser_and_never_locks_the_nurse_out() {
    let app = spawn().await;
    let site = app.site("FWI");
    let nurse = app.user("nurse", "nurse", &[site.id]);
    let attacker = "198.51.100.66";
    // Five spellings of one account: one account, one count, from one address.
    for typed in ["NURSE ", "nurse", "Nurse", "nurse\t", " nurse"] {
        let r = login_from(&app, attacker, typed, "wrong-password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    // The fifth failure holds the address back: even the right password waits there.
    let r = login_from(&app, attacker, "nurse", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    let retry: u64 = r
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // The nurse, from her own address, signs in: the account is not locked.
    let r = login_from(&app, "203.0.113.20", "Nurse ", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Every failure is on record under the account, with the address and route; the throttled
    // attempt too. No password is written anywhere.
    let failed = events(&app, "auth.sign_in_failed");
    assert_eq!(failed.len(), 5);
    for (_, entity, entity_id, detail) in &failed {
        assert_eq!(
            (entity.as_str(), entity_id.as_str()),
            ("user", &*nurse.id.to_string())
        );
        assert_eq!(
            detail,
            &json!({"client": attacker, "route": "/api/v1/auth/login", "username": "nurse"})
        );
    }
    assert_eq!(events(&app, "auth.sign_in_throttled").len(), 1);
    assert!(!audit_text(&app).contains("wrong-password"));
    assert!(!audit_text(&app).contains(PASSWORD));
}

#[actix_web::test]
async fn what_is_remembered_stays_bounded_whatever_is_sent() {
    let app = spawn().await;
    let site = app.site("FWI");
    app.user("nurse", "nurse", &[site.id]);
    // A name longer than any account is refused before anything is looked up or counted.
    let r = login_from(&app, "198.51.100.1", &"n".repeat(65), "x").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        common::first_issue(&r.body),
        ("username".into(), "length".into())
    );
    assert_eq!(app.count("sign_in_throttle"), 0);
    // Many unknown names from one address make one row: the address's.
    for i in 0..40 {
        login_from(
            &app,
            "198.51.100.1",
            &format!("nobody{i}"),
            "password-in-the-name-box",
        )
        .await;
    }
    assert_eq!(app.count("sign_in_throttle"), 1);
    // Unknown names are not kept: a password typed in the wrong box must not end up in a log.
    let unknown = events(&app, "auth.sign_in_failed");
    assert_eq!(unknown.len(), 5, "held back after five");
    assert!(unknown.iter().all(|(_, entity, id, d)| entity == "client"
        && id == "198.51.100.1"
        && d.get("username").is_none()));
    assert!(!audit_text(&app).contains("nobody"));
}

#[actix_web::test]
async fn only_many_failures_from_anywhere_lock_an_account_and_admins_see_it() {
    let app = spawn_with(|c| c.login_account_lock_failures = 8).await;
    let site = app.site("FWI");
    let nurse = app.user("nurse", "nurse", &[site.id]);
    let admin = app.user("admin", "admin", &[site.id]);
    for i in 0..8 {
        let r = login_from(&app, &format!("198.51.100.{}", 10 + i), "nurse", "wrong").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Now the account itself waits, from any address.
    let r = login_from(&app, "203.0.113.20", "nurse", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.get("retry-after").is_some());
    let locked = events(&app, "auth.account_locked");
    assert_eq!(locked.len(), 1);
    assert_eq!(locked[0].2, nurse.id.to_string());
    assert_eq!(events(&app, "auth.sign_in_locked").len(), 1);
    // The admin sees the lock on the account.
    let r = app
        .get(&format!("/api/v1/users/{}", nurse.id), &admin.token)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["sign_in_locked_until"].is_string(), "{}", r.body);
    let r = app
        .get(&format!("/api/v1/users/{}", admin.id), &admin.token)
        .await;
    assert_eq!(r.body["sign_in_locked_until"], Value::Null);
}

#[actix_web::test]
async fn an_admin_changes_only_memberships_of_their_own_prisons() {
    let app = spawn().await;
    let (fosse, lincoln) = (app.site("FWI"), app.site("LCI"));
    let shared = app.user("shared.nurse", "nurse", &[fosse.id, lincoln.id]);
    let lincoln_admin = app.user("lincoln.admin", "admin", &[lincoln.id]);
    let path = format!("/api/v1/users/{}", shared.id);
    let patch = |body: Value| {
        TestRequest::default()
            .method(Method::PATCH)
            .uri(&path)
            .insert_header(("Authorization", format!("Bearer {}", lincoln_admin.token)))
            .set_json(body)
    };
    let sites = |r: &Response| -> Vec<i64> {
        r.body["sites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_i64().unwrap())
            .collect()
    };
    // Naming only Lincoln keeps Fosse Way.
    let r = app.send(patch(json!({"site_ids": [lincoln.id]}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(sites(&r), vec![fosse.id, lincoln.id]);
    // Another prison cannot be named at all.
    let r = app.send(patch(json!({"site_ids": [fosse.id]}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // Lincoln's admin takes the nurse off Lincoln: Fosse Way keeps her...
    let r = app.send(patch(json!({"site_ids": []}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(sites(&r), vec![fosse.id]);
    let kept: Vec<i64> =
        prison_pharmacy::users::queries::sites_of(&mut app.state.db.get().unwrap(), shared.id)
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
    assert_eq!(kept, vec![fosse.id]);
    // ...and she is no longer Lincoln's to see.
    let r = app.get(&path, &lincoln_admin.token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A user Lincoln alone holds cannot be left with no prison.
    let own = app.user("lincoln.nurse", "nurse", &[lincoln.id]);
    let r = app
        .send(
            TestRequest::default()
                .method(Method::PATCH)
                .uri(&format!("/api/v1/users/{}", own.id))
                .insert_header(("Authorization", format!("Bearer {}", lincoln_admin.token)))
                .set_json(json!({"site_ids": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        common::first_issue(&r.body),
        ("site_ids".into(), "at_least_one".into())
    );
}

#[actix_web::test]
async fn refused_requests_are_audited_and_auditors_see_only_their_prisons() {
    let app = spawn().await;
    let (fosse, lincoln) = (app.site("FWI"), app.site("LCI"));
    let fosse_admin = app.user("fosse.admin", "admin", &[fosse.id]);
    app.user("fosse.nurse", "nurse", &[fosse.id]);
    let lincoln_nurse = app.user("lincoln.nurse", "nurse", &[lincoln.id]);
    let lincoln_auditor = app.user("lincoln.auditor", "auditor", &[lincoln.id]);
    let fosse_auditor = app.user("fosse.auditor", "auditor", &[fosse.id]);

    // Fosse Way: a sign-in, a failed one, a new user, a new product and a batch.
    assert_eq!(
        login_from(&app, "203.0.113.5", "fosse.nurse", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
    login_from(&app, "203.0.113.5", "fosse.nurse", "wrong").await;
    let r = app
        .post(
            "/api/v1/users",
            &fosse_admin.token,
            json!({"username": "fosse.tech", "display_name": "T", "role": "pharmacy_technician",
                   "password": "a-long-enough-password", "site_ids": [fosse.id]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let fosse_pharmacist = app.user("fosse.pharmacist", "pharmacist", &[fosse.id]);
    let r = app
        .post(
            "/api/v1/formulary/products",
            &fosse_pharmacist.token,
            json!({"dmd_type": "vmp", "name": "Sertraline 50mg tablets", "form": "tablet",
                   "strength": "50 mg", "unit": "tablet", "pack_size": "28", "ingredient": "sertraline", "cd_schedule": "none",
                   "max_daily_dose": "200", "dose_unit": "mg", "therapeutic_class": "antidepressant"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let product = r.body["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/formulary/products/{product}/batches"),
            &fosse_pharmacist.token,
            json!({"batch_number": "B1", "expiry_date": "2030-01-31"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // Lincoln's nurse reaches for Fosse Way's records, and someone calls without a token.
    let r = app
        .get(
            &format!("/api/v1/sites/{}/patients", fosse.id),
            &lincoln_nurse.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .send(TestRequest::get().uri(&format!("/api/v1/sites/{}/patients", lincoln.id)))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let refused = events(&app, "access.refused");
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(
        (
            refused[0].1.as_str(),
            refused[0].2.clone(),
            refused[0].3["route"].as_str(),
            refused[0].3["status"].as_i64()
        ),
        (
            "user",
            lincoln_nurse.id.to_string(),
            Some("/api/v1/sites/{site_id}/patients"),
            Some(404)
        )
    );
    assert_eq!(refused[1].1, "client");
    assert_eq!(refused[1].3["status"], 401);

    let seen = |token: String| {
        let app = &app;
        async move {
            let r = app.get("/api/v1/audit?per_page=200", &token).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["action"].as_str().unwrap().to_string(),
                        e["entity_id"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let lincoln_sees = seen(lincoln_auditor.token.clone()).await;
    let actions: Vec<&str> = lincoln_sees.iter().map(|(a, _)| a.as_str()).collect();
    // Lincoln sees the shared formulary and its own nurse's refused request...
    assert!(actions.contains(&"product.create"), "{actions:?}");
    assert!(lincoln_sees.contains(&("access.refused".into(), lincoln_nurse.id.to_string())));
    // ...but none of Fosse Way's sign-ins, accounts or batches.
    for hidden in [
        "auth.login",
        "auth.sign_in_failed",
        "user.create",
        "batch.create",
    ] {
        assert!(!actions.contains(&hidden), "{hidden} in {actions:?}");
    }
    let fosse_sees = seen(fosse_auditor.token.clone()).await;
    let actions: Vec<&str> = fosse_sees.iter().map(|(a, _)| a.as_str()).collect();
    for shown in [
        "auth.login",
        "auth.sign_in_failed",
        "user.create",
        "batch.create",
        "product.create",
    ] {
        assert!(actions.contains(&shown), "{shown} not in {actions:?}");
    }
    assert!(!fosse_sees.contains(&("access.refused".into(), lincoln_nurse.id.to_string())));
    // Security events filter by action prefix, in the list and the export.
    let r = app
        .get("/api/v1/audit?action=auth.*", &fosse_auditor.token)
        .await;
    let filtered: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(filtered, vec!["auth.login", "auth.sign_in_failed"]);
    let (status, _, csv) = app
        .download(
            "/api/v1/audit/export?action=auth.sign_in_failed",
            &fosse_auditor.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains("203.0.113.5"), "{csv}");
}

#[actix_web::test]
async fn two_instances_share_the_throttle_and_accept_each_others_tokens() {
    let first = spawn().await;
    let site = first.site("FWI");
    let nurse = first.user("nurse", "nurse", &[site.id]);
    let old_secret = first.state.config.jwt_secret.clone().unwrap();
    // The second runs a rotated key and still accepts the first's tokens.
    let second = another_instance(&first, |c| {
        c.jwt_secret = Some("rotated-secret-rotated-secret-rotated-01".into());
        c.jwt_previous_secrets = vec![old_secret.clone()];
    })
    .await;
    assert_ne!(first.state.jwt.key_id(), second.state.jwt.key_id());
    let r = second.get("/api/v1/me", &nurse.token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["username"], "nurse");
    // A token the rotated key signs is not one the first instance knows.
    let r = login_from(&second, "203.0.113.9", "nurse", PASSWORD).await;
    let newer = r.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        first.get("/api/v1/me", &newer).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        second.get("/api/v1/me", &newer).await.status,
        StatusCode::OK
    );

    // Failures on one instance count on the other.
    for _ in 0..2 {
        assert_eq!(
            login_from(&first, "198.51.100.7", "nurse", "wrong")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            login_from(&second, "198.51.100.7", "nurse", "wrong")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&first, "198.51.100.7", "nurse", "wrong")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = login_from(&second, "198.51.100.7", "nurse", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
}
