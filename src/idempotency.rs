//! `Idempotency-Key`: a client that retries a request (a lost answer on a ward's Wi-Fi) gets
//! the first answer back and nothing is recorded twice. The key is claimed in the same
//! transaction as the write, so two copies racing each other still record once.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use diesel::prelude::*;
use futures_util::future::{ready, Ready};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::schema::idempotency_keys;
use crate::db::{conflict_on_duplicate, now, AnyConnection};
use crate::error::AppError;
use crate::AppState;

pub const HEADER: &str = "Idempotency-Key";

/// The request's key, if it sent one.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(value) = req.headers().get(HEADER) else {
            return ready(Ok(IdempotencyKey(None)));
        };
        let valid = value
            .to_str()
            .ok()
            .filter(|v| !v.is_empty() && v.len() <= 200 && v.bytes().all(|b| b.is_ascii_graphic()));
        ready(match valid {
            Some(v) => Ok(IdempotencyKey(Some(v.to_string()))),
            None => Err(AppError::invalid(
                HEADER,
                "format",
                "1 to 200 visible ASCII characters",
            )),
        })
    }
}

/// A digest of what was asked, so a key reused for a different request is refused.
pub fn fingerprint(route: &str, request: &impl std::fmt::Debug) -> String {
    hex::encode(Sha256::digest(format!("{route}\n{request:?}").as_bytes()))
}

fn stored(
    conn: &mut AnyConnection,
    user_id: i64,
    key: &str,
) -> Result<Option<(String, i64, String)>, AppError> {
    Ok(idempotency_keys::table
        .filter(idempotency_keys::user_id.eq(user_id))
        .filter(idempotency_keys::key.eq(key))
        .select((
            idempotency_keys::fingerprint,
            idempotency_keys::status,
            idempotency_keys::body,
        ))
        .first(conn)
        .optional()?)
}

fn replay(
    print: &str,
    (stored_print, status, body): (String, i64, String),
) -> Result<HttpResponse, AppError> {
    if stored_print != print {
        return Err(AppError::invalid(
            HEADER,
            "same_request",
            "this key was already used for a different request",
        ));
    }
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    Ok(HttpResponse::build(status)
        .content_type("application/json")
        .insert_header(("Idempotent-Replayed", "true"))
        .body(body))
}

const REPLAY: &str = "idempotency_replay";

/// Runs a write once per key: the first time its answer is stored with the key in the same
/// transaction; afterwards the stored answer is returned.
pub async fn run<T, F>(
    state: &web::Data<AppState>,
    user_id: i64,
    key: IdempotencyKey,
    print: String,
    status: StatusCode,
    write: F,
) -> Result<HttpResponse, AppError>
where
    T: Serialize + Send + 'static,
    F: Fn(&mut AnyConnection) -> Result<T, AppError> + Send + 'static,
{
    let Some(key) = key.0 else {
        let value = state.db.write(write).await?;
        return Ok(HttpResponse::build(status).json(value));
    };
    let lookup_key = key.clone();
    if let Some(found) = state
        .db
        .read(move |c| stored(c, user_id, &lookup_key))
        .await?
    {
        return replay(&print, found);
    }
    let claim_print = print.clone();
    let claim_key = key.clone();
    let result = state
        .db
        .write(move |c| {
            let id: i64 = diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::user_id.eq(user_id),
                    idempotency_keys::key.eq(&claim_key),
                    idempotency_keys::fingerprint.eq(&claim_print),
                    idempotency_keys::status.eq(i64::from(status.as_u16())),
                    idempotency_keys::body.eq(""),
                    idempotency_keys::created_at.eq(now()),
                ))
                .returning(idempotency_keys::id)
                .get_result(c)
                .map_err(conflict_on_duplicate(
                    REPLAY,
                    "this request is already recorded",
                ))?;
            let value = write(c)?;
            let body = serde_json::to_string(&value)
                .map_err(|e| AppError::internal(format!("response: {e}")))?;
            diesel::update(idempotency_keys::table.find(id))
                .set(idempotency_keys::body.eq(&body))
                .execute(c)?;
            Ok(body)
        })
        .await;
    match result {
        Ok(body) => Ok(HttpResponse::build(status)
            .content_type("application/json")
            .body(body)),
        Err(AppError::Conflict { code, .. }) if code == REPLAY => {
            let found = state
                .db
                .read(move |c| stored(c, user_id, &key))
                .await?
                .ok_or_else(|| AppError::internal("idempotency key vanished"))?;
            replay(&print, found)
        }
        Err(e) => Err(e),
    }
}
