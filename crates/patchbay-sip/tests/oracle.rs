//! patchbay's parser against an independent one. The oracle is `ezk-sip-types`, the message
//! parser of the ezk SIP stack, driven the way that stack reads a datagram (`ezk-sip-core`'s
//! `parse_complete_sip`: its line splitter, request-line parser and header-line parser, then
//! `Content-Length` for the body). Stricter than that stack: the request line must be read
//! whole, and each header compared here is also decoded by the oracle's typed parser, which
//! must consume the whole value, so a value the oracle only carried as text still has to be
//! one it understands.
//!
//! For well-formed requests, fixed ones as user agents and proxies send them and generated ones
//! in random spellings, both must read the same method, Request-URI, `Via` values in order,
//! `From`, `To`, `Call-ID`, `CSeq` number and method, `Max-Forwards`, `Content-Length` and
//! body; generated ones must also read as what they were built from.
//!
//! The generator keeps to what both implement of RFC 3261. Where the two differ, a test below
//! pins the difference, so that it shows if either side changes:
//! - a `tel:` Request-URI (an `absoluteURI`, §19.1.6 and §25.1): the oracle reads only `sip:`
//!   and `sips:`;
//! - `Max-Forwards` above 255 (§25.1 allows any `1*DIGIT`): the oracle reads a `u8`;
//! - a lower-case method or one that extends a known one (`invite`, `INVITEX`): methods are
//!   case-sensitive (§7.1), and patchbay reads them as written; the oracle matches known
//!   methods by prefix and without regard to case, so it reads both as `INVITE`;
//! - `sip/2.0` as the version (§7.1: case-insensitive): patchbay accepts it, the oracle does
//!   not;
//! - a `%` in a parameter's token (`;tag=4a%89`; `%` is a plain `token` character): the oracle
//!   percent-decodes parameters, and refuses the header when the bytes are not UTF-8.

use bytes::Bytes;
use ezk_sip_types::header::typed::{CSeq, CallID, ContentLength, FromTo, MaxForwards, Via};
use ezk_sip_types::header::HeaderParse;
use ezk_sip_types::msg::{Line, MessageLine, PullParser};
use ezk_sip_types::parse::Parse;
use ezk_sip_types::print::AppendCtx;
use ezk_sip_types::{Headers, Name};
use patchbay_sip::{parse, Method};
use proptest::prelude::*;

/// What a stateless server reads of a request, as owned text so that two parsers compare.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reading {
    method: String,
    uri: String,
    /// One per `Via` header line, in order.
    vias: Vec<String>,
    from: String,
    to: String,
    call_id: String,
    cseq: (u32, String),
    max_forwards: u32,
    content_length: Option<usize>,
    body: Vec<u8>,
}

/// patchbay's reading; a request with a defect is an error naming it.
fn patchbay(message: &[u8]) -> Result<Reading, String> {
    let request = parse(message).map_err(|e| format!("{e:?}"))?;
    if let Some(defect) = request.defect() {
        return Err(defect.to_string());
    }
    // Mandatory headers and Max-Forwards are present when there is no defect.
    let line = |line: Option<&[u8]>, what: &str| line.map(value).ok_or(format!("no {what}"));
    let cseq = line(request.cseq, "CSeq")?;
    let mut parts = cseq.split_ascii_whitespace();
    let (Some(number), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("CSeq {cseq:?}"));
    };
    let body_end = request
        .content_length
        .map_or(message.len(), |length| request.head_len + length);
    Ok(Reading {
        method: String::from_utf8_lossy(request.method_token).into_owned(),
        uri: String::from_utf8_lossy(request.uri).into_owned(),
        vias: request.vias().iter().map(|via| value(via)).collect(),
        from: line(request.from, "From")?,
        to: line(request.to, "To")?,
        call_id: line(request.call_id, "Call-ID")?,
        cseq: (
            number.parse().map_err(|_| format!("CSeq {cseq:?}"))?,
            method.to_string(),
        ),
        max_forwards: request.max_forwards.ok_or("no Max-Forwards")?,
        content_length: request.content_length,
        body: message
            .get(request.head_len..body_end)
            .ok_or("a body past the end")?
            .to_vec(),
    })
}

