//! `patchbay serve`: the HTTP API over a data directory or a shared store, and optionally
//! the SIP front from the same router.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use clap::Args;
use patchbay_admin::{AdminConfig, NumberCheck};
use patchbay_core::normalize_in;

use super::{open_serving, parse_region, shutdown_signal, start_sip, CliResult, DataArg, LogArgs};
use crate::http::{self, AppState, Limits};

/// Serve the HTTP API.
#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// The address to listen on (loopback by default; use 0.0.0.0:PORT to expose it).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Read national-format numbers in this region (ISO 3166 code such as GB).
    #[arg(long, value_name = "CC")]
    region: Option<String>,
    /// Import numbers of a possible length even when the metadata does not know them
    /// as valid (for ranges newer than the metadata).
    #[arg(long)]
    accept_possible: bool,
    /// The most numbers or ids one bulk call may carry.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_bulk: usize,
    /// The largest request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20)]
    max_body: usize,
    /// Start a checkpoint (in the background) once the journal has grown by this many
    /// bytes since the last one.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    checkpoint_after: u64,
    /// Keep the change history for this many days (older changes are dropped; `at` and
    /// `since` before them are refused).
    #[arg(long, value_name = "DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    history_days: u32,
    /// Keep no change history (`GET /changes` and lookups `at` an instant answer 404). A
    /// node of a shared store records into the store's history with every change.
    #[arg(long, conflicts_with_all = ["store", "history_days"])]
    no_history: bool,
    /// Also answer SIP INVITEs on this address (UDP and TCP), from the server's own
    /// router; the counters join /metrics.
    #[arg(long, value_name = "ADDR")]
    sip: Option<SocketAddr>,
    /// With --store: the URL at which the other nodes reach this node's HTTP API. The
    /// nodes of a store forward their changes to the one that leads, so that changes made
    /// through every node share its commits [default: http://ADDR, when --listen names an
    /// address other nodes can reach; else this node never leads].
    #[arg(long, value_name = "URL", env = "PATCHBAY_ADVERTISE")]
    advertise: Option<String>,
    /// The redirect target of `--sip` (placeholders: {number}, {connectorId},
    /// {projectId}, {accountId}, {clientEnv}, {variantId}, {asrLangCode}, {ttsLangCode},
    /// {voiceName}).
    #[arg(long, value_name = "TEMPLATE", default_value = patchbay_sip::ContactTemplate::DEFAULT)]
    contact: String,
    /// Do not serve the operator console at /console.
    #[arg(long)]
    no_console: bool,
    #[command(flatten)]
    pub log: LogArgs,
}

/// Takes part in electing the node that leads the shared store's writes, from a thread that
/// connects once the store can be reached (a node that starts from its cache while the
/// database is away must not wait for it), into `lead`.
fn join_election(
    url: &str,
    node: &str,
    advertise: Option<String>,
    lead: Arc<OnceLock<patchbay_admin::Leadership>>,
) {
    let (url, node) = (url.to_string(), node.to_string());
    let spawned = std::thread::Builder::new()
        .name("patchbay-election".into())
        .spawn(move || loop {
            match patchbay_admin::Postgres::connect(&url, &node) {
                Ok(store) => {
                    let _ = lead.set(store.lead(advertise));
                    return;
                }
                Err(patchbay_admin::ConnectError::Unreachable { .. }) => {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
                Err(error) => {
                    tracing::error!(%error, "cannot take part in leading the writes; this node writes its own changes");
                    return;
                }
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot take part in leading the writes; this node writes its own changes");
    }
}

/// Runs the server until SIGINT or SIGTERM, then writes a final checkpoint.
pub fn serve(opts: ServeArgs) -> CliResult {
    let config = AdminConfig {
        number_check: if opts.accept_possible {
            NumberCheck::Possible
        } else {
            NumberCheck::Valid
        },
        default_region: parse_region(opts.region.as_deref())?,
        max_bulk: opts.max_bulk,
        checkpoint_after: opts.checkpoint_after,
        history_retain: Some(std::time::Duration::from_secs(
            u64::from(opts.history_days) * 86_400,
        )),
        record_history: !opts.no_history,
        ..AdminConfig::default()
    };
    let admin = open_serving(&opts.data, config)?;
    // Load the numbering metadata now, not on the first caller's import.
    let _ = normalize_in("020 7946 0958", "GB".parse().ok());
    let new_key = admin.bootstrap().map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let sip_front = match opts.sip {
        Some(addr) => Some(start_sip(
            admin.router().clone(),
            addr,
            &opts.contact,
            parse_region(opts.region.as_deref())?,
        )?),
        None => None,
    };
    let limits = Limits {
        body_bytes: opts.max_body,
        ..Limits::default()
    };
    let data = opts.data.clone();
    let listener = std::net::TcpListener::bind(opts.listen)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let forward = match &opts.data.store {
        Some(url) => {
            let advertise = opts
                .advertise
                .clone()
                .or_else(|| (!addr.ip().is_unspecified()).then(|| format!("http://{addr}")));
            let lead = Arc::new(OnceLock::new());
            join_election(url, &opts.data.node_name(), advertise, Arc::clone(&lead));
            Some(http::forward::Forwarder::new(
                lead,
                &opts.data.node_name(),
                limits.body_bytes,
            ))
        }
        None => None,
    };
    let state = Arc::new(AppState {
        admin: Arc::clone(&admin),
        metrics: http::metrics::Metrics::default(),
        ready: AtomicBool::new(true),
        sip: sip_front.as_ref().map(|(_, counters)| counters.clone()),
        forward,
        console: !opts.no_console,
    });
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
        // Install the handlers before announcing the address: a signal that arrives right
        // after must stop the server gracefully, not kill it.
        let shutdown = shutdown_signal().map_err(|e| format!("cannot install signal handlers: {e}"))?;
        let mut out = std::io::stdout().lock();
        if let Some(key) = new_key {
            let _ = writeln!(
                out,
                "Created account `default`, project `default` and this API key (shown once, keep it):\n\n    {key}\n\nTry it:\n\n    curl -s http://{addr}/v1/agents/default/telephony/connectors -H 'x-api-key: {key}'\n"
            );
        }
        if let Some((front, _)) = &sip_front {
            let _ = writeln!(out, "patchbay sip on {} (udp, tcp)", front.local_addr());
        }
        // Last line of the start-up output: scripts wait for it.
        let _ = writeln!(out, "patchbay listening on http://{addr} ({})", opts.data.describe());
        let _ = out.flush();
        drop(out);
        // Answers leave at once, not held back until the peer acknowledges the segment
        // before (Nagle's algorithm against delayed ACKs: 40 ms a forwarded change).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, http::app(state, limits))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| format!("server error: {e}"))
    })?;
    admin.checkpoint().map_err(|e| {
        format!("stopped, but the final checkpoint failed (the journal is intact): {e}")
    })?;
    tracing::info!("stopped; data is durable ({})", data.describe());
    Ok(ExitCode::SUCCESS)
}
