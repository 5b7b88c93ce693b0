//! Exports, reports and verification read from `DATABASE_READ_URL` when it is set, and from
//! the primary when it is not; writes always go to the primary.

mod common;

use actix_web::http::StatusCode;
use diesel::prelude::*;
use serde_json::Value;

use common::*;
use prison_pharmacy::audit::Actor;
use prison_pharmacy::db::schema::{batches, cd_register_entries, cd_register_pages, users};
use prison_pharmacy::db::{self, AnyConnection};
use prison_pharmacy::domain::stock::MovementReason;
use prison_pharmacy::domain::Quantity;
use prison_pharmacy::ledger::{self, Posting};

fn entries_at(conn: &mut AnyConnection, site: i64) -> i64 {
    cd_register_entries::table
        .filter(cd_register_entries::site_id.eq(site))
        .count()
        .get_result(conn)
        .unwrap()
}

fn exported_entries(doc: &Value) -> usize {
    doc["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["entries"].as_array().unwrap().len())
        .sum()
}

#[actix_web::test]
async fn exports_reports_and_verification_read_the_replica_and_fall_back_to_the_primary() {
    let (app, replica_url, _replica) = spawn_with_replica().await;
    let auditor = app.token_of("auditor");
    let (site, _) = app.home_site(&auditor).await;

    // A receipt into a CD cabinet, written through the ledger to the primary only.
    {
        let mut c = app.conn();
        let (cabinet, product): (Option<i64>, i64) = cd_register_pages::table
            .filter(cd_register_pages::site_id.eq(site))
            .filter(cd_register_pages::location_id.is_not_null())
            .order(cd_register_pages::id.asc())
            .select((
                cd_register_pages::location_id,
                cd_register_pages::product_id,
            ))
            .first(&mut **c)
            .unwrap();
        let batch: i64 = batches::table
            .filter(batches::product_id.eq(product))
            .select(batches::id)
            .first(&mut **c)
            .unwrap();
        let technician: i64 = users::table
            .filter(users::username.eq("technician"))
            .select(users::id)
            .first(&mut **c)
            .unwrap();
        let mut receipt = Posting::new(
            site,
            cabinet.unwrap(),
            batch,
            Quantity::whole(10),
            MovementReason::Receipt,
        );
        receipt.register.counterparty = Some("Midlands Pharmaceutical Wholesale Ltd".into());
        receipt.register.counterparty_address = Some("Nottingham NG7 1TN".into());
        let actor = Actor {
            user_id: technician,
            request_id: "replica-test".into(),
        };
        db::transaction(&mut c, |c| ledger::post(c, &actor, &receipt)).unwrap();
    }
    let on_primary = entries_at(&mut app.conn(), site);
    let on_replica = entries_at(&mut db::establish(&replica_url).unwrap(), site);
    assert_eq!(on_primary, on_replica + 1);

    // The register export and verification read the replica: the receipt is not there yet.
    let export = format!("/api/v1/sites/{site}/cd/export?format=json");
    let (status, _, body) = app.download(&export, &auditor).await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(exported_entries(&doc) as i64, on_replica);
    let r = app
        .get(&format!("/api/v1/sites/{site}/cd/verify"), &auditor)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "intact", "{}", r.body);
    assert_eq!(r.body["entries"], on_replica);
    // So does the audit log's export: the receipt's event is on the primary alone.
    let receipts = |csv: &[u8]| {
        String::from_utf8_lossy(csv)
            .lines()
            .filter(|l| l.contains("stock.receipt") && l.contains("replica-test"))
            .count()
    };
    let (status, _, csv) = app.download("/api/v1/audit/export", &auditor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(receipts(&csv), 0);

    // Without a replica the same reads come from the primary, and include the receipt.
    let primary = another_instance(&app, |_| {}).await;
    let (_, _, body) = primary.download(&export, &auditor).await;
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(exported_entries(&doc) as i64, on_primary);
    let r = primary
        .get(&format!("/api/v1/sites/{site}/cd/verify"), &auditor)
        .await;
    assert_eq!(r.body["status"], "intact", "{}", r.body);
    assert_eq!(r.body["entries"], on_primary);
    let (_, _, csv) = primary.download("/api/v1/audit/export", &auditor).await;
    assert_eq!(receipts(&csv), 1);
}
