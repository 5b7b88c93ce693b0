//! Purchase orders: drafting, approval, sending (with the FP10CDF for schedule 1-3
//! controlled drugs), cancelling, and raising drafts from the reorder report.

use super::*;

/// (id, product, name, schedule, pack size, packs, pack price, VAT rate, net, VAT, FP10CDF, received)
pub(super) type OrderLineRow = (
    i64,
    i64,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    i64,
);

pub(super) type OrderRow = (
    (
        i64,
        i64,
        i64,
        String,
        Option<String>,
        i64,
        chrono::NaiveDateTime,
    ),
    (
        Option<i64>,
        Option<chrono::NaiveDateTime>,
        Option<i64>,
        Option<chrono::NaiveDateTime>,
        Option<i64>,
        Option<chrono::NaiveDateTime>,
        Option<String>,
    ),
    String,
);

pub fn order(conn: &mut AnyConnection, id: i64) -> Result<OrderView, AppError> {
    let (head, flow, supplier_name): OrderRow = purchase_orders::table
        .inner_join(suppliers::table)
        .filter(purchase_orders::id.eq(id))
        .select((
            (
                purchase_orders::id,
                purchase_orders::site_id,
                purchase_orders::supplier_id,
                purchase_orders::status,
                purchase_orders::note,
                purchase_orders::created_by,
                purchase_orders::created_at,
            ),
            (
                purchase_orders::approved_by,
                purchase_orders::approved_at,
                purchase_orders::sent_by,
                purchase_orders::sent_at,
                purchase_orders::cancelled_by,
                purchase_orders::cancelled_at,
                purchase_orders::cancel_reason,
            ),
            suppliers::name,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("purchase order"))?;
    let rows: Vec<OrderLineRow> = purchase_order_lines::table
        .inner_join(products::table)
        .filter(purchase_order_lines::order_id.eq(id))
        .order(purchase_order_lines::id.asc())
        .select((
            purchase_order_lines::id,
            purchase_order_lines::product_id,
            products::name,
            products::cd_schedule,
            products::pack_size,
            purchase_order_lines::packs,
            purchase_order_lines::pack_price,
            purchase_order_lines::vat_rate,
            purchase_order_lines::line_net,
            purchase_order_lines::line_vat,
            purchase_order_lines::fp10cdf_reference,
            purchase_order_lines::received_quantity,
        ))
        .load(conn)?;
    let lines: Vec<OrderLineView> = rows
        .into_iter()
        .map(
            |(
                lid,
                product_id,
                name,
                schedule,
                pack,
                packs,
                price,
                rate,
                net,
                vat,
                fp10,
                received,
            )| {
                let ordered = pack * packs;
                OrderLineView {
                    id: lid,
                    product_id,
                    product_name: name,
                    cd_schedule: schedule,
                    packs,
                    pack_size: Quantity::from_scaled(pack),
                    ordered_quantity: Quantity::from_scaled(ordered),
                    received_quantity: Quantity::from_scaled(received),
                    outstanding_quantity: Quantity::from_scaled((ordered - received).max(0)),
                    pack_price: Money::from_scaled(price),
                    vat_rate: Percent::from_scaled(rate),
                    line_net: Money::from_scaled(net),
                    line_vat: Money::from_scaled(vat),
                    line_total: Money::from_scaled(net + vat),
                    fp10cdf_reference: fp10,
                }
            },
        )
        .collect();
    let net_total = sum_money(lines.iter().map(|l| l.line_net))?;
    let vat_total = sum_money(lines.iter().map(|l| l.line_vat))?;
    Ok(OrderView {
        id: head.0,
        site_id: head.1,
        supplier_id: head.2,
        supplier_name,
        status: OrderStatus::from_db(&head.3),
        note: head.4,
        created_by: head.5,
        created_at: head.6,
        approved_by: flow.0,
        approved_at: flow.1,
        sent_by: flow.2,
        sent_at: flow.3,
        cancelled_by: flow.4,
        cancelled_at: flow.5,
        cancel_reason: flow.6,
        net_total,
        vat_total,
        total: net_total
            .checked_add(vat_total)
            .ok_or_else(|| overflow("total"))?,
        lines,
    })
}

pub fn order_site(conn: &mut AnyConnection, id: i64) -> Result<i64, AppError> {
    purchase_orders::table
        .find(id)
        .select(purchase_orders::site_id)
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("purchase order"))
}

