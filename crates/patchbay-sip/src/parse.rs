//! The parts of a SIP request that routing needs, borrowed from the message.
//!
//! The request line, then header lines up to the blank line. Only the headers a reply needs
//! are kept (`Via`, all of them in order; `From`, `To`, `Call-ID`, `CSeq`), each as its whole
//! line (name, colon, value, and any folded continuation lines), so that a reply copies it
//! byte for byte; `Max-Forwards` and `Content-Length` are read as numbers. Header names are
//! matched without regard to case, and the compact forms (`v`, `f`, `t`, `i`, `l`) count.
//! Lines may end in CRLF or a bare LF.
//!
//! A message that is not a SIP request at all (a response, or bytes that are not SIP) is an
//! error; a request with a defect a reply can name (a malformed header, a mandatory header
//! missing, a `CSeq` of another method) parses, with the defect in [`Request::defect`].

/// The largest message accepted (a UDP datagram's limit); longer ones are dropped.
pub const MAX_MESSAGE: usize = 65_535;
/// The most `Via` headers a request may carry; more is a defect.
pub const MAX_VIA: usize = 32;

/// The request's method, as far as routing distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `INVITE`: routed.
    Invite,
    /// `ACK`: absorbed.
    Ack,
    /// `CANCEL`: absorbed.
    Cancel,
    /// `OPTIONS`: answered 200.
    Options,
    /// Any other method: answered 405.
    Other,
}

/// Why a message is not a SIP request a reply can go to.
///
/// Neither can be answered, since a reply needs the request's `Via` lines: drop the
/// message (and count it, as [`crate::Responder`] does). A defect a reply can name is not
/// a `ParseError` but [`Request::defect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// A SIP response (`SIP/2.0 ...`): a stateless server has nothing to do with it; drop
    /// it.
    Response,
    /// Not SIP: no valid request line, or no blank line ending the header section. Drop
    /// it; on a stream, parse a message only once its blank line has arrived, since one
    /// cut short before it reads as `NotSip` too.
    NotSip,
}

impl ParseError {
    /// A short lower-case description, as a `Warning` header would give it.
    pub fn as_str(self) -> &'static str {
        match self {
            ParseError::Response => "a SIP response, not a request",
            ParseError::NotSip => {
                "not a SIP request: no valid request line, or an unterminated header section"
            }
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for ParseError {}

/// A parsed request, borrowing the message.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The method.
    pub method: Method,
    /// The method as written.
    pub method_token: &'a [u8],
    /// The Request-URI as written.
    pub uri: &'a [u8],
    vias: [&'a [u8]; MAX_VIA],
    via_count: usize,
    /// The `From` line.
    pub from: Option<&'a [u8]>,
    /// The `To` line.
    pub to: Option<&'a [u8]>,
    /// The `Call-ID` line.
    pub call_id: Option<&'a [u8]>,
    /// The `CSeq` line.
    pub cseq: Option<&'a [u8]>,
    /// `Max-Forwards`, when present and valid.
    pub max_forwards: Option<u32>,
    /// `Content-Length`, when present and valid.
    pub content_length: Option<usize>,
    /// The length of the request line and headers, with the blank line.
    pub head_len: usize,
    defect: Option<&'static str>,
}

impl<'a> Request<'a> {
    /// The `Via` lines, in order.
    pub fn vias(&self) -> &[&'a [u8]] {
        self.vias.get(..self.via_count).unwrap_or_default()
    }

    /// What is wrong with the request, for a `400` (a malformed header, a mandatory header
    /// missing, a `CSeq` of another method), or `None`.
    pub fn defect(&self) -> Option<&'static str> {
        self.defect
    }

    fn flag(&mut self, defect: &'static str) {
        self.defect.get_or_insert(defect);
    }
}

/// The value of a header line: what follows the colon, without surrounding whitespace.
pub(crate) fn value(line: &[u8]) -> &[u8] {
    let after = line
        .iter()
        .position(|&b| b == b':')
        .and_then(|at| line.get(at + 1..))
        .unwrap_or_default();
    trim(after)
}

fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes {
        if first.is_ascii_whitespace() {
            bytes = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = bytes {
        if last.is_ascii_whitespace() {
            bytes = rest;
        } else {
            break;
        }
    }
    bytes
}

/// RFC 3261's `token` characters (methods, header names).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn number<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    if bytes.is_empty() || bytes.len() > 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// The header section's end: the offset just past the blank line.
fn head_end(message: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(newline) = memchr::memchr(b'\n', message.get(at..)?) {
        let line_end = at + newline;
        let line = message.get(at..line_end)?;
        if line.is_empty() || line == b"\r" {
            return Some(line_end + 1);
        }
        at = line_end + 1;
    }
    None
}

/// The lines of `head`, each without its line ending.
fn lines(head: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = head.get(at..)?;
        if rest.is_empty() {
            return None;
        }
        let newline = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let start = at;
        at += newline + 1;
        let line = rest.get(..newline)?;
        Some((start, line.strip_suffix(b"\r").unwrap_or(line)))
    })
}

