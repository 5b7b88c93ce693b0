//! Prescriptions and the pharmacist's clinical screen. A new prescription is screened at once;
//! it becomes active only when a pharmacist approves it, and approving over a blocking
//! finding needs a written reason.

use std::sync::OnceLock;

use diesel::prelude::*;

use super::model::*;
pub use super::stored_schedule::{schedule, schedule_from, StoredSchedule};
use crate::audit::{self, Actor};
use crate::db::schema::{
    patients, prescription_status_events, prescription_steps, prescriptions, products,
    screening_decisions, screening_findings,
};
use crate::db::{now, AnyConnection};
use crate::domain::patient::PatientStatus;
use crate::domain::schedule::{Schedule, ScheduleKind, Step};
use crate::domain::screening::{
    screen, Assessment, CheckKind, DrugFacts, InteractionTable, OtherMedicine, PatientAllergy,
    Proposed, Severity,
};
use crate::domain::stock::{CdSchedule, Possession};
use crate::domain::Quantity;
use crate::error::AppError;
use crate::formulary::model::ProductRow;
use crate::patients::service as patients_service;

fn interactions() -> &'static InteractionTable {
    static TABLE: OnceLock<InteractionTable> = OnceLock::new();
    TABLE.get_or_init(InteractionTable::shipped)
}

/// Statuses of a prescription that is still in force or about to be.
const LIVE: [&str; 3] = ["draft", "active", "on-hold"];

/// What screening needs of a product, from the formulary's own record.
fn drug_facts(p: &ProductRow) -> DrugFacts {
    DrugFacts {
        product_id: p.id,
        name: p.name.clone(),
        ingredient: p.ingredient.clone(),
        therapeutic_class: p.therapeutic_class.clone(),
        dose_unit: p.dose_unit.clone(),
        max_daily_dose: p.max_daily_dose,
        cd_schedule: CdSchedule::from_db(&p.cd_schedule),
        opioid_substitution: p.opioid_substitution,
        medicine_of_concern: p.medicine_of_concern,
        weekly_only: p.weekly_only || p.ingredient.eq_ignore_ascii_case("methotrexate"),
    }
}

fn parse_slots(s: &str) -> Vec<Slot> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(Slot::from_db)
        .collect()
}

fn daily_dose(dose: i64, slots: usize, as_needed: bool, max_per_day: Option<i64>) -> i64 {
    let times = if as_needed {
        max_per_day.unwrap_or(1)
    } else {
        slots as i64
    };
    dose.saturating_mul(times)
}

type RxRow = (
    (
        i64,
        i64,
        String,
        i64,
        String,
        i64,
        String,
        String,
        String,
        bool,
        Option<i64>,
    ),
    (
        chrono::NaiveDate,
        Option<chrono::NaiveDate>,
        String,
        Option<i64>,
        String,
        Option<String>,
        String,
        String,
        i64,
        chrono::NaiveDateTime,
    ),
);

