//! The HTTP API of `spec/api.md` over [`patchbay_admin::Admin`], on axum.
//!
//! Handlers are thin: extract (every rejection is a contract error), call the admin (on the
//! blocking pool when the call may wait on the store), shape the response. The OpenAPI
//! document is generated from these handlers and the admin's types, so it cannot drift.

mod error;
mod listing;
pub mod metrics;
mod prefixes;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use patchbay_admin::{
    Admin, AdminError, ConnectorPatch, ConnectorUpdate, ConnectorsFound, DeletedConnector,
    ErrorCode, ImportRequest, NewConnector, NumbersFound, Patch, PhoneNumber,
};
use patchbay_core::{ClientEnv, Connector, E164};
use serde::{Deserialize, Serialize};
use tower_http::timeout::TimeoutLayer;
use utoipa::{IntoResponses, OpenApi, ToSchema};

pub use error::{ApiError, ErrorBody, KEY_HEADER};
use error::{ApiJson, ApiPath, ApiQuery, Auth, ErrorObject};
use listing::{ListNumbersQuery, PhoneNumberList};

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

// ---- bodies ---------------------------------------------------------------------------------

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
}

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

/// `/healthz` and `/readyz` response.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `starting`.
    pub status: &'static str,
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

// ---- connectors ---------------------------------------------------------------------------------

/// List all connectors of a project.
#[utoipa::path(get, path = "/v1/agents/{agentId}/telephony/connectors", tag = "connectors",
    params(("agentId" = String, Path, description = "Project ID", example = "default")),
    responses((status = 200, body = ConnectorList), Errors), security(("api_key" = [])))]
async fn list_connectors(
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
async fn create_connector(
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
async fn batch_get_connectors(
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
async fn batch_update_connectors(
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

/// Look up the connector that serves a phone number: its own entry, else the longest routed
/// prefix of its digits. The `x-patchbay-match` header says which (`exact`, or
/// `prefix +4420794600`).
#[utoipa::path(post, path = "/v1/agents/{agentId}/telephony/connectors/lookup", tag = "connectors",
    params(("agentId" = String, Path, description = "Project ID", example = "default")),
    request_body = LookupBody,
    responses((status = 200, body = Connector, headers(("x-patchbay-match" = String,
        description = "How the number matched: `exact`, or `prefix` and the prefix (extension)"))),
        Errors), security(("api_key" = [])))]
async fn lookup_connector(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath(agent): ApiPath<String>,
    ApiJson(body): ApiJson<LookupBody>,
) -> ApiResult<Response> {
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

/// Get a connector by ID.
#[utoipa::path(get, path = "/v1/agents/{agentId}/telephony/connectors/{connectorId}", tag = "connectors",
    params(("agentId" = String, Path, description = "Project ID", example = "default"), ("connectorId" = String, Path)),
    responses((status = 200, body = Connector), Errors), security(("api_key" = [])))]
async fn get_connector(
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
async fn delete_connector(
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
async fn update_connector(
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

// ---- phone numbers ------------------------------------------------------------------------------

/// List all phone numbers of a project, optionally one connector's.
#[utoipa::path(get, path = "/v1/agents/{agentId}/telephony/phone-numbers", tag = "phone-numbers",
    params(("agentId" = String, Path, description = "Project ID", example = "default"), ListNumbersQuery),
    responses((status = 200, body = PhoneNumberList), Errors), security(("api_key" = [])))]
async fn list_numbers(
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
async fn import_numbers(
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
async fn delete_numbers(
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
async fn batch_get_numbers(
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
async fn get_number(
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
async fn assign_number(
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
async fn delete_number(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiPath((agent, number)): ApiPath<(String, String)>,
) -> ApiResult<Json<DeleteNumberResponse>> {
    let admin = Arc::clone(&s.admin);
    let deleted = blocking(move || admin.delete_number(&caller, &agent, &number)).await?;
    Ok(Json(DeleteNumberResponse { deleted }))
}

// ---- operations -----------------------------------------------------------------------------------

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the store is loaded and a snapshot is published; with a shared store, the
/// node has also caught up with it once since it started.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn readyz(State(s): State<Arc<AppState>>) -> (StatusCode, Json<Health>) {
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
async fn metrics_text(State(s): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(&s),
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, content_type = "application/json", body = Object)))]
async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document().to_string(),
    )
        .into_response()
}

struct ApiKeySecurity;

impl utoipa::Modify for ApiKeySecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(KEY_HEADER))),
        );
    }
}

