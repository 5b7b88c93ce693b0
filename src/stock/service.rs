//! Stock operations. Each runs inside one transaction given by the caller, and every change
//! of a balance goes through `ledger::post`.

use std::collections::HashMap;

use diesel::prelude::*;

use super::model::*;
use super::queries::{self, MovementTuple, StocktakeTuple, TransferTuple};
use crate::audit::{self, Actor};
use crate::db::schema::{reorder_levels, stocktake_lines, stocktakes, transfer_lines, transfers};
use crate::db::{now, AnyConnection};
use crate::domain::stock::{
    allocate_fefo, BatchStatus, FefoCandidate, LocationKind, MovementReason,
};
use crate::domain::Quantity;
use crate::error::AppError;
use crate::formulary::service as formulary;
use crate::ledger::{self, Posting};
use crate::sites::service as sites;

/// The location, which must belong to the site (else it is "not found" for this caller).
pub fn location_at(
    conn: &mut AnyConnection,
    site_id: i64,
    location_id: i64,
) -> Result<LocationKind, AppError> {
    let loc = sites::location(conn, location_id)?;
    if loc.site_id != site_id {
        return Err(AppError::not_found("location"));
    }
    Ok(LocationKind::from_db(&loc.kind))
}

/// "Prison name, location name" and the prison's address, as a register entry names a place.
fn place(conn: &mut AnyConnection, location_id: i64) -> Result<(String, String), AppError> {
    let loc = sites::location(conn, location_id)?;
    let site = crate::sites::queries::by_id(conn, loc.site_id)?
        .ok_or_else(|| AppError::not_found("site"))?;
    Ok((format!("{}, {}", site.name, loc.name), site.address))
}

/// 422 unless a quantity is greater than zero.
pub fn require_positive(field: &str, q: Quantity) -> Result<(), AppError> {
    if q.is_positive() {
        Ok(())
    } else {
        Err(AppError::invalid(
            field,
            "positive",
            "must be greater than zero",
        ))
    }
}

pub fn movement_view(t: MovementTuple, running: i64) -> MovementView {
    MovementView {
        id: t.0,
        occurred_at: t.1,
        recorded_at: t.2,
        location_id: t.3,
        batch_id: t.4,
        product_id: t.5,
        reason: MovementReason::from_db(&t.6),
        reason_code: t.7,
        quantity: Quantity::from_scaled(t.8),
        balance_after: Quantity::from_scaled(t.9),
        running_balance: Quantity::from_scaled(running),
        actor_id: t.10,
        reference_type: t.11,
        reference_id: t.12,
        note: t.13,
    }
}

pub fn movement_history(
    conn: &mut AnyConnection,
    site_id: i64,
    f: &MovementFilter,
) -> Result<MovementPage, AppError> {
    if f.product_id.is_none() && f.batch_id.is_none() {
        return Err(AppError::invalid(
            "product_id",
            "required",
            "give product_id or batch_id",
        ));
    }
    if let Some(l) = f.location_id {
        location_at(conn, site_id, l)?;
    }
    let limit = f.limit.unwrap_or(100);
    let (rows, mut running) = queries::movements(conn, site_id, f, limit)?;
    let full = rows.len() as i64 == limit;
    let items: Vec<MovementView> = rows
        .into_iter()
        .map(|t| {
            running += t.8;
            movement_view(t, running)
        })
        .collect();
    let next_after_id = if full {
        items.last().map(|m| m.id)
    } else {
        None
    };
    Ok(MovementPage {
        items,
        next_after_id,
    })
}

pub fn allocation(
    conn: &mut AnyConnection,
    site_id: i64,
    q: &AllocationQuery,
) -> Result<Allocation, AppError> {
    require_positive("quantity", q.quantity)?;
    location_at(conn, site_id, q.location_id)?;
    formulary::product(conn, q.product_id)?;
    let held = queries::held_at(conn, q.location_id, q.product_id)?;
    let names: HashMap<i64, (String, chrono::NaiveDate)> = held
        .iter()
        .map(|(id, number, expiry, _, _)| (*id, (number.clone(), *expiry)))
        .collect();
    let candidates = held
        .into_iter()
        .map(|(batch_id, _, expiry, status, available)| FefoCandidate {
            batch_id,
            expiry,
            status: BatchStatus::from_db(&status),
            available,
        })
        .collect();
    let (picks, shortfall) = allocate_fefo(candidates, q.quantity.scaled(), now().date());
    Ok(Allocation {
        picks: picks
            .into_iter()
            .map(|(batch_id, take)| AllocationPick {
                batch_id,
                batch_number: names[&batch_id].0.clone(),
                expiry_date: names[&batch_id].1,
                quantity: Quantity::from_scaled(take),
            })
            .collect(),
        shortfall: Quantity::from_scaled(shortfall),
    })
}

