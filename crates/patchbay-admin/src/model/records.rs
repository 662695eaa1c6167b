//! The model's records as the API shows them: numbers, prefixes, projects and keys.

use std::collections::BTreeSet;

use patchbay_core::{ClientEnv, Prefix, E164};
use serde::{Deserialize, Serialize};

/// A phone number owned by a project, and the connector it routes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneNumber {
    /// The number, canonical E.164.
    pub number: E164,
    /// The project that owns it.
    pub project_id: String,
    /// The account of that project.
    pub account_id: String,
    /// Its environment.
    pub client_env: ClientEnv,
    /// The connector it routes to; absent when unassigned.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub connector_id: Option<String>,
}

/// A number prefix (a DID block or range, or a whole country) and the connector every number
/// that starts with it routes to, unless the number has a route of its own or a longer
/// prefix does. It carries its connector's project, account and environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumberPrefix {
    /// The prefix, `+` and 1 to 14 digits.
    pub prefix: Prefix,
    /// The project of its connector.
    pub project_id: String,
    /// The account of that project.
    pub account_id: String,
    /// The environment of its connector.
    pub client_env: ClientEnv,
    /// The connector it routes to.
    pub connector_id: String,
}

/// A project and the account it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// The project id (the `{agentId}` of the HTTP paths).
    pub project_id: String,
    /// The account that owns it.
    pub account_id: String,
}

/// What an API key grants: every project of its account, or a listed set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "projects")]
pub enum Grant {
    /// Every project of the account, present and future.
    AllProjects,
    /// Only these projects.
    Projects(BTreeSet<String>),
}

/// An API key as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    /// The public part of the key, shown in listings.
    pub key_id: String,
    /// The account the key belongs to.
    pub account_id: String,
    /// What it grants.
    pub grant: Grant,
    /// A note for people.
    pub label: String,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// Whether it was revoked (a revoked key authenticates nothing).
    pub revoked: bool,
}

/// An API key as the model keeps it: what it grants, and the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub(crate) info: KeyInfo,
    /// SHA-256 of the whole secret key, hex.
    pub(crate) hash: String,
}