/// The OpenAPI document as served: [`ApiDoc`] with links from the responses that create
/// entities to the operations on them, so that stateful testing (and generated clients)
/// can follow a created connector, number or prefix into its get, update and delete.
///
/// The links are written into the JSON rather than through utoipa's `Link`, which
/// serializes its fields in snake case (`operation_id`), not as OpenAPI names them.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    const BASE: &str = "/v1/agents/{agentId}/telephony";
    // (the creating POST's path, its status, the parameter, where the created entity's id
    // is in the response, the operations that take it)
    let links: [(&str, &str, &str, &str, &[&str]); 3] = [
        (
            "/connectors",
            "201",
            "connectorId",
            "$response.body#/connectorId",
            &["get_connector", "update_connector", "delete_connector"],
        ),
        (
            "/phone-numbers",
            "200",
            "phoneNumber",
            "$response.body#/imported/0/number",
            &["get_number", "assign_number", "delete_number"],
        ),
        (
            "/number-prefixes",
            "200",
            "prefix",
            "$response.body#/imported/0/prefix",
            &["get_prefix", "reassign_prefix", "delete_prefix"],
        ),
    ];
    for (path, status, parameter, from, targets) in links {
        let response = doc
            .pointer_mut(&format!(
                "/paths/{}/post/responses/{status}",
                format!("{BASE}{path}")
                    .replace('~', "~0")
                    .replace('/', "~1")
            ))
            .and_then(serde_json::Value::as_object_mut);
        let Some(response) = response else {
            continue;
        };
        let links: serde_json::Map<String, serde_json::Value> = targets
            .iter()
            .map(|&target| {
                let link = serde_json::json!({
                    "operationId": target,
                    "parameters": { "agentId": "$request.path.agentId", parameter: from },
                });
                (target.to_string(), link)
            })
            .collect();
        response.insert("links".into(), links.into());
    }
    doc
}

/// The OpenAPI 3.1 document of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "patchbay", description = "Telephony routing: connectors, phone numbers and number prefixes."),
    paths(
        list_connectors, create_connector, batch_get_connectors, batch_update_connectors,
        lookup_connector, get_connector, delete_connector, update_connector,
        list_numbers, import_numbers, delete_numbers, batch_get_numbers,
        get_number, assign_number, delete_number,
        prefixes::list_prefixes, prefixes::import_prefixes, prefixes::delete_prefixes,
        prefixes::get_prefix, prefixes::reassign_prefix, prefixes::delete_prefix,
        healthz, readyz, metrics_text, openapi_json,
    ),
    components(schemas(ClientEnv, ErrorBody, error::ErrorDetail, ErrorObject)),
    modifiers(&ApiKeySecurity),
)]
pub struct ApiDoc;

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
        .route("/connectors", get(list_connectors).post(create_connector))
        .route(
            "/connectors/batch",
            post(batch_get_connectors).patch(batch_update_connectors),
        )
        .route("/connectors/lookup", post(lookup_connector))
        .route(
            "/connectors/{connectorId}",
            get(get_connector)
                .delete(delete_connector)
                .patch(update_connector),
        )
        .route(
            "/phone-numbers",
            get(list_numbers)
                .post(import_numbers)
                .delete(delete_numbers),
        )
        .route("/phone-numbers/batch", post(batch_get_numbers))
        .route(
            "/phone-numbers/{phoneNumber}",
            get(get_number).patch(assign_number).delete(delete_number),
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
        );
    Router::new()
        .nest("/v1/agents/{agentId}/telephony", api)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi_json))
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
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
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
            ),
        )
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::new(ErrorCode::Internal, "the server failed on this request").into_response()
        }))
        .layer(axum::middleware::from_fn(error::correlation))
        .with_state(state)
}