pub fn orders(
    conn: &mut AnyConnection,
    site_id: i64,
    f: &OrderFilter,
    page: crate::http::PageRequest,
) -> Result<crate::http::Paged<OrderView>, AppError> {
    let mut q = purchase_orders::table
        .filter(purchase_orders::site_id.eq(site_id))
        .into_boxed();
    if let Some(status) = f.status {
        q = q.filter(purchase_orders::status.eq(status.as_str()));
    }
    if let Some(s) = f.supplier_id {
        q = q.filter(purchase_orders::supplier_id.eq(s));
    }
    let ids: Vec<i64> = q
        .order(purchase_orders::id.desc())
        .select(purchase_orders::id)
        .load(conn)?;
    crate::http::Paged::of_keys(ids, page, |id| order(conn, id))
}

pub fn create_order(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &CreateOrder,
) -> Result<OrderView, AppError> {
    let active: bool = suppliers::table
        .find(req.supplier_id)
        .select(suppliers::active)
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::invalid("supplier_id", "exists", "no such supplier"))?;
    if !active {
        return Err(AppError::invalid(
            "supplier_id",
            "active",
            "this supplier is inactive",
        ));
    }
    let ts = now();
    let id: i64 = diesel::insert_into(purchase_orders::table)
        .values((
            purchase_orders::site_id.eq(site_id),
            purchase_orders::supplier_id.eq(req.supplier_id),
            purchase_orders::status.eq(OrderStatus::Draft.as_str()),
            purchase_orders::note.eq(&req.note),
            purchase_orders::created_by.eq(actor.user_id),
            purchase_orders::created_at.eq(ts),
            purchase_orders::updated_at.eq(ts),
        ))
        .returning(purchase_orders::id)
        .get_result(conn)?;
    let mut seen = HashSet::new();
    for (i, line) in req.lines.iter().enumerate() {
        let field = |name: &str| format!("lines[{i}].{name}");
        if !seen.insert(line.product_id) {
            return Err(AppError::invalid(
                field("product_id"),
                "unique",
                "each product once per order",
            ));
        }
        let listed: Option<i64> = supplier_products::table
            .filter(supplier_products::supplier_id.eq(req.supplier_id))
            .filter(supplier_products::product_id.eq(line.product_id))
            .select(supplier_products::pack_price)
            .first(conn)
            .optional()?;
        let price = match (line.pack_price, listed) {
            (Some(p), _) => p,
            (None, Some(p)) => Money::from_scaled(p),
            (None, None) => {
                return Err(AppError::invalid(
                    field("pack_price"),
                    "required",
                    "the supplier does not list this product; give the pack price",
                ))
            }
        };
        formulary::named_product(conn, &field("product_id"), line.product_id)?;
        if price.is_negative() {
            return Err(AppError::invalid(
                field("pack_price"),
                "non_negative",
                "must not be negative",
            ));
        }
        let rate = line.vat_rate.unwrap_or(Percent::ZERO);
        if rate.is_negative() || rate.scaled() > 10_000 {
            return Err(AppError::invalid(
                field("vat_rate"),
                "range",
                "must be between 0 and 100 percent",
            ));
        }
        let net = line_net(line.packs, price).ok_or_else(|| overflow(&field("packs")))?;
        let vat = line_vat(net, rate).ok_or_else(|| overflow(&field("packs")))?;
        diesel::insert_into(purchase_order_lines::table)
            .values((
                purchase_order_lines::order_id.eq(id),
                purchase_order_lines::product_id.eq(line.product_id),
                purchase_order_lines::packs.eq(line.packs),
                purchase_order_lines::pack_price.eq(price.scaled()),
                purchase_order_lines::vat_rate.eq(rate.scaled()),
                purchase_order_lines::line_net.eq(net.scaled()),
                purchase_order_lines::line_vat.eq(vat.scaled()),
                purchase_order_lines::fp10cdf_reference.eq(&line.fp10cdf_reference),
                purchase_order_lines::received_quantity.eq(0),
            ))
            .execute(conn)?;
    }
    audit::record(
        conn,
        actor,
        Some(site_id),
        "purchase_order.create",
        "purchase_order",
        id,
        Some(serde_json::json!({"supplier_id": req.supplier_id})),
    )?;
    order(conn, id)
}

