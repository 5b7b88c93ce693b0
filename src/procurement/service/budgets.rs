//! Budgets per prison, financial year and service line, and the report of spend against them:
//! received (spent), on open orders (committed), remaining, and a straight-line forecast.

use super::*;
use crate::db::schema::budgets;
use crate::domain::procurement::{financial_year, straight_line_forecast, ServiceLine};

fn year_bounds(year: i64) -> Result<(NaiveDate, NaiveDate), AppError> {
    i32::try_from(year)
        .ok()
        .and_then(financial_year)
        .ok_or_else(|| AppError::invalid("year", "range", "not a financial year kept"))
}

/// Sets (or revises, as a new row) the budget of a service line for a financial year.
pub fn set_budget(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &SetBudget,
) -> Result<BudgetView, AppError> {
    if req.amount.scaled() < 0 {
        return Err(AppError::invalid(
            "amount",
            "non_negative",
            "must not be negative",
        ));
    }
    let id: i64 = diesel::insert_into(budgets::table)
        .values((
            budgets::site_id.eq(site_id),
            budgets::financial_year.eq(req.financial_year),
            budgets::service_line.eq(req.service_line.as_str()),
            budgets::amount.eq(req.amount.scaled()),
            budgets::note.eq(&req.note),
            budgets::set_by.eq(actor.user_id),
            budgets::set_at.eq(now()),
        ))
        .returning(budgets::id)
        .get_result(conn)?;
    audit::record(
        conn,
        actor,
        Some(site_id),
        "budget.set",
        "budget",
        id,
        Some(serde_json::json!({"financial_year": req.financial_year,
            "service_line": req.service_line, "amount": req.amount})),
    )?;
    budgets_of(conn, site_id, req.financial_year)?
        .into_iter()
        .find(|b| b.id == id)
        .ok_or_else(|| AppError::internal("budget vanished after insert"))
}

/// Every budget set for a year, revisions included, newest first.
pub fn budgets_of(
    conn: &mut AnyConnection,
    site_id: i64,
    year: i64,
) -> Result<Vec<BudgetView>, AppError> {
    type Row = (
        i64,
        i64,
        i64,
        String,
        i64,
        Option<String>,
        i64,
        chrono::NaiveDateTime,
    );
    let rows: Vec<Row> = budgets::table
        .filter(budgets::site_id.eq(site_id))
        .filter(budgets::financial_year.eq(year))
        .order(budgets::id.desc())
        .select((
            budgets::id,
            budgets::site_id,
            budgets::financial_year,
            budgets::service_line,
            budgets::amount,
            budgets::note,
            budgets::set_by,
            budgets::set_at,
        ))
        .load(conn)?;
    let mut seen = HashSet::new();
    Ok(rows
        .into_iter()
        .map(|r| BudgetView {
            superseded: !seen.insert(r.3.clone()),
            id: r.0,
            site_id: r.1,
            financial_year: r.2,
            service_line: ServiceLine::from_db(&r.3),
            amount: Money::from_scaled(r.4),
            note: r.5,
            set_by: r.6,
            set_at: r.7,
        })
        .collect())
}

fn month_index(start: NaiveDate, d: NaiveDate) -> usize {
    use chrono::Datelike;
    ((d.year() - start.year()) * 12 + d.month() as i32 - start.month() as i32) as usize
}

