//! The controlled drug register: appending entries to a page's hash chain, verifying the chain,
//! witnessed destruction, corrections, balance checks and patients' returned CDs.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::*;
use super::queries::{self, PageRow};
use crate::audit::{self, Actor};
use crate::db::schema::{
    batches, cd_balance_checks, cd_check_resolutions, cd_patient_return_destructions,
    cd_patient_returns, products,
};
use crate::db::{conflict_on_duplicate, now, AnyConnection};
use crate::domain::register::ChainWalker;
use crate::domain::stock::{CdSchedule, MovementReason};
use crate::domain::Quantity;
use crate::error::AppError;
use crate::patients::service::check_prison_number;
use crate::stock::ledger::{self, Posting};
use crate::stock::service::{location_at, require_positive};

/// Rows read per query while walking a page: bounded memory however long the register grows.
pub const CHUNK: i64 = 5_000;

/// Appends an entry to its page in the caller's transaction. The page row is claimed first (a
/// guarded update that also locks it), so appending reads only the head, never the page.
/// Returns the new entry's id.
pub fn append(
    conn: &mut AnyConnection,
    actor: &Actor,
    draft: &EntryDraft,
) -> Result<i64, AppError> {
    let ts = now();
    if queries::open_page(conn, draft.site_id, draft.product_id, ts)? {
        // Stock held before the product was register-tracked is brought forward, so the page
        // balance always equals the stock on hand.
        let already_moved = if draft.movement_id.is_some() {
            draft.quantity
        } else {
            0
        };
        let held = queries::site_stock(conn, draft.site_id, draft.product_id)? - already_moved;
        if held > 0 {
            let opening = EntryDraft {
                site_id: draft.site_id,
                product_id: draft.product_id,
                entry_type: "opening_balance".into(),
                movement_id: None,
                occurred_at: ts,
                quantity: held,
                location_id: None,
                batch_id: None,
                reason: Some("stock held when the register page was opened".into()),
                detail: RegisterDetail::default(),
            };
            append_row(conn, actor, &opening, ts)?;
        }
    }
    append_row(conn, actor, draft, ts)
}

