//! Suppliers and the products they list, at a pack price and lead time.

use super::*;

pub(super) type SupplierRow = (
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
