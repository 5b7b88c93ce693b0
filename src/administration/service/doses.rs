//! Dose records: recording the outcome of a due dose (a given dose draws its stock through
//! the ledger), correcting one entered in error, and reading them back.

use super::*;
use crate::domain::administration::InjectionSite;
use crate::domain::schedule::ScheduleKind;

pub(super) type DoseRow = (
    (
        i64,
        i64,
        i64,
        i64,
        NaiveDate,
        String,
        i64,
        String,
        Option<String>,
    ),
    (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        i64,
        NaiveDateTime,
        NaiveDateTime,
        bool,
        Option<String>,
    ),
);

pub(super) fn dose_rows(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<DoseRow>, AppError> {
    Ok(dose_records::table
        .filter(dose_records::id.eq_any(ids))
        .order(dose_records::id.asc())
        .select((
            (
                dose_records::id,
                dose_records::prescription_id,
                dose_records::patient_id,
                dose_records::site_id,
                dose_records::scheduled_date,
                dose_records::slot,
                dose_records::attempt,
                dose_records::outcome,
                dose_records::reason,
            ),
            (
                dose_records::quantity,
                dose_records::stock_quantity,
                dose_records::location_id,
                dose_records::witness_id,
                dose_records::nurse_id,
                dose_records::occurred_at,
                dose_records::recorded_at,
                dose_records::late,
                dose_records::injection_site,
            ),
        ))
        .load(conn)?)
}

/// Full views of dose records, with their stock, correction and alerts, in id order.
pub(super) fn dose_views(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<DoseView>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = dose_rows(conn, ids)?;
    let mut stock: HashMap<i64, Vec<DrawnStock>> = HashMap::new();
    for (dose, batch_id, quantity, movement_id, register_entry_id) in dose_movements::table
        .filter(dose_movements::dose_record_id.eq_any(ids))
        .order(dose_movements::id.asc())
        .select((
            dose_movements::dose_record_id,
            dose_movements::batch_id,
            dose_movements::quantity,
            dose_movements::movement_id,
            dose_movements::register_entry_id,
        ))
        .load::<(i64, i64, i64, i64, Option<i64>)>(conn)?
    {
        stock.entry(dose).or_default().push(DrawnStock {
            batch_id,
            quantity: Quantity::from_scaled(quantity),
            movement_id,
            register_entry_id,
        });
    }
    let corrections: HashMap<i64, CorrectionView> = dose_corrections::table
        .filter(dose_corrections::dose_record_id.eq_any(ids))
        .select((
            dose_corrections::dose_record_id,
            dose_corrections::reason,
            dose_corrections::corrected_by,
            dose_corrections::corrected_at,
        ))
        .load::<(i64, String, i64, NaiveDateTime)>(conn)?
        .into_iter()
        .map(|(id, reason, by, at)| {
            (
                id,
                CorrectionView {
                    reason,
                    corrected_by: by,
                    corrected_at: at,
                },
            )
        })
        .collect();
    let mut alert_ids: HashMap<i64, Vec<i64>> = HashMap::new();
    for (alert, dose) in alerts::table
        .filter(alerts::dose_record_id.eq_any(ids))
        .select((alerts::id, alerts::dose_record_id))
        .load::<(i64, Option<i64>)>(conn)?
    {
        if let Some(dose) = dose {
            alert_ids.entry(dose).or_default().push(alert);
        }
    }
    Ok(rows
        .into_iter()
        .map(|(a, b)| DoseView {
            stock: stock.remove(&a.0).unwrap_or_default(),
            correction: corrections.get(&a.0).cloned(),
            alert_ids: alert_ids.remove(&a.0).unwrap_or_default(),
            id: a.0,
            prescription_id: a.1,
            patient_id: a.2,
            site_id: a.3,
            date: a.4,
            slot: Slot::from_db(&a.5),
            attempt: a.6,
            outcome: DoseOutcome::from_db(&a.7),
            reason: a.8,
            quantity: b.0.map(Quantity::from_scaled),
            stock_quantity: b.1.map(Quantity::from_scaled),
            location_id: b.2,
            witness_id: b.3,
            nurse_id: b.4,
            occurred_at: b.5,
            recorded_at: b.6,
            late_entry: b.7,
            injection_site: b.8.as_deref().map(InjectionSite::from_db),
        })
        .collect())
}

pub fn dose(conn: &mut AnyConnection, id: i64) -> Result<DoseView, AppError> {
    dose_views(conn, &[id])?
        .pop()
        .ok_or_else(|| AppError::not_found("dose record"))
}

pub fn dose_site(conn: &mut AnyConnection, id: i64) -> Result<i64, AppError> {
    dose_records::table
        .find(id)
        .select(dose_records::site_id)
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("dose record"))
}

