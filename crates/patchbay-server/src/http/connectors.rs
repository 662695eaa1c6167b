//! `/connectors`: list, create, read, update and delete connectors, one at a time or in
//! batches, and the lookup that answers which connector serves a number (`docs/api.md`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use patchbay_admin::{
    ConnectorPatch, ConnectorUpdate, ConnectorsFound, DeletedConnector, ErrorCode, Explanation,
    NewConnector,
};
use patchbay_core::Connector;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiJson, ApiPath, Auth, ErrorObject};
use super::{blocking, ApiResult, AppState, Errors};

/// `GET /connectors` response.
#[derive(Serialize, ToSchema)]
pub struct ConnectorList {
    /// Every connector of the project.
    pub connectors: Vec<Connector>,
}

/// `POST /connectors/batch` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchGetConnectors {
    /// The connectors to fetch (at least one).
    #[schema(min_items = 1)]
    pub connector_ids: Vec<String>,
}

/// `PATCH /connectors/batch` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchUpdateConnectors {
    /// The updates, applied independently.
    pub updates: Vec<ConnectorUpdate>,
}

/// The outcome of one update of a batch.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchUpdateResult {
    /// The connector the update named.
    pub connector_id: String,
    /// Whether it was applied.
    pub success: bool,
    /// The updated connector, on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Connector>,
    /// Why not, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

/// `PATCH /connectors/batch` response.
#[derive(Serialize, ToSchema)]
pub struct BatchUpdateResponse {
    /// One result per update, in order.
    pub results: Vec<BatchUpdateResult>,
}

/// `POST /connectors/lookup` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LookupBody {
    /// The number to look up, in any accepted form.
    #[schema(min_length = 1, max_length = 64, example = "+14155552671")]
    pub phone_number: String,
    /// A past instant (RFC 3339): the connector as it was and as it routed then
    /// (**extension**).
    #[serde(default)]
    #[schema(example = "2026-12-01T15:00:00Z")]
    pub at: Option<String>,
}

/// `POST /connectors/lookup/explain` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExplainBody {
    /// Any string: the explanation says how it reads.
    #[schema(example = "+1 (415) 555-2671")]
    pub phone_number: String,
    /// A past instant (RFC 3339): explain the lookup as the routes were then.
    #[serde(default)]
    #[schema(example = "2026-12-01T15:00:00Z")]
    pub at: Option<String>,
}

/// List all connectors of a project.
#[utoipa::path(get, path = "/v1/agents/{agentId}/telephony/connectors", tag = "connectors",
    params(("agentId" = String, Path, description = "Project ID", example = "default")),
    responses((status = 200, body = ConnectorList), Errors), security(("api_key" = [])))]
pub(super) async fn list_connectors(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
) -> ApiResult<Json<ConnectorList>> {
    let admin = Arc::clone(&s.admin);
    let connectors = blocking(move || admin.list_connectors(&caller, &agent)).await?;
    Ok(Json(ConnectorList { connectors }))
}

/// Create a connector (extension).
#[utoipa::path(post, path = "/v1/agents/{agentId}/telephony/connectors", tag = "connectors",
    params(("agentId" = String, Path, description = "Project ID", example = "default")),
    request_body = NewConnector,
    responses((status = 201, body = Connector), Errors), security(("api_key" = [])))]
pub(super) async fn create_connector(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiJson(body): ApiJson<NewConnector>,
) -> ApiResult<(StatusCode, Json<Connector>)> {
    let admin = Arc::clone(&s.admin);
    let connector = blocking(move || admin.create_connector(&caller, &agent, body)).await?;
    Ok((StatusCode::CREATED, Json(connector)))
}

/// Get several connectors by ID.
#[utoipa::path(post, path = "/v1/agents/{agentId}/telephony/connectors/batch", tag = "connectors",
    params(("agentId" = String, Path, description = "Project ID", example = "default")),
    request_body = BatchGetConnectors,
    responses((status = 200, body = ConnectorsFound), Errors), security(("api_key" = [])))]
pub(super) async fn batch_get_connectors(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiJson(body): ApiJson<BatchGetConnectors>,
) -> ApiResult<Json<ConnectorsFound>> {
    let admin = Arc::clone(&s.admin);
    Ok(Json(
        blocking(move || admin.batch_get_connectors(&caller, &agent, &body.connector_ids)).await?,
    ))
}

/// Update several connectors; each update is applied independently.
#[utoipa::path(patch, path = "/v1/agents/{agentId}/telephony/connectors/batch", tag = "connectors",
    params(("agentId" = String, Path, description = "Project ID", example = "default")),
    request_body = BatchUpdateConnectors,
    responses((status = 200, body = BatchUpdateResponse), Errors), security(("api_key" = [])))]
pub(super) async fn batch_update_connectors(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiJson(body): ApiJson<BatchUpdateConnectors>,
) -> ApiResult<Json<BatchUpdateResponse>> {
    let admin = Arc::clone(&s.admin);
    let outcomes =
        blocking(move || admin.batch_update_connectors(&caller, &agent, &body.updates)).await?;
    let results = outcomes
        .into_iter()
        .map(|o| match o.result {
            Ok(connector) => BatchUpdateResult {
                connector_id: o.connector_id,
                success: true,
                data: Some(connector),
                error: None,
            },
            Err(err) => BatchUpdateResult {
                connector_id: o.connector_id,
                success: false,
                data: None,
                error: Some(ErrorObject::from(&err)),
            },
        })
        .collect();
    Ok(Json(BatchUpdateResponse { results }))
}

