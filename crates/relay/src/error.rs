//! The relay's one HTTP error: logged in full, answered as `{code, message}` with nothing
//! internal in it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Sent as `Retry-After` (seconds), for answers that say "not now".
    pub retry_after: Option<u64>,
    /// For a session ended by removing access: whether the desktop must delete its cache.
    pub wipe_cache: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `invalid_credentials`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// Only on `401 access_removed` / `access_disabled`: the tenant requires the desktop
    /// to delete that account's cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wipe_cache: Option<bool>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            wipe_cache: None,
        }
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_wipe_cache(mut self, wipe: bool) -> Self {
        self.wipe_cache = Some(wipe);
        self
    }

    /// The relay is at a limit it keeps on purpose (password checks, downloads): try again
    /// in a second.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message).retry_after(1)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// An unexpected failure: the details go to the log, the client gets a generic answer.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the relay could not complete the request; try again",
        )
    }
}

impl ApiError {
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
            wipe_cache: self.wipe_cache,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// Runs blocking store work off the async runtime.
pub async fn blocking<T: Send + 'static>(
    context: &'static str,
    work: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        // What the caller asked for does not exist, or clashes with what does: theirs to
        // fix, and safe to say (the store scopes every lookup by tenant).
        Ok(Err(crate::store::StoreError::NotFound(what))) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )),
        Ok(Err(crate::store::StoreError::Conflict(what))) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("{what} already exists or changed meanwhile"),
        )),
        Ok(Err(crate::store::StoreError::Refused(code, why))) => {
            let status = match code {
                "wrong_password" => StatusCode::FORBIDDEN,
                "weak_password" | "invalid_status" | "invalid_email" | "invalid_name" => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                _ => StatusCode::CONFLICT,
            };
            Err(ApiError::new(status, code, why))
        }
        // The shared database cannot be reached (yet): the client may try again shortly,
        // perhaps through another node.
        Ok(Err(crate::store::StoreError::Unavailable(why))) => {
            tracing::warn!(context, %why, "the store is unavailable");
            let mut error = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the relay cannot reach its database just now; try again shortly",
            );
            error.retry_after = Some(1);
            Err(error)
        }
        Ok(Err(error)) => Err(ApiError::internal(context, error)),
        Err(error) => Err(ApiError::internal(context, error)),
    }
}
