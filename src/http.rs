//! HTTP plumbing shared by every route: strict JSON and query extractors, pagination,
//! and problem responses for unknown routes and methods.

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::error::{AppError, FieldIssue};
use crate::AppState;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;

/// Any path no route matches.
pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::not_found("resource"))
}

#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub page: i64,
    pub per_page: i64,
}

impl PageRequest {
    pub fn new(page: Option<i64>, per_page: Option<i64>) -> Self {
        PageRequest {
            page: page.unwrap_or(1).max(1),
            per_page: per_page
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
        }
    }

    pub fn offset(self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

/// `page` (from 1) and `per_page` (at most `MAX_PAGE_SIZE`, default `DEFAULT_PAGE_SIZE`), the
/// same on every list; read apart from the list's own filters.
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1.
    #[validate(range(min = 1, max = 1_000_000))]
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Items per page: at most 200, 50 when absent.
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

impl PageQuery {
    pub fn request(self) -> PageRequest {
        PageRequest::new(self.page, self.per_page)
    }
}

const PAGE_PARAMS: [&str; 2] = ["page", "per_page"];

impl FromRequest for PageQuery {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let only_paging: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                form_urlencoded::parse(req.query_string().as_bytes())
                    .filter(|(k, _)| PAGE_PARAMS.contains(&k.as_ref())),
            )
            .finish();
        std::future::ready(parse_query::<PageQuery>(&only_paging).map(|q| q.0))
    }
}

/// One page of a list, with what it takes to reach every other row.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub per_page: i64,
    /// Rows in the whole list.
    pub total: i64,
}

impl<T> Paged<T> {
    /// The requested page of a list of keys, each made into its item: a list whose items
    /// take queries of their own builds only the page asked for.
    pub fn of_keys<K, E>(
        keys: Vec<K>,
        page: PageRequest,
        item: impl FnMut(K) -> Result<T, E>,
    ) -> Result<Paged<T>, E> {
        let total = keys.len() as i64;
        let items = keys
            .into_iter()
            .skip(page.offset().min(total) as usize)
            .take(page.per_page as usize)
            .map(item)
            .collect::<Result<_, E>>()?;
        Ok(Paged {
            items,
            page: page.page,
            per_page: page.per_page,
            total,
        })
    }

    /// The requested page of a whole list.
    pub fn of(all: Vec<T>, page: PageRequest) -> Paged<T> {
        let total = all.len() as i64;
        let items = all
            .into_iter()
            .skip(page.offset().min(total) as usize)
            .take(page.per_page as usize)
            .collect();
        Paged {
            items,
            page: page.page,
            per_page: page.per_page,
            total,
        }
    }
}

/// Turns a serde failure at `path` into the field and rule it broke.
fn issue_from_serde(path: &str, message: &str) -> FieldIssue {
    // serde_json appends the position; the field path says more.
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_string();
    let backticked = message.split('`').nth(1).unwrap_or("").to_string();
    let (field, rule) = if message.starts_with("missing field") {
        (join_path(path, &backticked), "required".to_string())
    } else if message.starts_with("unknown field") {
        // serde_path_to_error already ends the path with the unknown field.
        let field = if path.is_empty() || path == "." {
            backticked.clone()
        } else {
            path.to_string()
        };
        (field, "unknown_field".to_string())
    } else if message.starts_with("unknown variant") {
        (path.to_string(), "enum".to_string())
    } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
        (path.to_string(), "type".to_string())
    } else if let Some((rule, _)) = message
        .split_once(": ")
        .filter(|(r, _)| r.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    {
        (path.to_string(), rule.to_string())
    } else {
        (path.to_string(), "format".to_string())
    };
    let field = if field.is_empty() || field == "." {
        "body".to_string()
    } else {
        field
    };
    FieldIssue::new(field, rule, message)
}

fn join_path(path: &str, field: &str) -> String {
    if path.is_empty() || path == "." {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let mime = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// A JSON body: 415 unless sent as JSON, 413 past the size limit, 400 if it is not JSON,
/// 422 naming the field and rule if it does not fit the type or fails validation.
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.config.max_body_bytes)
            .unwrap_or(262_144);
        let json = is_json(req);
        let declared_len = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(AppError::UnsupportedMediaType);
            }
            if declared_len.is_some_and(|n| n > limit) {
                return Err(AppError::PayloadTooLarge);
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|e| AppError::BadRequest(format!("could not read body: {e}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(AppError::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            let value = parse_json::<T>(&body)?;
            value.validate()?;
            Ok(ValidJson(value))
        })
    }
}

