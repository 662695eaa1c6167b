//! `GET /changes`: a project's change history, newest first, filtered and paged
//! (`docs/api.md`, "Change history").

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use patchbay_admin::{ChangesPage, ChangesQuery};

use super::error::{ApiPath, ApiQuery, Auth};
use super::{blocking, ApiResult, AppState, Errors};

/// A project's changes, newest first (extension): each with its commit time, its actor
/// (`key` and its id, `cli` or `library`), its node on a shared store, and the mutations
/// this project sees, before and after. `number`, `prefix` and `connectorId` keep the
/// changes (and their mutations) that touched it; `since` and `until` bound the commit time
/// (RFC 3339; older than the history keeps is `422`, naming the oldest retained instant).
#[utoipa::path(get, path = "/v1/agents/{agentId}/telephony/changes", tag = "history",
    params(("agentId" = String, Path, description = "Project ID", example = "default"),
        ChangesQuery),
    responses((status = 200, body = ChangesPage), Errors), security(("api_key" = [])))]
pub(super) async fn list_changes(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiQuery(query): ApiQuery<ChangesQuery>,
) -> ApiResult<Json<ChangesPage>> {
    let admin = Arc::clone(&s.admin);
    // It may wait for the history to record the newest change: off the async threads.
    Ok(Json(
        blocking(move || admin.changes(&caller, &agent, &query)).await?,
    ))
}