/// The latest record of a due dose: (id, attempt, corrected).
pub(super) fn latest_attempt(
    conn: &mut AnyConnection,
    prescription_id: i64,
    date: NaiveDate,
    slot: Slot,
) -> Result<Option<(i64, i64, bool)>, AppError> {
    let row: Option<(i64, i64, Option<i64>)> = dose_records::table
        .left_join(dose_corrections::table)
        .filter(dose_records::prescription_id.eq(prescription_id))
        .filter(dose_records::scheduled_date.eq(date))
        .filter(dose_records::slot.eq(slot.as_str()))
        .order(dose_records::attempt.desc())
        .select((
            dose_records::id,
            dose_records::attempt,
            dose_corrections::id.nullable(),
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(id, attempt, correction)| (id, attempt, correction.is_some())))
}

pub(super) fn already_recorded(conn: &mut AnyConnection, id: i64) -> AppError {
    match dose(conn, id) {
        Ok(existing) => AppError::Conflict {
            code: "dose_already_recorded".into(),
            detail: format!(
                "this dose was already recorded as {} at {}",
                existing.outcome, existing.recorded_at
            ),
            existing: serde_json::to_value(existing).ok(),
        },
        Err(e) => e,
    }
}

/// The final outcomes of a prescription's other due doses, in schedule order around one dose:
/// (those before it, nearest first; those after it, nearest first). A dose's final outcome is
/// its latest attempt not entered in error; the dose itself is left out.
pub(super) fn outcomes_around(
    conn: &mut AnyConnection,
    prescription_id: i64,
    date: NaiveDate,
    slot: Slot,
) -> Result<(Vec<DoseOutcome>, Vec<DoseOutcome>), AppError> {
    let rows: Vec<(NaiveDate, String, i64, String)> = dose_records::table
        .left_join(dose_corrections::table)
        .filter(dose_records::prescription_id.eq(prescription_id))
        .filter(dose_corrections::id.is_null())
        .select((
            dose_records::scheduled_date,
            dose_records::slot,
            dose_records::attempt,
            dose_records::outcome,
        ))
        .load(conn)?;
    let place = |d: NaiveDate, s: Slot| (d, Slot::ALL.iter().position(|x| *x == s));
    let here = place(date, slot);
    let mut finals: std::collections::BTreeMap<_, (i64, DoseOutcome)> = Default::default();
    for (d, s, attempt, outcome) in rows {
        let key = place(d, Slot::from_db(&s));
        if key == here {
            continue;
        }
        let entry = finals
            .entry(key)
            .or_insert((attempt, DoseOutcome::from_db(&outcome)));
        if attempt > entry.0 {
            *entry = (attempt, DoseOutcome::from_db(&outcome));
        }
    }
    let before = finals.range(..here).rev().map(|(_, v)| v.1).collect();
    let after = finals
        .range(here..)
        .filter(|(k, _)| **k != here)
        .map(|(_, v)| v.1)
        .collect();
    Ok((before, after))
}