pub fn adjust(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &AdjustmentRequest,
) -> Result<MovementView, AppError> {
    location_at(conn, site_id, req.location_id)?;
    let reason = match req.reason {
        AdjustmentReason::Adjustment => MovementReason::Adjustment,
        AdjustmentReason::Wastage => MovementReason::Wastage,
        AdjustmentReason::ExpiryWriteOff => MovementReason::ExpiryWriteOff,
    };
    let mut posting = Posting::new(site_id, req.location_id, req.batch_id, req.quantity, reason);
    posting.reason_code = Some(req.reason_code.as_str().to_string());
    posting.note = Some(req.note.clone());
    let posted = ledger::post(conn, actor, &posting)?;
    let f = MovementFilter {
        product_id: None,
        batch_id: Some(req.batch_id),
        location_id: Some(req.location_id),
        after_id: Some(posted.movement_id - 1),
        limit: Some(1),
    };
    let (mut rows, opening) = queries::movements(conn, site_id, &f, 1)?;
    let row = rows
        .pop()
        .ok_or_else(|| AppError::internal("movement vanished after insert"))?;
    let running = opening + row.8;
    Ok(movement_view(row, running))
}

fn transfer_view(conn: &mut AnyConnection, t: TransferTuple) -> Result<TransferView, AppError> {
    let lines = queries::transfer_lines_of(conn, t.0)?
        .into_iter()
        .map(
            |(id, batch_id, product_id, sent, received, note)| TransferLineView {
                id,
                batch_id,
                product_id,
                quantity_sent: Quantity::from_scaled(sent),
                quantity_received: received.map(Quantity::from_scaled),
                discrepancy: received.map(|r| Quantity::from_scaled(sent - r)),
                discrepancy_note: note,
            },
        )
        .collect();
    Ok(TransferView {
        id: t.0,
        from_site_id: t.1,
        from_location_id: t.2,
        to_site_id: t.3,
        to_location_id: t.4,
        status: TransferStatus::from_db(&t.5),
        note: t.6,
        dispatched_by: t.7,
        dispatched_at: t.8,
        received_by: t.9,
        received_at: t.10,
        lines,
    })
}

pub fn transfer(conn: &mut AnyConnection, id: i64) -> Result<TransferView, AppError> {
    let t = queries::transfer(conn, id)?.ok_or_else(|| AppError::not_found("transfer"))?;
    transfer_view(conn, t)
}

pub fn transfers_of_site(
    conn: &mut AnyConnection,
    site_id: i64,
    page: crate::http::PageRequest,
) -> Result<crate::http::Paged<TransferView>, AppError> {
    let rows = queries::transfers_of_site(conn, site_id)?;
    crate::http::Paged::of_keys(rows, page, |t| transfer_view(conn, t))
}

