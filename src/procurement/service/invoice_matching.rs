//! Invoices matched against goods received.

use super::*;

pub(super) fn invoice_of(
    conn: &mut AnyConnection,
    receipt_id: i64,
) -> Result<Option<InvoiceView>, AppError> {
    let Some((id, number, net, vat, by, at)) = invoices::table
        .filter(invoices::receipt_id.eq(receipt_id))
        .select((
            invoices::id,
            invoices::invoice_number,
            invoices::net_amount,
            invoices::vat_amount,
            invoices::recorded_by,
            invoices::recorded_at,
        ))
        .first::<(i64, String, i64, i64, i64, chrono::NaiveDateTime)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let (expected_net, expected_vat): (i64, i64) = goods_receipt_lines::table
        .filter(goods_receipt_lines::receipt_id.eq(receipt_id))
        .select((
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(value_net), 0) AS BIGINT)",
            ),
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(value_vat), 0) AS BIGINT)",
            ),
        ))
        .first(conn)?;
    let price_differences = invoice_lines::table
        .inner_join(
            goods_receipt_lines::table
                .on(goods_receipt_lines::id.eq(invoice_lines::receipt_line_id)),
        )
        .inner_join(
            purchase_order_lines::table
                .on(purchase_order_lines::id.eq(goods_receipt_lines::order_line_id)),
        )
        .filter(invoice_lines::invoice_id.eq(id))
        .order(invoice_lines::id.asc())
        .select((
            invoice_lines::receipt_line_id,
            purchase_order_lines::product_id,
            purchase_order_lines::pack_price,
            invoice_lines::pack_price,
        ))
        .load::<(i64, i64, i64, i64)>(conn)?
        .into_iter()
        .map(|(line, product_id, ordered, invoiced)| PriceDifference {
            receipt_line_id: line,
            product_id,
            ordered_pack_price: Money::from_scaled(ordered),
            invoiced_pack_price: Money::from_scaled(invoiced),
            difference_per_pack: Money::from_scaled(invoiced - ordered),
        })
        .collect();
    Ok(Some(InvoiceView {
        id,
        receipt_id,
        invoice_number: number,
        net_amount: Money::from_scaled(net),
        vat_amount: Money::from_scaled(vat),
        gross_amount: Money::from_scaled(net + vat),
        expected_net: Money::from_scaled(expected_net),
        expected_vat: Money::from_scaled(expected_vat),
        net_difference: Money::from_scaled(net - expected_net),
        vat_difference: Money::from_scaled(vat - expected_vat),
        price_differences,
        recorded_by: by,
        recorded_at: at,
    }))
}

pub fn record_invoice(
    conn: &mut AnyConnection,
    actor: &Actor,
    receipt_id: i64,
    req: &RecordInvoice,
) -> Result<InvoiceView, AppError> {
    let site_id = receipt_site(conn, receipt_id)?;
    for (field, amount) in [
        ("net_amount", req.net_amount),
        ("vat_amount", req.vat_amount),
    ] {
        if amount.is_negative() {
            return Err(AppError::invalid(
                field,
                "non_negative",
                "must not be negative",
            ));
        }
    }
    let receipt_lines: HashSet<i64> = goods_receipt_lines::table
        .filter(goods_receipt_lines::receipt_id.eq(receipt_id))
        .select(goods_receipt_lines::id)
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    let mut seen = HashSet::new();
    for (i, l) in req.lines.iter().enumerate() {
        if !receipt_lines.contains(&l.receipt_line_id) || !seen.insert(l.receipt_line_id) {
            return Err(AppError::invalid(
                format!("lines[{i}].receipt_line_id"),
                "exists",
                "not a line of this receipt, or given twice",
            ));
        }
        if l.pack_price.is_negative() {
            return Err(AppError::invalid(
                format!("lines[{i}].pack_price"),
                "non_negative",
                "must not be negative",
            ));
        }
    }
    let id: i64 = diesel::insert_into(invoices::table)
        .values((
            invoices::receipt_id.eq(receipt_id),
            invoices::invoice_number.eq(&req.invoice_number),
            invoices::net_amount.eq(req.net_amount.scaled()),
            invoices::vat_amount.eq(req.vat_amount.scaled()),
            invoices::recorded_by.eq(actor.user_id),
            invoices::recorded_at.eq(now()),
        ))
        .returning(invoices::id)
        .get_result(conn)
        .map_err(conflict_on_duplicate(
            "invoice_exists",
            "an invoice is already recorded for this receipt",
        ))?;
    for l in &req.lines {
        diesel::insert_into(invoice_lines::table)
            .values((
                invoice_lines::invoice_id.eq(id),
                invoice_lines::receipt_line_id.eq(l.receipt_line_id),
                invoice_lines::pack_price.eq(l.pack_price.scaled()),
            ))
            .execute(conn)?;
    }
    audit::record(
        conn,
        actor,
        Some(site_id),
        "invoice.record",
        "invoice",
        id,
        Some(serde_json::json!({"receipt_id": receipt_id, "invoice_number": req.invoice_number})),
    )?;
    invoice_of(conn, receipt_id)?.ok_or_else(|| AppError::internal("invoice vanished"))
}
