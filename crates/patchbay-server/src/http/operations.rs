//! The operations endpoints, which need no key: liveness, readiness and Prometheus metrics.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use patchbay_admin::Freshness;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiQuery};
use super::{metrics, AppState, Errors};

/// `/healthz` and `/readyz` response.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `starting`.
    pub status: &'static str,
    /// On a node of a shared store, how current it is: `fresh` (caught up since it
    /// started, and reaching the store), `catching_up`, or `cache_only` (routing from what
    /// it has while the store cannot be reached).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub state: Option<&'static str>,
}

/// `/readyz` parameters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReadyQuery {
    /// `1` (or `true`): ready only once the node has caught up with its shared store since
    /// it started, and reaches it. Without it, ready as soon as the node can route calls.
    #[param(value_type = Option<String>, example = "1")]
    pub fresh: Option<String>,
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub(super) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        state: None,
    })
}

/// Readiness. Plain: the node can route calls (a snapshot is published, from the store or
/// from a cache): what a load balancer for call handling asks. With `fresh=1`: also caught
/// up with its shared store since it started, and reaching it: what deploy tooling that
/// waits for convergence asks. The body says which state a node of a shared store is in.
#[utoipa::path(get, path = "/readyz", tag = "operations", params(ReadyQuery),
    responses((status = 200, body = Health), (status = 503, body = Health), Errors))]
pub(super) async fn readyz(
    State(s): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<ReadyQuery>,
) -> Result<(StatusCode, Json<Health>), ApiError> {
    let fresh = match query.fresh.as_deref() {
        None | Some("0" | "false") => false,
        Some("1" | "true" | "") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "fresh={other:?}: give fresh=1 (or true) to ask for a node caught up with its store"
            )))
        }
    };
    let freshness = s.admin.follow_status().map(|f| f.freshness);
    let routes = s.ready.load(Ordering::Acquire);
    let ready = routes && (!fresh || freshness.is_none_or(|f| f == Freshness::Fresh));
    let health = Health {
        status: if ready { "ok" } else { "starting" },
        state: freshness.map(Freshness::as_str),
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Json(health)))
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
