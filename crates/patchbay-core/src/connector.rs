//! The routing payload: what a call to a number is handed to.

use std::fmt;
use std::str::FromStr;

/// The environment a connector and its numbers belong to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
#[rkyv(derive(Debug, PartialEq, Eq))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ClientEnv {
    /// `sandbox`: development and testing.
    Sandbox,
    /// `pre-release`: staging.
    PreRelease,
    /// `live`: production traffic.
    Live,
}

impl ClientEnv {
    /// Every environment, in order.
    pub const ALL: [ClientEnv; 3] = [ClientEnv::Sandbox, ClientEnv::PreRelease, ClientEnv::Live];

    /// The wire name: `sandbox`, `pre-release` or `live`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientEnv::Sandbox => "sandbox",
            ClientEnv::PreRelease => "pre-release",
            ClientEnv::Live => "live",
        }
    }
}

impl fmt::Display for ClientEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An environment name that is not `sandbox`, `pre-release` or `live`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown environment {0:?}: use sandbox, pre-release or live")]
pub struct UnknownClientEnv(pub String);

impl FromStr for ClientEnv {
    type Err = UnknownClientEnv;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClientEnv::ALL
            .into_iter()
            .find(|env| env.as_str() == s)
            .ok_or_else(|| UnknownClientEnv(s.to_string()))
    }
}

/// The bundle that handles a call: voice, ASR/TTS language, variant and environment.
///
/// Many numbers share one connector; a [`Snapshot`](crate::Snapshot) stores each connector
/// once and lookups hand out `&Connector`. Serializes with the camelCase field names of the
/// HTTP contract (`connectorId`, `clientEnv`, `variantId`, ...).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Connector {
    /// Unique identifier.
    pub connector_id: String,
    /// Display name.
    pub name: String,
    /// The account the connector belongs to.
    pub account_id: String,
    /// The project the connector belongs to.
    pub project_id: String,
    /// Its environment; every number routed to it has the same.
    pub client_env: ClientEnv,
    /// Assigned variant, or `""` when none is.
    pub variant_id: String,
    /// ASR language, a BCP-47 style tag such as `en-US`.
    pub asr_lang_code: String,
    /// TTS language, derived from `voice_name` (`en-US-Neural2-A` → `en-US`).
    pub tts_lang_code: String,
    /// A Google Cloud TTS voice name such as `en-US-Neural2-A`.
    pub voice_name: String,
    /// Whether call handoff is disabled.
    pub disable_handoff: bool,
}