/// Dispatch: stock leaves the sending location now and is in transit until received.
pub fn dispatch(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &CreateTransfer,
    witness_id: Option<i64>,
) -> Result<TransferView, AppError> {
    location_at(conn, site_id, req.from_location_id)?;
    let to = sites::location(conn, req.to_location_id)?;
    if to.id == req.from_location_id {
        return Err(AppError::invalid(
            "to_location_id",
            "different",
            "must differ from the sending location",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, line) in req.lines.iter().enumerate() {
        require_positive(&format!("lines[{i}].quantity"), line.quantity)?;
        if !seen.insert(line.batch_id) {
            return Err(AppError::invalid(
                format!("lines[{i}].batch_id"),
                "unique",
                "each batch once per transfer",
            ));
        }
    }
    let ts = now();
    let id: i64 = diesel::insert_into(transfers::table)
        .values((
            transfers::from_site_id.eq(site_id),
            transfers::from_location_id.eq(req.from_location_id),
            transfers::to_site_id.eq(to.site_id),
            transfers::to_location_id.eq(to.id),
            transfers::status.eq(TransferStatus::InTransit.as_str()),
            transfers::note.eq(&req.note),
            transfers::dispatched_by.eq(actor.user_id),
            transfers::dispatched_at.eq(ts),
        ))
        .returning(transfers::id)
        .get_result(conn)?;
    let (to_label, to_address) = place(conn, to.id)?;
    // Moving recalled or expired stock into quarantine is how it is taken out of use.
    let into_quarantine = LocationKind::from_db(&to.kind) == LocationKind::Quarantine;
    // A stable order of balance updates keeps crossing transfers from deadlocking.
    let mut lines: Vec<&TransferLineRequest> = req.lines.iter().collect();
    lines.sort_by_key(|l| l.batch_id);
    for line in lines {
        let mut posting = Posting::new(
            site_id,
            req.from_location_id,
            line.batch_id,
            -line.quantity,
            MovementReason::TransferOut,
        );
        posting.reference = Some(("transfer", id));
        posting.allow_unusable = into_quarantine;
        posting.register.counterparty = Some(to_label.clone());
        posting.register.counterparty_address = Some(to_address.clone());
        posting.register.witness_id = witness_id;
        let posted = ledger::post(conn, actor, &posting)?;
        diesel::insert_into(transfer_lines::table)
            .values((
                transfer_lines::transfer_id.eq(id),
                transfer_lines::batch_id.eq(line.batch_id),
                transfer_lines::product_id.eq(posted.product_id),
                transfer_lines::quantity_sent.eq(line.quantity.scaled()),
            ))
            .execute(conn)?;
    }
    audit::record(
        conn,
        actor,
        Some(site_id),
        "transfer.dispatch",
        "transfer",
        id,
        Some(serde_json::json!({"to_site_id": to.site_id, "to_location_id": to.id})),
    )?;
    transfer(conn, id)
}

/// Receive at the destination: what arrived goes into stock; any shortfall is recorded on the line.
pub fn receive(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    req: &ReceiveTransfer,
) -> Result<TransferView, AppError> {
    let t = queries::transfer(conn, id)?.ok_or_else(|| AppError::not_found("transfer"))?;
    let (to_site, to_location) = (t.3, t.4);
    // Claim the transfer first, so two people receiving at once cannot both post stock.
    let ts = now();
    let claimed = diesel::update(
        transfers::table
            .filter(transfers::id.eq(id))
            .filter(transfers::status.eq("in_transit")),
    )
    .set((
        transfers::status.eq(TransferStatus::Received.as_str()),
        transfers::received_by.eq(actor.user_id),
        transfers::received_at.eq(ts),
    ))
    .execute(conn)?;
    if claimed == 0 {
        return Err(AppError::conflict(
            "transfer_already_received",
            "this transfer has already been received",
        ));
    }
    let lines = queries::transfer_lines_of(conn, id)?;
    let (from_label, from_address) = place(conn, t.2)?;
    let mut given: HashMap<i64, (usize, &ReceivedLine)> = HashMap::new();
    for (i, l) in req.lines.iter().enumerate() {
        if !lines.iter().any(|(line_id, ..)| *line_id == l.line_id) {
            return Err(AppError::invalid(
                format!("lines[{i}].line_id"),
                "exists",
                "not a line of this transfer",
            ));
        }
        if given.insert(l.line_id, (i, l)).is_some() {
            return Err(AppError::invalid(
                format!("lines[{i}].line_id"),
                "unique",
                "each line once",
            ));
        }
    }
    for (line_id, batch_id, _, sent, _, _) in lines {
        let (received, note) = match given.get(&line_id) {
            Some((i, l)) => {
                let r = l.quantity_received.scaled();
                if r < 0 || r > sent {
                    return Err(AppError::invalid(
                        format!("lines[{i}].quantity_received"),
                        "range",
                        "must be between zero and the quantity sent",
                    ));
                }
                if r != sent && l.discrepancy_note.is_none() {
                    return Err(AppError::invalid(
                        format!("lines[{i}].discrepancy_note"),
                        "required",
                        "explain why the quantity received differs from the quantity sent",
                    ));
                }
                (r, l.discrepancy_note.clone())
            }
            None => (sent, None),
        };
        diesel::update(transfer_lines::table.find(line_id))
            .set((
                transfer_lines::quantity_received.eq(received),
                transfer_lines::discrepancy_note.eq(&note),
            ))
            .execute(conn)?;
        if received > 0 {
            let mut posting = Posting::new(
                to_site,
                to_location,
                batch_id,
                Quantity::from_scaled(received),
                MovementReason::TransferIn,
            );
            posting.reference = Some(("transfer", id));
            posting.register.counterparty = Some(from_label.clone());
            posting.register.counterparty_address = Some(from_address.clone());
            ledger::post(conn, actor, &posting)?;
        }
        if received != sent {
            audit::record(
                conn,
                actor,
                Some(to_site),
                "transfer.discrepancy",
                "transfer_line",
                line_id,
                Some(
                    serde_json::json!({"sent": Quantity::from_scaled(sent), "received": Quantity::from_scaled(received), "note": note}),
                ),
            )?;
        }
    }
    audit::record(
        conn,
        actor,
        Some(to_site),
        "transfer.receive",
        "transfer",
        id,
        None,
    )?;
    transfer(conn, id)
}

fn stocktake_view(conn: &mut AnyConnection, t: StocktakeTuple) -> Result<StocktakeView, AppError> {
    let lines = queries::stocktake_lines_of(conn, t.0)?
        .into_iter()
        .map(
            |(id, batch_id, product_id, snapshot, counted, expected, _)| StocktakeLineView {
                id,
                batch_id,
                product_id,
                snapshot_quantity: Quantity::from_scaled(snapshot),
                counted_quantity: counted.map(Quantity::from_scaled),
                expected_at_count: expected.map(Quantity::from_scaled),
                variance: counted
                    .zip(expected)
                    .map(|(c, e)| Quantity::from_scaled(c - e)),
            },
        )
        .collect();
    Ok(StocktakeView {
        id: t.0,
        site_id: t.1,
        location_id: t.2,
        status: StocktakeStatus::from_db(&t.3),
        note: t.4,
        opened_by: t.5,
        opened_at: t.6,
        closed_by: t.7,
        closed_at: t.8,
        lines,
    })
}

pub fn stocktake(conn: &mut AnyConnection, id: i64) -> Result<StocktakeView, AppError> {
    let t = queries::stocktake(conn, id)?.ok_or_else(|| AppError::not_found("stocktake"))?;
    stocktake_view(conn, t)
}

/// Opens a count of a location, snapshotting every batch it holds.
pub fn open_stocktake(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &OpenStocktake,
) -> Result<StocktakeView, AppError> {
    location_at(conn, site_id, req.location_id)?;
    if queries::open_stocktake_at(conn, req.location_id)?.is_some() {
        return Err(AppError::conflict(
            "stocktake_open",
            "this location already has an open stocktake",
        ));
    }
    let id: i64 = diesel::insert_into(stocktakes::table)
        .values((
            stocktakes::site_id.eq(site_id),
            stocktakes::location_id.eq(req.location_id),
            stocktakes::status.eq("open"),
            stocktakes::note.eq(&req.note),
            stocktakes::opened_by.eq(actor.user_id),
            stocktakes::opened_at.eq(now()),
        ))
        .returning(stocktakes::id)
        .get_result(conn)?;
    let filter = StockFilter {
        location_id: Some(req.location_id),
        product_id: None,
        batch_id: None,
        include_zero: None,
    };
    for line in queries::on_hand(conn, site_id, &filter)? {
        insert_stocktake_line(
            conn,
            id,
            line.batch_id,
            line.product_id,
            line.quantity.scaled(),
        )?;
    }
    audit::record(
        conn,
        actor,
        Some(site_id),
        "stocktake.open",
        "stocktake",
        id,
        None,
    )?;
    stocktake(conn, id)
}

fn insert_stocktake_line(
    conn: &mut AnyConnection,
    stocktake_id: i64,
    batch_id: i64,
    product_id: i64,
    snapshot: i64,
) -> Result<i64, AppError> {
    Ok(diesel::insert_into(stocktake_lines::table)
        .values((
            stocktake_lines::stocktake_id.eq(stocktake_id),
            stocktake_lines::batch_id.eq(batch_id),
            stocktake_lines::product_id.eq(product_id),
            stocktake_lines::snapshot_quantity.eq(snapshot),
        ))
        .returning(stocktake_lines::id)
        .get_result(conn)?)
}

fn open_stocktake_record(conn: &mut AnyConnection, id: i64) -> Result<StocktakeTuple, AppError> {
    let t = queries::stocktake(conn, id)?.ok_or_else(|| AppError::not_found("stocktake"))?;
    if t.3 != "open" {
        return Err(AppError::conflict(
            "stocktake_closed",
            format!("this stocktake is {}", t.3),
        ));
    }
    Ok(t)
}

/// Records counts. Each count is compared with the balance at the moment it is entered, so
/// movements made while the count is in progress are not mistaken for variances.
pub fn record_counts(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
    req: &StocktakeCounts,
) -> Result<StocktakeView, AppError> {
    let t = open_stocktake_record(conn, id)?;
    let lines = queries::stocktake_lines_of(conn, id)?;
    for (i, c) in req.counts.iter().enumerate() {
        if c.counted_quantity.is_negative() {
            return Err(AppError::invalid(
                format!("counts[{i}].counted_quantity"),
                "non_negative",
                "must not be negative",
            ));
        }
        let line_id = match lines.iter().find(|l| l.1 == c.batch_id) {
            Some(l) => l.0,
            // Stock found that the snapshot did not list gets a line of its own.
            None => {
                let batch = formulary::batch(conn, c.batch_id).map_err(|_| {
                    AppError::invalid(format!("counts[{i}].batch_id"), "exists", "no such batch")
                })?;
                insert_stocktake_line(conn, id, batch.id, batch.product_id, 0)?
            }
        };
        let expected = queries::balance(conn, t.2, c.batch_id)?;
        diesel::update(stocktake_lines::table.find(line_id))
            .set((
                stocktake_lines::counted_quantity.eq(c.counted_quantity.scaled()),
                stocktake_lines::expected_at_count.eq(expected),
                stocktake_lines::counted_by.eq(actor.user_id),
                stocktake_lines::counted_at.eq(now()),
            ))
            .execute(conn)?;
    }
    audit::record(
        conn,
        actor,
        Some(t.1),
        "stocktake.count",
        "stocktake",
        id,
        Some(serde_json::json!({"lines": req.counts.len()})),
    )?;
    stocktake(conn, id)
}

/// A pharmacist approves: each variance is posted to the ledger as a stocktake variance.
pub fn approve_stocktake(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
) -> Result<StocktakeView, AppError> {
    let t = open_stocktake_record(conn, id)?;
    let lines = queries::stocktake_lines_of(conn, id)?;
    let uncounted = lines.iter().filter(|l| l.4.is_none()).count();
    if uncounted > 0 {
        return Err(AppError::conflict(
            "stocktake_uncounted",
            format!("{uncounted} lines have not been counted"),
        ));
    }
    for (_, batch_id, product_id, _, counted, expected, counted_by) in lines {
        let variance = counted.unwrap_or(0) - expected.unwrap_or(0);
        if variance == 0 {
            continue;
        }
        // The counter is the second person for a register product's variance, so the one
        // who approves it must be someone else.
        if counted_by == Some(actor.user_id) && formulary::product(conn, product_id)?.cd_register {
            return Err(AppError::invalid(
                "witness",
                "approver_not_counter",
                "the approver of a stocktake of register stock must not be the one who counted it",
            ));
        }
        let mut posting = Posting::new(
            t.1,
            t.2,
            batch_id,
            Quantity::from_scaled(variance),
            MovementReason::StocktakeVariance,
        );
        posting.reference = Some(("stocktake", id));
        posting.register.witness_id = counted_by;
        ledger::post(conn, actor, &posting)?;
    }
    close_stocktake(conn, actor, &t, "approved")
}

pub fn cancel_stocktake(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
) -> Result<StocktakeView, AppError> {
    let t = open_stocktake_record(conn, id)?;
    close_stocktake(conn, actor, &t, "cancelled")
}

fn close_stocktake(
    conn: &mut AnyConnection,
    actor: &Actor,
    t: &StocktakeTuple,
    status: &str,
) -> Result<StocktakeView, AppError> {
    let closed = diesel::update(
        stocktakes::table
            .filter(stocktakes::id.eq(t.0))
            .filter(stocktakes::status.eq("open")),
    )
    .set((
        stocktakes::status.eq(status),
        stocktakes::closed_by.eq(actor.user_id),
        stocktakes::closed_at.eq(now()),
    ))
    .execute(conn)?;
    if closed == 0 {
        return Err(AppError::conflict(
            "stocktake_closed",
            "this stocktake is already closed",
        ));
    }
    audit::record(
        conn,
        actor,
        Some(t.1),
        &format!("stocktake.{status}"),
        "stocktake",
        t.0,
        None,
    )?;
    stocktake(conn, t.0)
}

pub fn set_reorder_level(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &SetReorderLevel,
) -> Result<ReorderLevelView, AppError> {
    formulary::product(conn, req.product_id)?;
    if req.reorder_level.is_negative() {
        return Err(AppError::invalid(
            "reorder_level",
            "non_negative",
            "must not be negative",
        ));
    }
    if req.reorder_quantity.is_negative() {
        return Err(AppError::invalid(
            "reorder_quantity",
            "non_negative",
            "must not be negative",
        ));
    }
    let ts = now();
    let updated = diesel::update(
        reorder_levels::table
            .filter(reorder_levels::site_id.eq(site_id))
            .filter(reorder_levels::product_id.eq(req.product_id)),
    )
    .set((
        reorder_levels::reorder_level.eq(req.reorder_level.scaled()),
        reorder_levels::reorder_quantity.eq(req.reorder_quantity.scaled()),
        reorder_levels::updated_at.eq(ts),
    ))
    .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(reorder_levels::table)
            .values((
                reorder_levels::site_id.eq(site_id),
                reorder_levels::product_id.eq(req.product_id),
                reorder_levels::reorder_level.eq(req.reorder_level.scaled()),
                reorder_levels::reorder_quantity.eq(req.reorder_quantity.scaled()),
                reorder_levels::updated_at.eq(ts),
            ))
            .execute(conn)?;
    }
    audit::record(
        conn,
        actor,
        Some(site_id),
        "reorder_level.set",
        "product",
        req.product_id,
        Some(
            serde_json::json!({"reorder_level": req.reorder_level, "reorder_quantity": req.reorder_quantity}),
        ),
    )?;
    Ok(ReorderLevelView {
        site_id,
        product_id: req.product_id,
        reorder_level: req.reorder_level,
        reorder_quantity: req.reorder_quantity,
    })
}

/// What is below its reorder level, with a suggestion of whole packs that brings usable stock
/// back above the level and is at least the usual order quantity.
pub fn reorder_report(conn: &mut AnyConnection, site_id: i64) -> Result<ReorderReport, AppError> {
    let mut usable: HashMap<i64, i64> = HashMap::new();
    for (product_id, qty) in queries::usable_by_product(conn, site_id, now().date())? {
        *usable.entry(product_id).or_default() += qty;
    }
    let mut items = Vec::new();
    for (product_id, level, usual, name, unit, pack) in queries::reorder_levels_of(conn, site_id)? {
        let on_hand = usable.get(&product_id).copied().unwrap_or(0);
        if on_hand >= level {
            continue;
        }
        let wanted = (level - on_hand).max(usual);
        let packs = (wanted + pack - 1) / pack;
        items.push(ReorderLine {
            product_id,
            product_name: name,
            unit,
            on_hand: Quantity::from_scaled(on_hand),
            reorder_level: Quantity::from_scaled(level),
            suggested_quantity: Quantity::from_scaled(packs * pack),
            pack_size: Quantity::from_scaled(pack),
            suggested_packs: packs,
        });
    }
    Ok(ReorderReport { site_id, items })
}