fn append_row(
    conn: &mut AnyConnection,
    actor: &Actor,
    d: &EntryDraft,
    ts: chrono::NaiveDateTime,
) -> Result<i64, AppError> {
    let (page_id, seq, balance_after, prev_hash) =
        queries::claim_next(conn, d.site_id, d.product_id, d.quantity)?.ok_or_else(|| {
            AppError::conflict(
                "register_balance",
                "the register balance would go below zero",
            )
        })?;
    let mut row = EntryRow {
        id: 0,
        page_id,
        seq,
        site_id: d.site_id,
        product_id: d.product_id,
        entry_type: d.entry_type.clone(),
        movement_id: d.movement_id,
        occurred_at: d.occurred_at,
        recorded_at: ts,
        quantity: d.quantity,
        balance_after,
        location_id: d.location_id,
        batch_id: d.batch_id,
        counterparty: d.detail.counterparty.clone(),
        counterparty_address: d.detail.counterparty_address.clone(),
        patient_identifier: d.detail.patient_identifier.clone(),
        prescriber: d.detail.prescriber.clone(),
        collected_by: d.detail.collected_by.clone(),
        identity_checked: d.detail.identity_checked,
        author_id: actor.user_id,
        witness_id: d.detail.witness_id,
        corrects_entry_id: d.detail.corrects_entry_id,
        reason: d.reason.clone(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = row.content().hash(&row.prev_hash);
    let id = queries::insert_entry(conn, &row)?;
    queries::set_head(conn, page_id, &row.hash, ts)?;
    Ok(id)
}

/// Walks a whole page from its first entry, then checks the page head agrees with the last.
pub fn verify_page(conn: &mut AnyConnection, page: &PageRow) -> Result<PageVerification, AppError> {
    let (walker, broken) = walk_part(conn, page.0, 0, i64::MAX)?;
    Ok(conclude(page, walker.count, &walker, broken))
}

/// The verdict on a page from its walk: the first broken entry, or else whether the page
/// head agrees with where the entries end (entries missing or added after the last).
fn conclude(
    page: &PageRow,
    count: i64,
    last: &ChainWalker,
    broken: Option<BrokenEntry>,
) -> PageVerification {
    let (page_id, _, product_id, entry_count, balance, ref head_hash, _) = *page;
    let mut first_broken = broken;
    if first_broken.is_none()
        && (count != entry_count || last.head_hash() != head_hash || last.balance() != balance)
    {
        first_broken = Some(BrokenEntry {
            entry_id: None,
            seq: last.last_seq().min(entry_count) + 1,
            problem: format!(
                "the page records {entry_count} entries ending in {head_hash}, but the entries end at {} with {}",
                last.last_seq(),
                last.head_hash()
            ),
        });
    }
    PageVerification {
        page_id,
        product_id,
        status: if first_broken.is_none() {
            VerificationStatus::Intact
        } else {
            VerificationStatus::Broken
        },
        entries: count,
        head_hash: last.head_hash().to_string(),
        balance: Quantity::from_scaled(last.balance()),
        first_broken,
    }
}

/// Pages longer than this are verified in parallel parts.
const PARALLEL_FROM: i64 = 100_000;

/// Verifies a page using several connections at once for long pages: each part walks its own
/// range of the chain, starting from the stored hash of the entry before it (which the part
/// before checks), so together they check exactly what a single walk checks.
pub fn verify_page_parallel(
    db: &crate::db::Db,
    page: &PageRow,
) -> Result<PageVerification, AppError> {
    let parts = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8) as i64;
    if parts < 2 || page.3 < PARALLEL_FROM {
        return verify_page(&mut *db.get()?, page);
    }
    verify_page_in_parts(db, page, parts)
}

/// The parallel walk itself, in a given number of parts.
pub fn verify_page_in_parts(
    db: &crate::db::Db,
    page: &PageRow,
    parts: i64,
) -> Result<PageVerification, AppError> {
    let (page_id, entry_count) = (page.0, page.3);
    let parts = parts.clamp(1, entry_count.max(1));
    // The last part runs on past the recorded head, so an entry added after it is found.
    let bounds: Vec<(i64, i64)> = (0..parts)
        .map(|k| {
            let end = if k == parts - 1 {
                i64::MAX
            } else {
                (k + 1) * entry_count / parts
            };
            (k * entry_count / parts, end)
        })
        .collect();
    let results: Vec<Result<(ChainWalker, Option<BrokenEntry>), AppError>> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = bounds
                .iter()
                .map(|&(start, end)| {
                    scope.spawn(
                        move || -> Result<(ChainWalker, Option<BrokenEntry>), AppError> {
                            let mut conn = db.get()?;
                            // Reading a long page through a memory map saves a copy per
                            // page of the file; the connection goes back to the pool without it.
                            set_mapped_reads(&mut conn, true)?;
                            let result = walk_part(&mut conn, page_id, start, end);
                            set_mapped_reads(&mut conn, false)?;
                            result
                        },
                    )
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(AppError::internal("verification thread failed")))
                })
                .collect()
        });
    let mut count = 0;
    let mut last = ChainWalker::default();
    let mut first_broken = None;
    for r in results {
        let (walker, broken) = r?;
        count += walker.count;
        if first_broken.is_none() {
            first_broken = broken;
        }
        last = walker;
    }
    Ok(conclude(page, count, &last, first_broken))
}

fn set_mapped_reads(conn: &mut AnyConnection, on: bool) -> Result<(), AppError> {
    use diesel::connection::SimpleConnection;
    if matches!(conn, AnyConnection::Sqlite(_)) {
        conn.batch_execute(if on {
            "PRAGMA mmap_size = 268435456"
        } else {
            "PRAGMA mmap_size = 0"
        })?;
    }
    Ok(())
}

