//! Prometheus metrics: requests by route and status, lookups with hits and misses, the
//! snapshot's version and age, and publish latency.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use dashmap::DashMap;

use super::AppState;

/// Counters shared by every request.
#[derive(Default)]
pub struct Metrics {
    /// (route template, method, status) → count. Route templates are few and fixed, so the
    /// map stays small; `DashMap` lets every worker count without a global lock.
    requests: DashMap<(String, String, u16), AtomicU64>,
    /// Lookups answered (`POST /connectors/lookup`).
    pub lookups: AtomicU64,
    /// Lookups that found a connector.
    pub hits: AtomicU64,
    /// Lookups that found none.
    pub misses: AtomicU64,
}

impl Metrics {
    fn count(&self, route: &str, method: &str, status: u16) {
        let key = (route.to_string(), method.to_string(), status);
        if let Some(counter) = self.requests.get(&key) {
            counter.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.requests
            .entry(key)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Middleware: counts every response by its route template (never the raw path, which
/// would let clients grow the map without bound).
pub async fn count_requests(
    State(state): State<std::sync::Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().as_str().to_string();
    let response = next.run(req).await;
    state
        .metrics
        .count(&route, &method, response.status().as_u16());
    response
}

/// The Prometheus text exposition of everything.
pub fn render(state: &AppState) -> String {
    let metrics = &state.metrics;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP patchbay_http_requests_total HTTP responses by route template, method and status."
    );
    let _ = writeln!(out, "# TYPE patchbay_http_requests_total counter");
    let mut rows: Vec<_> = metrics
        .requests
        .iter()
        .map(|e| (e.key().clone(), e.value().load(Ordering::Relaxed)))
        .collect();
    rows.sort();
    for ((route, method, status), count) in rows {
        let _ = writeln!(
            out,
            "patchbay_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
            route.replace('\\', "\\\\").replace('"', "\\\"")
        );
    }
    let snapshot = state.admin.router().snapshot();
    let age = SystemTime::now()
        .duration_since(snapshot.published_at())
        .map_or(0.0, |d| d.as_secs_f64());
    let stats = state.admin.publish_stats();
    let rows: [(&str, &str, &str, String); 10] = [
        (
            "patchbay_lookups_total",
            "counter",
            "Lookups answered.",
            metrics.lookups.load(Ordering::Relaxed).to_string(),
        ),
        (
            "patchbay_lookup_hits_total",
            "counter",
            "Lookups that found a connector.",
            metrics.hits.load(Ordering::Relaxed).to_string(),
        ),
        (
            "patchbay_lookup_misses_total",
            "counter",
            "Lookups that found none.",
            metrics.misses.load(Ordering::Relaxed).to_string(),
        ),
        (
            "patchbay_snapshot_version",
            "gauge",
            "Version of the published snapshot.",
            snapshot.version().to_string(),
        ),
        (
            "patchbay_snapshot_age_seconds",
            "gauge",
            "Time since the published snapshot was built.",
            age.to_string(),
        ),
        (
            "patchbay_snapshot_numbers",
            "gauge",
            "Numbers the published snapshot routes.",
            snapshot.len().to_string(),
        ),
        (
            "patchbay_publishes_total",
            "counter",
            "Changes published.",
            stats.publishes.to_string(),
        ),
        (
            "patchbay_publish_last_seconds",
            "gauge",
            "Durable append to publish, for the last change.",
            stats.last.as_secs_f64().to_string(),
        ),
        (
            "patchbay_publish_seconds_total",
            "counter",
            "Durable append to publish, summed.",
            stats.total.as_secs_f64().to_string(),
        ),
        (
            "patchbay_publish_rebuilds_total",
            "counter",
            "Publishes that rebuilt the whole snapshot because a patch was refused.",
            stats.rebuilds.to_string(),
        ),
    ];
    let follow = state.admin.follow_status().map(|f| {
        [
            (
                "patchbay_store_applied_position",
                "gauge",
                "Position in the shared store's log of the last change this node applied.",
                f.applied.to_string(),
            ),
            (
                "patchbay_store_newest_position",
                "gauge",
                "Newest position of the shared store's log this node has seen.",
                f.newest.to_string(),
            ),
            (
                "patchbay_store_lag_changes",
                "gauge",
                "Changes committed in the shared store that this node has not applied yet.",
                f.newest.saturating_sub(f.applied).to_string(),
            ),
            (
                "patchbay_store_reachable",
                "gauge",
                "1 while the shared store answers, 0 while it cannot be reached.",
                u8::from(f.reachable).to_string(),
            ),
            (
                "patchbay_store_stale_seconds",
                "gauge",
                "Seconds since this node last saw it had applied everything in the store (since it started, when it has not yet): how stale its answers may be.",
                format!("{:.3}", f.stale.as_secs_f64()),
            ),
        ]
    });
    let leading = state.forward.as_ref().map(|forward| {
        (
            "patchbay_store_leading",
            "gauge",
            "1 while this node leads the shared store's writes (the other nodes forward their changes to it), else 0.",
            u8::from(forward.leading()).to_string(),
        )
    });
    for (name, kind, help, value) in rows
        .into_iter()
        .chain(follow.into_iter().flatten())
        .chain(leading)
    {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    if let Some(sip) = &state.sip {
        out += &sip.prometheus();
    }
    out
}
