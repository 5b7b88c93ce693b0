//! The demo data set in `fixtures/`, compiled into the binary. Loading is idempotent:
//! records are matched by their natural keys and never loaded twice.

mod services;

use serde::Deserialize;

use crate::audit::{self, Actor};
use crate::auth::password;
use crate::db::{schema, AnyConnection};
use crate::domain::stock::MovementReason;
use crate::error::AppError;
use crate::formulary::model::{CreateBatch, CreateProduct};
use crate::formulary::{queries as formulary, service as formulary_service};
use crate::ledger::{self, Posting};
use crate::sites::queries as sites;
use crate::users::queries as users;

const SITES: &str = include_str!("../fixtures/sites.json");
const USERS: &str = include_str!("../fixtures/users.json");
const FORMULARY: &str = include_str!("../fixtures/formulary.json");
const SUPPLIERS: &str = include_str!("../fixtures/suppliers.json");
const PATIENTS: &str = include_str!("../fixtures/patients.json");

/// Where the demo opening stock came from, as its register receipt entries say.
const DEMO_SUPPLIER: (&str, &str) = (
    "Midlands Pharmaceutical Wholesale Ltd (demo)",
    "Unit 4, Castle Marina Road, Nottingham NG7 1TN",
);

/// Opening stock at HMP Fosse Way's pharmacy store: (product, batch, expiry, quantity, reorder level, reorder quantity).
const OPENING_STOCK: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("Oseltamivir 75mg capsules", "OSL2610A", "2028-02-29", "200", "50", "100"),
    (
        "Salbutamol 100micrograms/dose inhaler CFC free",
        "SAL2611R",
        "2028-04-30",
        "20",
        "5",
        "10",
    ),
    (
        "Influenza vaccine (surface antigen, inactivated) suspension for injection 0.5ml pre-filled syringes",
        "FLU2609V",
        "2027-06-30",
        "100",
        "20",
        "50",
    ),
    (
        "Adrenaline (epinephrine) 300micrograms/0.3ml auto-injector",
        "ADR2607E",
        "2027-01-31",
        "12",
        "6",
        "6",
    ),
    (
        "Naloxone 1.26mg/3.1ml (Prenoxad) solution for injection pre-filled syringes",
        "NLX2608P",
        "2028-08-31",
        "40",
        "10",
        "20",
    ),
    (
        "Methadone 1mg/ml oral solution sugar free",
        "MTH2611A",
        "2027-09-30",
        "2500",
        "3000",
        "5000",
    ),
    (
        "Sertraline 50mg tablets",
        "SRT2605K",
        "2027-05-31",
        "280",
        "200",
        "280",
    ),
    (
        "Paracetamol 500mg tablets",
        "PCM2604B",
        "2027-04-30",
        "640",
        "500",
        "960",
    ),
    (
        "Olanzapine 10mg tablets",
        "OLZ2609C",
        "2027-12-31",
        "56",
        "112",
        "112",
    ),
    (
        "Buprenorphine 8mg sublingual tablets",
        "BUP2607D",
        "2027-08-31",
        "140",
        "70",
        "140",
    ),
    (
        "Levetiracetam 500mg tablets",
        "LEV2606E",
        "2027-06-30",
        "300",
        "120",
        "300",
    ),
    (
        "Mirtazapine 15mg tablets",
        "MRT2610F",
        "2027-10-31",
        "112",
        "56",
        "112",
    ),
    (
        "Metformin 500mg tablets",
        "MET2608G",
        "2027-08-31",
        "336",
        "112",
        "224",
    ),
    (
        "Atorvastatin 20mg tablets",
        "ATV2609H",
        "2027-09-30",
        "168",
        "56",
        "112",
    ),
];

/// Ward stock sent from the pharmacy store to the administration points for the rounds:
/// (hatch, product, quantity).
const WARD_STOCK: &[(&str, &str, &str)] = &[
    (
        "HB1-HATCH",
        "Methadone 1mg/ml oral solution sugar free",
        "500",
    ),
    ("HB1-HATCH", "Buprenorphine 8mg sublingual tablets", "28"),
    ("HB1-HATCH", "Olanzapine 10mg tablets", "28"),
    ("HB1-HATCH", "Levetiracetam 500mg tablets", "56"),
    ("HB2-HATCH", "Mirtazapine 15mg tablets", "28"),
];

