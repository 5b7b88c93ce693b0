//! The one place where failures become HTTP: RFC 9457 `application/problem+json`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// One failed rule on one input field.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldIssue {
    /// Path of the field in the request, e.g. `lines[0].quantity`.
    pub field: String,
    /// Machine-readable rule that failed, e.g. `required`, `decimal_places`, `range`.
    pub rule: String,
    pub message: String,
}

impl FieldIssue {
    pub fn new(
        field: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldIssue {
            field: field.into(),
            rule: rule.into(),
            message: message.into(),
        }
    }
}

/// Problem details (RFC 9457) as every error response carries them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldIssue>,
    /// The record that already exists, when a repeated clinical event is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub existing: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("validation failed")]
    Validation(Vec<FieldIssue>),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorised: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict {code}: {detail}")]
    Conflict {
        code: String,
        detail: String,
        existing: Option<serde_json::Value>,
    },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// The database cannot be reached (or is too busy to answer in time): 503, try again soon.
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(String),
    /// The database's storage is full: 507; nothing was written, reads still work.
    #[error("storage full: {0}")]
    StorageFull(String),
    #[error("database: {0}")]
    Database(diesel::result::Error),
    #[error("internal: {0}")]
    Internal(String),
}

impl AppError {
    /// The rule the first field issue names, for a validation error.
    pub fn first_rule(&self) -> Option<&str> {
        match self {
            AppError::Validation(issues) => issues.first().map(|i| i.rule.as_str()),
            _ => None,
        }
    }

    pub fn internal(msg: impl Into<String>) -> Self {
        AppError::Internal(msg.into())
    }

    pub fn invalid(
        field: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        AppError::Validation(vec![FieldIssue::new(field, rule, message)])
    }

    /// The value a request must give, or 422 naming the field and why it is needed.
    pub fn required<T>(field: &str, value: Option<T>, why: &str) -> Result<T, AppError> {
        value.ok_or_else(|| AppError::invalid(field, "required", why.to_string()))
    }

    pub fn not_found(entity: impl Into<String>) -> Self {
        AppError::NotFound(entity.into())
    }

