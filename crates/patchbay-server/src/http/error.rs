//! The contract's error body, correlation ids, and extractors that turn every bad request
//! into one.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use patchbay_admin::{AdminError, Caller, ErrorCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

tokio::task_local! {
    /// The correlation id of the request being served.
    static CORRELATION_ID: String;
}

/// The header that carries correlation ids both ways.
pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// The header that carries API keys.
pub const KEY_HEADER: &str = "x-api-key";

/// `{code, message}`: the error object inside bulk results.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    /// `invalid_request`, `invalid_phone_number`, `not_found`, `conflict`, ...
    pub code: String,
    /// What was wrong and how to fix it.
    pub message: String,
}

impl From<&AdminError> for ErrorObject {
    fn from(err: &AdminError) -> Self {
        ErrorObject {
            code: err.code().as_str().into(),
            message: err.message().into(),
        }
    }
}

/// The error detail of an error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `invalid_request`, `invalid_phone_number`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `payload_too_large`, `validation_failed`, `internal` or `unavailable`
    /// (503 with `Retry-After`: the shared store cannot be reached; nothing was applied).
    pub code: String,
    /// What was wrong and how to fix it.
    pub message: String,
    /// A unique id of this error, for support requests.
    pub id: String,
    /// The request's `x-correlation-id`, or a generated one.
    pub correlation_id: String,
}

/// Every error response: `{"error": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with a contract code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.as_str(),
            message: message.into(),
        }
    }

    /// A 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, message)
    }

    /// An error with a status outside the contract's codes (405 for a wrong method).
    pub fn with_status(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(err: AdminError) -> Self {
        ApiError::new(err.code(), err.message())
    }
}

fn current_correlation_id() -> String {
    CORRELATION_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| new_correlation_id())
}

fn new_correlation_id() -> String {
    patchbay_admin::random_id("req_").unwrap_or_else(|_| "req_unknown".into())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // 503 is the store being away, which the node already says once; other 5xx are
        // faults.
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::debug!(code = self.code, message = %self.message, "request refused");
        } else if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message,
                id: patchbay_admin::random_id("err_").unwrap_or_else(|_| "err_unknown".into()),
                correlation_id: current_correlation_id(),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // The shared store is down: nothing was applied, and a retry soon may succeed.
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

/// Middleware: takes the request's `x-correlation-id` (or makes one), serves the request
/// with it in scope for error bodies, and echoes it on the response.
pub async fn correlation(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(new_correlation_id, str::to_string);
    let header = HeaderValue::from_str(&id).ok();
    let mut response = CORRELATION_ID.scope(id, next.run(req)).await;
    if let Some(header) = header {
        response.headers_mut().insert(CORRELATION_HEADER, header);
    }
    response
}

/// The caller's key from `x-api-key`; a missing or unreadable header is a 401.
pub struct Auth(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get(KEY_HEADER).and_then(|v| v.to_str().ok()) {
            Some(key) if !key.is_empty() => Ok(Auth(Caller::Key(key.to_string()))),
            _ => Err(ApiError::new(
                ErrorCode::Unauthorized,
                "missing API key: send it in the x-api-key header",
            )),
        }
    }
}

/// A JSON body. Too large → 413; malformed JSON, wrong types, unknown or missing fields →
/// 400 `invalid_request` naming the problem. The content type is not required.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "the request body is over the size limit",
                )
            } else {
                ApiError::invalid(format!("the request body could not be read: {rejection}"))
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
    }
}

/// Path parameters; undecodable ones are a 400.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e| ApiError::invalid(format!("invalid path: {e}")))
    }
}

/// Query parameters; malformed ones are a 400.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::invalid(format!("invalid query: {e}")))
    }
}
