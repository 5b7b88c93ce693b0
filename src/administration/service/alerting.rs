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
