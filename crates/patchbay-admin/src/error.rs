//! Errors of admin operations, each with the code of the HTTP contract (`docs/api.md`).

use std::fmt;

/// The error codes of the HTTP contract. Every [`AdminError`] has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: malformed request, unknown field, wrong type.
    InvalidRequest,
    /// 400: a phone number that normalization rejects, or that is not valid for import.
    InvalidPhoneNumber,
    /// 401: missing, unknown or revoked API key.
    Unauthorized,
    /// 403: the key does not grant the project.
    Forbidden,
    /// 404: no such entity in this project.
    NotFound,
    /// 409: a number owned elsewhere, an environment mismatch, a duplicate.
    Conflict,
    /// 413: over a size or count limit.
    PayloadTooLarge,
    /// 422: unknown voice, malformed language code, clearing a required field.
    ValidationFailed,
    /// 500: a fault of patchbay, never caused by input.
    Internal,
    /// 503: the shared store cannot be reached; nothing was applied: retry.
    Unavailable,
}

impl ErrorCode {
    /// The wire name: `invalid_request`, `not_found`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidPhoneNumber => "invalid_phone_number",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest | ErrorCode::InvalidPhoneNumber => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::ValidationFailed => 422,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an admin operation failed: a contract code and a message that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AdminError {
    code: ErrorCode,
    message: String,
}

impl AdminError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AdminError {
            code,
            message: message.into(),
        }
    }

    /// The contract code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// What was wrong and how to fix it.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        AdminError::new(ErrorCode::InvalidRequest, message)
    }

    pub(crate) fn not_found(what: &str, id: &str) -> Self {
        AdminError::new(
            ErrorCode::NotFound,
            format!("{what} {id:?} was not found in this project"),
        )
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        AdminError::new(ErrorCode::Conflict, message)
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        AdminError::new(ErrorCode::ValidationFailed, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        AdminError::new(ErrorCode::Internal, message)
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        AdminError::new(ErrorCode::Unavailable, message)
    }
}

impl From<patchbay_core::NormalizeError> for AdminError {
    fn from(err: patchbay_core::NormalizeError) -> Self {
        AdminError::new(ErrorCode::InvalidPhoneNumber, err.to_string())
    }
}
