//! The SIP front's per-INVITE path, no sockets: 200,000 routed numbers over 1,000
//! connectors (the size of the Kamailio comparison), 4,096 distinct INVITEs in the form sipp
//! sends them, answered in turn.
//!
//! - `answer_invite`: `Responder::answer`: parse, look up, write the 302 (Contact from the
//!   default template, the connector and match headers);
//! - `parse_invite`: `patchbay_sip::parse` alone;
//! - `oracle_parse_invite`: the same messages read by `ezk-sip-types` (the test oracle of
//!   `crates/patchbay-sip/tests/oracle.rs`) the way `ezk-sip-core` reads a datagram: copied
//!   into `Bytes`, split into lines, the request line and every header line parsed, headers
//!   gathered by name, `Content-Length` decoded for the body;
//! - `baseline_lookup`: `Reader::lookup` of the same numbers' text alone, the routing floor
//!   every SIP front pays.
//!
//! `PATCHBAY_SIP_NUMBERS` sets the table's size.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ezk_sip_types::header::typed::ContentLength;
use ezk_sip_types::msg::{Line, MessageLine, PullParser};
use ezk_sip_types::parse::Parse;
use ezk_sip_types::{Headers, Name};
use patchbay_benches::{Fixture, SEED};
use patchbay_sip::{parse, ContactTemplate, Outcome, Responder};

const MESSAGES: usize = 4_096;

fn invite(number: &str, i: usize) -> Vec<u8> {
    format!(
        "INVITE sip:{number}@127.0.0.1:5060;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4711-{i}-0\r\n\
         From: sipp <sip:sipp@127.0.0.1:5061>;tag=4711SIPpTag00{i}\r\n\
         To: <sip:{number}@127.0.0.1:5060>\r\n\
         Call-ID: {i}-4711@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: sip:sipp@127.0.0.1:5061\r\n\
         Max-Forwards: 70\r\n\
         Subject: patchbay\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The oracle's read of a datagram (`ezk-sip-core`'s `parse_complete_sip`), to the number of
/// `Via` lines, or `None` for a message it refuses.
fn oracle_parse(datagram: &[u8]) -> Option<usize> {
    let buffer = Bytes::copy_from_slice(datagram);
    let mut lines = PullParser::new(&buffer, 0);
    let mut start = None;
    let mut headers = Headers::new();
    for line in &mut lines {
        let line = std::str::from_utf8(line.ok()?).ok()?;
        if start.is_none() {
            start = Some(MessageLine::parse(&buffer)(line).ok()?.1);
        } else {
            let (_, header) = Line::parse(&buffer, line).ok()?;
            headers.insert(header.name, header.value);
        }
    }
    let head_end = lines.head_end();
    let length = headers.get_named::<ContentLength>().map_or(0, |l| l.0);
    buffer.get(head_end..head_end.checked_add(length)?)?;
    start?
        .is_request()
        .then(|| headers.get_raw(&Name::VIA).len())
}

fn sip_group(c: &mut Criterion) {
    let numbers = std::env::var("PATCHBAY_SIP_NUMBERS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(200_000);
    let fixture = Fixture::new(numbers, 1_000, MESSAGES, SEED);
    let router = fixture.router(1);
    let mut reader = router.reader();
    let texts: Vec<String> = (0..MESSAGES)
        .map(|i| fixture.probes.str(i).to_string())
        .collect();
    let messages: Vec<Vec<u8>> = texts
        .iter()
        .enumerate()
        .map(|(i, n)| invite(n, i))
        .collect();
    let responder = Responder::new(ContactTemplate::default());
    let mut reply = Vec::with_capacity(2_048);
    // Every INVITE is routed, and the oracle reads it, before anything is timed.
    for message in &messages {
        assert_eq!(oracle_parse(message), Some(1));
        let outcome = responder.answer(&mut reader, message, &mut reply);
        assert_eq!(
            outcome,
            Outcome::Replied(302),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }

    let mut group = c.benchmark_group("sip");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(4));
    let mut i = 0usize;
    group.bench_function("answer_invite", |bench| {
        bench.iter(|| {
            let message = &messages[i % MESSAGES];
            i = i.wrapping_add(1);
            black_box(responder.answer(&mut reader, message, &mut reply));
        });
    });
    group.bench_function("parse_invite", |bench| {
        bench.iter(|| {
            let message = &messages[i % MESSAGES];
            i = i.wrapping_add(1);
            black_box(parse(message).map(|r| r.vias().len()).ok());
        });
    });
    group.bench_function("oracle_parse_invite", |bench| {
        bench.iter(|| {
            let message = &messages[i % MESSAGES];
            i = i.wrapping_add(1);
            black_box(oracle_parse(message));
        });
    });
    group.bench_function("baseline_lookup", |bench| {
        bench.iter(|| {
            let text = &texts[i % MESSAGES];
            i = i.wrapping_add(1);
            black_box(reader.lookup(text).ok().flatten().map(|r| r.version));
        });
    });
    group.finish();
}

criterion_group!(benches, sip_group);
criterion_main!(benches);