/// The value of one of patchbay's header lines: what follows the colon, trimmed.
fn value(line: &[u8]) -> String {
    let after = line
        .iter()
        .position(|&b| b == b':')
        .map_or(line, |colon| &line[colon + 1..]);
    String::from_utf8_lossy(after).trim().to_string()
}

/// Where the oracle refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// No end of the header section.
    Incomplete,
    NotUtf8,
    /// The request line (a response's status line counts here too).
    RequestLine,
    HeaderLine,
    /// A header missing, repeated, or not decoded whole by its typed parser.
    Header(&'static str),
    /// `Content-Length` runs past the end.
    Body,
}

/// The oracle's reading.
fn oracle(message: &[u8]) -> Result<Reading, Refused> {
    let buffer = Bytes::copy_from_slice(message);
    let mut lines = PullParser::new(&buffer, 0);
    let mut start = None;
    let mut headers = Headers::new();
    for line in &mut lines {
        let line = line.map_err(|_| Refused::Incomplete)?;
        let line = std::str::from_utf8(line).map_err(|_| Refused::NotUtf8)?;
        if start.is_none() {
            match MessageLine::parse(&buffer)(line) {
                Ok(("", MessageLine::Request(request))) => start = Some(request),
                _ => return Err(Refused::RequestLine),
            }
        } else {
            let (_, header) = Line::parse(&buffer, line).map_err(|_| Refused::HeaderLine)?;
            headers.insert(header.name, header.value);
        }
    }
    let start = start.ok_or(Refused::RequestLine)?;
    let head_end = lines.head_end();

    let mut vias = Vec::new();
    for via in headers.get_raw(&Name::VIA) {
        if !whole_vias(via.as_ref(), via.as_str()) {
            return Err(Refused::Header("Via"));
        }
        vias.push(via.as_str().trim().to_string());
    }
    let (from, _) = single::<FromTo>(&headers, &Name::FROM, "From")?;
    let (to, _) = single::<FromTo>(&headers, &Name::TO, "To")?;
    let (_, CallID(call_id)) = single::<CallID>(&headers, &Name::CALL_ID, "Call-ID")?;
    let (_, cseq) = single::<CSeq>(&headers, &Name::CSEQ, "CSeq")?;
    let (_, MaxForwards(max_forwards)) =
        single::<MaxForwards>(&headers, &Name::MAX_FORWARDS, "Max-Forwards")?;
    let content_length = match headers.get_raw(&Name::CONTENT_LENGTH).len() {
        0 => None,
        _ => Some(
            single::<ContentLength>(&headers, &Name::CONTENT_LENGTH, "Content-Length")?
                .1
                 .0,
        ),
    };
    // As ezk-sip-core does: without a Content-Length, the rest of the datagram is the body.
    let body_end = content_length.map_or(buffer.len(), |length| head_end + length);
    let body = buffer.get(head_end..body_end).ok_or(Refused::Body)?;
    Ok(Reading {
        method: start.method.to_string(),
        uri: start.uri.default_print_ctx().to_string(),
        vias,
        from,
        to,
        call_id: call_id.to_string(),
        cseq: (cseq.cseq, cseq.method.to_string()),
        max_forwards: max_forwards.into(),
        content_length,
        body: body.to_vec(),
    })
}

/// The one value of a single-valued header, trimmed, and as its typed parser decodes it whole.
fn single<H: HeaderParse>(
    headers: &Headers,
    name: &Name,
    what: &'static str,
) -> Result<(String, H), Refused> {
    let mut values = headers.get_raw(name);
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(Refused::Header(what));
    };
    match H::parse(value.as_ref(), value.as_str()) {
        Ok((rest, typed)) if rest.trim().is_empty() => {
            Ok((value.as_str().trim().to_string(), typed))
        }
        _ => Err(Refused::Header(what)),
    }
}