/// Moves an order from one status to the next, or answers 409 naming where it is.
pub(super) fn transition(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    from: &[OrderStatus],
    to: OrderStatus,
    reason: Option<&str>,
) -> Result<OrderView, AppError> {
    let current = order(conn, id)?;
    let ts = now();
    let from_db: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let target = purchase_orders::table
        .filter(purchase_orders::id.eq(id))
        .filter(purchase_orders::status.eq_any(from_db));
    let changed = match to {
        OrderStatus::Approved => diesel::update(target)
            .set((
                purchase_orders::status.eq(to.as_str()),
                purchase_orders::approved_by.eq(actor.user_id),
                purchase_orders::approved_at.eq(ts),
                purchase_orders::updated_at.eq(ts),
            ))
            .execute(conn)?,
        OrderStatus::Sent => diesel::update(target)
            .set((
                purchase_orders::status.eq(to.as_str()),
                purchase_orders::sent_by.eq(actor.user_id),
                purchase_orders::sent_at.eq(ts),
                purchase_orders::updated_at.eq(ts),
            ))
            .execute(conn)?,
        OrderStatus::Cancelled => diesel::update(target)
            .set((
                purchase_orders::status.eq(to.as_str()),
                purchase_orders::cancelled_by.eq(actor.user_id),
                purchase_orders::cancelled_at.eq(ts),
                purchase_orders::cancel_reason.eq(reason),
                purchase_orders::updated_at.eq(ts),
            ))
            .execute(conn)?,
        _ => diesel::update(target)
            .set((
                purchase_orders::status.eq(to.as_str()),
                purchase_orders::updated_at.eq(ts),
            ))
            .execute(conn)?,
    };
    if changed == 0 {
        return Err(AppError::conflict(
            "order_status",
            format!("the order is {}; it cannot become {to}", current.status),
        ));
    }
    audit::record(
        conn,
        actor,
        Some(current.site_id),
        &format!("purchase_order.{to}"),
        "purchase_order",
        id,
        reason.map(|r| serde_json::json!({"reason": r})),
    )?;
    order(conn, id)
}

pub fn approve(conn: &mut AnyConnection, actor: &Actor, id: i64) -> Result<OrderView, AppError> {
    transition(
        conn,
        actor,
        id,
        &[OrderStatus::Draft],
        OrderStatus::Approved,
        None,
    )
}

/// An order for schedule 1-3 controlled drugs goes only with its FP10CDF requisition.
pub fn send(conn: &mut AnyConnection, actor: &Actor, id: i64) -> Result<OrderView, AppError> {
    let current = order(conn, id)?;
    if current.status != OrderStatus::Approved {
        return Err(AppError::conflict(
            "order_status",
            format!(
                "the order is {}; only an approved order is sent",
                current.status
            ),
        ));
    }
    for (i, line) in current.lines.iter().enumerate() {
        let schedule = CdSchedule::from_db(&line.cd_schedule);
        let needs = matches!(schedule, CdSchedule::S1 | CdSchedule::S2 | CdSchedule::S3);
        if needs && line.fp10cdf_reference.is_none() {
            return Err(AppError::invalid(
                format!("lines[{i}].fp10cdf_reference"),
                "required_for_controlled_drugs",
                format!(
                    "{} is a schedule {} controlled drug: record the FP10CDF requisition before sending",
                    line.product_name, line.cd_schedule
                ),
            ));
        }
    }
    transition(
        conn,
        actor,
        id,
        &[OrderStatus::Approved],
        OrderStatus::Sent,
        None,
    )
}

