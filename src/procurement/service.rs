//! Suppliers, purchase orders, goods receipt and invoices. Every receipt posts its stock
//! through the ledger (and so into the CD register for register-tracked products) in the same
//! transaction as the receipt itself: all of it or none of it.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use diesel::prelude::*;

use super::model::*;
use crate::audit::{self, Actor};
use crate::db::schema::{
    batches, cd_register_entries, goods_receipt_lines, goods_receipts, invoice_lines, invoices,
    products, purchase_order_lines, purchase_orders, sites, supplier_products, suppliers,
};
use crate::db::{conflict_on_duplicate, now, AnyConnection};
use crate::domain::procurement::{line_net, line_vat, received_value, OrderStatus};
use crate::domain::stock::{CdSchedule, MovementReason};
use crate::domain::{Money, Percent, Quantity};
use crate::error::AppError;
use crate::formulary::{queries as formulary_queries, service as formulary};
use crate::ledger::{self, Posting};
use crate::stock::service::location_at;

fn overflow(field: &str) -> AppError {
    AppError::invalid(field, "range", "the amount is too large")
}

fn sum_money(values: impl IntoIterator<Item = Money>) -> Result<Money, AppError> {
    values
        .into_iter()
        .try_fold(Money::ZERO, |a, b| a.checked_add(b))
        .ok_or_else(|| overflow("total"))
}

// ---- suppliers ----

type SupplierRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
);

pub fn supplier(conn: &mut AnyConnection, id: i64) -> Result<SupplierView, AppError> {
    let row: SupplierRow = suppliers::table
        .find(id)
        .select((
            suppliers::id,
            suppliers::name,
            suppliers::address,
            suppliers::wholesale_dealer_licence,
            suppliers::contact_name,
            suppliers::contact_email,
            suppliers::contact_phone,
            suppliers::active,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("supplier"))?;
    let products = supplier_products::table
        .inner_join(products::table)
        .filter(supplier_products::supplier_id.eq(id))
        .order(products::name.asc())
        .select((
            supplier_products::product_id,
            products::name,
            supplier_products::pack_price,
            supplier_products::lead_time_days,
        ))
        .load::<(i64, String, i64, i64)>(conn)?
        .into_iter()
        .map(
            |(product_id, product_name, price, lead)| SupplierProductView {
                product_id,
                product_name,
                pack_price: Money::from_scaled(price),
                lead_time_days: lead,
            },
        )
        .collect();
    Ok(SupplierView {
        id: row.0,
        name: row.1,
        address: row.2,
        wholesale_dealer_licence: row.3,
        contact_name: row.4,
        contact_email: row.5,
        contact_phone: row.6,
        active: row.7,
        products,
    })
}

pub fn suppliers(conn: &mut AnyConnection) -> Result<SupplierList, AppError> {
    let ids: Vec<i64> = suppliers::table
        .order(suppliers::name.asc())
        .select(suppliers::id)
        .load(conn)?;
    let items = ids
        .into_iter()
        .map(|id| supplier(conn, id))
        .collect::<Result<_, _>>()?;
    Ok(SupplierList { items })
}

pub fn create_supplier(
    conn: &mut AnyConnection,
    actor: &Actor,
    req: &SupplierRequest,
) -> Result<SupplierView, AppError> {
    let ts = now();
    let id: i64 = diesel::insert_into(suppliers::table)
        .values((
            suppliers::name.eq(&req.name),
            suppliers::address.eq(&req.address),
            suppliers::wholesale_dealer_licence.eq(&req.wholesale_dealer_licence),
            suppliers::contact_name.eq(&req.contact_name),
            suppliers::contact_email.eq(&req.contact_email),
            suppliers::contact_phone.eq(&req.contact_phone),
            suppliers::active.eq(req.active.unwrap_or(true)),
            suppliers::created_at.eq(ts),
            suppliers::updated_at.eq(ts),
        ))
        .returning(suppliers::id)
        .get_result(conn)
        .map_err(conflict_on_duplicate(
            "supplier_exists",
            "a supplier with this name exists",
        ))?;
    audit::record(conn, actor, None, "supplier.create", "supplier", id, None)?;
    supplier(conn, id)
}

pub fn update_supplier(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    req: &SupplierRequest,
) -> Result<SupplierView, AppError> {
    supplier(conn, id)?;
    diesel::update(suppliers::table.find(id))
        .set((
            suppliers::name.eq(&req.name),
            suppliers::address.eq(&req.address),
            suppliers::wholesale_dealer_licence.eq(&req.wholesale_dealer_licence),
            suppliers::contact_name.eq(&req.contact_name),
            suppliers::contact_email.eq(&req.contact_email),
            suppliers::contact_phone.eq(&req.contact_phone),
            suppliers::active.eq(req.active.unwrap_or(true)),
            suppliers::updated_at.eq(now()),
        ))
        .execute(conn)
        .map_err(conflict_on_duplicate(
            "supplier_exists",
            "a supplier with this name exists",
        ))?;
    audit::record(conn, actor, None, "supplier.update", "supplier", id, None)?;
    supplier(conn, id)
}

/// Lists a product with the supplier at a pack price and lead time (replacing any listing).
pub fn set_supplier_product(
    conn: &mut AnyConnection,
    actor: &Actor,
    supplier_id: i64,
    req: &SupplierProductRequest,
) -> Result<SupplierView, AppError> {
    supplier(conn, supplier_id)?;
    formulary::named_product(conn, "product_id", req.product_id)?;
    if req.pack_price.is_negative() {
        return Err(AppError::invalid(
            "pack_price",
            "non_negative",
            "must not be negative",
        ));
    }
    let ts = now();
    let updated = diesel::update(
        supplier_products::table
            .filter(supplier_products::supplier_id.eq(supplier_id))
            .filter(supplier_products::product_id.eq(req.product_id)),
    )
    .set((
        supplier_products::pack_price.eq(req.pack_price.scaled()),
        supplier_products::lead_time_days.eq(req.lead_time_days),
        supplier_products::updated_at.eq(ts),
    ))
    .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(supplier_products::table)
            .values((
                supplier_products::supplier_id.eq(supplier_id),
                supplier_products::product_id.eq(req.product_id),
                supplier_products::pack_price.eq(req.pack_price.scaled()),
                supplier_products::lead_time_days.eq(req.lead_time_days),
                supplier_products::updated_at.eq(ts),
            ))
            .execute(conn)?;
    }
    audit::record(
        conn,
        actor,
        None,
        "supplier.product",
        "supplier",
        supplier_id,
        Some(
            serde_json::json!({"product_id": req.product_id, "pack_price": req.pack_price, "lead_time_days": req.lead_time_days}),
        ),
    )?;
    supplier(conn, supplier_id)
}

// ---- purchase orders ----

/// (id, product, name, schedule, pack size, packs, pack price, VAT rate, net, VAT, FP10CDF, received)
type OrderLineRow = (
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

type OrderRow = (
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
fn transition(
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

// ---- goods receipt ----

fn find_or_create_batch(
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

type ReceiptLineRow = (
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

// ---- invoices ----

fn invoice_of(conn: &mut AnyConnection, receipt_id: i64) -> Result<Option<InvoiceView>, AppError> {
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

// ---- spend ----

/// (supplier id, supplier, site id, site code, received at, receipt id, net, VAT)
type SpendSourceRow = (
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
type SpendGroup = (i64, i64, i64, i64, HashSet<i64>);

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
