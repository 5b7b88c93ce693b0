//! Goods receipt against a sent order: every line posts its stock through the ledger (and
//! so into the CD register) in the same transaction as the receipt.

use super::*;

pub(super) fn find_or_create_batch(
    conn: &mut AnyConnection,
    actor: &Actor,
    product_id: i64,
    line: &ReceiptLineRequest,
    i: usize,
) -> Result<i64, AppError> {
    match formulary_queries::batch_by_number(conn, product_id, &line.batch_number)? {
        Some(b) if b.expiry_date != line.expiry_date => Err(AppError::invalid(
            format!("lines[{i}].expiry_date"),
            "matches_batch",
            format!(
                "batch {} is already recorded with expiry {}",
                line.batch_number, b.expiry_date
            ),
        )),
        Some(b) => Ok(b.id),
        None => {
            let req = crate::formulary::model::CreateBatch {
                batch_number: line.batch_number.clone(),
                expiry_date: line.expiry_date,
            };
            Ok(formulary::create_batch(conn, actor, product_id, &req)?.id)
        }
    }
}

/// Receives goods against a sent order. Refuses expired stock and over-receipt (unless a
/// pharmacist accepts it with a reason); warns of short expiry.
pub fn receive(
    conn: &mut AnyConnection,
    actor: &Actor,
    order_id: i64,
    req: &ReceiveGoods,
    may_accept_over_receipt: bool,
    short_expiry_days: i64,
) -> Result<ReceiptView, AppError> {
    let current = order(conn, order_id)?;
    if !current.status.receivable() {
        return Err(AppError::conflict(
            "order_status",
            format!(
                "the order is {}; goods are received only against a sent order",
                current.status
            ),
        ));
    }
    location_at(conn, current.site_id, req.location_id)?;
    let (supplier_name, supplier_address): (String, String) = suppliers::table
        .find(current.supplier_id)
        .select((suppliers::name, suppliers::address))
        .first(conn)?;
    let today = now().date();
    let mut warnings = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in req.lines.iter().enumerate() {
        let field = |name: &str| format!("lines[{i}].{name}");
        if !current.lines.iter().any(|l| l.id == line.order_line_id) {
            return Err(AppError::invalid(
                field("order_line_id"),
                "exists",
                "not a line of this order",
            ));
        }
        if !seen.insert(line.order_line_id) {
            return Err(AppError::invalid(
                field("order_line_id"),
                "unique",
                "each order line once per receipt",
            ));
        }
        if !line.quantity.is_positive() {
            return Err(AppError::invalid(
                field("quantity"),
                "positive",
                "must be greater than zero",
            ));
        }
        if line.expiry_date < today {
            return Err(AppError::invalid(
                field("expiry_date"),
                "not_expired",
                "this batch has already expired: do not accept it",
            ));
        }
        if line.expiry_date < today + chrono::Duration::days(short_expiry_days) {
            warnings.push(Warning {
                field: field("expiry_date"),
                code: "short_expiry".into(),
                message: format!(
                    "expires {} (within {short_expiry_days} days)",
                    line.expiry_date
                ),
            });
        }
    }
    let receipt_id: i64 = diesel::insert_into(goods_receipts::table)
        .values((
            goods_receipts::order_id.eq(order_id),
            goods_receipts::site_id.eq(current.site_id),
            goods_receipts::location_id.eq(req.location_id),
            goods_receipts::received_by.eq(actor.user_id),
            goods_receipts::received_at.eq(now()),
            goods_receipts::note.eq(&req.note),
        ))
        .returning(goods_receipts::id)
        .get_result(conn)?;
    for (i, line) in req.lines.iter().enumerate() {
        let field = |name: &str| format!("lines[{i}].{name}");
        let ordered = current
            .lines
            .iter()
            .find(|l| l.id == line.order_line_id)
            .ok_or_else(|| AppError::internal("order line vanished"))?;
        // Claim the quantity with a guarded update so two receipts at once cannot both over-receive.
        let limit = if line.over_receipt_reason.is_some() {
            i64::MAX
        } else {
            ordered.ordered_quantity.scaled() - line.quantity.scaled()
        };
        let claimed = diesel::update(
            purchase_order_lines::table
                .filter(purchase_order_lines::id.eq(line.order_line_id))
                .filter(purchase_order_lines::received_quantity.le(limit)),
        )
        .set(
            purchase_order_lines::received_quantity
                .eq(purchase_order_lines::received_quantity + line.quantity.scaled()),
        )
        .returning(purchase_order_lines::received_quantity)
        .get_result::<i64>(conn)
        .optional()?;
        let Some(received_now) = claimed else {
            return Err(AppError::conflict(
                "over_receipt",
                format!(
                    "{}: {} ordered, {} already received; receiving {} more needs a pharmacist's over_receipt_reason",
                    ordered.product_name,
                    ordered.ordered_quantity,
                    ordered.received_quantity,
                    line.quantity
                ),
            ));
        };
        let over = received_now > ordered.ordered_quantity.scaled();
        if over && !may_accept_over_receipt {
            return Err(AppError::conflict(
                "over_receipt",
                format!(
                    "{}: more than ordered; only a pharmacist may accept an over-receipt",
                    ordered.product_name
                ),
            ));
        }
        let batch_id = find_or_create_batch(conn, actor, ordered.product_id, line, i)?;
        let mut posting = Posting::new(
            current.site_id,
            req.location_id,
            batch_id,
            line.quantity,
            MovementReason::Receipt,
        );
        posting.reference = Some(("goods_receipt", receipt_id));
        posting.note = Some(format!("purchase order {order_id}"));
        posting.register.counterparty = Some(supplier_name.clone());
        posting.register.counterparty_address = Some(supplier_address.clone());
        let posted = ledger::post(conn, actor, &posting)?;
        let net = received_value(line.quantity, ordered.pack_size, ordered.pack_price)
            .ok_or_else(|| overflow(&field("quantity")))?;
        let vat = line_vat(net, ordered.vat_rate).ok_or_else(|| overflow(&field("quantity")))?;
        diesel::insert_into(goods_receipt_lines::table)
            .values((
                goods_receipt_lines::receipt_id.eq(receipt_id),
                goods_receipt_lines::order_line_id.eq(line.order_line_id),
                goods_receipt_lines::batch_id.eq(batch_id),
                goods_receipt_lines::quantity.eq(line.quantity.scaled()),
                goods_receipt_lines::value_net.eq(net.scaled()),
                goods_receipt_lines::value_vat.eq(vat.scaled()),
                goods_receipt_lines::movement_id.eq(posted.movement_id),
                goods_receipt_lines::over_receipt_reason.eq(if over {
                    line.over_receipt_reason.clone()
                } else {
                    None
                }),
                goods_receipt_lines::over_receipt_accepted_by.eq(over.then_some(actor.user_id)),
            ))
            .execute(conn)?;
    }
    let after = order(conn, order_id)?;
    let complete = after
        .lines
        .iter()
        .all(|l| l.received_quantity.scaled() >= l.ordered_quantity.scaled());
    let status = if complete {
        OrderStatus::Received
    } else {
        OrderStatus::PartlyReceived
    };
    if status != after.status {
        diesel::update(purchase_orders::table.find(order_id))
            .set((
                purchase_orders::status.eq(status.as_str()),
                purchase_orders::updated_at.eq(now()),
            ))
            .execute(conn)?;
    }
    audit::record(
        conn,
        actor,
        Some(current.site_id),
        "goods_receipt.create",
        "goods_receipt",
        receipt_id,
        Some(serde_json::json!({"order_id": order_id, "order_status": status})),
    )?;
    let mut view = receipt(conn, receipt_id)?;
    view.warnings = warnings;
    Ok(view)
}

