//! The `sip_request` fuzz target's seed corpus, replayed: every seed gets a lawful answer,
//! and each named seed the answer sip.md gives it.

mod common;

use std::path::Path;

use common::router;

use patchbay_sip::check::check_answer;
use patchbay_sip::{ContactTemplate, DropReason, Outcome, Responder};

#[test]
fn every_seed_gets_its_answer() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sip_request");
    let want = |name: &str| match name {
        "sipp-invite" | "compact-folded-tel" => Some(Outcome::Replied(302)),
        "options" => Some(Outcome::Replied(200)),
        "ack" => Some(Outcome::Absorbed),
        "letters" => Some(Outcome::Replied(484)),
        "max-forwards-zero" => Some(Outcome::Replied(483)),
        "missing-call-id-bad-cseq" => Some(Outcome::Replied(400)),
        "register" => Some(Outcome::Replied(405)),
        "response" => Some(Outcome::Dropped(DropReason::Response)),
        "keepalive" | "http" => Some(Outcome::Dropped(DropReason::NotSip)),
        _ => None,
    };
    let router = router();
    let mut reader = router.reader();
    let responder = Responder::new(ContactTemplate::default());
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("seed");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let mut reply = Vec::new();
        let outcome = responder.answer(&mut reader, &bytes, &mut reply);
        check_answer(&bytes, outcome, &reply).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(want) = want(&name) {
            assert_eq!(outcome, want, "{name}: {}", String::from_utf8_lossy(&reply));
            seen += 1;
        }
    }
    assert_eq!(seen, 11, "every named seed is in the corpus");
}
