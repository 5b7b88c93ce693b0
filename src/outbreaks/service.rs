//! Outbreak records, vaccinations, and a batch's recipients. Writes run in the caller's
//! transaction; a vaccination's stock leaves through `ledger::post`.

use std::collections::{BTreeMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::model::*;
use crate::audit::{self, Actor};
use crate::db::schema::{
    batches, dose_movements, dose_records, ip_supplies, ip_supply_movements, outbreak_closures,
    outbreaks, patients, prescriptions, products, vaccinations,
};
use crate::db::{now, AnyConnection};
use crate::domain::administration::InjectionSite;
use crate::domain::outbreak::OutbreakPurpose;
use crate::domain::register::bounded_occurred_at;
use crate::domain::stock::MovementReason;
use crate::domain::Quantity;
use crate::error::AppError;
use crate::ledger::{self, Posting};
use crate::patients::model::PatientStatus;
use crate::patients::service::patient_named_at;
use crate::stock::service::{location_at, require_positive};

/// How far back a vaccination may be entered.
const BACKDATE_DAYS: i64 = 7;

type OutbreakRow = (i64, i64, String, NaiveDate, String, Option<String>, i64);

fn views(conn: &mut AnyConnection, rows: Vec<OutbreakRow>) -> Result<Vec<OutbreakView>, AppError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let closures: BTreeMap<i64, (NaiveDate, i64, Option<String>)> = outbreak_closures::table
        .filter(outbreak_closures::outbreak_id.eq_any(&ids))
        .select((
            outbreak_closures::outbreak_id,
            outbreak_closures::closed_on,
            outbreak_closures::closed_by,
            outbreak_closures::note,
        ))
        .load::<(i64, NaiveDate, i64, Option<String>)>(conn)?
        .into_iter()
        .map(|(id, on, by, note)| (id, (on, by, note)))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let closure = closures.get(&r.0).cloned();
            OutbreakView {
                id: r.0,
                site_id: r.1,
                condition: r.2,
                declared_on: r.3,
                wings: r.4.split('\n').map(str::to_string).collect(),
                note: r.5,
                declared_by: r.6,
                status: if closure.is_some() {
                    OutbreakStatus::Closed
                } else {
                    OutbreakStatus::Open
                },
                closed_on: closure.as_ref().map(|c| c.0),
                closed_by: closure.as_ref().map(|c| c.1),
                closing_note: closure.and_then(|c| c.2),
            }
        })
        .collect())
}

fn select_outbreaks(
    conn: &mut AnyConnection,
    site_id: i64,
    id: Option<i64>,
) -> Result<Vec<OutbreakView>, AppError> {
    let mut q = outbreaks::table
        .filter(outbreaks::site_id.eq(site_id))
        .into_boxed();
    if let Some(id) = id {
        q = q.filter(outbreaks::id.eq(id));
    }
    let rows: Vec<OutbreakRow> = q
        .order((outbreaks::declared_on.desc(), outbreaks::id.desc()))
        .select((
            outbreaks::id,
            outbreaks::site_id,
            outbreaks::condition,
            outbreaks::declared_on,
            outbreaks::wings,
            outbreaks::note,
            outbreaks::declared_by,
        ))
        .load(conn)?;
    views(conn, rows)
}

/// The outbreaks of a prison, the latest declared first.
pub fn list(conn: &mut AnyConnection, site_id: i64) -> Result<Vec<OutbreakView>, AppError> {
    select_outbreaks(conn, site_id, None)
}

pub fn outbreak(conn: &mut AnyConnection, site_id: i64, id: i64) -> Result<OutbreakView, AppError> {
    select_outbreaks(conn, site_id, Some(id))?
        .pop()
        .ok_or_else(|| AppError::not_found("outbreak"))
}

/// 422 on `field` unless the outbreak is open at the prison: courses and vaccinations are
/// tagged only to an outbreak that is going on where the patient is.
pub fn require_open(
    conn: &mut AnyConnection,
    site_id: i64,
    id: i64,
    field: &str,
) -> Result<(), AppError> {
    match select_outbreaks(conn, site_id, Some(id))?.pop() {
        None => Err(AppError::invalid(
            field,
            "exists",
            "no outbreak of this prison has this id",
        )),
        Some(o) if o.status == OutbreakStatus::Closed => {
            Err(AppError::invalid(field, "open", "the outbreak is closed"))
        }
        Some(_) => Ok(()),
    }
}

