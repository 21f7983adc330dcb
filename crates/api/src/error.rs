//! OpenAI-style errors: `{"error": {"message", "type", "code", "param"}}` with a fitting status.

use agentdeck_engine::EngineError;
use agentdeck_model::ErrorBody;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &str, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                message: message.into(),
                kind: kind.into(),
                code: Some(code.into()),
                param: None,
            },
        }
    }

    pub fn invalid(message: impl Into<String>, param: Option<String>) -> Self {
        let mut err = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_request",
            message,
        );
        err.body.param = param;
        err
    }

    pub fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            code,
            message,
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "forbidden",
            message,
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "not_found",
            message,
        )
    }

    /// Something went wrong on the server's side (logged; the caller learns what).
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!("{message}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal_error",
            message,
        )
    }

    pub fn too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("The request body is larger than {limit} bytes."),
        )
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        if err.storage_unavailable() {
            tracing::warn!("{err}");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "storage_unavailable",
                "The server's database cannot be reached just now; nothing was changed. \
                 Try again shortly.",
            );
        }
        match err {
            EngineError::NotFound { .. } => ApiError::not_found(err.to_string()),
            EngineError::Invalid { message, param } => ApiError::invalid(message, param),
            EngineError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", "conflict", message)
            }
            EngineError::Forbidden(message) => ApiError::forbidden(message),
            EngineError::RateLimited(message) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                message,
            ),
            EngineError::Search(err) => {
                tracing::error!("{err}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "search_error",
                    "The search index could not be read or written; nothing was changed.",
                )
            }
            EngineError::Store(err) => {
                tracing::error!("storage error: {err}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "storage_error",
                    "The server could not read or write its storage; nothing was changed.",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.body });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status == StatusCode::SERVICE_UNAVAILABLE
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