    pub fn conflict(code: impl Into<String>, detail: impl Into<String>) -> Self {
        AppError::Conflict {
            code: code.into(),
            detail: detail.into(),
            existing: None,
        }
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            AppError::Validation(_) => ("validation-error", "Request failed validation"),
            AppError::BadRequest(_) => ("bad-request", "Malformed request"),
            AppError::Unauthorized(_) => ("unauthorised", "Authentication required"),
            AppError::Forbidden(_) => ("forbidden", "Not permitted"),
            AppError::NotFound(_) => ("not-found", "Not found"),
            AppError::MethodNotAllowed => ("method-not-allowed", "Method not allowed"),
            AppError::Conflict { .. } => ("conflict", "Conflict with the current state"),
            AppError::PayloadTooLarge => ("payload-too-large", "Request body too large"),
            AppError::UnsupportedMediaType => {
                ("unsupported-media-type", "Unsupported content type")
            }
            AppError::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            AppError::DatabaseUnavailable(_) => ("database-unavailable", "Database unavailable"),
            AppError::StorageFull(_) => ("storage-full", "Storage full"),
            AppError::Database(_) | AppError::Internal(_) => {
                ("internal-error", "Internal server error")
            }
        }
    }

    pub fn to_problem(&self) -> Problem {
        let (slug, title) = self.kind();
        let status = self.status_code().as_u16();
        let (detail, code, errors, existing) = match self {
            AppError::Validation(issues) => {
                let fields: Vec<String> = issues
                    .iter()
                    .map(|i| format!("{} ({})", i.field, i.rule))
                    .collect();
                (
                    format!("invalid input: {}", fields.join(", ")),
                    None,
                    issues.clone(),
                    None,
                )
            }
            AppError::BadRequest(d) | AppError::Unauthorized(d) | AppError::Forbidden(d) => {
                (d.clone(), None, vec![], None)
            }
            AppError::NotFound(entity) => (format!("{entity} not found"), None, vec![], None),
            AppError::MethodNotAllowed => (
                "this method is not allowed on this resource".into(),
                None,
                vec![],
                None,
            ),
            AppError::Conflict {
                code,
                detail,
                existing,
            } => (detail.clone(), Some(code.clone()), vec![], existing.clone()),
            AppError::PayloadTooLarge => (
                "the request body exceeds the size limit".into(),
                None,
                vec![],
                None,
            ),
            AppError::UnsupportedMediaType => (
                "send the body as application/json".into(),
                None,
                vec![],
                None,
            ),
            AppError::TooManyRequests { retry_after_secs } => (
                format!("too many attempts; retry after {retry_after_secs} seconds"),
                None,
                vec![],
                None,
            ),
            AppError::DatabaseUnavailable(_) => (
                format!(
                    "the database cannot be reached; retry in {DATABASE_RETRY_AFTER_SECS} seconds"
                ),
                Some("database_unavailable".into()),
                vec![],
                None,
            ),
            AppError::StorageFull(_) => (
                "the database's storage is full: nothing was written; reading still works".into(),
                Some("storage_full".into()),
                vec![],
                None,
            ),
            // Never describe internals to the caller; the log has the detail.
            AppError::Database(_) | AppError::Internal(_) => (
                "the request could not be completed".into(),
                None,
                vec![],
                None,
            ),
        };
        Problem {
            type_: format!("/problems/{slug}"),
            title: title.into(),
            status,
            detail,
            code,
            errors,
            existing,
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            AppError::Database(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // The one log line of a failure, inside the request's span (which carries its id); a
        // client's mistake is the client's, and the span's closing line records its status.
        if self.status_code().is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut builder = HttpResponse::build(self.status_code());
        builder.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            AppError::Unauthorized(_) => {
                builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            AppError::TooManyRequests { retry_after_secs } => {
                builder.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            AppError::DatabaseUnavailable(_) => {
                builder.insert_header((header::RETRY_AFTER, DATABASE_RETRY_AFTER_SECS.to_string()));
            }
            _ => {}
        }
        builder.body(serde_json::to_string(&self.to_problem()).unwrap_or_default())
    }
}

/// Seconds a client should wait before retrying while the database is unreachable.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 2;

/// No connection came from the pool in time: the database is down, unreachable or saturated.
impl From<r2d2::Error> for AppError {
    fn from(e: r2d2::Error) -> Self {
        AppError::DatabaseUnavailable(format!("database pool: {e}"))
    }
}

/// Database errors, sorted by what the client can do about them: a lost connection or a lock
/// held too long is worth retrying (503), a full disk is an operator's (507), anything else is
/// a fault (500).
impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as D};
        let message = match &e {
            D::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                return AppError::DatabaseUnavailable(e.to_string())
            }
            D::DatabaseError(_, info) => info.message().to_string(),
            _ => return AppError::Database(e),
        };
        const FULL: [&str; 3] = [
            "database or disk is full",
            "No space left on device",
            "could not extend file",
        ];
        const UNREACHABLE: [&str; 6] = [
            "database is locked",
            "server closed the connection",
            "terminating connection",
            "connection to server",
            "no connection to the server",
            "could not receive data from server",
        ];
        if FULL.iter().any(|m| message.contains(m)) {
            AppError::StorageFull(message)
        } else if UNREACHABLE.iter().any(|m| message.contains(m)) {
            AppError::DatabaseUnavailable(message)
        } else {
            AppError::Database(e)
        }
    }
}

impl From<validator::ValidationErrors> for AppError {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut issues = Vec::new();
        collect_validation(&errors, "", &mut issues);
        issues.sort_by(|a, b| a.field.cmp(&b.field));
        AppError::Validation(issues)
    }
}

fn collect_validation(
    errors: &validator::ValidationErrors,
    prefix: &str,
    out: &mut Vec<FieldIssue>,
) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let message = e
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| describe_rule(e));
                    out.push(FieldIssue::new(path.clone(), e.code.to_string(), message));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect_validation(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect_validation(inner, &format!("{path}[{i}]"), out);
                }
            }
        }
    }
}

fn describe_rule(e: &validator::ValidationError) -> String {
    let params: Vec<String> = e
        .params
        .iter()
        .filter(|(k, _)| *k != "value")
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if params.is_empty() {
        format!("failed rule {}", e.code)
    } else {
        format!("failed rule {} ({})", e.code, params.join(", "))
    }
}
