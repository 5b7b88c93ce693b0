//! The controlled drug register: appending entries to a page's hash chain, verifying the chain,
//! witnessed destruction, corrections, balance checks and patients' returned CDs.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::*;
use super::queries;
use crate::audit::{self, Actor};
use crate::db::schema::{
    batches, cd_balance_checks, cd_check_resolutions, cd_patient_return_destructions,
    cd_patient_returns, products,
};
use crate::db::{conflict_on_duplicate, now, AnyConnection};
use crate::domain::stock::{CdSchedule, MovementReason};
use crate::domain::Quantity;
use crate::error::AppError;
use crate::ledger::register as chain;
use crate::ledger::{self, Posting};
use crate::patients::service::check_prison_number;
use crate::stock::service::{location_at, require_positive};

pub fn page_at(conn: &mut AnyConnection, site_id: i64, page_id: i64) -> Result<Page, AppError> {
    queries::page(conn, page_id)?
        .filter(|p| p.site_id == site_id)
        .ok_or_else(|| AppError::not_found("register page"))
}

/// A page as people read it: its own heading as at opening, whatever the product is called now.
pub fn page_view(conn: &mut AnyConnection, p: &Page, open: i64) -> Result<PageView, AppError> {
    let (cd_schedule, cabinet) = queries::page_labels(conn, p)?;
    Ok(PageView {
        id: p.id,
        site_id: p.site_id,
        product_id: p.product_id,
        location_id: p.location_id,
        cabinet,
        drug: p.drug.clone(),
        strength: p.strength.clone(),
        form: p.form.clone(),
        unit: p.unit.clone(),
        cd_schedule,
        entry_count: p.entry_count,
        balance: Quantity::from_scaled(p.balance),
        head_hash: p.head_hash.clone(),
        last_entry_at: p.last_entry_at,
        closed_at: p.closed_at,
        open_investigations: open,
    })
}

/// The register pages of a site, a page of them at a time, with the site's totals over all.
pub fn pages(
    conn: &mut AnyConnection,
    site_id: i64,
    paging: crate::http::PageRequest,
) -> Result<PageList, AppError> {
    let open: HashMap<i64, i64> = queries::open_investigations(conn, site_id)?
        .into_iter()
        .collect();
    let items: Vec<PageView> = queries::pages_of_site(conn, site_id)?
        .iter()
        .map(|p| page_view(conn, p, open.get(&p.id).copied().unwrap_or(0)))
        .collect::<Result<_, _>>()?;
    let mut totals: Vec<ProductTotal> = Vec::new();
    for p in items.iter().filter(|p| p.closed_at.is_none()) {
        match totals.iter_mut().find(|t| t.product_id == p.product_id) {
            Some(t) => {
                t.balance = t.balance.checked_add(p.balance).ok_or_else(|| {
                    AppError::internal("register balances add up past the largest quantity")
                })?;
                t.cabinets += 1;
            }
            None => totals.push(ProductTotal {
                product_id: p.product_id,
                drug: p.drug.clone(),
                strength: p.strength.clone(),
                form: p.form.clone(),
                balance: p.balance,
                cabinets: 1,
            }),
        }
    }
    let listed = crate::http::Paged::of(items, paging);
    Ok(PageList {
        items: listed.items,
        page: listed.page,
        per_page: listed.per_page,
        total: listed.total,
        totals,
    })
}

pub fn entries(
    conn: &mut AnyConnection,
    site_id: i64,
    page_id: i64,
    f: &EntryFilter,
) -> Result<EntryPage, AppError> {
    page_at(conn, site_id, page_id)?;
    let limit = f.limit.unwrap_or(100);
    let rows = queries::entries_after(conn, page_id, f.after_seq.unwrap_or(0), limit)?;
    let next_after_seq = if rows.len() as i64 == limit {
        rows.last().map(|r| r.seq)
    } else {
        None
    };
    Ok(EntryPage {
        items: rows.into_iter().map(EntryView::from).collect(),
        next_after_seq,
    })
}

/// What a write to the register did: the stock movement (if stock moved) and the entry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Recorded {
    pub movement_id: Option<i64>,
    /// Balance of the batch at the location after the movement.
    pub stock_balance_after: Option<Quantity>,
    pub entry: Option<EntryView>,
}

