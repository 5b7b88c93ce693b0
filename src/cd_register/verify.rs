//! Verifying the register without trusting the database alone: each page's chain is walked
//! from its first entry, compared with the stock ledger, and compared with the checkpoints the
//! service signed with a key the database does not hold.

use super::checkpoints::{self, Checkpoint};
use super::model::*;
use super::queries;
use super::stream::{EntryRange, EntryReader};
use crate::db::AnyConnection;
use crate::domain::register::ChainWalker;
use crate::domain::Quantity;
use crate::error::AppError;

/// Pages longer than this are verified in parallel parts.
const PARALLEL_FROM: i64 = 100_000;

/// Walks a whole page from its first entry in one part, then checks the page head agrees
/// with the last.
pub fn verify_page(db: &crate::db::Db, page: &Page) -> Result<PageVerification, AppError> {
    let (walker, broken) = walk_part(db, page, 0, i64::MAX)?;
    Ok(conclude(page, walker.count, &walker, broken))
}

/// The verdict on a page's chain from its walk: the first broken entry, or else whether the
/// page head agrees with where the entries end (entries missing or added after the last).
fn conclude(
    page: &Page,
    count: i64,
    last: &ChainWalker,
    broken: Option<BrokenEntry>,
) -> PageVerification {
    let mut first_broken = broken;
    if first_broken.is_none()
        && (count != page.entry_count
            || last.head_hash() != page.head_hash
            || last.balance() != page.balance)
    {
        first_broken = Some(BrokenEntry {
            entry_id: None,
            seq: last.last_seq().min(page.entry_count) + 1,
            problem: format!(
                "the page records {} entries ending in {}, but the entries end at {} with {}",
                page.entry_count,
                page.head_hash,
                last.last_seq(),
                last.head_hash()
            ),
        });
    }
    PageVerification {
        page_id: page.id,
        product_id: page.product_id,
        location_id: page.location_id,
        status: if first_broken.is_none() {
            VerificationStatus::Intact
        } else {
            VerificationStatus::Broken
        },
        entries: count,
        head_hash: last.head_hash().to_string(),
        balance: Quantity::from_scaled(last.balance()),
        first_broken,
        ledger: None,
        checkpoints_checked: 0,
        checkpoint_failures: Vec::new(),
    }
}

/// Adds the comparison with the stock ledger and with signed checkpoints to a chain verdict.
/// The chain's own balance is compared, not the page row's, so a rewritten page cannot agree
/// with the ledger by editing one number.
pub fn cross_check(
    conn: &mut AnyConnection,
    page: &Page,
    mut v: PageVerification,
    signed: &[Checkpoint],
) -> Result<PageVerification, AppError> {
    // Only a site page kept from before cabinets is ever closed, and it closes at zero; a
    // cabinet page is always compared with the ledger, whatever its row says.
    let closed_wrongly =
        page.closed_at.is_some() && (page.location_id.is_some() || v.balance.scaled() != 0);
    if closed_wrongly && v.first_broken.is_none() {
        v.first_broken = Some(BrokenEntry {
            entry_id: None,
            seq: v.entries,
            problem: "the page is marked closed, but only a site page carried forward to zero is ever closed".into(),
        });
        v.status = VerificationStatus::Broken;
    }
    if let Some(location_id) = page.location_id {
        let stock = queries::location_stock(conn, location_id, page.product_id)?;
        let (movements, entries) = queries::unmatched(conn, page)?;
        let register = v.balance.scaled();
        let agrees = stock == register && movements == 0 && entries == 0;
        v.ledger = Some(LedgerComparison {
            agrees,
            register_balance: v.balance,
            stock_on_hand: Quantity::from_scaled(stock),
            unmatched_movements: movements,
            unmatched_entries: entries,
        });
    }
    for cp in signed.iter().filter(|c| c.page_id == page.id) {
        v.checkpoints_checked += 1;
        if let Some(problem) = checkpoints::compare(conn, page, v.entries, cp)? {
            v.checkpoint_failures.push(CheckpointFailure {
                entry_count: cp.entry_count,
                head_hash: cp.head_hash.clone(),
                signed_at: cp.signed_at,
                problem,
            });
        }
    }
    let ledger_ok = v.ledger.as_ref().is_none_or(|l| l.agrees);
    if !ledger_ok || !v.checkpoint_failures.is_empty() {
        v.status = VerificationStatus::Broken;
    }
    Ok(v)
}

/// Verifies a page using several connections at once for long pages: each part walks its own
/// range of the chain, starting from the stored hash of the entry before it (which the part
/// before checks), so together they check exactly what a single walk checks.
pub fn verify_page_parallel(db: &crate::db::Db, page: &Page) -> Result<PageVerification, AppError> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as i64;
    if cores < 2 || page.entry_count < PARALLEL_FROM {
        return verify_page(db, page);
    }
    // Two parts a core: on a shared host one core may run at half the speed of the other for
    // a while, and a walk takes as long as its slowest part; smaller parts even the load out.
    verify_page_in_parts(db, page, (2 * cores).min(8))
}