pub fn declare(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &DeclareOutbreak,
) -> Result<OutbreakView, AppError> {
    let today = now().date();
    let declared_on = req.declared_on.unwrap_or(today);
    if declared_on > today {
        return Err(AppError::invalid(
            "declared_on",
            "not_future",
            "must not be after today",
        ));
    }
    let mut seen = HashSet::new();
    for (i, wing) in req.wings.iter().enumerate() {
        let w = wing.trim();
        if w.is_empty() || w.len() > 32 || w.contains('\n') {
            return Err(AppError::invalid(
                format!("wings[{i}]"),
                "length",
                "a wing is 1 to 32 characters on one line",
            ));
        }
        if !seen.insert(w.to_string()) {
            return Err(AppError::invalid(
                format!("wings[{i}]"),
                "unique",
                "each wing is named once",
            ));
        }
    }
    let wings: Vec<&str> = req.wings.iter().map(|w| w.trim()).collect();
    let id: i64 = diesel::insert_into(outbreaks::table)
        .values((
            outbreaks::site_id.eq(site_id),
            outbreaks::condition.eq(req.condition.trim()),
            outbreaks::declared_on.eq(declared_on),
            outbreaks::wings.eq(wings.join("\n")),
            outbreaks::note.eq(&req.note),
            outbreaks::declared_by.eq(actor.user_id),
            outbreaks::declared_at.eq(now()),
        ))
        .returning(outbreaks::id)
        .get_result(conn)?;
    audit::record(
        conn,
        actor,
        Some(site_id),
        "outbreak.declare",
        "outbreak",
        id,
        Some(serde_json::json!({"condition": req.condition.trim(), "wings": wings})),
    )?;
    outbreak(conn, site_id, id)
}