enum Header {
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    ContentLength,
    Other,
}

fn header(name: &[u8]) -> Header {
    let is = |long: &str, short: Option<u8>| {
        name.eq_ignore_ascii_case(long.as_bytes())
            || short.is_some_and(|s| name.len() == 1 && name[..].eq_ignore_ascii_case(&[s]))
    };
    if is("via", Some(b'v')) {
        Header::Via
    } else if is("from", Some(b'f')) {
        Header::From
    } else if is("to", Some(b't')) {
        Header::To
    } else if is("call-id", Some(b'i')) {
        Header::CallId
    } else if is("cseq", None) {
        Header::CSeq
    } else if is("max-forwards", None) {
        Header::MaxForwards
    } else if is("content-length", Some(b'l')) {
        Header::ContentLength
    } else {
        Header::Other
    }
}

/// Parses the request at the start of `message` (a datagram, or a stream's next message).
pub fn parse(message: &[u8]) -> Result<Request<'_>, ParseError> {
    if message.starts_with(b"SIP/") {
        return Err(ParseError::Response);
    }
    let head_len = head_end(message).ok_or(ParseError::NotSip)?;
    let head = message.get(..head_len).ok_or(ParseError::NotSip)?;
    let mut all = lines(head);
    let (_, first) = all.next().ok_or(ParseError::NotSip)?;
    let mut parts = first.split(|&b| b == b' ');
    let (Some(method_token), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::NotSip);
    };
    if method_token.is_empty()
        || !method_token.iter().all(|&b| is_token(b))
        || uri.is_empty()
        || !version.eq_ignore_ascii_case(b"SIP/2.0")
    {
        return Err(ParseError::NotSip);
    }
    let method = match method_token {
        b"INVITE" => Method::Invite,
        b"ACK" => Method::Ack,
        b"CANCEL" => Method::Cancel,
        b"OPTIONS" => Method::Options,
        _ => Method::Other,
    };
    let mut request = Request {
        method,
        method_token,
        uri,
        vias: [&[]; MAX_VIA],
        via_count: 0,
        from: None,
        to: None,
        call_id: None,
        cseq: None,
        max_forwards: None,
        content_length: None,
        head_len,
        defect: None,
    };
    if !uri.iter().all(|b| b.is_ascii_graphic()) {
        request.flag("the Request-URI is not ASCII");
    }
    // Each header: its first line and any continuation lines (starting with space or tab).
    let mut pending: Option<(usize, usize)> = None; // (start, end) in `head`
    for (start, line) in all {
        if line.is_empty() {
            break;
        }
        let end = start + line.len();
        if matches!(line.first(), Some(b' ' | b'\t')) {
            match &mut pending {
                Some((_, pending_end)) => *pending_end = end,
                None => request.flag("a continuation line before any header"),
            }
            continue;
        }
        if let Some((s, e)) = pending.replace((start, end)) {
            take_header(&mut request, head.get(s..e).unwrap_or_default());
        }
    }
    if let Some((s, e)) = pending {
        take_header(&mut request, head.get(s..e).unwrap_or_default());
    }
    check(&mut request, message.len());
    Ok(request)
}