/// One part of a parallel verification: entries after `start` up to `end`, chained to the
/// stored hash of entry `start`.
fn walk_part(
    conn: &mut AnyConnection,
    page_id: i64,
    start: i64,
    end: i64,
) -> Result<(ChainWalker, Option<BrokenEntry>), AppError> {
    let mut walker = if start == 0 {
        ChainWalker::default()
    } else {
        match queries::entry_at_seq(conn, page_id, start)? {
            Some(e) => ChainWalker::after(e.seq, e.hash, e.balance_after),
            None => {
                return Ok((
                    ChainWalker::after(start, String::new(), 0),
                    Some(BrokenEntry {
                        entry_id: None,
                        seq: start,
                        problem: "entry missing or out of sequence before this one".into(),
                    }),
                ))
            }
        }
    };
    let mut after = start;
    while after < end {
        let limit = CHUNK.min(end - after);
        let rows = queries::entries_after(conn, page_id, after, limit, None, None)?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for r in &rows {
            if r.seq > end {
                break;
            }
            if let Err(b) = walker.step(r.id, &r.content(), &r.prev_hash, &r.hash) {
                return Ok((
                    walker,
                    Some(BrokenEntry {
                        entry_id: Some(b.entry_id),
                        seq: b.seq,
                        problem: b.problem.to_string(),
                    }),
                ));
            }
        }
    }
    Ok((walker, None))
}

/// Every page of a site, each verified in parallel parts when long.
pub fn verify_site_parallel(
    db: &crate::db::Db,
    site_id: i64,
) -> Result<SiteVerification, AppError> {
    let pages = queries::pages_of_site(&mut *db.get()?, site_id)?
        .iter()
        .map(|p| verify_page_parallel(db, p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(site_verification(site_id, pages))
}

pub fn page_at(conn: &mut AnyConnection, site_id: i64, page_id: i64) -> Result<PageRow, AppError> {
    queries::page(conn, page_id)?
        .filter(|p| p.1 == site_id)
        .ok_or_else(|| AppError::not_found("register page"))
}

pub fn verify_site(conn: &mut AnyConnection, site_id: i64) -> Result<SiteVerification, AppError> {
    let pages = queries::pages_of_site(conn, site_id)?
        .iter()
        .map(|p| verify_page(conn, p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(site_verification(site_id, pages))
}

fn site_verification(site_id: i64, pages: Vec<PageVerification>) -> SiteVerification {
    let intact = pages.iter().all(|p| p.status == VerificationStatus::Intact);
    SiteVerification {
        site_id,
        status: if intact {
            VerificationStatus::Intact
        } else {
            VerificationStatus::Broken
        },
        entries: pages.iter().map(|p| p.entries).sum(),
        pages,
    }
}

pub fn page_view(conn: &mut AnyConnection, p: &PageRow, open: i64) -> Result<PageView, AppError> {
    let (drug, strength, form, unit, cd_schedule) = queries::product_label(conn, p.2)?;
    Ok(PageView {
        id: p.0,
        site_id: p.1,
        product_id: p.2,
        drug,
        strength,
        form,
        unit,
        cd_schedule,
        entry_count: p.3,
        balance: Quantity::from_scaled(p.4),
        head_hash: p.5.clone(),
        last_entry_at: p.6,
        open_investigations: open,
    })
}

pub fn pages(conn: &mut AnyConnection, site_id: i64) -> Result<PageList, AppError> {
    let open: HashMap<i64, i64> = queries::open_investigations(conn, site_id)?
        .into_iter()
        .collect();
    let items = queries::pages_of_site(conn, site_id)?
        .iter()
        .map(|p| page_view(conn, p, open.get(&p.0).copied().unwrap_or(0)))
        .collect::<Result<_, _>>()?;
    Ok(PageList { items })
}

pub fn entries(
    conn: &mut AnyConnection,
    site_id: i64,
    page_id: i64,
    f: &EntryFilter,
) -> Result<EntryPage, AppError> {
    page_at(conn, site_id, page_id)?;
    let limit = f.limit.unwrap_or(100);
    let rows = queries::entries_after(conn, page_id, f.after_seq.unwrap_or(0), limit, None, None)?;
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
/// was in the quantity, the difference goes through the ledger like any other stock change.
pub fn correct(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    entry_id: i64,
    req: &CorrectionRequest,
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
        witness_id: None,
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
                location_id: None,
                batch_id: None,
                reason: Some(req.reason.clone()),
                detail,
            };
            let entry_id = append(conn, actor, &draft)?;
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
    let expected = page.4;
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
        if batch_product(conn, adj.batch_id)?.0 != page.2 {
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
        crate::formulary::service::named_product(conn, "product_id", product_id)?;
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