pub fn prescription(conn: &mut AnyConnection, id: i64) -> Result<PrescriptionView, AppError> {
    let (a, b): RxRow = prescriptions::table
        .inner_join(patients::table)
        .inner_join(products::table)
        .filter(prescriptions::id.eq(id))
        .select((
            (
                prescriptions::id,
                prescriptions::patient_id,
                patients::prison_number,
                prescriptions::product_id,
                products::name,
                prescriptions::dose,
                prescriptions::dose_unit,
                prescriptions::route,
                prescriptions::slots,
                prescriptions::as_needed,
                prescriptions::max_doses_per_day,
            ),
            (
                prescriptions::start_date,
                prescriptions::end_date,
                prescriptions::possession,
                prescriptions::supply_days,
                prescriptions::prescriber,
                prescriptions::indication,
                prescriptions::status,
                prescriptions::screening,
                prescriptions::created_by,
                prescriptions::created_at,
            ),
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("prescription"))?;
    let findings = screening_findings::table
        .filter(screening_findings::prescription_id.eq(id))
        .order(screening_findings::id.asc())
        .select((
            screening_findings::check_kind,
            screening_findings::severity,
            screening_findings::message,
            screening_findings::source,
            screening_findings::related_prescription_id,
        ))
        .load::<(String, String, String, Option<String>, Option<i64>)>(conn)?
        .into_iter()
        .map(|f| FindingView {
            check: CheckKind::from_db(&f.0),
            severity: Severity::from_db(&f.1),
            message: f.2,
            source: f.3,
            related_prescription_id: f.4,
        })
        .collect();
    let decisions = screening_decisions::table
        .filter(screening_decisions::prescription_id.eq(id))
        .order(screening_decisions::id.asc())
        .select((
            screening_decisions::decision,
            screening_decisions::note,
            screening_decisions::override_reason,
            screening_decisions::pharmacist_id,
            screening_decisions::decided_at,
        ))
        .load::<(
            String,
            Option<String>,
            Option<String>,
            i64,
            chrono::NaiveDateTime,
        )>(conn)?
        .into_iter()
        .map(|d| DecisionView {
            decision: Decision::from_db(&d.0),
            note: d.1,
            override_reason: d.2,
            pharmacist_id: d.3,
            decided_at: d.4,
        })
        .collect();
    let history = prescription_status_events::table
        .filter(prescription_status_events::prescription_id.eq(id))
        .order(prescription_status_events::id.asc())
        .select((
            prescription_status_events::status,
            prescription_status_events::reason,
            prescription_status_events::actor_id,
            prescription_status_events::occurred_at,
        ))
        .load::<(String, Option<String>, i64, chrono::NaiveDateTime)>(conn)?
        .into_iter()
        .map(|e| StatusEventView {
            status: RequestStatus::from_db(&e.0),
            reason: e.1,
            actor_id: e.2,
            occurred_at: e.3,
        })
        .collect();
    let slots = parse_slots(&a.8);
    let plan = schedule(conn, id)?;
    let (outbreak_id, outbreak_purpose): (Option<i64>, Option<String>) = prescriptions::table
        .find(id)
        .select((prescriptions::outbreak_id, prescriptions::outbreak_purpose))
        .first(conn)?;
    Ok(PrescriptionView {
        outbreak_id,
        outbreak_purpose: outbreak_purpose.as_deref().map(OutbreakPurpose::from_db),
        schedule: schedule_view(&plan),
        daily_dose: Quantity::from_scaled(daily_dose(a.5, slots.len(), a.9, a.10)),
        id: a.0,
        patient_id: a.1,
        prison_number: a.2,
        product_id: a.3,
        product_name: a.4,
        dose: Quantity::from_scaled(a.5),
        dose_unit: a.6,
        route: Route::from_db(&a.7),
        slots,
        as_needed: a.9,
        max_doses_per_day: a.10,
        start_date: b.0,
        end_date: b.1,
        possession: Possession::from_db(&b.2),
        supply_days: b.3,
        prescriber: b.4,
        indication: b.5,
        status: RequestStatus::from_db(&b.6),
        screening: ScreeningState::from_db(&b.7),
        findings,
        decisions,
        history,
        created_by: b.8,
        created_at: b.9,
    })
}

pub fn prescription_site(conn: &mut AnyConnection, id: i64) -> Result<i64, AppError> {
    prescriptions::table
        .inner_join(patients::table)
        .filter(prescriptions::id.eq(id))
        .select(patients::site_id)
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("prescription"))
}

pub fn of_patient(
    conn: &mut AnyConnection,
    patient_id: i64,
    f: &PrescriptionFilter,
) -> Result<PrescriptionList, AppError> {
    let mut q = prescriptions::table
        .filter(prescriptions::patient_id.eq(patient_id))
        .into_boxed();
    if let Some(s) = f.status {
        q = q.filter(prescriptions::status.eq(s.as_str()));
    }
    let ids: Vec<i64> = q
        .order(prescriptions::id.asc())
        .select(prescriptions::id)
        .load(conn)?;
    let items = ids
        .into_iter()
        .map(|id| prescription(conn, id))
        .collect::<Result<_, _>>()?;
    Ok(PrescriptionList { items })
}