/// Keeps one header `line` (with its continuation lines) if a reply needs it.
fn take_header<'a>(request: &mut Request<'a>, line: &'a [u8]) {
    let Some(colon) = memchr::memchr(b':', line) else {
        request.flag("a header line without a colon");
        return;
    };
    let name = trim(line.get(..colon).unwrap_or_default());
    if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
        request.flag("a malformed header name");
        return;
    }
    fn once<'a>(
        slot: &mut Option<&'a [u8]>,
        line: &'a [u8],
        what: &'static str,
    ) -> Option<&'static str> {
        slot.replace(line).map(|_| what)
    }
    let repeated = match header(name) {
        Header::Via => {
            match request.vias.get_mut(request.via_count) {
                Some(slot) => {
                    *slot = line;
                    request.via_count += 1;
                }
                None => request.flag("more Via headers than a reply can carry"),
            }
            None
        }
        Header::From => once(&mut request.from, line, "more than one From header"),
        Header::To => once(&mut request.to, line, "more than one To header"),
        Header::CallId => once(&mut request.call_id, line, "more than one Call-ID header"),
        Header::CSeq => once(&mut request.cseq, line, "more than one CSeq header"),
        Header::MaxForwards => {
            match number(value(line)) {
                Some(n) => request.max_forwards = Some(n),
                None => request.flag("Max-Forwards is not a number"),
            }
            None
        }
        Header::ContentLength => {
            match number(value(line)) {
                Some(n) => request.content_length = Some(n),
                None => request.flag("Content-Length is not a number"),
            }
            None
        }
        Header::Other => None,
    };
    if let Some(defect) = repeated {
        request.flag(defect);
    }
}

