//! The OpenAPI 3.1 document, generated from the handlers and the admin's types so that it
//! cannot drift from them, and served at `/openapi.json`.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use patchbay_core::ClientEnv;
use utoipa::OpenApi;

use super::error::{self, ErrorBody, ErrorObject, KEY_HEADER};
use super::{connectors, history, me, numbers, operations, prefixes};

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, content_type = "application/json", body = Object)))]
pub(super) async fn openapi_json() -> Response {
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
        connectors::list_connectors, connectors::create_connector,
        connectors::batch_get_connectors, connectors::batch_update_connectors,
        connectors::lookup_connector, connectors::explain_lookup, connectors::get_connector,
        connectors::delete_connector, connectors::update_connector,
        numbers::list_numbers, numbers::import_numbers, numbers::delete_numbers,
        numbers::batch_get_numbers, numbers::get_number, numbers::assign_number,
        numbers::delete_number,
        prefixes::list_prefixes, prefixes::import_prefixes, prefixes::delete_prefixes,
        prefixes::get_prefix, prefixes::reassign_prefix, prefixes::delete_prefix,
        me::whoami, history::list_changes,
        operations::healthz, operations::readyz, operations::metrics_text, openapi_json,
    ),
    components(schemas(ClientEnv, ErrorBody, error::ErrorDetail, ErrorObject)),
    modifiers(&ApiKeySecurity),
)]
pub struct ApiDoc;
