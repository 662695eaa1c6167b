//! The operations endpoints, which need no key: liveness, readiness and Prometheus metrics.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::{metrics, AppState};

/// `/healthz` and `/readyz` response.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `starting`.
    pub status: &'static str,
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub(super) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the store is loaded and a snapshot is published; with a shared store, the
/// node has also caught up with it once since it started.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub(super) async fn readyz(State(s): State<Arc<AppState>>) -> (StatusCode, Json<Health>) {
    let caught_up = s.admin.follow_status().is_none_or(|f| f.ready);
    if s.ready.load(Ordering::Acquire) && caught_up {
        (StatusCode::OK, Json(Health { status: "ok" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health { status: "starting" }),
        )
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub(super) async fn metrics_text(State(s): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(&s),
    )
        .into_response()
}
