//! The auditors' page: every register page of their prisons with whether its chain verifies,
//! and the CSV, PDF and checkpoint downloads.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::layout;
use super::session::session;
use crate::auth::permissions::Action;
use crate::cd_register::model::{ExportQuery, VerificationStatus};
use crate::error::AppError;
use crate::AppState;

pub async fn page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let s = match session(&req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    if let Err(e) = s.user.require(Action::CdRead) {
        return layout::failure(&e);
    }
    let ids = s.user.site_ids.clone();
    let sites = match state
        .db
        .read(move |c| Ok(crate::sites::queries::list(c, &ids)?))
        .await
    {
        Ok(sites) => sites,
        Err(e) => return layout::failure(&e),
    };
    let mut sections = Vec::new();
    for site in sites {
        let db = state.db.clone();
        let site_id = site.id;
        let checked = web::block(move || {
            let mut conn = db.get()?;
            let pages = crate::cd_register::service::pages(
                &mut conn,
                site_id,
                crate::http::PageRequest::new(Some(1), Some(crate::http::MAX_PAGE_SIZE)),
            )?;
            drop(conn);
            let verified = crate::cd_register::verify::verify_site_parallel(&db, site_id, None)?;
            Ok::<_, AppError>((pages.items, verified))
        })
        .await
        .unwrap_or_else(|e| Err(AppError::internal(format!("blocking task: {e}"))));
        sections.push((site, checked));
    }
    let may_export = s.user.may(Action::CdExportRead);
    let body = html! {
        main {
            h1 { "Controlled drug register" }
            @for (site, verified) in &sections {
                section {
                    h2 { (site.name) }
                    @if may_export {
                        p class="downloads" {
                            a href={ "/ui/register/" (site.id) "/export.csv" } download { "Register as CSV" }
                            " · " a href={ "/ui/register/" (site.id) "/export.pdf" } download { "Register as PDF" }
                            " · " a href={ "/ui/register/" (site.id) "/checkpoints.json" } download { "Signed checkpoints" }
                        }
                    }
                    @match verified {
                        Ok((pages, v)) => {
                            table {
                                caption { "Pages, each verified now" }
                                thead { tr { th scope="col" { "Cabinet" } th scope="col" { "Drug" } th scope="col" { "Entries" } th scope="col" { "Balance" } th scope="col" { "Verification" } } }
                                tbody {
                                    @for p in pages {
                                        @let check = v.pages.iter().find(|c| c.page_id == p.id);
                                        tr {
                                            td { (p.cabinet.as_deref().unwrap_or("whole site")) }
                                            td { (p.drug) }
                                            td { (p.entry_count) }
                                            td { (p.balance) " " (p.unit) }
                                            td {
                                                @match check {
                                                    Some(c) if c.status == VerificationStatus::Intact && c.checkpoint_failures.is_empty() => { span class="ok" { "Verified" } }
                                                    Some(c) => { span class="bad" { "Does not verify"
                                                        @if let Some(b) = &c.first_broken { ": entry " (b.seq) ", " (b.problem) } } }
                                                    None => { "Not checked" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        Err(e) => { p class="error" role="alert" { (layout::plain_words(e)) } }
                    }
                }
            }
        }
    };
    layout::page("CD register", Some(&s), body)
}

#[derive(Deserialize)]
pub struct ExportPath {
    site_id: i64,
    format: String,
}

pub async fn export(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<ExportPath>,
) -> HttpResponse {
    let s = match session(&req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let p = path.into_inner();
    let query =
        match crate::http::validated::<ExportQuery>(&serde_json::json!({"format": p.format})) {
            Ok(q) => q,
            Err(e) => return layout::failure(&e),
        };
    crate::cd_register::routes::export(
        state,
        s.user,
        web::Path::from(p.site_id),
        crate::http::ValidQuery(query),
    )
    .await
    .unwrap_or_else(|e| layout::failure(&e))
}

pub async fn checkpoints(
    state: web::Data<AppState>,
    req: HttpRequest,
    site_id: web::Path<i64>,
) -> HttpResponse {
    let s = match session(&req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let site_id = site_id.into_inner();
    match crate::cd_register::routes::checkpoint_document(state, s.user, web::Path::from(site_id))
        .await
    {
        Ok(mut r) => {
            r.headers_mut().insert(
                actix_web::http::header::CONTENT_DISPOSITION,
                actix_web::http::header::HeaderValue::from_str(&format!(
                    "attachment; filename=\"cd-checkpoints-{site_id}.json\""
                ))
                .expect("ascii"),
            );
            r
        }
        Err(e) => layout::failure(&e),
    }
}
