//! Alerts raised by missed doses and compliance checks, and their acknowledgement.

use super::*;

pub(super) fn raise_alert(
    conn: &mut AnyConnection,
    actor: &Actor,
    rx: &RxFacts,
    kind: AlertKind,
    message: String,
    dose_record_id: Option<i64>,
    compliance_check_id: Option<i64>,
) -> Result<i64, AppError> {
    let id: i64 = diesel::insert_into(alerts::table)
        .values((
            alerts::site_id.eq(rx.site_id),
            alerts::patient_id.eq(rx.patient_id),
            alerts::prescription_id.eq(rx.id),
            alerts::kind.eq(kind.as_str()),
            alerts::message.eq(&message),
            alerts::dose_record_id.eq(dose_record_id),
            alerts::compliance_check_id.eq(compliance_check_id),
            alerts::raised_at.eq(now()),
        ))
        .returning(alerts::id)
        .get_result(conn)?;
    audit::record(
        conn,
        actor,
        Some(rx.site_id),
        &format!("alert.{kind}"),
        "alert",
        id,
        None,
    )?;
    Ok(id)
}

pub(super) type AlertRow = (
    (i64, i64, i64, String, Option<i64>, String, String),
    (Option<i64>, Option<i64>, NaiveDateTime),
    (Option<i64>, Option<String>, Option<NaiveDateTime>),
);

pub(super) fn alert_views(
    conn: &mut AnyConnection,
    site_id: i64,
    alert_id: Option<i64>,
    only_open: bool,
) -> Result<Vec<AlertView>, AppError> {
    let mut q = alerts::table
        .inner_join(patients::table)
        .left_join(alert_acknowledgements::table)
        .filter(alerts::site_id.eq(site_id))
        .into_boxed();
    if let Some(id) = alert_id {
        q = q.filter(alerts::id.eq(id));
    }
    if only_open {
        q = q.filter(alert_acknowledgements::id.is_null());
    }
    let rows: Vec<AlertRow> = q
        .order(alerts::id.asc())
        .select((
            (
                alerts::id,
                alerts::site_id,
                alerts::patient_id,
                patients::prison_number,
                alerts::prescription_id,
                alerts::kind,
                alerts::message,
            ),
            (
                alerts::dose_record_id,
                alerts::compliance_check_id,
                alerts::raised_at,
            ),
            (
                alert_acknowledgements::acknowledged_by.nullable(),
                alert_acknowledgements::note.nullable(),
                alert_acknowledgements::acknowledged_at.nullable(),
            ),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(a, b, c)| AlertView {
            id: a.0,
            site_id: a.1,
            patient_id: a.2,
            prison_number: a.3,
            prescription_id: a.4,
            kind: AlertKind::from_db(&a.5),
            message: a.6,
            dose_record_id: b.0,
            compliance_check_id: b.1,
            raised_at: b.2,
            acknowledged_by: c.0,
            acknowledgement_note: c.1,
            acknowledged_at: c.2,
        })
        .collect())
}

pub fn alerts_of_site(
    conn: &mut AnyConnection,
    site_id: i64,
    only_open: bool,
) -> Result<AlertList, AppError> {
    Ok(AlertList {
        items: alert_views(conn, site_id, None, only_open)?,
    })
}

pub fn alert_site(conn: &mut AnyConnection, id: i64) -> Result<i64, AppError> {
    alerts::table
        .find(id)
        .select(alerts::site_id)
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("alert"))
}

pub fn acknowledge(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    note: &str,
) -> Result<AlertView, AppError> {
    let site = alert_site(conn, id)?;
    diesel::insert_into(alert_acknowledgements::table)
        .values((
            alert_acknowledgements::alert_id.eq(id),
            alert_acknowledgements::acknowledged_by.eq(actor.user_id),
            alert_acknowledgements::note.eq(note),
            alert_acknowledgements::acknowledged_at.eq(now()),
        ))
        .execute(conn)
        .map_err(crate::db::conflict_on_duplicate(
            "already_acknowledged",
            "this alert has already been acknowledged",
        ))?;
    audit::record(
        conn,
        actor,
        Some(site),
        "alert.acknowledge",
        "alert",
        id,
        None,
    )?;
    alert_views(conn, site, Some(id), false)?
        .pop()
        .ok_or_else(|| AppError::internal("alert vanished"))
}