/// Refuses control characters and out-of-range dates anywhere in a JSON body, naming the field.
fn check_json_edges(value: &serde_json::Value, path: &str) -> Result<(), AppError> {
    use crate::domain::input::{check_date_like, check_not_blank, check_text};
    match value {
        serde_json::Value::String(s) => check_text(s)
            .and_then(|()| check_not_blank(s))
            .and_then(|()| check_date_like(s))
            .map_err(|(rule, message)| AppError::invalid(path.to_string(), rule, message)),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_json_edges(v, &format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().try_for_each(|(k, v)| {
            check_text(k).map_err(|(rule, message)| AppError::invalid(k.clone(), rule, message))?;
            check_json_edges(v, &join_path(path, k))
        }),
        _ => Ok(()),
    }
}

/// A value built by the service itself (from a page's form, say) checked exactly as a JSON body
/// would be: types, edges and validation rules.
pub fn validated<T: DeserializeOwned + Validate>(value: &serde_json::Value) -> Result<T, AppError> {
    let body = serde_json::to_vec(value).map_err(|e| AppError::internal(e.to_string()))?;
    let parsed: T = parse_json(&body)?;
    parsed.validate()?;
    Ok(parsed)
}

pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        check_json_edges(&value, "")?;
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            AppError::Validation(vec![issue_from_serde(&path, &inner.to_string())])
        } else {
            AppError::BadRequest(format!("malformed JSON: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| AppError::BadRequest(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Query parameters parsed strictly: 422 naming the parameter and rule.
pub struct ValidQuery<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidQuery<T> {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Paging is read by `PageQuery`; the filter sees the rest.
        let filters: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                form_urlencoded::parse(req.query_string().as_bytes())
                    .filter(|(k, _)| !PAGE_PARAMS.contains(&k.as_ref())),
            )
            .finish();
        std::future::ready(parse_query(&filters))
    }
}

pub fn parse_query<T: DeserializeOwned + Validate>(query: &str) -> Result<ValidQuery<T>, AppError> {
    use crate::domain::input::{check_date_like, check_text};
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        check_text(&name)
            .and_then(|()| check_text(&value))
            .and_then(|()| check_date_like(&value))
            .map_err(|(rule, message)| AppError::invalid(name.to_string(), rule, message))?;
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        AppError::Validation(vec![issue_from_serde(&path, &e.into_inner().to_string())])
    })?;
    value.validate()?;
    Ok(ValidQuery(value))
}

/// Something that produces a download a chunk at a time from the database, so a response of
/// any length is served with bounded memory.
pub trait ChunkSource: Send + 'static {
    /// The next piece of the body, or None at the end.
    fn next_chunk(
        &mut self,
        conn: &mut crate::db::AnyConnection,
    ) -> Result<Option<Vec<u8>>, AppError>;
}

/// A streamed download: each chunk is read on a blocking thread with a pooled connection,
/// and the next is not read until the client has taken the last.
pub fn download<S: ChunkSource>(
    db: crate::db::Db,
    source: S,
    content_type: &str,
    file_name: &str,
) -> HttpResponse {
    let body = futures_util::stream::try_unfold(Some(source), move |source| {
        let db = db.clone();
        async move {
            let Some(mut source) = source else {
                return Ok(None);
            };
            let (chunk, source) = db
                .read(move |c| {
                    let chunk = source.next_chunk(c)?;
                    Ok((chunk, source))
                })
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "export stopped");
                    std::io::Error::other("export failed")
                })?;
            Ok::<_, std::io::Error>(chunk.map(|bytes| (web::Bytes::from(bytes), Some(source))))
        }
    });
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file_name}\""),
        ))
        .streaming(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        quantity: crate::domain::Quantity,
    }

    fn issues(r: Result<Body, AppError>) -> Vec<FieldIssue> {
        match r {
            Err(AppError::Validation(v)) => v,
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn serde_failures_name_field_and_rule() {
        let i = issues(parse_json::<Body>(br#"{}"#));
        assert_eq!(
            (i[0].field.as_str(), i[0].rule.as_str()),
            ("quantity", "required")
        );
        let i = issues(parse_json::<Body>(br#"{"quantity":"1.0001"}"#));
        assert_eq!(
            (i[0].field.as_str(), i[0].rule.as_str()),
            ("quantity", "decimal_places")
        );
        let i = issues(parse_json::<Body>(br#"{"quantity":"1","extra":1}"#));
        assert_eq!(
            (i[0].field.as_str(), i[0].rule.as_str()),
            ("extra", "unknown_field")
        );
        let i = issues(parse_json::<Body>(br#"{"quantity":true}"#));
        assert_eq!(
            (i[0].field.as_str(), i[0].rule.as_str()),
            ("quantity", "type")
        );
        assert!(matches!(
            parse_json::<Body>(br#"{"quantity":"#),
            Err(AppError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"quantity":"1"} x"#),
            Err(AppError::BadRequest(_))
        ));
    }
}
