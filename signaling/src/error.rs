//! API errors: every refusal is a 4xx with a JSON body `{code, message}` a
//! person can act on; nothing is changed when one is returned.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parley_policy::Refusal;
use serde::Serialize;
use utoipa::ToSchema;

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `not_found`, `booking_refused`.
    pub code: String,
    /// What went wrong, in words a person can act on.
    pub message: String,
    /// For `booking_refused`: every rule the booking broke.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub refusals: Vec<Refusal>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{message}")]
    BookingRefused {
        message: String,
        refusals: Vec<Refusal>,
    },
    /// The store cannot write (its disk is full, or its files are
    /// read-only): nothing was changed, and trying later may succeed.
    #[error("{0}")]
    StorageUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable(_) | Self::BookingRefused { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::StorageUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TooLarge(_) => "too_large",
            Self::Unprocessable(_) => "invalid",
            Self::BookingRefused { .. } => "booking_refused",
            Self::StorageUnavailable(_) => "storage_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn not_found(what: &str, id: i64) -> Self {
        Self::NotFound(format!("no {what} with id {id}"))
    }
}

/// Why the store cannot write, when that is the disk's doing rather than
/// the request's: the words a person is told.
fn storage_fault(e: &sqlx::Error) -> Option<&'static str> {
    const FULL: &str = "the server's disk is full";
    const READ_ONLY: &str = "the server's data is read-only";
    const FAILED: &str =
        "the server's disk failed to store the change (it may have turned read-only)";
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            // SQLite: the primary result code is the low byte of the
            // extended one (SQLITE_FULL 13, SQLITE_READONLY 8, SQLITE_IOERR
            // 10: a write the file system refused, as one the kernel turned
            // read-only under an open database does); PostgreSQL: SQLSTATE
            // disk_full, read_only_sql_transaction, io_error.
            match (code.parse::<i64>().ok().map(|c| c & 0xff), code.as_ref()) {
                (Some(13), _) | (_, "53100") => Some(FULL),
                (Some(8), _) | (_, "25006") => Some(READ_ONLY),
                (Some(10), _) | (_, "58030") => Some(FAILED),
                _ => None,
            }
        }
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::StorageFull => Some(FULL),
            std::io::ErrorKind::ReadOnlyFilesystem => Some(READ_ONLY),
            _ => None,
        },
        _ => None,
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "store error");
        match storage_fault(&e) {
            Some(cause) => Self::StorageUnavailable(format!(
                "{cause}, so nothing can be stored right now; nothing was changed. Try again later"
            )),
            None => Self::Internal(
                "the store could not complete the request; nothing was changed".into(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code().to_string();
        let (message, refusals) = match self {
            Self::BookingRefused { message, refusals } => (message, refusals),
            other => (other.to_string(), Vec::new()),
        };
        (
            status,
            Json(ErrorBody {
                code,
                message,
                refusals,
            }),
        )
            .into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
