//! The round: every dose due at a wing or a prison, with what is already recorded.

use super::*;
use crate::db::schema::prescription_steps;
use crate::domain::schedule::{Schedule, ScheduleKind, Step, OVERDUE_LOOKBACK_DAYS};

/// The wing an administration point serves: its code before "-HATCH" (HB1-HATCH serves HB1).
pub fn wing_of(
    conn: &mut AnyConnection,
    site_id: i64,
    location_id: i64,
) -> Result<String, AppError> {
    location_at(conn, site_id, location_id)?;
    let loc = crate::sites::service::location(conn, location_id)?;
    Ok(loc
        .code
        .strip_suffix("-HATCH")
        .unwrap_or(&loc.code)
        .to_string())
}

/// (dose id, prescription, date, slot, outcome, attempt, correction)
pub(super) type HistoryRow = (i64, i64, NaiveDate, String, String, i64, Option<i64>);

/// The steps of the stepped plans among some prescriptions, in order.
fn steps_of(conn: &mut AnyConnection, rx_ids: &[i64]) -> Result<HashMap<i64, Vec<Step>>, AppError> {
    let mut out: HashMap<i64, Vec<Step>> = HashMap::new();
    for (rx, from, to, dose) in prescription_steps::table
        .filter(prescription_steps::prescription_id.eq_any(rx_ids))
        .order((prescription_steps::prescription_id, prescription_steps::seq))
        .select((
            prescription_steps::prescription_id,
            prescription_steps::from_date,
            prescription_steps::to_date,
            prescription_steps::dose,
        ))
        .load::<(i64, NaiveDate, NaiveDate, i64)>(conn)?
    {
        out.entry(rx).or_default().push(Step {
            from,
            to,
            dose: Quantity::from_scaled(dose),
        });
    }
    Ok(out)
}

pub(super) type RoundRow = (
    (
        i64,
        i64,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
    ),
    (i64, String, i64, String, String, String, bool),
    (Option<NaiveDate>, bool, bool, bool),
    (String, Option<i64>, Option<String>, Option<i64>, NaiveDate),
);