pub(super) type ReceiptLineRow = (
    i64,
    i64,
    i64,
    i64,
    String,
    NaiveDate,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    Option<i64>,
);

pub fn receipt_site(conn: &mut AnyConnection, id: i64) -> Result<i64, AppError> {
    goods_receipts::table
        .find(id)
        .select(goods_receipts::site_id)
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("goods receipt"))
}

pub fn receipt(conn: &mut AnyConnection, id: i64) -> Result<ReceiptView, AppError> {
    let (rid, order_id, site_id, location_id, received_by, received_at, note): (
        i64,
        i64,
        i64,
        i64,
        i64,
        chrono::NaiveDateTime,
        Option<String>,
    ) = goods_receipts::table
        .find(id)
        .select((
            goods_receipts::id,
            goods_receipts::order_id,
            goods_receipts::site_id,
            goods_receipts::location_id,
            goods_receipts::received_by,
            goods_receipts::received_at,
            goods_receipts::note,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("goods receipt"))?;
    let rows: Vec<ReceiptLineRow> = goods_receipt_lines::table
        .inner_join(batches::table.on(batches::id.eq(goods_receipt_lines::batch_id)))
        .filter(goods_receipt_lines::receipt_id.eq(id))
        .order(goods_receipt_lines::id.asc())
        .select((
            goods_receipt_lines::id,
            goods_receipt_lines::order_line_id,
            batches::product_id,
            goods_receipt_lines::batch_id,
            batches::batch_number,
            batches::expiry_date,
            goods_receipt_lines::quantity,
            goods_receipt_lines::value_net,
            goods_receipt_lines::value_vat,
            goods_receipt_lines::movement_id,
            goods_receipt_lines::over_receipt_reason,
            goods_receipt_lines::over_receipt_accepted_by,
        ))
        .load(conn)?;
    let mut lines = Vec::with_capacity(rows.len());
    for r in rows {
        let register_entry_id = cd_register_entries::table
            .filter(cd_register_entries::movement_id.eq(r.9))
            .select(cd_register_entries::id)
            .first(conn)
            .optional()?;
        lines.push(ReceiptLineView {
            id: r.0,
            order_line_id: r.1,
            product_id: r.2,
            batch_id: r.3,
            batch_number: r.4,
            expiry_date: r.5,
            quantity: Quantity::from_scaled(r.6),
            value_net: Money::from_scaled(r.7),
            value_vat: Money::from_scaled(r.8),
            movement_id: r.9,
            register_entry_id,
            over_receipt_reason: r.10,
            over_receipt_accepted_by: r.11,
        });
    }
    let order_status: String = purchase_orders::table
        .find(order_id)
        .select(purchase_orders::status)
        .first(conn)?;
    Ok(ReceiptView {
        id: rid,
        order_id,
        site_id,
        location_id,
        received_by,
        received_at,
        note,
        value_net: sum_money(lines.iter().map(|l| l.value_net))?,
        value_vat: sum_money(lines.iter().map(|l| l.value_vat))?,
        lines,
        order_status: OrderStatus::from_db(&order_status),
        warnings: Vec::new(),
        invoice: invoice_of(conn, id)?,
    })
}

pub fn receipts_of_order(conn: &mut AnyConnection, order_id: i64) -> Result<ReceiptList, AppError> {
    let ids: Vec<i64> = goods_receipts::table
        .filter(goods_receipts::order_id.eq(order_id))
        .order(goods_receipts::id.asc())
        .select(goods_receipts::id)
        .load(conn)?;
    let items = ids
        .into_iter()
        .map(|id| receipt(conn, id))
        .collect::<Result<_, _>>()?;
    Ok(ReceiptList { items })
}
