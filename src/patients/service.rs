//! Patients: admission, location, allergies, in-possession risk assessments and their
//! reviews, and the reconciliation tasks a transfer leaves at the receiving prison.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;

use super::model::*;
use crate::audit::{self, Actor};
use crate::db::schema::{
    allergies, ip_assessment_products, ip_assessments, ip_review_triggers, patient_events,
    patients, reconciliation_completions, reconciliation_tasks,
};
use crate::db::{conflict_on_duplicate, now, AnyConnection};
use crate::domain::patient::is_nomis_number;
use crate::domain::screening::{AllergyKind, IpOutcome};
use crate::error::AppError;

/// Medicines reconciliation at the receiving prison is due within 7 days (NICE QS156 statement 1).
pub const RECONCILIATION_DAYS: i64 = 7;

type PatientRow = (
    i64,
    String,
    String,
    String,
    NaiveDate,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

fn patient_row(conn: &mut AnyConnection, id: i64) -> Result<PatientRow, AppError> {
    patients::table
        .find(id)
        .select((
            patients::id,
            patients::prison_number,
            patients::given_name,
            patients::family_name,
            patients::date_of_birth,
            patients::site_id,
            patients::wing,
            patients::landing,
            patients::cell,
            patients::status,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("patient"))
}

/// The prison a patient is at now: only its staff see the patient.
pub fn patient_site(conn: &mut AnyConnection, id: i64) -> Result<i64, AppError> {
    patients::table
        .find(id)
        .select(patients::site_id)
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("patient"))
}

/// The status of a patient a request names in a field, who must be at this prison: 422 on
/// the field otherwise, so a record never names another prison's patient.
pub fn patient_named_at(
    conn: &mut AnyConnection,
    site_id: i64,
    patient_id: i64,
    field: &str,
) -> Result<PatientStatus, AppError> {
    let row: Option<(i64, String)> = patients::table
        .find(patient_id)
        .select((patients::site_id, patients::status))
        .first(conn)
        .optional()?;
    match row {
        Some((site, status)) if site == site_id => Ok(PatientStatus::from_db(&status)),
        _ => Err(AppError::invalid(
            field,
            "at_site",
            "no patient of this prison has this id",
        )),
    }
}

/// (id, substance, kind, reaction, severity, recorded by, recorded at, retracts)
type AllergyRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    chrono::NaiveDateTime,
    Option<i64>,
);

pub fn active_allergies(
    conn: &mut AnyConnection,
    patient_id: i64,
) -> Result<Vec<AllergyView>, AppError> {
    let rows: Vec<AllergyRow> = allergies::table
        .filter(allergies::patient_id.eq(patient_id))
        .order(allergies::id.asc())
        .select((
            allergies::id,
            allergies::substance,
            allergies::kind,
            allergies::reaction,
            allergies::severity,
            allergies::recorded_by,
            allergies::recorded_at,
            allergies::retracts_id,
        ))
        .load(conn)?;
    let retracted: Vec<i64> = rows.iter().filter_map(|r| r.7).collect();
    Ok(rows
        .into_iter()
        .filter(|r| r.7.is_none() && !retracted.contains(&r.0))
        .map(|r| AllergyView {
            id: r.0,
            substance: r.1,
            kind: AllergyKind::from_db(&r.2),
            reaction: r.3,
            severity: AllergySeverity::from_db(&r.4),
            recorded_by: r.5,
            recorded_at: r.6,
        })
        .collect())
}

fn assessment_view(
    conn: &mut AnyConnection,
    row: (
        i64,
        i64,
        i64,
        String,
        String,
        i64,
        NaiveDate,
        NaiveDate,
        chrono::NaiveDateTime,
    ),
) -> Result<AssessmentView, AppError> {
    let product_ids = ip_assessment_products::table
        .filter(ip_assessment_products::assessment_id.eq(row.0))
        .order(ip_assessment_products::product_id.asc())
        .select(ip_assessment_products::product_id)
        .load(conn)?;
    Ok(AssessmentView {
        id: row.0,
        patient_id: row.1,
        site_id: row.2,
        outcome: IpOutcome::from_db(&row.3),
        reasons: row.4,
        product_ids,
        assessed_by: row.5,
        assessed_on: row.6,
        review_date: row.7,
        created_at: row.8,
    })
}

