//! `/number-prefixes`: the prefix routes of `docs/api.md` (an extension), over the admin.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use patchbay_admin::{NumberPrefix, PrefixImportRequest};
use patchbay_core::Prefix;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiJson, ApiPath, ApiQuery, Auth, ErrorObject};
use super::listing::{self, ListPrefixesQuery, NumberPrefixList};
use super::{blocking, ApiResult, AppState, Errors};

/// A per-prefix failure.
#[derive(Serialize, ToSchema)]
pub struct PrefixFailure {
    /// The prefix as it was given.
    pub prefix: String,
    /// Why it failed.
    pub error: ErrorObject,
}

fn failures(errors: Vec<patchbay_admin::PrefixError>) -> Vec<PrefixFailure> {
    errors
        .iter()
        .map(|e| PrefixFailure {
            prefix: e.prefix.clone(),
            error: ErrorObject::from(&e.error),
        })
        .collect()
}

/// `POST /number-prefixes` response.
#[derive(Serialize, ToSchema)]
pub struct ImportPrefixesResponse {
    /// The prefixes now routed.
    pub imported: Vec<NumberPrefix>,
    /// The prefixes that were not (omitted when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<PrefixFailure>,
}

/// `PATCH /number-prefixes/{prefix}` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReassignPrefixBody {
    /// The connector to route to (same project and environment).
    pub connector_id: String,
}

/// `DELETE /number-prefixes/{prefix}` response.
#[derive(Serialize, ToSchema)]
pub struct DeletePrefixResponse {
    /// The prefix deleted.
    pub deleted: Prefix,
}

/// `DELETE /number-prefixes` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefixesBody {
    /// Prefixes in any accepted form (at least one).
    #[schema(min_items = 1, example = json!(["+4420794600"]))]
    pub prefixes: Vec<String>,
}

/// `DELETE /number-prefixes` response.
#[derive(Serialize, ToSchema)]
pub struct DeletePrefixesResponse {
    /// The prefixes deleted.
    pub deleted: Vec<Prefix>,
    /// The prefixes that were not (omitted when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<PrefixFailure>,
}

/// List the number prefixes of a project, optionally one connector's (extension).
#[utoipa::path(get, path = "/v1/agents/{agentId}/telephony/number-prefixes", tag = "number-prefixes",
    params(("agentId" = String, Path, description = "Project ID", example = "default"), ListPrefixesQuery),
    responses((status = 200, body = NumberPrefixList), Errors), security(("api_key" = [])))]
pub(super) async fn list_prefixes(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListPrefixesQuery>,
) -> ApiResult<Response> {
    listing::list_prefixes(Arc::clone(&s.admin), caller, agent, query).await
}

/// Route prefixes to a connector (bulk, one atomic change; per-prefix errors; extension).
#[utoipa::path(post, path = "/v1/agents/{agentId}/telephony/number-prefixes", tag = "number-prefixes",
    params(("agentId" = String, Path, description = "Project ID", example = "default")),
    request_body = PrefixImportRequest,
    responses((status = 200, body = ImportPrefixesResponse), Errors), security(("api_key" = [])))]
pub(super) async fn import_prefixes(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiJson(body): ApiJson<PrefixImportRequest>,
) -> ApiResult<Json<ImportPrefixesResponse>> {
    let admin = Arc::clone(&s.admin);
    let result = blocking(move || admin.import_prefixes(&caller, &agent, &body)).await?;
    Ok(Json(ImportPrefixesResponse {
        imported: result.imported,
        errors: failures(result.errors),
    }))
}

/// Delete prefixes (bulk, one atomic change; per-prefix errors; extension).
#[utoipa::path(delete, path = "/v1/agents/{agentId}/telephony/number-prefixes", tag = "number-prefixes",
    params(("agentId" = String, Path, description = "Project ID", example = "default")),
    request_body = PrefixesBody,
    responses((status = 200, body = DeletePrefixesResponse), Errors), security(("api_key" = [])))]
pub(super) async fn delete_prefixes(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiJson(body): ApiJson<PrefixesBody>,
) -> ApiResult<Json<DeletePrefixesResponse>> {
    let admin = Arc::clone(&s.admin);
    let result = blocking(move || admin.delete_prefixes(&caller, &agent, &body.prefixes)).await?;
    Ok(Json(DeletePrefixesResponse {
        deleted: result.deleted,
        errors: failures(result.errors),
    }))
}

/// Get a number prefix (the path may be percent-encoded: `%2B4420794600`; extension).
#[utoipa::path(get, path = "/v1/agents/{agentId}/telephony/number-prefixes/{prefix}", tag = "number-prefixes",
    params(("agentId" = String, Path, description = "Project ID", example = "default"), ("prefix" = String, Path, example = "+4420794600")),
    responses((status = 200, body = NumberPrefix), Errors), security(("api_key" = [])))]
pub(super) async fn get_prefix(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath((agent, prefix)): ApiPath<(String, String)>,
) -> ApiResult<Json<NumberPrefix>> {
    let admin = Arc::clone(&s.admin);
    Ok(Json(
        blocking(move || admin.get_prefix(&caller, &agent, &prefix)).await?,
    ))
}

/// Route a prefix to another connector of the same environment (extension).
#[utoipa::path(patch, path = "/v1/agents/{agentId}/telephony/number-prefixes/{prefix}", tag = "number-prefixes",
    params(("agentId" = String, Path, description = "Project ID", example = "default"), ("prefix" = String, Path, example = "+4420794600")),
    request_body = ReassignPrefixBody,
    responses((status = 200, body = NumberPrefix), Errors), security(("api_key" = [])))]
pub(super) async fn reassign_prefix(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath((agent, prefix)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ReassignPrefixBody>,
) -> ApiResult<Json<NumberPrefix>> {
    let admin = Arc::clone(&s.admin);
    Ok(Json(
        blocking(move || admin.reassign_prefix(&caller, &agent, &prefix, &body.connector_id))
            .await?,
    ))
}

/// Delete a number prefix (extension).
#[utoipa::path(delete, path = "/v1/agents/{agentId}/telephony/number-prefixes/{prefix}", tag = "number-prefixes",
    params(("agentId" = String, Path, description = "Project ID", example = "default"), ("prefix" = String, Path, example = "+4420794600")),
    responses((status = 200, body = DeletePrefixResponse), Errors), security(("api_key" = [])))]
pub(super) async fn delete_prefix(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath((agent, prefix)): ApiPath<(String, String)>,
) -> ApiResult<Json<DeletePrefixResponse>> {
    let admin = Arc::clone(&s.admin);
    let deleted = blocking(move || admin.delete_prefix(&caller, &agent, &prefix)).await?;
    Ok(Json(DeletePrefixResponse { deleted }))
}