const REQUEST_ID: &str = "fixtures-load";

#[derive(Deserialize)]
struct SiteFixture {
    code: String,
    name: String,
    category: String,
    address: String,
    locations: Vec<LocationFixture>,
}

#[derive(Deserialize)]
struct LocationFixture {
    code: String,
    name: String,
    kind: String,
    /// Hatches and treatment rooms keep a locked CD cabinet of their own.
    #[serde(default)]
    cd_cabinet: Option<bool>,
}

#[derive(Deserialize)]
struct UserFixture {
    username: String,
    display_name: String,
    role: String,
    sites: Vec<String>,
    authorised_witness: bool,
}

#[derive(Deserialize)]
struct SupplierFixture {
    #[serde(flatten)]
    supplier: crate::procurement::model::SupplierRequest,
    products: Vec<SupplierProductFixture>,
}

#[derive(Deserialize)]
struct SupplierProductFixture {
    product: String,
    pack_price: crate::domain::Money,
    lead_time_days: i64,
}

#[derive(Deserialize)]
struct PatientFixture {
    site: String,
    #[serde(flatten)]
    admit: crate::patients::model::AdmitPatient,
    allergies: Vec<crate::patients::model::AllergyRequest>,
    ip_assessment: Option<AssessmentFixture>,
    prescriptions: Vec<PrescriptionFixture>,
    #[serde(default)]
    adjustments: Vec<crate::patients::model::AdjustmentRequest>,
}

#[derive(Deserialize)]
struct AssessmentFixture {
    outcome: crate::domain::screening::IpOutcome,
    reasons: String,
    review_in_days: i64,
    #[serde(default)]
    products: Vec<String>,
}

#[derive(Deserialize)]
struct PrescriptionFixture {
    product: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub sites: usize,
    pub locations: usize,
    pub users: usize,
    pub products: usize,
    pub suppliers: usize,
    pub patients: usize,
    /// Set when demo users were created with a generated password, to be shown once.
    pub generated_password: Option<String>,
}

pub fn database_is_empty(conn: &mut AnyConnection) -> Result<bool, AppError> {
    use diesel::prelude::*;
    let users: i64 = schema::users::table.count().get_result(conn)?;
    let sites: i64 = schema::sites::table.count().get_result(conn)?;
    Ok(users == 0 && sites == 0)
}

