//! Spend: goods received at the ordered prices, by supplier, site and period, and as CSV.

use super::*;

/// (supplier id, supplier, site id, site code, received at, receipt id, net, VAT)
pub(super) type SpendSourceRow = (
    i64,
    String,
    i64,
    String,
    chrono::NaiveDateTime,
    i64,
    i64,
    i64,
);
/// (supplier id, site id, net, VAT, receipts)
pub(super) type SpendGroup = (i64, i64, i64, i64, HashSet<i64>);

/// Goods received at the ordered prices, by supplier, site and period.
pub fn spend(
    conn: &mut AnyConnection,
    visible_sites: &[i64],
    q: &SpendQuery,
) -> Result<SpendReport, AppError> {
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if to < from {
            return Err(AppError::invalid(
                "to",
                "after_from",
                "must not be before from",
            ));
        }
    }
    let mut query = goods_receipt_lines::table
        .inner_join(goods_receipts::table)
        .inner_join(purchase_orders::table.on(purchase_orders::id.eq(goods_receipts::order_id)))
        .inner_join(suppliers::table.on(suppliers::id.eq(purchase_orders::supplier_id)))
        .inner_join(sites::table.on(sites::id.eq(goods_receipts::site_id)))
        .into_boxed();
    query = match q.site_id {
        Some(site) => query.filter(goods_receipts::site_id.eq(site)),
        None => query.filter(goods_receipts::site_id.eq_any(visible_sites.to_vec())),
    };
    if let Some(s) = q.supplier_id {
        query = query.filter(purchase_orders::supplier_id.eq(s));
    }
    if let Some(from) = q.from {
        query = query
            .filter(goods_receipts::received_at.ge(from.and_hms_opt(0, 0, 0).unwrap_or_default()));
    }
    if let Some(to) = q.to.and_then(|d| d.succ_opt()) {
        query = query
            .filter(goods_receipts::received_at.lt(to.and_hms_opt(0, 0, 0).unwrap_or_default()));
    }
    let rows: Vec<SpendSourceRow> = query
        .select((
            suppliers::id,
            suppliers::name,
            sites::id,
            sites::code,
            goods_receipts::received_at,
            goods_receipts::id,
            goods_receipt_lines::value_net,
            goods_receipt_lines::value_vat,
        ))
        .load(conn)?;
    let format = match q.period.unwrap_or(SpendPeriod::Month) {
        SpendPeriod::Month => "%Y-%m",
        SpendPeriod::Day => "%Y-%m-%d",
    };
    let mut groups: BTreeMap<(String, String, String), SpendGroup> = BTreeMap::new();
    for (supplier_id, supplier_name, site_id, site_code, at, receipt, net, vat) in rows {
        let period = at.format(format).to_string();
        let g = groups.entry((period, supplier_name, site_code)).or_insert((
            supplier_id,
            site_id,
            0,
            0,
            HashSet::new(),
        ));
        g.2 += net;
        g.3 += vat;
        g.4.insert(receipt);
    }
    let rows: Vec<SpendRow> = groups
        .into_iter()
        .map(
            |((period, supplier_name, site_code), (supplier_id, site_id, net, vat, receipts))| {
                SpendRow {
                    supplier_id,
                    supplier_name,
                    site_id,
                    site_code,
                    period,
                    net: Money::from_scaled(net),
                    vat: Money::from_scaled(vat),
                    gross: Money::from_scaled(net + vat),
                    receipts: receipts.len() as i64,
                }
            },
        )
        .collect();
    Ok(SpendReport {
        net_total: sum_money(rows.iter().map(|r| r.net))?,
        vat_total: sum_money(rows.iter().map(|r| r.vat))?,
        gross_total: sum_money(rows.iter().map(|r| r.gross))?,
        rows,
    })
}

pub fn spend_csv(report: &SpendReport) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| AppError::internal(format!("csv: {e}"));
    w.write_record([
        "period",
        "supplier_id",
        "supplier",
        "site_id",
        "site",
        "receipts",
        "net",
        "vat",
        "gross",
    ])
    .map_err(err)?;
    for r in &report.rows {
        w.write_record([
            r.period.clone(),
            r.supplier_id.to_string(),
            r.supplier_name.clone(),
            r.site_id.to_string(),
            r.site_code.clone(),
            r.receipts.to_string(),
            r.net.to_string(),
            r.vat.to_string(),
            r.gross.to_string(),
        ])
        .map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| AppError::internal(e.to_string()))
}