/// A when-required dose may be given when at least the minimum interval has passed since the
/// last one and fewer than the maximum were given in the 24 hours before; otherwise 409
/// naming the time the next dose is allowed.
fn when_required_allows(
    conn: &mut AnyConnection,
    rx: &RxFacts,
    min_interval_minutes: Option<i64>,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    let day = chrono::Duration::hours(24);
    let given: Vec<NaiveDateTime> = dose_records::table
        .left_join(dose_corrections::table)
        .filter(dose_records::prescription_id.eq(rx.id))
        .filter(dose_corrections::id.is_null())
        .filter(dose_records::outcome.eq(DoseOutcome::Given.as_str()))
        .filter(dose_records::occurred_at.gt(at - day))
        .filter(dose_records::occurred_at.lt(at + day))
        .order(dose_records::occurred_at.asc())
        .select(dose_records::occurred_at)
        .load(conn)?;
    if let Some(min) = min_interval_minutes {
        let gap = chrono::Duration::minutes(min);
        if let Some(near) = given.iter().find(|t| (**t - at).abs() < gap) {
            let next = *near + gap;
            return Err(AppError::conflict(
                "prn_too_soon",
                format!(
                    "the last dose was at {}; the next may be given from {}",
                    crate::domain::time::rfc3339(*near),
                    crate::domain::time::rfc3339(next)
                ),
            ));
        }
    }
    if let Some(max) = rx.max_doses_per_day {
        let window: Vec<&NaiveDateTime> = given.iter().filter(|t| **t <= at).collect();
        if window.len() as i64 >= max {
            let next = *window[window.len() - max as usize] + day;
            return Err(AppError::conflict(
                "prn_daily_maximum",
                format!(
                    "{max} doses were given in the 24 hours before; the next may be given from {}",
                    crate::domain::time::rfc3339(next)
                ),
            ));
        }
    }
    Ok(())
}

/// The day a dose of the same medicine was given to the patient within six days either side
/// of a date, under this prescription or another (not counting doses entered in error).
fn given_within_a_week(
    conn: &mut AnyConnection,
    rx: &RxFacts,
    date: NaiveDate,
) -> Result<Option<NaiveDate>, AppError> {
    let week = chrono::Duration::days(6);
    Ok(dose_records::table
        .inner_join(prescriptions::table)
        .left_join(dose_corrections::table)
        .filter(dose_records::patient_id.eq(rx.patient_id))
        .filter(prescriptions::product_id.eq(rx.product_id))
        .filter(dose_corrections::id.is_null())
        .filter(dose_records::outcome.eq(DoseOutcome::Given.as_str()))
        .filter(dose_records::scheduled_date.ge(date - week))
        .filter(dose_records::scheduled_date.le(date + week))
        .select(dose_records::scheduled_date)
        .first(conn)
        .optional()?)
}

