//! `patchbay sip`: the SIP front on its own, answering from what it follows (the data
//! directory of a running server, a snapshot file, or a shared store); and the start of
//! the SIP front inside `serve --sip`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use patchbay_admin::AdminConfig;
use patchbay_core::{Region, Router, Snapshot};
use patchbay_sip::{ContactTemplate, Counters, Responder, Running, Settings};

use super::{
    open_read_only, open_serving, parse_region, shutdown_signal, CliResult, DataArg, LogArgs,
};

/// Options of `patchbay sip`.
#[derive(Args)]
pub struct SipArgs {
    /// The address to answer on, UDP and TCP.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5060")]
    listen: SocketAddr,
    /// Answer from the data directory of a running `patchbay serve`, read-only, following
    /// every change it acknowledges. With --store: this node's own cache of the store,
    /// which it starts from, and routes from, while the store cannot be reached.
    #[arg(long, value_name = "DIR", conflicts_with = "snapshot")]
    data: Option<PathBuf>,
    /// Answer from this snapshot file, following it as it is replaced.
    #[arg(long, value_name = "FILE", conflicts_with = "store")]
    snapshot: Option<PathBuf>,
    /// Answer from this shared PostgreSQL store, following its log.
    #[arg(long, value_name = "URL", env = "PATCHBAY_STORE")]
    store: Option<String>,
    /// This node's name in the store's log and in logs.
    #[arg(long, value_name = "NAME", env = "PATCHBAY_NODE")]
    node: Option<String>,
    /// The redirect target (placeholders: {number}, {connectorId}, {projectId},
    /// {accountId}, {clientEnv}, {variantId}, {asrLangCode}, {ttsLangCode}, {voiceName}).
    #[arg(long, value_name = "TEMPLATE", default_value = ContactTemplate::DEFAULT)]
    contact: String,
    /// Read national-format numbers in Request-URIs in this region (ISO 3166 code).
    #[arg(long, value_name = "CC")]
    region: Option<String>,
    /// Serve the counters (Prometheus text) over HTTP on this address.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    #[command(flatten)]
    pub log: LogArgs,
}

/// Starts the SIP front on `addr` answering from `router`: the running front and its
/// counters. A bad contact template is refused here, before anything listens.
pub fn start_sip(
    router: Router,
    addr: SocketAddr,
    contact: &str,
    region: Option<Region>,
) -> Result<(Running, Arc<Counters>), String> {
    let template = ContactTemplate::parse(contact).map_err(|e| format!("--contact: {e}"))?;
    let responder = Responder::new(template).with_region(region);
    let counters = Arc::new(Counters::default());
    let running = patchbay_sip::serve(router, responder, counters.clone(), &Settings::new(addr))
        .map_err(|e| format!("cannot answer SIP on {addr}: {e}"))?;
    Ok((running, counters))
}

/// Answers every request on `listener` with `counters` in Prometheus's text format.
fn serve_metrics(listener: TcpListener, counters: Arc<Counters>) {
    for stream in listener.incoming().flatten() {
        let mut stream = stream;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut request = [0u8; 1_024];
        let _ = stream.read(&mut request);
        let body = counters.prometheus();
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

/// `patchbay sip`.
pub fn sip(args: SipArgs) -> CliResult {
    let region = parse_region(args.region.as_deref())?;
    // What keeps the router current: a snapshot file's watcher, a data directory's
    // follower, or the shared store's node.
    let mut _watcher = None;
    let mut _follower = None;
    let mut _admin = None;
    let router = match (&args.store, &args.snapshot, &args.data) {
        (Some(url), _, cache) => {
            let admin = open_serving(
                &DataArg {
                    data: cache.clone(),
                    store: Some(url.clone()),
                    node: args.node.clone(),
                },
                AdminConfig::default(),
            )?;
            let router = admin.router().clone();
            _admin = Some(admin);
            router
        }
        (None, _, Some(dir)) => {
            let follower = Arc::new(open_read_only(&DataArg {
                data: Some(dir.clone()),
                store: None,
                node: None,
            })?);
            follower.follow();
            let router = follower.router().clone();
            _follower = Some(follower);
            router
        }
        (None, Some(file), None) => {
            let snapshot = Snapshot::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let router = Router::new(snapshot);
            _watcher = Some(
                router
                    .follow(file, Duration::from_millis(20))
                    .map_err(|e| format!("{}: {e}", file.display()))?,
            );
            router
        }
        (None, None, None) => {
            return Err("give --data DIR, --snapshot FILE or --store URL".into());
        }
    };
    let (running, counters) = start_sip(router, args.listen, &args.contact, region)?;
    if let Some(addr) = args.metrics {
        let listener =
            TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let counters = counters.clone();
        std::thread::spawn(move || serve_metrics(listener, counters));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let shutdown =
            shutdown_signal().map_err(|e| format!("cannot install signal handlers: {e}"))?;
        // Last line of the start-up output: scripts wait for it.
        println!("patchbay sip on {} (udp, tcp)", running.local_addr());
        shutdown.await;
        Ok::<(), String>(())
    })?;
    running.stop();
    Ok(ExitCode::SUCCESS)
}