/// Whether one `Via` line's value is a comma-separated list of values the typed parser
/// decodes whole.
fn whole_vias(src: &Bytes, value: &str) -> bool {
    let mut rest = value;
    loop {
        let Ok((after, _)) = Via::parse(src, rest) else {
            return false;
        };
        let after = after.trim_start();
        match after.strip_prefix(',') {
            Some(next) => rest = next.trim_start(),
            None => return after.is_empty(),
        }
    }
}

/// Both readings, which must agree; returned for further checks.
fn agreed(message: &[u8]) -> Result<Reading, String> {
    let text = String::from_utf8_lossy(message);
    let mine = patchbay(message).map_err(|e| format!("patchbay: {e}\n{text}"))?;
    let theirs = oracle(message).map_err(|e| format!("the oracle: {e:?}\n{text}"))?;
    if mine != theirs {
        return Err(format!(
            "they disagree\npatchbay:   {mine:?}\nthe oracle: {theirs:?}\n{text}"
        ));
    }
    Ok(mine)
}

/// An SDP offer as sipp's `uac` scenario sends it.
const SDP: &str = "v=0\r\n\
    o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
    s=-\r\n\
    c=IN IP4 127.0.0.1\r\n\
    t=0 0\r\n\
    m=audio 6000 RTP/AVP 0\r\n\
    a=rtpmap:0 PCMU/8000\r\n";