/// The header of a lookup's answer that says how the number matched.
pub const MATCH_HEADER: &str = "x-patchbay-match";

/// The header of a lookup at a past instant: the id of the newest change at or before it.
pub const AS_OF_HEADER: &str = "x-patchbay-as-of";

/// Look up the connector that serves a phone number: its own entry, else the longest routed
/// prefix of its digits. The `x-patchbay-match` header says which (`exact`, or
/// `prefix +4420794600`). With `at`, the connector as it was and as it routed at that
/// instant, from the change history, and `x-patchbay-as-of` names the newest change at or
/// before it.
#[utoipa::path(post, path = "/v1/agents/{agentId}/telephony/connectors/lookup", tag = "connectors",
    params(("agentId" = String, Path, description = "Project ID", example = "default")),
    request_body = LookupBody,
    responses((status = 200, body = Connector, headers(("x-patchbay-match" = String,
        description = "How the number matched: `exact`, or `prefix` and the prefix (extension)"))),
        Errors), security(("api_key" = [])))]
pub(super) async fn lookup_connector(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiJson(body): ApiJson<LookupBody>,
) -> ApiResult<Response> {
    if let Some(at) = body.at {
        let admin = Arc::clone(&s.admin);
        let then =
            blocking(move || admin.lookup_at(&caller, Some(&agent), &body.phone_number, &at))
                .await?;
        let matched = match then.prefix {
            Some(prefix) => format!("prefix {prefix}"),
            None => "exact".to_string(),
        };
        return Ok((
            [(MATCH_HEADER, matched), (AS_OF_HEADER, then.change_id)],
            Json(then.connector),
        )
            .into_response());
    }
    // Served from the published snapshot on the request's own thread: no store access.
    let result = s.admin.lookup_route(&caller, &agent, &body.phone_number);
    s.metrics.lookups.fetch_add(1, Ordering::Relaxed);
    match &result {
        Ok(_) => s.metrics.hits.fetch_add(1, Ordering::Relaxed),
        Err(e) if e.code() == ErrorCode::NotFound => {
            s.metrics.misses.fetch_add(1, Ordering::Relaxed)
        }
        Err(_) => 0,
    };
    let (connector, matched) = result?;
    Ok(([(MATCH_HEADER, matched.to_string())], Json(connector)).into_response())
}

/// Explain a lookup (extension): how the input normalized (or why not), what it matched,
/// the connector and the number's own entry in this project, and what a lookup comes to.
/// Any string gets a `200`; a number another project routes is `not_routed`, as a lookup's
/// `404`.
#[utoipa::path(post, path = "/v1/agents/{agentId}/telephony/connectors/lookup/explain",
    tag = "connectors",
    params(("agentId" = String, Path, description = "Project ID", example = "default")),
    request_body = ExplainBody,
    responses((status = 200, body = Explanation), Errors), security(("api_key" = [])))]
pub(super) async fn explain_lookup(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiJson(body): ApiJson<ExplainBody>,
) -> ApiResult<Json<Explanation>> {
    let admin = Arc::clone(&s.admin);
    // It reads the model for the number's own entry: off the async threads.
    Ok(Json(
        blocking(move || match &body.at {
            Some(at) => admin.explain_at(&caller, &agent, &body.phone_number, at),
            None => admin.explain(&caller, &agent, &body.phone_number),
        })
        .await?,
    ))
}

/// Get a connector by ID.
#[utoipa::path(get, path = "/v1/agents/{agentId}/telephony/connectors/{connectorId}", tag = "connectors",
    params(("agentId" = String, Path, description = "Project ID", example = "default"), ("connectorId" = String, Path)),
    responses((status = 200, body = Connector), Errors), security(("api_key" = [])))]
pub(super) async fn get_connector(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath((agent, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Connector>> {
    let admin = Arc::clone(&s.admin);
    Ok(Json(
        blocking(move || admin.get_connector(&caller, &agent, &id)).await?,
    ))
}

/// Delete a connector and its phone numbers.
#[utoipa::path(delete, path = "/v1/agents/{agentId}/telephony/connectors/{connectorId}", tag = "connectors",
    params(("agentId" = String, Path, description = "Project ID", example = "default"), ("connectorId" = String, Path)),
    responses((status = 200, body = DeletedConnector), Errors), security(("api_key" = [])))]
pub(super) async fn delete_connector(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath((agent, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<DeletedConnector>> {
    let admin = Arc::clone(&s.admin);
    Ok(Json(
        blocking(move || admin.delete_connector(&caller, &agent, &id)).await?,
    ))
}

/// Update a connector: only fields present change; `null` clears.
#[utoipa::path(patch, path = "/v1/agents/{agentId}/telephony/connectors/{connectorId}", tag = "connectors",
    params(("agentId" = String, Path, description = "Project ID", example = "default"), ("connectorId" = String, Path)),
    request_body = ConnectorPatch,
    responses((status = 200, body = Connector), Errors), security(("api_key" = [])))]
pub(super) async fn update_connector(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath((agent, id)): ApiPath<(String, String)>,
    ApiJson(patch): ApiJson<ConnectorPatch>,
) -> ApiResult<Json<Connector>> {
    let admin = Arc::clone(&s.admin);
    Ok(Json(
        blocking(move || admin.update_connector(&caller, &agent, &id, &patch)).await?,
    ))
}
