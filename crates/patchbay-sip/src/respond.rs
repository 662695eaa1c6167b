//! From a message to its reply: what a stateless redirect server answers, per request.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use patchbay_core::{normalize_in, NormalizeError, Reader, Region};

use crate::contact::ContactTemplate;
use crate::parse::{parse, Method, ParseError, Request, MAX_MESSAGE};
use crate::reply::{quoted, write};

/// The methods this server answers, for `Allow`.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, OPTIONS";

/// Why a message got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A SIP response.
    Response,
    /// Bytes that are not a SIP request.
    NotSip,
    /// Longer than [`MAX_MESSAGE`].
    TooLarge,
    /// A malformed request with no `Via` to send a `400` to.
    NoVia,
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A reply with this status is in the output buffer.
    Replied(u16),
    /// `ACK` or `CANCEL`: a stateless server absorbs them.
    Absorbed,
    /// No reply, and why.
    Dropped(DropReason),
}

/// The reply classes counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 200 to `OPTIONS`.
    Ok,
    /// 302: routed.
    Redirect,
    /// 400: malformed.
    BadRequest,
    /// 404: not routed.
    NotFound,
    /// 405: another method.
    MethodNotAllowed,
    /// 483: `Max-Forwards: 0`.
    TooManyHops,
    /// 484: the Request-URI is not a number.
    AddressIncomplete,
}

const CLASSES: [(Class, u16); 7] = [
    (Class::Ok, 200),
    (Class::Redirect, 302),
    (Class::BadRequest, 400),
    (Class::NotFound, 404),
    (Class::MethodNotAllowed, 405),
    (Class::TooManyHops, 483),
    (Class::AddressIncomplete, 484),
];

const DROPS: [(DropReason, &str); 4] = [
    (DropReason::Response, "response"),
    (DropReason::NotSip, "not_sip"),
    (DropReason::TooLarge, "too_large"),
    (DropReason::NoVia, "no_via"),
];

/// Counts of what the server did, by reply status and by reason for dropping; shared by
/// every socket's thread.
#[derive(Debug, Default)]
pub struct Counters {
    replies: [AtomicU64; 7],
    absorbed: AtomicU64,
    dropped: [AtomicU64; 4],
}

impl Counters {
    /// Counts `outcome`.
    pub fn record(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Replied(status) => CLASSES
                .iter()
                .position(|(_, s)| *s == status)
                .and_then(|at| self.replies.get(at)),
            Outcome::Absorbed => Some(&self.absorbed),
            Outcome::Dropped(reason) => DROPS
                .iter()
                .position(|(r, _)| *r == reason)
                .and_then(|at| self.dropped.get(at)),
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Replies sent with `status`.
    pub fn replies(&self, status: u16) -> u64 {
        CLASSES
            .iter()
            .position(|(_, s)| *s == status)
            .and_then(|at| self.replies.get(at))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Messages dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        DROPS
            .iter()
            .position(|(r, _)| *r == reason)
            .and_then(|at| self.dropped.get(at))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// The counters in Prometheus's text format.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        out += "# HELP patchbay_sip_replies_total SIP replies sent, by status.\n";
        out += "# TYPE patchbay_sip_replies_total counter\n";
        for ((_, status), count) in CLASSES.iter().zip(&self.replies) {
            out += &format!(
                "patchbay_sip_replies_total{{status=\"{status}\"}} {}\n",
                count.load(Ordering::Relaxed)
            );
        }
        out += "# HELP patchbay_sip_absorbed_total ACK and CANCEL requests absorbed.\n";
        out += "# TYPE patchbay_sip_absorbed_total counter\n";
        out += &format!(
            "patchbay_sip_absorbed_total {}\n",
            self.absorbed.load(Ordering::Relaxed)
        );
        out += "# HELP patchbay_sip_dropped_total Messages dropped without a reply, by reason.\n";
        out += "# TYPE patchbay_sip_dropped_total counter\n";
        for ((_, reason), count) in DROPS.iter().zip(&self.dropped) {
            out += &format!(
                "patchbay_sip_dropped_total{{reason=\"{reason}\"}} {}\n",
                count.load(Ordering::Relaxed)
            );
        }
        out
    }
}

/// The number a Request-URI dials: the user part of a `sip:`/`sips:` URI (without user
/// parameters), or a `tel:` URI's number (without its parameters).
fn dialled(uri: &str) -> Result<&str, &'static str> {
    let scheme = |name: &str| {
        uri.get(..name.len())
            .filter(|s| s.eq_ignore_ascii_case(name))
            .and_then(|_| uri.get(name.len()..))
    };
    if let Some(rest) = scheme("sip:").or_else(|| scheme("sips:")) {
        let Some(at) = rest.find('@') else {
            return Err("the Request-URI has no user part");
        };
        let user = rest.get(..at).unwrap_or_default();
        return Ok(user.split(';').next().unwrap_or_default());
    }
    if let Some(rest) = scheme("tel:") {
        return Ok(rest.split(';').next().unwrap_or_default());
    }
    Err("the Request-URI is not a sip:, sips: or tel: URI")
}