/// Every dose due at a round: approved, active, supervised, regular prescriptions of the
/// patients at the wing (or the whole prison), with recent outcomes, open alerts, and what is
/// already recorded. A fixed number of queries whatever the size of the round.
pub fn round(
    conn: &mut AnyConnection,
    site_id: i64,
    q: &RoundQuery,
) -> Result<RoundList, AppError> {
    let wing = match (q.location_id, &q.wing) {
        (Some(l), _) => Some(wing_of(conn, site_id, l)?),
        (None, Some(w)) => Some(w.clone()),
        (None, None) => None,
    };
    let mut query = prescriptions::table
        .inner_join(patients::table)
        .inner_join(products::table)
        .filter(patients::site_id.eq(site_id))
        .filter(patients::status.eq(PatientStatus::InCustody.as_str()))
        .filter(prescriptions::status.eq(RequestStatus::Active.as_str()))
        .filter(prescriptions::screening.eq(ScreeningState::Approved.as_str()))
        .filter(prescriptions::possession.eq(Possession::Supervised.as_str()))
        .filter(prescriptions::as_needed.eq(false))
        .filter(prescriptions::start_date.le(q.date))
        .filter(prescriptions::slots.like(format!("%{}%", q.slot.as_str())))
        .into_boxed();
    if let Some(w) = &wing {
        query = query.filter(patients::wing.eq(w.clone()));
    }
    let rows: Vec<RoundRow> = query
        .order((
            patients::wing.asc(),
            patients::cell.asc(),
            patients::prison_number.asc(),
            prescriptions::id.asc(),
        ))
        .select((
            (
                prescriptions::id,
                patients::id,
                patients::prison_number,
                patients::given_name,
                patients::family_name,
                patients::wing,
                patients::cell,
                prescriptions::route,
            ),
            (
                products::id,
                products::name,
                prescriptions::dose,
                prescriptions::dose_unit,
                prescriptions::slots,
                products::cd_schedule,
                products::cd_register,
            ),
            (
                prescriptions::end_date,
                prescriptions::as_needed,
                products::critical,
                products::time_critical,
            ),
            (
                prescriptions::schedule,
                prescriptions::every_days,
                prescriptions::weekdays,
                prescriptions::day_of_month,
                prescriptions::start_date,
            ),
        ))
        .load(conn)?;
    let rows: Vec<RoundRow> = rows
        .into_iter()
        .filter(|r| r.1 .4.split(',').any(|s| s == q.slot.as_str()))
        .collect();
    // Each prescription's schedule decides whether a dose falls due today, or (for doses a week
    // or more apart) is still due from an earlier day.
    let mut steps = steps_of(conn, &rows.iter().map(|r| r.0 .0).collect::<Vec<_>>())?;
    let lookback = chrono::Duration::days(OVERDUE_LOOKBACK_DAYS);
    let candidates: Vec<(RoundRow, Schedule, NaiveDate)> = rows
        .into_iter()
        .filter_map(|r| {
            let plan = Schedule {
                kind: ScheduleKind::from_db(&r.3 .0),
                start: r.3 .4,
                end: r.2 .0,
                every_days: r.3 .1,
                days: Schedule::parse_days(r.3 .2.as_deref()),
                day_of_month: r.3 .3,
                steps: steps.remove(&r.0 .0).unwrap_or_default(),
                min_interval_minutes: None,
            };
            let date = if plan.due_on(q.date) {
                Some(q.date)
            } else if plan.keeps_due() {
                plan.due_between(q.date - lookback, q.date.pred_opt()?)
                    .last()
                    .copied()
            } else {
                None
            };
            date.map(|d| (r, plan, d))
        })
        .collect();
    let scheduled: HashMap<i64, NaiveDate> =
        candidates.iter().map(|(r, _, d)| (r.0 .0, *d)).collect();
    let rx_ids: Vec<i64> = scheduled.keys().copied().collect();
    let patient_ids: Vec<i64> = candidates.iter().map(|(r, _, _)| r.0 .1).collect();

    // Outcomes since the earliest dose that may still be due, newest first per prescription.
    let since = q.date - lookback;
    let history: Vec<HistoryRow> = dose_records::table
        .left_join(dose_corrections::table)
        .filter(dose_records::prescription_id.eq_any(&rx_ids))
        .filter(dose_records::scheduled_date.ge(since))
        .filter(dose_records::scheduled_date.le(q.date))
        .order((dose_records::occurred_at.desc(), dose_records::id.desc()))
        .select((
            dose_records::id,
            dose_records::prescription_id,
            dose_records::scheduled_date,
            dose_records::slot,
            dose_records::outcome,
            dose_records::attempt,
            dose_corrections::id.nullable(),
        ))
        .load(conn)?;
    let mut recent: HashMap<i64, Vec<RecentOutcome>> = HashMap::new();
    let mut recorded_ids: HashMap<i64, (i64, i64)> = HashMap::new();
    // An earlier dose still due that has since been recorded is due no longer.
    let mut settled: std::collections::HashSet<i64> = std::collections::HashSet::new();
    for (id, rx, date, slot, outcome, attempt, correction) in history {
        if Some(&date) == scheduled.get(&rx) && slot == q.slot.as_str() {
            if date < q.date && correction.is_none() {
                settled.insert(rx);
            }
            let best = recorded_ids.entry(rx).or_insert((id, attempt));
            if attempt > best.1 {
                *best = (id, attempt);
            }
        }
        if correction.is_none() {
            let list = recent.entry(rx).or_default();
            if list.len() < 5 {
                list.push(RecentOutcome {
                    date,
                    slot: Slot::from_db(&slot),
                    outcome: DoseOutcome::from_db(&outcome),
                });
            }
        }
    }
    let ids: Vec<i64> = recorded_ids.values().map(|(id, _)| *id).collect();
    let mut recorded: HashMap<i64, DoseView> = dose_views(conn, &ids)?
        .into_iter()
        .map(|d| (d.prescription_id, d))
        .collect();
    let open_alerts: HashMap<i64, i64> = alerts::table
        .left_join(alert_acknowledgements::table)
        .filter(alerts::patient_id.eq_any(&patient_ids))
        .filter(alert_acknowledgements::id.is_null())
        .group_by(alerts::patient_id)
        .select((alerts::patient_id, diesel::dsl::count_star()))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    // Fixed count of queries: every patient's adjustments at once.
    let adjustments = crate::patients::adjustments::in_force(conn, &patient_ids)?;
    let items = candidates
        .into_iter()
        .filter(|(r, _, date)| !(*date < q.date && settled.contains(&r.0 .0)))
        .map(|((p, d, e, _), plan, date)| {
            let schedule = CdSchedule::from_db(&d.5);
            RoundItem {
                scheduled_date: date,
                overdue: date < q.date,
                schedule: plan.kind,
                prescription_id: p.0,
                patient_id: p.1,
                prison_number: p.2,
                patient_name: format!("{} {}", p.3, p.4),
                wing: p.5,
                cell: p.6,
                product_id: d.0,
                product_name: d.1,
                route: Route::from_db(&p.7),
                dose: plan.dose_on(date, Quantity::from_scaled(d.2)),
                dose_unit: d.3,
                witness_required: schedule == CdSchedule::S2 || d.6,
                time_critical: e.3,
                recent_outcomes: recent.remove(&p.0).unwrap_or_default(),
                open_alerts: open_alerts.get(&p.1).copied().unwrap_or(0),
                adjustments: adjustments.get(&p.1).cloned().unwrap_or_default(),
                recorded: recorded.remove(&p.0),
            }
        })
        .collect();
    Ok(RoundList {
        site_id,
        date: q.date,
        slot: q.slot,
        wing,
        items,
    })
}
