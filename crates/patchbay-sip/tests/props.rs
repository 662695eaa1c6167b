//! Any bytes: no panic, and every answer has the properties of `check`. Well-formed requests
//! in random spellings (header order, case, compact names, line endings, folding): the same
//! answer as their plain spelling, up to the copied lines.

mod common;

use common::router;
use patchbay_sip::check::check_answer;
use patchbay_sip::{ContactTemplate, Outcome, Responder};
use proptest::prelude::*;

fn answer(message: &[u8]) -> (Outcome, Vec<u8>) {
    let router = router();
    let mut reader = router.reader();
    let mut out = Vec::new();
    let outcome = Responder::new(ContactTemplate::default()).answer(&mut reader, message, &mut out);
    (outcome, out)
}

/// The headers of an INVITE, as (long name, compact name, value).
fn headers(number: &str) -> Vec<(&'static str, Option<&'static str>, String)> {
    vec![
        (
            "Via",
            Some("v"),
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds".into(),
        ),
        ("Max-Forwards", None, "70".into()),
        ("To", Some("t"), format!("<sip:{number}@example.com>")),
        (
            "From",
            Some("f"),
            "<sip:alice@example.com>;tag=1928301774".into(),
        ),
        ("Call-ID", Some("i"), "a84b4c76e66710".into()),
        ("CSeq", None, "314159 INVITE".into()),
        ("Subject", Some("s"), "hello".into()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_get_a_lawful_answer(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (outcome, reply) = answer(&bytes);
        check_answer(&bytes, outcome, &reply)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    #[test]
    fn mutated_requests_get_a_lawful_answer(
        at in 0usize..400,
        with in any::<u8>(),
        cut in 0usize..400,
    ) {
        let mut bytes = plain("+14155552671");
        if let Some(b) = bytes.get_mut(at) {
            *b = with;
        }
        bytes.truncate(bytes.len().saturating_sub(cut % 50));
        let (outcome, reply) = answer(&bytes);
        check_answer(&bytes, outcome, &reply)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    #[test]
    fn spellings_of_one_request_get_one_answer(
        order in Just((0..7usize).collect::<Vec<_>>()).prop_shuffle(),
        compact in proptest::collection::vec(any::<bool>(), 7),
        upper in proptest::collection::vec(any::<bool>(), 7),
        lf_only in any::<bool>(),
        fold in any::<bool>(),
        routed in any::<bool>(),
    ) {
        let number = if routed { "+14155552671" } else { "+14155550000" };
        let all = headers(number);
        let eol = if lf_only { "\n" } else { "\r\n" };
        let mut text = format!("INVITE sip:{number}@example.com SIP/2.0{eol}");
        for &i in &order {
            let (long, short, value) = &all[i];
            let name = match (compact[i], short) {
                (true, Some(short)) => short.to_string(),
                _ if upper[i] => long.to_uppercase(),
                _ => long.to_string(),
            };
            if fold && *long == "Subject" {
                text += &format!("{name}: {value}{eol} more{eol}");
            } else {
                text += &format!("{name}: {value}{eol}");
            }
        }
        text += &format!("Content-Length: 0{eol}{eol}");
        let (outcome, reply) = answer(text.as_bytes());
        check_answer(text.as_bytes(), outcome, &reply)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (want, _) = answer(&plain(number));
        prop_assert_eq!(outcome, want, "{}", text);
        let reply = String::from_utf8(reply).expect("ascii");
        if routed {
            prop_assert!(reply.contains("\r\nContact: <sip:conn_a@127.0.0.1:5080>\r\n"), "{}", reply);
        }
    }
}

fn plain(number: &str) -> Vec<u8> {
    let mut text = format!("INVITE sip:{number}@example.com SIP/2.0\r\n");
    for (name, _, value) in headers(number) {
        text += &format!("{name}: {value}\r\n");
    }
    text += "Content-Length: 0\r\n\r\n";
    text.into_bytes()
}
