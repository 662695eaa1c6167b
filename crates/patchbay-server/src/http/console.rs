//! `GET /console`: the operator console (`docs/console.md`), a page and its two assets
//! embedded in the binary (no build step, no CDN, nothing to install). The page loads only
//! its own script and style, under a strict Content-Security-Policy; every action it takes
//! is a call of the public API with the key the operator typed. The assets' names carry a
//! hash of their content, so they are cached for good and a new build's are fetched anew.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const PAGE: &str = include_str!("../../console/index.html");
const SCRIPT: &str = include_str!("../../console/console.js");
const STYLE: &str = include_str!("../../console/console.css");

/// Only the page's own origin, for everything; no inline script or style, no `eval`, no
/// framing, no plugins.
pub const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// The page with its assets' hashed names, and those names.
struct Assets {
    page: String,
    script: String,
    style: String,
}

/// `name.<first 16 hex digits of the SHA-256 of its content>.ext`.
fn hashed(stem: &str, ext: &str, content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    let hex: String = digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{stem}.{hex}.{ext}")
}

fn assets() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let script = hashed("console", "js", SCRIPT);
        let style = hashed("console", "css", STYLE);
        let page = PAGE
            .replace(
                "/console/assets/console.js",
                &format!("/console/assets/{script}"),
            )
            .replace(
                "/console/assets/console.css",
                &format!("/console/assets/{style}"),
            );
        Assets {
            page,
            script,
            style,
        }
    })
}

/// A console response: its body, type and caching, with the security headers.
fn respond(body: &'static str, kind: &'static str, cache: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The console's page. No key is needed to load it.
pub(super) async fn page() -> Response {
    respond(&assets().page, "text/html; charset=utf-8", "no-cache")
}

/// One of the page's assets, by its hashed name; anything else is `404`.
pub(super) async fn asset(Path(name): Path<String>) -> Response {
    let assets = assets();
    const FOREVER: &str = "public, max-age=31536000, immutable";
    if name == assets.script {
        respond(SCRIPT, "text/javascript; charset=utf-8", FOREVER)
    } else if name == assets.style {
        respond(STYLE, "text/css; charset=utf-8", FOREVER)
    } else {
        (StatusCode::NOT_FOUND, "no such asset").into_response()
    }
}