/// Records the outcome of a due dose. A given dose draws its stock through the ledger; a
/// missed one may raise an alert.
pub fn record_dose(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &RecordDose,
    witness_id: Option<i64>,
    rules: Rules,
) -> Result<DoseView, AppError> {
    let rx = rx_facts(conn, req.prescription_id)?;
    rx.require_in_force(site_id, Possession::Supervised)?;
    if req.date < rx.start_date || rx.end_date.is_some_and(|end| req.date > end) {
        return Err(AppError::invalid(
            "date",
            "within_prescription",
            "the prescription does not run on this date",
        ));
    }
    if req.date > now().date() {
        return Err(AppError::invalid(
            "date",
            "not_future",
            "a dose is recorded on or after its day",
        ));
    }
    if !rx.as_needed && !rx.slots.contains(&req.slot) {
        return Err(AppError::invalid(
            "slot",
            "prescribed",
            "no dose is prescribed at this time",
        ));
    }
    let plan = rx.schedule(conn)?;
    if !rx.as_needed && !plan.due_on(req.date) {
        return Err(AppError::invalid(
            "date",
            "scheduled",
            "no dose of this prescription falls due on this day",
        ));
    }
    if req.outcome == DoseOutcome::Given && (rx.weekly_only || plan.kind == ScheduleKind::Weekly) {
        if let Some(other) = given_within_a_week(conn, &rx, req.date)? {
            return Err(AppError::conflict(
                "weekly_dose_given",
                format!("a dose of this once-a-week medicine was already given on {other}"),
            ));
        }
    }
    let reason = match req.outcome {
        DoseOutcome::Withheld => Some(AppError::required(
            "reason",
            req.reason.clone(),
            "give the clinical reason for withholding",
        )?),
        DoseOutcome::Other => Some(AppError::required(
            "reason",
            req.reason.clone(),
            "say what happened",
        )?),
        DoseOutcome::Away => Some(
            AppError::required(
                "away_reason",
                req.away_reason,
                "court, hospital, visit or segregation",
            )?
            .as_str()
            .to_string(),
        ),
        _ => req.reason.clone(),
    };
    let ts = now();
    let occurred_at = crate::domain::register::bounded_occurred_at(
        req.occurred_at.unwrap_or(ts),
        ts,
        rules.backdate_days,
    )
    .map_err(|(rule, message)| AppError::invalid("occurred_at", rule, message))?;
    let late = ts - occurred_at > chrono::Duration::minutes(rules.late_minutes);
    if rx.as_needed && req.outcome == DoseOutcome::Given {
        when_required_allows(conn, &rx, plan.min_interval_minutes, occurred_at)?;
    }
    // An injection's site is part of the record of giving it; nothing else has one.
    let injected = matches!(rx.route, Route::Subcutaneous | Route::Intramuscular);
    let injection_site = match (
        req.outcome == DoseOutcome::Given && injected,
        req.injection_site,
    ) {
        (true, None) => {
            return Err(AppError::invalid(
                "injection_site",
                "required",
                "say where the injection was given",
            ))
        }
        (false, Some(_)) => {
            return Err(AppError::invalid(
                "injection_site",
                "only_for_injections",
                "only a given injection has a site",
            ))
        }
        (_, site) => site,
    };

    let given = req.outcome == DoseOutcome::Given;
    let (quantity, units, location_id) = if given {
        let quantity = req.quantity.unwrap_or(Quantity::from_scaled(rx.dose));
        if !quantity.is_positive() {
            return Err(AppError::invalid(
                "quantity",
                "positive",
                "must be greater than zero",
            ));
        }
        // The ledger finds the location with the stock it reads, and answers 404 for one at
        // another prison.
        let location_id = AppError::required(
            "location_id",
            req.location_id,
            "a given dose is drawn from the round's location",
        )?;
        let units = match req.stock_quantity {
            Some(u) if u.is_positive() => u,
            Some(_) => {
                return Err(AppError::invalid(
                    "stock_quantity",
                    "positive",
                    "must be greater than zero",
                ))
            }
            None => rx.units_per_dose(quantity).ok_or_else(|| {
                AppError::invalid(
                    "stock_quantity",
                    "required",
                    format!(
                        "{} {} does not convert exactly to {}: give stock_quantity",
                        quantity, rx.dose_unit, rx.unit
                    ),
                )
            })?,
        };
        (Some(quantity), Some(units), Some(location_id))
    } else {
        (None, None, None)
    };

    let witness_id = witness_id.filter(|_| given);
    let record = |attempt: i64| NewDose {
        prescription_id: rx.id,
        patient_id: rx.patient_id,
        site_id,
        scheduled_date: req.date,
        slot: req.slot.as_str(),
        attempt,
        outcome: req.outcome.as_str(),
        reason: reason.as_deref(),
        quantity: quantity.map(|q| q.scaled()),
        stock_quantity: units.map(|q| q.scaled()),
        location_id,
        witness_id,
        nurse_id: actor.user_id,
        occurred_at,
        recorded_at: ts,
        late,
        injection_site: injection_site.map(|s| s.as_str()),
    };
    let already = |conn: &mut AnyConnection| -> AppError {
        match latest_attempt(conn, rx.id, req.date, req.slot) {
            Ok(Some((existing, _, _))) => already_recorded(conn, existing),
            Ok(None) => {
                AppError::conflict("dose_already_recorded", "this dose was already recorded")
            }
            Err(e) => e,
        }
    };
    // The first record of a scheduled dose is written straight away; the latest attempt is read
    // only when there is one (a dose entered in error is recorded again as the next attempt).
    let (id, attempt) = if rx.as_needed {
        // A when-required medicine may be given again and again, each a dose of its own.
        let attempt = latest_attempt(conn, rx.id, req.date, req.slot)?.map_or(1, |l| l.1 + 1);
        match insert_dose(conn, &record(attempt))? {
            Some(id) => (id, attempt),
            None => return Err(already(conn)),
        }
    } else {
        match insert_dose(conn, &record(1))? {
            Some(id) => (id, 1),
            None => match latest_attempt(conn, rx.id, req.date, req.slot)? {
                Some((_, attempt, true)) => match insert_dose(conn, &record(attempt + 1))? {
                    Some(id) => (id, attempt + 1),
                    None => return Err(already(conn)),
                },
                _ => return Err(already(conn)),
            },
        }
    };

    let mut events = Vec::with_capacity(2);
    let mut stock = Vec::new();
    if let (Some(units), Some(location_id)) = (units, location_id) {
        let mut detail = rx.register_detail();
        detail.witness_id = witness_id;
        stock = draw(
            conn,
            actor,
            &rx,
            Draw {
                location_id,
                batch_id: req.batch_id,
                units,
                reason: MovementReason::DoseGiven,
                reference: ("dose_record", id),
                detail,
                occurred_at: Some(occurred_at),
            },
            &mut events,
        )?;
        for d in &stock {
            diesel::insert_into(dose_movements::table)
                .values((
                    dose_movements::dose_record_id.eq(id),
                    dose_movements::batch_id.eq(d.batch_id),
                    dose_movements::quantity.eq(d.quantity.scaled()),
                    dose_movements::movement_id.eq(d.movement_id),
                    dose_movements::register_entry_id.eq(d.register_entry_id),
                ))
                .execute(conn)?;
        }
    }

    let mut alert_ids = Vec::new();
    // Only a missed dose can make a run of missed doses.
    if req.outcome.is_missed() {
        let (before, after) = outcomes_around(conn, rx.id, req.date, req.slot)?;
        if let Some(kind) = rules.missed.evaluate(
            req.outcome,
            &before,
            &after,
            rx.opioid_substitution,
            rx.critical,
        ) {
            let message = match kind {
                AlertKind::MissedOst => format!(
                    "missed opioid substitution dose ({}) of {}: {} on {} {}; prescriber review is needed after 3 missed days",
                    req.outcome, rx.product_name, rx.prison_number, req.date, req.slot
                ),
                _ => format!(
                    "{} consecutive missed doses of {}, a critical medicine, for {}",
                    rules.missed.consecutive_critical, rx.product_name, rx.prison_number
                ),
            };
            alert_ids.push(raise_alert(
                conn,
                actor,
                &rx,
                kind,
                message,
                Some(id),
                None,
            )?);
        }
    }
    events.push(audit::Event {
        site_id: Some(site_id),
        action: format!("dose.{}", req.outcome),
        entity: "dose_record",
        entity_id: id,
        detail: Some(
            serde_json::json!({"prescription_id": rx.id, "date": req.date, "slot": req.slot, "late": late}),
        ),
    });
    audit::record_all(conn, actor, &events)?;
    // The record as written: nothing else can have changed it within this transaction.
    Ok(DoseView {
        id,
        prescription_id: rx.id,
        patient_id: rx.patient_id,
        site_id,
        date: req.date,
        slot: req.slot,
        attempt,
        outcome: req.outcome,
        reason,
        quantity,
        stock_quantity: units,
        location_id,
        witness_id,
        nurse_id: actor.user_id,
        occurred_at,
        recorded_at: ts,
        late_entry: late,
        injection_site,
        stock,
        correction: None,
        alert_ids,
    })
}