/// Round clock times as configured: `morning=08:00,lunchtime=12:00,...`.
pub fn parse_round_times(text: &str) -> Result<Vec<(Slot, chrono::NaiveTime)>, AppError> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (slot, time) = pair.trim().split_once('=').ok_or_else(|| {
                AppError::internal(format!("ROUND_TIMES: {pair:?} is not round=HH:MM"))
            })?;
            let slot = Slot::parse(slot.trim())
                .ok_or_else(|| AppError::internal(format!("ROUND_TIMES: no round {slot:?}")))?;
            let time = chrono::NaiveTime::parse_from_str(time.trim(), "%H:%M")
                .map_err(|_| AppError::internal(format!("ROUND_TIMES: {time:?} is not HH:MM")))?;
            Ok((slot, time))
        })
        .collect()
}

/// Raises an alert for every dose of a time-critical medicine (Parkinson's, insulin,
/// anti-epileptics) due today and not recorded `grace_minutes` after its round's clock time;
/// once per due dose, however often it runs. Returns how many it raised.
pub fn alert_late_time_critical(
    conn: &mut AnyConnection,
    now_local: NaiveDateTime,
    round_times: &[(Slot, chrono::NaiveTime)],
    grace_minutes: i64,
) -> Result<usize, AppError> {
    use crate::db::schema::time_critical_alerts as marks;
    let today = now_local.date();
    let grace = chrono::Duration::minutes(grace_minutes);
    let site_ids: Vec<i64> = sites::table.select(sites::id).load(conn)?;
    let mut raised = 0;
    for (slot, at) in round_times {
        let due = today.and_time(*at);
        // Past the grace, and the same day's round (a restart does not alert on old rounds).
        if now_local < due + grace || now_local > due + chrono::Duration::hours(12) {
            continue;
        }
        for site_id in &site_ids {
            let q = RoundQuery {
                date: today,
                slot: *slot,
                location_id: None,
                wing: None,
            };
            let late: Vec<RoundItem> = round(conn, *site_id, &q)?
                .items
                .into_iter()
                .filter(|i| i.time_critical && i.recorded.is_none() && !i.overdue)
                .collect();
            for item in late {
                let message = format!(
                    "time-critical dose of {} for {} due at the {} round ({}) is not recorded {} minutes after it",
                    item.product_name, item.prison_number, slot, at.format("%H:%M"), grace_minutes
                );
                let marked = crate::db::savepoint(conn, |c| {
                    let alert: i64 = diesel::insert_into(alerts::table)
                        .values((
                            alerts::site_id.eq(site_id),
                            alerts::patient_id.eq(item.patient_id),
                            alerts::prescription_id.eq(item.prescription_id),
                            alerts::kind.eq(AlertKind::MissedCritical.as_str()),
                            alerts::message.eq(&message),
                            alerts::raised_at.eq(now()),
                        ))
                        .returning(alerts::id)
                        .get_result(c)?;
                    diesel::insert_into(marks::table)
                        .values((
                            marks::prescription_id.eq(item.prescription_id),
                            marks::scheduled_date.eq(today),
                            marks::slot.eq(slot.as_str()),
                            marks::alert_id.eq(alert),
                        ))
                        .execute(c)?;
                    Ok(alert)
                });
                match marked {
                    Ok(alert) => {
                        audit::record_system(
                            conn,
                            "time-critical-check",
                            Some(*site_id),
                            "alert.time_critical_late",
                            "alert",
                            alert,
                        )?;
                        raised += 1;
                    }
                    // Already alerted for this dose.
                    Err(e) if crate::db::is_duplicate(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(raised)
}
