//! Request and response types of the operations, shaped like the HTTP contract's bodies
//! (camelCase JSON, unknown fields rejected) so that the server passes them through.

use patchbay_core::{ClientEnv, Connector, Prefix, E164};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::AdminError;
use crate::model::{NumberPrefix, PhoneNumber};

/// A field of a partial update: left alone, cleared with `null`, or set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    /// Absent from the body: unchanged.
    #[default]
    Absent,
    /// `null`: clear the value (where the field can be cleared).
    Null,
    /// A new value.
    Value(T),
}

impl<T> Patch<T> {
    /// Whether the field was absent.
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    /// Present fields only reach this: `null` is [`Patch::Null`]; absence is the
    /// `#[serde(default)]` of the containing struct.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            None => Patch::Null,
            Some(value) => Patch::Value(value),
        })
    }
}

/// `POST /connectors`: a new connector.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewConnector {
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub name: String,
    /// Environment.
    pub client_env: ClientEnv,
    /// ASR language, BCP-47 style.
    pub asr_lang_code: String,
    /// Google Cloud TTS voice; `ttsLangCode` is derived from it.
    pub voice_name: String,
    /// Variant to assign.
    #[serde(default)]
    pub variant_id: Option<String>,
    /// Whether call handoff is disabled.
    #[serde(default)]
    pub disable_handoff: Option<bool>,
}

/// `PATCH /connectors/{id}`: a partial update. Absent fields are left alone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectorPatch {
    /// `string` to assign, `null` to unassign (reads back as `""`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub variant_id: Patch<String>,
    /// New ASR language (`null` is rejected: not clearable).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub asr_lang_code: Patch<String>,
    /// New voice; `ttsLangCode` is re-derived (`null` is rejected).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub voice_name: Patch<String>,
    /// Move to another project (the key must grant both; numbers move too).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub project_id: Patch<String>,
    /// New display name (**extension**).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub name: Patch<String>,
    /// New handoff flag (**extension**).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<bool>, nullable))]
    pub disable_handoff: Patch<bool>,
}

/// One update of `PATCH /connectors/batch`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectorUpdate {
    /// The connector to update.
    pub connector_id: String,
    /// The update.
    #[serde(flatten)]
    pub patch: ConnectorPatch,
}

/// The schema of an update is one object: `connectorId` beside the fields of
/// [`ConnectorPatch`], and nothing else. (Deriving it from the flattened struct gives an
/// `allOf` of two closed objects, which no body with a field besides `connectorId` can
/// satisfy: each part forbids the other's fields.)
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ConnectorUpdate {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, Object, ObjectBuilder, Schema, Type};
        use utoipa::openapi::RefOr;
        let patch = match <ConnectorPatch as utoipa::PartialSchema>::schema() {
            RefOr::T(Schema::Object(object)) => object,
            _ => Object::new(),
        };
        let mut update = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "One update of `PATCH /connectors/batch`: the connector, and the fields of \
                 UpdateConnectorBody to change.",
            ))
            .property(
                "connectorId",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The connector to update.")),
            )
            .required("connectorId")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .build();
        update.properties.extend(patch.properties);
        RefOr::T(Schema::Object(update))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ConnectorUpdate {}

/// `POST /connectors/batch` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectorsFound {
    /// The connectors that exist in the project.
    pub found: Vec<Connector>,
    /// The requested ids that do not.
    pub not_found: Vec<String>,
}

/// The outcome of one update of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateOutcome {
    /// The connector the update named.
    pub connector_id: String,
    /// The updated connector, or why the update was refused.
    pub result: Result<Connector, AdminError>,
}

/// `DELETE /connectors/{id}` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletedConnector {
    /// The deleted connector's id.
    pub deleted_connector: String,
    /// Every number released with it.
    pub deleted_phone_numbers: Vec<E164>,
    /// Every prefix deleted with it (**extension**).
    pub deleted_prefixes: Vec<Prefix>,
}

/// `POST /phone-numbers`: a bulk import.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRequest {
    /// Numbers in any accepted form (at least one).
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub phone_numbers: Vec<String>,
    /// Environment; defaults to the connector's, or `live`.
    #[serde(default)]
    pub client_env: Option<ClientEnv>,
    /// Assign every imported number to this connector (**extension**).
    #[serde(default)]
    pub connector_id: Option<String>,
}

