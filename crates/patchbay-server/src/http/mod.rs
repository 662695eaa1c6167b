//! The HTTP API of `docs/api.md` over [`patchbay_admin::Admin`], on axum, one module per
//! resource: `connectors.rs`, `console.rs` (the operator console's page and assets),
//! `history.rs` (the change history), `numbers.rs` (with `listing.rs`, the pages and streams of
//! numbers and prefixes), `prefixes.rs`, `operations.rs` (health, readiness, metrics) and
//! `openapi.rs` (the document); `forward.rs` sends a shared store's changes to the node that
//! leads the writes.
//!
//! Handlers are thin: extract (every rejection is a contract error), call the admin (on the
//! blocking pool when the call may wait on the store), shape the response. The OpenAPI
//! document is generated from these handlers and the admin's types, so it cannot drift.

mod connectors;
mod console;
mod error;
pub mod forward;
mod history;
mod listing;
mod me;
pub mod metrics;
mod numbers;
mod openapi;
mod operations;
mod prefixes;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use patchbay_admin::{Admin, AdminError, ErrorCode};
use tower_http::timeout::TimeoutLayer;
use utoipa::IntoResponses;

use error::{ApiError, ErrorBody};

/// What every handler shares.
pub struct AppState {
    /// The admin.
    pub admin: Arc<Admin>,
    /// Counters for `/metrics`.
    pub metrics: metrics::Metrics,
    /// Set once the store is loaded and a snapshot published.
    pub ready: AtomicBool,
    /// The SIP front's counters, when the server answers SIP too (`serve --sip`).
    pub sip: Option<Arc<patchbay_sip::Counters>>,
    /// On a node of a shared store: where its changes go (`forward.rs`).
    pub forward: Option<forward::Forwarder>,
    /// Whether `/console` serves the operator console (`serve --no-console` turns it off).
    pub console: bool,
}

/// Limits of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest request body in bytes.
    pub body_bytes: usize,
    /// How long a request may take.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 8 << 20,
            timeout: Duration::from_secs(60),
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Runs an admin call on the blocking pool (it may wait for an fsync or the writer lock).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AdminError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the operation failed: {e}")))?
        .map_err(ApiError::from)
}

/// The error response of an operation that only checks its key.
#[derive(IntoResponses)]
#[allow(dead_code)]
enum Unauthorized {
    /// Missing, unknown or revoked API key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
}

/// The error responses any operation may give.
#[derive(IntoResponses)]
#[allow(dead_code)]
enum Errors {
    /// Malformed request, unknown field, wrong type, or an unreadable phone number.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing, unknown or revoked API key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The key does not grant this project.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such entity in this project.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Owned elsewhere, environment mismatch, or a duplicate.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// Over a size or count limit.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Unknown voice, malformed language code, clearing a required field.
    #[response(status = 422)]
    Unprocessable(ErrorBody),
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route: see /openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::with_status(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "method not allowed on this route: see /openapi.json",
    )
}

/// The whole HTTP application.
pub fn app(state: Arc<AppState>, limits: Limits) -> Router {
    let node = state.admin.node_name().map(str::to_string);
    let api = Router::new()
        .route(
            "/connectors",
            get(connectors::list_connectors).post(connectors::create_connector),
        )
        .route(
            "/connectors/batch",
            post(connectors::batch_get_connectors).patch(connectors::batch_update_connectors),
        )
        .route("/changes", get(history::list_changes))
        .route("/connectors/lookup", post(connectors::lookup_connector))
        .route(
            "/connectors/lookup/explain",
            post(connectors::explain_lookup),
        )
        .route(
            "/connectors/{connectorId}",
            get(connectors::get_connector)
                .delete(connectors::delete_connector)
                .patch(connectors::update_connector),
        )
        .route(
            "/phone-numbers",
            get(numbers::list_numbers)
                .post(numbers::import_numbers)
                .delete(numbers::delete_numbers),
        )
        .route("/phone-numbers/batch", post(numbers::batch_get_numbers))
        .route(
            "/phone-numbers/{phoneNumber}",
            get(numbers::get_number)
                .patch(numbers::assign_number)
                .delete(numbers::delete_number),
        )
        .route(
            "/number-prefixes",
            get(prefixes::list_prefixes)
                .post(prefixes::import_prefixes)
                .delete(prefixes::delete_prefixes),
        )
        .route(
            "/number-prefixes/{prefix}",
            get(prefixes::get_prefix)
                .patch(prefixes::reassign_prefix)
                .delete(prefixes::delete_prefix),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            forward::changes,
        ));
    let console = if state.console {
        Router::new()
            .route("/console", get(console::page))
            .route("/console/", get(console::page))
            .route("/console/assets/{name}", get(console::asset))
    } else {
        Router::new()
    };
    Router::new()
        .merge(console)
        .nest("/v1/agents/{agentId}/telephony", api)
        .route("/v1/me", get(me::whoami))
        .route("/healthz", get(operations::healthz))
        .route("/readyz", get(operations::readyz))
        .route("/metrics", get(operations::metrics_text))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            metrics::count_requests,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(limits.body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.timeout,
        ))
        // Request spans carry method, path and status, never headers (so never a key); on
        // a node of a shared store they name the node, at the default level.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(
                    move |request: &axum::http::Request<axum::body::Body>| match &node {
                        Some(node) => tracing::info_span!(
                            "request",
                            node = %node,
                            method = %request.method(),
                            path = %request.uri().path(),
                        ),
                        None => tracing::debug_span!(
                            "request",
                            method = %request.method(),
                            uri = %request.uri(),
                            version = ?request.version(),
                        ),
                    },
                )
                // A 5xx is logged by the error it carries (`ApiError`), with what went wrong; a
                // `/readyz` that is not ready yet is no failure to log.
                .on_failure(
                    tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG),
                ),
        )
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::new(ErrorCode::Internal, "the server failed on this request").into_response()
        }))
        .layer(axum::middleware::from_fn(error::correlation))
        .with_state(state)
}