/// Answers requests from a router: the reply of a stateless redirect server.
#[derive(Debug, Clone)]
pub struct Responder {
    contact: ContactTemplate,
    region: Option<Region>,
}

impl Responder {
    /// A responder that builds redirect targets with `contact`.
    pub fn new(contact: ContactTemplate) -> Responder {
        Responder {
            contact,
            region: None,
        }
    }

    /// Reads national-format numbers in Request-URIs in `region`.
    pub fn with_region(mut self, region: Option<Region>) -> Responder {
        self.region = region;
        self
    }

    /// Answers `message` (one datagram, or one message of a stream) from `reader`: the reply,
    /// if any, is written into `out` (cleared first).
    pub fn answer(&self, reader: &mut Reader, message: &[u8], out: &mut Vec<u8>) -> Outcome {
        out.clear();
        if message.len() > MAX_MESSAGE {
            return Outcome::Dropped(DropReason::TooLarge);
        }
        let request = match parse(message) {
            Ok(request) => request,
            Err(ParseError::Response) => return Outcome::Dropped(DropReason::Response),
            Err(ParseError::NotSip) => return Outcome::Dropped(DropReason::NotSip),
        };
        if matches!(request.method, Method::Ack | Method::Cancel) {
            return Outcome::Absorbed;
        }
        if let Some(defect) = request.defect() {
            if request.vias().is_empty() {
                return Outcome::Dropped(DropReason::NoVia);
            }
            write(out, 400, "Bad Request", &request, |out| {
                warning(out, defect);
            });
            return Outcome::Replied(400);
        }
        if request.max_forwards == Some(0) {
            write(out, 483, "Too Many Hops", &request, |_| {});
            return Outcome::Replied(483);
        }
        match request.method {
            Method::Options => {
                write(out, 200, "OK", &request, allow);
                Outcome::Replied(200)
            }
            Method::Invite => self.route(reader, &request, out),
            _ => {
                write(out, 405, "Method Not Allowed", &request, allow);
                Outcome::Replied(405)
            }
        }
    }

    fn route(&self, reader: &mut Reader, request: &Request<'_>, out: &mut Vec<u8>) -> Outcome {
        let uri = std::str::from_utf8(request.uri).unwrap_or_default();
        let number = match dialled(uri) {
            Ok(number) => number,
            Err(why) => return incomplete(out, request, why),
        };
        let found = if self.region.is_some() && !number.starts_with('+') {
            normalize_in(number, self.region).map(|n| reader.get(n))
        } else {
            reader.lookup(number)
        };
        match found {
            Ok(Some(route)) => {
                let contact = &self.contact;
                write(out, 302, "Moved Temporarily", request, |out| {
                    out.extend_from_slice(b"Contact: <");
                    contact.render(&route, out);
                    out.extend_from_slice(b">\r\nX-Patchbay-Connector: ");
                    out.extend_from_slice(route.connector.connector_id.as_bytes());
                    let _ = write!(out, "\r\nX-Patchbay-Match: {}\r\n", route.matched);
                });
                Outcome::Replied(302)
            }
            Ok(None) => {
                write(out, 404, "Not Found", request, |_| {});
                Outcome::Replied(404)
            }
            Err(err) => incomplete_number(out, request, &err),
        }
    }
}