/// A per-number failure of a bulk call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberError {
    /// The number as it was given.
    pub phone_number: String,
    /// Why it failed.
    pub error: AdminError,
}

/// `POST /phone-numbers` response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Imported {
    /// The numbers now in the project.
    pub imported: Vec<PhoneNumber>,
    /// The numbers that were not imported, and why.
    pub errors: Vec<NumberError>,
}

/// One page of a project's numbers ([`Replica::list_numbers_page`](crate::Replica::list_numbers_page)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NumbersPage {
    /// The numbers of this page, sorted.
    pub phone_numbers: Vec<PhoneNumber>,
    /// The last number of this page when more may follow: pass it as `after` for the next.
    pub next: Option<E164>,
}

/// The largest page [`Replica::list_numbers_page`](crate::Replica::list_numbers_page) returns.
pub const MAX_PAGE: usize = 10_000;

/// `DELETE /phone-numbers` response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deleted {
    /// The numbers deleted.
    pub deleted: Vec<E164>,
    /// The numbers that were not, and why.
    pub errors: Vec<NumberError>,
}

/// `POST /phone-numbers/batch` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumbersFound {
    /// The numbers that are in the project.
    pub found: Vec<PhoneNumber>,
    /// The requested numbers (as given) that are not.
    pub not_found: Vec<String>,
}

/// `POST /number-prefixes`: prefixes routed to a connector (**extension**).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrefixImportRequest {
    /// Prefixes in any accepted form, wildcards allowed (`+44 20 7946 00xx`; at least one).
    #[cfg_attr(feature = "openapi", schema(min_items = 1, example = json!(["+4420794600xx"])))]
    pub prefixes: Vec<String>,
    /// The connector they route to; their project, account and environment are its.
    pub connector_id: String,
}

/// A per-prefix failure of a bulk call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixError {
    /// The prefix as it was given.
    pub prefix: String,
    /// Why it failed.
    pub error: AdminError,
}

/// `POST /number-prefixes` response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrefixesImported {
    /// The prefixes now routed.
    pub imported: Vec<NumberPrefix>,
    /// The prefixes that were not, and why.
    pub errors: Vec<PrefixError>,
}

/// `DELETE /number-prefixes` response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrefixesDeleted {
    /// The prefixes deleted.
    pub deleted: Vec<Prefix>,
    /// The prefixes that were not, and why.
    pub errors: Vec<PrefixError>,
}

/// One page of a project's prefixes ([`Replica::list_prefixes_page`](crate::Replica::list_prefixes_page)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrefixesPage {
    /// The prefixes of this page, in order.
    pub prefixes: Vec<NumberPrefix>,
    /// The last prefix of this page when more may follow: pass it as `after` for the next.
    pub next: Option<Prefix>,
}

/// `GET /v1/me`: who a key is. Never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Identity {
    /// The key's account.
    #[cfg_attr(feature = "openapi", schema(example = "default"))]
    pub account_id: String,
    /// The key's id (`key_` and 16 hex digits: the key without `pb_` and its secret).
    #[cfg_attr(feature = "openapi", schema(example = "key_42cce5c6ec6ab471"))]
    pub key_id: String,
    /// The projects the key grants, sorted: every project of its account for a key that
    /// grants them all, else those of its grant that exist.
    #[cfg_attr(feature = "openapi", schema(example = json!(["default"])))]
    pub projects: Vec<String>,
}

/// How an explained number matched the routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MatchKind {
    /// The number's own entry.
    Exact,
    /// The longest routed prefix of its digits.
    Prefix,
    /// Nothing in this project.
    None,
}

/// What a lookup of an explained input comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    /// A connector of this project serves it.
    Routed,
    /// The number is in this project, with no connector, and no prefix routes it.
    Unassigned,
    /// Nothing of this project routes it (another project's route included: a lookup's
    /// `404`).
    NotRouted,
    /// The input is not a number.
    Invalid,
}