/// The parallel walk itself, in a given number of parts.
pub fn verify_page_in_parts(
    db: &crate::db::Db,
    page: &Page,
    parts: i64,
) -> Result<PageVerification, AppError> {
    let entry_count = page.entry_count;
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
                            walk_part(db, page, start, end)
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

/// One part of a walk: entries after `start` up to `end`, chained to the stored hash of entry
/// `start`, read on a connection of the part's own.
fn walk_part(
    db: &crate::db::Db,
    page: &Page,
    start: i64,
    end: i64,
) -> Result<(ChainWalker, Option<BrokenEntry>), AppError> {
    let heading = page.heading();
    let mut walker = if start == 0 {
        ChainWalker::default()
    } else {
        match queries::entry_at_seq(&mut *db.get()?, page.id, start)? {
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
    let range = EntryRange {
        after_seq: start,
        through_seq: (end != i64::MAX).then_some(end),
        ..EntryRange::page(page.id)
    };
    let mut broken = None;
    EntryReader::open(db)?.read(&range, |e| {
        match walker.step(e.id, &e.content(heading), e.prev_hash, e.hash) {
            Ok(()) => Ok(true),
            Err(b) => {
                broken = Some(BrokenEntry {
                    entry_id: Some(b.entry_id),
                    seq: b.seq,
                    problem: b.problem.to_string(),
                });
                Ok(false)
            }
        }
    })?;
    Ok((walker, broken))
}

/// Every page of a site, each verified in parallel parts when long, compared with the ledger
/// and with the given checkpoints (those stored by the service, or an auditor's file).
pub fn verify_site_parallel(
    db: &crate::db::Db,
    site_id: i64,
    signed: Option<&[Checkpoint]>,
) -> Result<SiteVerification, AppError> {
    let mut conn = db.get()?;
    let stored;
    let signed = match signed {
        Some(s) => s,
        None => {
            stored = checkpoints::of_site(&mut conn, site_id)?;
            &stored[..]
        }
    };
    let mut pages = Vec::new();
    for page in queries::pages_of_site(&mut conn, site_id)? {
        let v = verify_page_parallel(db, &page)?;
        pages.push(cross_check(&mut conn, &page, v, signed)?);
    }
    let mut result = site_verification(site_id, pages);
    // Register stock with no page at all: a page removed whole, or stock moved round it.
    result.unrecorded_stock = queries::unrecorded_stock(&mut conn, site_id)?
        .into_iter()
        .map(|(location_id, product_id, held)| UnrecordedStock {
            location_id,
            product_id,
            stock_on_hand: Quantity::from_scaled(held),
        })
        .collect();
    if !result.unrecorded_stock.is_empty() {
        result.status = VerificationStatus::Broken;
    }
    // A checkpoint of a page that no longer exists is itself a finding.
    for cp in signed {
        if cp.site_id == site_id && !result.pages.iter().any(|p| p.page_id == cp.page_id) {
            result.status = VerificationStatus::Broken;
            result.missing_pages.push(cp.page_id);
        }
    }
    result.missing_pages.dedup();
    Ok(result)
}

/// One page, verified and cross-checked against the stored checkpoints.
pub fn verify_one_page(db: &crate::db::Db, page: &Page) -> Result<PageVerification, AppError> {
    let v = verify_page_parallel(db, page)?;
    let mut conn = db.get()?;
    let signed = checkpoints::of_site(&mut conn, page.site_id)?;
    cross_check(&mut conn, page, v, &signed)
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
        missing_pages: Vec::new(),
        unrecorded_stock: Vec::new(),
    }
}

/// One line on a page's verdict, for the command line.
pub fn describe(page: &PageVerification) -> String {
    let mut line = format!(
        "page {} (product {}, cabinet {}): ",
        page.page_id,
        page.product_id,
        page.location_id
            .map(|l| l.to_string())
            .unwrap_or_else(|| "none: site page".into())
    );
    match &page.first_broken {
        None => line.push_str(&format!(
            "chain intact, {} entries, head {}",
            page.entries, page.head_hash
        )),
        Some(b) => line.push_str(&format!(
            "chain BROKEN at entry {} (seq {}): {}",
            b.entry_id.map(|i| i.to_string()).unwrap_or("-".into()),
            b.seq,
            b.problem
        )),
    }
    if let Some(l) = page.ledger.as_ref().filter(|l| !l.agrees) {
        line.push_str(&format!(
            "; LEDGER DISAGREES: register balance {}, stock on hand {}, {} movements and {} entries unmatched",
            l.register_balance, l.stock_on_hand, l.unmatched_movements, l.unmatched_entries
        ));
    }
    for f in &page.checkpoint_failures {
        line.push_str(&format!(
            "; CHECKPOINT at entry {} signed {}: {}",
            f.entry_count, f.signed_at, f.problem
        ));
    }
    line
}