/// Loads everything missing, in one transaction.
pub fn load(conn: &mut AnyConnection, demo_password: Option<&str>) -> Result<LoadReport, AppError> {
    let site_fixtures: Vec<SiteFixture> =
        serde_json::from_str(SITES).map_err(|e| AppError::internal(format!("sites.json: {e}")))?;
    let user_fixtures: Vec<UserFixture> =
        serde_json::from_str(USERS).map_err(|e| AppError::internal(format!("users.json: {e}")))?;
    let product_fixtures: Vec<CreateProduct> = serde_json::from_str(FORMULARY)
        .map_err(|e| AppError::internal(format!("formulary.json: {e}")))?;
    if let Some(pw) = demo_password {
        password::check_policy("", pw).map_err(|_| {
            AppError::internal(format!(
                "DEMO_PASSWORD must be {}-{} characters",
                password::MIN_PASSWORD_LEN,
                password::MAX_PASSWORD_LEN
            ))
        })?;
    }
    // Hash once, outside the transaction: argon2 is deliberately slow.
    let missing_users = {
        let mut n = 0;
        for u in &user_fixtures {
            if users::by_username(conn, &u.username)?.is_none() {
                n += 1;
            }
        }
        n
    };
    let (plain, hash) = if missing_users > 0 {
        let plain = demo_password
            .map(str::to_string)
            .unwrap_or_else(password::generate);
        let hash = password::hash(&plain)?;
        (Some(plain), Some(hash))
    } else {
        (None, None)
    };

    crate::db::transaction(conn, |conn| {
        let mut report = LoadReport::default();
        for s in &site_fixtures {
            let site_id = match sites::by_code(conn, &s.code)? {
                Some(existing) => existing.id,
                None => {
                    let id = sites::insert(conn, &s.code, &s.name, &s.category, &s.address)?;
                    audit::record_system(conn, REQUEST_ID, Some(id), "site.create", "site", id)?;
                    report.sites += 1;
                    id
                }
            };
            for l in &s.locations {
                if sites::location_by_code(conn, site_id, &l.code)?.is_none() {
                    let cabinet = l.cd_cabinet.unwrap_or(l.kind == "cd_cabinet");
                    let id =
                        sites::insert_location(conn, site_id, &l.code, &l.name, &l.kind, cabinet)?;
                    audit::record_system(
                        conn,
                        REQUEST_ID,
                        Some(site_id),
                        "location.create",
                        "location",
                        id,
                    )?;
                    report.locations += 1;
                }
            }
        }
        for u in &user_fixtures {
            if users::by_username(conn, &u.username)?.is_some() {
                continue;
            }
            let hash = hash
                .as_deref()
                .ok_or_else(|| AppError::internal("demo password hash missing"))?;
            let id = users::insert(
                conn,
                &u.username,
                &u.display_name,
                &u.role,
                hash,
                u.authorised_witness,
            )?;
            let mut site_ids = Vec::new();
            for code in &u.sites {
                let site = sites::by_code(conn, code)?
                    .ok_or_else(|| AppError::internal(format!("unknown site {code}")))?;
                site_ids.push(site.id);
            }
            users::replace_sites(conn, id, &site_ids)?;
            audit::record_system(conn, REQUEST_ID, None, "user.create", "user", id)?;
            report.users += 1;
        }
        let admin = users::by_username(conn, "admin")?
            .ok_or_else(|| AppError::internal("demo admin missing"))?;
        let admin = Actor {
            user_id: admin.id,
            request_id: REQUEST_ID.into(),
        };
        for p in &product_fixtures {
            if formulary::product_by_name(conn, &p.name)?.is_none() {
                formulary_service::create_product(conn, &admin, p)?;
                report.products += 1;
            }
        }
        if report.products > 0 {
            load_opening_stock(conn)?;
        }
        report.suppliers = load_suppliers(conn, &admin)?;
        report.patients = load_patients(conn)?;
        services::load(conn)?;
        if report.users > 0 && demo_password.is_none() {
            report.generated_password = plain.clone();
        }
        Ok(report)
    })
}

/// The demo wholesalers and what they list, added where missing.
fn load_suppliers(conn: &mut AnyConnection, actor: &Actor) -> Result<usize, AppError> {
    use crate::db::schema::suppliers;
    use crate::procurement::{model::SupplierProductRequest, service as procurement};
    use diesel::prelude::*;
    let fixtures: Vec<SupplierFixture> = serde_json::from_str(SUPPLIERS)
        .map_err(|e| AppError::internal(format!("suppliers.json: {e}")))?;
    let mut added = 0;
    for f in &fixtures {
        let exists: i64 = suppliers::table
            .filter(suppliers::name.eq(&f.supplier.name))
            .count()
            .get_result(conn)?;
        if exists > 0 {
            continue;
        }
        let id = procurement::create_supplier(conn, actor, &f.supplier)?.id;
        for p in &f.products {
            let product = formulary::product_by_name(conn, &p.product)?
                .ok_or_else(|| AppError::internal(format!("{} missing", p.product)))?;
            let req = SupplierProductRequest {
                product_id: product.id,
                pack_price: p.pack_price,
                lead_time_days: p.lead_time_days,
            };
            procurement::set_supplier_product(conn, actor, id, &req)?;
        }
        added += 1;
    }
    Ok(added)
}

pub(crate) fn demo_actor(conn: &mut AnyConnection, username: &str) -> Result<Actor, AppError> {
    let user = users::by_username(conn, username)?
        .ok_or_else(|| AppError::internal(format!("demo user {username} missing")))?;
    Ok(Actor {
        user_id: user.id,
        request_id: REQUEST_ID.into(),
    })
}