/// Active prescriptions of a patient: (id, opioid substitution therapy).
pub fn active_of_patient(
    conn: &mut AnyConnection,
    patient_id: i64,
) -> Result<Vec<(i64, bool)>, AppError> {
    Ok(prescriptions::table
        .inner_join(products::table)
        .filter(prescriptions::patient_id.eq(patient_id))
        .filter(prescriptions::status.eq(RequestStatus::Active.as_str()))
        .select((prescriptions::id, products::opioid_substitution))
        .load(conn)?)
}

fn status_event(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    status: RequestStatus,
    reason: Option<&str>,
) -> Result<(), AppError> {
    diesel::insert_into(prescription_status_events::table)
        .values((
            prescription_status_events::prescription_id.eq(id),
            prescription_status_events::status.eq(status.as_str()),
            prescription_status_events::reason.eq(reason),
            prescription_status_events::actor_id.eq(actor.user_id),
            prescription_status_events::occurred_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Moves a prescription's status if it is in one of `from`; 409 naming where it is otherwise.
fn move_status(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    from: &[RequestStatus],
    to: RequestStatus,
    screening: Option<ScreeningState>,
    reason: Option<&str>,
) -> Result<(), AppError> {
    let current = prescription(conn, id)?;
    let from_db: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let target = prescriptions::table
        .filter(prescriptions::id.eq(id))
        .filter(prescriptions::status.eq_any(from_db));
    let changed = match screening {
        Some(s) => diesel::update(target)
            .set((
                prescriptions::status.eq(to.as_str()),
                prescriptions::screening.eq(s.as_str()),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set(prescriptions::status.eq(to.as_str()))
            .execute(conn)?,
    };
    if changed == 0 {
        return Err(AppError::conflict(
            "prescription_status",
            format!(
                "the prescription is {}; it cannot become {to}",
                current.status
            ),
        ));
    }
    if current.status != to {
        status_event(conn, actor, id, to, reason)?;
        // Every move is audited here, whichever path made it (decision, hold, release).
        let site = prescription_site(conn, id)?;
        audit::record(
            conn,
            actor,
            Some(site),
            &format!("prescription.{to}"),
            "prescription",
            id,
            reason.map(|r| serde_json::json!({"reason": r})),
        )?;
    }
    Ok(())
}

/// The schedule a prescription asks for, checked: each kind names what it needs and nothing
/// else, and a stepped plan's steps run in order within the prescription's dates.
fn schedule_of(req: &CreatePrescription) -> Result<Schedule, AppError> {
    let spec = req.schedule.clone().unwrap_or(ScheduleSpec {
        kind: if req.as_needed {
            ScheduleKind::AsNeeded
        } else {
            ScheduleKind::Daily
        },
        every_days: None,
        days: None,
        day_of_month: None,
        steps: None,
        min_interval_minutes: None,
    });
    let kind = spec.kind;
    let wanted = |field: &str, given: bool, needed: bool| -> Result<(), AppError> {
        match (given, needed) {
            (false, true) => Err(AppError::invalid(
                format!("schedule.{field}"),
                "required",
                format!("a {kind} schedule needs {field}"),
            )),
            (true, false) => Err(AppError::invalid(
                format!("schedule.{field}"),
                "not_for_kind",
                format!("a {kind} schedule has no {field}"),
            )),
            _ => Ok(()),
        }
    };
    use ScheduleKind as K;
    wanted(
        "every_days",
        spec.every_days.is_some(),
        kind == K::EveryNDays,
    )?;
    wanted(
        "days",
        spec.days.is_some(),
        matches!(kind, K::Weekdays | K::Weekly),
    )?;
    wanted(
        "day_of_month",
        spec.day_of_month.is_some(),
        kind == K::Monthly,
    )?;
    wanted("steps", spec.steps.is_some(), kind == K::Stepped)?;
    if spec.min_interval_minutes.is_some() && kind != K::AsNeeded {
        wanted("min_interval_minutes", true, false)?;
    }
    if req.as_needed != (kind == K::AsNeeded) {
        return Err(AppError::invalid(
            "as_needed",
            "matches_schedule",
            "as_needed goes with an as_needed schedule, and only with it",
        ));
    }
    let days = spec.days.clone().unwrap_or_default();
    if kind == K::Weekly && days.len() != 1 {
        return Err(AppError::invalid(
            "schedule.days",
            "one_day",
            "a weekly dose falls on one named day",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(i) = days.iter().position(|d| !seen.insert(*d)) {
        return Err(AppError::invalid(
            format!("schedule.days[{i}]"),
            "unique",
            "each day once",
        ));
    }
    let mut steps = Vec::new();
    for (i, step) in spec.steps.iter().flatten().enumerate() {
        let field = |f: &str| format!("schedule.steps[{i}].{f}");
        if step.to < step.from {
            return Err(AppError::invalid(
                field("to"),
                "after_from",
                "must not be before from",
            ));
        }
        let expected_from = steps
            .last()
            .map(|s: &Step| s.to + chrono::Duration::days(1))
            .unwrap_or(req.start_date);
        if step.from != expected_from {
            return Err(AppError::invalid(
                field("from"),
                "contiguous",
                format!("the steps run on from the start date without gaps or overlaps: expected {expected_from}"),
            ));
        }
        if req.end_date.is_some_and(|end| step.to > end) {
            return Err(AppError::invalid(
                field("to"),
                "within_prescription",
                "must not be after end_date",
            ));
        }
        if !step.dose.is_positive() {
            return Err(AppError::invalid(
                field("dose"),
                "positive",
                "must be greater than zero",
            ));
        }
        steps.push(Step {
            from: step.from,
            to: step.to,
            dose: step.dose,
        });
    }
    Ok(Schedule {
        kind,
        start: req.start_date,
        end: req.end_date,
        every_days: spec.every_days,
        days,
        day_of_month: spec.day_of_month,
        steps,
        min_interval_minutes: spec.min_interval_minutes,
    })
}

/// The schedule as the API shows it.
fn schedule_view(s: &Schedule) -> ScheduleSpec {
    ScheduleSpec {
        kind: s.kind,
        every_days: s.every_days,
        days: (!s.days.is_empty()).then(|| s.days.clone()),
        day_of_month: s.day_of_month,
        steps: (!s.steps.is_empty()).then(|| {
            s.steps
                .iter()
                .map(|st| StepSpec {
                    from: st.from,
                    to: st.to,
                    dose: st.dose,
                })
                .collect()
        }),
        min_interval_minutes: s.min_interval_minutes,
    }
}

pub fn create(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    req: &CreatePrescription,
) -> Result<PrescriptionView, AppError> {
    let patient = patients_service::patient(conn, patient_id)?;
    if patient.status != PatientStatus::InCustody {
        return Err(AppError::conflict(
            "patient_not_in_custody",
            format!("the patient is {}", patient.status),
        ));
    }
    let product = crate::formulary::service::named_product(conn, "product_id", req.product_id)?;
    let drug = drug_facts(&product);
    if product.status != "active" {
        return Err(AppError::invalid(
            "product_id",
            "active",
            "this product has been retired from the formulary",
        ));
    }
    if !req.dose.is_positive() {
        return Err(AppError::invalid(
            "dose",
            "positive",
            "must be greater than zero",
        ));
    }
    if !req.dose_unit.eq_ignore_ascii_case(&drug.dose_unit) {
        return Err(AppError::invalid(
            "dose_unit",
            "matches_product",
            format!("{} is dosed in {}", drug.name, drug.dose_unit),
        ));
    }
    let plan = schedule_of(req)?;
    match (req.outbreak_id, req.outbreak_purpose) {
        (Some(outbreak), Some(_)) => {
            crate::outbreaks::service::require_open(conn, patient.site_id, outbreak, "outbreak_id")?
        }
        (None, None) => {}
        (None, Some(_)) => {
            return Err(AppError::invalid(
                "outbreak_id",
                "required",
                "names the outbreak",
            ))
        }
        (Some(_), None) => {
            return Err(AppError::invalid(
                "outbreak_purpose",
                "required",
                "treatment or prophylaxis",
            ))
        }
    }
    if req.as_needed {
        if !req.slots.is_empty() {
            return Err(AppError::invalid(
                "slots",
                "empty_when_as_needed",
                "an as-needed prescription has no round times",
            ));
        }
        if req.max_doses_per_day.is_none() {
            return Err(AppError::invalid(
                "max_doses_per_day",
                "required",
                "an as-needed prescription needs a maximum number of doses a day",
            ));
        }
    } else {
        if req.slots.is_empty() {
            return Err(AppError::invalid(
                "slots",
                "required",
                "give the round times, or as_needed with max_doses_per_day",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(i) = req.slots.iter().position(|s| !seen.insert(*s)) {
            return Err(AppError::invalid(
                format!("slots[{i}]"),
                "unique",
                "each time once",
            ));
        }
        if req.max_doses_per_day.is_some() {
            return Err(AppError::invalid(
                "max_doses_per_day",
                "only_when_as_needed",
                "only for as-needed prescriptions",
            ));
        }
    }
    if let Some(end) = req.end_date {
        if end < req.start_date {
            return Err(AppError::invalid(
                "end_date",
                "after_start",
                "must not be before start_date",
            ));
        }
    }
    let possession = req
        .possession
        .unwrap_or_else(|| Possession::from_db(&product.default_possession));
    let supply_days = match possession {
        Possession::InPossession => Some(req.supply_days.unwrap_or(7)),
        Possession::Supervised if req.supply_days.is_some() => {
            return Err(AppError::invalid(
                "supply_days",
                "only_in_possession",
                "supervised doses are given at rounds, not supplied",
            ))
        }
        Possession::Supervised => None,
    };
    let slots: Vec<&str> = req.slots.iter().map(|s| s.as_str()).collect();
    // The busiest day: a stepped plan's largest step.
    let largest = plan
        .steps
        .iter()
        .map(|s| s.dose.scaled())
        .max()
        .unwrap_or(req.dose.scaled());
    let daily = daily_dose(
        largest,
        req.slots.len(),
        req.as_needed,
        req.max_doses_per_day,
    );

    // Everything else the patient is on, for interactions and duplicates.
    let today = now().date();
    let others: Vec<(i64, i64, Option<chrono::NaiveDate>)> = prescriptions::table
        .filter(prescriptions::patient_id.eq(patient_id))
        .filter(prescriptions::status.eq_any(LIVE))
        .select((
            prescriptions::id,
            prescriptions::product_id,
            prescriptions::end_date,
        ))
        .load(conn)?;
    let mut other_medicines = Vec::new();
    for (id, product_id, end) in others {
        if end.is_some_and(|e| e < today) {
            continue;
        }
        if let Some(product) = crate::formulary::queries::product(conn, product_id)? {
            other_medicines.push(OtherMedicine {
                prescription_id: id,
                drug: drug_facts(&product),
            });
        }
    }
    let allergies: Vec<PatientAllergy> = patient
        .allergies
        .iter()
        .map(|a| PatientAllergy {
            substance: a.substance.clone(),
            kind: a.kind,
            reaction: a.reaction.clone(),
        })
        .collect();
    let assessment = patient.current_assessment.as_ref().map(|a| Assessment {
        outcome: a.outcome,
        product_ids: a.product_ids.clone(),
        review_date: a.review_date,
    });
    let findings = screen(
        &Proposed {
            drug,
            daily_dose: daily,
            possession,
            at_most_weekly: plan.at_most_weekly(req.slots.len()),
        },
        &allergies,
        &other_medicines,
        assessment.as_ref(),
        interactions(),
        today,
    );

    let ts = now();
    let id: i64 = diesel::insert_into(prescriptions::table)
        .values((
            prescriptions::patient_id.eq(patient_id),
            prescriptions::product_id.eq(req.product_id),
            prescriptions::dose.eq(req.dose.scaled()),
            prescriptions::dose_unit.eq(&req.dose_unit),
            prescriptions::route.eq(req.route.as_str()),
            prescriptions::slots.eq(slots.join(",")),
            prescriptions::as_needed.eq(req.as_needed),
            prescriptions::max_doses_per_day.eq(req.max_doses_per_day),
            prescriptions::start_date.eq(req.start_date),
            prescriptions::end_date.eq(req.end_date),
            prescriptions::possession.eq(possession.as_str()),
            prescriptions::supply_days.eq(supply_days),
            prescriptions::prescriber.eq(&req.prescriber),
            prescriptions::indication.eq(&req.indication),
            prescriptions::status.eq(RequestStatus::Draft.as_str()),
            prescriptions::screening.eq(ScreeningState::Pending.as_str()),
            prescriptions::created_by.eq(actor.user_id),
            prescriptions::created_at.eq(ts),
            prescriptions::schedule.eq(plan.kind.as_str()),
            prescriptions::every_days.eq(plan.every_days),
            prescriptions::weekdays.eq(plan.days_text()),
            prescriptions::day_of_month.eq(plan.day_of_month),
            prescriptions::min_interval_minutes.eq(plan.min_interval_minutes),
            prescriptions::outbreak_id.eq(req.outbreak_id),
            prescriptions::outbreak_purpose.eq(req.outbreak_purpose.map(|p| p.as_str())),
        ))
        .returning(prescriptions::id)
        .get_result(conn)?;
    for (seq, step) in plan.steps.iter().enumerate() {
        diesel::insert_into(prescription_steps::table)
            .values((
                prescription_steps::prescription_id.eq(id),
                prescription_steps::seq.eq(seq as i64 + 1),
                prescription_steps::from_date.eq(step.from),
                prescription_steps::to_date.eq(step.to),
                prescription_steps::dose.eq(step.dose.scaled()),
            ))
            .execute(conn)?;
    }
    status_event(conn, actor, id, RequestStatus::Draft, None)?;
    for f in &findings {
        diesel::insert_into(screening_findings::table)
            .values((
                screening_findings::prescription_id.eq(id),
                screening_findings::check_kind.eq(f.check.as_str()),
                screening_findings::severity.eq(f.severity.as_str()),
                screening_findings::message.eq(&f.message),
                screening_findings::source.eq(&f.source),
                screening_findings::related_prescription_id.eq(f.related_prescription_id),
                screening_findings::created_at.eq(ts),
            ))
            .execute(conn)?;
    }
    audit::record(
        conn,
        actor,
        Some(patient.site_id),
        "prescription.create",
        "prescription",
        id,
        Some(
            serde_json::json!({"patient_id": patient_id, "product_id": req.product_id,
                                "findings": findings.len()}),
        ),
    )?;
    prescription(conn, id)
}

/// The pharmacist's decision on a screened prescription.
pub fn decide(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    req: &DecisionRequest,
) -> Result<PrescriptionView, AppError> {
    let current = prescription(conn, id)?;
    if !matches!(
        current.screening,
        ScreeningState::Pending | ScreeningState::Queried
    ) || current.status != RequestStatus::Draft
    {
        return Err(AppError::conflict(
            "already_screened",
            format!(
                "the prescription is {} and its screening {}",
                current.status, current.screening
            ),
        ));
    }
    let blocks = current
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Block)
        .count();
    let reason: Option<String> = match req.decision {
        Decision::Approve | Decision::ApproveWithNote => {
            if req.decision == Decision::ApproveWithNote {
                AppError::required(
                    "note",
                    req.note.as_deref(),
                    "an approval with a note needs the note",
                )?;
            }
            if blocks > 0 {
                AppError::required(
                    "override_reason",
                    req.override_reason.as_deref(),
                    "a blocking finding is approved over only with a written reason",
                )?;
            }
            move_status(
                conn,
                actor,
                id,
                &[RequestStatus::Draft],
                RequestStatus::Active,
                Some(ScreeningState::Approved),
                req.override_reason.as_deref().or(req.note.as_deref()),
            )?;
            req.override_reason.clone()
        }
        Decision::Reject => {
            let note =
                AppError::required("note", req.note.as_deref(), "a rejection needs its reason")?;
            move_status(
                conn,
                actor,
                id,
                &[RequestStatus::Draft],
                RequestStatus::Cancelled,
                Some(ScreeningState::Rejected),
                Some(note),
            )?;
            None
        }
        Decision::Query => {
            AppError::required(
                "note",
                req.note.as_deref(),
                "a query to the prescriber needs the question",
            )?;
            diesel::update(prescriptions::table.find(id))
                .set(prescriptions::screening.eq(ScreeningState::Queried.as_str()))
                .execute(conn)?;
            None
        }
    };
    diesel::insert_into(screening_decisions::table)
        .values((
            screening_decisions::prescription_id.eq(id),
            screening_decisions::decision.eq(req.decision.as_str()),
            screening_decisions::note.eq(&req.note),
            screening_decisions::override_reason.eq(reason.as_deref().filter(|_| blocks > 0)),
            screening_decisions::pharmacist_id.eq(actor.user_id),
            screening_decisions::decided_at.eq(now()),
        ))
        .execute(conn)?;
    let site = prescription_site(conn, id)?;
    audit::record(
        conn,
        actor,
        Some(site),
        &format!("screening.{}", req.decision),
        "prescription",
        id,
        Some(serde_json::json!({"blocking_findings": blocks})),
    )?;
    prescription(conn, id)
}

pub fn change_status(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    to: RequestStatus,
    reason: Option<&str>,
) -> Result<PrescriptionView, AppError> {
    let from: &[RequestStatus] = match to {
        RequestStatus::OnHold => &[RequestStatus::Active],
        RequestStatus::Active => &[RequestStatus::OnHold],
        RequestStatus::Stopped => &[RequestStatus::Active, RequestStatus::OnHold],
        RequestStatus::EnteredInError => &[
            RequestStatus::Draft,
            RequestStatus::Active,
            RequestStatus::OnHold,
        ],
        _ => return Err(AppError::internal("unsupported prescription transition")),
    };
    move_status(conn, actor, id, from, to, None, reason)?;
    prescription(conn, id)
}

/// Ends every live prescription of a patient leaving the service (release, transfer out).
pub fn end_all(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    reason: &str,
) -> Result<(), AppError> {
    let live: Vec<(i64, String)> = prescriptions::table
        .filter(prescriptions::patient_id.eq(patient_id))
        .filter(prescriptions::status.eq_any(LIVE))
        .select((prescriptions::id, prescriptions::status))
        .load(conn)?;
    for (id, status) in live {
        let to = if status == RequestStatus::Draft.as_str() {
            RequestStatus::Cancelled
        } else {
            RequestStatus::Completed
        };
        move_status(
            conn,
            actor,
            id,
            &[
                RequestStatus::Draft,
                RequestStatus::Active,
                RequestStatus::OnHold,
            ],
            to,
            None,
            Some(reason),
        )?;
    }
    Ok(())
}

/// Prescriptions at a site waiting for a pharmacist: pending or queried, oldest first.
pub fn queue(
    conn: &mut AnyConnection,
    site_id: i64,
    page: crate::http::PageRequest,
) -> Result<crate::http::Paged<PrescriptionView>, AppError> {
    let ids: Vec<i64> = prescriptions::table
        .inner_join(patients::table)
        .filter(patients::site_id.eq(site_id))
        .filter(patients::status.eq(PatientStatus::InCustody.as_str()))
        .filter(prescriptions::status.eq(RequestStatus::Draft.as_str()))
        .filter(prescriptions::screening.eq_any([
            ScreeningState::Pending.as_str(),
            ScreeningState::Queried.as_str(),
        ]))
        .order(prescriptions::id.asc())
        .select(prescriptions::id)
        .load(conn)?;
    crate::http::Paged::of_keys(ids, page, |id| prescription(conn, id))
}