/// The rules that need every header: the mandatory ones present, `CSeq` well formed and of
/// the request's method, the body no shorter than `Content-Length`.
fn check(request: &mut Request<'_>, len: usize) {
    if request.via_count == 0 {
        request.flag("no Via header");
    }
    for (slot, missing) in [
        (request.from, "no From header"),
        (request.to, "no To header"),
        (request.call_id, "no Call-ID header"),
        (request.cseq, "no CSeq header"),
    ] {
        if slot.is_none() {
            request.flag(missing);
        }
    }
    if request.call_id.is_some_and(|line| value(line).is_empty()) {
        request.flag("an empty Call-ID");
    }
    if let Some(line) = request.cseq {
        let cseq = value(line);
        let mut parts = cseq
            .split(|b| b.is_ascii_whitespace())
            .filter(|p| !p.is_empty());
        match (parts.next(), parts.next(), parts.next()) {
            (Some(seq), Some(method), None) if number::<u32>(seq).is_some() => {
                if method != request.method_token {
                    request.flag("the CSeq method is not the request's");
                }
            }
            _ => request.flag("a malformed CSeq"),
        }
    }
    if request.max_forwards.is_none() && request.defect.is_none() {
        request.flag("no Max-Forwards header");
    }
    if let Some(length) = request.content_length {
        if request.head_len.saturating_add(length) > len {
            request.flag("Content-Length runs past the end of the message");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:+14155552671@example.com;user=phone SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n\
        v: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKnashds8\r\n\
        Max-Forwards: 70\r\n\
        To: <sip:+14155552671@example.com>\r\n\
        From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n\
        Call-ID: a84b4c76e66710\r\n\
        CSeq: 314159 INVITE\r\n\
        Subject: a folded\r\n  header line\r\n\
        Content-Length: 4\r\n\r\nbody";

    #[test]
    fn a_request_keeps_the_lines_a_reply_copies() {
        let r = parse(INVITE).expect("parses");
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.uri, b"sip:+14155552671@example.com;user=phone");
        assert_eq!(
            r.vias(),
            [
                &b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds"[..],
                &b"v: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKnashds8"[..]
            ]
        );
        assert_eq!(r.to, Some(&b"To: <sip:+14155552671@example.com>"[..]));
        assert_eq!(value(r.call_id.expect("call-id")), b"a84b4c76e66710");
        assert_eq!(r.cseq, Some(&b"CSeq: 314159 INVITE"[..]));
        assert_eq!(r.max_forwards, Some(70));
        assert_eq!(r.content_length, Some(4));
        assert_eq!(r.head_len, INVITE.len() - 4);
        assert_eq!(r.defect(), None);
    }

    #[test]
    fn bare_line_feeds_and_compact_names_parse_alike() {
        let text = std::str::from_utf8(INVITE)
            .expect("ascii")
            .replace("\r\n", "\n")
            .replace("Call-ID:", "i:")
            .replace("From:", "f:")
            .replace("To:", "t:");
        let r = parse(text.as_bytes()).expect("parses");
        assert_eq!(r.defect(), None);
        assert_eq!(r.vias().len(), 2);
        assert_eq!(
            value(r.from.expect("from")),
            b"\"Alice\" <sip:alice@example.com>;tag=1928301774"
        );
    }

    #[test]
    fn responses_and_junk_are_errors_defects_are_named() {
        assert_eq!(
            parse(b"SIP/2.0 200 OK\r\n\r\n").err(),
            Some(ParseError::Response)
        );
        assert_eq!(parse(b"hello").err(), Some(ParseError::NotSip));
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\n\r\n").err(),
            Some(ParseError::NotSip)
        );
        assert_eq!(
            parse(b"INVITE sip:x SIP/2.0\r\nVia: a\r\n").err(),
            Some(ParseError::NotSip)
        );
        let defect = |from: &str, to: &str| {
            let text = std::str::from_utf8(INVITE)
                .expect("ascii")
                .replacen(from, to, 1);
            parse(text.as_bytes()).expect("parses").defect()
        };
        assert_eq!(
            defect("CSeq: 314159 INVITE", "CSeq: 314159 BYE"),
            Some("the CSeq method is not the request's")
        );
        assert_eq!(
            defect("CSeq: 314159 INVITE", "CSeq: many INVITE"),
            Some("a malformed CSeq")
        );
        assert_eq!(
            defect("Call-ID: a84b4c76e66710\r\n", ""),
            Some("no Call-ID header")
        );
        assert_eq!(
            defect("Max-Forwards: 70\r\n", ""),
            Some("no Max-Forwards header")
        );
        assert_eq!(
            defect("Max-Forwards: 70", "Max-Forwards: lots"),
            Some("Max-Forwards is not a number")
        );
        assert_eq!(
            defect("Content-Length: 4", "Content-Length: 5"),
            Some("Content-Length runs past the end of the message")
        );
        assert_eq!(
            defect("Subject:", "Subject"),
            Some("a header line without a colon")
        );
        assert_eq!(
            defect("To: <sip:", "To: <sip:a>\r\nTo: <sip:"),
            Some("more than one To header")
        );
    }

    #[test]
    fn parse_errors_describe_themselves() {
        let response = parse(b"SIP/2.0 200 OK\r\n\r\n").err();
        assert!(matches!(response, Some(ParseError::Response)));
        let junk = parse(b"hello").err();
        assert!(matches!(junk, Some(ParseError::NotSip)));
        assert_eq!(
            ParseError::Response.to_string(),
            "a SIP response, not a request"
        );
        assert_eq!(ParseError::NotSip.to_string(), ParseError::NotSip.as_str());
        let err: Box<dyn std::error::Error> = Box::new(ParseError::NotSip);
        assert!(err.to_string().starts_with("not a SIP request"));
        assert!(err.source().is_none());
    }
}