/// Demo patients, admitted, assessed and prescribed for through the same services as staff
/// use: every prescription is screened and approved by the demo pharmacist.
fn load_patients(conn: &mut AnyConnection) -> Result<usize, AppError> {
    use crate::patients::{model::AssessmentRequest, service as patients};
    use crate::prescribing::{model as rx, service as prescribing};
    let fixtures: Vec<PatientFixture> = serde_json::from_str(PATIENTS)
        .map_err(|e| AppError::internal(format!("patients.json: {e}")))?;
    let nurse = demo_actor(conn, "nurse")?;
    let technician = demo_actor(conn, "technician")?;
    let pharmacist = demo_actor(conn, "pharmacist")?;
    let today = crate::db::now().date();
    let mut added = 0;
    for f in &fixtures {
        use diesel::prelude::*;
        let exists: i64 = schema::patients::table
            .filter(schema::patients::prison_number.eq(&f.admit.prison_number))
            .count()
            .get_result(conn)?;
        if exists > 0 {
            continue;
        }
        let site = sites::by_code(conn, &f.site)?
            .ok_or_else(|| AppError::internal(format!("unknown site {}", f.site)))?;
        let id = patients::admit(conn, &nurse, site.id, &f.admit)?.id;
        for a in &f.allergies {
            patients::add_allergy(conn, &nurse, id, a)?;
        }
        for a in &f.adjustments {
            crate::patients::adjustments::add(conn, &nurse, id, a)?;
        }
        if let Some(a) = &f.ip_assessment {
            let mut product_ids = Vec::new();
            for name in &a.products {
                let product = formulary::product_by_name(conn, name)?
                    .ok_or_else(|| AppError::internal(format!("{name} missing")))?;
                product_ids.push(product.id);
            }
            let req = AssessmentRequest {
                outcome: a.outcome,
                reasons: a.reasons.clone(),
                product_ids,
                assessed_on: Some(today),
                review_date: today + chrono::Duration::days(a.review_in_days),
            };
            patients::assess(conn, &nurse, id, &req)?;
        }
        for p in &f.prescriptions {
            let product = formulary::product_by_name(conn, &p.product)?
                .ok_or_else(|| AppError::internal(format!("{} missing", p.product)))?;
            let mut body = p.rest.clone();
            body.insert("product_id".into(), product.id.into());
            // Started a week ago, so the demo round has a history.
            let start = today - chrono::Duration::days(7);
            body.insert("start_date".into(), start.to_string().into());
            body.insert("prescriber".into(), "Dr R Patel GMC 0000000 (demo)".into());
            let req: rx::CreatePrescription = serde_json::from_value(body.into())
                .map_err(|e| AppError::internal(format!("patients.json prescription: {e}")))?;
            let rx_id = prescribing::create(conn, &technician, id, &req)?.id;
            let decision = rx::DecisionRequest {
                decision: rx::Decision::Approve,
                note: None,
                override_reason: None,
            };
            prescribing::decide(conn, &pharmacist, rx_id, &decision)?;
        }
        added += 1;
    }
    Ok(added)
}

