//! Changes forwarded to the node that leads the writes, on a shared store.
//!
//! A node that does not lead (`patchbay_admin::Leadership`) sends each change it is asked
//! for (every `POST`, `PATCH` and `DELETE` of the API but the reads sent as `POST`: the
//! lookup, its explanation and the batch gets) to the leader's HTTP API as it came, key and all, and answers
//! with the leader's answer. The leader commits the changes of every node in its groups, so
//! they share its turns on the log instead of taking one each. Its answer carries
//! `x-patchbay-position`, the log position it had applied; the forwarding node waits until
//! it has applied as much before it answers, so that what the caller changed is what the
//! caller's next read on this node sees.
//!
//! When the leader cannot be reached (no connection), the change is made here: any node
//! may write, and the log orders every write. Once the leader has the request, the change
//! is the leader's to make: if its answer is lost, the caller gets `503` and the log holds
//! whether it was made.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use patchbay_admin::{ErrorCode, Leadership};

use super::error::ApiError;
use super::AppState;

/// Marks a forwarded request (with the forwarding node's name): it is not forwarded again.
const FORWARDED_BY: &str = "x-patchbay-forwarded-by";
/// The leader's applied log position when it answered a forwarded change.
const POSITION: &str = "x-patchbay-position";
/// How long a forwarding node waits to apply what the leader answered before it answers
/// anyway.
const CATCH_UP: Duration = Duration::from_secs(5);

/// Where changes go on a node of a shared store.
pub struct Forwarder {
    /// This node's part in the election, once the store has been reached.
    lead: Arc<OnceLock<Leadership>>,
    client: Client<HttpConnector, Body>,
    node: HeaderValue,
    body_bytes: usize,
}

impl Forwarder {
    /// Forwards this node's changes (its name `node`, bodies up to `body_bytes`) to the
    /// leader `lead` names, once it is set (until then, and while no other node leads,
    /// changes are made here).
    pub fn new(lead: Arc<OnceLock<Leadership>>, node: &str, body_bytes: usize) -> Forwarder {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(1)));
        Forwarder {
            lead,
            client: Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector),
            node: HeaderValue::from_str(node).unwrap_or(HeaderValue::from_static("node")),
            body_bytes,
        }
    }

    /// Whether this node leads the writes.
    pub fn leading(&self) -> bool {
        self.lead.get().is_some_and(Leadership::leading)
    }
}

/// Whether `request` is a change: the reads of the API are `GET`s and four `POST`s.
fn is_change(request: &Request) -> bool {
    let path = request.uri().path();
    match *request.method() {
        Method::GET | Method::HEAD | Method::OPTIONS => false,
        Method::POST => {
            !(path.ends_with("/connectors/lookup")
                || path.ends_with("/connectors/lookup/explain")
                || path.ends_with("/connectors/batch")
                || path.ends_with("/phone-numbers/batch"))
        }
        _ => true,
    }
}

/// The middleware: a change goes to the leader, when another node leads; the leader marks
/// its answers to forwarded changes with its position.
pub async fn changes(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(forwarder) = state.forward.as_ref() else {
        return next.run(request).await;
    };
    if !is_change(&request) {
        return next.run(request).await;
    }
    if request.headers().contains_key(FORWARDED_BY) {
        let mut response = next.run(request).await;
        if let Some(status) = state.admin.follow_status() {
            response
                .headers_mut()
                .insert(POSITION, HeaderValue::from(status.applied));
        }
        return response;
    }
    let Some(leader) = forwarder.lead.get().and_then(Leadership::leader) else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, forwarder.body_bytes).await {
        Ok(bytes) => bytes,
        Err(error) => {
            return ApiError::new(
                ErrorCode::InvalidRequest,
                format!("the request body could not be read: {error}"),
            )
            .into_response()
        }
    };
    // The path as the caller sent it (inside the nested API, `parts.uri` lacks its
    // prefix).
    let original = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    let target = format!(
        "{}{}",
        leader.trim_end_matches('/'),
        original.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut outgoing = Request::new(Body::from(bytes.clone()));
    *outgoing.method_mut() = parts.method.clone();
    *outgoing.headers_mut() = parts.headers.clone();
    outgoing.headers_mut().remove(axum::http::header::HOST);
    outgoing
        .headers_mut()
        .insert(FORWARDED_BY, forwarder.node.clone());
    match target.parse() {
        Ok(uri) => *outgoing.uri_mut() = uri,
        Err(_) => {
            return next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
    let answered = forwarder.client.request(outgoing).await;
    let answer = match answered {
        Ok(answer) => answer,
        Err(error) if error.is_connect() => {
            tracing::debug!(%leader, %error, "the leader cannot be reached: the change is made here");
            return next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
        }
        Err(error) => {
            return ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "the node that leads the writes did not answer ({error}); whether the \
                     change was made is settled by the log: check, then retry"
                ),
            )
            .into_response()
        }
    };
    let (mut head, incoming) = answer.into_parts();
    let position = head
        .headers
        .remove(POSITION)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if let Some(position) = position {
        // Blocking: a position counts once it is published too, which takes the writer.
        let admin = Arc::clone(&state.admin);
        let caught_up =
            tokio::task::spawn_blocking(move || admin.wait_applied(position, CATCH_UP)).await;
        if !matches!(caught_up, Ok(true)) {
            tracing::warn!(
                position,
                "this node did not apply a forwarded change within {CATCH_UP:?}: answering anyway"
            );
        }
    }
    Response::from_parts(head, Body::new(incoming))
}