fn allow(out: &mut Vec<u8>) {
    out.extend_from_slice(b"Allow: ");
    out.extend_from_slice(ALLOW.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A `Warning` line (code 399, agent `patchbay`) with `text`.
fn warning(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"Warning: 399 patchbay \"");
    quoted(out, text);
    out.extend_from_slice(b"\"\r\n");
}

fn incomplete(out: &mut Vec<u8>, request: &Request<'_>, why: &str) -> Outcome {
    write(out, 484, "Address Incomplete", request, |out| {
        warning(out, why);
    });
    Outcome::Replied(484)
}

fn incomplete_number(out: &mut Vec<u8>, request: &Request<'_>, err: &NormalizeError) -> Outcome {
    write(out, 484, "Address Incomplete", request, |out| {
        out.extend_from_slice(b"Warning: 399 patchbay \"");
        quoted(out, err.reason());
        out.extend_from_slice(b": ");
        quoted(out, &err.to_string());
        out.extend_from_slice(b"\"\r\n");
    });
    Outcome::Replied(484)
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchbay_core::{ClientEnv, Connector, Prefix, Router, Snapshot};

    fn connector(id: &str) -> Connector {
        Connector {
            connector_id: id.into(),
            name: "Support".into(),
            account_id: "acme".into(),
            project_id: "p1".into(),
            client_env: ClientEnv::Live,
            variant_id: String::new(),
            asr_lang_code: "en-US".into(),
            tts_lang_code: "en-US".into(),
            voice_name: "en-US-Neural2-A".into(),
            disable_handoff: false,
        }
    }

    fn router() -> Router {
        let mut builder = Snapshot::builder(1);
        let a = builder.connector(connector("conn_a")).expect("a");
        let b = builder.connector(connector("conn_b")).expect("b");
        builder
            .route("+14155552671".parse().expect("n"), a)
            .expect("route");
        let block: Prefix = "+4420794600".parse().expect("p");
        builder.route_prefix(block, b).expect("prefix");
        Router::new(builder.build().expect("build"))
    }

    fn request(method: &str, uri: &str, extra: &str) -> Vec<u8> {
        format!(
            "{method} {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n\
             Max-Forwards: 70\r\n\
             To: <{uri}>\r\n\
             From: <sip:alice@example.com>;tag=1928301774\r\n\
             Call-ID: a84b4c76e66710\r\n\
             CSeq: 1 {method}\r\n{extra}\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn answer(message: &[u8]) -> (Outcome, String) {
        let router = router();
        let mut reader = router.reader();
        let responder = Responder::new(
            ContactTemplate::parse("sip:{connectorId}@10.1.1.1;n={number};env={clientEnv}")
                .expect("template"),
        );
        let mut out = Vec::new();
        let outcome = responder.answer(&mut reader, message, &mut out);
        (outcome, String::from_utf8(out).expect("ascii"))
    }

    #[test]
    fn every_answer_of_the_table() {
        let (o, r) = answer(&request("INVITE", "sip:+1-415-555-2671@h;user=phone", ""));
        assert_eq!(o, Outcome::Replied(302), "{r}");
        assert!(r.starts_with("SIP/2.0 302 Moved Temporarily\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n"), "{r}");
        assert!(
            r.contains("\r\nContact: <sip:conn_a@10.1.1.1;n=+14155552671;env=live>\r\n"),
            "{r}"
        );
        assert!(
            r.contains("\r\nX-Patchbay-Connector: conn_a\r\nX-Patchbay-Match: exact\r\n"),
            "{r}"
        );
        assert!(
            r.contains("\r\nCall-ID: a84b4c76e66710\r\nCSeq: 1 INVITE\r\n"),
            "{r}"
        );
        assert!(r.ends_with("\r\nContent-Length: 0\r\n\r\n"), "{r}");

        let (o, r) = answer(&request("INVITE", "tel:+442079460042;phone-context=x", ""));
        assert_eq!(o, Outcome::Replied(302), "{r}");
        assert!(
            r.contains("X-Patchbay-Match: prefix +4420794600\r\n"),
            "{r}"
        );

        let (o, r) = answer(&request("INVITE", "sip:+14155550000@h", ""));
        assert_eq!(o, Outcome::Replied(404), "{r}");
        assert!(r.starts_with("SIP/2.0 404 Not Found\r\n") && !r.contains("Contact"));

        let (o, r) = answer(&request("INVITE", "sip:+1415CALLNOW@h", ""));
        assert_eq!(o, Outcome::Replied(484), "{r}");
        assert!(r.contains("\r\nWarning: 399 patchbay \"letters: "), "{r}");
        let (o, r) = answer(&request("INVITE", "sip:alice@h", ""));
        assert_eq!(o, Outcome::Replied(484), "{r}");
        let (o, r) = answer(&request("INVITE", "http://h", ""));
        assert_eq!(o, Outcome::Replied(484), "{r}");
        assert!(r.contains("not a sip:, sips: or tel: URI"), "{r}");

        let hops = String::from_utf8(request("INVITE", "sip:+14155552671@h", ""))
            .expect("ascii")
            .replace("Max-Forwards: 70", "Max-Forwards: 0");
        assert_eq!(answer(hops.as_bytes()).0, Outcome::Replied(483));

        let (o, r) = answer(&request("OPTIONS", "sip:h", ""));
        assert_eq!(o, Outcome::Replied(200));
        assert!(
            r.contains("\r\nAllow: INVITE, ACK, CANCEL, OPTIONS\r\n"),
            "{r}"
        );
        let (o, r) = answer(&request("BYE", "sip:+14155552671@h", ""));
        assert_eq!(o, Outcome::Replied(405));
        assert!(r.contains("\r\nAllow: "), "{r}");
        assert_eq!(
            answer(&request("ACK", "sip:+14155552671@h", "")).0,
            Outcome::Absorbed
        );
        assert_eq!(
            answer(&request("CANCEL", "sip:+14155552671@h", "")).0,
            Outcome::Absorbed
        );

        let bad = String::from_utf8(request("INVITE", "sip:+14155552671@h", ""))
            .expect("ascii")
            .replace("Call-ID: a84b4c76e66710\r\n", "");
        let (o, r) = answer(bad.as_bytes());
        assert_eq!(o, Outcome::Replied(400), "{r}");
        assert!(
            r.contains("Warning: 399 patchbay \"no Call-ID header\""),
            "{r}"
        );
        let no_via = bad.replace(
            "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n",
            "",
        );
        assert_eq!(
            answer(no_via.as_bytes()).0,
            Outcome::Dropped(DropReason::NoVia)
        );
        assert_eq!(
            answer(b"SIP/2.0 180 Ringing\r\n\r\n").0,
            Outcome::Dropped(DropReason::Response)
        );
        assert_eq!(
            answer(b"\x00\x01junk").0,
            Outcome::Dropped(DropReason::NotSip)
        );
        assert_eq!(
            answer(&vec![b'A'; MAX_MESSAGE + 1]).0,
            Outcome::Dropped(DropReason::TooLarge)
        );
    }

    #[test]
    fn retransmissions_get_identical_replies() {
        let invite = request("INVITE", "sip:+14155552671@h", "");
        assert_eq!(answer(&invite), answer(&invite));
        let other = String::from_utf8(invite.clone())
            .expect("ascii")
            .replace("CSeq: 1", "CSeq: 2");
        assert_ne!(answer(&invite).1, answer(other.as_bytes()).1);
    }

    #[test]
    fn counters_count_by_class() {
        let counters = Counters::default();
        counters.record(Outcome::Replied(302));
        counters.record(Outcome::Replied(302));
        counters.record(Outcome::Dropped(DropReason::NotSip));
        counters.record(Outcome::Absorbed);
        assert_eq!(counters.replies(302), 2);
        assert_eq!(counters.dropped(DropReason::NotSip), 1);
        let text = counters.prometheus();
        assert!(
            text.contains("patchbay_sip_replies_total{status=\"302\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("patchbay_sip_dropped_total{reason=\"not_sip\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("patchbay_sip_absorbed_total 1\n"), "{text}");
    }
}
