//! In-possession medicines at a wing: hand over a supply, or record a cell count.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::layout::{self, page_with_status, plain_words, see_other};
use super::round::{chooser, places};
use super::session::{form_session, session, Session};
use crate::auth::permissions::Action;
use crate::error::AppError;
use crate::idempotency::IdempotencyKey;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct Choice {
    site_id: Option<i64>,
    location_id: Option<i64>,
}

async fn page_for(
    state: web::Data<AppState>,
    s: &Session,
    choice: Choice,
    notice: Option<(i64, String)>,
) -> HttpResponse {
    let places = match places(&state, s, Action::IpSupply, choice.site_id).await {
        Ok(p) => p,
        Err(e) => return layout::failure(&e),
    };
    let site_id = places.site_id;
    let items = match choice.location_id {
        Some(location_id) => {
            let listed = state
                .db
                .read(move |c| {
                    let wing = crate::administration::service::wing_of(c, site_id, location_id)?;
                    crate::administration::service::possession_list(c, site_id, Some(&wing))
                })
                .await;
            match listed {
                Ok(items) => Some((location_id, items)),
                Err(e) => return layout::failure(&e),
            }
        }
        None => None,
    };
    let status = if notice.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = html! {
        main {
            h1 { "In-possession medicines" }
            (chooser("/ui/possession", &places, choice.location_id, html! {}))
            @if let Some((location_id, items)) = &items {
                @if items.is_empty() { p { "No in-possession medicines at this wing." } }
                ol class="doses" {
                    @for item in items {
                        @let id = item.prescription_id;
                        li id={ "ip-" (id) } class="dose" data-product=(item.product_name) {
                            div class="who" { strong { (item.patient_name) } " " span class="number" { (item.prison_number) }
                                @if let Some(cell) = &item.cell { " · cell " (cell) } }
                            div class="what" { strong { (item.product_name) } " — " (item.dose) " " (item.dose_unit)
                                @if item.witness_required { " " span class="badge cd" { "CD: witness needed" } } }
                            @if let Some((_, words)) = notice.as_ref().filter(|n| n.0 == id) {
                                p class="error" role="alert" { (words) }
                            }
                            form method="post" action="/ui/possession/supplies" class="inline" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                input type="hidden" name="key" value=(uuid::Uuid::new_v4().to_string());
                                input type="hidden" name="site_id" value=(site_id);
                                input type="hidden" name="location_id" value=(location_id);
                                input type="hidden" name="prescription_id" value=(id);
                                label for={ "from-" (id) } { "Supply from" }
                                select id={ "from-" (id) } name="from_location_id" {
                                    @for (lid, name) in places.points.iter().filter(|p| p.0 == *location_id).chain(&places.stores) {
                                        option value=(lid) { (name) }
                                    }
                                }
                                label for={ "days-" (id) } { "Days to supply" }
                                input id={ "days-" (id) } name="days" type="number" min="1" max="28" value="7" required;
                                @if item.witness_required {
                                    label for={ "swu-" (id) } { "Witness username" }
                                    input id={ "swu-" (id) } name="witness_username" autocomplete="off" maxlength="64";
                                    label for={ "swp-" (id) } { "Witness password" }
                                    input id={ "swp-" (id) } name="witness_password" type="password" autocomplete="off" maxlength="256";
                                }
                                button type="submit" { "Hand over supply" }
                            }
                            form method="post" action="/ui/possession/checks" class="inline" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                input type="hidden" name="site_id" value=(site_id);
                                input type="hidden" name="location_id" value=(location_id);
                                input type="hidden" name="prescription_id" value=(id);
                                label for={ "count-" (id) } { "Counted in cell (" (item.unit) ")" }
                                input id={ "count-" (id) } name="counted_quantity" inputmode="decimal" pattern="(0|[1-9][0-9]*)(\\.[0-9]+)?" required;
                                label for={ "note-" (id) } { "Note" }
                                input id={ "note-" (id) } name="note" maxlength="2000";
                                button type="submit" class="secondary" { "Record count" }
                            }
                        }
                    }
                }
            } @else {
                p { "Choose the administration point of the wing." }
            }
        }
    };
    page_with_status(status, "In possession", Some(s), body)
}

pub async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    choice: web::Query<Choice>,
) -> HttpResponse {
    match session(&req).await {
        Ok(s) => page_for(state, &s, choice.into_inner(), None).await,
        Err(answer) => answer,
    }
}

#[derive(Debug, Deserialize)]
pub struct SupplyForm {
    csrf: String,
    key: String,
    site_id: i64,
    location_id: i64,
    prescription_id: i64,
    from_location_id: i64,
    days: i64,
    #[serde(default)]
    witness_username: String,
    #[serde(default)]
    witness_password: String,
}

#[derive(Debug, Deserialize)]
pub struct CheckForm {
    csrf: String,
    site_id: i64,
    location_id: i64,
    prescription_id: i64,
    counted_quantity: String,
    #[serde(default)]
    note: String,
}

/// Back to the wing's list, or the list again with the refusal beside the medicine.
async fn answer(
    state: web::Data<AppState>,
    s: &Session,
    (site_id, location_id, prescription_id): (i64, i64, i64),
    result: Result<HttpResponse, AppError>,
) -> HttpResponse {
    match result {
        Ok(_) => see_other(&format!(
            "/ui/possession?site_id={site_id}&location_id={location_id}#ip-{prescription_id}"
        )),
        Err(e) => {
            let choice = Choice {
                site_id: Some(site_id),
                location_id: Some(location_id),
            };
            page_for(state, s, choice, Some((prescription_id, plain_words(&e)))).await
        }
    }
}

pub async fn supply(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SupplyForm>,
) -> HttpResponse {
    let f = form.into_inner();
    let s = match form_session(&req, &f.csrf).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let result = async {
        let mut body = serde_json::json!({"prescription_id": f.prescription_id,
            "location_id": f.from_location_id, "days": f.days});
        if !f.witness_username.trim().is_empty() {
            body["witness"] =
                serde_json::json!({"username": f.witness_username, "password": f.witness_password});
        }
        crate::administration::routes::supply(
            state.clone(),
            s.user.clone(),
            web::Path::from(f.site_id),
            IdempotencyKey(Some(f.key.clone())),
            crate::http::ValidJson(crate::http::validated(&body)?),
        )
        .await
    }
    .await;
    answer(
        state,
        &s,
        (f.site_id, f.location_id, f.prescription_id),
        result,
    )
    .await
}

pub async fn check(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CheckForm>,
) -> HttpResponse {
    let f = form.into_inner();
    let s = match form_session(&req, &f.csrf).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let result = async {
        let mut body = serde_json::json!({"prescription_id": f.prescription_id,
            "counted_quantity": f.counted_quantity.trim()});
        if !f.note.trim().is_empty() {
            body["note"] = f.note.clone().into();
        }
        crate::administration::routes::compliance(
            state.clone(),
            s.user.clone(),
            web::Path::from(f.site_id),
            crate::http::ValidJson(crate::http::validated(&body)?),
        )
        .await
    }
    .await;
    answer(
        state,
        &s,
        (f.site_id, f.location_id, f.prescription_id),
        result,
    )
    .await
}
