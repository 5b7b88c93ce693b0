//! The round: choose the point, date and time; every due dose with one tap per outcome.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{NaiveDate, Timelike};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, page_with_status, plain_words, see_other};
use super::session::{form_session, session, Session};
use crate::administration::model::{RoundItem, RoundList, RoundQuery};
use crate::auth::permissions::Action;
use crate::domain::administration::{AwayReason, DoseOutcome, InjectionSite};
use crate::error::AppError;
use crate::idempotency::IdempotencyKey;
use crate::prescribing::model::{Route, Slot};
use crate::AppState;

/// What the nurse has chosen; anything missing is chosen for them.
#[derive(Debug, Default, Deserialize)]
pub struct Choice {
    site_id: Option<i64>,
    location_id: Option<i64>,
    date: Option<NaiveDate>,
    slot: Option<String>,
}

/// The round a point serves now: morning until 11, lunchtime until 14, teatime until 18.
fn slot_now() -> Slot {
    match chrono::Local::now().hour() {
        0..=10 => Slot::Morning,
        11..=13 => Slot::Lunchtime,
        14..=17 => Slot::Teatime,
        _ => Slot::Night,
    }
}

/// (site id, name) the user may run rounds at, and the administration points of the chosen one.
pub struct Places {
    pub sites: Vec<(i64, String)>,
    pub site_id: i64,
    pub points: Vec<(i64, String)>,
    /// Where else stock is handed out from: the pharmacy stores.
    pub stores: Vec<(i64, String)>,
}

pub async fn places(
    state: &web::Data<AppState>,
    s: &Session,
    action: Action,
    wanted: Option<i64>,
) -> Result<Places, AppError> {
    s.user.require(action)?;
    let ids = s.user.site_ids.clone();
    let sites: Vec<(i64, String)> = state
        .db
        .read(move |c| Ok(crate::sites::queries::list(c, &ids)?))
        .await?
        .into_iter()
        .map(|site| (site.id, site.name))
        .collect();
    let site_id = match wanted {
        Some(id) => {
            s.user.require_site(id)?;
            id
        }
        None => sites
            .first()
            .map(|s| s.0)
            .ok_or_else(|| AppError::not_found("prison"))?,
    };
    let locations: Vec<_> = state
        .db
        .read(move |c| Ok(crate::sites::queries::locations_of(c, site_id)?))
        .await?
        .into_iter()
        .filter(|l| l.active)
        .collect();
    let of_kind = |kind: &str| {
        locations
            .iter()
            .filter(|l| l.kind == kind)
            .map(|l| (l.id, format!("{} ({})", l.name, l.code)))
            .collect()
    };
    Ok(Places {
        sites,
        site_id,
        points: of_kind("administration_point"),
        stores: of_kind("pharmacy_store"),
    })
}

pub fn chooser(action: &str, places: &Places, location_id: Option<i64>, extra: Markup) -> Markup {
    html! {
        form method="get" action=(action) class="chooser" {
            div {
                label for="site_id" { "Prison" }
                select id="site_id" name="site_id" {
                    @for (id, name) in &places.sites {
                        option value=(id) selected[*id == places.site_id] { (name) }
                    }
                }
            }
            div {
                label for="location_id" { "Administration point" }
                select id="location_id" name="location_id" {
                    @for (id, name) in &places.points {
                        option value=(id) selected[Some(*id) == location_id] { (name) }
                    }
                }
            }
            (extra)
            div { button type="submit" { "Show" } }
        }
    }
}