fn recorded(
    conn: &mut AnyConnection,
    movement_id: Option<i64>,
    stock_balance_after: Option<Quantity>,
    entry_id: Option<i64>,
) -> Result<Recorded, AppError> {
    let entry = match entry_id {
        Some(id) => queries::entry(conn, id)?.map(EntryView::from),
        None => None,
    };
    Ok(Recorded {
        movement_id,
        stock_balance_after,
        entry,
    })
}

/// (product id, schedule, register-tracked) of a batch.
fn batch_product(
    conn: &mut AnyConnection,
    batch_id: i64,
) -> Result<(i64, CdSchedule, bool), AppError> {
    let (product_id, schedule, register): (i64, String, bool) = batches::table
        .inner_join(products::table)
        .filter(batches::id.eq(batch_id))
        .select((
            batches::product_id,
            products::cd_schedule,
            products::cd_register,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::invalid("batch_id", "exists", "no such batch"))?;
    Ok((product_id, CdSchedule::from_db(&schedule), register))
}

/// Destruction of controlled drug stock, witnessed by an authorised witness.
pub fn destroy(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &DestructionRequest,
    witness_id: i64,
) -> Result<Recorded, AppError> {
    require_positive("quantity", req.quantity)?;
    location_at(conn, site_id, req.location_id)?;
    let (_, schedule, register) = batch_product(conn, req.batch_id)?;
    let controlled = matches!(schedule, CdSchedule::S1 | CdSchedule::S2 | CdSchedule::S3);
    if !controlled && !register {
        return Err(AppError::invalid(
            "batch_id",
            "controlled_drug",
            "only schedule 1 to 3 or register-tracked stock is destroyed here; record other waste as wastage",
        ));
    }
    let mut posting = Posting::new(
        site_id,
        req.location_id,
        req.batch_id,
        -req.quantity,
        MovementReason::Destruction,
    );
    posting.reason_code = Some(req.method.clone());
    posting.note = req
        .note
        .clone()
        .or_else(|| Some(format!("destroyed: {}", req.method)));
    posting.allow_unusable = true;
    posting.register.witness_id = Some(witness_id);
    let posted = ledger::post(conn, actor, &posting)?;
    recorded(
        conn,
        Some(posted.movement_id),
        Some(posted.balance_after),
        posted.register_entry_id,
    )
}

/// A correction: a new entry pointing at the one it corrects, with a reason. When the mistake
/// was in the quantity, the reversal goes through the ledger at the same cabinet and batch; the
/// ledger allows it to undo all or part of the original, never more, and a reduction needs
/// the witness.
pub fn correct(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    entry_id: i64,
    req: &CorrectionRequest,
    witness_id: Option<i64>,
) -> Result<Recorded, AppError> {
    let original = queries::entry(conn, entry_id)?
        .filter(|e| e.site_id == site_id)
        .ok_or_else(|| AppError::not_found("register entry"))?;
    if let Some(p) = &req.patient_identifier {
        check_prison_number("patient_identifier", p)?;
    }
    let detail = RegisterDetail {
        counterparty: req.counterparty.clone(),
        counterparty_address: req.counterparty_address.clone(),
        patient_identifier: req.patient_identifier.clone(),
        prescriber: req.prescriber.clone(),
        collected_by: req.collected_by.clone(),
        identity_checked: None,
        witness_id,
        corrects_entry_id: Some(original.id),
    };
    match req.quantity.filter(|q| q.scaled() != 0) {
        Some(quantity) => {
            let location_id =
                AppError::required("location_id", req.location_id, "required with a quantity")?;
            let batch_id =
                AppError::required("batch_id", req.batch_id, "required with a quantity")?;
            location_at(conn, site_id, location_id)?;
            if batch_product(conn, batch_id)?.0 != original.product_id {
                return Err(AppError::invalid(
                    "batch_id",
                    "same_product",
                    "must be a batch of the corrected entry's product",
                ));
            }
            let mut posting = Posting::new(
                site_id,
                location_id,
                batch_id,
                quantity,
                MovementReason::Correction,
            );
            posting.note = Some(req.reason.clone());
            posting.reference = Some(("cd_register_entry", original.id));
            posting.allow_unusable = true;
            posting.register = detail;
            let posted = ledger::post(conn, actor, &posting)?;
            recorded(
                conn,
                Some(posted.movement_id),
                Some(posted.balance_after),
                posted.register_entry_id,
            )
        }
        None => {
            let draft = EntryDraft {
                site_id,
                product_id: original.product_id,
                entry_type: "correction".into(),
                movement_id: None,
                occurred_at: now(),
                quantity: 0,
                location_id: original.location_id.unwrap_or(0),
                batch_id: None,
                reason: Some(req.reason.clone()),
                detail,
            };
            let entry_id = chain::append_to_page(conn, actor, original.page_id, &draft, now())?;
            audit::record(
                conn,
                actor,
                Some(site_id),
                "cd.correction",
                "cd_register_entry",
                entry_id,
                Some(serde_json::json!({"corrects_entry_id": original.id})),
            )?;
            recorded(conn, None, None, Some(entry_id))
        }
    }
}

fn location_of_site(
    conn: &mut AnyConnection,
    site_id: i64,
    location_id: i64,
    field: &str,
) -> Result<crate::sites::model::LocationRow, AppError> {
    crate::sites::queries::location(conn, location_id)?
        .filter(|l| l.site_id == site_id)
        .ok_or_else(|| AppError::invalid(field, "exists", "no such location at this prison"))
}

/// Moves register stock from one CD cabinet to another at the same prison, witnessed: a supply
/// on the sending cabinet's page and a receipt on the receiving cabinet's, each naming the
/// other, in one transaction.
pub fn move_between_cabinets(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &CabinetTransferRequest,
    witness_id: Option<i64>,
) -> Result<CabinetTransferView, AppError> {
    require_positive("quantity", req.quantity)?;
    let from = location_of_site(conn, site_id, req.from_location_id, "from_location_id")?;
    let to = location_of_site(conn, site_id, req.to_location_id, "to_location_id")?;
    if from.id == to.id {
        return Err(AppError::invalid(
            "to_location_id",
            "different",
            "must differ from the sending cabinet",
        ));
    }
    if !batch_product(conn, req.batch_id)?.2 {
        return Err(AppError::invalid(
            "batch_id",
            "register_tracked",
            "only register-tracked stock moves between CD cabinets here; use a transfer",
        ));
    }
    let mut out = Posting::new(
        site_id,
        from.id,
        req.batch_id,
        -req.quantity,
        MovementReason::TransferOut,
    );
    out.note = req.note.clone();
    out.register.counterparty = Some(format!("{} ({})", to.name, to.code));
    out.register.witness_id = witness_id;
    let sent = ledger::post(conn, actor, &out)?;
    let mut into = Posting::new(
        site_id,
        to.id,
        req.batch_id,
        req.quantity,
        MovementReason::TransferIn,
    );
    into.note = req.note.clone();
    into.reference = Some(("stock_movement", sent.movement_id));
    into.register.counterparty = Some(format!("{} ({})", from.name, from.code));
    into.register.witness_id = witness_id;
    let received = ledger::post(conn, actor, &into)?;
    let entry = |id: Option<i64>, conn: &mut AnyConnection| -> Result<EntryView, AppError> {
        id.and_then(|id| queries::entry(conn, id).transpose())
            .transpose()?
            .map(EntryView::from)
            .ok_or_else(|| AppError::internal("register entry missing after a cabinet move"))
    };
    Ok(CabinetTransferView {
        supply: entry(sent.register_entry_id, conn)?,
        receipt: entry(received.register_entry_id, conn)?,
    })
}

fn check_view((c, r): (queries::CheckRow, Option<queries::ResolutionRow>)) -> BalanceCheckView {
    let outcome = CheckOutcome::from_db(&c.5);
    BalanceCheckView {
        id: c.0,
        page_id: c.1,
        site_id: c.2,
        expected_quantity: Quantity::from_scaled(c.3),
        counted_quantity: Quantity::from_scaled(c.4),
        difference: Quantity::from_scaled(c.4 - c.3),
        investigation_open: outcome == CheckOutcome::Discrepancy && r.is_none(),
        outcome,
        counted_by: c.6,
        witness_id: c.7,
        note: c.8,
        checked_at: c.9,
        resolution: r.map(|r| ResolutionView {
            resolved_by: r.0,
            explanation: r.1,
            adjustment_entry_id: r.2,
            resolved_at: r.3,
        }),
    }
}

pub fn check(
    conn: &mut AnyConnection,
    site_id: i64,
    id: i64,
) -> Result<BalanceCheckView, AppError> {
    queries::checks(conn, site_id, Some(id))?
        .pop()
        .map(check_view)
        .ok_or_else(|| AppError::not_found("balance check"))
}

pub fn checks(
    conn: &mut AnyConnection,
    site_id: i64,
    only_open: bool,
) -> Result<BalanceCheckList, AppError> {
    let items = queries::checks(conn, site_id, None)?
        .into_iter()
        .map(check_view)
        .filter(|c| !only_open || c.investigation_open)
        .collect();
    Ok(BalanceCheckList { items })
}

/// Two people's physical count against the page balance. A match is logged; a discrepancy
/// opens an investigation. Stock is never changed here.
pub fn balance_check(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    page_id: i64,
    req: &BalanceCheckRequest,
    witness_id: i64,
) -> Result<BalanceCheckView, AppError> {
    if req.counted_quantity.is_negative() {
        return Err(AppError::invalid(
            "counted_quantity",
            "non_negative",
            "must not be negative",
        ));
    }
    let page = page_at(conn, site_id, page_id)?;
    if page.closed_at.is_some() {
        return Err(AppError::conflict(
            "cd_page_closed",
            "this site page was carried forward; count the cabinets' pages",
        ));
    }
    let expected = page.balance;
    let counted = req.counted_quantity.scaled();
    let outcome = if expected == counted {
        CheckOutcome::Match
    } else {
        CheckOutcome::Discrepancy
    };
    let id: i64 = diesel::insert_into(cd_balance_checks::table)
        .values((
            cd_balance_checks::page_id.eq(page_id),
            cd_balance_checks::site_id.eq(site_id),
            cd_balance_checks::expected_quantity.eq(expected),
            cd_balance_checks::counted_quantity.eq(counted),
            cd_balance_checks::outcome.eq(outcome.as_str()),
            cd_balance_checks::counted_by.eq(actor.user_id),
            cd_balance_checks::witness_id.eq(witness_id),
            cd_balance_checks::note.eq(&req.note),
            cd_balance_checks::checked_at.eq(now()),
        ))
        .returning(cd_balance_checks::id)
        .get_result(conn)?;
    audit::record(
        conn,
        actor,
        Some(site_id),
        &format!("cd.balance_check.{outcome}"),
        "cd_balance_check",
        id,
        Some(serde_json::json!({
            "page_id": page_id,
            "expected": Quantity::from_scaled(expected),
            "counted": req.counted_quantity,
            "witness_id": witness_id,
        })),
    )?;
    check(conn, site_id, id)
}

/// A pharmacist closes an investigation with an explanation; any stock change it finds
/// necessary is posted through the ledger as a register entry linked to the check.
pub fn resolve(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    check_id: i64,
    req: &ResolveRequest,
    witness_id: Option<i64>,
) -> Result<BalanceCheckView, AppError> {
    let current = check(conn, site_id, check_id)?;
    if current.outcome != CheckOutcome::Discrepancy {
        return Err(AppError::conflict(
            "no_discrepancy",
            "this balance check matched; there is nothing to resolve",
        ));
    }
    if current.resolution.is_some() {
        return Err(AppError::conflict(
            "already_resolved",
            "this investigation has already been resolved",
        ));
    }
    let mut adjustment_entry_id = None;
    if let Some(adj) = &req.adjustment {
        if adj.quantity.scaled() == 0 {
            return Err(AppError::invalid(
                "adjustment.quantity",
                "non_zero",
                "must not be zero",
            ));
        }
        location_at(conn, site_id, adj.location_id)?;
        let page = page_at(conn, site_id, current.page_id)?;
        if page
            .location_id
            .is_some_and(|cabinet| cabinet != adj.location_id)
        {
            return Err(AppError::invalid(
                "adjustment.location_id",
                "same_cabinet",
                "must be the cabinet whose page was counted",
            ));
        }
        if batch_product(conn, adj.batch_id)?.0 != page.product_id {
            return Err(AppError::invalid(
                "adjustment.batch_id",
                "same_product",
                "must be a batch of the register page's product",
            ));
        }
        let mut posting = Posting::new(
            site_id,
            adj.location_id,
            adj.batch_id,
            adj.quantity,
            MovementReason::Adjustment,
        );
        posting.reason_code = Some("cd_balance_check".into());
        posting.note = Some(req.explanation.clone());
        posting.reference = Some(("cd_balance_check", check_id));
        posting.allow_unusable = true;
        posting.register.witness_id = witness_id;
        adjustment_entry_id = ledger::post(conn, actor, &posting)?.register_entry_id;
    }
    diesel::insert_into(cd_check_resolutions::table)
        .values((
            cd_check_resolutions::check_id.eq(check_id),
            cd_check_resolutions::resolved_by.eq(actor.user_id),
            cd_check_resolutions::explanation.eq(&req.explanation),
            cd_check_resolutions::adjustment_entry_id.eq(adjustment_entry_id),
            cd_check_resolutions::resolved_at.eq(now()),
        ))
        .execute(conn)
        .map_err(conflict_on_duplicate(
            "already_resolved",
            "this investigation has already been resolved",
        ))?;
    audit::record(
        conn,
        actor,
        Some(site_id),
        "cd.investigation.resolve",
        "cd_balance_check",
        check_id,
        Some(serde_json::json!({"adjustment_entry_id": adjustment_entry_id})),
    )?;
    check(conn, site_id, check_id)
}

fn return_view(
    (r, d): (queries::ReturnRow, Option<queries::ReturnDestructionRow>),
) -> PatientReturnView {
    PatientReturnView {
        id: r.0,
        site_id: r.1,
        patient_identifier: r.2,
        product_id: r.3,
        description: r.4,
        quantity: Quantity::from_scaled(r.5),
        unit: r.6,
        received_by: r.7,
        received_at: r.8,
        note: r.9,
        destruction: d.map(|d| ReturnDestructionView {
            destroyed_by: d.0,
            witness_id: d.1,
            method: d.2,
            note: d.3,
            destroyed_at: d.4,
        }),
    }
}

pub fn patient_return(
    conn: &mut AnyConnection,
    site_id: i64,
    id: i64,
) -> Result<PatientReturnView, AppError> {
    queries::patient_returns(conn, site_id, Some(id))?
        .pop()
        .map(return_view)
        .ok_or_else(|| AppError::not_found("patient return"))
}

pub fn patient_returns(
    conn: &mut AnyConnection,
    site_id: i64,
) -> Result<PatientReturnList, AppError> {
    Ok(PatientReturnList {
        items: queries::patient_returns(conn, site_id, None)?
            .into_iter()
            .map(return_view)
            .collect(),
    })
}

/// A patient's own controlled drugs handed in: recorded apart from stock and the register.
pub fn receive_patient_return(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &PatientReturnRequest,
) -> Result<PatientReturnView, AppError> {
    check_prison_number("patient_identifier", &req.patient_identifier)?;
    require_positive("quantity", req.quantity)?;
    if let Some(product_id) = req.product_id {
        if !queries::product_exists(conn, product_id)? {
            return Err(AppError::invalid("product_id", "exists", "no such product"));
        }
    }
    let id: i64 = diesel::insert_into(cd_patient_returns::table)
        .values((
            cd_patient_returns::site_id.eq(site_id),
            cd_patient_returns::patient_identifier.eq(&req.patient_identifier),
            cd_patient_returns::product_id.eq(req.product_id),
            cd_patient_returns::description.eq(&req.description),
            cd_patient_returns::quantity.eq(req.quantity.scaled()),
            cd_patient_returns::unit.eq(&req.unit),
            cd_patient_returns::received_by.eq(actor.user_id),
            cd_patient_returns::received_at.eq(now()),
            cd_patient_returns::note.eq(&req.note),
        ))
        .returning(cd_patient_returns::id)
        .get_result(conn)?;
    audit::record(
        conn,
        actor,
        Some(site_id),
        "cd.patient_return.receive",
        "cd_patient_return",
        id,
        None,
    )?;
    patient_return(conn, site_id, id)
}

pub fn destroy_patient_return(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    return_id: i64,
    req: &ReturnDestructionRequest,
    witness_id: i64,
) -> Result<PatientReturnView, AppError> {
    patient_return(conn, site_id, return_id)?;
    diesel::insert_into(cd_patient_return_destructions::table)
        .values((
            cd_patient_return_destructions::return_id.eq(return_id),
            cd_patient_return_destructions::destroyed_by.eq(actor.user_id),
            cd_patient_return_destructions::witness_id.eq(witness_id),
            cd_patient_return_destructions::method.eq(&req.method),
            cd_patient_return_destructions::note.eq(&req.note),
            cd_patient_return_destructions::destroyed_at.eq(now()),
        ))
        .execute(conn)
        .map_err(conflict_on_duplicate(
            "already_destroyed",
            "this return has already been destroyed",
        ))?;
    audit::record(
        conn,
        actor,
        Some(site_id),
        "cd.patient_return.destroy",
        "cd_patient_return",
        return_id,
        Some(serde_json::json!({"witness_id": witness_id})),
    )?;
    patient_return(conn, site_id, return_id)
}
