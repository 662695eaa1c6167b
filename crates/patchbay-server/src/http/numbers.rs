//! `/phone-numbers`: import, read, reassign and delete numbers, one at a time or in bulk
//! (`docs/api.md`); the listings are in `listing.rs`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use patchbay_admin::{ImportRequest, NumbersFound, Patch, PhoneNumber};
use patchbay_core::E164;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, Auth, ErrorObject};
use super::listing::{self, ListNumbersQuery, PhoneNumberList};
use super::{blocking, ApiResult, AppState, Errors};

/// A per-number failure.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NumberFailure {
    /// The number as it was given.
    pub phone_number: String,
    /// Why it failed.
    pub error: ErrorObject,
}

/// `POST /phone-numbers` response.
#[derive(Serialize, ToSchema)]
pub struct ImportResponse {
    /// The numbers now in the project.
    pub imported: Vec<PhoneNumber>,
    /// The numbers that were not imported (omitted when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<NumberFailure>,
}

/// A list of numbers (`DELETE /phone-numbers`, `POST /phone-numbers/batch`).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NumbersBody {
    /// Numbers in any accepted form (at least one).
    #[schema(min_items = 1)]
    pub phone_numbers: Vec<String>,
}

/// `DELETE /phone-numbers` response.
#[derive(Serialize, ToSchema)]
pub struct DeleteNumbersResponse {
    /// The numbers deleted.
    pub deleted: Vec<E164>,
    /// The numbers that were not (omitted when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<NumberFailure>,
}

/// `PATCH /phone-numbers/{phoneNumber}` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignBody {
    /// The connector to route to; `null` unassigns.
    #[serde(default)]
    #[schema(value_type = Option<String>, nullable)]
    pub connector_id: Patch<String>,
}

/// `DELETE /phone-numbers/{phoneNumber}` response.
#[derive(Serialize, ToSchema)]
pub struct DeleteNumberResponse {
    /// The number deleted.
    pub deleted: E164,
}

fn failures(errors: Vec<patchbay_admin::NumberError>) -> Vec<NumberFailure> {
    errors
        .iter()
        .map(|e| NumberFailure {
            phone_number: e.phone_number.clone(),
            error: ErrorObject::from(&e.error),
        })
        .collect()
}

/// List all phone numbers of a project, optionally one connector's.
#[utoipa::path(get, path = "/v1/agents/{agentId}/telephony/phone-numbers", tag = "phone-numbers",
    params(("agentId" = String, Path, description = "Project ID", example = "default"), ListNumbersQuery),
    responses((status = 200, body = PhoneNumberList), Errors), security(("api_key" = [])))]
pub(super) async fn list_numbers(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListNumbersQuery>,
) -> ApiResult<Response> {
    listing::list(Arc::clone(&s.admin), caller, agent, query).await
}

/// Import phone numbers (bulk, one atomic change; per-number errors).
#[utoipa::path(post, path = "/v1/agents/{agentId}/telephony/phone-numbers", tag = "phone-numbers",
    params(("agentId" = String, Path, description = "Project ID", example = "default")),
    request_body = ImportRequest,
    responses((status = 200, body = ImportResponse), Errors), security(("api_key" = [])))]
pub(super) async fn import_numbers(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiJson(body): ApiJson<ImportRequest>,
) -> ApiResult<Json<ImportResponse>> {
    let admin = Arc::clone(&s.admin);
    let result = blocking(move || admin.import_numbers(&caller, &agent, &body)).await?;
    Ok(Json(ImportResponse {
        imported: result.imported,
        errors: failures(result.errors),
    }))
}

/// Delete phone numbers (bulk, one atomic change; per-number errors).
#[utoipa::path(delete, path = "/v1/agents/{agentId}/telephony/phone-numbers", tag = "phone-numbers",
    params(("agentId" = String, Path, description = "Project ID", example = "default")),
    request_body = NumbersBody,
    responses((status = 200, body = DeleteNumbersResponse), Errors), security(("api_key" = [])))]
pub(super) async fn delete_numbers(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiJson(body): ApiJson<NumbersBody>,
) -> ApiResult<Json<DeleteNumbersResponse>> {
    let admin = Arc::clone(&s.admin);
    let result =
        blocking(move || admin.delete_numbers(&caller, &agent, &body.phone_numbers)).await?;
    Ok(Json(DeleteNumbersResponse {
        deleted: result.deleted,
        errors: failures(result.errors),
    }))
}

/// Get several phone numbers.
#[utoipa::path(post, path = "/v1/agents/{agentId}/telephony/phone-numbers/batch", tag = "phone-numbers",
    params(("agentId" = String, Path, description = "Project ID", example = "default")),
    request_body = NumbersBody,
    responses((status = 200, body = NumbersFound), Errors), security(("api_key" = [])))]
pub(super) async fn batch_get_numbers(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiJson(body): ApiJson<NumbersBody>,
) -> ApiResult<Json<NumbersFound>> {
    let admin = Arc::clone(&s.admin);
    Ok(Json(
        blocking(move || admin.batch_get_numbers(&caller, &agent, &body.phone_numbers)).await?,
    ))
}

/// Get a phone number (the path may be percent-encoded: `%2B1415...`).
#[utoipa::path(get, path = "/v1/agents/{agentId}/telephony/phone-numbers/{phoneNumber}", tag = "phone-numbers",
    params(("agentId" = String, Path, description = "Project ID", example = "default"), ("phoneNumber" = String, Path, example = "+14155552671")),
    responses((status = 200, body = PhoneNumber), Errors), security(("api_key" = [])))]
pub(super) async fn get_number(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath((agent, number)): ApiPath<(String, String)>,
) -> ApiResult<Json<PhoneNumber>> {
    let admin = Arc::clone(&s.admin);
    Ok(Json(
        blocking(move || admin.get_number(&caller, &agent, &number)).await?,
    ))
}

/// Reassign a phone number to a connector (`null` unassigns).
#[utoipa::path(patch, path = "/v1/agents/{agentId}/telephony/phone-numbers/{phoneNumber}", tag = "phone-numbers",
    params(("agentId" = String, Path, description = "Project ID", example = "default"), ("phoneNumber" = String, Path, example = "+14155552671")),
    request_body = AssignBody,
    responses((status = 200, body = PhoneNumber), Errors), security(("api_key" = [])))]
pub(super) async fn assign_number(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath((agent, number)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<AssignBody>,
) -> ApiResult<Json<PhoneNumber>> {
    let connector = match body.connector_id {
        Patch::Absent => {
            return Err(ApiError::invalid(
                "connectorId is required (null unassigns)",
            ))
        }
        Patch::Null => None,
        Patch::Value(id) => Some(id),
    };
    let admin = Arc::clone(&s.admin);
    Ok(Json(
        blocking(move || admin.assign_number(&caller, &agent, &number, connector.as_deref()))
            .await?,
    ))
}

/// Delete a phone number.
#[utoipa::path(delete, path = "/v1/agents/{agentId}/telephony/phone-numbers/{phoneNumber}", tag = "phone-numbers",
    params(("agentId" = String, Path, description = "Project ID", example = "default"), ("phoneNumber" = String, Path, example = "+14155552671")),
    responses((status = 200, body = DeleteNumberResponse), Errors), security(("api_key" = [])))]
pub(super) async fn delete_number(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath((agent, number)): ApiPath<(String, String)>,
) -> ApiResult<Json<DeleteNumberResponse>> {
    let admin = Arc::clone(&s.admin);
    let deleted = blocking(move || admin.delete_number(&caller, &agent, &number)).await?;
    Ok(Json(DeleteNumberResponse { deleted }))
}
