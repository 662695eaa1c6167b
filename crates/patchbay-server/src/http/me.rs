//! `/v1/me`: who a key is, so that a tool (the console, say) holding only a key knows
//! where it may go (`docs/api.md`, "Who am I").

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use patchbay_admin::Identity;

use super::error::Auth;
use super::{ApiResult, AppState, Unauthorized};

/// The key's account, its id (never the secret) and the projects it grants, sorted.
#[utoipa::path(get, path = "/v1/me", tag = "keys",
    responses((status = 200, body = Identity), Unauthorized), security(("api_key" = [])))]
pub(super) async fn whoami(
    State(s): State<Arc<AppState>>,
    Auth(caller): Auth,
) -> ApiResult<Json<Identity>> {
    // From the keys and projects lookups check: no lock, no store.
    Ok(Json(s.admin.whoami(&caller)?))
}
