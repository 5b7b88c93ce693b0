//! A prescription's schedule as the database keeps it: its columns on the prescription, and the
//! steps of a stepped plan in a table of their own.

use diesel::prelude::*;

use crate::db::schema::{prescription_steps, prescriptions};
use crate::db::AnyConnection;
use crate::domain::schedule::{Schedule, ScheduleKind, Step};
use crate::domain::Quantity;
use crate::error::AppError;

/// The columns a schedule is stored in: (kind, every_days, weekdays, day_of_month,
/// min_interval_minutes, start_date, end_date), for reading along with other facts.
pub type StoredSchedule = (
    String,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    chrono::NaiveDate,
    Option<chrono::NaiveDate>,
);

/// A prescription's schedule as stored.
pub fn schedule(conn: &mut AnyConnection, id: i64) -> Result<Schedule, AppError> {
    let stored: StoredSchedule = prescriptions::table
        .find(id)
        .select((
            prescriptions::schedule,
            prescriptions::every_days,
            prescriptions::weekdays,
            prescriptions::day_of_month,
            prescriptions::min_interval_minutes,
            prescriptions::start_date,
            prescriptions::end_date,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("prescription"))?;
    schedule_from(conn, id, stored)
}

/// The schedule from its stored columns; the steps are read only for a stepped plan.
pub fn schedule_from(
    conn: &mut AnyConnection,
    id: i64,
    stored: StoredSchedule,
) -> Result<Schedule, AppError> {
    let (kind, every_days, days, day_of_month, min_interval, start, end) = stored;
    let kind = ScheduleKind::from_db(&kind);
    let steps = if kind == ScheduleKind::Stepped {
        prescription_steps::table
            .filter(prescription_steps::prescription_id.eq(id))
            .order(prescription_steps::seq.asc())
            .select((
                prescription_steps::from_date,
                prescription_steps::to_date,
                prescription_steps::dose,
            ))
            .load::<(chrono::NaiveDate, chrono::NaiveDate, i64)>(conn)?
            .into_iter()
            .map(|(from, to, dose)| Step {
                from,
                to,
                dose: Quantity::from_scaled(dose),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Schedule {
        kind,
        start,
        end,
        every_days,
        days: Schedule::parse_days(days.as_deref()),
        day_of_month,
        steps,
        min_interval_minutes: min_interval,
    })
}
