//! Test support: a router with a connector and two routed numbers.

use patchbay_core::{ClientEnv, Connector, Router, Snapshot};

/// A router of `conn_a` serving +14155552671 and +442079460958.
pub fn router() -> Router {
    let mut builder = Snapshot::builder(1);
    let slot = builder
        .connector(Connector {
            connector_id: "conn_a".into(),
            name: "Support".into(),
            account_id: "acme".into(),
            project_id: "p1".into(),
            client_env: ClientEnv::Live,
            variant_id: String::new(),
            asr_lang_code: "en-US".into(),
            tts_lang_code: "en-US".into(),
            voice_name: "en-US-Neural2-A".into(),
            disable_handoff: false,
        })
        .expect("connector");
    for n in ["+14155552671", "+442079460958"] {
        builder.route(n.parse().expect("n"), slot).expect("route");
    }
    Router::new(builder.build().expect("build"))
}