/// Demo stock, received through the ledger like any other stock.
fn load_opening_stock(conn: &mut AnyConnection) -> Result<(), AppError> {
    let site =
        sites::by_code(conn, "FWI")?.ok_or_else(|| AppError::internal("demo site FWI missing"))?;
    let store = sites::location_by_code(conn, site.id, "PHARM")?
        .ok_or_else(|| AppError::internal("FWI store missing"))?;
    // Register-tracked stock is received into the pharmacy's CD cabinet.
    let cabinet = sites::location_by_code(conn, site.id, "CDCAB")?
        .ok_or_else(|| AppError::internal("FWI CD cabinet missing"))?;
    let tech = users::by_username(conn, "technician")?
        .ok_or_else(|| AppError::internal("demo technician missing"))?;
    let actor = Actor {
        user_id: tech.id,
        request_id: REQUEST_ID.into(),
    };
    for (name, batch, expiry, qty, level, usual) in OPENING_STOCK {
        let product = formulary::product_by_name(conn, name)?
            .ok_or_else(|| AppError::internal(format!("{name} missing")))?;
        let request = CreateBatch {
            batch_number: batch.to_string(),
            expiry_date: expiry
                .parse()
                .map_err(|_| AppError::internal("bad expiry in fixture"))?,
        };
        let batch_id = formulary_service::create_batch(conn, &actor, product.id, &request)?.id;
        let quantity = qty
            .parse()
            .map_err(|_| AppError::internal("bad quantity in fixture"))?;
        let into = if product.cd_register {
            cabinet.id
        } else {
            store.id
        };
        let mut posting = Posting::new(site.id, into, batch_id, quantity, MovementReason::Receipt);
        posting.reason_code = Some("opening_balance".into());
        posting.note = Some("demo opening balance".into());
        posting.register.counterparty = Some(DEMO_SUPPLIER.0.into());
        posting.register.counterparty_address = Some(DEMO_SUPPLIER.1.into());
        ledger::post(conn, &actor, &posting)?;
        let request = crate::stock::model::SetReorderLevel {
            product_id: product.id,
            reorder_level: level
                .parse()
                .map_err(|_| AppError::internal("bad level in fixture"))?,
            reorder_quantity: usual
                .parse()
                .map_err(|_| AppError::internal("bad level in fixture"))?,
        };
        crate::stock::service::set_reorder_level(conn, &actor, site.id, &request)?;
    }
    load_ward_stock(conn, &actor, site.id, store.id, cabinet.id)
}

/// Sends the rounds' stock to the hatches as an internal transfer, received at once; register
/// stock moves from the pharmacy's CD cabinet to the hatch's, witnessed by the pharmacist.
fn load_ward_stock(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    store_id: i64,
    cabinet_id: i64,
) -> Result<(), AppError> {
    use crate::cd_register::model::CabinetTransferRequest;
    use crate::stock::model::{CreateTransfer, ReceiveTransfer, TransferLineRequest};
    use crate::stock::service as stock;
    let witness = users::by_username(conn, "pharmacist")?
        .ok_or_else(|| AppError::internal("demo pharmacist missing"))?;
    let mut by_hatch: std::collections::BTreeMap<&str, Vec<TransferLineRequest>> =
        std::collections::BTreeMap::new();
    for (hatch, name, qty) in WARD_STOCK {
        let product = formulary::product_by_name(conn, name)?
            .ok_or_else(|| AppError::internal(format!("{name} missing")))?;
        let batch = formulary::batches_of(conn, product.id)?
            .into_iter()
            .next()
            .ok_or_else(|| AppError::internal(format!("no demo batch of {name}")))?;
        let quantity = qty
            .parse()
            .map_err(|_| AppError::internal("bad quantity in fixture"))?;
        if product.cd_register {
            let to = sites::location_by_code(conn, site_id, hatch)?
                .ok_or_else(|| AppError::internal(format!("{hatch} missing")))?;
            let request = CabinetTransferRequest {
                from_location_id: cabinet_id,
                to_location_id: to.id,
                batch_id: batch.id,
                quantity,
                note: Some("ward stock for the medication rounds".into()),
                witness: None,
            };
            crate::cd_register::service::move_between_cabinets(
                conn,
                actor,
                site_id,
                &request,
                Some(witness.id),
            )?;
            continue;
        }
        by_hatch
            .entry(hatch)
            .or_default()
            .push(TransferLineRequest {
                batch_id: batch.id,
                quantity,
            });
    }
    for (hatch, lines) in by_hatch {
        let to = sites::location_by_code(conn, site_id, hatch)?
            .ok_or_else(|| AppError::internal(format!("{hatch} missing")))?;
        let request = CreateTransfer {
            from_location_id: store_id,
            to_location_id: to.id,
            lines,
            note: Some("ward stock for the medication rounds".into()),
            witness: None,
        };
        let transfer = stock::dispatch(conn, actor, site_id, &request, None)?;
        stock::receive(conn, actor, transfer.id, &ReceiveTransfer { lines: vec![] })?;
    }
    Ok(())
}