#[derive(Insertable)]
#[diesel(table_name = dose_records)]
struct NewDose<'a> {
    prescription_id: i64,
    patient_id: i64,
    site_id: i64,
    scheduled_date: NaiveDate,
    slot: &'a str,
    attempt: i64,
    outcome: &'a str,
    reason: Option<&'a str>,
    quantity: Option<i64>,
    stock_quantity: Option<i64>,
    location_id: Option<i64>,
    witness_id: Option<i64>,
    nurse_id: i64,
    occurred_at: NaiveDateTime,
    recorded_at: NaiveDateTime,
    late: bool,
    injection_site: Option<&'a str>,
}

/// Writes a dose record; None when that attempt of the dose is already recorded (two nurses at
/// once: the other record won). PostgreSQL skips the conflicting row rather than abort the
/// transaction; SQLite refuses the one statement and the transaction goes on.
fn insert_dose(conn: &mut AnyConnection, record: &NewDose) -> Result<Option<i64>, AppError> {
    let inserted = match conn {
        AnyConnection::Postgresql(c) => diesel::insert_into(dose_records::table)
            .values(record)
            .on_conflict_do_nothing()
            .returning(dose_records::id)
            .get_result(c)
            .optional(),
        AnyConnection::Sqlite(c) => diesel::insert_into(dose_records::table)
            .values(record)
            .returning(dose_records::id)
            .get_result(c)
            .map(Some),
    };
    match inserted {
        Ok(id) => Ok(id),
        Err(e) if crate::db::is_duplicate(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Marks a dose record entered in error with a linked record. A given dose's stock (and its
/// CD register entry) is put back through the ledger; the original record stays as it was.
pub fn correct_dose(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    reason: &str,
) -> Result<DoseView, AppError> {
    let original = dose(conn, id)?;
    if original.correction.is_some() {
        return Err(AppError::conflict(
            "already_corrected",
            "this dose record has already been corrected",
        ));
    }
    diesel::insert_into(dose_corrections::table)
        .values((
            dose_corrections::dose_record_id.eq(id),
            dose_corrections::reason.eq(reason),
            dose_corrections::corrected_by.eq(actor.user_id),
            dose_corrections::corrected_at.eq(now()),
        ))
        .execute(conn)
        .map_err(crate::db::conflict_on_duplicate(
            "already_corrected",
            "this dose record has already been corrected",
        ))?;
    if let Some(location_id) = original.location_id {
        for d in &original.stock {
            let mut posting = Posting::new(
                original.site_id,
                location_id,
                d.batch_id,
                d.quantity,
                MovementReason::Correction,
            );
            posting.reference = Some(("dose_record", id));
            posting.note = Some(format!("dose entered in error: {reason}"));
            posting.allow_unusable = true;
            posting.register.corrects_entry_id = d.register_entry_id;
            ledger::post(conn, actor, &posting)?;
        }
    }
    audit::record(
        conn,
        actor,
        Some(original.site_id),
        "dose.entered_in_error",
        "dose_record",
        id,
        Some(serde_json::json!({"reason": reason})),
    )?;
    dose(conn, id)
}

/// Dose records of a patient whose due date is in the range, oldest first.
pub fn doses_of_patient(
    conn: &mut AnyConnection,
    patient_id: i64,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<DoseView>, AppError> {
    let mut q = dose_records::table
        .filter(dose_records::patient_id.eq(patient_id))
        .into_boxed();
    if let Some(f) = from {
        q = q.filter(dose_records::scheduled_date.ge(f));
    }
    if let Some(t) = to {
        q = q.filter(dose_records::scheduled_date.le(t));
    }
    let ids: Vec<i64> = q
        .order(dose_records::id.asc())
        .select(dose_records::id)
        .load(conn)?;
    dose_views(conn, &ids)
}
