//! Kits: their contents lists, checks, openings and restocks. Each write runs in the caller's
//! transaction; stock moves only through `ledger::post`.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::model::*;
use crate::audit::{self, Actor};
use crate::db::schema::{
    batches, emergency_kit_check_items, emergency_kit_checks, emergency_kit_contents,
    emergency_kit_event_movements, emergency_kit_events, emergency_kits, locations, products,
    stock_balances, stock_movements,
};
use crate::db::{conflict_on_duplicate, now, AnyConnection};
use crate::domain::register::bounded_occurred_at;
use crate::domain::stock::MovementReason;
use crate::domain::Quantity;
use crate::error::AppError;
use crate::ledger::{self, Posting};
use crate::stock::model::AllocationQuery;
use crate::stock::service::{allocation, location_at, require_positive};

/// Checks fall due weekly unless the kit says otherwise.
pub const DEFAULT_CHECK_INTERVAL_DAYS: i64 = 7;
/// How far back a check or an opening may be entered.
const BACKDATE_DAYS: i64 = 7;

/// (id, site, location, kind, interval, created at)
type KitRow = (i64, i64, i64, String, i64, NaiveDateTime);

fn kit_row(conn: &mut AnyConnection, site_id: i64, kit_id: i64) -> Result<KitRow, AppError> {
    emergency_kits::table
        .find(kit_id)
        .filter(emergency_kits::site_id.eq(site_id))
        .select((
            emergency_kits::id,
            emergency_kits::site_id,
            emergency_kits::location_id,
            emergency_kits::kind,
            emergency_kits::check_interval_days,
            emergency_kits::created_at,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("emergency kit"))
}

/// 422 unless the list names each product once, every one an active product kept outside the
/// CD register (register stock lives only in CD cabinets), each with a positive quantity.
fn check_items(conn: &mut AnyConnection, field: &str, items: &[KitItem]) -> Result<(), AppError> {
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        require_positive(&format!("{field}[{i}].quantity"), item.quantity)?;
        if !seen.insert(item.product_id) {
            return Err(AppError::invalid(
                format!("{field}[{i}].product_id"),
                "unique",
                "each product is listed once",
            ));
        }
        let product: Option<(bool, String)> = products::table
            .find(item.product_id)
            .select((products::cd_register, products::status))
            .first(conn)
            .optional()?;
        match product {
            None => {
                return Err(AppError::invalid(
                    format!("{field}[{i}].product_id"),
                    "exists",
                    "no such product",
                ))
            }
            Some((true, _)) => {
                return Err(AppError::invalid(
                    format!("{field}[{i}].product_id"),
                    "not_cd_register",
                    "register-tracked controlled drugs are kept in CD cabinets, not emergency kits",
                ))
            }
            Some((_, status)) if status != "active" => {
                return Err(AppError::invalid(
                    format!("{field}[{i}].product_id"),
                    "active",
                    "the product is retired",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The products on a kit's contents list.
fn listed_products(conn: &mut AnyConnection, kit_id: i64) -> Result<HashSet<i64>, AppError> {
    Ok(emergency_kit_contents::table
        .filter(emergency_kit_contents::kit_id.eq(kit_id))
        .select(emergency_kit_contents::product_id)
        .load::<i64>(conn)?
        .into_iter()
        .collect())
}

/// 422 unless every product named is on the kit's contents list.
fn require_on_list(
    conn: &mut AnyConnection,
    kit_id: i64,
    field: &str,
    products: impl IntoIterator<Item = i64>,
) -> Result<HashSet<i64>, AppError> {
    let listed = listed_products(conn, kit_id)?;
    for (i, product) in products.into_iter().enumerate() {
        if !listed.contains(&product) {
            return Err(AppError::invalid(
                format!("{field}[{i}].product_id"),
                "in_kit",
                "not on this kit's contents list",
            ));
        }
    }
    Ok(listed)
}

fn write_contents(
    conn: &mut AnyConnection,
    kit_id: i64,
    contents: &[KitItem],
) -> Result<(), AppError> {
    diesel::delete(emergency_kit_contents::table.filter(emergency_kit_contents::kit_id.eq(kit_id)))
        .execute(conn)?;
    for item in contents {
        diesel::insert_into(emergency_kit_contents::table)
            .values((
                emergency_kit_contents::kit_id.eq(kit_id),
                emergency_kit_contents::product_id.eq(item.product_id),
                emergency_kit_contents::quantity.eq(item.quantity.scaled()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn contents_json(contents: &[KitItem]) -> serde_json::Value {
    contents
        .iter()
        .map(|c| serde_json::json!({"product_id": c.product_id, "quantity": c.quantity}))
        .collect()
}

/// Makes a location an emergency kit with its contents list.
pub fn create_kit(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &CreateKit,
) -> Result<KitView, AppError> {
    location_at(conn, site_id, req.location_id)?;
    crate::sites::queries::lock_location(conn, req.location_id)?;
    let cabinet: bool = locations::table
        .find(req.location_id)
        .select(locations::cd_cabinet)
        .first(conn)?;
    if cabinet {
        return Err(AppError::invalid(
            "location_id",
            "not_cd_cabinet",
            "a CD cabinet keeps the register; an emergency kit is a location of its own",
        ));
    }
    check_items(conn, "contents", &req.contents)?;
    let interval = req
        .check_interval_days
        .unwrap_or(DEFAULT_CHECK_INTERVAL_DAYS);
    let id: i64 = diesel::insert_into(emergency_kits::table)
        .values((
            emergency_kits::site_id.eq(site_id),
            emergency_kits::location_id.eq(req.location_id),
            emergency_kits::kind.eq(req.kind.as_str()),
            emergency_kits::check_interval_days.eq(interval),
            emergency_kits::created_by.eq(actor.user_id),
            emergency_kits::created_at.eq(now()),
        ))
        .returning(emergency_kits::id)
        .get_result(conn)
        .map_err(conflict_on_duplicate(
            "already_a_kit",
            "this location is already an emergency kit",
        ))?;
    write_contents(conn, id, &req.contents)?;
    audit::record(
        conn,
        actor,
        Some(site_id),
        "emergency_kit.create",
        "emergency_kit",
        id,
        Some(
            serde_json::json!({"kind": req.kind, "location_id": req.location_id,
            "check_interval_days": interval, "contents": contents_json(&req.contents)}),
        ),
    )?;
    kit(conn, site_id, id)
}

/// Replaces a kit's contents list (and its check interval, when given).
pub fn set_contents(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    kit_id: i64,
    req: &SetContents,
) -> Result<KitView, AppError> {
    kit_row(conn, site_id, kit_id)?;
    check_items(conn, "contents", &req.contents)?;
    write_contents(conn, kit_id, &req.contents)?;
    if let Some(days) = req.check_interval_days {
        diesel::update(emergency_kits::table.find(kit_id))
            .set(emergency_kits::check_interval_days.eq(days))
            .execute(conn)?;
    }
    audit::record(
        conn,
        actor,
        Some(site_id),
        "emergency_kit.contents",
        "emergency_kit",
        kit_id,
        Some(serde_json::json!({"contents": contents_json(&req.contents),
            "check_interval_days": req.check_interval_days})),
    )?;
    kit(conn, site_id, kit_id)
}

/// A kit with its contents, state, seal and when its next check falls due.
pub fn kit(conn: &mut AnyConnection, site_id: i64, kit_id: i64) -> Result<KitView, AppError> {
    let row = kit_row(conn, site_id, kit_id)?;
    kit_view(conn, row, now())
}

fn kit_view(
    conn: &mut AnyConnection,
    (id, site_id, location_id, kind, interval, created_at): KitRow,
    at: NaiveDateTime,
) -> Result<KitView, AppError> {
    let (location_code, location_name): (String, String) = locations::table
        .find(location_id)
        .select((locations::code, locations::name))
        .first(conn)?;
    let held: HashMap<i64, i64> = stock_balances::table
        .filter(stock_balances::location_id.eq(location_id))
        .select((stock_balances::product_id, stock_balances::quantity))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .fold(HashMap::new(), |mut m, (p, q)| {
            *m.entry(p).or_insert(0) += q;
            m
        });
    let contents = emergency_kit_contents::table
        .inner_join(products::table)
        .filter(emergency_kit_contents::kit_id.eq(id))
        .order(products::name.asc())
        .select((
            emergency_kit_contents::product_id,
            products::name,
            products::unit,
            emergency_kit_contents::quantity,
        ))
        .load::<(i64, String, String, i64)>(conn)?
        .into_iter()
        .map(|(product_id, product_name, unit, q)| KitContentView {
            product_id,
            product_name,
            unit,
            quantity: Quantity::from_scaled(q),
            held: Quantity::from_scaled(held.get(&product_id).copied().unwrap_or(0)),
        })
        .collect();
    let last_check: Option<(i64, NaiveDateTime, bool, String)> = emergency_kit_checks::table
        .filter(emergency_kit_checks::kit_id.eq(id))
        .order((
            emergency_kit_checks::checked_at.desc(),
            emergency_kit_checks::id.desc(),
        ))
        .select((
            emergency_kit_checks::id,
            emergency_kit_checks::checked_at,
            emergency_kit_checks::complete,
            emergency_kit_checks::seal_number,
        ))
        .first(conn)
        .optional()?;
    let last_event: Option<(String, String, NaiveDateTime)> = emergency_kit_events::table
        .filter(emergency_kit_events::kit_id.eq(id))
        .order(emergency_kit_events::id.desc())
        .select((
            emergency_kit_events::kind,
            emergency_kit_events::seal_number,
            emergency_kit_events::occurred_at,
        ))
        .first(conn)
        .optional()?;
    // The latest of the last check and the last event says what state the kit is in.
    let (state, seal_number) = match (&last_check, &last_event) {
        (_, Some((kind, _, at)))
            if kind == KitEventKind::Opened.as_str()
                && last_check.as_ref().is_none_or(|c| c.1 <= *at) =>
        {
            (KitState::Open, None)
        }
        (Some(check), Some((_, seal, at))) if check.1 <= *at => {
            (KitState::Sealed, Some(seal.clone()))
        }
        (Some(check), _) => (KitState::Sealed, Some(check.3.clone())),
        (None, Some((_, seal, _))) => (KitState::Sealed, Some(seal.clone())),
        (None, None) => (KitState::Unchecked, None),
    };
    let next_check_due =
        last_check.as_ref().map(|c| c.1).unwrap_or(created_at) + Duration::days(interval);
    Ok(KitView {
        id,
        site_id,
        location_id,
        location_code,
        location_name,
        kind: KitKind::from_db(&kind),
        check_interval_days: interval,
        contents,
        state,
        seal_number,
        last_check_id: last_check.as_ref().map(|c| c.0),
        last_checked_at: last_check.as_ref().map(|c| c.1),
        last_check_complete: last_check.as_ref().map(|c| c.2),
        next_check_due,
        overdue: next_check_due < at,
    })
}

/// Every kit of a prison, by location code.
pub fn kits(conn: &mut AnyConnection, site_id: i64) -> Result<Vec<KitView>, AppError> {
    let rows: Vec<KitRow> = emergency_kits::table
        .inner_join(locations::table)
        .filter(emergency_kits::site_id.eq(site_id))
        .order(locations::code.asc())
        .select((
            emergency_kits::id,
            emergency_kits::site_id,
            emergency_kits::location_id,
            emergency_kits::kind,
            emergency_kits::check_interval_days,
            emergency_kits::created_at,
        ))
        .load(conn)?;
    let at = now();
    rows.into_iter().map(|r| kit_view(conn, r, at)).collect()
}

/// Kits whose check is overdue now, the longest overdue first.
pub fn overdue_checks(conn: &mut AnyConnection, site_id: i64) -> Result<Vec<KitView>, AppError> {
    let mut overdue: Vec<KitView> = kits(conn, site_id)?
        .into_iter()
        .filter(|k| k.overdue)
        .collect();
    overdue.sort_by_key(|k| (k.next_check_due, k.id));
    Ok(overdue)
}

fn occurred(field: &str, t: Option<NaiveDateTime>) -> Result<NaiveDateTime, AppError> {
    match t {
        Some(t) => bounded_occurred_at(t, now(), BACKDATE_DAYS)
            .map_err(|(rule, msg)| AppError::invalid(field, rule, msg)),
        None => Ok(now()),
    }
}

/// Records a check of the seal and of every item on the contents list.
pub fn record_check(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    kit_id: i64,
    req: &KitCheckRequest,
) -> Result<KitCheckView, AppError> {
    kit_row(conn, site_id, kit_id)?;
    let listed = require_on_list(
        conn,
        kit_id,
        "items",
        req.items.iter().map(|i| i.product_id),
    )?;
    let mut seen = HashSet::new();
    for (i, item) in req.items.iter().enumerate() {
        if !seen.insert(item.product_id) {
            return Err(AppError::invalid(
                format!("items[{i}].product_id"),
                "unique",
                "each product is checked once",
            ));
        }
    }
    if let Some(missing) = listed.iter().find(|p| !seen.contains(p)) {
        return Err(AppError::invalid(
            "items",
            "covers_contents",
            format!("every product on the contents list is checked; product {missing} is not"),
        ));
    }
    let checked_at = occurred("checked_at", req.checked_at)?;
    let complete = req.seal_intact && req.items.iter().all(|i| i.present && i.in_date);
    let recorded_at = now();
    let id: i64 = diesel::insert_into(emergency_kit_checks::table)
        .values((
            emergency_kit_checks::kit_id.eq(kit_id),
            emergency_kit_checks::site_id.eq(site_id),
            emergency_kit_checks::seal_number.eq(&req.seal_number),
            emergency_kit_checks::seal_intact.eq(req.seal_intact),
            emergency_kit_checks::complete.eq(complete),
            emergency_kit_checks::note.eq(&req.note),
            emergency_kit_checks::checked_by.eq(actor.user_id),
            emergency_kit_checks::checked_at.eq(checked_at),
            emergency_kit_checks::recorded_at.eq(recorded_at),
        ))
        .returning(emergency_kit_checks::id)
        .get_result(conn)?;
    for item in &req.items {
        diesel::insert_into(emergency_kit_check_items::table)
            .values((
                emergency_kit_check_items::check_id.eq(id),
                emergency_kit_check_items::product_id.eq(item.product_id),
                emergency_kit_check_items::present.eq(item.present),
                emergency_kit_check_items::in_date.eq(item.in_date),
            ))
            .execute(conn)?;
    }
    audit::record(
        conn,
        actor,
        Some(site_id),
        "emergency_kit.check",
        "emergency_kit",
        kit_id,
        Some(
            serde_json::json!({"check_id": id, "complete": complete, "seal_number": req.seal_number}),
        ),
    )?;
    Ok(checks_by_id(conn, &[id])?.remove(0))
}

fn checks_by_id(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<KitCheckView>, AppError> {
    type CheckRow = (
        i64,
        i64,
        String,
        bool,
        bool,
        Option<String>,
        i64,
        NaiveDateTime,
        NaiveDateTime,
    );
    let rows: Vec<CheckRow> = emergency_kit_checks::table
        .filter(emergency_kit_checks::id.eq_any(ids))
        .order((
            emergency_kit_checks::checked_at.desc(),
            emergency_kit_checks::id.desc(),
        ))
        .select((
            emergency_kit_checks::id,
            emergency_kit_checks::kit_id,
            emergency_kit_checks::seal_number,
            emergency_kit_checks::seal_intact,
            emergency_kit_checks::complete,
            emergency_kit_checks::note,
            emergency_kit_checks::checked_by,
            emergency_kit_checks::checked_at,
            emergency_kit_checks::recorded_at,
        ))
        .load(conn)?;
    let mut items: HashMap<i64, Vec<CheckedItemView>> = HashMap::new();
    for (check, product_id, present, in_date) in emergency_kit_check_items::table
        .filter(emergency_kit_check_items::check_id.eq_any(ids))
        .order(emergency_kit_check_items::product_id.asc())
        .select((
            emergency_kit_check_items::check_id,
            emergency_kit_check_items::product_id,
            emergency_kit_check_items::present,
            emergency_kit_check_items::in_date,
        ))
        .load::<(i64, i64, bool, bool)>(conn)?
    {
        items.entry(check).or_default().push(CheckedItemView {
            product_id,
            present,
            in_date,
        });
    }
    Ok(rows
        .into_iter()
        .map(|r| KitCheckView {
            items: items.remove(&r.0).unwrap_or_default(),
            id: r.0,
            kit_id: r.1,
            seal_number: r.2,
            seal_intact: r.3,
            complete: r.4,
            note: r.5,
            checked_by: r.6,
            checked_at: r.7,
            recorded_at: r.8,
        })
        .collect())
}

/// A kit's checks, newest first.
pub fn checks(
    conn: &mut AnyConnection,
    site_id: i64,
    kit_id: i64,
) -> Result<Vec<KitCheckView>, AppError> {
    kit_row(conn, site_id, kit_id)?;
    let ids: Vec<i64> = emergency_kit_checks::table
        .filter(emergency_kit_checks::kit_id.eq(kit_id))
        .select(emergency_kit_checks::id)
        .load(conn)?;
    checks_by_id(conn, &ids)
}

/// Takes a quantity of a product from a location first expiry first out, or refuses.
fn fefo(
    conn: &mut AnyConnection,
    site_id: i64,
    location_id: i64,
    field: &str,
    item: &KitItem,
) -> Result<Vec<(i64, Quantity)>, AppError> {
    let q = AllocationQuery {
        location_id,
        product_id: item.product_id,
        quantity: item.quantity,
    };
    let a = allocation(conn, site_id, &q)?;
    if a.shortfall.is_positive() {
        return Err(AppError::conflict(
            "insufficient_stock",
            format!(
                "{field}: {} short of product {} at this location",
                a.shortfall, item.product_id
            ),
        ));
    }
    Ok(a.picks
        .into_iter()
        .map(|p| (p.batch_id, p.quantity))
        .collect())
}

struct NewEvent<'a> {
    kind: KitEventKind,
    seal_number: &'a str,
    patient_id: Option<i64>,
    note: Option<&'a str>,
    occurred_at: NaiveDateTime,
}

fn insert_event(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    kit_id: i64,
    e: &NewEvent,
) -> Result<i64, AppError> {
    Ok(diesel::insert_into(emergency_kit_events::table)
        .values((
            emergency_kit_events::kit_id.eq(kit_id),
            emergency_kit_events::site_id.eq(site_id),
            emergency_kit_events::kind.eq(e.kind.as_str()),
            emergency_kit_events::seal_number.eq(e.seal_number),
            emergency_kit_events::patient_id.eq(e.patient_id),
            emergency_kit_events::note.eq(e.note),
            emergency_kit_events::recorded_by.eq(actor.user_id),
            emergency_kit_events::occurred_at.eq(e.occurred_at),
            emergency_kit_events::recorded_at.eq(now()),
        ))
        .returning(emergency_kit_events::id)
        .get_result(conn)?)
}

fn post_linked(
    conn: &mut AnyConnection,
    actor: &Actor,
    event_id: i64,
    mut posting: Posting,
) -> Result<(), AppError> {
    posting.reference = Some(("emergency_kit_event", event_id));
    let posted = ledger::post(conn, actor, &posting)?;
    diesel::insert_into(emergency_kit_event_movements::table)
        .values((
            emergency_kit_event_movements::event_id.eq(event_id),
            emergency_kit_event_movements::movement_id.eq(posted.movement_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a kit opened: its seal broken and what was used, given to the patient if known.
/// What was used leaves the kit's stock as given doses.
pub fn open_kit(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    kit_id: i64,
    req: &OpenKit,
) -> Result<KitEventView, AppError> {
    let (_, _, location_id, ..) = kit_row(conn, site_id, kit_id)?;
    check_items(conn, "items_used", &req.items_used)?;
    require_on_list(
        conn,
        kit_id,
        "items_used",
        req.items_used.iter().map(|i| i.product_id),
    )?;
    if let Some(patient) = req.patient_id {
        crate::patients::service::patient_named_at(conn, site_id, patient, "patient_id")?;
    }
    let occurred_at = occurred("occurred_at", req.occurred_at)?;
    let id = insert_event(
        conn,
        actor,
        site_id,
        kit_id,
        &NewEvent {
            kind: KitEventKind::Opened,
            seal_number: &req.seal_number,
            patient_id: req.patient_id,
            note: req.note.as_deref(),
            occurred_at,
        },
    )?;
    for (i, item) in req.items_used.iter().enumerate() {
        for (batch, quantity) in fefo(
            conn,
            site_id,
            location_id,
            &format!("items_used[{i}]"),
            item,
        )? {
            let mut p = Posting::new(
                site_id,
                location_id,
                batch,
                -quantity,
                MovementReason::DoseGiven,
            );
            p.reason_code = Some("emergency_kit".into());
            p.occurred_at = Some(occurred_at);
            post_linked(conn, actor, id, p)?;
        }
    }
    audit::record(
        conn,
        actor,
        Some(site_id),
        "emergency_kit.open",
        "emergency_kit",
        kit_id,
        Some(
            serde_json::json!({"event_id": id, "seal_number": req.seal_number,
            "patient_id": req.patient_id, "items_used": contents_json(&req.items_used)}),
        ),
    )?;
    event(conn, site_id, kit_id, id)
}

/// Restocks a kit from another location of the prison and reseals it.
pub fn restock_kit(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    kit_id: i64,
    req: &RestockKit,
) -> Result<KitEventView, AppError> {
    let (_, _, location_id, ..) = kit_row(conn, site_id, kit_id)?;
    location_at(conn, site_id, req.from_location_id).map_err(|_| {
        AppError::invalid(
            "from_location_id",
            "at_site",
            "no location of this prison has this id",
        )
    })?;
    if req.from_location_id == location_id {
        return Err(AppError::invalid(
            "from_location_id",
            "other_location",
            "a kit is restocked from another location",
        ));
    }
    check_items(conn, "items", &req.items)?;
    require_on_list(
        conn,
        kit_id,
        "items",
        req.items.iter().map(|i| i.product_id),
    )?;
    let id = insert_event(
        conn,
        actor,
        site_id,
        kit_id,
        &NewEvent {
            kind: KitEventKind::Restocked,
            seal_number: &req.seal_number,
            patient_id: None,
            note: req.note.as_deref(),
            occurred_at: now(),
        },
    )?;
    for (i, item) in req.items.iter().enumerate() {
        let picks = fefo(
            conn,
            site_id,
            req.from_location_id,
            &format!("items[{i}]"),
            item,
        )?;
        for (batch, quantity) in picks {
            for (location, signed, reason) in [
                (req.from_location_id, -quantity, MovementReason::TransferOut),
                (location_id, quantity, MovementReason::TransferIn),
            ] {
                let mut p = Posting::new(site_id, location, batch, signed, reason);
                p.reason_code = Some("emergency_kit_restock".into());
                post_linked(conn, actor, id, p)?;
            }
        }
    }
    audit::record(
        conn,
        actor,
        Some(site_id),
        "emergency_kit.restock",
        "emergency_kit",
        kit_id,
        Some(
            serde_json::json!({"event_id": id, "seal_number": req.seal_number,
            "items": contents_json(&req.items)}),
        ),
    )?;
    event(conn, site_id, kit_id, id)
}

fn events_by_id(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<KitEventView>, AppError> {
    type EventRow = (
        i64,
        i64,
        String,
        String,
        Option<i64>,
        Option<String>,
        i64,
        NaiveDateTime,
    );
    let rows: Vec<EventRow> = emergency_kit_events::table
        .filter(emergency_kit_events::id.eq_any(ids))
        .order(emergency_kit_events::id.desc())
        .select((
            emergency_kit_events::id,
            emergency_kit_events::kit_id,
            emergency_kit_events::kind,
            emergency_kit_events::seal_number,
            emergency_kit_events::patient_id,
            emergency_kit_events::note,
            emergency_kit_events::recorded_by,
            emergency_kit_events::occurred_at,
        ))
        .load(conn)?;
    let mut moves: HashMap<i64, Vec<KitMovementView>> = HashMap::new();
    for (event, movement_id, location_id, product_id, batch_id, q) in
        emergency_kit_event_movements::table
            .inner_join(stock_movements::table)
            .filter(emergency_kit_event_movements::event_id.eq_any(ids))
            .order(stock_movements::id.asc())
            .select((
                emergency_kit_event_movements::event_id,
                stock_movements::id,
                stock_movements::location_id,
                stock_movements::product_id,
                stock_movements::batch_id,
                stock_movements::quantity,
            ))
            .load::<(i64, i64, i64, i64, i64, i64)>(conn)?
    {
        moves.entry(event).or_default().push(KitMovementView {
            movement_id,
            location_id,
            product_id,
            batch_id,
            quantity: Quantity::from_scaled(q),
        });
    }
    Ok(rows
        .into_iter()
        .map(|r| KitEventView {
            movements: moves.remove(&r.0).unwrap_or_default(),
            id: r.0,
            kit_id: r.1,
            kind: KitEventKind::from_db(&r.2),
            seal_number: r.3,
            patient_id: r.4,
            note: r.5,
            recorded_by: r.6,
            occurred_at: r.7,
        })
        .collect())
}

fn event(
    conn: &mut AnyConnection,
    site_id: i64,
    kit_id: i64,
    id: i64,
) -> Result<KitEventView, AppError> {
    kit_row(conn, site_id, kit_id)?;
    events_by_id(conn, &[id])?
        .pop()
        .ok_or_else(|| AppError::internal("kit event vanished after insert"))
}

/// A kit's openings and restocks, newest first.
pub fn events(
    conn: &mut AnyConnection,
    site_id: i64,
    kit_id: i64,
) -> Result<Vec<KitEventView>, AppError> {
    kit_row(conn, site_id, kit_id)?;
    let ids: Vec<i64> = emergency_kit_events::table
        .filter(emergency_kit_events::kit_id.eq(kit_id))
        .select(emergency_kit_events::id)
        .load(conn)?;
    events_by_id(conn, &ids)
}

/// Stock in any kit of the prison expiring within `days` (already expired included), soonest first.
pub fn expiring(
    conn: &mut AnyConnection,
    site_id: i64,
    days: i64,
) -> Result<Vec<ExpiringKitItem>, AppError> {
    let today = now().date();
    let until = today + Duration::days(days);
    type Row = (
        i64,
        String,
        String,
        i64,
        String,
        i64,
        String,
        chrono::NaiveDate,
        i64,
    );
    let rows: Vec<Row> = stock_balances::table
        .inner_join(
            emergency_kits::table.on(emergency_kits::location_id.eq(stock_balances::location_id)),
        )
        .inner_join(locations::table.on(locations::id.eq(stock_balances::location_id)))
        .inner_join(batches::table.on(batches::id.eq(stock_balances::batch_id)))
        .inner_join(products::table.on(products::id.eq(stock_balances::product_id)))
        .filter(emergency_kits::site_id.eq(site_id))
        .filter(stock_balances::quantity.gt(0))
        .filter(batches::expiry_date.le(until))
        .order((
            batches::expiry_date.asc(),
            locations::code.asc(),
            batches::id.asc(),
        ))
        .select((
            emergency_kits::id,
            emergency_kits::kind,
            locations::code,
            products::id,
            products::name,
            batches::id,
            batches::batch_number,
            batches::expiry_date,
            stock_balances::quantity,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| ExpiringKitItem {
            kit_id: r.0,
            kit_kind: KitKind::from_db(&r.1),
            location_code: r.2,
            product_id: r.3,
            product_name: r.4,
            batch_id: r.5,
            batch_number: r.6,
            expiry_date: r.7,
            quantity: Quantity::from_scaled(r.8),
            days_left: (r.7 - today).num_days(),
        })
        .collect())
}