fn assessments_of(
    conn: &mut AnyConnection,
    patient_id: i64,
    latest_only: bool,
) -> Result<Vec<AssessmentView>, AppError> {
    let mut q = ip_assessments::table
        .filter(ip_assessments::patient_id.eq(patient_id))
        .order(ip_assessments::id.desc())
        .into_boxed();
    if latest_only {
        q = q.limit(1);
    }
    let rows = q
        .select((
            ip_assessments::id,
            ip_assessments::patient_id,
            ip_assessments::site_id,
            ip_assessments::outcome,
            ip_assessments::reasons,
            ip_assessments::assessed_by,
            ip_assessments::assessed_on,
            ip_assessments::review_date,
            ip_assessments::created_at,
        ))
        .load(conn)?;
    rows.into_iter().map(|r| assessment_view(conn, r)).collect()
}

pub fn latest_assessment(
    conn: &mut AnyConnection,
    patient_id: i64,
) -> Result<Option<AssessmentView>, AppError> {
    Ok(assessments_of(conn, patient_id, true)?.pop())
}

pub fn assessments(conn: &mut AnyConnection, patient_id: i64) -> Result<AssessmentList, AppError> {
    Ok(AssessmentList {
        items: assessments_of(conn, patient_id, false)?,
    })
}

fn view_of(conn: &mut AnyConnection, r: PatientRow) -> Result<PatientView, AppError> {
    Ok(PatientView {
        allergies: active_allergies(conn, r.0)?,
        current_assessment: latest_assessment(conn, r.0)?,
        adjustments: super::adjustments::in_force(conn, &[r.0])?
            .remove(&r.0)
            .unwrap_or_default(),
        id: r.0,
        prison_number: r.1,
        given_name: r.2,
        family_name: r.3,
        date_of_birth: r.4,
        site_id: r.5,
        wing: r.6,
        landing: r.7,
        cell: r.8,
        status: PatientStatus::from_db(&r.9),
    })
}

pub fn patient(conn: &mut AnyConnection, id: i64) -> Result<PatientView, AppError> {
    let row = patient_row(conn, id)?;
    view_of(conn, row)
}

pub fn patients(
    conn: &mut AnyConnection,
    site_id: i64,
    f: &PatientFilter,
    page: crate::http::PageRequest,
) -> Result<crate::http::Paged<PatientView>, AppError> {
    let mut q = patients::table
        .filter(patients::site_id.eq(site_id))
        .filter(patients::status.eq(f.status.unwrap_or(PatientStatus::InCustody).as_str()))
        .into_boxed();
    if let Some(n) = &f.prison_number {
        q = q.filter(patients::prison_number.eq(n.to_uppercase()));
    }
    if let Some(w) = &f.wing {
        q = q.filter(patients::wing.eq(w.clone()));
    }
    let ids: Vec<i64> = q
        .order(patients::prison_number.asc())
        .select(patients::id)
        .load(conn)?;
    crate::http::Paged::of_keys(ids, page, |id| patient(conn, id))
}

