//! Appending to a register page's hash chain: the page of a CD cabinet and product is opened on
//! its first entry, and each entry claims the page head, so appending reads only the head.

use chrono::NaiveDateTime;

use super::model::{EntryDraft, EntryRow, Page, RegisterDetail};
use super::queries;
use super::queries::MAX_BALANCE;
use crate::audit::Actor;
use crate::db::{now, AnyConnection};
use crate::error::AppError;

/// Appends an entry to the page of its cabinet and product in the caller's transaction,
/// opening the page on its first entry. Returns the new entry's id.
///
/// A page opens empty: stock of a register product is only ever in a cabinet whose page records
/// it, so stock found already there without a page means something went round the register,
/// and the entry is refused rather than silently brought forward.
pub fn append(
    conn: &mut AnyConnection,
    actor: &Actor,
    draft: &EntryDraft,
) -> Result<i64, AppError> {
    let ts = now();
    let key = queries::PageKey::Cabinet(draft.location_id, draft.product_id);
    let page = match queries::page_for_append(conn, key)? {
        Some(page) => page,
        None => open_for_movement(conn, draft.site_id, draft.location_id, draft.product_id)?,
    };
    append_at_head(conn, actor, &page, draft, ts)
}

/// Opens the page of a cabinet and product for its first entry, before the movement it records
/// is written. Stock already there without a page went round the register, and is refused.
pub fn open_for_movement(
    conn: &mut AnyConnection,
    site_id: i64,
    location_id: i64,
    product_id: i64,
) -> Result<Page, AppError> {
    queries::open_page(conn, site_id, location_id, product_id, now())?;
    if queries::location_stock(conn, location_id, product_id)? != 0 {
        return Err(AppError::conflict(
            "cd_page_missing",
            "this cabinet holds stock of the product that no register page records; \
             switch register tracking on with a witnessed count first",
        ));
    }
    queries::page_for_append(conn, queries::PageKey::Cabinet(location_id, product_id))?
        .ok_or_else(|| AppError::internal("register page vanished after opening"))
}

/// Appends an entry to a given page (a correction of details, or the closing entry of a site
/// page carried forward).
pub fn append_to_page(
    conn: &mut AnyConnection,
    actor: &Actor,
    page_id: i64,
    d: &EntryDraft,
    ts: NaiveDateTime,
) -> Result<i64, AppError> {
    let page = queries::page_for_append(conn, queries::PageKey::Id(page_id))?
        .ok_or_else(|| AppError::not_found("register page"))?;
    append_at_head(conn, actor, &page, d, ts)
}

/// Chains an entry to the head of a page read (and, on PostgreSQL, locked) for appending. The
/// database moves the head with the insert, and refuses an entry that is not its next link.
fn append_at_head(
    conn: &mut AnyConnection,
    actor: &Actor,
    page: &Page,
    d: &EntryDraft,
    ts: NaiveDateTime,
) -> Result<i64, AppError> {
    let row = next_entry(actor, page, d, ts)?;
    Ok(super::writes::insert_entry(conn, &row)?)
}

/// The entry that follows a page's head: refused on a closed page or outside the balance kept,
/// otherwise numbered, chained and hashed.
pub fn next_entry(
    actor: &Actor,
    page: &Page,
    d: &EntryDraft,
    ts: NaiveDateTime,
) -> Result<EntryRow, AppError> {
    if page.closed_at.is_some() {
        return Err(AppError::conflict(
            "cd_page_closed",
            "this site page was carried forward to cabinet pages; nothing more is entered on it",
        ));
    }
    let balance_after = page.balance + d.quantity;
    if balance_after < 0 {
        return Err(AppError::conflict(
            "register_balance",
            "the register balance would go below zero",
        ));
    }
    if balance_after > MAX_BALANCE {
        return Err(AppError::conflict(
            "quantity_range",
            "the register balance would exceed the largest quantity kept",
        ));
    }
    let mut row = EntryRow {
        id: 0,
        page_id: page.id,
        seq: page.entry_count + 1,
        site_id: d.site_id,
        product_id: d.product_id,
        entry_type: d.entry_type.clone(),
        movement_id: d.movement_id,
        occurred_at: d.occurred_at,
        recorded_at: ts,
        quantity: d.quantity,
        balance_after,
        location_id: page.location_id,
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
        prev_hash: page.head_hash.clone(),
        hash: String::new(),
    };
    row.hash = row.content(page.heading()).hash(&row.prev_hash);
    Ok(row)
}