pub fn close(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    id: i64,
    req: &CloseOutbreak,
) -> Result<OutbreakView, AppError> {
    let current = outbreak(conn, site_id, id)?;
    if current.status == OutbreakStatus::Closed {
        return Err(AppError::conflict(
            "outbreak_closed",
            "this outbreak is already closed",
        ));
    }
    let today = now().date();
    let closed_on = req.closed_on.unwrap_or(today);
    if closed_on > today || closed_on < current.declared_on {
        return Err(AppError::invalid(
            "closed_on",
            "range",
            "must lie between the declaration and today",
        ));
    }
    diesel::insert_into(outbreak_closures::table)
        .values((
            outbreak_closures::outbreak_id.eq(id),
            outbreak_closures::closed_on.eq(closed_on),
            outbreak_closures::note.eq(&req.note),
            outbreak_closures::closed_by.eq(actor.user_id),
            outbreak_closures::closed_at.eq(now()),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        actor,
        Some(site_id),
        "outbreak.close",
        "outbreak",
        id,
        Some(serde_json::json!({"closed_on": closed_on})),
    )?;
    outbreak(conn, site_id, id)
}

/// Records a vaccination given at the prison, drawing its dose from the named batch.
pub fn vaccinate(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &VaccinationRequest,
) -> Result<VaccinationView, AppError> {
    let status = patient_named_at(conn, site_id, req.patient_id, "patient_id")?;
    if status != PatientStatus::InCustody {
        return Err(AppError::conflict(
            "patient_not_in_custody",
            format!("the patient is {status}"),
        ));
    }
    let batch_product: Option<i64> = batches::table
        .find(req.batch_id)
        .select(batches::product_id)
        .first(conn)
        .optional()?;
    if batch_product != Some(req.product_id) {
        return Err(AppError::invalid(
            "batch_id",
            "same_product",
            "not a batch of the product",
        ));
    }
    location_at(conn, site_id, req.location_id)?;
    let quantity = req.quantity.unwrap_or(Quantity::from_scaled(1000));
    require_positive("quantity", quantity)?;
    if let Some(outbreak) = req.outbreak_id {
        require_open(conn, site_id, outbreak, "outbreak_id")?;
    }
    let given_at = match req.given_at {
        Some(t) => bounded_occurred_at(t, now(), BACKDATE_DAYS)
            .map_err(|(rule, msg)| AppError::invalid("given_at", rule, msg))?,
        None => now(),
    };
    let mut posting = Posting::new(
        site_id,
        req.location_id,
        req.batch_id,
        -quantity,
        MovementReason::DoseGiven,
    );
    posting.reason_code = Some("vaccination".into());
    posting.occurred_at = Some(given_at);
    let posted = ledger::post(conn, actor, &posting)?;
    let id: i64 = diesel::insert_into(vaccinations::table)
        .values((
            vaccinations::site_id.eq(site_id),
            vaccinations::patient_id.eq(req.patient_id),
            vaccinations::product_id.eq(req.product_id),
            vaccinations::batch_id.eq(req.batch_id),
            vaccinations::location_id.eq(req.location_id),
            vaccinations::quantity.eq(quantity.scaled()),
            vaccinations::movement_id.eq(posted.movement_id),
            vaccinations::injection_site.eq(req.injection_site.as_str()),
            vaccinations::outbreak_id.eq(req.outbreak_id),
            vaccinations::given_by.eq(actor.user_id),
            vaccinations::given_at.eq(given_at),
            vaccinations::recorded_at.eq(now()),
        ))
        .returning(vaccinations::id)
        .get_result(conn)?;
    audit::record(
        conn,
        actor,
        Some(site_id),
        "vaccination.record",
        "vaccination",
        id,
        Some(
            serde_json::json!({"patient_id": req.patient_id, "batch_id": req.batch_id,
            "outbreak_id": req.outbreak_id}),
        ),
    )?;
    vaccinations_where(conn, site_id, &VaccinationFilter::default(), Some(id))?
        .pop()
        .ok_or_else(|| AppError::internal("vaccination vanished after insert"))
}

fn vaccinations_where(
    conn: &mut AnyConnection,
    site_id: i64,
    f: &VaccinationFilter,
    id: Option<i64>,
) -> Result<Vec<VaccinationView>, AppError> {
    let mut q = vaccinations::table
        .inner_join(patients::table)
        .inner_join(products::table)
        .inner_join(batches::table)
        .filter(vaccinations::site_id.eq(site_id))
        .into_boxed();
    if let Some(id) = id {
        q = q.filter(vaccinations::id.eq(id));
    }
    if let Some(o) = f.outbreak_id {
        q = q.filter(vaccinations::outbreak_id.eq(o));
    }
    if let Some(p) = f.patient_id {
        q = q.filter(vaccinations::patient_id.eq(p));
    }
    if let Some(b) = f.batch_id {
        q = q.filter(vaccinations::batch_id.eq(b));
    }
    type Row = (
        (i64, i64, i64, String, i64, String, i64, String),
        (
            i64,
            i64,
            i64,
            String,
            Option<i64>,
            i64,
            NaiveDateTime,
            NaiveDateTime,
        ),
    );
    let rows: Vec<Row> = q
        .order(vaccinations::id.desc())
        .select((
            (
                vaccinations::id,
                vaccinations::site_id,
                vaccinations::patient_id,
                patients::prison_number,
                vaccinations::product_id,
                products::name,
                vaccinations::batch_id,
                batches::batch_number,
            ),
            (
                vaccinations::location_id,
                vaccinations::quantity,
                vaccinations::movement_id,
                vaccinations::injection_site,
                vaccinations::outbreak_id,
                vaccinations::given_by,
                vaccinations::given_at,
                vaccinations::recorded_at,
            ),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(a, b)| VaccinationView {
            id: a.0,
            site_id: a.1,
            patient_id: a.2,
            prison_number: a.3,
            product_id: a.4,
            product_name: a.5,
            batch_id: a.6,
            batch_number: a.7,
            location_id: b.0,
            quantity: Quantity::from_scaled(b.1),
            movement_id: b.2,
            injection_site: InjectionSite::from_db(&b.3),
            outbreak_id: b.4,
            given_by: b.5,
            given_at: b.6,
            recorded_at: b.7,
        })
        .collect())
}

/// Vaccinations given at a prison, newest first.
pub fn vaccinations(
    conn: &mut AnyConnection,
    site_id: i64,
    f: &VaccinationFilter,
) -> Result<Vec<VaccinationView>, AppError> {
    vaccinations_where(conn, site_id, f, None)
}

fn wing_of(wing: Option<String>) -> String {
    wing.unwrap_or_else(|| "unassigned".to_string())
}

/// How many patients were treated, given prophylaxis or vaccinated, per wing (by where each
/// patient is now), each patient counted once per measure.
pub fn summary(
    conn: &mut AnyConnection,
    site_id: i64,
    id: i64,
) -> Result<OutbreakSummary, AppError> {
    let outbreak = outbreak(conn, site_id, id)?;
    let courses: Vec<(i64, Option<String>, Option<String>)> = prescriptions::table
        .inner_join(patients::table)
        .filter(prescriptions::outbreak_id.eq(id))
        .select((
            patients::id,
            patients::wing,
            prescriptions::outbreak_purpose,
        ))
        .load(conn)?;
    let vaccinated: Vec<(i64, Option<String>)> = vaccinations::table
        .inner_join(patients::table)
        .filter(vaccinations::outbreak_id.eq(id))
        .select((patients::id, patients::wing))
        .load(conn)?;
    let mut sets: BTreeMap<String, [HashSet<i64>; 3]> = BTreeMap::new();
    let mut all: [HashSet<i64>; 3] = Default::default();
    for wing in &outbreak.wings {
        sets.entry(wing.clone()).or_default();
    }
    for (patient, wing, purpose) in courses {
        let measure = match purpose.as_deref().and_then(OutbreakPurpose::parse) {
            Some(OutbreakPurpose::Treatment) => 0,
            Some(OutbreakPurpose::Prophylaxis) => 1,
            None => continue,
        };
        sets.entry(wing_of(wing)).or_default()[measure].insert(patient);
        all[measure].insert(patient);
    }
    for (patient, wing) in vaccinated {
        sets.entry(wing_of(wing)).or_default()[2].insert(patient);
        all[2].insert(patient);
    }
    let count = |wing: String, s: &[HashSet<i64>; 3]| WingCount {
        wing,
        treated: s[0].len() as i64,
        prophylaxis: s[1].len() as i64,
        vaccinated: s[2].len() as i64,
    };
    Ok(OutbreakSummary {
        wings: sets.into_iter().map(|(w, s)| count(w, &s)).collect(),
        total: count("all".into(), &all),
        outbreak,
    })
}

/// Everyone at the prison who received stock of a batch: vaccinated with it, given a dose of
/// it at a round, or supplied it to keep in possession. Earliest first.
pub fn batch_recipients(
    conn: &mut AnyConnection,
    site_id: i64,
    batch_id: i64,
) -> Result<Vec<BatchRecipient>, AppError> {
    let exists: Option<i64> = batches::table
        .find(batch_id)
        .select(batches::id)
        .first(conn)
        .optional()?;
    if exists.is_none() {
        return Err(AppError::invalid("batch_id", "exists", "no such batch"));
    }
    let mut found: Vec<(i64, ReceivedBy, i64, NaiveDateTime, i64)> = Vec::new();
    for (patient, id, at, q) in vaccinations::table
        .filter(vaccinations::site_id.eq(site_id))
        .filter(vaccinations::batch_id.eq(batch_id))
        .select((
            vaccinations::patient_id,
            vaccinations::id,
            vaccinations::given_at,
            vaccinations::quantity,
        ))
        .load::<(i64, i64, NaiveDateTime, i64)>(conn)?
    {
        found.push((patient, ReceivedBy::Vaccination, id, at, q));
    }
    for (patient, id, at, q) in dose_movements::table
        .inner_join(dose_records::table)
        .filter(dose_records::site_id.eq(site_id))
        .filter(dose_movements::batch_id.eq(batch_id))
        .select((
            dose_records::patient_id,
            dose_records::id,
            dose_records::occurred_at,
            dose_movements::quantity,
        ))
        .load::<(i64, i64, NaiveDateTime, i64)>(conn)?
    {
        found.push((patient, ReceivedBy::Dose, id, at, q));
    }
    for (patient, id, at, q) in ip_supply_movements::table
        .inner_join(ip_supplies::table)
        .filter(ip_supplies::site_id.eq(site_id))
        .filter(ip_supply_movements::batch_id.eq(batch_id))
        .select((
            ip_supplies::patient_id,
            ip_supplies::id,
            ip_supplies::supplied_at,
            ip_supply_movements::quantity,
        ))
        .load::<(i64, i64, NaiveDateTime, i64)>(conn)?
    {
        found.push((patient, ReceivedBy::InPossessionSupply, id, at, q));
    }
    found.sort_by_key(|f| (f.3, f.2));
    let ids: Vec<i64> = found.iter().map(|f| f.0).collect();
    type PatientRow = (i64, String, String, String, i64, Option<String>);
    let people: BTreeMap<i64, PatientRow> = patients::table
        .filter(patients::id.eq_any(&ids))
        .select((
            patients::id,
            patients::prison_number,
            patients::given_name,
            patients::family_name,
            patients::site_id,
            patients::wing,
        ))
        .load::<PatientRow>(conn)?
        .into_iter()
        .map(|p| (p.0, p))
        .collect();
    Ok(found
        .into_iter()
        .filter_map(|(patient, how, id, at, q)| {
            let p = people.get(&patient)?.clone();
            Some(BatchRecipient {
                patient_id: p.0,
                prison_number: p.1,
                given_name: p.2,
                family_name: p.3,
                site_id: p.4,
                wing: p.5,
                received_by: how,
                record_id: id,
                received_at: at,
                quantity: Quantity::from_scaled(q),
            })
        })
        .collect())
}