/// `POST /connectors/lookup/explain`: how an input normalized, what it matched and why it
/// routes or not. Never another project's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Explanation {
    /// The input, as given.
    pub input: String,
    /// Whether it normalizes to a number.
    pub valid: bool,
    /// Why not, when it does not: the normalization's reason code (`letters`,
    /// `extension`, `unknown_country_code`, `national_needs_region`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The number, canonical E.164, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalized: Option<E164>,
    /// How the input wrote it: `e164`, `international`, `national`, `tel_uri` or `sip_uri`.
    pub form: String,
    /// What it matched.
    #[serde(rename = "match")]
    pub matched: MatchKind,
    /// The prefix it matched, for `match: prefix`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Prefix>,
    /// The connector that serves it, when one of this project does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<Connector>,
    /// The number's own entry, when it is in this project (assigned or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<PhoneNumber>,
    /// What a lookup comes to.
    pub outcome: Outcome,
    /// The version of the routing snapshot read.
    pub snapshot_version: u64,
}

/// `GET /changes`: which of a project's changes to list. Every field is as the query string
/// gave it; the admin reads and checks them (`400` for what does not read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ChangesQuery {
    /// Only the changes to this number (any accepted form).
    #[serde(default)]
    pub number: Option<String>,
    /// Only the changes to this prefix.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Only the changes to this connector, its numbers and its prefixes.
    #[serde(default)]
    pub connector_id: Option<String>,
    /// Only changes committed at or after this instant (RFC 3339).
    #[serde(default)]
    pub since: Option<String>,
    /// Only changes committed at or before this instant (RFC 3339).
    #[serde(default)]
    pub until: Option<String>,
    /// At most this many changes (1 to [`MAX_CHANGES`], default 100).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<usize>,
    /// The `nextCursor` of the page before.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The most changes a page of history holds.
pub const MAX_CHANGES: usize = 1_000;

/// The most mutations of one change a page lists (`mutationCount` counts them all; a
/// filter by number or prefix finds any one of them).
pub const MAX_MUTATIONS_SHOWN: usize = 1_000;

/// A page of changes, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangesPage {
    /// The changes.
    pub changes: Vec<Change>,
    /// Present when older changes follow: pass it back as `cursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One applied change, as a project sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    /// Its id: increasing in commit order (its position in the journal or the shared log).
    #[cfg_attr(feature = "openapi", schema(example = "0000000000000042"))]
    pub change_id: String,
    /// When it committed, RFC 3339 in UTC.
    #[cfg_attr(feature = "openapi", schema(example = "2026-12-07T15:00:00.000Z"))]
    pub at: String,
    /// Who made it.
    pub actor: crate::history::Actor,
    /// The node it committed on (a shared store only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// How many of its mutations this project sees (and the filter keeps).
    pub mutation_count: usize,
    /// Those mutations, in the order they applied (at most [`MAX_MUTATIONS_SHOWN`]).
    pub mutations: Vec<ChangeMutation>,
}

/// What one change did to one number, prefix or connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeMutation {
    /// `number.imported`, `number.assigned`, `number.unassigned`, `number.deleted`,
    /// `number.moved`, `prefix.imported`, `prefix.reassigned`, `prefix.moved`,
    /// `prefix.deleted`, `connector.created`, `connector.updated`, `connector.moved` or
    /// `connector.deleted`.
    pub op: String,
    /// The number, for `number.*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<E164>,
    /// The prefix, for `prefix.*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Prefix>,
    /// The connector, for `connector.*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<String>,
    /// The entity before (absent where it did not exist).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Record>,
    /// The entity after (absent where it no longer exists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Record>,
}

/// An entity as the API shows it: a number, a prefix or a connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Record {
    /// A phone number.
    Number(PhoneNumber),
    /// A number prefix.
    Prefix(NumberPrefix),
    /// A connector.
    Connector(Connector),
}

/// A lookup at a past instant: the connector as it was then, how the number matched, and
/// the last change at or before the instant (`x-patchbay-as-of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsOf {
    /// The connector, as it was.
    pub connector: Connector,
    /// The prefix it matched, or `None` for the number's own route.
    pub prefix: Option<Prefix>,
    /// The id of the newest change at or before the instant (`""` when none was).
    pub change_id: String,
}