/// Stock a cabinet already holds, brought forward onto a new page.
pub struct OpeningBalance {
    pub site_id: i64,
    pub location_id: i64,
    pub product_id: i64,
    pub held: i64,
    /// The witness to the count, where one was made.
    pub detail: RegisterDetail,
    pub reason: String,
}

/// Opens a cabinet's page with the stock it already holds brought forward, as counted by the
/// author and a witness (when register tracking is switched on for a product already in stock).
pub fn open_with_balance(
    conn: &mut AnyConnection,
    actor: &Actor,
    o: OpeningBalance,
) -> Result<i64, AppError> {
    let OpeningBalance {
        site_id,
        location_id,
        product_id,
        held,
        detail,
        reason,
    } = o;
    let ts = now();
    queries::open_page(conn, site_id, location_id, product_id, ts)?;
    let page = queries::page_for_append(conn, queries::PageKey::Cabinet(location_id, product_id))?
        .ok_or_else(|| AppError::internal("register page vanished after opening"))?;
    if page.entry_count > 0 {
        return Err(AppError::conflict(
            "cd_page_open",
            "this cabinet already has a page for the product",
        ));
    }
    let draft = EntryDraft {
        site_id,
        product_id,
        entry_type: "opening_balance".into(),
        movement_id: None,
        occurred_at: ts,
        quantity: held,
        location_id,
        batch_id: None,
        reason: Some(reason),
        detail,
    };
    append_at_head(conn, actor, &page, &draft, ts)
}

/// Carries every site page kept from before cabinets forward: each cabinet holding the product
/// opens its own page with its stock brought forward (naming the site page, its last entry and
/// hash), and the site page is closed by a final entry taking its balance to zero. Both chains
/// stay verifiable. Run after the migrations; does nothing once every site page is closed.
pub fn carry_forward_site_pages(conn: &mut AnyConnection) -> Result<usize, AppError> {
    crate::db::transaction(conn, |conn| {
        let legacy = queries::legacy_open_pages(conn)?;
        if legacy.is_empty() {
            return Ok(0);
        }
        use diesel::prelude::*;
        let author: i64 = crate::db::schema::users::table
            .filter(crate::db::schema::users::username.eq("system:register-migration"))
            .select(crate::db::schema::users::id)
            .first(conn)
            .optional()?
            .ok_or_else(|| AppError::internal("the register migration's user is missing"))?;
        let actor = Actor {
            user_id: author,
            request_id: "register-migration".into(),
        };
        let ts = now();
        for page in &legacy {
            let from = format!(
                "brought forward from site page {} at entry {} ({})",
                page.id, page.entry_count, page.head_hash
            );
            for (site_id, location_id, held) in queries::holdings(conn, page.product_id)? {
                if site_id != page.site_id {
                    continue;
                }
                open_with_balance(
                    conn,
                    &actor,
                    OpeningBalance {
                        site_id,
                        location_id,
                        product_id: page.product_id,
                        held,
                        detail: RegisterDetail::default(),
                        reason: from.clone(),
                    },
                )?;
            }
            if page.balance != 0 {
                let closing = EntryDraft {
                    site_id: page.site_id,
                    product_id: page.product_id,
                    entry_type: "carried_forward".into(),
                    movement_id: None,
                    occurred_at: ts,
                    quantity: -page.balance,
                    location_id: 0,
                    batch_id: None,
                    reason: Some("carried forward to the pages of the CD cabinets".into()),
                    detail: RegisterDetail::default(),
                };
                append_to_page(conn, &actor, page.id, &closing, ts)?;
            }
            queries::close_page(conn, page.id, ts)?;
            crate::audit::record_system(
                conn,
                "register-migration",
                Some(page.site_id),
                "cd.page.carry_forward",
                "cd_register_page",
                page.id,
            )?;
        }
        Ok(legacy.len())
    })
}