pub async fn page_for(
    state: web::Data<AppState>,
    s: &Session,
    choice: Choice,
    error: Option<(i64, String)>,
) -> HttpResponse {
    let slot = choice
        .slot
        .as_deref()
        .and_then(Slot::parse)
        .unwrap_or_else(slot_now);
    let date = choice
        .date
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let places = match places(&state, s, Action::RoundRead, choice.site_id).await {
        Ok(p) => p,
        Err(e) => return layout::failure(&e),
    };
    let round = match choice.location_id {
        Some(location_id) => {
            let site_id = places.site_id;
            let q = RoundQuery {
                date,
                slot,
                location_id: Some(location_id),
                wing: None,
            };
            match state
                .db
                .read(move |c| crate::administration::service::round(c, site_id, &q))
                .await
            {
                Ok(r) => Some(r),
                Err(e) => return layout::failure(&e),
            }
        }
        None => None,
    };
    let when = html! {
        div {
            label for="date" { "Date" }
            input id="date" name="date" type="date" value=(date) required;
        }
        div {
            label for="slot" { "Round" }
            select id="slot" name="slot" {
                @for s in Slot::ALL {
                    option value=(s.as_str()) selected[*s == slot] { (slot_name(*s)) }
                }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = html! {
        main {
            h1 { "Medication round" }
            (chooser("/ui/round", &places, choice.location_id, when))
            @if let (Some(round), Some(location_id)) = (&round, choice.location_id) {
                (list(s, round, location_id, error.as_ref()))
            } @else {
                p { "Choose the administration point to see the doses due." }
            }
        }
    };
    page_with_status(status, "Round", Some(s), body)
}

pub async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    choice: web::Query<Choice>,
) -> HttpResponse {
    let s = match session(&req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    page_for(state, &s, choice.into_inner(), None).await
}

fn slot_name(s: Slot) -> &'static str {
    match s {
        Slot::Morning => "Morning",
        Slot::Lunchtime => "Lunchtime",
        Slot::Teatime => "Teatime",
        Slot::Night => "Night",
    }
}

fn outcome_name(o: DoseOutcome) -> &'static str {
    match o {
        DoseOutcome::Given => "Given",
        DoseOutcome::Refused => "Refused",
        DoseOutcome::DidNotAttend => "Did not attend",
        DoseOutcome::Withheld => "Withheld",
        DoseOutcome::Away => "Away",
        DoseOutcome::NotAvailable => "Not available",
        DoseOutcome::Other => "Other",
    }
}

fn list(s: &Session, round: &RoundList, location_id: i64, error: Option<&(i64, String)>) -> Markup {
    let recorded = round.items.iter().filter(|i| i.recorded.is_some()).count();
    html! {
        section id="round-list" aria-live="polite" data-refresh="30" {
            h2 { (slot_name(round.slot)) " round, " (round.date.format("%A %-d %B %Y"))
                @if let Some(w) = &round.wing { ", wing " (w) } }
            p class="summary" { (recorded) " of " (round.items.len()) " doses recorded" }
            @if round.items.is_empty() { p { "No doses are due at this round." } }
            ol class="doses" {
                @for item in &round.items {
                    (dose(s, round, item, location_id, error.filter(|e| e.0 == item.prescription_id).map(|e| e.1.as_str())))
                }
            }
        }
    }
}

fn dose(
    s: &Session,
    round: &RoundList,
    item: &RoundItem,
    location_id: i64,
    error: Option<&str>,
) -> Markup {
    let id = item.prescription_id;
    let key = uuid::Uuid::new_v4().to_string();
    html! {
        li id={ "dose-" (id) } class={ "dose" @if item.recorded.is_some() { " done" } } data-product=(item.product_name) {
            div class="who" {
                strong { (item.patient_name) } " " span class="number" { (item.prison_number) }
                @if let Some(cell) = &item.cell { " · cell " (cell) }
            }
            div class="what" {
                strong { (item.product_name) } " — " (item.dose) " " (item.dose_unit) ", " (item.route.as_str())
                @if item.witness_required { " " span class="badge cd" { "CD: witness needed" } }
                @if item.overdue { " " span class="badge alert" { "Overdue since " (item.scheduled_date.format("%-d %b")) } }
                @if item.open_alerts > 0 { " " span class="badge alert" { (item.open_alerts) " open alert" @if item.open_alerts > 1 { "s" } } }
            }
            @if !item.adjustments.is_empty() {
                ul class="adjustments" aria-label="Reasonable adjustments" {
                    @for a in &item.adjustments { li { strong { (a.label) } ": " (a.text) } }
                }
            }
            @if !item.recent_outcomes.is_empty() {
                div class="recent" { "Last: "
                    @for (i, o) in item.recent_outcomes.iter().take(3).enumerate() {
                        @if i > 0 { ", " }
                        (outcome_name(o.outcome)) " (" (o.date.format("%-d %b")) " " (o.slot.as_str()) ")"
                    }
                }
            }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            @if let Some(done) = &item.recorded {
                p class="recorded" { "Recorded: " strong { (outcome_name(done.outcome)) }
                    " at " (done.recorded_at.format("%H:%M")) }
            } @else {
                form method="post" action="/ui/round/doses" class="outcome" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    input type="hidden" name="key" value=(key);
                    input type="hidden" name="site_id" value=(round.site_id);
                    input type="hidden" name="location_id" value=(location_id);
                    input type="hidden" name="date" value=(item.scheduled_date);
                    input type="hidden" name="slot" value=(round.slot.as_str());
                    input type="hidden" name="prescription_id" value=(id);
                    @if item.witness_required {
                        fieldset class="witness" {
                            legend { "Witness signs here" }
                            div {
                                label for={ "wu-" (id) } { "Witness username" }
                                input id={ "wu-" (id) } name="witness_username" autocomplete="off" maxlength="64";
                            }
                            div {
                                label for={ "wp-" (id) } { "Witness password" }
                                input id={ "wp-" (id) } name="witness_password" type="password" autocomplete="off" maxlength="256";
                            }
                        }
                    }
                    @if matches!(item.route, Route::Subcutaneous | Route::Intramuscular) {
                        label for={ "site-" (id) } { "Injection site" }
                        select id={ "site-" (id) } name="injection_site" {
                            option value="" { "—" }
                            @for site in InjectionSite::ALL {
                                option value=(site.as_str()) { (site.as_str().replace('_', " ")) }
                            }
                        }
                    }
                    div class="buttons" {
                        @for o in [DoseOutcome::Given, DoseOutcome::Refused, DoseOutcome::DidNotAttend, DoseOutcome::NotAvailable] {
                            button type="submit" name="outcome" value=(o.as_str()) class={ @if o == DoseOutcome::Given { "primary" } } { (outcome_name(o)) }
                        }
                    }
                    details {
                        summary { "Withheld, away or other" }
                        label for={ "reason-" (id) } { "Reason (withheld or other)" }
                        input id={ "reason-" (id) } name="reason" maxlength="2000";
                        label for={ "away-" (id) } { "Away because" }
                        select id={ "away-" (id) } name="away_reason" {
                            option value="" { "—" }
                            @for a in AwayReason::ALL { option value=(a.as_str()) { (a.as_str()) } }
                        }
                        div class="buttons" {
                            @for o in [DoseOutcome::Withheld, DoseOutcome::Away, DoseOutcome::Other] {
                                button type="submit" name="outcome" value=(o.as_str()) { (outcome_name(o)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DoseForm {
    csrf: String,
    key: String,
    site_id: i64,
    location_id: i64,
    date: NaiveDate,
    slot: String,
    prescription_id: i64,
    outcome: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    away_reason: String,
    #[serde(default)]
    witness_username: String,
    #[serde(default)]
    witness_password: String,
    #[serde(default)]
    injection_site: String,
}

/// Text a person left empty is no value at all.
fn given(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.trim().is_empty())
}

/// Records a dose through the API's own handler (its rules, witness and idempotency key), then
/// back to the round at that dose; a refusal is shown next to the dose in words.
pub async fn record(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<DoseForm>,
) -> HttpResponse {
    let f = form.into_inner();
    let s = match form_session(&req, &f.csrf).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let choice = Choice {
        site_id: Some(f.site_id),
        location_id: Some(f.location_id),
        date: Some(f.date),
        slot: Some(f.slot.clone()),
    };
    let back = format!(
        "/ui/round?site_id={}&location_id={}&date={}&slot={}#dose-{}",
        f.site_id, f.location_id, f.date, f.slot, f.prescription_id
    );
    let result = async {
        let mut body = serde_json::json!({
            "prescription_id": f.prescription_id, "date": f.date, "slot": f.slot,
            "outcome": f.outcome, "location_id": f.location_id,
        });
        if let Some(r) = given(&f.reason) {
            body["reason"] = r.into();
        }
        if let Some(a) = given(&f.away_reason) {
            body["away_reason"] = a.into();
        }
        if let Some(site) = given(&f.injection_site) {
            body["injection_site"] = site.into();
        }
        if let Some(u) = given(&f.witness_username) {
            body["witness"] = serde_json::json!({"username": u, "password": f.witness_password});
        }
        let body = crate::http::validated(&body)?;
        crate::administration::routes::record(
            state.clone(),
            s.user.clone(),
            web::Path::from(f.site_id),
            IdempotencyKey(Some(f.key.clone())),
            crate::http::ValidJson(body),
        )
        .await
    }
    .await;
    match result {
        Ok(_) => see_other(&back),
        Err(e) => {
            let words = plain_words(&e);
            page_for(state, &s, choice, Some((f.prescription_id, words))).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_is_no_value() {
        assert_eq!(given("  "), None);
        assert_eq!(given(" court "), Some(" court "));
    }
}