/// Records a custody event (admission, transfer, release) and audits it.
pub fn event(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    kind: &str,
    from: Option<i64>,
    to: Option<i64>,
    detail: Option<String>,
) -> Result<(), AppError> {
    diesel::insert_into(patient_events::table)
        .values((
            patient_events::patient_id.eq(patient_id),
            patient_events::kind.eq(kind),
            patient_events::from_site_id.eq(from),
            patient_events::to_site_id.eq(to),
            patient_events::detail.eq(detail),
            patient_events::actor_id.eq(actor.user_id),
            patient_events::occurred_at.eq(now()),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        actor,
        from.or(to),
        &format!("patient.{kind}"),
        "patient",
        patient_id,
        None,
    )
}

/// 422 unless the value is a prison (NOMIS) number.
pub fn check_prison_number(field: &str, value: &str) -> Result<(), AppError> {
    if is_nomis_number(value) {
        Ok(())
    } else {
        Err(AppError::invalid(
            field,
            "nomis_number",
            "must be one letter, four digits and two letters, e.g. A1234BC",
        ))
    }
}

pub fn admit(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &AdmitPatient,
) -> Result<PatientView, AppError> {
    check_prison_number("prison_number", &req.prison_number)?;
    if req.date_of_birth > now().date() {
        return Err(AppError::invalid(
            "date_of_birth",
            "past",
            "must not be in the future",
        ));
    }
    let ts = now();
    let id: i64 = diesel::insert_into(patients::table)
        .values((
            patients::prison_number.eq(&req.prison_number),
            patients::given_name.eq(&req.given_name),
            patients::family_name.eq(&req.family_name),
            patients::date_of_birth.eq(req.date_of_birth),
            patients::site_id.eq(site_id),
            patients::wing.eq(&req.wing),
            patients::landing.eq(&req.landing),
            patients::cell.eq(&req.cell),
            patients::status.eq(PatientStatus::InCustody.as_str()),
            patients::created_at.eq(ts),
            patients::updated_at.eq(ts),
        ))
        .returning(patients::id)
        .get_result(conn)
        .map_err(conflict_on_duplicate(
            "patient_exists",
            "a patient with this prison number is already recorded; transfer them instead",
        ))?;
    event(conn, actor, id, "admitted", None, Some(site_id), None)?;
    patient(conn, id)
}

/// The prison of a patient in custody; 409 once they have been released or transferred out.
pub fn site_in_custody(conn: &mut AnyConnection, id: i64) -> Result<i64, AppError> {
    Ok(require_in_custody(conn, id)?.5)
}

fn require_in_custody(conn: &mut AnyConnection, id: i64) -> Result<PatientRow, AppError> {
    let row = patient_row(conn, id)?;
    if PatientStatus::from_db(&row.9) != PatientStatus::InCustody {
        return Err(AppError::conflict(
            "patient_not_in_custody",
            format!("the patient is {}", row.9),
        ));
    }
    Ok(row)
}

pub fn set_location(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    req: &SetLocation,
) -> Result<PatientView, AppError> {
    let row = require_in_custody(conn, id)?;
    diesel::update(patients::table.find(id))
        .set((
            patients::wing.eq(&req.wing),
            patients::landing.eq(&req.landing),
            patients::cell.eq(&req.cell),
            patients::updated_at.eq(now()),
        ))
        .execute(conn)?;
    let to = [&req.wing, &req.landing, &req.cell]
        .iter()
        .map(|p| p.as_deref().unwrap_or("-"))
        .collect::<Vec<_>>()
        .join("/");
    event(
        conn,
        actor,
        id,
        "relocated",
        Some(row.5),
        Some(row.5),
        Some(to),
    )?;
    patient(conn, id)
}

pub fn add_allergy(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    req: &AllergyRequest,
) -> Result<PatientView, AppError> {
    let row = patient_row(conn, patient_id)?;
    let id: i64 = diesel::insert_into(allergies::table)
        .values((
            allergies::patient_id.eq(patient_id),
            allergies::substance.eq(req.substance.trim()),
            allergies::kind.eq(req.kind.as_str()),
            allergies::reaction.eq(&req.reaction),
            allergies::severity.eq(req.severity.as_str()),
            allergies::recorded_by.eq(actor.user_id),
            allergies::recorded_at.eq(now()),
        ))
        .returning(allergies::id)
        .get_result(conn)?;
    audit::record(
        conn,
        actor,
        Some(row.5),
        "allergy.record",
        "allergy",
        id,
        None,
    )?;
    patient(conn, patient_id)
}

/// An allergy entered in error is retracted by a new record; the original stays.
pub fn retract_allergy(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    allergy_id: i64,
    reason: &str,
) -> Result<PatientView, AppError> {
    let row = patient_row(conn, patient_id)?;
    let original: (String, String, String, String) = allergies::table
        .filter(allergies::id.eq(allergy_id))
        .filter(allergies::patient_id.eq(patient_id))
        .filter(allergies::retracts_id.is_null())
        .select((
            allergies::substance,
            allergies::kind,
            allergies::reaction,
            allergies::severity,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("allergy"))?;
    if !active_allergies(conn, patient_id)?
        .iter()
        .any(|a| a.id == allergy_id)
    {
        return Err(AppError::conflict(
            "already_retracted",
            "this allergy has already been retracted",
        ));
    }
    let id: i64 = diesel::insert_into(allergies::table)
        .values((
            allergies::patient_id.eq(patient_id),
            allergies::substance.eq(&original.0),
            allergies::kind.eq(&original.1),
            allergies::reaction.eq(&original.2),
            allergies::severity.eq(&original.3),
            allergies::recorded_by.eq(actor.user_id),
            allergies::recorded_at.eq(now()),
            allergies::retracts_id.eq(allergy_id),
            allergies::retraction_reason.eq(reason),
        ))
        .returning(allergies::id)
        .get_result(conn)?;
    audit::record(
        conn,
        actor,
        Some(row.5),
        "allergy.retract",
        "allergy",
        id,
        None,
    )?;
    patient(conn, patient_id)
}

pub fn assess(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    req: &AssessmentRequest,
) -> Result<AssessmentView, AppError> {
    let row = require_in_custody(conn, patient_id)?;
    let assessed_on = req.assessed_on.unwrap_or_else(|| now().date());
    if assessed_on > now().date() {
        return Err(AppError::invalid(
            "assessed_on",
            "past",
            "must not be in the future",
        ));
    }
    if req.review_date <= assessed_on {
        return Err(AppError::invalid(
            "review_date",
            "after_assessment",
            "must be after the assessment date",
        ));
    }
    match req.outcome {
        IpOutcome::NamedProductsOnly if req.product_ids.is_empty() => {
            return Err(AppError::invalid(
                "product_ids",
                "required",
                "name the products allowed in possession",
            ))
        }
        IpOutcome::InPossession | IpOutcome::SupervisedOnly if !req.product_ids.is_empty() => {
            return Err(AppError::invalid(
                "product_ids",
                "only_for_named_products",
                "products are named only when the outcome is named_products_only",
            ))
        }
        _ => {}
    }
    for (i, pid) in req.product_ids.iter().enumerate() {
        crate::formulary::service::named_product(conn, &format!("product_ids[{i}]"), *pid)?;
    }
    let id: i64 = diesel::insert_into(ip_assessments::table)
        .values((
            ip_assessments::patient_id.eq(patient_id),
            ip_assessments::site_id.eq(row.5),
            ip_assessments::outcome.eq(req.outcome.as_str()),
            ip_assessments::reasons.eq(&req.reasons),
            ip_assessments::assessed_by.eq(actor.user_id),
            ip_assessments::assessed_on.eq(assessed_on),
            ip_assessments::review_date.eq(req.review_date),
            ip_assessments::created_at.eq(now()),
        ))
        .returning(ip_assessments::id)
        .get_result(conn)?;
    let mut seen = std::collections::HashSet::new();
    for pid in &req.product_ids {
        if seen.insert(*pid) {
            diesel::insert_into(ip_assessment_products::table)
                .values((
                    ip_assessment_products::assessment_id.eq(id),
                    ip_assessment_products::product_id.eq(pid),
                ))
                .execute(conn)?;
        }
    }
    audit::record(
        conn,
        actor,
        Some(row.5),
        "ip_assessment.record",
        "ip_assessment",
        id,
        Some(serde_json::json!({"outcome": req.outcome})),
    )?;
    latest_assessment(conn, patient_id)?.ok_or_else(|| AppError::internal("assessment vanished"))
}

/// Makes an in-possession review due now (transfer, failed compliance check, concerns).
pub fn raise_review_trigger(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    reason: ReviewTrigger,
    note: Option<&str>,
) -> Result<(), AppError> {
    let site = patient_site(conn, patient_id)?;
    let id: i64 = diesel::insert_into(ip_review_triggers::table)
        .values((
            ip_review_triggers::patient_id.eq(patient_id),
            ip_review_triggers::reason.eq(reason.as_str()),
            ip_review_triggers::note.eq(note),
            ip_review_triggers::raised_by.eq(actor.user_id),
            ip_review_triggers::raised_at.eq(now()),
        ))
        .returning(ip_review_triggers::id)
        .get_result(conn)?;
    audit::record(
        conn,
        actor,
        Some(site),
        "ip_review.trigger",
        "ip_review_trigger",
        id,
        Some(serde_json::json!({"patient_id": patient_id, "reason": reason})),
    )
}

/// Patients at a site whose in-possession assessment needs review: none recorded, review
/// date passed, or a trigger raised since the last assessment.
pub fn reviews_due(conn: &mut AnyConnection, site_id: i64) -> Result<ReviewDueList, AppError> {
    let today = now().date();
    let people: Vec<(i64, String, Option<String>)> = patients::table
        .filter(patients::site_id.eq(site_id))
        .filter(patients::status.eq(PatientStatus::InCustody.as_str()))
        .order(patients::prison_number.asc())
        .select((patients::id, patients::prison_number, patients::wing))
        .load(conn)?;
    let ids: Vec<i64> = people.iter().map(|p| p.0).collect();
    // Latest assessment per patient: (id, review date, created).
    let mut latest: HashMap<i64, (i64, NaiveDate, chrono::NaiveDateTime)> = HashMap::new();
    for (pid, aid, review, created) in ip_assessments::table
        .filter(ip_assessments::patient_id.eq_any(&ids))
        .order(ip_assessments::id.asc())
        .select((
            ip_assessments::patient_id,
            ip_assessments::id,
            ip_assessments::review_date,
            ip_assessments::created_at,
        ))
        .load::<(i64, i64, NaiveDate, chrono::NaiveDateTime)>(conn)?
    {
        latest.insert(pid, (aid, review, created));
    }
    let mut last_trigger: HashMap<i64, (String, chrono::NaiveDateTime)> = HashMap::new();
    for (pid, reason, at) in ip_review_triggers::table
        .filter(ip_review_triggers::patient_id.eq_any(&ids))
        .order(ip_review_triggers::id.asc())
        .select((
            ip_review_triggers::patient_id,
            ip_review_triggers::reason,
            ip_review_triggers::raised_at,
        ))
        .load::<(i64, String, chrono::NaiveDateTime)>(conn)?
    {
        last_trigger.insert(pid, (reason, at));
    }
    let mut items = Vec::new();
    for (pid, number, wing) in people {
        let assessment = latest.get(&pid);
        let trigger = last_trigger
            .get(&pid)
            .filter(|(_, at)| assessment.is_none_or(|a| *at > a.2));
        let (reason, since) = match (assessment, trigger) {
            (_, Some((reason, at))) => (reason.clone(), Some(at.date())),
            (None, None) => ("no_assessment".to_string(), None),
            (Some(a), None) if a.1 <= today => ("review_date_passed".to_string(), Some(a.1)),
            _ => continue,
        };
        items.push(ReviewDue {
            patient_id: pid,
            prison_number: number,
            wing,
            reason,
            since,
            last_assessment_id: assessment.map(|a| a.0),
        });
    }
    Ok(ReviewDueList { items })
}

type TaskRow = (
    i64,
    i64,
    String,
    i64,
    NaiveDate,
    chrono::NaiveDateTime,
    Option<i64>,
    Option<chrono::NaiveDateTime>,
    Option<String>,
);

fn tasks_query(
    conn: &mut AnyConnection,
    site_id: i64,
    task_id: Option<i64>,
    open_only: bool,
) -> Result<Vec<TaskView>, AppError> {
    let mut q = reconciliation_tasks::table
        .inner_join(patients::table)
        .left_join(reconciliation_completions::table)
        .filter(reconciliation_tasks::site_id.eq(site_id))
        .into_boxed();
    if let Some(id) = task_id {
        q = q.filter(reconciliation_tasks::id.eq(id));
    }
    if open_only {
        q = q.filter(reconciliation_completions::id.is_null());
    }
    let rows: Vec<TaskRow> = q
        .order((
            reconciliation_tasks::due_date.asc(),
            reconciliation_tasks::id.asc(),
        ))
        .select((
            reconciliation_tasks::id,
            reconciliation_tasks::patient_id,
            patients::prison_number,
            reconciliation_tasks::site_id,
            reconciliation_tasks::due_date,
            reconciliation_tasks::created_at,
            reconciliation_completions::completed_by.nullable(),
            reconciliation_completions::completed_at.nullable(),
            reconciliation_completions::note.nullable(),
        ))
        .load(conn)?;
    let today = now().date();
    Ok(rows
        .into_iter()
        .map(|r| TaskView {
            overdue: r.7.is_none() && r.4 < today,
            id: r.0,
            patient_id: r.1,
            prison_number: r.2,
            site_id: r.3,
            due_date: r.4,
            created_at: r.5,
            completed_by: r.6,
            completed_at: r.7,
            note: r.8,
        })
        .collect())
}

pub fn tasks(
    conn: &mut AnyConnection,
    site_id: i64,
    open_only: bool,
) -> Result<TaskList, AppError> {
    Ok(TaskList {
        items: tasks_query(conn, site_id, None, open_only)?,
    })
}

pub fn task_site(conn: &mut AnyConnection, id: i64) -> Result<i64, AppError> {
    reconciliation_tasks::table
        .find(id)
        .select(reconciliation_tasks::site_id)
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("reconciliation task"))
}

pub fn complete_task(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    note: &str,
) -> Result<TaskView, AppError> {
    let site = task_site(conn, id)?;
    diesel::insert_into(reconciliation_completions::table)
        .values((
            reconciliation_completions::task_id.eq(id),
            reconciliation_completions::completed_by.eq(actor.user_id),
            reconciliation_completions::note.eq(note),
            reconciliation_completions::completed_at.eq(now()),
        ))
        .execute(conn)
        .map_err(conflict_on_duplicate(
            "already_completed",
            "this reconciliation has already been completed",
        ))?;
    audit::record(
        conn,
        actor,
        Some(site),
        "reconciliation.complete",
        "reconciliation_task",
        id,
        None,
    )?;
    tasks_query(conn, site, Some(id), false)?
        .pop()
        .ok_or_else(|| AppError::internal("task vanished"))
}