/// Realistic requests, each with the number of `Via` lines it carries.
fn fixed() -> Vec<(&'static str, usize, String)> {
    vec![
        (
            "sipp's uac INVITE with an SDP offer",
            1,
            format!(
                "INVITE sip:+14155552671@127.0.0.1:5060 SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4711-1-0\r\n\
                 From: sipp <sip:sipp@127.0.0.1:5061>;tag=4711SIPpTag001\r\n\
                 To: +14155552671 <sip:+14155552671@127.0.0.1:5060>\r\n\
                 Call-ID: 1-4711@127.0.0.1\r\n\
                 CSeq: 1 INVITE\r\n\
                 Contact: sip:sipp@127.0.0.1:5061\r\n\
                 Max-Forwards: 70\r\n\
                 Subject: Performance Test\r\n\
                 Content-Type: application/sdp\r\n\
                 Content-Length: {}\r\n\r\n{SDP}",
                SDP.len()
            ),
        ),
        (
            "an INVITE through two proxies (three Vias, received and rport, Record-Route)",
            3,
            format!(
                "INVITE sip:+442079460958@gw.example.net;user=phone SIP/2.0\r\n\
                 Via: SIP/2.0/UDP edge2.example.net;branch=z9hG4bK2d4790.1\r\n\
                 Via: SIP/2.0/TCP edge1.example.com:5060;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.4\r\n\
                 Via: SIP/2.0/UDP 10.1.2.3:5060;rport=5060;received=198.51.100.7;branch=z9hG4bKnashds8\r\n\
                 Record-Route: <sip:edge2.example.net;lr>, <sip:edge1.example.com;lr>\r\n\
                 Max-Forwards: 68\r\n\
                 To: <sip:+442079460958@example.net;user=phone>\r\n\
                 From: \"Alice Smith\" <sip:alice@example.com>;tag=9fxced76sl\r\n\
                 Call-ID: 3848276298220188511@atlanta.example.com\r\n\
                 CSeq: 2 INVITE\r\n\
                 Contact: <sip:alice@10.1.2.3:5060;transport=udp>\r\n\
                 Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\n\
                 Supported: timer, 100rel\r\n\
                 User-Agent: Acme-Phone/4.2\r\n\
                 Content-Type: application/sdp\r\n\
                 Content-Length: {}\r\n\r\n{SDP}",
                SDP.len()
            ),
        ),
        (
            "an INVITE in compact names (v, f, t, i, l, m, s, c, k)",
            2,
            format!(
                "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
                 v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
                 v: SIP/2.0/UDP bigbox3.site3.atlanta.example.com;branch=z9hG4bK77ef4c2312983.1\r\n\
                 Max-Forwards: 70\r\n\
                 t: Bob <sip:bob@biloxi.example.com>\r\n\
                 f: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
                 i: a84b4c76e66710@pc33.atlanta.example.com\r\n\
                 CSeq: 314159 INVITE\r\n\
                 m: <sip:alice@pc33.atlanta.example.com>\r\n\
                 s: lunch\r\n\
                 k: 100rel\r\n\
                 c: application/sdp\r\n\
                 l: {}\r\n\r\n{SDP}",
                SDP.len()
            ),
        ),
        (
            "an INVITE with mixed-case header names",
            2,
            "INVITE sip:+14155552671@example.com;user=phone SIP/2.0\r\n\
             VIA: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n\
             V: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKnashds8\r\n\
             max-FORWARDS: 70\r\n\
             tO: <sip:+14155552671@example.com>\r\n\
             fRoM: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n\
             call-id: a84b4c76e66710\r\n\
             CSEQ: 314159 INVITE\r\n\
             Content-length: 0\r\n\r\n"
                .to_string(),
        ),
        (
            "an INVITE with extra whitespace around colons and values, and folded lines",
            2,
            "INVITE sip:+14155552671@example.com SIP/2.0\r\n\
             Via :  SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n\
             Via\t:\tSIP/2.0/TCP 10.0.0.2;branch=z9hG4bKnashds8  \r\n\
             Max-Forwards:70\r\n\
             To:\r\n <sip:+14155552671@example.com>\r\n\
             From:    <sip:alice@example.com>;tag=1928301774   \r\n\
             Call-ID:   a84b4c76e66710@10.0.0.1   \r\n\
             CSeq:   314159 \t INVITE\r\n\
             Subject: a subject\r\n  folded onto\r\n\ta third line\r\n\
             Content-Length:   0  \r\n\r\n"
                .to_string(),
        ),
        (
            "two Via values on one line, beside a line of its own",
            2,
            "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP proxy2.example.com;branch=z9hG4bK-b, SIP/2.0/UDP proxy1.example.com;branch=z9hG4bK-a\r\n\
             Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
             Max-Forwards: 68\r\n\
             To: <sip:bob@biloxi.example.com>\r\n\
             From: <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
             Call-ID: a84b4c76e66710\r\n\
             CSeq: 1 INVITE\r\n\
             Content-Length: 0\r\n\r\n"
                .to_string(),
        ),
        (
            "an INVITE with bare line feeds and an IPv6 Request-URI",
            1,
            "INVITE sip:+14155552671@[2001:db8::5]:5060 SIP/2.0\n\
             Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK776asdhds\n\
             Max-Forwards: 70\n\
             To: <sip:+14155552671@[2001:db8::5]>\n\
             From: <sip:alice@[2001:db8::1]>;tag=1928301774\n\
             Call-ID: a84b4c76e66710\n\
             CSeq: 7 INVITE\n\
             Content-Length: 0\n\n"
                .to_string(),
        ),
        (
            "an OPTIONS keepalive from a proxy, no Content-Length",
            1,
            "OPTIONS sip:patchbay.example.net:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-keepalive.0;rport\r\n\
             From: <sip:ping@proxy.example.net>;tag=77a1b2c3\r\n\
             To: <sip:patchbay.example.net:5060>\r\n\
             Call-ID: 0b7c2f1e-ping@192.0.2.10\r\n\
             CSeq: 10 OPTIONS\r\n\
             Max-Forwards: 70\r\n\
             Accept: application/sdp\r\n\r\n"
                .to_string(),
        ),
        (
            "the ACK of a 302",
            1,
            "ACK sip:+14155552671@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4711-1-0\r\n\
             From: sipp <sip:sipp@127.0.0.1:5061>;tag=4711SIPpTag001\r\n\
             To: <sip:+14155552671@127.0.0.1:5060>;tag=a6c85cf\r\n\
             Call-ID: 1-4711@127.0.0.1\r\n\
             CSeq: 1 ACK\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
                .to_string(),
        ),
        (
            "a CANCEL",
            1,
            "CANCEL sip:+14155552671@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4711-1-0\r\n\
             From: sipp <sip:sipp@127.0.0.1:5061>;tag=4711SIPpTag001\r\n\
             To: <sip:+14155552671@127.0.0.1:5060>\r\n\
             Call-ID: 1-4711@127.0.0.1\r\n\
             CSeq: 1 CANCEL\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
                .to_string(),
        ),
        (
            "a BYE over TLS to a sips: URI",
            1,
            "BYE sips:alice@client.atlanta.example.com:5061 SIP/2.0\r\n\
             Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7\r\n\
             Max-Forwards: 70\r\n\
             From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl\r\n\
             To: Alice <sips:alice@atlanta.example.com>;tag=1928301774\r\n\
             Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com\r\n\
             CSeq: 231 BYE\r\n\
             Content-Length: 0\r\n\r\n"
                .to_string(),
        ),
    ]
}

