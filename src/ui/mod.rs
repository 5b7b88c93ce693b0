//! Pages for people, served at `/ui/` by the service itself: the nurses' round screen (due
//! doses, in-possession supplies and counts) and the auditors' register page.
//!
//! Server-rendered HTML (maud templates, checked when the service compiles), one stylesheet
//! and one small script, no build step. Every page works with forms alone; the script only
//! refreshes the round list and keeps a double tap from sending twice. Each form is handled by
//! calling the API's own handler, so the rules, witnesses and idempotency are the API's.

mod layout;
mod possession;
mod register;
mod round;
mod session;

use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpResponse};

/// Everything at `/ui`: the strictest policy the pages allow (no inline script or style, every
/// asset from the service itself, forms posted only here).
pub fn scope() -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope("/ui")
        .wrap(
            DefaultHeaders::new()
                .add((
                    "Content-Security-Policy",
                    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                ))
                .add(("Cache-Control", "no-store"))
                // The browser then names this origin on a form's POST (with `no-referrer` it
                // sends `Origin: null`, which the CSRF check refuses).
                .add(("Referrer-Policy", "same-origin")),
        )
        .route("", web::get().to(home))
        .route("/", web::get().to(home))
        .route("/sign-in", web::get().to(session::sign_in_page))
        .route("/sign-in", web::post().to(session::sign_in))
        .route("/sign-out", web::post().to(session::sign_out))
        .route("/round", web::get().to(round::page))
        .route("/round/doses", web::post().to(round::record))
        .route("/possession", web::get().to(possession::page))
        .route("/possession/supplies", web::post().to(possession::supply))
        .route("/possession/checks", web::post().to(possession::check))
        .route("/register", web::get().to(register::page))
        .route(
            "/register/{site_id}/export.{format}",
            web::get().to(register::export),
        )
        .route(
            "/register/{site_id}/checkpoints.json",
            web::get().to(register::checkpoints),
        )
        .route("/assets/ui.css", web::get().to(stylesheet))
        .route("/assets/ui.js", web::get().to(script))
}

async fn home() -> HttpResponse {
    layout::see_other("/ui/round")
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(include_str!("assets/ui.css"))
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(include_str!("assets/ui.js"))
}