/// The year's spend against its budgets, per service line and month.
pub fn budget_report(
    conn: &mut AnyConnection,
    site_id: i64,
    year: i64,
) -> Result<BudgetReport, AppError> {
    use chrono::Datelike;
    let (starts_on, ends_on) = year_bounds(year)?;
    let from = starts_on.and_hms_opt(0, 0, 0).unwrap_or_default();
    let until = (ends_on + chrono::Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    let lines = ServiceLine::ALL;
    let line_of = |s: &str| lines.iter().position(|l| l.as_str() == s).unwrap_or(0);
    let mut spent = vec![[0i64; 12]; lines.len()];
    let mut committed = vec![[0i64; 12]; lines.len()];

    let received: Vec<(chrono::NaiveDateTime, String, i64)> = goods_receipt_lines::table
        .inner_join(goods_receipts::table)
        .inner_join(purchase_order_lines::table.inner_join(products::table))
        .filter(goods_receipts::site_id.eq(site_id))
        .filter(goods_receipts::received_at.ge(from))
        .filter(goods_receipts::received_at.lt(until))
        .select((
            goods_receipts::received_at,
            products::service_line,
            goods_receipt_lines::value_net,
        ))
        .load(conn)?;
    for (at, line, net) in received {
        spent[line_of(&line)][month_index(starts_on, at.date())] += net;
    }

    // Open orders: what each line has still to deliver, at its ordered net price.
    let open = [
        OrderStatus::Approved.as_str(),
        OrderStatus::Sent.as_str(),
        OrderStatus::PartlyReceived.as_str(),
    ];
    type OpenLine = (
        i64,
        Option<chrono::NaiveDateTime>,
        chrono::NaiveDateTime,
        String,
        i64,
    );
    let open_lines: Vec<OpenLine> = purchase_order_lines::table
        .inner_join(purchase_orders::table)
        .inner_join(products::table)
        .filter(purchase_orders::site_id.eq(site_id))
        .filter(purchase_orders::status.eq_any(open))
        .select((
            purchase_order_lines::id,
            purchase_orders::approved_at,
            purchase_orders::created_at,
            products::service_line,
            purchase_order_lines::line_net,
        ))
        .load(conn)?;
    let ids: Vec<i64> = open_lines.iter().map(|l| l.0).collect();
    let mut delivered: BTreeMap<i64, i64> = BTreeMap::new();
    for (line, net) in goods_receipt_lines::table
        .filter(goods_receipt_lines::order_line_id.eq_any(&ids))
        .select((
            goods_receipt_lines::order_line_id,
            goods_receipt_lines::value_net,
        ))
        .load::<(i64, i64)>(conn)?
    {
        *delivered.entry(line).or_insert(0) += net;
    }
    for (id, approved_at, created_at, line, net) in open_lines {
        let at = approved_at.unwrap_or(created_at).date();
        if at < starts_on || at > ends_on {
            continue;
        }
        let outstanding = (net - delivered.get(&id).copied().unwrap_or(0)).max(0);
        committed[line_of(&line)][month_index(starts_on, at)] += outstanding;
    }

    let budgets = budgets_of(conn, site_id, year)?;
    let today = now().date();
    let days_in_year = (ends_on - starts_on).num_days() + 1;
    let days_elapsed = ((today.min(ends_on) - starts_on).num_days() + 1).clamp(0, days_in_year);
    let mut report_lines = Vec::new();
    let mut months = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let budget = budgets
            .iter()
            .find(|b| b.service_line == *line && !b.superseded)
            .map(|b| b.amount.scaled())
            .unwrap_or(0);
        let (mut spent_to_date, mut committed_to_date) = (0i64, 0i64);
        for m in 0..12 {
            spent_to_date += spent[i][m];
            committed_to_date += committed[i][m];
            let first = starts_on
                .checked_add_months(chrono::Months::new(m as u32))
                .unwrap_or(starts_on);
            months.push(BudgetMonth {
                service_line: *line,
                month: format!("{:04}-{:02}", first.year(), first.month()),
                spent: Money::from_scaled(spent[i][m]),
                committed: Money::from_scaled(committed[i][m]),
                remaining: Money::from_scaled(budget - spent_to_date - committed_to_date),
            });
        }
        let forecast = straight_line_forecast(spent_to_date, days_elapsed, days_in_year);
        report_lines.push(BudgetLine {
            service_line: *line,
            budget: Money::from_scaled(budget),
            spent: Money::from_scaled(spent_to_date),
            committed: Money::from_scaled(committed_to_date),
            remaining: Money::from_scaled(budget - spent_to_date - committed_to_date),
            forecast: Money::from_scaled(forecast),
            forecast_variance: Money::from_scaled(budget - forecast),
        });
    }
    Ok(BudgetReport {
        site_id,
        financial_year: year,
        starts_on,
        ends_on,
        as_of: today,
        lines: report_lines,
        months,
    })
}

pub fn budget_report_csv(report: &BudgetReport) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| AppError::internal(format!("csv: {e}"));
    w.write_record([
        "financial_year",
        "service_line",
        "month",
        "budget",
        "spent",
        "committed",
        "remaining",
        "forecast",
    ])
    .map_err(err)?;
    for m in &report.months {
        let line = report
            .lines
            .iter()
            .find(|l| l.service_line == m.service_line);
        w.write_record([
            report.financial_year.to_string(),
            m.service_line.to_string(),
            m.month.clone(),
            line.map(|l| l.budget.to_string()).unwrap_or_default(),
            m.spent.to_string(),
            m.committed.to_string(),
            m.remaining.to_string(),
            line.map(|l| l.forecast.to_string()).unwrap_or_default(),
        ])
        .map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| AppError::internal(e.to_string()))
}