#[test]
fn realistic_requests_read_alike() {
    for (name, via_lines, message) in fixed() {
        let reading = agreed(message.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(reading.vias.len(), via_lines, "{name}");
    }
}

#[test]
fn where_the_grammars_differ() {
    let (_, _, invite) = &fixed()[0];
    let with = |from: &str, to: &str| invite.replacen(from, to, 1);

    for uri in ["tel:+14155552671", "tel:5552671;phone-context=+1-415"] {
        let message = with("sip:+14155552671@127.0.0.1:5060", uri);
        let request = parse(message.as_bytes()).expect("patchbay parses a tel: URI");
        assert_eq!(request.defect(), None);
        assert_eq!(request.uri, uri.as_bytes());
        assert_eq!(
            oracle(message.as_bytes()),
            Err(Refused::RequestLine),
            "{uri}"
        );
    }

    let message = with("Max-Forwards: 70", "Max-Forwards: 300");
    assert_eq!(
        patchbay(message.as_bytes()).map(|r| r.max_forwards),
        Ok(300)
    );
    assert_eq!(
        oracle(message.as_bytes()),
        Err(Refused::Header("Max-Forwards"))
    );

    for method in ["invite", "INVITEX"] {
        let message = with("INVITE sip", &format!("{method} sip")).replacen(
            "1 INVITE",
            &format!("1 {method}"),
            1,
        );
        let request = parse(message.as_bytes()).expect("parses");
        assert_eq!(request.method, Method::Other, "{method}");
        assert_eq!(request.method_token, method.as_bytes());
        assert_eq!(request.defect(), None, "{method}");
        let theirs = oracle(message.as_bytes()).expect("the oracle parses");
        assert_eq!(theirs.method, "INVITE", "{method}");
    }

    let message = with("SIP/2.0\r\n", "sip/2.0\r\n");
    assert_eq!(
        parse(message.as_bytes()).map(|r| r.defect()).ok(),
        Some(None)
    );
    assert_eq!(oracle(message.as_bytes()), Err(Refused::RequestLine));

    let message = with("tag=4711SIPpTag001", "tag=4711%89");
    assert_eq!(
        patchbay(message.as_bytes()).map(|r| r.from.ends_with("tag=4711%89")),
        Ok(true)
    );
    assert_eq!(oracle(message.as_bytes()), Err(Refused::Header("From")));
}

/// A header as generated: its long name, its compact one, its value.
type Header = (&'static str, Option<&'static str>, String);

/// A request's parts, before spelling.
#[derive(Debug, Clone)]
struct Parts {
    method: &'static str,
    uri: String,
    vias: Vec<String>,
    from: String,
    to: String,
    call_id: String,
    cseq: u32,
    max_forwards: u8,
    extra: Vec<Header>,
    body: Vec<u8>,
}

/// An RFC 3261 `token` without `%` (see the module's header).
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!*_+`'~-]{0,11}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|ip| std::net::Ipv4Addr::from(ip).to_string()),
        "[a-z][a-z0-9]{0,8}(\\.[a-z][a-z0-9]{0,6}){0,3}",
        any::<[u16; 2]>().prop_map(|[a, b]| {
            format!(
                "[{}]",
                std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, a, b)
            )
        }),
    ]
}

fn host_port() -> impl Strategy<Value = String> {
    (host(), proptest::option::of(1u16..)).prop_map(|(host, port)| match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

fn user() -> impl Strategy<Value = String> {
    prop_oneof!["\\+[1-9][0-9]{6,14}", "[a-z][a-z0-9._-]{0,10}"]
}

fn sip_uri() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        user(),
        host_port(),
        prop_oneof![
            Just(""),
            Just(";user=phone"),
            Just(";transport=tcp"),
            Just(";user=phone;transport=udp"),
        ],
    )
        .prop_map(|(sips, user, host, params)| {
            let scheme = if sips { "sips" } else { "sip" };
            format!("{scheme}:{user}@{host}{params}")
        })
}

fn via() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("UDP"), Just("TCP"), Just("TLS")],
        host_port(),
        token(),
        any::<bool>(),
        proptest::option::of(any::<[u8; 4]>()),
    )
        .prop_map(|(transport, sent_by, branch, rport, received)| {
            let mut via = format!("SIP/2.0/{transport} {sent_by};branch=z9hG4bK{branch}");
            if rport {
                via += ";rport";
            }
            if let Some(ip) = received {
                via += &format!(";received={}", std::net::Ipv4Addr::from(ip));
            }
            via
        })
}

/// A `From` or `To` value: a name-addr, with or without a display name, or an addr-spec.
fn name_addr(tagged: bool) -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just(String::new()),
            "[A-Za-z][A-Za-z0-9]{0,8} ",
            "\"[A-Za-z][A-Za-z0-9 ]{0,12}\" ",
        ],
        any::<bool>(),
        user(),
        host(),
        token(),
    )
        .prop_map(move |(display, bracketed, user, host, tag)| {
            let uri = format!("sip:{user}@{host}");
            let tag = if tagged {
                format!(";tag={tag}")
            } else {
                String::new()
            };
            if bracketed || !display.is_empty() {
                format!("{display}<{uri}>{tag}")
            } else {
                format!("{uri}{tag}")
            }
        })
}

fn extra_header() -> impl Strategy<Value = Header> {
    prop_oneof![
        "[A-Za-z0-9 ,.!?-]{0,30}".prop_map(|v| ("Subject", Some("s"), v)),
        sip_uri().prop_map(|uri| ("Contact", Some("m"), format!("<{uri}>"))),
        Just(("User-Agent", None, "Acme-Phone/4.2".to_string())),
        Just((
            "Allow",
            None,
            "INVITE, ACK, CANCEL, OPTIONS, BYE".to_string()
        )),
        Just(("Supported", Some("k"), "timer, 100rel".to_string())),
        Just(("Content-Type", Some("c"), "application/sdp".to_string())),
        host().prop_map(|host| ("Record-Route", None, format!("<sip:{host};lr>"))),
        token().prop_map(|v| ("X-Trace-Id", None, v)),
    ]
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        prop_oneof![
            Just("INVITE"),
            Just("OPTIONS"),
            Just("ACK"),
            Just("CANCEL"),
            Just("BYE"),
        ],
        sip_uri(),
        proptest::collection::vec(via(), 1..=5),
        (name_addr(true), any::<bool>().prop_flat_map(name_addr)),
        ("[A-Za-z0-9.!%*_+~-]{1,20}", proptest::option::of(host())),
        (0..2_147_483_648u32, any::<u8>()),
        proptest::collection::vec(extra_header(), 0..5),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(
            |(method, uri, vias, (from, to), (id, at), (cseq, max_forwards), extra, body)| Parts {
                method,
                uri,
                vias,
                from,
                to,
                call_id: at.map_or(id.clone(), |host| format!("{id}@{host}")),
                cseq,
                max_forwards,
                extra,
                body,
            },
        )
}

/// How one header line is spelled.
#[derive(Debug, Clone)]
struct Spelling {
    compact: bool,
    /// Bit `i` upper-cases the name's `i`th letter, else lower-cases it; `None` keeps the
    /// usual spelling.
    case: Option<u32>,
    /// Whitespace before the colon, and after it (a line fold among them).
    before: &'static str,
    after: &'static str,
}

fn spelling() -> impl Strategy<Value = Spelling> {
    (
        any::<bool>(),
        proptest::option::of(any::<u32>()),
        prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\t"), 1 => Just("  ")],
        prop_oneof![
            4 => Just(" "),
            1 => Just(""),
            1 => Just("   "),
            1 => Just("\t"),
            1 => Just("\r\n "),
            1 => Just(" \r\n\t"),
        ],
    )
        .prop_map(|(compact, case, before, after)| Spelling {
            compact,
            case,
            before,
            after,
        })
}

impl Spelling {
    fn line(&self, (long, short, value): &Header) -> String {
        let name = match (self.compact, short) {
            (true, Some(short)) => short,
            _ => long,
        };
        let name: String = match self.case {
            None => name.to_string(),
            Some(bits) => name
                .chars()
                .enumerate()
                .map(|(i, c)| match bits >> (i % 32) & 1 {
                    1 => c.to_ascii_uppercase(),
                    _ => c.to_ascii_lowercase(),
                })
                .collect(),
        };
        format!("{name}{}:{}{value}\r\n", self.before, self.after)
    }
}

/// The message `parts` spell in the given header order (a permutation of every header's
/// index; the `Via` lines keep their relative order) and spellings, and what it reads as.
fn spell(parts: &Parts, order: &[usize], spellings: &[Spelling]) -> (Vec<u8>, Reading) {
    let method = parts.method;
    let mut headers: Vec<Header> = vec![
        ("From", Some("f"), parts.from.clone()),
        ("To", Some("t"), parts.to.clone()),
        ("Call-ID", Some("i"), parts.call_id.clone()),
        ("CSeq", None, format!("{} {method}", parts.cseq)),
        ("Max-Forwards", None, parts.max_forwards.to_string()),
        ("Content-Length", Some("l"), parts.body.len().to_string()),
    ];
    headers.extend(parts.extra.iter().cloned());
    headers.extend(parts.vias.iter().map(|via| ("Via", Some("v"), via.clone())));
    let mut vias = parts.vias.iter();
    let mut message = format!("{method} {} SIP/2.0\r\n", parts.uri);
    for (&at, spelling) in order.iter().zip(spellings) {
        let mut header = headers[at].clone();
        if header.0 == "Via" {
            header.2 = vias.next().cloned().unwrap_or_default();
        }
        message += &spelling.line(&header);
    }
    message += "\r\n";
    let mut message = message.into_bytes();
    message.extend_from_slice(&parts.body);
    let reading = Reading {
        method: method.to_string(),
        uri: parts.uri.clone(),
        vias: parts.vias.clone(),
        from: parts.from.clone(),
        to: parts.to.clone(),
        call_id: parts.call_id.clone(),
        cseq: (parts.cseq, method.to_string()),
        max_forwards: parts.max_forwards.into(),
        content_length: Some(parts.body.len()),
        body: parts.body.clone(),
    };
    (message, reading)
}

/// Parts, a header order over all their headers, and one spelling per header.
fn request() -> impl Strategy<Value = (Parts, Vec<usize>, Vec<Spelling>)> {
    parts().prop_flat_map(|parts| {
        let count = 6 + parts.extra.len() + parts.vias.len();
        (
            Just(parts),
            Just((0..count).collect::<Vec<_>>()).prop_shuffle(),
            proptest::collection::vec(spelling(), count),
        )
    })
}

proptest! {
    #[test]
    fn generated_requests_read_alike((parts, order, spellings) in request()) {
        let (message, want) = spell(&parts, &order, &spellings);
        let reading = agreed(&message).map_err(TestCaseError::fail)?;
        prop_assert_eq!(reading, want);
    }
}
