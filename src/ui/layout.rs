//! The frame of every page, and how failures read to a person.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

use super::session::Session;
use crate::auth::permissions::Action;
use crate::error::AppError;

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

pub fn page(title: &str, session: Option<&Session>, body: Markup) -> HttpResponse {
    page_with_status(StatusCode::OK, title, session, body)
}

pub fn page_with_status(
    status: StatusCode,
    title: &str,
    session: Option<&Session>,
    body: Markup,
) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en-GB" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Prison pharmacy" }
                link rel="stylesheet" href="/ui/assets/ui.css";
                script src="/ui/assets/ui.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                @if let Some(s) = session {
                    header class="bar" {
                        nav aria-label="Pages" {
                            @if s.user.may(Action::RoundRead) {
                                a href="/ui/round" { "Round" }
                            }
                            @if s.user.may(Action::IpSupply) {
                                a href="/ui/possession" { "In possession" }
                            }
                            @if s.user.may(Action::CdRead) {
                                a href="/ui/register" { "CD register" }
                            }
                        }
                        form method="post" action="/ui/sign-out" class="signout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            span { "Signed in as " strong { (s.user.username) } }
                            button type="submit" class="secondary" { "Sign out" }
                        }
                    }
                }
                div id="main" { (body) }
            }
        }
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// What went wrong, in words a nurse can act on; the problem's own detail where it is written
/// for people (a validation rule, a conflict), never internals.
pub fn plain_words(e: &AppError) -> String {
    match e {
        AppError::Validation(issues) => issues
            .iter()
            .map(|i| match i.field.as_str() {
                "witness" => format!("Witness: {}.", i.message),
                "" => format!("{}.", i.message),
                field => format!("{}: {}.", field.replace('_', " "), i.message),
            })
            .collect::<Vec<_>>()
            .join(" "),
        AppError::Conflict { detail, .. } => format!("{detail}."),
        AppError::Forbidden(d) => format!("Not allowed: {d}."),
        AppError::NotFound(what) => format!("No such {what} at your prisons."),
        AppError::TooManyRequests { retry_after_secs } => {
            format!("Too many attempts. Try again in {retry_after_secs} seconds.")
        }
        AppError::DatabaseUnavailable(_) => {
            "The pharmacy system cannot reach its database. Try again in a moment.".into()
        }
        AppError::StorageFull(_) => {
            "The pharmacy system's storage is full: nothing was recorded. Tell the pharmacy.".into()
        }
        _ => {
            "Something went wrong; nothing was recorded. Try again, then tell the pharmacy.".into()
        }
    }
}

/// A whole page saying what failed.
pub fn failure(e: &AppError) -> HttpResponse {
    let status = actix_web::ResponseError::status_code(e);
    page_with_status(
        status,
        "Problem",
        None,
        html! { main class="narrow" { h1 { "Problem" } p class="error" role="alert" { (plain_words(e)) } p { a href="/ui/round" { "Back to the round" } } } },
    )
}