pub fn cancel(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    reason: &str,
) -> Result<OrderView, AppError> {
    transition(
        conn,
        actor,
        id,
        &[OrderStatus::Draft, OrderStatus::Approved, OrderStatus::Sent],
        OrderStatus::Cancelled,
        Some(reason),
    )
}

pub fn set_requisition(
    conn: &mut AnyConnection,
    actor: &Actor,
    order_id: i64,
    line_id: i64,
    reference: &str,
) -> Result<OrderView, AppError> {
    let current = order(conn, order_id)?;
    if !matches!(current.status, OrderStatus::Draft | OrderStatus::Approved) {
        return Err(AppError::conflict(
            "order_status",
            format!(
                "the order is {}; its requisitions are fixed",
                current.status
            ),
        ));
    }
    let changed = diesel::update(
        purchase_order_lines::table
            .filter(purchase_order_lines::id.eq(line_id))
            .filter(purchase_order_lines::order_id.eq(order_id)),
    )
    .set(purchase_order_lines::fp10cdf_reference.eq(reference))
    .execute(conn)?;
    if changed == 0 {
        return Err(AppError::not_found("order line"));
    }
    audit::record(
        conn,
        actor,
        Some(current.site_id),
        "purchase_order.requisition",
        "purchase_order_line",
        line_id,
        Some(serde_json::json!({"fp10cdf_reference": reference})),
    )?;
    order(conn, order_id)
}

/// One draft order per supplier for everything below its reorder level, from the cheapest
/// active supplier listing each product (then the shortest lead time). Products already on an
/// open order are left out, so raising twice does not order twice.
pub fn raise_from_reorder_report(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
) -> Result<RaisedOrders, AppError> {
    let report = crate::stock::service::reorder_report(conn, site_id)?;
    let open = [
        OrderStatus::Draft,
        OrderStatus::Approved,
        OrderStatus::Sent,
        OrderStatus::PartlyReceived,
    ]
    .map(|s| s.as_str());
    let on_order: HashSet<i64> = purchase_order_lines::table
        .inner_join(purchase_orders::table)
        .filter(purchase_orders::site_id.eq(site_id))
        .filter(purchase_orders::status.eq_any(open))
        .select(purchase_order_lines::product_id)
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    let mut by_supplier: BTreeMap<i64, Vec<OrderLineRequest>> = BTreeMap::new();
    let mut unsourced = Vec::new();
    let mut already = Vec::new();
    for item in &report.items {
        if on_order.contains(&item.product_id) {
            already.push(item.product_id);
            continue;
        }
        let best: Option<(i64, i64)> = supplier_products::table
            .inner_join(suppliers::table)
            .filter(supplier_products::product_id.eq(item.product_id))
            .filter(suppliers::active.eq(true))
            .order((
                supplier_products::pack_price.asc(),
                supplier_products::lead_time_days.asc(),
                suppliers::id.asc(),
            ))
            .select((suppliers::id, supplier_products::pack_price))
            .first(conn)
            .optional()?;
        match best {
            Some((supplier_id, price)) => {
                by_supplier
                    .entry(supplier_id)
                    .or_default()
                    .push(OrderLineRequest {
                        product_id: item.product_id,
                        packs: item.suggested_packs,
                        pack_price: Some(Money::from_scaled(price)),
                        vat_rate: None,
                        fp10cdf_reference: None,
                    })
            }
            None => unsourced.push(item.product_id),
        }
    }
    let mut orders = Vec::new();
    for (supplier_id, lines) in by_supplier {
        let req = CreateOrder {
            supplier_id,
            lines,
            note: Some("raised from the reorder report".into()),
        };
        orders.push(create_order(conn, actor, site_id, &req)?);
    }
    Ok(RaisedOrders {
        orders,
        unsourced_product_ids: unsourced,
        already_on_order_product_ids: already,
    })
}
